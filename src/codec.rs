//! The original module's compression text format (behaviour.md §9), byte for byte.
//!
//! A session compresses its value when `Metadata.Compress` is a table: [`Settings`] reads that
//! table, [`compress`] writes the text that goes to the DataStore and [`decompress`] reads it
//! back on load. Stores written by live Roblox servers hold this exact text, so every rule here
//! copies the original's f64 arithmetic; where the original loses or corrupts data (D9) we
//! refuse with an error that names the offending value instead.
//!
//! Decisions beyond the original (behaviour.md leaves them to the port):
//!
//! - `Value::Nil` at the top encodes as `""` (the original emits nothing for nil) and `""`
//!   decodes back to nil, so nil round-trips.
//! - A `Value::Table` whose live keys are exactly the numbers `1..=n`, in any insertion order,
//!   is a Luau sequence (`#t == n`): it is written exactly like the `Value::Array` with the same
//!   elements, in index order. Any other non-empty table is written as `*` pairs in insertion
//!   order, so mixed tables are lossless at Level 2 too (D9).
//! - A `nil` value inside a `Value::Table` is an absent key (Luau's `t[k] = nil`) and is skipped;
//!   `nil` inside a `Value::Array` is a hole and is rejected.
//! - An empty `Value::Array` is `|`DEL at both Levels and an empty `Value::Table` is `*`DEL (what
//!   the original writes for any empty table), so a JS `[]` comes back as `[]`, not `{}`. The
//!   original's decoder reads `|`DEL as an empty table too.
//! - `-0` is `<0`, a negative integer (the original wrote `>0` and lost the sign); the
//!   original's decoder reads it as `-0`. (`(0` would read as `-0 / scale`, which depends on the
//!   scale: NaN when it is 0.)
//! - Containers may nest [`MAX_DEPTH`] deep, when encoding and when decoding; deeper input is an
//!   error, so neither direction (nor dropping the result) can exhaust the stack.
//! - The decoder returns what the original returns for every complete text, and fails where it
//!   failed: a digit byte outside the alphabet, a nested table or key value cut off by the end
//!   of the text. Where the original returned what it had read of a cut-off text (a top-level
//!   table without its DEL, a string without its DEL), we fail with the byte offset instead
//!   (D17): a session that loaded the partial value would save it over the real one. We also
//!   fail where the original would have built a value that a [`Value`] cannot hold: a table used
//!   as a key, a number that is not finite, nesting beyond [`MAX_DEPTH`].

use crate::value::{Key, Path, Table, Value};
use std::fmt;

pub mod json;
pub mod luau;

/// How deep containers may nest, in both directions.
pub const MAX_DEPTH: usize = 512;

/// The `Metadata.Compress` settings that matter when encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `Level` is exactly the number 2: non-empty sequences are written as `|` arrays.
    pub array_mode: bool,
    /// The `Decimals` setting; non-integers are stored as `round(v × 10^decimals)`.
    pub decimals: f64,
    /// Only `Safety == true` (or nil) replaces DEL bytes in strings with spaces.
    pub safety: bool,
}

impl Default for Settings {
    /// `{Level = 2, Decimals = 3, Safety = true}`, the original's defaults.
    fn default() -> Self {
        Settings {
            array_mode: true,
            decimals: 3.0,
            safety: true,
        }
    }
}

impl Settings {
    /// Reads `Metadata.Compress` the way the original's save does (§7.2, §9.1):
    /// `Level or 2` (only the number 2 means array mode, so `nil` and `false` do too),
    /// `Decimals or 3` ([`Settings::decimals_of`]), and `Safety` on when nil or `true`, off
    /// for any other value.
    ///
    /// Every setting the original accepts is accepted: a record it wrote with `Decimals = 1.5`
    /// or `20` must be saved again by the next server. What a setting cannot carry is refused
    /// per number, with its path (a fraction whose scaled value is not finite, or does not read
    /// back as itself); the rounding to `10^-Decimals` is the setting's, as it is at 3.
    pub fn from_compress_table(compress: &Value) -> Result<Settings, CodecError> {
        if !compress.is_table() {
            return Err(CodecError::new(format!(
                "Metadata.Compress must be a table, got a {}",
                compress.type_name()
            )));
        }
        let array_mode = match field(compress, "Level") {
            None | Some(Value::Nil | Value::Bool(false)) => true,
            Some(Value::Number(level)) => *level == 2.0,
            _ => false,
        };
        let decimals = Settings::decimals_of(compress)?;
        let safety = matches!(
            field(compress, "Safety"),
            None | Some(Value::Nil | Value::Bool(true))
        );
        Ok(Settings {
            array_mode,
            decimals,
            safety,
        })
    }

    /// `Decimals` as the original's `10 ^ (Decimals or 3)` takes it, for reading and writing:
    /// nil or false is 3, a number is itself, and a string is the number Luau's arithmetic makes
    /// of it (`"3"`, `" 0x10 "`). It must be finite: the original hangs or stores nothing of
    /// every fraction with an infinite one.
    pub fn decimals_of(compress: &Value) -> Result<f64, CodecError> {
        let decimals = match field(compress, "Decimals") {
            None | Some(Value::Nil | Value::Bool(false)) => return Ok(3.0),
            Some(Value::Number(d)) => Some(*d),
            Some(Value::String(text)) => crate::value::luau_string_to_number(text),
            Some(other) => {
                return Err(CodecError::new(format!(
                    "Metadata.Compress.Decimals must be a number, got a {}",
                    other.type_name()
                )))
            }
        };
        match decimals {
            Some(d) if d.is_finite() => Ok(d),
            Some(d) => Err(CodecError::new(format!(
                "Metadata.Compress.Decimals must be a finite number, got {}",
                crate::value::luau_number_to_string(d)
            ))),
            None => Err(CodecError::new(
                "Metadata.Compress.Decimals must be a number, got a string that is not one".into(),
            )),
        }
    }
}

/// `compress[name]`, when `compress` is a table.
fn field<'a>(compress: &'a Value, name: &str) -> Option<&'a Value> {
    match compress {
        Value::Table(t) => t.get(&Key::String(name.to_owned())),
        _ => None,
    }
}

/// Why a value could not be compressed (with the path to it) or a text could not be
/// decompressed (with the byte offset).
#[derive(Debug, Clone, PartialEq)]
pub struct CodecError {
    pub message: String,
}

impl CodecError {
    fn new(message: String) -> CodecError {
        CodecError { message }
    }

