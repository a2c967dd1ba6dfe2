//! `Usage()`: how much of Roblox's 4 MB DataStore value limit a value takes (spec §10.3).
//!
//! The original measures `#HttpService:JSONEncode(Value)` (or of `CompressedValue` when
//! compression is on) and divides by 4,194,303. This module counts the bytes that `JSONEncode`
//! would produce without building the text ([`json_encode_len`]); [`json_encode`] builds the same
//! text for tests and debugging. Both walk the value through one writer, so they cannot disagree.
//! The session core decides when `CompressedValue` is recomputed and calls [`usage`] or
//! [`usage_of_compressed`].
//!
//! It also holds Luau's number printer ([`LuauNumber`]), which `JSONEncode` and `tostring` share
//! here; [`crate::value::luau_number_to_string`] is a thin wrapper over it.
//!
//! # How Roblox's `JSONEncode` writes values, and how sure we are
//!
//! Roblox's encoder is closed source. What we rely on, and why:
//!
//! * **Tables** — the official reference (`HttpService:JSONEncode` in Roblox's creator-docs,
//!   `HttpService.yaml`): keys must be strings or numbers; "if a table contains both, an array
//!   takes priority (string keys are ignored)"; an empty table encodes as `[]`; `nil` is never
//!   generated. So a sequence `1..n` (our [`Value::Array`], or a [`Value::Table`] whose keys
//!   include `1..n`) becomes `[v1,…,vn]` and every other key of such a mixed table is dropped
//!   (an old report, roblox-bug-tracker #213, says the same of every engine API that takes
//!   tables). A table with keys but no sequence becomes an object whose number keys are written
//!   as their `tostring` text (Lapis issue #68: DataStores, which JSON-encode the value, turn
//!   number keys of non-array tables into strings). *Estimates:* the sequence is read as keys
//!   `1, 2, 3, …` up to the first gap (Luau's `#` may pick a later border in a table with holes);
//!   boolean keys are written like number keys (`"true"`), where Roblox probably raises an error
//!   instead, but `Usage()` must return a number. Member order does not change the length, so
//!   insertion order is used.
//! * **Strings** — `"` and `\` are escaped, backspace, tab, line feed, form feed and carriage
//!   return get their two-character escapes, other bytes below 0x20 become `\u00XX`, everything
//!   else (DEL, `/`, non-ASCII UTF-8) is written raw. Sources: Anaminus' notes for matching
//!   Roblox's encoder (rbxmk issue #40: exactly that escape table, other characters as-is); the
//!   original compression docs, whose printed `JSONEncode(CompressedValue)` shows DEL raw; and
//!   the codec's digit alphabet, built to keep `JSONEncode` short, which leaves out `"` and `\`
//!   but uses `/` — it would not if `/` cost two bytes. The case of the hex digits in `\u00XX`
//!   is unknown and does not change the length.
//! * **Numbers** — the original's compression docs print
//!   `JSONEncode({Number = 1234567891234.987, Array = {1234567891234567, …}})` as
//!   `{"Number":1234567891234.987,…,"Array":[1234567891234567,…]}`: whole numbers have no `.0`,
//!   and the digits are neither `%.14g` (`1.234567891235e+12`) nor `%.17g`
//!   (`1234567891234.9871`). That fits the shortest text that reads back as the same double,
//!   which is what Luau's `tostring` prints. *Estimate:* we write every number exactly as Luau's
//!   `tostring` does (below). Where Roblox could still differ: the layout of `-0` and of
//!   magnitudes from 10²¹ up or below 10⁻⁶ (`1e+21`, `1e-07`; a few bytes each), and, if its
//!   printer were `%.16g` rather than shortest, numbers that need 17 digits (such as
//!   `0.30000000000000004`) would be one byte shorter there. No evidence found separates these.
//!
//! # Luau's `tostring(number)`
//!
//! Read from Luau's `VM/src/lnumprint.cpp` (`luai_num2str`, used by `tostring`, string coercion
//! and `luaL_tolstring`):
//!
//! * Digits: the shortest decimal that reads back as the same double (Schubfach); when two such
//!   decimals are equally close, the one with the even last digit. Integers below 2⁵³ print
//!   exactly.
//! * Layout, with `dot` the position of the decimal point relative to the first digit
//!   (`dot = exponent + 1`): for `-5 <= dot <= 21`, fixed notation (`0.000001`, `0.5`,
//!   `123.25`, `100000000000000000000`); otherwise `d.ddde±XX` with the exponent at least two
//!   digits (`1e+21`, `1.5e-07`, `5e-324`, `1.7976931348623157e+308`).
//! * `-0` prints as `-0`; infinities as `inf`/`-inf`, NaN as `nan`.
//!
//! Rust's `{:e}` gives the same shortest digits except for exact ties, where it rounds up; those
//! are detected and re-rounded to even (`shortest_digits` below).

