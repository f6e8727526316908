//! Periodic Interrupt Timer (PIT1/PIT2): four 32-bit down-counters, chaining, lifetime timer.
//!
//! Source: rt1176.md section 3.3 (PERI_PIT.h).
//!
//! | Off           | Reg      | Implemented                                                    |
//! |---------------|----------|----------------------------------------------------------------|
//! | 0x000         | MCR      | MDIS (bit1, 1 at reset: timers stopped), FRZ stored             |
//! | 0x0E0 / 0x0E4 | LTMR64H / LTMR64L | lifetime timer: H reads channel 1 CVAL and latches channel 0 CVAL into L |
//! | 0x100+0x10n   | LDVAL    | reload; a write while running takes effect after the current period |
//! | +0x4          | CVAL     | counts LDVAL -> 0 (period LDVAL+1 clocks), computed from virtual time |
//! | +0x8          | TCTRL    | TEN (start loads LDVAL), TIE, CHN (count expiries of channel n-1) |
//! | +0xC          | TFLG     | TIF, set on each expiry, write-1-to-clear                        |
//!
//! One IRQ line per instance: OR over channels of TIF & TIE. Clock: the board's clock root.

use super::{ticks, RegError};
use crate::time::Ps;

const MCR_MDIS: u32 = 1 << 1;
const TEN: u32 = 1;
const TIE: u32 = 2;
const CHN: u32 = 4;

#[derive(Debug, Clone, Default)]
struct Channel {
    ldval: u32,
    tctrl: u32,
    tif: bool,
    /// Counting since `start` (unchained) / since the predecessor had `base` expiries (chained).
    start: Ps,
    base: u64,
    /// Expiries counted before the last re-anchor (an LDVAL change taking effect).
    offset: u64,
    /// Expiries already reflected in `tif`.
    seen: u64,
    pending_ld: Option<u32>,
    running: bool,
    frozen_cval: u32,
}

#[derive(Debug, Clone)]
pub struct Pit {
    hz: u64,
    mcr: u32,
    ch: [Channel; 4],
    ltmr_low: u32,
}

impl Pit {
    pub fn new(hz: u64) -> Pit {
        Pit {
            hz,
            mcr: MCR_MDIS,
            ch: Default::default(),
            ltmr_low: 0,
        }
    }

    fn period(&self, n: usize) -> u64 {
        u64::from(self.ch[n].ldval) + 1
    }

    fn chained(&self, n: usize) -> bool {
        n > 0 && self.ch[n].tctrl & CHN != 0
    }

    /// Base count of channel n at time t: clock ticks (unchained) or predecessor expiries since
    /// the channel started (chained).
    fn base_count(&self, n: usize, t: Ps) -> u64 {
        let c = &self.ch[n];
        if self.chained(n) {
            self.expiries(n - 1, t).saturating_sub(c.base)
        } else {
            ticks::count(t.saturating_sub(c.start), self.hz, 1)
        }
    }

    /// Total expiries of channel n through time t.
    fn expiries(&self, n: usize, t: Ps) -> u64 {
        let c = &self.ch[n];
        if !c.running {
            return c.offset;
        }
        c.offset + self.base_count(n, t) / self.period(n)
    }

    /// Virtual time of channel n's `j`-th expiry (absolute count), if it is running.
    fn expiry_time(&self, n: usize, j: u64) -> Option<Ps> {
        let c = &self.ch[n];
        if !c.running || j <= c.offset {
            return None;
        }
        let local = (j - c.offset).checked_mul(self.period(n))?;
        if self.chained(n) {
            self.expiry_time(n - 1, c.base + local)
        } else {
            Some(c.start.saturating_add(ticks::time_of(local, self.hz, 1)))
                .filter(|&t| t != Ps::MAX)
        }
    }

    fn cval(&self, n: usize, t: Ps) -> u32 {
        let c = &self.ch[n];
        if !c.running {
            return c.frozen_cval;
        }
        (u64::from(c.ldval) - self.base_count(n, t) % self.period(n)) as u32
    }

    /// Bring every channel up to time t: pending reloads, TIF flags.
    pub fn sync(&mut self, t: Ps) {
        for n in 0..4 {
            if let Some(ld) = self.ch[n].pending_ld {
                let next = self.ch[n].offset + 1;
                match self.expiry_time(n, next) {
                    Some(t1) if t1 <= t => {
                        let base = if self.chained(n) {
                            self.expiries(n - 1, t1)
                        } else {
                            0
                        };
                        let c = &mut self.ch[n];
                        c.offset = next;
                        c.start = t1;
                        c.base = base;
                        c.ldval = ld;
                        c.pending_ld = None;
                    }
                    Some(_) => {}
                    None => {
                        let c = &mut self.ch[n];
                        c.ldval = ld;
                        c.pending_ld = None;
                    }
                }
            }
            let e = self.expiries(n, t);
            let c = &mut self.ch[n];
            if e > c.seen {
                c.tif = true;
                c.seen = e;
            }
        }
    }

    fn set_running(&mut self, n: usize, t: Ps) {
        let want = self.mcr & MCR_MDIS == 0
            && self.ch[n].tctrl & TEN != 0
            && (!self.chained(n) || self.ch[n - 1].running);
        if want == self.ch[n].running {
            return;
        }
        if want {
            let base = if self.chained(n) {
                self.expiries(n - 1, t)
            } else {
                0
            };
            let c = &mut self.ch[n];
            c.running = true;
            c.start = t;
            c.base = base;
            c.offset = 0;
            c.seen = 0;
        } else {
            let cval = self.cval(n, t);
            let c = &mut self.ch[n];
            c.frozen_cval = cval;
            c.offset = 0;
            c.seen = 0;
            c.running = false;
        }
    }

