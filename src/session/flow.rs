//! The method decision tables (§5.3) and the task functions (§5.4).
//!
//! A task function of the original is a coroutine that yields on I/O. Here it is a [`Step`]
//! saying what the running task waits for, and [`Session::resume_task`] is the code after each
//! yield. Every step ends in exactly one of: starting the next I/O operation ([`Op`]), or
//! [`Session::finish`], which resumes every waiter and lets the next task start. An outcome
//! that does not fit the step finishes the task with `"Error"` (D5): a session's queue never
//! stops.

use super::io::{Deferred, Io, Owner};
use super::lock::{LockOp, LEASE_LAPSED};
use super::retry::Attempt;
use super::save::{Loaded, SaveOp};
use super::task::{Kind, Slot, Waiter};
use super::{CallOutcome, CommandId, Data, Event, Reply, Response, Session, State, StoreResult};
use crate::value::Value;

/// What the running task is waiting for.
#[derive(Debug)]
pub(crate) enum Step {
    /// Not started yet (or between steps).
    Start,
    OpenLock,
    OpenLoad,
    /// The load failed; unlocking before answering with the load's error.
    OpenUnlock(Reply),
    ReadLoad,
    SaveWrite,
    CloseSave,
    /// Unlocking; holds the save's reply when there was a save.
    CloseUnlock(Option<Reply>),
    DestroySave,
    DestroyUnlock(Option<Reply>),
    LockRefresh {
        before: i64,
    },
    /// The attempts ran out: saving, then unlocking; holds the lock's reply.
    LockLostSave(Reply),
    LockLostUnlock(Reply),
}

impl Step {
    /// The step's name, for the internal-error message (its replies are not worth printing).
    fn name(&self) -> &'static str {
        match self {
            Step::Start => "Start",
            Step::OpenLock => "OpenLock",
            Step::OpenLoad => "OpenLoad",
            Step::OpenUnlock(_) => "OpenUnlock",
            Step::ReadLoad => "ReadLoad",
            Step::SaveWrite => "SaveWrite",
            Step::CloseSave => "CloseSave",
            Step::CloseUnlock(_) => "CloseUnlock",
            Step::DestroySave => "DestroySave",
            Step::DestroyUnlock(_) => "DestroyUnlock",
            Step::LockRefresh { .. } => "LockRefresh",
            Step::LockLostSave(_) => "LockLostSave",
            Step::LockLostUnlock(_) => "LockLostUnlock",
        }
    }
}

/// The running task's I/O operation.
#[derive(Debug)]
pub(crate) enum Op {
    Lock(LockOp),
    Unlock(Attempt),
    Load(Attempt),
    Save(SaveOp),
}

/// How an I/O operation ended.
#[derive(Debug)]
pub(crate) enum OpOutcome {
    Lock(LockOutcome),
    Unlock,
    Load(Result<Box<Loaded>, String>),
    Save(Result<(), String>),
}

impl OpOutcome {
    fn name(&self) -> &'static str {
        match self {
            OpOutcome::Lock(_) => "a lock's outcome",
            OpOutcome::Unlock => "an unlock's outcome",
            OpOutcome::Load(_) => "a load's outcome",
            OpOutcome::Save(_) => "a save's outcome",
        }
    }
}

#[derive(Debug)]
pub(crate) enum LockOutcome {
    /// With what the read sent in the same request answered, when one was
    /// ([`super::Config::load_with_lock`]).
    Success(Option<Box<StoreResult>>),
    Locked(String),
    /// A refresh found its entry gone (D22).
    Lapsed,
    Error(String),
}

/// What Close and Destroy answer (§5.4, D3): `"Saved"` after a save, the save's error when it
/// failed, `"Success"` when nothing was saved.
fn close_reply(saved: Option<Reply>) -> Reply {
    match saved {
        Some(reply) => reply,
        None => Reply::success(),
    }
}

pub(crate) fn save_reply(result: Result<(), String>) -> Reply {
    match result {
        Ok(()) => Reply::saved(),
        Err(message) => Reply::error(message),
    }
}

fn done(reply: Reply) -> CallOutcome {
    CallOutcome::Done {
        reply,
        reconcile: None,
    }
}

impl Session {
    // ---- §5.3: the method decision tables ----

