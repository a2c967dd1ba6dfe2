//! The original module's whole protocol as a sans-IO state machine: [`Module`] (one server's
//! sessions) and [`Session`] (one `name/scope/key`).
//!
//! # How a host drives it
//!
//! The core never waits, never reads a clock and never touches a store. The host hands it
//! inputs and carries out its outputs, in a loop that reads like str0m's:
//!
//! ```text
//! input:  module.call(now, session, Call::Open { template })   (or complete / handle_timeout /
//!         set_property / set_process_queue_connections / bind_to_close / provide_snapshot)
//! then:   loop {
//!             while let Some(event) = module.poll_event() { fire signals, resolve calls, … }
//!             while let Some((id, command)) = module.poll_command() { start the store call }
//!             if both were empty: break
//!         }
//!         sleep until module.poll_timeout(), or until a store call finishes
//!         → module.complete(now, id, result) / module.handle_timeout(now)
//! ```
//!
//! * **Time** is `now: u64` milliseconds on any monotonic clock, handed in with every input.
//!   Timers are deadlines: [`Module::poll_timeout`] says when the next one is due and
//!   [`Module::handle_timeout`] runs the due ones. A test runs hours of protocol in
//!   microseconds.
//! * **Inputs**: [`Module::open_session`] (`new`/`hidden`), [`Module::find`], [`Module::call`]
//!   (`Open`, `Read`, `Save`, `Close`, `Destroy`, `Queue`, `Remove`), [`Module::set_property`],
//!   [`Module::set_process_queue_connections`], [`Module::provide_snapshot`],
//!   [`Module::complete`], [`Module::handle_timeout`], [`Module::bind_to_close`].
//! * **Outputs**: [`Module::poll_command`] (the storage primitives of the architecture's command
//!   table), [`Module::poll_event`] (signal firings, call completions, values to install) and
//!   [`Module::poll_timeout`].
//!
//! # Who owns what
//!
//! The host owns `Value`, `Metadata` and `UserIds`: users mutate them in place
//! (`ds.Value.Coins += 1`, `ds.Metadata.Compress = {…}`), so they live in the host's own objects.
//! The core asks for them right when it needs them: a save emits [`Event::Saving`]; the host fires
//! its `Saving` signal synchronously (handlers may still change the value) and then hands the
//! core a [`Snapshot`] with [`Module::provide_snapshot`]. After a load the core emits
//! [`Event::Loaded`] with the loaded, template-reconciled value for the host to install. On the
//! `Open` fast path the template must fill the host's table in place, so the answer is
//! [`CallOutcome::Done`] with `reconcile: Some(template)`: the host reconciles its own value
//! with it (`template::template_patch` gives the steps) before returning `"Success"`.
//! Everything else — the numeric properties, `State`, `AttemptsRemaining`, `Version`, … — lives
//! here and is read through [`Session`]'s getters.
//!
//! # The original's API, piece by piece
//!
//! | original | host does |
//! |---|---|
//! | `new` / `hidden` / `find` | [`Module::open_session`] (16 random bytes for the UniqueId) / [`Module::find`]; argument normalisation (`new(name, key)` = scope `"global"`) |
//! | `Open`…`Remove` | [`Module::call`]; on [`CallOutcome::Done`] return at once (after reconciling, if asked); on `Pending` suspend until [`Event::CallDone`]. Argument type errors of `Queue`/`Remove`: [`properties::QUEUE_ARGUMENT_ERROR`], [`properties::REMOVE_ARGUMENT_ERROR`] |
//! | property writes | [`Module::set_property`]; throw the error's message; store the value itself on [`Assigned::Host`] |
//! | property reads | [`Session`]'s getters; `Value`, `Metadata`, `UserIds` and custom fields are the host's own |
//! | signals | fire on the matching [`Event`]; report the ProcessQueue connection count (the `Connected` hook) with [`Module::set_process_queue_connections`] |
//! | `Clone`, `Reconcile` | the host's own value with `template` (deep copy; `template_patch`) |
//! | `Usage` | [`Module::usage`] |
//! | `game:BindToClose` / `SIGTERM` | [`Module::bind_to_close`], then wait for [`Event::BindToCloseDone`] |
//!
//! # Deferred work
//!
//! The original starts task workers, queue-reading loops and waiter resumes with `task.defer`:
//! after the current thread yields. Here that moment is "when the host has drained every event
//! so far": [`Module::poll_event`] runs deferred work only while its event queue is empty. So a
//! host that makes two calls in one turn (two `Save()`s) gets them batched into one task, and
//! signal handlers always run before the next task starts, as in the original.
//!
//! # Failure
//!
//! Nothing here panics (the wasm has no unwinding; a trap would kill every session). Every
//! store command has a deadline: one that never completes is treated as a failed try when the
//! deadline passes, and its late completion is ignored. So no store can wedge a session, and
//! every call resolves.
//!
//! Files: `task` (the FIFO queue, batching, pending states), `flow` (the method decision
//! tables and the task functions), `lock` (lock, unlock, refresh grid), `save` (load, save,
//! timers), `queue` (Queue, Remove, the ProcessQueue loop), `properties` (validation),
//! `retry` (D14 retries, jitter), `io` (the outbox and the timer set).

mod adapter;
mod flow;
mod io;
mod lock;
pub mod properties;
mod queue;
mod retry;
mod save;
mod task;

pub use crate::fence::Fence;
use crate::value::{luau_number_to_string, JsonText, Table, Value};
use std::collections::{BTreeMap, BTreeSet};

pub use lock::LEASE_LAPSED;
pub use properties::{Assigned, Input, PropertyError, PropertyErrorKind};
pub use save::{LEASE_EXPIRED, REFRESH_FIRST, SHUTDOWN_DEADLINE};

use io::{Deferred, Io, Shutdown, TimerWhat};
use task::TaskQueue;

/// A session handle, stable for the module's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// One pending method call; its answer comes as [`Event::CallDone`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// One storage command; the host answers it with [`Module::complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u64);

