//! Request budgets: Roblox's per-server DataStore budgets with their throttle queues, and the
//! experience-wide MemoryStore quotas. Off unless [`Config::budget`](super::Config::budget) is
//! set, so scenario tests are never throttled by accident.
//!
//! **DataStore.** Each server (`client`) has one budget per request type, refilled continuously
//! at `base + per_player × players` requests a minute. A server starts with
//! [`BudgetConfig::initial_minutes`] of its rate and accumulates at most
//! [`BudgetConfig::cap_minutes`] of it (the official docs give neither; the community mocks use
//! similar numbers). A request that finds no budget waits in its type's throttle queue (Get or
//! Set) until the budget has refilled; the wait is added to the reply's latency. When
//! [`BudgetConfig::queue_limit`] (30) requests already wait in that queue, the request is dropped
//! with 301–306. Which types a call costs:
//!
//! | call | legacy model | current (2026) model |
//! |---|---|---|
//! | `GetAsync` (not from cache) | Get | StandardRead |
//! | `SetAsync` | Set | StandardWrite |
//! | `UpdateAsync` | Get + Set | StandardRead + StandardWrite |
//! | `RemoveAsync` | Set | StandardRemove |
//!
//! **MemoryStore** (when [`BudgetConfig::memory_store`]): request units refill at
//! `1000 + 120 × CCU` a minute for the whole experience (`TotalRequestsOverLimit` when spent;
//! ranges and queue reads cost one unit per item returned), and memory is capped at
//! `64 KB + 1.2 KB × users`, where users is the highest CCU seen (Roblox shrinks the quota only
//! after an 8-day trailing window); a write that would grow memory past it fails with
//! `TotalMemoryOverLimit`.
//!
//! Not modelled: experience-wide DataStore budgets, per-key throughput (`KeyThrottled`), per
//! structure and per partition MemoryStore limits, Studio's separate limits.

use std::collections::BTreeMap;

use super::{ErrorKind, StoreError};

/// Which of Roblox's two published per-server budget tables applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetModel {
    /// Docs up to 2025-12: Get and Set, `60 + 10n` each.
    Legacy,
    /// From 2026-04: StandardRead/Write/Remove, `60 + 40n` each.
    Current,
}

/// A DataStore request type (`Enum.DataStoreRequestType`), the ones this emulator charges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestType {
    Get,
    Set,
    StandardRead,
    StandardWrite,
    StandardRemove,
}

impl RequestType {
    /// `(base, per_player)` requests per minute as Roblox documents them.
    pub fn default_rate(self) -> (f64, f64) {
        match self {
            RequestType::Get | RequestType::Set => (60.0, 10.0),
            RequestType::StandardRead
            | RequestType::StandardWrite
            | RequestType::StandardRemove => (60.0, 40.0),
        }
    }

    /// The ranges `SetRateLimitForRequestType` accepts: `(max base, max per_player)`.
    fn configurable_range(self) -> (f64, f64) {
        match self {
            RequestType::Get | RequestType::Set => (60.0, 40.0),
            _ => (10_000.0, 200.0),
        }
    }

    fn queue(self) -> usize {
        match self {
            RequestType::Get | RequestType::StandardRead => GET_QUEUE,
            _ => SET_QUEUE,
        }
    }
}

const GET_QUEUE: usize = 0;
const SET_QUEUE: usize = 1;

/// The DataStore call being charged; it picks the request types and the 30x error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataCall {
    Get,
    Set,
    Update,
    Remove,
}

impl DataCall {
    fn types(self, model: BudgetModel) -> &'static [RequestType] {
        use RequestType::*;
        match (model, self) {
            (BudgetModel::Legacy, DataCall::Get) => &[Get],
            (BudgetModel::Legacy, DataCall::Set | DataCall::Remove) => &[Set],
            (BudgetModel::Legacy, DataCall::Update) => &[Get, Set],
            (BudgetModel::Current, DataCall::Get) => &[StandardRead],
            (BudgetModel::Current, DataCall::Set) => &[StandardWrite],
            (BudgetModel::Current, DataCall::Update) => &[StandardRead, StandardWrite],
            (BudgetModel::Current, DataCall::Remove) => &[StandardRemove],
        }
    }

    pub fn queue_full(self) -> StoreError {
        let (code, api) = match self {
            DataCall::Get => (301, "GetAsync"),
            DataCall::Set => (302, "SetAsync"),
            DataCall::Update => (304, "UpdateAsync"),
            DataCall::Remove => (306, "RemoveAsync"),
        };
        StoreError::data(
            ErrorKind::Throttled,
            code,
            &format!("{api} request dropped. Request was throttled but queue was full."),
        )
    }
}