use crate::value::{Key, Table, Value};
use std::fmt::{self, Write as _};

/// `Usage()` divides by 2²² − 1, not 2²² (spec §10.3).
pub const USAGE_DIVISOR: f64 = 4194303.0;

/// `Usage()` without compression: the length of `JSONEncode(value)` and its fraction of the
/// limit. `nil` is `(0, 0)`.
pub fn usage(value: &Value) -> (usize, f64) {
    if matches!(value, Value::Nil) {
        return (0, 0.0);
    }
    fraction(json_encode_len(value))
}

/// `Usage()` with compression: the length of `JSONEncode(compressed)` (the quotes, escapes and
/// raw DEL bytes included) and its fraction of the limit.
pub fn usage_of_compressed(compressed: &str) -> (usize, f64) {
    let mut count = Count(0);
    write_string(compressed, &mut count);
    fraction(count.0)
}

fn fraction(n: usize) -> (usize, f64) {
    (n, n as f64 / USAGE_DIVISOR)
}

/// The byte length of Roblox's `HttpService:JSONEncode(value)`, counted without building it.
pub fn json_encode_len(value: &Value) -> usize {
    let mut count = Count(0);
    write_value(value, &mut count);
    count.0
}

/// The text Roblox's `HttpService:JSONEncode(value)` would produce (see the module docs for
/// what is exact and what is estimated). Its length is always [`json_encode_len`].
pub fn json_encode(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// Where encoded text goes: a byte counter or a string.
trait Out {
    fn text(&mut self, s: &str);
}

struct Count(usize);

impl Out for Count {
    fn text(&mut self, s: &str) {
        self.0 += s.len();
    }
}

impl Out for String {
    fn text(&mut self, s: &str) {
        self.push_str(s);
    }
}

fn write_value<O: Out>(value: &Value, out: &mut O) {
    match value {
        Value::Nil => out.text("null"),
        Value::Bool(b) => out.text(if *b { "true" } else { "false" }),
        Value::Number(n) => out.text(LuauNumber::new(*n).as_str()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => write_array(items.iter(), out),
        Value::Table(table) => write_table(table, out),
    }
}

fn write_array<'a, O: Out>(items: impl Iterator<Item = &'a Value>, out: &mut O) {
    out.text("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.text(",");
        }
        write_value(item, out);
    }
    out.text("]");
}

fn write_table<O: Out>(table: &Table, out: &mut O) {
    // The array part wins over every other key (Roblox drops the rest of a mixed table).
    let len = sequence_len(table);
    if len > 0 {
        let items = (1..=len).filter_map(|i| table.get(&Key::Number(i as f64)));
        return write_array(items, out);
    }
    let mut first = true;
    for (key, value) in table {
        // A nil value is an absent key in Luau.
        if matches!(value, Value::Nil) {
            continue;
        }
        out.text(if first { "{" } else { "," });
        first = false;
        match key {
            Key::String(s) => write_string(s, out),
            Key::Number(n) => {
                out.text("\"");
                out.text(LuauNumber::new(*n).as_str());
                out.text("\"");
            }
            Key::Bool(b) => out.text(if *b { "\"true\"" } else { "\"false\"" }),
        }
        out.text(":");
        write_value(value, out);
    }
    // An empty table is an empty array.
    out.text(if first { "[]" } else { "}" });
}

