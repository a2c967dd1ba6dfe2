//! The codec on JSON text: what the bindings call, without a [`Value`] in between.
//!
//! Hosts hand values across as JSON text (docs/DESIGN.md), so a host's `compress` was JSON →
//! `Value` → compressed text and its `decompress` compressed text → `Value` → JSON. Building
//! that tree (a `String` per key and per string, a hash table per object) cost several times
//! what the format itself costs. These two transcoders stream instead: [`compress`] drives the
//! parent module's encoder from serde_json's parse events, and [`decompress`] writes JSON as the
//! parent's decoder reads tokens.
//!
//! Each handles the shapes real data has and hands anything else to the tree-based reference
//! ([`Value::from_json_str`] then [`super::compress`]; [`super::decompress`] then
//! [`Value::to_host_json`]), which then decides the result from scratch:
//!
//! - every error, so error texts are the reference's word for word (and a failed fast attempt
//!   costs one extra pass over text that is being refused anyway);
//! - duplicate keys, where the reference keeps the first position and the last value;
//! - in compressed text, a DEL in a key's value slot (`map[k] = nil`), and tables whose keys
//!   are not either all strings or exactly `1, 2, 3, …` in order.
//!
//! Whatever the fast path writes is byte-identical to the reference's output
//! (`tests/codec_json.rs` checks this on the vectors and on random values and texts, and the
//! `transcode` fuzz target keeps checking it).

use super::{find_special, CodecError, Decoder, Encoder, Settings, Token, DEL, MAX_DEPTH};
use crate::value::{write_json_number, write_json_string, Value};
use std::collections::BinaryHeap;
use std::ops::Range;

/// `compress(value)` for a value given as JSON text: [`Value::from_json_str`] (paths in errors
/// start at `root`) followed by [`super::compress`], with the same result and error text.
pub fn compress(json: &str, root: &str, settings: &Settings) -> Result<String, CodecError> {
    if let Some(text) = stream_compress(json, settings) {
        return Ok(text);
    }
    let value = Value::from_json_str(json, root).map_err(|e| CodecError::new(e.to_string()))?;
    super::compress(&value, settings)
}

/// `decompress(text)` as JSON text, `None` for nil: [`super::decompress`] followed by
/// [`Value::to_host_json`], with the same result and error
/// text. JSON names a key by its text, so a table of the text keyed both `true` and `"true"`
/// (or `1` and `"1"` outside a sequence: a Luau server wrote it) is refused rather than written
/// with two entries of one name, of which a JSON reader keeps one.
pub fn decompress(text: &str, decimals: f64) -> Result<Option<String>, CodecError> {
    if let Some(json) = stream_decompress(text, decimals) {
        return Ok(json);
    }
    Ok(match super::decompress(text, decimals)? {
        Value::Nil => None,
        value => Some(
            value
                .to_host_json("value")
                .map_err(|e| CodecError::new(e.to_string()))?,
        ),
    })
}

/// Whether two of the `n` keys `key(0..n)` are equal. Small tables compare pairwise; larger
/// ones put their keys in order, which takes O(n log n) whatever the keys are (a hash set with
/// a predictable hash could be flooded by chosen keys).
fn has_duplicate<'k>(n: usize, key: impl Fn(usize) -> &'k [u8]) -> bool {
    if n <= 16 {
        // Distinct keys mostly differ in length or last byte.
        let same = |a: &[u8], b: &[u8]| a.len() == b.len() && a.last() == b.last() && a == b;
        (1..n).any(|i| (0..i).any(|j| same(key(i), key(j))))
    } else {
        sorted_has_duplicate((0..n).map(key).collect())
    }
}

/// [`has_duplicate`] of keys given as ranges of `text`.
pub(super) fn has_duplicate_range(keys: &[Range<usize>], text: &[u8]) -> bool {
    has_duplicate(keys.len(), |i| {
        keys.get(i)
            .and_then(|range| text.get(range.clone()))
            .unwrap_or_default()
    })
}

