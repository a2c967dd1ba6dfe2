//! Cross-server messages (§11): `Queue`, `Remove` and the ProcessQueue loop.
//!
//! `Queue` and `Remove` do not look at the state and do not go through the task queue: each is
//! its own 3-try call, running beside whatever the session is doing. The loop long-polls the
//! session's queue while the session is open and someone listens, and (D10) backs off
//! exponentially, with jitter, after failed reads.

use super::io::{Io, Owner, TimerKey, TimerWhat};
use super::lock::unexpected;
use super::retry::{queue_backoff, Attempt};
use super::{CallId, CallOutcome, Command, CommandId, Event, Reply, Session, State, StoreResult};
use crate::value::Value;

/// `Queue()`'s default expiration: 7 days.
pub const DEFAULT_EXPIRATION_S: f64 = 604_800.0;
/// What one read of the loop asks for.
pub const READ_COUNT: u32 = 100;
pub const READ_WAIT_S: f64 = 30.0;

/// A session's `Queue` and `Remove` calls in flight, by call. A few at a time, and only ever
/// looked up by call: a list, not a map (each map type costs the JS wasm several KiB).
#[derive(Debug, Default)]
pub(crate) struct FreeOps(Vec<(CallId, FreeOp)>);

impl FreeOps {
    fn insert(&mut self, call: CallId, op: FreeOp) {
        self.0.push((call, op));
    }