/// The stored session state (`State` property): `true`, `false` or `nil` in Luau.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
    Destroyed,
}

impl State {
    /// `Some(true)` open, `Some(false)` closed, `None` destroyed (the Luau `nil`).
    pub fn as_option(self) -> Option<bool> {
        match self {
            State::Open => Some(true),
            State::Closed => Some(false),
            State::Destroyed => None,
        }
    }
}

/// The first value of every `(response, responseData)` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    Success,
    Saved,
    Locked,
    State,
    Error,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Success => "Success",
            Response::Saved => "Saved",
            Response::Locked => "Locked",
            Response::State => "State",
            Response::Error => "Error",
        }
    }
}

/// The second value of a response pair.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `nil`.
    None,
    /// The session's `Value`: the host passes its own live value (the original returns the
    /// table itself, not a copy).
    Value,
    /// A lock holder's UniqueId, a state name (`"Closing"`) or an error message.
    Text(String),
}

/// A `(response, responseData)` pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub response: Response,
    pub data: Data,
}

impl Reply {
    pub fn success() -> Reply {
        Reply {
            response: Response::Success,
            data: Data::None,
        }
    }

    pub fn saved() -> Reply {
        Reply {
            response: Response::Saved,
            data: Data::Value,
        }
    }

    pub fn state(name: &str) -> Reply {
        Reply {
            response: Response::State,
            data: Data::Text(name.to_owned()),
        }
    }

    pub fn locked(holder: String) -> Reply {
        Reply {
            response: Response::Locked,
            data: Data::Text(holder),
        }
    }

    pub fn error(message: String) -> Reply {
        Reply {
            response: Response::Error,
            data: Data::Text(message),
        }
    }
}

/// A method call on a session.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Open {
        template: Option<Value>,
    },
    Read {
        template: Option<Value>,
    },
    Save,
    Close,
    Destroy,
    /// `expiration` and `priority` are `nil` or numbers; the host rejects other types with
    /// [`properties::QUEUE_ARGUMENT_ERROR`].
    Queue {
        value: Value,
        expiration: Option<f64>,
        priority: Option<f64>,
    },
    /// The host rejects a non-string id with [`properties::REMOVE_ARGUMENT_ERROR`].
    Remove {
        id: String,
    },
}

/// What [`Module::call`] answers.
#[derive(Clone, Debug, PartialEq)]
pub enum CallOutcome {
    /// Answered at once, without suspending (the original returns without yielding). When
    /// `reconcile` is set (the `Open(template)` fast path), the host first applies that
    /// template to its own value, in place (§10.1), then returns the reply.
    Done {
        reply: Reply,
        reconcile: Option<Value>,
    },
    /// The caller suspends; [`Event::CallDone`] with this id resumes it.
    Pending(CallId),
}

/// What the host hands over before a save: its live `Value`, `Metadata` and `UserIds`,
/// converted right after the `Saving` signal's handlers ran.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub value: SnapshotValue,
    pub metadata: Value,
    pub user_ids: Value,
    /// The host's word that these are, byte for byte, the texts of the last snapshot it handed
    /// this session (a Luau host compares its interned strings for free). The core then takes
    /// that snapshot's payload digest instead of building the payload again (issue 13: a Close
    /// after a Save transcoded the whole value only to find it unchanged), when it still has
    /// one; otherwise it reads these texts as usual. A host that cannot tell sends `false`.
    pub same_texts: bool,
}

/// A snapshot's `Value`: a tree, or the text a host writes. A JS host's JSON is stored as it
/// is when it is already what the core would write (`codec::json::is_canonical`), and read
/// into a tree only when not (issue 12: the tree cost most of a save's CPU). A Luau host's
/// value text is transcoded straight to what the save stores (`codec::luau`), and read into a
/// tree only when it is unusual (issue 13).
#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotValue {
    Tree(Value),
    Json(String),
    /// The Luau value text (`Value::from_luau_text`); empty is nil.
    Luau(Vec<u8>),
}

impl From<Value> for SnapshotValue {
    fn from(value: Value) -> SnapshotValue {
        SnapshotValue::Tree(value)
    }
}

/// The value of [`Event::Loaded`]: a tree, or, when the stored data was compressed and JSON
/// carries it exactly (every table a sequence or keyed by strings) and no template changes it,
/// the JSON text written straight from the compressed text (`codec::json`; issue 13: building
/// the tree only to write it out again was most of a load's cost). Hosts write both alike.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadedValue {
    Tree(Value),
    /// Exactly `Value::to_json_string` of the tree the decoder would build, nesting at most
    /// `MAX_DEPTH - 1` tables: every way to it (`codec::json::is_canonical`, the streaming
    /// decompressor, `template::apply_template_json`) leaves a value nested deeper to the tree,
    /// so a host's JSON reader with a `MAX_DEPTH` limit reads it inside an event's object.
    Json(String),
}

impl LoadedValue {
    /// A stored value's JSON text: kept as text when it is already what the core would write
    /// (`codec::json::is_canonical`), read into a tree only when not. A load that applies no
    /// template then hands the host the text it read, with no tree built and written out again
    /// (issue 12: that round trip was a third of the core's work in a JS cycle).
    pub fn from_stored_json(json: &str, root: &str) -> Result<LoadedValue, String> {
        if crate::codec::json::is_canonical(json) {
            return Ok(LoadedValue::Json(json.to_owned()));
        }
        Value::from_json_str(json, root)
            .map(LoadedValue::Tree)
            .map_err(|e| e.to_string())
    }

    /// The value as a tree (JSON text read back: it is what `Value::to_json_string` wrote, so
    /// an error here is a core bug, reported rather than read as nil).
    pub fn into_tree(self) -> Result<Value, String> {
        match self {
            LoadedValue::Tree(value) => Ok(value),
            LoadedValue::Json(json) => {
                Value::from_json_str(&json, "Value").map_err(|e| e.to_string())
            }
        }
    }
}

