//! The Luau value model: what a DataStore can hold.
//!
//! Every host converts its own values into [`Value`] at the boundary (JS objects in `js.rs`,
//! Luau tables as JSON text through the C ABI) and every core piece (codec, usage, template,
//! session) works on this one type. A `Value` is always storable: the constructors below reject
//! NaN, ±∞, holes in arrays and the other things a DataStore cannot hold, naming the path of the
//! offending value, so nothing is ever silently dropped later.

use indexmap::IndexMap;
use std::fmt;
use std::hash::{Hash, Hasher};

pub(crate) mod luau_text;

/// An insertion-ordered Luau table (the hash part; sequences are [`Value::Array`]).
pub type Table = IndexMap<Key, Value>;

/// A Luau value that a DataStore can hold.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    /// Always finite.
    Number(f64),
    String(String),
    /// A Luau sequence `{v1, v2, …}`. An empty one behaves as an empty table.
    Array(Vec<Value>),
    /// Any other table: string, number or boolean keys, in insertion order.
    Table(Table),
}

/// A value's JSON text exactly as [`Value::to_json_string`] writes it: what a save stores.
/// Shared (the save keeps it for its retries while the command carries it to the host) and
/// never parsed again on the way out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonText(std::rc::Rc<str>);

impl JsonText {
    pub fn of(value: &Value) -> JsonText {
        JsonText(value.to_json_string().into())
    }

    /// A string's JSON text.
    pub fn string(s: &str) -> JsonText {
        let mut out = String::with_capacity(s.len() + 2);
        write_json_string(s, &mut out);
        JsonText(out.into())
    }

