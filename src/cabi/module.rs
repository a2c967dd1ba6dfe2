//! The session core ([`crate::session::Module`]) through the C ABI: the same surface as the JS
//! binding (`src/js/module.rs`), with the same JSON texts ([`crate::wire`]), except that the
//! host's values are in the Luau value text ([`wire::Format::Luau`]): Luau tables have number
//! keys, holes and mixed parts that JSON cannot carry. `luau/DataStoreModule.luau` is the
//! driver that uses it.
//!
//! Conventions on top of the parent module's (inputs through `alloc`, replies):
//! - a module is a **handle** (`u32`, from `module_new`); sessions, calls and commands are ids
//!   passed as `f64`, and time `now` as `f64` milliseconds;
//! - a text argument is a `(ptr, len)` pair; an empty text is "absent" where the JS binding takes
//!   `undefined`/`null` (`complete_got`'s value, `complete_read`'s read id,
//!   `provide_snapshot`'s error);
//! - `call`'s expiration and priority are numbers with a `given` bit each (any number a caller
//!   passes, NaN included, is theirs to refuse);
//! - exports without a result return nothing; an unknown handle is an error reply, or ignored
//!   where there is no reply.

use super::{input, input_bytes, respond};
use crate::session::CommandId;
use crate::session::{Assigned, Config, Module, PropertyErrorKind, SessionId, StoreResult};
use crate::value::Value;
use crate::wire::{self, now, Format};
use std::cell::RefCell;

thread_local! {
    static MODULES: RefCell<Vec<Option<Module>>> = const { RefCell::new(Vec::new()) };
}

fn with<T>(handle: u32, f: impl FnOnce(&mut Module) -> Result<T, String>) -> Result<T, String> {
    MODULES.with(|modules| {
        let mut modules = modules.borrow_mut();
        match modules.get_mut(handle as usize).and_then(Option::as_mut) {
            Some(module) => f(module),
            None => Err(format!("unknown module handle {handle}")),
        }
    })
}

/// Bit `bit` of `given` says whether the caller passed `n`.
fn optional(n: f64, given: u32, bit: u32) -> Option<f64> {
    (given & (1 << bit) != 0).then_some(n)
}

fn text<'a>(ptr: *const u8, len: u32, what: &str) -> Result<&'a str, String> {
    // SAFETY: the host contract: every (ptr, len) pair is a readable input written with alloc.
    unsafe { input(ptr, len, what) }
}

/// A host value's Luau value text.
fn value_text<'a>(ptr: *const u8, len: u32, what: &str) -> Result<&'a [u8], String> {
    // SAFETY: as for `text`.
    unsafe { input_bytes(ptr, len, what) }
}

fn complete(handle: u32, now_ms: f64, command: f64, result: StoreResult) {
    let _ = with(handle, |m| {
        Ok(m.complete(now(now_ms), CommandId(command as u64), result))
    });
}

/// A new module (one server's sessions); `seed` seeds retry jitter. Returns its handle.
#[no_mangle]
pub extern "C" fn module_new(seed: f64) -> u32 {
    let module = Module::new(Config {
        seed: seed as u64,
        fencing: false,
        ..Config::default()
    });
    MODULES.with(|modules| {
        let mut modules = modules.borrow_mut();
        modules.push(Some(module));
        (modules.len() - 1) as u32
    })
}

/// Drops a module and every session in it.
#[no_mangle]
pub extern "C" fn module_free(handle: u32) {
    MODULES.with(|modules| {
        if let Some(slot) = modules.borrow_mut().get_mut(handle as usize) {
            *slot = None;
        }
    });
}

/// `new`/`hidden`: `args` is the value text of the table `{[1] = name, [2] = scope, [3] = key}`
/// of the caller's arguments (the core decides what they mean, §2); `random` 16 bytes for the UniqueId. Reply: the session id.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn session_open(
    handle: u32,
    now_ms: f64,
    args_ptr: *const u8,
    args_len: u32,
    hidden: u32,
    random_ptr: *const u8,
    random_len: u32,
) -> *mut u8 {
    respond((|| {
        let args = wire::session_args(Format::Luau, value_text(args_ptr, args_len, "args")?)?;
        let mut bytes = [0u8; 16];
        if !random_ptr.is_null() {
            let random = std::slice::from_raw_parts(random_ptr, random_len as usize);
            for (b, r) in bytes.iter_mut().zip(random) {
                *b = *r;
            }
        }
        with(handle, |m| {
            let id = m.open_session(now(now_ms), &args, hidden != 0, bytes)?;
            Ok(id.0.to_string())
        })
    })())
}