/// A storage primitive for the host to execute (the architecture's command table).
// A command lives from `poll_command` to the host's store call; `DataSet` (three values and a
// fence) is most of them, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `GetAsync(key)` → [`StoreResult::Got`].
    DataGet {
        name: String,
        scope: String,
        key: String,
    },
    /// `SetAsync(key, value, userIds, options with metadata)` → [`StoreResult::Written`].
    /// With `fence`, a store that can fence applies it only while the lock entry of `Id` is
    /// that owner's acquisition and no newer write of it has landed ([`crate::fence`]).
    DataSet {
        name: String,
        scope: String,
        key: String,
        value: JsonText,
        user_ids: JsonText,
        metadata: JsonText,
        fence: Option<Fence>,
    },
    /// `RemoveAsync(key)` → [`StoreResult::Done`].
    DataRemove {
        name: String,
        scope: String,
        key: String,
        fence: Option<Fence>,
    },
    /// Sorted map `map`, entry `"Id"` (value `owner`, sort key `token`), by the table in
    /// [`crate::fence`]: a new acquisition (`held` is `None`) or a refresh of the acquisition
    /// whose last known token is `held`, for `ttl_s` seconds → [`StoreResult::Acquired`],
    /// [`StoreResult::Locked`] or (a refresh whose entry is gone) [`StoreResult::Lapsed`].
    ///
    /// With `load` (a new acquisition by `Open`, on a store that offers it:
    /// [`Config::load_with_lock`]), the same request then reads that data key as `DataGet`
    /// does, after the acquisition has applied, and an acquisition answers
    /// [`StoreResult::AcquiredAndGot`]. One round trip instead of two.
    LockAcquire {
        map: String,
        owner: String,
        token: u64,
        held: Option<u64>,
        ttl_s: f64,
        load: Option<DataKey>,
    },
    /// Delete entry `"Id"` of `map` if it is `owner`'s and of the acquisition of `token`
    /// (expiry 0) → any result; ignored.
    LockRelease {
        map: String,
        owner: String,
        token: u64,
    },
    /// `Queue:AddAsync(value, expiration, priority)` → [`StoreResult::Done`].
    QueueAdd {
        queue: String,
        value: Value,
        expiration: f64,
        priority: f64,
    },
    /// `Queue:ReadAsync(count, allOrNothing, waitTimeout)` → [`StoreResult::Read`]. A long
    /// poll: the store may wait up to `wait_s` for items.
    QueueRead {
        queue: String,
        count: u32,
        all_or_nothing: bool,
        wait_s: f64,
    },
    /// `Queue:RemoveAsync(readId)` → [`StoreResult::Done`].
    QueueRemove { queue: String, read_id: String },
}

/// A data key: what `DataGet` names, and what a [`Command::LockAcquire`] that also loads
/// names.
#[derive(Clone, Debug, PartialEq)]
pub struct DataKey {
    pub name: String,
    pub scope: String,
    pub key: String,
}

impl Command {
    /// A short name for messages ("DataSet timed out").
    pub fn name(&self) -> &'static str {
        match self {
            Command::DataGet { .. } => "DataGet",
            Command::DataSet { .. } => "DataSet",
            Command::DataRemove { .. } => "DataRemove",
            Command::LockAcquire { .. } => "LockAcquire",
            Command::LockRelease { .. } => "LockRelease",
            Command::QueueAdd { .. } => "QueueAdd",
            Command::QueueRead { .. } => "QueueRead",
            Command::QueueRemove { .. } => "QueueRemove",
        }
    }
}

/// `DataStoreKeyInfo`: what a read learns besides the value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyInfo {
    pub version: String,
    /// Milliseconds since the epoch.
    pub created_time: f64,
    pub updated_time: f64,
    pub user_ids: Value,
    pub metadata: Value,
}

/// The host's answer to a [`Command`].
// Results live for one call of `complete`; boxing the big one would only cost an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum StoreResult {
    /// `DataGet`: the stored value (nil when absent) and its key info (`None` when the key
    /// does not exist).
    Got {
        value: LoadedValue,
        info: Option<KeyInfo>,
    },
    /// `DataSet`: the new version.
    Written { version: String },
    /// `DataRemove`, `LockRelease`, `QueueAdd`, `QueueRemove`.
    Done,
    /// `LockAcquire`: the entry now holds our UniqueId.
    Acquired,
    /// `LockAcquire` with `load`: the entry now holds our UniqueId, and the read that followed
    /// it answered this (`Got`, or the read's own `Error` or `Invalid`).
    AcquiredAndGot(Box<StoreResult>),
    /// `LockAcquire` (or `LockRelease`): someone else holds the entry.
    Locked { holder: String },
    /// `LockAcquire` with `renew`: the entry is gone or belongs to another acquisition, so
    /// the lease lapsed at the store (D22). Nothing was written.
    Lapsed,
    /// `QueueRead`: the items and the read id (`None` when nothing was read).
    Read {
        values: Vec<Value>,
        read_id: Option<String>,
    },
    /// The call failed and may succeed if sent again (network, throttling, a timeout, …).
    Error(String),
    /// The store refused the request for good (D19: a bad argument, a value over a limit, a
    /// fenced write): answered at once, never retried.
    Invalid(String),
}

impl StoreResult {
    /// The result's kind, for messages (`"Got"`, `"Acquired"`, …): never the values it carries.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreResult::Got { .. } => "Got",
            StoreResult::Written { .. } => "Written",
            StoreResult::Done => "Done",
            StoreResult::Acquired => "Acquired",
            StoreResult::AcquiredAndGot(_) => "AcquiredAndGot",
            StoreResult::Locked { .. } => "Locked",
            StoreResult::Lapsed => "Lapsed",
            StoreResult::Read { .. } => "Read",
            StoreResult::Error(_) => "Error",
            StoreResult::Invalid(_) => "Invalid",
        }
    }

    /// A failure's message and whether the same request may succeed if sent again; `None` for
    /// an answer.
    pub(crate) fn failure(&self) -> Option<(&str, bool)> {
        match self {
            StoreResult::Error(message) => Some((message, true)),
            StoreResult::Invalid(message) => Some((message, false)),
            _ => None,
        }
    }
}

