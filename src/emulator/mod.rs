//! An in-memory, Roblox-faithful emulator of DataStore and MemoryStore.
//!
//! It stands in for Roblox's services wherever the module does not run on Roblox: the Rust
//! scenario tests and the fault simulation call it directly, the JS `MemoryStore` and the browser
//! harness reach it through the wasm, and the Luau runtime puts it behind `DataStoreService` and
//! `MemoryStoreService`. The project spec `roblox-services.md` is what it reproduces.
//!
//! **Sans-IO.** Every operation takes `now` (milliseconds on the caller's clock, read as Unix
//! time for the hourly version rule), applies its effect at `now`, and returns at once a
//! [`Reply`]: the result, plus the latency the caller should wait before delivering it. Nothing
//! here sleeps, spawns, reads a clock or draws entropy; the only randomness is the seeded dice in
//! [`faults`]. Effects land at `now`: to model a request that reaches the service late (the
//! dangerous case for session locks), call the emulator at the landing time.
//!
//! **Who calls.** `client` names a game server. It matters where Roblox keeps state per server:
//! the 4 s `GetAsync` cache (one per DataStore object, and a server has one object per name and
//! scope), request budgets, and shutting down. Everything else is shared by all clients.
//!
//! **Every request goes through the same steps,** each in one place:
//!
//! 1. argument checks, as the engine makes them before sending (failures are immediate:
//!    latency 0, no dice, no budget);
//! 2. a `GetAsync` served from the read cache stops here (latency 0, no dice, no budget);
//! 3. shutting down (401) and the budget model ([`BudgetConfig`]; it may add throttle-queue
//!    wait or drop the request with 301–306);
//! 4. the dice ([`faults`]): outage, throttling, transient error;
//! 5. the operation itself, atomically (fencing is checked here);
//! 6. the dice again: an ambiguous write is reported as failed although step 5 applied it.
//!
//! **Inspection** (`inspect_*`) reads state with no dice, no budget and no cache.

mod budget;
mod datastore;
pub mod faults;
mod memorystore;

use std::fmt;

use crate::fence::{fence_refusal, lock_decision, Fence, LockDecision, LockMode};
use crate::value::{JsonText, Table, Value};
use std::collections::HashMap;

pub use budget::{BudgetConfig, BudgetModel, RequestType};
pub use datastore::DataVersion;
pub use faults::{FaultConfig, FaultCounts, OpCounts, OpFaults, Outage};
pub(crate) use memorystore::{check_priority, expiration_ms, Item as QueueItem};
pub use memorystore::{MapItem, QueueItemView, RangeBound, SortDirection};

use budget::{Budgets, DataCall};
use datastore::DataStores;
use faults::{Faults, Roll};
use memorystore::MemoryStores;

/// DataStore name, scope and key length limit (bytes, as Luau's `string.len` counts).
pub const MAX_DATA_NAME_LEN: usize = 50;
/// Largest DataStore value, in characters of its JSON form.
pub const MAX_DATA_VALUE_LEN: usize = 4_194_304;
/// Metadata limits: each key, each value's JSON, and the whole metadata's JSON.
pub const MAX_METADATA_KEY_LEN: usize = 50;
pub const MAX_METADATA_VALUE_LEN: usize = 250;
pub const MAX_METADATA_LEN: usize = 300;
/// User ids per key (Open Cloud documents 4; the engine rejects more with 512).
pub const MAX_USER_IDS: usize = 4;
/// How long a `GetAsync` result is served from the per-server cache.
pub const READ_CACHE_MS: u64 = 4_000;
/// MemoryStore key and sort-key length limit.
pub const MAX_MEMORY_KEY_LEN: usize = 128;
/// Largest MemoryStore value (bytes of its JSON form).
pub const MAX_MEMORY_VALUE_LEN: usize = 32 * 1024;
/// Longest MemoryStore expiration: 45 days.
pub const MAX_EXPIRATION_S: f64 = 3_888_000.0;
/// Queue invisibility timeout when `GetQueue` is not given one.
pub const DEFAULT_INVISIBILITY_S: f64 = 30.0;
/// Most items one queue read may ask for.
pub const MAX_QUEUE_READ: usize = 100;
/// Most items one `GetRangeAsync` may ask for.
pub const MAX_RANGE_COUNT: usize = 200;
/// The sorted-map entry that holds a session lock (behaviour.md §8.1).
pub const LOCK_KEY: &str = "Id";

/// The sorted map that holds the session lock of a DataStore key: `"{name}/{scope}/{key}"`.
pub fn lock_map_name(name: &str, scope: &str, key: &str) -> String {
    format!("{name}/{scope}/{key}")
}

