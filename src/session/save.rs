//! Loading and saving (§7), the auto-save timer, and `Usage()`.
//!
//! A save: wait out `SaveDelay` since the last successful save; emit [`Event::Saving`] and wait
//! for the host's [`Snapshot`]; build the payload (remove when Value is nil, else the value or
//! its compressed text when `Metadata.Compress` is a table); skip it when it equals the last
//! successful write (D16); send it only while the lock lease has room (D8); 3 tries (D14).
//! Every successful save updates `Version` (D1). `Saved` fires after every save, skipped or not.

use super::adapter;
use super::flow::{Op, OpOutcome};
use super::io::{Io, Owner, TimerKey, TimerWhat};
use super::lock::unexpected;
use super::retry::{Attempt, RETRY_BUDGET_MS};
use super::task::Kind;
use super::{
    empty_table, secs_to_ms, Command, Data, Event, Fence, KeyInfo, LoadedValue, Response, Session,
    Snapshot, SnapshotValue, State, StoreResult,
};
use crate::codec;
use crate::value::{JsonText, Key, Value};
use std::hash::Hasher;

/// D18: what a step answers when bind-to-close's deadline has passed.
pub const SHUTDOWN_DEADLINE: &str =
    "the shutdown deadline passed first: nothing more was sent (the lock expires on its own)";

/// D8: what a save answers when the lease has no room left for it.
pub const LEASE_EXPIRED: &str =
    "the session lock's lease is too close to expiring, so the save was not sent (another server may own the data now)";

/// D22: what a save answers when the lock refresh queued behind it needs the time its next
/// store call would take.
pub const REFRESH_FIRST: &str =
    "the save gave way to the lock refresh waiting behind it: the session lock's lease would not leave the refresh time for its retries";

/// D16: what a write stored (or would store).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Payload {
    Set(Box<Stored>),
    Remove,
}

/// A keyed 128-bit fingerprint of a [`Payload`]: what a session keeps of its last write for
/// D16's unchanged-save check, instead of the payload (issue 12: the payload was most of a
/// saved session's memory). It is of the JSON texts the store is sent, so `0` and `-0` differ
/// and a reordered table is written again (harmless). The key comes from the module's seed: a
/// player who controls part of the data cannot aim for a collision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Digest(u128);

impl Payload {
    pub(crate) fn digest(&self, key: (u64, u64)) -> Digest {
        match self {
            Payload::Remove => {
                use siphasher::sip128::{Hasher128, SipHasher13};
                let mut h = SipHasher13::new_with_keys(key.0, key.1);
                h.write_u8(0);
                Digest(h.finish128().as_u128())
            }
            Payload::Set(stored) => set_digest(
                key,
                stored.value.as_str(),
                stored.metadata.as_str(),
                stored.user_ids.as_str(),
            ),
        }
    }
}

/// The digest of a `SetAsync` of these three texts.
fn set_digest(key: (u64, u64), value: &str, metadata: &str, user_ids: &str) -> Digest {
    use siphasher::sip128::{Hasher128, SipHasher13};
    let mut h = SipHasher13::new_with_keys(key.0, key.1);
    h.write_u8(1);
    // Each text with its length, so no two triples give the same bytes.
    for text in [value, metadata, user_ids] {
        h.write_usize(text.len());
        h.write(text.as_bytes());
    }
    Digest(h.finish128().as_u128())
}

/// A `SetAsync`'s arguments, as the JSON texts the store is sent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stored {
    value: JsonText,
    metadata: JsonText,
    user_ids: JsonText,
}

/// A save in progress.
#[derive(Debug)]
pub(crate) enum SaveOp {
    /// Waiting out `SaveDelay` until `wake`.
    Delay { wake: TimerKey },
    /// `Saving` was emitted; waiting for the host's snapshot (with a deadline).
    Snapshot { deadline: TimerKey },
    /// Writing, with 3 tries; `digest` is the payload's, kept for D16 once it lands.
    Write {
        payload: Payload,
        digest: Digest,
        attempt: Attempt,
    },
}

