# DataStoreModule. The two commands: `make demo` and `make test`. Each installs what is missing
# (scripts/setup.sh) and rebuilds only what changed.

SHELL := /bin/bash
WASM_TARGET := wasm32-unknown-unknown
JS_WASM := target/wasm-js/$(WASM_TARGET)/release/datastore_module.wasm
CABI_WASM := target/wasm-cabi/$(WASM_TARGET)/release/datastore_module.wasm
NODE_TEST := node --test --test-reporter=spec --unhandled-rejections=strict

.PHONY: all setup setup-test build demo test test-rust test-wasm test-js test-types lint bench fuzz clean FORCE

all: build

setup:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

build: setup pkg/.stamp $(CABI_WASM)

# Cargo decides freshness and leaves an up-to-date artifact untouched, so the rules below rerun
# only when the wasm really changed.
$(JS_WASM): FORCE
	@cargo build --quiet --release --lib --target $(WASM_TARGET) --features js --target-dir target/wasm-js

# The C-ABI build for non-JS hosts: plain exports, imports only from `host`.
$(CABI_WASM): FORCE
	@cargo build --quiet --release --lib --target $(WASM_TARGET) --no-default-features --features cabi --target-dir target/wasm-cabi

pkg/.stamp: $(JS_WASM) scripts/build-pkg.sh $(wildcard host/js/* host/js/lib/* host/js/stores/*)
	@echo "build: pkg/"
	@scripts/build-pkg.sh $(JS_WASM)
	@touch $@

demo: build
	@node host/js/demo/demo.mjs

test: setup-test build test-rust test-wasm test-js test-types
	@echo "make test: every suite passed"

test-rust:
	@echo "== Rust: unit, vectors, properties, C-ABI through wasmi"
	CABI_WASM=$(CABI_WASM) cargo test --quiet

# The JS surface inside wasm, under Node and under headless Chromium.
test-wasm:
	@echo "== wasm-bindgen-test under Node"
	cargo test --target $(WASM_TARGET) --features js --test wasm_js
	@echo "== wasm-bindgen-test under headless Chromium"
	WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=$$(command -v chromedriver) \
	  cargo test --target $(WASM_TARGET) --features js --test wasm_js

test-js:
	@echo "== node --test: pkg/ as ESM and CommonJS"
	$(NODE_TEST) tests/js/

# The package's typings as TypeScript projects see them: Node ESM (NodeNext) and bundlers.
test-types: build
	@echo "== tsc: pkg/index.d.ts against tests/types/usage.ts"
	node_modules/.bin/tsc -p tests/types
	node_modules/.bin/tsc -p tests/types/tsconfig.bundler.json

lint:
	cargo fmt --all -- --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --lib --target $(WASM_TARGET) --features js -- -D warnings
	cargo clippy --quiet --lib --target $(WASM_TARGET) --features cabi -- -D warnings

bench: build
	@cargo run --quiet --release --example bench_codec
	@node bench/codec.mjs
	@node bench/module.mjs

# Coverage-guided fuzzing of the decoder (cargo-fuzz on the stable toolchain).
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decompress -- -max_total_time=$${FUZZ_SECONDS:-60}

clean:
	rm -rf target pkg/web pkg/node pkg/lib pkg/stores pkg/*.mjs pkg/*.cjs pkg/*.ts pkg/*.json pkg/.stamp
FORCE:
