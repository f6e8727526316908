//! TDK InvenSense ICM-42688-P 6-axis IMU on SPI (and its sibling ICM-42686-P, the same map with
//! another WHO_AM_I), as the Pixhawk 6X-RT carries it on LPSPI2 (rt1176.md 5.1).
//!
//! Source: rt1176.md section 6 (WHO_AM_I 0x75 -> 0x47 / 0x44, REG_BANK_SEL 0x76,
//! DEVICE_CONFIG 0x11 bit0 soft reset, INT_STATUS 0x2D RESET_DONE bit4 / DATA_RDY bit3,
//! PWR_MGMT0 0x4E, GYRO_CONFIG0 0x4F, ACCEL_CONFIG0 0x50, temperature 132.48 LSB/degC + 25; SPI
//! read = 0x80 | register, addresses auto-increment, every written value kept). From the
//! part's datasheet (not in rt1176.md, inferred): the data registers TEMP_DATA1/0 0x1D-0x1E,
//! ACCEL_DATA_X1..Z0 0x1F-0x24, GYRO_DATA_X1..Z0 0x25-0x2A, big-endian two's complement; the
//! full-scale selects GYRO_CONFIG0[7:5] (0: +-2000 dps, each step halves it) and
//! ACCEL_CONFIG0[7:5] (0: +-16 g, each step halves it); reset values GYRO_CONFIG0 = ACCEL_CONFIG0
//! = 0x06.
//!
//! | Reg (bank 0) | Implemented                                                           |
//! |--------------|-----------------------------------------------------------------------|
//! | 0x11 DEVICE_CONFIG | bit0 soft reset: every register to reset, RESET_DONE set; self-clearing |
//! | 0x1D-0x2A    | the latest sample at the full scales in force when it was taken       |
//! | 0x2D INT_STATUS | RESET_DONE (after power-on and soft reset), DATA_RDY (a new sample); clear on read |
//! | 0x2E-0x2F FIFO_COUNT | 0 (the FIFO is not modelled)                                 |
//! | 0x30 FIFO_DATA | 0x80 (an empty FIFO's header), the address does not advance        |
//! | 0x75 WHO_AM_I | 0x47 (ICM-42686-P: 0x44); read-only                                  |
//! | 0x76 REG_BANK_SEL | selects the bank every other address refers to                   |
//! | everything else, every bank | keeps what was written (drivers read their configuration back) |
//!
//! INT1 drives the board's data-ready GPIO: high from a new sample until INT_STATUS is read.
//!
//! Not modelled: the FIFO, the interrupt pins' configuration (INT1 is always latched, active-high
//! data-ready), low-noise/low-power modes (data is available whatever PWR_MGMT0 says), filters
//! and sample timing (a sample is what the twin gives it).

use crate::periph::lpspi::SpiDevice;
use crate::time::Ps;

const WHO_AM_I: usize = 0x75;
const BANK_SEL: usize = 0x76;
const INT_STATUS: usize = 0x2D;
const RESET_DONE: u8 = 1 << 4;
const DATA_RDY: u8 = 1 << 3;
const G: f64 = 9.806_65;

/// One IMU sample in SI units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImuSample {
    /// Specific force (m/s^2), body frame.
    pub accel: [f64; 3],
    /// Angular rate (rad/s), body frame.
    pub gyro: [f64; 3],
    /// Die temperature (degC).
    pub temp: f64,
}

#[derive(Debug, Clone)]
pub struct Icm42688 {
    who_am_i: u8,
    banks: [[u8; 128]; 5],
    bank: usize,
    /// The transaction: the register address once the first byte is in, and whether it reads.
    at: Option<(usize, bool)>,
}

impl Icm42688 {
    /// The ICM-42688-P (WHO_AM_I 0x47).
    pub fn new() -> Icm42688 {
        Icm42688::with_id(0x47)
    }