/// `find`: `args` as for [`session_open`]. Reply: the session id or `null`.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn session_find(handle: u32, args_ptr: *const u8, args_len: u32) -> *mut u8 {
    respond((|| {
        let args = wire::session_args(Format::Luau, value_text(args_ptr, args_len, "args")?)?;
        with(handle, |m| {
            Ok(match m.find(&args)? {
                Some(id) => id.0.to_string(),
                None => "null".into(),
            })
        })
    })())
}

/// A method call (see [`wire::call`]); `given` bit 0 says `expiration` was passed, bit 1
/// `priority`. Reply:
/// `{"pending": id}` or the reply JSON.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn call(
    handle: u32,
    now_ms: f64,
    session: f64,
    kind_ptr: *const u8,
    kind_len: u32,
    arg_ptr: *const u8,
    arg_len: u32,
    expiration: f64,
    priority: f64,
    given: u32,
    text_ptr: *const u8,
    text_len: u32,
) -> *mut u8 {
    respond((|| {
        let kind = text(kind_ptr, kind_len, "kind")?;
        let arg = value_text(arg_ptr, arg_len, "arg")?;
        let id = text(text_ptr, text_len, "text")?;
        let call = wire::call(
            Format::Luau,
            kind,
            arg,
            optional(expiration, given, 0),
            optional(priority, given, 1),
            id,
        )?;
        with(handle, |m| {
            let outcome = m
                .call(now(now_ms), SessionId(session as u64), call)
                .map_err(|e| e.to_string())?;
            Ok(wire::call_outcome(Format::Luau, &outcome))
        })
    })())
}

/// A property assignment; `kind` as for [`wire::input`]. Reply: `core` (read it back with
/// [`property`]) or `host` (the host keeps the value); an error is `type: message`,
/// `range: message` or `readonly: message` (the message is the original's text).
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn set_property(
    handle: u32,
    now_ms: f64,
    session: f64,
    name_ptr: *const u8,
    name_len: u32,
    kind_ptr: *const u8,
    kind_len: u32,
    number: f64,
    boolean: u32,
) -> *mut u8 {
    respond((|| {
        let name = text(name_ptr, name_len, "name")?;
        let kind = text(kind_ptr, kind_len, "kind")?;
        let input = wire::input(kind, number, boolean != 0);
        with(handle, |m| {
            match m.set_property(now(now_ms), SessionId(session as u64), name, input) {
                Ok(Assigned::Core) => Ok("core".into()),
                Ok(Assigned::Host) => Ok("host".into()),
                Err(e) => {
                    let prefix = match e.kind {
                        PropertyErrorKind::Range => "range",
                        PropertyErrorKind::ReadOnly => "readonly",
                        _ => "type",
                    };
                    Err(format!("{prefix}: {}", e.message))
                }
            }
        })
    })())
}

/// A core-owned property as JSON; an error reply for a name the core does not own.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn property(
    handle: u32,
    session: f64,
    name_ptr: *const u8,
    name_len: u32,
) -> *mut u8 {
    respond((|| {
        let name = text(name_ptr, name_len, "name")?;
        with(handle, |m| {
            let s = m
                .session(SessionId(session as u64))
                .ok_or_else(|| format!("unknown session {session}"))?;
            wire::property(s, name).ok_or_else(|| format!("{name} is not a core property"))
        })
    })())
}

/// The number of `ProcessQueue` connections (the original's `Connected` hook).
#[no_mangle]
pub extern "C" fn set_process_queue_connections(
    handle: u32,
    now_ms: f64,
    session: f64,
    count: u32,
) {
    let _ = with(handle, |m| {
        let _ =
            m.set_process_queue_connections(now(now_ms), SessionId(session as u64), count as usize);
        Ok(())
    });
}

