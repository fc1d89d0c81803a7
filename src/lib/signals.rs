//! Clean shutdown on SIGINT / SIGTERM, shared by every long-running command (`push-hf`'s
//! accumulate mode, and the miner and validator loops): the signal only sets a flag; the work
//! loop sees it, finishes or abandons what is in flight, flushes, and exits 0.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static DEV_NULL: AtomicI32 = AtomicI32::new(-1);

/// What a signal does to standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdin {
    /// Leave it alone.
    Keep,
    /// Point it at /dev/null: a loop blocked reading the next batch from a pipe would never
    /// see the flag; with stdin at /dev/null that read ends the stream, and the loop flushes.
    EndOnSignal,
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    let null = DEV_NULL.load(Ordering::SeqCst);
    if null >= 0 {
        // SAFETY: dup2 is async-signal-safe; both descriptors are ours.
        unsafe { libc::dup2(null, 0) };
    }
}

/// Installs the SIGINT / SIGTERM handler and returns the flag it sets.
pub fn stop_on_signals(stdin: Stdin) -> &'static AtomicBool {
    // SAFETY: opening /dev/null and installing a handler that only makes async-signal-safe calls.
    unsafe {
        if stdin == Stdin::EndOnSignal && DEV_NULL.load(Ordering::SeqCst) < 0 {
            let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            DEV_NULL.store(fd, Ordering::SeqCst);
        }
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    &STOP
}

/// The flag (set once a signal arrived); without [`stop_on_signals`] it stays false.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A test hook: `OMEGA_KILL_AT=NAME` makes the process SIGKILL itself at the named step, so the
/// crash tests can stop a push or a validator round at exact points. Only debug builds (what
/// `cargo test` runs) have it: a release build has no way to be told to kill itself.
#[cfg(debug_assertions)]
pub fn kill_point(name: &str) {
    if std::env::var("OMEGA_KILL_AT").is_ok_and(|v| v == name) {
        // SAFETY: raising a signal on our own process.
        unsafe { libc::raise(libc::SIGKILL) };
    }
}

#[cfg(not(debug_assertions))]
pub fn kill_point(_: &str) {}
