//! How both targets read their input: the first byte picks the settings (Decimals, Level and
//! Safety), the rest is the text, which must be UTF-8 (hosts send strings).

use datastore_module::codec::Settings;

pub fn split(data: &[u8]) -> Option<(Settings, &str)> {
    let (&choice, rest) = data.split_first()?;
    let text = std::str::from_utf8(rest).ok()?;
    let settings = Settings {
        array_mode: choice & 8 == 0,
        decimals: [3.0, 0.0, 1.0, 2.0, 5.0, -2.0, 400.0, -400.0][usize::from(choice & 7)],
        safety: choice & 16 == 0,
    };
    Some((settings, text))
}
