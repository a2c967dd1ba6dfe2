//! DataStore rules of the emulator (roblox-services.md §1–2, §5), one test per rule.

use datastore_module::emulator::{
    lock_map_name, Config, Emulator, ErrorKind, FaultConfig, Op, OpFaults,
};
use datastore_module::fence::{Fence, LockDecision, LockMode, ACQUISITION};
use datastore_module::value::{Key, Table, Value};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
/// 2024-01-01T00:00:00Z, so version ids look like real ones.
const T0: u64 = 1_704_067_200_000;

fn v(json: &str) -> Value {
    Value::from_json_str(json, "value").unwrap()
}

fn meta(json: &str) -> Table {
    match v(json) {
        Value::Table(t) => t,
        other => panic!("not a table: {other:?}"),
    }
}

fn set(emu: &mut Emulator, now: u64, client: u32, key: &str, value: &str) -> String {
    emu.data_set(
        now,
        client,
        "Players",
        "global",
        key,
        v(value),
        vec![],
        Table::new(),
        None,
    )
    .result
    .unwrap()
}

fn get(emu: &mut Emulator, now: u64, client: u32, key: &str, use_cache: bool) -> Option<Value> {
    emu.data_get(now, client, "Players", "global", key, use_cache)
        .result
        .unwrap()
        .map(|(value, _)| value)
}

#[test]
fn get_of_missing_key_returns_nil() {
    let mut emu = Emulator::default();
    let reply = emu.data_get(T0, 1, "Players", "global", "1", true);
    assert_eq!(reply.result, Ok(None));
}

