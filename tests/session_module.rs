//! §2 constructors and the cache, §12 bind-to-close, D2, command deadlines and late
//! completions.

mod session_common;

use datastore_module::session::{
    Call, Command, Config, Event, Module, Reply, Response, ShutdownReport, State, StoreResult,
};
use datastore_module::value::Value;
use session_common::*;

#[test]
fn new_returns_the_cached_session_and_hidden_always_makes_a_new_one() {
    let mut d = Driver::new();
    let a = d.new_session("Player", "1");
    let b = d.new_session("Player", "1");
    let h1 = d.hidden("Player", "1");
    let h2 = d.hidden("Player", "1");
    assert_eq!(a, b);
    assert_ne!(h1, h2);
    assert_ne!(h1, a);
    assert_eq!(
        d.m.find(&[text("Player"), text("global"), text("1")])
            .unwrap(),
        Some(a)
    );
    assert!(d.m.session(h1).unwrap().hidden());
    assert!(!d.m.session(a).unwrap().hidden());
    assert_eq!(
        d.m.find(&[text("Player"), text("global"), text("2")])
            .unwrap(),
        None
    );
}

#[test]
fn a_numeric_key_keeps_its_type_and_shares_the_id_of_its_text() {
    let mut m = Module::new(Config::default());
    let n = m
        .open_session(
            0,
            &[text("Player"), text("global"), Value::Number(456056545.0)],
            false,
            [1; 16],
        )
        .unwrap();
    let t = m
        .open_session(
            0,
            &[text("Player"), text("global"), text("456056545")],
            false,
            [2; 16],
        )
        .unwrap();
    assert_eq!(n, t);
    let session = m.session(n).unwrap();
    assert_eq!(session.id(), "Player/global/456056545");
    assert_eq!(*session.key(), Value::Number(456056545.0));
    assert_eq!(session.key_text(), "456056545");
    assert!(m
        .open_session(
            0,
            &[text("Player"), text("global"), Value::Bool(true)],
            false,
            [3; 16]
        )
        .is_err());
}

#[test]
fn the_unique_id_is_an_upper_case_v4_uuid_from_host_randomness() {
    let mut m = Module::new(Config::default());
    let s = m
        .open_session(
            0,
            &[text("P"), text("global"), text("k")],
            false,
            [0xab; 16],
        )
        .unwrap();
    let id = m.session(s).unwrap().unique_id().to_owned();
    assert_eq!(id.len(), 36);
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12]);
    assert_eq!(id, id.to_ascii_uppercase());
    assert_eq!(&id[14..15], "4", "version 4");
}

#[test]
fn destroying_a_hidden_session_leaves_the_visible_one_in_the_cache_d2() {
    let mut d = Driver::new();
    let visible = d.new_session("Player", "1");
    let hidden = d.hidden("Player", "1");
    d.run(hidden, Call::Destroy);
    assert_eq!(
        d.m.find(&[text("Player"), text("global"), text("1")])
            .unwrap(),
        Some(visible)
    );
    assert_eq!(d.new_session("Player", "1"), visible);
}

#[test]
fn defaults_match_the_original() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let session = d.m.session(s).unwrap();
    assert_eq!(session.state(), State::Closed);
    assert_eq!(session.save_interval(), 30.0);
    assert_eq!(session.save_delay(), 0.0);
    assert_eq!(session.lock_interval(), 60.0);
    assert_eq!(session.lock_attempts(), 5.0);
    assert!(session.save_on_close());
    assert_eq!(session.attempts_remaining(), 0);
    assert_eq!(session.created_time(), 0.0);
    assert_eq!(session.updated_time(), 0.0);
    assert_eq!(session.version(), "");
    assert_eq!(session.compressed_value(), "");
    assert_eq!(session.scope(), "global");
    assert_eq!(session.name(), "Player");
}

