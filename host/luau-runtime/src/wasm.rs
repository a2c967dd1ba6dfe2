//! The wasm host contract (`luau/HOST.md`) on the `wasmi` interpreter.
//!
//! A script loads a module with `wasm.load(path)`, calls its exports with numbers and reads and
//! writes its linear memory as bytes. The module may import only what the contract names:
//! `host.random_fill(ptr, len)` and `host.log(ptr, len)`, provided here. Nothing else crosses,
//! so an ahead-of-time wasm→Luau translation can provide the same contract inside Roblox.

use std::path::{Path, PathBuf};

use mlua::{AnyUserData, Lua, Table, UserData, Value as LuaValue};
use wasmi::{
    Caller, Engine, Extern, Instance, Linker, Memory, Module, Store, Val, ValType, F32, F64,
};

use datastore_module::emulator::faults::Rng;

use crate::args::{prim, ret, Args};
use crate::server::Ctx;

/// What the imports see: their random stream and where log lines go.
struct HostState {
    rng: Rng,
    label: String,
}

pub struct WasmInstance {
    store: Store<HostState>,
    instance: Instance,
    memory: Option<Memory>,
}

impl UserData for WasmInstance {}

fn memory_of(caller: &Caller<'_, HostState>) -> Result<Memory, wasmi::Error> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| wasmi::Error::new("the module exports no memory"))
}

fn link(engine: &Engine) -> Result<Linker<HostState>, String> {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap(
            "host",
            "random_fill",
            |mut caller: Caller<'_, HostState>, ptr: u32, len: u32| -> Result<(), wasmi::Error> {
                let memory = memory_of(&caller)?;
                let mut bytes = vec![0u8; len as usize];
                let rng = &mut caller.data_mut().rng;
                for chunk in bytes.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..chunk.len()]);
                }
                memory
                    .write(&mut caller, ptr as usize, &bytes)
                    .map_err(|e| wasmi::Error::new(format!("host.random_fill: {e}")))
            },
        )
        .map_err(|e| e.to_string())?;
    linker
        .func_wrap(
            "host",
            "log",
            |caller: Caller<'_, HostState>, ptr: u32, len: u32| -> Result<(), wasmi::Error> {
                let memory = memory_of(&caller)?;
                let mut bytes = vec![0u8; len as usize];
                memory
                    .read(&caller, ptr as usize, &mut bytes)
                    .map_err(|e| wasmi::Error::new(format!("host.log: {e}")))?;
                let label = &caller.data().label;
                eprintln!("{label}[wasm] {}", String::from_utf8_lossy(&bytes));
                Ok(())
            },
        )
        .map_err(|e| e.to_string())?;
    Ok(linker)
}

/// `path` relative to the directory of the calling script (`source` is what `debug.info(2, "s")`
/// gives: the script's path, or `[string ...]`/`[runtime]` for code not from a file), as
/// `require` resolves paths; absolute paths stay as they are.
pub(crate) fn resolve(path: &str, source: Option<&str>) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        return path.to_owned();
    }
    let script = source
        .map(|s| s.strip_prefix('@').unwrap_or(s))
        .filter(|s| !s.starts_with('[') && !s.starts_with('='));
    match script {
        Some(script) => Path::new(script)
            .parent()
            .unwrap_or(Path::new(""))
            .join(path),
        None => path.to_owned(),
    }
}

/// How deep an instance's calls may go. The core recurses about three frames per level of a
/// value's nesting, and values nest up to 512 levels, so it needs some 1,600 (luau/HOST.md).
/// wasmi's default of 1,000 trapped a Reconcile of a value 400 levels deep, and a trap does not
/// restore the module's stack pointer, so the instance's later calls read out of bounds.
const MAX_CALL_DEPTH: usize = 4096;

