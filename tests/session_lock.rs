//! §8: the lock protocol — the refresh grid, AttemptsRemaining, give-up, the entry TTL — and
//! D7 (a refresh that finds another holder), D8 (the lease and fencing), D14 (retries).

mod session_common;

use datastore_module::session::{
    Call, Command, Config, DataKey, Input, Reply, Response, State, LEASE_LAPSED, REFRESH_FIRST,
};
use session_common::*;

const T_SEC: u64 = 1_000;

fn opened() -> (Driver, datastore_module::session::SessionId, u64) {
    opened_with(Config::default(), false)
}

/// Send times of the first try of each lock call (tries of one call are < 2 s apart).
fn lock_calls(d: &Driver) -> Vec<u64> {
    let mut calls: Vec<u64> = Vec::new();
    for (t, _) in d.sent("LockAcquire") {
        if calls.last().is_none_or(|last| t > last + 2 * T_SEC + 100) {
            calls.push(t);
        }
    }
    calls
}

fn ttl_of(command: &Command) -> f64 {
    match command {
        Command::LockAcquire { ttl_s, .. } => *ttl_s,
        other => panic!("not a lock: {other:?}"),
    }
}

#[test]
fn the_lock_entry_lives_interval_times_attempts_plus_30_seconds() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    let (_, acquire) = &d.sent("LockAcquire")[0];
    assert_eq!(ttl_of(acquire), 330.0);
    let Command::LockAcquire { map, owner, .. } = acquire else {
        unreachable!()
    };
    assert_eq!(map, "Player/global/1");
    assert_eq!(*owner, d.unique_id(s));
}

#[test]
fn refreshes_run_every_lock_interval_from_the_successful_lock() {
    let (mut d, _, t0) = opened();
    d.advance_to(t0 + 200 * T_SEC);
    assert_eq!(
        lock_calls(&d),
        [t0 + 60 * T_SEC, t0 + 120 * T_SEC, t0 + 180 * T_SEC]
    );
    assert!(d
        .sent("LockAcquire")
        .iter()
        .all(|(_, c)| ttl_of(c) == 330.0));
}

#[test]
fn failed_refreshes_count_down_attempts_on_the_grid_and_a_success_restores_them() {
    let (mut d, s, t0) = opened();
    // Two refreshes fail (3 tries each), the third succeeds.
    d.store.fault("LockAcquire", 6, Fault::Error("busy".into()));
    d.advance_to(t0 + 179 * T_SEC);
    assert_eq!(d.m.session(s).unwrap().attempts_remaining(), 3);
    d.advance_to(t0 + 181 * T_SEC);
    let t1 = t0 + 180 * T_SEC;
    d.advance_to(t1 + 61 * T_SEC);
    assert_eq!(
        d.signals(s),
        [
            "AttemptsChanged(4)",
            "AttemptsChanged(3)",
            "AttemptsChanged(5)"
        ]
    );
    // The failures did not shift the grid; the success at t1 starts a new one.
    assert_eq!(
        lock_calls(&d),
        [t0 + 60 * T_SEC, t0 + 120 * T_SEC, t1, t1 + 60 * T_SEC]
    );
    assert_eq!(
        d.sent("LockAcquire").len(),
        3 + 3 + 1 + 1,
        "3 tries per failure"
    );
    assert_eq!(d.state(s), State::Open);
}

#[test]
fn a_retried_refresh_waits_within_the_two_second_budget_d14() {
    let (mut d, _, t0) = opened();
    d.store.fault("LockAcquire", 3, Fault::Error("busy".into()));
    d.advance_to(t0 + 70 * T_SEC);
    let tries: Vec<u64> = d
        .sent("LockAcquire")
        .iter()
        .map(|(t, _)| *t)
        .take(3)
        .collect();
    assert_eq!(tries[0], t0 + 60 * T_SEC);
    let first_wait = tries[1] - tries[0] - 10; // minus the store's 10 ms latency
    let second_wait = tries[2] - tries[1] - 10;
    assert!((250..=750).contains(&first_wait), "{first_wait}");
    assert!((750..=1_250).contains(&second_wait), "{second_wait}");
    assert!(first_wait + second_wait <= 2_000);
}