    pub(crate) fn call_open(&mut self, io: &mut Io, template: Option<Value>) -> CallOutcome {
        if self.state == State::Destroyed {
            return done(Reply::state("Destroyed"));
        }
        if let Some(slot) = self.tasks.find_first(Kind::Open) {
            return self.join(io, slot, template);
        }
        if self.tasks.find_last(Kind::Destroy).is_some() {
            return done(Reply::state("Destroying"));
        }
        if self.state == State::Open && !self.tasks.pending(Kind::Close) {
            return CallOutcome::Done {
                reply: Reply::success(),
                reconcile: template,
            };
        }
        self.append_and_join(io, Kind::Open, template)
    }

    pub(crate) fn call_read(&mut self, io: &mut Io, template: Option<Value>) -> CallOutcome {
        // D6: the original reads (and overwrites Value) on a destroyed session.
        if self.state == State::Destroyed {
            return done(Reply::state("Destroyed"));
        }
        if let Some(slot) = self.tasks.find_first(Kind::Read) {
            return self.join(io, slot, template);
        }
        if self.state == State::Open && !self.tasks.pending(Kind::Close) {
            return done(Reply::state("Open"));
        }
        self.append_and_join(io, Kind::Read, template)
    }

    pub(crate) fn call_save(&mut self, io: &mut Io) -> CallOutcome {
        match self.state {
            State::Closed => return done(Reply::state("Closed")),
            State::Destroyed => return done(Reply::state("Destroyed")),
            State::Open => {}
        }
        if let Some(slot) = self.tasks.find_first(Kind::Save) {
            return self.join(io, slot, None);
        }
        if self.tasks.pending(Kind::Close) {
            return done(Reply::state("Closing"));
        }
        if self.tasks.pending(Kind::Destroy) {
            return done(Reply::state("Destroying"));
        }
        self.append_and_join(io, Kind::Save, None)
    }

    pub(crate) fn call_close(&mut self, io: &mut Io) -> CallOutcome {
        if self.state == State::Destroyed {
            return done(Reply::success());
        }
        if let Some(slot) = self.tasks.find_first(Kind::Close) {
            return self.join(io, slot, None);
        }
        if self.state == State::Closed && !self.tasks.pending(Kind::Open) {
            return done(Reply::success());
        }
        if let Some(slot) = self.tasks.find_first(Kind::Destroy) {
            return self.join(io, slot, None);
        }
        self.stop_timers(io);
        self.append_and_join(io, Kind::Close, None)
    }

    /// The module has already taken the session out of the cache.
    pub(crate) fn call_destroy(&mut self, io: &mut Io) -> CallOutcome {
        if self.state == State::Destroyed {
            return done(Reply::success());
        }
        self.stop_timers(io);
        match self.tasks.find_first(Kind::Destroy) {
            Some(slot) => self.join(io, slot, None),
            None => self.append_and_join(io, Kind::Destroy, None),
        }
    }

    /// Bind-to-close's part for one session that is not destroyed (§12).
    pub(crate) fn bind_to_close(&mut self, io: &mut Io) {
        self.stop_timers(io);
        if self.tasks.find_last(Kind::Destroy).is_none() {
            self.append(io, Kind::Destroy, None);
        }
    }

    fn join(&mut self, io: &mut Io, slot: Slot, template: Option<Value>) -> CallOutcome {
        let call = io.next_call();
        if self.tasks.join(slot, Waiter { call, template }) {
            CallOutcome::Pending(call)
        } else {
            done(Reply::error(
                "internal error: the task to join is gone".into(),
            ))
        }
    }

    pub(crate) fn append(&mut self, io: &mut Io, kind: Kind, waiter: Option<Waiter>) {
        if self.tasks.push_back(kind, waiter) {
            io.defer(Deferred::RunWorker(self.sid));
        }
    }

    fn append_and_join(&mut self, io: &mut Io, kind: Kind, template: Option<Value>) -> CallOutcome {
        let call = io.next_call();
        self.append(io, kind, Some(Waiter { call, template }));
        CallOutcome::Pending(call)
    }

    pub(crate) fn stop_timers(&mut self, io: &mut Io) {
        io.cancel_timer(self.save_timer.take());
        io.cancel_timer(self.lock.timer.take());
    }

    // ---- §5.4: the task functions ----

