//! DataStoreService and MemoryStoreService requests, served by the emulator.
//!
//! Each primitive calls the emulator at once, at the clock's current Unix time and as this
//! server's `client`, so the request takes effect when it is sent; the reply (values, or the
//! emulator's Roblox-shaped error message) reaches the calling thread after the reply's latency,
//! which is what `--faults latency=…` and the budget model's throttle queue set. The prelude
//! yields the thread in between.
//!
//! Transforms (`UpdateAsync`) run inside the request, so they cannot yield and cannot make other
//! requests, as on Roblox; an error they raise fails the request with their message.
//!
//! The hostile store (`hostile.rs`) acts on the reply here: a hung reply is never delivered, and
//! a garbage one is built in the wrong shape by the request's own reply builder.

use std::cell::Cell;

use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue};

use datastore_module::emulator::{
    DataUpdate, Emulator, KeyInfo, MapUpdate, Op, RangeBound, Reply, SortDirection, SortKey,
};
use datastore_module::value::Value;

use crate::args::{prim, ret, type_name, Args, Outcome};
use crate::convert::{from_lua, map, numbers, to_lua};
use crate::hostile::{self, Shape};
use crate::server::Ctx;

/// What a garbage reply puts where a number, a string or a table belongs.
const GARBAGE_NUMBER: f64 = 42.0;
const GARBAGE_STRING: &str = "garbage";

impl Ctx {
    /// The emulator, unless a transform of this very request holds it.
    fn emulator(&self) -> Result<std::cell::RefMut<'_, Emulator>, String> {
        self.rt.emulator.try_borrow_mut().map_err(|_| {
            "DataStore and MemoryStore requests cannot be made inside an UpdateAsync transform"
                .into()
        })
    }

    fn key_info(&self, lua: &Lua, info: &KeyInfo) -> Result<LuaValue, String> {
        self.key_info_shaped(lua, info, None)
    }

    /// A `DataStoreKeyInfo`, or the hostile store's garbled one: `shape` says which field has
    /// the wrong type (or that the key info is a number).
    fn key_info_shaped(
        &self,
        lua: &Lua,
        info: &KeyInfo,
        shape: Option<Shape>,
    ) -> Result<LuaValue, String> {
        let string = |s: &str| -> Result<LuaValue, String> {
            lua.create_string(s).map(LuaValue::String).map_err(lua_err)
        };
        let mut created = LuaValue::Number(info.created_ms as f64);
        let mut version = string(&info.version)?;
        let mut user_ids = LuaValue::Table(
            lua.create_sequence_from(info.user_ids.iter().copied())
                .map_err(lua_err)?,
        );
        let mut metadata = to_lua(lua, &Value::Table(info.metadata.clone())).map_err(lua_err)?;
        match shape {
            None => {}
            Some(Shape::VersionNumber) => version = LuaValue::Number(GARBAGE_NUMBER),
            Some(Shape::UserIdsString) => {
                user_ids = string(GARBAGE_STRING)?;
                metadata = LuaValue::Number(GARBAGE_NUMBER);
            }
            Some(Shape::CreatedTimeString) => created = string(GARBAGE_STRING)?,
            Some(_) => return Ok(LuaValue::Number(GARBAGE_NUMBER)),
        }
        self.ctors()?
            .key_info
            .call((created, info.updated_ms as f64, version, user_ids, metadata))
            .map_err(lua_err)
    }

    /// Calls a transform through the prelude's `protect`: its results, or its error's message.
    fn transform(
        &self,
        f: &Function,
        args: impl mlua::IntoLuaMulti,
    ) -> Result<Vec<LuaValue>, String> {
        let ctors = self.ctors()?;
        let mut out = ctors
            .protect
            .call::<MultiValue>((f.clone(), args))
            .map_err(|e| e.to_string())?
            .into_vec();
        match out.first() {
            Some(LuaValue::Boolean(true)) => {
                out.remove(0);
                Ok(out)
            }
            _ => Err(match out.get(1) {
                Some(LuaValue::String(s)) => s.to_string_lossy(),
                _ => "the transform function failed".to_owned(),
            }),
        }
    }
}

