//! Retries (D14) and the queue loop's backoff (D10), with the jitter that spreads many servers'
//! retries apart.
//!
//! The original makes up to 3 tries of every platform call, 1 s apart: 2 s of waiting at most.
//! We keep the 3 tries and that 2 s budget, but the first wait is 250–750 ms and the second
//! 750–1250 ms, so a burst of failures from many sessions does not come back in lock-step.

use super::io::TimerKey;
use super::CommandId;

/// Tries per platform call.
pub(crate) const TRIES: u8 = 3;

/// The original's total wait between its 3 tries; ours never exceeds it.
pub(crate) const RETRY_BUDGET_MS: u64 = 2_000;

/// The queue loop's backoff ceiling (D10).
pub(crate) const QUEUE_BACKOFF_CAP_MS: u64 = 30_000;

pub(crate) use crate::rng::Rng;

/// The wait before the next try, after `failed` tries have failed (1 or 2).
pub(crate) fn retry_delay(rng: &mut Rng, failed: u8) -> u64 {
    if failed <= 1 {
        rng.between(250, 750)
    } else {
        rng.between(750, 1_250)
    }
}

/// The queue loop's wait after `failures` failed reads in a row: exponential from 1 s, capped
/// at 30 s, with the lower half jittered away.
pub(crate) fn queue_backoff(rng: &mut Rng, failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(15);
    let ceiling = (1_000u64 << doublings).min(QUEUE_BACKOFF_CAP_MS);
    rng.between(ceiling / 2, ceiling)
}

/// One retried platform call: how many tries went out, the one in flight, the backoff wait.
#[derive(Debug, Default)]
pub(crate) struct Attempt {
    pub tries: u8,
    pub command: Option<CommandId>,
    pub wake: Option<TimerKey>,
}

impl Attempt {
    /// Whether `command` is this attempt's try in flight (anything else is stale).
    pub fn is_current(&self, command: CommandId) -> bool {
        self.command == Some(command)
    }

    /// After a failed try: the wait before the next one, or `None` when all tries are spent
    /// or the failure was not `retryable` (D19).
    pub fn next_delay(&mut self, rng: &mut Rng, retryable: bool) -> Option<u64> {
        self.command = None;
        if self.tries >= TRIES || !retryable {
            None
        } else {
            Some(retry_delay(rng, self.tries))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_originals_two_second_budget() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let total = retry_delay(&mut rng, 1) + retry_delay(&mut rng, 2);
            assert!(total <= RETRY_BUDGET_MS);
        }
    }

    #[test]
    fn queue_backoff_grows_and_is_capped() {
        let mut rng = Rng::new(1);
        assert!(queue_backoff(&mut rng, 1) <= 1_000);
        assert!(queue_backoff(&mut rng, 3) >= 2_000);
        for failures in [6, 20, u32::MAX] {
            let wait = queue_backoff(&mut rng, failures);
            assert!((15_000..=QUEUE_BACKOFF_CAP_MS).contains(&wait));
        }
    }

    #[test]
    fn between_handles_any_range() {
        let mut rng = Rng::new(3);
        assert_eq!(rng.between(5, 5), 5);
        assert_eq!(rng.between(9, 2), 9);
        let _ = rng.between(0, u64::MAX);
    }
}