#[test]
fn set_then_get_returns_value_and_key_info() {
    let mut emu = Emulator::default();
    let version = emu
        .data_set(
            T0,
            1,
            "Players",
            "global",
            "1",
            v(r#"{"Coins":5}"#),
            vec![1.0],
            meta(r#"{"a":1}"#),
            None,
        )
        .result
        .unwrap();
    let (value, info) = emu
        .data_get(T0 + 10_000, 2, "Players", "global", "1", true)
        .result
        .unwrap()
        .unwrap();
    assert_eq!(value, v(r#"{"Coins":5}"#));
    assert_eq!(info.version, version);
    assert_eq!(info.created_ms, T0);
    assert_eq!(info.updated_ms, T0);
    assert_eq!(info.user_ids, vec![1.0]);
    assert_eq!(info.metadata, meta(r#"{"a":1}"#));
}

#[test]
fn version_ids_are_roblox_shaped_and_increase_with_each_write() {
    let mut emu = Emulator::default();
    let mut last = String::new();
    for i in 0..12u64 {
        let version = set(&mut emu, T0 + i * 1000, 1, "1", &i.to_string());
        let parts: Vec<&str> = version.split('.').collect();
        assert_eq!(parts.len(), 4, "{version}");
        assert_eq!(parts[0].len(), 16);
        assert!(parts[0].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(parts[1].len(), 10);
        assert!(parts[1].chars().all(|c| c.is_ascii_digit()));
        assert_eq!(parts[3], "01");
        assert!(version > last, "{version} after {last}");
        last = version;
    }
    // Real ids from 2023 start with 08DB…; ours encode .NET ticks the same way.
    assert!(last.starts_with("08DC"), "{last}");
}

#[test]
fn metadata_is_replaced_on_every_write() {
    let mut emu = Emulator::default();
    let md = meta(r#"{"Compress":{"Level":2,"Decimals":3,"Safety":true}}"#);
    emu.data_set(
        T0,
        1,
        "Players",
        "global",
        "1",
        v("1"),
        vec![],
        md.clone(),
        None,
    )
    .result
    .unwrap();
    assert_eq!(
        emu.inspect_data("Players", "global", "1")
            .unwrap()
            .1
            .metadata,
        md
    );
    // A write that does not send the metadata again clears it.
    set(&mut emu, T0 + 1, 1, "1", "2");
    assert!(emu
        .inspect_data("Players", "global", "1")
        .unwrap()
        .1
        .metadata
        .is_empty());
}

#[test]
fn user_ids_are_replaced_on_every_write() {
    let mut emu = Emulator::default();
    emu.data_set(
        T0,
        1,
        "Players",
        "global",
        "1",
        v("1"),
        vec![7.0, 8.0],
        Table::new(),
        None,
    )
    .result
    .unwrap();
    emu.data_set(
        T0 + 1,
        1,
        "Players",
        "global",
        "1",
        v("2"),
        vec![9.0],
        Table::new(),
        None,
    )
    .result
    .unwrap();
    assert_eq!(
        emu.inspect_data("Players", "global", "1")
            .unwrap()
            .1
            .user_ids,
        vec![9.0]
    );
    set(&mut emu, T0 + 2, 1, "1", "3");
    assert!(emu
        .inspect_data("Players", "global", "1")
        .unwrap()
        .1
        .user_ids
        .is_empty());
}

#[test]
fn read_cache_serves_stale_values_for_four_seconds() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    // Server 2 reads (and caches); server 1 then writes a new value.
    assert_eq!(get(&mut emu, T0 + 100, 2, "1", true), Some(v("1")));
    set(&mut emu, T0 + 200, 1, "1", "2");
    assert_eq!(
        get(&mut emu, T0 + 4_099, 2, "1", true),
        Some(v("1")),
        "stale from cache"
    );
    assert_eq!(
        get(&mut emu, T0 + 4_100, 2, "1", true),
        Some(v("2")),
        "cache expired"
    );
}

#[test]
fn cache_hits_do_not_restart_the_four_second_timer() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    get(&mut emu, T0, 2, "1", true);
    set(&mut emu, T0 + 1, 1, "1", "2");
    assert_eq!(get(&mut emu, T0 + 3_000, 2, "1", true), Some(v("1")));
    assert_eq!(get(&mut emu, T0 + 4_000, 2, "1", true), Some(v("2")));
}

#[test]
fn use_cache_false_bypasses_the_read_cache() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    get(&mut emu, T0, 2, "1", true);
    set(&mut emu, T0 + 1, 1, "1", "2");
    assert_eq!(get(&mut emu, T0 + 2, 2, "1", false), Some(v("2")));
}

#[test]
fn a_servers_own_writes_refresh_its_cache() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    get(&mut emu, T0, 1, "1", true);
    set(&mut emu, T0 + 1, 1, "1", "2");
    assert_eq!(get(&mut emu, T0 + 2, 1, "1", true), Some(v("2")));
    emu.data_remove(T0 + 3, 1, "Players", "global", "1", None);
    assert_eq!(get(&mut emu, T0 + 4, 1, "1", true), None);
}

#[test]
fn the_read_cache_is_per_server_and_per_data_store() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    get(&mut emu, T0, 2, "1", true);
    set(&mut emu, T0 + 1, 1, "1", "2");
    // Server 3 has no cache entry, and another scope is another DataStore object.
    assert_eq!(get(&mut emu, T0 + 2, 3, "1", true), Some(v("2")));
    let other_scope = emu
        .data_get(T0 + 2, 2, "Players", "other", "1", true)
        .result
        .unwrap();
    assert_eq!(other_scope, None);
}

#[test]
fn remove_writes_a_tombstone_and_keeps_older_versions() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    let removed = emu
        .data_remove(T0 + HOUR, 1, "Players", "global", "1", None)
        .result
        .unwrap();
    assert_eq!(removed.map(|(value, _)| value), Some(v("1")));
    assert_eq!(get(&mut emu, T0 + HOUR + 10_000, 2, "1", false), None);
    let versions = emu.inspect_versions("Players", "global", "1", T0 + HOUR);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].value, Some(v("1")));
    assert!(versions[1].deleted);
    assert_eq!(versions[1].value, None);
}

#[test]
fn remove_of_a_removed_key_returns_nil_and_writes_nothing() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    emu.data_remove(T0 + HOUR, 1, "Players", "global", "1", None);
    let again = emu.data_remove(T0 + 2 * HOUR, 1, "Players", "global", "1", None);
    assert_eq!(again.result, Ok(None));
    assert_eq!(
        emu.inspect_versions("Players", "global", "1", T0 + 2 * HOUR)
            .len(),
        2
    );
    let never = emu.data_remove(T0, 1, "Players", "global", "never", None);
    assert_eq!(never.result, Ok(None));
    assert!(emu
        .inspect_versions("Players", "global", "never", T0)
        .is_empty());
}

