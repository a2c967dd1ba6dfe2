#!/usr/bin/env bash
# Builds pkg/, the npm package `datastore-module`, from the crate's `js` wasm and host/js.
# Usage: scripts/build-pkg.sh <path to the js-feature .wasm>
set -euo pipefail
cd "$(dirname "$0")/.."
wasm=$1
out=pkg
bin=node_modules/.bin

rm -rf "$out"
mkdir -p "$out"
touch "$out/.gitkeep"
# Both glues come from one wasm: `web` (ESM; browsers, and Node through initSync) and
# `nodejs` (CommonJS, loaded synchronously by require).
wasm-bindgen --target web --no-typescript --out-dir "$out/web" --out-name datastore_module "$wasm"
wasm-bindgen --target nodejs --no-typescript --out-dir "$out/node" --out-name datastore_module "$wasm"
for glue in web node; do
  # binaryen from npm: Debian's wasm-opt is too old for the features rustc emits.
  "$bin/wasm-opt" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out/$glue/datastore_module_bg.wasm" -o "$out/$glue/datastore_module_bg.wasm"
done
echo '{ "type": "commonjs" }' > "$out/node/package.json"

cp host/js/package.json host/js/index.mjs host/js/node.mjs host/js/index.d.ts host/js/module.d.ts host/js/README.md "$out/"
# lib/ (codec, values, clocks) and stores/ (MemoryStore, LmdbStore, RedisStore and their README).
cp -r host/js/lib "$out/lib"
cp -r host/js/stores "$out/stores"
# One source for both module systems: esbuild writes the CommonJS entry from the ESM sources.
# `lmdb` and `redis` stay external: they are loaded at run time, only by the store that needs them.
"$bin/esbuild" host/js/index.node.mjs --bundle --platform=node --format=cjs --log-level=warning \
  --external:./node/datastore_module.js --external:lmdb --external:redis --outfile="$out/index.cjs"