    /// The deferred worker: starts the next task, if nothing is running.
    pub(crate) fn run_worker(&mut self, io: &mut Io) {
        let Some(kind) = self.tasks.start_next() else {
            return;
        };
        match kind {
            Kind::Open => {
                self.tasks.set_step(Step::OpenLock);
                self.begin_lock(io, false);
            }
            Kind::Read => match self.state {
                State::Open => self.finish(io, Reply::state("Open")),
                State::Destroyed => self.finish(io, Reply::state("Destroyed")),
                State::Closed => {
                    self.tasks.set_step(Step::ReadLoad);
                    self.begin_load(io);
                }
            },
            Kind::Save => match self.state {
                State::Closed if self.lapsed => self.finish(io, Reply::error(LEASE_LAPSED.into())),
                State::Closed => self.finish(io, Reply::state("Closed")),
                State::Destroyed => self.finish(io, Reply::state("Destroyed")),
                State::Open => {
                    io.cancel_timer(self.save_timer.take());
                    // Callers who arrive from now on get a new task: their changes come
                    // after this snapshot.
                    self.tasks.end_running();
                    self.tasks.set_step(Step::SaveWrite);
                    self.begin_save(io);
                }
            },
            Kind::Close => {
                if self.state != State::Open {
                    return self.finish(io, Reply::success());
                }
                self.state = State::Closed;
                self.end_unwanted_read(io);
                self.save_then_unlock(io, Step::CloseSave, Step::CloseUnlock(None));
            }
            Kind::Destroy => match self.state {
                State::Destroyed => {
                    io.destroyed.push(self.sid);
                    self.finish(io, Reply::success());
                }
                State::Closed => {
                    self.state = State::Destroyed;
                    self.destroy_end(io, None);
                }
                State::Open => {
                    self.state = State::Destroyed;
                    self.end_unwanted_read(io);
                    self.save_then_unlock(io, Step::DestroySave, Step::DestroyUnlock(None));
                }
            },
            Kind::Lock => {
                if self.state != State::Open {
                    // Only an open session refreshes; a closed one must not re-take the lock.
                    return self.finish(io, Reply::success());
                }
                self.tasks.set_step(Step::LockRefresh {
                    before: self.attempts_remaining,
                });
                self.begin_lock(io, true);
            }
        }
    }

    /// `if SaveOnClose then Save() end; Unlock()`.
    fn save_then_unlock(&mut self, io: &mut Io, save: Step, unlock: Step) {
        if self.props.save_on_close {
            self.tasks.set_step(save);
            self.begin_save(io);
        } else {
            self.tasks.set_step(unlock);
            self.begin_unlock(io);
        }
    }

    /// The running task's function returns: resume its waiters (deferred: they see every
    /// event fired before this) and let the next task start.
    fn finish(&mut self, io: &mut Io, reply: Reply) {
        let (waiters, next) = self.tasks.finish();
        for waiter in waiters {
            io.emit(Event::CallDone {
                call: waiter.call,
                session: self.sid,
                reply: reply.clone(),
            });
        }
        if next {
            io.defer(Deferred::RunWorker(self.sid));
        }
    }

