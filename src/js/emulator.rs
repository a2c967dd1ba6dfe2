//! The emulator for JavaScript (`MemoryStore` in `host/js/stores/memory.js`): conversion and
//! forwarding only.
//!
//! Each method is one storage command of the JS store interface, run on [`Emulator`] at the
//! caller's `now` (milliseconds) as server (client) 0. Values, user ids and metadata cross as
//! JSON text both ways, so the JS side never parses user data. Every method returns a plain
//! object carrying `latencyMs`, the time the caller must wait before delivering the result
//! (the emulator never waits itself); a failed request throws a JS `Error` whose `kind` is the
//! [`ErrorKind`] name (`"Transient"`, `"Fenced"`…), with `code` (DataStore errors) and
//! `latencyMs` too, since a failure also takes time to arrive.
//!
//! Data reads bypass the 4 s `GetAsync` cache: the store interface has no notion of which
//! server reads, and the other stores have no such cache.

use js_sys::{Array, Object, Reflect};
use serde_json::Value as Json;
use wasm_bindgen::prelude::*;

use crate::emulator::{Config, Emulator, ErrorKind, FaultConfig, Op, OpFaults, Outage, StoreError};
use crate::fence::{Fence, LockDecision, LockMode};
use crate::value::{Table, Value};

/// The server every command runs as.
const CLIENT: u32 = 0;

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Transient => "Transient",
        ErrorKind::Throttled => "Throttled",
        ErrorKind::InvalidRequest => "InvalidRequest",
        ErrorKind::Fenced => "Fenced",
        ErrorKind::Conflict => "Conflict",
        ErrorKind::OverQuota => "OverQuota",
        ErrorKind::ShuttingDown => "ShuttingDown",
    }
}

fn set(target: &Object, key: &str, value: JsValue) {
    // Setting a data property on a fresh plain object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), &value);
}

/// A thrown failure: `Error(message)` with `kind`, `code` and `latencyMs`.
fn failure(error: &StoreError, latency_ms: u64) -> JsValue {
    let e = js_sys::Error::new(&error.message);
    set(&e, "kind", JsValue::from_str(kind_name(error.kind)));
    let code = error.code.map_or(JsValue::UNDEFINED, JsValue::from);
    set(&e, "code", code);
    set(&e, "latencyMs", JsValue::from_f64(latency_ms as f64));
    e.into()
}

/// A request the binding cannot even convert (bad JSON text, bad time): refused at once.
fn invalid(message: impl Into<String>) -> JsValue {
    failure(
        &StoreError {
            kind: ErrorKind::InvalidRequest,
            code: None,
            message: message.into(),
        },
        0,
    )
}

/// A plain object with these fields.
fn object_of(fields: &[(&str, JsValue)]) -> Object {
    let out = Object::new();
    for (key, value) in fields {
        set(&out, key, value.clone());
    }
    out
}

/// `{ latencyMs, ...fields }`.
fn answer(latency_ms: u64, fields: &[(&str, JsValue)]) -> JsValue {
    let out = object_of(fields);
    set(&out, "latencyMs", JsValue::from_f64(latency_ms as f64));
    out.into()
}

/// Milliseconds on the caller's clock.
fn now_ms(now: f64) -> Result<u64, JsValue> {
    if now.is_finite() && now >= 0.0 {
        Ok(now.floor() as u64)
    } else {
        Err(invalid(format!(
            "now must be a finite, non-negative number of milliseconds (got {now})"
        )))
    }
}

fn count(n: f64) -> Result<usize, JsValue> {
    if n.is_finite() && n.fract() == 0.0 {
        // Negative counts saturate to 0, which the emulator refuses with its own message.
        Ok(n.max(0.0) as usize)
    } else {
        Err(invalid(format!("The count must be an integer (got {n}).")))
    }
}

/// A token or sequence number: a whole number from 0 to 2^53 - 1.
fn whole(n: f64, what: &str) -> Result<u64, JsValue> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n < 9_007_199_254_740_992.0 {
        Ok(n as u64)
    } else {
        Err(invalid(format!(
            "{what} must be a whole number from 0 to 2^53 - 1 (got {n})"
        )))
    }
}

/// The fence of a data write: none without an owner, else owner, token and seq (all three).
fn fence_of(
    owner: Option<String>,
    token: Option<f64>,
    seq: Option<f64>,
) -> Result<Option<Fence>, JsValue> {
    let Some(owner) = owner else {
        return Ok(None);
    };
    let token = token.ok_or_else(|| invalid("fence.token is required with fence.owner"))?;
    let seq = seq.ok_or_else(|| invalid("fence.seq is required with fence.owner"))?;
    Ok(Some(Fence {
        owner,
        token: whole(token, "fence.token")?,
        seq: whole(seq, "fence.seq")?,
    }))
}

fn value(json: &str, what: &str) -> Result<Value, JsValue> {
    Value::from_json_str(json, what).map_err(|e| invalid(e.to_string()))
}

/// A value's JSON text that the wrapper encoded as UTF-8 (`lib/utf8.js`): wasm-bindgen copies a
/// `&str` in one UTF-16 unit at a time, about 10 ms for a 100 KB value here.
fn value_of_bytes(json: &[u8], what: &str) -> Result<Value, JsValue> {
    let json =
        std::str::from_utf8(json).map_err(|_| invalid(format!("{what}: the text is not UTF-8")))?;
    value(json, what)
}

fn user_ids(json: &str) -> Result<Vec<f64>, JsValue> {
    match value(json, "userIds")? {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Number(n) => Ok(n),
                other => Err(invalid(format!(
                    "userIds must be a JSON array of numbers, not one holding a {}",
                    other.type_name()
                ))),
            })
            .collect(),
        Value::Table(t) if t.is_empty() => Ok(Vec::new()),
        other => Err(invalid(format!(
            "userIds must be a JSON array of numbers, not a {}",
            other.type_name()
        ))),
    }
}

fn metadata(json: &str) -> Result<Table, JsValue> {
    match value(json, "metadata")? {
        Value::Nil => Ok(Table::new()),
        Value::Table(t) => Ok(t),
        Value::Array(a) if a.is_empty() => Ok(Table::new()),
        other => Err(invalid(format!(
            "metadata must be a JSON object, not a {}",
            other.type_name()
        ))),
    }
}

/// JSON text of a table, `{}` when empty (never `[]`).
fn table_json(table: Table) -> String {
    if table.is_empty() {
        "{}".to_owned()
    } else {
        Value::Table(table).to_json_string()
    }
}

// ---- fault configuration ------------------------------------------------------------------

/// The JS names of the emulator's operation kinds.
fn op_named(name: &str) -> Option<Op> {
    Some(match name {
        "dataGet" => Op::DataGet,
        "dataSet" => Op::DataSet,
        "dataUpdate" => Op::DataUpdate,
        "dataRemove" => Op::DataRemove,
        "mapGet" => Op::MapGet,
        "mapSet" => Op::MapSet,
        "mapUpdate" => Op::MapUpdate,
        "mapRemove" => Op::MapRemove,
        "mapGetRange" => Op::MapGetRange,
        "mapGetSize" => Op::MapGetSize,
        "queueAdd" => Op::QueueAdd,
        "queueRead" => Op::QueueRead,
        "queueRemove" => Op::QueueRemove,
        "queueGetSize" => Op::QueueGetSize,
        _ => return None,
    })
}

const OP_NAMES: &str = "dataGet, dataSet, dataUpdate, dataRemove, mapGet, mapSet, mapUpdate, \
mapRemove, mapGetRange, mapGetSize, queueAdd, queueRead, queueRemove, queueGetSize";

fn number(json: &Json, path: &str) -> Result<f64, String> {
    json.as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("{path} must be a finite number"))
}

fn millis(json: &Json, path: &str) -> Result<u64, String> {
    let n = number(json, path)?;
    if n < 0.0 || n.fract() != 0.0 {
        return Err(format!(
            "{path} must be a whole, non-negative number of milliseconds"
        ));
    }
    Ok(n as u64)
}

fn object<'a>(json: &'a Json, path: &str) -> Result<&'a serde_json::Map<String, Json>, String> {
    json.as_object()
        .ok_or_else(|| format!("{path} must be an object"))
}

/// Applies the per-kind fields of `json` (those it has) over `base`; `extra` names the other
/// keys allowed at this level.
fn op_faults(json: &Json, path: &str, base: &OpFaults, extra: &[&str]) -> Result<OpFaults, String> {
    let mut f = base.clone();
    for (key, v) in object(json, path)? {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "transient" => f.transient = number(v, &at)?,
            "ambiguous" => f.ambiguous = number(v, &at)?,
            "throttle" => f.throttle = number(v, &at)?,
            "rerun" => f.rerun = number(v, &at)?,
            "conflict" => f.conflict = number(v, &at)?,
            "spike" => f.spike = number(v, &at)?,
            "spikeMs" => f.spike_ms = millis(v, &at)?,
            "latencyMs" => {
                f.latency_ms = match v {
                    Json::Array(pair) if pair.len() == 2 => (
                        millis(&pair[0], &format!("{at}[0]"))?,
                        millis(&pair[1], &format!("{at}[1]"))?,
                    ),
                    Json::Array(_) => return Err(format!("{at} must be a number or [min, max]")),
                    single => {
                        let ms = millis(single, &at)?;
                        (ms, ms)
                    }
                }
            }
            other if extra.contains(&other) => {}
            other => {
                return Err(format!(
                    "{path} has an unknown setting {other:?} (known: transient, ambiguous, \
                     throttle, rerun, conflict, latencyMs, spike, spikeMs{})",
                    extra.iter().map(|e| format!(", {e}")).collect::<String>()
                ))
            }
        }
    }
    Ok(f)
}

fn ops_list(json: &Json, path: &str) -> Result<Vec<Op>, String> {
    let Json::Array(items) = json else {
        return Err(format!("{path} must be an array of operation names"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .and_then(op_named)
                .ok_or_else(|| format!("{path}[{i}] must be one of {OP_NAMES}"))
        })
        .collect()
}

/// `faults` (JSON): the per-kind fields at the top apply to every kind; `ops: { dataSet: {…} }`
/// overrides them per kind; `outages: [{ startMs, endMs, ops? }]` adds outage windows (every
/// kind when `ops` is absent). `null` is no faults.
fn fault_config(json: &str) -> Result<FaultConfig, String> {
    let json: Json = serde_json::from_str(json).map_err(|e| format!("faults: {e}"))?;
    if json.is_null() {
        return Ok(FaultConfig::none());
    }
    let top = op_faults(&json, "faults", &OpFaults::NONE, &["ops", "outages"])?;
    let mut config = FaultConfig::uniform(top.clone());
    let fields = object(&json, "faults")?;
    if let Some(ops) = fields.get("ops") {
        for (name, v) in object(ops, "faults.ops")? {
            let op = op_named(name)
                .ok_or_else(|| format!("faults.ops.{name} is not an operation: use {OP_NAMES}"))?;
            config.set(op, op_faults(v, &format!("faults.ops.{name}"), &top, &[])?);
        }
    }
    if let Some(outages) = fields.get("outages") {
        let Json::Array(list) = outages else {
            return Err("faults.outages must be an array".to_owned());
        };
        for (i, o) in list.iter().enumerate() {
            let path = format!("faults.outages[{i}]");
            let fields = object(o, &path)?;
            let get = |k: &str| {
                fields
                    .get(k)
                    .ok_or_else(|| format!("{path}.{k} is required"))
                    .and_then(|v| millis(v, &format!("{path}.{k}")))
            };
            let ops = match fields.get("ops") {
                Some(list) => ops_list(list, &format!("{path}.ops"))?,
                None => Op::ALL.to_vec(),
            };
            if let Some(k) = fields
                .keys()
                .find(|k| !["startMs", "endMs", "ops"].contains(&k.as_str()))
            {
                return Err(format!(
                    "{path} has an unknown setting {k:?} (known: startMs, endMs, ops)"
                ));
            }
            config.outages.push(Outage {
                ops,
                start_ms: get("startMs")?,
                end_ms: get("endMs")?,
            });
        }
    }
    Ok(config)
}

// ---- the class ----------------------------------------------------------------------------

/// The Roblox DataStore/MemoryStore emulator, for one JS `MemoryStore`.
#[wasm_bindgen(js_name = Emulator)]
pub struct JsEmulator {
    emu: Emulator,
}

#[wasm_bindgen(js_class = Emulator)]
impl JsEmulator {
    /// `seed` (a whole number below 2^53) seeds the fault dice and the queue read ids;
    /// `faults_json` is the fault configuration (see `setFaults`), `"null"` for none.
    #[wasm_bindgen(constructor)]
    pub fn new(seed: f64, faults_json: &str) -> Result<JsEmulator, JsValue> {
        if !(seed.is_finite()
            && seed >= 0.0
            && seed.fract() == 0.0
            && seed < 9_007_199_254_740_992.0)
        {
            return Err(invalid(format!(
                "seed must be a whole number from 0 to 2^53 - 1 (got {seed})"
            )));
        }
        let faults = fault_config(faults_json).map_err(invalid)?;
        Ok(JsEmulator {
            emu: Emulator::new(Config {
                seed: seed as u64,
                faults,
                ..Config::default()
            }),
        })
    }

    /// Replaces the fault configuration (JSON text; `"null"` for none). The dice carry on.
    #[wasm_bindgen(js_name = setFaults)]
    pub fn set_faults(&mut self, faults_json: &str) -> Result<(), JsValue> {
        let faults = fault_config(faults_json).map_err(invalid)?;
        self.emu.set_faults(faults);
        Ok(())
    }

    /// `{ latencyMs, entry }`; `entry` is undefined when the key is missing or removed, else
    /// `{ value, createdTime, updatedTime, version, userIds, metadata }` (JSON text where the
    /// store interface says so).
    #[wasm_bindgen(js_name = dataGet)]
    pub fn data_get(
        &mut self,
        now: f64,
        name: &str,
        scope: &str,
        key: &str,
    ) -> Result<JsValue, JsValue> {
        let reply = self
            .emu
            .data_get_text(now_ms(now)?, CLIENT, name, scope, key, false);
        let entry = reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        let entry = match entry {
            None => JsValue::UNDEFINED,
            Some((value, info)) => {
                let ids = Value::Array(info.user_ids.into_iter().map(Value::Number).collect());
                object_of(&[
                    ("value", value.as_str().into()),
                    ("createdTime", JsValue::from_f64(info.created_ms as f64)),
                    ("updatedTime", JsValue::from_f64(info.updated_ms as f64)),
                    ("version", info.version.into()),
                    ("userIds", ids.to_json_string().into()),
                    ("metadata", table_json(info.metadata).into()),
                ])
                .into()
            }
        };
        Ok(answer(reply.latency_ms, &[("entry", entry)]))
    }

    /// `{ latencyMs, version }`. Fenced when `fence_owner` is given (with `fence_token` and
    /// `fence_seq`, [`crate::fence`]): applied only while the key's lock entry is that owner's
    /// acquisition `fence_token` and no write of it with a `seq` as large has landed.
    #[allow(clippy::too_many_arguments)] // the storage command's arguments plus time
    #[wasm_bindgen(js_name = dataSet)]
    pub fn data_set(
        &mut self,
        now: f64,
        name: &str,
        scope: &str,
        key: &str,
        value_json: &[u8],
        user_ids_json: &str,
        metadata_json: &str,
        fence_owner: Option<String>,
        fence_token: Option<f64>,
        fence_seq: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let now = now_ms(now)?;
        let stored = value_of_bytes(value_json, "value")?;
        let ids = user_ids(user_ids_json)?;
        let meta = metadata(metadata_json)?;
        let fence = fence_of(fence_owner, fence_token, fence_seq)?;
        let reply = self.emu.data_set(
            now,
            CLIENT,
            name,
            scope,
            key,
            stored,
            ids,
            meta,
            fence.as_ref(),
        );
        let version = reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        Ok(answer(reply.latency_ms, &[("version", version.into())]))
    }

    /// `{ latencyMs }`. Fenced like `dataSet`.
    #[allow(clippy::too_many_arguments)] // the storage command's arguments plus time
    #[wasm_bindgen(js_name = dataRemove)]
    pub fn data_remove(
        &mut self,
        now: f64,
        name: &str,
        scope: &str,
        key: &str,
        fence_owner: Option<String>,
        fence_token: Option<f64>,
        fence_seq: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let now = now_ms(now)?;
        let fence = fence_of(fence_owner, fence_token, fence_seq)?;
        let reply = self
            .emu
            .data_remove(now, CLIENT, name, scope, key, fence.as_ref());
        reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        Ok(answer(reply.latency_ms, &[]))
    }

    /// The session lock command ([`crate::fence`]): a new acquisition of `owner` with token
    /// `token` (`renew` false) or a refresh of the acquisition held (`renew` true; `held` is the
    /// token last known written), for `ttl_s` seconds, on the sorted map `map`, entry `"Id"`
    /// (value `owner`, sort key the token). `{ latencyMs }` when written, `{ latencyMs, holder }`
    /// when someone holds it (the holder's UniqueId), `{ latencyMs, lapsed: true }` for a refresh
    /// whose entry is gone or not of its acquisition.
    #[allow(clippy::too_many_arguments)] // the lock command's fields plus time
    #[wasm_bindgen(js_name = lockAcquire)]
    pub fn lock_acquire(
        &mut self,
        now: f64,
        map: &str,
        owner: &str,
        ttl_s: f64,
        token: f64,
        renew: bool,
        held: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let now = now_ms(now)?;
        let token = whole(token, "token")?;
        let mode = match (renew, held) {
            (false, _) => LockMode::Acquire,
            (true, Some(held)) => LockMode::Renew {
                held: whole(held, "held")?,
            },
            (true, None) => return Err(invalid("held is required with renew")),
        };
        let reply = self.emu.lock(now, CLIENT, map, mode, owner, token, ttl_s);
        let decision = reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        Ok(match decision {
            LockDecision::Write | LockDecision::Nothing => answer(reply.latency_ms, &[]),
            LockDecision::Lapsed => answer(reply.latency_ms, &[("lapsed", JsValue::TRUE)]),
            LockDecision::Locked(Value::String(holder)) => {
                answer(reply.latency_ms, &[("holder", holder.into())])
            }
            LockDecision::Locked(other) => answer(
                reply.latency_ms,
                &[("holder", other.to_json_string().into())],
            ),
        })
    }

    /// The session unlock: deletes the entry only when it is `owner`'s and of the acquisition
    /// of `token`; otherwise nothing. `{ latencyMs }`.
    #[wasm_bindgen(js_name = lockRelease)]
    pub fn lock_release(
        &mut self,
        now: f64,
        map: &str,
        owner: &str,
        token: f64,
    ) -> Result<JsValue, JsValue> {
        let now = now_ms(now)?;
        let token = whole(token, "token")?;
        let reply = self
            .emu
            .lock(now, CLIENT, map, LockMode::Release, owner, token, 0.0);
        reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        Ok(answer(reply.latency_ms, &[]))
    }

    /// `{ latencyMs }`.
    #[wasm_bindgen(js_name = queueAdd)]
    pub fn queue_add(
        &mut self,
        now: f64,
        queue: &str,
        value_json: &[u8],
        expiration_s: f64,
        priority: f64,
    ) -> Result<JsValue, JsValue> {
        let now = now_ms(now)?;
        let item = value_of_bytes(value_json, "value")?;
        let reply = self
            .emu
            .queue_add(now, CLIENT, queue, item, expiration_s, priority);
        reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        Ok(answer(reply.latency_ms, &[]))
    }

    /// One read, no waiting: `{ latencyMs, values, readId }`, both undefined when nothing was
    /// read; `values` is an array of JSON texts.
    #[wasm_bindgen(js_name = queueRead)]
    pub fn queue_read(
        &mut self,
        now: f64,
        queue: &str,
        count_n: f64,
        all_or_nothing: bool,
        invisibility_s: f64,
    ) -> Result<JsValue, JsValue> {
        let now = now_ms(now)?;
        let count_n = count(count_n)?;
        let reply =
            self.emu
                .queue_read(now, CLIENT, queue, invisibility_s, count_n, all_or_nothing);
        let read = reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        Ok(match read {
            None => answer(reply.latency_ms, &[]),
            Some((values, read_id)) => {
                let texts: Array = values
                    .iter()
                    .map(|v| JsValue::from(v.to_json_string()))
                    .collect();
                answer(
                    reply.latency_ms,
                    &[("values", texts.into()), ("readId", read_id.into())],
                )
            }
        })
    }

    /// `{ latencyMs }`.
    #[wasm_bindgen(js_name = queueRemove)]
    pub fn queue_remove(
        &mut self,
        now: f64,
        queue: &str,
        read_id: &str,
    ) -> Result<JsValue, JsValue> {
        let reply = self.emu.queue_remove(now_ms(now)?, CLIENT, queue, read_id);
        reply.result.map_err(|e| failure(&e, reply.latency_ms))?;
        Ok(answer(reply.latency_ms, &[]))
    }
}
