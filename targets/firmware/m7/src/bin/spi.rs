//! LPSPI2 and its ICM-42688-P (rt1176.md 3.7, 5.1, 6): the chip select is GPIO3 pin 24 (active
//! low, driven as an output here), 8-bit frames at SCK = 24 MHz / (SCKDIV 4 + 2) = 4 MHz.
//! Known answers: WHO_AM_I (0x75 | 0x80) reads 0x47; PWR_MGMT0 (0x4E) reads back what was
//! written; two frames of 8 bits at 4 MHz take 4 us = 4000 CM7 cycles from the first TDR write
//! to the second received word; a frame on a bus with nothing selected reads 0xFF.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::{dwt, exit, hprintln, read, write};

const SPI: u32 = 0x4011_8000;
const CR: u32 = SPI + 0x10;
const CFGR1: u32 = SPI + 0x24;
const CCR: u32 = SPI + 0x40;
const FSR: u32 = SPI + 0x5C;
const TCR: u32 = SPI + 0x60;
const TDR: u32 = SPI + 0x64;
const RDR: u32 = SPI + 0x74;
const GPIO3: u32 = 0x4013_4000;
const CS: u32 = 1 << 24;

fn cs(low: bool) {
    write(GPIO3 + if low { 0x88 } else { 0x84 }, CS); // DR_CLEAR / DR_SET
}

/// Send `tx` in one transaction (CS low around it); the words received.
fn transaction(tx: &[u32], rx: &mut [u32]) {
    cs(true);
    for &w in tx {
        write(TDR, w);
    }
    while (read(FSR) >> 16) & 0x1F < tx.len() as u32 {}
    for r in rx.iter_mut().take(tx.len()) {
        *r = read(RDR);
    }
    cs(false);
}

#[entry]
fn main() -> ! {
    dwt::enable_cycle_counter();
    write(GPIO3 + 0x84, CS); // CS high before it is an output
    write(GPIO3 + 0x04, CS); // GDIR
    write(CFGR1, 1); // MASTER
    write(CCR, 4); // SCKDIV
    write(CR, 1); // MEN
    write(TCR, 7); // 8-bit frames
    let mut rx = [0u32; 2];

    cs(true);
    let c0 = dwt::cycles();
    write(TDR, 0x80 | 0x75);
    write(TDR, 0);
    while (read(FSR) >> 16) & 0x1F < 2 {}
    let cycles = dwt::cycles().wrapping_sub(c0);
    let _ = read(RDR);
    let who = read(RDR);
    cs(false);

    transaction(&[0x4E, 0x0F], &mut rx);
    transaction(&[0x80 | 0x4E, 0], &mut rx);
    let pwr = rx[1];

    // Nobody selected: the bus floats high.
    write(TDR, 0x80 | 0x75);
    while (read(FSR) >> 16) & 0x1F < 1 {}
    let floating = read(RDR);

    hprintln!(
        "spi whoami={:#x} pwr_mgmt0={:#x} floating={:#x} cycles={}",
        who,
        pwr,
        floating,
        cycles
    );
    exit(true)
}
