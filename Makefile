# DataStoreModule. The two commands: `make demo` and `make test`. Each installs what is missing
# (scripts/setup.sh) and rebuilds only what changed.

SHELL := /bin/bash
WASM_TARGET := wasm32-unknown-unknown
# The package's two wasm files (docs/DESIGN.md, "Two wasm files"): the codec and session core,
# and the same with the emulator behind MemoryStore. Separate target dirs keep both cached.
JS_WASM := target/wasm-js/$(WASM_TARGET)/wasm/datastore_module.wasm
JS_FULL_WASM := target/wasm-js-emulator/$(WASM_TARGET)/wasm/datastore_module.wasm
CABI_WASM := target/wasm-cabi/$(WASM_TARGET)/release/datastore_module.wasm
# The same core translated into Luau, for Luau VMs without a wasm host (Roblox; issue 13).
LUAU_CORE := luau/DataStoreCore.luau
# Its parts, which hold its functions (PARTS in tools/wasm2luau/src/main.rs; default.project.json).
LUAU_PARTS := $(foreach k,1 2 3 4,luau/DataStoreCore$(k).luau)
NODE_TEST := node --test --test-reporter=spec --unhandled-rejections=strict
# Every Luau file StyLua formats (settings: .stylua.toml).
LUAU_SOURCES := luau tests/luau bench examples host/luau-runtime/src tools/wasm2luau/src

.PHONY: all setup setup-test build package demo harness test test-rust test-wasm test-js test-types test-luau test-browser lint lint-luau format-luau lint-js format-js bench fuzz soak vectors-original differential-seeds vectors-fleet clean FORCE

all: build

setup:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

build: setup pkg/.stamp luau/DataStoreModule.wasm $(LUAU_CORE) $(LUAU_PARTS)

# The Luau module loads the C-ABI wasm from next to itself (gitignored; optimised like pkg/'s).
luau/DataStoreModule.wasm: $(CABI_WASM) scripts/wasm-opt.sh
	@scripts/wasm-opt.sh $< $@

# tools/wasm2luau translates the optimised wasm into a ModuleScript and its parts
# DataStoreCore1–4.luau, which hold the functions, each small enough for Luau to compile to
# native code (gitignored, like the wasm).
$(LUAU_CORE) $(LUAU_PARTS) &: luau/DataStoreModule.wasm tools/wasm2luau/Cargo.toml $(wildcard tools/wasm2luau/src/*.rs tools/wasm2luau/src/*.luau tools/wasm2luau/src/*/*.rs)
	@cargo run --quiet -p wasm2luau -- $< $(LUAU_CORE)

# The Luau module for Roblox (issue 13): default.project.json's ModuleScript tree as a model file
# (.rbxm) for Studio, built by Rojo from crates.io (pinned; the first run compiles it into
# target/rojo, many minutes), then read back and run on luau-runtime by
# host/luau-runtime/tests/package.rs. `make test` runs those tests on the same project packed by
# tools/rbxm instead, so it never waits for Rojo.
ROJO_VERSION := 7.7.1
ROJO := target/rojo/bin/rojo
PACKAGE := target/package/DataStoreModule.rbxm

package: setup $(LUAU_CORE) $(LUAU_PARTS) $(ROJO)
	@mkdir -p $(dir $(PACKAGE))
	$(ROJO) build default.project.json --output $(PACKAGE)
	PACKAGE_RBXM=$(CURDIR)/$(PACKAGE) cargo test --quiet -p luau-runtime --test package
	@echo "package: $(PACKAGE)"

$(ROJO):
	CARGO_TARGET_DIR=target/rojo/build cargo install rojo --version $(ROJO_VERSION) --locked --root target/rojo

# Cargo decides freshness and leaves an up-to-date artifact untouched, so the rules below rerun
# only when the wasm really changed.
$(JS_WASM): FORCE
	@cargo build --quiet --profile wasm --lib --target $(WASM_TARGET) --features js --target-dir target/wasm-js

$(JS_FULL_WASM): FORCE
	@cargo build --quiet --profile wasm --lib --target $(WASM_TARGET) --features js-emulator --target-dir target/wasm-js-emulator

# The C-ABI build for non-JS hosts: plain exports, imports only from `host`.
$(CABI_WASM): FORCE
	@cargo build --quiet --release --lib --target $(WASM_TARGET) --no-default-features --features cabi --target-dir target/wasm-cabi

