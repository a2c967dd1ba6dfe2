//! §6.3: what is batched, and FIFO for everything else.

mod session_common;

use datastore_module::session::{Call, Command, Input, Reply};
use session_common::*;

fn stored_value(d: &Driver) -> datastore_module::value::Value {
    d.store.data["Player/global/1"].value.clone()
}

#[test]
fn saves_in_one_turn_batch_into_one_task_and_one_write() {
    let (mut d, s) = opened();
    let a = d.call_in_turn(s, Call::Save);
    let b = d.call_in_turn(s, Call::Save);
    d.pump();
    assert_eq!(d.wait(a), Reply::saved());
    assert_eq!(d.wait(b), Reply::saved());
    assert_eq!(d.signals(s), ["Saving", "Saved(Saved)"]);
    assert_eq!(d.sent("DataSet").len(), 1);
}

#[test]
fn a_save_arriving_while_a_save_is_written_gets_a_new_task_and_its_later_change_is_saved() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(3_000));
    let first = d.call(s, Call::Save);
    // The first task is writing now; this change comes after its snapshot.
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    let second = d.call(s, Call::Save);
    assert_eq!(d.wait(first), Reply::saved());
    assert_eq!(d.wait(second), Reply::saved());
    let writes = d.sent("DataSet");
    assert_eq!(writes.len(), 2);
    let Command::DataSet { value, .. } = &writes[1].1 else {
        unreachable!()
    };
    assert_eq!(value.as_str(), r#"{"Coins":2}"#);
    assert_eq!(stored_value(&d), json(r#"{"Coins":2}"#));
}

#[test]
fn opens_in_one_turn_batch_and_apply_their_templates_in_join_order() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let a = d.call_in_turn(
        s,
        Call::Open {
            template: Some(json(r#"{"A":1,"Shared":"first"}"#)),
        },
    );
    let b = d.call_in_turn(
        s,
        Call::Open {
            template: Some(json(r#"{"B":2,"Shared":"second"}"#)),
        },
    );
    d.pump();
    assert_eq!(d.wait(a), success());
    assert_eq!(d.wait(b), success());
    assert_eq!(d.host(s).value, json(r#"{"A":1,"Shared":"first","B":2}"#));
    assert_eq!(d.sent("LockAcquire").len(), 1);
}

#[test]
fn reads_batch_into_the_first_pending_read_task() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let a = d.call(s, Call::Read { template: None });
    let b = d.call(s, Call::Read { template: None });
    d.wait(a);
    d.wait(b);
    assert_eq!(d.sent("DataGet").len(), 1);
}

#[test]
fn the_save_timer_adds_nothing_while_a_save_task_is_pending() {
    let (mut d, s) = opened();
    d.m.set_property(d.now, s, "LockInterval", Input::Number(10.0))
        .unwrap();
    // Re-open so the new interval takes effect: refresh every 10 s from now.
    d.run(s, Call::Close);
    d.open(s);
    let opened_at = d.now;
    d.clear_log();
    // The refresh at +10 s takes 25 s, so a Save() at +12 s stays queued past the auto-save
    // at +30 s.
    d.store.fault("LockAcquire", 1, Fault::Delay(25_000));
    d.advance_to(opened_at + 12_000);
    let save = d.call(s, Call::Save);
    d.advance_to(opened_at + 31_000);
    assert_eq!(d.wait(save), Reply::saved());
    assert_eq!(
        d.signals(s).iter().filter(|n| *n == "Saving").count(),
        1,
        "the timer found the queued SaveTask"
    );
}

#[test]
fn the_save_timer_appends_a_save_task_when_none_is_pending() {
    let (mut d, s) = opened();
    d.advance(30_100);
    assert_eq!(d.signals(s), ["Saving", "Saved(Saved)"]);
    d.advance(30_000);
    assert_eq!(d.signals(s).len(), 4);
}

#[test]
fn different_kinds_never_merge_and_run_first_in_first_out() {
    let (mut d, s) = opened();
    d.store.fault("DataSet", 1, Fault::Delay(2_000));
    let save = d.call(s, Call::Save);
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    let close = d.call(s, Call::Close);
    let open = d.call(s, Call::Open { template: None });
    let read = d.call(s, Call::Read { template: None });
    d.wait(save);
    d.wait(close);
    assert_eq!(d.wait(open), success());
    assert_eq!(
        d.wait(read),
        reply(datastore_module::session::Response::State, "Open")
    );
    let names: Vec<_> = d.commands.iter().map(|(_, _, c)| c.name()).collect();
    assert_eq!(
        names,
        [
            "DataSet",
            "DataSet",
            "LockRelease",
            "LockAcquire",
            "DataGet"
        ]
    );
}
