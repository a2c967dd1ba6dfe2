//! Native codec throughput on the corpus files `bench/codec.mjs` writes; prints JSON for it.
//! Usage: cargo run --release --example bench_codec -- <file.json>...
//!
//! Per file, mean milliseconds of:
//! - `compress_ms` / `decompress_ms`: the bindings' path, JSON text ↔ compressed text
//!   (`codec::json`), what the wasm numbers in `bench/codec.mjs` measure;
//! - `tree_compress_ms` / `tree_decompress_ms`: the same through a `Value` tree (the reference
//!   the transcoders fall back to), split into `parse_ms` (`Value::from_json_str`),
//!   `value_compress_ms` / `value_decompress_ms` (the codec on a tree) and `to_json_ms`.

use datastore_module::codec::{self, compress, decompress, Settings};
use datastore_module::value::Value;
use std::hint::black_box;
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
        assert_eq!(
            codec::json::compress(&json, "Value", &settings).as_ref(),
            Ok(&text)
        );
        let compress_ms = time(|| {
            black_box(codec::json::compress(&json, "Value", &settings).ok());
        });
        let decompress_ms = time(|| {
            black_box(codec::json::decompress(&text, settings.decimals).ok());
        });
        let parse_ms = time(|| {
            black_box(Value::from_json_str(&json, "Value").ok());
        });
        let value_compress_ms = time(|| {
            black_box(compress(&value, &settings).ok());
        });
        let decoded = decompress(&text, settings.decimals).expect("decompress");
        let value_decompress_ms = time(|| {
            black_box(decompress(&text, settings.decimals).ok());
        });
        let to_json_ms = time(|| {
            black_box(decoded.to_json_string());
        });
        let tree_compress_ms = parse_ms + value_compress_ms;
        let tree_decompress_ms = value_decompress_ms + to_json_ms;
        rows.push(format!(
            r#"{{"file":{path:?},"compress_ms":{compress_ms},"decompress_ms":{decompress_ms},"tree_compress_ms":{tree_compress_ms},"tree_decompress_ms":{tree_decompress_ms},"parse_ms":{parse_ms},"value_compress_ms":{value_compress_ms},"value_decompress_ms":{value_decompress_ms},"to_json_ms":{to_json_ms}}}"#
        ));
    }
    println!("[{}]", rows.join(","));
}