impl SaveOp {
    pub fn is_current(&self, command: super::CommandId) -> bool {
        matches!(self, SaveOp::Write { attempt, .. } if attempt.is_current(command))
    }
}

/// A successful load, not yet installed.
#[derive(Debug)]
pub(crate) struct Loaded {
    value: LoadedValue,
    metadata: Value,
    user_ids: Value,
    created_time: f64,
    updated_time: f64,
    version: String,
    /// The raw stored text when the data was compressed.
    compressed: Option<String>,
}

impl Loaded {
    /// Applies the callers' templates in join order: spliced into the JSON when its text can say
    /// what the tree would be, else on the tree.
    fn with_templates(mut self: Box<Self>, templates: &[&Value]) -> Result<Box<Self>, String> {
        if templates.is_empty() {
            return Ok(self);
        }
        let value = std::mem::replace(&mut self.value, LoadedValue::Tree(Value::Nil));
        let spliced = match &value {
            LoadedValue::Json(json) => adapter::apply_templates_json(json, templates),
            LoadedValue::Tree(_) => None,
        };
        self.value = match spliced {
            Some(json) => LoadedValue::Json(json),
            None => {
                let mut tree = value.into_tree()?;
                for template in templates {
                    adapter::apply_template(&mut tree, template);
                }
                LoadedValue::Tree(tree)
            }
        };
        Ok(self)
    }

    /// The load's failure when the host holds values as JSON ([`super::Config::json_host`]) and
    /// the value (`what`: the stored one, or with the callers' templates applied) has two keys
    /// JSON would write with one name: the host would keep one of them, and its next save would
    /// store the value without the other.
    fn fits_host(self: Box<Self>, json_host: bool, what: &str) -> Result<Box<Self>, String> {
        if let (true, LoadedValue::Tree(value)) = (json_host, &self.value) {
            value
                .check_json_keys("Value")
                .map_err(|e| format!("{what} cannot be loaded here: {e}"))?;
        }
        Ok(self)
    }
}

/// `Metadata.Compress` when it is a table (compression on).
fn compress_table(metadata: &Value) -> Option<&Value> {
    match metadata {
        Value::Table(table) => table
            .get(&Key::String("Compress".into()))
            .filter(|c| c.is_table()),
        _ => None,
    }
}

/// §7.1 steps 2–3: key info and compression detection. A value that cannot be decoded is an
/// error for this load (D5) and installs nothing. Compressed data that JSON carries exactly is
/// decoded to its JSON text, not to a tree; with `templates` to apply, only in a build that
/// splices them into JSON ([`adapter::TEMPLATES_ON_JSON`], [`Loaded::with_templates`]).
fn decode_loaded(
    value: LoadedValue,
    info: Option<KeyInfo>,
    templates: bool,
) -> Result<Box<Loaded>, String> {
    let (metadata, user_ids, created_time, updated_time, version) = match info {
        None => (
            empty_table(),
            Value::Array(Vec::new()),
            0.0,
            0.0,
            String::new(),
        ),
        Some(info) => (
            if info.metadata.is_table() {
                info.metadata
            } else {
                empty_table()
            },
            if info.user_ids.is_table() {
                info.user_ids
            } else {
                Value::Array(Vec::new())
            },
            info.created_time,
            info.updated_time,
            info.version,
        ),
    };
    let (value, compressed) = match compress_table(&metadata) {
        Some(compress) => {
            let text = match value.into_tree()? {
                Value::String(text) => text,
                other => {
                    return Err(format!(
                    "Metadata.Compress is set but the stored value is a {}, not compressed text",
                    other.type_name()
                ))
                }
            };
            let json = (!templates || adapter::TEMPLATES_ON_JSON)
                .then(|| adapter::decompress_to_json(&text, compress))
                .flatten();
            let value = match json {
                Some(json) => LoadedValue::Json(json),
                None => LoadedValue::Tree(adapter::decompress(&text, compress)?),
            };
            (value, Some(text))
        }
        None => (value, None),
    };
    Ok(Box::new(Loaded {
        value,
        metadata,
        user_ids,
        created_time,
        updated_time,
        version,
        compressed,
    }))
}

