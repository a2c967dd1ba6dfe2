//! C-ABI bindings (feature `cabi`) for wasm hosts without JavaScript (Luau).
//!
//! The contract is deliberately small so that an ahead-of-time wasm→Luau translation can serve
//! it later: numbers in, numbers out, bytes exchanged through linear memory.
//!
//! - `alloc(len) -> ptr` / `free(ptr, len)`: the host writes its inputs (UTF-8 JSON text, or
//!   codec text) into memory it allocated here, and frees it after the call.
//! - Every entry point returns a pointer to a **reply**: a little-endian `u32` status (0 = ok,
//!   1 = error), a `u32` length, then that many bytes (the result, or an error message). The
//!   host reads it and releases it with `reply_free(ptr)`. A null pointer means memory ran out.
//! - Values cross as JSON text (see [`Value::from_json_str`]); `null` is nil.
//!
//! Imports come only from the `host` module (see `luau/HOST.md`); the codec needs none.
//! Nothing here may panic: with `panic = "abort"` a panic is a trap that kills every session in
//! the host process, so every failure is a reply with status 1.

pub mod module;

use crate::codec;
use crate::value::Value;
use std::alloc::{alloc as raw_alloc, dealloc, Layout};

const OK: u32 = 0;
const ERROR: u32 = 1;
const HEADER: usize = 8;

fn layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(len.max(1), 8).ok()
}

/// Allocates `len` bytes for the host to write an input into.
#[cfg_attr(target_arch = "wasm32", export_name = "alloc")]
pub extern "C" fn cabi_alloc(len: u32) -> *mut u8 {
    match layout(len as usize) {
        // SAFETY: the layout has a non-zero size.
        Some(layout) => unsafe { raw_alloc(layout) },
        None => std::ptr::null_mut(),
    }
}

/// Frees memory from [`cabi_alloc`] with the same `len`.
///
/// # Safety
/// `ptr` must come from `alloc(len)` and not have been freed.
#[cfg_attr(target_arch = "wasm32", export_name = "free")]
pub unsafe extern "C" fn cabi_free(ptr: *mut u8, len: u32) {
    if let (false, Some(layout)) = (ptr.is_null(), layout(len as usize)) {
        dealloc(ptr, layout);
    }
}

fn reply(status: u32, body: &[u8]) -> *mut u8 {
    let Ok(len) = u32::try_from(body.len()) else {
        return std::ptr::null_mut();
    };
    let ptr = cabi_alloc(len.saturating_add(HEADER as u32));
    if ptr.is_null() {
        return ptr;
    }
    // SAFETY: `ptr` holds HEADER + body.len() bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(status.to_le_bytes().as_ptr(), ptr, 4);
        std::ptr::copy_nonoverlapping(len.to_le_bytes().as_ptr(), ptr.add(4), 4);
        std::ptr::copy_nonoverlapping(body.as_ptr(), ptr.add(HEADER), body.len());
    }
    ptr
}

fn respond(result: Result<String, String>) -> *mut u8 {
    match result {
        Ok(text) => reply(OK, text.as_bytes()),
        Err(message) => reply(ERROR, message.as_bytes()),
    }
}

/// Releases a reply.
///
/// # Safety
/// `ptr` must be a reply returned by this module and not yet released.
#[no_mangle]
pub unsafe extern "C" fn reply_free(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    let mut len = [0u8; 4];
    std::ptr::copy_nonoverlapping(ptr.add(4), len.as_mut_ptr(), 4);
    cabi_free(ptr, u32::from_le_bytes(len).saturating_add(HEADER as u32));
}

/// # Safety
/// `ptr..ptr+len` must be readable (or `len` zero).
unsafe fn input_bytes<'a>(ptr: *const u8, len: u32, what: &str) -> Result<&'a [u8], String> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(format!("{what}: null pointer"));
    }
    Ok(std::slice::from_raw_parts(ptr, len as usize))
}

/// # Safety
/// `ptr..ptr+len` must be readable (or `len` zero).
unsafe fn input<'a>(ptr: *const u8, len: u32, what: &str) -> Result<&'a str, String> {
    if len == 0 {
        return Ok("");
    }
    if ptr.is_null() {
        return Err(format!("{what}: null pointer"));
    }
    let bytes = std::slice::from_raw_parts(ptr, len as usize);
    std::str::from_utf8(bytes).map_err(|e| format!("{what}: not UTF-8 ({e})"))
}

/// Compression settings from JSON `{Level, Decimals, Safety}` (empty or `null`: the defaults).
fn settings(options: &str) -> Result<codec::Settings, String> {
    if options.trim().is_empty() {
        return Ok(codec::Settings::default());
    }
    match Value::from_json_str(options, "options").map_err(|e| e.to_string())? {
        Value::Nil => Ok(codec::Settings::default()),
        table => codec::Settings::from_compress_table(&table).map_err(|e| e.to_string()),
    }
}

/// `compress(value_json, options_json)` → reply with the compressed text.
///
/// # Safety
/// Both ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn codec_compress(
    value_ptr: *const u8,
    value_len: u32,
    options_ptr: *const u8,
    options_len: u32,
) -> *mut u8 {
    respond((|| {
        let settings = settings(input(options_ptr, options_len, "options")?)?;
        let json = input(value_ptr, value_len, "value")?;
        codec::json::compress(json, "value", &settings).map_err(|e| e.to_string())
    })())
}

/// `decompress(text, options_json)` → reply with the value as JSON text (`null` for nil).
///
/// # Safety
/// Both ranges must be readable host inputs written with `alloc`.
#[no_mangle]
pub unsafe extern "C" fn codec_decompress(
    text_ptr: *const u8,
    text_len: u32,
    options_ptr: *const u8,
    options_len: u32,
) -> *mut u8 {
    respond((|| {
        let settings = settings(input(options_ptr, options_len, "options")?)?;
        let text = input(text_ptr, text_len, "text")?;
        let json = codec::json::decompress(text, settings.decimals).map_err(|e| e.to_string())?;
        Ok(json.unwrap_or_else(|| "null".to_owned()))
    })())
}
