//! What a store does with the core's lock commands and fenced writes (D22): one rule for every
//! store. The emulator and the simulation call these functions; the JS stores (LMDB, Redis)
//! and the Luau module carry out the same table in their own language, and the store
//! conformance suite holds them to it.
//!
//! # The lock entry
//!
//! Sorted map `name/scope/key`, entry `"Id"`: the value is the holder's `UniqueId` (exactly as
//! the original writes it, so the original reads one of our locks as "someone else holds it"
//! and answers `Locked` with our UniqueId), and the **sort key is a token**, a number the
//! original neither writes nor reads. A token is `acquisition × 2^32 + renewal`
//! ([`ACQUISITION`]): every acquisition try (`Open`) of a session takes a new acquisition
//! number, every refresh try the next renewal number of the acquisition held, so of two tries
//! of one session the later-sent has the larger token. A store only ever replaces an entry
//! with one of an equal or larger token, so a try that lands late can neither cut a newer
//! entry's expiry short nor bring back an older acquisition.
//!
//! A new acquisition names its token `t`; a refresh names `t` and `held`, the token it last
//! knew to be written (a refresh that failed ambiguously may have written a token between the
//! two). `e` is the entry's token (none counts as 0):
//!
//! | command | entry absent | ours, `e` in range | ours, `e` out of range | someone else's |
//! |---|---|---|---|---|
//! | acquire (`Open`): range `e ≤ t` | write (owner, t) | write (owner, t) | `Locked` (owner) | `Locked` (them) |
//! | renew (refresh): range `held ≤ e ≤ t` | **`Lapsed`** | write (owner, t) | **`Lapsed`** | `Locked` (them) |
//! | release: range `acq(e) = acq(t)` | nothing | delete | nothing | nothing |
//!
//! So a refresh never re-creates an entry that expired: the session learns that its lease
//! lapsed instead of silently taking the key back after another server may have written
//! (issue 17). A release only deletes the entry of its own acquisition, so an unlock that
//! arrives late cannot delete the session's next lock.
//!
//! # Fenced data writes
//!
//! A store that fences applies a `DataSet`/`DataRemove` carrying a [`Fence`] only while the
//! lock entry is live, is the fence's owner's and is of the same acquisition
//! (`acq(e) = acq(fence.token)`), and only if the last fenced write it applied to that key
//! (its mark: owner, acquisition and `seq`, kept with the record and across removes) is not
//! of the same owner and acquisition with an equal or larger `seq`. So a write is refused when
//! it lands after its lease ended (someone else's entry, or none), after the same session
//! locked again (another acquisition), or after a newer write of the same acquisition.

use crate::value::Value;

/// Carried by a data write when the store can fence: who sends it, under which acquisition,
/// and the session's write sequence number (it grows with every try).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub owner: String,
    pub token: u64,
    pub seq: u64,
}

/// Tokens are `acquisition × ACQUISITION + renewal`: 2^32 refresh tries per acquisition (at
/// one try per 3 s, 400 years) and 2^21 acquisition tries per session object, within the
/// 2^53 a double holds exactly (sort keys are numbers on Roblox and in JavaScript).
pub const ACQUISITION: u64 = 1 << 32;

/// The acquisition a token belongs to.
pub fn acquisition(token: f64) -> f64 {
    (token / ACQUISITION as f64).floor()
}

/// What the lock command asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// A new acquisition (`Open`).
    Acquire,
    /// A refresh of the acquisition held, whose last known token is `held`.
    Renew { held: u64 },
    /// An unlock of the acquisition of the token.
    Release,
}

impl LockMode {
    /// A `LockAcquire` command's mode: a refresh when it names the token it holds.
    pub fn acquire_or_renew(held: Option<u64>) -> LockMode {
        held.map_or(LockMode::Acquire, |held| LockMode::Renew { held })
    }
}

/// The outcome of a lock command against the entry as it stands.
#[derive(Clone, Debug, PartialEq)]
pub enum LockDecision {
    /// Write `(owner, token)` (with the command's expiry; 0 for a release, which deletes it).
    Write,
    /// Someone holds the entry: nothing written, answer `Locked` with this holder.
    Locked(Value),
    /// A refresh whose entry is gone or not of its acquisition: nothing written.
    Lapsed,
    /// Nothing written, nothing to report (a release of an entry that is not this
    /// acquisition's).
    Nothing,
}

/// The table above. `current` is the entry's value and token (its sort key, when a number).
pub fn lock_decision(
    mode: LockMode,
    owner: &str,
    token: u64,
    current: Option<(&Value, Option<f64>)>,
) -> LockDecision {
    let t = token as f64;
    let ours = |value: &Value| matches!(value, Value::String(held) if held == owner);
    match (mode, current) {
        (LockMode::Release, Some((value, e))) => {
            if ours(value) && acquisition(e.unwrap_or(0.0)) == acquisition(t) {
                LockDecision::Write
            } else {
                LockDecision::Nothing
            }
        }
        (LockMode::Release, None) => LockDecision::Nothing,
        (_, Some((value, _))) if !ours(value) => LockDecision::Locked(value.clone()),
        (LockMode::Acquire, None) => LockDecision::Write,
        (LockMode::Acquire, Some((value, e))) => {
            if e.unwrap_or(0.0) <= t {
                LockDecision::Write
            } else {
                LockDecision::Locked(value.clone())
            }
        }
        (LockMode::Renew { held }, Some((_, e))) => {
            let e = e.unwrap_or(0.0);
            if held as f64 <= e && e <= t {
                LockDecision::Write
            } else {
                LockDecision::Lapsed
            }
        }
        (LockMode::Renew { .. }, None) => LockDecision::Lapsed,
    }
}