impl Session {
    // ---- load (§7.1) ----

    pub(crate) fn begin_load(&mut self, io: &mut Io) {
        self.load_try(io, Attempt::default());
    }

    pub(crate) fn load_try(&mut self, io: &mut Io, mut attempt: Attempt) {
        if io.shutdown_over() {
            return self.resume_task(io, OpOutcome::Load(Err(SHUTDOWN_DEADLINE.into())));
        }
        attempt.tries += 1;
        let command = Command::DataGet {
            name: self.name.clone(),
            scope: self.scope.clone(),
            key: self.key_text.clone(),
        };
        attempt.command = Some(io.send(self.sid, Owner::Task, command));
        self.op = Some(Op::Load(attempt));
    }

    pub(crate) fn load_result(&mut self, io: &mut Io, mut attempt: Attempt, result: StoreResult) {
        let message = match result {
            StoreResult::Got { value, info } => {
                // The callers' templates apply here, where a value that cannot take them
                // fails the load rather than installing something else.
                let templates = self.tasks.templates();
                let json_host = io.config.json_host;
                let loaded = decode_loaded(value, info, !templates.is_empty())
                    .and_then(|loaded| loaded.fits_host(json_host, "the stored value"))
                    .and_then(|loaded| loaded.with_templates(&templates))
                    .and_then(|loaded| match templates.is_empty() {
                        true => Ok(loaded),
                        false => loaded.fits_host(json_host, "the stored value with the template"),
                    });
                return self.resume_task(io, OpOutcome::Load(loaded));
            }
            StoreResult::Error(message) => (message, true),
            StoreResult::Invalid(message) => (message, false),
            other => (unexpected("DataGet", &other), true),
        };
        let (message, retryable) = message;
        match io.retry_delay(&mut attempt, retryable) {
            Some(delay) => {
                attempt.wake = Some(io.set_timer_in(self.sid, TimerWhat::TaskOp, delay));
                self.op = Some(Op::Load(attempt));
            }
            None => self.resume_task(io, OpOutcome::Load(Err(message))),
        }
    }

    /// Hands the loaded value, the callers' templates applied ([`Loaded::with_templates`]), to
    /// the host.
    pub(crate) fn install(&mut self, io: &mut Io, loaded: Loaded) {
        let value = loaded.value;
        self.created_time = loaded.created_time;
        self.updated_time = loaded.updated_time;
        self.version = loaded.version;
        if let Some(text) = loaded.compressed {
            self.compressed_value = text;
            self.last_snapshot = None;
        }
        // Anyone may have written since our last write: D16 must compare against a fresh one.
        self.last_written = None;
        io.emit(Event::Loaded {
            session: self.sid,
            value,
            metadata: loaded.metadata,
            user_ids: loaded.user_ids,
        });
    }

    // ---- save (§7.2) ----

    pub(crate) fn begin_save(&mut self, io: &mut Io) {
        if io.shutdown_over() {
            return self.save_failed(io, SHUTDOWN_DEADLINE.into());
        }
        // Some saves finish without a store call (D16 skip, D8 lease, a value the host could
        // not convert); a handler that saves again on every `Saved` must not spin inside one
        // host turn, so such a save waits for the host's next timer turn (a timer due now),
        // not for time to pass: under a manual clock it needs no `advance`.
        let same_turn = self.save_finished == Some(io.turn);
        let throttled = self
            .save_time
            .map(|last| last.saturating_add(secs_to_ms(self.props.save_delay)))
            .filter(|&ready| io.now < ready);
        if same_turn || throttled.is_some() {
            let ready = throttled.unwrap_or(io.now);
            if self.refresh_at_risk(io, ready) {
                return self.save_failed(io, REFRESH_FIRST.into());
            }
            let wait = io.within_shutdown(ready - io.now);
            let wake = io.set_timer_in(self.sid, TimerWhat::TaskOp, wait);
            self.op = Some(Op::Save(SaveOp::Delay { wake }));
            return;
        }
        self.announce_save(io);
    }