    /// Text [`crate::codec::json::is_canonical`] accepted.
    pub(crate) fn canonical(text: &str) -> JsonText {
        JsonText(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value again, for whoever keeps values rather than text (the simulation's store).
    pub fn to_value(&self) -> Result<Value, ValueError> {
        Value::from_json_str(&self.0, "Value")
    }
}

/// A Luau table key. Numbers are finite; `0` and `-0` are the same key, as in Luau.
#[derive(Clone, Debug)]
pub enum Key {
    String(String),
    Number(f64),
    Bool(bool),
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Key::String(a), Key::String(b)) => a == b,
            (Key::Number(a), Key::Number(b)) => a == b,
            (Key::Bool(a), Key::Bool(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::String(s) => {
                0u8.hash(state);
                s.hash(state);
            }
            Key::Number(n) => {
                1u8.hash(state);
                // -0 and 0 are equal keys, so they must hash alike.
                let n = if *n == 0.0 { 0.0 } else { *n };
                n.to_bits().hash(state);
            }
            Key::Bool(b) => {
                2u8.hash(state);
                b.hash(state);
            }
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::String(s.to_owned())
    }
}

impl Key {
    /// The key as Luau's `tostring` prints it: how a host without number keys (JS objects,
    /// JSON) names it.
    pub fn to_luau_string(&self) -> String {
        match self {
            Key::String(s) => s.clone(),
            Key::Number(n) => luau_number_to_string(*n),
            Key::Bool(b) => b.to_string(),
        }
    }
}

/// Luau's `tostring(number)`, byte for byte: the shortest digits that read back as the same
/// f64, in fixed notation while the decimal point is at most 5 places before the first digit or
/// 21 after it (`0.000001`, `100000000000000000000`), `1e+21` / `1.5e-07` beyond. The printer
/// and the rules it follows are in [`crate::usage::LuauNumber`].
pub fn luau_number_to_string(n: f64) -> String {
    crate::usage::LuauNumber::new(n).as_str().to_owned()
}

/// The number Luau's arithmetic makes of a string (`10 ^ "3"`; `luaO_str2d`, which is C's
/// `strtod`): surrounding whitespace, a sign, decimal digits with an optional fraction and
/// exponent, `inf`/`infinity`/`nan`, or hexadecimal digits after `0x`. `None` where Luau raises
/// "attempt to perform arithmetic on a string value".
pub fn luau_string_to_number(text: &str) -> Option<f64> {
    // C's isspace: space, \t, \n, \v, \f, \r.
    let text = text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'));
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = match digits.get(..2) {
        Some("0x" | "0X") => {
            let hex = &digits[2..];
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            // Each digit as a double, as strtod does past 2^53.
            hex.bytes().fold(0.0, |n, b| {
                n * 16.0 + f64::from((b as char).to_digit(16).unwrap_or(0))
            })
        }
        // Rust reads what strtod does here, a leading sign aside (taken above).
        _ if digits.starts_with(['+', '-']) => return None,
        _ => digits.parse::<f64>().ok()?,
    };
    Some(if negative { -magnitude } else { magnitude })
}

impl Value {
    /// Luau's `type()` name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) | Value::Table(_) => "table",
        }
    }

    pub fn is_table(&self) -> bool {
        matches!(self, Value::Array(_) | Value::Table(_))
    }

    /// Reads JSON text (the C-ABI and JS boundary form): objects are tables with string keys,
    /// arrays are sequences. `null` is nil at the top and an absent key inside an object; inside
    /// an array it is a hole and rejected. Nesting is capped at [`MAX_DEPTH`] (no recursion
    /// beyond it, whatever the input).
    pub fn from_json_str(text: &str, root: &str) -> Result<Value, ValueError> {
        // The texts nearly every call hands over for metadata and user ids.
        match text {
            "{}" => return Ok(Value::Table(Table::new())),
            "[]" => return Ok(Value::Array(Vec::new())),
            _ => {}
        }
        // Fast path: no key paths kept. Refusals and malformed text are rare, so only then read
        // again, naming the path of the offending value (the fast path's own path has indices
        // where keys belong).
        match read_json(text, &mut Path::new(root), false) {
            Ok(value) => Ok(value),
            Err(_) => {
                let mut path = Path::new(root);
                match read_json(text, &mut path, true) {
                    Ok(value) => Ok(value),
                    Err(Some(err)) => Err(err),
                    Err(None) => Err(path.error("invalid JSON".into())),
                }
            }
        }
    }

    /// Converts an already parsed JSON value (tests and tools); see [`Value::from_json_str`].
    pub fn from_json(json: &serde_json::Value, path: &mut Path) -> Result<Value, ValueError> {
        let text = json.to_string();
        let root = path.to_string();
        Value::from_json_str(&text, &root)
    }

    /// JSON text of this value. Table keys become their Luau `tostring` text; nil is `null`.
    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    /// The JSON a host that names keys by text (JS, or a JSON save) gets for this value:
    /// [`Value::check_json_keys`], then [`Value::to_json_string`]. A table keyed both `1` and
    /// `"1"` is refused, naming its path under `root`, rather than written with two entries of
    /// one name.
    pub fn to_host_json(&self, root: &str) -> Result<String, ValueError> {
        self.check_json_keys(root)?;
        Ok(self.to_json_string())
    }

    pub(crate) fn write_json(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => write_json_number(*n, out),
            Value::String(s) => write_json_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Table(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(&k.to_luau_string(), out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

impl Value {
    /// Whether JSON carries this value exactly: every table is a sequence or keyed by strings
    /// alone (JSON names every key by its text, so a number or boolean key would come back as
    /// a string).
    pub fn json_round_trips(&self) -> bool {
        self.fits(usize::MAX, true)
    }

    /// [`Value::json_round_trips`], with at most `tables` tables nested (the value's own
    /// counts): what a JSON reader with a nesting limit, as Luau's `JSONDecode`, reads back.
    pub fn json_fits(&self, tables: usize) -> bool {
        self.fits(tables, true)
    }

    /// Whether at most `tables` tables are nested here (the value's own counts).
    pub fn nests_within(&self, tables: usize) -> bool {
        self.fits(tables, false)
    }

    fn fits(&self, tables: usize, string_keys: bool) -> bool {
        match self {
            Value::Array(items) => {
                tables > 0 && items.iter().all(|v| v.fits(tables - 1, string_keys))
            }
            Value::Table(table) => {
                tables > 0
                    && table.iter().all(|(k, v)| {
                        (!string_keys || matches!(k, Key::String(_)))
                            && v.fits(tables - 1, string_keys)
                    })
            }
            _ => true,
        }
    }

    /// Refuses a value whose JSON would lose entries: JSON names every key by its text, so in a
    /// table keyed both `1` and `"1"` (or `true` and `"true"`) one entry would overwrite the
    /// other when the text is read back. The original stored such a table and lost one of the
    /// two (D9: refuse, naming the path). Tables keyed by strings alone are skipped at once.
    pub fn check_json_keys(&self, root: &str) -> Result<(), ValueError> {
        let mut path = Path::new(root);
        self.check_json_keys_at(&mut path)
    }

    fn check_json_keys_at(&self, path: &mut Path) -> Result<(), ValueError> {
        match self {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if item.is_table() {
                        path.push_number((i + 1) as f64);
                        item.check_json_keys_at(path)?;
                        path.pop();
                    }
                }
            }
            Value::Table(table) => {
                if table.keys().any(|k| !matches!(k, Key::String(_))) {
                    let mut names = std::collections::HashSet::with_capacity(table.len());
                    for (key, item) in table {
                        if !matches!(item, Value::Nil) && !names.insert(key.to_luau_string()) {
                            return Err(path.error(format!(
                                "two keys of this table are both written {:?} in JSON, so one \
                                 would overwrite the other",
                                key.to_luau_string()
                            )));
                        }
                    }
                }
                for (key, item) in table {
                    if item.is_table() {
                        match key {
                            Key::String(s) => path.push_key(s),
                            other => path.push_bracket(&other.to_luau_string()),
                        }
                        item.check_json_keys_at(path)?;
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// How deep tables may nest in a value read from JSON (the codec's limit too).
pub const MAX_DEPTH: usize = crate::codec::MAX_DEPTH;

/// Parses `text` into a Value. `Err(Some(e))` is a refusal with a message (and, when `track`
/// is set, the path in `path`); `Err(None)` is text that is not JSON at all.
fn read_json(text: &str, path: &mut Path, track: bool) -> Result<Value, Option<ValueError>> {
    let mut refusal = None;
    let mut de = serde_json::Deserializer::from_str(text);
    // Our own depth cap bounds the recursion, so serde_json's (128) is not needed.
    de.disable_recursion_limit();
    let seed = JsonSeed {
        path,
        track,
        refusal: &mut refusal,
    };
    let value = serde::de::DeserializeSeed::deserialize(seed, &mut de);
    match (value, refusal) {
        (_, Some(err)) => Err(Some(err)),
        (Ok(value), None) => de.end().map(|_| value).map_err(|_| None),
        (Err(_), None) => Err(None),
    }
}

/// One value of [`read_json`]: the path so far, and where to put a refusal's message (serde's
/// own errors carry text positions, not value paths).
struct JsonSeed<'a> {
    path: &'a mut Path,
    track: bool,
    refusal: &'a mut Option<ValueError>,
}

impl JsonSeed<'_> {
    fn refuse<E: serde::de::Error>(self, message: String) -> E {
        *self.refusal = Some(self.path.error(message));
        E::custom("refused")
    }

    fn child(&mut self) -> JsonSeed<'_> {
        JsonSeed {
            path: self.path,
            track: self.track,
            refusal: self.refusal,
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a storable JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Value, E> {
        if n.is_finite() {
            Ok(Value::Number(n))
        } else {
            Err(self.refuse(format!("the number {n} cannot be stored")))
        }
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        if self.path.depth() >= MAX_DEPTH {
            return Err(self.refuse(format!(
                "nesting deeper than {MAX_DEPTH} levels cannot be stored"
            )));
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            self.path.push_index(items.len());
            let Some(item) = seq.next_element_seed(self.child())? else {
                self.path.pop();
                break;
            };
            if item == Value::Nil {
                return Err(self.refuse(
                    "null inside an array cannot be stored (Luau arrays have no holes)".into(),
                ));
            }
            self.path.pop();
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        if self.path.depth() >= MAX_DEPTH {
            return Err(self.refuse(format!(
                "nesting deeper than {MAX_DEPTH} levels cannot be stored"
            )));
        }
        let mut table = Table::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(key) = map.next_key::<String>()? {
            if self.track {
                self.path.push_key(&key);
            } else {
                self.path.push_index(0);
            }
            let item = map.next_value_seed(self.child())?;
            self.path.pop();
            if item != Value::Nil {
                table.insert(Key::String(key), item);
            }
        }
        Ok(Value::Table(table))
    }
}

/// A JSON number that `JSON.parse` and serde read back as the same f64 (shortest round trip).
pub(crate) fn write_json_number(n: f64, out: &mut String) {
    use std::fmt::Write;
    if n.fract() == 0.0 && n.abs() < 1e15 {
        if n == 0.0 && n.is_sign_negative() {
            out.push_str("-0");
        } else {
            // The common case (counts, ids, coins) without `fmt`'s machinery.
            out.push_str(itoa::Buffer::new().format(n as i64));
        }
    } else if (1e-5..1e16).contains(&n.abs()) {
        // Rust's `{}` and `{:e}` both print the shortest text that round-trips.
        if !write_short_decimal(n, out) {
            let _ = write!(out, "{n}");
        }
    } else {
        let _ = write!(out, "{n:e}");
    }
}

/// `{n}` for a non-integer `n` (1e-5 ≤ |n| < 1e16) that is a decimal with at most 8 places
/// and 15 significant digits, such as every number `decompress` gives at `Decimals` ≤ 8; false
/// (nothing written) for any other `n`.
///
/// Why it prints what `{n}` prints: it finds the fewest places `d` for which `m / 10^d` is
/// exactly `n` with `m` whole (`m` is recovered from `n × 10^d` with an error under 0.2, since
/// `m` < 1e15 where doubles are 1/8 apart, so rounding ties never matter: `round_ties_even` is
/// one wasm instruction, `round` a libm call). That decimal reads back as `n`, because parsing
/// rounds `m / 10^d` correctly just as the division does. And no other decimal of at most 15
/// significant digits reads back as `n` (two of them never share a double: DBL_DIG is 15), so
/// it is the shortest round-trip text, which is what `{n}` writes, in plain notation.
fn write_short_decimal(n: f64, out: &mut String) -> bool {
    const POWERS: [f64; 8] = [1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
    let x = n.abs();
    for (places, &power) in (1..).zip(POWERS.iter()) {
        let m = (x * power).round_ties_even();
        if m >= 1e15 {
            return false;
        }
        if m / power == x {
            let m = m as u64;
            let scale = 10u64.pow(places);
            if n < 0.0 {
                out.push('-');
            }
            let mut digits = itoa::Buffer::new();
            out.push_str(digits.format(m / scale));
            out.push('.');
            let fraction = digits.format(m % scale + scale);
            // `scale + fraction` has a leading 1 to keep the fraction's leading zeros; the
            // fraction has no trailing zeros, or fewer places would have done.
            out.push_str(fraction.get(1..).unwrap_or_default());
            return true;
        }
    }
    false
}

pub(crate) fn write_json_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    // Everything that needs escaping is ASCII, so the runs between escapes are whole UTF-8 and
    // are copied as they are.
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(s.get(run..i).unwrap_or_default());
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(escape);
        }
        run = i + 1;
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push('"');
}

/// A value that cannot be stored, with the path to it (`Value.Inventory[3]: NaN cannot be
/// stored`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ValueError {}

/// The path to the value being visited, rendered only when an error needs it.
#[derive(Clone, Debug)]
pub struct Path {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug)]
enum Segment {
    Root(String),
    Index(usize),
    Key(String),
    /// A Luau key printed as `[text]`: a number key, `true`, `false`.
    Bracket(String),
}

impl Path {
    pub fn new(root: &str) -> Path {
        Path {
            segments: vec![Segment::Root(root.to_owned())],
        }
    }

    pub fn push_index(&mut self, index: usize) {
        self.segments.push(Segment::Index(index));
    }

    pub fn push_key(&mut self, key: &str) {
        self.segments.push(Segment::Key(key.to_owned()));
    }

    /// A number key, as Luau prints it: `[42]`.
    pub fn push_number(&mut self, n: f64) {
        self.segments
            .push(Segment::Bracket(luau_number_to_string(n)));
    }

    /// A key printed as it is, in brackets (`[true]`).
    pub fn push_bracket(&mut self, text: &str) {
        self.segments.push(Segment::Bracket(text.to_owned()));
    }

    pub fn pop(&mut self) {
        if self.segments.len() > 1 {
            self.segments.pop();
        }
    }

    pub fn depth(&self) -> usize {
        self.segments.len() - 1
    }

    pub fn error(&self, message: String) -> ValueError {
        ValueError {
            path: self.to_string(),
            message,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Root(r) => f.write_str(r)?,
                Segment::Index(i) => write!(f, "[{i}]")?,
                Segment::Key(k) if is_identifier(k) => write!(f, ".{k}")?,
                Segment::Key(k) => write!(f, "[{k:?}]")?,
                Segment::Bracket(k) => write!(f, "[{k}]")?,
            }
        }
        Ok(())
    }
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {

    #[test]
    fn empty_object_and_array_read_as_the_reader_reads_them() {
        for text in ["{}", "[]"] {
            let mut path = Path::new("v");
            let slow = read_json(text, &mut path, false).unwrap();
            let fast = Value::from_json_str(text, "v").unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }
    }

    use super::*;

    /// Malformed text names where it went wrong by the keys on the way (the fast reading kept
    /// no keys and named `stored value[0][0][1]` here).
    #[test]
    fn malformed_json_names_the_path_by_its_keys() {
        let error = |text: &str| {
            Value::from_json_str(text, "stored value")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(r#"{"a":{"b":[1,}}"#),
            "stored value.a.b[1]: invalid JSON"
        );
        assert_eq!(
            error(r#"{"a":[1,2,{"c":tru}]}"#),
            "stored value.a[2].c: invalid JSON"
        );
        assert_eq!(error("[1,"), "stored value[1]: invalid JSON");
    }

    #[test]
    fn keys_that_json_would_merge_are_refused_with_the_path() {
        let mut stats = Table::new();
        stats.insert(Key::Number(1.0), Value::Bool(true));
        stats.insert(Key::String("1".into()), Value::Bool(false));
        let mut root = Table::new();
        root.insert(Key::from("Stats"), Value::Table(stats.clone()));
        let err = Value::Table(root).check_json_keys("Value").unwrap_err();
        assert_eq!(err.path, "Value.Stats");
        stats.swap_remove(&Key::String("1".into()));
        stats.insert(Key::Bool(true), Value::Bool(false));
        let nested = Value::Array(vec![Value::Table(stats.clone())]);
        assert!(nested.check_json_keys("Value").is_ok());
        // Deeper: the path names every step down to the table, Luau-style.
        stats.insert(Key::String("true".into()), Value::Bool(true));
        let mut inner = Table::new();
        inner.insert(Key::from("Bag"), Value::Table(stats));
        let mut quests = Table::new();
        quests.insert(Key::from("my quest"), Value::Bool(true));
        quests.insert(Key::Number(7.0), Value::Table(inner));
        let deep = Value::Array(vec![Value::Bool(true), Value::Table(quests)]);
        let err = deep.check_json_keys("Value").unwrap_err();
        assert_eq!(err.path, "Value[2][7].Bag");
        assert!(err.message.contains("\"true\""), "{}", err.message);
    }

    #[test]
    fn json_round_trip_keeps_key_order() {
        let v = Value::from_json_str(r#"{"b":1,"a":[true,"x",{"c":0.5}]}"#, "Value").unwrap();
        assert_eq!(v.to_json_string(), r#"{"b":1,"a":[true,"x",{"c":0.5}]}"#);
    }

    #[test]
    fn null_in_array_is_rejected_with_its_path() {
        let err = Value::from_json_str(r#"{"Inventory":[1,2,3,null]}"#, "Value").unwrap_err();
        assert_eq!(err.path, "Value.Inventory[3]");
        assert!(err
            .to_string()
            .starts_with("Value.Inventory[3]: null inside an array"));
    }

    #[test]
    fn deep_json_is_refused_not_overflowed() {
        let text = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = Value::from_json_str(&text, "Value").unwrap_err();
        assert!(err.message.starts_with("nesting deeper than 512"), "{err}");
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Value::from_json_str(&ok, "Value").is_ok());
    }

    #[test]
    fn invalid_json_and_trailing_text_are_refused() {
        assert!(Value::from_json_str("{not json", "Value").is_err());
        assert!(Value::from_json_str("[1] 2", "Value").is_err());
        assert!(Value::from_json_str("1e999", "Value").is_err());
    }

    #[test]
    fn null_object_field_is_an_absent_key() {
        let v = Value::from_json_str(r#"{"a":null,"b":1}"#, "Value").unwrap();
        assert_eq!(v.to_json_string(), r#"{"b":1}"#);
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let mut p = Path::new("Value");
        p.push_key("key with space");
        p.push_index(0);
        assert_eq!(p.to_string(), r#"Value["key with space"][0]"#);
    }

    #[test]
    fn zero_and_negative_zero_are_one_key() {
        let mut t = Table::new();
        t.insert(Key::Number(0.0), Value::Bool(true));
        assert_eq!(t.get(&Key::Number(-0.0)), Some(&Value::Bool(true)));
    }

    #[test]
    fn luau_tostring_of_numbers() {
        // Each expected text was traced through Luau's `luai_num2str` (VM/src/lnumprint.cpp).
        let cases: &[(f64, &str)] = &[
            (1087.0, "1087"),
            (-0.0, "-0"),
            (0.0, "0"),
            (0.5, "0.5"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e15, "1000000000000000"),
            (9007199254740992.0, "9007199254740992"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (0.000001, "0.000001"),
            (1e-7, "1e-07"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1.0 + 2f64.powi(-17), "1.0000076293945312"),
        ];
        for &(n, text) in cases {
            assert_eq!(luau_number_to_string(n), text, "tostring({n:e})");
        }
        assert_eq!(Key::Number(1e21).to_luau_string(), "1e+21");
    }

    /// `write_json_number` as it was before its fast paths: the definition they must match.
    fn json_number_by_fmt(n: f64) -> String {
        if n.fract() == 0.0 && n.abs() < 1e15 {
            if n == 0.0 && n.is_sign_negative() {
                "-0".into()
            } else {
                format!("{}", n as i64)
            }
        } else if (1e-5..1e16).contains(&n.abs()) {
            format!("{n}")
        } else {
            format!("{n:e}")
        }
    }

    #[test]
    fn json_numbers_print_as_rust_fmt_does() {
        let mut rng = crate::rng::Rng::new(0x2545_F491_4F6C_DD1D);
        let mut next = move || rng.next_u64();
        let check = |n: f64| {
            let mut out = String::new();
            write_json_number(n, &mut out);
            assert_eq!(out, json_number_by_fmt(n), "{n:e}");
        };
        for n in [
            0.1,
            1.1,
            0.3,
            2.675,
            1e-5,
            1.5e-5,
            0.00001234,
            123456789012.345,
            99999999999.9999,
            999999999999999.9,
            1e15 + 0.5,
            4503599627370495.5,
            0.30000000000000004,
            1e16 - 2.0,
            12345678.87654321,
            5e-324,
            1e300,
            -0.0,
            0.0,
            -1.5,
            1e15,
            2e15,
            9007199254740993.0,
        ] {
            check(n);
            check(-n);
        }
        for _ in 0..200_000 {
            let r = next();
            // Decimals the decoder gives back (`m / 10^d`), nearby doubles, and any bits.
            let d = (r % 10) as i32;
            let m = (next() >> (r % 64)) as f64;
            let q = m / 10f64.powi(d);
            check(q);
            check(-q);
            check(f64::from_bits(q.to_bits() + 1));
            let any = f64::from_bits(next());
            if any.is_finite() {
                check(any);
            }
        }
    }
}
