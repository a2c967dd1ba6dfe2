#!/usr/bin/env bash
# Builds pkg/, the npm package `datastore-module`, from the crate's two JS wasm builds and host/js.
# Usage: scripts/build-pkg.sh <module .wasm (feature js)> <full .wasm (feature js-emulator)>
#
# `datastore_module` is the codec and the session core: what Node loads on import. The `full` one
# adds the emulator behind MemoryStore: Node loads it only when a MemoryStore is made, browsers
# load it instead of the first (docs/DESIGN.md, "Two wasm files").
set -euo pipefail
cd "$(dirname "$0")/.."
module_wasm=$1
full_wasm=$2
out=pkg
bin=node_modules/.bin

rm -rf "$out"
mkdir -p "$out"
touch "$out/.gitkeep"

optimise() {
  scripts/wasm-opt.sh "$1" "$1"
}

# Both glues of one wasm: `web` (ESM; browsers, and Node through initSync) and `nodejs`
# (CommonJS, loaded synchronously by require).
glues() {
  local name=$1 wasm=$2
  wasm-bindgen --target web --no-typescript --out-dir "$out/web" --out-name "$name" "$wasm"
  wasm-bindgen --target nodejs --no-typescript --out-dir "$out/node" --out-name "$name" "$wasm"
  # The two glues' wasm files come out byte-identical: optimise once (wasm-opt is the slow step).
  local same=false
  cmp -s "$out/web/${name}_bg.wasm" "$out/node/${name}_bg.wasm" && same=true
  optimise "$out/web/${name}_bg.wasm"
  if $same; then
    cp "$out/web/${name}_bg.wasm" "$out/node/${name}_bg.wasm"
  else
    optimise "$out/node/${name}_bg.wasm"
  fi
}
glues datastore_module "$module_wasm"
glues datastore_module_full "$full_wasm"
echo '{ "type": "commonjs" }' > "$out/node/package.json"

cp host/js/package.json host/js/index.mjs host/js/node.mjs host/js/index.d.ts host/js/module.d.ts host/js/README.md "$out/"
# The changelog is the repository's (one history for the crate and the package).
cp CHANGELOG.md "$out/"
# The same typings for CommonJS importers: in a "type": "module" package TypeScript reads .d.ts as
# ESM and refuses `require` of it (TS1479), so `require` resolves to .d.cts copies.
sed 's#"\./module\.js"#"./module.cjs"#g' host/js/index.d.ts > "$out/index.d.cts"
sed 's#"\./index\.js"#"./index.cjs"#g' host/js/module.d.ts > "$out/module.d.cts"
# lib/ (codec, values, clocks) and stores/ (MemoryStore, LmdbStore, RedisStore, PostgresStore and
# their README).
cp -r host/js/lib "$out/lib"
cp -r host/js/stores "$out/stores"
# One source for both module systems: esbuild writes the CommonJS entry from the ESM sources.
# `lmdb`, `redis` and `pg` stay external: they are loaded at run time, only by the store that
# needs them; so do the glues, the full one only when the first MemoryStore is made.
"$bin/esbuild" host/js/index.node.mjs --bundle --platform=node --format=cjs --log-level=warning \
  --external:./node/datastore_module.js --external:./node/datastore_module_full.js \
  --external:lmdb --external:redis --external:pg --outfile="$out/index.cjs"