    /// D22: a lock refresh waits behind this session's running task, and keeping the queue
    /// busy until `busy_until` would leave it less than its whole retry budget (3 tries and
    /// their backoff) before the lease ends. A save then makes no further store call or wait.
    /// With the defaults (a refresh due 270 s before the lease ends) this never happens; it
    /// does with `LockAttempts = 1`, where a slow save could otherwise hold the refresh until
    /// the entry expired.
    pub(crate) fn refresh_at_risk(&self, io: &Io, busy_until: u64) -> bool {
        let reserve = 3 * io.config.memory_timeout_ms + RETRY_BUDGET_MS;
        self.state == State::Open
            && self.tasks.pending(Kind::Lock)
            && self
                .lock
                .lease_end
                .is_some_and(|end| busy_until.saturating_add(reserve) > end)
    }

    /// The lock timer queued a refresh: a save of this session waiting out `SaveDelay` stops
    /// waiting if the refresh cannot afford it.
    pub(crate) fn yield_to_refresh(&mut self, io: &mut Io) {
        if let Some(Op::Save(SaveOp::Delay { wake })) = &self.op {
            if self.refresh_at_risk(io, wake.0) {
                io.cancel_timer(Some(*wake));
                self.op = None;
                self.save_failed(io, REFRESH_FIRST.into());
            }
        }
    }

    fn announce_save(&mut self, io: &mut Io) {
        self.save_sent = false;
        io.emit(Event::Saving { session: self.sid });
        let wait = io.within_shutdown(io.config.snapshot_timeout_ms);
        let deadline = io.set_timer_in(self.sid, TimerWhat::TaskOp, wait);
        self.op = Some(Op::Save(SaveOp::Snapshot { deadline }));
    }

    pub(crate) fn save_wake(&mut self, io: &mut Io, op: SaveOp) {
        match op {
            SaveOp::Delay { .. } => self.announce_save(io),
            SaveOp::Snapshot { .. } => {
                self.save_failed(io, "the host did not hand over the value to save".into())
            }
            SaveOp::Write {
                payload,
                digest,
                mut attempt,
            } if attempt.command.is_none() => {
                attempt.wake = None;
                self.write_try(io, payload, digest, attempt);
            }
            other => self.op = Some(Op::Save(other)),
        }
    }

    /// The host's snapshot after `Saving`. False if no save was waiting for one.
    pub(crate) fn provide_snapshot(
        &mut self,
        io: &mut Io,
        snapshot: Result<Snapshot, String>,
    ) -> bool {
        // Whatever happens to it, this is now the host's last snapshot: the digest of the one
        // before no longer stands for `same_texts`.
        let previous = self.last_snapshot.take();
        let deadline = match &self.op {
            Some(Op::Save(SaveOp::Snapshot { deadline })) => *deadline,
            _ => return false,
        };
        io.cancel_timer(Some(deadline));
        self.op = None;
        let snapshot = match snapshot {
            Err(message) => {
                self.save_failed(io, message);
                return true;
            }
            Ok(snapshot) => attributes_as_set(snapshot),
        };
        // D16 on the host's texts: the same texts as a snapshot whose payload the store holds.
        if let Some(digest) =
            previous.filter(|&d| snapshot.same_texts && self.last_written == Some(d))
        {
            self.last_snapshot = Some(digest);
            self.save_succeeded(io, false, digest, None);
            return true;
        }
        let metadata = JsonText::of(&snapshot.metadata);
        let user_ids = JsonText::of(&snapshot.user_ids);
        // D16 before any checking, for a JS host's text: sent as it is (no compression), it
        // would be the write's payload; when that payload's digest is the last write's, the
        // store holds exactly these bytes, which were checked then. An unchanged save skips
        // the canonical check and the payload (issue 12: they were most of its cost).
        let as_sent = match &snapshot.value {
            SnapshotValue::Json(json) if compress_table(&snapshot.metadata).is_none() => Some(
                set_digest(io.digest_key, json, metadata.as_str(), user_ids.as_str()),
            ),
            _ => None,
        };
        if let Some(digest) = as_sent.filter(|&d| self.last_written == Some(d)) {
            self.last_snapshot = Some(digest);
            self.save_succeeded(io, false, digest, None);
            return true;
        }
        match self.payload_for(snapshot, metadata, user_ids) {
            Err(message) => self.save_failed(io, message),
            Ok((payload, sent_as_is)) => {
                // The text went out as it came: its digest is the one just taken.
                let digest = match as_sent {
                    Some(digest) if sent_as_is => digest,
                    _ => payload.digest(io.digest_key),
                };
                if matches!(payload, Payload::Set(_)) {
                    self.last_snapshot = Some(digest);
                }
                if self.last_written == Some(digest) {
                    // D16: the store already holds exactly this.
                    self.save_succeeded(io, matches!(payload, Payload::Remove), digest, None);
                } else {
                    self.write_try(io, payload, digest, Attempt::default());
                }
            }
        }
        true
    }