fn load(ctx: &Ctx, path: &Path) -> Result<WasmInstance, String> {
    let what = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("wasm.load: cannot read {what}: {e}"))?;
    let mut config = wasmi::Config::default();
    config.set_max_recursion_depth(MAX_CALL_DEPTH);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, &bytes[..])
        .map_err(|e| format!("wasm.load: {what} is not a valid module: {e}"))?;
    for import in module.imports() {
        if import.module() != "host" || !matches!(import.name(), "random_fill" | "log") {
            return Err(format!(
                "wasm.load: {what} imports {}.{}, which the host contract does not provide (only host.random_fill and host.log)",
                import.module(),
                import.name()
            ));
        }
    }
    let seed = ctx.rt.rng.borrow_mut().next_u64();
    let label = ctx.rt.servers.borrow()[ctx.server].label.clone();
    let mut store = Store::new(
        &engine,
        HostState {
            rng: Rng::new(seed),
            label,
        },
    );
    let instance = link(&engine)?
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| format!("wasm.load: cannot instantiate {what}: {e}"))?;
    let memory = instance.get_memory(&store, "memory");
    Ok(WasmInstance {
        store,
        instance,
        memory,
    })
}

const TWO_32: f64 = 4_294_967_296.0;
const TWO_53: f64 = 9_007_199_254_740_992.0;

/// A Luau number as a wasm parameter of type `ty`. Integers must be whole and in range: an
/// `i32` takes −2³¹..2³² (so pointers and lengths can be passed unsigned), an `i64` ±2⁵³.
fn to_val(n: f64, ty: ValType, index: usize, export: &str) -> Result<Val, String> {
    let whole = |lo: f64, hi: f64| n.fract() == 0.0 && n >= lo && n < hi;
    let bad = |what: &str| format!("{export}: argument #{index} ({n}) is not {what}");
    match ty {
        ValType::I32 if whole(-2_147_483_648.0, TWO_32) => Ok(Val::I32(n as i64 as u32 as i32)),
        ValType::I32 => Err(bad("an i32 (a whole number from -2^31 to 2^32-1)")),
        ValType::I64 if whole(-TWO_53, TWO_53 + 1.0) => Ok(Val::I64(n as i64)),
        ValType::I64 => Err(bad("an i64 a Luau number holds exactly (|n| <= 2^53)")),
        ValType::F32 => Ok(Val::F32(F32::from_float(n as f32))),
        ValType::F64 => Ok(Val::F64(F64::from_float(n))),
        other => Err(format!("{export}: parameter #{index} has type {other:?}, which the host contract does not pass")),
    }
}

/// A wasm result as a Luau number: `i32` results read as unsigned (pointers, lengths, statuses).
fn from_val(val: &Val, export: &str) -> Result<f64, String> {
    match val {
        Val::I32(v) => Ok(*v as u32 as f64),
        Val::I64(v) if (v.unsigned_abs() as f64) <= TWO_53 => Ok(*v as f64),
        Val::I64(v) => Err(format!(
            "{export}: the i64 result {v} does not fit a Luau number exactly"
        )),
        Val::F32(v) => Ok(v.to_float() as f64),
        Val::F64(v) => Ok(v.to_float()),
        other => Err(format!(
            "{export}: a result of type {:?} cannot be returned to Luau",
            other.ty()
        )),
    }
}

impl WasmInstance {
    fn call(&mut self, export: &str, args: &Args) -> Result<Vec<f64>, String> {
        let func = self
            .instance
            .get_func(&self.store, export)
            .ok_or_else(|| format!("call: the module has no exported function `{export}`"))?;
        let ty = func.ty(&self.store);
        let given = args.count().saturating_sub(2);
        if given != ty.params().len() {
            return Err(format!(
                "{export}: expects {} arguments, got {given}",
                ty.params().len()
            ));
        }
        let params = ty
            .params()
            .iter()
            .enumerate()
            .map(|(i, t)| to_val(args.number(i + 3)?, *t, i + 1, export))
            .collect::<Result<Vec<_>, _>>()?;
        let mut results: Vec<Val> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        func.call(&mut self.store, &params, &mut results)
            .map_err(|e| format!("{export}: wasm trap: {e}"))?;
        results.iter().map(|v| from_val(v, export)).collect()
    }

    fn memory(&self) -> Result<Memory, String> {
        self.memory
            .ok_or_else(|| "the module exports no memory named `memory`".to_owned())
    }

    fn read(&self, ptr: usize, len: usize) -> Result<Vec<u8>, String> {
        let data = self.memory()?.data(&self.store);
        ptr.checked_add(len)
            .and_then(|end| data.get(ptr..end))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                format!(
                    "read: {ptr}..{ptr}+{len} is outside memory ({} bytes)",
                    data.len()
                )
            })
    }

    fn write(&mut self, ptr: usize, bytes: &[u8]) -> Result<(), String> {
        let memory = self.memory()?;
        let size = memory.data_size(&self.store);
        memory.write(&mut self.store, ptr, bytes).map_err(|_| {
            format!(
                "write: {ptr}..{ptr}+{} is outside memory ({size} bytes)",
                bytes.len()
            )
        })
    }
}

