//! Ends the run with SYS_EXIT_EXTENDED (ADP_Stopped_ApplicationExit, subcode 42): `sim run`
//! must exit with 42.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use cortex_m_semihosting::syscall1;
use fw_common as _; // panic handler, interrupt table

/// SYS_EXIT_EXTENDED (ARM semihosting v2).
const SYS_EXIT_EXTENDED: usize = 0x20;

#[entry]
fn main() -> ! {
    let block = [0x20026u32, 42];
    unsafe { syscall1(SYS_EXIT_EXTENDED, block.as_ptr() as usize) };
    loop {
        cortex_m::asm::wfi();
    }
}
