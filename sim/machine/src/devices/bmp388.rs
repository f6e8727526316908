//! Bosch BMP388 barometer on I2C (0x77 on the Pixhawk 6X-RT's LPI2C3, rt1176.md 5.2).
//!
//! Source: rt1176.md section 6 (CHIP_ID 0x00 -> 0x50, ERR 0x02, STATUS 0x03 with cmd_rdy bit4,
//! drdy_press bit5, drdy_temp bit6; DATA 0x04-0x09: pressure 24-bit little-endian, then
//! temperature; PWR_CTRL 0x1B, OSR 0x1C, ODR 0x1D, CONFIG 0x1F; calibration at 0x31, 21 bytes;
//! CMD 0x7E = 0xB6 soft reset; I2C: write the register address, then read). From the part's
//! datasheet (section 9, not in rt1176.md): the calibration layout (T1 u16, T2 u16, T3 i8, P1
//! i16, P2 i16, P3 i8, P4 i8, P5 u16, P6 u16, P7 i8, P8 i8, P9 i16, P10 i8, P11 i8, little-endian)
//! and the floating-point compensation ([`compensate`]). The device keeps its own calibration
//! (the project's values, [`NVM`]) and, given the true temperature and pressure, puts in the
//! data registers the raw readings that compensate back to them: a driver that applies the
//! datasheet formula reads the physics.
//!
//! | Reg | Implemented |
//! |-----|-------------|
//! | 0x00 CHIP_ID | 0x50 |
//! | 0x02 ERR | 0 |
//! | 0x03 STATUS | cmd_rdy always; drdy_press / drdy_temp from a new sample until the data is read |
//! | 0x04-0x09 DATA | the raw pressure and temperature of the latest sample |
//! | 0x31-0x45 | the calibration ([`NVM`]); read-only |
//! | 0x7E CMD | 0xB6: soft reset (registers to reset, the sample kept) |
//! | everything else | keeps what was written (0 after reset) |
//!
//! Not modelled: measurement timing, oversampling noise, the FIFO, the interrupt pin.

use super::{RegPointer, RegisterMap};

/// The project's calibration words: T1, T2, T3, P1 .. P11 (chosen so that the polynomial is
/// near-linear over the flight envelope and every term is exercised).
pub const NVM: [i32; 14] = [
    27000, 20000, -10, 30854, 17384, 0, 0, 0, 64, 0, 0, 100, 3, 0,
];

/// The calibration bytes at 0x31 (datasheet layout).
pub fn nvm_bytes() -> [u8; 21] {
    let n = NVM;
    let mut b = Vec::with_capacity(21);
    let mut put = |v: i32, width: usize| b.extend_from_slice(&v.to_le_bytes()[..width]);
    for (v, w) in n.iter().zip([2, 2, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 1, 1]) {
        put(*v, w);
    }
    b.try_into().expect("21 bytes")
}

/// The datasheet's floating-point coefficients from the calibration words.
fn coefficients() -> [f64; 14] {
    let n = NVM.map(f64::from);
    let p2 = |e: i32| 2f64.powi(e);
    [
        n[0] / p2(-8),
        n[1] / p2(30),
        n[2] / p2(48),
        (n[3] - p2(14)) / p2(20),
        (n[4] - p2(14)) / p2(29),
        n[5] / p2(32),
        n[6] / p2(37),
        n[7] / p2(-3),
        n[8] / p2(6),
        n[9] / p2(8),
        n[10] / p2(15),
        n[11] / p2(48),
        n[12] / p2(48),
        n[13] / p2(65),
    ]
}

/// The datasheet's compensation: raw temperature and pressure to (degC, Pa).
pub fn compensate(raw_t: u32, raw_p: u32) -> (f64, f64) {
    let c = coefficients();
    let d1 = f64::from(raw_t) - c[0];
    let t = d1 * c[1] + d1 * d1 * c[2];
    let out1 = c[7] + c[8] * t + c[9] * t * t + c[10] * t * t * t;
    let up = f64::from(raw_p);
    let out2 = up * (c[3] + c[4] * t + c[5] * t * t + c[6] * t * t * t);
    let out3 = up * up * (c[11] + c[12] * t) + up * up * up * c[13];
    (t, out1 + out2 + out3)
}

/// The raw readings that compensate to (`temp` degC, `press` Pa): Newton on each polynomial,
/// rounded to the 24-bit words the part delivers.
pub fn raw_for(temp: f64, press: f64) -> (u32, u32) {
    let c = coefficients();
    let mut d1 = temp / c[1];
    for _ in 0..8 {
        let f = d1 * c[1] + d1 * d1 * c[2] - temp;
        d1 -= f / (c[1] + 2.0 * d1 * c[2]);
    }
    let raw_t = (d1 + c[0]).round().clamp(0.0, f64::from(0xFF_FFFF)) as u32;
    let mut up = press / c[3];
    for _ in 0..8 {
        let f = compensate(raw_t, up.round().clamp(0.0, f64::from(0xFF_FFFF)) as u32).1;
        let slope = compensate(raw_t, up as u32 + 1).1 - compensate(raw_t, up as u32).1;
        if slope <= 0.0 {
            break;
        }
        up -= (f - press) / slope;
    }
    (raw_t, up.round().clamp(0.0, f64::from(0xFF_FFFF)) as u32)
}

