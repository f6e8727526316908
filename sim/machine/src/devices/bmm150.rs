//! Bosch BMM150 magnetometer on I2C (0x10 on the Pixhawk 6X-RT rev 000's LPI2C3, rt1176.md 5.2).
//!
//! Source: rt1176.md section 6 (CHIP_ID 0x40 -> 0x32; reads 0 unless POWER_CONTROL 0x4B bit0 is
//! set; soft reset 0x4B = 0x82; data 0x42-0x49: X/Y 13-bit, Z 15-bit, RHALL; OP_MODE 0x4C,
//! REPXY 0x51, REPZ 0x52; trim 0x5D-0x71). From Bosch's BMM150 datasheet and sensor API (not in
//! rt1176.md; checked against the API's published register map and its floating-point
//! compensation): the data layout (0x42 bits 7:3 = X[4:0], 0x43 = X[12:5], the same for Y at
//! 0x44; 0x46 bits 7:1 = Z[6:0], 0x47 = Z[14:7]; 0x48 bits 7:2 = RHALL[5:0] and bit0 = data
//! ready, 0x49 = RHALL[13:6]), OP_MODE bits 2:1 (00 normal, 01 forced, 11 sleep, the reset
//! value), the trim layout (dig_x1 i8 @0x5D, dig_y1 i8 @0x5E, dig_z4 i16 @0x62, dig_x2 i8 @0x64,
//! dig_y2 i8 @0x65, dig_z2 i16 @0x68, dig_z1 u16 @0x6A, dig_xyz1 u15 @0x6C, dig_z3 i16 @0x6E,
//! dig_xy2 i8 @0x70, dig_xy1 u8 @0x71, little-endian) and the compensation ([`compensate`]).
//! The part keeps its own trim (the project's values, [`TRIM`]) and, given the true field,
//! puts in the data registers the raw counts that compensate back to it.
//!
//! | Reg | Implemented |
//! |-----|-------------|
//! | 0x40 CHIP_ID | 0x32 (powered) |
//! | 0x42-0x49 DATA | the raw X, Y, Z and RHALL of the latest measurement; DRDY (0x48 bit0) set by a new one, cleared when 0x49 (the data's last byte) is read |
//! | 0x4A INT_STATUS | 0 |
//! | 0x4B POWER_CONTROL | bit0 power; bits 7 and 1 (0x82) soft reset, self-clearing: every register to reset, power kept |
//! | 0x4C OP_MODE | stored; reset 0x06 (sleep); a forced measurement (bits 2:1 = 01) goes back to sleep |
//! | 0x5D-0x71 | the trim ([`TRIM`]); read-only |
//! | everything else | keeps what was written (0 after reset) |
//!
//! Suspended (POWER_CONTROL bit0 clear, the state at power-up), every register but 0x4B reads 0
//! and ignores writes. A measurement the twin feeds lands in the data registers in normal mode
//! and in a pending forced mode; in sleep and suspend it is dropped. Not modelled: measurement
//! timing and the repetitions' effect on noise, ODR, self-test, the interrupt and DRDY pins,
//! threshold interrupts, overflow (counts saturate one short of the overflow codes -4096 and
//! -16384).

use super::{RegPointer, RegisterMap};

/// The project's trim: dig_x1, dig_y1, dig_x2, dig_y2, dig_z1, dig_z2, dig_z3, dig_z4, dig_xy1,
/// dig_xy2, dig_xyz1 (every term of the compensation non-zero).
pub const TRIM: Trim = Trim {
    x1: 2,
    y1: -3,
    x2: 20,
    y2: 24,
    z1: 24_000,
    z2: 700,
    z3: -50,
    z4: 100,
    xy1: 28,
    xy2: -4,
    xyz1: 6600,
};

/// The hall resistance the part reports (the project's value, near dig_xyz1 as on parts).
pub const RHALL: u16 = 6680;