#[test]
fn only_the_first_write_in_each_utc_hour_is_kept_as_a_backup() {
    let mut emu = Emulator::default();
    set(&mut emu, T0 + 10, 1, "1", "1");
    set(&mut emu, T0 + 20, 1, "1", "2");
    let latest_in_hour = set(&mut emu, T0 + HOUR - 1, 1, "1", "3");
    set(&mut emu, T0 + HOUR, 1, "1", "4");
    let versions = emu.inspect_versions("Players", "global", "1", T0 + HOUR);
    let values: Vec<Value> = versions.iter().filter_map(|x| x.value.clone()).collect();
    assert_eq!(values, vec![v("3"), v("4")]);
    assert_eq!(versions[0].version, latest_in_hour);
}

#[test]
fn superseded_versions_expire_thirty_days_after_being_overwritten() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    set(&mut emu, T0 + DAY, 1, "1", "2");
    assert_eq!(
        emu.inspect_versions("Players", "global", "1", T0 + 31 * DAY - 1)
            .len(),
        2
    );
    let kept = emu.inspect_versions("Players", "global", "1", T0 + 31 * DAY);
    assert_eq!(kept.len(), 1, "the latest version never expires");
    assert_eq!(kept[0].value, Some(v("2")));
}

#[test]
fn a_removed_key_is_deleted_for_good_after_thirty_days() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    emu.data_remove(T0 + DAY, 1, "Players", "global", "1", None);
    assert!(!emu
        .inspect_versions("Players", "global", "1", T0 + 31 * DAY - 1)
        .is_empty());
    assert!(emu
        .inspect_versions("Players", "global", "1", T0 + 31 * DAY)
        .is_empty());
}

#[test]
fn created_time_survives_writes_and_restarts_after_a_removal() {
    let mut emu = Emulator::default();
    set(&mut emu, T0, 1, "1", "1");
    set(&mut emu, T0 + HOUR, 1, "1", "2");
    assert_eq!(
        emu.inspect_data("Players", "global", "1")
            .unwrap()
            .1
            .created_ms,
        T0
    );
    emu.data_remove(T0 + 2 * HOUR, 1, "Players", "global", "1", None);
    set(&mut emu, T0 + 3 * HOUR, 1, "1", "3");
    let info = emu.inspect_data("Players", "global", "1").unwrap().1;
    assert_eq!(info.created_ms, T0 + 3 * HOUR);
    assert_eq!(info.updated_ms, T0 + 3 * HOUR);
}

#[test]
fn update_transform_sees_the_old_value_and_key_info() {
    let mut emu = Emulator::default();
    let mut seen = Vec::new();
    let reply = emu.data_update(T0, 1, "Players", "global", "1", &mut |old, info| {
        seen.push((old.cloned(), info.is_some()));
        Some((v("1"), Some(vec![5.0]), None))
    });
    let (value, info) = reply.result.unwrap().unwrap();
    assert_eq!(value, v("1"));
    assert_eq!(info.user_ids, vec![5.0]);
    emu.data_update(T0 + 1, 1, "Players", "global", "1", &mut |old, info| {
        seen.push((old.cloned(), info.is_some()));
        None
    });
    assert_eq!(seen, vec![(None, false), (Some(v("1")), true)]);
}

#[test]
fn update_returning_nil_cancels_the_write() {
    let mut emu = Emulator::default();
    let version = set(&mut emu, T0, 1, "1", "1");
    let reply = emu.data_update(T0 + 1, 1, "Players", "global", "1", &mut |_, _| None);
    assert_eq!(reply.result, Ok(None));
    let nil = emu.data_update(T0 + 1, 1, "Players", "global", "1", &mut |_, _| {
        Some((Value::Nil, None, None))
    });
    assert_eq!(nil.result, Ok(None));
    assert_eq!(
        emu.inspect_data("Players", "global", "1")
            .unwrap()
            .1
            .version,
        version
    );
}

