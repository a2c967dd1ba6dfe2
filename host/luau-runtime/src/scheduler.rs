//! The clock and the queue of threads waiting to be resumed, shared by every server.
//!
//! This part knows nothing of Luau: an entry is "resume this thread of that server with this
//! payload", due either as soon as possible (deferred) or at a time on the clock. The loop that
//! drains it lives in `runtime.rs`.
//!
//! Time is in microseconds since the run started. With virtual time the clock only moves when
//! the loop jumps it to the next entry (nothing runs in between, so a run takes no longer than
//! its computation and is the same every time); with real time it follows `Instant`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The shortest wait `task.wait`/`task.delay` give: one 60 Hz frame, as a Roblox server resumes
/// waiting threads on its next Heartbeat at the earliest. It also keeps `repeat task.wait()
/// until x` loops moving virtual time forward.
pub const FRAME_US: u64 = 16_667;

/// Unix time (ms) at which a virtual clock starts: 2026-01-01T00:00:00Z. Fixed, so a run with
/// virtual time and a seed produces the same version ids and timestamps every time.
pub const VIRTUAL_EPOCH_MS: u64 = 1_767_225_600_000;

pub fn secs_to_us(secs: f64) -> u64 {
    if secs.is_nan() || secs <= 0.0 {
        0
    } else {
        (secs * 1e6).min(u64::MAX as f64 / 2.0).round() as u64
    }
}

#[derive(Debug)]
enum Clock {
    Virtual { now_us: u64 },
    Real { start: Instant },
}

/// An entry: `what` is resumed on the thread of server `server`.
pub struct Entry<T> {
    pub server: usize,
    pub what: T,
}

/// Deferred entries and timers, in the order Roblox's scheduler would run them: deferred ones
/// first (in the order they were deferred), then due timers by due time, ties in the order
/// they were set.
pub struct Queue<T> {
    clock: Clock,
    epoch_ms: u64,
    seq: u64,
    deferred: VecDeque<Entry<T>>,
    timers: BTreeMap<(u64, u64), Entry<T>>,
}

impl<T> Queue<T> {
    pub fn new(virtual_time: bool) -> Queue<T> {
        let (clock, epoch_ms) = if virtual_time {
            (Clock::Virtual { now_us: 0 }, VIRTUAL_EPOCH_MS)
        } else {
            let epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            (
                Clock::Real {
                    start: Instant::now(),
                },
                epoch,
            )
        };
        Queue {
            clock,
            epoch_ms,
            seq: 0,
            deferred: VecDeque::new(),
            timers: BTreeMap::new(),
        }
    }

    /// Microseconds since the run started.
    pub fn now_us(&self) -> u64 {
        match &self.clock {
            Clock::Virtual { now_us } => *now_us,
            Clock::Real { start } => start.elapsed().as_micros() as u64,
        }
    }

    /// Unix time in milliseconds at run time `us`.
    pub fn unix_ms_at(&self, us: u64) -> u64 {
        self.epoch_ms.saturating_add(us / 1000)
    }

    /// Unix time in milliseconds now: what the emulator is called with.
    pub fn unix_ms(&self) -> u64 {
        self.unix_ms_at(self.now_us())
    }

    pub fn defer(&mut self, server: usize, what: T) {
        self.deferred.push_back(Entry { server, what });
    }

    pub fn at(&mut self, due_us: u64, server: usize, what: T) {
        self.seq += 1;
        self.timers
            .insert((due_us, self.seq), Entry { server, what });
    }

    /// The next entry that may run now: deferred first, then the earliest due timer.
    pub fn pop_ready(&mut self) -> Option<Entry<T>> {
        if let Some(entry) = self.deferred.pop_front() {
            return Some(entry);
        }
        let now = self.now_us();
        let first = *self.timers.keys().next()?;
        if first.0 <= now {
            self.timers.remove(&first)
        } else {
            None
        }
    }

    /// When the earliest timer is due, if any.
    pub fn next_due_us(&self) -> Option<u64> {
        if !self.deferred.is_empty() {
            return Some(self.now_us());
        }
        self.timers.keys().next().map(|(at, _)| *at)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.deferred.is_empty() && self.timers.is_empty()
    }

    /// Drops every entry for which `remove` is true (`task.cancel`, a server closing).
    pub fn remove_where(&mut self, mut remove: impl FnMut(&Entry<T>) -> bool) {
        self.deferred.retain(|e| !remove(e));
        self.timers.retain(|_, e| !remove(e));
    }

    /// Moves time towards `target_us`: a virtual clock jumps there; a real one sleeps, at most
    /// `max_sleep`, so the caller can look at signals in between.
    pub fn advance_to(&mut self, target_us: u64, max_sleep: Duration) {
        match &mut self.clock {
            Clock::Virtual { now_us } => *now_us = (*now_us).max(target_us),
            Clock::Real { start } => {
                let now = start.elapsed().as_micros() as u64;
                if target_us > now {
                    std::thread::sleep(Duration::from_micros(target_us - now).min(max_sleep));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_before_timers_and_timers_by_due_time_then_order_set() {
        let mut q = Queue::new(true);
        q.at(5, 0, "late");
        q.at(1, 0, "early-a");
        q.at(1, 0, "early-b");
        q.defer(0, "deferred");
        assert_eq!(q.pop_ready().map(|e| e.what), Some("deferred"));
        assert!(q.pop_ready().is_none(), "nothing is due at time 0");
        q.advance_to(q.next_due_us().unwrap(), Duration::ZERO);
        assert_eq!(q.pop_ready().map(|e| e.what), Some("early-a"));
        assert_eq!(q.pop_ready().map(|e| e.what), Some("early-b"));
        assert!(q.pop_ready().is_none());
        q.advance_to(5, Duration::ZERO);
        assert_eq!(q.pop_ready().map(|e| e.what), Some("late"));
        assert!(q.is_empty());
    }

    #[test]
    fn virtual_clock_never_goes_back_and_starts_at_the_fixed_epoch() {
        let mut q: Queue<()> = Queue::new(true);
        q.advance_to(10, Duration::ZERO);
        q.advance_to(3, Duration::ZERO);
        assert_eq!(q.now_us(), 10);
        assert_eq!(q.unix_ms_at(2_000), VIRTUAL_EPOCH_MS + 2);
    }

    #[test]
    fn remove_where_drops_one_servers_entries() {
        let mut q = Queue::new(true);
        q.defer(1, "a");
        q.at(3, 2, "b");
        q.remove_where(|e| e.server == 2);
        assert_eq!(q.pop_ready().map(|e| e.server), Some(1));
        q.advance_to(3, Duration::ZERO);
        assert!(q.pop_ready().is_none());
    }
}
