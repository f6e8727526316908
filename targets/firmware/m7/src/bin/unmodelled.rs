//! Reads LPI2C1's VERID: LPI2C1 exists on silicon but has no model yet, so the twin must stop
//! with an error naming the core, the PC and the peripheral (not fault the guest).
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{exit, hprintln, read};

#[entry]
fn main() -> ! {
    let verid = read(0x4010_4000);
    hprintln!("read LPI2C1 VERID = {:#x}", verid);
    exit(false)
}
