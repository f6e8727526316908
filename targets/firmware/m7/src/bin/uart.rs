//! LPUART1 known answers (rt1176.md 3.6). 115 200 baud from the 24 MHz LPUART root: BAUD OSR
//! 15 (x16) and SBR 13 give 24e6 / (16 x 13) = 115 384.6 baud, so a frame of 10 bits (start, 8
//! data, stop) is 2080 root clocks = 86 666.67 ns = 86 666.67 CM7 cycles at 1 GHz.
//! 1. A banner through the 4-word TX FIFO, polling TDRE: from the first write to TC the line
//!    takes one frame per byte.
//! 2. Loopback (CTRL.LOOPS): five words sent with nobody reading, so the 4-word RX FIFO keeps
//!    the first four and OR is set.
//! 3. Interrupt-driven receive in loopback: RIE and NVIC line 20 (LPUART1 = 19 + 1); the ISR
//!    drains DATA.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m_rt::entry;
use fw_common::{dwt, exit, hprintln, nvic, read, set_handler, write};

const UART: u32 = 0x4007_C000;
const BAUD: u32 = UART + 0x10;
const STAT: u32 = UART + 0x14;
const CTRL: u32 = UART + 0x18;
const DATA: u32 = UART + 0x1C;
const FIFO: u32 = UART + 0x28;
const TDRE: u32 = 1 << 23;
const TC: u32 = 1 << 22;
const RDRF: u32 = 1 << 21;
const OR: u32 = 1 << 19;
const RE: u32 = 1 << 18;
const TE: u32 = 1 << 19;
const RIE: u32 = 1 << 21;
const LOOPS: u32 = 1 << 7;

const BANNER: &[u8] = b"rt-twin: LPUART1 at 115200 baud\n";

static RECEIVED: AtomicU32 = AtomicU32::new(0);
static SUM: AtomicU32 = AtomicU32::new(0);

fn isr() {
    while read(STAT) & RDRF != 0 {
        let w = read(DATA) & 0x3FF;
        SUM.fetch_add(w, Relaxed);
        RECEIVED.fetch_add(1, Relaxed);
    }
}

fn wait(bit: u32) {
    while read(STAT) & bit == 0 {}
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    write(BAUD, (15 << 24) | 13);
    write(FIFO, (1 << 7) | (1 << 3)); // TXFE, RXFE
    write(CTRL, TE);

    // 1. The banner.
    let c0 = dwt::cycles();
    for &b in BANNER {
        wait(TDRE);
        write(DATA, u32::from(b));
    }
    wait(TC);
    let cycles = dwt::cycles().wrapping_sub(c0);
    hprintln!("uart tx_bytes={} cycles={}", BANNER.len(), cycles);

    // 2. Loopback, nobody reading: four kept, the fifth overruns.
    write(CTRL, TE | RE | LOOPS);
    for w in 1..=5 {
        wait(TDRE);
        write(DATA, w);
    }
    wait(TC);
    let stat = read(STAT);
    let mut got = [0u32; 4];
    for g in &mut got {
        *g = read(DATA) & 0x3FF;
    }
    let empty = read(DATA) & (1 << 12) != 0;
    hprintln!(
        "uart loop rx={:?} or={} then_empty={}",
        got,
        u32::from(stat & OR != 0),
        empty
    );
    write(STAT, OR);

    // 3. Interrupt-driven receive.
    set_handler(20, isr);
    nvic::enable(20);
    write(CTRL, TE | RE | LOOPS | RIE);
    for w in [0x10, 0x20, 0x30] {
        wait(TDRE);
        write(DATA, w);
    }
    while RECEIVED.load(Relaxed) < 3 {
        cortex_m::asm::wfi();
    }
    hprintln!(
        "uart irq rx={} sum={:#x}",
        RECEIVED.load(Relaxed),
        SUM.load(Relaxed)
    );
    exit(true)
}
