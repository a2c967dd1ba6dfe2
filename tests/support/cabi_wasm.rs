// The core's C-ABI wasm for the tests that run it (tests/cabi_wasmi.rs and
// host/luau-runtime/tests/scripts.rs, which include this file): `make test` builds it and passes
// its path in `CABI_WASM`; a plain `cargo test` builds it here first.

/// The C-ABI wasm's path under the repository `root`, built unless `CABI_WASM` names one.
fn cabi_wasm_path(root: &std::path::Path) -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("CABI_WASM").map(std::path::PathBuf::from) {
        if path.exists() {
            return path;
        }
    }
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["build", "--quiet", "--release", "--lib"])
        .args(["--target", "wasm32-unknown-unknown", "--no-default-features"])
        .args(["--features", "cabi", "--target-dir", "target/wasm-cabi"])
        .status()
        .expect("run cargo to build the C-ABI wasm");
    assert!(status.success(), "building the C-ABI wasm failed");
    root.join("target/wasm-cabi/wasm32-unknown-unknown/release/datastore_module.wasm")
}
