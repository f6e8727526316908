//! Semihosting clocks: spins 10 000 000 cycles (10 ms at 1 GHz) of virtual time measured with
//! DWT, then prints SYS_CLOCK (centiseconds) and SYS_ELAPSED / SYS_TICKFREQ.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use cortex_m_semihosting::{nr, syscall, syscall1};
use fw_common::{dwt, exit, hprintln};

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    let start = dwt::cycles();
    while dwt::cycles().wrapping_sub(start) < 10_000_000 {}
    let centis = unsafe { syscall!(CLOCK) };
    let mut elapsed = [0u32; 2];
    // r1 points straight at the two-word result block.
    unsafe { syscall1(nr::ELAPSED, elapsed.as_mut_ptr() as usize) };
    let freq = unsafe { syscall!(TICKFREQ) };
    let ticks = (u64::from(elapsed[1]) << 32) | u64::from(elapsed[0]);
    hprintln!(
        "clock centis={} elapsed_ticks={} tickfreq={}",
        centis,
        ticks,
        freq
    );
    exit(true)
}
