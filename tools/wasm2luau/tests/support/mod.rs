//! Runs one module three ways, on wasmi and translated to Luau (mlua's Luau VM) twice: in one
//! part on the interpreter, and in two parts compiled to native code (as Roblox runs the core's
//! parts, `--!native`), and compares every call: the same results bit for bit (any NaN matches
//! any NaN), or the same kind of trap.

use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue, Variadic};
use wasm2luau::Options;
use wasmi::{Engine, Linker, Module, Store, Val, ValType, F32, F64};

pub struct Both {
    store: Store<()>,
    instance: wasmi::Instance,
    /// The interpreted translation, then the native one.
    luau: [Translated; 2],
    /// How many calls were compared.
    pub calls: usize,
}

/// One translation of the module, instantiated on its own Luau VM.
struct Translated {
    _lua: Lua,
    instance: Table,
    call: Function,
    what: &'static str,
}

impl Translated {
    fn new(wasm: &[u8], native: bool) -> Translated {
        let options = Options {
            parts: if native { 2 } else { 1 },
            ..Options::default()
        };
        let translation = wasm2luau::translate_with(wasm, options).expect("translate");
        let lua = Lua::new();
        lua.enable_jit(native);
        let parts = lua.create_table().unwrap();
        for (k, part) in translation.parts.iter().enumerate() {
            let define: Function = lua
                .load(part)
                .set_name(format!("=part{}", k + 1))
                .eval()
                .unwrap_or_else(|e| panic!("part {} does not load: {e}", k + 1));
            parts.push(define).unwrap();
        }
        let exports: Table = lua
            .load(&translation.main)
            .set_name("=translated")
            .eval()
            .unwrap_or_else(|e| panic!("the translation does not load: {e}"));
        let instantiate: Function = exports.get("instantiate").unwrap();
        let imports: Table = lua
            .load("{ host = { add = function(_, a, b) return (a + b) % 2^32 end } }")
            .eval()
            .unwrap();
        let instance: Table = instantiate
            .call((imports, parts))
            .expect("instantiate on Luau");
        let call: Function = instance.get("call").unwrap();
        Translated {
            _lua: lua,
            instance,
            call,
            what: if native { "native Luau" } else { "Luau" },
        }
    }
}

/// A call's outcome in a form both engines give: values by kind and bits, or a trap's kind.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Values(Vec<Bits>),
    Trap(&'static str),
}

#[derive(Debug, PartialEq)]
pub enum Bits {
    I32(u32),
    I64(i64),
    F32(u32),
    F64(u64),
    NaN,
}

fn trap_kind(message: &str) -> &'static str {
    let lower = message.to_lowercase();
    for (needle, kind) in [
        ("undefined element", "undefined element"),
        ("uninitialized element", "undefined element"),
        ("divide by zero", "division by zero"),
        ("division by zero", "division by zero"),
        ("overflow", "integer overflow"),
        ("unreachable", "unreachable"),
        ("out of bounds", "out of bounds"),
        ("invalid conversion", "invalid conversion"),
        ("mismatch", "indirect call type mismatch"),
    ] {
        if lower.contains(needle) {
            return kind;
        }
    }
    panic!("an error that is no wasm trap: {message}")
}

impl Both {
    /// `wat` on both engines; the Luau side gets `host.add(a, b) -> a + b` as an import.
    pub fn new(wat: &str) -> Both {
        let wasm = wat::parse_str(wat).expect("valid WAT");
        let engine = Engine::default();
        let module = Module::new(&engine, &wasm[..]).expect("valid module");
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::<()>::new(&engine);
        linker
            .func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b))
            .unwrap();
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("instantiate on wasmi");

        Both {
            store,
            instance,
            luau: [Translated::new(&wasm, false), Translated::new(&wasm, true)],
            calls: 0,
        }
    }

    fn on_wasmi(&mut self, name: &str, args: &[Val]) -> Outcome {
        let func = self
            .instance
            .get_func(&self.store, name)
            .unwrap_or_else(|| panic!("no export {name}"));
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        match func.call(&mut self.store, args, &mut results) {
            Ok(()) => Outcome::Values(results.iter().map(bits).collect()),
            Err(e) => Outcome::Trap(trap_kind(&e.to_string())),
        }
    }

    fn on_luau(&self, engine: usize, name: &str, args: &[Val]) -> Outcome {
        let luau = &self.luau[engine];
        let func = self.instance.get_func(&self.store, name).unwrap();
        let types: Vec<ValType> = func.ty(&self.store).results().to_vec();
        let numbers: Variadic<f64> = args
            .iter()
            .map(|a| match a {
                Val::I32(v) => *v as u32 as f64,
                Val::I64(v) => *v as f64,
                Val::F32(v) => v.to_float() as f64,
                Val::F64(v) => v.to_float(),
                other => panic!("no Luau number for {other:?}"),
            })
            .collect();
        match luau
            .call
            .call::<MultiValue>((luau.instance.clone(), name, numbers))
        {
            Ok(values) => Outcome::Values(
                values
                    .into_iter()
                    .zip(&types)
                    .map(|(v, t)| {
                        let n = match v {
                            LuaValue::Number(n) => n,
                            LuaValue::Integer(i) => i as f64,
                            other => panic!("{name}: a result that is no number: {other:?}"),
                        };
                        assert!(
                            *t == ValType::F32 || *t == ValType::F64 || n.fract() == 0.0,
                            "{name}: an integer result {n} is not whole"
                        );
                        match t {
                            ValType::I32 => {
                                assert!((0.0..4294967296.0).contains(&n), "{name}: i32 {n}");
                                Bits::I32(n as u32)
                            }
                            ValType::I64 => Bits::I64(n as i64),
                            ValType::F32 if n.is_nan() => Bits::NaN,
                            ValType::F32 => {
                                assert_eq!(n as f32 as f64, n, "{name}: not an f32");
                                Bits::F32((n as f32).to_bits())
                            }
                            ValType::F64 if n.is_nan() => Bits::NaN,
                            ValType::F64 => Bits::F64(n.to_bits()),
                            other => panic!("{other:?}"),
                        }
                    })
                    .collect(),
            ),
            Err(e) => Outcome::Trap(trap_kind(&e.to_string())),
        }
    }

    /// Calls `name` on both engines and asserts the outcomes agree; returns wasmi's.
    pub fn check(&mut self, name: &str, args: &[Val]) -> Outcome {
        let expected = self.on_wasmi(name, args);
        for engine in 0..self.luau.len() {
            let got = self.on_luau(engine, name, args);
            let what = self.luau[engine].what;
            assert_eq!(
                got, expected,
                "{name}{args:?}: {what} (left) vs wasmi (right)"
            );
        }
        self.calls += 1;
        expected
    }
}

