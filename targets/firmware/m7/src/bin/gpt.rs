//! GPT1 at 1 kHz: 24 MHz root (CLKSRC = 1), prescaler 24 -> 1 MHz, restart mode at OCR1 = 999,
//! compare interrupt on IRQ 119. Known answers: 1000 interrupts in the first virtual second
//! after the first one, 1 000 000 000 cycles from the first to the 1001st.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{dwt, nvic, set_handler, write, RateProbe};

const GPT1: u32 = 0x400E_C000;
static PROBE: RateProbe = RateProbe::new();

fn isr() {
    write(GPT1 + 0x08, 1); // SR.OF1, write 1 to clear
    if PROBE.record() {
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
    PROBE.wait_and_report("gpt")
}