    /// The code after each yield of a task function.
    pub(crate) fn resume_task(&mut self, io: &mut Io, outcome: OpOutcome) {
        let Some(step) = self
            .tasks
            .running
            .as_mut()
            .map(|r| std::mem::replace(&mut r.step, Step::Start))
        else {
            return;
        };
        match (step, outcome) {
            (Step::OpenLock, OpOutcome::Lock(lock)) => match lock {
                LockOutcome::Success(got) => {
                    self.tasks.set_step(Step::OpenLoad);
                    match got {
                        // The load's first try went out with the lock's.
                        Some(got) => {
                            let attempt = Attempt {
                                tries: 1,
                                ..Attempt::default()
                            };
                            self.load_result(io, attempt, *got)
                        }
                        None => self.begin_load(io),
                    }
                }
                LockOutcome::Locked(holder) => self.finish(io, Reply::locked(holder)),
                LockOutcome::Error(message) => self.finish(io, Reply::error(message)),
                LockOutcome::Lapsed => {
                    let message = "the store answered a new acquisition with Lapsed".to_owned();
                    self.finish(io, Reply::error(message))
                }
            },
            (Step::OpenLoad, OpOutcome::Load(Ok(loaded))) => self.open_succeeded(io, *loaded),
            (Step::OpenLoad, OpOutcome::Load(Err(message))) => {
                self.tasks.set_step(Step::OpenUnlock(Reply::error(message)));
                self.begin_unlock(io);
            }
            (Step::OpenUnlock(reply), OpOutcome::Unlock) => self.finish(io, reply),
            (Step::ReadLoad, OpOutcome::Load(Ok(loaded))) => {
                self.install(io, *loaded);
                self.finish(io, Reply::success());
            }
            (Step::ReadLoad, OpOutcome::Load(Err(message))) => {
                self.finish(io, Reply::error(message))
            }
            (Step::SaveWrite, OpOutcome::Save(result)) => {
                if !self.closing_or_destroying() {
                    self.start_save_timer(io);
                }
                self.finish(io, save_reply(result));
            }
            (Step::CloseSave, OpOutcome::Save(result)) => {
                self.tasks
                    .set_step(Step::CloseUnlock(Some(save_reply(result))));
                self.begin_unlock(io);
            }
            (Step::CloseUnlock(saved), OpOutcome::Unlock) => {
                io.emit(Event::StateChanged {
                    session: self.sid,
                    state: State::Closed,
                });
                self.finish(io, close_reply(saved));
            }
            (Step::DestroySave, OpOutcome::Save(result)) => {
                self.tasks
                    .set_step(Step::DestroyUnlock(Some(save_reply(result))));
                self.begin_unlock(io);
            }
            (Step::DestroyUnlock(saved), OpOutcome::Unlock) => self.destroy_end(io, saved),
            (Step::LockRefresh { before }, OpOutcome::Lock(lock)) => {
                self.lock_refreshed(io, before, lock)
            }
            (Step::LockLostSave(reply), OpOutcome::Save(_)) => {
                self.tasks.set_step(Step::LockLostUnlock(reply));
                self.begin_unlock(io);
            }
            (Step::LockLostUnlock(reply), OpOutcome::Unlock) => {
                io.emit(Event::StateChanged {
                    session: self.sid,
                    state: State::Closed,
                });
                self.finish(io, reply);
            }
            (step, outcome) => {
                // D5: whatever went wrong, the callers get an answer and the queue goes on.
                let message = format!(
                    "internal error: task step {} cannot take {}",
                    step.name(),
                    outcome.name()
                );
                self.finish(io, Reply::error(message));
            }
        }
    }

    pub(crate) fn closing_or_destroying(&self) -> bool {
        self.tasks.pending(Kind::Close) || self.tasks.pending(Kind::Destroy)
    }

    /// OpenTask steps 3–7.
    fn open_succeeded(&mut self, io: &mut Io, loaded: Loaded) {
        self.state = State::Open;
        self.lapsed = false;
        if !self.closing_or_destroying() {
            self.start_save_timer(io);
            self.start_lock_timer(io);
        }
        self.install(io, loaded);
        if !self.process_queue.running && self.process_queue.connections > 0 {
            io.defer(Deferred::StartProcessQueue(self.sid));
        }
        // Handlers run before the callers resume (§5.4 step 7).
        io.emit(Event::StateChanged {
            session: self.sid,
            state: State::Open,
        });
        self.finish(io, Reply::success());
    }

    /// DestroyTask steps 2–5.
    fn destroy_end(&mut self, io: &mut Io, saved: Option<Reply>) {
        self.stop_timers(io);
        if let Some(shutdown) = &mut io.shutdown {
            let report = &mut shutdown.report;
            report.closed += 1;
            match &saved {
                Some(Reply {
                    response: Response::Saved,
                    ..
                }) => report.saved += 1,
                Some(Reply {
                    response: Response::Error,
                    data,
                }) => report.failed.push((
                    self.id.clone(),
                    match data {
                        Data::Text(message) => message.clone(),
                        _ => String::new(),
                    },
                )),
                _ => {}
            }
        }
        io.emit(Event::StateChanged {
            session: self.sid,
            state: State::Destroyed,
        });
        io.emit(Event::DisconnectAll { session: self.sid });
        self.process_queue.connections = 0;
        io.destroyed.push(self.sid);
        self.finish(io, close_reply(saved));
    }

