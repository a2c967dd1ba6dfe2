//! The Luau host's codec (`codec::luau`: value text → compressed text, and → the JSON an
//! uncompressed save stores, without a `Value` tree) gives exactly what the tree-based reference
//! gives: `Value::from_luau_text` then `codec::compress`, or then `check_json_keys` and
//! `to_json_string`. Same bytes, same error text, on generated value text: ordinary tables, and
//! the unusual ones the transcoders leave to the reference (refusal markers, NaN and infinities,
//! bytes that are not UTF-8, holes, shuffled and mixed keys, `1` beside `"1"`, duplicate keys,
//! nesting at the limit, text cut short).

use datastore_module::codec::{self, Settings, MAX_DEPTH};
use datastore_module::value::{luau_number_to_string, Value};
use proptest::prelude::*;

fn reference_compress(text: &[u8], settings: &Settings) -> Result<String, String> {
    let value = Value::from_luau_text(text, "Value").map_err(|e| e.to_string())?;
    codec::compress_luau_value(&value, settings).map_err(|e| e.to_string())
}

fn reference_json(text: &[u8]) -> Result<String, String> {
    let value = Value::from_luau_text(text, "Value").map_err(|e| e.to_string())?;
    value.check_json_keys("Value").map_err(|e| e.to_string())?;
    Ok(value.to_json_string())
}

fn same(text: &[u8], settings: &Settings) {
    assert_eq!(
        codec::luau::compress(text, "Value", settings).map_err(|e| e.to_string()),
        reference_compress(text, settings),
        "compress {:?} with {settings:?}",
        String::from_utf8_lossy(text)
    );
    assert_eq!(
        codec::luau::to_json(text, "Value").map_err(|e| e.to_string()),
        reference_json(text),
        "to_json {:?}",
        String::from_utf8_lossy(text)
    );
}

