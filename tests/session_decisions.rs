//! §5.3: every line of the method decision tables (checks in order, first match wins), plus D6.

mod session_common;

use datastore_module::session::{Call, Reply, Response, State};
use datastore_module::value::Value;
use session_common::*;

fn is_later(ans: &Ans) -> bool {
    matches!(ans, Ans::Later(_))
}

// ---- Open ----

#[test]
fn open_on_destroyed_answers_state_destroyed() {
    let (mut d, s) = opened();
    d.run(s, Call::Destroy);
    assert_eq!(d.open(s), reply(Response::State, "Destroyed"));
}

#[test]
fn open_joins_a_pending_open_task_and_every_template_applies_in_join_order() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let a = d.call(
        s,
        Call::Open {
            template: Some(json(r#"{"Coins":0,"Level":1}"#)),
        },
    );
    let b = d.call(
        s,
        Call::Open {
            template: Some(json(r#"{"Level":7,"Gems":2}"#)),
        },
    );
    assert!(is_later(&a) && is_later(&b));
    assert_eq!(d.wait(a), success());
    assert_eq!(d.wait(b), success());
    assert_eq!(d.sent("LockAcquire").len(), 1);
    assert_eq!(d.sent("DataGet").len(), 1);
    assert_eq!(d.host(s).value, json(r#"{"Coins":0,"Level":1,"Gems":2}"#));
}

#[test]
fn open_while_a_destroy_is_pending_answers_state_destroying() {
    let (mut d, s) = opened();
    // A running save keeps the DestroyTask queued (a running one has set State to nil).
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let save = d.call(s, Call::Save);
    let destroy = d.call(s, Call::Destroy);
    assert!(is_later(&destroy));
    assert_eq!(
        d.call(s, Call::Open { template: None }),
        Ans::Now(reply(Response::State, "Destroying"))
    );
    d.wait(save);
    d.wait(destroy);
}

#[test]
fn open_on_an_open_session_is_the_fast_path_and_reconciles_the_hosts_value_in_place() {
    let (mut d, s) = opened();
    let ans = d.call(
        s,
        Call::Open {
            template: Some(json(r#"{"Coins":0,"Level":1}"#)),
        },
    );
    assert_eq!(ans, Ans::Now(success()));
    assert_eq!(d.host(s).value, json(r#"{"Coins":1,"Level":1}"#));
    assert!(d.commands.is_empty(), "no I/O on the fast path");
}

#[test]
fn open_while_a_close_is_pending_reopens_after_the_close() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let close = d.call(s, Call::Close);
    let open = d.call(s, Call::Open { template: None });
    assert!(is_later(&open));
    assert_eq!(d.wait(close), Reply::saved());
    assert_eq!(d.wait(open), success());
    assert_eq!(d.state(s), State::Open);
    assert_eq!(
        d.signals(s),
        [
            "Saving",
            "Saved(Saved)",
            "StateChanged(false)",
            "StateChanged(true)"
        ]
    );
}

// ---- Read ----

#[test]
fn read_joins_a_pending_read_task() {
    let mut d = Driver::new();
    d.store
        .put("Player/global/1", json(r#"{"Coins":9}"#), json("{}"));
    let s = d.new_session("Player", "1");
    let a = d.call(
        s,
        Call::Read {
            template: Some(json(r#"{"Level":1}"#)),
        },
    );
    let b = d.call(s, Call::Read { template: None });
    assert_eq!(d.wait(a), success());
    assert_eq!(d.wait(b), success());
    assert_eq!(d.sent("DataGet").len(), 1);
    assert_eq!(d.host(s).value, json(r#"{"Coins":9,"Level":1}"#));
    assert_eq!(d.state(s), State::Closed, "Read does not open");
    assert_eq!(d.sent("LockAcquire").len(), 0, "Read does not lock");
}

#[test]
fn read_on_an_open_session_answers_state_open() {
    let (mut d, s) = opened();
    assert_eq!(
        d.call(s, Call::Read { template: None }),
        Ans::Now(reply(Response::State, "Open"))
    );
}

#[test]
fn read_while_a_close_is_pending_loads_after_the_close() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let close = d.call(s, Call::Close);
    let read = d.call(s, Call::Read { template: None });
    assert!(is_later(&read));
    d.wait(close);
    assert_eq!(d.wait(read), success());
    assert_eq!(d.sent("DataGet").len(), 1);
}

#[test]
fn read_on_a_destroyed_session_answers_state_destroyed_d6() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.run(s, Call::Destroy);
    d.host_mut(s).value = json(r#"{"Mine":true}"#);
    assert_eq!(
        d.run(s, Call::Read { template: None }),
        reply(Response::State, "Destroyed")
    );
    assert_eq!(d.sent("DataGet").len(), 0);
    assert_eq!(d.host(s).value, json(r#"{"Mine":true}"#), "Value untouched");
}

#[test]
fn a_read_queued_before_a_destroy_answers_state_destroyed_d6() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let close = d.call(s, Call::Close);
    let read = d.call(s, Call::Read { template: None });
    let destroy = d.call(s, Call::Destroy);
    d.wait(close);
    // The read runs before the destroy (FIFO), so it loads.
    assert_eq!(d.wait(read), success());
    d.wait(destroy);
    assert_eq!(
        d.run(s, Call::Read { template: None }),
        reply(Response::State, "Destroyed")
    );
}

// ---- Save ----

#[test]
fn save_on_closed_answers_state_closed() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    assert_eq!(d.run(s, Call::Save), reply(Response::State, "Closed"));
}

#[test]
fn save_on_destroyed_answers_state_destroyed() {
    let (mut d, s) = opened();
    d.run(s, Call::Destroy);
    assert_eq!(d.run(s, Call::Save), reply(Response::State, "Destroyed"));
}

#[test]
fn save_joins_a_queued_save_task() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let first = d.call(s, Call::Save);
    let second = d.call(s, Call::Save);
    let third = d.call(s, Call::Save);
    d.wait(first);
    let (Ans::Later(b), Ans::Later(c)) = (&second, &third) else {
        panic!("both wait")
    };
    assert_eq!(d.wait(second.clone()), Reply::saved());
    assert_eq!(d.wait(third.clone()), Reply::saved());
    assert_eq!(d.replies[b], d.replies[c], "same task, same moment");
    assert_eq!(
        d.sent("DataSet").len(),
        1,
        "the second write is skipped (D16)"
    );
    assert_eq!(d.signals(s).iter().filter(|n| *n == "Saving").count(), 2);
}

#[test]
fn save_while_a_close_is_pending_answers_state_closing() {
    let (mut d, s) = opened();
    // A running save keeps the CloseTask queued (a running one has set State to false).
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let save = d.call(s, Call::Save);
    let close = d.call(s, Call::Close);
    assert_eq!(
        d.call(s, Call::Save),
        Ans::Now(reply(Response::State, "Closing"))
    );
    d.wait(save);
    d.wait(close);
}

#[test]
fn save_once_the_close_is_running_answers_state_closed() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let close = d.call(s, Call::Close);
    assert_eq!(
        d.call(s, Call::Save),
        Ans::Now(reply(Response::State, "Closed"))
    );
    d.wait(close);
}

#[test]
fn save_while_a_destroy_is_pending_answers_state_destroying() {
    let (mut d, s) = opened();
    // A running save keeps the destroy queued, so State is still true.
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let save = d.call(s, Call::Save);
    let destroy = d.call(s, Call::Destroy);
    assert_eq!(
        d.call(s, Call::Save),
        Ans::Now(reply(Response::State, "Destroying"))
    );
    d.wait(save);
    d.wait(destroy);
}

#[test]
fn save_on_an_open_session_appends_a_save_task() {
    let (mut d, s) = opened();
    let ans = d.call(s, Call::Save);
    assert!(is_later(&ans));
    assert_eq!(d.wait(ans), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 1);
}

// ---- Close ----

#[test]
fn close_on_destroyed_answers_success() {
    let (mut d, s) = opened();
    d.run(s, Call::Destroy);
    assert_eq!(d.call(s, Call::Close), Ans::Now(success()));
}

#[test]
fn close_joins_a_pending_close_task() {
    let (mut d, s) = opened();
    let a = d.call(s, Call::Close);
    let b = d.call(s, Call::Close);
    assert_eq!(d.wait(a), Reply::saved());
    assert_eq!(d.wait(b), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 1);
    assert_eq!(d.sent("LockRelease").len(), 1);
}

#[test]
fn close_on_closed_without_a_pending_open_answers_success_at_once() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    assert_eq!(d.call(s, Call::Close), Ans::Now(success()));
}

#[test]
fn close_on_closed_with_a_pending_open_closes_after_it() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let open = d.call(s, Call::Open { template: None });
    let close = d.call(s, Call::Close);
    assert!(is_later(&close));
    assert_eq!(d.wait(open), success());
    d.wait(close);
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(
        d.signals(s),
        [
            "StateChanged(true)",
            "Saving",
            "Saved(Saved)",
            "StateChanged(false)"
        ]
    );
    assert_eq!(
        d.sent("LockAcquire").len(),
        1,
        "no timers started: a close was pending"
    );
}

#[test]
fn close_joins_a_pending_destroy_and_gets_its_result() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let save = d.call(s, Call::Save);
    let destroy = d.call(s, Call::Destroy);
    let close = d.call(s, Call::Close);
    assert!(is_later(&close));
    d.wait(save);
    let destroyed = d.wait(destroy.clone());
    assert_eq!(d.wait(close), destroyed);
    assert_eq!(d.state(s), State::Destroyed);
}

#[test]
fn close_stops_the_timers_at_once() {
    let (mut d, s) = opened();
    // A long save keeps the CloseTask queued past the lock refresh (+60 s) and the auto-save.
    d.store.fault("DataSet", 1, Fault::Delay(80_000));
    d.m.set_property(
        d.now,
        s,
        "LockInterval",
        datastore_module::session::Input::Number(60.0),
    )
    .unwrap();
    let save = d.call(s, Call::Save);
    let close = d.call(s, Call::Close);
    d.wait(save);
    d.wait(close);
    d.advance(200_000);
    assert_eq!(d.sent("LockAcquire").len(), 0, "no refresh after Close()");
    assert_eq!(
        d.sent("DataSet").len(),
        2,
        "the save and the close's save only"
    );
}

// ---- Destroy ----

#[test]
fn destroy_on_destroyed_answers_success() {
    let (mut d, s) = opened();
    d.run(s, Call::Destroy);
    assert_eq!(d.call(s, Call::Destroy), Ans::Now(success()));
}

#[test]
fn destroy_leaves_the_cache_at_once_and_new_makes_a_new_session() {
    let (mut d, s) = opened();
    let key = text("1");
    let before = d.unique_id(s);
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let destroy = d.call(s, Call::Destroy);
    assert_eq!(d.m.find(&[text("Player"), key]).unwrap(), None);
    let fresh = d.new_session("Player", "1");
    assert_ne!(fresh, s);
    assert_ne!(d.unique_id(fresh), before);
    // Until the old session's unlock lands, the new one is locked out by the old UniqueId.
    assert_eq!(d.open(fresh), reply(Response::Locked, &before));
    d.wait(destroy);
    assert_eq!(d.open(fresh), success());
}

#[test]
fn destroy_joins_a_queued_destroy() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    let save = d.call(s, Call::Save);
    d.host_mut(s).value = json(r#"{"Coins":3}"#);
    let a = d.call(s, Call::Destroy);
    let b = d.call(s, Call::Destroy);
    d.wait(save);
    assert_eq!(d.wait(a), Reply::saved());
    assert_eq!(d.wait(b), Reply::saved());
    assert_eq!(d.sent("DataSet").len(), 2, "one save, one destroy");
}

#[test]
fn destroy_while_the_destroy_runs_answers_success_at_once() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let a = d.call(s, Call::Destroy);
    // A running DestroyTask has already set State to nil.
    assert_eq!(d.call(s, Call::Destroy), Ans::Now(success()));
    assert_eq!(d.wait(a), Reply::saved());
}

#[test]
fn destroy_stops_the_timers_at_once() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(80_000));
    let save = d.call(s, Call::Save);
    let destroy = d.call(s, Call::Destroy);
    d.wait(save);
    d.wait(destroy);
    d.advance(200_000);
    assert_eq!(d.sent("LockAcquire").len(), 0);
    assert_eq!(d.sent("DataSet").len(), 2);
}

#[test]
fn queue_and_remove_ignore_the_state() {
    let mut d = Driver::new();
    let s = d.hidden("Player", "1");
    assert_eq!(
        d.run(
            s,
            Call::Queue {
                value: Value::Number(5.0),
                expiration: None,
                priority: None
            }
        ),
        success()
    );
    d.run(s, Call::Destroy);
    assert_eq!(
        d.run(
            s,
            Call::Remove {
                id: "nothing".into()
            }
        ),
        success()
    );
}