/// What the host must do or fire. Events come out in the order the original fires them.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A load finished: set the session's `Value`, `Metadata` and `UserIds` to these (new
    /// tables; the load replaces them entirely). The templates of every caller are applied.
    Loaded {
        session: SessionId,
        value: LoadedValue,
        metadata: Value,
        user_ids: Value,
    },
    /// A save removed the key: set `Metadata = {}` and `UserIds = {}`.
    MetadataReset { session: SessionId },
    /// Fire `StateChanged(state, session)`.
    StateChanged { session: SessionId, state: State },
    /// Fire `Saving(Value, session)` now, then call [`Module::provide_snapshot`].
    Saving { session: SessionId },
    /// Fire `Saved(response, data, session)`.
    Saved {
        session: SessionId,
        response: Response,
        data: Data,
        /// A data write (or remove) went out for this save and landed; `false` for one that
        /// answered without a store call (D16: nothing new) or failed. Hosts count saves by it.
        wrote: bool,
    },
    /// Fire `AttemptsChanged(remaining, session)`.
    AttemptsChanged { session: SessionId, remaining: i64 },
    /// Fire `ProcessQueue(id, values, session)`.
    ProcessQueue {
        session: SessionId,
        id: String,
        values: Vec<Value>,
    },
    /// `DisconnectAll` on StateChanged, Saving, Saved, AttemptsChanged and ProcessQueue, in
    /// that order (the session was destroyed).
    DisconnectAll { session: SessionId },
    /// The ProcessQueue loop's read `command` (a long poll) is no longer wanted: the session
    /// closed or nobody listens. A host that can should end it now with whatever it has read
    /// (nothing, usually): left to run, it would take the next holder's items and hide them
    /// for 30 s. Its result still completes the command. Roblox's `ReadAsync` cannot be
    /// stopped, so a Luau host ignores this.
    ReadUnwanted {
        session: SessionId,
        command: CommandId,
    },
    /// Resume the caller of `call` with `reply`.
    CallDone {
        call: CallId,
        session: SessionId,
        reply: Reply,
    },
    /// `bind_to_close` has finished: every registered session is destroyed, within the
    /// shutdown deadline (D18); the report says which saved and which did not.
    BindToCloseDone(ShutdownReport),
}

/// Module settings. Timeouts bound how long the core waits for a store before it treats a
/// command as failed.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Seeds the jitter of retries and backoff (host randomness).
    pub seed: u64,
    /// The store can fence data writes by lock owner (LMDB, Redis, the emulator; not Roblox).
    pub fencing: bool,
    /// The store can read a data key in the request that acquires the lock, after the
    /// acquisition applied (Redis: one script; not Roblox, whose MemoryStore and DataStore are
    /// separate services). `Open` then sends one `LockAcquire` with `load` instead of a
    /// `LockAcquire` and then a `DataGet`. Used only with `fencing`: the read is then as fresh
    /// as a `DataGet` sent after the answer, since a late write of the previous holder is
    /// refused either way; without the fence such a write could land after an earlier read.
    pub load_with_lock: bool,
    /// The host holds values as JSON (JS: objects have string keys only). A load whose value
    /// has a table keyed both `1` and `"1"` (or `true` and `"true"`), which a Luau server's
    /// compressed save keeps, then fails, naming the table, instead of reaching the host with
    /// one of the two entries gone (a save would then store the value without it).
    pub json_host: bool,
    /// Deadline for `DataGet`, `DataSet` and `DataRemove`. A save is only sent while the lock
    /// lease has at least this much room left (D8).
    pub data_timeout_ms: u64,
    /// Deadline for `LockAcquire`, `LockRelease`, `QueueAdd` and `QueueRemove`.
    pub memory_timeout_ms: u64,
    /// `QueueRead` may take its `wait_s` plus this.
    pub queue_read_grace_ms: u64,
    /// How long the core waits for [`Module::provide_snapshot`] after [`Event::Saving`].
    pub snapshot_timeout_ms: u64,
    /// D18: bind-to-close finishes within this long. Store calls, retries and waits are cut
    /// to fit; what has not finished by then answers `Error`. Roblox gives 30 s.
    pub shutdown_deadline_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            fencing: false,
            load_with_lock: false,
            json_host: false,
            data_timeout_ms: 15_000,
            memory_timeout_ms: 10_000,
            queue_read_grace_ms: 10_000,
            snapshot_timeout_ms: 15_000,
            shutdown_deadline_ms: 25_000,
        }
    }
}

/// What bind-to-close did (D18): how many sessions it closed, how many of those saved, and the
/// `(Id, message)` of each that did not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShutdownReport {
    pub closed: u32,
    pub saved: u32,
    pub failed: Vec<(String, String)>,
}

/// The session handle was never issued or has been released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownSession;

impl std::fmt::Display for UnknownSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unknown session")
    }
}

impl std::error::Error for UnknownSession {}

/// The numeric and boolean properties the core owns (§3.2 defaults).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Props {
    pub save_interval: f64,
    pub save_delay: f64,
    pub lock_interval: f64,
    pub lock_attempts: f64,
    pub save_on_close: bool,
}

impl Default for Props {
    fn default() -> Self {
        Props {
            save_interval: 30.0,
            save_delay: 0.0,
            lock_interval: 60.0,
            lock_attempts: 5.0,
            save_on_close: true,
        }
    }
}

