//! LPI2C3 and the BMM150 at 0x10 (rt1176.md 5.2, 6). Known answers: the part reads 0 until
//! POWER_CONTROL bit0 is set, then CHIP_ID 0x32 and sleep (OP_MODE 0x06); in normal mode, after
//! the twin feeds a field, the data registers (X/Y 13-bit, Z 15-bit, RHALL; Bosch's layout)
//! compensate through Bosch's floating-point formula (applied here in f32, as Bosch's sensor
//! API writes it, from the trim read at 0x5D) to that field.
#![no_std]
#![no_main]
use cortex_m_rt::entry;
use fw_common::lpi2c::Bus;
use fw_common::{exit, hprintln};

const I2C: Bus = Bus(0x4010_C000);
const ADDR: u32 = 0x10;

fn reg(r: u32) -> u8 {
    let mut b = [0u8; 1];
    I2C.read_regs(ADDR, r, &mut b);
    b[0]
}

fn i16le(b: &[u8]) -> i16 {
    i16::from_le_bytes([b[0], b[1]])
}

#[entry]
fn main() -> ! {
    I2C.enable(28, 1);
    let suspended_id = reg(0x40);
    I2C.write_reg(ADDR, 0x4B, 0x01);
    let id = reg(0x40);
    let mode = reg(0x4C);

    // Trim (0x5D..=0x71).
    let mut t = [0u8; 21];
    I2C.read_regs(ADDR, 0x5D, &mut t);
    let at = |r: usize| r - 0x5D;
    let x1 = f32::from(t[at(0x5D)] as i8);
    let y1 = f32::from(t[at(0x5E)] as i8);
    let z4 = f32::from(i16le(&t[at(0x62)..]));
    let x2 = f32::from(t[at(0x64)] as i8);
    let y2 = f32::from(t[at(0x65)] as i8);
    let z2 = f32::from(i16le(&t[at(0x68)..]));
    let z1 = f32::from(u16::from_le_bytes([t[at(0x6A)], t[at(0x6B)]]));
    let xyz1 = f32::from(u16::from_le_bytes([t[at(0x6C)], t[at(0x6D)] & 0x7F]));
    let z3 = f32::from(i16le(&t[at(0x6E)..]));
    let xy2 = f32::from(t[at(0x70)] as i8);
    let xy1 = f32::from(t[at(0x71)]);

    I2C.write_reg(ADDR, 0x4C, 0x00); // normal mode
    while reg(0x48) & 1 == 0 {}
    let mut d = [0u8; 8];
    I2C.read_regs(ADDR, 0x42, &mut d);
    let raw_x = f32::from(i16le(&d[0..]) >> 3);
    let raw_y = f32::from(i16le(&d[2..]) >> 3);
    let raw_z = f32::from(i16le(&d[4..]) >> 1);
    let rhall = f32::from(u16::from_le_bytes([d[6], d[7]]) >> 2);
    let drdy_after = reg(0x48) & 1;

    let c0 = xyz1 * 16384.0 / rhall;
    let r = c0 - 16384.0;
    let c1 = xy2 * (r * r / 268_435_456.0);
    let c2 = c1 + r * xy1 / 16384.0;
    let axis = |raw: f32, d1: f32, d2: f32| {
        let c4 = raw * ((c2 + 256.0) * (d2 + 160.0));
        ((c4 / 8192.0) + (d1 * 8.0)) / 16.0
    };
    let bx = axis(raw_x, x1, x2);
    let by = axis(raw_y, y1, y2);
    let z5 = (raw_z - z4) * 131_072.0 - z3 * (rhall - xyz1);
    let bz = (z5 / ((z2 + z1 * rhall / 32768.0) * 4.0)) / 16.0;
    hprintln!(
        "mag suspended_id={} chip_id={:#x} mode={:#x} drdy_after={} x_nt={} y_nt={} z_nt={}",
        suspended_id,
        id,
        mode,
        drdy_after,
        (bx * 1000.0) as i32,
        (by * 1000.0) as i32,
        (bz * 1000.0) as i32
    );
    exit(true)
}
