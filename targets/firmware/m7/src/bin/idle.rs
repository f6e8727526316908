//! An idle firmware: WFI between 1 kHz SysTick ticks for one virtual minute, then exits.
//! Prints the tick count: 60 000.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m_rt::{entry, exception};
use fw_common::{exit, hprintln, write};

static TICKS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    TICKS.fetch_add(1, Relaxed);
}

#[entry]
fn main() -> ! {
    write(0xE000_E014, 999_999);
    write(0xE000_E018, 0);
    write(0xE000_E010, 0b111);
    while TICKS.load(Relaxed) < 60_000 {
        cortex_m::asm::wfi();
    }
    hprintln!("idle ticks={}", TICKS.load(Relaxed));
    exit(true)
}
