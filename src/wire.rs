//! The JSON wire shared by both bindings (`js` and `cabi`): commands, events and replies out,
//! calls, property inputs, snapshots and store results in. No binding-specific types here, so
//! the JavaScript and the C-ABI hosts see exactly the same texts.
//!
//! Commands carry their values as JSON *strings* (a store receives the text it stores without a
//! parse and stringify round trip); events carry values inline.
//!
//! Values the host gives and gets (templates, queued values, snapshots, loaded values) are in the
//! host's [`Format`]: JSON for JS, whose objects have string keys only, and the Luau value text
//! ([`Value::from_luau_text`]) for Luau hosts, whose tables have number keys, holes and mixed
//! parts that JSON cannot carry. Store values (`DataGet`, `QueueRead`, commands) are always
//! JSON: that is what the stores hold.

use crate::session::{
    Call, CallId, CallOutcome, Command, CommandId, Data, DataKey, Event, Input, KeyInfo,
    LoadedValue, Reply, Session, SessionId, Snapshot, SnapshotValue, State, StoreResult,
};
use crate::template::{template_patch as patch_of, Patch};
use crate::value::{write_json_string, Key, Table, Value, MAX_DEPTH};
use std::fmt::Write;

/// The latest host time the core takes, in milliseconds: 2^53 − 1, past which a host's f64
/// milliseconds no longer add up (about the year 285,000). Past it a deadline a few seconds on
/// would round to the time itself (at `u64::MAX` it saturates there), and a timer that arms the
/// next one would run for good inside one `handle_timeout`.
pub const MAX_HOST_TIME_MS: f64 = 9_007_199_254_740_991.0;

/// Host time (f64 milliseconds) as the core's clock: negative, NaN, infinite and anything past
/// [`MAX_HOST_TIME_MS`] are 0, which the core's clock ignores (time never runs backwards).
pub fn now(ms: f64) -> u64 {
    if ms > 0.0 && ms <= MAX_HOST_TIME_MS {
        ms as u64
    } else {
        0
    }
}

/// The longest stored value's JSON a load takes, in bytes. No DataStore holds more than
/// 4,194,304 bytes of it; a host's own JSON of the value (Roblox's `JSONEncode` of what
/// `GetAsync` gave) may escape more, so twice that. Anything longer is no record, and reading it
/// into a tree could take all of the wasm's memory.
pub const MAX_LOADED_VALUE_BYTES: usize = 2 * crate::emulator::MAX_DATA_VALUE_LEN;

/// The longest `UserIds` or `Metadata` JSON, or queue item, a store result may carry: far more
/// than Roblox allows (four user ids, 300 characters of metadata, 32 KB items, escaped).
pub const MAX_LOADED_EXTRA_BYTES: usize = 4 * crate::emulator::MAX_MEMORY_VALUE_LEN;

/// Refuses a text from a store that is longer than `limit` bytes, naming it.
fn within(text: &str, limit: usize, what: &str) -> Result<(), String> {
    if text.len() > limit {
        return Err(format!(
            "{what}: the store answered {} bytes, more than any record holds (at most {limit})",
            text.len()
        ));
    }
    Ok(())
}

fn value(json: &str, root: &str) -> Result<Value, String> {
    Value::from_json_str(json, root).map_err(|e| e.to_string())
}

/// How a host writes the values it exchanges with the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON text, inline in events (JS).
    Json,
    /// The Luau value text (Luau hosts). Inline in events a value is JSON, `"key": …`, when
    /// JSON carries it exactly (every table keyed by strings alone, or a sequence): the host
    /// then reads it with its native `JSONDecode`, several times faster than reading the value
    /// text in Luau, and most values (every uncompressed load, every queue item) are such. Any
    /// other value goes as `"keyText": "…"`, a JSON string holding its value text.
    Luau,
}

/// Whether this build serves Luau hosts. The JS wasm never reads or writes the Luau value
/// text, and with this false its code drops out of that wasm (a few KiB of its size budget).
pub(crate) const LUAU_HOSTS: bool = cfg!(any(feature = "cabi", not(target_arch = "wasm32")));

impl Format {
    /// A host value; `root` names it in refusals. Empty text is nil.
    pub fn read(self, text: &[u8], root: &str) -> Result<Value, String> {
        match self {
            Format::Json => {
                let json = std::str::from_utf8(text).map_err(|_| format!("{root}: not UTF-8"))?;
                value(if json.is_empty() { "null" } else { json }, root)
            }
            Format::Luau if LUAU_HOSTS => {
                Value::from_luau_text(text, root).map_err(|e| e.to_string())
            }
            Format::Luau => Err(format!("{root}: this build does not read Luau value text")),
        }
    }