#[test]
fn the_session_gives_up_at_t0_plus_interval_times_attempts() {
    let (mut d, s, t0) = opened();
    d.store
        .fault("LockAcquire", usize::MAX, Fault::Error("down".into()));
    d.advance_to(t0 + 299 * T_SEC);
    assert_eq!(d.state(s), State::Open);
    assert_eq!(d.m.session(s).unwrap().attempts_remaining(), 1);
    d.advance_to(t0 + 303 * T_SEC);
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
    let closed_at = d
        .log
        .iter()
        .find(|(_, e)| signal_name(e).as_deref() == Some("StateChanged(false)"))
        .map(|(t, _)| *t)
        .unwrap();
    assert!(closed_at < t0 + 330 * T_SEC, "before the entry expires");
    assert_eq!(d.sent("LockRelease").len(), 1);
    assert_eq!(
        lock_calls(&d),
        [60, 120, 180, 240, 300].map(|s| t0 + s * T_SEC)
    );
}

#[test]
fn lock_property_changes_take_effect_at_the_next_lock() {
    let (mut d, s, t0) = opened();
    d.m.set_property(d.now, s, "LockInterval", Input::Number(20.0))
        .unwrap();
    d.m.set_property(d.now, s, "LockAttempts", Input::Number(3.0))
        .unwrap();
    d.advance_to(t0 + 100 * T_SEC + 500);
    // The refresh at +60 was set by the old lock; it resets AttemptsRemaining to 3 (an
    // AttemptsChanged, since 5 ≠ 3); then every 20 s. Each asks for the new TTL (20 × 3 + 30)
    // but never for less than what is left of the lease the session counts on (to t0 + 330):
    // a failed try may still land (sim_regressions.rs).
    assert_eq!(lock_calls(&d), [60, 80, 100].map(|s| t0 + s * T_SEC));
    let ttls: Vec<f64> = d
        .sent("LockAcquire")
        .iter()
        .map(|(_, c)| ttl_of(c))
        .collect();
    assert_eq!(ttls, [270.0, 250.0, 230.0]);
    assert_eq!(d.signals(s), ["AttemptsChanged(3)"]);
    assert_eq!(d.m.session(s).unwrap().attempts_remaining(), 3);
}

#[test]
fn opening_sets_attempts_silently_and_closing_keeps_them() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    assert_eq!(d.m.session(s).unwrap().attempts_remaining(), 0);
    d.open(s);
    assert_eq!(d.m.session(s).unwrap().attempts_remaining(), 5);
    assert!(!d.signals(s).iter().any(|n| n.starts_with("Attempts")));
    d.run(s, Call::Close);
    assert_eq!(d.m.session(s).unwrap().attempts_remaining(), 5);
}

#[test]
fn a_refresh_that_finds_another_holder_closes_at_once_without_saving_d7() {
    let (mut d, s, t0) = opened();
    // Another server took the key (our entry expired, or was stolen).
    d.store
        .locks
        .insert("Player/global/1".into(), ("THEIRS".into(), u64::MAX));
    d.advance_to(t0 + 61 * T_SEC);
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(d.signals(s), ["AttemptsChanged(0)", "StateChanged(false)"]);
    assert_eq!(d.sent("DataSet").len(), 0, "the data belongs to them now");
    assert_eq!(d.sent("LockRelease").len(), 0, "the entry is not ours");
    assert_eq!(d.m.session(s).unwrap().attempts_remaining(), 0);
    // No more refreshes, and the session can be opened again later.
    d.advance_to(t0 + 400 * T_SEC);
    assert_eq!(d.sent("LockAcquire").len(), 1);
    assert_eq!(d.open(s), reply(Response::Locked, "THEIRS"));
}

