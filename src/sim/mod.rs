//! A deterministic simulation: K servers, each a [`Module`](crate::session::Module), on one
//! [`Emulator`](crate::emulator::Emulator), in virtual time, with seeded players, faults,
//! crashes and restarts, and four invariants checked as it runs.
//!
//! # What runs
//!
//! [`run`] plays one seed. A scenario (`scenario.rs`) moves players between servers: a player
//! joins (`new` + `Open` with a template, retried every 6 s while it does not answer
//! `"Success"`), edits its `Value`, sometimes calls `Save` or changes `SaveInterval`,
//! `SaveDelay`, `LockInterval`, `LockAttempts` or `SaveOnClose`, and leaves (`Destroy`,
//! sometimes `Close`, sometimes while its `Open` is still loading), sometimes straight to
//! another server (a teleport). Other servers send gifts: `hidden` + `Open`, edit and `Destroy`
//! when the player is offline, `Queue` when it answers `Locked`; the player's session applies
//! them in its `ProcessQueue` handler and `Remove`s them. Some look at offline players with
//! `Read`. Some players teleport to another server for a few seconds (a join reward there) and
//! straight back. Servers crash (the module vanishes without unlocking; what it sent may still land),
//! shut down gracefully (bind-to-close, killed after 30 s as Roblox does) and are replaced by
//! new ones (new UniqueIds). The emulator injects transient errors, ambiguous writes,
//! throttling, update conflicts and reruns, latency spikes and outage windows; the network adds
//! its own one-way delays and slow windows. [`Script`] drives the same machinery by hand, for
//! regression tests.
//!
//! # How a command reaches the store
//!
//! The driver (`world.rs`, `store.rs`) plays the host of every module. Each command is a request in flight:
//! sent at `t`, **applied at `t + uplink`** (the emulator is called then, so its effect lands
//! then), and answered at `apply + reply latency` (the latency the emulator returns). A write
//! can therefore land after its sender gave up on it, after its lease ended, or after the
//! sender crashed. The mapping (the architecture's command table, as Roblox calls):
//!
//! | command | emulator call |
//! |---|---|
//! | `DataGet` | `data_get` — through the 4 s read cache or not, by [`ReadCache`] |
//! | `DataSet` | `data_set`, with the command's `fence` |
//! | `DataRemove` | `data_remove`, with the command's `fence` |
//! | `LockAcquire` | `map_update(map, "Id")`: absent or mine → mine with `ttl_s`, else cancel (→ `Locked`, the holder seen) |
//! | `LockRelease` | `map_update(map, "Id")` with expiration 0: writes back only if mine |
//! | `QueueAdd` / `QueueRemove` | `queue_add` / `queue_remove` |
//! | `QueueRead` | `queue_read` with a 30 s invisibility; the long poll is emulated as Roblox does it, by reading again every 2 s until `wait_s` |
//!
//! The long poll re-reads only at the 2 s points where something can have become visible (an
//! add landed, or an invisibility timeout ended); the other re-reads would find nothing, so
//! skipping them changes no outcome, only the dice they would have rolled. A read served by the
//! cache happens when the request "lands", one uplink after it was sent, instead of at once.
//!
//! # The read cache: why CI loads with `UseCache = false`
//!
//! The original loads with `GetAsync(key)`, whose default `UseCache = true` serves what this
//! server read or wrote less than 4 s ago. [`ReadCache::Roblox`] is that faithful call, and it
//! loses data: a player leaves server A (A saves), another server writes the key (a gift to the
//! offline player, or a short visit), and the player is back on A within 4 s of A's save; A's
//! `Open` loads its own cached copy, and its next save overwrites the other server's
//! acknowledged write. No lock or fence sees it: every write is made under a valid lock. A
//! teleport to another server and back within 4 s is enough: over 300 seeds (5 h each, the CI
//! shapes) 1,231 loads came from the cache, 191 of them stale, and each of those became a lost
//! update, fenced or not (128 seeds of 300). `tests/sim_hazards.rs` shows it in a few steps. The
//! CI run uses [`ReadCache::Bypass`] (`UseCache = false`), which is what a host on Roblox must do
//! for the load.
//!
//! # The invariants (`check.rs`)
//!
//! * **exclusion:** no two sessions of a key are both open while both believe their lease is
//!   valid (their own last successful lock + `LockInterval × LockAttempts`); and every data
//!   write lands while the lock entry is still its sender's (the lease it was sent under, D8,
//!   is true at the store — checked with or without fencing);
//! * **durability:** every value acknowledged `"Saved"` is the stored value or an ancestor of
//!   it: the generator tags each edit with a fresh version and records its parent, so a save
//!   from a session that never loaded an acknowledged value is a lost update;
//! * **liveness:** every call resolves within [`CALL_BOUND_MS`], no session keeps tasks queued
//!   for [`WEDGE_BOUND_MS`], and the final bind-to-close of every server finishes;
//! * **delivery:** every queued gift is delivered by `ProcessQueue` at least once: within
//!   [`DELIVERY_BOUND_MS`] once its player is open and listening, and by the end unless it is
//!   still queued or has expired.
//!
//! A violation carries the seed and the last events of its key, readable.
//!
//! # Fencing, and the mix that still loses data
//!
//! In [`Mix::ci`] every one-way delay stays under the command deadlines (at most 9.1 s against
//! 10 s for MemoryStore and 15 s for DataStore), while replies may come far later (spikes of
//! 15–20 s): a request the core gave up on has always landed already. The lease discipline (D8)
//! then holds **with or without fencing**: the CI run asserts zero violations both ways, and the
//! fence never refuses a write in it.
//!
//! **The unsafe mix is any one-way delay (server → store) longer than the command's deadline**
//! (`data_timeout_ms`, 15 s, for saves; `memory_timeout_ms`, 10 s, for unlocks) —
//! [`Mix::late_writes`] draws 2 % of requests 16–40 s late. A request that lands after its
//! sender stopped waiting breaks the protocol three ways (`tests/sim_hazards.rs`):
//!
//! 1. a save lands after its lease ended and overwrites the next owner's data — **without
//!    fencing only**; a fencing store refuses it;
//! 2. a save lands after the same session's newer, acknowledged save — fenced or not (same
//!    owner, lock still held);
//! 3. an unlock lands after the same session locked again and deletes its new entry, so another
//!    server takes the key while it is open — fenced or not.
//!
//! No client-side discipline can stop a request that arrives after its sender stopped waiting;
//! only a store that refuses it can, and fencing covers case 1 only. On Roblox such delays come
//! from a request waiting in the DataStore throttle queue (over budget) longer than 15 s.