fn bits(v: &Val) -> Bits {
    match v {
        Val::I32(v) => Bits::I32(*v as u32),
        Val::I64(v) => Bits::I64(*v),
        Val::F32(v) if v.to_float().is_nan() => Bits::NaN,
        Val::F32(v) => Bits::F32(v.to_bits()),
        Val::F64(v) if v.to_float().is_nan() => Bits::NaN,
        Val::F64(v) => Bits::F64(v.to_bits()),
        other => panic!("{other:?}"),
    }
}

/// i32 edge values and a deterministic spread of others.
pub fn i32s() -> Vec<u32> {
    let mut v = vec![
        0,
        1,
        2,
        3,
        7,
        31,
        32,
        33,
        63,
        64,
        255,
        256,
        0xffff,
        0x10000,
        0x7fff_ffff,
        0x8000_0000,
        0x8000_0001,
        0xffff_fffe,
        0xffff_ffff,
        0x1234_5678,
        0x9e37_79b9,
        1 << 21,
        (1 << 21) - 1,
    ];
    v.extend(spread(0x2545_f491_4f6c_dd1d).map(|x| x as u32));
    v
}

/// Twelve deterministic pseudo-random u64s (xorshift) from `seed`.
fn spread(mut x: u64) -> impl Iterator<Item = u64> {
    (0..12).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    })
}

/// i64 edge values and a deterministic spread of others.
pub fn i64s() -> Vec<i64> {
    let mut v = vec![
        0,
        1,
        -1,
        2,
        63,
        64,
        65,
        i64::MIN,
        i64::MAX,
        i64::MIN + 1,
        1 << 32,
        (1 << 32) - 1,
        1 << 31,
        1 << 53,
        (1 << 53) + 1,
        -(1 << 53),
        1 << 21,
        10,
        -10,
        1_000_000_007,
        0x0123_4567_89ab_cdef,
    ];
    for x in spread(0x9e37_79b9_7f4a_7c15) {
        v.push(x as i64);
        v.push((x >> 20) as i64);
    }
    v
}

pub fn f64s() -> Vec<f64> {
    vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        0.49999999999999994,
        1e-310,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        3.0e9,
        -3.0e9,
        4294967295.5,
        2147483647.9,
        -2147483648.9,
        -2147483649.0,
        9.223372036854776e18,
        -9.223372036854776e18,
        1.8446744073709552e19,
        4503599627370497.0,
        123456.789,
        -0.3,
        1e300,
    ]
}

/// An i64 as the two i32 halves the test modules take (low, high).
pub fn halves(v: i64) -> [Val; 2] {
    [Val::I32(v as i32), Val::I32((v >> 32) as i32)]
}

pub fn f32v(x: f32) -> Val {
    Val::F32(F32::from_float(x))
}

pub fn f64v(x: f64) -> Val {
    Val::F64(F64::from_float(x))
}

/// WAT helpers every test module has: `$join` makes an i64 of two i32 halves, and `$split`
/// ends a function returning an i64 as halves (low, high) from local 0 of type i64.
pub const JOIN: &str = r#"
  (func $join (param i32 i32) (result i64)
    (i64.or (i64.extend_i32_u (local.get 0))
            (i64.shl (i64.extend_i32_u (local.get 1)) (i64.const 32))))
  (func $split (param i64) (result i32 i32)
    (i32.wrap_i64 (local.get 0))
    (i32.wrap_i64 (i64.shr_u (local.get 0) (i64.const 32))))
"#;
