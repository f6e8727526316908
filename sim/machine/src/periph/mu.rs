//! Messaging Unit (i.MX "MU" v1, IMX_MU_V1 type): side A (MUA, CM7) and side B (MUB, CM4).
//!
//! Source: rt1176.md section 2 (fsl_mu.h, PERI_MU.h, Linux imx-mailbox.c).
//!
//! | Off  | Reg     | Implemented                                                          |
//! |------|---------|----------------------------------------------------------------------|
//! | 0x00-0x0C | TR0-3 | write = send: own SR.TEn clears now; peer RRn/RFn set at sync |
//! | 0x10-0x1C | RR0-3 | read = receive: own SR.RFn clears now; peer SR.TEn sets at sync |
//! | 0x20 | SR      | GIPn (31-n) W1C, RFn (27-n), TEn (23-n), FUP/RS/EP read 0, Fn (2:0) = peer CR.Fn |
//! | 0x24 | CR      | GIEn/RIEn/TIEn, GIRn (19-n) raises peer GIPn, self-clears when the peer clears it; MUR (bit 5, side A) resets both sides; Fn (2:0) drives peer SR.Fn |
//!
//! Channel n uses bit (field_base + 3 - n): the reversed order of fsl_mu.h.
//! Reset: SR = 0x00F0_0000 (all TE set), CR = 0.
//! IRQ level of a side = (SR & CR & 0xFFF0_0000) != 0 (fsl_mu MU_GetInterruptsPending).
//! Cross-core delivery: an effect on the peer side is queued and applied at the next lockstep sync
//! point, so it lands at a deterministic virtual time (at most one quantum after the access).

use super::RegError;

pub const SR_RESET: u32 = 0x00F0_0000;
const IRQ_FIELDS: u32 = 0xFFF0_0000;

fn gip(n: usize) -> u32 {
    1 << (31 - n)
}
fn rf(n: usize) -> u32 {
    1 << (27 - n)
}
fn te(n: usize) -> u32 {
    1 << (23 - n)
}
fn gir(n: usize) -> u32 {
    1 << (19 - n)
}
const MUR: u32 = 1 << 5;
const F_MASK: u32 = 0x7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Peer receives `value` in RRn and its RFn sets.
    Deliver { to: usize, n: usize, value: u32 },
    /// Peer's TEn sets (its TRn was read out on this side).
    TxEmpty { to: usize, n: usize },
    /// Peer's GIPn sets.
    RaiseGip { to: usize, n: usize },
    /// Peer's CR.GIRn self-clears (this side cleared the GIPn it raised).
    ClearGir { to: usize, n: usize },
    /// Peer's SR.F mirrors this side's CR.F.
    Flags { to: usize, f: u32 },
    /// MUR: both sides return to reset.
    Reset,
}

#[derive(Debug, Clone)]
pub struct Side {
    pub tr: [u32; 4],
    pub rr: [u32; 4],
    pub sr: u32,
    pub cr: u32,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            tr: [0; 4],
            rr: [0; 4],
            sr: SR_RESET,
            cr: 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Mu {
    /// [side A, side B]
    pub sides: [Side; 2],
    /// Messages sent (TR writes), per side, for reports.
    pub sent: [u64; 2],
}

impl Mu {
    pub fn irq_level(&self, side: usize) -> bool {
        let s = &self.sides[side];
        s.sr & s.cr & IRQ_FIELDS != 0
    }

