//! General Purpose Timer (GPT1-6, 32-bit).
//!
//! Source: rt1176.md section 3.2 (PERI_GPT.h; PX4 hrt.c usage).
//!
//! | Off  | Reg   | Implemented                                                                 |
//! |------|-------|-----------------------------------------------------------------------------|
//! | 0x00 | CR    | EN, ENMOD (counter reset on enable), CLKSRC (1/2 = board root "gptN", 4 = 32.768 kHz, 5 = 24 MHz osc; 0/3 = no clock), FRR (free-run vs restart at OCR1), EN_24M, SWR (self-clearing soft reset); DBGEN/WAITEN/DOZEEN/STOPEN, IMn, OMn stored; FOn ignored |
//! | 0x04 | PR    | PRESCALER[11:0] (divide by n+1), PRESCALER24M[15:12] (extra divide for CLKSRC 5) |
//! | 0x08 | SR    | OF1-3 (bits 0-2) set when CNT becomes OCRn, ROV (bit 5) on 0xFFFF_FFFF -> 0; IF1/IF2 never set (no capture inputs); write-1-to-clear |
//! | 0x0C | IR    | interrupt enables, same bit positions                                       |
//! | 0x10-0x18 | OCR1-3 | compare values (reset 0xFFFF_FFFF); in restart mode an OCR1 write resets the counter (rt1176.md: "verify") |
//! | 0x1C/0x20 | ICR1/2 | read 0                                                             |
//! | 0x24 | CNT   | counter, computed from virtual time                                         |
//!
//! Counting is closed-form: the counter is a function of virtual time since an origin, with exact
//! integer tick arithmetic. Flags are brought up to date lazily on every access; an event is
//! scheduled only for the next change of an enabled interrupt. IRQ level = SR & IR.

use super::{merge, ticks, RegError};
use crate::time::Ps;

const CR_EN: u32 = 1 << 0;
const CR_ENMOD: u32 = 1 << 1;
const CR_FRR: u32 = 1 << 9;
const CR_SWR: u32 = 1 << 15;
const SR_ROV: u32 = 1 << 5;
const SR_MASK: u32 = 0x3F;
const WRAP: u64 = 1 << 32;

#[derive(Debug, Clone)]
pub struct Gpt {
    root_hz: u64,
    osc24m_hz: u64,
    pub cr: u32,
    pub pr: u32,
    pub sr: u32,
    pub ir: u32,
    pub ocr: [u32; 3],
    /// Counter value at `origin` (or the frozen value when not counting).
    origin_cnt: u32,
    origin: Ps,
    /// Flags are up to date through this time.
    synced: Ps,
}

impl Gpt {
    pub fn new(root_hz: u64, osc24m_hz: u64) -> Gpt {
        Gpt {
            root_hz,
            osc24m_hz,
            cr: 0,
            pr: 0,
            sr: 0,
            ir: 0,
            ocr: [u32::MAX; 3],
            origin_cnt: 0,
            origin: 0,
            synced: 0,
        }
    }

    /// (frequency, divider) of the counter clock, or None when it does not count.
    fn clock(&self) -> Option<(u64, u64)> {
        if self.cr & CR_EN == 0 {
            return None;
        }
        let pre = u64::from(self.pr & 0xFFF) + 1;
        match (self.cr >> 6) & 7 {
            1 | 2 => Some((self.root_hz, pre)),
            4 => Some((32_768, pre)),
            5 => Some((self.osc24m_hz, pre * (u64::from((self.pr >> 12) & 0xF) + 1))),
            _ => None,
        }
    }

    fn restart_mode(&self) -> bool {
        self.cr & CR_FRR == 0
    }

    fn ticks_at(&self, t: Ps) -> Option<u64> {
        self.clock()
            .map(|(hz, div)| ticks::count(t.saturating_sub(self.origin), hz, div))
    }

    /// Counter value `k` ticks after the origin.
    fn value_after(&self, k: u64) -> u32 {
        let c0 = u64::from(self.origin_cnt);
        if !self.restart_mode() {
            return ((c0 + k) % WRAP) as u32;
        }
        let period = u64::from(self.ocr[0]) + 1;
        if c0 < period {
            ((c0 + k) % period) as u32
        } else {
            // Above OCR1: counts on to 0xFFFF_FFFF, rolls over, then restarts at OCR1.
            let to_wrap = WRAP - c0;
            if k < to_wrap {
                (c0 + k) as u32
            } else {
                ((k - to_wrap) % period) as u32
            }
        }
    }

