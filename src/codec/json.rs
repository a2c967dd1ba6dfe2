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
//! [`Value::to_json_string`]), which then decides the result from scratch:
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

use super::{Decoder, Encoder, Settings, Token, DEL, MAX_DEPTH};
use crate::codec::CodecError;
use crate::value::{json_deserializer, write_json_number, write_json_string, Value};
use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use std::fmt;
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
/// [`Value::to_json_string`], with the same result and error text.
pub fn decompress(text: &str, decimals: f64) -> Result<Option<String>, CodecError> {
    if let Some(json) = stream_decompress(text, decimals) {
        return Ok(json);
    }
    Ok(match super::decompress(text, decimals)? {
        Value::Nil => None,
        value => Some(value.to_json_string()),
    })
}

/// Whether two of the `n` keys `key(0..n)` are equal. Small tables compare pairwise; larger
/// ones sort, which takes O(n log n) whatever the keys are (a hash set with a fixed hash could
/// be flooded by chosen keys).
fn has_duplicate<'k>(n: usize, key: impl Fn(usize) -> &'k [u8]) -> bool {
    if n <= 16 {
        (1..n).any(|i| (0..i).any(|j| key(i) == key(j)))
    } else {
        let mut sorted: Vec<&[u8]> = (0..n).map(key).collect();
        sorted.sort_unstable();
        sorted.windows(2).any(|pair| pair.first() == pair.get(1))
    }
}

// ---------------------------------------------------------------------------------------------
// JSON text → compressed text

/// The whole text through the encoder, or `None` where the reference must decide.
fn stream_compress(json: &str, settings: &Settings) -> Option<String> {
    // The compressed text is usually a little shorter than the JSON.
    let mut encoder = Encoder::new(settings, json.len());
    let mut keys = Vec::new();
    let mut de = json_deserializer(json);
    let seed = Compressing {
        encoder: &mut encoder,
        keys: &mut keys,
        depth: 0,
    };
    // A top-level `null` is nil, which the encoder writes as nothing.
    seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    encoder.finish().ok()
}

/// What one JSON value turned into.
enum Written {
    Value,
    /// `null`: nothing written. An absent key in an object, a hole in an array.
    Null,
}

/// One JSON value, written by the encoder as it is parsed.
struct Compressing<'e> {
    encoder: &'e mut Encoder,
    /// The encoded keys of the objects being written, innermost last, as ranges of the output.
    keys: &'e mut Vec<Range<usize>>,
    /// Containers around this value.
    depth: usize,
}

/// Leaves the fast path; the message is never shown (the reference makes its own).
fn bail<E: Error>() -> E {
    E::custom("left to the reference")
}

