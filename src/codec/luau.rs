//! The codec on the Luau value text: what the C-ABI build's saves and `Usage()` call, without a
//! [`Value`] in between.
//!
//! Luau hosts hand values across as the value text (`value/luau_text.rs`). A save of one was
//! value text → `Value` → compressed text (or the JSON a DataStore stores), and in the core
//! translated into Luau (issue 13) building that tree was most of the cost: an allocation per
//! key and string, a hash table per table, SipHash over every key. [`compress`] and
//! [`to_json`] stream instead, writing as they read, as [`super::json`] does for JSON text.
//!
//! Each handles the shapes real data has — every table a sequence whose keys come as `1, 2, 3,
//! …` in order, or keyed by strings alone — and hands anything else to the tree-based reference
//! ([`Value::from_luau_text`], then [`super::compress_luau_value`] or [`Value::to_json_string`]), which then
//! decides from scratch:
//!
//! - every refusal (`?function;` and the other markers, NaN and infinities, strings that are
//!   not UTF-8, nesting near the limit, numbers the format cannot hold, DEL with Safety off) and
//!   every malformed text, so messages and paths are the reference's word for word;
//! - tables keyed by numbers other than `1..n` in order, by booleans, or by a mix of kinds (the
//!   `1`/`"1"` check of uncompressed saves included), and duplicate keys.
//!
//! A table's kind shows at its first key (a string, or the number 1), and any later key that
//! does not fit sends the whole value to the reference, so output written before it is simply
//! dropped. What the fast path writes is byte-identical to the reference's output
//! (`tests/codec_luau.rs` on random values, and the `transcode_luau` fuzz target).

use super::json::has_duplicate_range;
use super::{CodecError, Encoder, Settings, DEL, MAX_DEPTH};
use crate::value::luau_text::{parse_number, small_whole};
use crate::value::{write_json_number, write_json_string, Value, ValueError};
use std::ops::Range;

/// `compress(value)` for a value given as value text: [`Value::from_luau_text`] (paths in
/// refusals start at `root`) followed by [`super::compress_luau_value`], with the same result and error
/// text. Empty text is nil, which compresses to `""`.
pub fn compress(text: &[u8], root: &str, settings: &Settings) -> Result<String, CodecError> {
    if let Some(compressed) = stream_compress(text, settings) {
        return Ok(compressed);
    }
    let value = Value::from_luau_text(text, root).map_err(|e| CodecError::new(e.to_string()))?;
    super::compress_luau_value(&value, settings)
}

/// The JSON an uncompressed save stores for a value given as value text:
/// [`Value::from_luau_text`] and [`Value::to_host_json`], with the
/// same result and error text. Empty text is nil, `null`.
pub fn to_json(text: &[u8], root: &str) -> Result<String, ValueError> {
    if let Some(json) = stream_json(text) {
        return Ok(json);
    }
    Value::from_luau_text(text, root)?.to_host_json(root)
}

/// The compressed text of non-empty value text, or `None` where the reference must decide.
pub(crate) fn stream_compress(text: &[u8], settings: &Settings) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    // Compressed text is a little shorter than the value text.
    let mut encoder = Encoder::new(settings, text.len());
    transcode(text, &mut encoder)?;
    encoder.finish().ok()
}

/// The stored JSON of non-empty value text, or `None` where the reference must decide.
pub(crate) fn stream_json(text: &[u8]) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    // JSON spells the same data a little longer (quotes, commas and colons for `s…:` and `n…;`).
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 16);
    transcode(text, &mut out)?;
    Some(out)
}

/// What [`transcode`] writes as it reads: one target format. `None` from a method is a value
/// the reference must judge (a refusal of the format's own).
trait Sink {
    fn boolean(&mut self, b: bool);
    fn number(&mut self, n: f64) -> Option<()>;
    fn string(&mut self, s: &str) -> Option<()>;
    /// A table keyed by strings begins (or an empty table, closed at once).
    fn open_table(&mut self);
    /// A string key of the table being written; `first` for its first.
    fn key(&mut self, s: &str, first: bool) -> Option<()>;
    fn close_table(&mut self);
    /// Element `index` (from 0) of a non-empty sequence comes next; element 0 opens it.
    fn element(&mut self, index: usize);
    fn close_sequence(&mut self);
    /// `[]`: the empty sequence only the core writes (an empty Luau table is `{}`).
    fn empty_sequence(&mut self);
}

