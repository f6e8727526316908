//! LPUART1 at 115 200 baud (rt1176.md 3.6: OSR 15, SBR 13 from the 24 MHz root) as an echo: each
//! byte received (RX interrupt, NVIC line 20) goes back upper-cased. Runs until stopped; the
//! test drives it from the other end of `sim run --uart LPUART1=pty`.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{nvic, read, set_handler, write};

const UART: u32 = 0x4007_C000;
const BAUD: u32 = UART + 0x10;
const CTRL: u32 = UART + 0x18;
const DATA: u32 = UART + 0x1C;
const FIFO: u32 = UART + 0x28;
const RE: u32 = 1 << 18;
const TE: u32 = 1 << 19;
const RIE: u32 = 1 << 21;
const RXEMPT: u32 = 1 << 12;

fn isr() {
    loop {
        let w = read(DATA);
        if w & RXEMPT != 0 {
            break;
        }
        write(DATA, u32::from((w as u8).to_ascii_uppercase()));
    }
}

#[entry]
fn main() -> ! {
    write(BAUD, (15 << 24) | 13);
    write(FIFO, (1 << 3) | (1 << 7));
    set_handler(20, isr);
    nvic::enable(20);
    write(CTRL, RE | TE | RIE);
    loop {
        cortex_m::asm::wfi();
    }
}
