//! §5.5 event ordering, D4 (Open from a StateChanged(true) handler) and D5 (an error inside a
//! task answers its callers and the queue goes on).

mod session_common;

use datastore_module::session::{Call, CallOutcome, Event, Reply, Response, State};
use session_common::*;
use std::cell::RefCell;
use std::rc::Rc;

#[test]
fn state_changed_true_fires_before_the_open_callers_resume() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    assert_eq!(
        d.trace(s),
        ["Loaded", "StateChanged(true)", "CallDone(Success)"]
    );
}

#[test]
fn state_changed_handlers_run_before_the_next_task_starts() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen2 = seen.clone();
    d.hook = Some(Box::new(move |m, _, e| {
        if let Event::StateChanged { session, .. } = e {
            seen2
                .borrow_mut()
                .push(m.session(*session).unwrap().state());
        }
    }));
    let open = d.call_in_turn(s, Call::Open { template: None });
    let close = d.call_in_turn(s, Call::Close);
    d.pump();
    d.wait(open);
    d.wait(close);
    // The handler of StateChanged(true) still sees State == true although a Close is queued.
    assert_eq!(*seen.borrow(), [State::Open, State::Closed]);
}

#[test]
fn open_from_a_state_changed_true_handler_returns_success_d4() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let answers = Rc::new(RefCell::new(Vec::new()));
    let answers2 = answers.clone();
    d.hook = Some(Box::new(move |m, now, e| {
        if let Event::StateChanged {
            session,
            state: State::Open,
        } = e
        {
            answers2.borrow_mut().push(
                m.call(now, *session, Call::Open { template: None })
                    .unwrap(),
            );
        }
    }));
    assert_eq!(d.open(s), success());
    assert_eq!(
        *answers.borrow(),
        [CallOutcome::Done {
            reply: success(),
            reconcile: None
        }]
    );
}

#[test]
fn saving_fires_right_before_the_write_and_a_handler_can_still_change_the_value() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    d.on_saving = Some(Box::new(|_, host| {
        host.value = json(r#"{"Coins":100}"#);
    }));
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(
        d.store.data["Player/global/1"].value,
        json(r#"{"Coins":100}"#)
    );
    let events = d.trace(s);
    let saving = events.iter().position(|e| e == "Saving").unwrap();
    let saved = events.iter().position(|e| e == "Saved(Saved)").unwrap();
    assert!(saving < saved);
}

#[test]
fn saved_fires_after_every_save_attempt_successful_or_not() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    d.clear_log();
    d.store
        .fault("DataSet", 3, Fault::Error("throttled".into()));
    assert_eq!(d.run(s, Call::Save), reply(Response::Error, "throttled"));
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(
        d.signals(s),
        [
            "Saving",
            "Saved(Error, throttled)",
            "Saving",
            "Saved(Saved)"
        ]
    );
}

#[test]
fn a_snapshot_the_host_cannot_make_answers_error_and_the_session_stays_usable_d5() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    d.clear_log();
    d.snapshot_error = Some("Value.Inventory[3]: NaN cannot be stored".into());
    assert_eq!(
        d.run(s, Call::Save),
        reply(Response::Error, "Value.Inventory[3]: NaN cannot be stored")
    );
    assert_eq!(
        d.signals(s),
        [
            "Saving",
            "Saved(Error, Value.Inventory[3]: NaN cannot be stored)"
        ]
    );
    assert_eq!(d.sent("DataSet").len(), 0);
    assert_eq!(d.state(s), State::Open);
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    assert_eq!(d.run(s, Call::Close), Reply::saved());
}

