//! Native codec throughput on the corpus files `bench/codec.mjs` writes; prints JSON for it.
//! Usage: cargo run --release --example bench_codec -- <file.json>...

use datastore_module::codec::{compress, decompress, Settings};
use datastore_module::value::Value;
use std::time::Instant;

/// Mean milliseconds per call after warm-up, over at least 300 ms of work.
fn time(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed().as_millis() < 300 || n < 5 {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e3 / f64::from(n)
}

fn main() {
    let settings = Settings::default();
    let mut rows = Vec::new();
    for path in std::env::args().skip(1) {
        let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let value = Value::from_json_str(&json, "Value").unwrap_or_else(|e| panic!("{path}: {e}"));
        let text = compress(&value, &settings).expect("compress");
        let compress_ms = time(|| {
            std::hint::black_box(compress(&value, &settings).ok());
        });
        let decompress_ms = time(|| {
            std::hint::black_box(decompress(&text, settings.decimals).ok());
        });
        rows.push(format!(
            r#"{{"file":{path:?},"compress_ms":{compress_ms},"decompress_ms":{decompress_ms}}}"#
        ));
    }
    println!("[{}]", rows.join(","));
}