    /// The write a snapshot makes (`metadata_text` and `user_ids_text` its tables' JSON), and
    /// whether its value goes out as the host's own JSON text.
    fn payload_for(
        &mut self,
        snapshot: Snapshot,
        metadata_text: JsonText,
        user_ids_text: JsonText,
    ) -> Result<(Payload, bool), String> {
        let Snapshot {
            value,
            metadata,
            user_ids: _,
            same_texts: _,
        } = snapshot;
        // Text that is not already what the core would write is read into a tree.
        let value = match value {
            SnapshotValue::Json(json) if !codec::json::is_canonical(&json) => SnapshotValue::Tree(
                Value::from_json_str(&json, "Value").map_err(|e| e.to_string())?,
            ),
            SnapshotValue::Luau(text) if text.is_empty() => SnapshotValue::Tree(Value::Nil),
            other => other,
        };
        let sent_as_is =
            matches!(value, SnapshotValue::Json(_)) && compress_table(&metadata).is_none();
        let value = match (value, compress_table(&metadata)) {
            (SnapshotValue::Tree(Value::Nil), _) => return Ok((Payload::Remove, false)),
            (SnapshotValue::Json(json), Some(compress)) => {
                self.compressed(adapter::compress_json(&json, compress)?)
            }
            (SnapshotValue::Json(json), None) => JsonText::canonical(&json),
            (SnapshotValue::Luau(text), Some(compress)) => {
                self.compressed(adapter::compress_luau(&text, compress)?)
            }
            // `codec::luau` writes what `JsonText::of` would.
            (SnapshotValue::Luau(text), None) => {
                JsonText::canonical(&adapter::luau_to_json(&text)?)
            }
            (SnapshotValue::Tree(value), Some(compress)) => {
                self.compressed(adapter::compress(&value, compress)?)
            }
            (SnapshotValue::Tree(value), None) => {
                value.check_json_keys("Value").map_err(|e| e.to_string())?;
                JsonText::of(&value)
            }
        };
        // The service refuses a value over 4 MB of JSON (105), and so does every store; it is
        // refused here in the same words, before it goes into a command (a JS host could not
        // even read a command of the hundreds of MB a value may have).
        if value.as_str().len() > crate::emulator::MAX_DATA_VALUE_LEN {
            return Err("105: Serialized value exceeds 4194304 limit.".into());
        }
        metadata
            .check_json_keys("Metadata")
            .map_err(|e| e.to_string())?;
        // A Luau host's number or boolean key would be written as a string key (`"true"`), so
        // the next load gives the metadata back changed; the service refuses such metadata
        // (513), and so does this save, as the original's does.
        if let Value::Table(table) = &metadata {
            if let Some(key) = table.keys().find(|k| !matches!(k, Key::String(_))) {
                return Err(format!(
                    "Metadata[{}]: metadata keys must be strings; nothing was written",
                    key.to_luau_string()
                ));
            }
        }
        // A store that takes more (the JS stores keep what they are given) would hold a record
        // no load reads back (`wire::got`). (What else Roblox refuses, each store refuses.)
        for (text, what) in [(&metadata_text, "Metadata"), (&user_ids_text, "UserIds")] {
            let limit = crate::wire::MAX_LOADED_EXTRA_BYTES;
            if text.as_str().len() > limit {
                return Err(format!(
                    "{what}: {} bytes of JSON, more than a load reads back (at most {limit}); nothing was written",
                    text.as_str().len()
                ));
            }
        }
        let stored = Stored {
            value,
            metadata: metadata_text,
            user_ids: user_ids_text,
        };
        Ok((Payload::Set(Box::new(stored)), sent_as_is))
    }

