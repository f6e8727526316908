//! SIGINT and SIGTERM for the long runs (`sim --scenario`, `sim sweep`, target mode): the first
//! signal asks the run to stop where it can keep what it did (the end of the current tick, the
//! runs in flight); a second exits at once with the same code. The exit code is 128 + the
//! signal's number (130 for SIGINT, 143 for SIGTERM), as shells report a process the signal
//! killed.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Raised by the first signal (what `sweep::Campaign` polls).
pub static STOP: AtomicBool = AtomicBool::new(false);
/// The first signal's number (0: none yet).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Listen for SIGINT and SIGTERM from now on; `what` says in the message what the first one
/// keeps. Idempotent: later calls change nothing.
pub fn install(what: &'static str) {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        eprintln!(
            "sim: warning: cannot listen for SIGINT/SIGTERM: an interrupt ends the run at once"
        );
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if SIGNAL
                    .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    // The second signal: what is flushed is on disk; leave now.
                    std::process::exit(exit_code(sig).into());
                }
                STOP.store(true, Ordering::SeqCst);
                eprintln!(
                    "\nsim: {}: stopping, {what} (again to quit at once)",
                    name(sig)
                );
            }
        });
    if spawned.is_err() {
        eprintln!(
            "sim: warning: cannot start the signal thread: an interrupt ends the run at once"
        );
    }
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code of a run a signal stopped: 128 + its number.
pub fn exit_code(sig: i32) -> u8 {
    u8::try_from(128 + sig).unwrap_or(u8::MAX)
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
