//! Any text must decode to a value or a clear error, never a panic, a hang or a stack overflow;
//! and whatever it decodes to must be storable: it compresses and reads back.

#![no_main]

use datastore_module::codec::{compress, decompress};
use libfuzzer_sys::fuzz_target;

mod input;

fuzz_target!(|data: &[u8]| {
    let Some((settings, text)) = input::split(data) else {
        return;
    };
    let decimals = settings.decimals;
    let Ok(value) = decompress(text, decimals) else {
        return;
    };
    match compress(&value, &settings) {
        Ok(again) => {
            if let Err(e) = decompress(&again, decimals) {
                panic!("{value:?} compressed to {again:?}, which does not decode: {e}");
            }
        }
        // A scale of 0 or ∞, or a decoded number past 2^53 that the format cannot write back
        // exactly, makes a decoded value unwritable; nothing else may (as in
        // tests/codec_random.rs).
        Err(e) => assert!(
            !10f64.powf(decimals).is_normal()
                || e.message.contains("too large to compress exactly"),
            "{value:?}: {e}"
        ),
    }
});
