//! The outbox every session writes into: commands for the host, events, deferred work, the
//! commands in flight with their deadlines, and the timer set. Sessions borrow it while the
//! module holds the sessions, so one session's step never needs the module.

use super::retry::{Attempt, Rng};
use super::{CallId, Command, CommandId, Config, Event, SessionId, ShutdownReport};
use std::collections::{BTreeMap, VecDeque};

/// A timer's place in the set: `(deadline, sequence)`, unique, ordered by deadline.
pub(crate) type TimerKey = (u64, u64);

/// What a timer wakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerWhat {
    /// The auto-save timer (§7.3).
    Save,
    /// The lock refresh timer (§8.3).
    Lock,
    /// The running task's own wait: a retry backoff, a `SaveDelay` wait or the snapshot
    /// deadline.
    TaskOp,
    /// A `Queue`/`Remove` call's retry backoff.
    FreeOp(CallId),
    /// The queue-reading loop's backoff (D10).
    ProcessQueue,
    /// A command's deadline.
    Command(CommandId),
}

#[derive(Debug)]
pub(crate) struct Timer {
    pub session: SessionId,
    pub what: TimerWhat,
}

/// Who is waiting for a command's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The session's running task.
    Task,
    /// A `Queue` or `Remove` call.
    Free(CallId),
    /// The queue-reading loop.
    ProcessQueue,
}

#[derive(Debug)]
pub(crate) struct InFlight {
    pub session: SessionId,
    pub owner: Owner,
    pub timer: TimerKey,
    pub name: &'static str,
    pub timeout_ms: u64,
}

/// Work the original starts with `task.defer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deferred {
    /// The task manager's worker: start the session's next task.
    RunWorker(SessionId),
    /// The ProcessQueue loop (after an open, or `Connected(true)`).
    StartProcessQueue(SessionId),
}

/// Bind-to-close once it has started (D18): what it has done so far, and the deadline of the
/// round under way (`None` once every session it covers is destroyed: the sessions made
/// since then work without one until a later call starts the next round).
#[derive(Debug)]
pub(crate) struct Shutdown {
    pub deadline: Option<u64>,
    pub report: ShutdownReport,
}

/// During shutdown, a retry goes out only with at least this much time left before the
/// deadline, and waits at most half of what is left.
const SHUTDOWN_MIN_RETRY_MS: u64 = 500;

pub(crate) struct Io {
    /// The latest time any input carried.
    pub now: u64,
    pub config: Config,
    pub rng: Rng,
    pub commands: VecDeque<(CommandId, Command)>,
    pub events: VecDeque<Event>,
    pub deferred: VecDeque<Deferred>,
    /// Sessions whose DestroyTask finished since the module last looked.
    pub destroyed: Vec<SessionId>,
    /// Bind-to-close, once it has started.
    pub shutdown: Option<Shutdown>,
    /// The key of the sessions' payload digests (D16), from the seed but not from `rng`, so
    /// taking it changes no retry jitter.
    pub digest_key: (u64, u64),
    /// How many times the host has run the due timers ([`super::Module::handle_timeout`]):
    /// the one boundary between host turns the core can see.
    pub turn: u64,
    in_flight: BTreeMap<CommandId, InFlight>,
    timers: BTreeMap<TimerKey, Timer>,
    next_command: u64,
    next_call: u64,
    next_timer: u64,
}

impl Io {
    pub fn new(config: Config) -> Io {
        let mut keys = Rng::new(config.seed ^ 0x5eed_d16e_57d1_6e57);
        let digest_key = (keys.next_u64(), keys.next_u64());
        Io {
            now: 0,
            rng: Rng::new(config.seed),
            config,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            deferred: VecDeque::new(),
            destroyed: Vec::new(),
            shutdown: None,
            digest_key,
            turn: 0,
            in_flight: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_command: 1,
            next_call: 1,
            next_timer: 0,
        }
    }

