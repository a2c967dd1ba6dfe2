//! The C-ABI build run by a non-JS wasm host (wasmi): proof that any host with a wasm
//! interpreter can use the core. `make test` passes the built wasm in `CABI_WASM`; a plain
//! `cargo test` builds it first.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::process::Command;
use wasmi::{Caller, Engine, Extern, Instance, Linker, Memory, Module, Store, TypedFunc};

fn cabi_wasm() -> Vec<u8> {
    let path = match std::env::var_os("CABI_WASM") {
        Some(path) => PathBuf::from(path),
        None => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let status = Command::new(env!("CARGO"))
                .current_dir(&root)
                .args(["build", "--quiet", "--release", "--lib"])
                .args([
                    "--target",
                    "wasm32-unknown-unknown",
                    "--no-default-features",
                ])
                .args(["--features", "cabi", "--target-dir", "target/wasm-cabi"])
                .status()
                .expect("run cargo to build the C-ABI wasm");
            assert!(status.success(), "building the C-ABI wasm failed");
            root.join("target/wasm-cabi/wasm32-unknown-unknown/release/datastore_module.wasm")
        }
    };
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
