//! Fault injection (roblox-services.md §4–5): what each fault does, and that the dice are
//! reproducible from the seed.

use datastore_module::emulator::faults::Rng;
use datastore_module::emulator::{
    Config, Emulator, ErrorKind, FaultConfig, Op, OpFaults, Outage, Reply, SortKey,
};
use datastore_module::fence::Fence;
use datastore_module::value::{Table, Value};

const T0: u64 = 1_704_067_200_000;

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn with(op: Op, faults: OpFaults) -> Emulator {
    Emulator::new(Config {
        seed: 42,
        faults: FaultConfig::none().with(op, faults),
        ..Config::default()
    })
}

fn set(emu: &mut Emulator, now: u64, value: &str) -> Reply<String> {
    emu.data_set(
        now,
        1,
        "Players",
        "global",
        "1",
        s(value),
        vec![],
        Table::new(),
        None,
    )
}

#[test]
fn ambiguous_write_is_applied_but_reports_error() {
    let mut emu = with(
        Op::DataSet,
        OpFaults {
            ambiguous: 1.0,
            ..OpFaults::NONE
        },
    );
    let err = set(&mut emu, T0, "a").result.unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Transient, Some(502)));
    assert_eq!(
        emu.inspect_data("Players", "global", "1").map(|e| e.0),
        Some(s("a"))
    );
    assert_eq!(emu.fault_counts().get(Op::DataSet).ambiguous, 1);
}

#[test]
fn ambiguous_error_reads_exactly_like_a_transient_one() {
    let mut ambiguous = with(
        Op::DataSet,
        OpFaults {
            ambiguous: 1.0,
            ..OpFaults::NONE
        },
    );
    let mut transient = with(
        Op::DataSet,
        OpFaults {
            transient: 1.0,
            ..OpFaults::NONE
        },
    );
    assert_eq!(
        set(&mut ambiguous, T0, "a").result,
        set(&mut transient, T0, "a").result
    );
}

#[test]
fn transient_error_applies_nothing() {
    let mut emu = with(
        Op::DataSet,
        OpFaults {
            transient: 1.0,
            ..OpFaults::NONE
        },
    );
    let err = set(&mut emu, T0, "a").result.unwrap_err();
    assert_eq!(
        err.message,
        "502: API Services rejected request with error. HTTP 500 (Internal Server Error)"
    );
    assert!(err.kind.is_retryable());
    assert!(emu.inspect_data("Players", "global", "1").is_none());
}

#[test]
fn memory_store_transient_errors_are_internal_error() {
    let mut emu = with(
        Op::MapUpdate,
        OpFaults {
            transient: 1.0,
            ..OpFaults::NONE
        },
    );
    let err = emu
        .map_update(T0, 1, "m", "Id", &mut |_, _| Some((s("A"), None)), 30.0)
        .result
        .unwrap_err();
    assert_eq!(err.status(), Some("InternalError"));
    assert_eq!(err.code, None);
    assert!(emu.inspect_map_entry("m", "Id", T0).is_none());
}

#[test]
fn ambiguous_queue_read_hides_the_items_it_lost() {
    let mut emu = with(
        Op::QueueRead,
        OpFaults {
            ambiguous: 1.0,
            ..OpFaults::NONE
        },
    );
    emu.queue_add(T0, 1, "q", s("a"), 600.0, 0.0)
        .result
        .unwrap();
    assert!(emu.queue_read(T0, 1, "q", 30.0, 1, false).result.is_err());
    assert!(!emu.inspect_queue("q", T0)[0].visible, "the read happened");
    assert!(
        emu.inspect_queue("q", T0 + 30_000)[0].visible,
        "and is redelivered later"
    );
}

#[test]
fn ambiguous_reads_are_plain_failures() {
    let mut emu = with(
        Op::DataGet,
        OpFaults {
            ambiguous: 1.0,
            ..OpFaults::NONE
        },
    );
    let reply = emu.data_get(T0, 1, "Players", "global", "1", false);
    assert_eq!(reply.result.unwrap_err().kind, ErrorKind::Transient);
    let counts = emu.fault_counts().get(Op::DataGet);
    assert_eq!((counts.ambiguous, counts.transient), (0, 1));
}

