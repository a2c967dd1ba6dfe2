//! Luau values to and from the core's [`Value`]: the one place the runtime decides what a
//! DataStore, a MemoryStore or `JSONEncode` can be given.
//!
//! A table whose keys are exactly `1..n` is a sequence ([`Value::Array`]; the empty table too,
//! as Roblox stores `{}` as `[]`); any other table is a [`Value::Table`] with string, number or
//! boolean keys. Functions, threads, userdata, buffers, vectors, NaN, ±∞, strings that are not
//! UTF-8, tables that contain themselves and nesting deeper than [`MAX_DEPTH`] are refused
//! with the path of the offending value: `value.Inventory[3]: NaN cannot be stored`.

use std::ffi::c_void;

use mlua::{Lua, Table as LuaTable, Value as LuaValue};

use datastore_module::value::{luau_number_to_string, Key, Table, Value, MAX_DEPTH};

use crate::args::type_name;

/// Converts a Luau value; `root` names it in messages (`value`, `metadata`…).
pub fn from_lua(value: &LuaValue, root: &str) -> Result<Value, String> {
    let mut walk = Walk {
        path: root.to_owned(),
        open: Vec::new(),
    };
    walk.value(value)
}

struct Walk {
    path: String,
    /// Tables being converted, outermost first: a cycle is a table met again in here.
    open: Vec<*const c_void>,
}

impl Walk {
    fn refuse(&self, what: impl std::fmt::Display) -> String {
        format!("{}: {what} cannot be stored", self.path)
    }

    fn value(&mut self, value: &LuaValue) -> Result<Value, String> {
        match value {
            LuaValue::Nil => Ok(Value::Nil),
            LuaValue::Boolean(b) => Ok(Value::Bool(*b)),
            LuaValue::Integer(i) => Ok(Value::Number(*i as f64)),
            LuaValue::Number(n) => self.number(*n).map(Value::Number),
            LuaValue::String(s) => match s.to_str() {
                Ok(s) => Ok(Value::String(s.to_string())),
                Err(_) => Err(self.refuse("a string that is not valid UTF-8")),
            },
            LuaValue::Table(t) => self.table(t),
            other => Err(self.refuse(format!("a {}", type_name(other)))),
        }
    }

    fn number(&self, n: f64) -> Result<f64, String> {
        if n.is_finite() {
            Ok(n)
        } else {
            Err(self.refuse(luau_number_to_string(n)))
        }
    }