    /// `"key": value` as it goes inline into an event or a reply (after a comma, or at the
    /// start of an object when `first`). A Luau host reads the object with `JSONDecode`, which
    /// reads [`MAX_DEPTH`] tables nested and no more: the object is one of them, so a value
    /// that nests as deep as a DataStore allows goes as value text, as one JSON cannot say.
    fn write_field(self, out: &mut String, key: &str, v: &Value, first: bool) {
        if !first {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        if LUAU_HOSTS && self == Format::Luau && !v.json_fits(MAX_DEPTH - 1) {
            out.push_str("Text\":");
            write_json_string(&v.to_luau_text(), out);
        } else {
            out.push_str("\":");
            out.push_str(&v.to_json_string());
        }
    }
}

/// The constructors' arguments as a host passes them on: a JSON object from position to what
/// the caller gave, `{"1": name, "3": key}`, nil ones left out (a JSON array cannot hold nil), or
/// an array when none is nil. What they mean is the core's decision
/// ([`crate::session::SessionArgs::from_args`]).
pub fn session_args(format: Format, text: &[u8]) -> Result<Vec<Value>, String> {
    if format == Format::Json {
        if let Some(args) = plain_args(text) {
            return Ok(args);
        }
    }
    match format.read(text, "arguments")? {
        Value::Array(args) => Ok(args),
        Value::Table(mut table) => Ok((1..=3)
            .map(|i| {
                table
                    .swap_remove(&Key::String(i.to_string()))
                    .or_else(|| table.swap_remove(&Key::Number(f64::from(i))))
                    .unwrap_or_default()
            })
            .collect()),
        other => Err(format!(
            "arguments: expected an object or an array, got {}",
            other.type_name()
        )),
    }
}

/// What [`session_args`] reads from the JS host's usual arguments, `{"1":"Player","2":12}`,
/// without the JSON reader (a third of what opening a session cost): keys `"1"` to `"3"` in
/// order, each a string with no escape or control character or a whole number of at most 15
/// digits. `None` for anything else, which the reader then reads.
fn plain_args(text: &[u8]) -> Option<Vec<Value>> {
    let mut args = vec![Value::Nil, Value::Nil, Value::Nil];
    let mut pos = 1;
    if text.first() != Some(&b'{') {
        return None;
    }
    if text.get(1) == Some(&b'}') {
        return (text.len() == 2).then_some(args);
    }
    let mut last = b'0';
    loop {
        let key = text.get(pos..pos + 4)?;
        let n = key[1];
        if key[0] != b'"' || !(b'1'..=b'3').contains(&n) || n <= last || &key[2..] != b"\":" {
            return None;
        }
        pos += 4;
        let value = match *text.get(pos)? {
            b'"' => {
                let len = text.get(pos + 1..)?.iter().position(|&b| b == b'"')?;
                let raw = &text[pos + 1..pos + 1 + len];
                if raw.iter().any(|&b| b < 0x20 || b == b'\\') {
                    return None;
                }
                pos += len + 2;
                Value::String(std::str::from_utf8(raw).ok()?.to_owned())
            }
            b'0'..=b'9' => {
                let len = text[pos..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if len > 15 || (len > 1 && text[pos] == b'0') {
                    return None;
                }
                let digits = std::str::from_utf8(&text[pos..pos + len]).ok()?;
                pos += len;
                Value::Number(digits.parse::<u64>().ok()? as f64)
            }
            _ => return None,
        };
        args[usize::from(n - b'1')] = value;
        last = n;
        match *text.get(pos)? {
            b',' => pos += 1,
            b'}' => return (pos + 1 == text.len()).then_some(args),
            _ => return None,
        }
    }
}

fn push_str(out: &mut String, key: &str, text: &str) {
    push_key(out, key);
    write_json_string(text, out);
}

/// `,"key":` (keys are plain ASCII names). Pieces are pushed, not `write!`n: the formatting
/// machinery cost a few percent of every session operation in the JS host.
fn push_key(out: &mut String, key: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
}

/// `,"key":n`.
fn push_int(out: &mut String, key: &str, n: u64) {
    push_key(out, key);
    out.push_str(itoa::Buffer::new().format(n));
}

fn push_value(format: Format, out: &mut String, key: &str, v: &Value) {
    format.write_field(out, key, v, false);
}

/// `"fence":{"owner","token","seq"}` when the write is fenced.
fn push_fence(out: &mut String, fence: Option<&crate::fence::Fence>) {
    if let Some(fence) = fence {
        out.push_str(",\"fence\":{\"owner\":");
        write_json_string(&fence.owner, out);
        push_int(out, "token", fence.token);
        push_int(out, "seq", fence.seq);
        out.push('}');
    }
}

/// A value as a JSON string holding its JSON text (for stores).
fn push_value_text(out: &mut String, key: &str, v: &Value) {
    push_str(out, key, &v.to_json_string());
}

fn reply_fields(reply: &Reply, out: &mut String) {
    out.push_str("\"response\":\"");
    out.push_str(reply.response.as_str());
    out.push('"');
    match &reply.data {
        Data::None => {}
        Data::Value => out.push_str(",\"value\":true"),
        Data::Text(text) => push_str(out, "text", text),
    }
}

fn state_json(state: State) -> &'static str {
    match state.as_option() {
        Some(true) => "true",
        Some(false) => "false",
        None => "null",
    }
}

/// A method call from its wire form: `kind` is the method name, `arg` its value argument
/// (template or queued value; empty for none), `text` the `Remove` id.
pub fn call(
    format: Format,
    kind: &str,
    arg: &[u8],
    expiration: Option<f64>,
    priority: Option<f64>,
    text: &str,
) -> Result<Call, String> {
    let template = || -> Result<Option<Value>, String> {
        Ok(match format.read(arg, "template")? {
            Value::Nil => None,
            template => Some(template),
        })
    };
    Ok(match kind {
        "Open" => Call::Open {
            template: template()?,
        },
        "Read" => Call::Read {
            template: template()?,
        },
        "Save" => Call::Save,
        "Close" => Call::Close,
        "Destroy" => Call::Destroy,
        "Queue" => Call::Queue {
            value: format.read(arg, "value")?,
            expiration,
            priority,
        },
        "Remove" => Call::Remove {
            id: text.to_owned(),
        },
        other => return Err(format!("unknown method {other}")),
    })
}

/// `{"pending": callId}` or a reply `{"response", "value"?: true, "text"?, "reconcile"?}`.
pub fn call_outcome(format: Format, outcome: &CallOutcome) -> String {
    let mut out = String::from("{");
    match outcome {
        CallOutcome::Pending(CallId(id)) => {
            let _ = write!(out, "\"pending\":{id}");
        }
        CallOutcome::Done { reply, reconcile } => {
            reply_fields(reply, &mut out);
            if let Some(template) = reconcile {
                push_value(format, &mut out, "reconcile", template);
            }
        }
    }
    out.push('}');
    out
}

/// A property assignment's value class (`nil`, `boolean`, `number`, `string`, `table`, other).
pub fn input(kind: &str, number: f64, boolean: bool) -> Input {
    match kind {
        "nil" => Input::Nil,
        "boolean" => Input::Bool(boolean),
        "number" => Input::Number(number),
        "string" => Input::String,
        "table" => Input::Table,
        _ => Input::Other,
    }
}

/// A core-owned property as JSON (`State` is `true`, `false` or `null`); `None` for a name the
/// core does not own.
pub fn property(s: &Session, name: &str) -> Option<String> {
    let number = |n: f64| Value::Number(n).to_json_string();
    let boolean = |b: bool| if b { "true" } else { "false" }.to_owned();
    let text = |t: &str| {
        let mut out = String::new();
        write_json_string(t, &mut out);
        out
    };
    Some(match name {
        "Id" => text(s.id()),
        "Key" => s.key().to_json_string(),
        "UniqueId" => text(s.unique_id()),
        "Hidden" => boolean(s.hidden()),
        "State" => state_json(s.state()).to_owned(),
        "SaveInterval" => number(s.save_interval()),
        "SaveDelay" => number(s.save_delay()),
        "LockInterval" => number(s.lock_interval()),
        "LockAttempts" => number(s.lock_attempts()),
        "SaveOnClose" => boolean(s.save_on_close()),
        "AttemptsRemaining" => number(s.attempts_remaining() as f64),
        "CreatedTime" => number(s.created_time()),
        "UpdatedTime" => number(s.updated_time()),
        "Version" => text(s.version()),
        "CompressedValue" => text(s.compressed_value()),
        _ => return None,
    })
}

/// The host's `Value`, `Metadata` and `UserIds`, or the conversion `error`; `same_texts`:
/// [`Snapshot::same_texts`].
pub fn snapshot(
    format: Format,
    value: &[u8],
    metadata: &[u8],
    user_ids: &[u8],
    same_texts: bool,
    error: Option<String>,
) -> Result<Snapshot, String> {
    if let Some(message) = error {
        return Err(message);
    }
    let metadata = format.read(metadata, "Metadata");
    let user_ids = format.read(user_ids, "UserIds");
    let value = match format {
        // Kept as text: a save stores it as it is when it is already canonical.
        Format::Json => {
            let json = std::str::from_utf8(value).map_err(|_| "Value: not UTF-8".to_owned())?;
            // Empty text is nil, as `Format::read` has it.
            SnapshotValue::Json(if json.is_empty() { "null" } else { json }.to_owned())
        }
        // Kept as text: a save transcodes it with no tree when it is ordinary.
        Format::Luau => {
            // The value's refusal comes before the others', as when it was read here.
            if metadata.is_err() || user_ids.is_err() {
                format.read(value, "Value")?;
            }
            SnapshotValue::Luau(value.to_vec())
        }
    };
    Ok(Snapshot {
        value,
        metadata: metadata?,
        user_ids: user_ids?,
        same_texts,
    })
}

/// A `DataGet` result: `value_json` is `None` when the key does not exist.
pub fn got(
    value_json: Option<&str>,
    version: &str,
    created_time: f64,
    updated_time: f64,
    user_ids_json: &str,
    metadata_json: &str,
) -> StoreResult {
    (|| -> Result<StoreResult, String> {
        let Some(text) = value_json else {
            return Ok(StoreResult::Got {
                value: LoadedValue::Tree(Value::Nil),
                info: None,
            });
        };
        within(text, MAX_LOADED_VALUE_BYTES, "stored value")?;
        within(user_ids_json, MAX_LOADED_EXTRA_BYTES, "UserIds")?;
        within(metadata_json, MAX_LOADED_EXTRA_BYTES, "Metadata")?;
        for (time, name) in [(created_time, "CreatedTime"), (updated_time, "UpdatedTime")] {
            if !time.is_finite() {
                return Err(format!(
                    "{name}: the store answered {time}, not a finite number"
                ));
            }
        }
        Ok(StoreResult::Got {
            value: LoadedValue::from_stored_json(text, "stored value")?,
            info: Some(KeyInfo {
                version: version.to_owned(),
                created_time,
                updated_time,
                user_ids: value(user_ids_json, "UserIds")?,
                metadata: value(metadata_json, "Metadata")?,
            }),
        })
    })()
    .unwrap_or_else(StoreResult::Error)
}

/// A failed store call from the error text alone (the Luau host has nothing else: Roblox raises
/// strings). Roblox's own prefixes say which requests can never succeed as sent (D19): DataStore
/// codes 101–107 (bad key, value not storable, too large), 403 (no API access), 511–513 (metadata
/// and user ids over their limits), and the MemoryStore statuses `InvalidRequest`,
/// `InvalidExpirationTime`, `ItemValueSizeTooLarge`, plus the emulator's `Fenced`. Anything else —
/// 5xx, 301–306 throttling, timeouts, text we do not know — may work when sent again.
pub fn store_error(message: String) -> StoreResult {
    let prefix = prefix(&message);
    let invalid = match prefix.parse::<u32>() {
        Ok(code) => matches!(code, 101..=107 | 403 | 511..=513),
        Err(_) => matches!(
            prefix,
            "InvalidRequest" | "InvalidExpirationTime" | "ItemValueSizeTooLarge" | "Fenced"
        ),
    };
    if invalid {
        StoreResult::Invalid(message)
    } else {
        StoreResult::Error(message)
    }
}

/// A store error's prefix: the text before its first colon (`"503: …"`, `"Fenced: …"`).
fn prefix(message: &str) -> &str {
    message.split(':').next().unwrap_or_default().trim()
}

/// Whether a failed write was refused by the fence (every store's refusal reads `"Fenced: …"`):
/// the store found the lock entry not this write's (or a newer write of its session landed).
pub fn is_fenced(message: &str) -> bool {
    prefix(message) == "Fenced"
}

/// A `QueueRead` result: `values_json` is a JSON array of the items' JSON texts (strings).
pub fn read(values_json: &str, read_id: Option<String>) -> StoreResult {
    (|| -> Result<StoreResult, String> {
        let texts: Vec<String> = serde_json::from_str(values_json)
            .map_err(|e| format!("queue items: invalid JSON ({e})"))?;
        let most = crate::emulator::MAX_QUEUE_READ;
        if texts.len() > most {
            return Err(format!(
                "queue items: the store answered {} items, more than a read takes (at most {most})",
                texts.len()
            ));
        }
        let values = texts
            .iter()
            .map(|t| {
                within(t, MAX_LOADED_EXTRA_BYTES, "queue item")?;
                value(t, "queue item")
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StoreResult::Read { values, read_id })
    })()
    .unwrap_or_else(StoreResult::Error)
}

/// A storage command as JSON (`{"id", "kind", …}`; values as JSON strings).
pub fn command(id: CommandId, command: &Command) -> String {
    write_command(id, command, true)
}

/// A storage command as the JS host reads it: its JSON without the values it carries, then
/// each of those JSON texts after a newline (`value`, then for `DataSet` `userIds` and
/// `metadata`), as they are: no escaping either way, and a `DataSet`'s value text goes out as
/// the save made it.
pub fn command_lines(id: CommandId, command: &Command) -> String {
    let mut out = write_command(id, command, false);
    match command {
        Command::DataSet {
            value,
            user_ids,
            metadata,
            ..
        } => {
            let texts = [value, user_ids, metadata];
            out.reserve(texts.iter().map(|t| t.as_str().len() + 1).sum());
            for text in texts {
                out.push('\n');
                out.push_str(text.as_str());
            }
        }
        Command::QueueAdd { value, .. } => {
            out.push('\n');
            value.write_json(&mut out);
        }
        _ => {}
    }
    out
}

fn write_command(CommandId(id): CommandId, command: &Command, values: bool) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("{\"id\":");
    out.push_str(itoa::Buffer::new().format(id));
    // The host calls one store method per kind: an acquisition that also loads is its own.
    let kind = match command {
        Command::LockAcquire { load: Some(_), .. } => "LockAcquireAndGet",
        _ => command.name(),
    };
    push_str(&mut out, "kind", kind);
    match command {
        Command::DataGet { name, scope, key } => {
            push_str(&mut out, "name", name);
            push_str(&mut out, "scope", scope);
            push_str(&mut out, "key", key);
        }
        Command::DataSet {
            name,
            scope,
            key,
            value,
            user_ids,
            metadata,
            fence,
        } => {
            push_str(&mut out, "name", name);
            push_str(&mut out, "scope", scope);
            push_str(&mut out, "key", key);
            if values {
                push_str(&mut out, "value", value.as_str());
                push_str(&mut out, "userIds", user_ids.as_str());
                push_str(&mut out, "metadata", metadata.as_str());
            }
            push_fence(&mut out, fence.as_ref());
        }
        Command::DataRemove {
            name,
            scope,
            key,
            fence,
        } => {
            push_str(&mut out, "name", name);
            push_str(&mut out, "scope", scope);
            push_str(&mut out, "key", key);
            push_fence(&mut out, fence.as_ref());
        }
        Command::LockAcquire {
            map,
            owner,
            token,
            held,
            ttl_s,
            load,
        } => {
            push_str(&mut out, "map", map);
            push_str(&mut out, "owner", owner);
            push_int(&mut out, "token", *token);
            if let Some(DataKey { name, scope, key }) = load {
                push_str(&mut out, "name", name);
                push_str(&mut out, "scope", scope);
                push_str(&mut out, "key", key);
            }
            out.push_str(if held.is_some() {
                ",\"renew\":true"
            } else {
                ",\"renew\":false"
            });
            if let Some(held) = held {
                push_int(&mut out, "held", *held);
            }
            let _ = write!(out, ",\"ttl\":{ttl_s}");
        }
        Command::LockRelease { map, owner, token } => {
            push_str(&mut out, "map", map);
            push_str(&mut out, "owner", owner);
            push_int(&mut out, "token", *token);
        }
        Command::QueueAdd {
            queue,
            value,
            expiration,
            priority,
        } => {
            push_str(&mut out, "queue", queue);
            if values {
                push_value_text(&mut out, "value", value);
            }
            let _ = write!(out, ",\"expiration\":{expiration},\"priority\":{priority}");
        }
        Command::QueueRead {
            queue,
            count,
            all_or_nothing,
            wait_s,
        } => {
            push_str(&mut out, "queue", queue);
            let _ = write!(
                out,
                ",\"count\":{count},\"allOrNothing\":{all_or_nothing},\"wait\":{wait_s}"
            );
        }
        Command::QueueRemove { queue, read_id } => {
            push_str(&mut out, "queue", queue);
            push_str(&mut out, "readId", read_id);
        }
    }
    out.push('}');
    out
}

/// An event as JSON (`{"kind", "session", …}`; values inline).
pub fn event(format: Format, event: &Event) -> String {
    let mut out = String::new();
    push_event(format, &mut out, event);
    out
}

/// Appends [`event`]'s text to `out`.
pub fn push_event(format: Format, out: &mut String, event: &Event) {
    out.push('{');
    let session = |out: &mut String, kind: &str, SessionId(s): SessionId| {
        out.push_str("\"kind\":\"");
        out.push_str(kind);
        out.push('"');
        push_int(out, "session", s);
    };
    match event {
        Event::Loaded {
            session: s,
            value,
            metadata,
            user_ids,
        } => {
            session(out, "Loaded", *s);
            match value {
                LoadedValue::Tree(value) => push_value(format, out, "value", value),
                // JSON carries it exactly, and it nests at most `MAX_DEPTH - 1` tables
                // ([`LoadedValue::Json`]), so every host takes it inline.
                LoadedValue::Json(json) => {
                    debug_assert!(crate::codec::json::nesting(json) < MAX_DEPTH);
                    push_key(out, "value");
                    out.push_str(json);
                }
            }
            push_value(format, out, "metadata", metadata);
            push_value(format, out, "userIds", user_ids);
        }
        Event::MetadataReset { session: s } => session(out, "MetadataReset", *s),
        Event::StateChanged { session: s, state } => {
            session(out, "StateChanged", *s);
            push_key(out, "state");
            out.push_str(state_json(*state));
        }
        Event::Saving { session: s } => session(out, "Saving", *s),
        Event::Saved {
            session: s,
            response,
            data,
            wrote,
        } => {
            session(out, "Saved", *s);
            out.push(',');
            reply_fields(
                &Reply {
                    response: *response,
                    data: data.clone(),
                },
                out,
            );
            if *wrote {
                out.push_str(",\"wrote\":true");
            }
        }
        Event::AttemptsChanged {
            session: s,
            remaining,
        } => {
            session(out, "AttemptsChanged", *s);
            let _ = write!(out, ",\"remaining\":{remaining}");
        }
        Event::ProcessQueue {
            session: s,
            id,
            values,
        } => {
            session(out, "ProcessQueue", *s);
            push_str(out, "id", id);
            push_value(format, out, "values", &Value::Array(values.clone()));
        }
        Event::DisconnectAll { session: s } => session(out, "DisconnectAll", *s),
        Event::ReadUnwanted {
            session: s,
            command: CommandId(command),
        } => {
            session(out, "ReadUnwanted", *s);
            push_int(out, "command", *command);
        }
        Event::CallDone {
            call: CallId(call),
            session: s,
            reply,
        } => {
            session(out, "CallDone", *s);
            push_int(out, "call", *call);
            out.push(',');
            reply_fields(reply, out);
        }
        Event::BindToCloseDone(report) => {
            let _ = write!(
                out,
                "\"kind\":\"BindToCloseDone\",\"closed\":{},\"saved\":{},\"failed\":[",
                report.closed, report.saved
            );
            for (i, (id, message)) in report.failed.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"id\":");
                write_json_string(id, out);
                out.push_str(",\"error\":");
                write_json_string(message, out);
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// How to reconcile the host's live value with a template in place (behaviour.md §10.1):
/// `{"replace": v}` when the value is nil, else `{"inserts": [{"path": [keys…], "value": v}]}`
/// to set in order on the host's existing tables. In the Luau format the same table is the
/// field `patch` of a JSON object (`patchText` when JSON cannot carry it: a number key on a
/// path, say), so path keys keep their types.
pub fn template_patch(format: Format, value: &[u8], template: &[u8]) -> Result<String, String> {
    // A Luau host's value text streams to JSON, which the patch is read off without the tree
    // when it can be (`template_patch_json`); the value is read first either way, so its
    // refusal comes before the template's, as it always has.
    let streamed = if LUAU_HOSTS && format == Format::Luau {
        crate::codec::luau::stream_json(value)
    } else {
        None
    };
    let patch = match streamed {
        Some(json) => {
            let template = format.read(template, "template")?;
            match crate::template::template_patch_json(&json, &template) {
                Some(patch) => patch,
                None => patch_of(&format.read(value, "Value")?, &template),
            }
        }
        None => {
            let v = format.read(value, "Value")?;
            let template = format.read(template, "template")?;
            patch_of(&v, &template)
        }
    };
    if LUAU_HOSTS && format == Format::Luau {
        let mut out = Table::new();
        match patch {
            Patch::Replace(v) => {
                out.insert(Key::from("replace"), v);
            }
            Patch::Inserts(inserts) => {
                let inserts = inserts
                    .into_iter()
                    .map(|insert| {
                        let path = insert.path.into_iter().map(Value::from).collect();
                        let mut entry = Table::new();
                        entry.insert(Key::from("path"), Value::Array(path));
                        entry.insert(Key::from("value"), insert.value);
                        Value::Table(entry)
                    })
                    .collect();
                out.insert(Key::from("inserts"), Value::Array(inserts));
            }
        }
        let mut text = String::from("{");
        format.write_field(&mut text, "patch", &Value::Table(out), true);
        text.push('}');
        return Ok(text);
    }
    Ok(match patch {
        Patch::Replace(v) => format!("{{\"replace\":{}}}", v.to_json_string()),
        Patch::Inserts(inserts) => {
            let mut out = String::from("{\"inserts\":[");
            for (i, insert) in inserts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"path\":[");
                for (j, key) in insert.path.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_json_string(&key.to_luau_string(), &mut out);
                }
                out.push_str("],\"value\":");
                out.push_str(&insert.value.to_json_string());
                out.push('}');
            }
            out.push_str("]}");
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::json::nesting;
    use crate::session::{CallOutcome, Data, Reply, Response};

    /// `tables` tables, each the only entry of the one around it: `{"d":{"d":…{}}}`.
    fn chain(tables: usize) -> Value {
        let mut v = Value::Table(Table::new());
        for _ in 1..tables {
            let mut t = Table::new();
            t.insert(Key::from("d"), v);
            v = Value::Table(t);
        }
        v
    }

    /// A Luau host reads events, replies and patches with `JSONDecode`, which reads
    /// `MAX_DEPTH` tables nested: a value as deep as a DataStore holds goes as value text
    /// where inline JSON would pass that, and inline where it would not.
    #[test]
    fn what_a_luau_host_decodes_nests_within_its_json_reader_s_limit() {
        for tables in [MAX_DEPTH - 3, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH] {
            let v = chain(tables);
            let loaded = event(
                Format::Luau,
                &Event::Loaded {
                    session: SessionId(1),
                    value: LoadedValue::Tree(v.clone()),
                    metadata: Value::Table(Table::new()),
                    user_ids: Value::Array(Vec::new()),
                },
            );
            let queued = event(
                Format::Luau,
                &Event::ProcessQueue {
                    session: SessionId(1),
                    id: "q".into(),
                    values: vec![v.clone()],
                },
            );
            let reply = call_outcome(
                Format::Luau,
                &CallOutcome::Done {
                    reply: Reply {
                        response: Response::Success,
                        data: Data::Value,
                    },
                    reconcile: Some(v.clone()),
                },
            );
            let patch = template_patch(Format::Luau, b"", v.to_luau_text().as_bytes()).unwrap();
            for (what, text, around) in [
                ("Loaded", &loaded, 1),
                ("ProcessQueue", &queued, 2),
                ("reply", &reply, 1),
                ("patch", &patch, 2),
            ] {
                assert!(nesting(text) <= MAX_DEPTH, "{what} of {tables} tables");
                let inline = tables + around <= MAX_DEPTH;
                assert_eq!(
                    !text.contains("Text\":"),
                    inline,
                    "{what} of {tables} tables goes inline only when it fits"
                );
            }
        }
    }

    /// Every way to a load's JSON text leaves a value that nests `MAX_DEPTH` tables to the
    /// tree ([`LoadedValue::Json`]), which the event then writes as the host can read it.
    #[test]
    fn a_loaded_value_s_json_text_nests_one_table_short_of_the_limit() {
        for tables in [MAX_DEPTH - 1, MAX_DEPTH] {
            let json = chain(tables).to_json_string();
            let fits = tables < MAX_DEPTH;
            let value = match got(Some(&json), "v1", 1.0, 2.0, "[]", "{}") {
                StoreResult::Got { value, .. } => value,
                other => panic!("{other:?}"),
            };
            assert_eq!(
                matches!(value, LoadedValue::Json(_)),
                fits,
                "stored {tables}"
            );
            let text = crate::codec::compress(&chain(tables), &Default::default()).unwrap();
            let streamed = crate::codec::json::stream_decompress(&text, 3.0);
            assert_eq!(streamed.is_some(), fits, "compressed {tables}");
            let spliced = crate::template::apply_template_json("null", &chain(tables));
            assert_eq!(spliced.is_some(), fits, "template {tables}");
        }
    }

    /// The value stays text for the save to transcode; when the metadata or user ids are
    /// refused too, the value's refusal still comes first, as when it was read here.
    #[test]
    fn a_luau_snapshot_keeps_its_value_text_and_refuses_the_value_first() {
        let ok = snapshot(Format::Luau, b"{s1:an1;}", b"{}", b"[]", false, None).unwrap();
        assert_eq!(ok.value, SnapshotValue::Luau(b"{s1:an1;}".to_vec()));
        let cycle = b"{s1:x?cycle;}";
        let function = b"{s1:f?function;}";
        let err = snapshot(Format::Luau, function, cycle, b"", false, None).unwrap_err();
        assert_eq!(err, "Value.f: a function cannot be stored");
        let err = snapshot(Format::Luau, function, b"{}", cycle, false, None).unwrap_err();
        assert_eq!(err, "Value.f: a function cannot be stored");
        let err = snapshot(Format::Luau, b"{s1:an1;}", cycle, b"", false, None).unwrap_err();
        assert_eq!(
            err,
            "Metadata.x: a table that contains itself cannot be stored"
        );
        // The value itself is judged by the save (`codec::luau` or the tree).
        let later = snapshot(Format::Luau, function, b"{}", b"", false, None).unwrap();
        assert_eq!(later.value, SnapshotValue::Luau(function.to_vec()));
    }

    /// A stored value already in the core's own JSON is handed on as that text; any other
    /// text is read into the tree it means, and the host sees the same value either way.
    #[test]
    fn a_canonical_stored_value_stays_text_and_any_other_is_read() {
        let loaded = |text: &str| match got(Some(text), "v1", 1.0, 2.0, "[]", "{}") {
            StoreResult::Got { value, .. } => value,
            other => panic!("{other:?}"),
        };
        let canonical = r#"{"Coins":10,"Items":["a","b"],"Ratio":0.1}"#;
        assert_eq!(loaded(canonical), LoadedValue::Json(canonical.into()));
        for (text, tree_json) in [
            (r#"{ "Coins": 10 }"#, r#"{"Coins":10}"#),
            (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
            (r#"{"x":1e2}"#, r#"{"x":100}"#),
        ] {
            let LoadedValue::Tree(tree) = loaded(text) else {
                panic!("{text} should be read into a tree");
            };
            assert_eq!(tree.to_json_string(), tree_json);
        }
        assert!(matches!(
            got(Some("{"), "v1", 1.0, 2.0, "[]", "{}"),
            StoreResult::Error(_)
        ));
    }

    /// The plain reading agrees with the reader on what it takes, and leaves the rest to it.
    #[test]
    fn plain_session_arguments_read_as_the_reader_reads_them() {
        let read = |text: &str| {
            let mut table = match Format::Json.read(text.as_bytes(), "arguments") {
                Ok(Value::Table(table)) => table,
                other => panic!("{text}: {other:?}"),
            };
            (1..=3)
                .map(|i| {
                    table
                        .swap_remove(&Key::String(i.to_string()))
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
        };
        for text in [
            r#"{}"#,
            r#"{"1":"Player"}"#,
            r#"{"1":"Player","2":0}"#,
            r#"{"1":"Player","2":"global","3":"key é ☃"}"#,
            r#"{"1":"Player","3":123456789012345}"#,
            r#"{"2":"x"}"#,
            r#"{"1":""}"#,
        ] {
            let plain = plain_args(text.as_bytes()).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(format!("{plain:?}"), format!("{:?}", read(text)), "{text}");
        }
        for text in [
            r#"{"1":"a\"b"}"#,
            r#"{"1":-1}"#,
            r#"{"1":1.5}"#,
            r#"{"1":01}"#,
            r#"{"1":1234567890123456}"#,
            r#"{"2":"a","1":"b"}"#,
            r#"{"1":"a","1":"b"}"#,
            r#"{"1":true}"#,
            r#"{"4":"a"}"#,
            r#"{"1":"a"} "#,
            r#"{"1":"a",}"#,
            r#"[1]"#,
        ] {
            assert_eq!(plain_args(text.as_bytes()), None, "{text}");
        }
    }

    /// A store result too large to be a record, or with times that are no times, is that
    /// call's failure before anything is parsed (a 120 MB text read into a tree took the
    /// wasm's 4 GiB and trapped).
    #[test]
    fn store_results_too_large_for_any_record_are_refused_unread() {
        let error = |result: StoreResult| match result {
            StoreResult::Error(message) => message,
            other => panic!("{other:?}"),
        };
        let big = format!("[{}0]", "0,".repeat(MAX_LOADED_VALUE_BYTES / 2));
        assert_eq!(
            error(got(Some(&big), "v1", 1.0, 2.0, "[]", "{}")),
            format!(
                "stored value: the store answered {} bytes, more than any record holds (at most 8388608)",
                big.len()
            )
        );
        let largest = format!("\"{}\"", "a".repeat(MAX_LOADED_VALUE_BYTES - 2));
        assert!(matches!(
            got(Some(&largest), "v1", 1.0, 2.0, "[]", "{}"),
            StoreResult::Got { .. }
        ));
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_LOADED_EXTRA_BYTES));
        assert!(error(got(Some("1"), "v1", 1.0, 2.0, "[]", &long)).starts_with("Metadata: "));
        assert!(error(got(Some("1"), "v1", 1.0, 2.0, &long, "{}")).starts_with("UserIds: "));
        assert_eq!(
            error(got(Some("1"), "v1", f64::NAN, 2.0, "[]", "{}")),
            "CreatedTime: the store answered NaN, not a finite number"
        );
        assert_eq!(
            error(got(Some("1"), "v1", 1.0, f64::INFINITY, "[]", "{}")),
            "UpdatedTime: the store answered inf, not a finite number"
        );
        let items = serde_json::to_string(&vec!["1"; 101]).unwrap();
        assert_eq!(
            error(read(&items, None)),
            "queue items: the store answered 101 items, more than a read takes (at most 100)"
        );
        let item = serde_json::to_string(&[format!("\"{}\"", "x".repeat(MAX_LOADED_EXTRA_BYTES))])
            .unwrap();
        assert!(error(read(&item, None)).starts_with("queue item: the store answered"));
    }

    /// Times past 2^53 ms are no times: the clock keeps what it had, so deadlines still lie
    /// ahead (at u64::MAX every timer was due at once, for good).
    #[test]
    fn host_times_past_2_to_the_53_are_ignored() {
        assert_eq!(now(MAX_HOST_TIME_MS), 9_007_199_254_740_991);
        for ms in [
            MAX_HOST_TIME_MS * 2.0,
            2f64.powi(64),
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -1.0,
        ] {
            assert_eq!(now(ms), 0, "{ms}");
        }
    }

    #[test]
    fn store_errors_that_can_never_succeed_are_not_retried_d19() {
        for message in [
            "102: Key name exceeds the 50 limit.",
            "104: Can't store table in DataStore.",
            "105: Serialized value exceeds 4194304 limit.",
            "512: UserIdLimitExceeded",
            "InvalidExpirationTime: The expiration time must be between 0 and 3888000 seconds.",
            "InvalidRequest: The value can't be nil.",
            "ItemValueSizeTooLarge: The value is 40000 bytes, over the 32768 limit.",
            "Fenced: write to a/global/b by x refused: another holder",
        ] {
            assert_eq!(
                store_error(message.into()),
                StoreResult::Invalid(message.into())
            );
        }
        for message in [
            "502: API Services rejected request with error. Error code: 0",
            "301: DataStore request was added to queue.",
            "InternalError: try again",
            "UpdateConflict: too many retries",
            "DataGet timed out after 30000 ms",
            "connection reset",
            "",
        ] {
            assert_eq!(
                store_error(message.into()),
                StoreResult::Error(message.into())
            );
        }
    }
}
