//! Templates: filling missing data from a default (spec §10.1), used by `Open(template)`,
//! `Read(template)` and `Reconcile(template)`.
//!
//! The rule: a nil value becomes a deep copy of the template (whatever its type); a table gets
//! every non-number key it lacks, recursively through sub-tables that both sides have, and
//! nothing present is ever overwritten or removed. [`apply_template`] does this on a [`Value`].
//!
//! The live value belongs to the host (a JS object or Luau table that users hold references
//! into), so the core cannot replace it with a reconciled copy: the host has to fill its own
//! table in place. [`template_patch`] therefore describes the change as a [`Patch`] (replace the
//! whole value, or insert these keys at these paths) that the host carries out;
//! [`apply_patch`] is the same thing for a [`Value`] and gives exactly what [`apply_template`]
//! gives.
//!
//! Deep clone (spec §10.2, `Clone()`) is [`Value::clone`]: a `Value` owns all its sub-tables, so
//! a clone never shares one, and metatables do not exist in the model.
//!
//! Luau tables that are sequences are [`Value::Array`] here. When a template adds a string key
//! to a sequence, Luau simply has a mixed table (`{1, 2, Coins = 0}`); in the model the array
//! becomes a [`Value::Table`] with number keys `1..n` followed by the new keys.

use crate::value::{Key, Table, Value, MAX_DEPTH};

/// How to bring the host's value in line with a template (see [`template_patch`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Patch {
    /// The value was nil: it becomes this copy of the template.
    Replace(Value),
    /// Set each key, in order, on the host's existing tables. Empty when nothing is missing.
    Inserts(Vec<Insert>),
}

/// One missing key: `path[..last]` leads from the root through existing tables to the table
/// that gets `path[last] = value`. Paths never contain number keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Insert {
    pub path: Vec<Key>,
    pub value: Value,
}

impl Insert {
    /// `default` for the missing `key` of the table at `path`.
    fn missing(path: &[Key], key: &Key, default: &Value) -> Insert {
        let mut at = path.to_vec();
        at.push(key.clone());
        Insert {
            path: at,
            value: default.clone(),
        }
    }
}

impl Patch {
    /// Whether applying the patch would change nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Patch::Inserts(inserts) if inserts.is_empty())
    }
}

/// Applies `template` to `value` in place (spec §10.1): nil takes a copy of the template, a table
/// is reconciled with a table template, any other pairing is left alone.
pub fn apply_template(value: &mut Value, template: &Value) {
    if matches!(value, Value::Nil) {
        *value = template.clone();
    } else if value.is_table() && template.is_table() {
        reconcile(value, template);
    }
}

/// The template entries that reconciling looks at: number keys are never reconciled (so an
/// array template contributes nothing), and a nil value is an absent key.
fn reconciled_entries(template: &Value) -> impl Iterator<Item = (&Key, &Value)> {
    let entries = match template {
        Value::Table(map) => Some(map.iter()),
        _ => None,
    };
    entries
        .into_iter()
        .flatten()
        .filter(|(key, value)| !matches!(key, Key::Number(_)) && !matches!(value, Value::Nil))
}

/// Fills the keys `target` lacks from `template`; both are tables.
fn reconcile(target: &mut Value, template: &Value) {
    for (key, default) in reconciled_entries(template) {
        match get_mut(target, key) {
            None => set(target, key.clone(), default.clone()),
            Some(existing) if existing.is_table() && default.is_table() => {
                reconcile(existing, default)
            }
            // The existing value wins, even over a different type.
            Some(_) => {}
        }
    }
}

/// What [`apply_template`] would do to `value`, as steps the host can carry out on its own
/// table without replacing it.
pub fn template_patch(value: &Value, template: &Value) -> Patch {
    if matches!(value, Value::Nil) {
        return Patch::Replace(template.clone());
    }
    let mut inserts = Vec::new();
    if value.is_table() && template.is_table() {
        collect_inserts(value, template, &mut Vec::new(), &mut inserts);
    }
    Patch::Inserts(inserts)
}

fn collect_inserts(target: &Value, template: &Value, path: &mut Vec<Key>, out: &mut Vec<Insert>) {
    for (key, default) in reconciled_entries(template) {
        match get(target, key) {
            None => out.push(Insert::missing(path, key, default)),
            Some(existing) if existing.is_table() && default.is_table() => {
                path.push(key.clone());
                collect_inserts(existing, default, path, out);
                path.pop();
            }
            Some(_) => {}
        }
    }
}

