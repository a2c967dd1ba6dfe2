//! The session lock (§8): acquire/refresh, release, the refresh grid and `AttemptsRemaining`,
//! and the lease that D8 checks before every write.
//!
//! The lock is one sorted-map entry (`map = Id`, key `"Id"`, value = UniqueId, sort key = the
//! acquisition token of [`crate::fence`]) written with an expiry of `LockInterval ×
//! LockAttempts + 30` s. Refreshes run on a grid set by the last successful lock, one
//! `LockInterval` apart; each failed refresh costs one attempt, and the session closes when
//! none are left. It closes at once, without saving, when a refresh finds another holder (D7)
//! or finds that its entry is gone (D22: the lease lapsed, so another server may have written).

use super::flow::{LockOutcome, Op, OpOutcome};
use super::io::{Io, Owner, TimerKey, TimerWhat};
use super::retry::Attempt;
use super::task::Kind;
use super::{secs_to_ms, Command, DataKey, Session, StoreResult};
use crate::fence::ACQUISITION;

/// The lock margin: the entry outlives the session's own give-up time by this much.
pub(crate) const LOCK_MARGIN_S: f64 = 30.0;

/// The acquisition tries one session object can make: its tokens (`acquisition × 2^32 +
/// renewal`, `fence.rs`) stay below 2^53.
pub(crate) const MAX_ACQUISITIONS: u64 = (1 << 21) - 1;
/// A lock answer that came after the lease it granted had ended.
const GRANTED_TOO_LATE: &str = "the lock's grant came after its lease had ended";
/// What `Open` answers once they are used (an `Open` retried without pause for days on a key
/// held elsewhere).
const ACQUISITIONS_USED: &str = "this session object has tried to take its lock 2,097,151 times, as many as its lock tokens count; Destroy it and make a new one";

/// D22: what a lapsed lease answers (and what `Saved` reports for the save-on-close it skips):
/// a refresh found the entry gone, or the lease ended with no refresh through.
pub const LEASE_LAPSED: &str =
    "the session lock lapsed: a refresh found the lock entry gone or got no answer before the lease ended, so another server may have written; the session closed without saving";

#[derive(Debug, Default)]
pub(crate) struct LockState {
    /// `LockTime`: when the current lock's attempt budget runs out (the clock reading taken
    /// before the successful try, plus `I × A`). `None` = −∞.
    pub lock_time: Option<u64>,
    /// Until when the entry is ours for sure (D8): the last successful try's send time plus
    /// the TTL it asked for, at least `LockTime + 30 s`. No later try, failed or not, can cut
    /// the entry short of it (see [`Session::lock_try`]).
    pub lease_end: Option<u64>,
    /// `ActiveLockInterval`, in ms.
    pub active_interval_ms: u64,
    /// The last token known to be written to our entry (its sort key, [`crate::fence`]): the
    /// last successful acquisition or refresh. Refreshes, the unlock and the fence name it.
    /// 0 before the first acquisition.
    pub token: u64,
    /// The last token handed out: each acquisition try takes a new acquisition number, each
    /// refresh try the next renewal of the one held, so a later try always names a larger
    /// token than any before it.
    pub last_token: u64,
    /// Acquisition numbers handed out.
    pub acquisitions: u64,
    /// The refresh timer.
    pub timer: Option<TimerKey>,
}

/// A lock call (acquire or refresh) with its 3 tries.
#[derive(Debug, Default)]
pub(crate) struct LockOp {
    pub attempt: Attempt,
    /// A refresh of the held acquisition (`true`) or a new acquisition.
    renew: bool,
    /// The token the try in flight names.
    token: u64,
    /// The clock reading before the try in flight, the properties it used and the TTL it
    /// asked for.
    t: u64,
    interval: f64,
    attempts: f64,
    ttl_s: f64,
    /// The try in flight also loads the session's key (`Config::load_with_lock`).
    load: bool,
}

/// A result that does not belong to the command it answers.
pub(crate) fn unexpected(command: &str, result: &StoreResult) -> String {
    format!("the store answered {command} with {}", result.kind())
}