impl Ctx {
    /// Delivers a reply of `op` to the calling thread after `latency_ms`, unless the hostile
    /// store hangs it: then the thread is never resumed.
    fn reply_to(&self, lua: &Lua, op: Op, latency_ms: u64, result: Outcome) -> Outcome {
        if self.rt.hostile.borrow_mut().hang(op) {
            return Ok(MultiValue::new());
        }
        self.deliver(lua, latency_ms, result)
    }

    /// Delivers an emulator reply: `build` turns a success into the values the thread resumes
    /// with, in the garbage shape the hostile store picked, if any; an error becomes its
    /// Roblox-shaped message.
    fn answer<T>(
        &self,
        lua: &Lua,
        op: Op,
        reply: Reply<T>,
        build: impl FnOnce(T, Option<Shape>) -> Outcome,
    ) -> Outcome {
        let result = reply.result.map_err(|e| e.message).and_then(|value| {
            let garbage = self.rt.hostile.borrow_mut().garbage(op);
            build(value, garbage.map(|n| hostile::shape(op, n)))
        });
        self.reply_to(lua, op, reply.latency_ms, result)
    }
}

/// A reply that is nothing but a wrong-typed value.
fn garbage_only(lua: &Lua, shape: Shape) -> Outcome {
    match shape {
        Shape::String => ret(lua, GARBAGE_STRING),
        Shape::Table => ret(lua, lua.create_table().map_err(lua_err)?),
        _ => ret(lua, GARBAGE_NUMBER),
    }
}

/// A reply of no values, or the hostile store's number.
fn nothing(lua: &Lua, garbage: Option<Shape>) -> Outcome {
    match garbage {
        Some(shape) => garbage_only(lua, shape),
        None => Ok(MultiValue::new()),
    }
}

/// One run of a transform inside the emulator: a failure is kept in `failure` (the request
/// then fails with it) and cancels the write; once one run failed, later ones do not run.
fn guarded<T>(
    failure: &mut Option<String>,
    run: impl FnOnce() -> Result<Option<T>, String>,
) -> Option<T> {
    if failure.is_some() {
        return None;
    }
    run().unwrap_or_else(|message| {
        *failure = Some(message);
        None
    })
}

fn lua_err(e: mlua::Error) -> String {
    e.to_string()
}

/// A value for a DataStore, refused as the engine refuses it (104).
fn data_value(value: &LuaValue) -> Result<Value, String> {
    from_lua(value, "value").map_err(|why| {
        format!(
            "104: Can't store {} in DataStore. ({why})",
            type_name(value)
        )
    })
}

/// A value for a MemoryStore, refused as the service refuses it.
fn memory_value(value: &LuaValue) -> Result<Value, String> {
    from_lua(value, "value")
        .map_err(|why| format!("InvalidRequest: The value can't be stored: {why}"))
}

fn sort_key(value: &LuaValue) -> Result<Option<SortKey>, String> {
    match value {
        LuaValue::Nil => Ok(None),
        LuaValue::Number(n) => Ok(Some(SortKey::Number(*n))),
        LuaValue::Integer(i) => Ok(Some(SortKey::Number(*i as f64))),
        LuaValue::String(s) => Ok(Some(SortKey::String(s.to_string_lossy()))),
        other => Err(format!(
            "InvalidRequest: The sort key must be a number or a string, got {}",
            type_name(other)
        )),
    }
}

fn sort_key_to_lua(lua: &Lua, key: Option<&SortKey>) -> mlua::Result<LuaValue> {
    Ok(match key {
        None => LuaValue::Nil,
        Some(SortKey::Number(n)) => LuaValue::Number(*n),
        Some(SortKey::String(s)) => LuaValue::String(lua.create_string(s)?),
    })
}

fn count(n: f64) -> usize {
    if n.is_finite() && n >= 0.0 {
        n.floor() as usize
    } else {
        0
    }
}