#[test]
fn a_save_on_close_the_lease_cannot_cover_is_skipped_d8() {
    let (mut d, s, t0) = opened();
    // Four refreshes fail at once; the last one's first two tries hang (10 s deadline each),
    // so it gives up about 22 s after its start: a save sent then would end after the entry
    // expires (t0 + 330 s).
    d.store
        .fault("LockAcquire", 12, Fault::Error("down".into()));
    d.store.fault("LockAcquire", 2, Fault::Hang);
    d.store.fault("LockAcquire", 1, Fault::Error("down".into()));
    d.advance_to(t0 + 340 * T_SEC);
    assert_eq!(d.state(s), State::Closed);
    let signals = d.signals(s);
    assert_eq!(
        &signals[signals.len() - 3..],
        [
            "Saving",
            format!("Saved(Error, {})", datastore_module::session::LEASE_EXPIRED).as_str(),
            "StateChanged(false)"
        ]
    );
    assert_eq!(d.sent("DataSet").len(), 0);
}

#[test]
fn refreshes_that_hang_until_the_lease_ends_close_the_session_then_without_saving_d22() {
    let (mut d, s, t0) = opened();
    // Every refresh hangs. Past the lease (t0 + 330 s) the entry may be another server's, so
    // the session must not stay open a moment longer: its last refresh lapses at the lease's
    // end instead of going on with its third try.
    d.store.fault("LockAcquire", usize::MAX, Fault::Hang);
    d.advance_to(t0 + 330 * T_SEC - 1);
    assert_eq!(d.state(s), State::Open);
    d.advance_to(t0 + 330 * T_SEC);
    assert_eq!(d.state(s), State::Closed);
    let signals = d.signals(s);
    assert_eq!(
        &signals[signals.len() - 3..],
        [
            "AttemptsChanged(0)".to_owned(),
            format!("Saved(Error, {LEASE_LAPSED})"),
            "StateChanged(false)".to_owned(),
        ]
    );
    assert_eq!(d.sent("DataSet").len(), 0, "nothing is saved");
    assert_eq!(d.sent("LockRelease").len(), 0, "the entry may not be ours");
    // Timeouts do not shift the grid: each refresh starts on it, and its three tries (10 s
    // deadline each) stay within 33 s of its start, the last one cut short by the lease.
    let grid = [60, 120, 180, 240, 300].map(|s| t0 + s * T_SEC);
    let sends: Vec<u64> = d.sent("LockAcquire").iter().map(|(t, _)| *t).collect();
    assert_eq!(sends.len(), 15);
    for (i, chunk) in sends.chunks(3).enumerate() {
        assert_eq!(chunk[0], grid[i]);
        assert!(chunk[2] <= grid[i] + 33 * T_SEC);
    }
}

#[test]
fn short_lock_intervals_whose_refreshes_hang_end_at_the_lease_too_d22() {
    // LockInterval 10 s, LockAttempts 2: the lease is 50 s, and a refresh's three tries (up to
    // 32 s) outlast the interval, so hanging refreshes ran back to back past the lease: the
    // session stayed open 23 s after another server could have opened, and its queue loop
    // handed that server's gifts to this one (a helper's bug hunt).
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.m.set_property(d.now, s, "LockInterval", Input::Number(10.0))
        .unwrap();
    d.m.set_property(d.now, s, "LockAttempts", Input::Number(2.0))
        .unwrap();
    d.open(s);
    let t0 = d.sent("LockAcquire")[0].0;
    d.store.fault("LockAcquire", usize::MAX, Fault::Hang);
    d.advance_to(t0 + 50 * T_SEC - 1);
    assert_eq!(d.state(s), State::Open);
    d.advance_to(t0 + 50 * T_SEC);
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(d.sent("DataSet").len(), 0);
}

#[test]
fn a_save_on_close_inside_the_lease_is_sent_d8() {
    let (mut d, s, t0) = opened();
    d.store
        .fault("LockAcquire", usize::MAX, Fault::Error("down".into()));
    d.advance_to(t0 + 310 * T_SEC);
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(d.sent("DataSet").len(), 1);
}