#[test]
fn bind_to_close_saves_and_destroys_every_open_session_then_reports_done() {
    let mut d = Driver::new();
    let a = d.new_session("Player", "1");
    let b = d.new_session("Player", "2");
    let h = d.hidden("Player", "3");
    let closed = d.new_session("Player", "4");
    for s in [a, b, h] {
        d.open(s);
        d.host_mut(s).value = json(r#"{"Coins":1}"#);
    }
    d.clear_log();
    d.m.bind_to_close(d.now);
    assert!(!d.m.bind_to_close_done());
    assert_eq!(
        d.m.find(&[text("Player"), text("global"), text("1")])
            .unwrap(),
        None
    );
    d.settle();
    assert!(d.m.bind_to_close_done());
    for s in [a, b, h, closed] {
        assert_eq!(d.state(s), State::Destroyed);
    }
    assert_eq!(d.sent("DataSet").len(), 3);
    assert_eq!(d.sent("LockRelease").len(), 3);
    let done: Vec<usize> = d
        .log
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| matches!(e, Event::BindToCloseDone(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0], d.log.len() - 1, "after every session's destroy");
}

#[test]
fn bind_to_close_with_nothing_registered_is_done_at_once() {
    let mut d = Driver::new();
    d.m.bind_to_close(d.now);
    d.pump();
    assert!(d.m.bind_to_close_done());
    assert_eq!(d.log.len(), 1);
    assert_eq!(
        d.log[0].1,
        Event::BindToCloseDone(ShutdownReport::default())
    );
}

/// Every `BindToCloseDone` report so far, in order.
fn shutdown_reports(d: &Driver) -> Vec<ShutdownReport> {
    d.log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::BindToCloseDone(report) => Some(report.clone()),
            _ => None,
        })
        .collect()
}

/// Starts bind-to-close and runs the clock in 50 ms steps until it is done (or `limit_ms`).
fn close_within(d: &mut Driver, limit_ms: u64) -> u64 {
    let start = d.now;
    d.m.bind_to_close(d.now);
    while !d.m.bind_to_close_done() && d.now <= start + limit_ms {
        d.advance(50);
    }
    assert!(d.m.bind_to_close_done(), "done within {limit_ms} ms");
    d.now - start
}

/// D18: with every store call hanging, bind-to-close still finishes by its deadline, each
/// session answering with the timeout and the report naming it.
#[test]
fn bind_to_close_finishes_within_its_deadline_when_the_store_hangs_d18() {
    let mut d = Driver::new();
    let a = d.new_session("Player", "1");
    let b = d.new_session("Player", "2");
    d.open(a);
    d.open(b);
    d.host_mut(a).value = Value::Number(1.0);
    d.host_mut(b).value = Value::Number(2.0);
    d.store.fault("DataSet", 100, Fault::Hang);
    d.store.fault("LockRelease", 100, Fault::Hang);
    let deadline = Config::default().shutdown_deadline_ms;
    let took = close_within(&mut d, deadline + 1_000);
    assert!(took <= deadline + 100, "{took} ms after the start");
    let report = shutdown_reports(&d).remove(0);
    assert_eq!(report.closed, 2);
    assert_eq!(report.saved, 0);
    let ids: Vec<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"Player/global/1") && ids.contains(&"Player/global/2"));
    assert!(report.failed[0].1.contains("timed out"), "{report:?}");
}