/// The trim registers' values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trim {
    pub x1: i8,
    pub y1: i8,
    pub x2: i8,
    pub y2: i8,
    pub z1: u16,
    pub z2: i16,
    pub z3: i16,
    pub z4: i16,
    pub xy1: u8,
    pub xy2: i8,
    pub xyz1: u16,
}

impl Trim {
    /// The bytes at 0x5D..=0x71 (0x5F-0x61 and 0x66-0x67 read 0).
    pub fn bytes(&self) -> [u8; 21] {
        let mut b = [0u8; 21];
        let at = |reg: usize| reg - 0x5D;
        b[at(0x5D)] = self.x1 as u8;
        b[at(0x5E)] = self.y1 as u8;
        b[at(0x62)..at(0x64)].copy_from_slice(&self.z4.to_le_bytes());
        b[at(0x64)] = self.x2 as u8;
        b[at(0x65)] = self.y2 as u8;
        b[at(0x68)..at(0x6A)].copy_from_slice(&self.z2.to_le_bytes());
        b[at(0x6A)..at(0x6C)].copy_from_slice(&self.z1.to_le_bytes());
        b[at(0x6C)..at(0x6E)].copy_from_slice(&(self.xyz1 & 0x7FFF).to_le_bytes());
        b[at(0x6E)..at(0x70)].copy_from_slice(&self.z3.to_le_bytes());
        b[at(0x70)] = self.xy2 as u8;
        b[at(0x71)] = self.xy1;
        b
    }

    /// The X/Y gain's temperature term at `rhall`: Bosch's `process_comp_x2 + 256`.
    fn xy_term(&self, rhall: u16) -> f64 {
        let r = f64::from(self.xyz1) * 16384.0 / f64::from(rhall) - 16384.0;
        f64::from(self.xy2) * (r * r / 268_435_456.0) + r * f64::from(self.xy1) / 16384.0 + 256.0
    }

    /// The Z denominator at `rhall`: Bosch's `process_comp_z4 * 4`.
    fn z_term(&self, rhall: u16) -> f64 {
        (f64::from(self.z2) + f64::from(self.z1) * f64::from(rhall) / 32768.0) * 4.0
    }
}

/// Bosch's floating-point compensation: raw X, Y, Z counts and RHALL to microtesla.
pub fn compensate(t: &Trim, raw: [i16; 3], rhall: u16) -> [f64; 3] {
    let xy = |raw: i16, d1: i8, d2: i8| {
        let g = f64::from(raw) * (t.xy_term(rhall) * (f64::from(d2) + 160.0));
        (g / 8192.0 + f64::from(d1) * 8.0) / 16.0
    };
    let z0 = f64::from(raw[2]) - f64::from(t.z4);
    let z2 = f64::from(t.z3) * (f64::from(rhall) - f64::from(t.xyz1));
    [
        xy(raw[0], t.x1, t.x2),
        xy(raw[1], t.y1, t.y2),
        (z0 * 131_072.0 - z2) / t.z_term(rhall) / 16.0,
    ]
}

/// The raw counts that compensate to `field` (microtesla, sensor axes), rounded and saturated
/// to the 13-bit (X, Y) and 15-bit (Z) ranges short of the overflow codes.
pub fn raw_for(t: &Trim, field: [f64; 3], rhall: u16) -> [i16; 3] {
    let xy = |b: f64, d1: i8, d2: i8| {
        let g = t.xy_term(rhall) * (f64::from(d2) + 160.0);
        ((b * 16.0 - f64::from(d1) * 8.0) * 8192.0 / g)
            .round()
            .clamp(-4095.0, 4095.0) as i16
    };
    let z2 = f64::from(t.z3) * (f64::from(rhall) - f64::from(t.xyz1));
    let z = ((field[2] * 16.0 * t.z_term(rhall) + z2) / 131_072.0 + f64::from(t.z4))
        .round()
        .clamp(-16383.0, 16383.0) as i16;
    [xy(field[0], t.x1, t.x2), xy(field[1], t.y1, t.y2), z]
}