#[test]
fn a_refresh_that_finds_its_entry_gone_closes_at_once_without_saving_d22() {
    let (mut d, s, t0) = opened();
    // The entry expired (or was lost) and nobody holds it now: another server may have
    // opened, written and left in between. The refresh must not take it back.
    d.store.locks.remove("Player/global/1");
    d.advance_to(t0 + 61 * T_SEC);
    assert_eq!(d.state(s), State::Closed);
    assert_eq!(
        d.signals(s),
        [
            "AttemptsChanged(0)".to_owned(),
            format!("Saved(Error, {LEASE_LAPSED})"),
            "StateChanged(false)".to_owned(),
        ]
    );
    assert_eq!(d.sent("DataSet").len(), 0, "nothing is saved over the gap");
    assert_eq!(d.sent("LockRelease").len(), 0, "the entry is not ours");
    assert_eq!(
        d.store.holder("Player/global/1", d.now),
        None,
        "and it is not re-created"
    );
    let Command::LockAcquire { held, token, .. } = &d.sent("LockAcquire")[0].1 else {
        unreachable!()
    };
    assert!(
        held.is_some_and(|held| held < *token),
        "a refresh names the token it holds"
    );
    // Opening again is a fresh acquisition, which loads what is stored now.
    assert_eq!(d.open(s), Reply::success());
}

