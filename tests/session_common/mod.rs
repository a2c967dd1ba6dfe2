//! A host for the session core, in virtual time: it plays the JS/Luau shim (keeps each
//! session's Value, Metadata and UserIds, answers `Saving` with a snapshot, records call
//! answers and every event) and executes commands against anything that implements [`Backend`]
//! — here a small in-memory [`FakeStore`] with scripted faults and latency; the full emulator
//! can implement the same trait later.
#![allow(dead_code)]

use datastore_module::fence::{fence_refusal, lock_decision, Fence, LockDecision, LockMode};
use datastore_module::session::{
    Call, CallId, CallOutcome, Command, CommandId, Config, Event, KeyInfo, LoadedValue, Module,
    Reply, Response, SessionId, Snapshot, SnapshotValue, State, StoreResult,
};
use datastore_module::value::{Key, Table, Value};
use std::collections::BTreeMap;

/// Something that answers commands.
pub trait Backend {
    /// Executes `command` at `now`: `Some((latency_ms, result))`, or `None` to never answer.
    fn execute(&mut self, now: u64, command: &Command) -> Option<(u64, StoreResult)>;
}

/// One stored key.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub value: Value,
    pub metadata: Value,
    pub user_ids: Value,
    pub version: String,
    pub created: f64,
    pub updated: f64,
}

/// What a scripted rule does instead of the normal answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    Error(String),
    /// A refusal for good (D19): the request can never succeed as sent.
    Invalid(String),
    /// Never answer.
    Hang,
    /// Answer normally, this much later.
    Delay(u64),
    /// Answer normally but report an error (an ambiguous write).
    ApplyThenError(String),
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// `Command::name()` to match.
    pub command: &'static str,
    pub times: usize,
    pub fault: Fault,
}

#[derive(Clone, Debug)]
struct Item {
    seq: u64,
    value: Value,
    priority: f64,
    expires_at: u64,
    invisible_until: u64,
}

/// A small store with Roblox-like semantics: data with versions and key info, lock entries with
/// expiry, queues with invisibility.
#[derive(Debug, Default)]
pub struct FakeStore {
    pub data: BTreeMap<String, Entry>,
    /// Lock entries: holder and expiry; their tokens (sort keys) in `lock_tokens`.
    pub locks: BTreeMap<String, (String, u64)>,
    pub lock_tokens: BTreeMap<String, u64>,
    /// The last fenced write applied to each key.
    fence_marks: BTreeMap<String, Fence>,
    queues: BTreeMap<String, Vec<Item>>,
    reads: BTreeMap<String, (String, Vec<u64>)>,
    pub latency: u64,
    pub rules: Vec<Rule>,
    /// Every command with the time it was sent.
    pub log: Vec<(u64, Command)>,
    /// Reject fenced writes whose owner does not hold the lock.
    pub fencing: bool,
    next: u64,
}

impl FakeStore {
    pub fn new() -> FakeStore {
        FakeStore {
            latency: 10,
            ..FakeStore::default()
        }
    }

    /// The next `times` commands named `command` get `fault`.
    pub fn fault(&mut self, command: &'static str, times: usize, fault: Fault) {
        self.rules.push(Rule {
            command,
            times,
            fault,
        });
    }

    pub fn clear_faults(&mut self) {
        self.rules.clear();
    }

    pub fn key(name: &str, scope: &str, key: &str) -> String {
        format!("{name}/{scope}/{key}")
    }

    pub fn put(&mut self, id: &str, value: Value, metadata: Value) {
        self.next += 1;
        self.data.insert(
            id.to_owned(),
            Entry {
                value,
                metadata,
                user_ids: Value::Array(vec![]),
                version: format!("v{}", self.next),
                created: 1000.0,
                updated: 2000.0,
            },
        );
    }

    pub fn holder(&self, map: &str, now: u64) -> Option<&str> {
        self.locks
            .get(map)
            .filter(|(_, expires)| *expires > now)
            .map(|(owner, _)| owner.as_str())
    }

    /// Commands of one kind, with their send times.
    pub fn sent(&self, name: &str) -> Vec<(u64, Command)> {
        self.log
            .iter()
            .filter(|(_, c)| c.name() == name)
            .cloned()
            .collect()
    }

    pub fn count(&self, name: &str) -> usize {
        self.log.iter().filter(|(_, c)| c.name() == name).count()
    }

    pub fn queue_len(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| q.len())
    }

    fn take_fault(&mut self, name: &str) -> Option<Fault> {
        let rule = self
            .rules
            .iter_mut()
            .find(|r| r.command == name && r.times > 0)?;
        rule.times -= 1;
        Some(rule.fault.clone())
    }

    /// `DataGet`, alone or in the request that acquires a lock.
    fn get(&self, name: &str, scope: &str, key: &str) -> StoreResult {
        match self.data.get(&FakeStore::key(name, scope, key)) {
            None => StoreResult::Got {
                value: LoadedValue::Tree(Value::Nil),
                info: None,
            },
            Some(e) => StoreResult::Got {
                value: LoadedValue::Tree(e.value.clone()),
                info: Some(KeyInfo {
                    version: e.version.clone(),
                    created_time: e.created,
                    updated_time: e.updated,
                    user_ids: e.user_ids.clone(),
                    metadata: e.metadata.clone(),
                }),
            },
        }
    }

    fn apply(&mut self, now: u64, command: &Command) -> (u64, StoreResult) {
        let latency = self.latency;
        let result = match command {
            Command::DataGet { name, scope, key } => self.get(name, scope, key),
            Command::DataSet {
                name,
                scope,
                key,
                value,
                user_ids,
                metadata,
                fence,
            } => {
                let id = FakeStore::key(name, scope, key);
                if let Some(err) = self.fenced(&id, fence.as_ref(), now) {
                    return (latency, err);
                }
                self.next += 1;
                let version = format!("v{}", self.next);
                let created = self.data.get(&id).map_or(now as f64, |e| e.created);
                self.data.insert(
                    id,
                    Entry {
                        value: value.to_value().expect("a save's JSON reads back"),
                        metadata: metadata.to_value().expect("metadata JSON"),
                        user_ids: user_ids.to_value().expect("user ids JSON"),
                        version: version.clone(),
                        created,
                        updated: now as f64,
                    },
                );
                StoreResult::Written { version }
            }
            Command::DataRemove {
                name,
                scope,
                key,
                fence,
            } => {
                let id = FakeStore::key(name, scope, key);
                if let Some(err) = self.fenced(&id, fence.as_ref(), now) {
                    return (latency, err);
                }
                self.data.remove(&id);
                StoreResult::Done
            }
            Command::LockAcquire {
                map,
                owner,
                token,
                held,
                ttl_s,
                load,
            } => {
                let mode = LockMode::acquire_or_renew(*held);
                match self.lock(map, mode, owner, *token, *ttl_s, now) {
                    LockDecision::Write => match load {
                        // The read can fail on its own (a `DataGet` fault applies to it).
                        Some(k) => StoreResult::AcquiredAndGot(Box::new(
                            match self.take_fault("DataGet") {
                                Some(Fault::Error(message)) => StoreResult::Error(message),
                                Some(Fault::Invalid(message)) => StoreResult::Invalid(message),
                                _ => self.get(&k.name, &k.scope, &k.key),
                            },
                        )),
                        None => StoreResult::Acquired,
                    },
                    LockDecision::Locked(Value::String(holder)) => StoreResult::Locked { holder },
                    LockDecision::Lapsed => StoreResult::Lapsed,
                    other => StoreResult::Error(format!("unexpected {other:?}")),
                }
            }
            Command::LockRelease { map, owner, token } => {
                self.lock(map, LockMode::Release, owner, *token, 0.0, now);
                StoreResult::Done
            }
            Command::QueueAdd {
                queue,
                value,
                expiration,
                priority,
            } => {
                self.next += 1;
                let item = Item {
                    seq: self.next,
                    value: value.clone(),
                    priority: *priority,
                    expires_at: now + (expiration * 1000.0) as u64,
                    invisible_until: 0,
                };
                self.queues.entry(queue.clone()).or_default().push(item);
                StoreResult::Done
            }
            Command::QueueRead {
                queue,
                count,
                wait_s,
                ..
            } => {
                let items = self.queues.entry(queue.clone()).or_default();
                items.retain(|i| i.expires_at > now);
                let mut visible: Vec<&mut Item> = items
                    .iter_mut()
                    .filter(|i| i.invisible_until <= now)
                    .collect();
                visible.sort_by(|a, b| {
                    b.priority
                        .partial_cmp(&a.priority)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(a.seq.cmp(&b.seq))
                });
                if visible.is_empty() {
                    // A long poll that finds nothing answers when the wait is over.
                    return (
                        (wait_s * 1000.0) as u64,
                        StoreResult::Read {
                            values: vec![],
                            read_id: None,
                        },
                    );
                }
                let mut values = Vec::new();
                let mut seqs = Vec::new();
                for item in visible.into_iter().take(*count as usize) {
                    item.invisible_until = now + 30_000;
                    values.push(item.value.clone());
                    seqs.push(item.seq);
                }
                self.next += 1;
                let read_id = format!("read{}", self.next);
                self.reads.insert(read_id.clone(), (queue.clone(), seqs));
                StoreResult::Read {
                    values,
                    read_id: Some(read_id),
                }
            }
            Command::QueueRemove { queue, read_id } => {
                if let Some((q, seqs)) = self.reads.remove(read_id) {
                    if &q == queue {
                        if let Some(items) = self.queues.get_mut(queue) {
                            items.retain(|i| !seqs.contains(&i.seq));
                        }
                    }
                }
                StoreResult::Done
            }
        };
        (latency, result)
    }

    /// The lock entry of `map` as the store's rule sees it: holder and token.
    fn lock_entry(&self, map: &str, now: u64) -> Option<(Value, Option<f64>)> {
        let holder = self.holder(map, now)?;
        let token = self.lock_tokens.get(map).map(|t| *t as f64);
        Some((Value::String(holder.to_owned()), token))
    }

    /// One lock command by the rule every store follows ([`lock_decision`]).
    fn lock(
        &mut self,
        map: &str,
        mode: LockMode,
        owner: &str,
        token: u64,
        ttl_s: f64,
        now: u64,
    ) -> LockDecision {
        let entry = self.lock_entry(map, now);
        let decision = lock_decision(mode, owner, token, entry.as_ref().map(|(v, t)| (v, *t)));
        if decision == LockDecision::Write {
            if mode == LockMode::Release {
                self.locks.remove(map);
                self.lock_tokens.remove(map);
            } else {
                let expires = now + (ttl_s * 1000.0) as u64;
                self.locks
                    .insert(map.to_owned(), (owner.to_owned(), expires));
                self.lock_tokens.insert(map.to_owned(), token);
            }
        }
        decision
    }

    /// A fenced write the rule refuses ([`fence_refusal`]); it becomes the key's mark if not.
    fn fenced(&mut self, id: &str, fence: Option<&Fence>, now: u64) -> Option<StoreResult> {
        let fence = fence.filter(|_| self.fencing)?;
        let entry = self.lock_entry(id, now);
        let refusal = fence_refusal(
            fence,
            entry.as_ref().map(|(v, t)| (v, *t)),
            self.fence_marks.get(id),
        );
        match refusal {
            // As every store words it (`wire::is_fenced`), a refusal for good.
            Some(reason) => Some(StoreResult::Invalid(format!(
                "Fenced: write to {id} by {} refused: {reason}",
                fence.owner
            ))),
            None => {
                self.fence_marks.insert(id.to_owned(), fence.clone());
                None
            }
        }
    }
}

impl Backend for FakeStore {
    fn execute(&mut self, now: u64, command: &Command) -> Option<(u64, StoreResult)> {
        self.log.push((now, command.clone()));
        match self.take_fault(command.name()) {
            None => Some(self.apply(now, command)),
            Some(Fault::Error(message)) => Some((self.latency, StoreResult::Error(message))),
            Some(Fault::Invalid(message)) => Some((self.latency, StoreResult::Invalid(message))),
            Some(Fault::Hang) => None,
            Some(Fault::Delay(ms)) => {
                let (latency, result) = self.apply(now, command);
                Some((latency + ms, result))
            }
            Some(Fault::ApplyThenError(message)) => {
                self.apply(now, command);
                Some((self.latency, StoreResult::Error(message)))
            }
        }
    }
}

/// What the host keeps for one session.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub value: Value,
    pub metadata: Value,
    pub user_ids: Value,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            value: Value::Nil,
            metadata: Value::Table(Table::new()),
            user_ids: Value::Array(vec![]),
        }
    }
}

/// A call's answer as the host sees it: now, or later (a call id).
#[derive(Clone, Debug, PartialEq)]
pub enum Ans {
    Now(Reply),
    Later(CallId),
}

pub type Hook = Box<dyn FnMut(&mut Module, u64, &Event)>;
pub type SavingHook = Box<dyn FnMut(SessionId, &mut Host)>;

pub struct Driver<B: Backend = FakeStore> {
    pub m: Module,
    pub store: B,
    pub now: u64,
    pub hosts: BTreeMap<SessionId, Host>,
    pub replies: BTreeMap<CallId, (u64, Reply)>,
    /// Every event, with the time it came out.
    pub log: Vec<(u64, Event)>,
    /// Every command the module sent, with its id and send time.
    pub commands: Vec<(u64, CommandId, Command)>,
    /// Runs after the built-in handling of each event (a signal handler).
    pub hook: Option<Hook>,
    /// Runs when `Saving` fires, before the snapshot is taken (a `Saving` handler).
    pub on_saving: Option<SavingHook>,
    /// The next snapshot fails with this message.
    pub snapshot_error: Option<String>,
    /// The next snapshot's value as this Luau value text, as a Luau host hands it over
    /// (instead of the host's tree).
    pub snapshot_text: Option<Vec<u8>>,
    /// The next snapshot's [`Snapshot::same_texts`] (then false again).
    pub same_texts: bool,
    /// Snapshots hand the value over as its JSON text, as the JS host does.
    pub json_snapshots: bool,
    in_flight: Vec<(u64, u64, CommandId, StoreResult)>,
    seq: u64,
    random: u8,
}

/// The record every test plays with.
pub const ID: &str = "Player/global/1";

/// A driver with `Player/1` open and its Value set to `{"Coins":1}`, logs cleared.
/// `auto_save: false` sets SaveInterval to 0 first. Also returns the time the successful lock
/// call went out (t0 of the §8.3 timeline).
pub fn opened_with(config: Config, auto_save: bool) -> (Driver, SessionId, u64) {
    let mut d = Driver::with(config, FakeStore::new());
    let s = d.new_session("Player", "1");
    if !auto_save {
        d.m.set_property(
            d.now,
            s,
            "SaveInterval",
            datastore_module::session::Input::Number(0.0),
        )
        .expect("valid");
    }
    let t0 = d.now;
    assert_eq!(d.open(s), Reply::success());
    d.host_mut(s).value = json(r#"{"Coins":1}"#);
    d.clear_log();
    (d, s, t0)
}

pub fn opened() -> (Driver, SessionId) {
    let (d, s, _) = opened_with(Config::default(), true);
    (d, s)
}

/// Records the session's `State` each time `Saving` fires (it runs as a Saving handler would).
pub fn state_during_saving(d: &mut Driver) -> std::rc::Rc<std::cell::RefCell<Vec<State>>> {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen2 = seen.clone();
    d.hook = Some(Box::new(move |m, _, e| {
        if let Event::Saving { session } = e {
            if let Some(s) = m.session(*session) {
                seen2.borrow_mut().push(s.state());
            }
        }
    }));
    seen
}

pub fn json(text: &str) -> Value {
    Value::from_json_str(text, "Value").expect("test JSON")
}

pub fn text(s: &str) -> Value {
    Value::String(s.into())
}

pub fn success() -> Reply {
    Reply::success()
}

impl Driver<FakeStore> {
    pub fn new() -> Driver<FakeStore> {
        Driver::with(Config::default(), FakeStore::new())
    }
}

impl<B: Backend> Driver<B> {
    pub fn with(config: Config, store: B) -> Driver<B> {
        Driver {
            m: Module::new(config),
            store,
            now: 1_000_000,
            hosts: BTreeMap::new(),
            replies: BTreeMap::new(),
            log: Vec::new(),
            commands: Vec::new(),
            hook: None,
            on_saving: None,
            snapshot_error: None,
            snapshot_text: None,
            same_texts: false,
            json_snapshots: false,
            in_flight: Vec::new(),
            seq: 0,
            random: 0,
        }
    }

    fn bytes(&mut self) -> [u8; 16] {
        self.random = self.random.wrapping_add(1);
        [self.random; 16]
    }

    /// `new(name, key)`.
    pub fn new_session(&mut self, name: &str, key: &str) -> SessionId {
        let bytes = self.bytes();
        let s = self
            .m
            .open_session(self.now, &[text(name), text(key)], false, bytes)
            .expect("session");
        self.hosts.entry(s).or_default();
        s
    }

    /// `hidden(name, key)`.
    pub fn hidden(&mut self, name: &str, key: &str) -> SessionId {
        let bytes = self.bytes();
        let s = self
            .m
            .open_session(self.now, &[text(name), text(key)], true, bytes)
            .expect("session");
        self.hosts.entry(s).or_default();
        s
    }

    /// Calls, then drains events and commands (the host's turn ends).
    pub fn call(&mut self, s: SessionId, call: Call) -> Ans {
        let ans = self.call_in_turn(s, call);
        self.pump();
        ans
    }

    /// Calls without draining afterwards: several of these in a row are "one turn" of the
    /// host (the original's callers all run before the deferred worker starts).
    pub fn call_in_turn(&mut self, s: SessionId, call: Call) -> Ans {
        match self.m.call(self.now, s, call).expect("known session") {
            CallOutcome::Done { reply, reconcile } => {
                if let Some(template) = reconcile {
                    let host = self.hosts.entry(s).or_default();
                    reconcile_in_place(&mut host.value, &template);
                }
                Ans::Now(reply)
            }
            CallOutcome::Pending(call) => Ans::Later(call),
        }
    }

    /// Calls and waits for the answer (advancing virtual time).
    pub fn run(&mut self, s: SessionId, call: Call) -> Reply {
        let ans = self.call(s, call);
        self.wait(ans)
    }

    pub fn open(&mut self, s: SessionId) -> Reply {
        self.run(s, Call::Open { template: None })
    }

    pub fn wait(&mut self, ans: Ans) -> Reply {
        match ans {
            Ans::Now(reply) => reply,
            Ans::Later(call) => self.wait_call(call),
        }
    }

    pub fn wait_call(&mut self, call: CallId) -> Reply {
        let limit = self.now + 24 * 3_600_000;
        while !self.replies.contains_key(&call) {
            let Some(next) = self.next_wake() else {
                panic!("call {call:?} can never resolve: nothing is pending");
            };
            assert!(next <= limit, "call {call:?} did not resolve within a day");
            self.advance_to(next);
        }
        self.replies
            .get(&call)
            .map(|(_, r)| r.clone())
            .expect("reply")
    }

    pub fn reply_of(&self, ans: &Ans) -> Option<Reply> {
        match ans {
            Ans::Now(r) => Some(r.clone()),
            Ans::Later(c) => self.replies.get(c).map(|(_, r)| r.clone()),
        }
    }

    /// Drains events and commands until both are empty.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.m.poll_event() {
                progressed = true;
                self.handle(event);
            }
            while let Some((id, command)) = self.m.poll_command() {
                progressed = true;
                self.commands.push((self.now, id, command.clone()));
                if let Some((latency, result)) = self.store.execute(self.now, &command) {
                    self.seq += 1;
                    self.in_flight
                        .push((self.now + latency, self.seq, id, result));
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn handle(&mut self, event: Event) {
        self.log.push((self.now, event.clone()));
        match &event {
            Event::Loaded {
                session,
                value,
                metadata,
                user_ids,
            } => {
                let host = self.hosts.entry(*session).or_default();
                host.value = value.clone().into_tree().expect("the core's own JSON");
                host.metadata = metadata.clone();
                host.user_ids = user_ids.clone();
            }
            Event::MetadataReset { session } => {
                let host = self.hosts.entry(*session).or_default();
                host.metadata = Value::Table(Table::new());
                host.user_ids = Value::Array(vec![]);
            }
            Event::Saving { session } => {
                let host = self.hosts.entry(*session).or_default();
                if let Some(f) = self.on_saving.as_mut() {
                    f(*session, host);
                }
                let snapshot = match self.snapshot_error.take() {
                    Some(message) => Err(message),
                    None => Ok(Snapshot {
                        value: match self.snapshot_text.take() {
                            Some(text) => SnapshotValue::Luau(text),
                            None if self.json_snapshots => {
                                SnapshotValue::Json(host.value.to_json_string())
                            }
                            None => host.value.clone().into(),
                        },
                        metadata: host.metadata.clone(),
                        user_ids: host.user_ids.clone(),
                        same_texts: std::mem::take(&mut self.same_texts),
                    }),
                };
                self.m.provide_snapshot(self.now, *session, snapshot);
            }
            Event::CallDone { call, reply, .. } => {
                self.replies.insert(*call, (self.now, reply.clone()));
            }
            _ => {}
        }
        if let Some(hook) = self.hook.as_mut() {
            hook(&mut self.m, self.now, &event);
        }
    }

    fn next_wake(&self) -> Option<u64> {
        let completion = self.in_flight.iter().map(|f| f.0).min();
        [completion, self.m.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs everything due up to `t` (completions and timers in time order), then sets the
    /// clock to `t`.
    pub fn advance_to(&mut self, t: u64) {
        loop {
            self.pump();
            match self.next_wake() {
                Some(next) if next <= t => {
                    self.now = self.now.max(next);
                    self.in_flight.sort_by_key(|f| (f.0, f.1));
                    while let Some(first) = self.in_flight.first() {
                        if first.0 > self.now {
                            break;
                        }
                        let (_, _, id, result) = self.in_flight.remove(0);
                        self.m.complete(self.now, id, result);
                        self.pump();
                    }
                    self.m.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
        self.m.handle_timeout(self.now);
        self.pump();
    }

    /// Answers every command in flight, and those the answers lead to, without running a
    /// timer or moving the clock: store answers with no timer turn of the host between them.
    pub fn complete_in_flight(&mut self) {
        self.pump();
        while !self.in_flight.is_empty() {
            self.in_flight.sort_by_key(|f| (f.0, f.1));
            let (_, _, id, result) = self.in_flight.remove(0);
            self.m.complete(self.now, id, result);
            self.pump();
        }
    }

    pub fn advance(&mut self, ms: u64) {
        self.advance_to(self.now + ms);
    }

    /// Runs until nothing is pending except timers later than `horizon_ms` from now.
    pub fn settle(&mut self) {
        self.advance(5_000);
    }

    pub fn state(&self, s: SessionId) -> State {
        self.m.session(s).expect("session").state()
    }

    pub fn host(&self, s: SessionId) -> &Host {
        self.hosts.get(&s).expect("host")
    }

    pub fn host_mut(&mut self, s: SessionId) -> &mut Host {
        self.hosts.entry(s).or_default()
    }

    /// The events of one session (and module-wide ones), without the times.
    pub fn events(&self, s: SessionId) -> Vec<Event> {
        self.log
            .iter()
            .filter(|(_, e)| session_of(e).is_none_or(|x| x == s))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Signal firings only (no Loaded/MetadataReset/CallDone), as short names.
    pub fn signals(&self, s: SessionId) -> Vec<String> {
        self.events(s).iter().filter_map(signal_name).collect()
    }

    /// Every event of the session as a short name, CallDone included.
    pub fn trace(&self, s: SessionId) -> Vec<String> {
        self.events(s)
            .iter()
            .map(|e| match e {
                Event::CallDone { reply, .. } => format!("CallDone({reply})"),
                Event::Loaded { .. } => "Loaded".into(),
                Event::MetadataReset { .. } => "MetadataReset".into(),
                Event::BindToCloseDone(_) => "BindToCloseDone".into(),
                other => signal_name(other).unwrap_or_default(),
            })
            .collect()
    }

    pub fn clear_log(&mut self) {
        self.log.clear();
        self.commands.clear();
    }

    /// Commands of one kind that the module sent, with their send times.
    pub fn sent(&self, name: &str) -> Vec<(u64, Command)> {
        self.commands
            .iter()
            .filter(|(_, _, c)| c.name() == name)
            .map(|(t, _, c)| (*t, c.clone()))
            .collect()
    }

    pub fn unique_id(&self, s: SessionId) -> String {
        self.m.session(s).expect("session").unique_id().to_owned()
    }
}

pub fn session_of(event: &Event) -> Option<SessionId> {
    match event {
        Event::Loaded { session, .. }
        | Event::MetadataReset { session }
        | Event::StateChanged { session, .. }
        | Event::Saving { session }
        | Event::Saved { session, .. }
        | Event::AttemptsChanged { session, .. }
        | Event::ProcessQueue { session, .. }
        | Event::DisconnectAll { session }
        | Event::ReadUnwanted { session, .. }
        | Event::CallDone { session, .. } => Some(*session),
        Event::BindToCloseDone(_) => None,
    }
}

pub fn signal_name(event: &Event) -> Option<String> {
    Some(match event {
        Event::StateChanged { state, .. } => format!("StateChanged({})", state_name(*state)),
        Event::Saving { .. } => "Saving".into(),
        Event::Saved { response, data, .. } => match data {
            datastore_module::session::Data::Text(t) => {
                format!("Saved({}, {t})", response.as_str())
            }
            _ => format!("Saved({})", response.as_str()),
        },
        Event::AttemptsChanged { remaining, .. } => format!("AttemptsChanged({remaining})"),
        Event::ProcessQueue { id, values, .. } => format!("ProcessQueue({id}, {})", values.len()),
        Event::DisconnectAll { .. } => "DisconnectAll".into(),
        _ => return None,
    })
}

pub fn state_name(state: State) -> &'static str {
    match state {
        State::Open => "true",
        State::Closed => "false",
        State::Destroyed => "nil",
    }
}

pub fn reply(response: Response, data: &str) -> Reply {
    Reply {
        response,
        data: datastore_module::session::Data::Text(data.into()),
    }
}

/// §10.1 on the host's own value (what a host does with `template_patch`).
pub fn reconcile_in_place(value: &mut Value, template: &Value) {
    if matches!(value, Value::Nil) {
        *value = template.clone();
        return;
    }
    let (Value::Table(target), Value::Table(template)) = (value, template) else {
        return;
    };
    for (key, default) in template {
        if matches!(key, Key::Number(_)) {
            continue;
        }
        match target.get_mut(key) {
            None => {
                target.insert(key.clone(), default.clone());
            }
            Some(existing) => {
                if existing.is_table() && default.is_table() {
                    reconcile_in_place(existing, default);
                }
            }
        }
    }
}