    /// Time never runs backwards, whatever the host hands in.
    pub fn advance(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    pub fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    pub fn defer(&mut self, work: Deferred) {
        self.deferred.push_back(work);
    }

    pub fn next_call(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    /// Queues a command for the host with its deadline.
    pub fn send(&mut self, session: SessionId, owner: Owner, command: Command) -> CommandId {
        self.send_by(session, owner, command, None)
    }

    /// [`Io::send`], with the deadline no later than `by` (a time after now).
    pub fn send_by(
        &mut self,
        session: SessionId,
        owner: Owner,
        command: Command,
        by: Option<u64>,
    ) -> CommandId {
        let id = CommandId(self.next_command);
        self.next_command += 1;
        let timeout_ms = self
            .within_shutdown(self.timeout_for(&command))
            .min(by.map_or(u64::MAX, |by| by.saturating_sub(self.now)));
        let timer = self.set_timer(
            session,
            TimerWhat::Command(id),
            self.now.saturating_add(timeout_ms),
        );
        self.in_flight.insert(
            id,
            InFlight {
                session,
                owner,
                timer,
                name: command.name(),
                timeout_ms,
            },
        );
        self.commands.push_back((id, command));
        id
    }

    fn timeout_for(&self, command: &Command) -> u64 {
        match command {
            Command::DataGet { .. } | Command::DataSet { .. } | Command::DataRemove { .. } => {
                self.config.data_timeout_ms
            }
            Command::QueueRead { wait_s, .. } => {
                super::secs_to_ms(*wait_s).saturating_add(self.config.queue_read_grace_ms)
            }
            // A lock that also loads waits as long as the load would.
            Command::LockAcquire { load: Some(_), .. } => self
                .config
                .data_timeout_ms
                .max(self.config.memory_timeout_ms),
            Command::LockAcquire { .. }
            | Command::LockRelease { .. }
            | Command::QueueAdd { .. }
            | Command::QueueRemove { .. } => self.config.memory_timeout_ms,
        }
    }

    /// Milliseconds left before the shutdown deadline, while a round of bind-to-close runs.
    pub fn shutdown_left(&self) -> Option<u64> {
        self.shutdown
            .as_ref()
            .and_then(|s| s.deadline)
            .map(|deadline| deadline.saturating_sub(self.now))
    }

    /// The shutdown deadline has passed: no store call may go out any more. A call sent now
    /// could land after the session gave up on it, and an unlock sent after such a write would
    /// let another server in before it lands; so from here every step fails at once and the
    /// lock is left to expire, as after a crash (D7).
    pub fn shutdown_over(&self) -> bool {
        self.shutdown_left() == Some(0)
    }

    /// A wait of `ms`, cut to end by the shutdown deadline (D18).
    pub fn within_shutdown(&self, ms: u64) -> u64 {
        self.shutdown_left().map_or(ms, |left| ms.min(left))
    }

    /// After a failed try: the wait before the next one ([`Attempt::next_delay`]); during
    /// shutdown, none when too little time is left and at most half of what is (D18).
    pub fn retry_delay(&mut self, attempt: &mut Attempt, retryable: bool) -> Option<u64> {
        let delay = attempt.next_delay(&mut self.rng, retryable)?;
        match self.shutdown_left() {
            None => Some(delay),
            Some(left) if left < SHUTDOWN_MIN_RETRY_MS => None,
            Some(left) => Some(delay.min(left / 2)),
        }
    }

    /// Removes a command from the in-flight set (its result arrived or its deadline passed).
    pub fn take_in_flight(&mut self, id: CommandId) -> Option<InFlight> {
        let flight = self.in_flight.remove(&id)?;
        self.timers.remove(&flight.timer);
        Some(flight)
    }

    pub fn set_timer(&mut self, session: SessionId, what: TimerWhat, at: u64) -> TimerKey {
        let key = (at, self.next_timer);
        self.next_timer += 1;
        self.timers.insert(key, Timer { session, what });
        key
    }

    /// A timer in `at` milliseconds from now.
    pub fn set_timer_in(&mut self, session: SessionId, what: TimerWhat, delay_ms: u64) -> TimerKey {
        let at = self.now.saturating_add(delay_ms);
        self.set_timer(session, what, at)
    }

    pub fn cancel_timer(&mut self, key: Option<TimerKey>) {
        if let Some(key) = key {
            self.timers.remove(&key);
        }
    }

    /// The earliest timer that is due at `now`, removed from the set.
    pub fn pop_due_timer(&mut self) -> Option<(SessionId, TimerWhat)> {
        let (&key, _) = self.timers.iter().next()?;
        if key.0 > self.now {
            return None;
        }
        let timer = self.timers.remove(&key)?;
        Some((timer.session, timer.what))
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.keys().next().map(|key| key.0)
    }
}
