//! The seeded scenario: what players, game code and servers do.
//!
//! Players follow the original's documented usage: on join `new(...)` with the ProcessQueue
//! handler connected and `Open(template)`, retried every 6 s while it does not answer
//! `"Success"`; while playing they edit `Value` (each edit a fresh version tag), now and then
//! call `Save()` or change a property; on leaving they `Destroy()` (sometimes `Close()`),
//! sometimes going straight to another server. A session that closes by itself (its lock was
//! lost) kicks its player. Gifts come from any server: `find` or `hidden`, `Open`, edit and
//! `Destroy`; on `"Locked"`, `Queue` for the owner instead. Crashes, graceful shutdowns, slow
//! windows and store outages come at seeded random times.

use super::trace::Tr;
use super::world::{gift_of, Ev, Sim};
use super::Mix;
use crate::emulator::faults::Rng;
use crate::emulator::{Op, Outage};
use crate::session::{Call, Input, Reply, Response, SessionId, State};
use crate::value::{Key, Table, Value};

/// Mean time a player stays (ms).
const STAY_MEAN_MS: f64 = 45.0 * 60_000.0;
/// Mean time between a player's edits.
const EDIT_MEAN_MS: f64 = 20_000.0;
/// Mean time offline between visits (some come back at once).
const OFFLINE_MEAN_MS: f64 = 6.0 * 60_000.0;
/// The documented wait before retrying `Open`.
const OPEN_RETRY_MS: u64 = 6_000;
/// How often the liveness sample runs.
const SAMPLE_EVERY_MS: u64 = 10_000;
/// The final shutdown may take this long before it counts as stuck.
const DRAIN_MS: u64 = 15 * 60_000;
/// Roblox kills a server this long after bind-to-close started.
const SHUTDOWN_LIMIT_MS: u64 = 30_000;

/// A scenario step.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Act {
    /// A player's next step; stale when the player's `step` has moved on.
    Player(usize, u64),
    Gift,
    Crash,
    Shutdown,
    Kill(usize),
    Restart,
    SlowStart,
    SlowEnd,
    Sample,
    /// A server stalls ([`super::Extra`]), and runs again.
    Stall,
    StallEnd(usize),
    /// A server's clock steps.
    ClockStep,
    /// The final shutdown of a server that was stalled when it came.
    FinalShutdown(usize),
}

/// Why a call was made, so its answer goes to the right place.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    Open(usize),
    Leave(usize),
    Save,
    GiftOpen(u64),
    GiftQueue(u64),
    GiftDestroy,
    Remove,
    Peek,
    /// A [`Script`](super::Script) call: its answer is kept under this token.
    Script(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Offline,
    Joining,
    Online,
    Leaving,
}

#[derive(Clone, Debug)]
pub(crate) struct Player {
    pub phase: Phase,
    pub srv: usize,
    pub sid: SessionId,
    /// A call of this player is waiting for its answer.
    pub waiting: bool,
    pub leave_at: u64,
    /// The step scheduled last; older ones are ignored.
    pub step: u64,
    /// The server the next join goes to (a teleport's destination).
    pub next_server: Option<usize>,
    /// On a quick visit: the server to go back to when it ends.
    pub back_to: Option<usize>,
    /// The next join is a quick visit (1–3 s).
    pub short_stay: bool,
}

/// A gift sent through the queue (or applied directly).
#[derive(Clone, Debug)]
pub(crate) struct Gift {
    pub key: usize,
    pub expiration_s: Option<f64>,
    /// `Queue` answered "Success".
    pub acked: bool,
    pub delivered: bool,
    /// When the earliest landed copy expires.
    pub expires_at: Option<u64>,
    /// When the first copy landed.
    pub landed_at: Option<u64>,
    pub late_reported: bool,
}

/// Exponentially distributed wait with this mean.
fn exp(rng: &mut Rng, mean: f64) -> u64 {
    let u = rng.next_f64();
    (-mean * (1.0 - u).ln()) as u64
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.next_f64() < p
}

