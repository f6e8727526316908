//! Clock Controller Module (CCM, 0x40CC_0000): enough for clock set-up code to run.
//!
//! Source: rt1176.md section 3.1 (PERI_CCM.h, fsl_clock.h).
//!
//! | Off                 | Reg                 | Implemented                                  |
//! |---------------------|---------------------|----------------------------------------------|
//! | 0x80*n + 0x00       | CLOCK_ROOT[n].CONTROL | stored (DIV[7:0], MUX[10:8], OFF bit24)    |
//! | 0x80*n + 0x04/08/0C | CONTROL_SET/CLR/TOG | set / clear / toggle CONTROL bits            |
//! | 0x80*n + 0x20       | CLOCK_ROOT[n].STATUS0 | mirrors CONTROL's DIV/MUX/OFF; CHANGING (bit31) always 0 |
//! | 0x5000 + 0x20*n + 0x10 | OSCPLL[n].STATUS0 | ON (bit0) follows OSCPLL[n].DIRECT bit0     |
//! | 0x6000 + 0x20*n + 0x10 | LPCG[n].STATUS0  | ON (bit0) follows LPCG[n].DIRECT bit0 (fsl_clock spins until they match) |
//! | everything else     |                     | plain storage (reads back what was written)  |
//!
//! Not modelled: clock frequencies do not follow these registers. The timers run from the clock
//! roots given in the board file.

use super::{merge, RegError};

const SIZE: u32 = 0x8000;
const ROOTS: u32 = 79;

#[derive(Debug, Clone)]
pub struct Ccm {
    regs: Vec<u32>,
}

impl Default for Ccm {
    fn default() -> Self {
        Ccm {
            regs: vec![0; (SIZE / 4) as usize],
        }
    }
}

impl Ccm {
    fn slot(&self, off: u32) -> Result<usize, RegError> {
        if off < SIZE {
            Ok((off / 4) as usize)
        } else {
            Err(RegError::unmodelled(off))
        }
    }

    pub fn read(&self, off: u32) -> Result<u32, RegError> {
        if off < ROOTS * 0x80 && off % 0x80 == 0x20 {
            let control = self.regs[((off - 0x20) / 4) as usize];
            return Ok(control & 0x0100_07FF);
        }
        if (0x5000..0x8000).contains(&off) && off % 0x20 == 0x10 {
            return Ok(self.regs[((off - 0x10) / 4) as usize] & 1);
        }
        if off < ROOTS * 0x80 && matches!(off % 0x80, 0x04 | 0x08 | 0x0C) {
            return Ok(self.regs[((off & !0xF) / 4) as usize]);
        }
        Ok(self.regs[self.slot(off)?])
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32) -> Result<(), RegError> {
        if off < ROOTS * 0x80 {
            let control = ((off & !0x7F) / 4) as usize;
            match off % 0x80 {
                0x04 => {
                    self.regs[control] |= value & mask;
                    return Ok(());
                }
                0x08 => {
                    self.regs[control] &= !(value & mask);
                    return Ok(());
                }
                0x0C => {
                    self.regs[control] ^= value & mask;
                    return Ok(());
                }
                0x20 => return Ok(()), // STATUS0 is read-only
                _ => {}
            }
        }
        let i = self.slot(off)?;
        self.regs[i] = merge(self.regs[i], value, mask);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lpcg_status_follows_direct() {
        let mut c = Ccm::default();
        let lpcg_mu_a = 0x6000 + 0x20 * 20;
        c.write(lpcg_mu_a, 1, !0).unwrap();
        assert_eq!(c.read(lpcg_mu_a + 0x10).unwrap() & 1, 1);
        c.write(lpcg_mu_a, 0, !0).unwrap();
        assert_eq!(c.read(lpcg_mu_a + 0x10).unwrap() & 1, 0);
    }

    #[test]
    fn root_set_clear_and_status() {
        let mut c = Ccm::default();
        let gpt1 = 0x80 * 14;
        c.write(gpt1, 0x0000_0105, !0).unwrap();
        c.write(gpt1 + 0x4, 0x0100_0000, !0).unwrap();
        assert_eq!(c.read(gpt1).unwrap(), 0x0100_0105);
        c.write(gpt1 + 0x8, 0x0100_0000, !0).unwrap();
        let status = c.read(gpt1 + 0x20).unwrap();
        assert_eq!(status & 0x7FF, 0x105);
        assert_eq!(status >> 31, 0, "CHANGING reads 0");
    }
}
