//! Luau values with their key types: the form in which Luau hosts hand values to the core and
//! get them back (`luau/ValueText.luau` is the Luau half).
//!
//! JSON cannot carry what a Luau table can be: number and boolean keys, holes, a sequence with
//! other keys beside it. `HttpService:JSONEncode` stops at the first hole and drops the rest,
//! so a Luau host that marshalled through it stored `{"Sword"}` for `{"Sword", nil, "Bow"}` and
//! answered "Saved". This form writes every pair as it is, so the decisions — which tables are
//! sequences, what a DataStore can hold, what the path of a refused value is — are all made
//! here, in one place, for every Luau host.
//!
//! ```text
//! value := 't' | 'f'
//!        | 'n' NUMBER ';'          Luau's tostring(n): 42, -0, 1.5, 1e+21 (nan, inf: refused)
//!        | 's' LENGTH ':' BYTES    LENGTH bytes, any bytes (not UTF-8: refused)
//!        | '{' (value value)* '}'  a table's pairs, key then value, in iteration order
//!        | '[' value* ']'          a sequence 1..n (written by the core only)
//!        | '?' NAME ';'            what the host could not write: a type name (function,
//!                                  userdata, thread, buffer, vector), `cycle` (a table that
//!                                  contains itself) or `deep` (nesting past MAX_DEPTH)
//! text  := ''  (nil)  |  value
//! ```
//!
//! A table read from pairs is a sequence ([`Value::Array`]) when its keys are exactly `1..n`
//! (n ≥ 1), whatever their order, and otherwise a [`Value::Table`] in the host's order; the
//! empty table is an empty `Value::Table` (compressed as the original writes it, `*`DEL).

use super::{luau_number_to_string, Key, Path, Table, Value, ValueError, MAX_DEPTH};

impl Value {
    /// Reads the Luau value text (module docs); `root` names the value in refusals
    /// (`Value.Friends[42]: NaN cannot be stored`).
    pub fn from_luau_text(text: &[u8], root: &str) -> Result<Value, ValueError> {
        if text.is_empty() {
            return Ok(Value::Nil);
        }
        // Fast path: no key paths kept (each would be a key cloned or a number printed). A
        // refusal is rare, so only then read again, naming the path.
        read_luau_text(text, root, false).or_else(|_| read_luau_text(text, root, true))
    }

    /// The Luau value text of this value: sequences as `[…]`, tables as their pairs.
    pub fn to_luau_text(&self) -> String {
        let mut out = String::new();
        self.write_luau_text(&mut out);
        out
    }

    fn write_luau_text(&self, out: &mut String) {
        match self {
            Value::Nil => {}
            Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
            Value::Number(n) => {
                out.push('n');
                out.push_str(&luau_number_to_string(*n));
                out.push(';');
            }
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for item in items {
                    item.write_luau_text(out);
                }
                out.push(']');
            }
            Value::Table(table) => {
                out.push('{');
                for (key, item) in table {
                    if matches!(item, Value::Nil) {
                        continue;
                    }
                    match key {
                        Key::String(s) => write_string(s, out),
                        Key::Number(n) => Value::Number(*n).write_luau_text(out),
                        Key::Bool(b) => out.push(if *b { 't' } else { 'f' }),
                    }
                    item.write_luau_text(out);
                }
                out.push('}');
            }
        }
    }

    /// A table from its pairs, as Luau sees it: keys exactly `1..n` (n ≥ 1) make a sequence.
    pub fn from_luau_pairs(table: Table) -> Value {
        let n = table.len();
        if n == 0 {
            return Value::Table(table);
        }
        let mut slots: Vec<Option<Value>> = vec![None; n];
        for key in table.keys() {
            match key {
                Key::Number(k) if *k >= 1.0 && *k <= n as f64 && k.fract() == 0.0 => {}
                _ => return Value::Table(table),
            }
        }
        // n distinct whole numbers in 1..=n: each slot is filled exactly once.
        for (key, item) in table {
            if let Key::Number(k) = key {
                slots[k as usize - 1] = Some(item);
            }
        }
        Value::Array(slots.into_iter().map(Option::unwrap_or_default).collect())
    }
}