#[derive(Debug, Clone)]
pub struct Bmp388 {
    address: u8,
    regs: [u8; 128],
    ptr: RegPointer,
}

impl Bmp388 {
    pub fn new(address: u8) -> Bmp388 {
        let mut d = Bmp388 {
            address,
            regs: [0; 128],
            ptr: RegPointer::default(),
        };
        d.reset();
        d
    }

    fn reset(&mut self) {
        let data: [u8; 6] = self.regs[0x04..0x0A].try_into().expect("6 bytes");
        self.regs = [0; 128];
        self.regs[0x04..0x0A].copy_from_slice(&data);
        self.regs[0x31..0x46].copy_from_slice(&nvm_bytes());
    }

    /// A new measurement of the true temperature (degC) and pressure (Pa).
    pub fn sample(&mut self, temp: f64, press: f64) {
        let (t, p) = raw_for(temp, press);
        self.regs[0x04..0x07].copy_from_slice(&p.to_le_bytes()[..3]);
        self.regs[0x07..0x0A].copy_from_slice(&t.to_le_bytes()[..3]);
        self.regs[0x03] |= 0x60;
    }

    fn get(&mut self, reg: u8) -> u8 {
        match reg {
            0x00 => 0x50,
            0x02 => 0,
            0x03 => 0x10 | (self.regs[0x03] & 0x60),
            0x04..=0x09 => {
                // Reading the data releases the ready flags.
                self.regs[0x03] &= !if reg < 0x07 { 0x20 } else { 0x40 };
                self.regs[usize::from(reg)]
            }
            r => self.regs[usize::from(r & 0x7F)],
        }
    }

    fn set(&mut self, reg: u8, v: u8) {
        match reg {
            0x00 | 0x02..=0x09 | 0x31..=0x45 => {}
            0x7E if v == 0xB6 => self.reset(),
            r => self.regs[usize::from(r & 0x7F)] = v,
        }
    }
}

impl RegisterMap for Bmp388 {
    fn address(&self) -> u8 {
        self.address
    }

    fn pointer(&mut self) -> &mut RegPointer {
        &mut self.ptr
    }

    fn get(&mut self, reg: u8) -> u8 {
        Bmp388::get(self, reg)
    }

    fn set(&mut self, reg: u8, v: u8) {
        Bmp388::set(self, reg, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::periph::lpi2c::I2cDevice;

    #[test]
    fn the_raw_readings_compensate_back_to_the_truth() {
        for (t, p) in [(25.0, 101_325.0), (-10.0, 95_000.0), (40.0, 80_000.0)] {
            let (rt, rp) = raw_for(t, p);
            let (ct, cp) = compensate(rt, rp);
            assert!((ct - t).abs() < 1e-4, "{t}: {ct}");
            // One raw count is ~0.014 Pa here.
            assert!((cp - p).abs() < 0.02, "{p}: {cp}");
        }
    }

    #[test]
    fn identity_calibration_and_data_through_the_register_pointer() {
        let mut d = Bmp388::new(0x77);
        let read = |d: &mut Bmp388, reg: u8, n: usize| -> Vec<u8> {
            d.start(false);
            d.write(reg);
            d.start(true);
            (0..n).map(|_| d.read()).collect()
        };
        assert_eq!(read(&mut d, 0x00, 1), [0x50]);
        assert_eq!(read(&mut d, 0x31, 21), nvm_bytes());
        // T1 = 27000 little-endian first.
        assert_eq!(&read(&mut d, 0x31, 2)[..], &27000u16.to_le_bytes());
        d.sample(25.0, 101_325.0);
        assert_eq!(
            read(&mut d, 0x03, 1)[0],
            0x70,
            "cmd_rdy, drdy_press, drdy_temp"
        );
        let data = read(&mut d, 0x04, 6);
        let p = u32::from_le_bytes([data[0], data[1], data[2], 0]);
        let t = u32::from_le_bytes([data[3], data[4], data[5], 0]);
        assert_eq!((t, p), raw_for(25.0, 101_325.0));
        assert_eq!(read(&mut d, 0x03, 1)[0], 0x10, "the data was read");
        d.start(false);
        d.write(0x1B);
        d.write(0x33); // PWR_CTRL: both sensors, normal mode
        assert_eq!(read(&mut d, 0x1B, 1), [0x33]);
        d.start(false);
        d.write(0x7E);
        d.write(0xB6);
        assert_eq!(read(&mut d, 0x1B, 1), [0]);
    }
}
