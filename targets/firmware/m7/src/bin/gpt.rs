//! GPT1 at 1 kHz: 24 MHz root (CLKSRC = 1), prescaler 24 -> 1 MHz, restart mode at OCR1 = 999,
//! compare interrupt on IRQ 119. Timestamps every interrupt with DWT CYCCNT and prints how many
//! fall in the first virtual second after the first, and the cycles between interrupts 1 and
//! 1001. Known answers: 1000 and 1 000 000 000.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common::{dwt, exit, hprintln, nvic, set_handler, write};

const GPT1: u32 = 0x400E_C000;
static N: AtomicU32 = AtomicU32::new(0);
static FIRST: AtomicU32 = AtomicU32::new(0);
static IN_WINDOW: AtomicU32 = AtomicU32::new(0);
static SPAN: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicBool = AtomicBool::new(false);

fn isr() {
    let now = dwt::cycles();
    write(GPT1 + 0x08, 1); // SR.OF1, write 1 to clear
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
        write(GPT1, 0); // stop
    }
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    set_handler(119, isr);
    nvic::enable(119);
    write(GPT1 + 0x04, 23); // PR: divide by 24
    write(GPT1 + 0x10, 999); // OCR1
    write(GPT1 + 0x0C, 1); // IR.OF1IE
    write(GPT1, (1 << 6) | (1 << 1) | 1); // CLKSRC=ipg, ENMOD, EN (restart mode)
    while !DONE.load(Relaxed) {
        cortex_m::asm::wfi();
    }
    hprintln!(
        "gpt irqs_in_1s={} cycles_irq1_to_irq1001={}",
        IN_WINDOW.load(Relaxed),
        SPAN.load(Relaxed)
    );
    exit(true)
}
