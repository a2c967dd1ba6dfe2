//! The driver: servers, the event queue in virtual time, and the host side of every session
//! (what the JS or Luau shim does: keep `Value`, answer `Saving` with a snapshot, resume
//! callers). How a command travels to the store and back is `store.rs`.
//!
//! One loop takes whatever comes first: a queued event (a request reaching the store, a reply
//! reaching its server, a long-poll re-read, a scenario step) or a module's own timer
//! (`poll_timeout`). Ties go to queued events, then to servers in order; nothing depends on a
//! hash map's order, so a seed always plays the same way.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use super::check::Lineage;
use super::scenario::{Act, Gift, Player, Purpose};
use super::store::Poll;
use super::trace::{Digest, Entry, Res, Ring, Tr};
use super::{Outcome, SimConfig, Stats, Violation};
use crate::emulator::faults::Rng;
use crate::emulator::{self, Emulator};
use crate::session::{
    self, Call, CallId, CallOutcome, Command, CommandId, Event, Module, Reply, Response, SessionId,
    Snapshot, SnapshotValue, State, StoreResult,
};
use crate::value::{JsonText, Key, Table, Value};

/// The DataStore name and scope every player key lives in.
pub(crate) const NAME: &str = "Player";
pub(crate) const SCOPE: &str = "global";

/// Something due at a time.
pub(crate) enum Ev {
    /// A request reaches the store. `belief` is the lease a successful lock would give its
    /// session: `(session, last successful lock + I × A)`.
    Apply {
        srv: usize,
        cmd: CommandId,
        command: Command,
        belief: Option<(u32, u64)>,
        /// The session that sent a data write, if known.
        writer: Option<u32>,
        /// When it was sent.
        sent_at: u64,
    },
    /// A reply reaches its server.
    Deliver {
        srv: usize,
        cmd: CommandId,
        key: Option<usize>,
        result: StoreResult,
        res: Res,
        belief: Option<(u32, u64)>,
    },
    /// A long poll reads again.
    PollCheck {
        poll: u64,
        generation: u64,
    },
    Scenario(Act),
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// What the host keeps for one session.
pub(crate) struct Host {
    /// Global session number (for traces and the exclusion check).
    pub gs: u32,
    pub key: usize,
    pub value: Value,
    pub metadata: Value,
    pub user_ids: Value,
    /// The value tag of the snapshot handed to the save in progress, and when.
    pub saving: Option<u64>,
    pub saving_at: u64,
    /// Open since (for session-hours).
    pub open_since: Option<u64>,
    /// Its own idea of its lease: last successful lock + `I × A`.
    pub lock_time: u64,
    /// Tasks queued continuously since (wedge check).
    pub busy_since: Option<u64>,
    pub wedge_reported: bool,
    /// Destroyed by the scenario: forget it once idle.
    pub release: bool,
    /// A ProcessQueue handler is connected, since then.
    pub listening_since: Option<u64>,
    /// The last snapshot handed over, as exact text (`Debug`), for an honest
    /// [`Snapshot::same_texts`], as a Luau host compares its strings.
    pub last_snapshot: Option<String>,
}

/// A call waiting for its `CallDone`.
pub(crate) struct PendingCall {
    pub purpose: Purpose,
    pub at: u64,
    pub gs: u32,
    pub name: &'static str,
    pub reported: bool,
}

/// One game server.
pub(crate) struct Server {
    /// `None` once crashed or shut down.
    pub module: Option<Module>,
    /// Bind-to-close has started.
    pub closing: bool,
    /// Bind-to-close has finished.
    pub close_done: bool,
    pub hosts: BTreeMap<SessionId, Host>,
    pub calls: BTreeMap<CallId, PendingCall>,
    pub(crate) dirty: bool,
    /// Frozen (a stall) until `stall_until`: no timer, no reply, no call.
    pub stalled: bool,
    /// This stall holds the requests that had not landed yet (a frozen VM).
    pub hold_outbound: bool,
    pub stall_from: u64,
    pub stall_until: u64,
    /// Its timers fire no earlier than this (the end of its last stall, or just after it when
    /// the replies that came due in the stall go first).
    pub timers_from: u64,
    /// Its clock: `offset + global × rate` (ms), floored; `None`: the store's clock.
    pub clock: Option<(f64, f64)>,
}

impl Server {
    pub fn alive(&self) -> bool {
        self.module.is_some()
    }

