//! PIT1 channel 0 at 1 kHz from the 240 MHz bus clock (LDVAL = 239 999), IRQ 155; and the
//! chained 64-bit lifetime timer on channels 2+3 is not used here. Same measurement as gpt.rs;
//! known answers: 1000 and 1 000 000 000.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common::{dwt, exit, hprintln, nvic, set_handler, write};

const PIT1: u32 = 0x400D_8000;
static N: AtomicU32 = AtomicU32::new(0);
static FIRST: AtomicU32 = AtomicU32::new(0);
static IN_WINDOW: AtomicU32 = AtomicU32::new(0);
static SPAN: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicBool = AtomicBool::new(false);

fn isr() {
    let now = dwt::cycles();
    write(PIT1 + 0x10C, 1); // TFLG0.TIF
    let n = N.fetch_add(1, Relaxed) + 1;
    if n == 1 {
        FIRST.store(now, Relaxed);
    }
    let elapsed = now.wrapping_sub(FIRST.load(Relaxed));
    if elapsed < 1_000_000_000 {
        IN_WINDOW.fetch_add(1, Relaxed);
    }
    if n == 1001 {
        SPAN.store(elapsed, Relaxed);
        DONE.store(true, Relaxed);
        write(PIT1 + 0x108, 0);
    }
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    set_handler(155, isr);
    nvic::enable(155);
    write(PIT1, 0); // MCR: MDIS = 0
    write(PIT1 + 0x100, 239_999); // LDVAL0
    write(PIT1 + 0x108, 0b11); // TCTRL0: TIE, TEN
    while !DONE.load(Relaxed) {
        cortex_m::asm::wfi();
    }
    hprintln!(
        "pit irqs_in_1s={} cycles_irq1_to_irq1001={}",
        IN_WINDOW.load(Relaxed),
        SPAN.load(Relaxed)
    );
    exit(true)
}
