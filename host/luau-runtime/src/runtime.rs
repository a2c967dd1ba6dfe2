//! One run: the servers, the emulator they share, the clock, and the loop that resumes threads.
//!
//! Every server is its own Luau VM with its own `game`, running one script, and is one emulator
//! `client` (its index + 1), so it has its own DataStore caches and budgets. All servers share
//! the emulator and the scheduler's clock.
//!
//! A server lives while its script's main chunk runs. Once the chunk has returned and nothing
//! is ready at that instant (so what it deferred has run), or on SIGTERM or SIGINT,
//! `runtime.shutdown()`, `--stop-after`, or when nothing anywhere can ever run again, the
//! server shuts down as Roblox does: its `BindToClose` callbacks run, each on its own
//! thread, while its other threads keep running; once they have all returned, or 30 s have
//! passed on the clock, the server closes and none of its threads runs again. The run ends when
//! every server has closed.
//!
//! An error that no `pcall` catches, in any thread of any server, ends the run at once with
//! exit code 1 (Roblox would print it and carry on; a test runtime must not), unless the
//! server's script said it expects such errors (`runtime.tolerateErrors`): those are printed
//! as Roblox prints them, counted, and the run carries on.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use mlua::thread::ThreadStatus;
use mlua::{Function, Lua, MultiValue, Thread, Value as LuaValue};

use datastore_module::emulator::faults::Rng;
use datastore_module::emulator::{BudgetConfig, Config, Emulator};

use crate::hostile::Hostile;
use crate::scheduler::{secs_to_us, Entry, Queue};
use crate::{server, signals};

/// How long `BindToClose` callbacks may run before the server closes anyway.
pub const CLOSE_CAP_US: u64 = 30_000_000;

/// How long a real-time run sleeps at most before looking at signals again.
const MAX_SLEEP: Duration = Duration::from_millis(50);

/// What the command line asked for.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// One script per server.
    pub scripts: Vec<PathBuf>,
    pub virtual_time: bool,
    pub seed: u64,
    pub faults: Option<String>,
    pub budgets: bool,
    pub players: u32,
    pub stop_after: Option<f64>,
    /// No `wasm` global: scripts run as on a Luau VM without a wasm host (Roblox), and the
    /// module falls back to its core translated into Luau (issue 13).
    pub no_wasm: bool,
    /// `--model`: Roblox models (`.rbxm`) whose instances every server has in `ServerStorage`.
    pub models: Vec<PathBuf>,
    /// `--native`: which chunks are compiled to machine code.
    pub native: crate::native::Native,
}

/// What a waiting thread gets when it is resumed.
pub enum Resume {
    Values(MultiValue),
    /// `task.wait`: the seconds since it started waiting.
    Elapsed {
        since_us: u64,
    },
}

pub type Pending = (Thread, Resume);

pub enum Phase {
    Running {
        main: Thread,
    },
    Closing {
        deadline_us: u64,
        threads: Vec<Thread>,
    },
    Closed,
}

/// Luau functions of a server's prelude that Rust calls.
#[derive(Clone)]
pub struct Ctors {
    /// `(created, updated, version, userIds, metadata) -> DataStoreKeyInfo`
    pub key_info: Function,
    /// `(f, ...) -> true, ... | false, message`: runs a transform without raising.
    pub protect: Function,
}

pub struct Server {
    pub lua: Lua,
    /// Prefix of its output lines when a run has several servers.
    pub label: String,
    pub phase: Phase,
    pub close_callbacks: Vec<Function>,
    pub ctors: Option<Ctors>,
    /// Uncaught errors whose text contains one of these carry on (`runtime.tolerateErrors`).
    pub tolerate: Vec<String>,
    /// How many uncaught errors were tolerated.
    pub tolerated: u64,
}