/// Opt-in budget model. `BudgetConfig::default()` is today's Roblox.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetConfig {
    pub model: BudgetModel,
    /// Depth of each throttle queue (Get, Set) per server.
    pub queue_limit: usize,
    /// Budget a server starts with, in minutes of its rate.
    pub initial_minutes: f64,
    /// Most budget a server can accumulate, in minutes of its rate.
    pub cap_minutes: f64,
    /// Also enforce MemoryStore request units and memory.
    pub memory_store: bool,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            model: BudgetModel::Current,
            queue_limit: 30,
            initial_minutes: 1.0,
            cap_minutes: 3.0,
            memory_store: true,
        }
    }
}

/// MemoryStore request units a minute: `1000 + 120 × CCU`.
pub const MEMORY_UNITS_BASE: f64 = 1000.0;
pub const MEMORY_UNITS_PER_CCU: f64 = 120.0;
/// MemoryStore memory: `64 KB + 1.2 KB × users`.
pub const MEMORY_BYTES_BASE: f64 = 64.0 * 1024.0;
pub const MEMORY_BYTES_PER_USER: f64 = 1.2 * 1024.0;

const MINUTE_MS: f64 = 60_000.0;

#[derive(Clone, Debug)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl Bucket {
    fn refill(&mut self, now: u64, per_minute: f64, cap: f64) {
        let elapsed = now.saturating_sub(self.at_ms) as f64;
        self.tokens = (self.tokens + elapsed * per_minute / MINUTE_MS).min(cap.max(0.0));
        self.at_ms = self.at_ms.max(now);
    }
}

#[derive(Clone, Debug, Default)]
struct Server {
    players: u32,
    shutting_down: bool,
    overrides: BTreeMap<RequestType, (f64, f64)>,
    buckets: BTreeMap<RequestType, Bucket>,
    /// When each request waiting in the Get and Set throttle queues will leave it.
    queues: [Vec<u64>; 2],
}

impl Server {
    fn rate(&self, t: RequestType) -> f64 {
        let (base, per_player) = self
            .overrides
            .get(&t)
            .copied()
            .unwrap_or_else(|| t.default_rate());
        base + per_player * f64::from(self.players)
    }
}

/// Budget state for every server, plus the experience-wide MemoryStore quotas.
#[derive(Clone, Debug, Default)]
pub(crate) struct Budgets {
    pub config: Option<BudgetConfig>,
    servers: BTreeMap<u32, Server>,
    memory_units: Option<Bucket>,
    peak_ccu: u32,
}

impl Budgets {
    pub fn new(config: Option<BudgetConfig>) -> Budgets {
        Budgets {
            config,
            ..Budgets::default()
        }
    }

    pub fn set_players(&mut self, client: u32, players: u32) {
        self.servers.entry(client).or_default().players = players;
        self.peak_ccu = self.peak_ccu.max(self.ccu());
    }

    pub fn set_shutting_down(&mut self, client: u32, on: bool) {
        self.servers.entry(client).or_default().shutting_down = on;
    }

    pub fn shutting_down(&self, client: u32) -> bool {
        self.servers.get(&client).is_some_and(|s| s.shutting_down)
    }

    /// Players across every server.
    pub fn ccu(&self) -> u32 {
        self.servers
            .values()
            .fold(0u32, |sum, s| sum.saturating_add(s.players))
    }

    /// `SetRateLimitForRequestType`, with Roblox's accepted ranges.
    pub fn set_rate_limit(
        &mut self,
        client: u32,
        t: RequestType,
        base: f64,
        per_player: f64,
    ) -> Result<(), StoreError> {
        let (max_base, max_per_player) = t.configurable_range();
        if !(0.0..=max_base).contains(&base) || !(0.0..=max_per_player).contains(&per_player) {
            return Err(StoreError::invalid(format!(
                "SetRateLimitForRequestType: {t:?} accepts a base of 0 to {max_base} and a \
                 per-player rate of 0 to {max_per_player}"
            )));
        }
        self.servers
            .entry(client)
            .or_default()
            .overrides
            .insert(t, (base, per_player));
        Ok(())
    }

    /// `GetRequestBudgetForRequestType`: whole requests this server may send now without waiting.
    pub fn budget(&mut self, now: u64, client: u32, t: RequestType) -> f64 {
        let Some(config) = self.config.clone() else {
            return f64::INFINITY;
        };
        let server = self.servers.entry(client).or_default();
        let rate = server.rate(t);
        let bucket = Self::bucket(server, &config, t, now, rate);
        bucket.tokens.max(0.0).floor()
    }

