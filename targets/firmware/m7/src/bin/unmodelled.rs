//! Reads FlexPWM1's first register: FlexPWM1 exists on silicon but has no model yet, so the
//! twin must stop with an error naming the core, the PC and the peripheral (not fault the
//! guest).
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{exit, hprintln, read};

#[entry]
fn main() -> ! {
    let verid = read(0x4018_C000);
    hprintln!("read FlexPWM1 SM0CNT = {:#x}", verid);
    exit(false)
}
