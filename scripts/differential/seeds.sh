#!/usr/bin/env bash
# Differential vectors with other seeds as a fuzzer (`make differential-seeds DIFF_SEEDS="2 3 4"`):
# for each seed, the original v1.2 saves and reads back that seed's random values
# (generate.sh), and the checks that read tests/vectors/original/ run against them: the JS
# package's codec (tests/js/differential.test.mjs), the Rust codec (tests/codec_original.rs)
# and the Luau module on both engines (tests/luau/module/differential.luau). The committed
# vectors are put back afterwards, whatever happens. Needs ../shared/reference/original-1.2 and
# a build (`make build`). Prints one line per seed; a failing seed's logs stay in
# target/differential-seeds/.
set -uo pipefail
cd "$(dirname "$0")/../.."

SEEDS=${SEEDS:-2 3 4}
OUT=tests/vectors/original
LOGS=target/differential-seeds
mkdir -p "$LOGS"
cp "$OUT/values.jsonl" "$LOGS/committed.jsonl"
cp "$OUT/README.md" "$LOGS/committed.README.md"
trap 'cp "$LOGS/committed.jsonl" "$OUT/values.jsonl"; cp "$LOGS/committed.README.md" "$OUT/README.md"' EXIT

export CABI_WASM=target/wasm-cabi/wasm32-unknown-unknown/release/datastore_module.wasm
failed=0
for seed in $SEEDS; do
	if ! SEED=$seed scripts/differential/generate.sh >"$LOGS/$seed-generate.log" 2>&1; then
		echo "seed $seed: the original's run failed (see $LOGS/$seed-generate.log)"
		failed=1
		continue
	fi
	result="seed $seed:"
	node --test tests/js/differential.test.mjs >"$LOGS/$seed-js.log" 2>&1 && result+=" js ok" || { result+=" js FAILED"; failed=1; }
	cargo test --quiet --test codec_original >"$LOGS/$seed-rust.log" 2>&1 && result+=", rust ok" || { result+=", rust FAILED"; failed=1; }
	cargo test --quiet -p luau-runtime differential >"$LOGS/$seed-luau.log" 2>&1 && result+=", luau ok" || { result+=", luau FAILED"; failed=1; }
	echo "$result"
done
exit $failed