//!
//! # Opt-in shapes: stalls and server clocks ([`Extra`])
//!
//! Off in every named mix (their seeds replay unchanged; the shapes draw from their own random
//! stream), on with `soak --stalls N`, `--drift`, `--clock-steps N,MS[,forward]`:
//!
//! * **stalls:** a whole server freezes for 1–120 s (a GC pause, a VM migration, a hitch): no
//!   timer fires, no reply is taken, no game code runs; requests already sent fly on. When it
//!   runs again, the replies that came due go first or the timers do (drawn per stall).
//!   Optionally (`--stalls N,MAX_MS,hold`) half the stalls freeze the machine's network stack
//!   too: the server's requests that have not landed wait for the stall's end — a late write
//!   when the stall is longer than the command's deadline.
//! * **drift:** each server's clock runs at 0.99–1.01 times the store's and starts near zero
//!   (a new process's `os.clock()`); leases are judged on it, TTLs on the store's.
//! * **clock steps:** a server's clock steps forwards or backwards (an NTP step of a wall clock
//!   read as the host's time; the JS host's `realClock` read `Date.now()` until these runs, and
//!   now follows only jumps ahead, as after a suspend, so CI steps forwards only). The core never
//!   lets its time go back (it keeps its last reading), so a step back of `X` makes the
//!   session's lease look `X` longer than the store's TTL. D8 leaves a save `data_timeout_ms` (15 s) of lease room, so a
//!   step back by more than that, while refreshes fail until the lease ends, lets a save land
//!   after the entry expired: a clock that is not monotonic breaks the core's contract ("any
//!   monotonic clock"); the fence refuses those writes. A step *forwards* while a save is in
//!   flight ends its 15 s deadline early in real time: the core retries, a newer save is
//!   acknowledged, and the first try lands after it (late-write case 2 below; the fence's write
//!   sequence refuses it). What breaks is a lag behind the store's clock (steps back add up:
//!   the model's clock walks) or a jump ahead near 15 s: steps of ±10 s broke once in 2,000
//!   seeds (two steps back, 15.8 s in all, seed 30152 harsh, unfenced), ±15 s in 2 of 800,
//!   ±30 s in 44 of 800.
//!
//! What they found (400 seeds × 4 h, `--vary`, each fencing setting): stalls of 1–120 s or up
//! to 10 min, drift, steps of ±10 s, and all three at once: no violation (and 2,500 more
//! seeds of 5 h of all three, ci and harsh: one, the walk of steps above). Stalls that hold
//! outbound requests: none fenced; unfenced, late writes (cases 1 and 2 below), as any delay
//! past the deadline does. Steps of ±30 s: unfenced, lost saves (case 2, from steps forwards).