/// Outage windows over the run: DataStore only, MemoryStore only, or both.
pub(crate) fn plan_outages(rng: &mut Rng, mix: &Mix, end: u64) -> Vec<Outage> {
    let mut outages = Vec::new();
    if mix.outages_per_hour <= 0.0 {
        return outages;
    }
    let mean = 3_600_000.0 / mix.outages_per_hour;
    let mut t = exp(rng, mean);
    while t < end {
        let len = rng.range(mix.outage_ms.0, mix.outage_ms.1);
        let ops = match rng.range(0, 2) {
            0 => Op::DATA.to_vec(),
            1 => Op::MEMORY.to_vec(),
            _ => Op::ALL.to_vec(),
        };
        outages.push(Outage {
            ops,
            start_ms: t,
            end_ms: t + len,
        });
        t += len + exp(rng, mean);
    }
    outages
}

pub(crate) fn template() -> Value {
    let mut t = Table::new();
    t.insert(Key::from("v"), Value::Number(0.0));
    t.insert(Key::from("coins"), Value::Number(0.0));
    Value::Table(t)
}

fn gift_message(g: u64) -> Value {
    let mut t = Table::new();
    t.insert(Key::from("gift"), Value::Number(g as f64));
    t.insert(Key::from("amount"), Value::Number(1.0));
    Value::Table(t)
}

impl Sim {
    /// The whole run: players act until `end`, then every server shuts down gracefully.
    pub(crate) fn run(&mut self) {
        for _ in 0..self.cfg.servers {
            self.start_server();
        }
        for p in 0..self.cfg.players {
            self.players.push(Player {
                phase: Phase::Offline,
                srv: 0,
                sid: SessionId(0),
                waiting: false,
                leave_at: 0,
                step: 0,
                next_server: None,
                back_to: None,
                short_stay: false,
            });
            let at = self.rng.range(0, 120_000);
            self.schedule_player(p, at);
        }
        self.schedule_next(Act::Gift);
        self.schedule_next(Act::Crash);
        self.schedule_next(Act::Shutdown);
        self.schedule_next(Act::SlowStart);
        self.schedule_extra(Act::Stall);
        self.schedule_extra(Act::ClockStep);
        self.start_sampling();
        self.run_until(self.end);

        // The final shutdown: every server's bind-to-close must finish.
        for srv in 0..self.servers.len() {
            if self.servers[srv].alive() && !self.servers[srv].closing {
                if self.servers[srv].stalled {
                    let at = self.servers[srv].stall_until + 2;
                    self.schedule(at, Ev::Scenario(Act::FinalShutdown(srv)));
                } else {
                    self.begin_shutdown(srv);
                }
            }
        }
        self.pump_dirty();
        self.run_until(self.end + DRAIN_MS);
        self.check_shutdowns();
        self.check_delivery();
        let now = self.now;
        for server in &mut self.servers {
            for host in server.hosts.values_mut() {
                if let Some(since) = host.open_since.take() {
                    self.session_ms += now - since;
                }
            }
        }
    }

    /// The liveness sample, every 10 s from now on.
    pub(crate) fn start_sampling(&mut self) {
        self.schedule(self.now + SAMPLE_EVERY_MS, Ev::Scenario(Act::Sample));
    }

    /// A ProcessQueue handler is connected to the session (`on`) or disconnected.
    pub(crate) fn connect_process_queue(&mut self, srv: usize, sid: SessionId) {
        self.set_listening(srv, sid, true);
    }

    fn set_listening(&mut self, srv: usize, sid: SessionId, on: bool) {
        let local = self.local_now(srv);
        if let Some(module) = self.servers[srv].module.as_mut() {
            let _ = module.set_process_queue_connections(local, sid, usize::from(on));
        }
        let now = self.now;
        if let Some(host) = self.host_mut(srv, sid) {
            host.listening_since = on.then_some(now);
        }
        self.pump_later(srv);
    }

    fn schedule_next(&mut self, act: Act) {
        let mix = &self.cfg.mix;
        let servers = self.cfg.servers as f64;
        let per_hour = match act {
            Act::Gift => self.cfg.gifts_per_hour,
            Act::Crash => mix.crashes_per_server_hour * servers,
            Act::Shutdown => mix.shutdowns_per_server_hour * servers,
            Act::SlowStart => mix.slow_per_hour,
            _ => return,
        };
        if per_hour <= 0.0 {
            return;
        }
        let at = self.now + exp(&mut self.rng, 3_600_000.0 / per_hour);
        if at < self.end {
            self.schedule(at, Ev::Scenario(act));
        }
    }

