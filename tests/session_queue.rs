//! §11: Queue, Remove and the ProcessQueue loop; D10 (backoff on failed reads).

mod session_common;

use datastore_module::session::{Call, Command, Event, Response};
use datastore_module::value::Value;
use session_common::*;

fn queue(d: &mut Driver, s: datastore_module::session::SessionId, n: f64) {
    assert_eq!(
        d.run(
            s,
            Call::Queue {
                value: Value::Number(n),
                expiration: None,
                priority: None
            }
        ),
        success()
    );
}

fn process_queue_events(d: &Driver) -> Vec<(String, Vec<Value>)> {
    d.log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::ProcessQueue { id, values, .. } => Some((id.clone(), values.clone())),
            _ => None,
        })
        .collect()
}

/// The reads the host was told are no longer wanted, as (read command id, its QueueRead's).
fn unwanted_reads(d: &Driver, s: datastore_module::session::SessionId) -> Vec<u64> {
    d.events(s)
        .iter()
        .filter_map(|e| match e {
            Event::ReadUnwanted { command, .. } => Some(command.0),
            _ => None,
        })
        .collect()
}

#[test]
fn queue_adds_with_the_default_expiration_and_priority() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    queue(&mut d, s, 10.0);
    d.run(
        s,
        Call::Queue {
            value: text("x"),
            expiration: Some(3_888_000.0),
            priority: Some(5.0),
        },
    );
    let adds = d.sent("QueueAdd");
    assert_eq!(
        adds[0].1,
        Command::QueueAdd {
            queue: ID.into(),
            value: Value::Number(10.0),
            expiration: 604_800.0,
            priority: 0.0
        }
    );
    assert_eq!(
        adds[1].1,
        Command::QueueAdd {
            queue: ID.into(),
            value: text("x"),
            expiration: 3_888_000.0,
            priority: 5.0
        }
    );
}

#[test]
fn queue_retries_three_times_then_answers_error() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.store.fault("QueueAdd", 3, Fault::Error("quota".into()));
    assert_eq!(
        d.run(
            s,
            Call::Queue {
                value: Value::Bool(true),
                expiration: None,
                priority: None
            }
        ),
        reply(Response::Error, "quota")
    );
    assert_eq!(d.sent("QueueAdd").len(), 3);
}

#[test]
fn queue_arguments_the_memory_store_refuses_are_answered_at_once_d19() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let cases = [
        (
            Value::Nil,
            None,
            None,
            "InvalidRequest: The value can't be nil.",
        ),
        (
            Value::Bool(true),
            Some(f64::NAN),
            None,
            "InvalidExpirationTime",
        ),
        (
            Value::Bool(true),
            Some(f64::INFINITY),
            None,
            "InvalidExpirationTime",
        ),
        (Value::Bool(true), Some(-1.0), None, "InvalidExpirationTime"),
        (
            Value::Bool(true),
            None,
            Some(f64::NAN),
            "InvalidRequest: The priority",
        ),
        (
            Value::Bool(true),
            None,
            Some(f64::NEG_INFINITY),
            "InvalidRequest: The priority",
        ),
    ];
    for (value, expiration, priority, message) in cases {
        let ans = d.call(
            s,
            Call::Queue {
                value,
                expiration,
                priority,
            },
        );
        let reply = d
            .reply_of(&ans)
            .expect("answered at once, without a request");
        assert_eq!(reply.response, Response::Error);
        let text = format!("{:?}", reply.data);
        assert!(text.contains(message), "{text}");
    }
    assert_eq!(d.sent("QueueAdd").len(), 0);
}

#[test]
fn queue_calls_run_beside_the_task_queue() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.store.fault("DataGet", 1, Fault::Delay(10_000));
    let open = d.call(s, Call::Open { template: None });
    let q = d.call(
        s,
        Call::Queue {
            value: Value::Number(1.0),
            expiration: None,
            priority: None,
        },
    );
    assert_eq!(d.wait(q), success());
    assert!(
        d.reply_of(&open).is_none(),
        "the queue call did not wait for the open"
    );
    d.wait(open);
}

#[test]
fn the_loop_starts_after_an_open_when_someone_listens_and_remove_acknowledges() {
    let mut d = Driver::new();
    let sender = d.hidden("Player", "1");
    queue(&mut d, sender, 1.0);
    queue(&mut d, sender, 2.0);
    let s = d.new_session("Player", "1");
    d.m.set_process_queue_connections(d.now, s, 1).unwrap();
    d.pump();
    assert_eq!(
        d.sent("QueueRead").len(),
        0,
        "closed: the loop does not start"
    );
    d.open(s);
    d.advance(100);
    let events = process_queue_events(&d);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, [Value::Number(1.0), Value::Number(2.0)]);
    let Command::QueueRead {
        count,
        all_or_nothing,
        wait_s,
        ..
    } = &d.sent("QueueRead")[0].1
    else {
        unreachable!()
    };
    assert_eq!((*count, *all_or_nothing, *wait_s), (100, false, 30.0));
    assert_eq!(
        d.run(
            s,
            Call::Remove {
                id: events[0].0.clone()
            }
        ),
        success()
    );
    assert_eq!(d.store.queue_len(ID), 0);
}

