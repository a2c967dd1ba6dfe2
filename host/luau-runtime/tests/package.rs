//! The module as Roblox developers install it: the `.rbxm` of `default.project.json`.
//!
//! `make package` builds it with Rojo and runs these tests on that file (`PACKAGE_RBXM`);
//! otherwise (`make test`, which does not wait for Rojo to compile) they pack the same project
//! with `tools/rbxm`, on the crates Rojo writes models with. Either way the file is read back
//! with `rbx_binary` and checked, and then the packaged tree itself runs on luau-runtime:
//! `--model` puts it in `ServerStorage`, a server script requires it from there, and it requires
//! its parts through `script`, on its translated core, as in Roblox (`--no-wasm`).

use std::path::{Path, PathBuf};
use std::process::Command;

use rbx_dom_weak::types::Variant;
use rbx_dom_weak::{ustr, WeakDom};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

include!("../../../tests/support/cabi_wasm.rs");
include!("support/luau_core.rs");

/// The model under test: Rojo's from `make package`, or packed here.
fn package() -> PathBuf {
    match std::env::var_os("PACKAGE_RBXM") {
        Some(path) => PathBuf::from(path),
        None => packaged_module(),
    }
}

fn source(dom: &WeakDom, referent: rbx_dom_weak::types::Ref) -> String {
    match dom
        .get_by_ref(referent)
        .unwrap()
        .properties
        .get(&ustr("Source"))
    {
        Some(Variant::String(text)) => text.clone(),
        other => panic!("Source is {other:?}"),
    }
}

#[test]
fn the_package_holds_the_module_and_its_parts_as_module_scripts() {
    let dom = rbxm::read(&package()).expect("read the model back");
    let roots = dom.root().children();
    assert_eq!(roots.len(), 1, "one instance at the top");
    let module = dom.get_by_ref(roots[0]).unwrap();
    assert_eq!(module.name, "DataStoreModule");
    assert_eq!(module.class.as_str(), "ModuleScript");
    let file = |name: &str| std::fs::read_to_string(root().join("luau").join(name)).unwrap();
    let text = source(&dom, roots[0]);
    assert_eq!(text, file("DataStoreModule.luau"), "the module's Source");
    for part in ["Signal", "ValueText", "DataStoreCore"] {
        assert!(
            text.contains(&format!("require(script.{part})")),
            "the module requires {part} the Roblox way"
        );
    }
    let mut parts: Vec<_> = module
        .children()
        .iter()
        .map(|&r| {
            let child = dom.get_by_ref(r).unwrap();
            assert_eq!(child.class.as_str(), "ModuleScript", "{}", child.name);
            assert!(
                child.children().is_empty(),
                "{} has no children",
                child.name
            );
            let expected = file(&format!("{}.luau", child.name));
            assert!(source(&dom, r) == expected, "the Source of {}", child.name);
            child.name.clone()
        })
        .collect();
    parts.sort();
    // The core's parts are the files the translator wrote beside it (DataStoreCore1.luau, …).
    let mut expected = vec![
        "DataStoreCore".to_owned(),
        "Signal".into(),
        "ValueText".into(),
    ];
    for k in 1.. {
        if !root().join(format!("luau/DataStoreCore{k}.luau")).exists() {
            assert!(k > 1, "the core has parts");
            break;
        }
        expected.push(format!("DataStoreCore{k}"));
    }
    expected.sort();
    assert_eq!(parts, expected);
}

#[test]
fn the_packaged_tree_opens_saves_and_closes_on_luau_runtime_without_wasm() {
    run_with_model(
        "tests/luau/package/open_save_close.luau",
        &package(),
        "package",
    );
}

/// Runs a script of `tests/luau/package/` with a model, as Roblox has no wasm: `--no-wasm`.
fn run_with_model(script: &str, model: &Path, name: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_luau-runtime"))
        .current_dir(root())
        .args(["run", script, "--virtual-time", "--seed", "0", "--no-wasm"])
        .arg("--model")
        .arg(model)
        .output()
        .expect("start luau-runtime");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success()
            && stdout
                .lines()
                .any(|l| l.starts_with(&format!("ok {name}: "))),
        "{script} with --model {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        model.display()
    );
}

/// The runtime's instance tree on a small model: `script`, `require(ModuleScript)` and its rules.
#[test]
fn model_scripts_get_script_and_require_by_instance() {
    let project = root().join("tests/luau/package/tree/tree.project.json");
    let model =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("Tree-{}.rbxm", std::process::id()));
    rbxm::write(&rbxm::pack(&project).expect("pack"), &model).expect("write the model");
    run_with_model("tests/luau/package/instances.luau", &model, "instances");
    let _ = std::fs::remove_file(&model);
}