pub struct Runtime {
    pub options: Options,
    pub queue: RefCell<Queue<Pending>>,
    pub emulator: RefCell<Emulator>,
    /// The hostile store's dice (`--faults hang=…,garbage=…`).
    pub hostile: RefCell<Hostile>,
    /// Draws GUIDs and seeds each wasm instance's `random_fill`.
    pub rng: RefCell<Rng>,
    pub servers: RefCell<Vec<Server>>,
    failure: RefCell<Option<String>>,
    stopped: Cell<bool>,
}

impl Runtime {
    pub fn new(options: Options) -> Result<Rc<Runtime>, String> {
        let queue = Queue::new(options.virtual_time);
        let faults = match &options.faults {
            Some(spec) => crate::faults::parse(spec, queue.unix_ms_at(0))?,
            None => Default::default(),
        };
        let mut emulator = Emulator::new(Config {
            seed: options.seed,
            faults: faults.store,
            budget: options.budgets.then(BudgetConfig::default),
            ..Config::default()
        });
        for client in 1..=options.scripts.len() as u32 {
            emulator.set_players(client, options.players);
        }
        Ok(Rc::new(Runtime {
            rng: RefCell::new(Rng::new(options.seed ^ 0x6C75_6175_2D72_7400)),
            hostile: RefCell::new(Hostile::new(faults.hostile, options.seed)),
            options,
            queue: RefCell::new(queue),
            emulator: RefCell::new(emulator),
            servers: RefCell::new(Vec::new()),
            failure: RefCell::new(None),
            stopped: Cell::new(false),
        }))
    }

    pub fn now_us(&self) -> u64 {
        self.queue.borrow().now_us()
    }

    pub fn unix_ms(&self) -> u64 {
        self.queue.borrow().unix_ms()
    }

    /// Replaces the run's fault injection from now on (`runtime.setFaults`): outage windows are
    /// still counted from the start of the run, and counters carry on.
    pub fn set_faults(&self, spec: &str) -> Result<(), String> {
        let faults = crate::faults::parse(spec, self.queue.borrow().unix_ms_at(0))?;
        self.emulator.borrow_mut().set_faults(faults.store);
        self.hostile.borrow_mut().set_config(faults.hostile);
        Ok(())
    }

    pub fn is_closed(&self, server: usize) -> bool {
        matches!(self.servers.borrow()[server].phase, Phase::Closed)
    }

    /// Resumes `thread` after `delay_us` on the clock (0: after what is already due).
    pub fn resume_after(&self, server: usize, thread: Thread, delay_us: u64, resume: Resume) {
        let mut queue = self.queue.borrow_mut();
        let due = queue.now_us().saturating_add(delay_us);
        queue.at(due, server, (thread, resume));
    }

    pub fn defer(&self, server: usize, thread: Thread, args: MultiValue) {
        self.queue
            .borrow_mut()
            .defer(server, (thread, Resume::Values(args)));
    }

    /// Forgets every pending resumption of `thread` (`task.cancel`).
    pub fn cancel(&self, thread: &Thread) {
        let ptr = thread.to_pointer();
        self.queue
            .borrow_mut()
            .remove_where(|e| e.what.0.to_pointer() == ptr);
    }

    /// Resumes a thread now. An uncaught error ends the run (see the module docs).
    pub fn resume(&self, server: usize, thread: &Thread, args: MultiValue) {
        if self.is_closed(server) || self.failure.borrow().is_some() {
            return;
        }
        if let Err(e) = thread.resume::<MultiValue>(args) {
            self.fail(server, &e);
        }
    }

    fn resume_entry(&self, entry: Entry<Pending>) {
        let (thread, resume) = entry.what;
        // A thread that someone else resumed or closed in the meantime is not ours to run.
        if thread.status() != ThreadStatus::Resumable {
            return;
        }
        let args = match resume {
            Resume::Values(values) => values,
            Resume::Elapsed { since_us } => {
                let elapsed = self.now_us().saturating_sub(since_us) as f64 / 1e6;
                MultiValue::from_vec(vec![LuaValue::Number(elapsed)])
            }
        };
        self.resume(entry.server, &thread, args);
    }