    /// Compressed text as the value a save stores (a JSON string), kept as `CompressedValue`.
    fn compressed(&mut self, text: String) -> JsonText {
        let stored = JsonText::string(&text);
        self.compressed_value = text;
        stored
    }

    fn write_try(&mut self, io: &mut Io, payload: Payload, digest: Digest, mut attempt: Attempt) {
        if io.shutdown_over() {
            return self.save_failed(io, SHUTDOWN_DEADLINE.into());
        }
        // D8: a write must be able to land before the lock entry can expire.
        let lands_by = io.now.saturating_add(io.config.data_timeout_ms);
        if self.lock.lease_end.is_none_or(|end| lands_by > end) {
            return self.save_failed(io, LEASE_EXPIRED.into());
        }
        if self.refresh_at_risk(io, lands_by) {
            return self.save_failed(io, REFRESH_FIRST.into());
        }
        let fence = io.config.fencing.then(|| {
            self.write_seq += 1;
            Fence {
                owner: self.unique_id.clone(),
                token: self.lock.token,
                seq: self.write_seq,
            }
        });
        let command = match &payload {
            Payload::Set(stored) => Command::DataSet {
                name: self.name.clone(),
                scope: self.scope.clone(),
                key: self.key_text.clone(),
                value: stored.value.clone(),
                user_ids: stored.user_ids.clone(),
                metadata: stored.metadata.clone(),
                fence,
            },
            Payload::Remove => Command::DataRemove {
                name: self.name.clone(),
                scope: self.scope.clone(),
                key: self.key_text.clone(),
                fence,
            },
        };
        attempt.tries += 1;
        self.save_sent = true;
        attempt.command = Some(io.send(self.sid, Owner::Task, command));
        self.op = Some(Op::Save(SaveOp::Write {
            payload,
            digest,
            attempt,
        }));
    }

    pub(crate) fn save_result(&mut self, io: &mut Io, op: SaveOp, result: StoreResult) {
        let SaveOp::Write {
            payload,
            digest,
            mut attempt,
        } = op
        else {
            self.op = Some(Op::Save(op));
            return;
        };
        let message = match (&payload, result) {
            (Payload::Set(_), StoreResult::Written { version }) => {
                return self.save_succeeded(io, false, digest, Some(version))
            }
            (Payload::Remove, StoreResult::Done | StoreResult::Written { .. }) => {
                return self.save_succeeded(io, true, digest, None)
            }
            (_, StoreResult::Error(message)) => (message, true),
            (_, StoreResult::Invalid(message)) => (message, false),
            (Payload::Set(_), other) => (unexpected("DataSet", &other), true),
            (Payload::Remove, other) => (unexpected("DataRemove", &other), true),
        };
        let (message, retryable) = message;
        // A failed write may still have landed: what the store holds is unknown now.
        self.last_written = None;
        match io.retry_delay(&mut attempt, retryable) {
            Some(delay) => {
                attempt.wake = Some(io.set_timer_in(self.sid, TimerWhat::TaskOp, delay));
                self.op = Some(Op::Save(SaveOp::Write {
                    payload,
                    digest,
                    attempt,
                }));
            }
            None => {
                // The fence refused the write: the lock entry may be another server's now.
                // Look at once (a refresh that finds it lost closes the session, D22) rather
                // than at the next refresh, up to a LockInterval away, every save failing till
                // then.
                if !retryable && self.state == State::Open && crate::wire::is_fenced(&message) {
                    self.lock_timer_ended(io);
                }
                self.save_failed(io, message)
            }
        }
    }