#[test]
fn throttle_fault_gives_roblox_throttle_codes() {
    let throttle = OpFaults {
        throttle: 1.0,
        ..OpFaults::NONE
    };
    let mut emu = Emulator::new(Config {
        faults: FaultConfig::uniform(throttle),
        ..Config::default()
    });
    let code = |r: Result<(), datastore_module::emulator::StoreError>| r.unwrap_err().code;
    assert_eq!(
        code(emu.data_get(T0, 1, "P", "g", "k", false).result.map(|_| ())),
        Some(301)
    );
    assert_eq!(code(set(&mut emu, T0, "a").result.map(|_| ())), Some(302));
    let update = emu.data_update(T0, 1, "P", "g", "k", &mut |_, _| None);
    assert_eq!(code(update.result.map(|_| ())), Some(304));
    assert_eq!(
        code(
            emu.data_remove(T0, 1, "P", "g", "k", None)
                .result
                .map(|_| ())
        ),
        Some(306)
    );
    let err = emu.map_get(T0, 1, "m", "k").result.unwrap_err();
    assert_eq!(
        (err.kind, err.status()),
        (ErrorKind::Throttled, Some("RequestThrottled"))
    );
    assert_eq!(
        emu.data_get(T0, 1, "P", "g", "k", false)
            .result
            .unwrap_err()
            .message,
        "301: GetAsync request dropped. Request was throttled but queue was full."
    );
}

#[test]
fn map_update_conflict_runs_the_transform_and_writes_nothing() {
    let mut emu = with(
        Op::MapUpdate,
        OpFaults {
            conflict: 1.0,
            ..OpFaults::NONE
        },
    );
    let mut runs = 0;
    let err = emu
        .map_update(
            T0,
            1,
            "m",
            "k",
            &mut |_, _| {
                runs += 1;
                Some((s("A"), None))
            },
            30.0,
        )
        .result
        .unwrap_err();
    assert_eq!(
        (err.kind, err.status()),
        (ErrorKind::Conflict, Some("UpdateConflict"))
    );
    assert_eq!(runs, 1);
    assert!(emu.inspect_map_entry("m", "k", T0).is_none());
    assert_eq!(emu.fault_counts().get(Op::MapUpdate).conflict, 1);
    // A transform that cancels is not a conflict.
    assert_eq!(
        emu.map_update(T0, 1, "m", "k", &mut |_, _| None, 30.0)
            .result,
        Ok(None)
    );
}

#[test]
fn rerun_runs_the_transform_twice_and_keeps_the_second_result() {
    let rerun = OpFaults {
        rerun: 1.0,
        ..OpFaults::NONE
    };
    let mut emu = Emulator::new(Config {
        faults: FaultConfig::none()
            .with(Op::DataUpdate, rerun.clone())
            .with(Op::MapUpdate, rerun),
        ..Config::default()
    });
    let mut runs = 0;
    let result = emu
        .data_update(T0, 1, "P", "g", "k", &mut |_, _| {
            runs += 1;
            Some((Value::Number(f64::from(runs)), None, None))
        })
        .result
        .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(result.map(|e| e.0), Some(Value::Number(2.0)));
    let mut map_runs = 0;
    emu.map_update(
        T0,
        1,
        "m",
        "k",
        &mut |_, _| {
            map_runs += 1;
            Some((s("x"), Some(SortKey::Number(1.0))))
        },
        30.0,
    )
    .result
    .unwrap();
    assert_eq!(map_runs, 2);
    assert_eq!(emu.fault_counts().get(Op::DataUpdate).rerun, 1);
    assert_eq!(emu.fault_counts().get(Op::MapUpdate).rerun, 1);
}

#[test]
fn outage_window_fails_every_request_of_its_kinds_and_only_inside_it() {
    let mut emu = Emulator::new(Config {
        faults: FaultConfig::none().with_outage(Outage {
            ops: vec![Op::DataSet],
            start_ms: T0 + 1_000,
            end_ms: T0 + 2_000,
        }),
        ..Config::default()
    });
    assert!(set(&mut emu, T0 + 999, "a").is_ok());
    let err = set(&mut emu, T0 + 1_000, "b").result.unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Transient, Some(502)));
    assert!(set(&mut emu, T0 + 1_999, "b").result.is_err());
    assert!(emu
        .data_get(T0 + 1_500, 1, "Players", "global", "1", false)
        .is_ok());
    assert!(set(&mut emu, T0 + 2_000, "c").is_ok());
    assert_eq!(emu.fault_counts().get(Op::DataSet).outage, 2);

    emu.set_faults(FaultConfig::none().with_outage(Outage::all(T0, T0 + 10)));
    assert!(emu.map_get(T0 + 5, 1, "m", "k").result.is_err());
    assert!(emu
        .queue_add(T0 + 5, 1, "q", s("a"), 10.0, 0.0)
        .result
        .is_err());
}