/// Why a fenced write may not go ahead, or `None`. `lock` is the live lock entry (value and
/// token), `mark` the last fenced write applied to the key.
pub fn fence_refusal(
    fence: &Fence,
    lock: Option<(&Value, Option<f64>)>,
    mark: Option<&Fence>,
) -> Option<String> {
    let same = |a: u64, b: u64| acquisition(a as f64) == acquisition(b as f64);
    let reason = match lock {
        None => "the lock is not held (expired or released)".to_owned(),
        Some((Value::String(holder), _)) if *holder != fence.owner => {
            format!("the lock is held by {holder}")
        }
        Some((Value::String(_), e))
            if acquisition(e.unwrap_or(0.0)) != acquisition(fence.token as f64) =>
        {
            format!(
                "the lock is held by another acquisition of {} than this write's",
                fence.owner
            )
        }
        Some((Value::String(_), _)) => match mark {
            Some(m)
                if m.owner == fence.owner && same(m.token, fence.token) && m.seq >= fence.seq =>
            {
                format!(
                    "a newer write (#{}) of the same session has landed already (this is #{})",
                    m.seq, fence.seq
                )
            }
            _ => return None,
        },
        Some((other, _)) => format!("the lock entry holds {}", other.to_json_string()),
    };
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Value {
        Value::String("ME".into())
    }

    const A: u64 = ACQUISITION;

    #[test]
    fn acquire_takes_a_free_or_older_entry_of_its_own_and_nothing_newer() {
        let mine = me();
        let them = Value::String("THEM".into());
        let t = 5 * A;
        let d = |current| lock_decision(LockMode::Acquire, "ME", t, current);
        assert_eq!(d(None), LockDecision::Write);
        assert_eq!(d(Some((&mine, None))), LockDecision::Write);
        assert_eq!(
            d(Some((&mine, Some((4 * A + 9) as f64)))),
            LockDecision::Write
        );
        assert_eq!(d(Some((&mine, Some(t as f64)))), LockDecision::Write);
        assert_eq!(
            d(Some((&mine, Some((t + 1) as f64)))),
            LockDecision::Locked(mine.clone())
        );
        assert_eq!(d(Some((&them, Some(1.0)))), LockDecision::Locked(them));
    }

    #[test]
    fn renew_never_recreates_an_entry_nor_overwrites_a_newer_one() {
        let mine = me();
        let (held, t) = (5 * A + 2, 5 * A + 4);
        let renew = |current| lock_decision(LockMode::Renew { held }, "ME", t, current);
        assert_eq!(renew(None), LockDecision::Lapsed);
        assert_eq!(renew(Some((&mine, None))), LockDecision::Lapsed);
        // An older acquisition's late try re-created the entry after it expired.
        assert_eq!(
            renew(Some((&mine, Some((5 * A) as f64)))),
            LockDecision::Lapsed
        );
        // A newer try of ours landed first: this late one must not cut its expiry short.
        assert_eq!(
            renew(Some((&mine, Some((t + 1) as f64)))),
            LockDecision::Lapsed
        );
        // The held token, or one an ambiguous try in between wrote.
        assert_eq!(renew(Some((&mine, Some(held as f64)))), LockDecision::Write);
        assert_eq!(
            renew(Some((&mine, Some((held + 1) as f64)))),
            LockDecision::Write
        );
        let them = Value::String("THEM".into());
        assert_eq!(renew(Some((&them, None))), LockDecision::Locked(them));
    }

    #[test]
    fn release_deletes_only_its_own_acquisition() {
        let mine = me();
        let them = Value::String("THEM".into());
        let release = |current| lock_decision(LockMode::Release, "ME", 5 * A + 1, current);
        assert_eq!(
            release(Some((&mine, Some((5 * A + 7) as f64)))),
            LockDecision::Write
        );
        assert_eq!(
            release(Some((&mine, Some((6 * A) as f64)))),
            LockDecision::Nothing
        );
        assert_eq!(
            release(Some((&them, Some((5 * A) as f64)))),
            LockDecision::Nothing
        );
        assert_eq!(release(None), LockDecision::Nothing);
    }

    #[test]
    fn a_fence_refuses_other_holders_other_acquisitions_and_older_writes() {
        let mine = me();
        let fence = Fence {
            owner: "ME".into(),
            token: 5 * A + 1,
            seq: 9,
        };
        let entry = ((5 * A + 3) as f64, 5 * A);
        let held = Some((&mine, Some(entry.0)));
        assert_eq!(fence_refusal(&fence, held, None), None);
        assert!(fence_refusal(&fence, None, None).is_some());
        assert!(fence_refusal(&fence, Some((&mine, Some((6 * A) as f64))), None).is_some());
        let them = Value::String("THEM".into());
        assert!(fence_refusal(&fence, Some((&them, Some(entry.0))), None).is_some());
        let mark = |owner: &str, token, seq| Fence {
            owner: owner.into(),
            token,
            seq,
        };
        assert!(fence_refusal(&fence, held, Some(&mark("ME", entry.1, 9))).is_some());
        assert!(fence_refusal(&fence, held, Some(&mark("ME", entry.1 + 2, 12))).is_some());
        assert_eq!(
            fence_refusal(&fence, held, Some(&mark("ME", entry.1, 8))),
            None
        );
        assert_eq!(
            fence_refusal(&fence, held, Some(&mark("ME", 4 * A, 30))),
            None
        );
        assert_eq!(
            fence_refusal(&fence, held, Some(&mark("THEM", entry.1, 30))),
            None
        );
    }
}
