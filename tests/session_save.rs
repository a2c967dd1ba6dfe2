//! §7: load, save, remove, SaveDelay, auto-save, compression; D1, D3, D14, D16.

mod session_common;

use session_common::*;

fn quiet() -> (Driver, datastore_module::session::SessionId) {
    let (d, s, _) = opened_with(datastore_module::session::Config::default(), false);
    (d, s)
}
use datastore_module::session::{
    Call, Command, Input, Reply, Response, SessionId, Snapshot, State,
};
use datastore_module::value::Value;

#[test]
fn a_load_sets_metadata_user_ids_and_key_info() {
    let mut d = Driver::new();
    d.store
        .put(ID, json(r#"{"Coins":3}"#), json(r#"{"Tag":"x"}"#));
    d.store.data.get_mut(ID).unwrap().user_ids = json("[7]");
    let s = d.new_session("Player", "1");
    assert_eq!(d.run(s, Call::Read { template: None }), success());
    let host = d.host(s);
    assert_eq!(host.value, json(r#"{"Coins":3}"#));
    assert_eq!(host.metadata, json(r#"{"Tag":"x"}"#));
    assert_eq!(host.user_ids, json("[7]"));
    let session = d.m.session(s).unwrap();
    assert_eq!(session.created_time(), 1000.0);
    assert_eq!(session.updated_time(), 2000.0);
    assert_eq!(session.version(), d.store.data[ID].version);
}

#[test]
fn a_load_of_a_missing_key_resets_metadata_user_ids_times_and_version() {
    let mut d = Driver::new();
    d.store
        .put(ID, json(r#"{"Coins":3}"#), json(r#"{"Tag":"x"}"#));
    let s = d.new_session("Player", "1");
    d.run(s, Call::Read { template: None });
    d.store.data.clear();
    d.run(s, Call::Read { template: None });
    let host = d.host(s);
    assert_eq!(host.value, Value::Nil);
    assert_eq!(host.metadata, json("{}"));
    assert_eq!(host.user_ids, json("[]"));
    let session = d.m.session(s).unwrap();
    assert_eq!(session.created_time(), 0.0);
    assert_eq!(session.updated_time(), 0.0);
    assert_eq!(session.version(), "");
}

#[test]
fn save_answers_saved_with_the_value_and_updates_version_but_not_the_times_d1() {
    let (mut d, s) = quiet();
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    let session = d.m.session(s).unwrap();
    assert_eq!(session.version(), d.store.data[ID].version);
    assert_eq!(
        session.created_time(),
        0.0,
        "saves do not refresh CreatedTime"
    );
    assert_eq!(session.updated_time(), 0.0, "nor UpdatedTime");
    let Command::DataSet {
        key,
        value,
        metadata,
        user_ids,
        ..
    } = &d.sent("DataSet")[0].1
    else {
        unreachable!()
    };
    assert_eq!(key, "1");
    assert_eq!(value.as_str(), r#"{"Coins":1}"#);
    assert_eq!(metadata.as_str(), "{}");
    assert_eq!(user_ids.as_str(), "[]");
}

#[test]
fn a_compressed_save_stores_text_with_the_compress_metadata_and_updates_version_d1() {
    let (mut d, s) = quiet();
    d.host_mut(s).metadata = json(r#"{"Compress":{"Level":2,"Decimals":3,"Safety":true}}"#);
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    let stored = d.store.data[ID].clone();
    let Value::String(compressed) = &stored.value else {
        panic!("compressed text is stored: {:?}", stored.value)
    };
    let compressed = compressed.clone();
    let session = d.m.session(s).unwrap();
    assert_eq!(session.compressed_value(), compressed);
    assert_eq!(session.version(), stored.version, "D1");
    assert_eq!(
        stored.metadata,
        json(r#"{"Compress":{"Level":2,"Decimals":3,"Safety":true}}"#)
    );
    // A load detects compression from the metadata and decodes.
    let other = d.hidden("Player", "1");
    d.run(other, Call::Read { template: None });
    assert_eq!(d.host(other).value, json(r#"{"Coins":1}"#));
    assert_eq!(d.m.session(other).unwrap().compressed_value(), compressed);
}

#[test]
fn an_uncompressed_load_leaves_compressed_value_as_it_was() {
    let (mut d, s) = quiet();
    d.host_mut(s).metadata = json(r#"{"Compress":{}}"#);
    d.run(s, Call::Save);
    let before = d.m.session(s).unwrap().compressed_value().to_owned();
    assert!(!before.is_empty());
    d.run(s, Call::Close);
    d.store.put(ID, json(r#"{"Coins":9}"#), json("{}"));
    d.run(s, Call::Read { template: None });
    assert_eq!(d.m.session(s).unwrap().compressed_value(), before);
}

#[test]
fn saving_nil_removes_the_key_and_resets_metadata_and_key_info() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    assert!(d.store.data.contains_key(ID));
    d.host_mut(s).value = Value::Nil;
    d.host_mut(s).metadata = json(r#"{"Tag":"x"}"#);
    d.clear_log();
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert!(!d.store.data.contains_key(ID));
    assert_eq!(d.sent("DataRemove").len(), 1);
    assert_eq!(
        d.trace(s),
        [
            "Saving",
            "MetadataReset",
            "Saved(Saved)",
            "CallDone(Saved, Value)"
        ]
    );
    assert_eq!(d.host(s).metadata, json("{}"));
    assert_eq!(d.m.session(s).unwrap().version(), "");
}

#[test]
fn save_delay_keeps_successful_saves_apart() {
    let (mut d, s) = quiet();
    d.m.set_property(d.now, s, "SaveDelay", Input::Number(5.0))
        .unwrap();
    d.run(s, Call::Save);
    let first = d
        .log
        .iter()
        .find(|(_, e)| signal_name(e).as_deref() == Some("Saved(Saved)"))
        .unwrap()
        .0;
    d.advance(1_000);
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    d.clear_log();
    d.run(s, Call::Save);
    let saving = d
        .log
        .iter()
        .find(|(_, e)| signal_name(e).as_deref() == Some("Saving"))
        .unwrap()
        .0;
    assert_eq!(saving, first + 5_000, "Saving waits out the delay");
}

#[test]
fn a_failing_save_makes_three_tries_then_answers_error_d14() {
    let (mut d, s) = quiet();
    d.store.fault("DataSet", 3, Fault::Error("502".into()));
    assert_eq!(d.run(s, Call::Save), reply(Response::Error, "502"));
    let sends: Vec<u64> = d.sent("DataSet").iter().map(|(t, _)| *t).collect();
    assert_eq!(sends.len(), 3);
    assert!(sends[2] - sends[0] <= 2_000 + 20);
    assert_eq!(d.signals(s), ["Saving", "Saved(Error, 502)"]);
}

#[test]
fn a_save_the_store_refuses_for_good_is_answered_at_once_d19() {
    let (mut d, s) = quiet();
    let message = "105: Serialized value exceeds 4194304 limit.";
    d.store.fault("DataSet", 3, Fault::Invalid(message.into()));
    let sent = d.now;
    assert_eq!(d.run(s, Call::Save), reply(Response::Error, message));
    assert_eq!(d.sent("DataSet").len(), 1, "no retry of an invalid request");
    assert!(d.now - sent < 250, "no backoff wait");
    let saved = format!("Saved(Error, {message})");
    assert_eq!(d.signals(s), ["Saving", saved.as_str()]);
}

#[test]
fn a_value_over_4_mb_is_refused_before_any_command_and_a_compressed_one_by_its_text() {
    // A JS host's 540 MB value went into a DataSet command the host could not decode, and the
    // process died (a helper's bug hunt); every store refuses over 4 MB (105), now the core first.
    let (mut d, s) = quiet();
    d.host_mut(s).value = text(&"x".repeat(4_194_303)); // 4,194,305 bytes of JSON
    let Reply { response, data } = d.run(s, Call::Save);
    assert_eq!(response, Response::Error);
    assert!(
        format!("{data:?}").contains("105: Serialized value exceeds 4194304 limit."),
        "{data:?}"
    );
    assert_eq!(d.sent("DataSet").len(), 0, "nothing was sent");
    d.host_mut(s).value = text(&"x".repeat(4_194_302));
    assert_eq!(
        d.run(s, Call::Save).response,
        Response::Saved,
        "4 MB exactly"
    );
    // Compressed, a value over 4 MB of JSON can be a short text, which is what counts.
    let items = vec!["123456.789"; 450_000].join(",");
    d.host_mut(s).value = json(&format!("[{items}]"));
    d.host_mut(s).metadata = json(r#"{"Compress":{"Level":2}}"#);
    let Reply { response, data } = d.run(s, Call::Save);
    assert_eq!(response, Response::Saved, "{data:?}");
}

#[test]
fn a_save_that_succeeds_on_a_later_try_answers_saved_d14() {
    let (mut d, s) = quiet();
    d.store.fault("DataSet", 2, Fault::Error("502".into()));
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 3);
    assert_eq!(d.signals(s), ["Saving", "Saved(Saved)"]);
}

#[test]
fn an_unchanged_save_is_skipped_but_answers_saved_and_fires_saved_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    let version = d.m.session(s).unwrap().version().to_owned();
    d.clear_log();
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 0);
    assert_eq!(d.signals(s), ["Saving", "Saved(Saved)"]);
    assert_eq!(d.m.session(s).unwrap().version(), version);
}

#[test]
fn zero_becoming_negative_zero_is_a_change_d16() {
    // D16 compares a fingerprint of the last write (number bits, not ==), so -0 for 0 is
    // written, not answered "Saved" with the store still holding 0.
    let (mut d, s) = quiet();
    d.host_mut(s).value = json(r#"{"Coins":0}"#);
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    d.clear_log();
    d.host_mut(s).value = json(r#"{"Coins":-0}"#);
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 1, "the -0 was written");
    d.clear_log();
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 0, "and then it is unchanged");
}

#[test]
fn a_change_to_value_metadata_or_user_ids_is_written_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    d.run(s, Call::Save);
    d.host_mut(s).metadata = json(r#"{"Tag":"x"}"#);
    d.run(s, Call::Save);
    d.host_mut(s).user_ids = json("[1]");
    d.run(s, Call::Save);
    assert_eq!(d.sent("DataSet").len(), 4);
}

#[test]
fn metadata_or_user_ids_longer_than_a_load_reads_back_are_refused_not_written() {
    // The JS stores keep metadata and user ids as given; a record with 200 KB of metadata
    // answered Saved and then failed every load (a helper's bug hunt).
    let (mut d, s) = quiet();
    let big = "x".repeat(200_000);
    d.host_mut(s).metadata = json(&format!(r#"{{"Note":"{big}"}}"#));
    let Reply { response, data } = d.run(s, Call::Save);
    assert_eq!(response, Response::Error);
    let message = format!("{data:?}");
    assert!(
        message.contains("Metadata: 200011 bytes of JSON, more than a load reads back"),
        "{message}"
    );
    let ids: Vec<String> = (0..20_000).map(|i| (1_000_000 + i).to_string()).collect();
    d.host_mut(s).metadata = json("{}");
    d.host_mut(s).user_ids = json(&format!("[{}]", ids.join(",")));
    let Reply { response, data } = d.run(s, Call::Save);
    assert_eq!(response, Response::Error);
    assert!(
        format!("{data:?}").contains("UserIds: 160001 bytes of JSON"),
        "{data:?}"
    );
    assert_eq!(d.sent("DataSet").len(), 0, "nothing was written");
    d.host_mut(s).user_ids = json("[1]");
    assert_eq!(d.run(s, Call::Save).response, Response::Saved);
}

#[test]
fn an_empty_table_goes_out_as_the_shape_a_load_reads_back() {
    // A JS host's `UserIds = {}` or `Metadata = []` (a Luau host's `{}` is either) was stored as
    // given, and every later load of the key failed on the JS stores (a helper's bug hunt).
    let (mut d, s) = quiet();
    d.host_mut(s).metadata = json("[]");
    d.host_mut(s).user_ids = json("{}");
    assert_eq!(d.run(s, Call::Save).response, Response::Saved);
    let Command::DataSet {
        user_ids, metadata, ..
    } = &d.sent("DataSet")[0].1
    else {
        panic!("a DataSet")
    };
    assert_eq!((user_ids.as_str(), metadata.as_str()), ("[]", "{}"));
}

#[test]
fn metadata_with_a_number_or_boolean_key_is_refused_not_written_as_a_string_key() {
    // A Luau host's `Metadata = {[true] = 1}` was saved as `{"true":1}` and answered Saved,
    // where the original's save gets the service's 513 (a helper's differential hunt).
    use datastore_module::value::{Key, Table};
    let (mut d, s) = quiet();
    for key in [Key::Bool(true), Key::Number(2.0)] {
        let mut metadata = Table::new();
        metadata.insert(Key::from("Tag"), Value::String("x".into()));
        metadata.insert(key.clone(), Value::Number(1.0));
        d.host_mut(s).metadata = Value::Table(metadata);
        let Reply { response, data } = d.run(s, Call::Save);
        assert_eq!(response, Response::Error, "{key:?}");
        let want = format!(
            "Metadata[{}]: metadata keys must be strings",
            key.to_luau_string()
        );
        assert!(format!("{data:?}").contains(&want), "{data:?}");
    }
    assert_eq!(d.sent("DataSet").len(), 0, "nothing was written");
    // Inside a metadata value such keys are the value's own, as in Value.
    d.host_mut(s).metadata = json(r#"{"Tag":{"true":1}}"#);
    assert_eq!(d.run(s, Call::Save).response, Response::Saved);
}

#[test]
fn after_a_load_an_equal_save_is_written_again_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    d.run(s, Call::Close);
    // Someone else writes in between; we reopen and set our old value back.
    d.store.put(ID, json(r#"{"Coins":50}"#), json("{}"));
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    d.clear_log();
    d.run(s, Call::Save);
    assert_eq!(d.sent("DataSet").len(), 1);
    assert_eq!(d.store.data[ID].value, json(r#"{"Coins":1}"#));
}

#[test]
fn after_a_failed_write_an_equal_save_is_written_again_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    d.store
        .fault("DataSet", 3, Fault::ApplyThenError("timeout".into()));
    assert_eq!(d.run(s, Call::Save).response, Response::Error);
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    d.clear_log();
    d.run(s, Call::Save);
    assert_eq!(
        d.sent("DataSet").len(),
        1,
        "the store may hold anything now"
    );
    assert_eq!(d.store.data[ID].value, json(r#"{"Coins":1}"#));
}

// `same_texts` (the host's word that its texts are those of its last snapshot) is trusted: the
// tests below hand over a changed value with it, so a write shows the texts were read and none
// shows they were not.

/// Saves `{"Coins":3}` with `same_texts` set: the core has nothing the flag could stand for, so
/// it reads the texts and writes them.
fn a_changed_value_claimed_the_same_is_read_and_written(d: &mut Driver, s: SessionId) {
    d.host_mut(s).value = json(r#"{"Coins":3}"#);
    d.same_texts = true;
    d.clear_log();
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 1);
    assert_eq!(d.store.data[ID].value, json(r#"{"Coins":3}"#));
}

#[test]
fn the_same_texts_as_a_stored_snapshot_are_skipped_without_reading_them_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    d.same_texts = true;
    d.clear_log();
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 0);
    assert_eq!(d.signals(s), ["Saving", "Saved(Saved)"]);
}

#[test]
fn the_same_texts_after_a_failed_write_are_read_and_written_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    d.store
        .fault("DataSet", 3, Fault::ApplyThenError("timeout".into()));
    assert_eq!(d.run(s, Call::Save).response, Response::Error);
    a_changed_value_claimed_the_same_is_read_and_written(&mut d, s);
}

#[test]
fn a_snapshot_nobody_waited_for_ends_what_same_texts_stands_for_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    // The host hands over other texts when no save waits (a late snapshot): they are its last.
    let late = Snapshot {
        value: json(r#"{"Coins":7}"#).into(),
        metadata: json("{}"),
        user_ids: json("[]"),
        same_texts: false,
    };
    assert!(!d.m.provide_snapshot(d.now, s, Ok(late)));
    a_changed_value_claimed_the_same_is_read_and_written(&mut d, s);
}

#[test]
fn a_failed_snapshot_ends_what_same_texts_stands_for_d16() {
    let (mut d, s) = quiet();
    d.run(s, Call::Save);
    d.snapshot_error = Some("the host could not convert Value".into());
    assert_eq!(d.run(s, Call::Save).response, Response::Error);
    a_changed_value_claimed_the_same_is_read_and_written(&mut d, s);
}

#[test]
fn usage_ends_what_same_texts_stands_for_so_compressed_value_is_the_save_s_d16() {
    let (mut d, s) = quiet();
    d.host_mut(s).metadata = json(r#"{"Compress":{}}"#);
    d.run(s, Call::Save);
    let saved = d.m.session(s).unwrap().compressed_value().to_owned();
    // Usage() of another value sets CompressedValue to that value's text.
    d.m.usage(s, &json(r#"{"Coins":99}"#), &json(r#"{"Compress":{}}"#))
        .unwrap();
    assert_ne!(d.m.session(s).unwrap().compressed_value(), saved);
    d.same_texts = true;
    d.clear_log();
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 0, "the payload is the one stored");
    assert_eq!(
        d.m.session(s).unwrap().compressed_value(),
        saved,
        "the texts were read again, so CompressedValue is this save's"
    );
}

#[test]
fn auto_save_runs_every_save_interval_from_the_last_save() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    let opened_at = d.now;
    // Every save writes something new (so none is skipped by D16).
    let mut coins = 0.0;
    d.on_saving = Some(Box::new(move |_, host| {
        coins += 1.0;
        host.value = Value::Number(coins);
    }));
    d.advance_to(opened_at + 95_000);
    let savings: Vec<u64> = d
        .log
        .iter()
        .filter(|(_, e)| signal_name(e).as_deref() == Some("Saving"))
        .map(|(t, _)| *t)
        .collect();
    // Each SaveTask restarts the timer when it ends (the write takes 10 ms).
    assert_eq!(savings.len(), 3);
    assert!(savings[0] >= opened_at + 29_990 && savings[0] <= opened_at + 30_000);
    assert_eq!(savings[1], savings[0] + 30_010);
    assert_eq!(savings[2], savings[1] + 30_010);
}

#[test]
fn save_interval_zero_stops_auto_save_and_a_new_interval_restarts_it_from_now() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.m.set_property(d.now, s, "SaveInterval", Input::Number(0.0))
        .unwrap();
    d.advance(100_000);
    assert!(!d.signals(s).contains(&"Saving".to_owned()));
    let set_at = d.now;
    d.m.set_property(d.now, s, "SaveInterval", Input::Number(10.0))
        .unwrap();
    d.advance(10_500);
    let saving = d
        .log
        .iter()
        .find(|(_, e)| signal_name(e).as_deref() == Some("Saving"))
        .unwrap()
        .0;
    assert_eq!(saving, set_at + 10_000);
}

#[test]
fn save_interval_set_while_closed_starts_nothing() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.m.set_property(d.now, s, "SaveInterval", Input::Number(10.0))
        .unwrap();
    d.advance(60_000);
    assert!(d.commands.is_empty());
}

#[test]
fn save_interval_set_while_a_close_is_pending_does_not_restart_the_timer() {
    let (mut d, s) = quiet();
    d.store.fault("DataSet", 1, Fault::Delay(30_000));
    let save = d.call(s, Call::Save);
    let close = d.call(s, Call::Close);
    d.m.set_property(d.now, s, "SaveInterval", Input::Number(10.0))
        .unwrap();
    d.wait(save);
    d.wait(close);
    d.advance(60_000);
    assert_eq!(d.signals(s).iter().filter(|n| *n == "Saving").count(), 2);
}

#[test]
fn close_with_a_failing_save_answers_error_but_still_closes_and_unlocks_d3() {
    let (mut d, s) = quiet();
    d.store.fault("DataSet", 3, Fault::Error("down".into()));
    assert_eq!(d.run(s, Call::Close), reply(Response::Error, "down"));
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(d.store.holder(ID, d.now), None);
    assert_eq!(
        d.signals(s),
        ["Saving", "Saved(Error, down)", "StateChanged(false)"]
    );
}

#[test]
fn destroy_with_a_failing_save_answers_error_but_still_destroys_and_unlocks_d3() {
    let (mut d, s) = quiet();
    d.store.fault("DataSet", 3, Fault::Error("down".into()));
    assert_eq!(d.run(s, Call::Destroy), reply(Response::Error, "down"));
    assert_eq!(d.state(s), State::Destroyed);
    assert_eq!(d.store.holder(ID, d.now), None);
}

#[test]
fn close_without_save_on_close_answers_success_and_writes_nothing() {
    let (mut d, s) = quiet();
    d.m.set_property(d.now, s, "SaveOnClose", Input::Bool(false))
        .unwrap();
    assert_eq!(d.run(s, Call::Close), success());
    assert_eq!(d.sent("DataSet").len(), 0);
    assert_eq!(d.sent("LockRelease").len(), 1);
}

#[test]
fn usage_counts_the_json_or_the_compressed_text_and_updates_compressed_value() {
    let (mut d, s) = quiet();
    let (n, fraction) = d.m.usage(s, &json(r#"{"a":1}"#), &json("{}")).unwrap();
    assert_eq!(n, r#"{"a":1}"#.len());
    assert_eq!(fraction, n as f64 / 4_194_303.0);
    assert_eq!(d.m.usage(s, &Value::Nil, &json("{}")).unwrap(), (0, 0.0));
    assert_eq!(d.m.session(s).unwrap().compressed_value(), "");
    let (m, _) =
        d.m.usage(s, &json(r#"{"a":1}"#), &json(r#"{"Compress":{}}"#))
            .unwrap();
    assert!(m > 0);
    assert!(!d.m.session(s).unwrap().compressed_value().is_empty());
}

#[test]
fn a_save_after_one_answered_without_a_store_call_waits_for_the_next_host_turn() {
    // A save the core answers without a store call (here a D16 skip) finishes at once; a
    // `Saved` handler that saves again each time must not spin inside one host turn. The next
    // save waits for the host's next timer turn, a timer due now: no clock time has to pass,
    // so under a manual clock it needs no `advance` (issue 11).
    let (mut d, s) = quiet();
    assert_eq!(d.run(s, Call::Save), Reply::saved()); // a write
    let t = d.now;
    assert_eq!(d.run(s, Call::Save), Reply::saved()); // D16: nothing changed, no write
    assert_eq!(d.now, t, "a save after a write starts at once");
    let ans = d.call(s, Call::Save);
    assert!(
        d.reply_of(&ans).is_none(),
        "the next save waits for the host's next turn"
    );
    assert_eq!(d.m.poll_timeout(), Some(t), "a timer due now");
    assert_eq!(d.wait(ans), Reply::saved());
    assert_eq!(d.now, t, "and no time passed");
    // A thousand back-to-back skipped saves take no clock time.
    for _ in 0..1000 {
        assert_eq!(d.run(s, Call::Save), Reply::saved());
    }
    assert_eq!(d.now, t);
}

#[test]
fn a_store_answer_between_them_lets_the_next_save_start_at_once() {
    // A Close whose save is answered without a store call (D16: nothing changed) releases the
    // lock; that answer, and the next Open's, come in host turns of their own, so the Save
    // after them writes at once, as the original's would, instead of waiting for a timer turn
    // (a Luau host's next frame). Store answers only: no timer runs and no time passes.
    let (mut d, s) = quiet();
    assert_eq!(d.run(s, Call::Save), Reply::saved()); // a write
    let close = d.call(s, Call::Close);
    d.complete_in_flight();
    assert!(
        d.reply_of(&close).is_some(),
        "closed on store answers alone"
    );
    assert_eq!(d.store.count("DataSet"), 1, "Close's save was a D16 skip");
    let open = d.call(s, Call::Open { template: None });
    d.complete_in_flight();
    assert_eq!(d.reply_of(&open), Some(success()));
    d.host_mut(s).value = json(r#"{"Coins":7}"#);
    let save = d.call(s, Call::Save);
    d.complete_in_flight();
    assert_eq!(d.store.count("DataSet"), 2, "the save wrote at once");
    assert_eq!(d.reply_of(&save), Some(Reply::saved()));
    // With no store answer in between, a skipped save still holds the next one back.
    let skipped = d.call(s, Call::Save);
    d.complete_in_flight();
    assert_eq!(d.reply_of(&skipped), Some(Reply::saved())); // D16: no write
    let again = d.call(s, Call::Save);
    d.complete_in_flight();
    assert!(
        d.reply_of(&again).is_none(),
        "waits for the next timer turn"
    );
    assert_eq!(d.store.count("DataSet"), 2);
}

/// A Luau host's value text is transcoded straight to what the save stores (`codec::luau`);
/// what is stored, sent and answered is what the tree read from the same text gives, the
/// refusals' messages included, compressed or not.
#[test]
fn a_luau_snapshot_stores_what_the_tree_of_its_value_text_stores() {
    let texts: [&[u8]; 10] = [
        b"{s5:Coinsn3;s5:Items{n1;s5:Swordn2;{s1:xn1.5;}}s4:Bags{}}",
        // a hole, a mixed table, number keys out of order: the tree decides
        b"{n1;s5:Swordn3;s3:Bow}",
        b"{n1;n1;n2;n2;s1:xn3;}",
        b"{n2;s1:bn1;s1:a}",
        // `1` beside `"1"`: refused uncompressed, stored compressed
        b"{n1;ts1:1f}",
        // refusals
        b"{s1:f?function;}",
        b"{s1:a{s1:xnnan;}}",
        b"{s1:as1:\xff}",
        b"{s1:a",
        // nil: the key is removed
        b"",
    ];
    let compress = json(r#"{"Compress":{"Level":2,"Decimals":3,"Safety":true}}"#);
    // Settings the save refuses: a refused value is still named first.
    let bad_decimals = json(r#"{"Compress":{"Decimals":"x"}}"#);
    for metadata in [json("{}"), compress, bad_decimals] {
        for text in texts {
            let (mut ours, s) = quiet();
            ours.host_mut(s).metadata = metadata.clone();
            ours.snapshot_text = Some(text.to_vec());
            let (mut tree, t) = quiet();
            tree.host_mut(t).metadata = metadata.clone();
            match Value::from_luau_text(text, "Value") {
                Ok(value) => tree.host_mut(t).value = value,
                Err(e) => tree.snapshot_error = Some(e.to_string()),
            }
            let what = String::from_utf8_lossy(text);
            assert_eq!(ours.run(s, Call::Save), tree.run(t, Call::Save), "{what}");
            for kind in ["DataSet", "DataRemove"] {
                let sent = |d: &Driver| -> Vec<Command> {
                    d.sent(kind).into_iter().map(|(_, c)| c).collect()
                };
                assert_eq!(sent(&ours), sent(&tree), "{kind} of {what}");
            }
            assert_eq!(
                ours.m.session(s).unwrap().compressed_value(),
                tree.m.session(t).unwrap().compressed_value(),
                "{what}"
            );
            // Usage() of the text, when it needs no tree, is the tree's; a refusal too, but that
            // its path numbers a sequence's elements from 1, as Luau does.
            if let Some(usage) = ours.m.usage_of_value_text(s, text, &metadata) {
                match Value::from_luau_text(text, "Value") {
                    Ok(value) => match (usage, tree.m.usage(t, &value, &metadata)) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
                        (Err(_), Err(_)) => {}
                        (a, b) => panic!("{what}: {a:?} against the tree's {b:?}"),
                    },
                    Err(e) => assert_eq!(usage, Err(e.to_string()), "{what}"),
                }
            }
        }
    }
}

/// A compressed load is decoded straight to the JSON the `Loaded` event carries
/// (`codec::json`), exactly the tree's JSON; templates are spliced into that JSON, and the tree
/// fills in only what the text cannot (here, a string key for a non-empty sequence).
#[test]
fn a_compressed_load_is_decoded_straight_to_json_templates_included() {
    use datastore_module::session::{Event, LoadedValue};
    use std::cell::RefCell;
    use std::rc::Rc;
    let (mut d, s) = quiet();
    let value = json(r#"{"Coins":1,"Items":["a",{"b":-0}],"Bag":{},"None":[]}"#);
    d.host_mut(s).value = value.clone();
    d.host_mut(s).metadata = json(r#"{"Compress":{}}"#);
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    let loaded = Rc::new(RefCell::new(Vec::new()));
    let seen = loaded.clone();
    d.hook = Some(Box::new(move |_, _, event| {
        if let Event::Loaded { value, .. } = event {
            seen.borrow_mut().push(value.clone());
        }
    }));
    let other = d.hidden("Player", "1");
    d.run(other, Call::Read { template: None });
    let read = |d: &mut Driver, template: &str| {
        d.run(
            other,
            Call::Read {
                template: Some(json(template)),
            },
        );
        d.host(other).value.to_json_string()
    };
    let with_gems =
        r#"{"Coins":1,"Items":["a",{"b":-0}],"Bag":{"Size":4},"None":{"x":1},"Gems":5}"#;
    assert_eq!(
        read(
            &mut d,
            r#"{"Gems":5,"Bag":{"Size":4},"None":{"x":1},"Coins":0}"#
        ),
        with_gems
    );
    let mut mixed = value.clone();
    datastore_module::template::apply_template(&mut mixed, &json(r#"{"Items":{"Max":3}}"#));
    assert!(
        !mixed.json_round_trips(),
        "a mixed table, which JSON cannot carry"
    );
    read(&mut d, r#"{"Items":{"Max":3}}"#);
    assert_eq!(
        *loaded.borrow(),
        [
            LoadedValue::Json(value.to_json_string()),
            LoadedValue::Json(with_gems.to_owned()),
            LoadedValue::Tree(mixed),
        ]
    );
}

#[test]
fn loaded_json_that_cannot_be_read_is_an_error_not_nil() {
    use datastore_module::session::LoadedValue;
    assert!(LoadedValue::Json("{".into()).into_tree().is_err());
    assert_eq!(LoadedValue::Json("[1]".into()).into_tree(), Ok(json("[1]")));
}

/// A JS host's value text whose write would be the last write again is skipped (D16) before
/// it is checked or copied; any change to the value, the metadata or the user ids still
/// writes, and so does the first save after a load (the store may hold anything then).
#[test]
fn a_js_snapshot_the_same_as_the_last_write_is_skipped_and_any_change_written_d16() {
    let (mut d, s) = quiet();
    d.json_snapshots = true;
    let writes = |d: &mut Driver| {
        d.clear_log();
        assert_eq!(d.run(s, Call::Save), Reply::saved());
        d.sent("DataSet").len()
    };
    assert_eq!(writes(&mut d), 1, "the first save after the load");
    assert_eq!(writes(&mut d), 0, "unchanged");
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    assert_eq!(writes(&mut d), 1, "a changed value");
    assert_eq!(writes(&mut d), 0);
    d.host_mut(s).metadata = json(r#"{"Note":"x"}"#);
    assert_eq!(writes(&mut d), 1, "changed metadata");
    assert_eq!(writes(&mut d), 0);
    d.host_mut(s).user_ids = json("[7]");
    assert_eq!(writes(&mut d), 1, "changed user ids");
    assert_eq!(writes(&mut d), 0);
    assert_eq!(d.store.data[ID].value, json(r#"{"Coins":2}"#));
    assert_eq!(d.store.data[ID].user_ids, json("[7]"));
    // Compressed, the payload is not the value's text: the digest of the payload decides.
    d.host_mut(s).metadata = json(r#"{"Compress":{"Level":2}}"#);
    assert_eq!(writes(&mut d), 1, "compression on");
    assert_eq!(writes(&mut d), 0, "compressed and unchanged");
    assert_eq!(
        d.signals(s).last().map(String::as_str),
        Some("Saved(Saved)")
    );
}
