//! GPIO1 interrupt edges (rt1176.md 3.5): pin 3 configured for rising edges (ICR1 = 0b10) and
//! pin 20 for both edges (EDGE_SEL), both outputs toggled four times from low through
//! DR_TOGGLE. Known answers: two rising edges on pin 3 (IRQ 100, pins 0-15) and four edges on
//! pin 20 (IRQ 101, pins 16-31); PSR reads back the latch.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m_rt::entry;
use fw_common::{exit, hprintln, nvic, read, set_handler, write};

const GPIO1: u32 = 0x4012_C000;
const GDIR: u32 = GPIO1 + 0x04;
const PSR: u32 = GPIO1 + 0x08;
const ICR1: u32 = GPIO1 + 0x0C;
const IMR: u32 = GPIO1 + 0x14;
const ISR: u32 = GPIO1 + 0x18;
const EDGE_SEL: u32 = GPIO1 + 0x1C;
const DR_TOGGLE: u32 = GPIO1 + 0x8C;

static LOW: AtomicU32 = AtomicU32::new(0);
static HIGH: AtomicU32 = AtomicU32::new(0);

fn low() {
    write(ISR, read(ISR) & 0xFFFF);
    LOW.fetch_add(1, Relaxed);
}

fn high() {
    write(ISR, read(ISR) & 0xFFFF_0000);
    HIGH.fetch_add(1, Relaxed);
}

/// A few hundred cycles: ample for a pending interrupt to be taken.
fn settle() {
    for _ in 0..100 {
        cortex_m::asm::nop();
    }
}

#[entry]
fn main() -> ! {
    set_handler(100, low);
    set_handler(101, high);
    write(GDIR, (1 << 3) | (1 << 20));
    write(ICR1, 0b10 << 6); // pin 3: rising edge
    write(EDGE_SEL, 1 << 20);
    write(ISR, u32::MAX); // the reset mode (low level) flagged every low pin
    write(IMR, (1 << 3) | (1 << 20));
    nvic::enable(100);
    nvic::enable(101);
    // Each toggle is given time to interrupt before the next (an edge that comes while ISR
    // is still set is not counted twice, on silicon as here).
    for _ in 0..4 {
        write(DR_TOGGLE, 1 << 3);
        settle();
    }
    let psr_mid = read(PSR) & (1 << 20);
    for _ in 0..4 {
        write(DR_TOGGLE, 1 << 20);
        settle();
    }
    hprintln!(
        "gpio rising={} both={} psr20_before={}",
        LOW.load(Relaxed),
        HIGH.load(Relaxed),
        psr_mid >> 20
    );
    exit(true)
}