impl From<Key> for Value {
    fn from(key: Key) -> Value {
        match key {
            Key::String(s) => Value::String(s),
            Key::Number(n) => Value::Number(n),
            Key::Bool(b) => Value::Bool(b),
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('s');
    out.push_str(itoa::Buffer::new().format(s.len()));
    out.push(':');
    out.push_str(s);
}

fn read_luau_text(text: &[u8], root: &str, track: bool) -> Result<Value, ValueError> {
    let mut reader = Reader {
        text,
        pos: 0,
        path: Path::new(root),
        track,
    };
    let value = reader.value()?;
    if reader.pos != text.len() {
        return Err(reader.malformed("text after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
    /// Where the reader is; without `track`, only how deep (placeholder segments).
    path: Path,
    track: bool,
}

/// The digits of a whole number up to 15 of them (no sign, no leading zero): exact as f64.
pub(crate) fn small_whole(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 15 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// The number a `n…;` run (without `n` and `;`) holds, finite or not; `None` when it is not a
/// number. The one place value text numbers are read, so the reader and the transcoders
/// (`codec::luau`) cannot read one differently.
pub(crate) fn parse_number(run: &[u8]) -> Option<f64> {
    // Most numbers are whole (counts, ids, sequence keys): no float parsing for them.
    let (negative, digits) = match run.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, run),
    };
    if let Some(n) = small_whole(digits) {
        let n = n as f64;
        return Some(if negative { -n } else { n });
    }
    std::str::from_utf8(run).ok()?.parse::<f64>().ok()
}

/// A key or value as read, before it is known which it is.
enum Item {
    Value(Value),
    /// `?NAME;`: what the host could not write.
    Unwritable(String),
}

impl<'a> Reader<'a> {
    fn malformed(&self, what: &str) -> ValueError {
        self.path.error(format!(
            "malformed value text at byte {}: {what} (a host bug)",
            self.pos
        ))
    }

    /// Bytes up to (not including) `end`, moving past it.
    fn until(&mut self, end: u8) -> Result<&'a [u8], ValueError> {
        let text = self.text;
        let rest = text.get(self.pos..).unwrap_or_default();
        let Some(len) = memchr::memchr(end, rest) else {
            return Err(self.malformed(&format!("no closing {:?}", end as char)));
        };
        let run = rest.get(..len).unwrap_or_default();
        self.pos += len + 1;
        Ok(run)
    }

    fn number(&mut self) -> Result<f64, ValueError> {
        let run = self.until(b';')?;
        let text = std::str::from_utf8(run).unwrap_or("?");
        match parse_number(run) {
            Some(n) if n.is_finite() => Ok(n),
            Some(n) if n.is_nan() => Err(self.path.error("nan cannot be stored".into())),
            Some(_) => Err(self.path.error(format!("{text} cannot be stored"))),
            None => Err(self.malformed(&format!("{text:?} is not a number"))),
        }
    }

    fn string(&mut self) -> Result<String, ValueError> {
        let run = self.until(b':')?;
        let len = small_whole(run)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.malformed("bad string length"))?;
        let bytes = self
            .text
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or_else(|| self.malformed("the string runs past the end"))?;
        self.pos += len;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self
                .path
                .error("a string that is not valid UTF-8 cannot be stored".into())),
        }
    }

    fn value(&mut self) -> Result<Value, ValueError> {
        match self.item()? {
            Item::Value(v) => Ok(v),
            Item::Unwritable(name) => Err(self.path.error(unwritable(&name))),
        }
    }

    fn item(&mut self) -> Result<Item, ValueError> {
        let Some(&tag) = self.text.get(self.pos) else {
            return Err(self.malformed("the text ends where a value should be"));
        };
        self.pos += 1;
        Ok(Item::Value(match tag {
            b't' => Value::Bool(true),
            b'f' => Value::Bool(false),
            b'n' => Value::Number(self.number()?),
            b's' => Value::String(self.string()?),
            b'{' | b'[' if self.path.depth() >= MAX_DEPTH => {
                return Err(self.path.error(format!(
                    "nesting deeper than {MAX_DEPTH} levels cannot be stored"
                )))
            }
            b'{' => self.table()?,
            b'[' => self.sequence()?,
            b'?' => {
                let name = String::from_utf8_lossy(self.until(b';')?).into_owned();
                return Ok(Item::Unwritable(name));
            }
            _ => {
                self.pos -= 1;
                return Err(self.malformed(&format!("unknown tag 0x{tag:02x}")));
            }
        }))
    }

    fn table(&mut self) -> Result<Value, ValueError> {
        let mut table = Table::new();
        while self.text.get(self.pos) != Some(&b'}') {
            let key = match self.item() {
                Ok(Item::Value(Value::Bool(b))) => Key::Bool(b),
                Ok(Item::Value(Value::Number(n))) => Key::Number(n),
                Ok(Item::Value(Value::String(s))) => Key::String(s),
                Ok(Item::Value(other)) => {
                    return Err(self
                        .path
                        .error(format!("a {} key cannot be stored", other.type_name())))
                }
                Ok(Item::Unwritable(name)) => {
                    return Err(self
                        .path
                        .error(format!("a key that is {}", unwritable(&name))))
                }
                Err(e) if e.message.starts_with("malformed") => return Err(e),
                Err(e) => return Err(self.path.error(format!("a key: {}", e.message))),
            };
            match &key {
                _ if !self.track => self.path.push_index(0),
                Key::String(s) => self.path.push_key(s),
                Key::Number(n) => self.path.push_number(*n),
                Key::Bool(b) => self.path.push_bracket(if *b { "true" } else { "false" }),
            }
            let item = self.value()?;
            self.path.pop();
            table.insert(key, item);
        }
        self.pos += 1;
        Ok(Value::from_luau_pairs(table))
    }

