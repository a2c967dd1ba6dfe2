//! The Luau module as a Roblox model (`.rbxm`), built from the repository's `default.project.json`
//! the way Rojo builds it, for the tests.
//!
//! `make package` builds the model users install with Rojo itself (installed from crates.io).
//! Rojo is a large program that takes many minutes to compile, so `make test` does not wait for
//! it: `host/luau-runtime/tests/package.rs` packs the same project here, with the crates Rojo
//! writes models with (`rbx_dom_weak`, `rbx_binary`), reads the file back and runs it. Only the
//! part of Rojo's project format this repository uses is read, and anything else is refused, so a
//! project that grows past it fails here loudly rather than packing something Rojo would not:
//!
//! - the top level is `{ "name": …, "tree": node }`, and the tree's root is named `name`;
//! - a node is `$className`, or `$path` to a `.luau`/`.lua` file (a `ModuleScript`, or a
//!   `Script`/`LocalScript` for `.server.luau`/`.client.luau`, its `Source` the file's text),
//!   and its other keys are its children, by name; `$ignoreUnknownInstances` changes nothing for
//!   a build and is accepted.

use std::collections::BTreeMap;
use std::path::Path;

use rbx_dom_weak::{InstanceBuilder, WeakDom};
use serde_json::Value;

/// The instance tree `project` (a `*.project.json` file) describes, its root first.
pub fn pack(project: &Path) -> Result<WeakDom, String> {
    let text = std::fs::read_to_string(project)
        .map_err(|e| format!("cannot read {}: {e}", project.display()))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", project.display()))?;
    let name = json
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{}: no \"name\"", project.display()))?;
    let tree = json
        .get("tree")
        .ok_or_else(|| format!("{}: no \"tree\"", project.display()))?;
    let base = project.parent().unwrap_or(Path::new("."));
    let root = node(name, tree, base)?;
    // A model file holds the children of the dom's root: a DataModel that is not written.
    Ok(WeakDom::new(
        InstanceBuilder::new("DataModel").with_child(root),
    ))
}

/// Writes the model: every child of the dom's root, as Rojo's `rojo build -o x.rbxm` does.
pub fn write(dom: &WeakDom, path: &Path) -> Result<(), String> {
    let file =
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    rbx_binary::to_writer(std::io::BufWriter::new(file), dom, dom.root().children())
        .map_err(|e| format!("cannot encode {}: {e}", path.display()))
}

/// Reads a model back: its instances are the children of the returned dom's root.
pub fn read(path: &Path) -> Result<WeakDom, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    rbx_binary::from_reader(std::io::BufReader::new(file))
        .map_err(|e| format!("{} is not a binary model: {e}", path.display()))
}

fn node(name: &str, json: &Value, base: &Path) -> Result<InstanceBuilder, String> {
    let fields = json
        .as_object()
        .ok_or_else(|| format!("{name}: a project node must be an object"))?;
    let mut builder = match (
        fields.get("$path").map(Value::as_str),
        fields.get("$className").map(Value::as_str),
    ) {
        (Some(Some(path)), None) => script(name, &base.join(path))?,
        (None, Some(Some(class))) => InstanceBuilder::new(class).with_name(name),
        _ => {
            return Err(format!(
                "{name}: give exactly one of \"$path\" (a Luau file) or \"$className\""
            ))
        }
    };
    let mut children = BTreeMap::new();
    for (key, value) in fields {
        match key.as_str() {
            "$path" | "$className" | "$ignoreUnknownInstances" => {}
            other if other.starts_with('$') => {
                return Err(format!(
                    "{name}: {other} is not supported here (tools/rbxm)"
                ))
            }
            child => {
                children.insert(child, value);
            }
        }
    }
    for (child, value) in children {
        builder.add_child(node(child, value, base)?);
    }
    Ok(builder)
}

/// A Luau file as the script instance Rojo makes of it.
fn script(name: &str, path: &Path) -> Result<InstanceBuilder, String> {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let stem = file
        .strip_suffix(".luau")
        .or_else(|| file.strip_suffix(".lua"))
        .ok_or_else(|| format!("{name}: {} is not a .luau or .lua file", path.display()))?;
    let class = if stem.ends_with(".server") {
        "Script"
    } else if stem.ends_with(".client") {
        "LocalScript"
    } else {
        "ModuleScript"
    };
    let source = std::fs::read_to_string(path)
        .map_err(|e| format!("{name}: cannot read {}: {e}", path.display()))?;
    Ok(InstanceBuilder::new(class)
        .with_name(name)
        .with_property("Source", source))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn project(dir: &Path, json: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("default.project.json");
        std::fs::write(&path, json).unwrap();
        path
    }

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("rbxm-test-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_module_with_children_round_trips_through_the_binary_format() {
        let dir = scratch("round-trip");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Main.luau"), "return require(script.Part)").unwrap();
        std::fs::write(dir.join("Part.luau"), "return 1").unwrap();
        let path = project(
            &dir,
            r#"{"name": "Main", "tree": {"$path": "Main.luau", "Part": {"$path": "Part.luau"},
                "Assets": {"$className": "Folder"}}}"#,
        );
        let out = dir.join("Main.rbxm");
        write(&pack(&path).unwrap(), &out).unwrap();
        let dom = read(&out).unwrap();
        let roots = dom.root().children();
        assert_eq!(roots.len(), 1);
        let main = dom.get_by_ref(roots[0]).unwrap();
        assert_eq!(
            (main.name.as_str(), main.class.as_str()),
            ("Main", "ModuleScript")
        );
        let children: Vec<_> = main
            .children()
            .iter()
            .map(|r| {
                let child = dom.get_by_ref(*r).unwrap();
                (child.name.as_str(), child.class.as_str())
            })
            .collect();
        assert_eq!(children, [("Assets", "Folder"), ("Part", "ModuleScript")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_rojo_would_do_differently_is_refused() {
        let dir = scratch("refused");
        for (json, error) in [
            (r#"{"name": "M", "tree": {"$path": "src"}}"#, "not a .luau"),
            (
                r#"{"name": "M", "tree": {"$className": "Folder", "$properties": {}}}"#,
                "$properties is not supported",
            ),
            (r#"{"name": "M", "tree": {}}"#, "exactly one of"),
        ] {
            let message = pack(&project(&dir, json)).unwrap_err();
            assert!(message.contains(error), "{message}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