impl Session {
    /// A new acquisition (`Open`), or a refresh of the one held (`renew`).
    pub(crate) fn begin_lock(&mut self, io: &mut Io, renew: bool) {
        self.lock_try(
            io,
            LockOp {
                renew,
                ..LockOp::default()
            },
        );
    }

    pub(crate) fn lock_try(&mut self, io: &mut Io, mut op: LockOp) {
        if io.shutdown_over() {
            let outcome = LockOutcome::Error(super::save::SHUTDOWN_DEADLINE.into());
            return self.resume_task(io, OpOutcome::Lock(outcome));
        }
        if op.renew && self.lease_over(io) {
            return self.resume_task(io, OpOutcome::Lock(LockOutcome::Lapsed));
        }
        op.t = io.now;
        op.interval = self.props.lock_interval;
        op.attempts = self.props.lock_attempts;
        op.attempt.tries += 1;
        // A try that fails may still have landed (an ambiguous write, a reply that came too
        // late) and set the entry to expire `ttl` from now. After LockInterval or LockAttempts
        // were lowered that could end the entry before the lease this session counts on; so a
        // try asks for at least what is left of that lease.
        let left_s = self
            .lock
            .lease_end
            .map_or(0, |end| end.saturating_sub(io.now).div_ceil(1000));
        op.ttl_s = (op.interval * op.attempts + LOCK_MARGIN_S).max(left_s as f64);
        if !op.renew && self.lock.acquisitions >= MAX_ACQUISITIONS {
            // Every token of another acquisition would pass the 2^53 a store takes.
            let outcome = LockOutcome::Error(ACQUISITIONS_USED.into());
            return self.resume_task(io, OpOutcome::Lock(outcome));
        }
        op.token = if op.renew {
            self.lock.last_token + 1
        } else {
            self.lock.acquisitions += 1;
            self.lock.acquisitions * ACQUISITION
        };
        self.lock.last_token = op.token;
        // Only Open makes new acquisitions; its load follows at once.
        op.load = !op.renew && io.config.load_with_lock && io.config.fencing;
        let command = Command::LockAcquire {
            map: self.id.clone(),
            owner: self.unique_id.clone(),
            token: op.token,
            held: op.renew.then_some(self.lock.token),
            ttl_s: op.ttl_s,
            load: op.load.then(|| DataKey {
                name: self.name.clone(),
                scope: self.scope.clone(),
                key: self.key_text.clone(),
            }),
        };
        // A refresh gives up when the lease ends: past it the entry may be another server's.
        let by = if op.renew { self.lock.lease_end } else { None };
        op.attempt.command = Some(io.send_by(self.sid, Owner::Task, command, by));
        self.op = Some(Op::Lock(op));
    }

    /// D22: the lease has ended with no refresh through. Whether the entry is still ours is not
    /// known (a refresh may have landed unanswered), so the session acts as if it lapsed:
    /// another server may have taken the key already.
    fn lease_over(&self, io: &Io) -> bool {
        self.lock.lease_end.is_some_and(|end| io.now >= end)
    }