mod check;
mod report;
mod scenario;
mod script;
mod store;
mod trace;
mod world;

pub use report::Report;
pub use script::Script;

use crate::emulator::faults::{FaultConfig, OpFaults};
use crate::emulator::{FaultCounts, Op};

/// A call must resolve within this long (the longest legitimate wait is a few tasks of 3 tries
/// each, well under 5 minutes).
pub const CALL_BOUND_MS: u64 = 10 * 60_000;
/// A session whose task queue is never empty for this long is wedged.
pub const WEDGE_BOUND_MS: u64 = 30 * 60_000;
/// A queued gift must be delivered once its player has been open and listening this long
/// (outages of up to 4 minutes and the queue loop's 30 s backoff included).
pub const DELIVERY_BOUND_MS: u64 = 15 * 60_000;

/// How `DataGet` reads (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadCache {
    /// `GetAsync(key)`: Roblox's default, what the original calls. Unsafe.
    Roblox,
    /// `GetAsync(key, {UseCache = false})`.
    Bypass,
}

/// The network's one-way delay from a server to the store (the reply's way back is the
/// emulator's latency).
#[derive(Clone, Debug, PartialEq)]
pub struct Uplink {
    /// Uniform, both ends inclusive (ms).
    pub base_ms: (u64, u64),
    /// Probability of a spike, and its size (uniform, ms).
    pub spike: f64,
    pub spike_ms: (u64, u64),
}

/// Everything that goes wrong, and how often.
#[derive(Clone, Debug, PartialEq)]
pub struct Mix {
    /// The emulator's per-operation faults (its outage list is filled from `outages_per_hour`).
    pub faults: FaultConfig,
    /// The emulator's faults inside a slow window (more latency, more spikes).
    pub slow_faults: FaultConfig,
    pub uplink: Uplink,
    /// Added to the uplink inside a slow window (uniform, ms).
    pub slow_uplink_ms: (u64, u64),
    /// Slow windows per simulated hour, and their length (ms).
    pub slow_per_hour: f64,
    pub slow_ms: (u64, u64),
    /// Store outages per simulated hour (DataStore, MemoryStore or both), and their length.
    pub outages_per_hour: f64,
    pub outage_ms: (u64, u64),
    /// Crashes and graceful shutdowns per server-hour.
    pub crashes_per_server_hour: f64,
    pub shutdowns_per_server_hour: f64,
    /// Opt-in shapes (none in the named mixes, so their seeds replay unchanged): whole-process
    /// stalls, clock drift and clock steps. See [`Mix::with_stalls`], [`Mix::with_drift`],
    /// [`Mix::with_clock_steps`].
    pub extra: Extra,
}

/// Fault shapes that no named mix has: opt-in, drawn from their own random stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extra {
    /// Server stalls per server-hour (GC pause, VM migration, a hitch): the process freezes,
    /// no timer fires, no reply is taken, no call is made; then what came due is handled at
    /// once (replies first or timers first, drawn per stall). Requests already sent fly on.
    pub stalls_per_server_hour: f64,
    /// A stall's length (uniform, ms).
    pub stall_ms: (u64, u64),
    /// The share of stalls that also hold the server's requests that have not landed yet
    /// (a frozen VM, its network stack with it): they land after the stall, in order.
    pub stall_holds_outbound: f64,
    /// Each server's clock runs at a rate drawn uniformly from this range against the
    /// store's, and starts at a small random reading (a new process's `os.clock()`); `None`:
    /// every server reads the store's clock.
    pub clock_rate: Option<(f64, f64)>,
    /// Clock steps (an NTP step of a wall clock, as `Date.now()` reads it) per server-hour.
    pub clock_steps_per_server_hour: f64,
    /// A step's size (uniform, ms, negative: backwards).
    pub clock_step_ms: (i64, i64),
}