/// One session: its identity, properties and protocol state. Read it through
/// [`Module::session`]; change it through the module.
#[derive(Debug)]
pub struct Session {
    pub(crate) sid: SessionId,
    pub(crate) name: String,
    pub(crate) scope: String,
    pub(crate) key: Value,
    pub(crate) key_text: String,
    pub(crate) id: String,
    pub(crate) unique_id: String,
    pub(crate) hidden: bool,
    pub(crate) state: State,
    pub(crate) props: Props,
    pub(crate) attempts_remaining: i64,
    pub(crate) created_time: f64,
    pub(crate) updated_time: f64,
    pub(crate) version: String,
    pub(crate) compressed_value: String,
    /// Lock bookkeeping (§3.3, §8).
    pub(crate) lock: lock::LockState,
    /// When the last successful save or remove finished (`SaveTime`; `None` = −∞).
    pub(crate) save_time: Option<u64>,
    /// The host timer turn ([`Io::turn`]) in which the last save finished, if it finished
    /// without a store call (D16 skip, D8 lease, a value the host could not convert): the next
    /// save waits for a later turn, so a `Saved` handler that saves again cannot spin.
    pub(crate) save_finished: Option<u64>,
    /// Whether the save in progress has sent a store command.
    pub(crate) save_sent: bool,
    pub(crate) save_timer: Option<io::TimerKey>,
    pub(crate) tasks: TaskQueue,
    /// The running task's I/O.
    pub(crate) op: Option<flow::Op>,
    /// The digest of what the last successful write stored (D16); `None` when unknown.
    pub(crate) last_written: Option<save::Digest>,
    /// The digest of the payload built from the last snapshot the host handed over, while
    /// [`Snapshot::same_texts`] may stand for it; `None` when that snapshot built none, or when
    /// `CompressedValue` has changed since (a load, `Usage()`).
    pub(crate) last_snapshot: Option<save::Digest>,
    /// The fence sequence of the last data write try sent ([`crate::fence`]).
    pub(crate) write_seq: u64,
    /// The session closed because its lease lapsed (D22); saves queued before that answer the
    /// lapse. Cleared by the next open.
    pub(crate) lapsed: bool,
    /// `Queue` and `Remove` calls in flight (they run beside the task queue).
    pub(crate) free_ops: queue::FreeOps,
    pub(crate) process_queue: queue::ProcessQueueLoop,
}

impl Session {
    /// `Id`: `name/scope/key`.
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn scope(&self) -> &str {
        &self.scope
    }
    /// `Key` as it was passed (a number stays a number).
    pub fn key(&self) -> &Value {
        &self.key
    }
    /// The key as the store sees it (numbers in decimal).
    pub fn key_text(&self) -> &str {
        &self.key_text
    }
    pub fn unique_id(&self) -> &str {
        &self.unique_id
    }
    pub fn hidden(&self) -> bool {
        self.hidden
    }
    pub fn state(&self) -> State {
        self.state
    }
    pub fn save_interval(&self) -> f64 {
        self.props.save_interval
    }
    pub fn save_delay(&self) -> f64 {
        self.props.save_delay
    }
    pub fn lock_interval(&self) -> f64 {
        self.props.lock_interval
    }
    pub fn lock_attempts(&self) -> f64 {
        self.props.lock_attempts
    }
    pub fn save_on_close(&self) -> bool {
        self.props.save_on_close
    }
    pub fn attempts_remaining(&self) -> i64 {
        self.attempts_remaining
    }
    /// Milliseconds since the epoch; set by loads only.
    pub fn created_time(&self) -> f64 {
        self.created_time
    }
    pub fn updated_time(&self) -> f64 {
        self.updated_time
    }
    pub fn version(&self) -> &str {
        &self.version
    }
    pub fn compressed_value(&self) -> &str {
        &self.compressed_value
    }
    /// Tasks queued plus the one running (the TaskManager's `Tasks`).
    pub fn tasks(&self) -> usize {
        self.tasks.len()
    }
    /// Whether the session has nothing in flight: no task, no Queue/Remove call and no
    /// queue read.
    pub fn is_idle(&self) -> bool {
        self.tasks.len() == 0 && self.free_ops.is_empty() && !self.process_queue.is_busy()
    }
}

/// One server's sessions: the `new`/`find` cache, hidden sessions, the bind-to-close registry,
/// and everything in flight.
pub struct Module {
    io: Io,
    sessions: BTreeMap<SessionId, Session>,
    /// `new`/`find`'s cache, keyed by `Id`.
    cache: BTreeMap<String, SessionId>,
    /// Sessions bind-to-close waits for (ids grow, so this is creation order).
    registry: BTreeSet<SessionId>,
    /// Bind-to-close has started: new sessions are no longer registered.
    closing: bool,
    close_done_sent: bool,
    next_session: u64,
}

impl Module {
    pub fn new(config: Config) -> Module {
        Module {
            io: Io::new(config),
            sessions: BTreeMap::new(),
            cache: BTreeMap::new(),
            registry: BTreeSet::new(),
            closing: false,
            close_done_sent: false,
            next_session: 1,
        }
    }