    fn remove(&mut self, call: &CallId) -> Option<FreeOp> {
        let at = self.0.iter().position(|(c, _)| c == call)?;
        Some(self.0.swap_remove(at).1)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `Queue` or `Remove` call in flight.
#[derive(Debug)]
pub(crate) struct FreeOp {
    kind: FreeKind,
    attempt: Attempt,
}

#[derive(Debug)]
enum FreeKind {
    Add {
        value: Value,
        expiration: f64,
        priority: f64,
    },
    Remove {
        read_id: String,
    },
}

/// The ProcessQueue loop's state (`ProcessingQueue` and the signal's connection count).
#[derive(Debug, Default)]
pub(crate) struct ProcessQueueLoop {
    pub connections: usize,
    /// A loop is running (reading, or backing off).
    pub running: bool,
    read: Option<CommandId>,
    /// The host was told `read` is no longer wanted ([`Event::ReadUnwanted`]).
    read_unwanted: bool,
    wake: Option<TimerKey>,
    failures: u32,
}

impl ProcessQueueLoop {
    pub fn is_busy(&self) -> bool {
        self.read.is_some() || self.wake.is_some()
    }
}

impl Session {
    pub(crate) fn call_queue(
        &mut self,
        io: &mut Io,
        value: Value,
        expiration: Option<f64>,
        priority: Option<f64>,
    ) -> CallOutcome {
        let expiration = expiration.unwrap_or(DEFAULT_EXPIRATION_S);
        let priority = priority.unwrap_or(0.0);
        // What the MemoryStore would refuse for good (D19) is answered at once, with its words;
        // a NaN never reaches a command.
        let refusal = value
            .check_json_keys("value")
            .map_err(|e| e.to_string())
            .and_then(|()| {
                crate::emulator::QueueItem::new(value.clone())
                    .and_then(|_| crate::emulator::expiration_ms(expiration))
                    .and_then(|_| crate::emulator::check_priority(priority))
                    .map_err(|e| e.message)
            });
        if let Err(message) = refusal {
            return CallOutcome::Done {
                reply: super::Reply::error(message),
                reconcile: None,
            };
        }
        let call = io.next_call();
        let kind = FreeKind::Add {
            value,
            expiration,
            priority,
        };
        self.free_try(
            io,
            call,
            FreeOp {
                kind,
                attempt: Attempt::default(),
            },
        );
        CallOutcome::Pending(call)
    }

    pub(crate) fn call_remove(&mut self, io: &mut Io, read_id: String) -> CallOutcome {
        let call = io.next_call();
        self.free_try(
            io,
            call,
            FreeOp {
                kind: FreeKind::Remove { read_id },
                attempt: Attempt::default(),
            },
        );
        CallOutcome::Pending(call)
    }

    fn free_try(&mut self, io: &mut Io, call: CallId, mut op: FreeOp) {
        if io.shutdown_over() {
            let message = super::save::SHUTDOWN_DEADLINE.into();
            return self.free_done(io, call, Reply::error(message));
        }
        let command = match &op.kind {
            FreeKind::Add {
                value,
                expiration,
                priority,
            } => Command::QueueAdd {
                queue: self.id.clone(),
                value: value.clone(),
                expiration: *expiration,
                priority: *priority,
            },
            FreeKind::Remove { read_id } => Command::QueueRemove {
                queue: self.id.clone(),
                read_id: read_id.clone(),
            },
        };
        op.attempt.tries += 1;
        op.attempt.command = Some(io.send(self.sid, Owner::Free(call), command));
        self.free_ops.insert(call, op);
    }

    pub(crate) fn on_free_result(
        &mut self,
        io: &mut Io,
        call: CallId,
        command: CommandId,
        result: StoreResult,
    ) {
        let Some(mut op) = self.free_ops.remove(&call) else {
            return;
        };
        if !op.attempt.is_current(command) {
            self.free_ops.insert(call, op);
            return;
        }
        let message = match result {
            StoreResult::Done => return self.free_done(io, call, Reply::success()),
            StoreResult::Error(message) => (message, true),
            StoreResult::Invalid(message) => (message, false),
            other => (
                unexpected(
                    match op.kind {
                        FreeKind::Add { .. } => "QueueAdd",
                        FreeKind::Remove { .. } => "QueueRemove",
                    },
                    &other,
                ),
                true,
            ),
        };
        let (message, retryable) = message;
        match io.retry_delay(&mut op.attempt, retryable) {
            Some(delay) => {
                op.attempt.wake = Some(io.set_timer_in(self.sid, TimerWhat::FreeOp(call), delay));
                self.free_ops.insert(call, op);
            }
            None => self.free_done(io, call, Reply::error(message)),
        }
    }

    pub(crate) fn on_free_wake(&mut self, io: &mut Io, call: CallId) {
        let Some(mut op) = self.free_ops.remove(&call) else {
            return;
        };
        if op.attempt.command.is_some() {
            self.free_ops.insert(call, op);
            return;
        }
        op.attempt.wake = None;
        self.free_try(io, call, op);
    }

    fn free_done(&mut self, io: &mut Io, call: CallId, reply: Reply) {
        io.emit(Event::CallDone {
            call,
            session: self.sid,
            reply,
        });
    }

    // ---- the ProcessQueue loop (§11.4) ----

    fn queue_wanted(&self) -> bool {
        self.state == State::Open && self.process_queue.connections > 0
    }

    /// `process_queue(session)`: starts the loop if the session is open, someone listens and
    /// no loop runs.
    pub(crate) fn start_process_queue(&mut self, io: &mut Io) {
        if !self.queue_wanted() || self.process_queue.running {
            return;
        }
        self.process_queue.running = true;
        self.read_queue(io);
    }

    fn read_queue(&mut self, io: &mut Io) {
        let command = Command::QueueRead {
            queue: self.id.clone(),
            count: READ_COUNT,
            all_or_nothing: false,
            wait_s: READ_WAIT_S,
        };
        self.process_queue.read = Some(io.send(self.sid, Owner::ProcessQueue, command));
        self.process_queue.read_unwanted = false;
    }

    /// Tells the host that the loop's read in flight is no longer wanted, once: the session
    /// left `Open` or lost its last listener. Its result still ends the loop as before.
    pub(crate) fn end_unwanted_read(&mut self, io: &mut Io) {
        let Some(command) = self.process_queue.read else {
            return;
        };
        if self.queue_wanted() || self.process_queue.read_unwanted {
            return;
        }
        self.process_queue.read_unwanted = true;
        io.emit(Event::ReadUnwanted {
            session: self.sid,
            command,
        });
    }

    pub(crate) fn on_process_queue_result(
        &mut self,
        io: &mut Io,
        command: CommandId,
        result: StoreResult,
    ) {
        if self.process_queue.read != Some(command) {
            return;
        }
        self.process_queue.read = None;
        if !self.queue_wanted() {
            self.process_queue.running = false;
            return;
        }
        match result {
            StoreResult::Read { values, read_id } => {
                self.process_queue.failures = 0;
                if let Some(id) = read_id {
                    io.emit(Event::ProcessQueue {
                        session: self.sid,
                        id,
                        values,
                    });
                }
                self.read_queue(io);
            }
            _ => {
                // D10: back off instead of hammering a failing queue.
                self.process_queue.failures = self.process_queue.failures.saturating_add(1);
                let delay = queue_backoff(&mut io.rng, self.process_queue.failures);
                self.process_queue.wake =
                    Some(io.set_timer_in(self.sid, TimerWhat::ProcessQueue, delay));
            }
        }
    }

    pub(crate) fn on_process_queue_wake(&mut self, io: &mut Io) {
        self.process_queue.wake = None;
        if !self.queue_wanted() {
            self.process_queue.running = false;
            return;
        }
        self.read_queue(io);
    }
}