#[test]
fn latency_is_uniform_in_its_range_plus_spikes() {
    let mut emu = with(
        Op::MapGet,
        OpFaults {
            latency_ms: (20, 80),
            spike: 0.1,
            spike_ms: 5_000,
            ..OpFaults::NONE
        },
    );
    let latencies: Vec<u64> = (0..2_000)
        .map(|i| emu.map_get(T0 + i, 1, "m", "k").latency_ms)
        .collect();
    let normal: Vec<u64> = latencies.iter().copied().filter(|l| *l <= 80).collect();
    let spikes = latencies.iter().filter(|l| **l >= 5_020).count();
    assert_eq!(normal.len() + spikes, latencies.len());
    assert!(normal.iter().all(|l| (20..=80).contains(l)));
    assert!(normal.contains(&20) && normal.contains(&80));
    assert!(
        (100..=300).contains(&spikes),
        "{spikes} spikes in 2000 at 10%"
    );
    assert_eq!(emu.fault_counts().get(Op::MapGet).spikes, spikes as u64);
}

#[test]
fn failures_take_latency_too() {
    let mut emu = with(
        Op::DataSet,
        OpFaults {
            transient: 1.0,
            latency_ms: (300, 300),
            ..OpFaults::NONE
        },
    );
    assert_eq!(set(&mut emu, T0, "a").latency_ms, 300);
}

#[test]
fn cache_hits_never_fail_and_are_instant() {
    let mut emu = with(
        Op::DataGet,
        OpFaults {
            transient: 1.0,
            latency_ms: (50, 50),
            ..OpFaults::NONE
        },
    );
    set(&mut emu, T0, "a").result.unwrap();
    let hit = emu.data_get(T0 + 1, 1, "Players", "global", "1", true);
    assert_eq!(hit.result.unwrap().map(|e| e.0), Some(s("a")));
    assert_eq!(hit.latency_ms, 0);
    assert!(emu
        .data_get(T0 + 1, 1, "Players", "global", "1", false)
        .result
        .is_err());
}

type Counts = Vec<(Op, u64, u64, u64, u64)>;

/// A fixed workload touching every kind; returns everything observable about its replies, and
/// the emulator.
fn workload(seed: u64) -> (Vec<String>, Counts, Emulator) {
    let faults = OpFaults {
        transient: 0.2,
        ambiguous: 0.1,
        throttle: 0.05,
        rerun: 0.2,
        conflict: 0.1,
        latency_ms: (5, 500),
        spike: 0.05,
        spike_ms: 10_000,
    };
    let mut emu = Emulator::new(Config {
        seed,
        faults: FaultConfig::uniform(faults),
        ..Config::default()
    });
    let mut log = Vec::new();
    for i in 0..300u64 {
        let now = T0 + i * 700;
        let key = format!("k{}", i % 7);
        let r = emu.data_set(
            now,
            1,
            "P",
            "g",
            &key,
            Value::Number(i as f64),
            vec![],
            Table::new(),
            None,
        );
        log.push(format!("{r:?}"));
        let r = emu.data_get(now, 2, "P", "g", &key, i % 3 == 0);
        log.push(format!("{r:?}"));
        let r = emu.map_update(
            now,
            1,
            "m",
            &key,
            &mut |_, _| Some((Value::Number(i as f64), None)),
            30.0,
        );
        log.push(format!("{r:?}"));
        let r = emu.queue_add(now, 1, "q", Value::Number(i as f64), 60.0, (i % 3) as f64);
        log.push(format!("{r:?}"));
        let r = emu.queue_read(now, 1, "q", 5.0, 3, false);
        if let Ok(Some((_, id))) = &r.result {
            if i % 2 == 0 {
                log.push(format!("{:?}", emu.queue_remove(now, 1, "q", id)));
            }
        }
        log.push(format!("{r:?}"));
    }
    let counts = emu
        .fault_counts()
        .iter()
        .map(|(op, c)| (op, c.requests, c.transient, c.ambiguous, c.spikes))
        .collect();
    (log, counts, emu)
}

#[test]
fn same_seed_same_faults() {
    let (a_log, a_counts, _) = workload(7);
    let (b_log, b_counts, _) = workload(7);
    assert_eq!(a_log, b_log);
    assert_eq!(a_counts, b_counts);
    assert!(
        a_counts.iter().any(|c| c.2 > 0),
        "the workload does hit faults"
    );
}

#[test]
fn different_seeds_give_different_faults() {
    assert_ne!(workload(7).0, workload(8).0);
}

#[test]
fn fault_counts_add_up_per_kind_and_in_total() {
    let (_, _, emu) = workload(3);
    let counts = emu.fault_counts();
    let total = counts.total();
    assert_eq!(
        total.requests,
        counts.iter().map(|(_, c)| c.requests).sum::<u64>()
    );
    assert_eq!(
        total.transient,
        counts.iter().map(|(_, c)| c.transient).sum::<u64>()
    );
    assert_eq!(counts.get(Op::DataSet).requests, 300);
    assert!(total.injected_failures() > 0);
    assert_eq!(
        total.injected_failures(),
        total.outage + total.throttled + total.transient + total.ambiguous + total.conflict
    );
}