    fn corrupt(offset: usize, what: &str) -> CodecError {
        CodecError::new(format!("corrupt compressed data at byte {offset}: {what}"))
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodecError {}

const DEL: u8 = 0x7F;

const TWO_53: f64 = 9_007_199_254_740_992.0;

/// Digit index → byte (§9.3), least significant digit first.
const ALPHABET: &[u8; 83] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$%&',./:;=?@[]^_`{}~";

/// Byte classes for the decoder: a digit's index, or one of these markers.
const TAG: u8 = 0xFE;
const NOT_A_DIGIT: u8 = 0xFF;

const CLASS: [u8; 256] = {
    let mut class = [NOT_A_DIGIT; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        class[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    let tags = b"-+<>()#|*\x7f";
    let mut i = 0;
    while i < tags.len() {
        class[tags[i] as usize] = TAG;
        i += 1;
    }
    class
};

/// Where the first byte at or after `from` is DEL, `"`, `\` or a control character (below
/// 0x20): where a compressed string ends, a JSON string ends, or either needs more than a copy.
/// Eight bytes a step, so most keys and names take one.
fn find_special(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte that is zero, or below `n` (< 0x80); of the bytes flagged,
    // only the lowest is sure to be one, which is the one wanted.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS;
    let mut pos = from;
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let found = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word ^ (ONES * u64::from(DEL)), 1);
        if found != 0 {
            return Some(pos + (found.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    let rest = bytes.get(pos..)?;
    let at = rest
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\' || b == DEL)?;
    Some(pos + at)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Encodes `value` as the original's `Compress(value, level, 10 ^ decimals, safety)` would,
/// except that what the original would lose or corrupt (D9) is an error naming its path.
///
/// Refusals name a sequence's elements as JS does, from 0 (`Value.list[0]`): the tree came from
/// JSON. [`compress_luau_value`] names them as Luau does.
pub fn compress(value: &Value, settings: &Settings) -> Result<String, CodecError> {
    encode(value, settings, 0)
}

/// [`compress`] of a value read from the Luau value text: refusals name a sequence's elements
/// from 1 (`Value.list[1]`), as Luau indexes them and as the value text's own refusals do.
pub fn compress_luau_value(value: &Value, settings: &Settings) -> Result<String, CodecError> {
    encode(value, settings, 1)
}

fn encode(value: &Value, settings: &Settings, first_index: usize) -> Result<String, CodecError> {
    let mut encoder = Encoder::new(settings, 256);
    match encoder.value(value, 0) {
        Ok(()) => {}
        Err(err) => return Err(err.into_codec_error(first_index)),
    }
    encoder.finish()
}

struct Encoder {
    out: Vec<u8>,
    scale: f64,
    array_mode: bool,
    safety: bool,
}

/// An encoding error on its way up: the path is collected innermost first, only on failure, so
/// the success path never builds path strings.
struct EncodeError {
    reversed_path: Vec<Step>,
    message: String,
}

enum Step {
    Index(usize),
    Key(String),
    /// A number or boolean key, as Luau prints it (`[42]`, `[true]`).
    Bracket(String),
}

impl EncodeError {
    fn new(message: String) -> EncodeError {
        EncodeError {
            reversed_path: Vec::new(),
            message,
        }
    }

    fn at(mut self, step: Step) -> EncodeError {
        self.reversed_path.push(step);
        self
    }

    /// The error, its path naming a sequence's element `i` as `[i + first_index]`.
    fn into_codec_error(self, first_index: usize) -> CodecError {
        let mut path = Path::new("Value");
        for step in self.reversed_path.iter().rev() {
            match step {
                Step::Index(i) => path.push_index(*i + first_index),
                Step::Key(k) => path.push_key(k),
                Step::Bracket(k) => path.push_bracket(k),
            }
        }
        CodecError::new(path.error(self.message).to_string())
    }
}

/// Element i of a table keyed `1..=n` is the key i + 1.
fn number_key_step(i: usize) -> Step {
    Step::Bracket(crate::value::luau_number_to_string((i + 1) as f64))
}

/// How a non-empty table is written.
enum Shape {
    /// Keys exactly `1..=n` in insertion order.
    SequenceInOrder(usize),
    /// Keys exactly `1..=n` in another order.
    SequenceShuffled(usize),
    /// Anything else: `*` pairs in insertion order.
    Pairs,
}

/// With Safety on, DEL in a string is written as a space, so two keys of one table that differ
/// only there (`"Rex\u{7f}"` and `"Rex "`) would be written alike and one of them lost on the way
/// back: the original loses it; this refuses, naming both (D9).
fn safety_keeps_keys_apart(table: &Table) -> Result<(), EncodeError> {
    let keys = || {
        table.iter().filter_map(|(k, v)| match (k, v) {
            (_, Value::Nil) => None,
            (Key::String(s), _) => Some(s.as_str()),
            _ => None,
        })
    };
    let spaced = |b: u8| if b == DEL { b' ' } else { b };
    for a in keys().filter(|a| memchr::memchr(DEL, a.as_bytes()).is_some()) {
        let alike = |b: &&str| {
            *b != a
                && b.len() == a.len()
                && a.bytes()
                    .zip(b.bytes())
                    .all(|(x, y)| spaced(x) == spaced(y))
        };
        if let Some(b) = keys().find(alike) {
            return Err(EncodeError::new(format!(
                "the keys {a:?} and {b:?} are alike once Safety makes DEL a space"
            )));
        }
    }
    Ok(())
}

fn table_shape(table: &Table) -> Shape {
    let mut n = 0usize;
    for value in table.values() {
        if !matches!(value, Value::Nil) {
            n += 1;
        }
    }
    if n == 0 {
        return Shape::Pairs;
    }
    let mut in_order = true;
    let mut expected = 1.0;
    for (key, value) in table {
        if matches!(value, Value::Nil) {
            continue;
        }
        match key {
            // Keys are unique, so n distinct integers in 1..=n are exactly 1..=n.
            Key::Number(k) if *k >= 1.0 && *k <= n as f64 && k.fract() == 0.0 => {
                in_order &= *k == expected;
                expected += 1.0;
            }
            _ => return Shape::Pairs,
        }
    }
    if in_order {
        Shape::SequenceInOrder(n)
    } else {
        Shape::SequenceShuffled(n)
    }
}

impl Encoder {
    fn new(settings: &Settings, capacity: usize) -> Encoder {
        Encoder {
            out: Vec::with_capacity(capacity),
            scale: 10f64.powf(settings.decimals),
            array_mode: settings.array_mode,
            safety: settings.safety,
        }
    }

    fn finish(self) -> Result<String, CodecError> {
        // Only whole UTF-8 strings and ASCII are ever written, so this cannot fail.
        String::from_utf8(self.out)
            .map_err(|_| CodecError::new("internal error: the encoder wrote invalid UTF-8".into()))
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<(), EncodeError> {
        match value {
            Value::Nil => Ok(()),
            Value::Bool(b) => {
                self.out.push(if *b { b'+' } else { b'-' });
                Ok(())
            }
            Value::Number(n) => self.number(*n),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                let depth = self.enter(depth)?;
                self.sequence(items.len(), |i| items.get(i), Step::Index, depth)
            }
            Value::Table(table) => {
                let depth = self.enter(depth)?;
                match table_shape(table) {
                    Shape::SequenceInOrder(n) => {
                        let mut values = table.values().filter(|v| !matches!(v, Value::Nil));
                        self.sequence(n, |_| values.next(), number_key_step, depth)
                    }
                    Shape::SequenceShuffled(n) => self.sequence(
                        n,
                        |i| table.get(&Key::Number((i + 1) as f64)),
                        number_key_step,
                        depth,
                    ),
                    Shape::Pairs => self.pairs(table, depth),
                }
            }
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, EncodeError> {
        if depth >= MAX_DEPTH {
            return Err(EncodeError::new(format!(
                "tables nested more than {MAX_DEPTH} deep cannot be stored"
            )));
        }
        Ok(depth + 1)
    }

    /// A sequence of `n` elements, `element(i)` for i in 0..n, in index order; `step(i)` names
    /// element i in an error's path.
    fn sequence<'v>(
        &mut self,
        n: usize,
        mut element: impl FnMut(usize) -> Option<&'v Value>,
        step: fn(usize) -> Step,
        depth: usize,
    ) -> Result<(), EncodeError> {
        if n == 0 {
            // Only an empty `Value::Array` gets here: `|` keeps it an array on the way back.
            self.out.extend_from_slice(b"|\x7f");
            return Ok(());
        }
        self.out.push(if self.array_mode { b'|' } else { b'*' });
        for i in 0..n {
            let item = element(i).unwrap_or(&Value::Nil);
            if matches!(item, Value::Nil) {
                return Err(EncodeError::new(
                    "nil inside an array cannot be stored (Luau arrays have no holes)".into(),
                )
                .at(step(i)));
            }
            if !self.array_mode {
                self.out.push(b'>');
                // Indices are far below 2^53, so they are always exact.
                let _ = self.digits((i + 1) as f64);
            }
            self.value(item, depth).map_err(|e| e.at(step(i)))?;
        }
        self.out.push(DEL);
        Ok(())
    }

    fn pairs(&mut self, table: &Table, depth: usize) -> Result<(), EncodeError> {
        if self.safety {
            safety_keeps_keys_apart(table)?;
        }
        self.out.push(b'*');
        for (key, value) in table {
            if matches!(value, Value::Nil) {
                continue;
            }
            let step = || match key {
                Key::String(s) => Step::Key(s.clone()),
                other => Step::Bracket(other.to_luau_string()),
            };
            match key {
                Key::String(s) => self
                    .string(s)
                    .map_err(|e| EncodeError::new(format!("the key {s:?}: {}", e.message)))?,
                Key::Number(n) => self.number(*n).map_err(|e| {
                    EncodeError::new(format!("the key {}: {}", key.to_luau_string(), e.message))
                })?,
                Key::Bool(b) => self.out.push(if *b { b'+' } else { b'-' }),
            }
            self.value(value, depth).map_err(|e| e.at(step()))?;
        }
        self.out.push(DEL);
        Ok(())
    }

    fn number(&mut self, n: f64) -> Result<(), EncodeError> {
        if n.is_nan() {
            return Err(EncodeError::new("NaN cannot be stored".into()));
        }
        if n.is_infinite() {
            return Err(EncodeError::new(format!("{n} cannot be stored")));
        }
        if n == 0.0 && n.is_sign_negative() {
            // The original wrote `>0`, losing the sign; its decoder reads `<0` as -0.
            self.out.extend_from_slice(b"<0");
            return Ok(());
        }
        // Luau `n % 1 == 0`.
        let exact = if n - n.floor() == 0.0 {
            let magnitude = n.abs();
            self.out.push(if n < 0.0 { b'<' } else { b'>' });
            self.digits(magnitude) == Some(magnitude)
        } else {
            let (tag, scaled) = if n < 0.0 {
                (b'(', (-n * self.scale).round())
            } else {
                (b')', (n * self.scale).round())
            };
            if !scaled.is_finite() || self.scale == 0.0 {
                // 10^Decimals past the doubles (over 308) or below them (under -323): the
                // original's reader would get ∞, or 0 / 0.
                return Err(EncodeError::new(format!(
                    "{} cannot be stored with this Decimals setting (10^Decimals leaves no \
                     finite scaled number)",
                    crate::value::luau_number_to_string(n)
                )));
            }
            self.out.push(tag);
            // What the reader gets is the digits over the scale: the digits may differ from
            // `scaled` above 2^53 and still give the same number (the quantisation to
            // `Decimals` places is the setting's, not a loss of ours).
            self.digits(scaled)
                .is_some_and(|decoded| decoded / self.scale == scaled / self.scale)
        };
        if !exact {
            return Err(EncodeError::new(format!(
                "{} is too large to compress exactly (the original format would change its digits)",
                crate::value::luau_number_to_string(n)
            )));
        }
        Ok(())
    }

    /// Little-endian base 83 with Luau's f64 `%` (§9.4). `n` is finite and >= 0, so the loop
    /// runs at most ~162 times.
    ///
    /// Above 2^53 the f64 formula can give a digit outside 0..=82, which the original silently
    /// drops, or digits that decode to another number: its output then holds a different number
    /// than the one saved. Like D9's other refusals, that is an error here, never silent data
    /// loss; every number the original writes faithfully is written byte for byte.
    /// Returns the number the digits read back as, or `None` (having written part of the
    /// digits) when a digit falls outside the alphabet.
    #[must_use]
    fn digits(&mut self, n: f64) -> Option<f64> {
        if n == 0.0 {
            self.out.push(b'0');
            return Some(0.0);
        }
        // `n` is a whole number. Below 2^53 the f64 formula is exact integer division: the
        // quotient is below 2^47, where a rounding error (at most 2^-7) cannot carry
        // `rest / 83` across a whole number (the fraction part is a multiple of 1/83 > 2^-7).
        // So integer arithmetic writes the same digits, and they read back exactly.
        if n < TWO_53 {
            let mut rest = n as u64;
            while rest > 0 {
                self.out.push(ALPHABET[(rest % 83) as usize]);
                rest /= 83;
            }
            return Some(n);
        }
        let (mut rest, mut decoded, mut power) = (n, 0.0f64, 1.0f64);
        while rest > 0.0 {
            let quotient = (rest / 83.0).floor();
            let digit = rest - quotient * 83.0;
            if !((0.0..=82.0).contains(&digit) && digit.fract() == 0.0) {
                return None;
            }
            self.out.push(ALPHABET[digit as usize]);
            decoded += digit * power;
            power *= 83.0;
            rest = quotient;
        }
        Some(decoded)
    }

    fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        let bytes = s.as_bytes();
        self.out.push(b'#');
        if memchr::memchr(DEL, bytes).is_some() {
            if !self.safety {
                return Err(EncodeError::new(
                    "a string containing DEL (0x7F) cannot be stored with Safety off".into(),
                ));
            }
            self.out
                .extend(bytes.iter().map(|&b| if b == DEL { b' ' } else { b }));
        } else {
            self.out.extend_from_slice(bytes);
        }
        self.out.push(DEL);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decodes text written by [`compress`] or by the original, as the original's `Decompress(text,
/// 10 ^ decimals)` does (§9.6): bytes before a tag are skipped, only the first value counts and
/// `""` is nil. Errors name the byte offset (0-based) where the data stops making sense.
pub fn decompress(text: &str, decimals: f64) -> Result<Value, CodecError> {
    Decoder::new(text, decimals).run()
}

struct Decoder<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    scale: f64,
}

/// One step of the original's decoder loop: shared by [`decompress`] (which builds a [`Value`])
/// and [`json::decompress`] (which writes JSON text as it goes).
enum Token<'a> {
    Bool(bool),
    /// Always finite.
    Number(f64),
    /// The bytes between `#` and DEL, and whether JSON can hold them unescaped (no `"`, `\`
    /// or control character).
    Str(&'a str, bool),
    OpenArray,
    OpenTable,
    /// A DEL where a value was expected: nil, which closes a container.
    Nil,
    /// No tag left: the text is over.
    End,
    /// A string at this offset without its DEL: the text was cut short (the original returned
    /// nil for it, and so lost the string and whatever followed).
    Unterminated(usize),
}

enum Frame {
    Array(Vec<Value>),
    Table {
        table: Table,
        /// A key read, waiting for its value.
        key: Option<Key>,
        /// Some entries were set to nil (kept as `Value::Nil` so their removal is O(1)).
        removed: bool,
        offset: usize,
    },
}

impl<'a> Decoder<'a> {
    fn new(text: &'a str, decimals: f64) -> Decoder<'a> {
        Decoder {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            scale: 10f64.powf(decimals),
        }
    }

    /// An explicit stack instead of recursion, so hostile input can't overflow ours.
    fn run(mut self) -> Result<Value, CodecError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let mut item = match self.token()? {
                Token::Bool(b) => Some(Value::Bool(b)),
                Token::Number(n) => Some(Value::Number(n)),
                Token::Str(s, _) => Some(Value::String(s.to_owned())),
                Token::Nil => None,
                Token::End => return end(stack, self.bytes.len()),
                Token::Unterminated(at) => {
                    return Err(CodecError::corrupt(at, "the string has no closing DEL"))
                }
                Token::OpenArray | Token::OpenTable if stack.len() >= MAX_DEPTH => {
                    return Err(CodecError::corrupt(
                        self.pos - 1,
                        &format!("tables nested more than {MAX_DEPTH} deep"),
                    ));
                }
                Token::OpenArray => {
                    stack.push(Frame::Array(Vec::new()));
                    continue;
                }
                Token::OpenTable => {
                    stack.push(Frame::Table {
                        table: Table::new(),
                        key: None,
                        removed: false,
                        offset: self.pos - 1,
                    });
                    continue;
                }
            };
            // Hand the value (or nil) to the innermost open container; nil closes it, and the
            // closed container is then handed to its parent.
            loop {
                match stack.last_mut() {
                    None => return Ok(item.unwrap_or(Value::Nil)),
                    Some(Frame::Array(items)) => match item {
                        Some(v) => {
                            items.push(v);
                            break;
                        }
                        None => item = stack.pop().map(finish),
                    },
                    Some(Frame::Table {
                        table,
                        key,
                        removed,
                        offset: table_offset,
                    }) => match (key.take(), item) {
                        (None, None) => item = stack.pop().map(finish),
                        (None, Some(k)) => {
                            *key = Some(to_key(k, self.pos - 1, *table_offset)?);
                            break;
                        }
                        (Some(k), Some(v)) => {
                            table.insert(k, v);
                            break;
                        }
                        (Some(k), None) => {
                            if let Some(slot) = table.get_mut(&k) {
                                *slot = Value::Nil;
                                *removed = true;
                            }
                            break;
                        }
                    },
                }
            }
        }
    }

    fn token(&mut self) -> Result<Token<'a>, CodecError> {
        let bytes = self.bytes;
        let start = self.pos;
        let Some(found) = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| CLASS[b as usize] == TAG))
        else {
            self.pos = bytes.len();
            return Ok(Token::End);
        };
        let at = start + found;
        self.pos = at + 1;
        let tag = bytes.get(at).copied().unwrap_or(DEL);
        Ok(match tag {
            b'-' => Token::Bool(false),
            b'+' => Token::Bool(true),
            b'>' | b'<' | b')' | b'(' => {
                let n = self.digits()?;
                let n = match tag {
                    b'>' => n,
                    b'<' => -n,
                    b')' => n / self.scale,
                    _ => -n / self.scale,
                };
                if !n.is_finite() {
                    return Err(CodecError::corrupt(at, "the number is not finite"));
                }
                Token::Number(n)
            }
            b'#' => {
                let from = self.pos;
                // The DEL that ends the string, noting on the way whether JSON must escape any
                // of its bytes.
                let mut plain = true;
                let mut end = find_special(bytes, from);
                while let Some(i) = end.filter(|&i| bytes.get(i) != Some(&DEL)) {
                    plain = false;
                    end = bytes
                        .get(i + 1..)
                        .and_then(|rest| memchr::memchr(DEL, rest))
                        .map(|len| i + 1 + len);
                }
                match end {
                    Some(to) => {
                        self.pos = to + 1;
                        // `#` and DEL are ASCII, so both ends are char boundaries.
                        match self.text.get(from..to) {
                            Some(s) => Token::Str(s, plain),
                            None => return Err(CodecError::corrupt(at, "the string is not UTF-8")),
                        }
                    }
                    None => {
                        self.pos = bytes.len();
                        Token::Unterminated(at)
                    }
                }
            }
            b'|' => Token::OpenArray,
            b'*' => Token::OpenTable,
            _ => Token::Nil,
        })
    }

    /// The run of non-tag bytes after a number tag, as little-endian base 83 in f64 (§9.4).
    fn digits(&mut self) -> Result<f64, CodecError> {
        let mut number = 0.0;
        let mut power = 1.0;
        while let Some(&b) = self.bytes.get(self.pos) {
            let class = CLASS[b as usize];
            if class == TAG {
                break;
            }
            if class == NOT_A_DIGIT {
                return Err(CodecError::corrupt(
                    self.pos,
                    &format!("byte 0x{b:02x} is not a base-83 digit"),
                ));
            }
            number += f64::from(class) * power;
            power *= 83.0;
            self.pos += 1;
        }
        Ok(number)
    }
}

/// The text ended where a value was expected (§9.6 with `e = nil`): nil at the top, else the
/// text was cut short. The original read the end as the innermost container's DEL and failed on
/// nil arithmetic one step later (in the container around it, or at the key after a key whose
/// value is missing), except in the outermost container, where it returned what it had read.
/// That partial value, saved back, would replace the real one (D17), so it is an error too.
fn end(stack: Vec<Frame>, at: usize) -> Result<Value, CodecError> {
    let what = match stack.last() {
        None => return Ok(Value::Nil),
        Some(Frame::Table { key: Some(_), .. }) => {
            "the text ends where the value of a key should be"
        }
        Some(_) if stack.len() > 1 => "the text ends inside a nested table",
        Some(_) => "the text ends before the outermost table is closed",
    };
    Err(CodecError::corrupt(at, what))
}

/// A value read where a key goes; `end` is the offset of its last byte.
fn to_key(value: Value, end: usize, table_offset: usize) -> Result<Key, CodecError> {
    Ok(match value {
        Value::String(s) => Key::String(s),
        Value::Number(n) => Key::Number(n),
        Value::Bool(b) => Key::Bool(b),
        Value::Nil | Value::Array(_) | Value::Table(_) => {
            return Err(CodecError::corrupt(
                end,
                &format!(
                    "a table ending here is used as a key in the table at byte {table_offset}"
                ),
            ))
        }
    })
}

/// A closed container as a value: a `*` table whose keys are exactly `1..=n` is a sequence.
fn finish(frame: Frame) -> Value {
    match frame {
        Frame::Array(items) => Value::Array(items),
        Frame::Table {
            mut table, removed, ..
        } => {
            if removed {
                table.retain(|_, v| !matches!(v, Value::Nil));
            }
            match table_shape(&table) {
                Shape::SequenceInOrder(_) => Value::Array(table.into_values().collect()),
                Shape::SequenceShuffled(_) => {
                    let mut items: Vec<(f64, Value)> = table
                        .into_iter()
                        .map(|(k, v)| match k {
                            Key::Number(n) => (n, v),
                            _ => (0.0, v),
                        })
                        .collect();
                    items.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
                    Value::Array(items.into_iter().map(|(_, v)| v).collect())
                }
                Shape::Pairs => Value::Table(table),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `␡` in test text stands for the DEL byte.
    fn del(text: &str) -> String {
        text.replace('␡', "\x7f")
    }

    fn json(text: &str) -> Value {
        Value::from_json_str(text, "Value").unwrap()
    }

    fn level(level: u8) -> Settings {
        Settings {
            array_mode: level == 2,
            ..Settings::default()
        }
    }

    /// A §9.9 row: the value, its Level 2 and Level 1 encodings, and what decoding gives back
    /// (the value itself unless quantised or changed by Safety).
    fn row(value: &str, level2: &str, level1: &str, decoded: &str) {
        let v = json(value);
        let (l2, l1) = (del(level2), del(level1));
        assert_eq!(compress(&v, &level(2)).unwrap(), l2, "Level 2 of {value}");
        assert_eq!(compress(&v, &level(1)).unwrap(), l1, "Level 1 of {value}");
        let want = json(decoded);
        assert_eq!(decompress(&l2, 3.0).unwrap(), want, "decoding {level2}");
        assert_eq!(decompress(&l1, 3.0).unwrap(), want, "decoding {level1}");
    }

    fn same(value: &str, encoded: &str) {
        row(value, encoded, encoded, value);
    }

    #[test]
    fn find_special_finds_the_first_special_byte() {
        let naive = |bytes: &[u8], from: usize| {
            (from..bytes.len()).find(|&i| matches!(bytes[i], 0..=0x1f | b'"' | b'\\' | DEL))
        };
        let mut rng = crate::rng::Rng::new(0x2545_F491_4F6C_DD1D);
        let mut next = move || rng.next_u64();
        let pool = b"aZ~ !#\"\\\x00\x1f\x20\x7e\x7f\x80\xc3\xa9\xff";
        for _ in 0..50_000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if next() % 4 == 0 {
                        pool[(next() % pool.len() as u64) as usize]
                    } else {
                        b'a' + (next() % 26) as u8
                    }
                })
                .collect();
            let from = (next() % (len as u64 + 2)) as usize;
            assert_eq!(
                find_special(&bytes, from),
                naive(&bytes, from),
                "{bytes:?} from {from}"
            );
        }
    }

    #[test]
    fn worked_examples_of_scalars() {
        same("true", "+");
        same("false", "-");
        same("0", ">0");
        same("7", ">7");
        same("82", ">~");
        same("83", ">01");
        same("100", ">h1");
        same("-1", "<1");
        same("-6889", "<001");
        same("1.5", ")6i");
        same("-0.25", "(13");
        same("0.1", ")h1");
        row("0.0005", ")1", ")1", "0.001");
        row("0.0004", ")0", ")0", "0");
        row("2.0005", ")9o", ")9o", "2.001");
        row("3.14159", ");B", ");B", "3.142");
        same(r#""hi""#, "#hi␡");
        same(r#""""#, "#␡");
        row(r#""a\u007fb""#, "#a b␡", "#a b␡", r#""a b""#);
    }

    #[test]
    fn worked_examples_of_tables() {
        same("{}", "*␡");
        same("[]", "|␡");
        row("[1,2,3]", "|>1>2>3␡", "*>1>1>2>2>3>3␡", "[1,2,3]");
        same(r#"{"a":1}"#, "*#a␡>1␡");
        row("[true,[false]]", "|+|-␡␡", "*>1+>2*>1-␡␡", "[true,[false]]");
        same(r#"{"x":{"y":-2.5}}"#, "*#x␡*#y␡(au␡␡");
        row(
            r#"{"Coins":10,"Items":["Sword","Shield"]}"#,
            "*#Coins␡>a#Items␡|#Sword␡#Shield␡␡␡",
            "*#Coins␡>a#Items␡*>1#Sword␡>2#Shield␡␡␡",
            r#"{"Coins":10,"Items":["Sword","Shield"]}"#,
        );
    }

    #[test]
    fn the_docs_example_byte_for_byte() {
        let v = json(
            r#"{"Number":1234567891234.987,"String":"Hello World!","Array":[1234567891234567,2345678912345678,3456789123456789,4567891234567891,5678912345678912]}"#,
        );
        let want = del("*#Number␡)hLy&yaFJ#String␡#Hello World!␡#Array␡|>cGy&yaFJ>e~i~{QA31>4YzarcwI1>v{GMPQr22>mrCnt=mH2␡␡");
        assert_eq!(compress(&v, &Settings::default()).unwrap(), want);
        assert_eq!(decompress(&want, 3.0).unwrap(), v);
    }

    #[test]
    fn decoder_examples() {
        assert_eq!(decompress("garbage>5", 3.0).unwrap(), Value::Number(5.0));
        assert_eq!(decompress("", 3.0).unwrap(), Value::Nil);
        assert_eq!(decompress(">", 3.0).unwrap(), Value::Number(0.0));
        assert_eq!(decompress(&del("|>1>2␡"), 3.0).unwrap(), json("[1,2]"));
        // §9.9 has `|>1>2` (no DEL) give [1, 2]: D17 makes that cut-off text an error.
        let err = decompress("|>1>2", 3.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 5: the text ends before the outermost table is closed"
        );
    }

    fn sign_bit(value: &Value) -> Option<bool> {
        match value {
            Value::Number(n) => Some(n.is_sign_negative()),
            _ => None,
        }
    }

    #[test]
    fn negative_zero_keeps_its_sign() {
        // The original wrote `>0`, which reads back as +0.
        for settings in [level(1), level(2)] {
            assert_eq!(compress(&Value::Number(-0.0), &settings).unwrap(), "<0");
            assert_eq!(compress(&Value::Number(0.0), &settings).unwrap(), ">0");
        }
        // `<0` reads as -0 at any scale, even one of 0 or ∞ (`(0` would be NaN at 0).
        for decimals in [0.0, 3.0, 15.0, -400.0, 400.0] {
            let back = decompress("<0", decimals).unwrap();
            assert_eq!(sign_bit(&back), Some(true), "at Decimals {decimals}");
            let back = decompress("(0", decimals);
            if decimals.abs() < 400.0 {
                assert_eq!(
                    sign_bit(&back.unwrap()),
                    Some(true),
                    "at Decimals {decimals}"
                );
            }
        }
        let back = decompress(&compress(&json(r#"{"z":[-0]}"#), &level(2)).unwrap(), 3.0).unwrap();
        assert_eq!(back.to_json_string(), r#"{"z":[-0]}"#);
    }

    #[test]
    fn an_empty_array_stays_an_array_and_an_empty_table_a_table() {
        let v = json(r#"{"Inventory":[],"Bag":{}}"#);
        for settings in [level(1), level(2)] {
            let text = compress(&v, &settings).unwrap();
            assert_eq!(text, del("*#Inventory␡|␡#Bag␡*␡␡"));
            let back = decompress(&text, 3.0).unwrap();
            assert_eq!(back.to_json_string(), r#"{"Inventory":[],"Bag":{}}"#);
        }
        // A table whose keys are all absent is an empty table.
        let mut t = Table::new();
        t.insert("gone".into(), Value::Nil);
        assert_eq!(compress(&Value::Table(t), &level(2)).unwrap(), del("*␡"));
    }

    #[test]
    fn nil_at_the_top_is_the_empty_text() {
        assert_eq!(compress(&Value::Nil, &level(2)).unwrap(), "");
        assert_eq!(decompress("", 3.0).unwrap(), Value::Nil);
    }

    #[test]
    fn non_finite_numbers_are_rejected_with_their_path() {
        let mut inventory = vec![Value::Number(1.0); 3];
        inventory.push(Value::Number(f64::NAN));
        let mut t = Table::new();
        t.insert("Inventory".into(), Value::Array(inventory));
        let v = Value::Table(t);
        for settings in [level(1), level(2)] {
            let err = compress(&v, &settings).unwrap_err();
            assert_eq!(err.message, "Value.Inventory[3]: NaN cannot be stored");
        }
        let err = compress(&Value::Number(f64::INFINITY), &level(2)).unwrap_err();
        assert_eq!(err.to_string(), "Value: inf cannot be stored");
        let err = compress(&Value::Number(f64::NEG_INFINITY), &level(2)).unwrap_err();
        assert_eq!(err.to_string(), "Value: -inf cannot be stored");
    }

    /// A number or boolean key is named as Luau prints it: `[1]` is the key 1, `["1"]` would be
    /// the string "1". (They were all written as strings.)
    #[test]
    fn paths_name_number_and_boolean_keys_as_luau_does() {
        let off = Settings {
            safety: false,
            ..Settings::default()
        };
        let text =
            b"{s5:Items{n1;n1;n2;{n1;s2:\x7f>n2;s1:an0.5;s1:b}}s3:Bag{ts1:xn7;{n1;s1:\x7f}}}";
        let v = Value::from_luau_text(text, "Value").unwrap();
        let err = compress_luau_value(&v, &off).unwrap_err();
        assert_eq!(
            err.message,
            "Value.Items[2][1]: a string containing DEL (0x7F) cannot be stored with Safety off"
        );
        let mut bag = Table::new();
        bag.insert(Key::Bool(true), Value::String("x".into()));
        let mut seven = Table::new();
        seven.insert(Key::Number(1.0), Value::String("\x7f".into()));
        seven.insert(Key::Number(3.0), Value::Bool(true));
        bag.insert(Key::Number(7.0), Value::Table(seven));
        let mut root = Table::new();
        root.insert(Key::from("Bag"), Value::Table(bag));
        let err = compress_luau_value(&Value::Table(root), &off).unwrap_err();
        assert_eq!(
            err.message,
            "Value.Bag[7][1]: a string containing DEL (0x7F) cannot be stored with Safety off"
        );
    }

    #[test]
    fn a_non_finite_number_key_is_rejected() {
        let mut t = Table::new();
        t.insert(Key::Number(f64::NAN), Value::Bool(true));
        let err = compress(&json(r#"{"a":0}"#), &level(2)).map(|_| ());
        assert!(err.is_ok());
        let err = compress(&Value::Table(t), &level(2)).unwrap_err();
        assert_eq!(err.message, "Value: the key nan: NaN cannot be stored");
    }

    #[test]
    fn keys_that_safety_would_write_alike_are_refused_on_every_path() {
        // `"Rex\u{7f}"` and `"Rex "` were both written `#Rex `, and the load kept one (a helper's
        // bug hunt; the original loses it too): D9.
        let want = |path: &str, a: &str, b: &str| {
            format!("{path}: the keys {a:?} and {b:?} are alike once Safety makes DEL a space")
        };
        let on = Settings::default();
        let text = r#"{"Pets":{"Rex\u007f":{"Level":10},"Rex ":{"Level":1}}}"#;
        let err = compress(&json(text), &on).unwrap_err();
        assert_eq!(err.message, want("Value.Pets", "Rex\u{7f}", "Rex "));
        assert_eq!(
            json::compress(text, "Value", &on).unwrap_err().message,
            err.message
        );
        // The Luau text path: codec/luau.rs's tests.
        // Two keys with DEL in different places.
        let err = compress(&json(r#"{"a\u007f ":1,"a \u007f":2}"#), &on).unwrap_err();
        assert!(err.message.contains("are alike once Safety"), "{err}");
        // One key with DEL and no twin is written as before.
        assert_eq!(
            compress(&json(r#"{"a\u007f":1,"b":2}"#), &on).unwrap(),
            del("*#a ␡>1#b␡>2␡")
        );
    }

    #[test]
    fn del_in_a_string_is_rejected_when_safety_is_off() {
        let off = Settings {
            safety: false,
            ..Settings::default()
        };
        let err = compress(&json(r#"{"k":["x","a\u007fb"],"z":1}"#), &off).unwrap_err();
        assert_eq!(
            err.message,
            "Value.k[1]: a string containing DEL (0x7F) cannot be stored with Safety off"
        );
        let err = compress(&json(r#"{"a\u007f":1}"#), &off).unwrap_err();
        assert!(
            err.message.starts_with("Value: the key \"a\\u{7f}\""),
            "{err}"
        );
        // With Safety on the DEL becomes a space, as in the original.
        let on = compress(&json(r#"{"a\u007f":1}"#), &Settings::default()).unwrap();
        assert_eq!(on, del("*#a ␡>1␡"));
    }

    #[test]
    fn a_hole_in_an_array_is_rejected() {
        let v = Value::Array(vec![Value::Number(1.0), Value::Nil, Value::Number(3.0)]);
        let err = compress(&v, &level(2)).unwrap_err();
        assert!(
            err.message.starts_with("Value[1]: nil inside an array"),
            "{err}"
        );
    }

    #[test]
    fn nil_values_in_a_table_are_absent_keys() {
        let mut t = Table::new();
        t.insert("gone".into(), Value::Nil);
        t.insert("kept".into(), Value::Bool(true));
        assert_eq!(
            compress(&Value::Table(t), &level(2)).unwrap(),
            del("*#kept␡+␡")
        );
    }

    fn numbered(keys: &[f64]) -> Value {
        let mut t = Table::new();
        for &k in keys {
            t.insert(Key::Number(k), Value::Number(k * 10.0));
        }
        Value::Table(t)
    }

    #[test]
    fn a_table_keyed_one_to_n_in_any_order_is_a_sequence() {
        for keys in [[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]] {
            let v = numbered(&keys);
            assert_eq!(compress(&v, &level(2)).unwrap(), del("|>a>k>u␡"));
            assert_eq!(compress(&v, &level(1)).unwrap(), del("*>1>a>2>k>3>u␡"));
        }
    }

    #[test]
    fn nil_values_between_sequence_keys_do_not_break_the_sequence() {
        let mut t = Table::new();
        t.insert(Key::Number(1.0), Value::Bool(true));
        t.insert("gone".into(), Value::Nil);
        t.insert(Key::Number(2.0), Value::Bool(false));
        let v = Value::Table(t);
        assert_eq!(compress(&v, &level(2)).unwrap(), del("|+-␡"));
        assert_eq!(compress(&v, &level(1)).unwrap(), del("*>1+>2-␡"));
    }

    #[test]
    fn errors_in_a_numbered_table_name_the_key() {
        let mut t = numbered(&[2.0, 1.0]);
        if let Value::Table(t) = &mut t {
            t.insert(Key::Number(2.0), Value::Number(f64::NAN));
        }
        let err = compress(&t, &level(2)).unwrap_err();
        assert_eq!(err.message, "Value[2]: NaN cannot be stored");
    }

    #[test]
    fn mixed_tables_keep_every_key_at_level_2() {
        // The original wrote only `|>a>k␡` here and lost the key 5 (D9).
        let v = numbered(&[1.0, 2.0, 5.0]);
        let text = compress(&v, &level(2)).unwrap();
        assert_eq!(text, del("*>1>a>2>k>5>O␡"));
        assert_eq!(decompress(&text, 3.0).unwrap(), v);
    }

    #[test]
    fn a_star_table_keyed_one_to_n_decodes_as_an_array() {
        let want = json("[10,20,30]");
        assert_eq!(decompress(&del("*>1>a>2>k>3>u␡"), 3.0).unwrap(), want);
        assert_eq!(decompress(&del("*>3>u>1>a>2>k␡"), 3.0).unwrap(), want);
        assert_eq!(
            decompress(&del("*␡"), 3.0).unwrap(),
            Value::Table(Table::new())
        );
        assert_eq!(decompress(&del("|␡"), 3.0).unwrap(), Value::Array(vec![]));
    }

    #[test]
    fn decoding_follows_the_original() {
        // Only the first value is kept.
        assert_eq!(decompress("+>5", 3.0).unwrap(), Value::Bool(true));
        // A DEL where a value is expected reads as nil.
        assert_eq!(decompress(&del("␡>5"), 3.0).unwrap(), Value::Nil);
        // map[k] = nil removes k.
        assert_eq!(
            decompress(&del("*#a␡>1#b␡>2#a␡␡␡"), 3.0).unwrap(),
            json(r#"{"b":2}"#)
        );
        // Digits, keys and scale.
        assert_eq!(decompress("<0", 3.0).unwrap(), Value::Number(-0.0));
        assert_eq!(decompress(")6i", 0.0).unwrap(), Value::Number(1500.0));
        let mut t = Table::new();
        t.insert(Key::Bool(true), Value::Bool(false));
        t.insert(Key::Number(0.5), Value::Number(-2.0));
        assert_eq!(decompress(&del("*+-)5<2␡"), 1.0).unwrap(), Value::Table(t));
    }

    #[test]
    fn truncation_fails_where_the_original_returned_part_of_the_value() {
        // D17: the original returned what it had read, so a session saved it over the rest.
        let cases = [
            // 12345 is `>Z&1`; cut short, the original read Coins = 61.
            (
                "*#Coins␡>Z",
                10,
                "the text ends before the outermost table is closed",
            ),
            (
                "|>1>2",
                5,
                "the text ends before the outermost table is closed",
            ),
            ("*#a", 1, "the string has no closing DEL"),
            ("|>1>2#abc>3", 5, "the string has no closing DEL"),
            ("#abc", 0, "the string has no closing DEL"),
            (
                "*#a␡>1",
                6,
                "the text ends before the outermost table is closed",
            ),
        ];
        for (text, at, what) in cases {
            let err = decompress(&del(text), 3.0).unwrap_err();
            assert_eq!(
                err.message,
                format!("corrupt compressed data at byte {at}: {what}"),
                "{text}"
            );
        }
        // Every proper prefix of a record fails (the empty one is nil), the record itself reads.
        let text = compress(
            &json(r#"{"Coins":12345,"Items":["Sword",{"x":1.5}]}"#),
            &level(2),
        )
        .unwrap();
        for cut in 1..text.len() {
            assert!(decompress(&text[..cut], 3.0).is_err(), "{:?}", &text[..cut]);
        }
        assert!(decompress(&text, 3.0).is_ok());
    }

    #[test]
    fn truncation_fails_where_the_original_failed() {
        // Inside a nested table the original lost its position and failed on nil arithmetic.
        let err = decompress(&del("|>1|>2#abc>3"), 3.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 6: the string has no closing DEL"
        );
        let err = decompress(&del("|>1|>2>3"), 3.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 8: the text ends inside a nested table"
        );
        let err = decompress("||", 3.0).unwrap_err();
        assert!(
            err.message.contains("byte 2: the text ends inside"),
            "{err}"
        );
        // A key whose value is missing: the original set it to nil, then failed on the next key.
        let err = decompress(&del("*#a␡>1#b␡"), 3.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 9: the text ends where the value of a key should be"
        );
    }

    #[test]
    fn corrupt_data_is_a_clear_error() {
        let err = decompress(") 36a", 0.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 1: byte 0x20 is not a base-83 digit"
        );
        let err = decompress(&del("*|␡>1␡"), 3.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 2: a table ending here is used as a key in the \
             table at byte 0"
        );
        let huge = format!(">{}", "~".repeat(200));
        let err = decompress(&huge, 3.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 0: the number is not finite"
        );
    }

    fn nested(depth: usize) -> Value {
        let mut v = Value::Bool(true);
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn nesting_is_capped_both_ways() {
        let ok = nested(MAX_DEPTH);
        let text = compress(&ok, &level(2)).unwrap();
        assert_eq!(decompress(&text, 3.0).unwrap(), ok);
        let err = compress(&nested(MAX_DEPTH + 1), &level(2)).unwrap_err();
        assert!(err.message.contains("nested more than 512 deep"), "{err}");
        let err = decompress(&format!("|{text}"), 3.0).unwrap_err();
        assert_eq!(
            err.message,
            "corrupt compressed data at byte 512: tables nested more than 512 deep"
        );
    }

    #[test]
    fn huge_numbers_either_read_back_exactly_or_are_refused() {
        // Past 2^53 the original's f64 digit loop can drop or change digits; we refuse those
        // numbers instead of writing a different one, and write every other number as it does.
        let mut written = 0;
        let mut refused = 0;
        let mut n = 2f64.powi(50);
        while n < 1e300 {
            for v in [n, -n, n + 2.0, n * 1.5] {
                match compress(&Value::Number(v), &level(2)) {
                    Ok(text) => {
                        assert_eq!(decompress(&text, 3.0).unwrap(), Value::Number(v), "{v}");
                        written += 1;
                    }
                    Err(e) => {
                        assert!(e.message.contains("too large to compress exactly"), "{e}");
                        refused += 1;
                    }
                }
            }
            n *= 7.0;
        }
        assert!(
            written > 20 && refused > 20,
            "{written} written, {refused} refused"
        );
        assert_eq!(
            compress(&Value::Number(2f64.powi(53)), &level(2)).map(|_| ()),
            Ok(())
        );
        let err = compress(&Value::Number(f64::MAX), &level(2)).unwrap_err();
        assert!(
            err.message.contains("too large to compress exactly"),
            "{err}"
        );
    }

    #[test]
    fn a_scale_that_overflows_is_an_error_not_a_hang() {
        let s = Settings {
            decimals: 400.0,
            ..Settings::default()
        };
        assert_eq!(compress(&Value::Number(5.0), &s).unwrap(), ">5");
        let err = compress(&json(r#"{"x":1.5}"#), &s).unwrap_err();
        assert!(
            err.message.starts_with("Value.x: 1.5 cannot be stored"),
            "{err}"
        );
    }

    #[test]
    fn settings_follow_the_original_defaults() {
        let read = |text: &str| Settings::from_compress_table(&json(text));
        assert_eq!(read("{}").unwrap(), Settings::default());
        assert_eq!(read("[]").unwrap(), Settings::default());
        let s = read(r#"{"Level":1,"Decimals":5,"Safety":false}"#).unwrap();
        assert_eq!(
            s,
            Settings {
                array_mode: false,
                decimals: 5.0,
                safety: false
            }
        );
        assert!(!read(r#"{"Level":"2"}"#).unwrap().array_mode);
        assert!(!read(r#"{"Level":3}"#).unwrap().array_mode);
        assert!(read(r#"{"Level":false}"#).unwrap().array_mode);
        assert!(read(r#"{"Safety":true}"#).unwrap().safety);
        assert!(!read(r#"{"Safety":"yes"}"#).unwrap().safety);
        assert!(!read(r#"{"Safety":1}"#).unwrap().safety);
        assert_eq!(read(r#"{"Decimals":false}"#).unwrap().decimals, 3.0);
        assert!(read("true").is_err());
    }

    #[test]
    fn decimals_is_any_finite_number_or_numeric_string_as_in_the_original() {
        let read = |text: &str| Settings::from_compress_table(&json(text)).map(|s| s.decimals);
        for (text, d) in [
            ("{}", 3.0),
            (r#"{"Decimals":false}"#, 3.0),
            (r#"{"Decimals":0}"#, 0.0),
            (r#"{"Decimals":2.5}"#, 2.5),
            (r#"{"Decimals":-5}"#, -5.0),
            (r#"{"Decimals":20}"#, 20.0),
            (r#"{"Decimals":"3"}"#, 3.0),
            (r#"{"Decimals":" 0x10\n"}"#, 16.0),
            (r#"{"Decimals":"-1.5e0"}"#, -1.5),
        ] {
            assert_eq!(read(text).unwrap(), d, "{text}");
            assert_eq!(Settings::decimals_of(&json(text)).unwrap(), d, "{text}");
        }
        for (text, message) in [
            (
                r#"{"Decimals":"x"}"#,
                "must be a number, got a string that is not one",
            ),
            (
                r#"{"Decimals":"3x"}"#,
                "must be a number, got a string that is not one",
            ),
            (r#"{"Decimals":"inf"}"#, "must be a finite number, got inf"),
            (r#"{"Decimals":true}"#, "must be a number, got a boolean"),
        ] {
            let err = read(text).unwrap_err();
            assert!(err.message.contains(message), "{text}: {}", err.message);
        }
        let mut t = Table::new();
        t.insert("Decimals".into(), Value::Number(f64::NAN));
        assert!(Settings::from_compress_table(&Value::Table(t)).is_err());
        // The original's rounding to 10^-Decimals, whatever the setting: with -1, to tens.
        let settings = |d: f64| Settings {
            decimals: d,
            ..Settings::default()
        };
        assert_eq!(
            compress(&Value::Number(1.25), &settings(-1.0)).unwrap(),
            ")0"
        );
        assert_eq!(
            compress(&Value::Number(17.5), &settings(-1.0)).unwrap(),
            ")2"
        );
        // 10^1.5: 1.5 is stored as round(47.43…) = 47, read back as 47 / 31.62….
        let text = compress(&Value::Number(1.5), &settings(1.5)).unwrap();
        assert_eq!(text, ")L");
        assert_eq!(
            decompress(&text, 1.5).unwrap(),
            Value::Number(47.0 / 10f64.powf(1.5))
        );
        // Whole numbers never use the scale; fractions past what it allows are refused.
        for d in [400.0, -400.0] {
            assert_eq!(compress(&Value::Number(7.0), &settings(d)).unwrap(), ">7");
            let err = compress(&Value::Number(1.5), &settings(d)).unwrap_err();
            assert!(
                err.message.contains("leaves no finite scaled number"),
                "{d}: {err}"
            );
        }
    }

    #[test]
    fn a_non_integer_above_2_53_once_scaled_is_written_when_it_reads_back_the_same() {
        // Found by the differential vectors (tests/vectors/original): the digits decode to
        // 6.388947449657339e16, not the scaled 6.3889474496573384e16, but both give the same
        // number over 100, and the original stores it so.
        let n = -638894744965733.9;
        let settings = Settings {
            decimals: 2.0,
            ..level(2)
        };
        let text = compress(&Value::Number(n), &settings).unwrap();
        assert_eq!(text, "(M.t8~nyus");
        assert_eq!(decompress(&text, 2.0).unwrap(), Value::Number(n));
    }
}
