//! The bindings' codec (`codec::json`, JSON text ↔ compressed text without a `Value` tree)
//! must give exactly what the tree-based reference gives, result or error text, for any input:
//! the bytes read as JSON to compress, and as compressed text to decompress.

#![no_main]

use datastore_module::codec::{self, compress, decompress, CodecError};
use datastore_module::value::Value;
use libfuzzer_sys::fuzz_target;

mod input;

fuzz_target!(|data: &[u8]| {
    let Some((settings, text)) = input::split(data) else {
        return;
    };

    let reference = Value::from_json_str(text, "value")
        .map_err(|e| CodecError {
            message: e.to_string(),
        })
        .and_then(|value| compress(&value, &settings));
    assert_eq!(
        codec::json::compress(text, "value", &settings),
        reference,
        "compress {text:?}"
    );

    let reference = decompress(text, settings.decimals).and_then(|value| match value {
        Value::Nil => Ok(None),
        value => value.to_host_json("value").map(Some).map_err(|e| CodecError {
            message: e.to_string(),
        }),
    });
    assert_eq!(
        codec::json::decompress(text, settings.decimals),
        reference,
        "decompress {text:?}"
    );
});