/// The host's `Value`, `Metadata` and `UserIds` after the `Saving` handlers ran, or a non-empty
/// `error` (the value could not be converted: the save answers "Error" with it). `same_texts`
/// non-zero: the three texts are byte for byte those this session's last `provide_snapshot`
/// was given ([`crate::session::Snapshot::same_texts`]; they are still passed in full).
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn provide_snapshot(
    handle: u32,
    now_ms: f64,
    session: f64,
    value_ptr: *const u8,
    value_len: u32,
    metadata_ptr: *const u8,
    metadata_len: u32,
    user_ids_ptr: *const u8,
    user_ids_len: u32,
    same_texts: u32,
    error_ptr: *const u8,
    error_len: u32,
) {
    let snapshot = (|| {
        let error = text(error_ptr, error_len, "error")?;
        let error = (!error.is_empty()).then(|| error.to_owned());
        wire::snapshot(
            Format::Luau,
            value_text(value_ptr, value_len, "Value")?,
            value_text(metadata_ptr, metadata_len, "Metadata")?,
            value_text(user_ids_ptr, user_ids_len, "UserIds")?,
            same_texts != 0,
            error,
        )
    })();
    let _ = with(handle, |m| {
        m.provide_snapshot(now(now_ms), SessionId(session as u64), snapshot);
        Ok(())
    });
}

/// `Usage()`. Reply: `[characters, fraction]`.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn usage(
    handle: u32,
    session: f64,
    value_ptr: *const u8,
    value_len: u32,
    metadata_ptr: *const u8,
    metadata_len: u32,
) -> *mut u8 {
    respond((|| {
        let value = value_text(value_ptr, value_len, "Value")?;
        let meta = Format::Luau.read(
            value_text(metadata_ptr, metadata_len, "Metadata")?,
            "Metadata",
        );
        // Compressed, the value goes through `codec::luau` (no tree for an ordinary one); a nil
        // value needs nothing; anything else comes from the tree below.
        if let Ok(meta) = &meta {
            let text = with(handle, |m| {
                Ok(m.usage_of_value_text(SessionId(session as u64), value, meta))
            });
            if let Ok(Some(usage)) = text {
                let (n, fraction) = usage?;
                return Ok(usage_reply(n, fraction));
            }
        }
        let v = Format::Luau.read(value, "Value")?;
        let meta = meta?;
        with(handle, |m| {
            let (n, fraction) = m
                .usage(SessionId(session as u64), &v, &meta)
                .map_err(|e| e.to_string())?;
            Ok(usage_reply(n, fraction))
        })
    })())
}

fn usage_reply(n: usize, fraction: f64) -> String {
    format!("[{n},{}]", Value::Number(fraction).to_json_string())
}

/// `DataGet` done: an empty `value` means the key does not exist.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn complete_got(
    handle: u32,
    now_ms: f64,
    command: f64,
    value_ptr: *const u8,
    value_len: u32,
    version_ptr: *const u8,
    version_len: u32,
    created_time: f64,
    updated_time: f64,
    user_ids_ptr: *const u8,
    user_ids_len: u32,
    metadata_ptr: *const u8,
    metadata_len: u32,
) {
    let result = (|| {
        let value = text(value_ptr, value_len, "value")?;
        Ok(wire::got(
            (!value.is_empty()).then_some(value),
            text(version_ptr, version_len, "version")?,
            created_time,
            updated_time,
            text(user_ids_ptr, user_ids_len, "UserIds")?,
            text(metadata_ptr, metadata_len, "Metadata")?,
        ))
    })()
    .unwrap_or_else(StoreResult::Error);
    complete(handle, now_ms, command, result);
}

/// `DataSet` done with the new version.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn complete_written(
    handle: u32,
    now_ms: f64,
    command: f64,
    version_ptr: *const u8,
    version_len: u32,
) {
    let result = match text(version_ptr, version_len, "version") {
        Ok(version) => StoreResult::Written {
            version: version.to_owned(),
        },
        Err(e) => StoreResult::Error(e),
    };
    complete(handle, now_ms, command, result);
}

/// `DataRemove`, `LockRelease`, `QueueAdd`, `QueueRemove` done.
#[no_mangle]
pub extern "C" fn complete_done(handle: u32, now_ms: f64, command: f64) {
    complete(handle, now_ms, command, StoreResult::Done);
}

/// `LockAcquire`: the lock is ours.
#[no_mangle]
pub extern "C" fn complete_acquired(handle: u32, now_ms: f64, command: f64) {
    complete(handle, now_ms, command, StoreResult::Acquired);
}