    pub(crate) fn act(&mut self, act: Act) {
        match act {
            Act::Player(p, step) => {
                let player = &self.players[p];
                if player.step == step {
                    let server = &self.servers[player.srv];
                    if player.phase != Phase::Offline && server.alive() && server.stalled {
                        // Game code is frozen with its server.
                        let at = server.stall_until + 2;
                        return self.schedule(at, Ev::Scenario(act));
                    }
                    self.player_step(p);
                }
            }
            Act::Stall => {
                self.stall();
                self.schedule_extra(Act::Stall);
            }
            Act::StallEnd(srv) => {
                // The liveness bounds are about a process that runs: the stall's time does
                // not count against its calls or its task queues.
                let now = self.now;
                let server = &mut self.servers[srv];
                server.stalled = false;
                let frozen = now - server.stall_from;
                for pending in server.calls.values_mut() {
                    pending.at = (pending.at + frozen).min(now);
                }
                for host in server.hosts.values_mut() {
                    if let Some(since) = host.busy_since.as_mut() {
                        *since = (*since + frozen).min(now);
                    }
                }
                self.tr_server(srv, || Tr::Server {
                    text: "runs again after its stall",
                });
                self.pump_later(srv);
            }
            Act::ClockStep => {
                self.clock_step();
                self.schedule_extra(Act::ClockStep);
            }
            Act::FinalShutdown(srv) => {
                if self.servers[srv].alive() && !self.servers[srv].closing {
                    self.begin_shutdown(srv);
                }
            }
            Act::Gift => {
                self.send_gift();
                self.schedule_next(Act::Gift);
            }
            Act::Crash => {
                if let Some(srv) = self.pick_server() {
                    self.stats.crashes += 1;
                    self.kill(srv, "crashes: the module vanishes without unlocking");
                    self.schedule_restart();
                }
                self.schedule_next(Act::Crash);
            }
            Act::Shutdown => {
                if let Some(srv) = self.pick_server() {
                    self.stats.shutdowns += 1;
                    self.begin_shutdown(srv);
                    self.schedule(self.now + SHUTDOWN_LIMIT_MS, Ev::Scenario(Act::Kill(srv)));
                    self.schedule_restart();
                }
                self.schedule_next(Act::Shutdown);
            }
            Act::Kill(srv) => self.kill(srv, "is killed 30 s into its shutdown"),
            Act::Restart => {
                if self.now < self.end {
                    self.start_server();
                }
            }
            Act::SlowStart => {
                if !self.slow {
                    self.slow = true;
                    self.stats.slow_windows += 1;
                    let faults = self.with_outages(self.cfg.mix.slow_faults.clone());
                    self.emu.set_faults(faults);
                    let len = self
                        .rng
                        .range(self.cfg.mix.slow_ms.0, self.cfg.mix.slow_ms.1);
                    self.schedule(self.now + len, Ev::Scenario(Act::SlowEnd));
                }
                self.schedule_next(Act::SlowStart);
            }
            Act::SlowEnd => {
                self.slow = false;
                let faults = self.with_outages(self.cfg.mix.faults.clone());
                self.emu.set_faults(faults);
            }
            Act::Sample => {
                self.sample_liveness();
                self.sample_delivery();
                for srv in 0..self.servers.len() {
                    if !self.servers[srv].stalled {
                        self.release_idle(srv);
                    }
                }
                if self.now < self.end + DRAIN_MS {
                    self.schedule(self.now + SAMPLE_EVERY_MS, Ev::Scenario(Act::Sample));
                }
            }
        }
    }

    /// The next stall or clock step, on the opt-in shapes' own dice.
    fn schedule_extra(&mut self, act: Act) {
        let extra = &self.cfg.mix.extra;
        let per_server_hour = match act {
            Act::Stall => extra.stalls_per_server_hour,
            Act::ClockStep => extra.clock_steps_per_server_hour,
            _ => return,
        };
        let per_hour = per_server_hour * self.cfg.servers as f64;
        if per_hour <= 0.0 {
            return;
        }
        let at = self.now + exp(&mut self.fx, 3_600_000.0 / per_hour);
        if at < self.end {
            self.schedule(at, Ev::Scenario(act));
        }
    }

