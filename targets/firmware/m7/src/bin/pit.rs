//! PIT1 channel 0 at 1 kHz from the 240 MHz bus clock (LDVAL = 239 999), IRQ 155. Known answers
//! as for gpt.rs: 1000 interrupts per virtual second, 1 000 000 000 cycles over 1000 periods.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{dwt, nvic, set_handler, write, RateProbe};

const PIT1: u32 = 0x400D_8000;
static PROBE: RateProbe = RateProbe::new();

fn isr() {
    write(PIT1 + 0x10C, 1); // TFLG0.TIF
    if PROBE.record() {
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
    PROBE.wait_and_report("pit")
}