fn bound(value: &LuaValue, n: usize) -> Result<Option<RangeBound>, String> {
    match value {
        LuaValue::Nil => Ok(None),
        LuaValue::Table(t) => {
            let key: LuaValue = t.get("key").map_err(lua_err)?;
            let key = match key {
                LuaValue::Nil => None,
                LuaValue::String(s) => Some(s.to_string_lossy()),
                other => {
                    return Err(format!(
                        "invalid argument #{n} to 'GetRangeAsync' (key must be a string, got {})",
                        type_name(&other)
                    ))
                }
            };
            let sort: LuaValue = t.get("sortKey").map_err(lua_err)?;
            Ok(Some(RangeBound {
                key,
                sort_key: sort_key(&sort)?,
            }))
        }
        other => Err(format!(
            "invalid argument #{n} to 'GetRangeAsync' (table expected, got {})",
            type_name(other)
        )),
    }
}

pub fn install(lua: &Lua, rt: &Table, ctx: &Ctx) -> mlua::Result<()> {
    let reg = |name: &'static str,
               api: &'static str,
               f: fn(&Lua, &Ctx, Args) -> Outcome|
     -> mlua::Result<()> {
        // The prelude passes the object's name (and a store's scope) first.
        let hidden = if name.starts_with("data_") { 2 } else { 1 };
        let c = ctx.clone();
        rt.set(
            name,
            prim(lua, api, move |lua, args| f(lua, &c, args.hiding(hidden)))?,
        )
    };
    reg("data_get", "GetAsync", data_get)?;
    reg("data_set", "SetAsync", data_set)?;
    reg("data_update", "UpdateAsync", data_update)?;
    reg("data_remove", "RemoveAsync", data_remove)?;
    reg("map_get", "GetAsync", map_get)?;
    reg("map_set", "SetAsync", map_set)?;
    reg("map_update", "UpdateAsync", map_update)?;
    reg("map_remove", "RemoveAsync", map_remove)?;
    reg("map_range", "GetRangeAsync", map_range)?;
    reg("map_size", "GetSizeAsync", map_size)?;
    reg("queue_add", "AddAsync", queue_add)?;
    reg("queue_read", "ReadAsync", queue_read)?;
    reg("queue_remove", "RemoveAsync", queue_remove)?;
    reg("queue_size", "GetSizeAsync", queue_size)?;
    Ok(())
}

/// `(value, DataStoreKeyInfo)`, or `(nil, nil)` for no entry; `garbage` garbles it.
fn entry_reply(
    lua: &Lua,
    ctx: &Ctx,
    entry: Option<(Value, KeyInfo)>,
    garbage: Option<Shape>,
) -> Outcome {
    match (entry, garbage) {
        (Some((value, _)), Some(Shape::ValueWithoutKeyInfo)) => {
            ret(lua, (to_lua(lua, &value).map_err(lua_err)?, LuaValue::Nil))
        }
        (Some((value, info)), shape) => {
            let value = to_lua(lua, &value).map_err(lua_err)?;
            ret(lua, (value, ctx.key_info_shaped(lua, &info, shape)?))
        }
        (None, None) => ret(lua, (LuaValue::Nil, LuaValue::Nil)),
        (None, Some(Shape::ValueWithoutKeyInfo)) => ret(lua, (GARBAGE_NUMBER, LuaValue::Nil)),
        (None, Some(_)) => ret(lua, (LuaValue::Nil, GARBAGE_NUMBER)),
    }
}

fn data_get(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (name, scope, key) = (args.string(1)?, args.string(2)?, args.string(3)?);
    let use_cache = args.boolean(4, true);
    let now = ctx.rt.unix_ms();
    let reply = ctx
        .emulator()?
        .data_get(now, ctx.client(), &name, &scope, &key, use_cache);
    ctx.answer(lua, Op::DataGet, reply, |entry, garbage| {
        entry_reply(lua, ctx, entry, garbage)
    })
}

