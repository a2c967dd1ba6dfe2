//! The session core ([`crate::session::Module`]) for JavaScript: conversion and forwarding only.
//!
//! Values cross as JSON text, as everywhere in the JS binding. Going in, texts come as UTF-8
//! bytes (`host/js/lib/utf8.js` writes them with `TextEncoder.encodeInto` into one reused
//! buffer; a `&str` argument would be copied by wasm-bindgen's JS loop, one UTF-16 unit at a
//! time), and the texts of one call come as one run of bytes with their lengths ([`Texts`]).
//! Commands come out as JSON followed by the texts a store stores (see `poll_command`), so a
//! store receives them without a parse and stringify round trip, or an escape and unescape;
//! events come out as JSON with values inline, so one `JSON.parse` gives the host the objects
//! it installs. Store results go in through one method per result kind. `host/js/lib/module.js`
//! is the driver that uses this.

use crate::session::{Config, Module, PropertyErrorKind, SessionId, StoreResult};
use crate::value::Value;
use crate::wire::{self, now};
use js_sys::{RangeError, TypeError};
use wasm_bindgen::prelude::*;

fn error(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

/// Bad arguments to the constructors are the caller's mistake: a `TypeError`.
fn type_error(message: String) -> JsValue {
    TypeError::new(&message).into()
}

/// Texts written one after another (`bytesOf` in `host/js/lib/utf8.js`), taken in order by
/// their byte lengths; the last one is the rest.
struct Texts<'a> {
    bytes: &'a [u8],
}

impl<'a> Texts<'a> {
    /// The next `len` bytes, or, without a length, all that is left.
    fn next(&mut self, len: Option<u32>) -> Result<&'a [u8], String> {
        let len = len.map_or(self.bytes.len(), |n| n as usize);
        let Some((text, rest)) = self.bytes.split_at_checked(len) else {
            return Err("texts: a length past the end of the bytes".into());
        };
        self.bytes = rest;
        Ok(text)
    }

    /// The next text as `&str`.
    fn next_str(&mut self, len: Option<u32>) -> Result<&'a str, String> {
        std::str::from_utf8(self.next(len)?).map_err(|_| "texts: not UTF-8".into())
    }
}

/// One server's worth of sessions, driven by `host/js/lib/module.js`.
#[wasm_bindgen]
pub struct WasmModule {
    core: Module,
}

#[wasm_bindgen]
impl WasmModule {
    /// `seed` seeds retry jitter (host randomness); `fencing` says the store fences writes;
    /// `load_with_lock` that it reads a key in the request that acquires a lock
    /// (`lockAcquireAndGet`).
    #[wasm_bindgen(constructor)]
    pub fn new(seed: f64, fencing: bool, load_with_lock: bool) -> WasmModule {
        WasmModule {
            core: Module::new(Config {
                seed: seed as u64,
                fencing,
                load_with_lock,
                json_host: true,
                ..Config::default()
            }),
        }
    }

    /// `new` (`hidden = false`, cached) or `hidden`. `args_json` is the JSON array of the
    /// caller's arguments (`null` for a missing one); the core decides what they mean.
    /// `random` is 16 bytes for the UniqueId.
    #[wasm_bindgen(js_name = openSession)]
    pub fn open_session(
        &mut self,
        now_ms: f64,
        args_json: &[u8],
        hidden: bool,
        random: &[u8],
    ) -> Result<f64, JsValue> {
        let args = wire::session_args(wire::Format::Json, args_json).map_err(type_error)?;
        let mut bytes = [0u8; 16];
        for (b, r) in bytes.iter_mut().zip(random) {
            *b = *r;
        }
        let id = self
            .core
            .open_session(now(now_ms), &args, hidden, bytes)
            .map_err(type_error)?;
        Ok(id.0 as f64)
    }

    /// `find`: `args_json` as for `openSession`.
    pub fn find(&self, args_json: &[u8]) -> Result<Option<f64>, JsValue> {
        let args = wire::session_args(wire::Format::Json, args_json).map_err(type_error)?;
        let found = self.core.find(&args).map_err(type_error)?;
        Ok(found.map(|id| id.0 as f64))
    }