impl Sink for Encoder {
    fn boolean(&mut self, b: bool) {
        self.out.push(if b { b'+' } else { b'-' });
    }

    fn number(&mut self, n: f64) -> Option<()> {
        Encoder::number(self, n).ok()
    }

    fn string(&mut self, s: &str) -> Option<()> {
        Encoder::string(self, s).ok()
    }

    fn open_table(&mut self) {
        self.out.push(b'*');
    }

    fn key(&mut self, s: &str, _first: bool) -> Option<()> {
        // Safety writes DEL as a space, which can make two keys alike: the reference judges.
        if memchr::memchr(DEL, s.as_bytes()).is_some() {
            return None;
        }
        Encoder::string(self, s).ok()
    }

    fn close_table(&mut self) {
        self.out.push(DEL);
    }

    fn element(&mut self, index: usize) {
        if index == 0 {
            self.out.push(if self.array_mode { b'|' } else { b'*' });
        }
        if !self.array_mode {
            self.out.push(b'>');
            // Indices are far below 2^53, so they are always exact.
            let _ = self.digits((index + 1) as f64);
        }
    }

    fn close_sequence(&mut self) {
        self.out.push(DEL);
    }

    fn empty_sequence(&mut self) {
        self.out.extend_from_slice(b"|\x7f");
    }
}

/// JSON as [`Value::to_json_string`] writes it.
impl Sink for String {
    fn boolean(&mut self, b: bool) {
        self.push_str(if b { "true" } else { "false" });
    }

    fn number(&mut self, n: f64) -> Option<()> {
        write_json_number(n, self);
        Some(())
    }

    fn string(&mut self, s: &str) -> Option<()> {
        write_json_string(s, self);
        Some(())
    }

    fn open_table(&mut self) {
        self.push('{');
    }

    fn key(&mut self, s: &str, first: bool) -> Option<()> {
        if !first {
            self.push(',');
        }
        write_json_string(s, self);
        self.push(':');
        Some(())
    }

    fn close_table(&mut self) {
        self.push('}');
    }

    fn element(&mut self, index: usize) {
        self.push(if index == 0 { '[' } else { ',' });
    }

    fn close_sequence(&mut self) {
        self.push(']');
    }

    fn empty_sequence(&mut self) {
        self.push_str("[]");
    }
}

/// What a `{…}` being read has shown itself to be.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// No key yet.
    Unknown,
    /// String keys.
    Strings,
    /// The keys `1, 2, …` in order.
    Sequence,
}

/// A container being read.
enum Frame {
    /// `{`: its kind, the pairs so far, and where its string keys start in the key stack.
    Table {
        kind: Kind,
        pairs: usize,
        key_base: usize,
    },
    /// `[` (core-written), with its elements so far.
    Sequence { items: usize },
}