    /// Records the first uncaught error; the loop stops at its next step. An error the server
    /// tolerates is printed and counted instead.
    pub fn fail(&self, server: usize, error: &mlua::Error) {
        let text = describe(error);
        {
            let mut servers = self.servers.borrow_mut();
            let s = &mut servers[server];
            if s.tolerate.iter().any(|t| text.contains(t.as_str())) {
                s.tolerated += 1;
                let first = text.lines().next().unwrap_or_default();
                eprintln!("{}{first} (tolerated)", s.label);
                return;
            }
        }
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            let label = self.servers.borrow()[server].label.clone();
            *failure = Some(format!("{label}{text}"));
        }
    }

    /// Starts shutting `server` down: its `BindToClose` callbacks start, each on its own thread.
    pub fn begin_shutdown(&self, server: usize) {
        let (lua, callbacks) = {
            let mut servers = self.servers.borrow_mut();
            let s = &mut servers[server];
            if !matches!(s.phase, Phase::Running { .. }) {
                return;
            }
            s.phase = Phase::Closing {
                deadline_us: self.now_us().saturating_add(CLOSE_CAP_US),
                threads: Vec::new(),
            };
            (s.lua.clone(), s.close_callbacks.clone())
        };
        for callback in callbacks {
            let thread = match lua.create_thread(callback) {
                Ok(thread) => thread,
                Err(e) => return self.fail(server, &e),
            };
            if let Phase::Closing { threads, .. } = &mut self.servers.borrow_mut()[server].phase {
                threads.push(thread.clone());
            }
            self.resume(server, &thread, MultiValue::new());
        }
    }

    /// Closes a server at once: none of its threads runs again.
    pub fn close(&self, server: usize) {
        self.servers.borrow_mut()[server].phase = Phase::Closed;
        self.queue.borrow_mut().remove_where(|e| e.server == server);
    }

    /// A finished main chunk starts a shutdown; finished (or overdue) `BindToClose` callbacks
    /// close their server. Called only once nothing is ready at the current time, so what a
    /// script deferred before returning runs before its shutdown starts.
    fn update_phases(&self) {
        let now = self.now_us();
        let count = self.servers.borrow().len();
        for server in 0..count {
            let (shut, close) = match &self.servers.borrow()[server].phase {
                Phase::Running { main } => (
                    matches!(main.status(), ThreadStatus::Finished | ThreadStatus::Error),
                    false,
                ),
                Phase::Closing {
                    deadline_us,
                    threads,
                } => {
                    let done = threads.iter().all(|t| {
                        matches!(t.status(), ThreadStatus::Finished | ThreadStatus::Error)
                    });
                    if !done && now >= *deadline_us {
                        let label = &self.servers.borrow()[server].label;
                        eprintln!("{label}warn: BindToClose callbacks still running after 30 s; the server closes without them");
                    }
                    (false, done || now >= *deadline_us)
                }
                Phase::Closed => (false, false),
            };
            if shut {
                self.begin_shutdown(server);
            }
            if close {
                self.close(server);
            }
        }
    }

    fn shutdown_all(&self) {
        let count = self.servers.borrow().len();
        for server in 0..count {
            self.begin_shutdown(server);
        }
    }

    /// Loads every script and runs until every server has closed. Returns the exit code.
    pub fn run(self: &Rc<Self>) -> i32 {
        for (index, script) in self.options.scripts.iter().enumerate() {
            if let Err(message) = server::start(self, index, script) {
                eprintln!("{message}");
                return 1;
            }
        }
        let stop_at = self.options.stop_after.map(secs_to_us);
        loop {
            if let Some(message) = self.failure.borrow().as_ref() {
                eprintln!("{message}");
                // A run without --seed drew its own: this is how to run it again.
                eprintln!("seed: {}", self.options.seed);
                return 1;
            }
            let stop_due = stop_at.is_some_and(|at| self.now_us() >= at);
            if signals::take() || (stop_due && !self.stopped.get()) {
                self.stopped.set(true);
                self.shutdown_all();
            }
            let ready = self.queue.borrow_mut().pop_ready();
            if let Some(entry) = ready {
                self.resume_entry(entry);
                continue;
            }
            self.update_phases();
            if self.failure.borrow().is_some() {
                continue;
            }
            let servers = self.servers.borrow();
            if servers.iter().all(|s| matches!(s.phase, Phase::Closed)) {
                return 0;
            }
            let deadlines = servers.iter().filter_map(|s| match s.phase {
                Phase::Closing { deadline_us, .. } => Some(deadline_us),
                _ => None,
            });
            let stop = stop_at.filter(|_| !self.stopped.get());
            let timer = self.queue.borrow().next_due_us();
            let anything_waits = timer.is_some();
            let next = deadlines.chain(stop).chain(timer).min();
            let running: Vec<usize> = (0..servers.len())
                .filter(|i| !matches!(servers[*i].phase, Phase::Closed))
                .collect();
            drop(servers);
            match next {
                Some(at) if anything_waits => {
                    self.queue.borrow_mut().advance_to(at, MAX_SLEEP);
                }
                // Nothing can ever run again: the callbacks of closing servers cannot finish,
                // and running servers can only shut down.
                _ => {
                    let any_running = running
                        .iter()
                        .any(|i| matches!(self.servers.borrow()[*i].phase, Phase::Running { .. }));
                    if any_running {
                        self.shutdown_all();
                    } else {
                        for server in running {
                            self.close(server);
                        }
                    }
                }
            }
        }
    }
}

