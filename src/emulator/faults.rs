//! Fault injection: what goes wrong, when, and how often.
//!
//! Every request the emulator serves over its pretend network (cache hits and argument errors
//! never reach it) first rolls its dice here. The dice are a SplitMix64 stream **per operation
//! kind**, seeded from [`Config::seed`](super::Config::seed), and every roll draws the same
//! number of values whatever the configuration says. So the same seed and the same sequence of
//! calls give the same faults, and adding queue traffic to a scenario does not reshuffle the
//! faults its data saves see.
//!
//! What a roll can decide (in the order the emulator applies them):
//!
//! 1. an **outage** window covers this kind at `now`: the request fails, nothing is applied;
//! 2. **throttling**: the request fails as Roblox fails a throttled request (301–306 for data,
//!    `RequestThrottled` for MemoryStore), nothing is applied;
//! 3. a **transient** error (`502` / `InternalError`), nothing is applied;
//! 4. an `UpdateAsync` transform is **re-run** (as Roblox re-runs it when another server wrote
//!    in between), or a MemoryStore `UpdateAsync` **gives up** with `UpdateConflict`;
//! 5. an **ambiguous** write: applied, and yet the caller gets the same error as in 3;
//! 6. the **latency** of the reply: uniform in `latency_ms`, plus `spike_ms` with probability
//!    `spike`.

use super::Op;

pub use crate::rng::Rng;

/// The faults of one operation kind. Probabilities are in `0..=1` (anything else is clamped).
#[derive(Clone, Debug, PartialEq)]
pub struct OpFaults {
    /// A transient error (`502` / `InternalError`); nothing is applied.
    pub transient: f64,
    /// The request is applied but the caller gets the same error as a transient one. Only for
    /// kinds that change something ([`Op::is_write`]); for pure reads it acts as `transient`.
    pub ambiguous: f64,
    /// The request is refused as throttled; nothing is applied.
    pub throttle: f64,
    /// An `UpdateAsync` transform runs one extra time first (its result thrown away), as when
    /// Roblox re-runs it after another server's write. `DataUpdate` and `MapUpdate` only.
    pub rerun: f64,
    /// A MemoryStore `UpdateAsync` runs its transform, then gives up with `UpdateConflict`
    /// (too many compare-and-swap retries); nothing is written. `MapUpdate` only.
    pub conflict: f64,
    /// Uniform reply latency, both ends inclusive, in milliseconds.
    pub latency_ms: (u64, u64),
    /// Probability of a latency spike, added on top of the uniform latency.
    pub spike: f64,
    pub spike_ms: u64,
}

impl Default for OpFaults {
    fn default() -> Self {
        OpFaults::NONE
    }
}

impl OpFaults {
    /// Nothing ever goes wrong and every reply is instant.
    pub const NONE: OpFaults = OpFaults {
        transient: 0.0,
        ambiguous: 0.0,
        throttle: 0.0,
        rerun: 0.0,
        conflict: 0.0,
        latency_ms: (0, 0),
        spike: 0.0,
        spike_ms: 0,
    };
}

/// A time window `[start_ms, end_ms)` during which every request of the listed kinds fails.
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    pub ops: Vec<Op>,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Outage {
    /// An outage of every kind (DataStore and MemoryStore alike).
    pub fn all(start_ms: u64, end_ms: u64) -> Outage {
        Outage {
            ops: Op::ALL.to_vec(),
            start_ms,
            end_ms,
        }
    }

    fn covers(&self, op: Op, now: u64) -> bool {
        self.start_ms <= now && now < self.end_ms && self.ops.contains(&op)
    }
}

/// Faults for every operation kind, plus outage windows. The default injects nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    per_op: [OpFaults; Op::COUNT],
    pub outages: Vec<Outage>,
}

impl FaultConfig {
    /// No faults, no latency.
    pub fn none() -> FaultConfig {
        FaultConfig::default()
    }

    /// The same faults for every kind.
    pub fn uniform(faults: OpFaults) -> FaultConfig {
        FaultConfig {
            per_op: std::array::from_fn(|_| faults.clone()),
            outages: Vec::new(),
        }
    }

    /// Builder form of [`FaultConfig::set`].
    pub fn with(mut self, op: Op, faults: OpFaults) -> FaultConfig {
        self.set(op, faults);
        self
    }

    /// Builder form of pushing an [`Outage`].
    pub fn with_outage(mut self, outage: Outage) -> FaultConfig {
        self.outages.push(outage);
        self
    }

    pub fn set(&mut self, op: Op, faults: OpFaults) {
        self.per_op[op.index()] = faults;
    }

    pub fn get(&self, op: Op) -> &OpFaults {
        &self.per_op[op.index()]
    }

    pub fn get_mut(&mut self, op: Op) -> &mut OpFaults {
        &mut self.per_op[op.index()]
    }
}

