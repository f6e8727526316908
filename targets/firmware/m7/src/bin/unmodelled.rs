//! Reads eDMA0's first register: eDMA0 exists on silicon but has no model yet, so the
//! twin must stop with an error naming the core, the PC and the peripheral (not fault the
//! guest).
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{exit, hprintln, read};

#[entry]
fn main() -> ! {
    let verid = read(0x4007_0000);
    hprintln!("read eDMA0 CSR = {:#x}", verid);
    exit(false)
}
