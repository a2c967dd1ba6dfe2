//! The JS bindings inside a real JS engine (wasm-bindgen-test), under Node and under headless
//! Chromium (`make test-wasm`): JSON in, the original's bytes out, errors as JS `Error`s.
#![cfg(all(target_arch = "wasm32", feature = "js"))]

use datastore_module::js::{compress_json, decompress_to_json};
use js_sys::{Error, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn message(err: wasm_bindgen::JsError) -> String {
    let err: JsValue = err.into();
    assert!(
        err.is_instance_of::<Error>(),
        "errors reach JS as Error objects"
    );
    err.unchecked_into::<Error>().message().into()
}

#[wasm_bindgen_test]
fn objects_and_arrays_round_trip() {
    let value = r#"{"Coins":10,"Items":["Sword","Shield"],"Pos":{"x":-2.5},"Ok":true}"#;
    let text = compress_json(value.as_bytes(), "null").unwrap();
    assert_eq!(
        text,
        "*#Coins\x7f>a#Items\x7f|#Sword\x7f#Shield\x7f\x7f#Pos\x7f*#x\x7f(au\x7f#Ok\x7f+\x7f"
    );
    let json = decompress_to_json(text.as_bytes(), "null")
        .unwrap()
        .unwrap();
    let back = JSON::stringify(&JSON::parse(&json).unwrap()).unwrap();
    assert_eq!(String::from(back), value);
}

#[wasm_bindgen_test]
fn options_are_read_like_metadata_compress() {
    let text = compress_json(b"[1.5,true]", r#"{"Level":1,"Decimals":1}"#).unwrap();
    assert_eq!(text, "*>1)f>2+\x7f");
    let json = decompress_to_json(text.as_bytes(), r#"{"Decimals":1}"#).unwrap();
    assert_eq!(json.as_deref(), Some("[1.5,true]"));
}

#[wasm_bindgen_test]
fn null_properties_are_absent_keys() {
    assert_eq!(
        compress_json(br#"{"a":null,"c":1}"#, "null").unwrap(),
        "*#c\x7f>1\x7f"
    );
}

#[wasm_bindgen_test]
fn refusals_are_errors_naming_the_path() {
    let err = compress_json(br#"{"Inventory":[1,2,3,null]}"#, "null").unwrap_err();
    assert_eq!(
        message(err),
        "value.Inventory[3]: null inside an array cannot be stored (Luau arrays have no holes)"
    );
    let err = compress_json(b"{not json", "null").unwrap_err();
    assert_eq!(message(err), "value: invalid JSON");
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(message(compress_json(deep.as_bytes(), "null").unwrap_err())
        .contains("nesting deeper than"));
    let err = compress_json(b"1", r#"{"Decimals":"x"}"#).unwrap_err();
    assert!(!message(err).is_empty());
}

#[wasm_bindgen_test]
fn corrupt_text_decodes_to_a_value_or_an_error() {
    for input in ["", ">", "garbage>5", "|>1>2", "*#a", "||||||||", "\x7f\x7f"] {
        let _ = decompress_to_json(input.as_bytes(), "null");
    }
    let deep = "|".repeat(100_000);
    let _ = decompress_to_json(deep.as_bytes(), "null");
    assert_eq!(
        decompress_to_json(b"garbage>5", "null").unwrap().as_deref(),
        Some("5")
    );
    assert_eq!(decompress_to_json(b"", "null").unwrap(), None);
}

#[wasm_bindgen_test]
fn bytes_that_are_not_utf8_are_an_error() {
    let err = compress_json(b"\"\xff\"", "null").unwrap_err();
    assert_eq!(message(err), "value: the text is not UTF-8");
    let err = decompress_to_json(b"#\xff\x7f", "null").unwrap_err();
    assert_eq!(message(err), "text: the text is not UTF-8");
}

// ---- the emulator class behind MemoryStore (feature `js-emulator`) --------------------------

#[cfg(feature = "js-emulator")]
fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap()
}

#[cfg(feature = "js-emulator")]
#[wasm_bindgen_test]
fn emulator_replies_are_objects_with_latency_and_json_text() {
    use datastore_module::js::emulator::JsEmulator;
    let mut emu = JsEmulator::new(1.0, r#"{"latencyMs":25}"#).unwrap();
    let now = 1_767_225_600_000.0;
    let set = emu
        .data_set(
            now,
            "P",
            "global",
            "k",
            br#"{"a":[1,2]}"#,
            "[7]",
            "{}",
            None,
            None,
            None,
        )
        .unwrap();
    assert_eq!(get(&set, "latencyMs").as_f64(), Some(25.0));
    let version = get(&set, "version").as_string().unwrap();
    let got = emu.data_get(now + 1.0, "P", "global", "k").unwrap();
    let entry = get(&got, "entry");
    assert_eq!(get(&entry, "value").as_string().unwrap(), r#"{"a":[1,2]}"#);
    assert_eq!(get(&entry, "userIds").as_string().unwrap(), "[7]");
    assert_eq!(get(&entry, "metadata").as_string().unwrap(), "{}");
    assert_eq!(get(&entry, "version").as_string().unwrap(), version);
    assert_eq!(get(&entry, "createdTime").as_f64(), Some(now));
    let lock = emu
        .lock_acquire(now, "P/global/k", "A", 30.0, 7.0, false, None)
        .unwrap();
    assert!(get(&lock, "holder").is_undefined());
    assert!(get(&lock, "lapsed").is_undefined());
    let other = emu
        .lock_acquire(now, "P/global/k", "B", 30.0, 1.0, false, None)
        .unwrap();
    assert_eq!(get(&other, "holder").as_string().as_deref(), Some("A"));
    let renewed = emu
        .lock_acquire(now, "P/global/k", "A", 30.0, 8.0, true, Some(7.0))
        .unwrap();
    assert!(get(&renewed, "holder").is_undefined());
    assert!(get(&renewed, "lapsed").is_undefined());
    // A late unlock of another acquisition leaves the entry; the acquisition's own deletes it.
    let far = 2.0 * 4_294_967_296.0;
    emu.lock_release(now, "P/global/k", "A", far).unwrap();
    let still = emu
        .lock_acquire(now, "P/global/k", "B", 30.0, 1.0, false, None)
        .unwrap();
    assert_eq!(get(&still, "holder").as_string().as_deref(), Some("A"));
    emu.lock_release(now, "P/global/k", "A", 8.0).unwrap();
    let lapsed = emu
        .lock_acquire(now, "P/global/k", "A", 30.0, 9.0, true, Some(8.0))
        .unwrap();
    assert_eq!(get(&lapsed, "lapsed").as_bool(), Some(true));
    let fenced = emu
        .data_set(
            now,
            "P",
            "global",
            "k",
            b"2",
            "[]",
            "{}",
            Some("A".into()),
            Some(9.0),
            Some(1.0),
        )
        .unwrap_err();
    assert_eq!(get(&fenced, "kind").as_string().as_deref(), Some("Fenced"));
}

#[cfg(feature = "js-emulator")]
#[wasm_bindgen_test]
fn emulator_failures_are_errors_with_kind_code_and_latency() {
    use datastore_module::js::emulator::JsEmulator;
    let mut emu = JsEmulator::new(0.0, r#"{"transient":1,"latencyMs":[5,5]}"#).unwrap();
    let err = emu.data_get(0.0, "P", "global", "k").unwrap_err();
    assert!(err.is_instance_of::<Error>());
    assert_eq!(get(&err, "kind").as_string().as_deref(), Some("Transient"));
    assert_eq!(get(&err, "code").as_f64(), Some(502.0));
    assert_eq!(get(&err, "latencyMs").as_f64(), Some(5.0));
    let mut emu = JsEmulator::new(0.0, "null").unwrap();
    let fenced = emu
        .data_set(
            0.0,
            "P",
            "global",
            "k",
            b"1",
            "[]",
            "{}",
            Some("X".into()),
            Some(1.0),
            Some(1.0),
        )
        .unwrap_err();
    assert_eq!(get(&fenced, "kind").as_string().as_deref(), Some("Fenced"));
    assert!(get(&fenced, "code").is_undefined());
    let bad = emu.queue_read(-1.0, "q", 1.0, false, 30.0).unwrap_err();
    assert_eq!(
        get(&bad, "kind").as_string().as_deref(),
        Some("InvalidRequest")
    );
    assert!(JsEmulator::new(0.5, "null").is_err());
    assert!(JsEmulator::new(0.0, r#"{"nope":1}"#).is_err());
}
