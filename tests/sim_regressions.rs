//! Bugs the simulation found in the session core or the emulator, each replayed as a few
//! scripted steps on the simulation's driver, with its invariants watching.

use datastore_module::emulator::{FaultConfig, Op, OpFaults};
use datastore_module::session::{Response, State};
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
