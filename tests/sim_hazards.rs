//! What the simulation's CI mix leaves out, and why: each unsafe setting in a few scripted
//! steps, with the simulation's invariants as the judge.
//!
//! * Loading through Roblox's 4 s read cache (`GetAsync` with its default `UseCache = true`,
//!   what the original calls) loses a write made by another server in between.
//! * A request that reaches the store after its sender stopped waiting for it (a one-way delay
//!   longer than the command's deadline): a save overwrites the same session's newer save or
//!   the next owner's data unless the store fences (D22: the fence names the acquisition and
//!   a write sequence). An unlock that lands after the same session locked again no longer
//!   deletes its newer lock on any store: the unlock names its acquisition token.

use datastore_module::session::{Call, Response, State};
use datastore_module::sim::{Invariant, Mix, ReadCache, Script, SimConfig};

fn script(fencing: bool, read_cache: ReadCache) -> Script {
    Script::new(
        1,
        SimConfig {
            players: 2,
            mix: Mix::calm(),
            read_cache,
            ..SimConfig::ci(fencing)
        },
    )
}

fn broken(s: &Script, invariant: Invariant) -> bool {
    s.violations().iter().any(|v| v.invariant == invariant)
}

fn shown(s: &Script) -> String {
    let mut out: String = s.violations().iter().map(|v| v.to_string()).collect();
    out.push_str("trace:\n");
    for line in s.trace(0) {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// A leaves; B gives the offline player a gift (open, edit, destroy); the player is back on A
/// within 4 s of A's last write, and A's cache hands it the value from before the gift.
#[test]
fn roblox_read_cache_loads_a_stale_copy_and_the_gift_is_lost() {
    for cache in [ReadCache::Roblox, ReadCache::Bypass] {
        let mut s = script(true, cache);
        let (a, b) = (s.server(), s.server());
        let player = s.session(a, 0);
        assert_eq!(s.open(a, player).response, Response::Success);
        s.edit(a, player);
        assert_eq!(s.call(a, player, Call::Destroy).response, Response::Saved);
        let gift = s.hidden(b, 0);
        assert_eq!(s.open(b, gift).response, Response::Success);
        let with_gift = s.edit(b, gift);
        assert_eq!(s.call(b, gift, Call::Destroy).response, Response::Saved);
        let back = s.session(a, 0);
        assert_eq!(s.open(a, back).response, Response::Success);
        s.edit(a, back);
        assert_eq!(s.call(a, back, Call::Save).response, Response::Saved);
        match cache {
            ReadCache::Roblox => {
                assert!(broken(&s, Invariant::Durability), "{}", shown(&s));
                assert_ne!(s.stored(0), with_gift);
            }
            ReadCache::Bypass => assert!(s.violations().is_empty(), "{}", shown(&s)),
        }
    }
}

/// The first try of a save is held up 20 s; the core gives up on it at 15 s and retries, the
/// retry lands, the player saves again, and then the first try lands over the newer save.
/// Without fencing it overwrites it; a fencing store refuses it, because a newer write of the
/// same acquisition (a larger sequence number) has landed (D22).
#[test]
fn a_save_that_lands_after_its_deadline_overwrites_the_sessions_newer_save_unless_fenced_d22() {
    for fencing in [true, false] {
        let mut s = script(fencing, ReadCache::Bypass);
        let a = s.server();
        let player = s.session(a, 0);
        assert_eq!(s.open(a, player).response, Response::Success);
        s.edit(a, player);
        s.hold(a, "DataSet", 20_000);
        assert_eq!(s.call(a, player, Call::Save).response, Response::Saved);
        s.edit(a, player);
        assert_eq!(s.call(a, player, Call::Save).response, Response::Saved);
        s.advance(10_000);
        assert_eq!(broken(&s, Invariant::Durability), !fencing, "{}", shown(&s));
    }
}

/// Server A sends a save with 40 s of lease left, the request is held up 60 s, and A crashes.
/// The lock expires, B opens, edits and saves; then A's save lands. Without fencing it
/// overwrites B's (and the lease check reports it); with fencing the store refuses it.
#[test]
fn a_save_that_lands_after_the_lease_overwrites_the_next_owner_unless_fenced() {
    for fencing in [true, false] {
        let mut s = script(fencing, ReadCache::Bypass);
        let (a, b) = (s.server(), s.server());
        let first = s.session(a, 0);
        s.set(a, first, "LockInterval", 10.0);
        s.set(a, first, "LockAttempts", 1.0);
        assert_eq!(s.open(a, first).response, Response::Success);
        s.edit(a, first);
        s.hold(a, "DataSet", 60_000);
        s.start(a, first, Call::Save);
        s.advance(100);
        s.crash(a);
        s.advance(45_000);
        let second = s.session(b, 0);
        assert_eq!(s.open(b, second).response, Response::Success);
        s.edit(b, second);
        assert_eq!(s.call(b, second, Call::Save).response, Response::Saved);
        s.advance(20_000);
        assert_eq!(broken(&s, Invariant::Exclusion), !fencing, "{}", shown(&s));
        assert_eq!(broken(&s, Invariant::Durability), !fencing, "{}", shown(&s));
    }
}

/// A closes; its unlock is held up 20 s, the core gives up at 10 s and retries, the retry
/// lands, and A opens again (same session, same UniqueId). Then the first unlock lands. The
/// original would delete the entry (it holds A's UniqueId) and let B in while A is open; ours
/// names the acquisition it releases, and the entry is a newer one (D22), fenced or not.
#[test]
fn an_unlock_that_lands_after_its_deadline_leaves_the_sessions_newer_lock_d22() {
    for fencing in [true, false] {
        let mut s = script(fencing, ReadCache::Bypass);
        let (a, b) = (s.server(), s.server());
        let first = s.session(a, 0);
        assert_eq!(s.open(a, first).response, Response::Success);
        s.hold(a, "LockRelease", 20_000);
        s.call(a, first, Call::Close);
        assert_eq!(s.open(a, first).response, Response::Success);
        s.advance(10_000);
        assert_eq!(s.state(a, first), Some(State::Open));
        let second = s.session(b, 0);
        assert_eq!(
            s.open(b, second).response,
            Response::Locked,
            "{}",
            shown(&s)
        );
        assert_eq!(s.state(a, first), Some(State::Open));
        assert!(s.violations().is_empty(), "{}", shown(&s));
    }
}