#[test]
fn update_returning_no_user_ids_or_metadata_clears_them() {
    let mut emu = Emulator::default();
    emu.data_set(
        T0,
        1,
        "Players",
        "global",
        "1",
        v("1"),
        vec![1.0],
        meta(r#"{"a":1}"#),
        None,
    )
    .result
    .unwrap();
    emu.data_update(T0 + 1, 1, "Players", "global", "1", &mut |_, _| {
        Some((v("2"), None, None))
    })
    .result
    .unwrap();
    let info = emu.inspect_data("Players", "global", "1").unwrap().1;
    assert!(info.user_ids.is_empty() && info.metadata.is_empty());
}

#[test]
fn key_name_limits_give_codes_101_and_102() {
    let mut emu = Emulator::default();
    let empty = emu.data_get(T0, 1, "Players", "global", "", true);
    let err = empty.result.unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::InvalidRequest, Some(101)));
    assert_eq!(err.message, "101: Key name can't be empty.");
    let long = "k".repeat(51);
    let err = emu
        .data_set(
            T0,
            1,
            "Players",
            "global",
            &long,
            v("1"),
            vec![],
            Table::new(),
            None,
        )
        .result
        .unwrap_err();
    assert_eq!(err.code, Some(102));
    assert!(emu
        .data_set(
            T0,
            1,
            "Players",
            "global",
            &"k".repeat(50),
            v("1"),
            vec![],
            Table::new(),
            None
        )
        .is_ok());
}

#[test]
fn data_store_name_and_scope_are_limited_to_fifty_characters() {
    let mut emu = Emulator::default();
    let long = "n".repeat(51);
    assert!(emu
        .data_get(T0, 1, &long, "global", "1", true)
        .result
        .is_err());
    assert!(emu
        .data_get(T0, 1, "Players", &long, "1", true)
        .result
        .is_err());
    assert!(emu.data_get(T0, 1, "", "global", "1", true).result.is_err());
}

#[test]
fn a_value_over_four_megabytes_of_json_is_rejected_with_105() {
    let mut emu = Emulator::default();
    // A string's JSON is its text plus two quotes.
    let fits = Value::String("x".repeat(4_194_304 - 2));
    let too_big = Value::String("x".repeat(4_194_304 - 1));
    assert!(emu
        .data_set(
            T0,
            1,
            "Players",
            "global",
            "1",
            fits,
            vec![],
            Table::new(),
            None
        )
        .is_ok());
    let err = emu
        .data_set(
            T0,
            1,
            "Players",
            "global",
            "1",
            too_big,
            vec![],
            Table::new(),
            None,
        )
        .result
        .unwrap_err();
    assert_eq!(err.code, Some(105));
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
}