impl Compressing<'_> {
    fn child(&mut self) -> Compressing<'_> {
        Compressing {
            encoder: self.encoder,
            keys: self.keys,
            depth: self.depth + 1,
        }
    }

    fn number<E: Error>(self, n: f64) -> Result<Written, E> {
        match self.encoder.number(n) {
            Ok(()) => Ok(Written::Value),
            Err(_) => Err(bail()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Compressing<'_> {
    type Value = Written;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Written, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Compressing<'_> {
    type Value = Written;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a storable JSON value")
    }
    fn visit_unit<E>(self) -> Result<Written, E> {
        Ok(Written::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Written, E> {
        self.encoder.out.push(if b { b'+' } else { b'-' });
        Ok(Written::Value)
    }
    // The same conversions as the reference's reader (`value::JsonSeed`).
    fn visit_i64<E: Error>(self, n: i64) -> Result<Written, E> {
        self.number(n as f64)
    }
    fn visit_u64<E: Error>(self, n: u64) -> Result<Written, E> {
        self.number(n as f64)
    }
    fn visit_f64<E: Error>(self, n: f64) -> Result<Written, E> {
        self.number(n)
    }
    fn visit_str<E: Error>(self, s: &str) -> Result<Written, E> {
        match self.encoder.string(s) {
            Ok(()) => Ok(Written::Value),
            Err(_) => Err(bail()),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Written, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(bail());
        }
        let array_mode = self.encoder.array_mode;
        let start = self.encoder.out.len();
        self.encoder.out.push(if array_mode { b'|' } else { b'*' });
        let mut n = 0usize;
        loop {
            // At Level 1 the key `>i` goes before the element, which may turn out not to exist.
            let mark = self.encoder.out.len();
            if !array_mode {
                self.encoder.out.push(b'>');
                // Indices are far below 2^53, so they are always exact.
                let _ = self.encoder.digits((n + 1) as f64);
            }
            match seq.next_element_seed(self.child())? {
                None => {
                    self.encoder.out.truncate(mark);
                    break;
                }
                Some(Written::Value) => n += 1,
                Some(Written::Null) => return Err(bail()),
            }
        }
        if n == 0 {
            self.encoder.out.truncate(start);
            self.encoder.out.push(b'*');
        }
        self.encoder.out.push(DEL);
        Ok(Written::Value)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Written, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(bail());
        }
        // Object keys are strings, so an object is never a sequence: always `*` pairs.
        self.encoder.out.push(b'*');
        let base = self.keys.len();
        loop {
            let key_start = self.encoder.out.len();
            let key = KeyWriter {
                encoder: self.encoder,
            };
            if map.next_key_seed(key)?.is_none() {
                break;
            }
            let key = key_start..self.encoder.out.len();
            match map.next_value_seed(self.child())? {
                Written::Value => self.keys.push(key),
                Written::Null => self.encoder.out.truncate(key_start),
            }
        }
        // Equal keys encode alike. (Safety may also make two different keys alike, which only
        // sends a rare value to the reference.)
        let keys = self.keys.get(base..).unwrap_or_default();
        let out = &self.encoder.out;
        if has_duplicate(keys.len(), |i| {
            keys.get(i)
                .and_then(|range| out.get(range.clone()))
                .unwrap_or_default()
        }) {
            return Err(bail());
        }
        self.keys.truncate(base);
        self.encoder.out.push(DEL);
        Ok(Written::Value)
    }
}

/// An object key, written as a string.
struct KeyWriter<'e> {
    encoder: &'e mut Encoder,
}

impl<'de> DeserializeSeed<'de> for KeyWriter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyWriter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: Error>(self, s: &str) -> Result<(), E> {
        self.encoder.string(s).map_err(|_| bail())
    }
}

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
fn stream_decompress(text: &str, decimals: f64) -> Option<Option<String>> {
    let mut decoder = Decoder::new(text, decimals);
    // JSON spells the same data a little longer.
    let mut out = String::with_capacity(text.len() + text.len() / 4 + 16);
    let mut stack: Vec<Open> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    loop {
        let token = decoder.token().ok()?;
        let depth = stack.len();
        let at_top = depth == 1;
        match stack.last_mut() {
            // Where a key goes.
            Some(Open::Table {
                pairs,
                keys: kind,
                key_read: key_read @ false,
                ..
            }) => {
                match token {
                    Token::Str(s) => {
                        match kind {
                            KeyKind::Unknown => out.push('{'),
                            KeyKind::Strings => out.push(','),
                            KeyKind::Sequence => return None,
                        }
                        *kind = KeyKind::Strings;
                        write_json_string(s, &mut out);
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
                    // DEL closes the table; so does the end of the text, in the outermost one.
                    Token::Nil => {
                        close(&mut stack, &mut out, &mut keys)?;
                        if finished(&mut stack) {
                            return Some(Some(out));
                        }
                        continue;
                    }
                    Token::End(_) if at_top => {
                        close(&mut stack, &mut out, &mut keys)?;
                        return Some(Some(out));
                    }
                    // Boolean keys, tables as keys, the text ending inside a nested table.
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
                    Token::Str(s) => {
                        begin_value(top, &mut out);
                        write_json_string(s, &mut out);
                    }
                    Token::OpenArray | Token::OpenTable => {
                        if depth >= MAX_DEPTH {
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
                    Token::Nil | Token::End(_) => match top {
                        // Nothing at all, or DEL first: nil.
                        None => return Some(None),
                        // DEL closes an array; so does the end of the text, in the outermost.
                        Some(Open::Array(_)) if matches!(token, Token::Nil) || at_top => {
                            close(&mut stack, &mut out, &mut keys)?;
                        }
                        // A key without its value: removal, or the end of the text.
                        _ => return None,
                    },
                }
                if finished(&mut stack) {
                    return Some(Some(out));
                }
            }
        }
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

/// Closes the innermost container: an empty one is `{}`, as the reference writes an empty
/// table. `None` for an object with duplicate keys.
fn close(stack: &mut Vec<Open>, out: &mut String, keys: &mut Vec<&str>) -> Option<()> {
    match stack.pop()? {
        Open::Array(0)
        | Open::Table {
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