/// Reads the whole value text into `sink`, or `None` where the reference must decide.
fn transcode(text: &[u8], sink: &mut impl Sink) -> Option<()> {
    let mut reader = Reader { text, pos: 0 };
    let mut stack: Vec<Frame> = Vec::new();
    // The string keys of the tables being read, innermost last, as ranges of `text`.
    let mut keys: Vec<Range<usize>> = Vec::new();
    loop {
        // A value starts here.
        match reader.next()? {
            b't' => sink.boolean(true),
            b'f' => sink.boolean(false),
            b'n' => sink.number(reader.number()?)?,
            b's' => sink.string(reader.string()?.1)?,
            // One level short of the reference's limit: close to it, the reference decides.
            b'{' | b'[' if stack.len() + 1 >= MAX_DEPTH => return None,
            b'{' => stack.push(Frame::Table {
                kind: Kind::Unknown,
                pairs: 0,
                key_base: keys.len(),
            }),
            b'[' => stack.push(Frame::Sequence { items: 0 }),
            // `?NAME;` (a refusal), or not value text.
            _ => return None,
        }
        // A value (or a container's opening) is done; what follows in the innermost container?
        // Closing a container completes its parent's value too.
        loop {
            let Some(top) = stack.last_mut() else {
                return (reader.pos == text.len()).then_some(());
            };
            match top {
                Frame::Sequence { items } => {
                    if reader.eat(b']') {
                        if *items == 0 {
                            sink.empty_sequence();
                        } else {
                            sink.close_sequence();
                        }
                        stack.pop();
                        continue;
                    }
                    sink.element(*items);
                    *items += 1;
                }
                Frame::Table {
                    kind,
                    pairs,
                    key_base,
                } => {
                    if reader.eat(b'}') {
                        match kind {
                            Kind::Unknown => {
                                sink.open_table();
                                sink.close_table();
                            }
                            Kind::Strings => {
                                let own = keys.get(*key_base..).unwrap_or_default();
                                if has_duplicate_range(own, text) {
                                    return None;
                                }
                                keys.truncate(*key_base);
                                sink.close_table();
                            }
                            Kind::Sequence => sink.close_sequence(),
                        }
                        stack.pop();
                        continue;
                    }
                    match (reader.next()?, *kind) {
                        (b's', Kind::Unknown | Kind::Strings) => {
                            let (range, key) = reader.string()?;
                            if *kind == Kind::Unknown {
                                sink.open_table();
                                *kind = Kind::Strings;
                            }
                            sink.key(key, *pairs == 0)?;
                            keys.push(range);
                        }
                        (b'n', Kind::Unknown | Kind::Sequence) => {
                            // Only the next index keeps the table a sequence.
                            if reader.number()? != (*pairs + 1) as f64 {
                                return None;
                            }
                            sink.element(*pairs);
                            *kind = Kind::Sequence;
                        }
                        // Boolean, table and unwritable keys, other numbers, mixed keys.
                        _ => return None,
                    }
                    *pairs += 1;
                }
            }
            break;
        }
    }
}

