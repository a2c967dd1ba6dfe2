//! The repository's package files agree: every file `default.project.json` packs is one that
//! `wally.toml` publishes, and the project packs (the model's contents are checked by
//! host/luau-runtime/tests/package.rs, which also runs it).

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn paths(node: &Value, out: &mut Vec<String>) {
    for (key, value) in node.as_object().expect("a project node is an object") {
        match key.as_str() {
            "$path" => out.push(value.as_str().expect("$path is a string").to_owned()),
            k if !k.starts_with('$') => paths(value, out),
            _ => {}
        }
    }
}

#[test]
fn wally_publishes_every_file_the_project_packs() {
    let project: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("default.project.json")).unwrap(),
    )
    .unwrap();
    let wally = std::fs::read_to_string(root().join("wally.toml")).unwrap();
    let mut files = vec![];
    paths(&project["tree"], &mut files);
    assert_eq!(
        files.len(),
        8,
        "the module, Signal, ValueText, the core and its four parts: {files:?}"
    );
    for file in ["default.project.json", "wally.toml"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
    {
        assert!(
            wally.contains(&format!("\"{file}\"")),
            "wally.toml's include lacks {file}"
        );
    }
}