    pub(crate) fn lock_result(&mut self, io: &mut Io, mut op: LockOp, result: StoreResult) {
        let (result, got) = match result {
            StoreResult::AcquiredAndGot(got) if op.load => (StoreResult::Acquired, Some(got)),
            other => (other, None),
        };
        let message = match result {
            // The answer came after the lease it granted had ended (the process was frozen
            // with the reply waiting): the entry may be another server's by now, and a read
            // that came with it may be older than its writes. Not a grant: tried again.
            StoreResult::Acquired if io.now >= op.t.saturating_add(secs_to_ms(op.ttl_s)) => {
                (GRANTED_TOO_LATE.to_owned(), true)
            }
            StoreResult::Acquired => {
                let budget = op.interval * op.attempts;
                self.lock.lock_time = Some(op.t.saturating_add(secs_to_ms(budget)));
                self.lock.lease_end = Some(op.t.saturating_add(secs_to_ms(op.ttl_s)));
                self.lock.active_interval_ms = secs_to_ms(op.interval);
                self.lock.token = op.token;
                // No event: only LockTask reports changes (§8.3).
                self.attempts_remaining = op.attempts as i64;
                return self.resume_task(io, OpOutcome::Lock(LockOutcome::Success(got)));
            }
            StoreResult::Locked { holder } => {
                return self.resume_task(io, OpOutcome::Lock(LockOutcome::Locked(holder)))
            }
            // What a lapse means is the step's to say (a new acquisition cannot lapse).
            StoreResult::Lapsed => {
                return self.resume_task(io, OpOutcome::Lock(LockOutcome::Lapsed))
            }
            StoreResult::Error(message) => (message, true),
            StoreResult::Invalid(message) => (message, false),
            other => (unexpected("LockAcquire", &other), true),
        };
        let (message, retryable) = message;
        if op.renew && self.lease_over(io) {
            return self.resume_task(io, OpOutcome::Lock(LockOutcome::Lapsed));
        }
        match io.retry_delay(&mut op.attempt, retryable) {
            Some(delay) => {
                // A refresh's next try waits no longer than the lease (then it lapses).
                let delay = match (op.renew, self.lock.lease_end) {
                    (true, Some(end)) => delay.min(end.saturating_sub(io.now)),
                    _ => delay,
                };
                op.attempt.wake = Some(io.set_timer_in(self.sid, TimerWhat::TaskOp, delay));
                self.op = Some(Op::Lock(op));
            }
            None => self.resume_task(io, OpOutcome::Lock(LockOutcome::Error(message))),
        }
    }

    /// Unlock (3 tries). Its result is ignored by every caller; a failed unlock leaves the
    /// entry to expire on its own.
    pub(crate) fn begin_unlock(&mut self, io: &mut Io) {
        self.lock.lease_end = None;
        self.unlock_try(io, Attempt::default());
    }

    pub(crate) fn unlock_try(&mut self, io: &mut Io, mut attempt: Attempt) {
        if io.shutdown_over() {
            return self.resume_task(io, OpOutcome::Unlock);
        }
        attempt.tries += 1;
        let command = Command::LockRelease {
            map: self.id.clone(),
            owner: self.unique_id.clone(),
            token: self.lock.token,
        };
        attempt.command = Some(io.send(self.sid, Owner::Task, command));
        self.op = Some(Op::Unlock(attempt));
    }

    pub(crate) fn unlock_result(&mut self, io: &mut Io, mut attempt: Attempt, result: StoreResult) {
        if let Some((_, retryable)) = result.failure() {
            if let Some(delay) = io.retry_delay(&mut attempt, retryable) {
                attempt.wake = Some(io.set_timer_in(self.sid, TimerWhat::TaskOp, delay));
                self.op = Some(Op::Unlock(attempt));
                return;
            }
        }
        self.resume_task(io, OpOutcome::Unlock);
    }

    /// `StartLockTimer` (§8.3): the next refresh, on the grid of the last successful lock.
    pub(crate) fn start_lock_timer(&mut self, io: &mut Io) {
        io.cancel_timer(self.lock.timer.take());
        let Some(lock_time) = self.lock.lock_time else {
            return;
        };
        let interval = i128::from(self.lock.active_interval_ms);
        let fire_at =
            i128::from(lock_time) - i128::from(self.attempts_remaining) * interval + interval;
        // A deadline in the past fires as soon as possible.
        let at = u64::try_from(fire_at.max(i128::from(io.now))).unwrap_or(u64::MAX);
        self.lock.timer = Some(io.set_timer(self.sid, TimerWhat::Lock, at));
    }

    /// `LockTimerEnded`: a LockTask unless one is pending.
    pub(crate) fn lock_timer_ended(&mut self, io: &mut Io) {
        if self.tasks.find_first(Kind::Lock).is_none() {
            self.append(io, Kind::Lock, None);
            self.yield_to_refresh(io);
        }
    }
}