/// Carries out a [`Patch`] on a [`Value`]: `apply_patch(v, &template_patch(v, t))` leaves `v`
/// exactly as `apply_template(v, t)` would. An insert whose path no longer leads to a table (a
/// patch made for another value) is skipped.
pub fn apply_patch(value: &mut Value, patch: &Patch) {
    match patch {
        Patch::Replace(new) => *value = new.clone(),
        Patch::Inserts(inserts) => {
            for insert in inserts {
                insert_at(value, &insert.path, &insert.value);
            }
        }
    }
}

fn insert_at(table: &mut Value, path: &[Key], value: &Value) {
    match path {
        [] => {}
        [key] => {
            if table.is_table() {
                set(table, key.clone(), value.clone());
            }
        }
        [key, rest @ ..] => {
            if let Some(next) = get_mut(table, key) {
                insert_at(next, rest, value);
            }
        }
    }
}

/// [`apply_template`] on the JSON text of a value, as `Value::to_json_string` writes it, for a
/// load decoded straight to JSON (issue 13: building the tree only to fill in a template cost an
/// `Open(template)` five times a plain `Open` without wasm). The missing entries' JSON is
/// spliced in where the tree would append them, so the text is exactly the tree's.
///
/// `None` when the text cannot say what the tree would be, and the caller takes the tree: a
/// template entry that would turn a sequence into a mixed table, a key present as `null`, a
/// key that is not a string, a default JSON does not carry exactly, or text not in that form.
/// Also `None` for a template nested `MAX_DEPTH` tables deep: the result nests no deeper than
/// the text or the template, and a loaded value's JSON stays one level short of the limit
/// ([`crate::session::LoadedValue::Json`]).
pub fn apply_template_json(json: &str, template: &Value) -> Option<String> {
    if !template.nests_within(MAX_DEPTH - 1) {
        return None;
    }
    let bytes = json.as_bytes();
    match (bytes.first(), template) {
        (Some(b'n'), _) if json == "null" => template
            .json_round_trips()
            .then(|| template.to_json_string()),
        (Some(b'{' | b'['), Value::Table(_) | Value::Array(_)) => {
            let mut out = String::with_capacity(json.len() + 64);
            let end = reconcile_json(json, 0, template, &mut out)?;
            (end == bytes.len()).then_some(out)
        }
        _ => Some(json.to_owned()),
    }
}

/// Writes the table at `at` (`{` or `[`) with `template`'s missing entries added; gives the
/// position after it.
fn reconcile_json(json: &str, at: usize, template: &Value, out: &mut String) -> Option<usize> {
    let bytes = json.as_bytes();
    let entries: Vec<(&Key, &Value)> = reconciled_entries(template).collect();
    if entries.is_empty() {
        let end = skip_json(bytes, at)?;
        out.push_str(&json[at..end]);
        return Some(end);
    }
    let mut keys = Vec::with_capacity(entries.len());
    for (key, default) in &entries {
        let Key::String(name) = key else { return None };
        if !default.json_round_trips() {
            return None;
        }
        let mut quoted = String::new();
        crate::value::write_json_string(name, &mut quoted);
        keys.push(quoted);
    }
    if bytes[at] == b'[' {
        // A sequence gets string keys only when empty (then it is a table of them alone).
        if bytes.get(at + 1) != Some(&b']') {
            return None;
        }
        out.push('{');
        for (i, ((_, default), key)) in entries.iter().zip(&keys).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            default.write_json(out);
        }
        out.push('}');
        return Some(at + 2);
    }
    let (members, end) = object_members(json, at)?;
    let mut missing = Vec::new();
    // Sub-tables both sides have, by position, with their templates.
    let mut nested: Vec<(usize, &Value)> = Vec::new();
    for ((_, default), key) in entries.iter().zip(&keys) {
        match members.iter().find(|(k, ..)| k == key) {
            None => missing.push((key, *default)),
            Some((_, start, _)) if json[*start..].starts_with("null") => return None,
            Some((_, start, _)) => {
                if matches!(bytes[*start], b'{' | b'[') && default.is_table() {
                    nested.push((*start, *default));
                }
            }
        }
    }
    nested.sort_by_key(|(start, _)| *start);
    let mut copied = at;
    for (start, default) in nested {
        out.push_str(&json[copied..start]);
        copied = reconcile_json(json, start, default, out)?;
    }
    // Up to the closing brace, then the missing entries in the template's order.
    out.push_str(&json[copied..end - 1]);
    for (i, (key, default)) in missing.into_iter().enumerate() {
        if i > 0 || !members.is_empty() {
            out.push(',');
        }
        out.push_str(key);
        out.push(':');
        default.write_json(out);
    }
    out.push('}');
    Some(end)
}