#[test]
fn inspection_has_no_side_effects() {
    let mut emu = with(
        Op::DataGet,
        OpFaults {
            transient: 0.5,
            ..OpFaults::NONE
        },
    );
    set(&mut emu, T0, "a").result.unwrap();
    emu.map_set(T0, 1, "m", "k", s("v"), 10.0, None)
        .result
        .unwrap();
    emu.queue_add(T0, 1, "q", s("v"), 10.0, 0.0).result.unwrap();
    let before = emu.fault_counts().clone();
    for _ in 0..10 {
        emu.inspect_data("Players", "global", "1");
        emu.inspect_versions("Players", "global", "1", T0);
        emu.inspect_map_entry("m", "k", T0);
        emu.inspect_map("m", T0);
        emu.inspect_queue("q", T0);
        emu.inspect_lock("Players", "global", "1", T0);
    }
    assert_eq!(emu.fault_counts(), &before);
    // No cache was filled for server 2 by inspecting: its read goes to the backend.
    emu.data_get(T0, 2, "Players", "global", "1", true);
    assert_eq!(emu.fault_counts().get(Op::DataGet).requests, 1);
    assert!(emu.inspect_queue("q", T0)[0].visible);
}

#[test]
fn random_operations_never_panic() {
    let mut rng = Rng::new(99);
    let faults = OpFaults {
        transient: 0.1,
        ambiguous: 0.1,
        throttle: 0.05,
        rerun: 0.1,
        conflict: 0.1,
        latency_ms: (u64::MAX - 5, u64::MAX),
        spike: 0.5,
        spike_ms: u64::MAX,
    };
    let mut emu = Emulator::new(Config {
        seed: 5,
        faults: FaultConfig::uniform(faults),
        budget: Some(Default::default()),
        ..Config::default()
    });
    let keys = ["", "a", "Id", &"x".repeat(51), &"y".repeat(129)];
    let numbers = [
        0.0,
        -0.0,
        1.5,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        3_888_000.0,
        1e300,
    ];
    let values = [
        Value::Nil,
        s("v"),
        Value::Number(1.0),
        Value::Array(vec![Value::Nil]),
    ];
    for i in 0..5_000u64 {
        let now = match rng.range(0, 3) {
            0 => 0,
            1 => u64::MAX - rng.range(0, 10),
            _ => T0 + i * 100,
        };
        let key = keys[rng.range(0, 4) as usize];
        let n = numbers[rng.range(0, 7) as usize];
        let value = values[rng.range(0, 3) as usize].clone();
        let client = rng.range(0, 3) as u32;
        match rng.range(0, 11) {
            0 => drop(emu.data_get(now, client, "P", "g", key, rng.range(0, 1) == 0)),
            1 => drop(emu.data_set(
                now,
                client,
                "P",
                "g",
                key,
                value,
                vec![n],
                Table::new(),
                Some(&Fence {
                    owner: key.to_owned(),
                    token: n as u64,
                    seq: n as u64,
                }),
            )),
            2 => drop(emu.data_update(now, client, "P", "g", key, &mut |_, _| {
                Some((Value::Number(1.0), Some(vec![n]), None))
            })),
            3 => drop(emu.data_remove(
                now,
                client,
                "P",
                "g",
                key,
                Some(&Fence {
                    owner: "a".into(),
                    token: 1,
                    seq: n as u64,
                }),
            )),
            4 => drop(emu.map_set(now, client, "m", key, value, n, Some(SortKey::Number(n)))),
            5 => drop(emu.map_update(
                now,
                client,
                "m",
                key,
                &mut |old, _| old.cloned().map(|v| (v, None)),
                n,
            )),
            6 => drop(emu.map_get_range(
                now,
                client,
                "m",
                datastore_module::emulator::SortDirection::Descending,
                rng.range(0, 300) as usize,
                None,
                None,
            )),
            7 => drop(emu.queue_add(now, client, "q", value, n, n)),
            8 => drop(emu.queue_read(
                now,
                client,
                "q",
                n,
                rng.range(0, 120) as usize,
                rng.range(0, 1) == 0,
            )),
            9 => drop(emu.queue_remove(now, client, "q", key)),
            10 => emu.set_players(client, rng.range(0, 1_000) as u32),
            _ => drop(emu.map_remove(now, client, "m", key)),
        }
    }
}