/// The one place values are serialised the way the services store and measure them.
///
/// Roblox limits values by the length of their `JSONEncode` text. For now that is
/// `Value::to_json_string().len()`; when `crate::usage` offers Roblox's exact length, swap it in
/// here and nowhere else. The stored value is what reading the JSON back gives, so a table with
/// number keys comes back with string keys, as it does from Roblox.
pub(crate) fn serialise(value: &Value) -> (String, usize) {
    let json = value.to_json_string();
    let len = json.len();
    (json, len)
}

/// Reads back text from [`serialise`]; `Err` names what could not be stored.
pub(crate) fn deserialise(json: &str) -> Result<Value, String> {
    Value::from_json_str(json, "value").map_err(|e| e.to_string())
}

/// A stored version's value again. Its text is [`serialise`]'s, which [`deserialise`] read
/// back when the write was checked, so it reads back the same way now.
pub(crate) fn stored_value(json: &JsonText) -> Value {
    let value = deserialise(json.as_str());
    debug_assert!(value.is_ok(), "a stored text no longer reads: {value:?}");
    value.unwrap_or_default()
}

fn entry_of((json, info): StoredEntry) -> Entry {
    (stored_value(&json), info)
}

/// What an operation gives back: its result, and how long the caller should wait before
/// delivering it (network round trip, throttle-queue wait, spikes). The emulator never waits.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply<T> {
    pub result: Result<T, StoreError>,
    pub latency_ms: u64,
}

impl<T> Reply<T> {
    pub fn ok(value: T, latency_ms: u64) -> Reply<T> {
        Reply {
            result: Ok(value),
            latency_ms,
        }
    }

    pub fn err(error: StoreError, latency_ms: u64) -> Reply<T> {
        Reply {
            result: Err(error),
            latency_ms,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            result: self.result.map(f),
            latency_ms: self.latency_ms,
        }
    }
}

/// What kind of failure, so callers decide retry policy without parsing messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The service failed (`502`, other 5xx; MemoryStore `InternalError`). Retrying may work.
    /// A failed *write* may still have been applied (ambiguous write).
    Transient,
    /// Over a budget or quota rate (301–306; `RequestThrottled`, `TotalRequestsOverLimit`).
    /// Retrying later may work.
    Throttled,
    /// The request can never succeed as sent (101, 102, 104, 105, 511–513, bad expiration,
    /// `ItemValueSizeTooLarge`…). Do not retry.
    InvalidRequest,
    /// A fenced write whose writer does not hold the session lock (emulator only; Roblox
    /// cannot fence). Do not retry: the data belongs to someone else now.
    Fenced,
    /// A MemoryStore `UpdateAsync` gave up after too many compare-and-swap retries
    /// (`UpdateConflict`). Retrying may work.
    Conflict,
    /// The experience's MemoryStore memory is full (`TotalMemoryOverLimit`).
    OverQuota,
    /// The server is shutting down (401, 402).
    ShuttingDown,
}

impl ErrorKind {
    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Transient
                | ErrorKind::Throttled
                | ErrorKind::Conflict
                | ErrorKind::OverQuota
        )
    }
}

/// A failed request. `message` reads like Roblox's error text: DataStore errors start with
/// their code (`"502: API Services rejected request with error. HTTP 500 (Internal Server
/// Error)"`), MemoryStore errors with their status name (`"InvalidExpirationTime: …"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    pub kind: ErrorKind,
    pub code: Option<u32>,
    pub message: String,
}

impl StoreError {
    /// A DataStore error with its numeric code.
    pub(crate) fn data(kind: ErrorKind, code: u32, text: &str) -> StoreError {
        StoreError {
            kind,
            code: Some(code),
            message: format!("{code}: {text}"),
        }
    }

    /// A MemoryStore error with its status name.
    pub(crate) fn memory(kind: ErrorKind, status: &str, text: &str) -> StoreError {
        StoreError {
            kind,
            code: None,
            message: format!("{status}: {text}"),
        }
    }

    /// An argument error the engine raises itself (no code).
    pub(crate) fn invalid(message: String) -> StoreError {
        StoreError {
            kind: ErrorKind::InvalidRequest,
            code: None,
            message,
        }
    }

    /// The MemoryStore status name (`"UpdateConflict"`…), if this is a MemoryStore error.
    pub fn status(&self) -> Option<&str> {
        if self.code.is_some() {
            return None;
        }
        let (status, _) = self.message.split_once(": ")?;
        status
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
            .then_some(status)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// `DataStoreKeyInfo`.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyInfo {
    /// `CreatedTime`: when the object was created (a write after a removal creates it anew).
    pub created_ms: u64,
    /// `UpdatedTime`: when this version was written.
    pub updated_ms: u64,
    /// `Version`: opaque, Roblox-shaped (`08DBB6A47FDE6132.0000000016.08DBB782CEE11766.01`),
    /// and increasing (as a string) from one write of a key to the next.
    pub version: String,
    pub user_ids: Vec<f64>,
    pub metadata: Table,
}

/// A sort key as a number (the lock entry's acquisition token), if it is one.
fn sort_number(sort: Option<&SortKey>) -> Option<f64> {
    match sort {
        Some(SortKey::Number(n)) => Some(*n),
        _ => None,
    }
}

/// A sorted-map sort key. Numbers sort before strings; items without one sort last.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    Number(f64),
    String(String),
}