    fn table(&mut self, table: &LuaTable) -> Result<Value, String> {
        let ptr = table.to_pointer();
        if self.open.contains(&ptr) {
            return Err(self.refuse("a table that contains itself"));
        }
        if self.open.len() >= MAX_DEPTH {
            return Err(self.refuse(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let mut pairs = Vec::new();
        for pair in table.pairs::<LuaValue, LuaValue>() {
            pairs.push(pair.map_err(|e| e.to_string())?);
        }
        let len = table.raw_len();
        let is_sequence = pairs.len() == len
            && pairs.iter().all(|(k, _)| match k {
                LuaValue::Integer(i) => *i >= 1 && (*i as usize) <= len,
                LuaValue::Number(n) => n.fract() == 0.0 && *n >= 1.0 && (*n as usize) <= len,
                _ => false,
            });
        self.open.push(ptr);
        let result = if is_sequence {
            self.sequence(table, len)
        } else {
            self.map(pairs)
        };
        self.open.pop();
        result
    }

    fn sequence(&mut self, table: &LuaTable, len: usize) -> Result<Value, String> {
        let mut items = Vec::with_capacity(len);
        for i in 1..=len {
            let item: LuaValue = table.raw_get(i).map_err(|e| e.to_string())?;
            let mark = self.path.len();
            self.path.push_str(&format!("[{i}]"));
            items.push(self.value(&item)?);
            self.path.truncate(mark);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, pairs: Vec<(LuaValue, LuaValue)>) -> Result<Value, String> {
        let mut map = Table::with_capacity(pairs.len());
        for (k, v) in pairs {
            let key = match &k {
                LuaValue::String(s) => match s.to_str() {
                    Ok(s) => Key::String(s.to_string()),
                    Err(_) => return Err(self.refuse("a key that is not valid UTF-8")),
                },
                LuaValue::Integer(i) => Key::Number(*i as f64),
                LuaValue::Number(n) => Key::Number(self.number(*n)?),
                LuaValue::Boolean(b) => Key::Bool(*b),
                other => return Err(self.refuse(format!("a {} key", type_name(other)))),
            };
            let mark = self.path.len();
            match &key {
                Key::String(s) if is_identifier(s) => {
                    self.path.push('.');
                    self.path.push_str(s);
                }
                Key::String(s) => self.path.push_str(&format!("[{s:?}]")),
                Key::Number(n) => self
                    .path
                    .push_str(&format!("[{}]", luau_number_to_string(*n))),
                Key::Bool(b) => self.path.push_str(&format!("[{b}]")),
            }
            let value = self.value(&v)?;
            self.path.truncate(mark);
            map.insert(key, value);
        }
        Ok(Value::Table(map))
    }
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Builds the Luau form of a value: sequences as `{v1, v2, …}`, tables with their keys.
pub fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<LuaValue> {
    Ok(match value {
        Value::Nil => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => LuaValue::Number(*n),
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            LuaValue::Table(t)
        }
        Value::Table(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                let key = match k {
                    Key::String(s) => LuaValue::String(lua.create_string(s)?),
                    Key::Number(n) => LuaValue::Number(*n),
                    Key::Bool(b) => LuaValue::Boolean(*b),
                };
                t.raw_set(key, to_lua(lua, v)?)?;
            }
            LuaValue::Table(t)
        }
    })
}

/// A table of numbers (`SetAsync`'s user ids).
pub fn numbers(value: &LuaValue, root: &str) -> Result<Vec<f64>, String> {
    match from_lua(value, root)? {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Number(n) => Ok(n),
                other => Err(format!(
                    "{root}[{}]: a user id must be a number, got {}",
                    i + 1,
                    other.type_name()
                )),
            })
            .collect(),
        other => Err(format!(
            "{root}: expected an array of user ids, got {}",
            if other.is_table() {
                "a table with other keys"
            } else {
                other.type_name()
            }
        )),
    }
}

/// A table with keys (metadata); the empty table is an empty map.
pub fn map(value: &LuaValue, root: &str) -> Result<Table, String> {
    match from_lua(value, root)? {
        Value::Nil => Ok(Table::new()),
        Value::Table(t) => Ok(t),
        Value::Array(items) if items.is_empty() => Ok(Table::new()),
        other => Err(format!(
            "{root}: expected a table with string keys, got {}",
            if other.is_table() {
                "an array"
            } else {
                other.type_name()
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(lua: &Lua, code: &str) -> LuaValue {
        lua.load(code).eval().unwrap()
    }

    #[test]
    fn sequences_become_arrays_and_other_tables_keep_their_keys() {
        let lua = Lua::new();
        let v = from_lua(&eval(&lua, "{1, 'a', {x = true}}"), "value").unwrap();
        assert_eq!(v.to_json_string(), r#"[1,"a",{"x":true}]"#);
        let v = from_lua(&eval(&lua, "{[1] = 1, [3] = 3}"), "value").unwrap();
        let Value::Table(t) = v else {
            panic!("a table with a hole is not a sequence")
        };
        assert_eq!(t.get(&Key::Number(3.0)), Some(&Value::Number(3.0)));
        assert_eq!(
            from_lua(&eval(&lua, "{}"), "v").unwrap(),
            Value::Array(vec![])
        );
    }

    #[test]
    fn refusals_name_the_path() {
        let lua = Lua::new();
        let err = from_lua(&eval(&lua, "{Inventory = {1, 2, 0/0}}"), "value").unwrap_err();
        assert_eq!(err, "value.Inventory[3]: nan cannot be stored");
        let err = from_lua(&eval(&lua, "{['a b'] = print}"), "value").unwrap_err();
        assert_eq!(err, r#"value["a b"]: a function cannot be stored"#);
        let err = from_lua(&eval(&lua, "local t = {} t.self = t return t"), "value").unwrap_err();
        assert_eq!(
            err,
            "value.self: a table that contains itself cannot be stored"
        );
        let err = from_lua(&eval(&lua, "{[{}] = 1}"), "value").unwrap_err();
        assert_eq!(err, "value: a table key cannot be stored");
    }

    #[test]
    fn round_trip_through_luau() {
        let lua = Lua::new();
        let v = from_lua(&eval(&lua, "{a = {1, 2}, [5] = 'x', [true] = false}"), "v").unwrap();
        let back = from_lua(&to_lua(&lua, &v).unwrap(), "v").unwrap();
        assert_eq!(back, v);
    }
}