    /// `new(...)` (`hidden == false`): the cached session for this Id, or a new one that is
    /// cached. `hidden(...)` (`hidden == true`): always a new session, never cached. `args` are
    /// the constructor's arguments as passed (§2, see [`SessionArgs::from_args`]). A new session
    /// gets a UniqueId made from `random_bytes` (upper-case v4 UUID) and is registered for
    /// bind-to-close unless that has started.
    pub fn open_session(
        &mut self,
        now: u64,
        args: &[Value],
        hidden: bool,
        random_bytes: [u8; 16],
    ) -> Result<SessionId, String> {
        self.io.advance(now);
        let SessionArgs {
            name,
            scope,
            key,
            key_text,
            id,
        } = SessionArgs::from_args(args)?;
        if !hidden {
            if let Some(&sid) = self.cache.get(&id) {
                return Ok(sid);
            }
        }
        let sid = SessionId(self.next_session);
        self.next_session += 1;
        let unique_id = uuid::Builder::from_random_bytes(random_bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
            .to_ascii_uppercase();
        let session = Session {
            sid,
            name,
            scope,
            key,
            key_text,
            id: id.clone(),
            unique_id,
            hidden,
            state: State::Closed,
            props: Props::default(),
            attempts_remaining: 0,
            created_time: 0.0,
            updated_time: 0.0,
            version: String::new(),
            compressed_value: String::new(),
            lock: lock::LockState::default(),
            save_time: None,
            save_finished: None,
            save_sent: false,
            save_timer: None,
            tasks: TaskQueue::default(),
            op: None,
            last_written: None,
            last_snapshot: None,
            write_seq: 0,
            lapsed: false,
            free_ops: queue::FreeOps::default(),
            process_queue: queue::ProcessQueueLoop::default(),
        };
        self.sessions.insert(sid, session);
        if !hidden {
            self.cache.insert(id, sid);
        }
        if !self.closing {
            self.registry.insert(sid);
        }
        Ok(sid)
    }

    /// `find(...)`: the cached session, if any. No side effects. `args` as for
    /// [`Module::open_session`].
    pub fn find(&self, args: &[Value]) -> Result<Option<SessionId>, String> {
        let id = SessionArgs::from_args(args)?.id;
        Ok(self.cache.get(&id).copied())
    }

    /// A session's properties. Changes after any input.
    pub fn session(&self, session: SessionId) -> Option<&Session> {
        self.sessions.get(&session)
    }

    /// A method call (§5.3, §11). `Open`, `Read`, `Save`, `Close` and `Destroy` answer at once
    /// when the decision table says so; otherwise, and always for `Queue` and `Remove`, the
    /// answer comes later as [`Event::CallDone`].
    pub fn call(
        &mut self,
        now: u64,
        session: SessionId,
        call: Call,
    ) -> Result<CallOutcome, UnknownSession> {
        self.io.advance(now);
        let s = self.sessions.get_mut(&session).ok_or(UnknownSession)?;
        let io = &mut self.io;
        let outcome = match call {
            Call::Open { template } => s.call_open(io, template),
            Call::Read { template } => s.call_read(io, template),
            Call::Save => s.call_save(io),
            Call::Close => s.call_close(io),
            Call::Destroy => {
                if s.state != State::Destroyed && self.cache.get(&s.id) == Some(&session) {
                    // D2: only the session itself leaves the cache.
                    self.cache.remove(&s.id);
                }
                s.call_destroy(io)
            }
            Call::Queue {
                value,
                expiration,
                priority,
            } => s.call_queue(io, value, expiration, priority),
            Call::Remove { id } => s.call_remove(io, id),
        };
        self.settle();
        Ok(outcome)
    }

    /// Assigns a property (`ds[name] = value`) after the original's checks (§3.2, D11, D12).
    /// `Ok(Assigned::Host)`: the host stores the value itself (`Value`, `Metadata`, `UserIds`,
    /// custom fields). `Err`: the host throws the message.
    pub fn set_property(
        &mut self,
        now: u64,
        session: SessionId,
        name: &str,
        value: Input,
    ) -> Result<Assigned, PropertyError> {
        self.io.advance(now);
        let Some(s) = self.sessions.get_mut(&session) else {
            return Err(PropertyError::unknown_session());
        };
        let result = s.set_property(&mut self.io, name, value);
        self.settle();
        result
    }

    /// The ProcessQueue signal's connection count (`Wait()` counts too). Going from 0 to more
    /// starts the queue-reading loop (deferred) if the session is open; 0 stops it after the
    /// read in flight.
    pub fn set_process_queue_connections(
        &mut self,
        now: u64,
        session: SessionId,
        connections: usize,
    ) -> Result<(), UnknownSession> {
        self.io.advance(now);
        let s = self.sessions.get_mut(&session).ok_or(UnknownSession)?;
        let before = s.process_queue.connections;
        s.process_queue.connections = connections;
        if before == 0 && connections > 0 {
            self.io.defer(Deferred::StartProcessQueue(session));
        }
        s.end_unwanted_read(&mut self.io);
        Ok(())
    }

    /// Hands over the value after [`Event::Saving`]: `Err(message)` when the host could not
    /// convert it (the save then answers `"Error"` with the message and `Saved("Error", …)`
    /// fires). Returns false when that session was not waiting for one.
    pub fn provide_snapshot(
        &mut self,
        now: u64,
        session: SessionId,
        snapshot: Result<Snapshot, String>,
    ) -> bool {
        self.io.advance(now);
        let Some(s) = self.sessions.get_mut(&session) else {
            return false;
        };
        let taken = s.provide_snapshot(&mut self.io, snapshot);
        self.settle();
        taken
    }

    /// `Usage()` (§10.3) for the host's current value and metadata: `(characters, fraction of
    /// the 4 MB limit)`. With compression on, it recomputes `CompressedValue` first, as the
    /// original does.
    pub fn usage(
        &mut self,
        session: SessionId,
        value: &Value,
        metadata: &Value,
    ) -> Result<(usize, f64), String> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or_else(|| UnknownSession.to_string())?;
        s.usage(value, metadata)
    }

    /// [`Module::usage`] for a value given as Luau value text, when the session exists and the
    /// value is nil or compression is on (refusals then name paths as Luau does, `Value[1]`).
    /// `None` otherwise: [`Module::usage`] with the value read into a tree then gives the
    /// answer, or the error.
    pub fn usage_of_value_text(
        &mut self,
        session: SessionId,
        text: &[u8],
        metadata: &Value,
    ) -> Option<Result<(usize, f64), String>> {
        self.sessions
            .get_mut(&session)?
            .usage_of_value_text(text, metadata)
    }

    /// The host's answer to a command. Returns false (and does nothing) for an unknown or
    /// expired command: a completion that arrives after the command's deadline is ignored.
    pub fn complete(&mut self, now: u64, command: CommandId, result: StoreResult) -> bool {
        self.io.advance(now);
        let Some(flight) = self.io.take_in_flight(command) else {
            return false;
        };
        if let Some(s) = self.sessions.get_mut(&flight.session) {
            s.on_result(&mut self.io, flight.owner, command, result);
        }
        self.settle();
        true
    }

