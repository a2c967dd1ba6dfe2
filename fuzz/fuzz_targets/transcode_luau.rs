//! The Luau host's codec (`codec::luau`, value text → compressed text or stored JSON without a
//! `Value` tree) must give exactly what the tree-based reference gives, result or error text,
//! for any input: the bytes read as value text (any bytes: the host's strings need not be
//! UTF-8).

#![no_main]

use datastore_module::codec::{self, compress, CodecError};
use datastore_module::value::Value;
use libfuzzer_sys::fuzz_target;

mod input;

fuzz_target!(|data: &[u8]| {
    let Some((settings, text)) = input::split_bytes(data) else {
        return;
    };

    let reference = Value::from_luau_text(text, "Value")
        .map_err(|e| CodecError {
            message: e.to_string(),
        })
        .and_then(|value| compress(&value, &settings));
    assert_eq!(
        codec::luau::compress(text, "Value", &settings),
        reference,
        "compress {text:?}"
    );

    let reference =
        Value::from_luau_text(text, "Value").and_then(|value| value.to_host_json("Value"));
    assert_eq!(
        codec::luau::to_json(text, "Value"),
        reference,
        "to_json {text:?}"
    );
});
