//! Prints a line through semihosting and exits 0.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{exit, hprintln};

#[entry]
fn main() -> ! {
    hprintln!("hello from the cortex-m7");
    exit(true)
}
