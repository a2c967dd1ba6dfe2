//! How the targets read their input: the first byte picks the settings (Decimals, Level and
//! Safety), the rest is the text, which must be UTF-8 where hosts send strings (JSON and
//! compressed text) and may be any bytes where they send Luau value text.

use datastore_module::codec::Settings;

#[allow(dead_code)]
pub fn split(data: &[u8]) -> Option<(Settings, &str)> {
    let (settings, rest) = split_bytes(data)?;
    Some((settings, std::str::from_utf8(rest).ok()?))
}

pub fn split_bytes(data: &[u8]) -> Option<(Settings, &[u8])> {
    let (&choice, rest) = data.split_first()?;
    let settings = Settings {
        array_mode: choice & 8 == 0,
        decimals: [3.0, 0.0, 1.0, 2.0, 5.0, -2.0, 400.0, -400.0][usize::from(choice & 7)],
        safety: choice & 16 == 0,
    };
    Some((settings, rest))
}