/// An uncaught error as the runtime prints it: `file:line: message` and the traceback. Errors
/// raised by the runtime itself carry no position (like the engine's), so the position is taken
/// from the innermost frame of the script's own code.
pub fn describe(error: &mlua::Error) -> String {
    let text = match error {
        mlua::Error::RuntimeError(text) => text.clone(),
        mlua::Error::SyntaxError { message, .. } => return format!("error: {message}"),
        mlua::Error::CallbackError { traceback, cause } => format!("{cause}\n{traceback}"),
        other => other.to_string(),
    };
    let (message, traceback) = match text.find("\nstack traceback:") {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text.as_str(), ""),
    };
    // mlua's `require` wrapper is Luau code of its own; its position says nothing to a user.
    let message = match message.strip_prefix("__mlua_require:") {
        Some(rest) => rest.split_once(": ").map_or(message, |(_, m)| m),
        None => message,
    };
    let has_position = message
        .split(": ")
        .next()
        .and_then(|head| head.rsplit_once(':'))
        .is_some_and(|(file, line)| !file.is_empty() && line.parse::<u32>().is_ok());
    let position = traceback
        .lines()
        .map(str::trim)
        .filter(|l| {
            !["[C]", "[runtime]", "__mlua"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .find_map(|l| {
            let (file, rest) = l.split_once(':')?;
            let line = rest.split(':').next()?;
            line.parse::<u32>().ok().map(|n| format!("{file}:{n}"))
        });
    match position {
        Some(position) if !has_position => format!("error: {position}: {message}\n{traceback}"),
        _ => format!("error: {message}\n{traceback}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_without_a_position_takes_the_innermost_script_frame() {
        let e = mlua::Error::RuntimeError(
            "502: API Services rejected request\nstack traceback:\n\t[C]: in function 'error'\n\t[runtime]:12: in function 'check'\n\ttests/a.luau:7: in function <tests/a.luau:1>".into(),
        );
        let text = describe(&e);
        assert!(
            text.starts_with("error: tests/a.luau:7: 502: API Services"),
            "{text}"
        );
        assert!(text.contains("stack traceback:"));
    }

    #[test]
    fn a_message_with_a_position_keeps_it() {
        let e = mlua::Error::RuntimeError(
            "tests/a.luau:3: boom\nstack traceback:\n\ttests/a.luau:3: in function <tests/a.luau:1>".into(),
        );
        assert!(describe(&e).starts_with("error: tests/a.luau:3: boom\n"));
    }
}