    /// Smallest tick k > `from` at which the counter becomes `target`.
    fn next_match(&self, from: u64, target: u32) -> Option<u64> {
        let cur = u64::from(self.value_after(from));
        let x = u64::from(target);
        if !self.restart_mode() {
            let d = (x + WRAP - cur) % WRAP;
            return Some(from + if d == 0 { WRAP } else { d });
        }
        let period = u64::from(self.ocr[0]) + 1;
        if cur >= period {
            if x > cur {
                return Some(from + (x - cur));
            }
            return (x < period).then_some(from + (WRAP - cur) + x);
        }
        if x >= period {
            return None;
        }
        let d = (x + period - cur) % period;
        Some(from + if d == 0 { period } else { d })
    }

    /// Smallest tick k > `from` at which the counter rolls over 0xFFFF_FFFF -> 0.
    fn next_rollover(&self, from: u64) -> Option<u64> {
        let cur = u64::from(self.value_after(from));
        if !self.restart_mode() {
            return Some(from + (WRAP - cur));
        }
        let period = u64::from(self.ocr[0]) + 1;
        (cur >= period).then_some(from + (WRAP - cur))
    }

    /// Tick of the next setting of each flag bit after tick `from`.
    fn next_flag_ticks(&self, from: u64) -> [(u32, Option<u64>); 4] {
        [
            (1 << 0, self.next_match(from, self.ocr[0])),
            (1 << 1, self.next_match(from, self.ocr[1])),
            (1 << 2, self.next_match(from, self.ocr[2])),
            (SR_ROV, self.next_rollover(from)),
        ]
    }

    /// Bring SR up to `now`.
    pub fn sync(&mut self, now: Ps) {
        if let (Some(k_now), Some(k_last)) = (self.ticks_at(now), self.ticks_at(self.synced)) {
            if k_now > k_last {
                for (bit, k) in self.next_flag_ticks(k_last) {
                    if k.is_some_and(|k| k <= k_now) {
                        self.sr |= bit;
                    }
                }
            }
        }
        self.synced = self.synced.max(now);
    }

    fn counter(&self, now: Ps) -> u32 {
        match self.ticks_at(now) {
            Some(k) => self.value_after(k),
            None => self.origin_cnt,
        }
    }

    /// Re-anchor the counter at `now` with value `cnt` (after a configuration change).
    fn anchor(&mut self, now: Ps, cnt: u32) {
        self.origin = now;
        self.origin_cnt = cnt;
        self.synced = now;
    }

    pub fn irq_level(&self) -> bool {
        self.sr & self.ir & SR_MASK != 0
    }

    /// Virtual time of the next change of an enabled, not yet set interrupt flag.
    pub fn next_event(&self) -> Option<Ps> {
        let (hz, div) = self.clock()?;
        let from = ticks::count(self.synced.saturating_sub(self.origin), hz, div);
        self.next_flag_ticks(from)
            .iter()
            .filter(|(bit, _)| self.ir & bit != 0 && self.sr & bit == 0)
            .filter_map(|(_, k)| *k)
            .min()
            .map(|k| self.origin.saturating_add(ticks::time_of(k, hz, div)))
            .filter(|&t| t != Ps::MAX)
    }

