//! SIGTERM and SIGINT start a graceful shutdown of every server (BindToClose, then exit); a
//! second one ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(128 + signal) };
    }
}

pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only touches an atomic and calls `_exit`.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}

/// Whether a signal came since the last call.
static SEEN: AtomicBool = AtomicBool::new(false);

pub fn take() -> bool {
    REQUESTED.load(Ordering::SeqCst) && !SEEN.swap(true, Ordering::SeqCst)
}