    /// Alive and taking players.
    pub fn open_for_players(&self) -> bool {
        self.module.is_some() && !self.closing && !self.stalled
    }

    /// Its clock's reading at global time `g`.
    pub fn local(&self, g: u64) -> u64 {
        match self.clock {
            None => g,
            Some((offset, rate)) => (offset + g as f64 * rate).floor().max(0.0) as u64,
        }
    }

    /// The first global time, not before `not_before`, at which its clock reads `l` or more.
    pub fn global(&self, l: u64, not_before: u64) -> u64 {
        let Some((offset, rate)) = self.clock else {
            return l.max(not_before);
        };
        let mut g = ((l as f64 - offset) / rate).ceil().max(0.0) as u64;
        while self.local(g) < l {
            g += 1;
        }
        while g > 0 && self.local(g - 1) >= l {
            g -= 1;
        }
        g.max(not_before)
    }
}

/// A session in the global table.
pub(crate) struct GsInfo {
    pub srv: usize,
    pub sid: SessionId,
    pub key: usize,
    pub unique_id: String,
}

/// What the checks keep per key.
pub(crate) struct KeyState {
    /// `name/scope/key`: the lock map and the queue.
    pub id: String,
    pub key_text: String,
    pub ring: Ring,
    /// Live sessions of this key (global numbers), on servers that are alive.
    pub sessions: Vec<u32>,
    /// The deepest acknowledged value tag.
    pub max_acked: Option<u64>,
    /// The value tag the store holds (`None`: nothing).
    pub stored: Option<u64>,
    pub durability_reports: u32,
}

pub(crate) struct Sim {
    pub seed: u64,
    pub cfg: SimConfig,
    pub now: u64,
    /// Players stop acting here; the final shutdown follows.
    pub end: u64,
    pub rng: Rng,
    pub(crate) net: Rng,
    /// The opt-in shapes' own dice ([`super::Extra`]), so the named mixes replay unchanged.
    pub(crate) fx: Rng,
    pub emu: Emulator,
    pub servers: Vec<Server>,
    heap: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    pub keys: Vec<KeyState>,
    key_index: HashMap<String, usize>,
    pub sessions: Vec<GsInfo>,
    pub(crate) owners: HashMap<String, u32>,
    pub(crate) polls: BTreeMap<u64, Poll>,
    pub(crate) next_poll: u64,
    pub slow: bool,
    pub stats: Stats,
    pub violations: Vec<Violation>,
    digest: Digest,
    pub session_ms: u64,
    pub lineage: Lineage,
    pub players: Vec<Player>,
    pub gifts: Vec<Gift>,
    /// Scripted extra delays: the next command of that name from that server is held back.
    pub holds: Vec<(usize, &'static str, u64)>,
    /// Answers to scripted calls.
    pub answers: BTreeMap<u64, Reply>,
}

/// The value tag (`Value.v`) the scenario writes into every value.
/// [`tag`] of a stored JSON text.
pub(crate) fn tag_text(value: &JsonText) -> Option<u64> {
    value.to_value().ok().as_ref().and_then(tag)
}

pub(crate) fn tag(value: &Value) -> Option<u64> {
    match value {
        Value::Table(t) => match t.get(&Key::String("v".into())) {
            Some(Value::Number(n)) => Some(*n as u64),
            _ => None,
        },
        _ => None,
    }
}

/// The gift number of a queued message.
pub(crate) fn gift_of(value: &Value) -> Option<u64> {
    match value {
        Value::Table(t) => match t.get(&Key::String("gift".into())) {
            Some(Value::Number(n)) => Some(*n as u64),
            _ => None,
        },
        _ => None,
    }
}

impl Sim {
    pub fn new(seed: u64, mut cfg: SimConfig) -> Sim {
        let mut rng = Rng::new(seed ^ 0x5EED_0F5C_E4A7_1000);
        if cfg.vary_shape {
            cfg.players = rng.range(6, 30) as usize;
            cfg.servers = rng.range(1, 4) as usize;
        }
        let end = (cfg.hours * 3_600_000.0) as u64;
        let mut faults = cfg.mix.faults.clone();
        let outages = super::scenario::plan_outages(&mut rng, &cfg.mix, end);
        faults.outages.clone_from(&outages);
        let emu = Emulator::new(emulator::Config {
            seed: rng.next_u64(),
            fencing: cfg.fencing,
            faults,
            budget: None,
        });
        let net = Rng::new(rng.next_u64());
        let fx = Rng::new(seed ^ 0x57A1_1C10_C4A5_0000);
        let mut keys = Vec::new();
        let mut key_index = HashMap::new();
        for p in 0..cfg.players {
            let key_text = format!("P{p}");
            let id = emulator::lock_map_name(NAME, SCOPE, &key_text);
            key_index.insert(key_text.clone(), p);
            key_index.insert(id.clone(), p);
            keys.push(KeyState {
                id,
                key_text,
                ring: Ring::default(),
                sessions: Vec::new(),
                max_acked: None,
                stored: None,
                durability_reports: 0,
            });
        }
        let mut sim = Sim {
            seed,
            now: 0,
            end,
            rng,
            net,
            fx,
            emu,
            servers: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            keys,
            key_index,
            sessions: Vec::new(),
            owners: HashMap::new(),
            polls: BTreeMap::new(),
            next_poll: 0,
            slow: false,
            stats: Stats::default(),
            violations: Vec::new(),
            digest: Digest::default(),
            session_ms: 0,
            lineage: Lineage::default(),
            players: Vec::new(),
            gifts: Vec::new(),
            holds: Vec::new(),
            answers: BTreeMap::new(),
            cfg,
        };
        sim.stats.outages = outages.len() as u64;
        sim
    }

