//! The invariants, checked as the simulation runs.
//!
//! * **Exclusion** is checked whenever a session's belief grows: when it turns open and when a
//!   refresh it accepted succeeds. Any other session of the key that is open with a lease it
//!   believes valid at that moment is a violation. And when a data write lands, the lock entry
//!   must be its sender's: D8 sends a write only under a lease, so a write that meets someone
//!   else's entry (or none) shows the lease was not true at the store, even when nothing is
//!   lost this time (fencing refuses it, or no one else wrote yet).
//! * **Durability** is checked when a data write lands and when a save is acknowledged: the
//!   stored value must descend from (or be) every acknowledged one. Each edit gets a fresh tag
//!   whose parent is the tag the session held, so "descends from" means "was made by a session
//!   that had loaded it".
//! * **Liveness** is sampled every 10 s (calls waiting longer than [`CALL_BOUND_MS`], task
//!   queues never empty for [`WEDGE_BOUND_MS`]) and checked at the end (every server's final
//!   bind-to-close finishes).
//! * **Delivery** is checked at the end: every gift whose `Queue` answered `"Success"` was
//!   handed to a `ProcessQueue` handler, or is still in its queue, or has expired.

use super::world::{gift_of, Sim};
use super::{Invariant, CALL_BOUND_MS, DELIVERY_BOUND_MS, WEDGE_BOUND_MS};
use crate::session::{SessionId, State};

/// Every value tag's parent, so ancestry can be asked. Tag 0 is the template (a new key).
#[derive(Debug)]
pub(crate) struct Lineage {
    parent: Vec<u64>,
    depth: Vec<u32>,
}

impl Default for Lineage {
    fn default() -> Self {
        Lineage {
            parent: vec![0],
            depth: vec![0],
        }
    }
}

impl Lineage {
    /// A new tag made from `parent`.
    pub fn child(&mut self, parent: u64) -> u64 {
        let v = self.parent.len() as u64;
        let depth = self.depth.get(parent as usize).map_or(0, |d| d + 1);
        self.parent.push(parent);
        self.depth.push(depth);
        v
    }

    fn depth(&self, v: u64) -> u32 {
        self.depth.get(v as usize).copied().unwrap_or(0)
    }

    /// Whether `a` is `b` or one of its ancestors.
    pub fn is_ancestor(&self, a: u64, b: u64) -> bool {
        let mut b = b;
        while self.depth(b) > self.depth(a) {
            b = self.parent[b as usize];
        }
        a == b
    }

    /// `v` and its ancestors, newest first, at most `n`.
    pub fn path(&self, v: u64, n: usize) -> String {
        let mut out = vec![format!("v{v}")];
        let mut v = v;
        while v != 0 && out.len() < n {
            v = self.parent[v as usize];
            out.push(format!("v{v}"));
        }
        out.join(" <- ")
    }
}

impl Sim {
    // ---- exclusion ----

    /// Session `gs` may have just started believing it holds its key.
    pub(crate) fn check_exclusion(&mut self, gs: u32) {
        let me = &self.sessions[gs as usize];
        let (key, srv, sid) = (me.key, me.srv, me.sid);
        if !self.believes(srv, sid) {
            return;
        }
        let others: Vec<u32> = self.keys[key]
            .sessions
            .iter()
            .copied()
            .filter(|o| *o != gs)
            .collect();
        for other in others {
            let o = &self.sessions[other as usize];
            if self.believes(o.srv, o.sid) {
                let mine = self.host(srv, sid).map_or(0, |h| h.lock_time);
                let theirs = self.host(o.srv, o.sid).map_or(0, |h| h.lock_time);
                let message = format!(
                    "s{gs} (srv{srv}, lease to {}) and s{other} (srv{}, lease to {}) are both open with a valid lease",
                    super::trace::clock(mine),
                    o.srv,
                    super::trace::clock(theirs)
                );
                self.violation(Invariant::Exclusion, Some(key), message);
            }
        }
    }

    /// A data write from session `writer` lands now: the lock entry must still be its own
    /// (the lease it sent the write under, D8, must be true at the store).
    pub(crate) fn check_lease(&mut self, key: usize, writer: u32, cmd: crate::session::CommandId) {
        let info = &self.sessions[writer as usize];
        let id = &self.keys[key].key_text;
        let holder = self
            .emu
            .inspect_lock(super::world::NAME, super::world::SCOPE, id, self.now);
        let mine =
            matches!(&holder, Some((crate::value::Value::String(h), _)) if *h == info.unique_id);
        if !mine {
            let whose = match holder {
                None => "nobody's (expired or released)".to_owned(),
                Some((crate::value::Value::String(h), _)) => match self.owner_of(&h) {
                    Some(gs) => format!("s{gs}'s"),
                    None => "another session's".to_owned(),
                },
                Some(_) => "not a session's".to_owned(),
            };
            let message = format!(
                "s{writer}'s write #{} (srv{}) lands while the lock is {whose}: the lease it was sent under was not true at the store",
                cmd.0, info.srv
            );
            self.violation(Invariant::Exclusion, Some(key), message);
        }
    }

    /// Open, and its lease is valid by its own clock.
    fn believes(&self, srv: usize, sid: SessionId) -> bool {
        self.state(srv, sid) == Some(State::Open)
            && self.host(srv, sid).is_some_and(|h| self.now < h.lock_time)
    }

    // ---- durability ----

    /// A save of tag `v` by session `gs` answered "Saved".
    pub(crate) fn acknowledged(&mut self, key: usize, v: u64, gs: u32) {
        self.stats.saves_acknowledged += 1;
        let ks = &self.keys[key];
        let next = match ks.max_acked {
            None => v,
            Some(m) if self.lineage.is_ancestor(v, m) => m,
            Some(m) if self.lineage.is_ancestor(m, v) => v,
            Some(m) => {
                let message = format!(
                    "s{gs} was told v{v} is saved, but v{m} was acknowledged before and neither descends from the other ({}; {})",
                    self.lineage.path(v, 6),
                    self.lineage.path(m, 6)
                );
                self.keys[key].max_acked = Some(v);
                return self.lost(key, message);
            }
        };
        self.keys[key].max_acked = Some(next);
        if let Some(stored) = self.keys[key].stored {
            if !self.lineage.is_ancestor(next, stored) {
                let message = format!(
                    "s{gs} was told v{v} is saved, but the store holds v{stored}, which does not descend from v{next} ({})",
                    self.lineage.path(stored, 6)
                );
                self.lost(key, message);
            }
        }
    }

    /// A data write landed; the store now holds `stored`.
    pub(crate) fn store_written(&mut self, key: usize, stored: Option<u64>) {
        self.keys[key].stored = stored;
        let Some(acked) = self.keys[key].max_acked else {
            return;
        };
        let kept = stored.is_some_and(|s| self.lineage.is_ancestor(acked, s));
        if !kept {
            let message = match stored {
                Some(s) => format!(
                    "a write replaced acknowledged v{acked} with v{s}, which does not descend from it ({})",
                    self.lineage.path(s, 6)
                ),
                None => format!("a remove deleted acknowledged v{acked}"),
            };
            // Judge later acknowledgements against what the store holds now.
            self.keys[key].max_acked = stored;
            self.lost(key, message);
        }
    }

    fn lost(&mut self, key: usize, message: String) {
        self.keys[key].durability_reports += 1;
        if self.keys[key].durability_reports <= 3 {
            self.violation(Invariant::Durability, Some(key), message);
        }
    }

    // ---- liveness ----

    /// Calls waiting too long and sessions that never drain.
    pub(crate) fn sample_liveness(&mut self) {
        let now = self.now;
        let mut found: Vec<(usize, String)> = Vec::new();
        for srv in 0..self.servers.len() {
            let server = &mut self.servers[srv];
            let Some(module) = server.module.as_ref() else {
                continue;
            };
            if server.stalled {
                // Judged when it runs again (its stall does not count).
                continue;
            }
            for (call, pending) in server.calls.iter_mut() {
                if !pending.reported && now - pending.at > CALL_BOUND_MS {
                    pending.reported = true;
                    let key = self.sessions[pending.gs as usize].key;
                    found.push((
                        key,
                        format!(
                            "s{} {}() (call {}) on srv{srv} has waited since {}",
                            pending.gs,
                            pending.name,
                            call.0,
                            super::trace::clock(pending.at)
                        ),
                    ));
                }
            }
            for (sid, host) in server.hosts.iter_mut() {
                let busy = module.session(*sid).is_some_and(|s| s.tasks() > 0);
                if !busy {
                    host.busy_since = None;
                    continue;
                }
                let since = *host.busy_since.get_or_insert(now);
                if !host.wedge_reported && now - since > WEDGE_BOUND_MS {
                    host.wedge_reported = true;
                    found.push((
                        host.key,
                        format!(
                            "s{} on srv{srv} has had tasks queued since {}",
                            host.gs,
                            super::trace::clock(since)
                        ),
                    ));
                }
            }
        }
        for (key, message) in found {
            self.violation(Invariant::Liveness, Some(key), message);
        }
    }

    /// At the end: servers whose bind-to-close never finished.
    pub(crate) fn check_shutdowns(&mut self) {
        for srv in 0..self.servers.len() {
            let Some(module) = self.servers[srv].module.as_ref() else {
                continue;
            };
            let stuck: Vec<(usize, u32, usize)> = self.servers[srv]
                .hosts
                .iter()
                .filter_map(|(sid, h)| {
                    let s = module.session(*sid)?;
                    (s.state() != State::Destroyed || s.tasks() > 0).then_some((
                        h.key,
                        h.gs,
                        s.tasks(),
                    ))
                })
                .collect();
            let message = format!(
                "srv{srv}'s bind-to-close has not finished; sessions not done: {}",
                stuck
                    .iter()
                    .map(|(_, gs, tasks)| format!("s{gs} ({tasks} tasks)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let key = stuck.first().map(|(k, _, _)| *k);
            self.violation(Invariant::Liveness, key, message);
        }
    }

    // ---- delivery ----

    /// Gifts that wait although their player has been open and listening for a long time.
    pub(crate) fn sample_delivery(&mut self) {
        let now = self.now;
        let Some(since) = now.checked_sub(DELIVERY_BOUND_MS) else {
            return;
        };
        let mut late = Vec::new();
        for (g, gift) in self.gifts.iter().enumerate() {
            let waiting = gift.acked
                && !gift.delivered
                && !gift.late_reported
                && gift.landed_at.is_some_and(|at| at <= since)
                && gift.expires_at.is_some_and(|at| at > now);
            if !waiting {
                continue;
            }
            let listener = self.keys[gift.key].sessions.iter().find_map(|gs| {
                let info = &self.sessions[*gs as usize];
                let host = self.servers[info.srv].hosts.get(&info.sid)?;
                let open = host.open_since?;
                let listening = host.listening_since?;
                (open.max(listening) <= since).then_some(*gs)
            });
            if let Some(gs) = listener {
                late.push((g, gift.key, gs));
            }
        }
        for (g, key, gs) in late {
            self.gifts[g].late_reported = true;
            let message = format!(
                "gift{g} has waited in the queue for over {} min while s{gs} was open and listening",
                DELIVERY_BOUND_MS / 60_000
            );
            self.violation(Invariant::Delivery, Some(key), message);
        }
    }

    /// At the end: every acknowledged gift was delivered, is still queued, or has expired.
    pub(crate) fn check_delivery(&mut self) {
        let now = self.now;
        let mut lost = Vec::new();
        for (g, gift) in self.gifts.iter().enumerate() {
            if !gift.acked || gift.delivered {
                continue;
            }
            let expired = gift.expires_at.is_some_and(|at| at <= now);
            if expired {
                continue;
            }
            let queued = self
                .emu
                .inspect_queue(&self.keys[gift.key].id, now)
                .iter()
                .any(|item| gift_of(&item.value) == Some(g as u64));
            if !queued {
                lost.push((gift.key, g));
            }
        }
        for (key, g) in lost {
            let message = format!(
                "gift{g} was queued (\"Success\"), never delivered, and is no longer in the queue"
            );
            self.violation(Invariant::Delivery, Some(key), message);
        }
    }
}
