//! FlexPWM1 submodule 0 as an ESC output (rt1176.md 3.9: the 16 MHz PWM clock; CH1 of the
//! Pixhawk 6X-RT is PWM1 SM0 PWM_A): CTRL.PRSC 4 divides by 16 (1 MHz), INIT 0 and VAL1 2499
//! give 400 Hz, VAL2 0 and VAL3 1500 a 1500 us pulse; RUN and LDOK start it, INTEN.RIE
//! interrupts at each reload on IRQ 125. Known answers: ten periods between the first reload
//! interrupt and the eleventh take 25 ms = 25 000 000 CM7 cycles at 1 GHz; the output reads
//! back as a 2.5 ms period with a 1.5 ms pulse.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m_rt::entry;
use fw_common::{dwt, exit, hprintln, nvic, set_handler};

const PWM1: u32 = 0x4018_C000;

static RELOADS: AtomicU32 = AtomicU32::new(0);
static FIRST: AtomicU32 = AtomicU32::new(0);
static ELEVENTH: AtomicU32 = AtomicU32::new(0);

fn w16(off: u32, v: u16) {
    // SAFETY: a 16-bit FlexPWM register of the twin.
    unsafe { core::ptr::write_volatile((PWM1 + off) as *mut u16, v) }
}

fn reload() {
    w16(0x24, 1 << 12); // STS.RF
    let n = RELOADS.fetch_add(1, Relaxed) + 1;
    if n == 1 {
        FIRST.store(dwt::cycles(), Relaxed);
    } else if n == 11 {
        ELEVENTH.store(dwt::cycles(), Relaxed);
    }
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    set_handler(125, reload);
    nvic::enable(125);
    w16(0x06, 4 << 4); // CTRL.PRSC: /16
    w16(0x02, 0); // INIT
    w16(0x0E, 2499); // VAL1
    w16(0x12, 0); // VAL2
    w16(0x16, 1500); // VAL3
    w16(0x26, 1 << 12); // INTEN.RIE
    w16(0x180, 1 << 8); // OUTEN.PWMA_EN[0]
    w16(0x188, (1 << 8) | 1); // MCTRL: RUN[0], LDOK[0]
    while RELOADS.load(Relaxed) < 11 {
        cortex_m::asm::wfi();
    }
    hprintln!(
        "pwm reloads=11 cycles={}",
        ELEVENTH.load(Relaxed).wrapping_sub(FIRST.load(Relaxed))
    );
    exit(true)
}
