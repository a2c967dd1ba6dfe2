//! The CI-sized simulation: many seeds of K servers on one emulator, with and without fencing,
//! under the CI fault mix (`Mix::ci`), plus a slice of the harsh mix (`Mix::harsh`, both ways)
//! and of late writes (`Mix::late_writes`, fenced). Zero violations are required in each.
//! Prints the figures: seeds, simulated session-hours, faults injected per kind, what the
//! scenario did. The long runs are `make soak` (docs/DESIGN.md, D22).
//!
//! A failure prints each violation with its seed and the last events of its key; replay one
//! seed with `cargo run --release --example soak -- --first SEED --seeds 1 --trace`.

use std::time::Instant;

use datastore_module::sim::{run, run_seeds, Mix, ReadCache, Report, SimConfig};

/// Seeds per fencing setting.
const SEEDS: u64 = 200;
/// Simulated hours per seed.
const HOURS: f64 = 4.0;

/// The CI run's shape: each seed draws 6 to 30 players on 1 to 4 servers.
fn ci(fencing: bool) -> SimConfig {
    SimConfig {
        hours: HOURS,
        vary_shape: true,
        ..SimConfig::ci(fencing)
    }
}
/// Together the two settings must simulate at least this many session-hours.
const MIN_SESSION_HOURS: f64 = 10_000.0;

/// Runs `seeds` seeds on every core (the 2-core CI machine runs two at a time).
fn run_all(first: u64, seeds: u64, config: &SimConfig) -> Report {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    run_seeds(first, seeds, config, threads)
}

/// Runs `seeds` seeds from `first` for each fencing setting and fails on any violation.
/// Returns the simulated session-hours.
fn assert_clean(
    what: &str,
    first: u64,
    seeds: u64,
    fencings: &[bool],
    config: impl Fn(bool) -> SimConfig,
) -> f64 {
    let mut hours = 0.0;
    let mut failures = Vec::new();
    for &fencing in fencings {
        let started = Instant::now();
        let report = run_all(first, seeds, &config(fencing));
        let fence = if fencing { "on" } else { "off" };
        println!(
            "== simulation, fencing {fence}, {what}: {:.1} s\n{report}",
            started.elapsed().as_secs_f64()
        );
        hours += report.session_hours();
        for v in &report.violations {
            println!("{v}");
        }
        if !report.violations.is_empty() {
            failures.push(format!(
                "{what}, fencing {fence}: {} violations",
                report.violations.len()
            ));
        }
        assert_eq!(report.seeds.len() as u64, seeds);
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
    hours
}

#[test]
fn ci_mix_keeps_every_invariant_with_and_without_fencing() {
    let hours = assert_clean("CI mix", 1, SEEDS, &[true, false], ci);
    println!("simulated session-hours in total: {hours:.0}");
    assert!(
        hours >= MIN_SESSION_HOURS,
        "only {hours:.0} simulated session-hours"
    );
}

/// Issue 17: the harsh mix with varied shapes found a lease that lapsed behind a slow save
/// (about one seed in 3,000 at 10 h). CI runs a slice of it both ways; `make soak
/// SOAK_ARGS="--mix harsh --vary"` runs the long one.
#[test]
fn harsh_mix_keeps_every_invariant_with_and_without_fencing() {
    let harsh = |fencing| SimConfig {
        hours: 3.0,
        mix: Mix::harsh(),
        vary_shape: true,
        ..SimConfig::ci(fencing)
    };
    let hours = assert_clean("harsh mix", 5_001, 300, &[true, false], harsh);
    println!("simulated session-hours in total: {hours:.0}");
}

/// D22: with a fencing store, requests that land after their sender gave up on them (saves
/// older than the session's newer save, saves of an older acquisition, unlocks of an older
/// acquisition, lock tries older than a newer one) change nothing.
#[test]
fn late_writes_keep_every_invariant_with_fencing() {
    let late = |fencing| SimConfig {
        hours: 3.0,
        mix: Mix::late_writes(),
        vary_shape: true,
        ..SimConfig::ci(fencing)
    };
    assert_clean("late writes", 40_001, 100, &[true], late);
}

/// The opt-in shapes (`sim` module docs): server stalls of 1–120 s, clocks at 0.99–1.01 times
/// the store's, and clock jumps ahead of up to 10 s (our hosts' clocks never go back: the JS
/// `realClock` follows only jumps ahead), on the harsh mix, keep every invariant both ways.
/// (Stalls that hold outbound requests, jumps ahead near the 15 s deadline, and steps back
/// that add up past the 15 s D8 margin are late writes: safe with fencing only, like
/// `Mix::late_writes`.)
#[test]
fn stalls_and_server_clocks_keep_every_invariant_with_and_without_fencing() {
    let shapes = |fencing| SimConfig {
        hours: 3.0,
        mix: Mix::harsh()
            .with_stalls(6.0)
            .with_drift()
            .with_clock_steps(2.0, (0, 10_000)),
        vary_shape: true,
        ..SimConfig::ci(fencing)
    };
    let one = run(70_001, &shapes(true));
    assert!(one.stats.stalls > 0 && one.stats.clock_steps > 0);
    assert_clean("stalls and clocks", 70_001, 60, &[true, false], shapes);
}

/// A frozen VM holds the requests it had not sent yet: with fencing, nothing is lost.
#[test]
fn stalls_that_hold_requests_keep_every_invariant_with_fencing() {
    let hold = |fencing| {
        let mut mix = Mix::harsh().with_stalls(3.0);
        mix.extra.stall_holds_outbound = 0.5;
        SimConfig {
            hours: 3.0,
            mix,
            vary_shape: true,
            ..SimConfig::ci(fencing)
        }
    };
    assert_clean("stalls holding requests", 71_001, 60, &[true], hold);
}

/// What makes the CI mix safe without fencing (`sim` module docs): no request reaches the
/// store after the core stopped waiting for it.
#[test]
fn the_ci_mix_keeps_every_one_way_delay_under_the_deadlines() {
    let core = datastore_module::session::Config::default();
    let deadline = core.memory_timeout_ms.min(core.data_timeout_ms);
    assert!(Mix::ci().max_uplink_ms() < deadline);
    assert!(Mix::harsh().max_uplink_ms() < deadline);
    assert!(Mix::late_writes().max_uplink_ms() > core.data_timeout_ms);
}

#[test]
fn the_same_seed_plays_the_same_way() {
    let config = SimConfig {
        hours: 1.0,
        ..ci(false)
    };
    let a = run(7, &config);
    let b = run(7, &config);
    assert_eq!(a.digest, b.digest, "every event, in order");
    assert_eq!(a.stats, b.stats);
    assert_eq!(a.faults, b.faults);
    assert_eq!(a.session_ms, b.session_ms);
    assert_ne!(run(8, &config).digest, a.digest);
}

/// Two settings lose data: one-way delays past the deadline without a fencing store, and
/// loading through Roblox's read cache (even with fencing). The simulation finds each within a
/// few seeds, so its zeros above are not blindness. (`sim_hazards.rs` shows each mechanism in
/// a few scripted steps.)
#[test]
fn the_settings_ci_leaves_out_are_caught() {
    let late = SimConfig {
        hours: 2.0,
        mix: Mix::late_writes(),
        ..SimConfig::ci(false)
    };
    assert!((1..=3).any(|seed| !run(seed, &late).violations.is_empty()));
    let cached = SimConfig {
        hours: 2.0,
        read_cache: ReadCache::Roblox,
        ..ci(true)
    };
    assert!((1..=6).any(|seed| !run(seed, &cached).violations.is_empty()));
}