    /// Runs every timer due at `now`: save and lock timers, retry backoffs, `SaveDelay`
    /// waits, queue-loop backoff, and command deadlines (an expired command counts as a failed
    /// try).
    pub fn handle_timeout(&mut self, now: u64) {
        self.io.advance(now);
        self.io.turn += 1;
        while let Some((session, what)) = self.io.pop_due_timer() {
            let Some(s) = self.sessions.get_mut(&session) else {
                continue;
            };
            match what {
                TimerWhat::Command(command) => {
                    if let Some(flight) = self.io.take_in_flight(command) {
                        let message =
                            format!("{} timed out after {} ms", flight.name, flight.timeout_ms);
                        s.on_result(
                            &mut self.io,
                            flight.owner,
                            command,
                            StoreResult::Error(message),
                        );
                    }
                }
                TimerWhat::Save => {
                    s.save_timer = None;
                    s.save_timer_ended(&mut self.io);
                }
                TimerWhat::Lock => {
                    s.lock.timer = None;
                    s.lock_timer_ended(&mut self.io);
                }
                TimerWhat::TaskOp => s.on_task_wake(&mut self.io),
                TimerWhat::FreeOp(call) => s.on_free_wake(&mut self.io, call),
                TimerWhat::ProcessQueue => s.on_process_queue_wake(&mut self.io),
            }
            self.settle();
        }
    }

    /// Bind-to-close (§12): stops registering new sessions; every registered session that is
    /// not destroyed leaves the cache, stops its timers and gets a DestroyTask unless one is
    /// pending. [`Event::BindToCloseDone`] comes once every registered session is destroyed
    /// (at once if there are none); [`Module::bind_to_close_done`] says the same.
    ///
    /// A later call covers the sessions made since the first (they are not registered) and
    /// announces [`Event::BindToCloseDone`] again once they too are destroyed, so every caller
    /// gets an answer. A call while a round runs keeps that round's deadline; one after it has
    /// ended starts a new round with a deadline of its own (the sessions made since worked
    /// without one: the deadline bounds the shutdown's work, not the module's for good).
    pub fn bind_to_close(&mut self, now: u64) {
        self.io.advance(now);
        if self.closing {
            for (&sid, s) in &self.sessions {
                if s.state != State::Destroyed {
                    self.registry.insert(sid);
                }
            }
            self.close_done_sent = false;
        }
        self.closing = true;
        let deadline = self
            .io
            .now
            .saturating_add(self.io.config.shutdown_deadline_ms);
        let shutdown = self.io.shutdown.get_or_insert_with(|| Shutdown {
            deadline: None,
            report: ShutdownReport::default(),
        });
        shutdown.deadline.get_or_insert(deadline);
        let registered: Vec<SessionId> = self.registry.iter().copied().collect();
        for sid in registered {
            let Some(s) = self.sessions.get_mut(&sid) else {
                continue;
            };
            if s.state == State::Destroyed {
                continue;
            }
            if self.cache.get(&s.id) == Some(&sid) {
                self.cache.remove(&s.id);
            }
            s.bind_to_close(&mut self.io);
        }
        self.settle();
    }

    /// Bind-to-close has started and every registered session is destroyed.
    pub fn bind_to_close_done(&self) -> bool {
        self.closing && self.registry.is_empty()
    }

    /// Forgets a destroyed session with nothing in flight (the host dropped its object).
    /// Returns whether it was forgotten.
    pub fn release(&mut self, session: SessionId) -> bool {
        let removable = self
            .sessions
            .get(&session)
            .is_some_and(|s| s.state == State::Destroyed && s.is_idle());
        if removable {
            self.sessions.remove(&session);
        }
        removable
    }

    /// The next event. Deferred work (task workers, queue-loop starts) runs here, and only
    /// while no earlier event is waiting, so handlers always run before it. The answer can
    /// change after any input and after each call of this method.
    pub fn poll_event(&mut self) -> Option<Event> {
        while self.io.events.is_empty() {
            let Some(deferred) = self.io.deferred.pop_front() else {
                break;
            };
            let sid = match deferred {
                Deferred::RunWorker(sid) | Deferred::StartProcessQueue(sid) => sid,
            };
            if let Some(s) = self.sessions.get_mut(&sid) {
                match deferred {
                    Deferred::RunWorker(_) => s.run_worker(&mut self.io),
                    Deferred::StartProcessQueue(_) => s.start_process_queue(&mut self.io),
                }
            }
            self.settle();
        }
        self.io.events.pop_front()
    }

    /// The next storage command to execute. The answer can change after any input and after
    /// [`Module::poll_event`].
    pub fn poll_command(&mut self) -> Option<(CommandId, Command)> {
        self.io.commands.pop_front()
    }

    /// When [`Module::handle_timeout`] should next be called. The answer can change after any
    /// input and after [`Module::poll_event`]. While deferred work waits for
    /// [`Module::poll_event`], it is the current time.
    pub fn poll_timeout(&self) -> Option<u64> {
        if !self.io.deferred.is_empty() {
            return Some(self.io.now);
        }
        self.io.next_deadline()
    }

    /// Book-keeping after any step: finished DestroyTasks leave the registry, and the end of
    /// bind-to-close is announced once.
    fn settle(&mut self) {
        for sid in std::mem::take(&mut self.io.destroyed) {
            self.registry.remove(&sid);
        }
        if self.closing && self.registry.is_empty() && !self.close_done_sent {
            self.close_done_sent = true;
            let report = match &mut self.io.shutdown {
                Some(shutdown) => {
                    // The round is over.
                    shutdown.deadline = None;
                    shutdown.report.clone()
                }
                None => ShutdownReport::default(),
            };
            self.io.emit(Event::BindToCloseDone(report));
        }
    }
}

/// What the constructors make of their arguments (§2), decided here once for every host.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionArgs {
    /// The DataStore name (`GetDataStore(name, scope)`); a number becomes its Luau text.
    pub name: String,
    /// The scope; `"global"` in the two-argument form.
    pub scope: String,
    /// The key as passed: a string or a number (the `Key` property keeps its type).
    pub key: Value,
    /// The key as the stores see it (a number as Luau writes it).
    pub key_text: String,
    /// `name .. "/" .. scope .. "/" .. key`.
    pub id: String,
}

