//! The JS surface inside wasm (wasm-bindgen-test), run under Node and under headless Chromium
//! (`make test-wasm`). It checks what only a real JS engine can: conversion of JS values,
//! including the ones a DataStore cannot hold.
#![cfg(all(target_arch = "wasm32", feature = "js"))]

use datastore_module::js::{compress, decompress_to_json, value_from_js};
use js_sys::{Function, Reflect, JSON};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn js(source: &str) -> JsValue {
    Function::new_no_args(&format!("return ({source});"))
        .call0(&JsValue::NULL)
        .unwrap()
}

fn compress_error(source: &str) -> String {
    let err = compress(&js(source), &JsValue::UNDEFINED)
        .err()
        .expect("an error");
    let err: JsValue = err.into();
    Reflect::get(&err, &"message".into())
        .unwrap()
        .as_string()
        .unwrap()
}

#[wasm_bindgen_test]
fn objects_and_arrays_round_trip() {
    let value = js(r#"{ Coins: 10, Items: ["Sword", "Shield"], Pos: { x: -2.5 }, Ok: true }"#);
    let text = compress(&value, &JsValue::UNDEFINED).unwrap();
    assert_eq!(
        text,
        "*#Coins\x7f>a#Items\x7f|#Sword\x7f#Shield\x7f\x7f#Pos\x7f*#x\x7f(au\x7f#Ok\x7f+\x7f"
    );
    let json = decompress_to_json(&text, &JsValue::UNDEFINED)
        .unwrap()
        .unwrap();
    let back = JSON::parse(&json).unwrap();
    assert_eq!(
        JSON::stringify(&back).unwrap(),
        JSON::stringify(&value).unwrap()
    );
}

#[wasm_bindgen_test]
fn options_object_is_read_like_metadata_compress() {
    let text = compress(&js("[1.5, true]"), &js("{ Level: 1, Decimals: 1 }")).unwrap();
    assert_eq!(text, "*>1)f>2+\x7f");
}

#[wasm_bindgen_test]
fn undefined_and_null_properties_are_absent_keys() {
    let text = compress(&js("{ a: undefined, b: null, c: 1 }"), &JsValue::UNDEFINED).unwrap();
    assert_eq!(text, "*#c\x7f>1\x7f");
}

#[wasm_bindgen_test]
fn unstorable_values_are_rejected_with_their_path() {
    assert_eq!(
        compress_error("{ Inventory: [1, 2, 3, NaN] }"),
        "value.Inventory[3]: NaN cannot be stored"
    );
    assert_eq!(
        compress_error("{ x: Infinity }"),
        "value.x: Infinity cannot be stored"
    );
    assert_eq!(
        compress_error("{ x: -Infinity }"),
        "value.x: -Infinity cannot be stored"
    );
    assert!(compress_error("{ f() {} }").starts_with("value.f: a function"));
    assert!(compress_error("{ s: Symbol('x') }").starts_with("value.s: a symbol"));
    assert!(compress_error("{ n: 10n }").starts_with("value.n: a BigInt"));
    assert!(compress_error("[1, , 3]").starts_with("value[1]: a hole or undefined inside an array"));
    assert!(compress_error("[1, null]").starts_with("value[1]: null inside an array"));
    assert!(compress_error("{ 'a b': ['\\ud800'] }")
        .starts_with(r#"value["a b"][0]: a string with an unpaired surrogate"#));
    assert!(
        compress_error("{ d: new Date(0) }").starts_with("value.d: a Date object cannot be stored")
    );
    assert!(
        compress_error("(() => { const a = { b: {} }; a.b.c = a; return a; })()")
            .starts_with("value.b.c: a cycle")
    );
}

#[wasm_bindgen_test]
fn shared_subtables_are_not_cycles() {
    let text = compress(
        &js("(() => { const s = [1]; return { a: s, b: s }; })()"),
        &JsValue::UNDEFINED,
    )
    .unwrap();
    assert_eq!(text, "*#a\x7f|>1\x7f#b\x7f|>1\x7f\x7f");
}

#[wasm_bindgen_test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = js("(() => { let v = 1; for (let i = 0; i < 100000; i++) v = [v]; return v; })()");
    let err: JsValue = compress(&deep, &JsValue::UNDEFINED).err().unwrap().into();
    let message = Reflect::get(&err, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(message.contains("nesting deeper than"), "{message}");
}

#[wasm_bindgen_test]
fn corrupt_text_decodes_to_a_value_or_an_error() {
    for input in ["", ">", "garbage>5", "|>1>2", "*#a", "||||||||", "\x7f\x7f"] {
        let _ = decompress_to_json(input, &JsValue::UNDEFINED);
    }
    assert_eq!(
        decompress_to_json("garbage>5", &JsValue::UNDEFINED)
            .unwrap()
            .as_deref(),
        Some("5")
    );
    assert_eq!(decompress_to_json("", &JsValue::UNDEFINED).unwrap(), None);
}

#[wasm_bindgen_test]
fn value_from_js_keeps_key_order() {
    let v = value_from_js(&js("{ z: 1, a: 2, m: [true] }"), "Value").unwrap();
    assert_eq!(v.to_json_string(), r#"{"z":1,"a":2,"m":[true]}"#);
}
