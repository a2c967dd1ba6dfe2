//! Any text must decode to a value or a clear error, never a panic, a hang or a stack overflow;
//! and whatever it decodes to must be storable: it compresses and reads back.

#![no_main]

use datastore_module::codec::{compress, decompress, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the Decimals setting and the level; the rest is the text (the
    // stores hold strings, so it must be UTF-8).
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let decimals = [3.0, 0.0, 1.0, 2.0, 5.0, -2.0, 400.0, -400.0][usize::from(choice & 7)];
    let Ok(value) = decompress(text, decimals) else {
        return;
    };
    let settings = Settings {
        array_mode: choice & 8 == 0,
        decimals,
        safety: choice & 16 == 0,
    };
    match compress(&value, &settings) {
        Ok(again) => {
            if let Err(e) = decompress(&again, decimals) {
                panic!("{value:?} compressed to {again:?}, which does not decode: {e}");
            }
        }
        // Only a scale of 0 or infinity can make a decoded number unwritable.
        Err(e) => assert!(!10f64.powf(decimals).is_normal(), "{value:?}: {e}"),
    }
});