/// A Luau value as `luau/ValueText.luau` could write it (and worse).
#[derive(Clone, Debug)]
enum Lua {
    Bool(bool),
    /// A number as its text: usually `tostring(n)`, sometimes not finite or not a number.
    Number(String),
    /// Bytes, usually UTF-8.
    Str(Vec<u8>),
    /// A table's pairs in iteration order.
    Table(Vec<(Lua, Lua)>),
    /// `[…]`, as the core writes a sequence.
    Seq(Vec<Lua>),
    /// `?NAME;`
    Unwritable(&'static str),
}

impl Lua {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Lua::Bool(b) => out.push(if *b { b't' } else { b'f' }),
            Lua::Number(n) => {
                out.push(b'n');
                out.extend_from_slice(n.as_bytes());
                out.push(b';');
            }
            Lua::Str(s) => {
                out.extend_from_slice(format!("s{}:", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            Lua::Table(pairs) => {
                out.push(b'{');
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
                out.push(b'}');
            }
            Lua::Seq(items) => {
                out.push(b'[');
                for item in items {
                    item.write(out);
                }
                out.push(b']');
            }
            Lua::Unwritable(name) => {
                out.push(b'?');
                out.extend_from_slice(name.as_bytes());
                out.push(b';');
            }
        }
    }

    fn text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (-1000i64..1000).prop_map(|n| n.to_string()),
        3 => (-1e6..1e6f64).prop_map(luau_number_to_string),
        2 => any::<f64>().prop_map(luau_number_to_string),
        1 => (-100_000i64..100_000).prop_map(|n| luau_number_to_string(n as f64 / 1000.0)),
        1 => prop::sample::select(vec![
            "-0", "0", "1e+21", "1e-07", "9007199254740993", "1.5", "nan", "inf", "-inf",
            "1.0", "01", "", "x", "1e999",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Strings, with DEL, the tag bytes and invalid UTF-8 made likely.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => "[a-zA-Z_]{0,10}".prop_map(String::into_bytes),
        2 => any::<String>().prop_map(String::into_bytes),
        2 => "[-+<>()#|*\x7f a0~\"\\\\{}\\[\\]:;?]{0,12}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..8),
        1 => prop::sample::select(vec!["1", "2", "true", "false"])
            .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn leaf() -> impl Strategy<Value = Lua> {
    prop_oneof![
        2 => any::<bool>().prop_map(Lua::Bool),
        4 => number_text().prop_map(Lua::Number),
        4 => bytes().prop_map(Lua::Str),
        1 => prop::sample::select(vec!["function", "cycle", "deep", "userdata"])
            .prop_map(Lua::Unwritable),
    ]
}

fn key() -> impl Strategy<Value = Lua> {
    prop_oneof![
        6 => bytes().prop_map(Lua::Str),
        2 => (1i64..6).prop_map(|n| Lua::Number(n.to_string())),
        1 => number_text().prop_map(Lua::Number),
        1 => any::<bool>().prop_map(Lua::Bool),
        1 => Just(Lua::Table(Vec::new())),
        1 => Just(Lua::Unwritable("function")),
    ]
}

/// A value: mostly tables keyed by strings or `1..n` in order (the fast paths), the rest
/// shuffled, holed, mixed, or keyed by anything.
fn value() -> impl Strategy<Value = Lua> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            // Keyed by strings.
            4 => prop::collection::vec(("[a-zA-Z_]{0,6}", inner.clone()), 0..8).prop_map(
                |pairs| Lua::Table(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (Lua::Str(k.into_bytes()), v))
                        .collect()
                )
            ),
            // A sequence in order; sometimes shuffled, holed or with a string key added.
            4 => (prop::collection::vec(inner.clone(), 1..8), 0u8..8, any::<prop::sample::Index>())
                .prop_map(|(items, twist, at)| {
                    let mut pairs: Vec<(Lua, Lua)> = items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Lua::Number((i + 1).to_string()), v))
                        .collect();
                    let i = at.index(pairs.len());
                    match twist {
                        0 => pairs.swap(0, i),
                        1 => {
                            pairs.remove(i);
                        }
                        2 => pairs.push((Lua::Str(b"x".to_vec()), Lua::Bool(true))),
                        3 => pairs.insert(i, (Lua::Str(b"1".to_vec()), Lua::Bool(false))),
                        _ => {}
                    }
                    Lua::Table(pairs)
                }),
            // Any keys.
            1 => prop::collection::vec((key(), inner.clone()), 0..6).prop_map(Lua::Table),
            // As the core writes a sequence.
            1 => prop::collection::vec(inner, 0..6).prop_map(Lua::Seq),
        ]
    })
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        any::<bool>(),
        prop::sample::select(vec![3.0, 0.0, 2.0, 5.0]),
        any::<bool>(),
    )
        .prop_map(|(array_mode, decimals, safety)| Settings {
            array_mode,
            decimals,
            safety,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn value_text_transcodes_like_the_reference(value in value(), settings in settings()) {
        same(&value.text(), &settings);
    }

    /// Duplicate string keys (a host bug): the reference keeps the first position and the
    /// last value.
    #[test]
    fn duplicate_keys_transcode_like_the_reference(
        keys in prop::collection::vec("[ab]{1,2}", 1..20),
        settings in settings(),
    ) {
        let pairs = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| (Lua::Str(k.into_bytes()), Lua::Number(i.to_string())))
            .collect();
        same(&Lua::Table(pairs).text(), &settings);
    }

    /// Any prefix of good text is cut short somewhere: malformed, and never a panic.
    #[test]
    fn text_cut_short_transcodes_like_the_reference(
        value in value(),
        cut in any::<prop::sample::Index>(),
        settings in settings(),
    ) {
        let text = value.text();
        let text = &text[..cut.index(text.len() + 1)];
        same(text, &settings);
    }

    #[test]
    fn any_bytes_transcode_like_the_reference(
        text in prop::collection::vec(any::<u8>(), 0..64),
        settings in settings(),
    ) {
        same(&text, &settings);
    }
}

#[test]
fn nesting_at_the_limit_transcodes_like_the_reference() {
    for depth in MAX_DEPTH - 3..=MAX_DEPTH + 1 {
        for (open, close) in [("{s1:a", "}"), ("{n1;", "}"), ("[", "]")] {
            let text = format!("{}t{}", open.repeat(depth), close.repeat(depth));
            same(text.as_bytes(), &Settings::default());
        }
    }
}

/// Long tables (whose keys are checked for duplicates by sorting) and a large sequence.
#[test]
fn large_tables_transcode_like_the_reference() {
    let keys: Vec<(Lua, Lua)> = (0..300)
        .map(|i| {
            (
                Lua::Str(format!("Quest_{i}").into_bytes()),
                Lua::Number(i.to_string()),
            )
        })
        .collect();
    let mut with_duplicate = keys.clone();
    with_duplicate.push((Lua::Str(b"Quest_7".to_vec()), Lua::Bool(true)));
    let sequence: Vec<(Lua, Lua)> = (1..=300)
        .map(|i| (Lua::Number(i.to_string()), Lua::Str(b"Sword".to_vec())))
        .collect();
    for value in [
        Lua::Table(keys),
        Lua::Table(with_duplicate),
        Lua::Table(sequence),
    ] {
        for settings in [
            Settings::default(),
            Settings {
                array_mode: false,
                ..Settings::default()
            },
        ] {
            same(&value.text(), &settings);
        }
    }
}
