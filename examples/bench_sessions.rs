//! The session core alone, against a store that answers at once: open + save + close cycles
//! per second at the start and after many closed (or destroyed) sessions, so a cost that grows
//! with the sessions a module has seen shows (issue 12). `cargo run --release --example
//! bench_sessions -- [sessions]`.

use datastore_module::session::{
    Call, Command, Config, Event, Module, Snapshot, SnapshotValue, StoreResult,
};
use datastore_module::value::Value;
use std::time::Instant;

/// A player record as JSON text, as the JS host hands it over.
fn record(i: usize) -> String {
    format!(
        r#"{{"Coins":{i},"Level":12,"Inventory":[{{"Id":"Sword","Count":1,"Stats":{{"Damage":12.5}}}},{{"Id":"Shield","Count":2}}],"Quests":{{"Q1":{{"Done":true,"Progress":0.75}}}}}}"#
    )
}

/// Runs commands and events until the module is quiet: every store call succeeds at once.
fn drain(m: &mut Module, now: u64, value: &str) {
    loop {
        let mut busy = false;
        while let Some(event) = m.poll_event() {
            busy = true;
            if let Event::Saving { session } = event {
                let snapshot = Snapshot {
                    value: SnapshotValue::Json(value.to_owned()),
                    metadata: Value::Table(Default::default()),
                    user_ids: Value::Array(vec![]),
                };
                m.provide_snapshot(now, session, Ok(snapshot));
            }
        }
        while let Some((id, command)) = m.poll_command() {
            busy = true;
            let result = match command {
                Command::DataGet { .. } => StoreResult::Got {
                    value: Value::Nil,
                    info: None,
                },
                Command::DataSet { .. } => StoreResult::Written {
                    version: "v".into(),
                },
                Command::LockAcquire { .. } => StoreResult::Acquired,
                _ => StoreResult::Done,
            };
            m.complete(now, id, result);
        }
        if !busy {
            return;
        }
    }
}

fn cycles(m: &mut Module, from: usize, n: usize, destroy: bool) -> f64 {
    let start = Instant::now();
    for i in from..from + n {
        let args = vec![Value::String("Player".into()), Value::String(i.to_string())];
        let sid = m.open_session(1, &args, false, [i as u8; 16]).unwrap();
        let value = record(i);
        for call in [
            Call::Open { template: None },
            Call::Save,
            if destroy { Call::Destroy } else { Call::Close },
        ] {
            m.call(1, sid, call).unwrap();
            drain(m, 1, &value);
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    for destroy in [false, true] {
        let mut m = Module::new(Config::default());
        let first = cycles(&mut m, 0, 1_000, destroy);
        cycles(&mut m, 1_000, total, destroy);
        let last = cycles(&mut m, 1_000 + total, 1_000, destroy);
        let how = if destroy { "destroyed" } else { "closed" };
        println!(
            "open+save+{}: {first:.0}/s for the first 1,000; {last:.0}/s after {total} {how} ({:.2}x)",
            if destroy { "destroy" } else { "close" },
            last / first
        );
    }
}
