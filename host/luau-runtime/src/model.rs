//! Roblox models: `--model FILE.rbxm` puts a model's instances into `ServerStorage`, and
//! `require` takes a `ModuleScript`, so a packaged module runs here as it does in Roblox.
//!
//! The file is read with `rbx_binary` (Roblox's binary model format, what `make package`
//! writes). The prelude builds the instances from the plain tree `models` gives (`ClassName`,
//! `Name`, `Source`, `Children`) and keeps each server's loaded modules; a `ModuleScript` runs
//! in an environment of its own whose `script` is that instance, Roblox's way of letting it reach
//! its children (`require(script.Signal)`). `require` with a string stays Luau's
//! require-by-string.

use std::ffi::{c_int, CStr};
use std::path::Path;

use mlua::{ffi, Function, Lua, Table};
use rbx_dom_weak::types::Variant;
use rbx_dom_weak::WeakDom;

use crate::args::{prim, ret, Args};
use crate::server::Ctx;

/// The primitives: `models` (every `--model` file's instances as plain tables) and
/// `load_module(source, name, script)` (a ModuleScript's code as a function to run).
pub fn install(lua: &Lua, rt_table: &Table, ctx: &Ctx) -> mlua::Result<()> {
    let c = ctx.clone();
    rt_table.set(
        "models",
        prim(lua, "--model", move |lua, _| {
            let roots = lua.create_table().map_err(|e| e.to_string())?;
            for path in &c.rt.options.models {
                let dom = read(path)?;
                for &child in dom.root().children() {
                    roots
                        .push(plain(lua, &dom, child).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                }
            }
            ret(lua, roots)
        })?,
    )?;

    let native = ctx.rt.options.native;
    rt_table.set(
        "load_module",
        prim(lua, "require", move |lua, args: Args| {
            let source = args.bytes(1)?;
            let name = args.string(2)?;
            let load = || -> mlua::Result<Function> {
                // Globals stay shared (as Roblox's scripts share theirs); `script` is this one's.
                let env = lua.create_table()?;
                env.raw_set("script", args.get(3).clone())?;
                let meta = lua.create_table()?;
                meta.raw_set("__index", lua.globals())?;
                env.set_metatable(Some(meta))?;
                // A module loads after the prelude has made the globals final, so, as the
                // globals, its environment is safe: builtins keep Luau's fast paths.
                env.set_safeenv(true);
                native.before_load(lua, &source);
                let loaded = lua
                    .load(source)
                    .set_name(format!("={name}"))
                    .set_environment(env)
                    .into_function();
                lua.enable_jit(false);
                loaded
            };
            ret(lua, load().map_err(|e| e.to_string())?)
        })?,
    )?;
    Ok(())
}

/// Where `require` finds the two requires it dispatches to (Lua registry keys).
const BY_PATH: &CStr = c"luau-runtime.require_by_path";
const BY_INSTANCE: &CStr = c"luau-runtime.require_by_instance";

/// After the prelude: the global `require` takes a `ModuleScript` (the prelude's
/// `require_instance`) as well as a string (Luau's require-by-string, as before).
pub fn wrap_require(lua: &Lua, rt_table: &Table) -> mlua::Result<()> {
    let by_path: Function = lua.globals().get("require")?;
    let by_instance: Function = rt_table.get("require_instance")?;
    for (key, function) in [(BY_PATH, by_path), (BY_INSTANCE, by_instance)] {
        let key = key.to_str().map_err(mlua::Error::external)?;
        lua.set_named_registry_value(key, function)?;
    }
    // SAFETY: `require` below only uses the Lua C API on its own stack, as any C function does.
    let require = unsafe { lua.create_c_function(require)? };
    lua.globals().set("require", require)
}

/// `require(x)`: a native function rather than an mlua callback for two reasons. Luau's
/// require-by-string finds the requiring file by skipping native frames, so paths stay relative
/// to the script that called `require`; and `lua_call` lets a module's error through as the
/// string it is (an mlua callback would wrap it in a userdata, which `pcall` would then see).
unsafe extern "C-unwind" fn require(state: *mut ffi::lua_State) -> c_int {
    let args = ffi::lua_gettop(state);
    let key = if ffi::lua_type(state, 1) == ffi::LUA_TTABLE {
        BY_INSTANCE
    } else {
        BY_PATH
    };
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, key.as_ptr());
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, args, ffi::LUA_MULTRET);
    ffi::lua_gettop(state)
}

fn read(path: &Path) -> Result<WeakDom, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("--model: cannot read {}: {e}", path.display()))?;
    rbx_binary::from_reader(std::io::BufReader::new(file))
        .map_err(|e| format!("--model: {} is not a binary model: {e}", path.display()))
}

fn plain(lua: &Lua, dom: &WeakDom, referent: rbx_dom_weak::types::Ref) -> mlua::Result<Table> {
    let instance = dom
        .get_by_ref(referent)
        .ok_or_else(|| mlua::Error::runtime("a model refers to an instance it lacks"))?;
    let table = lua.create_table()?;
    table.set("ClassName", instance.class.as_str())?;
    table.set("Name", instance.name.as_str())?;
    match instance.properties.get(&rbx_dom_weak::ustr("Source")) {
        Some(Variant::String(text)) => table.set("Source", lua.create_string(text)?)?,
        Some(Variant::BinaryString(bytes)) => {
            let bytes: &[u8] = bytes.as_ref();
            table.set("Source", lua.create_string(bytes)?)?
        }
        _ => {}
    }
    let children = lua.create_table()?;
    for &child in instance.children() {
        children.push(plain(lua, dom, child)?)?;
    }
    table.set("Children", children)?;
    Ok(table)
}