impl Mix {
    /// Nothing goes wrong; latency only.
    pub fn calm() -> Mix {
        let quiet = FaultConfig::uniform(OpFaults {
            latency_ms: (5, 60),
            ..OpFaults::NONE
        });
        Mix {
            faults: quiet.clone(),
            slow_faults: quiet,
            uplink: Uplink {
                base_ms: (5, 60),
                spike: 0.0,
                spike_ms: (0, 0),
            },
            slow_uplink_ms: (0, 0),
            slow_per_hour: 0.0,
            slow_ms: (0, 0),
            outages_per_hour: 0.0,
            outage_ms: (0, 0),
            crashes_per_server_hour: 0.0,
            shutdowns_per_server_hour: 0.0,
            extra: Extra::default(),
        }
    }

    /// The mix CI asserts zero violations for, with and without fencing: every kind of fault,
    /// often, with every one-way delay below the command deadlines (longest uplink 9.5 s <
    /// 10 s). Replies may be late by far more (spikes of 20 s): the core gives up on them, and
    /// the effect has landed already.
    pub fn ci() -> Mix {
        let data = OpFaults {
            transient: 0.02,
            ambiguous: 0.02,
            throttle: 0.005,
            rerun: 0.0,
            conflict: 0.0,
            latency_ms: (20, 200),
            spike: 0.01,
            spike_ms: 20_000,
        };
        let memory = OpFaults {
            transient: 0.02,
            ambiguous: 0.02,
            throttle: 0.005,
            rerun: 0.02,
            conflict: 0.01,
            latency_ms: (5, 80),
            spike: 0.01,
            spike_ms: 15_000,
        };
        let faults = ops_faults(&data, &memory);
        let slow_faults = ops_faults(
            &OpFaults {
                latency_ms: (500, 3_000),
                spike: 0.1,
                ..data
            },
            &OpFaults {
                latency_ms: (300, 2_000),
                spike: 0.1,
                ..memory
            },
        );
        Mix {
            faults,
            slow_faults,
            uplink: Uplink {
                base_ms: (5, 120),
                spike: 0.01,
                spike_ms: (1_000, 6_000),
            },
            slow_uplink_ms: (0, 3_000),
            slow_per_hour: 1.0,
            slow_ms: (10_000, 120_000),
            outages_per_hour: 0.5,
            outage_ms: (5_000, 240_000),
            crashes_per_server_hour: 0.3,
            shutdowns_per_server_hour: 0.15,
            extra: Extra::default(),
        }
    }

    /// [`Mix::ci`] with five times the faults, outages and crashes, one-way delays still under
    /// the deadlines: for soak runs that look for trouble.
    pub fn harsh() -> Mix {
        let mut mix = Mix::ci();
        for config in [&mut mix.faults, &mut mix.slow_faults] {
            for op in Op::ALL {
                let f = config.get_mut(op);
                f.transient = (f.transient * 5.0).min(0.5);
                f.ambiguous = (f.ambiguous * 5.0).min(0.5);
                f.throttle = (f.throttle * 5.0).min(0.5);
                f.conflict = (f.conflict * 5.0).min(0.5);
                f.spike = (f.spike * 5.0).min(0.5);
            }
        }
        mix.uplink.spike *= 5.0;
        mix.slow_per_hour *= 3.0;
        mix.outages_per_hour *= 5.0;
        mix.crashes_per_server_hour *= 3.0;
        mix.shutdowns_per_server_hour *= 3.0;
        mix
    }

    /// [`Mix::ci`] plus one-way delays longer than the DataStore deadline (15 s): requests
    /// that land after their sender stopped waiting. Not safe without fencing (see the module
    /// docs); kept out of the CI assertions.
    pub fn late_writes() -> Mix {
        Mix {
            uplink: Uplink {
                base_ms: (5, 120),
                spike: 0.02,
                spike_ms: (16_000, 40_000),
            },
            ..Mix::ci()
        }
    }

    /// [`Mix::harsh`] with [`Mix::late_writes`]' one-way delays: every fault at once, for soak
    /// runs with fencing (without it, late writes lose saves by design).
    pub fn harsh_late() -> Mix {
        Mix {
            uplink: Uplink {
                spike: Mix::late_writes().uplink.spike * 5.0,
                ..Mix::late_writes().uplink
            },
            ..Mix::harsh()
        }
    }