#[derive(Debug, Clone)]
pub struct Bmm150 {
    address: u8,
    regs: [u8; 128],
    ptr: RegPointer,
}

const POWER: usize = 0x4B;
const OP_MODE: usize = 0x4C;

impl Bmm150 {
    pub fn new(address: u8) -> Bmm150 {
        let mut d = Bmm150 {
            address,
            regs: [0; 128],
            ptr: RegPointer::default(),
        };
        d.reset();
        d.regs[POWER] = 0;
        d
    }

    fn reset(&mut self) {
        let power = self.regs[POWER] & 1;
        self.regs = [0; 128];
        self.regs[POWER] = power;
        self.regs[OP_MODE] = 0x06;
        self.regs[0x5D..=0x71].copy_from_slice(&TRIM.bytes());
    }

    fn powered(&self) -> bool {
        self.regs[POWER] & 1 != 0
    }

    /// A new measurement of the field (microtesla, the part's axes); false when the part is
    /// suspended or asleep and drops it.
    pub fn sample(&mut self, field_ut: [f64; 3]) -> bool {
        let mode = (self.regs[OP_MODE] >> 1) & 3;
        if !self.powered() || mode > 1 {
            return false;
        }
        let [x, y, z] = raw_for(&TRIM, field_ut, RHALL);
        let x = (x as u16) << 3;
        let y = (y as u16) << 3;
        let z = (z as u16) << 1;
        let r = (RHALL << 2) | 1;
        for (k, w) in [x, y, z, r].into_iter().enumerate() {
            self.regs[0x42 + 2 * k..0x44 + 2 * k].copy_from_slice(&w.to_le_bytes());
        }
        if mode == 1 {
            self.regs[OP_MODE] |= 0x06;
        }
        true
    }

    fn get(&mut self, reg: u8) -> u8 {
        let r = usize::from(reg & 0x7F);
        if r != POWER && !self.powered() {
            return 0;
        }
        match r {
            0x40 => 0x32,
            0x4A => 0,
            0x49 => {
                // Reading the data through RHALL's last byte releases the data-ready flag.
                let v = self.regs[r];
                self.regs[0x48] &= !1;
                v
            }
            _ => self.regs[r],
        }
    }

    fn set(&mut self, reg: u8, v: u8) {
        let r = usize::from(reg & 0x7F);
        match r {
            POWER => {
                self.regs[POWER] = v & 1;
                if v & 0x82 == 0x82 {
                    self.reset();
                }
            }
            _ if !self.powered() => {}
            0x40..=0x4A | 0x5D..=0x71 => {}
            _ => self.regs[r] = v,
        }
    }
}

impl RegisterMap for Bmm150 {
    fn address(&self) -> u8 {
        self.address
    }

    fn pointer(&mut self) -> &mut RegPointer {
        &mut self.ptr
    }

    fn get(&mut self, reg: u8) -> u8 {
        Bmm150::get(self, reg)
    }