    pub fn outcome(&self) -> Outcome {
        Outcome {
            seed: self.seed,
            fencing: self.cfg.fencing,
            session_ms: self.session_ms,
            faults: self.emu.fault_counts().clone(),
            stats: self.stats.clone(),
            violations: self.violations.clone(),
            digest: std::hash::Hasher::finish(&self.digest),
        }
    }

    // ---- the event loop ----------------------------------------------------------------

    pub fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    /// The earliest module timer: `(when, server)`.
    fn next_timer(&self) -> Option<(u64, usize)> {
        self.servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let local = s.module.as_ref()?.poll_timeout()?;
                Some((s.global(local, s.timers_from.max(self.now)), i))
            })
            .min()
    }

    /// Runs everything due up to `until`.
    pub fn run_until(&mut self, until: u64) {
        loop {
            let queued = self.heap.peek().map(|Reverse(q)| q.at);
            let timer = self.next_timer();
            let take_timer = match (queued, timer) {
                (None, None) => break,
                (Some(q), Some((t, _))) => t < q,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            if take_timer {
                let Some((at, srv)) = timer else { break };
                if at > until {
                    break;
                }
                self.now = self.now.max(at);
                let local = self.local_now(srv);
                if let Some(module) = self.servers[srv].module.as_mut() {
                    module.handle_timeout(local);
                }
                self.servers[srv].dirty = true;
            } else {
                let Some(at) = queued else { break };
                if at > until {
                    break;
                }
                let Some(Reverse(q)) = self.heap.pop() else {
                    break;
                };
                self.now = self.now.max(q.at);
                self.dispatch(q.ev);
            }
            self.pump_dirty();
        }
        self.now = self.now.max(until);
    }

    fn dispatch(&mut self, ev: Ev) {
        if let Some(at) = self.frozen_until(&ev) {
            return self.schedule(at, ev);
        }
        match ev {
            Ev::Apply {
                srv,
                cmd,
                command,
                belief,
                writer,
                sent_at,
            } => self.apply(srv, cmd, command, belief, writer, sent_at),
            Ev::Deliver {
                srv,
                cmd,
                key,
                result,
                res,
                belief,
            } => self.deliver(srv, cmd, key, result, res, belief),
            Ev::PollCheck { poll, generation } => self.poll_check(poll, generation),
            Ev::Scenario(act) => self.act(act),
        }
    }

    /// When an event for a stalled server happens instead: a reply waits in the frozen process
    /// until it runs again (timers first or not, as the stall drew); a request that had not
    /// left a frozen VM goes out, in order, when the machine runs again.
    fn frozen_until(&self, ev: &Ev) -> Option<u64> {
        match *ev {
            Ev::Apply { srv, sent_at, .. } => {
                let server = &self.servers[srv];
                (server.stalled && server.hold_outbound && sent_at <= server.stall_from)
                    .then(|| server.stall_until + (self.now - server.stall_from))
            }
            Ev::Deliver { srv, .. } => {
                let server = &self.servers[srv];
                server.stalled.then(|| {
                    server.stall_until + u64::from(server.timers_from == server.stall_until)
                })
            }
            _ => None,
        }
    }

    /// Server `srv`'s clock now.
    pub fn local_now(&self, srv: usize) -> u64 {
        self.servers[srv].local(self.now)
    }

    /// The server's events and commands are drained at the end of this step.
    pub fn pump_later(&mut self, srv: usize) {
        self.servers[srv].dirty = true;
    }

    pub fn pump_dirty(&mut self) {
        for srv in 0..self.servers.len() {
            if self.servers[srv].dirty {
                self.servers[srv].dirty = false;
                self.pump(srv);
            }
        }
    }

    /// The host's turn: fire every event (handlers may call the module), then send every
    /// command, until both are empty.
    fn pump(&mut self, srv: usize) {
        loop {
            let mut progressed = false;
            loop {
                let Some(module) = self.servers[srv].module.as_mut() else {
                    return;
                };
                let Some(event) = module.poll_event() else {
                    break;
                };
                progressed = true;
                self.on_event(srv, event);
            }
            loop {
                let Some(module) = self.servers[srv].module.as_mut() else {
                    return;
                };
                let Some((id, command)) = module.poll_command() else {
                    break;
                };
                progressed = true;
                self.send(srv, id, command);
            }
            if !progressed {
                break;
            }
        }
        if self.servers[srv].close_done {
            self.kill(srv, "finishes bind-to-close and stops");
        }
        self.servers[srv].dirty = false;
    }

    // ---- tracing -------------------------------------------------------------------------

    /// Traces `what` on every key server `srv` has a session of.
    pub fn tr_server(&mut self, srv: usize, what: impl Fn() -> Tr) {
        let keys: Vec<usize> = self.servers[srv].hosts.values().map(|h| h.key).collect();
        for key in keys {
            self.tr(key, srv, what());
        }
    }

    pub fn tr(&mut self, key: usize, srv: usize, what: Tr) {
        let entry = Entry {
            at: self.now,
            server: srv as u32,
            what,
        };
        self.digest.add(&entry);
        let cap = self.cfg.trace_len;
        self.keys[key].ring.push(cap, entry);
    }

    pub fn violation(&mut self, invariant: super::Invariant, key: Option<usize>, message: String) {
        if self.violations.len() >= 50 {
            return;
        }
        let (id, trace) = match key {
            Some(k) => (Some(self.keys[k].id.clone()), self.keys[k].ring.lines()),
            None => (None, Vec::new()),
        };
        self.violations.push(Violation {
            seed: self.seed,
            fencing: self.cfg.fencing,
            invariant,
            at_ms: self.now,
            key: id,
            message,
            trace,
        });
    }

    pub(crate) fn key_of(&self, command: &Command) -> Option<usize> {
        let text = match command {
            Command::DataGet { key, .. }
            | Command::DataSet { key, .. }
            | Command::DataRemove { key, .. } => key,
            Command::LockAcquire { map, .. } | Command::LockRelease { map, .. } => map,
            Command::QueueAdd { queue, .. }
            | Command::QueueRead { queue, .. }
            | Command::QueueRemove { queue, .. } => queue,
        };
        self.key_index.get(text.as_str()).copied()
    }

    // ---- servers and sessions ---------------------------------------------------------------

    pub fn start_server(&mut self) -> usize {
        let srv = self.servers.len();
        let config = session::Config {
            seed: self.rng.next_u64(),
            fencing: self.cfg.fencing,
            // Half the servers load in the request that acquires (a Redis-like store); the
            // core uses it only with fencing.
            load_with_lock: (self.seed + srv as u64) % 2 == 1,
            ..session::Config::default()
        };
        let extra = &self.cfg.mix.extra;
        let clock = match extra.clock_rate {
            Some((lo, hi)) => {
                // A new process's clock starts near zero and runs at its own rate.
                let rate = lo + self.fx.next_f64() * (hi - lo);
                let reading = self.fx.range(0, 10_000) as f64;
                Some((reading - self.now as f64 * rate, rate))
            }
            None if extra.clock_steps_per_server_hour > 0.0 => Some((0.0, 1.0)),
            None => None,
        };
        self.servers.push(Server {
            module: Some(Module::new(config)),
            closing: false,
            close_done: false,
            hosts: BTreeMap::new(),
            calls: BTreeMap::new(),
            dirty: false,
            stalled: false,
            hold_outbound: false,
            stall_from: 0,
            stall_until: 0,
            timers_from: 0,
            clock,
        });
        self.stats.servers_started += 1;
        srv
    }

    /// The constructor arguments `(NAME, SCOPE, key)` for player `key`.
    pub fn session_args(&self, key: usize) -> [Value; 3] {
        [
            Value::String(NAME.into()),
            Value::String(SCOPE.into()),
            Value::String(self.keys[key].key_text.clone()),
        ]
    }

    /// `new` (or `hidden`) on a server: the session, and whether it is new to the host.
    pub fn open_session(
        &mut self,
        srv: usize,
        key: usize,
        hidden: bool,
    ) -> Option<(SessionId, bool)> {
        let mut bytes = [0u8; 16];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes()[..chunk.len()]);
        }
        let args = self.session_args(key);
        let local = self.local_now(srv);
        let module = self.servers[srv].module.as_mut()?;
        let sid = module.open_session(local, &args, hidden, bytes).ok()?;
        let unique = module.session(sid)?.unique_id().to_owned();
        if self.servers[srv].hosts.contains_key(&sid) {
            return Some((sid, false));
        }
        let gs = self.sessions.len() as u32;
        self.sessions.push(GsInfo {
            srv,
            sid,
            key,
            unique_id: unique.clone(),
        });
        self.owners.insert(unique, gs);
        self.keys[key].sessions.push(gs);
        self.servers[srv].hosts.insert(
            sid,
            Host {
                gs,
                key,
                value: Value::Nil,
                metadata: Value::Table(Table::new()),
                user_ids: Value::Array(Vec::new()),
                saving: None,
                saving_at: 0,
                open_since: None,
                lock_time: 0,
                busy_since: None,
                wedge_reported: false,
                release: false,
                listening_since: None,
                last_snapshot: None,
            },
        );
        self.servers[srv].dirty = true;
        Some((sid, true))
    }

    pub fn host(&self, srv: usize, sid: SessionId) -> Option<&Host> {
        self.servers[srv].hosts.get(&sid)
    }

    pub fn host_mut(&mut self, srv: usize, sid: SessionId) -> Option<&mut Host> {
        self.servers[srv].hosts.get_mut(&sid)
    }

    pub fn state(&self, srv: usize, sid: SessionId) -> Option<State> {
        Some(self.servers[srv].module.as_ref()?.session(sid)?.state())
    }

    /// Stops counting a session as open.
    fn closed(&mut self, srv: usize, sid: SessionId) {
        let now = self.now;
        if let Some(host) = self.servers[srv].hosts.get_mut(&sid) {
            if let Some(since) = host.open_since.take() {
                self.session_ms += now - since;
            }
        }
    }

    /// Forgets a session (released, or its server is gone).
    fn forget(&mut self, srv: usize, sid: SessionId) {
        self.closed(srv, sid);
        if let Some(host) = self.servers[srv].hosts.remove(&sid) {
            self.keys[host.key].sessions.retain(|gs| *gs != host.gs);
        }
    }

    /// Destroyed sessions with nothing in flight leave the module and the host.
    pub fn release_idle(&mut self, srv: usize) {
        let candidates: Vec<SessionId> = self.servers[srv]
            .hosts
            .iter()
            .filter(|(_, h)| h.release)
            .map(|(sid, _)| *sid)
            .collect();
        for sid in candidates {
            let released = self.servers[srv]
                .module
                .as_mut()
                .is_some_and(|m| m.release(sid));
            if released {
                self.forget(srv, sid);
            }
        }
    }

    /// The module vanishes: no unlock, no more replies; what it sent may still land.
    pub fn kill(&mut self, srv: usize, why: &'static str) {
        if self.servers[srv].module.is_none() {
            return;
        }
        let sids: Vec<SessionId> = self.servers[srv].hosts.keys().copied().collect();
        let mut touched: Vec<usize> = Vec::new();
        for sid in sids {
            if let Some(host) = self.servers[srv].hosts.get(&sid) {
                if !touched.contains(&host.key) {
                    touched.push(host.key);
                }
            }
            self.forget(srv, sid);
        }
        for key in touched {
            self.tr(key, srv, Tr::Server { text: why });
        }
        let server = &mut self.servers[srv];
        server.module = None;
        server.calls.clear();
        self.polls.retain(|_, p| p.srv != srv);
        self.server_gone(srv);
    }

    // ---- calls ---------------------------------------------------------------------------

    /// A method call on a session; its answer goes to the scenario (now, or at `CallDone`).
    pub fn call(&mut self, srv: usize, sid: SessionId, call: Call, purpose: Purpose) {
        let name = match &call {
            Call::Open { .. } => "Open",
            Call::Read { .. } => "Read",
            Call::Save => "Save",
            Call::Close => "Close",
            Call::Destroy => "Destroy",
            Call::Queue { .. } => "Queue",
            Call::Remove { .. } => "Remove",
        };
        let Some(host) = self.servers[srv].hosts.get(&sid) else {
            return;
        };
        let (gs, key) = (host.gs, host.key);
        let local = self.local_now(srv);
        let Some(module) = self.servers[srv].module.as_mut() else {
            return;
        };
        self.stats.calls += 1;
        let outcome = module.call(local, sid, call);
        self.servers[srv].dirty = true;
        self.tr(key, srv, Tr::Call { s: gs, call: name });
        match outcome {
            Ok(CallOutcome::Done { reply, reconcile }) => {
                if let (Some(template), Some(host)) =
                    (reconcile, self.servers[srv].hosts.get_mut(&sid))
                {
                    crate::template::apply_template(&mut host.value, &template);
                }
                self.answered(srv, sid, name, purpose, reply);
            }
            Ok(CallOutcome::Pending(id)) => {
                self.servers[srv].calls.insert(
                    id,
                    PendingCall {
                        purpose,
                        at: self.now,
                        gs,
                        name,
                        reported: false,
                    },
                );
            }
            Err(_) => {}
        }
    }

    fn answered(
        &mut self,
        srv: usize,
        sid: SessionId,
        name: &'static str,
        purpose: Purpose,
        reply: Reply,
    ) {
        if let Some(host) = self.servers[srv].hosts.get(&sid) {
            let (gs, key) = (host.gs, host.key);
            self.tr(
                key,
                srv,
                Tr::Answer {
                    s: gs,
                    call: name,
                    reply: reply.to_string(),
                },
            );
        }
        self.on_answer(srv, sid, purpose, reply);
    }

    // ---- what the host does with events --------------------------------------------------

    fn on_event(&mut self, srv: usize, event: Event) {
        let session = match &event {
            Event::BindToCloseDone(_) => {
                self.servers[srv].close_done = true;
                return;
            }
            // Roblox's ReadAsync cannot be stopped: the read runs its course, as on Roblox.
            Event::ReadUnwanted { .. } => return,
            Event::Loaded { session, .. }
            | Event::MetadataReset { session }
            | Event::StateChanged { session, .. }
            | Event::Saving { session }
            | Event::Saved { session, .. }
            | Event::AttemptsChanged { session, .. }
            | Event::ProcessQueue { session, .. }
            | Event::DisconnectAll { session }
            | Event::CallDone { session, .. } => *session,
        };
        let Some(host) = self.servers[srv].hosts.get_mut(&session) else {
            return;
        };
        let (gs, key) = (host.gs, host.key);
        match event {
            Event::Loaded {
                value,
                metadata,
                user_ids,
                ..
            } => {
                let (value, unreadable) = match value.into_tree() {
                    Ok(value) => (value, None),
                    Err(message) => (Value::Nil, Some(message)),
                };
                let v = tag(&value);
                host.value = value;
                host.metadata = metadata;
                host.user_ids = user_ids;
                self.tr(
                    key,
                    srv,
                    Tr::Event {
                        s: gs,
                        what: "Loaded",
                        v,
                    },
                );
                if let Some(message) = unreadable {
                    let message = format!("a Loaded value the host cannot read: {message}");
                    self.violation(super::Invariant::Durability, Some(key), message);
                }
            }
            Event::MetadataReset { .. } => {
                host.metadata = Value::Table(Table::new());
                host.user_ids = Value::Array(Vec::new());
            }
            Event::StateChanged { state, .. } => {
                let what = match state {
                    State::Open => {
                        host.open_since = Some(self.now);
                        "StateChanged(true)"
                    }
                    State::Closed => "StateChanged(false)",
                    State::Destroyed => "StateChanged(nil)",
                };
                self.tr(
                    key,
                    srv,
                    Tr::Event {
                        s: gs,
                        what,
                        v: None,
                    },
                );
                match state {
                    State::Open => self.check_exclusion(gs),
                    _ => self.closed(srv, session),
                }
            }
            Event::Saving { .. } => {
                let quirks = self.cfg.host_quirks;
                if quirks && self.rng.next_f64() < 0.03 {
                    // The Saving handler changes the value before it is taken.
                    self.stats.saving_edits += 1;
                    self.edit(srv, session);
                }
                let unconvertible = quirks && self.rng.next_f64() < 0.005;
                let Some(host) = self.servers[srv].hosts.get_mut(&session) else {
                    return;
                };
                let v = tag(&host.value);
                host.saving = v;
                host.saving_at = self.now;
                let snapshot = if unconvertible {
                    self.stats.snapshot_failures += 1;
                    host.last_snapshot = None;
                    Err("the host could not convert Value".to_owned())
                } else {
                    // Half the saves hand their value over as JSON text, as the JS host
                    // does, so both of the core's paths run under every fault mix.
                    let value = if v.is_some_and(|v| v % 2 == 0) {
                        SnapshotValue::Json(host.value.to_json_string())
                    } else {
                        SnapshotValue::Tree(host.value.clone())
                    };
                    let texts = format!("{:?}", (&value, &host.metadata, &host.user_ids));
                    let same_texts = host.last_snapshot.as_ref() == Some(&texts);
                    self.stats.same_texts += u64::from(same_texts);
                    host.last_snapshot = Some(texts);
                    Ok(Snapshot {
                        value,
                        metadata: host.metadata.clone(),
                        user_ids: host.user_ids.clone(),
                        same_texts,
                    })
                };
                self.tr(
                    key,
                    srv,
                    Tr::Event {
                        s: gs,
                        what: "Saving",
                        v,
                    },
                );
                let local = self.local_now(srv);
                if let Some(module) = self.servers[srv].module.as_mut() {
                    module.provide_snapshot(local, session, snapshot);
                }
            }
            Event::Saved { response, data, .. } => {
                let saving = host.saving;
                let what = match (response, &data) {
                    (Response::Saved, _) => "Saved(\"Saved\")",
                    (_, session::Data::Text(t)) if t == session::REFRESH_FIRST => {
                        self.stats.saves_gave_way += 1;
                        "Saved(\"Error\"): gave way to the lock refresh"
                    }
                    (_, session::Data::Text(t)) if t == session::LEASE_LAPSED => {
                        "Saved(\"Error\"): the lease lapsed"
                    }
                    _ => "Saved(\"Error\")",
                };
                self.tr(
                    key,
                    srv,
                    Tr::Event {
                        s: gs,
                        what,
                        v: saving,
                    },
                );
                if response == Response::Saved {
                    if let Some(v) = saving {
                        self.acknowledged(key, v, gs);
                    }
                }
            }
            Event::AttemptsChanged { remaining, .. } => {
                self.tr(
                    key,
                    srv,
                    Tr::Count {
                        s: gs,
                        what: "AttemptsChanged",
                        n: remaining,
                    },
                );
            }
            Event::ProcessQueue { id, values, .. } => {
                let n = values.len() as i64;
                self.tr(
                    key,
                    srv,
                    Tr::Count {
                        s: gs,
                        what: "ProcessQueue items",
                        n,
                    },
                );
                self.on_process_queue(srv, session, id, values);
            }
            Event::DisconnectAll { .. } => host.listening_since = None,
            Event::CallDone { call, reply, .. } => {
                if let Some(pending) = self.servers[srv].calls.remove(&call) {
                    self.answered(srv, session, pending.name, pending.purpose, reply);
                }
            }
            Event::BindToCloseDone(_) | Event::ReadUnwanted { .. } => {}
        }
    }
}