#[test]
fn undecodable_stored_data_fails_the_open_and_the_queue_goes_on_d5() {
    let mut d = Driver::new();
    d.store.put(
        "Player/global/1",
        // A digit run with a byte outside the base-83 alphabet: the original raised an error here.
        text(">a\"b"),
        json(r#"{"Compress":{"Level":2}}"#),
    );
    let s = d.new_session("Player", "1");
    let open = d.call(s, Call::Open { template: None });
    let read = d.call(s, Call::Read { template: None });
    let close = d.call(s, Call::Close);
    let reply = d.wait(open);
    assert_eq!(reply.response, Response::Error);
    assert_eq!(d.wait(read).response, Response::Error);
    assert_eq!(d.wait(close), success());
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(
        d.sent("LockRelease").len(),
        1,
        "the lock taken was given back"
    );
    assert_eq!(
        d.host(s).value,
        datastore_module::value::Value::Nil,
        "nothing installed"
    );
}

/// A Luau server's compressed save keeps `true` and `"true"` apart; a JS value cannot. On a host
/// that holds values as JSON the open fails, naming the table, and gives the lock back, so no
/// save can store the value without one of them; a Luau host loads both.
#[test]
fn keys_a_json_host_would_merge_fail_its_open_and_nothing_is_overwritten() {
    use datastore_module::codec::{compress, Settings};
    use datastore_module::session::{Config, Data};
    use datastore_module::value::{Key, Table, Value};
    let mut bag = Table::new();
    bag.insert(Key::String("true".into()), Value::Bool(true));
    bag.insert(Key::Bool(true), Value::Number(-688.0));
    let mut root = Table::new();
    root.insert(Key::from("Bag"), Value::Table(bag));
    let stored = compress(&Value::Table(root.clone()), &Settings::default()).unwrap();
    for json_host in [true, false] {
        let config = Config {
            json_host,
            ..Config::default()
        };
        let mut d = Driver::with(config, FakeStore::new());
        d.store.put(
            "Player/global/1",
            Value::String(stored.clone()),
            json(r#"{"Compress":{"Level":2}}"#),
        );
        let s = d.new_session("Player", "1");
        let reply = d.open(s);
        if json_host {
            assert_eq!(
                reply.data,
                Data::Text(
                    "the stored value cannot be loaded here: Value.Bag: two keys of this table \
                     are both written \"true\" in JSON, so one would overwrite the other"
                        .into()
                )
            );
            assert_eq!(reply.response, Response::Error);
            assert_eq!(d.state(s), State::Closed);
            assert_eq!(d.sent("LockRelease").len(), 1, "the lock was given back");
            assert_eq!(d.sent("DataSet").len(), 0);
        } else {
            assert_eq!(reply.response, Response::Success);
            assert_eq!(d.host(s).value, Value::Table(root.clone()), "both keys");
        }
    }
}

#[test]
fn a_stored_value_that_is_not_text_under_compress_is_an_error_d5() {
    let mut d = Driver::new();
    d.store.put(
        "Player/global/1",
        json(r#"{"Coins":1}"#),
        json(r#"{"Compress":{"Level":2}}"#),
    );
    let s = d.new_session("Player", "1");
    let reply = d.open(s);
    assert_eq!(reply.response, Response::Error);
    assert_eq!(d.state(s), State::Closed);
}

#[test]
fn a_host_that_never_hands_over_the_snapshot_cannot_wedge_the_session() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    // Swallow the Saving event: the host never answers it.
    d.hook = None;
    let save = d.m.call(d.now, s, Call::Save).unwrap();
    let CallOutcome::Pending(call) = save else {
        panic!()
    };
    // Drain events by hand without answering Saving.
    while let Some(event) = d.m.poll_event() {
        assert!(matches!(event, Event::Saving { .. }));
    }
    d.now += 15_000;
    d.m.handle_timeout(d.now);
    let mut done = None;
    while let Some(event) = d.m.poll_event() {
        if let Event::CallDone { call: c, reply, .. } = event {
            assert_eq!(c, call);
            done = Some(reply);
        }
    }
    assert_eq!(
        done.map(|r| r.response),
        Some(Response::Error),
        "the save gave up on the snapshot"
    );
}
