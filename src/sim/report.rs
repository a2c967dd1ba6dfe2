//! Figures over many runs: seeds, simulated session-hours, faults per kind, what the scenario
//! did, and every violation.

use std::fmt;

use super::{Outcome, Stats, Violation};
use crate::emulator::{FaultCounts, Op, OpCounts};

/// Many [`Outcome`]s added up.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub runs: u64,
    pub seeds: Vec<u64>,
    pub session_ms: u64,
    /// Per operation kind, in [`Op::ALL`] order.
    pub faults: Vec<(Op, OpCounts)>,
    pub stats: Stats,
    pub violations: Vec<Violation>,
}

fn add_counts(a: &mut OpCounts, b: &OpCounts) {
    a.requests += b.requests;
    a.outage += b.outage;
    a.throttled += b.throttled;
    a.transient += b.transient;
    a.ambiguous += b.ambiguous;
    a.rerun += b.rerun;
    a.conflict += b.conflict;
    a.spikes += b.spikes;
    a.fenced += b.fenced;
    a.queue_full += b.queue_full;
}

impl Report {
    pub fn add(&mut self, outcome: &Outcome) {
        self.runs += 1;
        if !self.seeds.contains(&outcome.seed) {
            self.seeds.push(outcome.seed);
        }
        self.session_ms += outcome.session_ms;
        self.add_faults(&outcome.faults);
        self.stats.add(&outcome.stats);
        self.violations.extend(outcome.violations.iter().cloned());
    }

    fn add_faults(&mut self, faults: &FaultCounts) {
        if self.faults.is_empty() {
            self.faults = Op::ALL
                .iter()
                .map(|op| (*op, OpCounts::default()))
                .collect();
        }
        for (op, counts) in faults.iter() {
            if let Some((_, sum)) = self.faults.iter_mut().find(|(o, _)| *o == op) {
                add_counts(sum, &counts);
            }
        }
    }

    pub fn session_hours(&self) -> f64 {
        self.session_ms as f64 / 3_600_000.0
    }

    pub fn merge(&mut self, other: &Report) {
        self.runs += other.runs;
        for seed in &other.seeds {
            if !self.seeds.contains(seed) {
                self.seeds.push(*seed);
            }
        }
        self.session_ms += other.session_ms;
        if self.faults.is_empty() {
            self.faults = other.faults.clone();
        } else {
            for (op, counts) in &other.faults {
                if let Some((_, sum)) = self.faults.iter_mut().find(|(o, _)| o == op) {
                    add_counts(sum, counts);
                }
            }
        }
        self.stats.add(&other.stats);
        self.violations.extend(other.violations.iter().cloned());
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let mut seeds = self.seeds.clone();
        seeds.sort_unstable();
        let range = match (seeds.first(), seeds.last()) {
            (Some(a), Some(b)) if (b - a) as usize + 1 == seeds.len() => format!(" ({a}..={b})"),
            _ => String::new(),
        };
        writeln!(
            f,
            "runs {}, seeds {}{range}, simulated session-hours {:.0}",
            self.runs,
            seeds.len(),
            self.session_hours()
        )?;
        writeln!(
            f,
            "scenario: {} joins ({} answered Locked), {} edits, {} saves acknowledged, {} property changes, {} offline reads, {} calls, {} commands",
            s.joins, s.open_locked, s.edits, s.saves_acknowledged, s.property_changes, s.reads, s.calls, s.commands
        )?;
        writeln!(
            f,
            "          gifts: {} applied directly, {} queued, {} delivered by ProcessQueue",
            s.gifts_direct, s.gifts_queued, s.gifts_delivered
        )?;
        writeln!(
            f,
            "          game code: {} Saving handlers edited, {} snapshots failed, {} snapshots the same texts as the last, {} ProcessQueue handlers disconnected",
            s.saving_edits, s.snapshot_failures, s.same_texts, s.disconnects
        )?;
        writeln!(
            f,
            "          servers: {} started, {} crashed, {} shut down; {} quick visits to another server and back; {} requests landed after their sender crashed",
            s.servers_started, s.crashes, s.shutdowns, s.quick_visits, s.orphan_applies
        )?;
        writeln!(
            f,
            "          network: {} uplink spikes, {} slow windows, {} outage windows; {} replies came after the core gave up",
            s.uplink_spikes, s.slow_windows, s.outages, s.late_replies
        )?;
        writeln!(
            f,
            "          lock (D22): {} refreshes found their lease lapsed, {} saves gave way to a refresh, {} late writes refused by the fence",
            s.lapses, s.saves_gave_way, s.late_writes_fenced
        )?;
        if s.stalls + s.clock_steps > 0 {
            writeln!(
                f,
                "          extra shapes: {} server stalls, {} clock steps",
                s.stalls, s.clock_steps
            )?;
        }
        if s.cached_loads > 0 {
            writeln!(
                f,
                "          read cache: {} loads served from it, {} of them stale",
                s.cached_loads, s.stale_loads
            )?;
        }
        writeln!(
            f,
            "faults injected by the emulator, per kind:\n  {:<12} {:>9} {:>8} {:>9} {:>9} {:>9} {:>6} {:>8} {:>7} {:>7}",
            "op", "requests", "outage", "throttled", "transient", "ambiguous", "rerun", "conflict", "spikes", "fenced"
        )?;
        let mut total = OpCounts::default();
        for (op, c) in &self.faults {
            if c.requests == 0 {
                continue;
            }
            add_counts(&mut total, c);
            writeln!(
                f,
                "  {:<12} {:>9} {:>8} {:>9} {:>9} {:>9} {:>6} {:>8} {:>7} {:>7}",
                format!("{op:?}"),
                c.requests,
                c.outage,
                c.throttled,
                c.transient,
                c.ambiguous,
                c.rerun,
                c.conflict,
                c.spikes,
                c.fenced
            )?;
        }
        writeln!(
            f,
            "  {:<12} {:>9} {:>8} {:>9} {:>9} {:>9} {:>6} {:>8} {:>7} {:>7}",
            "total",
            total.requests,
            total.outage,
            total.throttled,
            total.transient,
            total.ambiguous,
            total.rerun,
            total.conflict,
            total.spikes,
            total.fenced
        )?;
        write!(f, "violations: {}", self.violations.len())?;
        let kinds = [
            super::Invariant::Exclusion,
            super::Invariant::Durability,
            super::Invariant::Liveness,
            super::Invariant::Delivery,
        ];
        let parts: Vec<String> = kinds
            .iter()
            .map(|k| {
                let n = self.violations.iter().filter(|v| v.invariant == *k).count();
                format!("{} {n}", k.name())
            })
            .collect();
        writeln!(f, " ({})", parts.join(", "))
    }
}