/// How often each thing happened to one operation kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Requests that reached the pretend network (cache hits and argument errors excluded).
    pub requests: u64,
    pub outage: u64,
    pub throttled: u64,
    pub transient: u64,
    /// Applied, but reported as failed.
    pub ambiguous: u64,
    pub rerun: u64,
    pub conflict: u64,
    pub spikes: u64,
    /// Writes the fence turned away (not injected, but worth reporting alongside).
    pub fenced: u64,
    /// Requests the budget model refused because the throttle queue was full (not injected).
    pub queue_full: u64,
}

impl OpCounts {
    /// Requests that failed because of an injected fault (ambiguous ones included).
    pub fn injected_failures(&self) -> u64 {
        self.outage + self.throttled + self.transient + self.ambiguous + self.conflict
    }

    fn add(&mut self, other: &OpCounts) {
        self.requests += other.requests;
        self.outage += other.outage;
        self.throttled += other.throttled;
        self.transient += other.transient;
        self.ambiguous += other.ambiguous;
        self.rerun += other.rerun;
        self.conflict += other.conflict;
        self.spikes += other.spikes;
        self.fenced += other.fenced;
        self.queue_full += other.queue_full;
    }
}

/// Counters per operation kind, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    per_op: [OpCounts; Op::COUNT],
}

impl FaultCounts {
    pub fn get(&self, op: Op) -> OpCounts {
        self.per_op[op.index()]
    }

    /// The sum over every kind.
    pub fn total(&self) -> OpCounts {
        let mut sum = OpCounts::default();
        for counts in &self.per_op {
            sum.add(counts);
        }
        sum
    }

    /// Every kind with its counts, in [`Op::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Op, OpCounts)> + '_ {
        Op::ALL.iter().map(move |op| (*op, self.get(*op)))
    }

    pub(crate) fn at(&mut self, op: Op) -> &mut OpCounts {
        &mut self.per_op[op.index()]
    }
}

/// The outcome of one request's dice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Roll {
    pub outage: bool,
    pub throttle: bool,
    pub transient: bool,
    pub ambiguous: bool,
    pub rerun: bool,
    pub conflict: bool,
    pub spike: bool,
    pub latency_ms: u64,
}

/// The dice and the counters.
#[derive(Clone, Debug)]
pub(crate) struct Faults {
    pub config: FaultConfig,
    streams: [Rng; Op::COUNT],
    pub counts: FaultCounts,
}

impl Faults {
    pub fn new(seed: u64, config: FaultConfig) -> Faults {
        let streams = std::array::from_fn(|i| {
            // Decorrelate the streams: mix the kind into the seed, then run it through
            // SplitMix once so neighbouring seeds do not give neighbouring streams.
            let mut mixer = Rng::new(seed ^ ((i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)));
            Rng::new(mixer.next_u64())
        });
        Faults {
            config,
            streams,
            counts: FaultCounts::default(),
        }
    }

    /// Rolls the dice for one request of kind `op` at `now`. Always draws the same eight values.
    pub fn roll(&mut self, op: Op, now: u64) -> Roll {
        let f = &self.config.per_op[op.index()];
        let rng = &mut self.streams[op.index()];
        let mut hit = |p: f64| rng.next_f64() < p.clamp(0.0, 1.0);
        let throttle = hit(f.throttle);
        let transient = hit(f.transient);
        let ambiguous = hit(f.ambiguous);
        let rerun = hit(f.rerun);
        let conflict = hit(f.conflict);
        let spike = hit(f.spike);
        let base = rng.range(f.latency_ms.0, f.latency_ms.1);
        let _reserved = rng.next_u64();
        let outage = self.config.outages.iter().any(|o| o.covers(op, now));
        let write = op.is_write();
        Roll {
            outage,
            throttle,
            // A read that "applies" changes nothing, so an ambiguous read is a plain failure.
            transient: transient || (ambiguous && !write),
            ambiguous: ambiguous && write,
            rerun: rerun && matches!(op, Op::DataUpdate | Op::MapUpdate),
            conflict: conflict && op == Op::MapUpdate,
            spike,
            latency_ms: base.saturating_add(if spike { f.spike_ms } else { 0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_range_covers_both_ends_and_accepts_reversed_bounds() {
        let mut rng = Rng::new(7);
        let draws: Vec<u64> = (0..200).map(|_| rng.range(5, 3)).collect();
        assert!(draws.iter().all(|d| (3..=5).contains(d)));
        assert!(draws.contains(&3) && draws.contains(&5));
        assert!(rng.range(0, u64::MAX) > 0 || rng.range(0, u64::MAX) > 0);
    }

    #[test]
    fn rolls_are_independent_per_kind() {
        let cfg = FaultConfig::uniform(OpFaults {
            transient: 0.5,
            ..OpFaults::NONE
        });
        let mut a = Faults::new(1, cfg.clone());
        let mut b = Faults::new(1, cfg);
        // `b` sees extra queue traffic in between; its DataSet dice must not move.
        let seq_a: Vec<bool> = (0..50).map(|t| a.roll(Op::DataSet, t).transient).collect();
        let seq_b: Vec<bool> = (0..50)
            .map(|t| {
                b.roll(Op::QueueRead, t);
                b.roll(Op::DataSet, t).transient
            })
            .collect();
        assert_eq!(seq_a, seq_b);
    }
}