/// D18: a failing store is retried during shutdown only while the retries fit.
#[test]
fn shutdown_retries_are_cut_to_fit_the_deadline_d18() {
    let config = Config {
        shutdown_deadline_ms: 3_000,
        ..Config::default()
    };
    // A slow first try still lands inside the deadline.
    let mut d = Driver::with(config.clone(), FakeStore::new());
    let a = d.new_session("Player", "1");
    d.open(a);
    d.host_mut(a).value = Value::Number(1.0);
    d.store.fault("DataSet", 1, Fault::Delay(2_400));
    d.store.fault("DataSet", 100, Fault::Error("502".into()));
    let took = close_within(&mut d, 10_000);
    assert!(took <= 3_100, "{took} ms");
    let report = shutdown_reports(&d).remove(0);
    assert_eq!(report.saved, 1, "the slow first try landed: {report:?}");
    // Fast failures still get their 3 tries, with waits cut to fit (the original's would
    // take 2 s; here each waits at most half of what is left).
    let mut d = Driver::with(config, FakeStore::new());
    let a = d.new_session("Player", "1");
    d.open(a);
    d.host_mut(a).value = Value::Number(1.0);
    d.store.fault("DataSet", 100, Fault::Error("502".into()));
    let took = close_within(&mut d, 10_000);
    assert_eq!(
        d.sent("DataSet").len(),
        3,
        "fast failures still get their 3 tries"
    );
    assert!(took <= 3_100, "{took} ms");
}

#[test]
fn a_second_bind_to_close_covers_sessions_made_since_and_is_answered_again() {
    let mut d = Driver::new();
    let a = d.new_session("Player", "1");
    d.open(a);
    d.m.bind_to_close(d.now);
    d.settle();
    assert!(d.m.bind_to_close_done());
    let late = d.new_session("Player", "9");
    d.open(late);
    d.host_mut(late).value = Value::Number(9.0);
    d.m.bind_to_close(d.now);
    d.settle();
    assert!(d.m.bind_to_close_done());
    assert_eq!(d.state(late), State::Destroyed);
    let reports = shutdown_reports(&d);
    assert_eq!(reports.len(), 2, "one answer per call");
    assert_eq!((reports[1].closed, reports[1].saved), (2, 2));
    // With nothing left to close, a third call is answered at once.
    d.m.bind_to_close(d.now);
    d.settle();
    assert_eq!(shutdown_reports(&d).len(), 3);
}

#[test]
fn sessions_created_after_bind_to_close_are_not_waited_for_and_save_after_its_deadline_d18() {
    // A session opened while a bind-to-close runs is not part of it (not waited for); once
    // the round is done, its store work has no deadline: it saves, and a later bind-to-close
    // (with a deadline of its own) saves it and unlocks. It used to fail every save with the
    // first round's deadline, for good (a helper's bug hunt).
    let mut d = Driver::new();
    let a = d.new_session("Player", "1");
    d.open(a);
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    d.m.bind_to_close(d.now);
    let late = d.new_session("Player", "9");
    d.open(late);
    d.settle();
    assert!(d.m.bind_to_close_done());
    assert_eq!(d.state(late), State::Open);
    d.advance_to(d.now + 60_000);
    d.host_mut(late).value = Value::Number(1.0);
    assert_eq!(d.run(late, Call::Save), Reply::saved());
    d.advance_to(d.now + 60_000);
    d.host_mut(late).value = Value::Number(2.0);
    d.m.bind_to_close(d.now);
    d.settle();
    assert!(d.m.bind_to_close_done());
    assert_eq!(d.state(late), State::Destroyed);
    let reports = shutdown_reports(&d);
    assert_eq!((reports[1].saved, reports[1].failed.len()), (2, 0));
    assert_eq!(d.store.holder("Player/global/9", d.now), None, "unlocked");
}

#[test]
fn bind_to_close_joins_nothing_and_waits_for_a_destroy_in_progress() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    d.store.fault("DataSet", 1, Fault::Delay(5_000));
    let destroy = d.call(s, Call::Destroy);
    d.m.bind_to_close(d.now);
    d.pump();
    assert!(!d.m.bind_to_close_done());
    assert_eq!(d.wait(destroy), Reply::saved());
    assert!(d.m.bind_to_close_done());
    assert_eq!(d.sent("DataSet").len(), 1, "one destroy only");
}

