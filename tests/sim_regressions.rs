//! Bugs the simulation found in the session core or the emulator, each replayed as a few
//! scripted steps on the simulation's driver, with its invariants watching.

use datastore_module::emulator::{FaultConfig, Op, OpFaults};
use datastore_module::session::{Call, Response, State};
use datastore_module::sim::{Mix, Script, SimConfig};

fn script(fencing: bool) -> Script {
    Script::new(
        1,
        SimConfig {
            players: 2,
            mix: Mix::calm(),
            ..SimConfig::ci(fencing)
        },
    )
}

fn report(s: &Script, player: usize) -> String {
    let mut out = String::new();
    for v in s.violations() {
        out.push_str(&v.to_string());
    }
    out.push_str("trace:\n");
    for line in s.trace(player) {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// Found by `soak --players 30 --servers 2`, seed 166: a refresh sent after `LockInterval` was
/// lowered carries the shorter TTL; when it fails ambiguously (applied, reported as an error)
/// the lock entry now expires long before the lease the session still believes in (and D8
/// checks saves against). Another server could take the lock while this one is open and
/// saving.
#[test]
fn a_failed_refresh_never_shortens_the_lock_entry_below_the_lease() {
    for fencing in [true, false] {
        let mut s = script(fencing);
        let (a, b) = (s.server(), s.server());
        let first = s.session(a, 0);
        assert_eq!(s.open(a, first).response, Response::Success);
        // The lease runs to t0 + 300 s (60 × 5), the entry to t0 + 330 s. Lower the budget: the
        // next refresh asks for 10 × 1 + 30 = 40 s.
        s.set(a, first, "LockInterval", 10.0);
        s.set(a, first, "LockAttempts", 1.0);
        // The refresh at t0 + 60 s: every try lands and is reported as failed.
        let ambiguous = OpFaults {
            ambiguous: 1.0,
            ..OpFaults::NONE
        };
        s.emulator()
            .set_faults(FaultConfig::none().with(Op::MapUpdate, ambiguous));
        s.advance(63_000);
        s.emulator().set_faults(FaultConfig::none());
        assert_eq!(s.state(a, first), Some(State::Open));
        // The first session still believes it holds the key until t0 + 300 s.
        s.advance(45_000);
        let second = s.session(b, 0);
        let reply = s.open(b, second);
        assert!(
            s.violations().is_empty(),
            "fencing {fencing}: {}",
            report(&s, 0)
        );
        assert_eq!(reply.response, Response::Locked, "{}", report(&s, 0));
    }
}

/// Issue 17, found by `soak --mix harsh --vary` (seed 21215): a save that holds the session's
/// task queue (every DataSet try 20 s late) keeps the lock refresh waiting behind it; with
/// `LockAttempts = 1` the lease is only 30 s past the refresh's grid time, so the refresh
/// (its first try late as well) went out after the entry had expired. Another server opened,
/// saved and left in the gap; the refresh found the entry free, took it back, and A saved its
/// own edits over the other server's acknowledged save. Now the save gives way to the refresh
/// once the refresh cannot afford to wait (D22), so A keeps its lock and B is locked out; and a
/// refresh that does arrive late finds its entry gone and closes the session without saving.
#[test]
fn a_slow_save_cannot_starve_the_refresh_into_retaking_a_lapsed_lock_d22() {
    for fencing in [true, false] {
        let mut s = script(fencing);
        let (a, b) = (s.server(), s.server());
        let first = s.session(a, 0);
        s.set(a, first, "LockInterval", 60.0);
        s.set(a, first, "LockAttempts", 1.0);
        assert_eq!(s.open(a, first).response, Response::Success);
        s.advance(40_000);
        s.edit(a, first);
        for _ in 0..3 {
            s.hold(a, "DataSet", 20_000);
        }
        s.hold(a, "LockAcquire", 20_000);
        let save = s.start(a, first, Call::Save);
        // The lease A's last lock gave ends 90 s after it; B tries just after that.
        s.advance(52_000);
        let second = s.session(b, 0);
        let opened = s.open(b, second);
        if opened.response == Response::Success {
            s.edit(b, second);
            assert_eq!(s.call(b, second, Call::Destroy).response, Response::Saved);
        }
        s.advance(30_000);
        assert!(s.answer(save).is_some(), "{}", report(&s, 0));
        if s.state(a, first) == Some(State::Open) {
            s.edit(a, first);
            s.call(a, first, Call::Save);
        }
        s.advance(60_000);
        assert!(s.violations().is_empty(), "{}", report(&s, 0));
        // Either A kept its lock throughout (B was locked out) or it gave the session up.
        let kept = opened.response == Response::Locked;
        assert!(
            kept || s.state(a, first) != Some(State::Open),
            "{}",
            report(&s, 0)
        );
    }
}