/// An object's members: each one's quoted key, and where its value starts and ends.
type Members<'a> = Vec<(&'a str, usize, usize)>;

/// The members of the JSON object at `at` (`{`), in one scan of the text, and the position
/// after the object.
fn object_members(json: &str, at: usize) -> Option<(Members<'_>, usize)> {
    let bytes = json.as_bytes();
    let mut members: Members = Vec::new();
    let mut pos = at + 1;
    while bytes.get(pos) != Some(&b'}') {
        if !members.is_empty() {
            (bytes.get(pos) == Some(&b',')).then_some(())?;
            pos += 1;
        }
        let key_end = skip_json(bytes, pos)?;
        (bytes.get(pos) == Some(&b'"') && bytes.get(key_end) == Some(&b':')).then_some(())?;
        let value_end = skip_json(bytes, key_end + 1)?;
        members.push((&json[pos..key_end], key_end + 1, value_end));
        pos = value_end;
    }
    Some((members, pos + 1))
}

/// [`template_patch`] read off the JSON text of a value, as `Value::to_json_string` writes it,
/// without building the value (issue 13: a `Reconcile` of a 64 KB record spent 17 ms without
/// wasm building a tree whose keys it barely looks at). Only the tables on the template's paths
/// are scanned for their keys; everything else is skipped.
///
/// `None` when the text cannot say what the tree would, and the caller takes the tree: a nil
/// value, a non-empty sequence the template has entries for, a key that is not a string, a key
/// present as `null`, or text not in that form.
pub fn template_patch_json(json: &str, template: &Value) -> Option<Patch> {
    let bytes = json.as_bytes();
    match bytes.first()? {
        b'{' | b'[' if template.is_table() => {
            let mut inserts = Vec::new();
            let end = collect_inserts_json(json, 0, template, &mut Vec::new(), &mut inserts)?;
            (end == bytes.len()).then_some(Patch::Inserts(inserts))
        }
        _ if json == "null" => None,
        _ => Some(Patch::Inserts(Vec::new())),
    }
}

/// [`collect_inserts`] for the table at `at` in `json`; gives the position after it.
fn collect_inserts_json(
    json: &str,
    at: usize,
    template: &Value,
    path: &mut Vec<Key>,
    out: &mut Vec<Insert>,
) -> Option<usize> {
    let bytes = json.as_bytes();
    let entries: Vec<(&Key, &Value)> = reconciled_entries(template).collect();
    if entries.is_empty() {
        return skip_json(bytes, at);
    }
    let (members, end) = match bytes[at] {
        // An empty table lacks every key; a sequence with items is for the tree.
        b'[' if bytes.get(at + 1) == Some(&b']') => (Vec::new(), at + 2),
        b'[' => return None,
        _ => object_members(json, at)?,
    };
    for (key, default) in entries {
        let Key::String(name) = key else { return None };
        let mut quoted = String::new();
        crate::value::write_json_string(name, &mut quoted);
        match members.iter().find(|(k, ..)| *k == quoted) {
            None => out.push(Insert::missing(path, key, default)),
            Some((_, start, _)) if json[*start..].starts_with("null") => return None,
            Some((_, start, _)) => {
                if matches!(bytes[*start], b'{' | b'[') && default.is_table() {
                    path.push(key.clone());
                    collect_inserts_json(json, *start, default, path, out)?;
                    path.pop();
                }
            }
        }
    }
    Some(end)
}

/// The position after the JSON value (or object key) starting at `at`; `None` if there is none.
fn skip_json(bytes: &[u8], at: usize) -> Option<usize> {
    let mut pos = at;
    let mut depth = 0usize;
    loop {
        match *bytes.get(pos)? {
            b'"' => {
                pos += 1;
                loop {
                    match *bytes.get(pos)? {
                        b'"' => break,
                        b'\\' => pos += 2,
                        _ => pos += 1,
                    }
                }
                pos += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                pos += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                pos += 1;
            }
            b',' | b':' if depth > 0 => pos += 1,
            b',' | b':' => return None,
            _ => {
                // A number or a literal: up to the next delimiter.
                let start = pos;
                while bytes
                    .get(pos)
                    .is_some_and(|b| !matches!(b, b',' | b':' | b'}' | b']'))
                {
                    pos += 1;
                }
                (pos > start).then_some(())?;
            }
        }
        if depth == 0 {
            return Some(pos);
        }
    }
}