    fn update_running(&mut self, t: Ps) {
        for n in 0..4 {
            self.set_running(n, t);
        }
    }

    pub fn irq_level(&self) -> bool {
        self.ch.iter().any(|c| c.tif && c.tctrl & TIE != 0)
    }

    pub fn next_event(&self) -> Option<Ps> {
        (0..4)
            .filter(|&n| self.ch[n].tctrl & TIE != 0 && !self.ch[n].tif)
            .filter_map(|n| {
                let c = &self.ch[n];
                let due = if c.pending_ld.is_some() {
                    c.offset + 1
                } else {
                    c.seen + 1
                };
                self.expiry_time(n, due)
            })
            .min()
    }

    pub fn read(&mut self, off: u32, now: Ps) -> Result<u32, RegError> {
        self.sync(now);
        Ok(match off {
            0x000 => self.mcr,
            0x0E0 => {
                self.ltmr_low = self.cval(0, now);
                self.cval(1, now)
            }
            0x0E4 => self.ltmr_low,
            0x100..=0x13C => {
                let n = ((off - 0x100) / 0x10) as usize;
                match off & 0xC {
                    0x0 => self.ch[n].pending_ld.unwrap_or(self.ch[n].ldval),
                    0x4 => self.cval(n, now),
                    0x8 => self.ch[n].tctrl,
                    _ => u32::from(self.ch[n].tif),
                }
            }
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32, now: Ps) -> Result<(), RegError> {
        self.sync(now);
        let v = value & mask;
        match off {
            0x000 => {
                self.mcr = (self.mcr & !mask) | (v & 3);
                self.update_running(now);
            }
            0x0E0 | 0x0E4 => {}
            0x100..=0x13C => {
                let n = ((off - 0x100) / 0x10) as usize;
                match off & 0xC {
                    0x0 => {
                        let ld = (self.ch[n].ldval & !mask) | v;
                        if self.ch[n].running {
                            self.ch[n].pending_ld = Some(ld);
                        } else {
                            self.ch[n].ldval = ld;
                            self.ch[n].frozen_cval = ld;
                        }
                    }
                    0x4 => {}
                    0x8 => {
                        let old = self.ch[n].tctrl;
                        let new = ((old & !mask) | v) & 7;
                        if old & TEN != 0 && new & TEN == 0 {
                            self.ch[n].tctrl = new;
                            self.update_running(now);
                        } else {
                            if old & TEN == 0 && new & TEN != 0 {
                                self.ch[n].frozen_cval = self.ch[n].ldval;
                            }
                            self.ch[n].tctrl = new;
                            self.update_running(now);
                        }
                    }
                    _ => {
                        if v & 1 != 0 {
                            self.ch[n].tif = false;
                        }
                    }
                }
            }
            _ => return Err(RegError::unmodelled(off)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{PS_PER_MS, PS_PER_S};

    const HZ: u64 = 240_000_000;

    #[test]
    fn one_millisecond_channel() {
        let mut p = Pit::new(HZ);
        p.write(0x000, 0, !0, 0).unwrap(); // MDIS = 0
        p.write(0x100, 239_999, !0, 0).unwrap();
        p.write(0x108, TEN | TIE, !0, 0).unwrap();
        assert_eq!(p.next_event(), Some(PS_PER_MS));
        assert_eq!(p.read(0x104, PS_PER_MS / 2).unwrap(), 120_000 - 1);
        p.sync(PS_PER_MS);
        assert!(p.irq_level());
        p.write(0x10C, 1, !0, PS_PER_MS).unwrap();
        assert!(!p.irq_level());
        assert_eq!(p.next_event(), Some(2 * PS_PER_MS));
    }

    #[test]
    fn lifetime_timer_counts_down_in_64_bits() {
        let mut p = Pit::new(HZ);
        p.write(0x000, 0, !0, 0).unwrap();
        p.write(0x110, u32::MAX, !0, 0).unwrap();
        p.write(0x118, TEN | CHN, !0, 0).unwrap();
        p.write(0x100, u32::MAX, !0, 0).unwrap();
        p.write(0x108, TEN, !0, 0).unwrap();
        let t = PS_PER_S;
        let hi = p.read(0x0E0, t).unwrap();
        let lo = p.read(0x0E4, t).unwrap();
        let value = (u64::from(hi) << 32) | u64::from(lo);
        assert_eq!(u64::MAX - value, HZ, "one second of 240 MHz ticks");
    }

    #[test]
    fn chained_channel_counts_predecessor_expiries() {
        let mut p = Pit::new(HZ);
        p.write(0x000, 0, !0, 0).unwrap();
        p.write(0x110, 9, !0, 0).unwrap(); // channel 1: every 10 expiries of channel 0
        p.write(0x118, TEN | TIE | CHN, !0, 0).unwrap();
        p.write(0x100, 239_999, !0, 0).unwrap(); // channel 0: 1 ms
        p.write(0x108, TEN, !0, 0).unwrap();
        assert_eq!(p.next_event(), Some(10 * PS_PER_MS));
    }

    #[test]
    fn ldval_change_applies_after_current_period() {
        let mut p = Pit::new(HZ);
        p.write(0x000, 0, !0, 0).unwrap();
        p.write(0x100, 239_999, !0, 0).unwrap();
        p.write(0x108, TEN | TIE, !0, 0).unwrap();
        p.write(0x100, 479_999, !0, PS_PER_MS / 2).unwrap();
        assert_eq!(p.next_event(), Some(PS_PER_MS));
        p.sync(PS_PER_MS);
        p.write(0x10C, 1, !0, PS_PER_MS).unwrap();
        assert_eq!(p.next_event(), Some(3 * PS_PER_MS));
    }
}