pkg/.stamp: $(JS_WASM) $(JS_FULL_WASM) scripts/build-pkg.sh CHANGELOG.md $(wildcard host/js/* host/js/lib/* host/js/stores/*)
	@echo "build: pkg/"
	@scripts/build-pkg.sh $(JS_WASM) $(JS_FULL_WASM)
	@touch $@

demo: build
	@node host/js/demo/demo.mjs

# The browser harness (host/web/): N simulated servers on one emulated store, in virtual time.
harness: build
	@echo "harness: http://127.0.0.1:$${HARNESS_PORT:-8080}/host/web/index.html  (Ctrl-C stops)"
	@node scripts/serve.mjs $${HARNESS_PORT:-8080}

test: setup-test lint-luau lint-js build test-rust test-wasm test-js test-types test-luau test-browser
	@echo "make test: every suite passed"

test-rust:
	@echo "== Rust: unit, vectors, properties, C-ABI through wasmi"
	CABI_WASM=$(CABI_WASM) cargo test --quiet

# The JS surface inside wasm, under Node and under headless Chromium.
test-wasm:
	@echo "== wasm-bindgen-test under Node"
	cargo test --target $(WASM_TARGET) --features js-emulator --test wasm_js
	@echo "== wasm-bindgen-test under headless Chromium"
	WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=$$(command -v chromedriver) \
	  cargo test --target $(WASM_TARGET) --features js-emulator --test wasm_js

test-js:
	@echo "== node --test: pkg/ as ESM and CommonJS"
	$(NODE_TEST) tests/js/

# The harness page (host/web/) in headless Chromium through playwright-core.
test-browser: build
	@echo "== node --test: host/web/ harness in headless Chromium"
	@mkdir -p target/test-output
	$(NODE_TEST) tests/browser/

# The Luau scripts in tests/luau/ on host/luau-runtime, with virtual time (the first build
# compiles Luau from source, a few minutes).
# Each script runs twice: on the wasm, and with --no-wasm on the translated core; the packaged
# tree (default.project.json as a .rbxm) runs with --model. Then the translator's own tests (each
# instruction family on wasmi and on Luau, compared) and the packer's.
test-luau: luau/DataStoreModule.wasm $(LUAU_CORE) $(LUAU_PARTS)
	@echo "== Luau: tests/luau/ on host/luau-runtime, with the wasm and with --no-wasm"
	CABI_WASM=$(CABI_WASM) cargo test --quiet -p luau-runtime
	@echo "== wasm2luau: instructions on wasmi and translated to Luau"
	cargo test --quiet -p wasm2luau
	@echo "== rbxm: the Roblox package's project, packed without Rojo"
	cargo test --quiet -p rbxm

# The package's typings as TypeScript projects see them: Node ESM (NodeNext) and bundlers.
test-types: build
	@echo "== tsc: pkg/index.d.ts against tests/types/usage.ts"
	node_modules/.bin/tsc -p tests/types
	node_modules/.bin/tsc -p tests/types/tsconfig.bundler.json

lint: lint-luau lint-js
	cargo fmt --all -- --check
	cargo clippy --quiet --workspace --all-targets -- -D warnings
	cargo clippy --quiet --lib --target $(WASM_TARGET) --features js -- -D warnings
	cargo clippy --quiet --lib --target $(WASM_TARGET) --features js-emulator -- -D warnings
	cargo clippy --quiet --lib --target $(WASM_TARGET) --features cabi -- -D warnings

# Prettier from npm (settings: .prettierrc.json, .prettierignore) for the JS, TS, HTML and CSS.
JS_SOURCES := "**/*.{js,mjs,cjs,ts,html,css}"

lint-js: setup
	node_modules/.bin/prettier --check --log-level warn $(JS_SOURCES)

format-js: setup
	node_modules/.bin/prettier --write --log-level warn $(JS_SOURCES)

# StyLua from npm (scripts/stylua.mjs runs its wasm build): --check here, in place in format-luau.
lint-luau: setup
	node scripts/stylua.mjs --check $(LUAU_SOURCES)

format-luau: setup
	@node scripts/stylua.mjs $(LUAU_SOURCES)

# Codec figures (native, JS wasm, and Luau through luau-runtime's release build: the first run
# compiles Luau with optimisations, a few minutes) and the Luau module without wasm beside the
# original v1.2 (issue 13; skipped without ../shared/reference/original-1.2), then the module's
# costs in Node, each next to its target (issue 12; starts its own redis-server; about two
# minutes), then the wasm sizes.
# BENCH_SCALE=0.1 scales the module's counts down for a quick look.
bench: build
	@node bench/codec.mjs
	@node bench/module.mjs
	@node bench/size.mjs

# Coverage-guided fuzzing of the decoder (cargo-fuzz on the stable toolchain).
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decompress -- -max_total_time=$${FUZZ_SECONDS:-60}

# A long deterministic simulation (src/sim): SEEDS seeds of HOURS simulated hours each, with and
# without fencing, under the CI fault mix; prints the figures and any violation with its seed.
# SOAK_ARGS adds options, e.g. SOAK_ARGS="--mix harsh --vary" (cargo run --example soak -- --help).
SEEDS ?= 1000
HOURS ?= 5
soak:
	cargo run --release --example soak -- --seeds $(SEEDS) --hours $(HOURS) $(SOAK_ARGS)

# Differential vectors (tests/vectors/original/): the original module v1.2 saving and reading back
# random Luau values. Needs ../shared/reference/original-1.2, so it is not part of `make test`,
# which checks the committed vectors. SEED=N picks other values (default 1).
vectors-original:
	@scripts/differential/generate.sh

# The same with other seeds, as a fuzzer: generates each seed's vectors, runs the checks that
# read them, and puts the committed vectors back (scripts/differential/seeds.sh).
DIFF_SEEDS ?= 2 3 4
differential-seeds: build
	@SEEDS="$(DIFF_SEEDS)" scripts/differential/seeds.sh

# Mixed-fleet recordings (tests/vectors/fleet/): each scenario of tests/luau/fleet/ run with ours
# and the original in every pairing. Needs ../shared too; `make test` checks ours against them.
vectors-fleet: luau/DataStoreModule.wasm
	@node tests/vectors/fleet/record.mjs

clean:
	rm -rf target pkg/web pkg/node pkg/lib pkg/stores pkg/*.mjs pkg/*.cjs pkg/*.ts pkg/*.json pkg/.stamp
FORCE:
