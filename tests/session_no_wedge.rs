//! No wedge: random call sequences against a store that fails, hangs and lags at random never
//! panic, and every call resolves exactly once (D5, command deadlines, D14).

mod session_common;

use datastore_module::session::{
    Call, CallId, CallOutcome, Command, Config, Event, Input, SessionId, State, StoreResult,
};
use datastore_module::value::Value;
use proptest::prelude::*;
use session_common::*;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A fake store that misbehaves at random (deterministically, from a seed).
struct Chaos {
    inner: FakeStore,
    state: u64,
    error_percent: u64,
    hang_percent: u64,
}

impl Chaos {
    fn roll(&mut self, n: u64) -> u64 {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.state >> 33) % n.max(1)
    }
}

impl Backend for Chaos {
    fn execute(&mut self, now: u64, command: &Command) -> Option<(u64, StoreResult)> {
        let roll = self.roll(100);
        if roll < self.hang_percent {
            self.inner.log.push((now, command.clone()));
            return None;
        }
        if roll < self.hang_percent + self.error_percent {
            self.inner.log.push((now, command.clone()));
            return Some((self.roll(500), StoreResult::Error("chaos".into())));
        }
        let extra = if self.roll(10) == 0 {
            self.roll(40_000)
        } else {
            self.roll(300)
        };
        let (latency, result) = self.inner.execute(now, command)?;
        Some((latency + extra, result))
    }
}

#[derive(Clone, Debug)]
enum Op {
    Call(usize, CallKind),
    Set(usize, &'static str, Input),
    Connect(usize, usize),
    SetValue(usize, Option<i32>),
    Compress(usize, bool),
    SnapshotFails,
    Advance(u64),
}

#[derive(Clone, Debug)]
enum CallKind {
    Open(bool),
    Read,
    Save,
    Close,
    Destroy,
    Queue,
    Remove,
}

fn call_kind() -> impl Strategy<Value = CallKind> {
    prop_oneof![
        4 => any::<bool>().prop_map(CallKind::Open),
        1 => Just(CallKind::Read),
        3 => Just(CallKind::Save),
        2 => Just(CallKind::Close),
        1 => Just(CallKind::Destroy),
        1 => Just(CallKind::Queue),
        1 => Just(CallKind::Remove),
    ]
}

fn property() -> impl Strategy<Value = (&'static str, Input)> {
    prop_oneof![
        prop_oneof![Just(0.0), Just(10.0), Just(15.0), Just(5.0)]
            .prop_map(|n| ("SaveInterval", Input::Number(n))),
        prop_oneof![Just(0.0), Just(3.0), Just(f64::NAN)]
            .prop_map(|n| ("SaveDelay", Input::Number(n))),
        prop_oneof![Just(10.0), Just(60.0)].prop_map(|n| ("LockInterval", Input::Number(n))),
        prop_oneof![Just(1.0), Just(2.0), Just(5.0), Just(1.5)]
            .prop_map(|n| ("LockAttempts", Input::Number(n))),
        any::<bool>().prop_map(|b| ("SaveOnClose", Input::Bool(b))),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let session = 0usize..3;
    prop_oneof![
        10 => (session.clone(), call_kind()).prop_map(|(s, k)| Op::Call(s, k)),
        2 => (session.clone(), property()).prop_map(|(s, (n, i))| Op::Set(s, n, i)),
        1 => (session.clone(), 0usize..3).prop_map(|(s, n)| Op::Connect(s, n)),
        2 => (session.clone(), proptest::option::of(0i32..5)).prop_map(|(s, v)| Op::SetValue(s, v)),
        1 => (session.clone(), any::<bool>()).prop_map(|(s, c)| Op::Compress(s, c)),
        1 => Just(Op::SnapshotFails),
        5 => prop_oneof![0u64..100, 0u64..5_000, 0u64..120_000].prop_map(Op::Advance),
    ]
}

fn run(seed: u64, error_percent: u64, hang_percent: u64, ops: Vec<Op>, close: bool) {
    let store = Chaos {
        inner: FakeStore::new(),
        state: seed,
        error_percent,
        hang_percent,
    };
    let config = Config {
        seed,
        fencing: seed % 2 == 0,
        ..Config::default()
    };
    let mut d = Driver::with(config, store);
    d.store.inner.fencing = seed % 2 == 0;
    let sessions: Vec<SessionId> = vec![
        d.new_session("Player", "1"),
        d.hidden("Player", "1"),
        d.new_session("Player", "2"),
    ];
    let pending: Rc<RefCell<Vec<CallId>>> = Rc::new(RefCell::new(Vec::new()));
    let from_handlers = pending.clone();
    // Handlers that call back into the module, as user code does.
    d.hook = Some(Box::new(move |m, now, event| {
        let follow_up = match event {
            Event::StateChanged {
                session,
                state: State::Open,
            } => Some((*session, Call::Open { template: None })),
            Event::ProcessQueue { session, id, .. } => {
                Some((*session, Call::Remove { id: id.clone() }))
            }
            // The README's retry pattern: reopen when closed.
            Event::StateChanged {
                session,
                state: State::Closed,
            } if now % 2 == 0 => Some((*session, Call::Open { template: None })),
            _ => None,
        };
        if let Some((session, call)) = follow_up {
            if let Ok(CallOutcome::Pending(id)) = m.call(now, session, call) {
                from_handlers.borrow_mut().push(id);
            }
        }
    }));
    let mut answered_now = 0usize;
    for op in ops {
        match op {
            Op::Call(i, kind) => {
                let s = sessions[i];
                let call = match kind {
                    CallKind::Open(t) => Call::Open {
                        template: t.then(|| json(r#"{"Coins":0,"Items":{}}"#)),
                    },
                    CallKind::Read => Call::Read { template: None },
                    CallKind::Save => Call::Save,
                    CallKind::Close => Call::Close,
                    CallKind::Destroy => Call::Destroy,
                    CallKind::Queue => Call::Queue {
                        value: Value::Number(1.0),
                        expiration: None,
                        priority: None,
                    },
                    CallKind::Remove => Call::Remove { id: "r".into() },
                };
                match d.call(s, call) {
                    Ans::Now(_) => answered_now += 1,
                    Ans::Later(id) => pending.borrow_mut().push(id),
                }
            }
            Op::Set(i, name, input) => {
                let _ = d.m.set_property(d.now, sessions[i], name, input);
                d.pump();
            }
            Op::Connect(i, n) => {
                let _ = d.m.set_process_queue_connections(d.now, sessions[i], n);
                d.pump();
            }
            Op::SetValue(i, v) => {
                d.host_mut(sessions[i]).value = match v {
                    None => Value::Nil,
                    Some(n) => json(&format!(r#"{{"Coins":{n}}}"#)),
                }
            }
            Op::Compress(i, on) => {
                d.host_mut(sessions[i]).metadata = if on {
                    json(r#"{"Compress":{"Level":2}}"#)
                } else {
                    json("{}")
                }
            }
            Op::SnapshotFails => d.snapshot_error = Some("NaN at Value.x".into()),
            Op::Advance(ms) => d.advance(ms),
        }
    }
    if close {
        d.m.bind_to_close(d.now);
        d.pump();
    }
    // Long enough for every retry, deadline and save delay to play out.
    d.advance(3 * 3_600_000);

    let pending = pending.borrow();
    for id in pending.iter() {
        assert!(d.replies.contains_key(id), "call {id:?} never resolved");
    }
    let mut done: BTreeMap<CallId, usize> = BTreeMap::new();
    for (_, event) in &d.log {
        if let Event::CallDone { call, .. } = event {
            *done.entry(*call).or_default() += 1;
        }
    }
    assert!(done.values().all(|n| *n == 1), "a call resolved twice");
    assert_eq!(
        done.len(),
        pending.len(),
        "every CallDone belongs to a call"
    );
    let _ = answered_now;
    if std::env::var("NO_WEDGE_STATS").is_ok() {
        eprintln!(
            "events {} commands {} calls {} states {:?}",
            d.log.len(),
            d.commands.len(),
            pending.len(),
            sessions.iter().map(|s| d.state(*s)).collect::<Vec<_>>()
        );
    }
    if close {
        assert!(d.m.bind_to_close_done(), "bind-to-close finished");
        for s in sessions {
            assert_eq!(d.state(s), State::Destroyed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, .. ProptestConfig::default() })]

    #[test]
    fn random_calls_against_a_misbehaving_store_never_wedge(
        seed in any::<u64>(),
        error_percent in 0u64..60,
        hang_percent in 0u64..15,
        ops in proptest::collection::vec(op(), 1..60),
        close in any::<bool>(),
    ) {
        run(seed, error_percent, hang_percent, ops, close);
    }
}

#[test]
fn a_store_that_never_answers_cannot_wedge_anything() {
    let ops = vec![
        Op::Call(0, CallKind::Open(true)),
        Op::Call(0, CallKind::Save),
        Op::Call(0, CallKind::Queue),
        Op::Call(1, CallKind::Read),
        Op::Call(0, CallKind::Close),
        Op::Call(2, CallKind::Destroy),
    ];
    run(1, 0, 100, ops, true);
}