fn data_set(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (name, scope, key) = (args.string(1)?, args.string(2)?, args.string(3)?);
    let value = data_value(args.get(4))?;
    let user_ids = numbers(args.get(5), "userIds")
        .map_err(|why| format!("513: Attribute userId format is invalid. ({why})"))?;
    let metadata = map(args.get(6), "metadata")
        .map_err(|why| format!("513: Attribute metadata format is invalid. ({why})"))?;
    let now = ctx.rt.unix_ms();
    let reply = ctx.emulator()?.data_set(
        now,
        ctx.client(),
        &name,
        &scope,
        &key,
        value,
        user_ids,
        metadata,
        None,
    );
    ctx.answer(lua, Op::DataSet, reply, |version, garbage| match garbage {
        None => ret(lua, version),
        Some(shape) => garbage_only(lua, shape),
    })
}

fn data_update(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (name, scope, key) = (args.string(1)?, args.string(2)?, args.string(3)?);
    let transform = args.function(4)?;
    let mut failure: Option<String> = None;
    let run = |old: Option<&Value>, info: Option<&KeyInfo>| -> Result<DataUpdate, String> {
        let old = match old {
            Some(v) => to_lua(lua, v).map_err(lua_err)?,
            None => LuaValue::Nil,
        };
        let info = match info {
            Some(info) => ctx.key_info(lua, info)?,
            None => LuaValue::Nil,
        };
        let out = ctx.transform(&transform, (old, info))?;
        let get = |i: usize| out.get(i).cloned().unwrap_or(LuaValue::Nil);
        if get(0).is_nil() {
            return Ok(None);
        }
        let value = data_value(&get(0))?;
        let user_ids = match get(1) {
            LuaValue::Nil => None,
            ids => Some(
                numbers(&ids, "userIds")
                    .map_err(|why| format!("513: Attribute userId format is invalid. ({why})"))?,
            ),
        };
        let metadata = match get(2) {
            LuaValue::Nil => None,
            m => Some(
                map(&m, "metadata")
                    .map_err(|why| format!("513: Attribute metadata format is invalid. ({why})"))?,
            ),
        };
        Ok(Some((value, user_ids, metadata)))
    };
    let now = ctx.rt.unix_ms();
    let reply =
        ctx.emulator()?
            .data_update(now, ctx.client(), &name, &scope, &key, &mut |old, info| {
                guarded(&mut failure, || run(old, info))
            });
    match failure {
        Some(message) => ctx.reply_to(lua, Op::DataUpdate, reply.latency_ms, Err(message)),
        None => ctx.answer(lua, Op::DataUpdate, reply, |entry, garbage| {
            entry_reply(lua, ctx, entry, garbage)
        }),
    }
}

fn data_remove(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (name, scope, key) = (args.string(1)?, args.string(2)?, args.string(3)?);
    let now = ctx.rt.unix_ms();
    let reply = ctx
        .emulator()?
        .data_remove(now, ctx.client(), &name, &scope, &key, None);
    ctx.answer(lua, Op::DataRemove, reply, |entry, garbage| {
        entry_reply(lua, ctx, entry, garbage)
    })
}

fn map_get(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (map_name, key) = (args.string(1)?, args.string(2)?);
    let now = ctx.rt.unix_ms();
    let reply = ctx.emulator()?.map_get(now, ctx.client(), &map_name, &key);
    ctx.answer(lua, Op::MapGet, reply, |item, garbage| match item {
        Some((value, sort)) => {
            let value = to_lua(lua, &value).map_err(lua_err)?;
            let sort = match garbage {
                Some(_) => LuaValue::Table(lua.create_table().map_err(lua_err)?),
                None => sort_key_to_lua(lua, sort.as_ref()).map_err(lua_err)?,
            };
            ret(lua, (value, sort))
        }
        None => ret(lua, (LuaValue::Nil, LuaValue::Nil)),
    })
}