#[test]
fn a_command_that_never_completes_times_out_as_a_failed_try() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.store.fault("LockAcquire", 3, Fault::Hang);
    let open = d.call(s, Call::Open { template: None });
    let started = d.now;
    let reply = d.wait(open);
    assert_eq!(reply.response, Response::Error);
    assert!(
        matches!(&reply.data, datastore_module::session::Data::Text(t) if t.contains("timed out"))
    );
    assert!(d.now - started <= 3 * 10_000 + 2_000);
    assert_eq!(d.state(s), State::Closed);
}

#[test]
fn a_completion_after_the_deadline_is_ignored() {
    let mut m = Module::new(Config::default());
    let s = m
        .open_session(
            0,
            &[text("Player"), text("global"), text("1")],
            false,
            [1; 16],
        )
        .unwrap();
    m.call(0, s, Call::Open { template: None }).unwrap();
    while m.poll_event().is_some() {}
    let (id, command) = m.poll_command().unwrap();
    assert!(matches!(command, Command::LockAcquire { .. }));
    m.handle_timeout(10_000);
    // The retry goes out after its backoff; the late answer to the first try changes nothing.
    let at = m.poll_timeout().unwrap();
    assert!((10_250..=10_750).contains(&at));
    m.handle_timeout(at);
    while m.poll_event().is_some() {}
    let (retry, _) = m.poll_command().unwrap();
    assert!(!m.complete(at + 1, id, StoreResult::Acquired));
    assert!(m.poll_command().is_none());
    assert!(m.complete(at + 2, retry, StoreResult::Acquired));
    while m.poll_event().is_some() {}
    assert!(matches!(
        m.poll_command(),
        Some((_, Command::DataGet { .. }))
    ));
}

#[test]
fn a_result_of_the_wrong_kind_counts_as_a_failed_try() {
    let mut m = Module::new(Config::default());
    let s = m
        .open_session(
            0,
            &[text("Player"), text("global"), text("1")],
            false,
            [1; 16],
        )
        .unwrap();
    let call = match m.call(0, s, Call::Open { template: None }).unwrap() {
        datastore_module::session::CallOutcome::Pending(call) => call,
        other => panic!("{other:?}"),
    };
    let mut now = 0;
    let mut tries = 0;
    let answer = loop {
        let mut answer = None;
        while let Some(e) = m.poll_event() {
            if let Event::CallDone { call: c, reply, .. } = e {
                assert_eq!(c, call);
                answer = Some(reply);
            }
        }
        if let Some(answer) = answer {
            break answer;
        }
        match m.poll_command() {
            Some((id, _)) => {
                tries += 1;
                m.complete(
                    now,
                    id,
                    StoreResult::Written {
                        version: "x".into(),
                    },
                );
            }
            None => {
                now = m.poll_timeout().expect("a pending retry");
                m.handle_timeout(now);
            }
        }
    };
    assert_eq!(answer.response, Response::Error);
    assert_eq!(tries, 3);
}

#[test]
fn release_forgets_only_an_idle_destroyed_session() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    assert!(!d.m.release(s));
    d.run(s, Call::Destroy);
    assert!(d.m.release(s));
    assert!(d.m.session(s).is_none());
    assert!(d.m.call(d.now, s, Call::Save).is_err());
}

#[test]
fn poll_timeout_is_now_while_deferred_work_waits() {
    let mut m = Module::new(Config::default());
    let s = m
        .open_session(
            5,
            &[text("Player"), text("global"), text("1")],
            false,
            [1; 16],
        )
        .unwrap();
    assert_eq!(m.poll_timeout(), None);
    m.call(7, s, Call::Open { template: None }).unwrap();
    assert_eq!(m.poll_timeout(), Some(7));
    assert!(m.poll_command().is_none(), "the worker has not run yet");
    assert!(m.poll_event().is_none());
    assert!(matches!(
        m.poll_command(),
        Some((_, Command::LockAcquire { .. }))
    ));
    assert_eq!(m.poll_timeout(), Some(7 + 10_000), "the command's deadline");
}
