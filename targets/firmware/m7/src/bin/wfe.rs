//! WFE as the idle instruction: SysTick at 1 kHz wakes the core (exception entry); after 100
//! ticks it prints the count.
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
    while TICKS.load(Relaxed) < 100 {
        cortex_m::asm::wfe();
    }
    hprintln!("wfe ticks={}", TICKS.load(Relaxed));
    exit(true)
}