    /// LockTask steps 2–5.
    fn lock_refreshed(&mut self, io: &mut Io, before: i64, lock: LockOutcome) {
        let reply = match lock {
            LockOutcome::Success(_) => Reply::success(),
            LockOutcome::Locked(holder) => {
                return self.lose_lock_now(io, before, Reply::locked(holder))
            }
            LockOutcome::Lapsed => {
                return self.lose_lock_now(io, before, Reply::error(LEASE_LAPSED.into()))
            }
            LockOutcome::Error(message) => {
                self.attempts_remaining = self.attempts_remaining.saturating_sub(1);
                Reply::error(message)
            }
        };
        if self.attempts_remaining != before {
            io.emit(Event::AttemptsChanged {
                session: self.sid,
                remaining: self.attempts_remaining,
            });
        }
        if self.attempts_remaining > 0 {
            if !self.closing_or_destroying() {
                self.start_lock_timer(io);
            }
            return self.finish(io, reply);
        }
        // The lock is lost: close, saving if asked to.
        self.state = State::Closed;
        self.stop_timers(io);
        self.end_unwanted_read(io);
        self.save_then_unlock(
            io,
            Step::LockLostSave(reply.clone()),
            Step::LockLostUnlock(reply),
        );
    }

    /// D7: a refresh found another holder; D22: it found its entry gone (`reply` says which).
    /// The data may belong to someone else now: close at once, without saving and without
    /// unlocking (the entry is not ours). After a lapse, `Saved` reports the skipped
    /// save-on-close, and saves already queued answer the lapse.
    fn lose_lock_now(&mut self, io: &mut Io, before: i64, reply: Reply) {
        self.attempts_remaining = 0;
        if before != 0 {
            io.emit(Event::AttemptsChanged {
                session: self.sid,
                remaining: 0,
            });
        }
        self.state = State::Closed;
        self.stop_timers(io);
        self.end_unwanted_read(io);
        self.lock.lease_end = None;
        self.lapsed = reply.response == Response::Error;
        if self.lapsed && self.props.save_on_close {
            io.emit(Event::Saved {
                session: self.sid,
                response: Response::Error,
                data: Data::Text(LEASE_LAPSED.into()),
                wrote: false,
            });
        }
        io.emit(Event::StateChanged {
            session: self.sid,
            state: State::Closed,
        });
        self.finish(io, reply);
    }

    // ---- routing I/O back to its owner ----

    pub(crate) fn on_result(
        &mut self,
        io: &mut Io,
        owner: Owner,
        command: CommandId,
        result: StoreResult,
    ) {
        // A store's answer reaches the core in a host turn of its own (the host waited for it),
        // so a save that finished without a store call before it no longer shares a turn with
        // the next save: that one need not wait for a timer turn (`begin_save`). A handler that
        // saves on every `Saved` makes no store call between its saves, so it still waits.
        self.save_finished = None;
        match owner {
            Owner::Task => self.on_task_result(io, command, result),
            Owner::Free(call) => self.on_free_result(io, call, command, result),
            Owner::ProcessQueue => self.on_process_queue_result(io, command, result),
        }
    }

    fn on_task_result(&mut self, io: &mut Io, command: CommandId, result: StoreResult) {
        match self.op.take() {
            Some(Op::Lock(op)) if op.attempt.is_current(command) => {
                self.lock_result(io, op, result)
            }
            Some(Op::Unlock(attempt)) if attempt.is_current(command) => {
                self.unlock_result(io, attempt, result)
            }
            Some(Op::Load(attempt)) if attempt.is_current(command) => {
                self.load_result(io, attempt, result)
            }
            Some(Op::Save(op)) if op.is_current(command) => self.save_result(io, op, result),
            // A stale command: its try was given up on already.
            other => self.op = other,
        }
    }

    /// The running operation's own timer fired.
    pub(crate) fn on_task_wake(&mut self, io: &mut Io) {
        match self.op.take() {
            Some(Op::Lock(mut op)) if op.attempt.command.is_none() => {
                op.attempt.wake = None;
                self.lock_try(io, op);
            }
            Some(Op::Unlock(mut attempt)) if attempt.command.is_none() => {
                attempt.wake = None;
                self.unlock_try(io, attempt);
            }
            Some(Op::Load(mut attempt)) if attempt.command.is_none() => {
                attempt.wake = None;
                self.load_try(io, attempt);
            }
            Some(Op::Save(op)) => self.save_wake(io, op),
            other => self.op = other,
        }
    }
}

/// `(response, data)` as `Saved` reports it, for tests and hosts that log.
impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.data {
            super::Data::None => write!(f, "{}", self.response.as_str()),
            super::Data::Value => write!(f, "{}, Value", self.response.as_str()),
            super::Data::Text(text) => write!(f, "{}, {text}", self.response.as_str()),
        }
    }
}