    fn sequence(&mut self) -> Result<Value, ValueError> {
        let mut items = Vec::new();
        while self.text.get(self.pos) != Some(&b']') {
            if self.track {
                self.path.push_number((items.len() + 1) as f64);
            } else {
                self.path.push_index(0);
            }
            items.push(self.value()?);
            self.path.pop();
        }
        self.pos += 1;
        Ok(Value::Array(items))
    }
}

/// The refusal for `?NAME;`.
fn unwritable(name: &str) -> String {
    match name {
        "cycle" => "a table that contains itself cannot be stored".to_owned(),
        "deep" => format!("nesting deeper than {MAX_DEPTH} levels cannot be stored"),
        other => format!("a {other} cannot be stored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Value, String> {
        Value::from_luau_text(text.as_bytes(), "Value").map_err(|e| e.to_string())
    }

    #[test]
    fn holes_and_mixed_tables_keep_their_keys() {
        // {"Sword", nil, "Bow"}
        let v = read("{n1;s5:Swordn3;s3:Bow}").unwrap();
        assert_eq!(v.to_json_string(), r#"{"1":"Sword","3":"Bow"}"#);
        // {1, 2, x = 3}
        let v = read("{n1;n1;n2;n2;s1:xn3;}").unwrap();
        assert_eq!(v.to_json_string(), r#"{"1":1,"2":2,"x":3}"#);
        // {[2] = "b", [1] = "a"} is a sequence
        let v = read("{n2;s1:bn1;s1:a}").unwrap();
        assert_eq!(
            v,
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())])
        );
        // {} is an empty table, not an empty sequence
        assert_eq!(read("{}").unwrap(), Value::Table(Table::new()));
        assert_eq!(read("").unwrap(), Value::Nil);
    }

    #[test]
    fn round_trip_keeps_key_types() {
        for text in [
            "{s7:Friends{n42;tn-7;fn1.5;t}}",
            "[s1:a[n1;n2;]{}]",
            "{tn1;fs0:}",
            "n-0;",
            "n1e+21;",
            "s3:\x7f\x00\n",
        ] {
            let v = read(text).unwrap();
            assert_eq!(v.to_luau_text(), text);
            assert_eq!(read(&v.to_luau_text()).unwrap(), v);
        }
        let v = read("n-0;").unwrap();
        assert!(matches!(v, Value::Number(n) if n == 0.0 && n.is_sign_negative()));
    }

    #[test]
    fn refusals_name_the_path() {
        let cases = [
            (
                "{s9:Inventory{n3;nnan;}}",
                "Value.Inventory[3]: nan cannot be stored",
            ),
            ("{s1:a{n42;n-inf;}}", "Value.a[42]: -inf cannot be stored"),
            ("{s1:f?function;}", "Value.f: a function cannot be stored"),
            (
                "{s1:t{s1:t?cycle;}}",
                "Value.t.t: a table that contains itself cannot be stored",
            ),
            ("{{}n1;}", "Value: a table key cannot be stored"),
            (
                "{?userdata;n1;}",
                "Value: a key that is a userdata cannot be stored",
            ),
            ("{ninf;n1;}", "Value: a key: inf cannot be stored"),
            ("{s3:a b{tnnan;}}", "Value[\"a b\"][true]: nan cannot"),
        ];
        for (text, want) in cases {
            let got = read(text).map(|v| v.to_luau_text()).unwrap_err();
            assert!(got.starts_with(want), "{text}: {got}");
        }
        let bad_utf8 = Value::from_luau_text(b"{s1:as1:\xff}", "Value").unwrap_err();
        assert_eq!(
            bad_utf8.to_string(),
            "Value.a: a string that is not valid UTF-8 cannot be stored"
        );
    }

    #[test]
    fn malformed_text_is_an_error_not_a_panic() {
        for text in [
            "{",
            "[",
            "s5:ab",
            "n1",
            "x",
            "{n1;}",
            "t t",
            "s99999999999999999999:",
            "?x",
        ] {
            let err = read(text).unwrap_err();
            assert!(err.contains(": malformed value text"), "{text}: {err}");
        }
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(read(&deep).unwrap_err().contains("nesting deeper than 512"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read(&ok).is_ok());
    }
}
