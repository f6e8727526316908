//! System Reset Controller (SRC, 0x40C0_4000) and IOMUXC_LPSR_GPR (0x40C0_C000): holding and
//! releasing the CM4.
//!
//! Source: rt1176.md sections 1.2 and 1.3 (boot_multicore_slave.c, imxrt_rptun.c, PERI_SRC.h,
//! PERI_IOMUXC_LPSR_GPR.h).
//!
//! SRC registers implemented:
//!
//! | Off   | Reg          | Implemented                                                        |
//! |-------|--------------|--------------------------------------------------------------------|
//! | 0x000 | SCR          | bit0 BT_RELEASE_M4: a 0->1 edge boots the CM4 from the GPR VTOR; bit1 BT_RELEASE_M7 stored |
//! | 0x004 | SRMR         | stored (M4LOCKUP_RESET_MODE etc. are reported, not acted on)       |
//! | 0x010 | SRSR         | sticky causes, write-1-to-clear; bit3 set by a CM4 SW reset (inferred) |
//! | 0x014+4n | GPR0..GPR19 | scratch storage                                                |
//! | 0x284 | CTRL_M4CORE  | bit0 SW_RESET: resets the released CM4 (self-clearing, inferred)   |
//! | 0x290 | STAT_M4CORE  | bit0 UNDER_RST = CM4 held (SCR.BT_RELEASE_M4 = 0); bit3 RST_BY_SW after a SW reset |
//! | 0x2A4 | CTRL_M7CORE  | stored; a CM7 SW reset is not modelled (writing 1 is a twin error)  |
//! | 0x2B0 | STAT_M7CORE  | reads 0 (running)                                                   |
//!
//! IOMUXC_LPSR_GPR: GPR0..GPR63 as plain storage. The CM4 boot VTOR is
//! `(GPR1 & 0xFFFF) << 16 | (GPR0 & 0xFFF8)`.

use super::RegError;

const SCR_BT_RELEASE_M4: u32 = 1;
const STAT_UNDER_RST: u32 = 1 << 0;
const STAT_RST_BY_SW: u32 = 1 << 3;

/// What an SRC write asks the machine to do with the CM4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrcAction {
    /// Boot (or re-boot) the CM4 from the GPR VTOR.
    BootM4,
}

#[derive(Debug, Clone)]
pub struct Src {
    pub scr: u32,
    pub srmr: u32,
    pub srsr: u32,
    pub gpr: [u32; 20],
    pub ctrl_m7: u32,
    pub m4_sw_reset_seen: bool,
}

impl Src {
    /// `m4_released`: the CM4 is already running at power-on (`--m4-running`, or no CM7 image).
    pub fn new(m4_released: bool) -> Src {
        Src {
            scr: if m4_released { SCR_BT_RELEASE_M4 } else { 0 },
            srmr: 0,
            srsr: 1, // power-on reset cause (bit0 IPP_RESET_B, inferred)
            gpr: [0; 20],
            ctrl_m7: 0,
            m4_sw_reset_seen: false,
        }
    }

    pub fn m4_released(&self) -> bool {
        self.scr & SCR_BT_RELEASE_M4 != 0
    }

    pub fn read(&self, off: u32) -> Result<u32, RegError> {
        Ok(match off {
            0x000 => self.scr,
            0x004 => self.srmr,
            0x010 => self.srsr,
            0x014..=0x060 => self.gpr[((off - 0x14) / 4) as usize],
            0x284 => 0, // SW_RESET self-clears
            0x290 => {
                let mut v = 0;
                if !self.m4_released() {
                    v |= STAT_UNDER_RST;
                }
                if self.m4_sw_reset_seen {
                    v |= STAT_RST_BY_SW;
                }
                v
            }
            0x2A4 => self.ctrl_m7,
            0x2B0 => 0,
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(
        &mut self,
        off: u32,
        value: u32,
        mask: u32,
    ) -> Result<Option<SrcAction>, RegError> {
        let merge = |old: u32| (old & !mask) | (value & mask);
        match off {
            0x000 => {
                let was = self.m4_released();
                self.scr = merge(self.scr);
                if !was && self.m4_released() {
                    return Ok(Some(SrcAction::BootM4));
                }
            }
            0x004 => self.srmr = merge(self.srmr),
            0x010 => self.srsr &= !(value & mask),
            0x014..=0x060 => {
                let i = ((off - 0x14) / 4) as usize;
                self.gpr[i] = merge(self.gpr[i]);
            }
            0x284 => {
                if value & mask & 1 != 0 {
                    self.m4_sw_reset_seen = true;
                    self.srsr |= 1 << 3;
                    if self.m4_released() {
                        return Ok(Some(SrcAction::BootM4));
                    }
                }
            }
            0x2A4 => {
                if value & mask & 1 != 0 {
                    return Err(RegError {
                        offset: off,
                        what: "CTRL_M7CORE.SW_RESET (a CM7 self-reset is not modelled)",
                    });
                }
                self.ctrl_m7 = merge(self.ctrl_m7);
            }
            _ => return Err(RegError::unmodelled(off)),
        }
        Ok(None)
    }
}

/// IOMUXC_LPSR_GPR: plain storage; the CM4 boot address lives in GPR0/GPR1.
#[derive(Debug, Clone)]
pub struct LpsrGpr {
    pub regs: [u32; 64],
}

impl Default for LpsrGpr {
    fn default() -> Self {
        LpsrGpr { regs: [0; 64] }
    }
}

impl LpsrGpr {
    pub fn m4_vtor(&self) -> u32 {
        ((self.regs[1] & 0xFFFF) << 16) | (self.regs[0] & 0xFFF8)
    }

    pub fn read(&self, off: u32) -> Result<u32, RegError> {
        self.regs
            .get((off / 4) as usize)
            .copied()
            .ok_or(RegError::unmodelled(off))
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32) -> Result<(), RegError> {
        let r = self
            .regs
            .get_mut((off / 4) as usize)
            .ok_or(RegError::unmodelled(off))?;
        *r = (*r & !mask) | (value & mask);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpr_vtor_readback_matches_reference_formula() {
        let mut g = LpsrGpr::default();
        // SDK: boot = 0x2020_0000 -> GPR0 = boot & 0xFFF8, GPR1 = boot >> 16.
        g.write(0x00, 0x2020_0000 & 0xFFF8, !0).unwrap();
        g.write(0x04, 0x2020_0000 >> 16, !0).unwrap();
        assert_eq!(g.m4_vtor(), 0x2020_0000);
        g.write(0x04, 0x1FFE, !0).unwrap();
        g.write(0x00, 0, !0).unwrap();
        assert_eq!(g.m4_vtor(), 0x1FFE_0000);
    }

    #[test]
    fn release_edge_and_sw_reset() {
        let mut s = Src::new(false);
        assert_eq!(s.read(0x290).unwrap() & 1, 1, "UNDER_RST while held");
        assert_eq!(s.write(0x000, 1, !0).unwrap(), Some(SrcAction::BootM4));
        assert_eq!(s.read(0x290).unwrap() & 1, 0);
        assert_eq!(s.write(0x000, 1, !0).unwrap(), None, "no edge, no boot");
        assert_eq!(s.write(0x284, 1, !0).unwrap(), Some(SrcAction::BootM4));
        assert_eq!(s.read(0x284).unwrap(), 0, "SW_RESET self-clears");
        assert_ne!(s.read(0x290).unwrap() & (1 << 3), 0);
    }
}