    pub fn read(&mut self, off: u32, now: Ps) -> Result<u32, RegError> {
        self.sync(now);
        Ok(match off {
            0x00 => self.cr,
            0x04 => self.pr,
            0x08 => self.sr,
            0x0C => self.ir,
            0x10 | 0x14 | 0x18 => self.ocr[((off - 0x10) / 4) as usize],
            0x1C | 0x20 => 0,
            0x24 => self.counter(now),
            _ => return Err(RegError::unmodelled(off)),
        })
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32, now: Ps) -> Result<(), RegError> {
        self.sync(now);
        let cnt = self.counter(now);
        match off {
            0x00 => {
                let new = merge(self.cr, value, mask);
                if new & CR_SWR != 0 {
                    // Soft reset: everything but EN/ENMOD/DBGEN/WAITEN/DOZEEN/STOPEN.
                    self.cr &= 0x3F;
                    self.pr = 0;
                    self.sr = 0;
                    self.ir = 0;
                    self.ocr = [u32::MAX; 3];
                    self.anchor(now, 0);
                    return Ok(());
                }
                let enabling = self.cr & CR_EN == 0 && new & CR_EN != 0;
                self.cr = new;
                let start = if enabling && new & CR_ENMOD != 0 {
                    0
                } else {
                    cnt
                };
                self.anchor(now, start);
            }
            0x04 => {
                self.pr = merge(self.pr, value, mask) & 0xFFFF;
                self.anchor(now, cnt);
            }
            0x08 => self.sr &= !(value & mask & SR_MASK),
            0x0C => self.ir = merge(self.ir, value, mask) & SR_MASK,
            0x10 | 0x14 | 0x18 => {
                let i = ((off - 0x10) / 4) as usize;
                self.ocr[i] = merge(self.ocr[i], value, mask);
                let restart = i == 0 && self.restart_mode();
                self.anchor(now, if restart { 0 } else { cnt });
            }
            0x1C | 0x20 | 0x24 => {} // read-only
            _ => return Err(RegError::unmodelled(off)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{PS_PER_MS, PS_PER_S, PS_PER_US};

    /// 24 MHz root, prescaler 24 -> 1 MHz, restart at OCR1 = 999: compare every 1 ms.
    fn one_khz() -> Gpt {
        let mut g = Gpt::new(24_000_000, 24_000_000);
        g.write(0x04, 23, !0, 0).unwrap();
        g.write(0x10, 999, !0, 0).unwrap();
        g.write(0x0C, 1, !0, 0).unwrap();
        g.write(0x00, CR_EN | CR_ENMOD | (1 << 6), !0, 0).unwrap();
        g
    }

    #[test]
    fn restart_mode_compare_every_millisecond() {
        // The counter becomes OCR1 = 999 at tick 999 (0.999 ms) and restarts at tick 1000.
        let first = 999 * PS_PER_US;
        let mut g = one_khz();
        assert_eq!(g.next_event(), Some(first));
        assert_eq!(g.read(0x24, PS_PER_MS / 2).unwrap(), 500);
        assert_eq!(g.read(0x08, first - 1).unwrap() & 1, 0);
        g.sync(first);
        assert!(g.irq_level());
        assert_eq!(g.read(0x24, PS_PER_MS).unwrap(), 0, "restarted");
        g.write(0x08, 1, !0, first + 10).unwrap();
        assert!(!g.irq_level());
        assert_eq!(g.next_event(), Some(first + PS_PER_MS));
        // Count the compares over one virtual second, the way the machine drives it.
        let mut n = 1;
        while let Some(t) = g.next_event() {
            if t > PS_PER_S {
                break;
            }
            g.sync(t);
            assert!(g.irq_level());
            g.write(0x08, 1, !0, t).unwrap();
            n += 1;
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn free_run_rolls_over() {
        let mut g = Gpt::new(24_000_000, 24_000_000);
        g.write(0x0C, SR_ROV, !0, 0).unwrap();
        g.write(0x00, CR_EN | CR_ENMOD | CR_FRR | (1 << 6), !0, 0)
            .unwrap();
        // 2^32 ticks at 24 MHz.
        let t = ticks::time_of(1 << 32, 24_000_000, 1);
        assert_eq!(g.next_event(), Some(t));
        // One 24 MHz tick is 41 667 ps: 20 ns before the rollover the counter is at its maximum.
        assert_eq!(g.read(0x24, t - 20_000).unwrap(), u32::MAX);
        g.sync(t);
        assert_ne!(g.sr & SR_ROV, 0);
    }

    #[test]
    fn disabled_counter_freezes_and_enmod_resets() {
        let mut g = one_khz();
        g.write(0x00, CR_ENMOD | (1 << 6), !0, PS_PER_MS / 4)
            .unwrap();
        assert_eq!(g.read(0x24, PS_PER_MS).unwrap(), 250);
        assert_eq!(g.next_event(), None);
        g.write(0x00, CR_EN | CR_ENMOD | (1 << 6), !0, PS_PER_MS)
            .unwrap();
        assert_eq!(g.read(0x24, PS_PER_MS).unwrap(), 0);
    }
}