/// The kinds of request, for fault configuration and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    DataGet,
    DataSet,
    DataUpdate,
    DataRemove,
    MapGet,
    MapSet,
    MapUpdate,
    MapRemove,
    MapGetRange,
    MapGetSize,
    QueueAdd,
    QueueRead,
    QueueRemove,
    QueueGetSize,
}

impl Op {
    pub const COUNT: usize = 14;
    pub const ALL: [Op; Op::COUNT] = [
        Op::DataGet,
        Op::DataSet,
        Op::DataUpdate,
        Op::DataRemove,
        Op::MapGet,
        Op::MapSet,
        Op::MapUpdate,
        Op::MapRemove,
        Op::MapGetRange,
        Op::MapGetSize,
        Op::QueueAdd,
        Op::QueueRead,
        Op::QueueRemove,
        Op::QueueGetSize,
    ];
    /// The DataStore kinds.
    pub const DATA: [Op; 4] = [Op::DataGet, Op::DataSet, Op::DataUpdate, Op::DataRemove];
    /// The MemoryStore kinds.
    pub const MEMORY: [Op; 10] = [
        Op::MapGet,
        Op::MapSet,
        Op::MapUpdate,
        Op::MapRemove,
        Op::MapGetRange,
        Op::MapGetSize,
        Op::QueueAdd,
        Op::QueueRead,
        Op::QueueRemove,
        Op::QueueGetSize,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether the request changes state (so it can be ambiguous). A queue read hides what it
    /// returns, so it counts.
    pub fn is_write(self) -> bool {
        !matches!(
            self,
            Op::DataGet | Op::MapGet | Op::MapGetRange | Op::MapGetSize | Op::QueueGetSize
        )
    }

    pub fn is_data(self) -> bool {
        Op::DATA.contains(&self)
    }

    fn data_call(self) -> Option<DataCall> {
        match self {
            Op::DataGet => Some(DataCall::Get),
            Op::DataSet => Some(DataCall::Set),
            Op::DataUpdate => Some(DataCall::Update),
            Op::DataRemove => Some(DataCall::Remove),
            _ => None,
        }
    }

    /// Roblox's name for the call, for messages.
    pub fn api_name(self) -> &'static str {
        match self {
            Op::DataGet | Op::MapGet => "GetAsync",
            Op::DataSet | Op::MapSet => "SetAsync",
            Op::DataUpdate | Op::MapUpdate => "UpdateAsync",
            Op::DataRemove | Op::MapRemove | Op::QueueRemove => "RemoveAsync",
            Op::MapGetRange => "GetRangeAsync",
            Op::MapGetSize | Op::QueueGetSize => "GetSizeAsync",
            Op::QueueAdd => "AddAsync",
            Op::QueueRead => "ReadAsync",
        }
    }

    fn transient_error(self) -> StoreError {
        if self.is_data() {
            StoreError::data(
                ErrorKind::Transient,
                502,
                "API Services rejected request with error. HTTP 500 (Internal Server Error)",
            )
        } else {
            StoreError::memory(
                ErrorKind::Transient,
                "InternalError",
                "The request failed because of an internal error. Try again.",
            )
        }
    }

    fn outage_error(self) -> StoreError {
        if self.is_data() {
            StoreError::data(
                ErrorKind::Transient,
                502,
                "API Services rejected request with error. HTTP 503 (Service Unavailable)",
            )
        } else {
            StoreError::memory(
                ErrorKind::Transient,
                "InternalError",
                "The service is unavailable. Try again.",
            )
        }
    }

    fn throttle_error(self) -> StoreError {
        match self.data_call() {
            Some(call) => call.queue_full(),
            None => StoreError::memory(
                ErrorKind::Throttled,
                "RequestThrottled",
                "Recent MemoryStoreService requests hit one or more limits.",
            ),
        }
    }
}

/// Everything the emulator is set up with. `Config::default()` is plain Roblox: no faults, no
/// budgets, fencing on.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Seeds the fault dice and the queue read ids.
    pub seed: u64,
    /// Honour `fence` on data writes (see [`Emulator::data_set`]). Switch off to compare runs.
    pub fencing: bool,
    pub faults: FaultConfig,
    /// Request budgets; `None` (the default) never throttles.
    pub budget: Option<BudgetConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            fencing: true,
            faults: FaultConfig::none(),
            budget: None,
        }
    }
}

impl Config {
    pub fn seeded(seed: u64) -> Config {
        Config {
            seed,
            ..Config::default()
        }
    }
}

