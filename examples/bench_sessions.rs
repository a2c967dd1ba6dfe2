//! The session core alone, against a store that answers at once: open + save + close cycles
//! per second at the start and after many closed (or destroyed) sessions, so a cost that grows
//! with the sessions a module has seen shows (issue 12). `cargo run --release --example
//! bench_sessions -- [sessions]`.

use datastore_module::session::{
    Call, Command, Config, Event, LoadedValue, Module, Snapshot, SnapshotValue, StoreResult,
};
use datastore_module::value::Value;
use std::time::Instant;

/// A realistic player record as JSON text, as the JS host hands it over: about 1 KB of nested
/// data like `bench/corpus.mjs`'s (stats with long decimals, a position, settings, quests, an
/// inventory of items with enchantments, friends' ids), different for every `i`.
fn record(i: usize) -> String {
    let mut seed = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = format!(
        r#"{{"Coins":{},"Gems":{},"Level":{},"Experience":{},"Position":{{"x":{},"y":{},"z":{}}},"Settings":{{"Music":true,"Volume":0.8,"Language":"en-GB","Keybinds":{{"Jump":"Space","Sprint":"LeftShift"}}}},"Quests":{{"#,
        (next() * 1e6) as u64,
        (next() * 5e3) as u64,
        1 + (next() * 200.0) as u64,
        (next() * 1e9).round() / 100.0,
        next() * 2000.0 - 1000.0,
        next() * 100.0,
        next() * 2000.0 - 1000.0,
    );
    for q in 0..3 {
        let comma = if q > 0 { "," } else { "" };
        out += &format!(
            r#"{comma}"Quest_{q}":{{"Done":{},"Progress":{},"Stage":{}}}"#,
            next() < 0.5,
            (next() * 100.0).round() / 100.0,
            (next() * 10.0) as u64
        );
    }
    out += r#"},"Inventory":["#;
    const ITEMS: [&str; 6] = ["Sword", "Shield", "Potion", "Bow", "Ring", "Amulet"];
    const RARITY: [&str; 4] = ["Common", "Rare", "Epic", "Legendary"];
    for n in 0..6 {
        let comma = if n > 0 { "," } else { "" };
        let enchantments = (0..(next() * 3.0) as usize)
            .map(|_| {
                format!(
                    r#"{{"Kind":"Fire","Power":{}}}"#,
                    (next() * 5000.0).round() / 100.0
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        out += &format!(
            r#"{comma}{{"Id":"{}_{n}","Rarity":"{}","Level":{},"Durability":{},"Enchantments":[{enchantments}],"Equipped":{}}}"#,
            ITEMS[(next() * 6.0) as usize],
            RARITY[(next() * 4.0) as usize],
            1 + (next() * 100.0) as u64,
            (next() * 1000.0).round() / 10.0,
            next() < 0.1
        );
    }
    out += r#"],"Friends":["#;
    let friends = (0..4)
        .map(|_| ((next() * 4e9) as u64).to_string())
        .collect::<Vec<_>>()
        .join(",");
    out += &friends;
    out += "]}";
    out
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
                    same_texts: false,
                };
                m.provide_snapshot(now, session, Ok(snapshot));
            }
        }
        while let Some((id, command)) = m.poll_command() {
            busy = true;
            let result = match command {
                Command::DataGet { .. } => StoreResult::Got {
                    value: LoadedValue::Tree(Value::Nil),
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
    println!(
        "record: {} to {} bytes of JSON",
        (0..100).map(|i| record(i).len()).min().unwrap_or(0),
        (0..100).map(|i| record(i).len()).max().unwrap_or(0)
    );
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
