//! SysTick at 1 kHz from the 1 GHz core clock (RVR = 999 999). Timestamps every tick with DWT
//! CYCCNT: prints how many ticks fall in the first virtual second after the first tick, and the
//! cycles between tick 1 and tick 1001. Known answers: 1000 and 1 000 000 000.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use cortex_m_rt::{entry, exception};
use fw_common::{dwt, exit, hprintln, write};

static TICKS: AtomicU32 = AtomicU32::new(0);
static FIRST: AtomicU32 = AtomicU32::new(0);
static IN_WINDOW: AtomicU32 = AtomicU32::new(0);
static SPAN: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicBool = AtomicBool::new(false);

#[exception]
fn SysTick() {
    let now = dwt::cycles();
    let n = TICKS.fetch_add(1, Relaxed) + 1;
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
    }
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    write(0xE000_E014, 999_999); // RVR
    write(0xE000_E018, 0); // CVR
    write(0xE000_E010, 0b111); // CLKSOURCE = core, TICKINT, ENABLE
    while !DONE.load(Relaxed) {
        cortex_m::asm::wfi();
    }
    hprintln!(
        "systick ticks_in_1s={} cycles_tick1_to_tick1001={}",
        IN_WINDOW.load(Relaxed),
        SPAN.load(Relaxed)
    );
    exit(true)
}