/// `table[key]` as Luau reads it (nil values are absent); `None` for non-tables too.
fn get<'a>(table: &'a Value, key: &Key) -> Option<&'a Value> {
    let found = match table {
        Value::Array(items) => sequence_index(key, items.len()).map(|i| &items[i]),
        Value::Table(map) => map.get(key),
        _ => None,
    };
    found.filter(|v| !matches!(v, Value::Nil))
}

fn get_mut<'a>(table: &'a mut Value, key: &Key) -> Option<&'a mut Value> {
    let found = match table {
        Value::Array(items) => {
            let len = items.len();
            sequence_index(key, len).map(move |i| &mut items[i])
        }
        Value::Table(map) => map.get_mut(key),
        _ => None,
    };
    found.filter(|v| !matches!(v, Value::Nil))
}

/// The 0-based position of a number key `1..=len` in an array.
fn sequence_index(key: &Key, len: usize) -> Option<usize> {
    match key {
        Key::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n <= len as f64 => {
            Some(*n as usize - 1)
        }
        _ => None,
    }
}

/// `table[key] = value` on a table. A key that does not extend an array's sequence turns the
/// array into a table (Luau's mixed table), keeping its items as keys `1..n` first.
fn set(table: &mut Value, key: Key, value: Value) {
    if let Value::Array(items) = table {
        if let Some(i) = sequence_index(&key, items.len()) {
            items[i] = value;
            return;
        }
        if matches!(key, Key::Number(n) if n == (items.len() + 1) as f64) {
            items.push(value);
            return;
        }
        let items = std::mem::take(items);
        let mut map = Table::with_capacity(items.len() + 1);
        for (i, item) in items.into_iter().enumerate() {
            map.insert(Key::Number((i + 1) as f64), item);
        }
        *table = Value::Table(map);
    }
    if let Value::Table(map) = table {
        map.insert(key, value);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(text: &str) -> Value {
        Value::from_json_str(text, "Value").unwrap()
    }

    fn table(entries: Vec<(Key, Value)>) -> Value {
        Value::Table(entries.into_iter().collect())
    }

    fn applied(value: &Value, template: &Value) -> Value {
        let mut v = value.clone();
        apply_template(&mut v, template);
        v
    }

    #[test]
    fn nil_value_becomes_a_copy_of_the_template() {
        let template = json(r#"{"Coins":0,"Items":["Sword"]}"#);
        assert_eq!(applied(&Value::Nil, &template), template);
        assert_eq!(
            template_patch(&Value::Nil, &template),
            Patch::Replace(template)
        );
    }

    #[test]
    fn nil_value_takes_a_template_of_any_type() {
        assert_eq!(
            applied(&Value::Nil, &Value::Number(5.0)),
            Value::Number(5.0)
        );
        assert_eq!(
            applied(&Value::Nil, &Value::String("x".into())),
            Value::String("x".into())
        );
        assert_eq!(applied(&Value::Nil, &Value::Nil), Value::Nil);
    }

    #[test]
    fn missing_keys_are_filled_from_the_template() {
        let value = json(r#"{"Coins":10}"#);
        let template = json(r#"{"Coins":0,"Gems":5,"Settings":{"Music":true}}"#);
        assert_eq!(
            applied(&value, &template),
            json(r#"{"Coins":10,"Gems":5,"Settings":{"Music":true}}"#)
        );
    }

    #[test]
    fn template_never_overwrites_existing_values() {
        let value = json(r#"{"Coins":10,"Name":"a","Flag":false}"#);
        let template = json(r#"{"Coins":0,"Name":"b","Flag":true}"#);
        assert_eq!(applied(&value, &template), value);
    }

    #[test]
    fn existing_value_wins_even_over_a_different_type() {
        let value = json(r#"{"Settings":5,"Level":{"x":1}}"#);
        let template = json(r#"{"Settings":{"Music":true},"Level":1}"#);
        assert_eq!(applied(&value, &template), value);
    }

    #[test]
    fn template_never_removes_keys() {
        let value = json(r#"{"Old":1,"Settings":{"Legacy":true}}"#);
        let template = json(r#"{"Settings":{"Music":true}}"#);
        assert_eq!(
            applied(&value, &template),
            json(r#"{"Old":1,"Settings":{"Legacy":true,"Music":true}}"#)
        );
    }

    #[test]
    fn sub_tables_are_reconciled_recursively() {
        let value = json(r#"{"A":{"B":{"C":1}}}"#);
        let template = json(r#"{"A":{"B":{"C":0,"D":2},"E":3}}"#);
        assert_eq!(
            applied(&value, &template),
            json(r#"{"A":{"B":{"C":1,"D":2},"E":3}}"#)
        );
    }

    #[test]
    fn type_mismatch_at_the_top_keeps_the_value() {
        let template = json(r#"{"Coins":0}"#);
        assert_eq!(applied(&Value::Number(3.0), &template), Value::Number(3.0));
        let value = json(r#"{"Coins":1}"#);
        assert_eq!(applied(&value, &Value::Number(3.0)), value);
        assert_eq!(
            template_patch(&Value::Number(3.0), &template),
            Patch::Inserts(vec![])
        );
    }

    #[test]
    fn number_keys_in_templates_are_skipped() {
        let value = table(vec![(Key::from("a"), Value::Bool(true))]);
        let template = table(vec![
            (Key::Number(1.0), Value::String("x".into())),
            (Key::Number(7.5), Value::Bool(false)),
            (Key::from("b"), Value::Number(2.0)),
        ]);
        assert_eq!(
            applied(&value, &template),
            table(vec![
                (Key::from("a"), Value::Bool(true)),
                (Key::from("b"), Value::Number(2.0)),
            ])
        );
    }

    #[test]
    fn array_template_contributes_nothing() {
        let value = json(r#"{"Items":[]}"#);
        let template = json(r#"{"Items":["Sword","Shield"]}"#);
        assert_eq!(applied(&value, &template), value);
        assert!(template_patch(&value, &template).is_empty());
        // Missing entirely, the array is copied whole like any other value.
        assert_eq!(applied(&json("{}"), &template), template);
    }

    #[test]
    fn boolean_keys_take_part() {
        let template = table(vec![(Key::Bool(true), Value::Number(1.0))]);
        assert_eq!(applied(&json("{}"), &template), template);
    }

    #[test]
    fn array_that_receives_string_keys_becomes_a_mixed_table() {
        let value = json(r#"[10,20]"#);
        let template = json(r#"{"Coins":0}"#);
        assert_eq!(
            applied(&value, &template),
            table(vec![
                (Key::Number(1.0), Value::Number(10.0)),
                (Key::Number(2.0), Value::Number(20.0)),
                (Key::from("Coins"), Value::Number(0.0)),
            ])
        );
        // An empty array is an empty table.
        assert_eq!(applied(&Value::Array(vec![]), &template), template);
    }

    #[test]
    fn template_is_copied_not_shared() {
        let template = json(r#"{"Settings":{"Music":true}}"#);
        let mut value = applied(&json("{}"), &template);
        apply_template(&mut value, &json(r#"{"Settings":{"Sound":1}}"#));
        assert_eq!(template, json(r#"{"Settings":{"Music":true}}"#));
    }

    #[test]
    fn patch_lists_inserts_with_full_paths_in_order() {
        let value = json(r#"{"A":{"B":1},"C":[1]}"#);
        let template = json(r#"{"A":{"B":0,"D":{"E":1}},"C":{"F":2},"G":3}"#);
        assert_eq!(
            template_patch(&value, &template),
            Patch::Inserts(vec![
                Insert {
                    path: vec![Key::from("A"), Key::from("D")],
                    value: json(r#"{"E":1}"#),
                },
                Insert {
                    path: vec![Key::from("C"), Key::from("F")],
                    value: Value::Number(2.0),
                },
                Insert {
                    path: vec![Key::from("G")],
                    value: Value::Number(3.0),
                },
            ])
        );
    }

    #[test]
    fn patch_that_no_longer_fits_is_skipped() {
        let patch = Patch::Inserts(vec![Insert {
            path: vec![Key::from("Missing"), Key::from("x")],
            value: Value::Bool(true),
        }]);
        let mut value = json(r#"{"a":1}"#);
        apply_patch(&mut value, &patch);
        assert_eq!(value, json(r#"{"a":1}"#));
    }

    /// Random Luau-like values for property tests: few distinct keys so that value and template
    /// overlap, and every shape (arrays, mixed tables, number and boolean keys).
    pub(crate) fn value_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            prop_oneof![
                (-1000i32..1000).prop_map(f64::from),
                any::<f64>().prop_filter("finite", |n| n.is_finite()),
            ]
            .prop_map(Value::Number),
            "[a-c\"\\\\/\u{7f}\n\u{1}é]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            let key = prop_oneof![
                4 => "[a-d]".prop_map(Key::String),
                1 => (1u8..4).prop_map(|n| Key::Number(f64::from(n))),
                1 => Just(Key::Number(0.5)),
                1 => any::<bool>().prop_map(Key::Bool),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..5)
                    .prop_map(|entries| Value::Table(entries.into_iter().collect())),
            ]
        })
    }

    /// What `apply_template_json` must give when it gives anything: the tree's JSON, and only
    /// for a tree that JSON carries exactly.
    fn check_json_path(value: &Value, template: &Value) -> Option<String> {
        let spliced = apply_template_json(&value.to_json_string(), template)?;
        let tree = applied(value, template);
        assert!(tree.json_round_trips(), "{value:?} with {template:?}");
        assert_eq!(
            spliced,
            tree.to_json_string(),
            "{value:?} with {template:?}"
        );
        Some(spliced)
    }

    #[test]
    fn a_template_is_spliced_into_json_as_the_tree_would_have_it() {
        let value = json(
            r#"{"Coins":10,"Inventory":[{"Id":"Sword"}],"Stats":{"Level":3},"Quests":[],"Name":"a\"b"}"#,
        );
        let template = json(
            r#"{"Coins":0,"Gems":5,"Stats":{"Level":1,"Xp":0.25},"Quests":{"Daily":[]},"Settings":{"Music":true},"a\"b":"é"}"#,
        );
        // Missing keys at the end, in the template's order; an empty sequence takes string keys.
        assert!(check_json_path(&value, &template).is_some());
        // Each template in turn, as the joined callers' are.
        assert!(
            check_json_path(&applied(&value, &template), &json(r#"{"Gems":1,"New":{}}"#)).is_some()
        );
        // Nothing to add, a nil value, a value that is no table, a template that is none.
        assert!(check_json_path(&value, &json(r#"{"Coins":0}"#)).is_some());
        assert!(check_json_path(&Value::Nil, &template).is_some());
        assert!(check_json_path(&Value::Number(1.0), &template).is_some());
        assert!(check_json_path(&value, &Value::Number(1.0)).is_some());
        assert!(check_json_path(&json("{}"), &template).is_some());
    }

    #[test]
    fn json_the_text_cannot_reconcile_exactly_is_left_to_the_tree() {
        let value = json(r#"{"Items":[1,2],"Gone":null}"#);
        // A string key for a non-empty sequence makes a mixed table; a present null is
        // replaced where it stands; a default with a number key is not JSON; nor a bool key.
        assert_eq!(
            check_json_path(&value, &json(r#"{"Items":{"Max":3}}"#)),
            None
        );
        let with_nil = table(vec![(Key::String("Gone".into()), Value::Nil)]);
        assert_eq!(check_json_path(&with_nil, &json(r#"{"Gone":1}"#)), None);
        let mixed = table(vec![(Key::Number(2.0), Value::Bool(true))]);
        assert_eq!(
            check_json_path(&value, &table(vec![(Key::String("New".into()), mixed)])),
            None
        );
        assert_eq!(
            check_json_path(&value, &table(vec![(Key::Bool(true), Value::Bool(true))])),
            None
        );
        assert_eq!(apply_template_json("{\"a\":", &json(r#"{"b":1}"#)), None);
        assert_eq!(apply_template_json("{\"a\":1}}", &json(r#"{"b":1}"#)), None);
    }

    #[test]
    fn a_patch_is_read_off_json_as_the_tree_would_give_it() {
        let value = json(
            r#"{"Coins":10,"Inventory":[{"Id":"Sword"}],"Stats":{"Level":3},"Quests":[],"Name":"a\"b"}"#,
        );
        let template = json(
            r#"{"Coins":0,"Gems":5,"Stats":{"Level":1,"Xp":0.25},"Quests":{"Daily":[]},"Inventory":{},"a\"b":"é"}"#,
        );
        let patch = template_patch_json(&value.to_json_string(), &template);
        assert_eq!(patch, Some(template_patch(&value, &template)));
        let Some(Patch::Inserts(inserts)) = patch else {
            unreachable!()
        };
        let paths: Vec<Vec<String>> = inserts
            .iter()
            .map(|i| i.path.iter().map(Key::to_luau_string).collect())
            .collect();
        assert_eq!(
            paths,
            [
                vec!["Gems"],
                vec!["Stats", "Xp"],
                vec!["Quests", "Daily"],
                vec!["a\"b"]
            ]
        );
        // What the text cannot say goes to the tree: nil, a key present as null, a sequence with
        // items that the template has keys for; other values need nothing.
        assert_eq!(template_patch_json("null", &template), None);
        assert_eq!(template_patch_json(r#"{"Stats":null}"#, &template), None);
        assert_eq!(template_patch_json(r#"{"Stats":[1]}"#, &template), None);
        assert_eq!(
            template_patch_json("12", &template),
            Some(Patch::Inserts(Vec::new()))
        );
    }

    /// `value` with some of its tables' entries taken out (where `drops` says so), all the way
    /// down.
    fn thinned<'a>(value: &Value, drops: &mut impl Iterator<Item = &'a bool>) -> Value {
        match value {
            Value::Table(map) => {
                let mut kept = Table::new();
                for (k, v) in map.iter() {
                    if !drops.next().copied().unwrap_or(false) {
                        kept.insert(k.clone(), thinned(v, drops));
                    }
                }
                Value::Table(kept)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| thinned(v, drops)).collect()),
            other => other.clone(),
        }
    }

    /// `value` with every table key a string (its text), so that JSON carries it exactly.
    fn json_exact(value: Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.into_iter().map(json_exact).collect()),
            Value::Table(map) => Value::Table(
                map.into_iter()
                    .map(|(k, v)| (Key::String(k.to_luau_string()), json_exact(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    fn value_or_nil() -> impl Strategy<Value = Value> {
        prop_oneof![1 => Just(Value::Nil), 6 => value_strategy()]
    }

    proptest! {
        #[test]
        fn applying_the_patch_equals_applying_the_template(
            value in value_or_nil(),
            template in value_strategy(),
        ) {
            let patch = template_patch(&value, &template);
            let mut patched = value.clone();
            apply_patch(&mut patched, &patch);
            prop_assert_eq!(patched, applied(&value, &template));
        }

        #[test]
        fn a_template_spliced_into_json_is_the_tree_s_json(
            // The JSON a load decodes to is only ever that of a tree JSON carries exactly.
            value in value_or_nil().prop_map(json_exact),
            template in value_or_nil(),
        ) {
            check_json_path(&value, &template);
        }

        #[test]
        fn a_patch_read_off_json_is_the_tree_s_patch(
            // What `wire::template_patch` streams to JSON is a tree JSON carries exactly; half
            // the values are their template with entries taken out, so that sub-tables meet.
            template in value_or_nil().prop_map(json_exact),
            other in value_or_nil().prop_map(json_exact),
            drops in prop::collection::vec(any::<bool>(), 64),
        ) {
            for value in [other, thinned(&template, &mut drops.iter().cycle())] {
                if let Some(patch) = template_patch_json(&value.to_json_string(), &template) {
                    prop_assert_eq!(patch, template_patch(&value, &template));
                }
            }
        }

        #[test]
        fn applying_a_template_twice_changes_nothing_more(
            value in value_or_nil(),
            template in value_strategy(),
        ) {
            let once = applied(&value, &template);
            prop_assert_eq!(applied(&once, &template), once.clone());
            prop_assert!(template_patch(&once, &template).is_empty());
        }

        #[test]
        fn existing_entries_survive_a_template(
            value in value_strategy(),
            template in value_strategy(),
        ) {
            // Every key the value had still holds its value, except that sub-tables may grow.
            fn kept(before: &Value, after: &Value) -> bool {
                match (before, after) {
                    (Value::Table(b), _) => b.iter().all(|(k, v)| {
                        matches!(v, Value::Nil) || get(after, k).is_some_and(|a| kept(v, a))
                    }),
                    (Value::Array(b), _) => b.iter().enumerate().all(|(i, v)| {
                        get(after, &Key::Number((i + 1) as f64)).is_some_and(|a| kept(v, a))
                    }),
                    _ => before == after,
                }
            }
            let after = applied(&value, &template);
            prop_assert!(kept(&value, &after));
        }
    }
}