fn map_set(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (map_name, key) = (args.string(1)?, args.string(2)?);
    let value = memory_value(args.get(3))?;
    let expiration = args.number(4)?;
    let sort = sort_key(args.get(5))?;
    let now = ctx.rt.unix_ms();
    let reply =
        ctx.emulator()?
            .map_set(now, ctx.client(), &map_name, &key, value, expiration, sort);
    ctx.answer(lua, Op::MapSet, reply, |overwrote, garbage| match garbage {
        Some(shape) => garbage_only(lua, shape),
        None => ret(lua, overwrote),
    })
}

fn map_update(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (map_name, key) = (args.string(1)?, args.string(2)?);
    let transform = args.function(3)?;
    let expiration = args.number(4)?;
    let mut failure: Option<String> = None;
    // The hostile store's garbage is what the first run of the transform is given.
    let first = Cell::new(true);
    let run = |old: Option<&Value>, sort: Option<&SortKey>| -> Result<MapUpdate, String> {
        let garbage = if first.replace(false) {
            ctx.rt.hostile.borrow_mut().garbage(Op::MapUpdate)
        } else {
            None
        };
        let old = match (garbage.map(|n| hostile::shape(Op::MapUpdate, n)), old) {
            (Some(Shape::Table), _) => LuaValue::Table(
                lua.create_sequence_from([GARBAGE_STRING])
                    .map_err(lua_err)?,
            ),
            (Some(_), _) => LuaValue::Number(GARBAGE_NUMBER),
            (None, Some(v)) => to_lua(lua, v).map_err(lua_err)?,
            (None, None) => LuaValue::Nil,
        };
        let sort = sort_key_to_lua(lua, sort).map_err(lua_err)?;
        let out = ctx.transform(&transform, (old, sort))?;
        let get = |i: usize| out.get(i).cloned().unwrap_or(LuaValue::Nil);
        if get(0).is_nil() {
            return Ok(None);
        }
        Ok(Some((memory_value(&get(0))?, sort_key(&get(1))?)))
    };
    let now = ctx.rt.unix_ms();
    let reply = ctx.emulator()?.map_update(
        now,
        ctx.client(),
        &map_name,
        &key,
        &mut |old, sort| guarded(&mut failure, || run(old, sort)),
        expiration,
    );
    let result = match failure {
        Some(message) => Err(message),
        None => reply
            .result
            .map_err(|e| e.message)
            .and_then(|value| match value {
                Some(value) => ret(lua, to_lua(lua, &value).map_err(lua_err)?),
                None => ret(lua, LuaValue::Nil),
            }),
    };
    ctx.reply_to(lua, Op::MapUpdate, reply.latency_ms, result)
}

fn map_remove(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (map_name, key) = (args.string(1)?, args.string(2)?);
    let now = ctx.rt.unix_ms();
    let reply = ctx
        .emulator()?
        .map_remove(now, ctx.client(), &map_name, &key);
    ctx.answer(lua, Op::MapRemove, reply, |(), garbage| {
        nothing(lua, garbage)
    })
}

fn map_range(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let map_name = args.string(1)?;
    let direction = match args.string(2)?.as_str() {
        "Ascending" => SortDirection::Ascending,
        "Descending" => SortDirection::Descending,
        other => {
            return Err(format!(
                "invalid argument #1 to 'GetRangeAsync' (unknown SortDirection {other})"
            ))
        }
    };
    let n = count(args.number(3)?);
    let (lower, upper) = (bound(args.get(4), 3)?, bound(args.get(5), 4)?);
    let now = ctx.rt.unix_ms();
    let reply = ctx.emulator()?.map_get_range(
        now,
        ctx.client(),
        &map_name,
        direction,
        n,
        lower.as_ref(),
        upper.as_ref(),
    );
    ctx.answer(lua, Op::MapGetRange, reply, |items, garbage| {
        if let Some(shape) = garbage {
            return garbage_only(lua, shape);
        }
        let build = || -> mlua::Result<Table> {
            let list = lua.create_table_with_capacity(items.len(), 0)?;
            for item in &items {
                let entry = lua.create_table()?;
                entry.set("key", item.key.as_str())?;
                entry.set("value", to_lua(lua, &item.value)?)?;
                entry.set("sortKey", sort_key_to_lua(lua, item.sort_key.as_ref())?)?;
                list.raw_push(entry)?;
            }
            Ok(list)
        };
        ret(lua, build().map_err(lua_err)?)
    })
}