/// What a DataStore `UpdateAsync` transform returns: `None` (Luau `nil`) cancels; otherwise the
/// new value, and the user ids and metadata that replace the old ones (`None` clears them).
pub type DataUpdate = Option<(Value, Option<Vec<f64>>, Option<Table>)>;

/// What a MemoryStore `UpdateAsync` transform returns: `None` cancels; otherwise the new value
/// and its sort key (`None` leaves the item without one).
pub type MapUpdate = Option<(Value, Option<SortKey>)>;

/// A DataStore value with its key info, as `GetAsync`, `UpdateAsync` and `RemoveAsync` give it.
pub type Entry = (Value, KeyInfo);

/// A stored version as the store keeps it: the JSON text written, and its key info.
pub type StoredEntry = (JsonText, KeyInfo);

/// A request that made it through steps 3–4 and now runs.
struct Sent {
    roll: Roll,
    latency_ms: u64,
}

/// The in-memory DataStore and MemoryStore. See the module docs.
#[derive(Clone, Debug)]
pub struct Emulator {
    fencing: bool,
    faults: Faults,
    budgets: Budgets,
    data: DataStores,
    memory: MemoryStores,
    /// The last fenced write applied to each key (`name/scope/key`), kept across removes
    /// ([`crate::fence`]).
    fence_marks: HashMap<String, Fence>,
}

impl Default for Emulator {
    fn default() -> Self {
        Emulator::new(Config::default())
    }
}

impl Emulator {
    pub fn new(config: Config) -> Emulator {
        Emulator {
            fencing: config.fencing,
            faults: Faults::new(config.seed, config.faults),
            budgets: Budgets::new(config.budget),
            data: DataStores::default(),
            memory: MemoryStores::new(config.seed),
            fence_marks: HashMap::new(),
        }
    }

    // ---- configuration while running ----------------------------------------------------

    pub fn fencing(&self) -> bool {
        self.fencing
    }

    pub fn set_fencing(&mut self, on: bool) {
        self.fencing = on;
    }

    pub fn fault_config(&self) -> &FaultConfig {
        &self.faults.config
    }

    /// Replaces the fault configuration; the dice streams and counters carry on.
    pub fn set_faults(&mut self, faults: FaultConfig) {
        self.faults.config = faults;
    }

    /// How often each fault happened, per operation kind.
    pub fn fault_counts(&self) -> &FaultCounts {
        &self.faults.counts
    }

    /// Players on a server: scales its DataStore budgets and the experience's MemoryStore
    /// quotas (CCU is the sum over servers).
    pub fn set_players(&mut self, client: u32, players: u32) {
        self.budgets.set_players(client, players);
    }

    /// While on, every DataStore request of `client` fails with 401, as during shutdown.
    pub fn set_shutting_down(&mut self, client: u32, on: bool) {
        self.budgets.set_shutting_down(client, on);
    }

    /// `DataStoreService:SetRateLimitForRequestType` for one server.
    pub fn set_rate_limit(
        &mut self,
        client: u32,
        request_type: RequestType,
        base: f64,
        per_player: f64,
    ) -> Result<(), StoreError> {
        self.budgets
            .set_rate_limit(client, request_type, base, per_player)
    }

    /// `DataStoreService:GetRequestBudgetForRequestType`: requests `client` can send now
    /// without queueing (infinite when budgets are off).
    pub fn request_budget(&mut self, now: u64, client: u32, request_type: RequestType) -> f64 {
        self.budgets.budget(now, client, request_type)
    }

    // ---- the request pipeline -------------------------------------------------------------

    /// Steps 3 and 4: shutdown, budget, dice. `Err` is the reply to give.
    fn send(&mut self, now: u64, client: u32, op: Op) -> Result<Sent, (StoreError, u64)> {
        let wait = match op.data_call() {
            Some(call) => {
                if self.budgets.shutting_down(client) {
                    return Err((shutting_down_error(), 0));
                }
                match self.budgets.admit_data(now, client, call) {
                    Ok(wait) => wait,
                    Err(e) => {
                        self.faults.counts.at(op).queue_full += 1;
                        return Err((e, 0));
                    }
                }
            }
            None => {
                self.budgets.admit_memory(now, 1.0).map_err(|e| (e, 0))?;
                0
            }
        };
        let roll = self.faults.roll(op, now);
        let counts = self.faults.counts.at(op);
        counts.requests += 1;
        counts.spikes += u64::from(roll.spike);
        let latency_ms = roll.latency_ms.saturating_add(wait);
        if roll.outage {
            counts.outage += 1;
            return Err((op.outage_error(), latency_ms));
        }
        if roll.throttle {
            counts.throttled += 1;
            return Err((op.throttle_error(), latency_ms));
        }
        if roll.transient {
            counts.transient += 1;
            return Err((op.transient_error(), latency_ms));
        }
        Ok(Sent { roll, latency_ms })
    }

