//! A long simulation run: `cargo run --release --example soak -- --seeds N --hours H`.
//!
//! Options: `--seeds N` (200), `--hours H` per seed (5), `--first S` (first seed, 1),
//! `--fencing on|off|both` (both), `--mix ci|harsh|late-writes|harsh-late|calm` (ci), `--cache bypass|roblox`
//! (bypass), `--players N` (12), `--servers N` (3), `--threads N` (all cores),
//! `--stalls N[,MAX_MS[,hold]]` (server stalls of 1-120 s or up to MAX_MS, N per server-hour;
//! with `hold` half of them also hold the server's requests that have not landed), `--drift` (server clocks at
//! 0.99-1.01 times the store's), `--clock-steps N,MS[,forward]` (N clock steps per server-hour of up to
//! MS either way, or only forwards) add the opt-in shapes to any mix,
//! `--trace` (print every violation's trace, not just the first few), `--trace-len N` (events
//! kept per key, 60), `--vary` (each seed draws 6-30 players on 1-4 servers, as CI does).
//!
//! Prints the same figures as the CI run (`tests/simulation.rs`) and exits non-zero on a
//! violation. Re-run one seed with `--first S --seeds 1` to see its trace again.

use std::time::Instant;

use datastore_module::sim::{run_seeds, Mix, ReadCache, SimConfig};

fn main() {
    let mut seeds = 200u64;
    let mut first = 1u64;
    let mut hours = 5.0f64;
    let mut fencing = vec![true, false];
    let mut mix = ("ci".to_owned(), Mix::ci());
    let mut cache = ReadCache::Bypass;
    let mut players = 12usize;
    let mut servers = 3usize;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut full_traces = false;
    let mut trace_len = 60usize;
    let mut vary_shape = false;
    let mut stalls = (0.0f64, 120_000u64);
    let mut stall_hold = false;
    let mut drift = false;
    let mut steps = (0.0f64, (0i64, 0i64));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--seeds" => seeds = number(&value()),
            "--first" => first = number(&value()),
            "--hours" => {
                hours = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--hours takes a number"))
            }
            "--players" => players = number(&value()) as usize,
            "--servers" => servers = number(&value()) as usize,
            "--threads" => threads = (number(&value()) as usize).max(1),
            "--trace" => full_traces = true,
            "--trace-len" => trace_len = number(&value()) as usize,
            "--vary" => vary_shape = true,
            "--stalls" => {
                // N per server-hour, or N,MAX_MS for stalls up to MAX_MS long.
                let text = value();
                let mut parts = text.split(',');
                let rate = parts.next().unwrap_or("");
                let max = parts.next().unwrap_or("120000");
                stall_hold = match parts.next() {
                    None => false,
                    Some("hold") => true,
                    Some(_) => usage("--stalls takes N, N,MAX_MS or N,MAX_MS,hold"),
                };
                stalls = (
                    rate.parse()
                        .unwrap_or_else(|_| usage("--stalls takes N or N,MAX_MS")),
                    max.parse()
                        .unwrap_or_else(|_| usage("--stalls takes N or N,MAX_MS")),
                );
            }
            "--drift" => drift = true,
            "--clock-steps" => {
                let text = value();
                let parts: Vec<&str> = text.split(',').collect();
                let (rate, max, forward) = match parts[..] {
                    [rate, max] => (rate, max, false),
                    [rate, max, "forward"] => (rate, max, true),
                    _ => usage("--clock-steps takes PER_HOUR,MAX_MS[,forward]"),
                };
                let max: i64 = max.parse().unwrap_or_else(|_| usage("--clock-steps size"));
                steps = (
                    rate.parse().unwrap_or_else(|_| usage("--clock-steps rate")),
                    (if forward { 0 } else { -max }, max),
                );
            }
            "--fencing" => {
                fencing = match value().as_str() {
                    "on" => vec![true],
                    "off" => vec![false],
                    "both" => vec![true, false],
                    _ => usage("--fencing takes on, off or both"),
                }
            }
            "--mix" => {
                let name = value();
                mix = match name.as_str() {
                    "ci" => (name, Mix::ci()),
                    "late-writes" => (name, Mix::late_writes()),
                    "harsh" => (name, Mix::harsh()),
                    "harsh-late" => (name, Mix::harsh_late()),
                    "calm" => (name, Mix::calm()),
                    _ => usage("--mix takes ci, harsh, late-writes, harsh-late or calm"),
                }
            }
            "--cache" => {
                cache = match value().as_str() {
                    "bypass" => ReadCache::Bypass,
                    "roblox" => ReadCache::Roblox,
                    _ => usage("--cache takes bypass or roblox"),
                }
            }
            "--help" | "-h" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if stalls.0 > 0.0 {
        mix.1 = mix.1.with_stalls(stalls.0);
        mix.1.extra.stall_ms.1 = stalls.1;
        mix.1.extra.stall_holds_outbound = if stall_hold { 0.5 } else { 0.0 };
    }
    if drift {
        mix.1 = mix.1.with_drift();
    }
    if steps.0 > 0.0 {
        mix.1 = mix.1.with_clock_steps(steps.0, steps.1);
    }
    let mut failed = false;
    for fence in fencing {
        let config = SimConfig {
            hours,
            players,
            servers,
            mix: mix.1.clone(),
            read_cache: cache,
            trace_len,
            vary_shape,
            ..SimConfig::ci(fence)
        };
        let started = Instant::now();
        let report = run_seeds(first, seeds, &config, threads);
        println!(
            "== fencing {}, mix {}, read cache {:?}: {:.1} s",
            if fence { "on" } else { "off" },
            mix.0,
            cache,
            started.elapsed().as_secs_f64()
        );
        print!("{report}");
        let shown = if full_traces { usize::MAX } else { 3 };
        for v in report.violations.iter().take(shown) {
            println!("{v}");
        }
        if !report.violations.is_empty() {
            let mut seeds: Vec<u64> = report.violations.iter().map(|v| v.seed).collect();
            seeds.sort_unstable();
            seeds.dedup();
            println!("seeds with violations: {seeds:?}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}

fn number(text: &str) -> u64 {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("{text} is not a whole number")))
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("soak: {problem}");
    }
    eprintln!(
        "usage: cargo run --release --example soak -- [--seeds N] [--hours H] [--first S] \
         [--fencing on|off|both] [--mix ci|harsh|late-writes|harsh-late|calm] [--cache bypass|roblox] \
         [--players N] [--servers N] [--threads N] [--trace] [--trace-len N] [--vary] \
         [--stalls N[,MAX_MS[,hold]]] [--drift] [--clock-steps N,MS[,forward]]"
    );
    std::process::exit(2);
}
