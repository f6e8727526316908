//! SysTick at 1 kHz from the 1 GHz core clock (RVR = 999 999). Prints how many ticks fall in the
//! first virtual second after the first, and the cycles between ticks 1 and 1001.
//! Known answers: 1000 and 1 000 000 000.
#![no_std]
#![no_main]
use cortex_m_rt::{entry, exception};
use fw_common::{dwt, write, RateProbe};

static PROBE: RateProbe = RateProbe::new();

#[exception]
fn SysTick() {
    PROBE.record();
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    write(0xE000_E014, 999_999); // RVR
    write(0xE000_E018, 0); // CVR
    write(0xE000_E010, 0b111); // CLKSOURCE = core, TICKINT, ENABLE
    PROBE.wait_and_report("systick")
}