/// How many keys `1, 2, 3, …` the table holds without a gap (Luau's `#` for such a table).
fn sequence_len(table: &Table) -> usize {
    let mut n = 0;
    while matches!(table.get(&Key::Number((n + 1) as f64)), Some(v) if !matches!(v, Value::Nil)) {
        n += 1;
    }
    n
}

fn write_string<O: Out>(s: &str, out: &mut O) {
    out.text("\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0C => "\\f",
            b'\r' => "\\r",
            0x00..=0x1F => "",
            _ => continue,
        };
        // Every escaped byte is ASCII, so these slices fall on character boundaries.
        out.text(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let code = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ];
            out.text(std::str::from_utf8(&code).unwrap_or("\\u0000"));
        } else {
            out.text(escape);
        }
        start = i + 1;
    }
    out.text(&s[start..]);
    out.text("\"");
}

/// A number as Luau's `tostring` prints it, built on the stack (no allocation), so that counting
/// a large value's JSON length stays cheap. See the module docs for the rules.
#[derive(Clone, Copy)]
pub struct LuauNumber {
    buf: [u8; 32],
    len: usize,
}

impl LuauNumber {
    /// Prints `n` the way Luau's `luai_num2str` does.
    pub fn new(n: f64) -> LuauNumber {
        let mut out = LuauNumber {
            buf: [0; 32],
            len: 0,
        };
        if n.is_nan() {
            out.push(b"nan");
            return out;
        }
        if n.is_sign_negative() {
            out.push(b"-");
        }
        let a = n.abs();
        if a.is_infinite() {
            out.push(b"inf");
            return out;
        }
        if a == 0.0 {
            out.push(b"0");
            return out;
        }
        if a < 9007199254740992.0 && a.fract() == 0.0 {
            // Luau prints integers below 2^53 exactly; they never reach the exponent form.
            let mut digits = Digits::new();
            let _ = write!(digits, "{}", a as u64);
            out.push(digits.as_bytes());
            return out;
        }
        let (digits, exponent) = shortest_digits(a);
        out.layout(digits.as_bytes(), exponent);
        out
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits, signs, '.', 'e' and letters are ever pushed.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("nan")
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn push_zeros(&mut self, count: usize) {
        for _ in 0..count {
            self.push(b"0");
        }
    }

    /// Places the decimal point as `luai_num2str` does: fixed notation while the point sits at
    /// most 5 places before the first digit or 21 after it, the exponent form beyond.
    fn layout(&mut self, digits: &[u8], exponent: i32) {
        let len = digits.len() as i32;
        let dot = exponent + 1;
        if (-5..=21).contains(&dot) {
            if dot <= 0 {
                self.push(b"0.");
                self.push_zeros((-dot) as usize);
                self.push(digits);
            } else if dot < len {
                self.push(&digits[..dot as usize]);
                self.push(b".");
                self.push(&digits[dot as usize..]);
            } else {
                self.push(digits);
                self.push_zeros((dot - len) as usize);
            }
        } else {
            self.push(&digits[..1]);
            if len > 1 {
                self.push(b".");
                self.push(&digits[1..]);
            }
            self.push(if exponent < 0 { b"e-" } else { b"e+" });
            let e = exponent.unsigned_abs();
            if e >= 100 {
                self.push(&[b'0' + (e / 100) as u8]);
            }
            self.push(&[b'0' + (e % 100 / 10) as u8, b'0' + (e % 10) as u8]);
        }
    }
}

impl fmt::Display for LuauNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for LuauNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shortest significant digits (no trailing zeros) that read back as `a` (finite, > 0), and
/// the decimal exponent of the first digit, with exact ties going to the even digit as in
/// Luau's Schubfach printer.
fn shortest_digits(a: f64) -> (Digits, i32) {
    let mut text = Digits::new();
    let _ = write!(text, "{a:e}");
    let (digits, exponent) = split_exponent_form(text.as_bytes());
    let last = digits.as_bytes().last().copied().unwrap_or(b'0');
    // Rust rounds an exact tie between two shortest candidates up; Luau picks the even one. A
    // tie needs two neighbours 10^t apart inside a rounding interval no wider than 2^-52·a, so
    // only results of 16 digits or more can be ties, and only an odd last digit can be wrong.
    if digits.len >= 16 && (last - b'0') % 2 == 1 && may_be_a_tie(a) {
        let mut rounded = Digits::new();
        let _ = write!(rounded, "{a:.*e}", digits.len - 1);
        // `{:.Ne}` rounds the exact value half-to-even; it is the closest candidate, and it
        // wins when it still reads back as `a`.
        if rounded.as_str().parse::<f64>() == Ok(a) {
            let (even, even_exponent) = split_exponent_form(rounded.as_bytes());
            if even.as_bytes() != digits.as_bytes() {
                return (even, even_exponent);
            }
        }
    }
    (digits, exponent)
}

/// Whether `a` can lie exactly halfway between two neighbouring 16- or 17-digit decimals: its
/// exact decimal expansion must then have 17 or 18 significant digits ending in 5. Writing `a`
/// as `m·2^e` with `m` odd, those digits are `m·5^-e` (for `e < 0`; integers are never ties),
/// so this is one multiplication instead of a second formatting pass for nearly every number.
fn may_be_a_tie(a: f64) -> bool {
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (c, q) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    if c == 0 {
        return false;
    }
    let zeros = c.trailing_zeros();
    let (m, e) = (c >> zeros, q + zeros as i32);
    // 5^27 > 10^18, and an odd m only makes the product larger.
    if !(-26..0).contains(&e) {
        return false;
    }
    u128::from(m) * 5u128.pow((-e) as u32) < 1_000_000_000_000_000_000
}

/// Splits Rust's `d.ddde-x` text into its digits (trailing zeros dropped) and exponent.
fn split_exponent_form(text: &[u8]) -> (Digits, i32) {
    let mut digits = Digits::new();
    let mut exponent = 0i32;
    let mut negative = false;
    let mut in_exponent = false;
    for &c in text {
        match c {
            b'e' => in_exponent = true,
            b'-' if in_exponent => negative = true,
            b'0'..=b'9' if in_exponent => exponent = exponent * 10 + i32::from(c - b'0'),
            b'0'..=b'9' => digits.push_byte(c),
            _ => {}
        }
    }
    while digits.len > 1 && digits.buf[digits.len - 1] == b'0' {
        digits.len -= 1;
    }
    (digits, if negative { -exponent } else { exponent })
}

/// A small stack buffer for number text.
struct Digits {
    buf: [u8; 40],
    len: usize,
}

impl Digits {
    fn new() -> Digits {
        Digits {
            buf: [0; 40],
            len: 0,
        }
    }

