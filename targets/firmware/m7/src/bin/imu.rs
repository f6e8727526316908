//! The ICM-42688-P on LPSPI2 driven by its data-ready line (rt1176.md 5.1: DRDY on GPIO2 pin 7,
//! chip select GPIO3 pin 24): a rising-edge interrupt on GPIO2 (IRQ 102, pins 0-15) wakes the
//! main loop, which burst-reads TEMP_DATA1 .. GYRO_DATA_Z0 (0x1D-0x2A, 14 bytes big-endian)
//! and then INT_STATUS (which releases the line). The test feeds two samples; each is printed
//! as the raw words, with the status.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m_rt::entry;
use fw_common::{exit, hprintln, nvic, read, set_handler, write};

const SPI: u32 = 0x4011_8000;
const FSR: u32 = SPI + 0x5C;
const TDR: u32 = SPI + 0x64;
const RDR: u32 = SPI + 0x74;
const GPIO2: u32 = 0x4013_0000;
const GPIO3: u32 = 0x4013_4000;
const CS: u32 = 1 << 24;
const DRDY: u32 = 1 << 7;

static READY: AtomicU32 = AtomicU32::new(0);

fn drdy() {
    write(GPIO2 + 0x18, DRDY); // ISR
    READY.fetch_add(1, Relaxed);
}

/// One transaction: the words sent, the bytes received into `rx`.
fn transaction(tx: &[u32], rx: &mut [u8]) {
    write(GPIO3 + 0x88, CS);
    let mut got = 0;
    for &w in tx {
        write(TDR, w);
        // Keep the 16-word FIFOs from filling: take what has arrived.
        while (read(FSR) >> 16) & 0x1F > 0 {
            rx[got] = read(RDR) as u8;
            got += 1;
        }
    }
    while got < tx.len() {
        if (read(FSR) >> 16) & 0x1F > 0 {
            rx[got] = read(RDR) as u8;
            got += 1;
        }
    }
    write(GPIO3 + 0x84, CS);
}

#[entry]
fn main() -> ! {
    write(GPIO3 + 0x84, CS);
    write(GPIO3 + 0x04, CS);
    write(SPI + 0x24, 1); // MASTER
    write(SPI + 0x40, 4); // SCKDIV
    write(SPI + 0x10, 1); // MEN
    write(SPI + 0x60, 7); // 8-bit frames
    set_handler(102, drdy);
    write(GPIO2 + 0x0C, 0b10 << 14); // pin 7: rising edge
    write(GPIO2 + 0x18, u32::MAX);
    write(GPIO2 + 0x14, DRDY);
    nvic::enable(102);
    for k in 0..2 {
        while READY.load(Relaxed) == k {
            cortex_m::asm::wfi();
        }
        let mut tx = [0u32; 15];
        tx[0] = 0x80 | 0x1D;
        let mut rx = [0u8; 15];
        transaction(&tx, &mut rx);
        let w = |i: usize| i16::from_be_bytes([rx[1 + 2 * i], rx[2 + 2 * i]]);
        let mut st = [0u8; 2];
        transaction(&[0x80 | 0x2D, 0], &mut st);
        hprintln!(
            "imu {} temp={} accel=[{}, {}, {}] gyro=[{}, {}, {}] int_status={:#x} drdy_now={}",
            k,
            w(0),
            w(1),
            w(2),
            w(3),
            w(4),
            w(5),
            w(6),
            st[1],
            (read(GPIO2 + 0x08) >> 7) & 1
        );
    }
    exit(true)
}