    /// A running server freezes: a GC pause, a VM migration, a hitch.
    fn stall(&mut self) {
        let live: Vec<usize> = (0..self.servers.len())
            .filter(|s| self.servers[*s].alive() && !self.servers[*s].stalled)
            .collect();
        if live.is_empty() {
            return;
        }
        let srv = live[self.fx.range(0, live.len() as u64 - 1) as usize];
        let (lo, hi) = self.cfg.mix.extra.stall_ms;
        let until = self.now + self.fx.range(lo, hi);
        let replies_first = self.fx.next_f64() < 0.5;
        let hold = self.fx.next_f64() < self.cfg.mix.extra.stall_holds_outbound;
        let server = &mut self.servers[srv];
        server.stalled = true;
        server.hold_outbound = hold;
        server.stall_from = self.now;
        server.stall_until = until;
        server.timers_from = until + u64::from(replies_first);
        self.stats.stalls += 1;
        let text = if replies_first {
            "stalls (replies first when it runs again)"
        } else {
            "stalls (timers first when it runs again)"
        };
        self.tr_server(srv, || Tr::Server { text });
        self.schedule(until, Ev::Scenario(Act::StallEnd(srv)));
    }

    /// A server's clock steps forwards or backwards (the core's own time never goes back).
    fn clock_step(&mut self) {
        let live: Vec<usize> = (0..self.servers.len())
            .filter(|s| self.servers[*s].alive())
            .collect();
        if live.is_empty() {
            return;
        }
        let srv = live[self.fx.range(0, live.len() as u64 - 1) as usize];
        let (lo, hi) = self.cfg.mix.extra.clock_step_ms;
        let step = lo + self.fx.range(0, (hi - lo) as u64) as i64;
        let before = self.local_now(srv);
        if let Some((offset, _)) = self.servers[srv].clock.as_mut() {
            *offset += step as f64;
        }
        self.stats.clock_steps += 1;
        let after = self.local_now(srv);
        self.tr_server(srv, || Tr::Note {
            text: format!("srv{srv}'s clock steps {step:+} ms ({before} → {after})"),
        });
        self.pump_later(srv);
    }

    fn with_outages(
        &self,
        mut faults: crate::emulator::FaultConfig,
    ) -> crate::emulator::FaultConfig {
        faults.outages = self.emu.fault_config().outages.clone();
        faults
    }

    fn schedule_restart(&mut self) {
        let at = self.now + self.rng.range(10_000, 60_000);
        self.schedule(at, Ev::Scenario(Act::Restart));
    }

    /// A random server that takes players.
    fn pick_server(&mut self) -> Option<usize> {
        let open: Vec<usize> = (0..self.servers.len())
            .filter(|s| self.servers[*s].open_for_players())
            .collect();
        if open.is_empty() {
            return None;
        }
        let i = self.rng.range(0, open.len() as u64 - 1) as usize;
        Some(open[i])
    }

    /// Bind-to-close: its players are sent away at once.
    fn begin_shutdown(&mut self, srv: usize) {
        let local = self.local_now(srv);
        let Some(module) = self.servers[srv].module.as_mut() else {
            return;
        };
        module.bind_to_close(local);
        self.servers[srv].closing = true;
        self.pump_later(srv);
        self.tr_server(srv, || Tr::Server {
            text: "shuts down (bind-to-close)",
        });
        self.players_leave_server(srv);
    }

    /// The players of a server that is gone or going come back later, elsewhere.
    pub(crate) fn server_gone(&mut self, srv: usize) {
        self.players_leave_server(srv);
    }

    fn players_leave_server(&mut self, srv: usize) {
        for p in 0..self.players.len() {
            let player = &self.players[p];
            if player.srv == srv && player.phase != Phase::Offline {
                self.players[p].phase = Phase::Offline;
                self.players[p].waiting = false;
                let at = self.now + self.rng.range(2_000, 30_000);
                self.schedule_player(p, at);
            }
        }
    }

    // ---- players ----

    /// The player's next step at `at`, replacing any step scheduled before.
    fn schedule_player(&mut self, p: usize, at: u64) {
        self.players[p].step += 1;
        let step = self.players[p].step;
        self.schedule(at, Ev::Scenario(Act::Player(p, step)));
    }