/// The value text, one token at a time; `None` for anything [`Value::from_luau_text`] would
/// refuse or call malformed.
struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Option<u8> {
        let b = *self.text.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.text.get(self.pos) == Some(&b);
        self.pos += usize::from(found);
        found
    }

    /// Bytes up to (not including) `end`, moving past it.
    fn until(&mut self, end: u8) -> Option<&'a [u8]> {
        let text = self.text;
        let rest = text.get(self.pos..)?;
        let len = memchr::memchr(end, rest)?;
        self.pos += len + 1;
        rest.get(..len)
    }

    /// The rest of `n…;`: a finite number.
    fn number(&mut self) -> Option<f64> {
        parse_number(self.until(b';')?).filter(|n| n.is_finite())
    }

    /// The rest of `sLENGTH:BYTES`: where the bytes are, and them as UTF-8.
    fn string(&mut self) -> Option<(Range<usize>, &'a str)> {
        let len = usize::try_from(small_whole(self.until(b':')?)?).ok()?;
        let range = self.pos..self.pos.checked_add(len)?;
        let text = self.text;
        let s = std::str::from_utf8(text.get(range.clone())?).ok()?;
        self.pos = range.end;
        Some((range, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_compress(text: &[u8], settings: &Settings) -> Result<String, String> {
        let value = Value::from_luau_text(text, "Value").map_err(|e| e.to_string())?;
        super::super::compress_luau_value(&value, settings).map_err(|e| e.to_string())
    }

    fn reference_json(text: &[u8]) -> Result<String, String> {
        let value = Value::from_luau_text(text, "Value").map_err(|e| e.to_string())?;
        value.to_host_json("Value").map_err(|e| e.to_string())
    }

    fn level1() -> Settings {
        Settings {
            array_mode: false,
            ..Settings::default()
        }
    }

    /// A player record as `luau/ValueText.luau` writes it: both fast paths must take it, or
    /// the Luau host is quietly back on the tree.
    #[test]
    fn ordinary_data_takes_the_fast_paths() {
        let text: &[u8] = b"{s5:Coinsn10;s4:Names11:Bob \"the\"\n\x7fs5:Ration0.75;s5:Items{n1;{s2:Ids7:Sword_1s4:Tags{n1;s1:an2;s1:b}s3:Newt}n2;{s2:Ids4:Rings4:Tags{}s3:Newf}}s3:Negn-0;s3:Bign1e-07;s5:Empty{}s4:Core[n1;[]]}";
        for settings in [Settings::default(), level1()] {
            let fast = stream_compress(text, &settings).expect("compress fast path");
            assert_eq!(Ok(fast), reference_compress(text, &settings));
        }
        let fast = stream_json(text).expect("JSON fast path");
        assert_eq!(Ok(fast), reference_json(text));
        // Long tables check their keys by sorting.
        let mut big = b"{".to_vec();
        for i in 0..100 {
            let key = format!("Quest_{i}");
            big.extend_from_slice(format!("s{}:{key}n{i};", key.len()).as_bytes());
        }
        big.push(b'}');
        assert!(stream_compress(&big, &Settings::default()).is_some());
        assert!(stream_json(&big).is_some());
    }

    /// Everything unusual goes to the reference, which gives the result or the refusal.
    #[test]
    fn unusual_values_are_left_to_the_reference() {
        let unusual: &[&[u8]] = &[
            // nil
            b"",
            // refusals
            b"{s1:f?function;}",
            b"{s1:t{s1:t?cycle;}}",
            b"{s1:a?deep;}",
            b"{s1:xnnan;}",
            b"{s1:xninf;}",
            b"n-inf;",
            b"{s1:as1:\xff}",
            b"{s1:\xffn1;}",
            b"{{}n1;}",
            b"{?userdata;n1;}",
            b"{ninf;n1;}",
            // keys that are not strings, nor 1..n in order
            b"{n1;s5:Swordn3;s3:Bow}",
            b"{n2;s1:bn1;s1:a}",
            b"{n1;n1;n2;n2;s1:xn3;}",
            b"{s1:xn3;n1;n1;}",
            b"{tn1;fs0:}",
            b"{n1;s1:as1:1s1:b}",
            b"{s4:trues1:ats1:b}",
            b"{n1.5;t}",
            b"{n0;t}",
            b"{n-0;t}",
            b"{n1;tn1;f}",
            // duplicate string keys (a host bug)
            b"{s1:an1;s1:an2;}",
            // malformed
            b"{",
            b"[",
            b"s5:ab",
            b"n1",
            b"x",
            b"{n1;}",
            b"t t",
            b"tt",
            b"s99999999999999999999:",
            b"s01:a",
            b"?x",
            b"}",
            b"]",
            b"{s1:a}",
        ];
        // What only the format refuses: numbers it cannot hold, DEL with Safety off, and keys
        // that Safety would write alike.
        let format_refusals: &[&[u8]] = &[
            b"n1e300;",
            b"{s1:xn9007199254740993.5;}",
            b"s1:\x7f",
            b"{s2:a\x7fn1;s2:a n2;}",
        ];
        let twins = compress(b"{s2:a\x7fn1;s2:a n2;}", "Value", &Settings::default());
        assert!(
            twins.is_err_and(|e| e.to_string().contains("are alike once Safety")),
            "keys Safety writes alike are refused"
        );
        let strict = Settings {
            safety: false,
            ..Settings::default()
        };
        for text in unusual.iter().chain(format_refusals) {
            for settings in [Settings::default(), level1(), strict.clone()] {
                let ours = compress(text, "Value", &settings).map_err(|e| e.to_string());
                assert_eq!(
                    ours,
                    reference_compress(text, &settings),
                    "{:?}",
                    String::from_utf8_lossy(text)
                );
            }
            let ours = to_json(text, "Value").map_err(|e| e.to_string());
            if !text.is_empty() {
                assert_eq!(
                    ours,
                    reference_json(text),
                    "{:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
        for text in unusual {
            assert_eq!(
                stream_compress(text, &Settings::default()),
                None,
                "{text:?}"
            );
            assert_eq!(stream_json(text), None, "{text:?}");
        }
        assert_eq!(stream_compress(b"s1:\x7f", &strict), None);
        assert_eq!(stream_compress(b"n1e300;", &Settings::default()), None);
    }

    #[test]
    fn nesting_near_the_limit_is_left_to_the_reference() {
        for depth in [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let text = text.as_bytes();
            assert_eq!(
                compress(text, "Value", &Settings::default()).map_err(|e| e.to_string()),
                reference_compress(text, &Settings::default()),
                "{depth}"
            );
            assert_eq!(
                to_json(text, "Value").map_err(|e| e.to_string()),
                reference_json(text),
                "{depth}"
            );
            let tables = format!("{}t{}", "{n1;".repeat(depth), "}".repeat(depth));
            assert_eq!(
                compress(tables.as_bytes(), "Value", &Settings::default())
                    .map_err(|e| e.to_string()),
                reference_compress(tables.as_bytes(), &Settings::default()),
                "{depth}"
            );
        }
    }
}
