//! The bindings' codec (`codec::json`, JSON text ↔ compressed text without a `Value` tree)
//! must give exactly what the tree-based reference gives, result or error text, for any input:
//! the bytes read as JSON to compress, and as compressed text to decompress.

#![no_main]

use datastore_module::codec::{self, compress, decompress, CodecError, Settings};
use datastore_module::value::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the settings; the rest is the text (hosts send UTF-8).
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let settings = Settings {
        array_mode: choice & 8 == 0,
        decimals: [3.0, 0.0, 1.0, 2.0, 5.0, -2.0, 400.0, 2.5][usize::from(choice & 7)],
        safety: choice & 16 == 0,
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

    let reference = decompress(text, settings.decimals).map(|value| match value {
        Value::Nil => None,
        value => Some(value.to_json_string()),
    });
    assert_eq!(
        codec::json::decompress(text, settings.decimals),
        reference,
        "decompress {text:?}"
    );
});