    /// Adds server stalls of 1–120 s, `per_hour` per server-hour.
    pub fn with_stalls(mut self, per_hour: f64) -> Mix {
        self.extra.stalls_per_server_hour = per_hour;
        self.extra.stall_ms = (1_000, 120_000);
        self
    }

    /// Gives every server a clock running at 0.99–1.01 times the store's.
    pub fn with_drift(mut self) -> Mix {
        self.extra.clock_rate = Some((0.99, 1.01));
        self
    }

    /// Adds clock steps of `ms.0` to `ms.1` (negative: backwards), `per_hour` per server-hour.
    pub fn with_clock_steps(mut self, per_hour: f64, ms: (i64, i64)) -> Mix {
        self.extra.clock_steps_per_server_hour = per_hour;
        self.extra.clock_step_ms = ms;
        self
    }

    /// The longest one-way delay this mix can produce (ms).
    pub fn max_uplink_ms(&self) -> u64 {
        self.uplink.base_ms.1 + self.uplink.spike_ms.1 + self.slow_uplink_ms.1
    }
}

fn ops_faults(data: &OpFaults, memory: &OpFaults) -> FaultConfig {
    let mut config = FaultConfig::none();
    for op in Op::DATA {
        config.set(op, data.clone());
    }
    for op in Op::MEMORY {
        config.set(op, memory.clone());
    }
    config
}

/// One simulation run's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Sessions send fenced writes and the emulator enforces them.
    pub fencing: bool,
    /// Simulated time with players acting (the final shutdown comes after).
    pub hours: f64,
    pub players: usize,
    /// Servers up at once (a crashed one is replaced).
    pub servers: usize,
    pub mix: Mix,
    pub read_cache: ReadCache,
    /// Events kept per key for violation reports.
    pub trace_len: usize,
    /// Gifts sent per simulated hour (in total).
    pub gifts_per_hour: f64,
    /// Each seed draws its own shape: 6 to 30 players on 1 to 4 servers (`players` and
    /// `servers` are then ignored).
    pub vary_shape: bool,
    /// Game code does what game code does now and then: a `Saving` handler edits the value, a
    /// value cannot be converted (the save fails), a ProcessQueue handler disconnects and
    /// connects again. ([`Script`] turns it off.)
    pub host_quirks: bool,
}

impl SimConfig {
    /// The CI run's shape: 12 players on 3 servers for 5 hours.
    pub fn ci(fencing: bool) -> SimConfig {
        SimConfig {
            fencing,
            hours: 5.0,
            players: 12,
            servers: 3,
            mix: Mix::ci(),
            read_cache: ReadCache::Bypass,
            trace_len: 60,
            gifts_per_hour: 60.0,
            vary_shape: false,
            host_quirks: true,
        }
    }
}

/// Which invariant broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    Exclusion,
    Durability,
    Liveness,
    Delivery,
}

impl Invariant {
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Exclusion => "exclusion",
            Invariant::Durability => "durability",
            Invariant::Liveness => "liveness",
            Invariant::Delivery => "delivery",
        }
    }
}

