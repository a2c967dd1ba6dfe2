// The module as it runs without a wasm host: its core translated into Luau, and the package
// around it, for the tests that run it so (tests/scripts.rs with `--no-wasm`, tests/package.rs),
// which include this file beside `tests/support/cabi_wasm.rs` and a `root()` of their own.

/// The module's core translated into Luau (`luau/DataStoreCore.luau`, which `make build` makes
/// with tools/wasm2luau), made here from the C-ABI wasm when missing: what `--no-wasm` runs.
fn ensure_luau_core() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let root = root();
        let core = root.join("luau/DataStoreCore.luau");
        if core.exists() {
            return;
        }
        let optimised = root.join("luau/DataStoreModule.wasm");
        let wasm = if optimised.exists() {
            optimised
        } else {
            cabi_wasm_path(&root)
        };
        let status = std::process::Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["run", "--quiet", "-p", "wasm2luau", "--"])
            .arg(&wasm)
            .arg(&core)
            .status()
            .expect("run cargo to translate the core");
        assert!(status.success(), "translating {} failed", wasm.display());
    });
}

/// The packaged module: `default.project.json` packed into a `.rbxm` by tools/rbxm (as
/// `make package` does with Rojo), once per test process: what `--no-wasm` runs are given with
/// `--model`, so they run the package as Roblox would. Written aside and renamed into place, so
/// a run of another test process never reads half a file.
fn packaged_module() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        ensure_luau_core();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("DataStoreModule.rbxm");
        let partial = dir.join(format!("DataStoreModule.rbxm.{}", std::process::id()));
        let dom = rbxm::pack(&root().join("default.project.json")).expect("pack the project");
        rbxm::write(&dom, &partial).expect("write the package");
        std::fs::rename(&partial, &path).expect("move the package into place");
        path
    })
    .clone()
}