#[test]
fn the_loop_starts_when_the_first_handler_connects_to_an_open_session() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    assert_eq!(d.sent("QueueRead").len(), 0);
    d.m.set_process_queue_connections(d.now, s, 1).unwrap();
    d.pump();
    assert_eq!(d.sent("QueueRead").len(), 1);
    // A second handler does not start a second loop.
    d.m.set_process_queue_connections(d.now, s, 2).unwrap();
    d.pump();
    assert_eq!(d.sent("QueueRead").len(), 1);
    // Long polls follow one another.
    d.advance(65_000);
    assert_eq!(d.sent("QueueRead").len(), 3);
}

#[test]
fn the_loop_stops_after_its_read_in_flight_when_the_session_closes() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.m.set_process_queue_connections(d.now, s, 1).unwrap();
    d.open(s);
    // A long poll is in flight when the session closes; the loop ends when it returns.
    assert!(unwanted_reads(&d, s).is_empty());
    d.run(s, Call::Close);
    // The host hears at once that the read is not wanted: one that can end it early keeps
    // it from taking (and hiding for 30 s) items the next holder should get.
    assert_eq!(unwanted_reads(&d, s).len(), 1);
    d.advance(60_000);
    assert_eq!(d.sent("QueueRead").len(), 1, "no read after the close");
    assert!(process_queue_events(&d).is_empty());
    assert_eq!(unwanted_reads(&d, s).len(), 1, "told once");
}

#[test]
fn the_loop_stops_when_the_last_handler_disconnects() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.m.set_process_queue_connections(d.now, s, 1).unwrap();
    d.open(s);
    d.m.set_process_queue_connections(d.now, s, 0).unwrap();
    d.pump();
    assert_eq!(unwanted_reads(&d, s).len(), 1);
    d.advance(120_000);
    assert_eq!(d.sent("QueueRead").len(), 1);
    // Reconnecting starts it again.
    d.m.set_process_queue_connections(d.now, s, 1).unwrap();
    d.pump();
    assert_eq!(d.sent("QueueRead").len(), 2);
    assert_eq!(unwanted_reads(&d, s).len(), 1, "the new read is wanted");
}

#[test]
fn destroy_disconnects_everything_and_the_loop_stops() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.m.set_process_queue_connections(d.now, s, 1).unwrap();
    d.open(s);
    d.run(s, Call::Destroy);
    assert_eq!(unwanted_reads(&d, s).len(), 1);
    d.advance(120_000);
    assert_eq!(d.sent("QueueRead").len(), 1);
    assert!(d.signals(s).contains(&"DisconnectAll".to_owned()));
    assert_eq!(unwanted_reads(&d, s).len(), 1);
}

#[test]
fn failed_reads_back_off_exponentially_with_jitter_up_to_30_seconds_d10() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.m.set_property(
        d.now,
        s,
        "SaveInterval",
        datastore_module::session::Input::Number(0.0),
    )
    .unwrap();
    d.m.set_process_queue_connections(d.now, s, 1).unwrap();
    d.store
        .fault("QueueRead", usize::MAX, Fault::Error("down".into()));
    d.open(s);
    d.advance(600_000);
    let sends: Vec<u64> = d.sent("QueueRead").iter().map(|(t, _)| *t).collect();
    let gaps: Vec<u64> = sends.windows(2).map(|w| w[1] - w[0] - 10).collect();
    assert!(gaps.len() > 10 && gaps.len() < 40, "{gaps:?}");
    let mut ceiling = 1_000;
    for gap in &gaps {
        assert!(
            *gap >= ceiling / 2 && *gap <= ceiling,
            "{gap} vs {ceiling}: {gaps:?}"
        );
        ceiling = (ceiling * 2).min(30_000);
    }
    // A success resets the backoff.
    d.store.clear_faults();
    d.advance(31_000);
    d.store
        .fault("QueueRead", usize::MAX, Fault::Error("down".into()));
    let before = d.sent("QueueRead").len();
    d.advance(31_000 + 1_100);
    let sends: Vec<u64> = d.sent("QueueRead").iter().map(|(t, _)| *t).collect();
    assert!(sends.len() >= before + 2);
}