/// A broken invariant, with what led to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub seed: u64,
    pub fencing: bool,
    pub invariant: Invariant,
    /// Virtual time (ms).
    pub at_ms: u64,
    /// The key's `name/scope/key`, when it concerns one key.
    pub key: Option<String>,
    pub message: String,
    /// The last events of that key, oldest first.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} violation, seed {} (fencing {}), at {}: {}",
            self.invariant.name(),
            self.seed,
            if self.fencing { "on" } else { "off" },
            trace::clock(self.at_ms),
            self.message
        )?;
        if let Some(key) = &self.key {
            writeln!(f, "  last {} events of {key}:", self.trace.len())?;
        }
        for line in &self.trace {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// What the scenario did, beyond the emulator's own fault counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub calls: u64,
    pub commands: u64,
    pub uplink_spikes: u64,
    pub slow_windows: u64,
    pub outages: u64,
    pub crashes: u64,
    pub shutdowns: u64,
    pub servers_started: u64,
    pub joins: u64,
    pub open_locked: u64,
    pub edits: u64,
    pub saves_acknowledged: u64,
    pub property_changes: u64,
    /// `Read()`s of offline players' data.
    pub reads: u64,
    /// Quick visits to another server and back (teleports).
    pub quick_visits: u64,
    /// Snapshots the host could not hand over (the save answers "Error").
    pub snapshot_failures: u64,
    /// Edits made by `Saving` handlers.
    pub saving_edits: u64,
    /// Snapshots handed over as the same texts as the session's last one (`same_texts`).
    pub same_texts: u64,
    /// ProcessQueue handlers disconnected (and later connected again).
    pub disconnects: u64,
    pub gifts_direct: u64,
    pub gifts_queued: u64,
    pub gifts_delivered: u64,
    /// Requests that landed after their sender had crashed.
    pub orphan_applies: u64,
    /// Replies that came after the core had given up on them.
    pub late_replies: u64,
    /// Data writes applied at the store (including the ambiguous ones).
    pub writes_applied: u64,
    /// Data writes that landed after their sender gave up on them and that the fence refused.
    pub late_writes_fenced: u64,
    /// Refreshes the store answered "lapsed" within their deadline (D22: the session closes
    /// without saving). Late tries the core gave up on are not counted.
    pub lapses: u64,
    /// Saves that gave way to a lock refresh queued behind them (D22).
    pub saves_gave_way: u64,
    /// Loads the read cache answered, and those whose value was no longer the stored one.
    pub cached_loads: u64,
    pub stale_loads: u64,
    /// Server stalls, and clock steps (forwards and backwards).
    pub stalls: u64,
    pub clock_steps: u64,
}

impl Stats {
    pub(crate) fn add(&mut self, other: &Stats) {
        self.calls += other.calls;
        self.commands += other.commands;
        self.uplink_spikes += other.uplink_spikes;
        self.slow_windows += other.slow_windows;
        self.outages += other.outages;
        self.crashes += other.crashes;
        self.shutdowns += other.shutdowns;
        self.servers_started += other.servers_started;
        self.joins += other.joins;
        self.open_locked += other.open_locked;
        self.edits += other.edits;
        self.saves_acknowledged += other.saves_acknowledged;
        self.property_changes += other.property_changes;
        self.reads += other.reads;
        self.quick_visits += other.quick_visits;
        self.snapshot_failures += other.snapshot_failures;
        self.saving_edits += other.saving_edits;
        self.same_texts += other.same_texts;
        self.disconnects += other.disconnects;
        self.gifts_direct += other.gifts_direct;
        self.gifts_queued += other.gifts_queued;
        self.gifts_delivered += other.gifts_delivered;
        self.orphan_applies += other.orphan_applies;
        self.late_replies += other.late_replies;
        self.writes_applied += other.writes_applied;
        self.late_writes_fenced += other.late_writes_fenced;
        self.lapses += other.lapses;
        self.saves_gave_way += other.saves_gave_way;
        self.cached_loads += other.cached_loads;
        self.stale_loads += other.stale_loads;
        self.stalls += other.stalls;
        self.clock_steps += other.clock_steps;
    }
}

/// One seed's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub seed: u64,
    pub fencing: bool,
    /// Time sessions spent open, summed over sessions (ms).
    pub session_ms: u64,
    pub faults: FaultCounts,
    pub stats: Stats,
    pub violations: Vec<Violation>,
    /// A hash of every event in order: the same seed and config give the same digest.
    pub digest: u64,
}

impl Outcome {
    pub fn session_hours(&self) -> f64 {
        self.session_ms as f64 / 3_600_000.0
    }
}

/// Plays one seed to the end.
pub fn run(seed: u64, config: &SimConfig) -> Outcome {
    let mut sim = world::Sim::new(seed, config.clone());
    sim.run();
    sim.outcome()
}

/// Plays seeds `first..first + count` on `threads` threads and adds up their figures, seeds in
/// order (the CI test and `make soak`). Each seed plays the same way whichever thread runs it.
/// Native only: the wasm builds stay free of threads. A seed that panics panics the caller.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_seeds(first: u64, count: u64, config: &SimConfig, threads: usize) -> Report {
    let next = std::sync::atomic::AtomicU64::new(first);
    let end = first.saturating_add(count);
    let reports: Vec<Report> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut report = Report::default();
                    loop {
                        let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if seed >= end {
                            break report;
                        }
                        report.add(&run(seed, config));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut total = Report::default();
    for report in &reports {
        total.merge(report);
    }
    total.seeds.sort_unstable();
    total.violations.sort_by_key(|v| (v.seed, v.at_ms));
    total
}