impl SessionArgs {
    /// `(name, scope, key)` or `(name, key)`, as a host received them (missing ones `Nil`,
    /// extra ones ignored as Luau ignores them). A nil third argument means the two-argument
    /// form: scope `"global"` and the second argument as the key. The Id is Luau's
    /// concatenation `name .. "/" .. scope .. "/" .. key`, which accepts strings and numbers and
    /// fails, right to left as Luau evaluates it, with Luau's own message
    /// (`attempt to concatenate string with nil`).
    pub fn from_args(args: &[Value]) -> Result<SessionArgs, String> {
        let arg = |i: usize| args.get(i).unwrap_or(&Value::Nil);
        let global = Value::String("global".into());
        let (name, scope, key) = match arg(2) {
            Value::Nil => (arg(0), &global, arg(1)),
            key => (arg(0), arg(1), key),
        };
        let key_text = concat_text(key).ok_or_else(|| concat_error("string", key))?;
        let scope = concat_text(scope).ok_or_else(|| concat_error(scope.type_name(), &global))?;
        let name = concat_text(name).ok_or_else(|| concat_error(name.type_name(), &global))?;
        Ok(SessionArgs {
            id: format!("{name}/{scope}/{key_text}"),
            name,
            scope,
            key: key.clone(),
            key_text,
        })
    }
}

/// A value as Luau's `..` writes it: strings as they are, numbers as `tostring` does.
fn concat_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(luau_number_to_string(*n)),
        _ => None,
    }
}

/// Luau's error for `left .. right` when one side is neither a string nor a number.
fn concat_error(left: &str, right: &Value) -> String {
    format!("attempt to concatenate {left} with {}", right.type_name())
}

/// An empty table, as `Metadata = {}` makes.
pub(crate) fn empty_table() -> Value {
    Value::Table(Table::new())
}

/// Seconds (a validated property) to whole milliseconds.
pub(crate) fn secs_to_ms(secs: f64) -> u64 {
    // Float-to-int casts saturate (and NaN gives 0), so this cannot wrap.
    (secs * 1000.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(values: &[Value]) -> Result<SessionArgs, String> {
        SessionArgs::from_args(values)
    }

    fn text(s: &str) -> Value {
        Value::String(s.into())
    }

    /// The 2,097,152nd acquisition try of one session object would carry a token of 2^53,
    /// which every store refuses; Open says so instead, and sends nothing.
    #[test]
    fn open_answers_error_once_the_lock_tokens_are_used() {
        let mut module = Module::new(Config::default());
        let args = [Value::String("Player".into()), Value::Number(1.0)];
        let sid = module.open_session(1, &args, false, [7; 16]).unwrap();
        let s = module.sessions.get_mut(&sid).unwrap();
        s.lock.acquisitions = lock::MAX_ACQUISITIONS;
        let Ok(CallOutcome::Pending(call)) = module.call(2, sid, Call::Open { template: None })
        else {
            panic!("Open suspends");
        };
        let mut reply = None;
        while let Some(event) = module.poll_event() {
            if let Event::CallDone {
                call: done,
                reply: r,
                ..
            } = event
            {
                assert_eq!(done, call);
                reply = Some(r);
            }
        }
        let reply = reply.expect("Open answered");
        assert_eq!(reply.response, Response::Error);
        assert!(
            format!("{:?}", reply.data).contains("tried to take its lock 2,097,151 times"),
            "{reply:?}"
        );
        assert!(module.poll_command().is_none(), "no lock command sent");
    }

    #[test]
    fn numeric_key_and_its_text_share_an_id() {
        let a = args(&[text("Player"), text("global"), Value::Number(456056545.0)]).unwrap();
        let b = args(&[text("Player"), text("global"), text("456056545")]).unwrap();
        assert_eq!(a.id, "Player/global/456056545");
        assert_eq!(a.id, b.id);
        assert_eq!(a.key, Value::Number(456056545.0), "the key keeps its type");
        assert_eq!(b.key, text("456056545"));
    }

    #[test]
    fn two_arguments_and_a_nil_third_mean_scope_global() {
        let three = args(&[text("Player"), text("global"), Value::Number(5.0)]).unwrap();
        let two = args(&[text("Player"), Value::Number(5.0)]).unwrap();
        let nil_third = args(&[text("Player"), Value::Number(5.0), Value::Nil]).unwrap();
        assert_eq!(two, three);
        assert_eq!(nil_third, three);
        let scoped = args(&[text("Player"), text("s"), text("k"), text("extra")]).unwrap();
        assert_eq!(
            (scoped.scope.as_str(), scoped.id.as_str()),
            ("s", "Player/s/k")
        );
    }

    #[test]
    fn numbers_concatenate_as_luau_writes_them() {
        let a = args(&[Value::Number(1.0), Value::Number(0.5), Value::Number(1e20)]).unwrap();
        assert_eq!(a.id, "1/0.5/100000000000000000000", "as Luau prints 1e20");
        assert_eq!((a.name.as_str(), a.scope.as_str()), ("1", "0.5"));
    }

    #[test]
    fn bad_arguments_give_luau_concatenation_errors_right_to_left() {
        let table = Value::Table(Table::new());
        let cases: [(&[Value], &str); 6] = [
            (&[], "attempt to concatenate string with nil"),
            (&[text("Player")], "attempt to concatenate string with nil"),
            (
                &[text("P"), Value::Bool(true)],
                "attempt to concatenate string with boolean",
            ),
            (
                &[text("P"), table.clone(), text("k")],
                "attempt to concatenate table with string",
            ),
            (
                &[Value::Nil, text("k")],
                "attempt to concatenate nil with string",
            ),
            // The key is checked first, as Luau concatenates from the right.
            (
                &[Value::Nil, Value::Bool(false), table],
                "attempt to concatenate string with table",
            ),
        ];
        for (values, message) in cases {
            assert_eq!(args(values).unwrap_err(), message, "{values:?}");
        }
    }
}