#[test]
fn metadata_limits_give_511_and_513() {
    let mut emu = Emulator::default();
    let write = |emu: &mut Emulator, md: Table| {
        emu.data_set(T0, 1, "Players", "global", "1", v("1"), vec![], md, None)
            .result
            .map_err(|e| e.code)
    };
    let mut long_key = Table::new();
    long_key.insert(Key::String("k".repeat(51)), v("1"));
    assert_eq!(write(&mut emu, long_key), Err(Some(511)));
    let mut long_value = Table::new();
    long_value.insert(Key::String("k".into()), Value::String("x".repeat(249)));
    assert_eq!(write(&mut emu, long_value), Err(Some(511)));
    let mut too_much = Table::new();
    for i in 0..3 {
        too_much.insert(Key::String(format!("k{i}")), Value::String("x".repeat(100)));
    }
    assert_eq!(write(&mut emu, too_much), Err(Some(511)));
    let mut number_key = Table::new();
    number_key.insert(Key::Number(1.0), v("1"));
    assert_eq!(write(&mut emu, number_key), Err(Some(513)));
    assert!(write(&mut emu, meta(r#"{"Compress":{"Level":2}}"#)).is_ok());
}

#[test]
fn more_than_four_user_ids_is_rejected_with_512() {
    let mut emu = Emulator::default();
    let write = |emu: &mut Emulator, ids: Vec<f64>| {
        emu.data_set(
            T0,
            1,
            "Players",
            "global",
            "1",
            v("1"),
            ids,
            Table::new(),
            None,
        )
        .result
        .map_err(|e| e.code)
    };
    assert!(write(&mut emu, vec![1.0, 2.0, 3.0, 4.0]).is_ok());
    assert_eq!(
        write(&mut emu, vec![1.0, 2.0, 3.0, 4.0, 5.0]),
        Err(Some(512))
    );
    assert_eq!(write(&mut emu, vec![1.5]), Err(Some(513)));
}

#[test]
fn setting_nil_is_an_argument_error() {
    let mut emu = Emulator::default();
    let err = emu
        .data_set(
            T0,
            1,
            "Players",
            "global",
            "1",
            Value::Nil,
            vec![],
            Table::new(),
            None,
        )
        .result
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
}

#[test]
fn values_come_back_as_json_gives_them_number_keys_become_strings() {
    let mut emu = Emulator::default();
    let mut table = Table::new();
    table.insert(Key::Number(5.0), v("true"));
    emu.data_set(
        T0,
        1,
        "Players",
        "global",
        "1",
        Value::Table(table),
        vec![],
        Table::new(),
        None,
    )
    .result
    .unwrap();
    assert_eq!(
        get(&mut emu, T0 + 10_000, 1, "1", true),
        Some(v(r#"{"5":true}"#))
    );
}

#[test]
fn argument_errors_are_immediate_and_reach_no_fault() {
    let mut emu = Emulator::new(Config {
        faults: FaultConfig::uniform(OpFaults {
            transient: 1.0,
            latency_ms: (100, 100),
            ..OpFaults::NONE
        }),
        ..Config::default()
    });
    let reply = emu.data_get(T0, 1, "Players", "global", "", true);
    assert_eq!(reply.latency_ms, 0);
    assert_eq!(reply.result.unwrap_err().code, Some(101));
    assert_eq!(emu.fault_counts().get(Op::DataGet).requests, 0);
}

// ---- fencing (roblox-services.md §5) ---------------------------------------------------

/// The session lock command ([`datastore_module::fence`]): acquisition 1 of `owner`.
fn lock(emu: &mut Emulator, now: u64, owner: &str, ttl_s: f64) -> bool {
    lock_as(emu, now, owner, LockMode::Acquire, ACQUISITION, ttl_s)
}

fn lock_as(
    emu: &mut Emulator,
    now: u64,
    owner: &str,
    mode: LockMode,
    token: u64,
    ttl_s: f64,
) -> bool {
    let map = lock_map_name("Players", "global", "1");
    emu.lock(now, 1, &map, mode, owner, token, ttl_s)
        .result
        .unwrap()
        == LockDecision::Write
}

fn fence(owner: &str, token: u64, seq: u64) -> Fence {
    Fence {
        owner: owner.to_owned(),
        token,
        seq,
    }
}

fn fenced_set_with(emu: &mut Emulator, now: u64, fence: &Fence) -> Result<String, ErrorKind> {
    emu.data_set(
        now,
        1,
        "Players",
        "global",
        "1",
        v("1"),
        vec![],
        Table::new(),
        Some(fence),
    )
    .result
    .map_err(|e| e.kind)
}

/// A fenced write of acquisition 1 of `owner`, with a sequence number larger than any before.
fn fenced_set(emu: &mut Emulator, now: u64, owner: &str) -> Result<String, ErrorKind> {
    fenced_set_with(emu, now, &fence(owner, ACQUISITION, now))
}

#[test]
fn fenced_write_accepted_while_the_lock_is_held() {
    let mut emu = Emulator::default();
    assert!(lock(&mut emu, T0, "A", 330.0));
    assert!(fenced_set(&mut emu, T0 + 1, "A").is_ok());
}

#[test]
fn fenced_write_rejected_after_lock_taken_over() {
    let mut emu = Emulator::default();
    assert!(lock(&mut emu, T0, "A", 330.0));
    assert!(
        lock(&mut emu, T0 + 330_000, "B", 330.0),
        "A's lock expired; B takes it"
    );
    let err = emu
        .data_set(
            T0 + 330_001,
            1,
            "Players",
            "global",
            "1",
            v("1"),
            vec![],
            Table::new(),
            Some(&fence("A", ACQUISITION, 1)),
        )
        .result
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Fenced);
    assert!(err.message.contains("held by B"), "{}", err.message);
    assert!(
        emu.inspect_data("Players", "global", "1").is_none(),
        "nothing written"
    );
    assert_eq!(emu.fault_counts().get(Op::DataSet).fenced, 1);
}

#[test]
fn fenced_write_rejected_once_the_lock_expired() {
    let mut emu = Emulator::default();
    assert!(lock(&mut emu, T0, "A", 330.0));
    assert!(fenced_set(&mut emu, T0 + 329_999, "A").is_ok());
    assert_eq!(
        fenced_set(&mut emu, T0 + 330_000, "A"),
        Err(ErrorKind::Fenced)
    );
}

#[test]
fn fenced_remove_rejected_after_the_lock_was_released() {
    let mut emu = Emulator::default();
    assert!(lock(&mut emu, T0, "A", 330.0));
    set(&mut emu, T0, 1, "1", "1");
    assert!(lock_as(
        &mut emu,
        T0 + 1,
        "A",
        LockMode::Release,
        ACQUISITION,
        0.0
    ));
    let reply = emu.data_remove(
        T0 + 2,
        1,
        "Players",
        "global",
        "1",
        Some(&fence("A", ACQUISITION, 1)),
    );
    assert_eq!(reply.result.unwrap_err().kind, ErrorKind::Fenced);
    assert!(emu.inspect_data("Players", "global", "1").is_some());
}

#[test]
fn a_fenced_write_of_an_older_acquisition_is_refused_d22() {
    let mut emu = Emulator::default();
    assert!(lock(&mut emu, T0, "A", 330.0));
    // The session unlocked and locked again (acquisition 2); a write of acquisition 1 that
    // was late all along lands now.
    assert!(lock_as(
        &mut emu,
        T0 + 1,
        "A",
        LockMode::Release,
        ACQUISITION,
        0.0
    ));
    assert!(lock_as(
        &mut emu,
        T0 + 2,
        "A",
        LockMode::Acquire,
        2 * ACQUISITION,
        330.0
    ));
    let late = fence("A", ACQUISITION, 50);
    assert_eq!(
        fenced_set_with(&mut emu, T0 + 3, &late),
        Err(ErrorKind::Fenced)
    );
    let renewed = fence("A", 2 * ACQUISITION + 7, 1);
    assert!(
        fenced_set_with(&mut emu, T0 + 4, &renewed).is_ok(),
        "any token of the acquisition held"
    );
}

#[test]
fn a_fenced_write_older_than_one_applied_is_refused_even_after_a_remove_d22() {
    let mut emu = Emulator::default();
    assert!(lock(&mut emu, T0, "A", 330.0));
    assert!(fenced_set_with(&mut emu, T0 + 1, &fence("A", ACQUISITION, 5)).is_ok());
    assert_eq!(
        fenced_set_with(&mut emu, T0 + 2, &fence("A", ACQUISITION, 4)),
        Err(ErrorKind::Fenced),
        "write #4 lands after #5"
    );
    assert_eq!(
        fenced_set_with(&mut emu, T0 + 2, &fence("A", ACQUISITION, 5)),
        Err(ErrorKind::Fenced)
    );
    let remove = emu.data_remove(
        T0 + 3,
        1,
        "Players",
        "global",
        "1",
        Some(&fence("A", ACQUISITION, 6)),
    );
    assert!(remove.is_ok());
    assert_eq!(
        fenced_set_with(&mut emu, T0 + 4, &fence("A", ACQUISITION, 5)),
        Err(ErrorKind::Fenced),
        "the mark outlives the remove"
    );
    assert!(emu.inspect_data("Players", "global", "1").is_none());
    assert!(fenced_set_with(&mut emu, T0 + 5, &fence("A", ACQUISITION, 7)).is_ok());
}

#[test]
fn unfenced_writes_ignore_the_lock() {
    let mut emu = Emulator::default();
    assert!(lock(&mut emu, T0, "B", 330.0));
    assert!(emu
        .data_set(
            T0,
            1,
            "Players",
            "global",
            "1",
            v("1"),
            vec![],
            Table::new(),
            None
        )
        .is_ok());
}

#[test]
fn with_fencing_switched_off_every_write_goes_through() {
    let mut emu = Emulator::new(Config {
        fencing: false,
        ..Config::default()
    });
    assert!(lock(&mut emu, T0, "B", 330.0));
    assert!(fenced_set(&mut emu, T0, "A").is_ok());
    emu.set_fencing(true);
    assert_eq!(fenced_set(&mut emu, T0, "A"), Err(ErrorKind::Fenced));
}