    fn set(&mut self, reg: u8, v: u8) {
        Bmm150::set(self, reg, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::periph::lpi2c::I2cDevice;

    /// Bosch's compensation step by step in f32, as the sensor API writes it (a second
    /// implementation: the model's own is in f64 with the terms regrouped).
    fn bosch_f32(t: &Trim, raw: [i16; 3], rhall: u16) -> [f32; 3] {
        let c0 = f32::from(t.xyz1) * 16384.0 / f32::from(rhall);
        let r = c0 - 16384.0;
        let c1 = f32::from(t.xy2) * (r * r / 268_435_456.0);
        let c2 = c1 + r * f32::from(t.xy1) / 16384.0;
        let axis = |raw: i16, d1: i8, d2: i8| {
            let c3 = f32::from(d2) + 160.0;
            let c4 = f32::from(raw) * ((c2 + 256.0) * c3);
            ((c4 / 8192.0) + (f32::from(d1) * 8.0)) / 16.0
        };
        let z0 = f32::from(raw[2]) - f32::from(t.z4);
        let z1 = f32::from(rhall) - f32::from(t.xyz1);
        let z2 = f32::from(t.z3) * z1;
        let z3 = f32::from(t.z1) * f32::from(rhall) / 32768.0;
        let z4 = f32::from(t.z2) + z3;
        let z5 = (z0 * 131_072.0) - z2;
        [
            axis(raw[0], t.x1, t.x2),
            axis(raw[1], t.y1, t.y2),
            (z5 / (z4 * 4.0)) / 16.0,
        ]
    }

    #[test]
    fn the_raw_counts_compensate_back_to_the_field_by_boschs_formula() {
        for field in [[21.0, 0.0, 43.0], [-35.5, 12.25, -48.0], [0.0, 0.0, 0.0]] {
            let raw = raw_for(&TRIM, field, RHALL);
            let ours = compensate(&TRIM, raw, RHALL);
            let bosch = bosch_f32(&TRIM, raw, RHALL);
            for k in 0..3 {
                // One count is ~0.35 uT (X, Y) and ~0.37 uT (Z): rounding costs half of it.
                assert!((ours[k] - field[k]).abs() < 0.19, "{field:?}: {ours:?}");
                assert!((f64::from(bosch[k]) - ours[k]).abs() < 1e-3, "{bosch:?}");
            }
        }
    }

    #[test]
    fn suspended_until_powered_then_identity_trim_and_data() {
        let mut d = Bmm150::new(0x10);
        let read = |d: &mut Bmm150, reg: u8, n: usize| -> Vec<u8> {
            d.start(false);
            d.write(reg);
            d.start(true);
            (0..n).map(|_| d.read()).collect()
        };
        let write = |d: &mut Bmm150, reg: u8, v: u8| {
            d.start(false);
            d.write(reg);
            d.write(v);
        };
        assert_eq!(read(&mut d, 0x40, 1), [0]);
        assert!(!d.sample([1.0, 2.0, 3.0]));
        write(&mut d, 0x4B, 1);
        assert_eq!(read(&mut d, 0x40, 1), [0x32]);
        assert_eq!(read(&mut d, 0x4C, 1), [0x06], "sleep after power-up");
        assert!(!d.sample([1.0, 2.0, 3.0]), "asleep: no measurement");
        // dig_xyz1 = 6600 at 0x6C, dig_z1 = 24000 at 0x6A, little-endian.
        assert_eq!(read(&mut d, 0x6A, 4), [0xC0, 0x5D, 0xC8, 0x19]);
        write(&mut d, 0x4C, 0x00);
        assert!(d.sample([21.0, 0.0, 43.0]));
        let data = read(&mut d, 0x42, 8);
        let raw = raw_for(&TRIM, [21.0, 0.0, 43.0], RHALL);
        let x = i16::from_le_bytes([data[0], data[1]]) >> 3;
        let z = i16::from_le_bytes([data[4], data[5]]) >> 1;
        let rhall = u16::from_le_bytes([data[6], data[7]]);
        assert_eq!((x, z), (raw[0], raw[2]));
        assert_eq!((rhall >> 2, rhall & 1), (RHALL, 1), "data ready");
        assert_eq!(read(&mut d, 0x48, 1)[0] & 1, 0, "released by the read");
        // Forced: one measurement, then sleep.
        write(&mut d, 0x4C, 0x02);
        assert!(d.sample([0.0; 3]));
        assert_eq!(read(&mut d, 0x4C, 1), [0x06]);
        // Soft reset keeps power, restores sleep.
        write(&mut d, 0x51, 7);
        write(&mut d, 0x4B, 0x83);
        assert_eq!(read(&mut d, 0x51, 1), [0]);
        assert_eq!(read(&mut d, 0x4B, 1), [1]);
        assert_eq!(read(&mut d, 0x40, 1), [0x32]);
    }
}