    /// Step 6: an applied write may still be reported as failed.
    fn finish<T>(&mut self, op: Op, sent: Sent, result: Result<T, StoreError>) -> Reply<T> {
        let counts = self.faults.counts.at(op);
        let result = match result {
            Ok(_) if sent.roll.ambiguous => {
                counts.ambiguous += 1;
                Err(op.transient_error())
            }
            Err(e) => {
                counts.fenced += u64::from(e.kind == ErrorKind::Fenced);
                counts.conflict += u64::from(e.kind == ErrorKind::Conflict);
                Err(e)
            }
            ok => ok,
        };
        Reply {
            result,
            latency_ms: sent.latency_ms,
        }
    }

    /// Runs `apply` as request `op` through the whole pipeline (steps 3–6).
    fn request<T>(
        &mut self,
        now: u64,
        client: u32,
        op: Op,
        apply: impl FnOnce(&mut Emulator, &Roll) -> Result<T, StoreError>,
    ) -> Reply<T> {
        match self.send(now, client, op) {
            Err((error, latency_ms)) => Reply::err(error, latency_ms),
            Ok(sent) => {
                let result = apply(self, &sent.roll);
                self.finish(op, sent, result)
            }
        }
    }

    /// Fencing (roblox-services.md §5, [`crate::fence`]): a write carrying a fence goes
    /// through only while the lock entry of its key is exactly the fence's owner and
    /// acquisition token, and no newer write of that acquisition has landed.
    fn check_fence(
        &self,
        now: u64,
        name: &str,
        scope: &str,
        key: &str,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let Some(fence) = fence.filter(|_| self.fencing) else {
            return Ok(());
        };
        let map = lock_map_name(name, scope, key);
        let lock = self.memory.map_get(now, &map, LOCK_KEY);
        let lock = lock
            .as_ref()
            .map(|(value, sort)| (value, sort_number(sort.as_ref())));
        match fence_refusal(fence, lock, self.fence_marks.get(&map)) {
            None => Ok(()),
            Some(reason) => Err(StoreError {
                kind: ErrorKind::Fenced,
                code: None,
                message: format!(
                    "Fenced: write to {map} by {} refused: {reason}",
                    fence.owner
                ),
            }),
        }
    }

    /// A fenced write went through: it is now the key's mark.
    fn mark_fence(&mut self, name: &str, scope: &str, key: &str, fence: Option<&Fence>) {
        if let Some(fence) = fence.filter(|_| self.fencing) {
            self.fence_marks
                .insert(lock_map_name(name, scope, key), fence.clone());
        }
    }

    // ---- DataStore ------------------------------------------------------------------------

    /// `DataStore:GetAsync(key, {UseCache = use_cache})`: the latest value and its key info,
    /// `None` when the key is missing or removed. A result this server fetched or wrote less
    /// than 4 s ago is served from its cache (stale, instant, free) unless `use_cache` is off.
    pub fn data_get(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
        use_cache: bool,
    ) -> Reply<Option<Entry>> {
        self.data_get_text(now, client, name, scope, key, use_cache)
            .map(|entry| entry.map(entry_of))
    }

    /// [`Emulator::data_get`] with the value as the JSON text stored, for a host that hands
    /// values on as text (the JS MemoryStore).
    pub fn data_get_text(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
        use_cache: bool,
    ) -> Reply<Option<StoredEntry>> {
        if let Err(e) = datastore::check_names(name, scope, key) {
            return Reply::err(e, 0);
        }
        if use_cache {
            if let Some(hit) = self.data.cached(now, client, name, scope, key) {
                return Reply::ok(hit, 0);
            }
        }
        self.request(now, client, Op::DataGet, |emu, _| {
            Ok(emu.data.read(now, client, name, scope, key))
        })
    }

    /// `DataStore:SetAsync(key, value, user_ids, options{metadata})`: writes a new version and
    /// returns its id. User ids and metadata replace the stored ones (empty clears them).
    /// With a `fence` the write is refused ([`ErrorKind::Fenced`]) unless the fence's owner
    /// and acquisition hold the key's session lock (the sorted map `"{name}/{scope}/{key}"`,
    /// [`lock_map_name`], has a live entry [`LOCK_KEY`] with that value and token) and no
    /// newer write of that acquisition has landed ([`crate::fence`]). [`Config::fencing`]
    /// switches the check off.
    #[allow(clippy::too_many_arguments)] // mirrors the storage command's arguments
    pub fn data_set(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
        value: Value,
        user_ids: Vec<f64>,
        metadata: Table,
        fence: Option<&Fence>,
    ) -> Reply<String> {
        let write = match datastore::check_names(name, scope, key)
            .and_then(|()| datastore::Write::new(value, user_ids, metadata))
        {
            Ok(write) => write,
            Err(e) => return Reply::err(e, 0),
        };
        self.request(now, client, Op::DataSet, |emu, _| {
            emu.check_fence(now, name, scope, key, fence)?;
            emu.mark_fence(name, scope, key, fence);
            Ok(emu.data.write(now, client, name, scope, key, write).version)
        })
    }

