//! §5.2: every row of the state transition table.

mod session_common;

use datastore_module::session::{Call, Response, State};
use session_common::*;

#[test]
fn closed_open_task_with_lock_and_load_ok_opens_and_fires_state_changed_true() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(d.open(s), success());
    assert_eq!(d.state(s), State::Open);
    assert_eq!(d.signals(s), ["StateChanged(true)"]);
}

#[test]
fn closed_open_task_whose_lock_is_taken_stays_closed_without_event() {
    let mut d = Driver::new();
    let other = d.hidden("Player", "1");
    let s = d.new_session("Player", "1");
    assert_eq!(d.open(other), success());
    d.clear_log();
    let holder = d.unique_id(other);
    assert_eq!(d.open(s), reply(Response::Locked, &holder));
    assert_eq!(d.state(s), State::Closed);
    assert!(d.signals(s).is_empty());
    assert_eq!(d.sent("DataGet").len(), 0, "no load without the lock");
}

#[test]
fn closed_open_task_whose_lock_errors_stays_closed_without_event() {
    let mut d = Driver::new();
    d.store
        .fault("LockAcquire", 3, Fault::Error("MemoryStore down".into()));
    let s = d.new_session("Player", "1");
    assert_eq!(d.open(s), reply(Response::Error, "MemoryStore down"));
    assert_eq!(d.state(s), State::Closed);
    assert!(d.signals(s).is_empty());
    assert_eq!(d.sent("LockRelease").len(), 0, "nothing to unlock");
}

#[test]
fn closed_open_task_whose_load_fails_unlocks_and_stays_closed() {
    let mut d = Driver::new();
    d.store
        .fault("DataGet", 3, Fault::Error("DataStore down".into()));
    let s = d.new_session("Player", "1");
    assert_eq!(d.open(s), reply(Response::Error, "DataStore down"));
    assert_eq!(d.state(s), State::Closed);
    assert!(d.signals(s).is_empty());
    assert_eq!(d.sent("LockRelease").len(), 1);
    assert_eq!(d.store.holder("Player/global/1", d.now), None);
}

#[test]
fn open_close_task_sets_state_false_first_then_saves_unlocks_and_fires_state_changed_false() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":5}"#);
    d.clear_log();
    let seen = state_during_saving(&mut d);
    let ans = d.call(s, Call::Close);
    assert_eq!(d.wait(ans), datastore_module::session::Reply::saved());
    assert_eq!(
        *seen.borrow(),
        [State::Closed],
        "State is false while saving"
    );
    assert_eq!(
        d.trace(s),
        [
            "Saving",
            "Saved(Saved)",
            "StateChanged(false)",
            "CallDone(Saved, Value)"
        ]
    );
    // The save went out before the unlock.
    let names: Vec<_> = d.commands.iter().map(|(_, _, c)| c.name()).collect();
    assert_eq!(names, ["DataSet", "LockRelease"]);
    assert_eq!(d.state(s), State::Closed);
}

#[test]
fn open_lock_task_that_runs_out_of_attempts_closes_saves_unlocks_and_fires() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.m.set_property(
        d.now,
        s,
        "SaveInterval",
        datastore_module::session::Input::Number(0.0),
    )
    .unwrap();
    d.clear_log();
    d.store
        .fault("LockAcquire", usize::MAX, Fault::Error("down".into()));
    d.advance(301_000 + 3_000);
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(
        d.signals(s),
        [
            "AttemptsChanged(4)",
            "AttemptsChanged(3)",
            "AttemptsChanged(2)",
            "AttemptsChanged(1)",
            "AttemptsChanged(0)",
            "Saving",
            "Saved(Saved)",
            "StateChanged(false)"
        ]
    );
    assert_eq!(d.sent("LockRelease").len(), 1);
}

#[test]
fn open_destroy_task_sets_state_nil_first_saves_unlocks_fires_and_disconnects() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":5}"#);
    d.clear_log();
    let seen = state_during_saving(&mut d);
    assert_eq!(
        d.run(s, Call::Destroy),
        datastore_module::session::Reply::saved()
    );
    assert_eq!(*seen.borrow(), [State::Destroyed]);
    assert_eq!(
        d.trace(s),
        [
            "Saving",
            "Saved(Saved)",
            "StateChanged(nil)",
            "DisconnectAll",
            "CallDone(Saved, Value)"
        ]
    );
    let names: Vec<_> = d.commands.iter().map(|(_, _, c)| c.name()).collect();
    assert_eq!(names, ["DataSet", "LockRelease"]);
}

#[test]
fn closed_destroy_task_neither_saves_nor_unlocks() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    assert_eq!(d.run(s, Call::Destroy), success());
    assert_eq!(d.state(s), State::Destroyed);
    assert_eq!(
        d.trace(s),
        ["StateChanged(nil)", "DisconnectAll", "CallDone(Success)"]
    );
    assert!(d.commands.is_empty());
}

#[test]
fn destroyed_is_terminal() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.run(s, Call::Destroy);
    assert_eq!(d.open(s), reply(Response::State, "Destroyed"));
    assert_eq!(d.run(s, Call::Save), reply(Response::State, "Destroyed"));
    assert_eq!(d.run(s, Call::Close), success());
    assert_eq!(d.run(s, Call::Destroy), success());
    assert_eq!(d.state(s), State::Destroyed);
    assert!(d.commands.is_empty());
}
