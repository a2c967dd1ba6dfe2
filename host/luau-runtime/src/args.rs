//! How the runtime's Rust functions take arguments and report failure to Luau.
//!
//! An error returned from an mlua callback reaches Luau as a userdata, so `pcall` in a script
//! would see something that is not a string, unlike every Roblox API. The runtime's primitives
//! therefore never fail that way: each returns `true, results...` or `false, message`, and the
//! Luau prelude raises the message with `error(message, 0)` (no position, as the engine's own
//! errors have none).

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Thread, Value as LuaValue};

use datastore_module::value::luau_number_to_string;

/// A primitive's outcome: values to return, or the message to raise.
pub type Outcome = Result<MultiValue, String>;

/// Wraps `f` as a Luau function returning `true, ...` or `false, message`.
pub fn prim<F>(lua: &Lua, api: &'static str, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Args) -> Outcome + 'static,
{
    lua.create_function(move |lua, args: MultiValue| {
        let mut out = match f(lua, Args::new(api, args)) {
            Ok(values) => values,
            Err(message) => {
                return Ok(MultiValue::from_vec(vec![
                    LuaValue::Boolean(false),
                    LuaValue::String(lua.create_string(&message)?),
                ]))
            }
        };
        out.push_front(LuaValue::Boolean(true));
        Ok(out)
    })
}

/// Packs results for [`prim`], turning an mlua failure into a message.
pub fn ret(lua: &Lua, values: impl IntoLuaMulti) -> Outcome {
    values.into_lua_multi(lua).map_err(|e| e.to_string())
}

/// Luau's `typeof` name of a value, for messages.
pub fn type_name(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Nil => "nil",
        LuaValue::Boolean(_) => "boolean",
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::String(_) => "string",
        LuaValue::Table(_) => "table",
        LuaValue::Function(_) => "function",
        LuaValue::Thread(_) => "thread",
        LuaValue::Buffer(_) => "buffer",
        LuaValue::Vector(_) => "vector",
        _ => "userdata",
    }
}

/// The arguments of one call, numbered from 1 as Luau numbers them (after `self`).
pub struct Args {
    api: &'static str,
    values: Vec<LuaValue>,
    /// Leading arguments the prelude adds (a store's name…), left out of messages' numbering.
    hidden: usize,
}

impl Args {
    pub fn new(api: &'static str, values: MultiValue) -> Args {
        Args {
            api,
            values: values.into_vec(),
            hidden: 0,
        }
    }

    /// Numbers arguments in messages as if the first `n` were not there.
    pub fn hiding(mut self, n: usize) -> Args {
        self.hidden = n;
        self
    }

    /// How many arguments were passed (trailing `nil`s included).
    pub fn count(&self) -> usize {
        self.values.len()
    }

    pub fn get(&self, n: usize) -> &LuaValue {
        self.values.get(n - 1).unwrap_or(&LuaValue::Nil)
    }

    /// Arguments from `n` on (`task.spawn`'s extra arguments).
    pub fn rest(&self, n: usize) -> MultiValue {
        self.values.iter().skip(n - 1).cloned().collect()
    }

    fn wrong(&self, n: usize, expected: &str) -> String {
        format!(
            "invalid argument #{} to '{}' ({expected} expected, got {})",
            n.saturating_sub(self.hidden),
            self.api,
            type_name(self.get(n))
        )
    }

    /// A string; numbers are accepted and converted as Luau converts them.
    pub fn string(&self, n: usize) -> Result<String, String> {
        match self.get(n) {
            LuaValue::String(s) => s.to_str().map(|s| s.to_string()).map_err(|_| {
                format!(
                    "argument #{} to '{}' is not valid UTF-8",
                    n.saturating_sub(self.hidden),
                    self.api
                )
            }),
            LuaValue::Number(x) => Ok(luau_number_to_string(*x)),
            LuaValue::Integer(i) => Ok(i.to_string()),
            _ => Err(self.wrong(n, "string")),
        }
    }

    pub fn opt_string(&self, n: usize) -> Result<Option<String>, String> {
        match self.get(n) {
            LuaValue::Nil => Ok(None),
            _ => self.string(n).map(Some),
        }
    }

    /// The raw bytes of a string argument (wasm memory writes).
    pub fn bytes(&self, n: usize) -> Result<Vec<u8>, String> {
        match self.get(n) {
            LuaValue::String(s) => Ok(s.as_bytes().to_vec()),
            LuaValue::Buffer(b) => Ok(b.to_vec()),
            _ => Err(self.wrong(n, "string")),
        }
    }

    pub fn number(&self, n: usize) -> Result<f64, String> {
        match self.get(n) {
            LuaValue::Number(x) => Ok(*x),
            LuaValue::Integer(i) => Ok(*i as f64),
            _ => Err(self.wrong(n, "number")),
        }
    }

    pub fn opt_number(&self, n: usize, default: f64) -> Result<f64, String> {
        match self.get(n) {
            LuaValue::Nil => Ok(default),
            _ => self.number(n),
        }
    }

    /// A boolean; `nil` is `default`. Other values count by truthiness, as the engine does.
    pub fn boolean(&self, n: usize, default: bool) -> bool {
        match self.get(n) {
            LuaValue::Nil => default,
            LuaValue::Boolean(b) => *b,
            _ => true,
        }
    }

    pub fn function(&self, n: usize) -> Result<Function, String> {
        match self.get(n) {
            LuaValue::Function(f) => Ok(f.clone()),
            _ => Err(self.wrong(n, "function")),
        }
    }

    pub fn thread(&self, n: usize) -> Result<Thread, String> {
        match self.get(n) {
            LuaValue::Thread(t) => Ok(t.clone()),
            _ => Err(self.wrong(n, "thread")),
        }
    }

    /// A function (run on a new thread) or a thread (resumed), as `task.*` take them.
    pub fn runnable(&self, lua: &Lua, n: usize) -> Result<Thread, String> {
        match self.get(n) {
            LuaValue::Function(f) => lua.create_thread(f.clone()).map_err(|e| e.to_string()),
            LuaValue::Thread(t) => Ok(t.clone()),
            _ => Err(self.wrong(n, "function or thread")),
        }
    }
}