    /// A method call. `kind` is the method name; `arg_json` its value argument as JSON
    /// (template or queued value; empty for none), `text` the `Remove` id. Answers
    /// `{"pending": callId}` or a reply `{"response", "value"?: true, "text"?, "reconcile"?}`.
    // One flat signature keeps the JS side free of argument objects on every call.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &mut self,
        now_ms: f64,
        session: f64,
        kind: &str,
        arg_json: &[u8],
        expiration: Option<f64>,
        priority: Option<f64>,
        text: &str,
    ) -> Result<String, JsError> {
        let call = wire::call(
            wire::Format::Json,
            kind,
            arg_json,
            expiration,
            priority,
            text,
        )
        .map_err(error)?;
        let outcome = self
            .core
            .call(now(now_ms), SessionId(session as u64), call)
            .map_err(error)?;
        Ok(wire::call_outcome(wire::Format::Json, &outcome))
    }

    /// Assigns a property. `kind` is the JS `typeof` class (`nil`, `boolean`, `number`,
    /// `string`, `table`, `other`). Answers `"core"` (read it back with `property`) or `"host"`
    /// (the host keeps it); throws the original's message as a `TypeError` or `RangeError`.
    #[wasm_bindgen(js_name = setProperty)]
    pub fn set_property(
        &mut self,
        now_ms: f64,
        session: f64,
        name: &str,
        kind: &str,
        number: f64,
        boolean: bool,
    ) -> Result<String, JsValue> {
        let input = wire::input(kind, number, boolean);
        match self
            .core
            .set_property(now(now_ms), SessionId(session as u64), name, input)
        {
            Ok(crate::session::Assigned::Core) => Ok("core".into()),
            Ok(crate::session::Assigned::Host) => Ok("host".into()),
            Err(e) if e.kind == PropertyErrorKind::Range => Err(RangeError::new(&e.message).into()),
            Err(e) => Err(TypeError::new(&e.message).into()),
        }
    }

    /// Reads a core-owned property (`State` is `true`, `false` or `null`).
    pub fn property(&self, session: f64, name: &str) -> JsValue {
        let Some(s) = self.core.session(SessionId(session as u64)) else {
            return JsValue::UNDEFINED;
        };
        match name {
            "Id" => s.id().into(),
            "Key" => match s.key() {
                Value::Number(n) => (*n).into(),
                Value::String(text) => text.into(),
                _ => JsValue::UNDEFINED,
            },
            "UniqueId" => s.unique_id().into(),
            "Hidden" => s.hidden().into(),
            // Not DataStore properties: the parts of `Id` as the core wrote them, for
            // `module.sessions()`.
            "Name" => s.name().into(),
            "Scope" => s.scope().into(),
            "State" => s.state().as_option().map_or(JsValue::NULL, JsValue::from),
            "SaveInterval" => s.save_interval().into(),
            "SaveDelay" => s.save_delay().into(),
            "LockInterval" => s.lock_interval().into(),
            "LockAttempts" => s.lock_attempts().into(),
            "SaveOnClose" => s.save_on_close().into(),
            "AttemptsRemaining" => (s.attempts_remaining() as f64).into(),
            "CreatedTime" => s.created_time().into(),
            "UpdatedTime" => s.updated_time().into(),
            "Version" => s.version().into(),
            "CompressedValue" => s.compressed_value().into(),
            _ => JsValue::UNDEFINED,
        }
    }

    #[wasm_bindgen(js_name = setProcessQueueConnections)]
    pub fn set_process_queue_connections(&mut self, now_ms: f64, session: f64, count: u32) {
        let _ = self.core.set_process_queue_connections(
            now(now_ms),
            SessionId(session as u64),
            count as usize,
        );
    }

    /// The host's `Value`, `Metadata` and `UserIds` after the `Saving` handlers ran (`texts`:
    /// the three JSON texts one after another, the first two `value_len` and `metadata_len`
    /// bytes long), or `error` (the value could not be converted: the save answers "Error" with
    /// it).
    #[wasm_bindgen(js_name = provideSnapshot)]
    pub fn provide_snapshot(
        &mut self,
        now_ms: f64,
        session: f64,
        texts: &[u8],
        value_len: u32,
        metadata_len: u32,
        error: Option<String>,
    ) {
        let mut texts = Texts { bytes: texts };
        let snapshot = (|| {
            let value = texts.next(Some(value_len))?;
            let metadata = texts.next(Some(metadata_len))?;
            wire::snapshot(
                wire::Format::Json,
                value,
                metadata,
                texts.next(None)?,
                // Keeping each session's last texts to compare would cost a JS host more
                // memory than the transcode it saves (issue 12).
                false,
                error,
            )
        })();
        self.core
            .provide_snapshot(now(now_ms), SessionId(session as u64), snapshot);
    }

    /// `Usage()`: `[characters, fraction]`. `texts`: the value's JSON (`value_len` bytes),
    /// then the metadata's.
    pub fn usage(
        &mut self,
        session: f64,
        texts: &[u8],
        value_len: u32,
    ) -> Result<Box<[f64]>, JsError> {
        let mut texts = Texts { bytes: texts };
        let v = wire::Format::Json
            .read(texts.next(Some(value_len)).map_err(error)?, "Value")
            .map_err(error)?;
        let m = wire::Format::Json
            .read(texts.next(None).map_err(error)?, "Metadata")
            .map_err(error)?;
        let (n, fraction) = self
            .core
            .usage(SessionId(session as u64), &v, &m)
            .map_err(error)?;
        Ok(Box::new([n as f64, fraction]))
    }

    /// A `DataGet` result. `found` false: the key does not exist (the rest is not read). Else
    /// `texts` holds the value's JSON (`value_len` bytes), the user ids' (`user_ids_len`) and
    /// the metadata's, one after another.
    /// A read's result (`DataGet`, or with `acquired` the read of a `LockAcquire` that also
    /// loaded and was written): `texts` holds the value, the user ids and the metadata.
    #[wasm_bindgen(js_name = completeGot)]
    #[allow(clippy::too_many_arguments)]
    pub fn complete_got(
        &mut self,
        now_ms: f64,
        command: f64,
        acquired: bool,
        found: bool,
        texts: &[u8],
        value_len: u32,
        user_ids_len: u32,
        version: &str,
        created_time: f64,
        updated_time: f64,
    ) {
        let mut texts = Texts { bytes: texts };
        let got = if !found {
            wire::got(None, "", 0.0, 0.0, "[]", "{}")
        } else {
            (|| {
                let value = texts.next_str(Some(value_len))?;
                let user_ids = texts.next_str(Some(user_ids_len))?;
                let metadata = texts.next_str(None)?;
                Ok(wire::got(
                    Some(value),
                    version,
                    created_time,
                    updated_time,
                    user_ids,
                    metadata,
                ))
            })()
            .unwrap_or_else(StoreResult::Error)
        };
        let result = if acquired {
            StoreResult::AcquiredAndGot(Box::new(got))
        } else {
            got
        };
        self.complete(now_ms, command, result);
    }

    #[wasm_bindgen(js_name = completeWritten)]
    pub fn complete_written(&mut self, now_ms: f64, command: f64, version: String) {
        self.complete(now_ms, command, StoreResult::Written { version });
    }

    #[wasm_bindgen(js_name = completeDone)]
    pub fn complete_done(&mut self, now_ms: f64, command: f64) {
        self.complete(now_ms, command, StoreResult::Done);
    }

    #[wasm_bindgen(js_name = completeAcquired)]
    pub fn complete_acquired(&mut self, now_ms: f64, command: f64) {
        self.complete(now_ms, command, StoreResult::Acquired);
    }

    #[wasm_bindgen(js_name = completeLocked)]
    pub fn complete_locked(&mut self, now_ms: f64, command: f64, holder: String) {
        self.complete(now_ms, command, StoreResult::Locked { holder });
    }

    /// A refresh (`renew`) found its entry gone or another acquisition's (D22).
    #[wasm_bindgen(js_name = completeLapsed)]
    pub fn complete_lapsed(&mut self, now_ms: f64, command: f64) {
        self.complete(now_ms, command, StoreResult::Lapsed);
    }

    /// `values_json` is a JSON array of the items' JSON texts (strings), as stores hold them.
    #[wasm_bindgen(js_name = completeRead)]
    pub fn complete_read(
        &mut self,
        now_ms: f64,
        command: f64,
        values_json: &[u8],
        read_id: Option<String>,
    ) {
        let result = match std::str::from_utf8(values_json) {
            Ok(json) => wire::read(json, read_id),
            Err(_) => StoreResult::Error("queue items: not UTF-8".into()),
        };
        self.complete(now_ms, command, result);
    }

    /// A command failed. `retryable` is the store's word (`StoreError.retryable`); without it
    /// the message's Roblox prefix decides ([`wire::store_error`]). `acquired`: a lock result
    /// with the lock written and a read the host could not hand over (an entry it refused, as
    /// [`complete_got`](Self::complete_got)'s checks refuse others); the session holds the
    /// lock, and the core settles the read (again alone, or gives up and releases the lock).
    #[wasm_bindgen(js_name = completeError)]
    pub fn complete_error(
        &mut self,
        now_ms: f64,
        command: f64,
        message: String,
        retryable: Option<bool>,
        acquired: Option<bool>,
    ) {
        let result = match retryable {
            Some(true) => StoreResult::Error(message),
            Some(false) => StoreResult::Invalid(message),
            None => wire::store_error(message),
        };
        let result = match acquired {
            Some(true) => StoreResult::AcquiredAndGot(Box::new(result)),
            _ => result,
        };
        self.complete(now_ms, command, result);
    }

    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_ms: f64) {
        self.core.handle_timeout(now(now_ms));
    }

    /// The next deadline (ms), if any. Changes after any other call.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.core.poll_timeout().map(|t| t as f64)
    }

    /// The next storage command as JSON (`{"id", "kind", …}`). The JSON texts a store stores
    /// (a `DataSet`'s value, user ids and metadata, a `QueueAdd`'s value) follow it, each after
    /// a newline, instead of inside it as JSON strings: written once, not escaped here and
    /// unescaped again by `JSON.parse` (the JSON has no field for them). Compact JSON
    /// has no newline of its own, in the command or in a value.
    #[wasm_bindgen(js_name = pollCommand)]
    pub fn poll_command(&mut self) -> Option<String> {
        let (id, command) = self.core.poll_command()?;
        Some(wire::command_lines(id, &command))
    }

    /// Every event waiting, as one JSON array of them (each `{"kind", "session", …}`, values
    /// inline), in order; `None` when there are none. One call and one `JSON.parse` for the
    /// events of a loop run, where one each cost a wasm crossing and a text decode apiece.
    #[wasm_bindgen(js_name = pollEvents)]
    pub fn poll_events(&mut self) -> Option<String> {
        let first = self.core.poll_event()?;
        let mut out = String::with_capacity(512);
        out.push('[');
        wire::push_event(wire::Format::Json, &mut out, &first);
        while let Some(event) = self.core.poll_event() {
            out.push(',');
            wire::push_event(wire::Format::Json, &mut out, &event);
        }
        out.push(']');
        Some(out)
    }

    #[wasm_bindgen(js_name = bindToClose)]
    pub fn bind_to_close(&mut self, now_ms: f64) {
        self.core.bind_to_close(now(now_ms));
    }

    /// Forgets a destroyed, idle session (frees its memory); false if it is still needed.
    pub fn release(&mut self, session: f64) -> bool {
        self.core.release(SessionId(session as u64))
    }
}

impl WasmModule {
    fn complete(&mut self, now_ms: f64, command: f64, result: StoreResult) {
        self.core.complete(
            now(now_ms),
            crate::session::CommandId(command as u64),
            result,
        );
    }
}