    fn push_byte(&mut self, b: u8) {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Write for Digits {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::tests::value_strategy;
    use proptest::prelude::*;

    fn tostring(n: f64) -> String {
        LuauNumber::new(n).to_string()
    }

    fn json(text: &str) -> Value {
        Value::from_json_str(text, "Value").unwrap()
    }

    fn table(entries: Vec<(Key, Value)>) -> Value {
        Value::Table(entries.into_iter().collect())
    }

    // The expected texts below were traced by hand through Luau's `luai_num2str` and
    // `schubfach` (VM/src/lnumprint.cpp): the integer fast path, the `-5 <= dot <= 21` fixed
    // window, `printexp`'s two-or-three-digit exponent and the round-half-even selection.

    #[test]
    fn tostring_prints_integers_below_2_53_exactly() {
        assert_eq!(tostring(0.0), "0");
        assert_eq!(tostring(7.0), "7");
        assert_eq!(tostring(-1.0), "-1");
        assert_eq!(tostring(1e15), "1000000000000000");
        assert_eq!(tostring(1234567891234567.0), "1234567891234567");
        assert_eq!(tostring(9007199254740991.0), "9007199254740991");
    }

    #[test]
    fn tostring_keeps_the_sign_of_negative_zero() {
        assert_eq!(tostring(-0.0), "-0");
    }

    #[test]
    fn tostring_uses_fixed_notation_up_to_21_integer_digits() {
        assert_eq!(tostring(9007199254740992.0), "9007199254740992");
        assert_eq!(tostring(1e16), "10000000000000000");
        assert_eq!(tostring(1e20), "100000000000000000000");
        assert_eq!(tostring(-1e20), "-100000000000000000000");
        assert_eq!(tostring(123456789012345680000.0), "123456789012345680000");
    }

    #[test]
    fn tostring_switches_to_the_exponent_form_beyond_21_integer_digits() {
        assert_eq!(tostring(1e21), "1e+21");
        assert_eq!(tostring(1.5e21), "1.5e+21");
        assert_eq!(tostring(2f64.powi(70)), "1.1805916207174113e+21");
        assert_eq!(tostring(1e100), "1e+100");
        assert_eq!(tostring(-2.5e300), "-2.5e+300");
        assert_eq!(tostring(f64::MAX), "1.7976931348623157e+308");
    }

    #[test]
    fn tostring_uses_fixed_notation_down_to_five_leading_zeros() {
        assert_eq!(tostring(0.5), "0.5");
        assert_eq!(tostring(0.00001), "0.00001");
        assert_eq!(tostring(0.000001), "0.000001");
        assert_eq!(tostring(0.0000015), "0.0000015");
        assert_eq!(tostring(-0.000123), "-0.000123");
    }

    #[test]
    fn tostring_exponent_form_below_that_has_at_least_two_exponent_digits() {
        assert_eq!(tostring(1e-7), "1e-07");
        assert_eq!(tostring(1.25e-7), "1.25e-07");
        assert_eq!(tostring(9.5e-10), "9.5e-10");
        assert_eq!(tostring(1e-300), "1e-300");
        assert_eq!(tostring(5e-324), "5e-324");
        assert_eq!(tostring(f64::MIN_POSITIVE), "2.2250738585072014e-308");
    }

    #[test]
    fn tostring_prints_the_shortest_digits_that_read_back() {
        assert_eq!(tostring(0.1), "0.1");
        assert_eq!(tostring(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(tostring(2.0 / 3.0), "0.6666666666666666");
        assert_eq!(tostring(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(tostring(100.5), "100.5");
        assert_eq!(tostring(1234567891234.987), "1234567891234.987");
        assert_eq!(tostring(std::f64::consts::PI), "3.141592653589793");
    }

    #[test]
    fn tostring_breaks_exact_ties_towards_the_even_digit() {
        // Each value lies exactly halfway between two shortest candidates; Rust's `{}` rounds
        // these up (…3, …3, …3), Schubfach picks the even digit.
        assert_eq!(tostring(1.0 + 2f64.powi(-17)), "1.0000076293945312");
        assert_eq!(tostring(2f64.powi(50) + 0.25), "1125899906842624.2");
        assert_eq!(tostring(2f64.powi(49) + 0.25), "562949953421312.2");
        assert_eq!(tostring(-275871202673793.0 - 0.125), "-275871202673793.12");
        assert_eq!(tostring(785958506489137.0 + 0.25), "785958506489137.2");
        // Rounding up already lands on the even digit here.
        assert_eq!(tostring(2f64.powi(50) + 0.75), "1125899906842624.8");
    }

    #[test]
    fn tostring_prints_non_finite_numbers_like_luau() {
        assert_eq!(tostring(f64::INFINITY), "inf");
        assert_eq!(tostring(f64::NEG_INFINITY), "-inf");
        assert_eq!(tostring(f64::NAN), "nan");
    }

    #[test]
    fn json_matches_the_original_docs_example() {
        // docs/Extras/compression.md prints this `JSONEncode` output (key order as written).
        let value = table(vec![
            (Key::from("Number"), Value::Number(1234567891234.987)),
            (Key::from("String"), Value::String("Hello World!".into())),
            (
                Key::from("Array"),
                Value::Array(
                    [
                        1234567891234567.0,
                        2345678912345678.0,
                        3456789123456789.0,
                        4567891234567891.0,
                        5678912345678912.0,
                    ]
                    .into_iter()
                    .map(Value::Number)
                    .collect(),
                ),
            ),
        ]);
        let text = r#"{"Number":1234567891234.987,"String":"Hello World!","Array":[1234567891234567,2345678912345678,3456789123456789,4567891234567891,5678912345678912]}"#;
        assert_eq!(json_encode(&value), text);
        assert_eq!(json_encode_len(&value), text.len());
    }

    #[test]
    fn empty_tables_encode_as_empty_arrays() {
        assert_eq!(json_encode(&Value::Array(vec![])), "[]");
        assert_eq!(json_encode(&Value::Table(Table::new())), "[]");
        assert_eq!(
            json_encode(&table(vec![(Key::from("gone"), Value::Nil)])),
            "[]"
        );
        assert_eq!(json_encode(&json(r#"{"a":{}}"#)), r#"{"a":[]}"#);
    }

    #[test]
    fn mixed_tables_keep_only_their_array_part() {
        let value = table(vec![
            (Key::from("x"), Value::Bool(true)),
            (Key::Number(2.0), Value::String("b".into())),
            (Key::Number(1.0), Value::String("a".into())),
            (Key::Number(4.0), Value::String("d".into())),
        ]);
        assert_eq!(json_encode(&value), r#"["a","b"]"#);
    }

    #[test]
    fn number_keys_outside_a_sequence_become_strings() {
        let value = table(vec![
            (Key::Number(2.0), Value::Number(1.0)),
            (Key::Number(0.5), Value::Number(2.0)),
            (Key::Number(1e21), Value::Number(3.0)),
            (Key::from("k"), Value::Number(4.0)),
        ]);
        assert_eq!(json_encode(&value), r#"{"2":1,"0.5":2,"1e+21":3,"k":4}"#);
    }

    #[test]
    fn boolean_keys_are_estimated_as_strings() {
        let value = table(vec![(Key::Bool(true), Value::Number(1.0))]);
        assert_eq!(json_encode(&value), r#"{"true":1}"#);
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        let s = Value::String("\"\\\u{8}\t\n\u{c}\r\u{0}\u{1f}".into());
        assert_eq!(json_encode(&s), r#""\"\\\b\t\n\f\r\u0000\u001f""#);
    }

    #[test]
    fn del_slash_and_non_ascii_are_written_raw() {
        let s = Value::String("a/\u{7f}é😀".into());
        assert_eq!(json_encode(&s), "\"a/\u{7f}é😀\"");
        assert_eq!(json_encode_len(&s), 2 + 1 + 1 + 1 + 2 + 4);
    }

    #[test]
    fn nested_values_encode_like_json() {
        let value = json(r#"{"a":[true,false,{"b":-0.25}],"c":"d"}"#);
        assert_eq!(
            json_encode(&value),
            r#"{"a":[true,false,{"b":-0.25}],"c":"d"}"#
        );
    }

    #[test]
    fn usage_of_nil_is_zero() {
        assert_eq!(usage(&Value::Nil), (0, 0.0));
    }

    #[test]
    fn usage_divides_by_2_22_minus_1() {
        let (n, fraction) = usage(&json(r#"{"Coins":100}"#));
        assert_eq!(n, r#"{"Coins":100}"#.len());
        assert_eq!(fraction, 13.0 / 4194303.0);
        assert_eq!(usage(&Value::Bool(true)), (4, 4.0 / USAGE_DIVISOR));
    }

    #[test]
    fn usage_of_compressed_counts_quotes_and_escapes_but_not_del() {
        // The docs example's compressed text (spec §9.9): 99 bytes, DEL raw, nothing to escape.
        let compressed = "*#Number\u{7f})hLy&yaFJ#String\u{7f}#Hello World!\u{7f}#Array\u{7f}|>cGy&yaFJ>e~i~{QA31>4YzarcwI1>v{GMPQr22>mrCnt=mH2\u{7f}\u{7f}";
        assert_eq!(
            usage_of_compressed(compressed),
            (101, 101.0 / USAGE_DIVISOR)
        );
        assert_eq!(usage_of_compressed("#a\"b\\\u{7f}").0, 2 + 8);
        assert_eq!(usage_of_compressed("").0, 2);
    }

    fn check_shortest_closest_even(n: f64) -> Result<(), TestCaseError> {
        let text = tostring(n);
        let mantissa = text.split('e').next().unwrap();
        let digits = mantissa.trim_start_matches(['0', '.']).replace('.', "");
        let digits = digits.trim_end_matches('0');
        // No number with one digit fewer reads back: the closest such one does not.
        if digits.len() > 1 {
            let shorter = format!("{n:.*e}", digits.len() - 2);
            prop_assert_ne!(
                shorter.parse::<f64>().unwrap(),
                n,
                "{} vs {}",
                text,
                shorter
            );
        }
        // Among equally short ones, it is the closest, halves going to even, whenever that
        // closest one reads back.
        let closest = format!("{n:.*e}", digits.len().max(1) - 1);
        if closest.parse::<f64>().unwrap() == n {
            let closest_digits = closest.split('e').next().unwrap().replace('.', "");
            prop_assert_eq!(closest_digits.trim_end_matches('0'), digits);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn counted_length_equals_the_encoded_text(value in value_strategy()) {
            prop_assert_eq!(json_encode_len(&value), json_encode(&value).len());
        }

        #[test]
        fn encoded_text_is_valid_json(value in value_strategy()) {
            let text = json_encode(&value);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{}", text);
        }

        #[test]
        fn tostring_reads_back_as_the_same_number(bits in any::<u64>()) {
            let n = f64::from_bits(bits);
            prop_assume!(n.is_finite());
            let text = tostring(n);
            let back: f64 = text.parse().unwrap();
            prop_assert_eq!(back.to_bits(), n.to_bits(), "{}", text);
        }

        #[test]
        fn tostring_digits_are_the_shortest_and_ties_go_even(bits in any::<u64>()) {
            let n = f64::from_bits(bits).abs();
            prop_assume!(n.is_finite() && n != 0.0);
            check_shortest_closest_even(n)?;
        }

        #[test]
        fn tostring_ties_in_short_binary_fractions_go_even(
            mantissa in 1u64..(1 << 53),
            fraction_bits in 1i32..40,
        ) {
            // Exact ties need a short binary fraction on a long mantissa (1 + 2^-17, 2^50 + 1/4).
            check_shortest_closest_even(mantissa as f64 * 2f64.powi(-fraction_bits))?;
        }
        #[test]
        fn tostring_layout_follows_the_decimal_point_window(bits in any::<u64>()) {
            let n = f64::from_bits(bits);
            prop_assume!(n.is_finite() && n != 0.0);
            let text = tostring(n);
            let exponent_form = text.contains('e');
            // `{:e}` of the same number tells where the first digit is.
            let e: i32 = format!("{:e}", n.abs()).split('e').nth(1).unwrap().parse().unwrap();
            prop_assert_eq!(exponent_form, !(-6..=20).contains(&e), "{}", text);
            if exponent_form {
                let exp = text.split('e').nth(1).unwrap();
                prop_assert!(exp.starts_with('+') || exp.starts_with('-'));
                prop_assert!(exp.len() >= 3);
            }
        }
    }
}
