//! MemoryStore rules of the emulator (roblox-services.md §3), one test per rule.

use datastore_module::emulator::{
    Emulator, ErrorKind, RangeBound, SortDirection, SortKey, DEFAULT_INVISIBILITY_S,
};
use datastore_module::value::Value;

const T0: u64 = 1_000_000;

fn v(json: &str) -> Value {
    Value::from_json_str(json, "value").unwrap()
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn map_get(emu: &mut Emulator, now: u64, key: &str) -> Option<Value> {
    emu.map_get(now, 1, "m", key)
        .result
        .unwrap()
        .map(|(value, _)| value)
}

// ---- sorted map ------------------------------------------------------------------------

#[test]
fn entries_live_until_their_expiration() {
    let mut emu = Emulator::default();
    emu.map_set(T0, 1, "m", "k", s("a"), 30.0, None)
        .result
        .unwrap();
    assert_eq!(map_get(&mut emu, T0 + 29_999, "k"), Some(s("a")));
    assert_eq!(map_get(&mut emu, T0 + 30_000, "k"), None);
    assert_eq!(
        emu.inspect_map_entry("m", "k", T0),
        Some((s("a"), T0 + 30_000))
    );
}

#[test]
fn expiration_zero_removes_the_entry() {
    let mut emu = Emulator::default();
    emu.map_set(T0, 1, "m", "k", s("a"), 330.0, None)
        .result
        .unwrap();
    let reply = emu.map_update(
        T0 + 1,
        1,
        "m",
        "k",
        &mut |old, _| old.cloned().map(|v| (v, None)),
        0.0,
    );
    assert_eq!(reply.result, Ok(Some(s("a"))), "the update itself succeeds");
    assert_eq!(map_get(&mut emu, T0 + 1, "k"), None);
    assert_eq!(emu.inspect_map_entry("m", "k", T0 + 1), None);
    emu.map_set(T0 + 2, 1, "m", "k", s("b"), 0.0, None)
        .result
        .unwrap();
    assert_eq!(map_get(&mut emu, T0 + 2, "k"), None);
}

#[test]
fn expiration_outside_zero_to_45_days_is_invalid_expiration_time() {
    let mut emu = Emulator::default();
    for bad in [-1.0, 3_888_000.5, f64::NAN, f64::INFINITY] {
        let err = emu
            .map_set(T0, 1, "m", "k", s("a"), bad, None)
            .result
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert_eq!(
            err.status(),
            Some("InvalidExpirationTime"),
            "{bad}: {}",
            err.message
        );
    }
    assert!(emu
        .map_set(T0, 1, "m", "k", s("a"), 3_888_000.0, None)
        .is_ok());
    let err = emu
        .map_update(T0, 1, "m", "k", &mut |_, _| Some((s("x"), None)), -5.0)
        .result
        .unwrap_err();
    assert_eq!(err.status(), Some("InvalidExpirationTime"));
    assert_eq!(map_get(&mut emu, T0, "k"), Some(s("a")));
}

#[test]
fn set_reports_whether_it_overwrote_a_live_entry() {
    let mut emu = Emulator::default();
    assert_eq!(
        emu.map_set(T0, 1, "m", "k", s("a"), 10.0, None).result,
        Ok(false)
    );
    assert_eq!(
        emu.map_set(T0, 1, "m", "k", s("b"), 10.0, None).result,
        Ok(true)
    );
    assert_eq!(
        emu.map_set(T0 + 10_000, 1, "m", "k", s("c"), 10.0, None)
            .result,
        Ok(false)
    );
}

#[test]
fn map_update_returning_nil_cancels_and_writes_nothing() {
    let mut emu = Emulator::default();
    emu.map_set(T0, 1, "m", "k", s("a"), 100.0, None)
        .result
        .unwrap();
    let reply = emu.map_update(T0 + 1, 1, "m", "k", &mut |_, _| None, 5.0);
    assert_eq!(reply.result, Ok(None));
    let nil = emu.map_update(
        T0 + 1,
        1,
        "m",
        "k",
        &mut |_, _| Some((Value::Nil, None)),
        5.0,
    );
    assert_eq!(nil.result, Ok(None));
    // Still the old value, with the old expiration.
    assert_eq!(
        emu.inspect_map_entry("m", "k", T0 + 1),
        Some((s("a"), T0 + 100_000))
    );
}

#[test]
fn map_update_sees_the_old_value_and_sort_key() {
    let mut emu = Emulator::default();
    emu.map_set(T0, 1, "m", "k", v("1"), 100.0, Some(SortKey::Number(7.0)))
        .result
        .unwrap();
    let mut seen = None;
    emu.map_update(
        T0,
        1,
        "m",
        "k",
        &mut |old, sort_key| {
            seen = Some((old.cloned(), sort_key.cloned()));
            Some((v("2"), Some(SortKey::String("x".into()))))
        },
        100.0,
    )
    .result
    .unwrap();
    assert_eq!(seen, Some((Some(v("1")), Some(SortKey::Number(7.0)))));
    let got = emu.map_get(T0, 1, "m", "k").result.unwrap();
    assert_eq!(got, Some((v("2"), Some(SortKey::String("x".into())))));
}

#[test]
fn suphis_lock_protocol_acquires_refreshes_excludes_and_releases() {
    let mut emu = Emulator::default();
    let lock = |emu: &mut Emulator, now: u64, me: &str, ttl: f64| {
        let me = s(me);
        let mut seen = None;
        let result = emu
            .map_update(
                now,
                1,
                "Players/global/1",
                "Id",
                &mut |old, _| {
                    seen = old.cloned();
                    match old {
                        None => Some((me.clone(), None)),
                        Some(held) if *held == me => Some((me.clone(), None)),
                        Some(_) => None,
                    }
                },
                ttl,
            )
            .result
            .unwrap();
        (result.is_some(), seen)
    };
    assert_eq!(lock(&mut emu, T0, "A", 330.0), (true, None));
    assert_eq!(
        lock(&mut emu, T0 + 60_000, "A", 330.0),
        (true, Some(s("A")))
    );
    assert_eq!(
        lock(&mut emu, T0 + 61_000, "B", 330.0),
        (false, Some(s("A")))
    );
    assert_eq!(lock(&mut emu, T0 + 62_000, "A", 0.0), (true, Some(s("A"))));
    assert_eq!(lock(&mut emu, T0 + 62_000, "B", 330.0), (true, None));
    assert_eq!(
        emu.inspect_lock("Players", "global", "1", T0 + 62_000)
            .map(|l| l.0),
        Some(s("B"))
    );
}

#[test]
fn a_value_over_32_kb_is_item_value_size_too_large() {
    let mut emu = Emulator::default();
    let fits = Value::String("x".repeat(32 * 1024 - 2));
    let too_big = Value::String("x".repeat(32 * 1024 - 1));
    assert!(emu.map_set(T0, 1, "m", "k", fits, 10.0, None).is_ok());
    let err = emu
        .map_set(T0, 1, "m", "k", too_big.clone(), 10.0, None)
        .result
        .unwrap_err();
    assert_eq!(err.status(), Some("ItemValueSizeTooLarge"));
    let err = emu
        .queue_add(T0, 1, "q", too_big.clone(), 10.0, 0.0)
        .result
        .unwrap_err();
    assert_eq!(err.status(), Some("ItemValueSizeTooLarge"));
    let err = emu
        .map_update(
            T0,
            1,
            "m",
            "k",
            &mut |_, _| Some((too_big.clone(), None)),
            10.0,
        )
        .result
        .unwrap_err();
    assert_eq!(err.status(), Some("ItemValueSizeTooLarge"));
}

#[test]
fn keys_and_sort_keys_are_limited_to_128_characters() {
    let mut emu = Emulator::default();
    let long = "k".repeat(129);
    assert!(emu
        .map_set(T0, 1, "m", &"k".repeat(128), s("a"), 10.0, None)
        .is_ok());
    assert!(emu
        .map_set(T0, 1, "m", &long, s("a"), 10.0, None)
        .result
        .is_err());
    assert!(emu.map_get(T0, 1, "m", &long).result.is_err());
    let sort = Some(SortKey::String(long));
    assert!(emu
        .map_set(T0, 1, "m", "k", s("a"), 10.0, sort)
        .result
        .is_err());
    let nan = Some(SortKey::Number(f64::NAN));
    assert!(emu
        .map_set(T0, 1, "m", "k", s("a"), 10.0, nan)
        .result
        .is_err());
}

fn keys(items: &[datastore_module::emulator::MapItem]) -> Vec<&str> {
    items.iter().map(|i| i.key.as_str()).collect()
}

fn leaderboard() -> Emulator {
    let mut emu = Emulator::default();
    let entries: [(&str, Option<SortKey>); 8] = [
        ("player0", None),
        ("player7", None),
        ("player6", Some(SortKey::String("someString".into()))),
        ("player3", Some(SortKey::Number(2.5))),
        ("player5", Some(SortKey::Number(1.0))),
        ("player4", Some(SortKey::Number(1.0))),
        ("player2", Some(SortKey::Number(0.0))),
        ("player1", Some(SortKey::Number(-1.0))),
    ];
    for (key, sort_key) in entries {
        emu.map_set(T0, 1, "m", key, s(key), 60.0, sort_key)
            .result
            .unwrap();
    }
    emu
}

#[test]
fn range_orders_numbers_then_strings_then_no_sort_key_ties_by_key() {
    let mut emu = leaderboard();
    let items = emu
        .map_get_range(T0, 1, "m", SortDirection::Ascending, 200, None, None)
        .result
        .unwrap();
    assert_eq!(
        keys(&items),
        ["player1", "player2", "player4", "player5", "player3", "player6", "player0", "player7"]
    );
    let down = emu
        .map_get_range(T0, 1, "m", SortDirection::Descending, 3, None, None)
        .result
        .unwrap();
    assert_eq!(keys(&down), ["player7", "player0", "player6"]);
}

#[test]
fn range_pages_with_exclusive_bounds_from_the_last_item() {
    let mut emu = leaderboard();
    let mut seen = Vec::new();
    let mut lower: Option<RangeBound> = None;
    loop {
        let page = emu
            .map_get_range(
                T0,
                1,
                "m",
                SortDirection::Ascending,
                3,
                lower.as_ref(),
                None,
            )
            .result
            .unwrap();
        seen.extend(page.iter().map(|i| i.key.clone()));
        let Some(last) = page.last() else { break };
        lower = Some(RangeBound {
            key: Some(last.key.clone()),
            sort_key: last.sort_key.clone(),
        });
    }
    assert_eq!(seen.len(), 8);
    let upper = RangeBound {
        key: None,
        sort_key: Some(SortKey::Number(2.5)),
    };
    let below = emu
        .map_get_range(
            T0,
            1,
            "m",
            SortDirection::Ascending,
            200,
            None,
            Some(&upper),
        )
        .result
        .unwrap();
    assert_eq!(keys(&below), ["player1", "player2", "player4", "player5"]);
    assert!(emu
        .map_get_range(T0, 1, "m", SortDirection::Ascending, 201, None, None)
        .result
        .is_err());
}

#[test]
fn size_counts_live_entries_only() {
    let mut emu = Emulator::default();
    emu.map_set(T0, 1, "m", "a", s("a"), 10.0, None)
        .result
        .unwrap();
    emu.map_set(T0, 1, "m", "b", s("b"), 20.0, None)
        .result
        .unwrap();
    assert_eq!(emu.map_get_size(T0, 1, "m").result, Ok(2));
    assert_eq!(emu.map_get_size(T0 + 10_000, 1, "m").result, Ok(1));
    emu.map_remove(T0 + 10_000, 1, "m", "b").result.unwrap();
    assert_eq!(emu.map_get_size(T0 + 10_000, 1, "m").result, Ok(0));
}

// ---- queue -----------------------------------------------------------------------------

fn read(emu: &mut Emulator, now: u64, count: usize) -> Option<(Vec<Value>, String)> {
    emu.queue_read(now, 1, "q", DEFAULT_INVISIBILITY_S, count, false)
        .result
        .unwrap()
}

#[test]
fn higher_priority_is_read_first_and_equal_priorities_in_order_added() {
    let mut emu = Emulator::default();
    for (value, priority) in [("a", 0.0), ("b", 5.0), ("c", 0.0), ("d", 5.0), ("e", -1.0)] {
        emu.queue_add(T0, 1, "q", s(value), 60.0, priority)
            .result
            .unwrap();
    }
    let (values, _) = read(&mut emu, T0, 100).unwrap();
    assert_eq!(values, vec![s("b"), s("d"), s("a"), s("c"), s("e")]);
}

#[test]
fn queue_items_reappear_after_invisibility_timeout() {
    let mut emu = Emulator::default();
    emu.queue_add(T0, 1, "q", s("a"), 600.0, 0.0)
        .result
        .unwrap();
    let (_, first) = read(&mut emu, T0, 1).unwrap();
    assert_eq!(
        read(&mut emu, T0 + 29_999, 1),
        None,
        "hidden while being handled"
    );
    let (values, second) = read(&mut emu, T0 + 30_000, 1).unwrap();
    assert_eq!(values, vec![s("a")], "delivered again");
    assert_ne!(first, second);
}

#[test]
fn remove_before_the_timeout_deletes_the_read_items() {
    let mut emu = Emulator::default();
    for value in ["a", "b", "c"] {
        emu.queue_add(T0, 1, "q", s(value), 600.0, 0.0)
            .result
            .unwrap();
    }
    let (values, id) = read(&mut emu, T0, 2).unwrap();
    assert_eq!(values, vec![s("a"), s("b")]);
    emu.queue_remove(T0 + 1_000, 1, "q", &id).result.unwrap();
    let (rest, _) = read(&mut emu, T0 + 60_000, 100).unwrap();
    assert_eq!(rest, vec![s("c")]);
}

#[test]
fn remove_after_the_invisibility_timeout_does_nothing() {
    let mut emu = Emulator::default();
    emu.queue_add(T0, 1, "q", s("a"), 600.0, 0.0)
        .result
        .unwrap();
    let (_, id) = read(&mut emu, T0, 1).unwrap();
    assert!(emu.queue_remove(T0 + 30_000, 1, "q", &id).is_ok());
    assert_eq!(
        read(&mut emu, T0 + 30_000, 1).map(|r| r.0),
        Some(vec![s("a")])
    );
    // An unknown id is fine too.
    assert!(emu.queue_remove(T0, 1, "q", "nope").is_ok());
}

#[test]
fn an_old_read_id_does_not_remove_items_read_again_since() {
    let mut emu = Emulator::default();
    emu.queue_add(T0, 1, "q", s("a"), 600.0, 0.0)
        .result
        .unwrap();
    let (_, old) = emu
        .queue_read(T0, 1, "q", 1.0, 1, false)
        .result
        .unwrap()
        .unwrap();
    let (_, _new) = read(&mut emu, T0 + 1_000, 1).unwrap();
    emu.queue_remove(T0 + 1_001, 1, "q", &old).result.unwrap();
    assert_eq!(emu.inspect_queue("q", T0 + 1_001).len(), 1);
}

#[test]
fn all_or_nothing_reads_nothing_when_too_few_are_visible() {
    let mut emu = Emulator::default();
    emu.queue_add(T0, 1, "q", s("a"), 600.0, 0.0)
        .result
        .unwrap();
    let reply = emu.queue_read(T0, 1, "q", 30.0, 2, true);
    assert_eq!(reply.result, Ok(None));
    assert!(emu.inspect_queue("q", T0)[0].visible, "nothing was hidden");
    emu.queue_add(T0, 1, "q", s("b"), 600.0, 0.0)
        .result
        .unwrap();
    let (values, _) = emu
        .queue_read(T0, 1, "q", 30.0, 2, true)
        .result
        .unwrap()
        .unwrap();
    assert_eq!(values.len(), 2);
}

#[test]
fn reading_an_empty_queue_returns_nothing_without_waiting() {
    let mut emu = Emulator::default();
    let reply = emu.queue_read(T0, 1, "q", 30.0, 100, false);
    assert_eq!(reply.result, Ok(None));
    assert_eq!(reply.latency_ms, 0);
}

#[test]
fn queue_items_expire() {
    let mut emu = Emulator::default();
    emu.queue_add(T0, 1, "q", s("a"), 10.0, 0.0).result.unwrap();
    emu.queue_add(T0, 1, "q", s("zero"), 0.0, 0.0)
        .result
        .unwrap();
    assert_eq!(emu.queue_get_size(T0, 1, "q", false).result, Ok(1));
    assert_eq!(read(&mut emu, T0 + 10_000, 1), None);
    assert!(emu.inspect_queue("q", T0 + 10_000).is_empty());
}

#[test]
fn read_count_must_be_1_to_100() {
    let mut emu = Emulator::default();
    for bad in [0, 101] {
        let err = emu
            .queue_read(T0, 1, "q", 30.0, bad, false)
            .result
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
    }
    assert!(emu.queue_read(T0, 1, "q", -1.0, 1, false).result.is_err());
    assert!(emu
        .queue_add(T0, 1, "q", s("a"), 10.0, f64::NAN)
        .result
        .is_err());
}

#[test]
fn inspect_queue_shows_visibility_and_size_can_exclude_the_hidden() {
    let mut emu = Emulator::default();
    emu.queue_add(T0, 1, "q", s("a"), 60.0, 1.0).result.unwrap();
    emu.queue_add(T0, 1, "q", s("b"), 60.0, 0.0).result.unwrap();
    let (_, id) = read(&mut emu, T0, 1).unwrap();
    let items = emu.inspect_queue("q", T0 + 1);
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0].visible, items[0].read_id.as_deref()),
        (false, Some(id.as_str()))
    );
    assert_eq!(items[0].invisible_until_ms, Some(T0 + 30_000));
    assert_eq!(items[0].expires_at_ms, T0 + 60_000);
    assert!(items[1].visible);
    assert_eq!(emu.queue_get_size(T0 + 1, 1, "q", false).result, Ok(2));
    assert_eq!(emu.queue_get_size(T0 + 1, 1, "q", true).result, Ok(1));
}
