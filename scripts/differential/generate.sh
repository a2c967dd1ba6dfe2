#!/usr/bin/env bash
# Regenerates tests/vectors/original/ (`make vectors-original`): runs generate.luau, which drives
# the original module v1.2 on luau-runtime, and writes the vectors and their README.
# Needs ../shared/reference/original-1.2 (reference material beside the repository; the tests
# that read these vectors do not). SEED picks the random values (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."

ORIGINAL=../shared/reference/original-1.2/DataStore.luau
SEED=${SEED:-1}
OUT=tests/vectors/original

if [[ ! -f $ORIGINAL ]]; then
	echo "vectors-original: $ORIGINAL is not there." >&2
	echo "These vectors are made by running the original module v1.2, which lives beside the" >&2
	echo "repository (../shared/reference/original-1.2); regenerate them where it is. The tests" >&2
	echo "that read them (make test) do not need it." >&2
	exit 1
fi

COUNT=$(sed -n 's/^local COUNT = \([0-9]*\)$/\1/p' scripts/differential/generate.luau)
ODD_COUNT=$(sed -n 's/^local ODD_COUNT = \([0-9]*\)$/\1/p' scripts/differential/generate.luau)
mkdir -p "$OUT"
trap 'rm -f "$OUT/values.jsonl.tmp"' EXIT
# By absolute path: the script's require of the original climbs above the working directory.
cargo run --quiet -p luau-runtime -- run "$PWD/scripts/differential/generate.luau" \
	--virtual-time --seed "$SEED" >"$OUT/values.jsonl.tmp"
mv "$OUT/values.jsonl.tmp" "$OUT/values.jsonl"
LINES=$(wc -l <"$OUT/values.jsonl")
SKIPPED=$(grep -c '"skipped"' "$OUT/values.jsonl" || true)

cat >"$OUT/README.md" <<README
# Differential vectors: the original module v1.2 on random Luau values

Generated; do not edit. Regenerate with \`make vectors-original\` (scripts/differential/generate.sh,
which runs scripts/differential/generate.luau on host/luau-runtime with \`--virtual-time --seed
$SEED\`; it needs ../shared/reference/original-1.2). Seed $SEED: $COUNT random values, each
saved without compression and with two of the 16 \`Metadata.Compress\` settings (Level 1|2 ×
Decimals 0|2|3|5 × Safety true|false, in turn), then $ODD_COUNT more saved once each with an
odd \`Decimals\` the original takes as \`10 ^ Decimals\` (1.5, -1, 20, "3", 0.5, -3, 16, " 2 ",
in turn): $LINES cases.

The values: nested tables (sequences, sequences built out of order, holes such as
\`{"a", nil, "c"}\`, sparse and mixed tables, userId, negative, fractional and boolean keys,
empty tables), edge numbers (0, -0, 0.1, -1.5, 2^53, 2^53+2, 1e21, 1e-7, big integers) and
strings (emoji, DEL, control characters, quotes, backslash, tag bytes); a few hold a function.
No NaN or ±∞ (the original hangs compressing ∞) and only valid UTF-8.

## values.jsonl — one case a line

Each case is what the original did: a session opens a fresh key, sets \`Value\` (and
\`Metadata.Compress\`), \`Save()\`s and is destroyed; then a fresh session \`Read()\`s the key.

- \`id\`: the case's number (its DataStore key was \`case<id>\`).
- \`value\`: the Value, in the Luau value text (src/value/luau_text.rs; luau/ValueText.luau wrote it).
  Its tables' pairs are in the order the original iterated (and so compressed) them.
- \`compress\`: \`null\` (no compression) or \`{"Level", "Decimals", "Safety"}\` (\`Decimals\` a
  number, or a string for the odd settings that are strings).
- \`stored\`: what the DataStore held after the save: the compressed text, or, without
  compression, \`HttpService:JSONEncode\` of the stored value (compare it as parsed JSON: object
  order is Luau's hash order). \`null\` when nothing was stored. Without compression, what is
  stored and read back is also the emulator's model of Roblox's DataStore (host/luau-runtime and
  src/emulator at the time the vectors were made), not only the original's doing.
- \`readback\`: the Value the fresh session read, in the Luau value text (\`""\` is nil), its
  tables' pairs in sorted key order (compare read backs as values: corrupt text can leave dead
  keys that make Luau's order change from run to run). \`null\`, with the reason in \`skipped\`
  ($SKIPPED cases), when the original's decoder raises on \`stored\` (its load task then errors
  and the session wedges, which would end the run) or what it read holds a table used as a key
  (corrupt text; not storable, and its pair order changes from run to run).
- \`answer\`: what \`Save()\` answered: \`["Saved"]\` or \`["Error", message]\`.

## Who reads them

- tests/codec_original.rs (cargo test): the codec against every case;
- tests/js/differential.test.mjs: the package's \`compress\`/\`decompress\` on the cases JS can hold;
- tests/luau/module/differential.luau: our Luau module saving and reading back a sample.
README
echo "vectors-original: $LINES cases ($COUNT values, seed $SEED, $SKIPPED read backs skipped) in $OUT/values.jsonl"
