//! Request budgets (roblox-services.md §2–3): off by default; when on, per-server DataStore
//! budgets with 30-deep throttle queues, and experience-wide MemoryStore quotas.

use datastore_module::emulator::{
    BudgetConfig, BudgetModel, Config, Emulator, ErrorKind, Op, Reply, RequestType,
};
use datastore_module::value::{Table, Value};

const T0: u64 = 1_704_067_200_000;

fn budgeted(model: BudgetModel) -> Emulator {
    Emulator::new(Config {
        budget: Some(BudgetConfig {
            model,
            memory_store: false,
            ..BudgetConfig::default()
        }),
        ..Config::default()
    })
}

fn set(emu: &mut Emulator, now: u64, client: u32, key: &str) -> Reply<String> {
    emu.data_set(
        now,
        client,
        "P",
        "g",
        key,
        Value::Bool(true),
        vec![],
        Table::new(),
        None,
    )
}

#[test]
fn budgets_are_off_by_default() {
    let mut emu = Emulator::default();
    for i in 0..1_000 {
        let reply = set(&mut emu, T0, 1, &format!("k{i}"));
        assert!(reply.is_ok());
        assert_eq!(reply.latency_ms, 0);
    }
    assert_eq!(
        emu.request_budget(T0, 1, RequestType::StandardWrite),
        f64::INFINITY
    );
}

#[test]
fn over_budget_requests_wait_in_the_throttle_queue() {
    let mut emu = budgeted(BudgetModel::Legacy);
    // No players: 60 Set requests a minute, starting with one minute's worth.
    for i in 0..60 {
        assert_eq!(
            set(&mut emu, T0, 1, &format!("k{i}")).latency_ms,
            0,
            "request {i}"
        );
    }
    assert_eq!(emu.request_budget(T0, 1, RequestType::Set), 0.0);
    let queued = set(&mut emu, T0, 1, "late");
    assert!(queued.is_ok(), "queued requests still succeed");
    assert_eq!(queued.latency_ms, 1_000, "one request a second refills");
    assert_eq!(set(&mut emu, T0, 1, "later").latency_ms, 2_000);
    // Another server has its own budget.
    assert_eq!(set(&mut emu, T0, 2, "k").latency_ms, 0);
}

#[test]
fn full_throttle_queue_drops_requests_with_301_to_306() {
    let mut emu = budgeted(BudgetModel::Current);
    for i in 0..60 + 30 {
        assert!(
            set(&mut emu, T0, 1, &format!("k{i}")).is_ok(),
            "request {i}"
        );
    }
    let err = set(&mut emu, T0, 1, "dropped").result.unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Throttled, Some(302)));
    assert_eq!(
        err.message,
        "302: SetAsync request dropped. Request was throttled but queue was full."
    );
    assert!(emu.inspect_data("P", "g", "dropped").is_none());
    assert_eq!(emu.fault_counts().get(Op::DataSet).queue_full, 1);
    // The Get queue is separate, and the Set queue drains as time passes.
    assert!(emu.data_get(T0, 1, "P", "g", "k0", false).is_ok());
    assert!(set(&mut emu, T0 + 1_000, 1, "k").is_ok());
    // In the 2026 model RemoveAsync has its own budget…
    let remove = emu.data_remove(T0 + 1_000, 1, "P", "g", "k1", None);
    assert_eq!(remove.latency_ms, 0);
    // …in the legacy one it shares Set's budget and queue.
    let mut legacy = budgeted(BudgetModel::Legacy);
    for i in 0..60 + 30 {
        assert!(
            set(&mut legacy, T0, 1, &format!("k{i}")).is_ok(),
            "request {i}"
        );
    }
    let remove = legacy.data_remove(T0, 1, "P", "g", "k1", None);
    assert_eq!(remove.result.unwrap_err().code, Some(306));
    let update = legacy.data_update(T0, 1, "P", "g", "k1", &mut |_, _| None);
    assert_eq!(update.result.unwrap_err().code, Some(304));
}

#[test]
fn players_raise_the_budget() {
    let mut legacy = budgeted(BudgetModel::Legacy);
    legacy.set_players(1, 10);
    assert_eq!(legacy.request_budget(T0, 1, RequestType::Get), 160.0);
    let mut current = budgeted(BudgetModel::Current);
    current.set_players(1, 10);
    assert_eq!(
        current.request_budget(T0, 1, RequestType::StandardRead),
        460.0
    );
}

