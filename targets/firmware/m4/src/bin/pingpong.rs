//! The dual-core demo, CM4 side: announces itself in OCRAM1, then answers every MU message on
//! channel 0 with 3x+1 from its receive interrupt, counting its boots and replies in OCRAM1.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{nvic, read, set_handler, write};

const MUB: u32 = 0x40C4_C000;
const SHARED: u32 = 0x2024_0000;
const READY: u32 = 0xB007_4D34;

fn on_mu() {
    if read(MUB + 0x20) & (1 << 27) != 0 {
        let x = read(MUB + 0x10);
        while read(MUB + 0x20) & (1 << 23) == 0 {}
        write(MUB, x.wrapping_mul(3).wrapping_add(1));
        write(SHARED + 4, read(SHARED + 4) + 1);
    }
}

#[entry]
fn main() -> ! {
    set_handler(118, on_mu);
    nvic::enable(118);
    write(MUB + 0x24, 1 << 27); // CR.RIE0
    write(SHARED + 8, read(SHARED + 8) + 1); // boot count
    write(SHARED, READY);
    loop {
        cortex_m::asm::wfi();
    }
}