/// The large-table case: the keys in order off a heap, where equal keys come out one after
/// the other. (A heap rather than `sort`, whose small-array networks cost 8 KB of wasm.)
fn sorted_has_duplicate(keys: Vec<&[u8]>) -> bool {
    let mut heap: BinaryHeap<InKeyOrder> = keys.into_iter().map(InKeyOrder::new).collect();
    let mut last = heap.pop();
    while let Some(key) = heap.pop() {
        if Some(&key) == last.as_ref() {
            return true;
        }
        last = Some(key);
    }
    false
}

/// A key, ordered by length, then its last (up to) 8 bytes, then all of it: a total order
/// that settles almost every comparison of distinct keys without comparing whole keys.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InKeyOrder<'k> {
    len: usize,
    tail: u64,
    key: &'k [u8],
}

impl<'k> InKeyOrder<'k> {
    fn new(key: &'k [u8]) -> InKeyOrder<'k> {
        let last = key.get(key.len().saturating_sub(8)..).unwrap_or_default();
        InKeyOrder {
            len: key.len(),
            tail: last.iter().fold(0, |word, &b| word << 8 | u64::from(b)),
            key,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON text → the same text, checked

/// How many containers (objects and arrays) well-formed JSON text nests at its deepest;
/// brackets inside strings do not count.
pub fn nesting(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for b in json.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether `json` is already exactly the text [`Value::to_json_string`] writes for the
/// (non-nil) value [`Value::from_json_str`] reads from it. A save then stores and fingerprints
/// the host's text as it is, with no tree built and written again (issue 12): a JS host's
/// `JSON.stringify`-shaped text almost always is. `false` only means "the reference decides":
/// nulls (nil, holes, absent keys), duplicate keys, space, escapes or numbers written another
/// way, nesting near the limit, and anything that is not JSON.
pub fn is_canonical(json: &str) -> bool {
    check_canonical(json).is_some()
}

fn check_canonical(json: &str) -> Option<()> {
    let bytes = json.as_bytes();
    let mut pos = 0;
    // The containers being read, innermost last: `None` an array, `Some(base)` an object
    // whose keys start at `keys[base]`. Sized for a player record, so they rarely grow.
    let mut stack: Vec<Option<usize>> = Vec::with_capacity(16);
    // The keys of the objects being read, as ranges of `json` (inside the quotes).
    let mut keys: Vec<Range<usize>> = Vec::with_capacity(64);
    let mut number = String::new();
    loop {
        // A value starts here.
        match *bytes.get(pos)? {
            b'"' => pos = canonical_string(bytes, pos)?.end + 1,
            b'-' | b'0'..=b'9' => pos = canonical_number(json, pos, &mut number)?,
            b't' if bytes.get(pos..pos + 4)? == b"true" => pos += 4,
            b'f' if bytes.get(pos..pos + 5)? == b"false" => pos += 5,
            // One level short of the reference's limit: close to it, the reference decides.
            b'[' | b'{' if stack.len() + 1 >= MAX_DEPTH => return None,
            b'[' if bytes.get(pos + 1) == Some(&b']') => pos += 2,
            b'{' if bytes.get(pos + 1) == Some(&b'}') => pos += 2,
            b'[' => {
                pos += 1;
                stack.push(None);
                continue;
            }
            b'{' => {
                stack.push(Some(keys.len()));
                pos = canonical_key(bytes, pos + 1, &mut keys)?;
                continue;
            }
            _ => return None,
        }
        // A value is complete; what follows it? (Closing a container completes its parent's
        // value too.)
        loop {
            let Some(&open) = stack.last() else {
                return (pos == bytes.len()).then_some(());
            };
            match (*bytes.get(pos)?, open) {
                (b',', None) => {
                    pos += 1;
                    break;
                }
                (b',', Some(_)) => {
                    pos = canonical_key(bytes, pos + 1, &mut keys)?;
                    break;
                }
                (b']', None) => {
                    pos += 1;
                    stack.pop();
                }
                (b'}', Some(base)) => {
                    if has_duplicate_range(keys.get(base..).unwrap_or_default(), bytes) {
                        return None;
                    }
                    keys.truncate(base);
                    pos += 1;
                    stack.pop();
                }
                _ => return None,
            }
        }
    }
}

/// A number at `pos` written as [`write_json_number`] writes it; gives where it ends.
fn canonical_number(json: &str, pos: usize, scratch: &mut String) -> Option<usize> {
    let bytes = json.as_bytes();
    let digits_at = pos + usize::from(bytes.get(pos) == Some(&b'-'));
    let digits = bytes
        .get(digits_at..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = digits_at + digits;
    let leading_zero = digits > 1 && bytes.get(digits_at) == Some(&b'0');
    match bytes.get(end) {
        Some(b'e' | b'E') => {}
        // With at most 15 significant digits a decimal is the shortest text of its double (a
        // shorter one would be another decimal of at most 15 digits, and no two of those read
        // as the same double), and the writer prints it positionally from 1e-5 up. So a
        // fraction with no trailing zero, from 1e-5 and within 15 digits, is as written.
        Some(b'.') if (1..=15).contains(&digits) && !leading_zero => {
            let fraction = bytes.get(end + 1..)?;
            let places = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            let after = end + 1 + places;
            let zeros = fraction.iter().take_while(|&&b| b == b'0').count();
            let whole_zero = digits == 1 && bytes.get(digits_at) == Some(&b'0');
            let significant = if whole_zero {
                places - zeros
            } else {
                digits + places
            };
            let short = places > zeros
                && fraction.get(places - 1) != Some(&b'0')
                && !matches!(bytes.get(after), Some(b'e' | b'E'))
                && significant <= 15
                && (!whole_zero || zeros <= 4);
            if short {
                return Some(after);
            }
        }
        // Whole numbers below 10^15 are their digits (most numbers).
        _ if (1..=15).contains(&digits) && !leading_zero => return Some(end),
        _ => {}
    }
    let mut reader = JsonReader {
        text: json,
        pos,
        scratch: String::new(),
    };
    scratch.clear();
    write_json_number(reader.number()?, scratch);
    (json.get(pos..reader.pos)? == scratch.as_str()).then_some(reader.pos)
}

/// A key at `pos` and its colon, recorded in `keys`; gives where its value starts.
fn canonical_key(bytes: &[u8], pos: usize, keys: &mut Vec<Range<usize>>) -> Option<usize> {
    if bytes.get(pos) != Some(&b'"') {
        return None;
    }
    let key = canonical_string(bytes, pos)?;
    let colon = key.end + 1;
    keys.push(key);
    (bytes.get(colon) == Some(&b':')).then_some(colon + 1)
}

/// A string at its opening quote `pos`, escaped exactly as [`write_json_string`] escapes:
/// `\"`, `\\`, `\n`, `\r`, `\t` and `\u00xx` (lowercase) for the other control characters,
/// nothing else. Gives the range between the quotes.
fn canonical_string(bytes: &[u8], pos: usize) -> Option<Range<usize>> {
    let start = pos + 1;
    let mut at = start;
    loop {
        at = find_special(bytes, at)?;
        match *bytes.get(at)? {
            b'"' => return Some(start..at),
            DEL => at += 1,
            b'\\' => match *bytes.get(at + 1)? {
                b'"' | b'\\' | b'n' | b'r' | b't' => at += 2,
                b'u' => {
                    let hex = |d: u8| match d {
                        b'0'..=b'9' => Some(d - b'0'),
                        b'a'..=b'f' => Some(d - b'a' + 10),
                        _ => None,
                    };
                    let unit = bytes.get(at + 2..at + 6)?;
                    if unit.get(..2)? != b"00" {
                        return None;
                    }
                    let c = hex(*unit.get(2)?)? << 4 | hex(*unit.get(3)?)?;
                    if c >= 0x20 || matches!(c, b'\n' | b'\r' | b'\t') {
                        return None;
                    }
                    at += 6;
                }
                _ => return None,
            },
            // A raw control character: not JSON.
            _ => return None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON text → compressed text

/// A container being read.
enum Reading {
    /// `[`, with its elements so far.
    Array { items: usize },
    /// `{`: where its keys start in the key stack, and where the current key is in the output.
    Object { key_base: usize, key: Range<usize> },
}

/// The whole text through the encoder, or `None` where the reference must decide.
///
/// A JSON reader of its own rather than serde_json's, which cost half the time here: it only
/// accepts text serde_json accepts, and reads it to the same strings and numbers (the
/// uncommon numbers through serde_json itself), so the reference would encode the same.
fn stream_compress(json: &str, settings: &Settings) -> Option<String> {
    // The compressed text is usually a little shorter than the JSON.
    let mut encoder = Encoder::new(settings, json.len());
    let mut reader = JsonReader {
        text: json,
        pos: 0,
        scratch: String::new(),
    };
    let mut stack: Vec<Reading> = Vec::new();
    // The keys of the objects being read (without `#` and DEL), innermost last, as ranges of
    // the output.
    let mut keys: Vec<Range<usize>> = Vec::new();
    let array_mode = encoder.array_mode;
    loop {
        // A value starts here.
        reader.skip_space();
        let mut null = false;
        match reader.peek()? {
            b'"' => reader.string(&mut encoder)?,
            b'-' | b'0'..=b'9' => encoder.number(reader.number()?).ok()?,
            b't' => {
                reader.literal(b"true")?;
                encoder.out.push(b'+');
            }
            b'f' => {
                reader.literal(b"false")?;
                encoder.out.push(b'-');
            }
            b'n' => {
                reader.literal(b"null")?;
                null = true;
            }
            b'[' | b'{' if stack.len() >= MAX_DEPTH => return None,
            b'[' => {
                reader.pos += 1;
                reader.skip_space();
                if reader.eat(b']') {
                    encoder.out.extend_from_slice(b"|\x7f");
                } else {
                    if array_mode {
                        encoder.out.push(b'|');
                    } else {
                        encoder.out.extend_from_slice(b"*>1");
                    }
                    stack.push(Reading::Array { items: 0 });
                    continue;
                }
            }
            b'{' => {
                reader.pos += 1;
                encoder.out.push(b'*');
                reader.skip_space();
                if reader.eat(b'}') {
                    encoder.out.push(DEL);
                } else {
                    let key = reader.key(&mut encoder)?;
                    stack.push(Reading::Object {
                        key_base: keys.len(),
                        key,
                    });
                    continue;
                }
            }
            _ => return None,
        }
        // A value is complete; what follows it? (Closing a container completes its parent's
        // value too.)
        loop {
            reader.skip_space();
            match stack.last_mut() {
                None => {
                    // Only space may follow, as serde_json's `end` requires. A top-level
                    // `null` is nil, which the encoder writes as nothing.
                    return if reader.pos == json.len() {
                        encoder.finish().ok()
                    } else {
                        None
                    };
                }
                // A hole.
                Some(Reading::Array { .. }) if null => return None,
                Some(Reading::Array { items, .. }) => {
                    *items += 1;
                    match reader.next()? {
                        b',' => {
                            if !array_mode {
                                encoder.out.push(b'>');
                                // Indices are far below 2^53, so they are always exact.
                                let _ = encoder.digits((*items + 1) as f64);
                            }
                            break;
                        }
                        b']' => {
                            encoder.out.push(DEL);
                            stack.pop();
                        }
                        _ => return None,
                    }
                }
                Some(Reading::Object { key_base, key }) => {
                    if null {
                        // An absent key: unwrite it.
                        encoder.out.truncate(key.start);
                    } else {
                        // The key's own bytes, without `#` and DEL.
                        keys.push(key.start + 1..key.end.saturating_sub(1));
                    }
                    match reader.next()? {
                        b',' => {
                            reader.skip_space();
                            *key = reader.key(&mut encoder)?;
                            break;
                        }
                        b'}' => {
                            // Equal keys encode alike. (Safety may also make two different
                            // keys alike, which only sends a rare value to the reference.)
                            let own = keys.get(*key_base..).unwrap_or_default();
                            if has_duplicate_range(own, &encoder.out) {
                                return None;
                            }
                            keys.truncate(*key_base);
                            encoder.out.push(DEL);
                            stack.pop();
                        }
                        _ => return None,
                    }
                }
            }
            null = false;
        }
    }
}

/// The JSON grammar as serde_json reads it (RFC 8259: no comments, no trailing commas, only
/// these four space bytes), one token at a time. `None` is text the reference must judge.
struct JsonReader<'a> {
    text: &'a str,
    pos: usize,
    /// A string with escapes, unescaped.
    scratch: String,
}

impl JsonReader<'_> {
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.pos += usize::from(found);
        found
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes().get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// An object key and its colon; returns where the encoder wrote the key.
    fn key(&mut self, encoder: &mut Encoder) -> Option<Range<usize>> {
        let start = encoder.out.len();
        if self.peek()? != b'"' {
            return None;
        }
        self.string(encoder)?;
        let key = start..encoder.out.len();
        self.skip_space();
        self.eat(b':').then_some(key)
    }

    /// A string (at its opening quote), written by the encoder.
    fn string(&mut self, encoder: &mut Encoder) -> Option<()> {
        let start = self.pos + 1;
        let mut pos = start;
        let mut del = false;
        loop {
            pos = find_special(self.bytes(), pos)?;
            match self.bytes().get(pos)? {
                b'"' => break,
                b'\\' => return self.escaped_string(start, encoder),
                &DEL => {
                    del = true;
                    pos += 1;
                }
                // A raw control character: not JSON.
                _ => return None,
            }
        }
        self.pos = pos + 1;
        // Quotes are ASCII, so both ends are char boundaries.
        let s = self.text.get(start..pos)?;
        if del {
            return encoder.string(s).ok();
        }
        encoder.out.reserve(s.len() + 2);
        encoder.out.push(b'#');
        encoder.out.extend_from_slice(s.as_bytes());
        encoder.out.push(DEL);
        Some(())
    }

    /// The rest of a string that has escapes, from `start` (just after its opening quote).
    fn escaped_string(&mut self, start: usize, encoder: &mut Encoder) -> Option<()> {
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let mut run = start;
        let mut pos = start;
        loop {
            pos = find_special(self.bytes(), pos)?;
            match self.bytes().get(pos)? {
                &DEL => pos += 1,
                b'"' => break,
                b'\\' => {
                    s.push_str(self.text.get(run..pos)?);
                    let escape = *self.bytes().get(pos + 1)?;
                    pos += 2;
                    s.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\x08',
                        b'f' => '\x0c',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let unit = self.hex4(pos)?;
                            pos += 4;
                            match unit {
                                // A surrogate pair, or not JSON serde_json reads.
                                0xD800..=0xDBFF => {
                                    if self.bytes().get(pos..pos + 2)? != b"\\u" {
                                        return None;
                                    }
                                    let low = self.hex4(pos + 2)?;
                                    pos += 6;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return None;
                                    }
                                    let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                                    char::from_u32(c)?
                                }
                                _ => char::from_u32(unit)?,
                            }
                        }
                        _ => return None,
                    });
                    run = pos;
                }
                _ => return None,
            }
        }
        s.push_str(self.text.get(run..pos)?);
        self.pos = pos + 1;
        let written = encoder.string(&s).ok();
        self.scratch = s;
        written
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.bytes().get(at..at + 4)?;
        digits
            .iter()
            .try_fold(0u32, |n, &d| Some(n * 16 + char::from(d).to_digit(16)?))
    }

    /// A number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as the same f64 as serde_json
    /// gives (both round correctly: a decimal has one nearest double).
    fn number(&mut self) -> Option<f64> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut pos = start;
        let negative = bytes.get(pos) == Some(&b'-');
        pos += usize::from(negative);
        // The digits as an integer while it is exact, and how many there were.
        let mut mantissa = 0u64;
        let mut digits = 0usize;
        match bytes.get(pos)? {
            b'0' => pos += 1,
            b'1'..=b'9' => {
                while let Some(&d @ b'0'..=b'9') = bytes.get(pos) {
                    mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    digits += 1;
                    pos += 1;
                }
            }
            _ => return None,
        }
        let mut places = 0usize;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            while let Some(&d @ b'0'..=b'9') = bytes.get(pos) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                places += 1;
                pos += 1;
            }
            if places == 0 {
                return None;
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = bytes.get(pos) {
            exponent = true;
            pos += 1;
            if let Some(b'+' | b'-') = bytes.get(pos) {
                pos += 1;
            }
            let first = pos;
            while let Some(b'0'..=b'9') = bytes.get(pos) {
                pos += 1;
            }
            if pos == first {
                return None;
            }
        }
        self.pos = pos;
        // Up to 15 digits the mantissa is exact, and so is 10^places (places <= 15): one
        // division, rounded once, is the correctly rounded value (Clinger's fast path).
        let n = if !exponent && digits + places <= 15 {
            let n = if places == 0 {
                mantissa as f64
            } else {
                mantissa as f64 / POWERS_OF_TEN.get(places).copied()?
            };
            if negative {
                -n
            } else {
                n
            }
        } else {
            serde_json::from_str::<f64>(self.text.get(start..pos)?).ok()?
        };
        n.is_finite().then_some(n)
    }
}

const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

// ---------------------------------------------------------------------------------------------
// Compressed text → JSON text

/// A container being written.
enum Open {
    /// `|`, with the number of elements so far.
    Array(usize),
    /// `*`: the pairs so far, what its keys have been, whether a key is waiting for its value,
    /// and where its string keys start in the key stack.
    Table {
        pairs: usize,
        keys: KeyKind,
        key_read: bool,
        key_base: usize,
    },
}

#[derive(PartialEq)]
enum KeyKind {
    /// No key yet.
    Unknown,
    /// String keys: a JSON object.
    Strings,
    /// The keys `1, 2, …` in order: a JSON array.
    Sequence,
}

/// The whole text as JSON (`Some(None)` for nil), or `None` where the reference must decide.
pub(crate) fn stream_decompress(text: &str, decimals: f64) -> Option<Option<String>> {
    let mut decoder = Decoder::new(text, decimals);
    // JSON spells the same data a little longer.
    let mut out = String::with_capacity(text.len() + text.len() / 4 + 16);
    let mut stack: Vec<Open> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    loop {
        let token = decoder.token().ok()?;
        let depth = stack.len();
        match stack.last_mut() {
            // Where a key goes.
            Some(Open::Table {
                pairs,
                keys: kind,
                key_read: key_read @ false,
                ..
            }) => {
                match token {
                    Token::Str(s, plain) => {
                        match kind {
                            KeyKind::Unknown => out.push('{'),
                            KeyKind::Strings => out.push(','),
                            KeyKind::Sequence => return None,
                        }
                        *kind = KeyKind::Strings;
                        push_json_string(s, plain, &mut out);
                        out.push(':');
                        keys.push(s);
                    }
                    Token::Number(n) => {
                        match kind {
                            KeyKind::Unknown if n == 1.0 => out.push('['),
                            KeyKind::Sequence if n == (*pairs + 1) as f64 => out.push(','),
                            _ => return None,
                        }
                        *kind = KeyKind::Sequence;
                    }
                    // DEL closes the table.
                    Token::Nil => {
                        close(&mut stack, &mut out, &mut keys)?;
                        if finished(&mut stack) {
                            return Some(Some(out));
                        }
                        continue;
                    }
                    // Boolean keys, tables as keys, text cut short.
                    _ => return None,
                }
                *key_read = true;
            }
            // Where a value goes.
            top => {
                match token {
                    Token::Bool(b) => {
                        begin_value(top, &mut out);
                        out.push_str(if b { "true" } else { "false" });
                    }
                    Token::Number(n) => {
                        begin_value(top, &mut out);
                        write_json_number(n, &mut out);
                    }
                    Token::Str(s, plain) => {
                        begin_value(top, &mut out);
                        push_json_string(s, plain, &mut out);
                    }
                    Token::OpenArray | Token::OpenTable => {
                        // One level short of the reference's limit, as `is_canonical`: the
                        // text may go inline into an event, inside one more object.
                        if depth + 1 >= MAX_DEPTH {
                            return None;
                        }
                        begin_value(top, &mut out);
                        stack.push(match token {
                            Token::OpenArray => Open::Array(0),
                            _ => Open::Table {
                                pairs: 0,
                                keys: KeyKind::Unknown,
                                key_read: false,
                                key_base: keys.len(),
                            },
                        });
                        continue;
                    }
                    Token::Nil | Token::End => match top {
                        // Nothing at all, or DEL first: nil.
                        None => return Some(None),
                        // DEL closes an array.
                        Some(Open::Array(_)) if matches!(token, Token::Nil) => {
                            close(&mut stack, &mut out, &mut keys)?;
                        }
                        // A key without its value (removal), or the text cut short.
                        _ => return None,
                    },
                    // The text cut short.
                    Token::Unterminated(_) => return None,
                }
                if finished(&mut stack) {
                    return Some(Some(out));
                }
            }
        }
    }
}

/// A JSON string; `plain` when nothing in it needs escaping.
fn push_json_string(s: &str, plain: bool, out: &mut String) {
    if plain {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        write_json_string(s, out);
    }
}

/// Writes what goes before a value in the innermost container (a key has its own).
fn begin_value(top: Option<&mut Open>, out: &mut String) {
    if let Some(Open::Array(items)) = top {
        out.push(if *items == 0 { '[' } else { ',' });
        *items += 1;
    }
}

/// A value has been written: counts it in its table, and tells whether it was the whole text.
fn finished(stack: &mut [Open]) -> bool {
    match stack.last_mut() {
        None => true,
        Some(Open::Table {
            pairs, key_read, ..
        }) => {
            *pairs += 1;
            *key_read = false;
            false
        }
        Some(Open::Array(_)) => false,
    }
}

/// Closes the innermost container: an empty `|` is `[]` and an empty `*` is `{}`, as the
/// reference writes them. `None` for an object with duplicate keys.
fn close(stack: &mut Vec<Open>, out: &mut String, keys: &mut Vec<&str>) -> Option<()> {
    match stack.pop()? {
        Open::Array(0) => out.push_str("[]"),
        Open::Table {
            keys: KeyKind::Unknown,
            ..
        } => out.push_str("{}"),
        Open::Array(_)
        | Open::Table {
            keys: KeyKind::Sequence,
            ..
        } => out.push(']'),
        Open::Table {
            keys: KeyKind::Strings,
            key_base,
            ..
        } => {
            let own = keys.get(key_base..).unwrap_or_default();
            if has_duplicate(own.len(), |i| {
                own.get(i).map(|k| k.as_bytes()).unwrap_or_default()
            }) {
                return None;
            }
            keys.truncate(key_base);
            out.push('}');
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::rng::Rng;
    use crate::value::{Key, Table};

    /// A Luau server's compressed save keeps key types; JSON cannot, and a reader of JSON with
    /// two equal names keeps one entry: such a table is refused, naming it, not half written.
    #[test]
    fn keys_json_would_merge_are_refused_not_dropped() {
        let mut bag = Table::new();
        bag.insert(Key::String("true".into()), Value::Bool(true));
        bag.insert(Key::Bool(true), Value::Number(-688.0));
        bag.insert(Key::String("Inventory".into()), Value::Number(5.0));
        let value = Value::Array(vec![Value::String("a".into()), Value::Table(bag.clone())]);
        let text = super::super::compress(&value, &Settings::default()).unwrap();
        let err = decompress(&text, 1000.0).unwrap_err();
        assert_eq!(
            err.message,
            "value[2]: two keys of this table are both written \"true\" in JSON, so one would \
             overwrite the other"
        );
        // One of them alone is what JSON can say: the boolean key is written as its text.
        bag.shift_remove(&Key::String("true".into()));
        let value = Value::Array(vec![Value::String("a".into()), Value::Table(bag)]);
        let text = super::super::compress(&value, &Settings::default()).unwrap();
        assert_eq!(
            decompress(&text, 1000.0).unwrap().as_deref(),
            Some(r#"["a",{"true":-688,"Inventory":5}]"#)
        );
    }

    fn read_number(text: &str) -> Option<f64> {
        let mut reader = JsonReader {
            text,
            pos: 0,
            scratch: String::new(),
        };
        let n = reader.number()?;
        (reader.pos == text.len()).then_some(n)
    }

    /// The compressed text only keeps `round(n × 10^Decimals)`, so comparing outputs would
    /// miss a number read one bit off; compare the numbers themselves, with what the
    /// reference's reader makes of the same text.
    #[test]
    fn numbers_read_as_the_reference_reads_them() {
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "1",
            "-1",
            "0.1",
            "0.3",
            "2.675",
            "1e2",
            "1E-2",
            "-1.5e+3",
            "123456789012345",
            "1234567890123456",
            "12345678901234567890",
            "9007199254740993",
            "0.000000000000001",
            "0.1234567890123456789",
            "4.35",
            "1e308",
            "1e-320",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..200_000 {
            let digits = |rng: &mut Rng, n: u64| -> String {
                (0..n)
                    .map(|_| char::from(b'0' + rng.below(10) as u8))
                    .collect()
            };
            let mut t = String::new();
            if rng.below(2) == 0 {
                t.push('-');
            }
            let int_len = 1 + rng.below(18);
            let int = digits(&mut rng, int_len);
            t.push_str(int.trim_start_matches('0'));
            if t.is_empty() || t == "-" {
                t.push('0');
            }
            if rng.below(3) != 0 {
                t.push('.');
                let places = 1 + rng.below(18);
                t.push_str(&digits(&mut rng, places));
            }
            if rng.below(8) == 0 {
                t.push_str(&format!("e{}", rng.below(40) as i64 - 20));
            }
            texts.push(t);
            // The numbers JSON.stringify writes: shortest round-trip text of any double.
            let any = f64::from_bits(rng.next_u64());
            if any.is_finite() {
                texts.push(serde_json::to_string(&any).unwrap());
            }
            let quantised = (rng.below(1 << 40) as f64) / 10f64.powi(rng.below(8) as i32);
            texts.push(quantised.to_string());
        }
        for text in &texts {
            let reference = match Value::from_json_str(text, "value") {
                Ok(Value::Number(n)) => Some(n),
                _ => None,
            };
            let ours = read_number(text);
            assert_eq!(
                ours.map(f64::to_bits),
                reference.map(f64::to_bits),
                "{text}"
            );
        }
    }

    /// A player record as `JSON.stringify` writes it, at both levels: the fast paths must take
    /// it, or the bindings are quietly back on the slow path.
    #[test]
    fn ordinary_data_takes_the_fast_paths() {
        let json = r#"{"Coins":10,"Level":3,"Ratio":0.75,"Name":"Bob \"the\" Builder\n","Items":[{"Id":"Sword_1","Power":12.5,"Tags":["a","b"],"New":true},{"Id":"Ring","Power":-3,"Tags":[],"New":false}],"Quests":{"Q1":{"Done":false}},"Empty":{},"Gone":null}"#;
        for settings in [
            Settings::default(),
            Settings {
                array_mode: false,
                ..Settings::default()
            },
        ] {
            let text = stream_compress(json, &settings).expect("compress fast path");
            assert_eq!(Ok(text.clone()), {
                let value = Value::from_json_str(json, "value").unwrap();
                super::super::compress(&value, &settings)
            });
            let back = stream_decompress(&text, settings.decimals)
                .expect("decompress fast path")
                .expect("not nil");
            assert_eq!(
                back,
                super::super::decompress(&text, settings.decimals)
                    .unwrap()
                    .to_json_string()
            );
        }
        // Long objects check their keys by sorting.
        let big: Vec<String> = (0..100).map(|i| format!("\"Quest_{i}\":{i}")).collect();
        let big = format!("{{{}}}", big.join(","));
        let text = stream_compress(&big, &Settings::default()).expect("compress fast path");
        assert!(stream_decompress(&text, 3.0).is_some());
    }
}