    /// `DataStore:UpdateAsync(key, transform)`: calls `transform(old value, old key info)`
    /// (both `None` when the key is missing or removed) and writes what it returns; `None`
    /// cancels (the reply is `Ok(None)`, nothing written). Returns the new value and key info.
    ///
    /// Roblox re-runs the transform when another server wrote in between. Here each call is
    /// atomic, so that never happens by itself; the `rerun` fault makes it happen (the transform
    /// runs twice, the first result is discarded), so callers can test their transforms are
    /// free of side effects that matter.
    pub fn data_update(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
        transform: &mut dyn FnMut(Option<&Value>, Option<&KeyInfo>) -> DataUpdate,
    ) -> Reply<Option<Entry>> {
        if let Err(e) = datastore::check_names(name, scope, key) {
            return Reply::err(e, 0);
        }
        self.request(now, client, Op::DataUpdate, |emu, roll| {
            let current = emu.data.latest(name, scope, key).map(entry_of);
            let old = current.as_ref();
            if roll.rerun {
                let _ = transform(old.map(|(v, _)| v), old.map(|(_, k)| k));
                emu.faults.counts.at(Op::DataUpdate).rerun += 1;
            }
            let Some((value, user_ids, metadata)) =
                transform(old.map(|(v, _)| v), old.map(|(_, k)| k))
            else {
                return Ok(None);
            };
            if value == Value::Nil {
                return Ok(None);
            }
            let write = datastore::Write::new(
                value,
                user_ids.unwrap_or_default(),
                metadata.unwrap_or_default(),
            )?;
            let stored = write.value.clone();
            let info = emu.data.write(now, client, name, scope, key, write);
            Ok(Some((stored, info)))
        })
    }

    /// `DataStore:RemoveAsync(key)`: writes a tombstone version and returns the value and key
    /// info it removed; `Ok(None)` (and no new version) when there was nothing to remove.
    /// Fenced like [`Emulator::data_set`].
    pub fn data_remove(
        &mut self,
        now: u64,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
        fence: Option<&Fence>,
    ) -> Reply<Option<Entry>> {
        if let Err(e) = datastore::check_names(name, scope, key) {
            return Reply::err(e, 0);
        }
        self.request(now, client, Op::DataRemove, |emu, _| {
            emu.check_fence(now, name, scope, key, fence)?;
            emu.mark_fence(name, scope, key, fence);
            Ok(emu.data.remove(now, client, name, scope, key).map(entry_of))
        })
    }

    // ---- MemoryStore sorted map -----------------------------------------------------------

    /// `MemoryStoreSortedMap:GetAsync(key)`: the value and sort key, `None` when missing or
    /// expired.
    pub fn map_get(
        &mut self,
        now: u64,
        client: u32,
        map: &str,
        key: &str,
    ) -> Reply<Option<(Value, Option<SortKey>)>> {
        if let Err(e) = memorystore::check_key(key) {
            return Reply::err(e, 0);
        }
        self.request(now, client, Op::MapGet, |emu, _| {
            Ok(emu.memory.map_get(now, map, key))
        })
    }

    /// `MemoryStoreSortedMap:SetAsync(key, value, expiration, sortKey)`: `true` when it
    /// overwrote a live entry. The entry lives `expiration_s` seconds (0 to 3,888,000; 0 means
    /// it is gone at once).
    #[allow(clippy::too_many_arguments)] // mirrors SetAsync's arguments
    pub fn map_set(
        &mut self,
        now: u64,
        client: u32,
        map: &str,
        key: &str,
        value: Value,
        expiration_s: f64,
        sort_key: Option<SortKey>,
    ) -> Reply<bool> {
        let checked = memorystore::check_key(key)
            .and_then(|()| memorystore::check_sort_key(sort_key.as_ref()))
            .and_then(|()| memorystore::expiration_ms(expiration_s))
            .and_then(|ttl| memorystore::Item::new(value).map(|item| (ttl, item)));
        let (ttl_ms, item) = match checked {
            Ok(ok) => ok,
            Err(e) => return Reply::err(e, 0),
        };
        self.request(now, client, Op::MapSet, |emu, _| {
            let quota = emu.budgets.memory_quota();
            emu.memory
                .map_set(now, map, key, item, ttl_ms, sort_key, quota)
        })
    }