    /// The same register map with another identity (ICM-42686-P: 0x44).
    pub fn with_id(who_am_i: u8) -> Icm42688 {
        let mut d = Icm42688 {
            who_am_i,
            banks: [[0; 128]; 5],
            bank: 0,
            at: None,
        };
        d.reset();
        d
    }

    fn reset(&mut self) {
        self.banks = [[0; 128]; 5];
        self.bank = 0;
        self.banks[0][0x4F] = 0x06;
        self.banks[0][0x50] = 0x06;
        self.banks[0][INT_STATUS] = RESET_DONE;
    }

    /// The full scales in force: (g, dps).
    pub fn full_scale(&self) -> (f64, f64) {
        let a = 16.0 / f64::from(1u32 << (self.banks[0][0x50] >> 5).min(3));
        let g = 2000.0 / f64::from(1u32 << (self.banks[0][0x4F] >> 5));
        (a, g)
    }

    /// A new sample: the data registers at the full scales in force, DATA_RDY set.
    pub fn sample(&mut self, s: &ImuSample) {
        let (fs_g, fs_dps) = self.full_scale();
        let lsb =
            |x: f64, fs: f64| -> i16 { (x / fs * 32768.0).round().clamp(-32768.0, 32767.0) as i16 };
        let mut words = [0i16; 7];
        words[0] = ((s.temp - 25.0) * 132.48).round().clamp(-32768.0, 32767.0) as i16;
        for i in 0..3 {
            words[1 + i] = lsb(s.accel[i] / G, fs_g);
            words[4 + i] = lsb(s.gyro[i].to_degrees(), fs_dps);
        }
        for (k, w) in words.iter().enumerate() {
            self.banks[0][0x1D + 2 * k..0x1D + 2 * k + 2].copy_from_slice(&w.to_be_bytes());
        }
        self.banks[0][INT_STATUS] |= DATA_RDY;
    }

    fn read(&mut self, reg: usize) -> u8 {
        match (self.bank, reg) {
            (_, WHO_AM_I) => self.who_am_i,
            (_, BANK_SEL) => self.bank as u8,
            (0, INT_STATUS) => std::mem::take(&mut self.banks[0][INT_STATUS]),
            (0, 0x2E | 0x2F) => 0,
            (0, 0x30) => 0x80,
            (b, r) => self.banks[b][r],
        }
    }

    fn write(&mut self, reg: usize, v: u8) {
        match (self.bank, reg) {
            (_, WHO_AM_I) => {}
            (_, BANK_SEL) => self.bank = usize::from(v & 7).min(4),
            (0, 0x11) if v & 1 != 0 => self.reset(),
            (b, r) => self.banks[b][r] = v,
        }
    }
}

impl Default for Icm42688 {
    fn default() -> Self {
        Icm42688::new()
    }
}

impl SpiDevice for Icm42688 {
    fn select(&mut self) {
        self.at = None;
    }

    fn deselect(&mut self) {
        self.at = None;
    }