    /// A save landed (or D16 found it already stored); `removed` when it was a `Remove`.
    fn save_succeeded(
        &mut self,
        io: &mut Io,
        removed: bool,
        digest: Digest,
        version: Option<String>,
    ) {
        self.save_time = Some(io.now);
        self.save_finished = (!self.save_sent).then_some(io.turn);
        if removed {
            self.created_time = 0.0;
            self.updated_time = 0.0;
            self.version.clear();
            io.emit(Event::MetadataReset { session: self.sid });
        } else if let Some(version) = version {
            // D1: compressed saves update Version too.
            self.version = version;
        }
        self.last_written = Some(digest);
        io.emit(Event::Saved {
            session: self.sid,
            response: Response::Saved,
            data: Data::Value,
            wrote: self.save_sent,
        });
        self.resume_task(io, OpOutcome::Save(Ok(())));
    }

    fn save_failed(&mut self, io: &mut Io, message: String) {
        self.save_finished = (!self.save_sent).then_some(io.turn);
        io.emit(Event::Saved {
            session: self.sid,
            response: Response::Error,
            data: Data::Text(message.clone()),
            wrote: false,
        });
        self.resume_task(io, OpOutcome::Save(Err(message)));
    }

    // ---- the auto-save timer (§7.3) ----

    pub(crate) fn start_save_timer(&mut self, io: &mut Io) {
        io.cancel_timer(self.save_timer.take());
        if self.props.save_interval == 0.0 {
            return;
        }
        let delay = secs_to_ms(self.props.save_interval);
        self.save_timer = Some(io.set_timer_in(self.sid, TimerWhat::Save, delay));
    }

    /// `SaveTimerEnded`: a SaveTask unless one is pending.
    pub(crate) fn save_timer_ended(&mut self, io: &mut Io) {
        if self.tasks.find_last(Kind::Save).is_none() {
            self.append(io, Kind::Save, None);
        }
    }

    // ---- Usage() (§10.3) ----

    /// [`Session::usage`] of value text when compression is on (`Module::usage_of_value_text`),
    /// refusals naming paths as Luau does; `None` without compression.
    pub(crate) fn usage_of_value_text(
        &mut self,
        text: &[u8],
        metadata: &Value,
    ) -> Option<Result<(usize, f64), String>> {
        if text.is_empty() {
            return Some(Ok((0, 0.0)));
        }
        let compress = compress_table(metadata)?;
        Some(adapter::compress_luau(text, compress).map(|compressed| {
            self.compressed_value = compressed;
            self.last_snapshot = None;
            adapter::usage_of_compressed(&self.compressed_value)
        }))
    }

    pub(crate) fn usage(
        &mut self,
        value: &Value,
        metadata: &Value,
    ) -> Result<(usize, f64), String> {
        if matches!(value, Value::Nil) {
            return Ok((0, 0.0));
        }
        match compress_table(metadata) {
            Some(compress) => {
                self.compressed_value = adapter::compress(value, compress)?;
                self.last_snapshot = None;
                Ok(adapter::usage_of_compressed(&self.compressed_value))
            }
            None => Ok(adapter::usage(value)),
        }
    }
}

/// A snapshot's `UserIds` and `Metadata` in the shapes `SetAsync` takes: an empty table is
/// either an array or a dictionary (a Luau host's `{}`; a JS host's `{}` or `[]`), and is sent
/// as the one the load reads back (`[]` for user ids, `{}` for metadata). A JS store keeps the
/// text it is given, and a load refuses the other shape: the key could not be opened again.
fn attributes_as_set(mut snapshot: Snapshot) -> Snapshot {
    if matches!(&snapshot.user_ids, Value::Table(t) if t.is_empty()) {
        snapshot.user_ids = Value::Array(Vec::new());
    }
    if matches!(&snapshot.metadata, Value::Array(a) if a.is_empty()) {
        snapshot.metadata = Value::Table(Default::default());
    }
    snapshot
}