    /// `MemoryStoreSortedMap:UpdateAsync(key, transform, expiration)`: calls
    /// `transform(old value, old sort key)` and writes what it returns with the new expiration;
    /// `None` (or a nil value) cancels: the reply is `Ok(None)` and nothing is written.
    /// Returns the new value.
    ///
    /// Roblox runs this as a compare-and-swap loop; here each call is atomic. The `rerun` fault
    /// runs the transform twice; the `conflict` fault runs it and then gives up with
    /// `UpdateConflict`, writing nothing.
    pub fn map_update(
        &mut self,
        now: u64,
        client: u32,
        map: &str,
        key: &str,
        transform: &mut dyn FnMut(Option<&Value>, Option<&SortKey>) -> MapUpdate,
        expiration_s: f64,
    ) -> Reply<Option<Value>> {
        let ttl_ms = match memorystore::check_key(key)
            .and_then(|()| memorystore::expiration_ms(expiration_s))
        {
            Ok(ttl) => ttl,
            Err(e) => return Reply::err(e, 0),
        };
        self.request(now, client, Op::MapUpdate, |emu, roll| {
            if roll.rerun {
                emu.faults.counts.at(Op::MapUpdate).rerun += 1;
            }
            let quota = emu.budgets.memory_quota();
            emu.memory
                .map_update(now, map, key, transform, ttl_ms, roll, quota)
        })
    }

    /// The session lock commands ([`crate::fence`]): one `UpdateAsync` of entry [`LOCK_KEY`]
    /// of `map` whose transform follows [`lock_decision`], the token as the sort key. A write
    /// asks for `ttl_s` seconds (a release for 0, which deletes the entry).
    #[allow(clippy::too_many_arguments)] // mirrors the lock command's fields
    pub fn lock(
        &mut self,
        now: u64,
        client: u32,
        map: &str,
        mode: LockMode,
        owner: &str,
        token: u64,
        ttl_s: f64,
    ) -> Reply<LockDecision> {
        let mut decision = LockDecision::Nothing;
        let mine = Value::String(owner.to_owned());
        let reply = self.map_update(
            now,
            client,
            map,
            LOCK_KEY,
            &mut |old, sort| {
                decision = lock_decision(mode, owner, token, old.map(|v| (v, sort_number(sort))));
                (decision == LockDecision::Write)
                    .then(|| (mine.clone(), Some(SortKey::Number(token as f64))))
            },
            if mode == LockMode::Release {
                0.0
            } else {
                ttl_s
            },
        );
        reply.map(|_| decision)
    }

    /// `MemoryStoreSortedMap:RemoveAsync(key)`.
    pub fn map_remove(&mut self, now: u64, client: u32, map: &str, key: &str) -> Reply<()> {
        if let Err(e) = memorystore::check_key(key) {
            return Reply::err(e, 0);
        }
        self.request(now, client, Op::MapRemove, |emu, _| {
            emu.memory.map_remove(now, map, key);
            Ok(())
        })
    }

    /// `MemoryStoreSortedMap:GetRangeAsync(direction, count, exclusiveLowerBound,
    /// exclusiveUpperBound)`: up to `count` (1 to 200) live items in sort order.
    #[allow(clippy::too_many_arguments)] // mirrors GetRangeAsync's arguments
    pub fn map_get_range(
        &mut self,
        now: u64,
        client: u32,
        map: &str,
        direction: SortDirection,
        count: usize,
        lower: Option<&RangeBound>,
        upper: Option<&RangeBound>,
    ) -> Reply<Vec<MapItem>> {
        if let Err(e) = memorystore::check_range(count, lower, upper) {
            return Reply::err(e, 0);
        }
        self.request(now, client, Op::MapGetRange, |emu, _| {
            let items = emu
                .memory
                .map_range(now, map, direction, count, lower, upper);
            // One request unit per item returned (at least one, charged up front).
            emu.budgets
                .charge_memory(items.len().saturating_sub(1) as f64);
            Ok(items)
        })
    }

    /// `MemoryStoreSortedMap:GetSizeAsync()`: live items.
    pub fn map_get_size(&mut self, now: u64, client: u32, map: &str) -> Reply<usize> {
        self.request(now, client, Op::MapGetSize, |emu, _| {
            Ok(emu.memory.map_size(now, map))
        })
    }

    // ---- MemoryStore queue ----------------------------------------------------------------

    /// `MemoryStoreQueue:AddAsync(value, expiration, priority)`. Higher priority is read first;
    /// equal priorities in the order added.
    pub fn queue_add(
        &mut self,
        now: u64,
        client: u32,
        queue: &str,
        value: Value,
        expiration_s: f64,
        priority: f64,
    ) -> Reply<()> {
        let checked = memorystore::expiration_ms(expiration_s)
            .and_then(|ttl| memorystore::check_priority(priority).map(|()| ttl))
            .and_then(|ttl| memorystore::Item::new(value).map(|item| (ttl, item)));
        let (ttl_ms, item) = match checked {
            Ok(ok) => ok,
            Err(e) => return Reply::err(e, 0),
        };
        self.request(now, client, Op::QueueAdd, |emu, _| {
            let quota = emu.budgets.memory_quota();
            emu.memory
                .queue_add(now, queue, item, ttl_ms, priority, quota)
        })
    }