#[test]
fn a_fencing_store_rejects_a_write_from_a_session_that_lost_the_lock_d8() {
    let config = Config {
        fencing: true,
        ..Config::default()
    };
    let (mut d, s, _) = opened_with(config, false);
    d.store.fencing = true;
    assert_eq!(d.run(s, Call::Save), Reply::saved());
    let Command::DataSet { fence, .. } = &d.sent("DataSet")[0].1 else {
        unreachable!()
    };
    let fence = fence.as_ref().expect("a fenced write");
    assert_eq!(fence.owner, d.unique_id(s));
    // Someone else holds the entry now; our refresh has not noticed yet.
    d.store
        .locks
        .insert("Player/global/1".into(), ("THEIRS".into(), u64::MAX));
    d.host_mut(s).value = json(r#"{"Coins":2}"#);
    let t1 = d.now;
    let answer = d.run(s, Call::Save);
    assert_eq!(answer.response, Response::Error);
    assert!(
        format!("{answer:?}").contains("Fenced: write to Player/global/1"),
        "{answer:?}"
    );
    assert_eq!(
        d.store.data["Player/global/1"].value,
        json(r#"{"Coins":1}"#)
    );
    // The refusal says the lock may be lost: the session looks at once instead of at its next
    // refresh (60 s on), finds the entry another's and closes, without saving or unlocking.
    d.advance_to(t1 + T_SEC);
    assert_eq!(d.state(s), State::Closed, "{:?}", d.signals(s));
    let refreshes = d.sent("LockAcquire");
    assert_eq!(refreshes.len(), 1, "one refresh");
    assert!(refreshes[0].0 < t1 + T_SEC);
    assert_eq!(d.sent("DataSet").len(), 2);
    assert_eq!(d.sent("LockRelease").len(), 0);
}

#[test]
fn without_fencing_writes_carry_no_fence() {
    let (mut d, s, _) = opened();
    d.run(s, Call::Save);
    let Command::DataSet { fence, .. } = &d.sent("DataSet")[0].1 else {
        unreachable!()
    };
    assert_eq!(*fence, None);
}

#[test]
fn a_failed_unlock_is_retried_then_ignored() {
    let (mut d, s, _) = opened();
    d.store.fault("LockRelease", 3, Fault::Error("down".into()));
    assert_eq!(d.run(s, Call::Close), Reply::saved());
    assert_eq!(d.sent("LockRelease").len(), 3);
    assert_eq!(d.state(s), State::Closed);
}

#[test]
fn a_new_and_a_hidden_session_lock_each_other_out() {
    let mut d = Driver::new();
    let visible = d.new_session("Player", "1");
    let hidden = d.hidden("Player", "1");
    assert_eq!(d.open(visible), success());
    assert_eq!(
        d.open(hidden),
        reply(Response::Locked, &d.unique_id(visible))
    );
    d.run(visible, Call::Close);
    assert_eq!(d.open(hidden), success());
}

#[test]
fn a_session_that_holds_the_key_can_lock_again() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    d.open(s);
    // The unlock fails, so the entry still holds our UniqueId when we reopen.
    d.store.fault("LockRelease", 3, Fault::Error("down".into()));
    d.run(s, Call::Close);
    assert_eq!(
        d.store.holder("Player/global/1", d.now),
        Some(d.unique_id(s).as_str())
    );
    assert_eq!(d.open(s), success());
}

/// D22: a save holds the queue when the refresh falls due (every DataSet try hangs). With the
/// defaults the lease has 270 s to spare, so nothing changes from the original: the save makes
/// its 3 tries and the refresh waits. With `LockAttempts = 1` the lease ends 30 s after the
/// refresh is due, so the save makes no further try and the refresh goes out at once.
#[test]
fn a_slow_save_gives_way_to_the_refresh_only_when_the_lease_is_at_risk_d22() {
    for attempts in [5.0, 1.0] {
        let mut d = Driver::with(Config::default(), FakeStore::new());
        let s = d.new_session("Player", "1");
        for (name, n) in [("SaveInterval", 0.0), ("LockAttempts", attempts)] {
            d.m.set_property(d.now, s, name, Input::Number(n))
                .expect("valid");
        }
        let t0 = d.now;
        assert_eq!(d.open(s), Reply::success());
        d.host_mut(s).value = json(r#"{"Coins":1}"#);
        d.clear_log();
        d.advance_to(t0 + 55 * T_SEC);
        d.store.fault("DataSet", 3, Fault::Hang);
        let ans = d.call(s, Call::Save);
        let answer = d.wait(ans);
        assert_eq!(answer.response, Response::Error);
        d.advance(20 * T_SEC);
        let refresh = lock_calls(&d)[0];
        if attempts == 5.0 {
            assert_eq!(d.sent("DataSet").len(), 3, "all of the save's tries");
            assert!(refresh > t0 + 90 * T_SEC, "the refresh waited for the save");
        } else {
            assert_eq!(answer, Reply::error(REFRESH_FIRST.into()));
            assert_eq!(
                d.sent("DataSet").len(),
                1,
                "no try after the refresh fell due"
            );
            assert!(refresh < t0 + 72 * T_SEC, "the refresh went out at once");
        }
        assert_eq!(d.state(s), State::Open, "and the refresh kept the lock");
        assert_eq!(
            d.m.session(s).unwrap().attempts_remaining(),
            attempts as i64
        );
    }
}

/// A fencing store that reads in the request that acquires (`Config::load_with_lock`).
fn loading_with_lock() -> Driver {
    let config = Config {
        fencing: true,
        load_with_lock: true,
        ..Config::default()
    };
    let mut store = FakeStore::new();
    store.fencing = true;
    store.put("Player/global/1", json(r#"{"Coins":7}"#), json("{}"));
    Driver::with(config, store)
}

fn load_of(command: &Command) -> Option<DataKey> {
    match command {
        Command::LockAcquire { load, .. } => load.clone(),
        other => panic!("not a lock: {other:?}"),
    }
}

#[test]
fn open_loads_in_the_request_that_acquires_when_the_store_offers_it() {
    let mut d = loading_with_lock();
    let s = d.new_session("Player", "1");
    assert_eq!(d.open(s), Reply::success());
    assert_eq!(d.host(s).value, json(r#"{"Coins":7}"#));
    assert_eq!(d.store.count("LockAcquire"), 1);
    assert_eq!(d.store.count("DataGet"), 0, "no second round trip");
    let key = DataKey {
        name: "Player".into(),
        scope: "global".into(),
        key: "1".into(),
    };
    assert_eq!(load_of(&d.sent("LockAcquire")[0].1), Some(key));
    // Refreshes never load.
    let t0 = d.now;
    d.advance_to(t0 + 61 * T_SEC);
    let sent = d.sent("LockAcquire");
    assert_eq!(sent.len(), 2);
    assert_eq!(load_of(&sent[1].1), None);
}

#[test]
fn without_the_fence_open_loads_after_the_lock_answers() {
    let mut d = loading_with_lock();
    let config = Config {
        load_with_lock: true,
        ..Config::default()
    };
    d.m = datastore_module::session::Module::new(config);
    let s = d.new_session("Player", "1");
    assert_eq!(d.open(s), Reply::success());
    assert_eq!(load_of(&d.sent("LockAcquire")[0].1), None);
    assert_eq!(d.store.count("DataGet"), 1);
    assert_eq!(d.host(s).value, json(r#"{"Coins":7}"#));
}

#[test]
fn a_lock_held_elsewhere_reads_nothing() {
    let mut d = loading_with_lock();
    d.store
        .locks
        .insert("Player/global/1".into(), ("THEIRS".into(), u64::MAX));
    let s = d.new_session("Player", "1");
    assert_eq!(d.open(s).response, Response::Locked);
    assert_eq!(d.store.count("DataGet"), 0);
    assert_eq!(d.host(s).value, datastore_module::value::Value::Nil);
}

#[test]
fn a_failed_read_in_the_acquiring_request_is_tried_again_alone() {
    let mut d = loading_with_lock();
    d.store
        .fault("DataGet", 1, Fault::Error("502: busy".into()));
    let s = d.new_session("Player", "1");
    assert_eq!(d.open(s), Reply::success());
    assert_eq!(d.host(s).value, json(r#"{"Coins":7}"#));
    assert_eq!(
        d.store.count("LockAcquire"),
        1,
        "the lock is not taken again"
    );
    assert_eq!(d.store.count("DataGet"), 1, "the second try of the load");
    // Three failed tries end the Open with the read's error, and the lock is given back.
    let mut d = loading_with_lock();
    d.store
        .fault("DataGet", 3, Fault::Error("502: busy".into()));
    let s = d.new_session("Player", "1");
    let answer = d.open(s);
    assert_eq!(answer, reply(Response::Error, "502: busy"));
    assert_eq!(d.store.count("DataGet"), 2);
    assert_eq!(d.store.count("LockRelease"), 1);
    assert_eq!(d.store.holder("Player/global/1", d.now), None);
}

#[test]
fn a_lock_granted_after_its_lease_ended_is_not_an_open() {
    // A process frozen between the store's grant and its reading of it (SIGSTOP, a VM pause)
    // answered Open "Success" with a lease already over: another server may hold the key by
    // then, and the record read with the grant may be older than its writes (a helper's hunt
    // with real processes). The grant is tried again instead.
    let mut d = Driver::new();
    let s = d.new_session("Player", "k");
    let open = d.call(s, Call::Open { template: None });
    let sent = d.now;
    let ttl = ttl_of(&d.sent("LockAcquire")[0].1);
    // The reply waits in the frozen process; it runs again past the lease, reply first.
    d.now = sent + (ttl as u64) * T_SEC;
    d.complete_in_flight();
    assert_eq!(d.reply_of(&open), None, "not answered on that grant");
    let reply = d.wait(open);
    assert_eq!(reply.response, Response::Success);
    let tries = d.sent("LockAcquire");
    assert_eq!(tries.len(), 2, "taken again");
    assert!(tries[1].0 > d.now - 3 * T_SEC, "after the freeze");
    // One moment earlier the grant stands.
    let mut d = Driver::new();
    let s = d.new_session("Player", "k");
    let open = d.call(s, Call::Open { template: None });
    d.now += (ttl as u64) * T_SEC - 1;
    d.complete_in_flight();
    assert_eq!(d.wait(open).response, Response::Success);
    assert_eq!(d.sent("LockAcquire").len(), 1);
}