#[test]
fn update_costs_both_read_and_write_budget() {
    let mut emu = budgeted(BudgetModel::Current);
    emu.data_update(T0, 1, "P", "g", "k", &mut |_, _| {
        Some((Value::Bool(true), None, None))
    })
    .result
    .unwrap();
    assert_eq!(emu.request_budget(T0, 1, RequestType::StandardRead), 59.0);
    assert_eq!(emu.request_budget(T0, 1, RequestType::StandardWrite), 59.0);
    assert_eq!(emu.request_budget(T0, 1, RequestType::StandardRemove), 60.0);
}

#[test]
fn cache_hits_cost_no_budget() {
    let mut emu = budgeted(BudgetModel::Current);
    set(&mut emu, T0, 1, "k").result.unwrap();
    for _ in 0..10 {
        emu.data_get(T0 + 1, 1, "P", "g", "k", true).result.unwrap();
    }
    assert_eq!(
        emu.request_budget(T0 + 1, 1, RequestType::StandardRead),
        60.0
    );
    emu.data_get(T0 + 1, 1, "P", "g", "k", false)
        .result
        .unwrap();
    assert_eq!(
        emu.request_budget(T0 + 1, 1, RequestType::StandardRead),
        59.0
    );
}

#[test]
fn set_rate_limit_changes_a_servers_budget_within_robloxs_ranges() {
    let mut emu = budgeted(BudgetModel::Current);
    emu.set_rate_limit(1, RequestType::StandardWrite, 2.0, 0.0)
        .unwrap();
    assert!(emu
        .set_rate_limit(1, RequestType::StandardWrite, 2.0, 201.0)
        .is_err());
    assert_eq!(set(&mut emu, T0, 1, "a").latency_ms, 0);
    assert_eq!(set(&mut emu, T0, 1, "b").latency_ms, 0);
    assert_eq!(set(&mut emu, T0, 1, "c").latency_ms, 30_000);
}

#[test]
fn a_shutting_down_server_gets_401() {
    let mut emu = Emulator::default();
    emu.set_shutting_down(1, true);
    let err = set(&mut emu, T0, 1, "k").result.unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::ShuttingDown, Some(401)));
    assert!(set(&mut emu, T0, 2, "k").is_ok());
    assert!(
        emu.map_get(T0, 1, "m", "k").is_ok(),
        "MemoryStore is not affected"
    );
    emu.set_shutting_down(1, false);
    assert!(set(&mut emu, T0, 1, "k").is_ok());
}

#[test]
fn memory_store_request_units_run_out_experience_wide() {
    let mut emu = Emulator::new(Config {
        budget: Some(BudgetConfig::default()),
        ..Config::default()
    });
    // No players anywhere: 1000 units a minute.
    for i in 0..1_000 {
        assert!(
            emu.map_get(T0, (i % 3) as u32, "m", "k").is_ok(),
            "request {i}"
        );
    }
    let err = emu.map_get(T0, 1, "m", "k").result.unwrap_err();
    assert_eq!(
        (err.kind, err.status()),
        (ErrorKind::Throttled, Some("TotalRequestsOverLimit"))
    );
    assert!(
        emu.map_get(T0 + 60, 1, "m", "k").is_ok(),
        "one unit back after 60 ms"
    );
    // Players raise it: 1000 + 120 × 10 units a minute refill faster.
    emu.set_players(1, 10);
    assert!(emu.map_get(T0 + 90, 1, "m", "k").is_ok());
}

#[test]
fn memory_quota_refuses_writes_that_would_grow_past_it() {
    let mut emu = Emulator::new(Config {
        budget: Some(BudgetConfig::default()),
        ..Config::default()
    });
    // 64 KB with no users; each item is about 30 KB.
    let big = Value::String("x".repeat(30_000));
    assert!(emu
        .map_set(T0, 1, "m", "a", big.clone(), 60.0, None)
        .is_ok());
    assert!(emu.queue_add(T0, 1, "q", big.clone(), 60.0, 0.0).is_ok());
    let err = emu
        .map_set(T0, 1, "m", "c", big.clone(), 60.0, None)
        .result
        .unwrap_err();
    assert_eq!(
        (err.kind, err.status()),
        (ErrorKind::OverQuota, Some("TotalMemoryOverLimit"))
    );
    // Overwriting with the same size does not grow memory, and expiry frees it.
    assert!(emu
        .map_set(T0, 1, "m", "a", big.clone(), 60.0, None)
        .is_ok());
    assert!(emu
        .map_set(T0 + 60_000, 1, "m", "c", big.clone(), 60.0, None)
        .is_ok());
    assert!(emu.inspect_memory_bytes(T0 + 60_000) <= 64 * 1024);
    // Users raise the quota.
    emu.set_players(1, 100);
    assert!(emu
        .map_set(T0 + 60_000, 1, "m", "d", big, 60.0, None)
        .is_ok());
}