    /// 8-bit frames: the first is the address (bit 7 set to read), each next one a register;
    /// a wider frame carries its bytes most significant first, each handled as one.
    fn transfer(&mut self, word: u32, bits: u32, _t: Ps) -> u32 {
        let n = bits.div_ceil(8).max(1);
        let mut out = 0u32;
        for k in (0..n).rev() {
            let byte = (word >> (8 * k)) as u8;
            let back = match self.at {
                None => {
                    self.at = Some((usize::from(byte & 0x7F), byte & 0x80 != 0));
                    0
                }
                Some((reg, read)) => {
                    let v = if read {
                        self.read(reg)
                    } else {
                        self.write(reg, byte);
                        0
                    };
                    // FIFO_DATA streams from one address.
                    let next = if self.bank == 0 && reg == 0x30 {
                        reg
                    } else {
                        (reg + 1) & 0x7F
                    };
                    self.at = Some((next, read));
                    v
                }
            };
            out = (out << 8) | u32::from(back);
        }
        out
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    /// INT1 as data-ready: high from a new sample until INT_STATUS is read (latched,
    /// active high; INT_CONFIG and the interrupt routing registers are kept but not applied).
    fn irq_out(&self) -> bool {
        self.banks[0][INT_STATUS] & DATA_RDY != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One transaction: select, the frames, deselect; the bytes read back.
    fn xfer(d: &mut Icm42688, bytes: &[u8]) -> Vec<u8> {
        d.select();
        let out = bytes
            .iter()
            .map(|b| d.transfer(u32::from(*b), 8, 0) as u8)
            .collect();
        d.deselect();
        out
    }

    #[test]
    fn who_am_i_bank_select_and_kept_configuration() {
        let mut d = Icm42688::new();
        assert_eq!(xfer(&mut d, &[0x80 | 0x75, 0]), [0, 0x47]);
        assert_eq!(Icm42688::with_id(0x44).read(WHO_AM_I), 0x44);
        xfer(&mut d, &[0x4E, 0x0F]); // PWR_MGMT0: gyro and accel low-noise
        assert_eq!(xfer(&mut d, &[0x80 | 0x4E, 0]), [0, 0x0F]);
        xfer(&mut d, &[0x76, 1]);
        xfer(&mut d, &[0x4E, 0xAA]); // bank 1's 0x4E
        assert_eq!(
            xfer(&mut d, &[0x80 | 0x74, 0, 0, 0]),
            [0, 0, 0x47, 1],
            "WHO_AM_I in any bank"
        );
        assert_eq!(xfer(&mut d, &[0x80 | 0x4E, 0]), [0, 0xAA]);
        xfer(&mut d, &[0x76, 0]);
        assert_eq!(
            xfer(&mut d, &[0x80 | 0x4E, 0]),
            [0, 0x0F],
            "bank 0's untouched"
        );
    }

    #[test]
    fn soft_reset_clears_configuration_and_flags_reset_done() {
        let mut d = Icm42688::new();
        assert_eq!(
            xfer(&mut d, &[0x80 | 0x2D, 0, 0x80 | 0x2D]),
            [0, RESET_DONE, 0]
        );
        xfer(&mut d, &[0x50, 0x66]);
        xfer(&mut d, &[0x11, 0x01]);
        assert_eq!(xfer(&mut d, &[0x80 | 0x50, 0]), [0, 0x06]);
        assert_eq!(xfer(&mut d, &[0x80 | 0x2D, 0]), [0, RESET_DONE]);
    }

    #[test]
    fn samples_scale_with_the_full_scale_selects() {
        let mut d = Icm42688::new();
        // +-16 g and +-2000 dps at reset: 1 g = 2048 LSB, 100 dps = 1638.4 LSB.
        d.sample(&ImuSample {
            accel: [0.0, 0.0, -G],
            gyro: [100f64.to_radians(), 0.0, -0.5f64.to_radians()],
            temp: 35.0,
        });
        let regs = xfer(
            &mut d,
            &[0x80 | 0x1D, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        let word = |k: usize| i16::from_be_bytes([regs[1 + 2 * k], regs[2 + 2 * k]]);
        assert_eq!(word(0), 1325, "10 degC x 132.48");
        assert_eq!([word(1), word(2), word(3)], [0, 0, -2048]);
        assert_eq!([word(4), word(5), word(6)], [1638, 0, -8]);
        assert_eq!(xfer(&mut d, &[0x80 | 0x2D, 0])[1] & DATA_RDY, DATA_RDY);
        // +-2 g (ACCEL_CONFIG0 FS_SEL 3): 1 g = 16384 LSB; 2.5 g saturates.
        xfer(&mut d, &[0x50, (3 << 5) | 6]);
        d.sample(&ImuSample {
            accel: [G, -2.5 * G, 0.0],
            ..ImuSample::default()
        });
        let regs = xfer(&mut d, &[0x80 | 0x1F, 0, 0, 0, 0]);
        assert_eq!(i16::from_be_bytes([regs[1], regs[2]]), 16384);
        assert_eq!(i16::from_be_bytes([regs[3], regs[4]]), -32768);
    }
}