    fn player_step(&mut self, p: usize) {
        if self.now >= self.end {
            return;
        }
        let player = self.players[p].clone();
        if player.waiting {
            if player.phase == Phase::Joining && chance(&mut self.rng, 0.05) {
                // Leaves while the data is still loading: Destroy joins the pending Open.
                return self.leave(p, None);
            }
            // Its call is still running; look again later.
            let at = self.now + OPEN_RETRY_MS;
            return self.schedule_player(p, at);
        }
        match player.phase {
            Phase::Offline => self.join(p),
            Phase::Joining => {
                if chance(&mut self.rng, 0.1) {
                    // Gives up on this server and tries another one.
                    self.leave(p, None);
                } else {
                    self.open(p);
                }
            }
            Phase::Online => {
                if self.state(player.srv, player.sid) != Some(State::Open) {
                    // The session closed by itself (lock lost): the game kicks the player.
                    return self.leave(p, None);
                }
                if self.now >= player.leave_at {
                    return self.leave_or_hop(p);
                }
                self.edit(player.srv, player.sid);
                let listening = self
                    .host(player.srv, player.sid)
                    .is_some_and(|h| h.listening_since.is_some());
                if !listening {
                    self.set_listening(player.srv, player.sid, true);
                } else if self.cfg.host_quirks && chance(&mut self.rng, 0.02) {
                    // The handler is disconnected until the player's next step.
                    self.stats.disconnects += 1;
                    self.set_listening(player.srv, player.sid, false);
                }
                if chance(&mut self.rng, 0.1) {
                    self.call(player.srv, player.sid, Call::Save, Purpose::Save);
                }
                if chance(&mut self.rng, 0.03) {
                    self.change_property(player.srv, player.sid);
                }
                let at = self.now + exp(&mut self.rng, EDIT_MEAN_MS);
                self.schedule_player(p, at);
            }
            Phase::Leaving => {}
        }
    }

    fn join(&mut self, p: usize) {
        let target = self.players[p]
            .next_server
            .take()
            .filter(|s| self.servers[*s].open_for_players());
        let Some(srv) = target.or_else(|| self.pick_server()) else {
            let at = self.now + 10_000;
            return self.schedule_player(p, at);
        };
        let Some((sid, new)) = self.open_session(srv, p, false) else {
            let at = self.now + 10_000;
            return self.schedule_player(p, at);
        };
        if new {
            self.connect_process_queue(srv, sid);
        }
        self.stats.joins += 1;
        let player = &mut self.players[p];
        player.phase = Phase::Joining;
        player.srv = srv;
        player.sid = sid;
        player.leave_at = if std::mem::take(&mut player.short_stay) {
            self.now + self.rng.range(1_000, 3_000)
        } else {
            self.now + exp(&mut self.rng, STAY_MEAN_MS)
        };
        self.open(p);
    }

    fn open(&mut self, p: usize) {
        let (srv, sid) = (self.players[p].srv, self.players[p].sid);
        self.players[p].waiting = true;
        self.call(
            srv,
            sid,
            Call::Open {
                template: Some(template()),
            },
            Purpose::Open(p),
        );
    }

    /// The stay is over: leave, or teleport to another server (at once, or after a loading
    /// screen), or make a quick visit to another server and come back.
    fn leave_or_hop(&mut self, p: usize) {
        let here = self.players[p].srv;
        if let Some(back) = self.players[p].back_to.take() {
            self.players[p].next_server = Some(back);
            let teleport = self.rng.range(500, 1_500);
            return self.leave(p, Some(teleport));
        }
        if !chance(&mut self.rng, 0.3) {
            return self.leave(p, None);
        }
        let elsewhere: Vec<usize> = (0..self.servers.len())
            .filter(|s| *s != here && self.servers[*s].open_for_players())
            .collect();
        if !elsewhere.is_empty() && chance(&mut self.rng, 0.3) {
            // A quick visit: a join reward there, and straight back.
            let i = self.rng.range(0, elsewhere.len() as u64 - 1) as usize;
            self.players[p].next_server = Some(elsewhere[i]);
            self.players[p].back_to = Some(here);
            self.players[p].short_stay = true;
            self.stats.quick_visits += 1;
            let teleport = self.rng.range(500, 1_500);
            return self.leave(p, Some(teleport));
        }
        self.leave(p, Some(0));
    }

    /// Leaves (Destroy, sometimes Close); with `hop`, joins a server again after that many ms
    /// (0: at once, while this server is still saving).
    fn leave(&mut self, p: usize, hop: Option<u64>) {
        let (srv, sid) = (self.players[p].srv, self.players[p].sid);
        self.players[p].phase = Phase::Leaving;
        self.players[p].waiting = true;
        let close = chance(&mut self.rng, 0.25);
        if close {
            self.call(srv, sid, Call::Close, Purpose::Leave(p));
        } else {
            if let Some(host) = self.host_mut(srv, sid) {
                host.release = true;
            }
            self.call(srv, sid, Call::Destroy, Purpose::Leave(p));
        }
        if let Some(delay) = hop {
            self.players[p].phase = Phase::Offline;
            self.players[p].waiting = false;
            if delay == 0 {
                self.join(p);
            } else {
                self.schedule_player(p, self.now + delay);
            }
        }
    }

