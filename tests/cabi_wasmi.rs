//! The C-ABI build run by a non-JS wasm host (wasmi): proof that any host with a wasm
//! interpreter can use the core. `make test` passes the built wasm in `CABI_WASM`; a plain
//! `cargo test` builds it first.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use wasmi::{Caller, Engine, Extern, Instance, Linker, Memory, Module, Store, TypedFunc, Val};

include!("support/cabi_wasm.rs");

fn cabi_wasm() -> Vec<u8> {
    let path = cabi_wasm_path(&PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

struct Host {
    store: Store<Vec<String>>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    reply_free: TypedFunc<u32, ()>,
    instance: Instance,
}

impl Host {
    fn new() -> Host {
        let engine = Engine::default();
        let module = Module::new(&engine, cabi_wasm()).expect("valid wasm");
        for import in module.imports() {
            assert_eq!(
                import.module(),
                "host",
                "unexpected import {}.{}",
                import.module(),
                import.name()
            );
        }
        let mut store = Store::new(&engine, Vec::new());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "host",
                "log",
                |caller: Caller<Vec<String>>, ptr: u32, len: u32| {
                    let memory = caller
                        .get_export("memory")
                        .and_then(Extern::into_memory)
                        .unwrap();
                    let mut bytes = vec![0; len as usize];
                    memory.read(&caller, ptr as usize, &mut bytes).unwrap();
                    let _ = (caller, bytes);
                },
            )
            .unwrap();
        linker
            .func_wrap(
                "host",
                "random_fill",
                |mut caller: Caller<Vec<String>>, ptr: u32, len: u32| {
                    let memory = caller
                        .get_export("memory")
                        .and_then(Extern::into_memory)
                        .unwrap();
                    let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                    memory.write(&mut caller, ptr as usize, &bytes).unwrap();
                },
            )
            .unwrap();
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("instantiate");
        let memory = instance
            .get_memory(&store, "memory")
            .expect("memory export");
        Host {
            alloc: instance.get_typed_func(&store, "alloc").unwrap(),
            free: instance.get_typed_func(&store, "free").unwrap(),
            reply_free: instance.get_typed_func(&store, "reply_free").unwrap(),
            store,
            memory,
            instance,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> (u32, u32) {
        let len = bytes.len() as u32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        self.memory
            .write(&mut self.store, ptr as usize, bytes)
            .unwrap();
        (ptr, len)
    }

    /// Calls a `(ptr, len, ptr, len) -> reply` entry point; Ok(text) or Err(message).
    fn call(&mut self, name: &str, a: &[u8], b: &[u8]) -> Result<String, String> {
        let f: TypedFunc<(u32, u32, u32, u32), u32> =
            self.instance.get_typed_func(&self.store, name).unwrap();
        let (ap, al) = self.write(a);
        let (bp, bl) = self.write(b);
        let reply = f.call(&mut self.store, (ap, al, bp, bl)).expect("no trap");
        self.free.call(&mut self.store, (ap, al)).unwrap();
        self.free.call(&mut self.store, (bp, bl)).unwrap();
        assert_ne!(reply, 0, "out of memory");
        let mut header = [0u8; 8];
        self.memory
            .read(&self.store, reply as usize, &mut header)
            .unwrap();
        let status = u32::from_le_bytes(header[..4].try_into().unwrap());
        let len = u32::from_le_bytes(header[4..].try_into().unwrap());
        let mut body = vec![0; len as usize];
        self.memory
            .read(&self.store, reply as usize + 8, &mut body)
            .unwrap();
        self.reply_free.call(&mut self.store, reply).unwrap();
        let text = String::from_utf8(body).unwrap();
        if status == 0 {
            Ok(text)
        } else {
            Err(text)
        }
    }
}

#[test]
fn only_host_imports_and_a_value_round_trips() {
    let mut host = Host::new();
    let value = r#"{"Coins":10,"Items":["Sword","Shield"],"Pos":{"x":-2.5}}"#;
    let text = host.call("codec_compress", value.as_bytes(), b"").unwrap();
    assert_eq!(
        text,
        "*#Coins\x7f>a#Items\x7f|#Sword\x7f#Shield\x7f\x7f#Pos\x7f*#x\x7f(au\x7f\x7f"
    );
    let back = host.call("codec_decompress", text.as_bytes(), b"").unwrap();
    assert_eq!(back, value);
}

#[test]
fn level_one_and_decimals_options_are_honoured() {
    let mut host = Host::new();
    let text = host
        .call(
            "codec_compress",
            b"[1.5,true]",
            br#"{"Level":1,"Decimals":1}"#,
        )
        .unwrap();
    assert_eq!(text, "*>1)f>2+\x7f");
    let back = host
        .call("codec_decompress", text.as_bytes(), br#"{"Decimals":1}"#)
        .unwrap();
    assert_eq!(back, "[1.5,true]");
}

#[test]
fn bad_input_is_an_error_reply_not_a_trap() {
    let mut host = Host::new();
    let err = host
        .call("codec_compress", br#"{"a":[1,null]}"#, b"")
        .unwrap_err();
    assert!(err.starts_with("value.a[1]: null inside an array"), "{err}");
    let err = host.call("codec_compress", b"{not json", b"").unwrap_err();
    assert!(err.contains("invalid JSON"), "{err}");
    let err = host.call("codec_compress", &[0xff, 0xfe], b"").unwrap_err();
    assert!(err.contains("not UTF-8"), "{err}");
    // Corrupt compressed text decodes to a value or an error, and the instance stays usable.
    let _ = host.call("codec_decompress", &[b'|'; 100_000], b"");
    assert_eq!(host.call("codec_decompress", b">5", b"").unwrap(), "5");
}

/// An argument to a module export: a number, or a text written into memory (`ptr, len`).
#[derive(Clone, Copy)]
enum Arg<'a> {
    I(u32),
    F(f64),
    T(&'a str),
}

impl Host {
    /// Calls any export; text arguments become `(ptr, len)` pairs, freed after the call.
    fn raw(&mut self, name: &str, args: &[Arg]) -> Option<u32> {
        let func = self
            .instance
            .get_func(&self.store, name)
            .unwrap_or_else(|| panic!("no export {name}"));
        let mut params = Vec::new();
        let mut owned = Vec::new();
        for arg in args {
            match arg {
                Arg::I(n) => params.push(Val::I32(*n as i32)),
                Arg::F(x) => params.push(Val::F64((*x).into())),
                Arg::T(text) => {
                    let (ptr, len) = self.write(text.as_bytes());
                    owned.push((ptr, len));
                    params.push(Val::I32(ptr as i32));
                    params.push(Val::I32(len as i32));
                }
            }
        }
        let results = func.ty(&self.store).results().len();
        let mut out = vec![Val::I32(0); results];
        func.call(&mut self.store, &params, &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (ptr, len) in owned {
            self.free.call(&mut self.store, (ptr, len)).unwrap();
        }
        out.first().map(|v| v.i32().unwrap() as u32)
    }

    /// Calls an export that answers with a reply.
    fn reply(&mut self, name: &str, args: &[Arg]) -> Result<String, String> {
        let reply = self.raw(name, args).expect("a reply");
        assert_ne!(reply, 0, "out of memory");
        let mut header = [0u8; 8];
        self.memory
            .read(&self.store, reply as usize, &mut header)
            .unwrap();
        let status = u32::from_le_bytes(header[..4].try_into().unwrap());
        let len = u32::from_le_bytes(header[4..].try_into().unwrap());
        let mut body = vec![0; len as usize];
        self.memory
            .read(&self.store, reply as usize + 8, &mut body)
            .unwrap();
        self.reply_free.call(&mut self.store, reply).unwrap();
        let text = String::from_utf8(body).unwrap();
        if status == 0 {
            Ok(text)
        } else {
            Err(text)
        }
    }

    fn json(&mut self, name: &str, args: &[Arg]) -> serde_json::Value {
        let text = self.reply(name, args).unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"))
    }

    fn drain(&mut self, m: u32, export: &str) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        loop {
            let text = self.reply(export, &[Arg::I(m)]).unwrap();
            if text.is_empty() {
                return all;
            }
            all.push(serde_json::from_str(&text).unwrap());
        }
    }
}

#[test]
fn module_surface_drives_one_open_by_hand() {
    use Arg::{F, I, T};
    let mut host = Host::new();
    let m = host.raw("module_new", &[F(7.0)]).unwrap();
    let random = "0123456789abcdef";
    let id = host.json(
        "session_open",
        &[
            I(m),
            F(1000.0),
            T("{n1;s6:Playern2;s6:globaln3;n1;}"),
            I(0),
            T(random),
        ],
    );
    let session = id.as_f64().unwrap();
    let found = host.json(
        "session_find",
        &[I(m), T("{n1;s6:Playern2;s6:globaln3;n1;}")],
    );
    assert_eq!(found.as_f64(), Some(session));
    // Host values are Luau value text (src/value/luau_text.rs). Nil arguments are absent keys:
    // find("Player", 1, nil) is the two-argument form.
    let two = host.json("session_find", &[I(m), T("{n1;s6:Playern2;n1;}")]);
    assert_eq!(two.as_f64(), Some(session));
    let none = host.json(
        "session_find",
        &[I(m), T("{n1;s6:Playern2;s6:globaln3;n2;}")],
    );
    assert!(none.is_null());
    assert_eq!(
        host.json("property", &[I(m), F(session), T("State")]),
        serde_json::json!(false)
    );

    // Property validation: errors carry a kind prefix and the original's text.
    let err = host
        .reply(
            "set_property",
            &[
                I(m),
                F(1000.0),
                F(session),
                T("SaveInterval"),
                T("string"),
                F(0.0),
                I(0),
            ],
        )
        .unwrap_err();
    assert!(err.starts_with("type: "), "{err}");
    let err = host
        .reply(
            "set_property",
            &[
                I(m),
                F(1000.0),
                F(session),
                T("State"),
                T("boolean"),
                F(0.0),
                I(1),
            ],
        )
        .unwrap_err();
    assert!(err.starts_with("readonly: "), "{err}");
    assert_eq!(
        host.reply(
            "set_property",
            &[
                I(m),
                F(1000.0),
                F(session),
                T("Coins"),
                T("number"),
                F(3.0),
                I(0)
            ],
        ),
        Ok("host".into())
    );

    // Open with a template: pending until the lock and the load complete.
    let outcome = host.json(
        "call",
        &[
            I(m),
            F(1000.0),
            F(session),
            T("Open"),
            T("{s5:Coinsn0;}"),
            F(0.0),
            F(0.0),
            I(0),
            T(""),
        ],
    );
    let call = outcome["pending"].as_f64().expect("pending");
    assert!(host.drain(m, "poll_event").is_empty());
    let commands = host.drain(m, "poll_command");
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["kind"], "LockAcquire");
    assert_eq!(commands[0]["map"], "Player/global/1");
    // The lock entry's sort key is the acquisition token (src/fence.rs); Open is no renewal.
    assert!(commands[0]["owner"].is_string(), "{commands:?}");
    assert!(commands[0]["token"].is_u64(), "{commands:?}");
    assert_eq!(commands[0]["renew"], false);
    assert!(commands[0].get("held").is_none(), "{commands:?}");
    assert!(commands[0]["ttl"].is_number(), "{commands:?}");
    let lock = commands[0]["id"].as_f64().unwrap();
    host.raw("complete_acquired", &[I(m), F(1010.0), F(lock)]);
    let commands = host.drain(m, "poll_command");
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["kind"], "DataGet");
    assert_eq!(commands[0]["key"], "1");
    let get = commands[0]["id"].as_f64().unwrap();
    host.raw(
        "complete_got",
        &[
            I(m),
            F(1020.0),
            F(get),
            T(r#"{"Gems":5}"#),
            T("v1"),
            F(500.0),
            F(600.0),
            T("[]"),
            T("{}"),
        ],
    );
    let events = host.drain(m, "poll_event");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let loaded = kinds.iter().position(|k| *k == "Loaded").expect("Loaded");
    let state = kinds.iter().position(|k| *k == "StateChanged").unwrap();
    let done = kinds.iter().position(|k| *k == "CallDone").unwrap();
    assert!(loaded < state && state < done, "{kinds:?}");
    // The loaded value, reconciled with the template: JSON, as JSON carries it exactly.
    assert_eq!(
        events[loaded]["value"],
        serde_json::json!({"Gems":5,"Coins":0})
    );
    assert_eq!(events[state]["state"], true);
    assert_eq!(events[done]["call"].as_f64(), Some(call));
    assert_eq!(events[done]["response"], "Success");
    assert_eq!(
        host.json("property", &[I(m), F(session), T("Version")]),
        serde_json::json!("v1")
    );
    assert!(host.json("poll_timeout", &[I(m)]).is_number());

    // A second Open answers at once; a template patch fills the host's table.
    let outcome = host.json(
        "call",
        &[
            I(m),
            F(1030.0),
            F(session),
            T("Open"),
            T(""),
            F(0.0),
            F(0.0),
            I(0),
            T(""),
        ],
    );
    assert_eq!(outcome["response"], "Success");
    let patch = host
        .reply(
            "template_patch",
            &[T("{s1:an1;}"), T("{s1:an0;s1:b{s1:cn2;}}")],
        )
        .unwrap();
    assert_eq!(
        patch,
        r#"{"patch":{"inserts":[{"path":["b"],"value":{"c":2}}]}}"#
    );
    // A value JSON cannot carry (a number key) goes as its value text.
    let patch = host
        .reply("template_patch", &[T(""), T("{s1:a{n42;t}}")])
        .unwrap();
    assert_eq!(patch, r#"{"patchText":"{s7:replace{s1:a{n42;t}}}"}"#);
    let usage = host.json("usage", &[I(m), F(session), T("{s1:an1;}"), T("{}")]);
    assert_eq!(usage[0], 7);
    // Compressed, an ordinary value goes straight to compressed text (`codec::luau`):
    // `JSONEncode("*#a␡>1␡")`. Every error is still the tree path's, the value's first.
    let compress = T("{s8:Compress{}}");
    let usage = host.json("usage", &[I(m), F(session), T("{s1:an1;}"), compress]);
    assert_eq!(usage[0], 9);
    let bad_decimals = T("{s8:Compress{s8:Decimalss1:x}}");
    let usage = |value: &'static str, metadata, session| [I(m), F(session), T(value), metadata];
    let function = "Value.f: a function cannot be stored";
    for (args, want) in [
        (usage("{s1:f?function;}", bad_decimals, session), function),
        (
            usage("{s1:f?function;}", T("{s1:x?cycle;}"), session),
            function,
        ),
        (usage("{s1:f?function;}", compress, 99.0), function),
        (
            usage("{s1:an1;}", bad_decimals, session),
            "Metadata.Compress.Decimals must be a number, got a string",
        ),
        (usage("{s1:an1;}", compress, 99.0), "unknown session"),
        (usage("{n1;t", compress, session), "malformed value text"),
    ] {
        let err = host.reply("usage", &args).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
    // Unusual tables take the tree path: the key 1 twice (a host bug) keeps the last value.
    let usage = host.json("usage", &[I(m), F(session), T("{n1;tn1;f}"), compress]);
    assert_eq!(usage[0], 5);
    // An unknown handle is an error reply, not a trap.
    assert!(host.reply("poll_command", &[I(99)]).is_err());
}

/// Opens `Player/global/1` by hand with LockInterval 10 (the refresh comes before any auto-save):
/// the module, the session and the Open's `LockAcquire` command (answered `Acquired`).
fn open_by_hand(host: &mut Host) -> (u32, f64, serde_json::Value) {
    use Arg::{F, I, T};
    let m = host.raw("module_new", &[F(7.0)]).unwrap();
    let args = T("{n1;s6:Playern2;s6:globaln3;n1;}");
    let id = host.json(
        "session_open",
        &[I(m), F(1000.0), args, I(0), T("0123456789abcdef")],
    );
    let session = id.as_f64().unwrap();
    let set = [
        I(m),
        F(1000.0),
        F(session),
        T("LockInterval"),
        T("number"),
        F(10.0),
        I(0),
    ];
    assert_eq!(host.reply("set_property", &set), Ok("core".into()));
    let open = [
        I(m),
        F(1000.0),
        F(session),
        T("Open"),
        T(""),
        F(0.0),
        F(0.0),
        I(0),
        T(""),
    ];
    host.json("call", &open)["pending"]
        .as_f64()
        .expect("pending");
    // Deferred work (the Open's task) runs in poll_event.
    assert!(host.drain(m, "poll_event").is_empty());
    let commands = host.drain(m, "poll_command");
    assert_eq!(commands[0]["kind"], "LockAcquire", "{commands:?}");
    let acquire = commands[0].clone();
    host.raw(
        "complete_acquired",
        &[I(m), F(1010.0), F(acquire["id"].as_f64().unwrap())],
    );
    let commands = host.drain(m, "poll_command");
    assert_eq!(commands[0]["kind"], "DataGet", "{commands:?}");
    let get = commands[0]["id"].as_f64().unwrap();
    let got = [
        I(m),
        F(1020.0),
        F(get),
        T(""),
        T(""),
        F(0.0),
        F(0.0),
        T("[]"),
        T("{}"),
    ];
    host.raw("complete_got", &got);
    let events = host.drain(m, "poll_event");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "StateChanged" && e["state"] == true),
        "{events:?}"
    );
    (m, session, acquire)
}

/// Runs the timers up to the next lock refresh and gives its `LockAcquire` command.
fn next_refresh(host: &mut Host, m: u32) -> (f64, serde_json::Value) {
    for _ in 0..10 {
        let at = host
            .json("poll_timeout", &[Arg::I(m)])
            .as_f64()
            .expect("a timer");
        host.raw("handle_timeout", &[Arg::I(m), Arg::F(at)]);
        let _ = host.drain(m, "poll_event");
        let commands = host.drain(m, "poll_command");
        assert!(
            commands.iter().all(|c| c["kind"] == "LockAcquire"),
            "only the refresh is due before an auto-save: {commands:?}"
        );
        if let Some(refresh) = commands.into_iter().next() {
            return (at, refresh);
        }
    }
    panic!("no refresh");
}

#[test]
fn a_refresh_renews_its_own_acquisition_with_a_larger_token() {
    let mut host = Host::new();
    let (m, _, acquire) = open_by_hand(&mut host);
    let (_, refresh) = next_refresh(&mut host, m);
    // Tokens are acquisition × 2^32 + renewal (src/fence.rs): a refresh keeps the acquisition,
    // takes the next renewal and names the token it holds.
    assert_eq!(refresh["renew"], true, "{refresh:?}");
    let (token, acquired) = (refresh["token"].as_u64(), acquire["token"].as_u64());
    let (token, acquired) = (token.unwrap(), acquired.unwrap());
    assert_eq!(token >> 32, acquired >> 32, "{refresh:?}");
    assert!(token > acquired, "{refresh:?}");
    assert_eq!(refresh["held"], acquire["token"], "{refresh:?}");
    assert_eq!(refresh["owner"], acquire["owner"], "{refresh:?}");
    assert_eq!(refresh["map"], "Player/global/1");
}

/// D22: a refresh whose entry is gone (or another acquisition's) is `complete_lapsed`; the
/// session closes without saving, as after its last lock attempt failed.
#[test]
fn a_lapsed_refresh_closes_the_session_without_saving() {
    use Arg::{F, I};
    let mut host = Host::new();
    let (m, session, _) = open_by_hand(&mut host);
    let (at, refresh) = next_refresh(&mut host, m);
    host.raw(
        "complete_lapsed",
        &[I(m), F(at + 5.0), F(refresh["id"].as_f64().unwrap())],
    );
    let events = host.drain(m, "poll_event");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let attempts = events
        .iter()
        .position(|e| e["kind"] == "AttemptsChanged" && e["remaining"] == 0);
    let closed = events
        .iter()
        .position(|e| e["kind"] == "StateChanged" && e["state"] == false);
    assert!(
        matches!((attempts, closed), (Some(a), Some(c)) if a < c),
        "AttemptsChanged(0) then StateChanged(false): {events:?}"
    );
    assert!(!kinds.contains(&"Saving"), "{kinds:?}");
    let commands = host.drain(m, "poll_command");
    assert!(
        commands
            .iter()
            .all(|c| c["kind"] != "DataSet" && c["kind"] != "DataRemove"),
        "no save after a lapse: {commands:?}"
    );
    assert_eq!(
        host.json("property", &[I(m), F(session), Arg::T("State")]),
        serde_json::json!(false)
    );
}
