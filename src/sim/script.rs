//! Hand-written scenarios on the simulation's driver and checks: a few servers, explicit calls,
//! explicit time. A regression the random scenario found is replayed here in a handful of steps
//! (`tests/sim_regressions.rs`), with the same invariants watching.

use super::scenario::Purpose;
use super::world::{tag, Sim};
use super::{SimConfig, Violation, CALL_BOUND_MS};
use crate::emulator::Emulator;
use crate::session::{Call, Input, Reply, SessionId, State};
use crate::value::Value;

/// A scripted run. Servers, sessions and calls are made explicitly; nothing random happens
/// except what the configured [`Mix`](super::Mix) injects (use [`Mix::calm`](super::Mix::calm)
/// and set faults through [`Script::emulator`] for exact steps).
pub struct Script {
    sim: Sim,
    next_token: u64,
}

impl Script {
    pub fn new(seed: u64, config: SimConfig) -> Script {
        let config = SimConfig {
            host_quirks: false,
            ..config
        };
        let mut sim = Sim::new(seed, config);
        // No end: the liveness sample keeps running as long as the script does.
        sim.end = u64::MAX / 4;
        sim.start_sampling();
        Script { sim, next_token: 0 }
    }

    /// Starts a server; returns its number (its emulator client id).
    pub fn server(&mut self) -> usize {
        self.sim.start_server()
    }

    /// `new(name, scope, "P{player}")` with a ProcessQueue handler connected, as a player's
    /// session is made.
    pub fn session(&mut self, srv: usize, player: usize) -> SessionId {
        let (sid, new) = self
            .sim
            .open_session(srv, player, false)
            .expect("the server is up");
        if new {
            self.sim.connect_process_queue(srv, sid);
        }
        sid
    }

    /// `hidden(name, scope, "P{player}")`.
    pub fn hidden(&mut self, srv: usize, player: usize) -> SessionId {
        self.sim
            .open_session(srv, player, true)
            .expect("the server is up")
            .0
    }

    /// Makes a call and runs virtual time until it is answered.
    pub fn call(&mut self, srv: usize, sid: SessionId, call: Call) -> Reply {
        let token = self.start(srv, sid, call);
        let deadline = self.sim.now + CALL_BOUND_MS;
        loop {
            if let Some(reply) = self.answer(token) {
                return reply;
            }
            assert!(
                self.sim.now < deadline,
                "call {token} was not answered within {CALL_BOUND_MS} ms"
            );
            self.advance(100);
        }
    }

    /// Makes a call without waiting; [`Script::answer`] gives its answer once it came.
    pub fn start(&mut self, srv: usize, sid: SessionId, call: Call) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.sim.call(srv, sid, call, Purpose::Script(token));
        self.sim.pump_dirty();
        token
    }

    pub fn answer(&self, token: u64) -> Option<Reply> {
        self.sim.answers.get(&token).cloned()
    }

    /// `Open(template)` with the scenario's template.
    pub fn open(&mut self, srv: usize, sid: SessionId) -> Reply {
        let template = Some(super::scenario::template());
        self.call(srv, sid, Call::Open { template })
    }

    /// One edit of the session's value (a new version tag, which it returns).
    pub fn edit(&mut self, srv: usize, sid: SessionId) -> Option<u64> {
        self.sim.edit(srv, sid);
        self.sim.pump_dirty();
        self.sim.host(srv, sid).and_then(|h| tag(&h.value))
    }

    /// Assigns a numeric property; panics if the session refuses it.
    pub fn set(&mut self, srv: usize, sid: SessionId, name: &str, value: f64) {
        let module = self.sim.servers[srv].module.as_mut().expect("server up");
        module
            .set_property(self.sim.now, sid, name, Input::Number(value))
            .expect("a valid property");
        self.sim.pump_later(srv);
        self.sim.pump_dirty();
    }

    /// Runs `ms` of virtual time.
    pub fn advance(&mut self, ms: u64) {
        let until = self.sim.now + ms;
        self.sim.run_until(until);
    }

    pub fn now(&self) -> u64 {
        self.sim.now
    }

    /// The module vanishes without unlocking; what it sent may still land.
    pub fn crash(&mut self, srv: usize) {
        self.sim.kill(srv, "crashes (scripted)");
    }

    /// The next `command` (`Command::name()`) this server sends reaches the store `extra_ms`
    /// later than the network would take.
    pub fn hold(&mut self, srv: usize, command: &'static str, extra_ms: u64) {
        self.sim.holds.push((srv, command, extra_ms));
    }

    /// The emulator, to change faults or inspect the store.
    pub fn emulator(&mut self) -> &mut Emulator {
        &mut self.sim.emu
    }

    pub fn state(&self, srv: usize, sid: SessionId) -> Option<State> {
        self.sim.state(srv, sid)
    }

    /// The session's value as its host holds it.
    pub fn value(&self, srv: usize, sid: SessionId) -> Option<Value> {
        self.sim.host(srv, sid).map(|h| h.value.clone())
    }

    /// The version tag the store holds for a player.
    pub fn stored(&self, player: usize) -> Option<u64> {
        let id = &self.sim.keys[player].key_text;
        self.sim
            .emu
            .inspect_data(super::world::NAME, super::world::SCOPE, id)
            .and_then(|(v, _)| tag(&v))
    }

    pub fn violations(&self) -> &[Violation] {
        &self.sim.violations
    }

    /// The player's key's last events, readable.
    pub fn trace(&self, player: usize) -> Vec<String> {
        self.sim.keys[player].ring.lines()
    }
}
