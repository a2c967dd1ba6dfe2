#!/usr/bin/env bash
# wasm-opt -O3 from npm's binaryen (Debian's is too old for the features rustc emits), with the
# features rustc's wasm32 output uses. Names and debug info go: a shipped wasm needs neither.
# Usage: scripts/wasm-opt.sh <in.wasm> <out.wasm>
set -euo pipefail
cd "$(dirname "$0")/.."
exec node_modules/.bin/wasm-opt -O3 --strip-debug --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue "$1" -o "$2"
