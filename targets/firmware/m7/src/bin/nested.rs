//! Nesting, tail-chaining, BASEPRI and PRIMASK with three IRQs of priorities
//! 0xC0 (IRQ 20, "L"), 0x40 (IRQ 21, "H") and 0x80 (IRQ 22, "M"). Prints the order log.
//! Expected by the ARMv7-M rules: L1HhlL2l xHhML3l yHhL4l (spaces added here only).
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m_rt::entry;
use fw_common::{barrier, exit, hprintln, nvic, set_handler, Log};

static LOG: Log = Log::new();
static N20: AtomicU32 = AtomicU32::new(0);

fn low() {
    let n = N20.fetch_add(1, Relaxed) + 1;
    LOG.push(b'L');
    LOG.push(b'0' + n as u8);
    if n == 1 {
        nvic::pend(21); // higher priority: preempts right here
        barrier();
    }
    LOG.push(b'l');
}

fn high() {
    LOG.push(b'H');
    nvic::pend(20); // lower priority: waits, then tail-chains
    barrier();
    LOG.push(b'h');
}

fn mid() {
    LOG.push(b'M');
}

#[entry]
fn main() -> ! {
    set_handler(20, low);
    set_handler(21, high);
    set_handler(22, mid);
    for (irq, prio) in [(20, 0xC0), (21, 0x40), (22, 0x80)] {
        nvic::set_priority(irq, prio);
        nvic::enable(irq);
    }
    nvic::pend(20);
    barrier();
    // BASEPRI 0x80 masks 0x80 and below, not 0x40.
    unsafe { cortex_m::register::basepri::write(0x80) };
    barrier();
    nvic::pend(22);
    barrier();
    LOG.push(b'x');
    nvic::pend(21);
    barrier();
    unsafe { cortex_m::register::basepri::write(0) };
    barrier();
    // PRIMASK masks everything configurable.
    cortex_m::interrupt::disable();
    nvic::pend(21);
    barrier();
    LOG.push(b'y');
    unsafe { cortex_m::interrupt::enable() };
    barrier();
    let log = LOG.as_str();
    hprintln!("nested log={}", log);
    exit(log == "L1HhlL2lxHhML3lyHhL4l")
}