fn map_size(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let map_name = args.string(1)?;
    let now = ctx.rt.unix_ms();
    let reply = ctx.emulator()?.map_get_size(now, ctx.client(), &map_name);
    ctx.answer(lua, Op::MapGetSize, reply, |n, garbage| match garbage {
        Some(shape) => garbage_only(lua, shape),
        None => ret(lua, n),
    })
}

fn queue_add(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let queue = args.string(1)?;
    let value = memory_value(args.get(2))?;
    let (expiration, priority) = (args.number(3)?, args.opt_number(4, 0.0)?);
    let now = ctx.rt.unix_ms();
    let reply = ctx
        .emulator()?
        .queue_add(now, ctx.client(), &queue, value, expiration, priority);
    ctx.answer(lua, Op::QueueAdd, reply, |(), garbage| {
        nothing(lua, garbage)
    })
}

fn queue_read(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let queue = args.string(1)?;
    let invisibility = args.number(2)?;
    let n = count(args.number(3)?);
    let all_or_nothing = args.boolean(4, false);
    let now = ctx.rt.unix_ms();
    let reply =
        ctx.emulator()?
            .queue_read(now, ctx.client(), &queue, invisibility, n, all_or_nothing);
    ctx.answer(lua, Op::QueueRead, reply, |read, garbage| {
        let (values, id) = read.unwrap_or_default();
        let mut list = to_lua(lua, &Value::Array(values)).map_err(lua_err)?;
        let mut id = match id.as_str() {
            "" => LuaValue::Nil,
            id => LuaValue::String(lua.create_string(id).map_err(lua_err)?),
        };
        match garbage {
            None => {}
            Some(Shape::ReadIdNumber) => id = LuaValue::Number(GARBAGE_NUMBER),
            Some(Shape::ReadIdTable) => id = LuaValue::Table(lua.create_table().map_err(lua_err)?),
            Some(Shape::ValuesString) => {
                list = LuaValue::String(lua.create_string(GARBAGE_STRING).map_err(lua_err)?)
            }
            Some(_) => list = LuaValue::Number(GARBAGE_NUMBER),
        }
        ret(lua, (list, id))
    })
}

fn queue_remove(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let (queue, id) = (args.string(1)?, args.string(2)?);
    let now = ctx.rt.unix_ms();
    let reply = ctx.emulator()?.queue_remove(now, ctx.client(), &queue, &id);
    ctx.answer(lua, Op::QueueRemove, reply, |(), garbage| {
        nothing(lua, garbage)
    })
}

fn queue_size(lua: &Lua, ctx: &Ctx, args: Args) -> Outcome {
    let queue = args.string(1)?;
    let exclude_invisible = args.boolean(2, false);
    let now = ctx.rt.unix_ms();
    let reply = ctx
        .emulator()?
        .queue_get_size(now, ctx.client(), &queue, exclude_invisible);
    ctx.answer(lua, Op::QueueGetSize, reply, |n, garbage| match garbage {
        Some(shape) => garbage_only(lua, shape),
        None => ret(lua, n),
    })
}