    /// `MemoryStoreQueue:ReadAsync(count, allOrNothing, waitTimeout = 0)`: up to `count`
    /// (1 to 100) visible items and a read id, hiding them for `invisibility_s` (the timeout
    /// the host's `GetQueue` object was made with; [`DEFAULT_INVISIBILITY_S`] by default).
    /// `Ok(None)` when nothing is visible, or when `all_or_nothing` and fewer than `count` are.
    ///
    /// It never blocks. A host emulates `waitTimeout` (and `-1`, forever) the way Roblox does:
    /// by reading again every 2 s until items come or the wait is over.
    pub fn queue_read(
        &mut self,
        now: u64,
        client: u32,
        queue: &str,
        invisibility_s: f64,
        count: usize,
        all_or_nothing: bool,
    ) -> Reply<Option<(Vec<Value>, String)>> {
        let invisible_ms = match memorystore::check_read(count, invisibility_s) {
            Ok(ms) => ms,
            Err(e) => return Reply::err(e, 0),
        };
        self.request(now, client, Op::QueueRead, |emu, _| {
            let read = emu
                .memory
                .queue_read(now, queue, invisible_ms, count, all_or_nothing);
            let returned = read.as_ref().map_or(0, |(values, _)| values.len());
            emu.budgets.charge_memory(returned.saturating_sub(1) as f64);
            Ok(read)
        })
    }

    /// `MemoryStoreQueue:RemoveAsync(readId)`: deletes the items of that read. Does nothing once
    /// the invisibility timeout has passed (the items are visible again and stay queued).
    pub fn queue_remove(&mut self, now: u64, client: u32, queue: &str, read_id: &str) -> Reply<()> {
        self.request(now, client, Op::QueueRemove, |emu, _| {
            emu.memory.queue_remove(now, queue, read_id);
            Ok(())
        })
    }

    /// `MemoryStoreQueue:GetSizeAsync(excludeInvisible)`.
    pub fn queue_get_size(
        &mut self,
        now: u64,
        client: u32,
        queue: &str,
        exclude_invisible: bool,
    ) -> Reply<usize> {
        self.request(now, client, Op::QueueGetSize, |emu, _| {
            Ok(emu.memory.queue_size(now, queue, exclude_invisible))
        })
    }

    // ---- inspection (no dice, no budget, no cache) -----------------------------------------

    /// The latest live value of a DataStore key and its key info.
    pub fn inspect_data(&self, name: &str, scope: &str, key: &str) -> Option<Entry> {
        self.data.latest(name, scope, key).map(entry_of)
    }

    /// Every version of a key still kept at `now`, oldest first (tombstones included).
    pub fn inspect_versions(
        &self,
        name: &str,
        scope: &str,
        key: &str,
        now: u64,
    ) -> Vec<DataVersion> {
        self.data.versions(name, scope, key, now)
    }

    /// Keys of a data store whose latest version is live, in key order.
    pub fn inspect_data_keys(&self, name: &str, scope: &str) -> Vec<String> {
        self.data.keys(name, scope)
    }

    /// A live sorted-map entry: its value and when it expires (ms).
    pub fn inspect_map_entry(&self, map: &str, key: &str, now: u64) -> Option<(Value, u64)> {
        self.memory.map_entry(map, key, now)
    }

    /// Every live entry of a sorted map, in ascending sort order.
    pub fn inspect_map(&self, map: &str, now: u64) -> Vec<MapItem> {
        self.memory
            .map_range(now, map, SortDirection::Ascending, usize::MAX, None, None)
    }

    /// The session lock of a DataStore key: holder and expiry, if held at `now`.
    pub fn inspect_lock(
        &self,
        name: &str,
        scope: &str,
        key: &str,
        now: u64,
    ) -> Option<(Value, u64)> {
        self.memory
            .map_entry(&lock_map_name(name, scope, key), LOCK_KEY, now)
    }

    /// Every unexpired item of a queue in read order, visible or not.
    pub fn inspect_queue(&self, queue: &str, now: u64) -> Vec<QueueItemView> {
        self.memory.queue_items(queue, now)
    }

    /// MemoryStore memory in use at `now`, as the memory quota counts it.
    pub fn inspect_memory_bytes(&self, now: u64) -> usize {
        self.memory.memory_bytes(now)
    }
}

fn shutting_down_error() -> StoreError {
    StoreError::data(
        ErrorKind::ShuttingDown,
        401,
        "Request failed. DataModel is inaccessible while the experience is shutting down.",
    )
}
