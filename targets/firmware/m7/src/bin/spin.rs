//! Counts forever in thread mode, never sleeping and never exiting: a run that only a time
//! limit, a debugger or the user ends (the GDB server's Ctrl-C test).
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common as _; // the panic handler and the vector table's handlers

#[no_mangle]
static SPINS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    loop {
        SPINS.fetch_add(1, Relaxed);
    }
}