    pub fn read(
        &mut self,
        side: usize,
        off: u32,
        effects: &mut Vec<Effect>,
    ) -> Result<u32, RegError> {
        let peer = 1 - side;
        let s = &mut self.sides[side];
        Ok(match off {
            0x00..=0x0C => s.tr[(off / 4) as usize],
            0x10..=0x1C => {
                let n = ((off - 0x10) / 4) as usize;
                if s.sr & rf(n) != 0 {
                    s.sr &= !rf(n);
                    effects.push(Effect::TxEmpty { to: peer, n });
                }
                s.rr[n]
            }
            0x20 => s.sr,
            0x24 => s.cr,
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(
        &mut self,
        side: usize,
        off: u32,
        value: u32,
        mask: u32,
        effects: &mut Vec<Effect>,
    ) -> Result<(), RegError> {
        let peer = 1 - side;
        let s = &mut self.sides[side];
        match off {
            0x00..=0x0C => {
                let n = (off / 4) as usize;
                s.tr[n] = (s.tr[n] & !mask) | (value & mask);
                s.sr &= !te(n);
                self.sent[side] += 1;
                effects.push(Effect::Deliver {
                    to: peer,
                    n,
                    value: s.tr[n],
                });
            }
            0x10..=0x1C => {} // RR is read-only: writes ignored
            0x20 => {
                // Only GIPn are write-1-to-clear; the rest of SR is read-only.
                let clear = value & mask & 0xF000_0000;
                for n in 0..4 {
                    if clear & gip(n) != 0 && s.sr & gip(n) != 0 {
                        s.sr &= !gip(n);
                        effects.push(Effect::ClearGir { to: peer, n });
                    }
                }
            }
            0x24 => {
                let value = (s.cr & !mask) | (value & mask);
                if side == 0 && value & MUR != 0 {
                    effects.push(Effect::Reset);
                }
                // GIRn: writing 1 raises the peer's GIPn; writing 0 does nothing; it stays set
                // until the peer clears that GIPn.
                let mut girs = s.cr & 0x000F_0000;
                for n in 0..4 {
                    if value & mask & gir(n) != 0 && s.cr & gir(n) == 0 {
                        girs |= gir(n);
                        effects.push(Effect::RaiseGip { to: peer, n });
                    }
                }
                let old_f = s.cr & F_MASK;
                s.cr = (value & !(0x000F_0000 | MUR)) | girs;
                if value & F_MASK != old_f {
                    effects.push(Effect::Flags {
                        to: peer,
                        f: value & F_MASK,
                    });
                }
            }
            _ => return Err(RegError::unmodelled(off)),
        }
        Ok(())
    }

    /// Apply a queued cross-core effect (at a sync point).
    pub fn apply(&mut self, e: Effect) {
        match e {
            Effect::Deliver { to, n, value } => {
                let s = &mut self.sides[to];
                s.rr[n] = value;
                s.sr |= rf(n);
            }
            Effect::TxEmpty { to, n } => self.sides[to].sr |= te(n),
            Effect::RaiseGip { to, n } => self.sides[to].sr |= gip(n),
            Effect::ClearGir { to, n } => self.sides[to].cr &= !gir(n),
            Effect::Flags { to, f } => {
                let s = &mut self.sides[to];
                s.sr = (s.sr & !F_MASK) | f;
            }
            Effect::Reset => self.sides = Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver_all(mu: &mut Mu, fx: &mut Vec<Effect>) {
        for e in fx.drain(..) {
            mu.apply(e);
        }
    }

    #[test]
    fn send_receive_uses_reversed_bits() {
        let mut mu = Mu::default();
        let mut fx = Vec::new();
        // A sends on channel 0: A.SR.TE0 (bit 23) clears now.
        mu.write(0, 0x00, 0x1234, !0, &mut fx).unwrap();
        assert_eq!(mu.sides[0].sr & (1 << 23), 0);
        // B sees nothing until the sync point.
        assert_eq!(mu.sides[1].sr & (1 << 27), 0);
        deliver_all(&mut mu, &mut fx);
        assert_ne!(mu.sides[1].sr & (1 << 27), 0, "RF0 is bit 27");
        // B enables RIE0 (bit 27): its IRQ line rises.
        mu.write(1, 0x24, 1 << 27, !0, &mut fx).unwrap();
        assert!(mu.irq_level(1));
        assert_eq!(mu.read(1, 0x10, &mut fx).unwrap(), 0x1234);
        assert!(!mu.irq_level(1), "reading RR0 clears RF0");
        deliver_all(&mut mu, &mut fx);
        assert_ne!(mu.sides[0].sr & (1 << 23), 0, "A.TE0 back once B read");
    }

    #[test]
    fn channel_three_uses_lowest_bit_of_each_field() {
        let mut mu = Mu::default();
        let mut fx = Vec::new();
        mu.write(0, 0x0C, 7, !0, &mut fx).unwrap();
        assert_eq!(mu.sides[0].sr & (1 << 20), 0, "TE3 is bit 20");
        deliver_all(&mut mu, &mut fx);
        assert_ne!(mu.sides[1].sr & (1 << 24), 0, "RF3 is bit 24");
    }

    #[test]
    fn general_interrupt_handshake() {
        let mut mu = Mu::default();
        let mut fx = Vec::new();
        mu.write(1, 0x24, 1 << 31, !0, &mut fx).unwrap(); // B: GIE0
        mu.write(0, 0x24, 1 << 19, !0, &mut fx).unwrap(); // A: GIR0
        assert_ne!(mu.sides[0].cr & (1 << 19), 0);
        deliver_all(&mut mu, &mut fx);
        assert!(mu.irq_level(1));
        mu.write(1, 0x20, 1 << 31, !0, &mut fx).unwrap(); // B clears GIP0
        assert!(!mu.irq_level(1));
        deliver_all(&mut mu, &mut fx);
        assert_eq!(mu.sides[0].cr & (1 << 19), 0, "GIR0 self-clears");
    }

    #[test]
    fn flags_mirror_and_reset_values() {
        let mut mu = Mu::default();
        assert_eq!(mu.sides[0].sr, 0x00F0_0000);
        let mut fx = Vec::new();
        mu.write(0, 0x24, 0x5, !0, &mut fx).unwrap();
        deliver_all(&mut mu, &mut fx);
        assert_eq!(mu.sides[1].sr & 7, 5);
        mu.write(0, 0x24, MUR, !0, &mut fx).unwrap();
        deliver_all(&mut mu, &mut fx);
        assert_eq!(mu.sides[1].sr, 0x00F0_0000);
        assert_eq!(mu.sides[0].cr, 0);
    }
}
