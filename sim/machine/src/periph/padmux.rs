//! Pin multiplexing and pad control (IOMUXC, IOMUXC_GPR, IOMUXC_LPSR, 0x400E_8000 /
//! 0x400E_4000 / 0x40C0_8000): plain storage, so board set-up code that routes a UART or SPI
//! to its pins runs.
//!
//! Source: rt1176.md section 3.1 (the bases). The registers (SW_MUX_CTL_PAD_*, SW_PAD_CTL_PAD_*,
//! the daisy-chain SELECT_INPUT registers, GPR) only route signals on silicon; the twin's
//! peripherals are wired to their devices by the board file, so nothing here has an effect.
//!
//! | Off            | Reg               | Implemented                                   |
//! |----------------|-------------------|-----------------------------------------------|
//! | 0x0000-0x3FFC  | every register    | reads back what was written (0 after reset)    |
//!
//! Not modelled: the silicon's non-zero reset values of the pad controls, and any electrical
//! effect (pull-ups, drive strength, an input left unrouted).

use super::{merge, RegError};

const SIZE: u32 = 0x4000;

#[derive(Debug, Clone)]
pub struct PadMux {
    regs: Vec<u32>,
}

impl Default for PadMux {
    fn default() -> Self {
        PadMux {
            regs: vec![0; (SIZE / 4) as usize],
        }
    }
}

impl PadMux {
    fn slot(off: u32) -> Result<usize, RegError> {
        if off < SIZE {
            Ok((off / 4) as usize)
        } else {
            Err(RegError::unmodelled(off))
        }
    }

    pub fn read(&self, off: u32) -> Result<u32, RegError> {
        Ok(self.regs[Self::slot(off)?])
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32) -> Result<(), RegError> {
        let i = Self::slot(off)?;
        self.regs[i] = merge(self.regs[i], value, mask);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_read_back_what_was_written_lane_by_lane() {
        let mut p = PadMux::default();
        p.write(0x10C, 0x0000_0002, u32::MAX).unwrap(); // a MUX_MODE (ALT2)
        p.write(0x10C, 0x0001_0000, 0x00FF_0000).unwrap(); // SION in another lane
        assert_eq!(p.read(0x10C).unwrap(), 0x0001_0002);
        assert_eq!(p.read(0x110).unwrap(), 0);
        assert!(p.read(0x4000).is_err());
    }
}