/// `LockAcquire` with `renew`: the entry is gone or another acquisition's (D22).
#[no_mangle]
pub extern "C" fn complete_lapsed(handle: u32, now_ms: f64, command: f64) {
    complete(handle, now_ms, command, StoreResult::Lapsed);
}

/// `LockAcquire`/`LockRelease`: `holder` holds the lock.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn complete_locked(
    handle: u32,
    now_ms: f64,
    command: f64,
    holder_ptr: *const u8,
    holder_len: u32,
) {
    let result = match text(holder_ptr, holder_len, "holder") {
        Ok(holder) => StoreResult::Locked {
            holder: holder.to_owned(),
        },
        Err(e) => StoreResult::Error(e),
    };
    complete(handle, now_ms, command, result);
}

/// `QueueRead` done: `values` a JSON array of the items' JSON texts; an empty `read_id` is none.
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn complete_read(
    handle: u32,
    now_ms: f64,
    command: f64,
    values_ptr: *const u8,
    values_len: u32,
    read_id_ptr: *const u8,
    read_id_len: u32,
) {
    let result = (|| {
        let values = text(values_ptr, values_len, "values")?;
        let read_id = text(read_id_ptr, read_id_len, "read id")?;
        Ok(wire::read(
            values,
            (!read_id.is_empty()).then(|| read_id.to_owned()),
        ))
    })()
    .unwrap_or_else(StoreResult::Error);
    complete(handle, now_ms, command, result);
}

/// Any command failed with `message`; its Roblox prefix says whether to retry
/// ([`wire::store_error`]).
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn complete_error(
    handle: u32,
    now_ms: f64,
    command: f64,
    message_ptr: *const u8,
    message_len: u32,
) {
    let message = text(message_ptr, message_len, "message").map_or_else(|e| e, str::to_owned);
    complete(handle, now_ms, command, wire::store_error(message));
}

/// Runs the timers due at `now`.
#[no_mangle]
pub extern "C" fn handle_timeout(handle: u32, now_ms: f64) {
    let _ = with(handle, |m| {
        m.handle_timeout(now(now_ms));
        Ok(())
    });
}

/// Reply: the next deadline (ms) or `null`.
#[no_mangle]
pub extern "C" fn poll_timeout(handle: u32) -> *mut u8 {
    respond(with(handle, |m| {
        Ok(m.poll_timeout()
            .map_or_else(|| "null".into(), |t| t.to_string()))
    }))
}

/// Reply: the next storage command as JSON ([`wire::command`]), or empty.
#[no_mangle]
pub extern "C" fn poll_command(handle: u32) -> *mut u8 {
    respond(with(handle, |m| {
        Ok(m.poll_command()
            .map(|(id, c)| wire::command(id, &c))
            .unwrap_or_default())
    }))
}

/// Reply: the next event as JSON ([`wire::event`]), or empty.
#[no_mangle]
pub extern "C" fn poll_event(handle: u32) -> *mut u8 {
    respond(with(handle, |m| {
        Ok(m.poll_event()
            .map(|e| wire::event(Format::Luau, &e))
            .unwrap_or_default())
    }))
}

/// `game:BindToClose`: close every session; wait for the `BindToCloseDone` event.
#[no_mangle]
pub extern "C" fn bind_to_close(handle: u32, now_ms: f64) {
    let _ = with(handle, |m| {
        m.bind_to_close(now(now_ms));
        Ok(())
    });
}

/// Forgets a destroyed, idle session: 1, or 0 if it is still needed.
#[no_mangle]
pub extern "C" fn release(handle: u32, session: f64) -> u32 {
    with(handle, |m| Ok(m.release(SessionId(session as u64)) as u32)).unwrap_or(0)
}

/// Reply: how to reconcile `value` with `template` in place ([`wire::template_patch`]).
///
/// # Safety
/// Text ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn template_patch(
    value_ptr: *const u8,
    value_len: u32,
    template_ptr: *const u8,
    template_len: u32,
) -> *mut u8 {
    respond((|| {
        wire::template_patch(
            Format::Luau,
            value_text(value_ptr, value_len, "Value")?,
            value_text(template_ptr, template_len, "template")?,
        )
    })())
}