fn address(args: &Args, n: usize, what: &str) -> Result<usize, String> {
    let x = args.number(n)?;
    if x.fract() == 0.0 && (0.0..TWO_32).contains(&x) {
        Ok(x as usize)
    } else {
        Err(format!(
            "{what} must be a whole number from 0 to 2^32-1, got {x}"
        ))
    }
}

fn instance(args: &Args) -> Result<AnyUserData, String> {
    match args.get(1) {
        LuaValue::UserData(ud) if ud.is::<WasmInstance>() => Ok(ud.clone()),
        _ => Err("expected a wasm instance".into()),
    }
}

fn with<R>(
    args: &Args,
    f: impl FnOnce(&mut WasmInstance) -> Result<R, String>,
) -> Result<R, String> {
    let ud = instance(args)?;
    let mut inst = ud.borrow_mut::<WasmInstance>().map_err(|_| {
        "the wasm instance is busy (called from inside one of its own calls)".to_owned()
    })?;
    f(&mut inst)
}

pub fn install(lua: &Lua, rt: &Table, ctx: &Ctx) -> mlua::Result<()> {
    let c = ctx.clone();
    rt.set(
        "wasm_load",
        prim(lua, "wasm.load", move |lua, args: Args| {
            let path = resolve(&args.string(1)?, args.opt_string(2)?.as_deref());
            let inst = load(&c, &path)?;
            ret(lua, lua.create_userdata(inst).map_err(|e| e.to_string())?)
        })?,
    )?;
    rt.set(
        "wasm_call",
        prim(lua, "call", |lua, args: Args| {
            let export = args.string(2)?;
            let results = with(&args, |inst| inst.call(&export, &args))?;
            ret(lua, mlua::Variadic::from_iter(results))
        })?,
    )?;
    rt.set(
        "wasm_read",
        prim(lua, "read", |lua, args: Args| {
            let (ptr, len) = (address(&args, 2, "ptr")?, address(&args, 3, "len")?);
            let bytes = with(&args, |inst| inst.read(ptr, len))?;
            ret(lua, lua.create_string(bytes).map_err(|e| e.to_string())?)
        })?,
    )?;
    rt.set(
        "wasm_write",
        prim(lua, "write", |_, args: Args| {
            let ptr = address(&args, 2, "ptr")?;
            let bytes = args.bytes(3)?;
            with(&args, |inst| inst.write(ptr, &bytes))?;
            Ok(mlua::MultiValue::new())
        })?,
    )?;
    rt.set(
        "wasm_size",
        prim(lua, "size", |lua, args: Args| {
            let size = with(&args, |inst| Ok(inst.memory()?.data_size(&inst.store)))?;
            ret(lua, size as f64)
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_from_the_calling_script() {
        assert_eq!(
            resolve("x.wasm", Some("@tests/luau/a.luau")),
            PathBuf::from("tests/luau/x.wasm")
        );
        assert_eq!(
            resolve("../x.wasm", Some("@a.luau")),
            PathBuf::from("../x.wasm")
        );
        assert_eq!(
            resolve("/abs/x.wasm", Some("@a/b.luau")),
            PathBuf::from("/abs/x.wasm")
        );
        assert_eq!(
            resolve("x.wasm", Some("=[runtime]")),
            PathBuf::from("x.wasm")
        );
    }

    #[test]
    fn numbers_cross_as_the_contract_says() {
        assert_eq!(
            to_val(4294967295.0, ValType::I32, 1, "f").unwrap().i32(),
            Some(-1)
        );
        assert_eq!(from_val(&Val::I32(-1), "f").unwrap(), 4294967295.0);
        assert!(to_val(1.5, ValType::I32, 1, "f").is_err());
        assert!(to_val(TWO_32, ValType::I32, 1, "f").is_err());
        assert!(to_val(2f64.powi(60), ValType::I64, 1, "f").is_err());
        assert_eq!(
            from_val(&Val::F64(F64::from_float(0.25)), "f").unwrap(),
            0.25
        );
    }
}