    fn bucket<'a>(
        server: &'a mut Server,
        config: &BudgetConfig,
        t: RequestType,
        now: u64,
        rate: f64,
    ) -> &'a mut Bucket {
        let bucket = server.buckets.entry(t).or_insert_with(|| Bucket {
            tokens: rate * config.initial_minutes,
            at_ms: now,
        });
        bucket.refill(now, rate, rate * config.cap_minutes);
        bucket
    }

    /// Charges one DataStore call. `Ok(wait_ms)` is how long it sat in the throttle queue.
    pub fn admit_data(&mut self, now: u64, client: u32, call: DataCall) -> Result<u64, StoreError> {
        let Some(config) = self.config.clone() else {
            return Ok(0);
        };
        let server = self.servers.entry(client).or_default();
        let types = call.types(config.model);
        // First look: would any type have to queue, and is that queue full?
        for &t in types {
            let rate = server.rate(t);
            let tokens = Self::bucket(server, &config, t, now, rate).tokens;
            if tokens < 1.0 {
                let queue = &mut server.queues[t.queue()];
                queue.retain(|&leaves| leaves > now);
                if queue.len() >= config.queue_limit || rate <= 0.0 {
                    return Err(call.queue_full());
                }
            }
        }
        // Then charge every type; a deficit is paid for by waiting for the refill.
        let mut wait = 0u64;
        for &t in types {
            let rate = server.rate(t);
            let bucket = Self::bucket(server, &config, t, now, rate);
            bucket.tokens -= 1.0;
            if bucket.tokens < 0.0 {
                let ms = (-bucket.tokens * MINUTE_MS / rate).ceil();
                let ms = if ms.is_finite() { ms as u64 } else { u64::MAX };
                server.queues[t.queue()].push(now.saturating_add(ms));
                wait = wait.max(ms);
            }
        }
        Ok(wait)
    }

    fn memory_units_rate(&self) -> f64 {
        MEMORY_UNITS_BASE + MEMORY_UNITS_PER_CCU * f64::from(self.ccu())
    }

    /// Charges `units` MemoryStore request units up front; refused when they are not there.
    pub fn admit_memory(&mut self, now: u64, units: f64) -> Result<(), StoreError> {
        if !self.config.as_ref().is_some_and(|c| c.memory_store) {
            return Ok(());
        }
        let rate = self.memory_units_rate();
        let bucket = self.memory_units.get_or_insert(Bucket {
            tokens: rate,
            at_ms: now,
        });
        bucket.refill(now, rate, rate);
        if bucket.tokens < units {
            return Err(StoreError::memory(
                ErrorKind::Throttled,
                "TotalRequestsOverLimit",
                "Experience-wide request units exceeded.",
            ));
        }
        bucket.tokens -= units;
        Ok(())
    }

    /// Charges units known only after the fact (items returned beyond the first).
    pub fn charge_memory(&mut self, units: f64) {
        if let Some(bucket) = self.memory_units.as_mut() {
            bucket.tokens -= units;
        }
    }

    /// The memory quota in bytes, or `None` when it is not enforced.
    pub fn memory_quota(&self) -> Option<usize> {
        if !self.config.as_ref().is_some_and(|c| c.memory_store) {
            return None;
        }
        Some((MEMORY_BYTES_BASE + MEMORY_BYTES_PER_USER * f64::from(self.peak_ccu)) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy() -> Budgets {
        Budgets::new(Some(BudgetConfig {
            model: BudgetModel::Legacy,
            ..BudgetConfig::default()
        }))
    }

    #[test]
    fn legacy_budget_is_sixty_plus_ten_per_player() {
        let mut b = legacy();
        b.set_players(1, 4);
        assert_eq!(b.budget(0, 1, RequestType::Get), 100.0);
        assert_eq!(b.budget(0, 1, RequestType::Set), 100.0);
        // Three minutes later it has hit the cap of three minutes' worth.
        assert_eq!(b.budget(10 * 60_000, 1, RequestType::Get), 300.0);
    }

    #[test]
    fn current_budget_is_sixty_plus_forty_per_player() {
        let mut b = Budgets::new(Some(BudgetConfig::default()));
        b.set_players(1, 2);
        assert_eq!(b.budget(0, 1, RequestType::StandardWrite), 140.0);
    }

    #[test]
    fn rate_limit_overrides_are_range_checked() {
        let mut b = Budgets::new(Some(BudgetConfig::default()));
        assert!(b
            .set_rate_limit(1, RequestType::StandardRead, 10_001.0, 0.0)
            .is_err());
        assert!(b.set_rate_limit(1, RequestType::Get, 61.0, 0.0).is_err());
        b.set_rate_limit(1, RequestType::StandardRead, 600.0, 0.0)
            .unwrap();
        assert_eq!(b.budget(0, 1, RequestType::StandardRead), 600.0);
    }
}