    /// One edit of a session's value: a new version tag, one more coin.
    pub(crate) fn edit(&mut self, srv: usize, sid: SessionId) {
        let Some(host) = self.servers[srv].hosts.get_mut(&sid) else {
            return;
        };
        let Value::Table(table) = &mut host.value else {
            return;
        };
        let from = table
            .get(&Key::from("v"))
            .and_then(|v| match v {
                Value::Number(n) => Some(*n as u64),
                _ => None,
            })
            .unwrap_or(0);
        let to = self.lineage.child(from);
        table.insert(Key::from("v"), Value::Number(to as f64));
        let coins = match table.get(&Key::from("coins")) {
            Some(Value::Number(n)) => *n,
            _ => 0.0,
        };
        table.insert(Key::from("coins"), Value::Number(coins + 1.0));
        let (gs, key) = (host.gs, host.key);
        self.stats.edits += 1;
        self.tr(key, srv, Tr::Edit { s: gs, from, to });
    }

    fn change_property(&mut self, srv: usize, sid: SessionId) {
        let rng = &mut self.rng;
        let number = |n: u64| Input::Number(n as f64);
        let (name, value) = match rng.range(0, 4) {
            0 => (
                "SaveInterval",
                match rng.range(0, 9) {
                    0 => number(0),
                    1 => number(rng.range(10, 1000)),
                    _ => number(rng.range(10, 90)),
                },
            ),
            1 => (
                "SaveDelay",
                if chance(rng, 0.5) {
                    number(0)
                } else {
                    number(rng.range(0, 10))
                },
            ),
            2 => (
                "LockInterval",
                if chance(rng, 0.05) {
                    number(rng.range(10, 300))
                } else {
                    number(rng.range(10, 90))
                },
            ),
            3 => (
                "LockAttempts",
                if chance(rng, 0.05) {
                    number(rng.range(1, 20))
                } else {
                    number(rng.range(1, 8))
                },
            ),
            _ => ("SaveOnClose", Input::Bool(chance(rng, 0.5))),
        };
        let local = self.local_now(srv);
        let Some(module) = self.servers[srv].module.as_mut() else {
            return;
        };
        if module.set_property(local, sid, name, value).is_ok() {
            self.stats.property_changes += 1;
            self.pump_later(srv);
            if let Some(host) = self.servers[srv].hosts.get(&sid) {
                let (gs, key) = (host.gs, host.key);
                self.tr(
                    key,
                    srv,
                    Tr::Note {
                        text: match value {
                            Input::Number(n) => format!("s{gs} {name} = {n}"),
                            Input::Bool(b) => format!("s{gs} {name} = {b}"),
                            _ => format!("s{gs} {name} changed"),
                        },
                    },
                );
            }
        }
    }

    // ---- gifts ----

    fn send_gift(&mut self) {
        let Some(srv) = self.pick_server() else {
            return;
        };
        let key = self.rng.range(0, self.cfg.players as u64 - 1) as usize;
        let g = self.gifts.len() as u64;
        let args = self.session_args(key);
        let found = self.servers[srv]
            .module
            .as_ref()
            .and_then(|m| m.find(&args).ok().flatten());
        if let Some(sid) = found {
            if self.state(srv, sid) == Some(State::Open) {
                // The player is here: the gift goes straight into Value.
                self.stats.gifts_direct += 1;
                self.edit(srv, sid);
                return;
            }
        }
        let Some((sid, _)) = self.open_session(srv, key, true) else {
            return;
        };
        if chance(&mut self.rng, 0.2) {
            // Not a gift: a look at the player's data (a leaderboard), without the lock.
            self.call(srv, sid, Call::Read { template: None }, Purpose::Peek);
            return;
        }
        let expiration_s = if chance(&mut self.rng, 0.1) {
            Some(self.rng.range(20, 300) as f64)
        } else if chance(&mut self.rng, 0.5) {
            Some(3_888_000.0)
        } else {
            None
        };
        self.gifts.push(Gift {
            key,
            expiration_s,
            acked: false,
            delivered: false,
            expires_at: None,
            landed_at: None,
            late_reported: false,
        });
        self.call(
            srv,
            sid,
            Call::Open {
                template: Some(template()),
            },
            Purpose::GiftOpen(g),
        );
    }