/// `runtime.inspect.*` and `runtime.faultCounts()`: ground truth for tests, read straight from
/// the emulator (no cache, no dice, no budget, no latency, no yield).
pub fn install_inspect(lua: &Lua, rt: &Table, ctx: &Ctx) -> mlua::Result<()> {
    let c = ctx.clone();
    rt.set(
        "inspect_data",
        prim(lua, "inspect.data", move |lua, args: Args| {
            let (name, scope, key) = (args.string(1)?, args.string(2)?, args.string(3)?);
            let entry = c.emulator()?.inspect_data(&name, &scope, &key);
            entry_reply(lua, &c, entry, None)
        })?,
    )?;
    let c = ctx.clone();
    rt.set(
        "inspect_lock",
        prim(lua, "inspect.lock", move |lua, args: Args| {
            let (name, scope, key) = (args.string(1)?, args.string(2)?, args.string(3)?);
            let now = c.rt.unix_ms();
            match c.emulator()?.inspect_lock(&name, &scope, &key, now) {
                Some((holder, expires)) => ret(
                    lua,
                    (to_lua(lua, &holder).map_err(lua_err)?, expires as f64),
                ),
                None => ret(lua, (LuaValue::Nil, LuaValue::Nil)),
            }
        })?,
    )?;
    let c = ctx.clone();
    rt.set(
        "inspect_map",
        prim(lua, "inspect.map", move |lua, args: Args| {
            let name = args.string(1)?;
            let now = c.rt.unix_ms();
            let emulator = c.emulator()?;
            let build = || -> mlua::Result<Table> {
                let list = lua.create_table()?;
                for item in emulator.inspect_map(&name, now) {
                    let entry = lua.create_table()?;
                    entry.set("key", item.key.as_str())?;
                    entry.set("value", to_lua(lua, &item.value)?)?;
                    entry.set("sortKey", sort_key_to_lua(lua, item.sort_key.as_ref())?)?;
                    if let Some((_, expires)) = emulator.inspect_map_entry(&name, &item.key, now) {
                        entry.set("expiresAt", expires as f64)?;
                    }
                    list.raw_push(entry)?;
                }
                Ok(list)
            };
            ret(lua, build().map_err(lua_err)?)
        })?,
    )?;
    let c = ctx.clone();
    rt.set(
        "inspect_queue",
        prim(lua, "inspect.queue", move |lua, args: Args| {
            let name = args.string(1)?;
            let now = c.rt.unix_ms();
            let build =
                |items: Vec<datastore_module::emulator::QueueItemView>| -> mlua::Result<Table> {
                    let list = lua.create_table()?;
                    for item in items {
                        let entry = lua.create_table()?;
                        entry.set("value", to_lua(lua, &item.value)?)?;
                        entry.set("priority", item.priority)?;
                        entry.set("expiresAt", item.expires_at_ms as f64)?;
                        entry.set("visible", item.visible)?;
                        entry.set("readId", item.read_id)?;
                        list.raw_push(entry)?;
                    }
                    Ok(list)
                };
            let items = c.emulator()?.inspect_queue(&name, now);
            ret(lua, build(items).map_err(lua_err)?)
        })?,
    )?;
    let c = ctx.clone();
    rt.set(
        "fault_counts",
        prim(lua, "faultCounts", move |lua, _| {
            let emulator = c.emulator()?;
            let hostile = c.rt.hostile.borrow();
            let build = || -> mlua::Result<Table> {
                let counts = lua.create_table()?;
                let put = |t: &Table,
                           k: &datastore_module::emulator::OpCounts,
                           h: hostile::Counts|
                 -> mlua::Result<()> {
                    t.set("hang", h.hangs)?;
                    t.set("garbage", h.garbage)?;
                    t.set("requests", k.requests)?;
                    t.set("outage", k.outage)?;
                    t.set("throttled", k.throttled)?;
                    t.set("transient", k.transient)?;
                    t.set("ambiguous", k.ambiguous)?;
                    t.set("rerun", k.rerun)?;
                    t.set("conflict", k.conflict)?;
                    t.set("spikes", k.spikes)?;
                    t.set("queueFull", k.queue_full)?;
                    Ok(())
                };
                put(&counts, &emulator.fault_counts().total(), hostile.total())?;
                for (op, op_counts) in emulator.fault_counts().iter() {
                    let t = lua.create_table()?;
                    put(&t, &op_counts, hostile.counts(op))?;
                    counts.set(format!("{op:?}"), t)?;
                }
                Ok(counts)
            };
            ret(lua, build().map_err(lua_err)?)
        })?,
    )?;
    Ok(())
}
