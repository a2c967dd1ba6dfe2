//! How a command reaches the store and its answer comes back: the network's one-way delay,
//! the command → emulator mapping (applied when the request lands), the reply's latency, and
//! the long poll of `QueueRead`.

use std::collections::HashMap;

use super::trace::{After, Detail, Res, Tr};
use super::world::{gift_of, tag, tag_text, Ev, Sim};
use super::ReadCache;
use crate::codec;
use crate::emulator::{ErrorKind, Op, StoreError, DEFAULT_INVISIBILITY_S, LOCK_KEY};
use crate::fence::{LockDecision, LockMode};
use crate::session::{self, Command, CommandId, DataKey, LoadedValue, StoreResult};
use crate::value::{Table, Value};

/// Roblox re-reads a queue this often during a long poll.
const POLL_EVERY_MS: u64 = 2_000;

/// A long poll in progress: `QueueRead` found nothing and waits.
pub(crate) struct Poll {
    pub srv: usize,
    cmd: CommandId,
    key: Option<usize>,
    queue: String,
    count: usize,
    all_or_nothing: bool,
    start: u64,
    end: u64,
    /// The reply's way back.
    latency: u64,
    next_check: u64,
    generation: u64,
}

fn error_kind(error: &StoreError) -> &'static str {
    error_kind_name(error.kind)
}

fn error_kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Transient => "transient",
        ErrorKind::Throttled => "throttled",
        ErrorKind::InvalidRequest => "invalid request",
        ErrorKind::Fenced => "fenced",
        ErrorKind::Conflict => "update conflict",
        ErrorKind::OverQuota => "over quota",
        ErrorKind::ShuttingDown => "shutting down",
    }
}

fn failed(error: StoreError) -> (StoreResult, Res) {
    let kind = error_kind(&error);
    let result = if error.kind.is_retryable() {
        StoreResult::Error(error.message)
    } else {
        StoreResult::Invalid(error.message)
    };
    (result, Res::Error(kind))
}

fn user_ids_of(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| match v {
                Value::Number(n) => Some(*n),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn metadata_of(value: &Value) -> Table {
    match value {
        Value::Table(t) => t.clone(),
        _ => Table::new(),
    }
}

impl Sim {
    // ---- the network -----------------------------------------------------------------------

    fn uplink(&mut self) -> u64 {
        let mix = &self.cfg.mix;
        let mut delay = self.net.range(mix.uplink.base_ms.0, mix.uplink.base_ms.1);
        let spike = self.net.next_f64() < mix.uplink.spike;
        let spike_ms = self.net.range(mix.uplink.spike_ms.0, mix.uplink.spike_ms.1);
        let slow_ms = self.net.range(mix.slow_uplink_ms.0, mix.slow_uplink_ms.1);
        if spike {
            self.stats.uplink_spikes += 1;
            delay += spike_ms;
        }
        if self.slow {
            delay += slow_ms;
        }
        delay
    }

    pub(crate) fn send(&mut self, srv: usize, cmd: CommandId, command: Command) {
        self.stats.commands += 1;
        let mut land_at = self.now + self.uplink();
        if let Some(i) = self
            .holds
            .iter()
            .position(|(s, name, _)| *s == srv && *name == command.name())
        {
            land_at += self.holds.remove(i).2;
        }
        let key = self.key_of(&command);
        let owner = |owners: &HashMap<String, u32>, o: &str| owners.get(o).copied();
        let writer = self.writer_of(srv, key, &command);
        let (detail, belief) = match &command {
            Command::DataSet { value, .. } => (
                Detail::Write {
                    v: tag_text(value),
                    by: writer,
                },
                None,
            ),
            Command::DataRemove { .. } => (
                Detail::Write {
                    v: None,
                    by: writer,
                },
                None,
            ),
            Command::LockAcquire { owner: o, .. } => {
                let gs = owner(&self.owners, o);
                // The session reads I and A when it sends the try; success makes its lease
                // run to this send time + I × A (§8.2).
                let budget = gs.and_then(|gs| {
                    let info = &self.sessions[gs as usize];
                    let s = self.servers[info.srv].module.as_ref()?.session(info.sid)?;
                    Some(s.lock_interval() * s.lock_attempts())
                });
                (
                    gs.map_or(Detail::None, Detail::Owner),
                    gs.zip(budget).map(|(gs, budget)| {
                        // Its own clock's reading, back in the store's time.
                        let server = &self.servers[srv];
                        let until = server.local(self.now) + session::secs_to_ms(budget);
                        (gs, server.global(until, self.now))
                    }),
                )
            }
            Command::LockRelease { owner: o, .. } => (
                owner(&self.owners, o).map_or(Detail::None, Detail::Owner),
                None,
            ),
            Command::QueueAdd { value, .. } => {
                (gift_of(value).map_or(Detail::None, Detail::Gift), None)
            }
            _ => (Detail::None, None),
        };
        if let Some(key) = key {
            let what = command.name();
            self.tr(
                key,
                srv,
                Tr::Send {
                    cmd: cmd.0,
                    what,
                    detail,
                    land_at,
                },
            );
        }
        self.schedule(
            land_at,
            Ev::Apply {
                srv,
                cmd,
                command,
                belief,
                writer,
                sent_at: self.now,
            },
        );
    }

    /// Who sent a data write: the fence's owner, or the session of that key on that server
    /// whose save is handing over that value.
    fn writer_of(&self, srv: usize, key: Option<usize>, command: &Command) -> Option<u32> {
        let (fence, value) = match command {
            Command::DataSet { fence, value, .. } => (fence, Some(value)),
            Command::DataRemove { fence, .. } => (fence, None),
            _ => return None,
        };
        if let Some(fence) = fence {
            return self.owners.get(&fence.owner).copied();
        }
        let key = key?;
        let v = value.and_then(tag_text);
        // Only a session that believes it holds the lock sends a write, so the latest `Saving`
        // of that key on that server is the one.
        self.servers[srv]
            .hosts
            .values()
            .filter(|h| h.key == key && h.saving.is_some() && h.saving == v)
            .max_by_key(|h| h.saving_at)
            .map(|h| h.gs)
    }

    /// The request reaches the store: the emulator runs it now.
    pub(crate) fn apply(
        &mut self,
        srv: usize,
        cmd: CommandId,
        command: Command,
        belief: Option<(u32, u64)>,
        writer: Option<u32>,
        sent_at: u64,
    ) {
        let now = self.now;
        let client = srv as u32;
        let key = self.key_of(&command);
        let what = command.name();
        // D8 promises that a write landing before its deadline lands under its sender's lock.
        // One that lands after its sender gave up on it (Mix::late_writes) can't be kept from
        // landing; a fencing store must refuse it (checked below).
        let late = now > sent_at + session::Config::default().data_timeout_ms;
        let data_key = match &command {
            Command::DataSet {
                name, scope, key, ..
            }
            | Command::DataRemove {
                name, scope, key, ..
            } => Some((name.clone(), scope.clone(), key.clone())),
            _ => None,
        };
        let version_before = self.data_version(data_key.as_ref());
        if !self.servers[srv].alive() {
            self.stats.orphan_applies += 1;
        }
        let mut stored_after: Option<Option<u64>> = None;
        let (result, res, latency) = match command {
            Command::DataGet { name, scope, key } => self.data_get(client, &name, &scope, &key),
            Command::DataSet {
                name,
                scope,
                key,
                value,
                user_ids,
                metadata,
                fence,
            } => {
                let reply = self.emu.data_set(
                    now,
                    client,
                    &name,
                    &scope,
                    &key,
                    // Canonical JSON always reads back; were it not, the value stored is
                    // one no check accepts, so the run reports it.
                    value
                        .to_value()
                        .unwrap_or_else(|e| Value::String(format!("unreadable JSON: {e}"))),
                    user_ids_of(&user_ids.to_value().unwrap_or_default()),
                    metadata_of(&metadata.to_value().unwrap_or_default()),
                    fence.as_ref(),
                );
                stored_after = Some(
                    self.emu
                        .inspect_data(&name, &scope, &key)
                        .and_then(|(v, _)| tag(&v)),
                );
                let latency = reply.latency_ms;
                let (result, res) = match reply.result {
                    Ok(version) => (StoreResult::Written { version }, Res::Written),
                    Err(e) => failed(e),
                };
                (result, res, latency)
            }
            Command::DataRemove {
                name,
                scope,
                key,
                fence,
            } => {
                let reply = self
                    .emu
                    .data_remove(now, client, &name, &scope, &key, fence.as_ref());
                stored_after = Some(
                    self.emu
                        .inspect_data(&name, &scope, &key)
                        .and_then(|(v, _)| tag(&v)),
                );
                let latency = reply.latency_ms;
                let (result, res) = match reply.result {
                    Ok(_) => (StoreResult::Done, Res::Done),
                    Err(e) => failed(e),
                };
                (result, res, latency)
            }
            Command::LockAcquire {
                map,
                owner,
                token,
                held,
                ttl_s,
                load,
            } => {
                let mode = LockMode::acquire_or_renew(held);
                let reply = self.emu.lock(now, client, &map, mode, &owner, token, ttl_s);
                let mut latency = reply.latency_ms;
                let (result, res) = match reply.result {
                    Ok(LockDecision::Write) => match &load {
                        // A store that reads in the acquiring request (Redis's script) reads
                        // right after the entry is written, and answers both together.
                        Some(DataKey { name, scope, key }) => {
                            let (got, _, read_latency) = self.data_get(client, name, scope, key);
                            latency += read_latency;
                            (StoreResult::AcquiredAndGot(Box::new(got)), Res::Acquired)
                        }
                        None => (StoreResult::Acquired, Res::Acquired),
                    },
                    Ok(LockDecision::Locked(holder)) => self.locked_by(holder),
                    Ok(LockDecision::Lapsed) => {
                        let deadline = session::Config::default().memory_timeout_ms;
                        if now <= sent_at + deadline {
                            self.stats.lapses += 1;
                        }
                        (StoreResult::Lapsed, Res::Lapsed)
                    }
                    Ok(LockDecision::Nothing) => (
                        StoreResult::Error("the lock update did nothing".into()),
                        Res::Error("cancelled"),
                    ),
                    Err(e) => failed(e),
                };
                (result, res, latency)
            }
            Command::LockRelease { map, owner, token } => {
                let reply = self
                    .emu
                    .lock(now, client, &map, LockMode::Release, &owner, token, 0.0);
                let latency = reply.latency_ms;
                let (result, res) = match reply.result {
                    Ok(_) => (StoreResult::Done, Res::Done),
                    Err(e) => failed(e),
                };
                (result, res, latency)
            }
            Command::QueueAdd {
                queue,
                value,
                expiration,
                priority,
            } => {
                let gift = gift_of(&value);
                let reply = self
                    .emu
                    .queue_add(now, client, &queue, value, expiration, priority);
                if let Some(g) = gift {
                    self.gift_landed(g, expiration);
                }
                self.wake_polls(&queue);
                let latency = reply.latency_ms;
                let (result, res) = match reply.result {
                    Ok(()) => (StoreResult::Done, Res::Done),
                    Err(e) => failed(e),
                };
                (result, res, latency)
            }
            Command::QueueRemove { queue, read_id } => {
                let reply = self.emu.queue_remove(now, client, &queue, &read_id);
                let latency = reply.latency_ms;
                let (result, res) = match reply.result {
                    Ok(()) => (StoreResult::Done, Res::Done),
                    Err(e) => failed(e),
                };
                (result, res, latency)
            }
            Command::QueueRead {
                queue,
                count,
                all_or_nothing,
                wait_s,
            } => {
                return self.start_poll(
                    srv,
                    cmd,
                    key,
                    queue,
                    count as usize,
                    all_or_nothing,
                    wait_s,
                );
            }
        };
        if let (Some(key), Some(writer)) = (key, writer) {
            let applied = self.data_version(data_key.as_ref()) != version_before;
            if !late || applied {
                self.check_lease(key, writer, cmd);
            } else if res == Res::Error(error_kind_name(ErrorKind::Fenced)) {
                self.stats.late_writes_fenced += 1;
            }
        }
        if let Some(key) = key {
            let after = match (&stored_after, what) {
                (Some(stored), _) => After::Value(*stored),
                (None, "LockAcquire" | "LockRelease") => self.lock_after(key),
                _ => After::Nothing,
            };
            self.tr(
                key,
                srv,
                Tr::Apply {
                    cmd: cmd.0,
                    what,
                    result: res,
                    after,
                },
            );
            if let Some(stored) = stored_after {
                self.stats.writes_applied += 1;
                self.store_written(key, stored);
            }
        }
        self.reply_later(srv, cmd, key, result, res, belief, latency);
    }

    /// The stored version of a data key (`None` inside when absent), to tell whether a write
    /// was applied.
    fn data_version(&self, data_key: Option<&(String, String, String)>) -> Option<Option<String>> {
        data_key.map(|(name, scope, key)| {
            self.emu
                .inspect_data(name, scope, key)
                .map(|(_, info)| info.version)
        })
    }

    pub fn owner_of(&self, unique_id: &str) -> Option<u32> {
        self.owners.get(unique_id).copied()
    }

    /// The lock entry of a key as the store holds it now.
    fn lock_after(&self, key: usize) -> After {
        let entry = self
            .emu
            .inspect_map_entry(&self.keys[key].id, LOCK_KEY, self.now);
        After::Lock(entry.map(|(holder, until)| {
            let gs = match holder {
                Value::String(h) => self.owners.get(&h).copied(),
                _ => None,
            };
            (gs, until)
        }))
    }

    fn locked_by(&self, holder: Value) -> (StoreResult, Res) {
        match holder {
            Value::String(holder) => {
                let gs = self.owners.get(&holder).copied();
                (StoreResult::Locked { holder }, Res::Locked(gs))
            }
            other => (
                StoreResult::Locked {
                    holder: other.to_json_string(),
                },
                Res::Locked(None),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)] // the parts of a reply in flight
    fn reply_later(
        &mut self,
        srv: usize,
        cmd: CommandId,
        key: Option<usize>,
        result: StoreResult,
        res: Res,
        belief: Option<(u32, u64)>,
        latency: u64,
    ) {
        if !self.servers[srv].alive() {
            return;
        }
        self.schedule(
            self.now + latency,
            Ev::Deliver {
                srv,
                cmd,
                key,
                result,
                res,
                belief,
            },
        );
    }

    pub(crate) fn deliver(
        &mut self,
        srv: usize,
        cmd: CommandId,
        key: Option<usize>,
        result: StoreResult,
        res: Res,
        belief: Option<(u32, u64)>,
    ) {
        let local = self.local_now(srv);
        let Some(module) = self.servers[srv].module.as_mut() else {
            return;
        };
        let taken = module.complete(local, cmd, result);
        self.servers[srv].dirty = true;
        if !taken {
            self.stats.late_replies += 1;
        }
        if let Some(key) = key {
            self.tr(
                key,
                srv,
                Tr::Reply {
                    cmd: cmd.0,
                    result: res,
                    taken,
                },
            );
        }
        if taken && res == Res::Acquired {
            if let Some((gs, lock_time)) = belief {
                let info = &self.sessions[gs as usize];
                let (srv, sid) = (info.srv, info.sid);
                if let Some(host) = self.servers[srv].hosts.get_mut(&sid) {
                    host.lock_time = lock_time;
                }
                self.check_exclusion(gs);
            }
        }
    }

    /// A `DataGet` on the emulator, now: its result, its trace line and its latency.
    fn data_get(
        &mut self,
        client: u32,
        name: &str,
        scope: &str,
        key: &str,
    ) -> (StoreResult, Res, u64) {
        let now = self.now;
        let use_cache = self.cfg.read_cache == ReadCache::Roblox;
        let sent = self.emu.fault_counts().get(Op::DataGet).requests;
        let reply = self.emu.data_get(now, client, name, scope, key, use_cache);
        // A cache hit never reaches the pretend network, so it is not counted as a request.
        let cached = reply.is_ok() && self.emu.fault_counts().get(Op::DataGet).requests == sent;
        if cached {
            self.stats.cached_loads += 1;
            let fresh = self.emu.inspect_data(name, scope, key).map(|(v, _)| v);
            let served = reply
                .result
                .as_ref()
                .ok()
                .and_then(|e| e.as_ref().map(|(v, _)| v));
            if fresh.as_ref() != served {
                self.stats.stale_loads += 1;
            }
        }
        let latency = reply.latency_ms;
        let (result, res) = match reply.result {
            Ok(Some((value, info))) => {
                let v = tag(&value);
                let info = session::KeyInfo {
                    version: info.version,
                    created_time: info.created_ms as f64,
                    updated_time: info.updated_ms as f64,
                    user_ids: Value::Array(info.user_ids.into_iter().map(Value::Number).collect()),
                    metadata: Value::Table(info.metadata),
                };
                // Half the loads hand the value over as the JSON text a JS host
                // reads from its store (the other half of the saves' parity), so
                // the core's text path runs under every fault mix too.
                let json = v
                    .is_some_and(|v| v % 2 == 1)
                    .then(|| value.to_json_string());
                let value = match json {
                    Some(json) if codec::json::is_canonical(&json) => LoadedValue::Json(json),
                    _ => LoadedValue::Tree(value),
                };
                (
                    StoreResult::Got {
                        value,
                        info: Some(info),
                    },
                    Res::Got(v, cached),
                )
            }
            Ok(None) => (
                StoreResult::Got {
                    value: LoadedValue::Tree(Value::Nil),
                    info: None,
                },
                Res::Got(None, cached),
            ),
            Err(e) => failed(e),
        };
        (result, res, latency)
    }

    // ---- the long poll -------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)] // a QueueRead's arguments
    fn start_poll(
        &mut self,
        srv: usize,
        cmd: CommandId,
        key: Option<usize>,
        queue: String,
        count: usize,
        all_or_nothing: bool,
        wait_s: f64,
    ) {
        let id = self.next_poll;
        self.next_poll += 1;
        let poll = Poll {
            srv,
            cmd,
            key,
            queue,
            count,
            all_or_nothing,
            start: self.now,
            end: self.now + session::secs_to_ms(wait_s),
            latency: 0,
            next_check: self.now,
            generation: 0,
        };
        self.polls.insert(id, poll);
        self.poll_check(id, 0);
    }

    /// One read of a long poll: items or an error answer it; nothing waits for the next
    /// 2 s point at which something can have become visible, or for the end of the wait.
    pub(crate) fn poll_check(&mut self, id: u64, generation: u64) {
        let Some(poll) = self.polls.get(&id) else {
            return;
        };
        if poll.generation != generation {
            return;
        }
        let (srv, cmd, key) = (poll.srv, poll.cmd, poll.key);
        if self.now >= poll.end && self.now > poll.start {
            let latency = poll.latency;
            self.polls.remove(&id);
            if let Some(key) = key {
                self.tr(
                    key,
                    srv,
                    Tr::Apply {
                        cmd: cmd.0,
                        what: "QueueRead",
                        result: Res::ReadEmpty,
                        after: After::Nothing,
                    },
                );
            }
            let result = StoreResult::Read {
                values: Vec::new(),
                read_id: None,
            };
            return self.reply_later(srv, cmd, key, result, Res::ReadEmpty, None, latency);
        }
        let reply = self.emu.queue_read(
            self.now,
            srv as u32,
            &poll.queue,
            DEFAULT_INVISIBILITY_S,
            poll.count,
            poll.all_or_nothing,
        );
        let latency = reply.latency_ms;
        let answer = match reply.result {
            Ok(Some((values, read_id))) => {
                let n = values.len();
                Some((
                    StoreResult::Read {
                        values,
                        read_id: Some(read_id),
                    },
                    Res::Read(n),
                ))
            }
            Ok(None) => None,
            Err(e) => Some(failed(e)),
        };
        if let Some((result, res)) = answer {
            self.polls.remove(&id);
            if let Some(key) = key {
                self.tr(
                    key,
                    srv,
                    Tr::Apply {
                        cmd: cmd.0,
                        what: "QueueRead",
                        result: res,
                        after: After::Nothing,
                    },
                );
            }
            return self.reply_later(srv, cmd, key, result, res, None, latency);
        }
        // Nothing visible: wait for the next item to become visible again, or the end.
        let queue = self.polls[&id].queue.clone();
        let next_visible = self
            .emu
            .inspect_queue(&queue, self.now)
            .iter()
            .filter_map(|item| item.invisible_until_ms)
            .min();
        let Some(poll) = self.polls.get_mut(&id) else {
            return;
        };
        poll.latency = latency;
        let at = match next_visible {
            Some(t) => grid_point(poll.start, t).min(poll.end),
            None => poll.end,
        };
        poll.generation += 1;
        poll.next_check = at;
        let generation = poll.generation;
        self.schedule(
            at,
            Ev::PollCheck {
                poll: id,
                generation,
            },
        );
    }

    /// An add landed: long polls on that queue read again at their next 2 s point.
    fn wake_polls(&mut self, queue: &str) {
        let now = self.now;
        let mut wakes = Vec::new();
        for (id, poll) in self.polls.iter_mut() {
            if poll.queue != queue {
                continue;
            }
            let at = grid_point(poll.start, now).min(poll.end);
            if at < poll.next_check {
                poll.generation += 1;
                poll.next_check = at;
                wakes.push((*id, at, poll.generation));
            }
        }
        for (poll, at, generation) in wakes {
            self.schedule(at, Ev::PollCheck { poll, generation });
        }
    }
}

/// The first 2 s point of a poll started at `start` that is at or after `t`.
fn grid_point(start: u64, t: u64) -> u64 {
    let since = t.saturating_sub(start);
    start + since.div_ceil(POLL_EVERY_MS) * POLL_EVERY_MS
}