    /// A `QueueAdd` carrying gift `g` reached the store (the first landing counts for expiry).
    pub(crate) fn gift_landed(&mut self, g: u64, expiration_s: f64) {
        let now = self.now;
        if let Some(gift) = self.gifts.get_mut(g as usize) {
            let at = now + (expiration_s * 1000.0) as u64;
            gift.expires_at = Some(gift.expires_at.map_or(at, |e| e.min(at)));
            gift.landed_at.get_or_insert(now);
        }
    }

    /// The `ProcessQueue` handler: apply every gift, then `Remove` the read.
    pub(crate) fn on_process_queue(
        &mut self,
        srv: usize,
        sid: SessionId,
        id: String,
        values: Vec<Value>,
    ) {
        for value in &values {
            if let Some(g) = gift_of(value) {
                if let Some(gift) = self.gifts.get_mut(g as usize) {
                    if !gift.delivered {
                        gift.delivered = true;
                        self.stats.gifts_delivered += 1;
                    }
                }
            }
            self.edit(srv, sid);
        }
        self.call(srv, sid, Call::Remove { id }, Purpose::Remove);
    }

    // ---- answers ----

    pub(crate) fn on_answer(&mut self, srv: usize, sid: SessionId, purpose: Purpose, reply: Reply) {
        match purpose {
            Purpose::Open(p) => {
                let player = &self.players[p];
                if player.srv != srv || player.sid != sid || player.phase != Phase::Joining {
                    return;
                }
                self.players[p].waiting = false;
                if reply.response == Response::Success {
                    self.players[p].phase = Phase::Online;
                    let leave_at = self.players[p].leave_at;
                    if self.players[p].back_to.is_some() {
                        // The quick visit's join reward.
                        self.edit(srv, sid);
                    }
                    let at = (self.now + exp(&mut self.rng, EDIT_MEAN_MS)).min(leave_at);
                    self.schedule_player(p, at);
                } else {
                    if reply.response == Response::Locked {
                        self.stats.open_locked += 1;
                    }
                    if reply.response == Response::State {
                        // Destroying or destroyed: this session is of no use any more.
                        self.players[p].phase = Phase::Offline;
                    }
                    let at = self.now + OPEN_RETRY_MS + self.rng.range(0, 2_000);
                    self.schedule_player(p, at);
                }
            }
            Purpose::Leave(p) => {
                let player = &self.players[p];
                if player.srv != srv || player.sid != sid || player.phase != Phase::Leaving {
                    return;
                }
                self.players[p].phase = Phase::Offline;
                self.players[p].waiting = false;
                let away = if chance(&mut self.rng, 0.25) {
                    self.rng.range(0, 5_000)
                } else {
                    exp(&mut self.rng, OFFLINE_MEAN_MS)
                };
                self.schedule_player(p, self.now + away);
            }
            Purpose::Save | Purpose::Remove | Purpose::GiftDestroy => {}
            Purpose::Peek => {
                self.stats.reads += 1;
                self.gift_done(srv, sid);
            }
            Purpose::Script(token) => {
                self.answers.insert(token, reply);
            }
            Purpose::GiftOpen(g) => {
                if reply.response == Response::Success {
                    self.stats.gifts_direct += 1;
                    self.edit(srv, sid);
                    self.gift_done(srv, sid);
                } else if reply.response == Response::Locked {
                    let expiration = self.gifts[g as usize].expiration_s;
                    let priority = if chance(&mut self.rng, 0.3) {
                        Some(1.0)
                    } else {
                        None
                    };
                    self.call(
                        srv,
                        sid,
                        Call::Queue {
                            value: gift_message(g),
                            expiration,
                            priority,
                        },
                        Purpose::GiftQueue(g),
                    );
                } else {
                    self.gift_done(srv, sid);
                }
            }
            Purpose::GiftQueue(g) => {
                if reply.response == Response::Success {
                    self.gifts[g as usize].acked = true;
                    self.stats.gifts_queued += 1;
                }
                self.gift_done(srv, sid);
            }
        }
    }

    fn gift_done(&mut self, srv: usize, sid: SessionId) {
        if let Some(host) = self.host_mut(srv, sid) {
            host.release = true;
        }
        self.call(srv, sid, Call::Destroy, Purpose::GiftDestroy);
    }
}
