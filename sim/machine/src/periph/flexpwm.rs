//! FlexPWM (FlexPWM1-4): four submodules of 16-bit registers, buffered values latched by LDOK,
//! the counter running from INIT to VAL1, PWM_A high from VAL2 to VAL3, the reload flag and its
//! interrupt; the twin reads back each output's period and high time.
//!
//! Source: rt1176.md section 3.9 (PERI_PWM.h): submodules at +0x60 n, INIT +0x02, CTRL2 +0x04,
//! CTRL +0x06, VAL0..VAL5 +0x0A..+0x1E, STS +0x24, INTEN +0x26, OUTEN 0x180, MCTRL 0x188 (LDOK
//! [3:0], CLDOK [7:4], RUN [11:8]); "VAL1 = period end; PWM_A on at VAL2, off at VAL3"; the PWM
//! clock (16 MHz on the Pixhawk 6X-RT, the board's `pwm` root). From the NXP FlexPWM (inferred:
//! not in rt1176.md): CTRL.PRSC[6:4] divides the clock by 2^PRSC; STS.RF (bit12) sets at each
//! reload (the counter's wrap from VAL1 to INIT), write-1-to-clear; INTEN.RIE (bit12) routes it
//! to the submodule's interrupt line; values written are buffered and take effect at the reload
//! after LDOK is set (LDOK then clears), or at once while the submodule is not running.
//!
//! | Off (per submodule) | Reg | Implemented |
//! |-----|-----|-------------|
//! | +0x00 | CNT | the counter, from virtual time |
//! | +0x02 | INIT | buffered (signed 16-bit) |
//! | +0x04 / +0x06 | CTRL2 / CTRL | stored; CTRL.PRSC divides the clock |
//! | +0x0A..+0x1E | VAL0..VAL5 | buffered (signed 16-bit); VAL1 the period end, VAL2/VAL3 PWM_A's edges |
//! | +0x24 | STS | RF (reload), write-1-to-clear |
//! | +0x26 | INTEN | RIE: the submodule's IRQ line (the board's line + n) is RF & RIE |
//! | other submodule registers | | stored |
//! | 0x180 OUTEN, 0x182 MASK, 0x18C FCTRL, 0x18E FSTS, others | | stored |
//! | 0x188 | MCTRL | LDOK (latch at the next reload; written 1 to CLDOK clears it), RUN |
//!
//! Not modelled: PWM_B and PWM_X edges (VAL4/VAL5 stored), complementary pairs, dead time,
//! fractional delays, faults, force logic, capture, DMA, the master reload and sync inputs
//! between submodules (each runs from its own RUN write).

use super::{ticks, RegError};
use crate::time::Ps;

const SM_STRIDE: u32 = 0x60;
const RF: u16 = 1 << 12;

#[derive(Debug, Clone)]
struct Sub {
    /// Every 16-bit register as written (the buffered values for INIT and VAL0-5).
    regs: [u16; 0x30],
    /// The values in force: INIT, VAL0..VAL5.
    active: [i16; 7],
    running: bool,
    /// When the counter (re)started at INIT with the values in force, and the reloads counted
    /// before that.
    origin: Ps,
    reloads: u64,
    rf: bool,
    ldok: bool,
}

impl Default for Sub {
    fn default() -> Sub {
        Sub {
            regs: [0; 0x30],
            active: [0; 7],
            running: false,
            origin: 0,
            reloads: 0,
            rf: false,
            ldok: false,
        }
    }
}

impl Sub {
    fn buffered(&self) -> [i16; 7] {
        let r = |off: usize| self.regs[off / 2] as i16;
        [
            r(0x02),
            r(0x0A),
            r(0x0E),
            r(0x12),
            r(0x16),
            r(0x1A),
            r(0x1E),
        ]
    }

    /// Counts per period (INIT to VAL1 inclusive), at least 1.
    fn period(&self) -> u64 {
        (i64::from(self.active[2]) - i64::from(self.active[0]) + 1).max(1) as u64
    }

    fn prescale(&self) -> u64 {
        1 << ((self.regs[0x06 / 2] >> 4) & 7)
    }
}

#[derive(Debug, Clone)]
pub struct FlexPwm {
    hz: u64,
    sub: [Sub; 4],
    /// OUTEN, MASK, ..., MCTRL and the other module registers, by halfword from 0x180.
    module: [u16; 0x10],
}

impl FlexPwm {
    pub fn new(hz: u64) -> FlexPwm {
        FlexPwm {
            hz,
            sub: Default::default(),
            module: [0; 0x10],
        }
    }

    /// Complete periods of submodule `n` since its origin at time `t`.
    fn periods_at(&self, n: usize, t: Ps) -> u64 {
        let s = &self.sub[n];
        ticks::count(t.saturating_sub(s.origin), self.hz, s.prescale()) / s.period()
    }

    /// The time of submodule `n`'s `k`-th reload after its origin.
    fn reload_time(&self, n: usize, k: u64) -> Ps {
        let s = &self.sub[n];
        s.origin
            .saturating_add(ticks::time_of(k * s.period(), self.hz, s.prescale()))
    }

    /// Bring submodule reload flags and latches up to `t`.
    pub fn sync(&mut self, t: Ps) {
        for n in 0..4 {
            if !self.sub[n].running {
                continue;
            }
            let k = self.periods_at(n, t);
            if k == 0 {
                continue;
            }
            let at = self.reload_time(n, k);
            let s = &mut self.sub[n];
            s.rf = true;
            s.reloads += k;
            let latched = s.ldok;
            if latched {
                // The first reload after LDOK latched the buffers; re-anchor there.
                s.active = s.buffered();
                s.ldok = false;
            }
            s.origin = at;
            if latched {
                self.module[4] &= !(1 << n);
            }
        }
    }

    pub fn irq_levels(&self) -> [bool; 4] {
        std::array::from_fn(|n| self.sub[n].rf && self.sub[n].regs[0x26 / 2] & RF != 0)
    }

    pub fn next_event(&self) -> Option<Ps> {
        (0..4)
            .filter(|&n| self.sub[n].running)
            .map(|n| self.reload_time(n, 1))
            .min()
    }

    /// PWM_A of submodule `n`: (period, high time) in seconds while it runs with its output
    /// enabled (OUTEN.PWMA_EN).
    pub fn output_a(&self, n: usize) -> Option<(f64, f64)> {
        let s = &self.sub[n];
        if !s.running || self.module[0] >> (8 + n) & 1 == 0 {
            return None;
        }
        let tick = s.prescale() as f64 / self.hz as f64;
        let high = (i64::from(s.active[4]) - i64::from(s.active[3])).clamp(0, s.period() as i64);
        Some((s.period() as f64 * tick, high as f64 * tick))
    }

    fn cnt(&self, n: usize, now: Ps) -> u16 {
        let s = &self.sub[n];
        if !s.running {
            return s.active[0] as u16;
        }
        let c = ticks::count(now.saturating_sub(s.origin), self.hz, s.prescale()) % s.period();
        (i64::from(s.active[0]) + c as i64) as u16
    }

    fn read16(&mut self, off: u32, now: Ps) -> Result<u16, RegError> {
        if off < 4 * SM_STRIDE {
            let (n, r) = ((off / SM_STRIDE) as usize, off % SM_STRIDE);
            if r >= 0x60 {
                return Err(RegError::unmodelled(off));
            }
            return Ok(match r {
                0x00 => self.cnt(n, now),
                0x24 => self.sub[n].regs[0x12] & !RF | if self.sub[n].rf { RF } else { 0 },
                _ => self.sub[n].regs[(r / 2) as usize],
            });
        }
        match off {
            0x180..=0x19E => Ok(self.module[((off - 0x180) / 2) as usize]),
            _ => Err(RegError::unmodelled(off)),
        }
    }

    fn write16(&mut self, off: u32, v: u16, now: Ps) -> Result<(), RegError> {
        if off < 4 * SM_STRIDE {
            let (n, r) = ((off / SM_STRIDE) as usize, off % SM_STRIDE);
            let s = &mut self.sub[n];
            match r {
                0x00 => {}
                0x24 => {
                    if v & RF != 0 {
                        s.rf = false;
                    }
                }
                r if r < 0x60 => {
                    s.regs[(r / 2) as usize] = v;
                    if !s.running {
                        s.active = s.buffered();
                    }
                }
                _ => return Err(RegError::unmodelled(off)),
            }
            return Ok(());
        }
        match off {
            0x188 => {
                let old = self.module[4];
                let mut m = v & 0x0F0F;
                // CLDOK clears LDOK bits; LDOK bits written 1 set them.
                let ldok = (old | (v & 0xF)) & !(v >> 4 & 0xF);
                m = (m & !0xF) | ldok;
                for n in 0..4 {
                    let run = m >> (8 + n) & 1 != 0;
                    let s = &mut self.sub[n];
                    s.ldok = ldok >> n & 1 != 0;
                    if run && !s.running {
                        s.running = true;
                        if s.ldok {
                            s.active = s.buffered();
                            s.ldok = false;
                            m &= !(1 << n);
                        }
                        s.origin = now;
                    } else if !run && s.running {
                        s.running = false;
                    }
                }
                self.module[4] = m;
            }
            0x180..=0x19E => self.module[((off - 0x180) / 2) as usize] = v,
            _ => return Err(RegError::unmodelled(off)),
        }
        Ok(())
    }

    /// A bus access: the word at `off` with the written lanes in `mask` (16-bit registers in
    /// pairs).
    pub fn read(&mut self, off: u32, now: Ps) -> Result<u32, RegError> {
        self.sync(now);
        let lo = u32::from(self.read16(off, now)?);
        let hi = u32::from(self.read16(off + 2, now).unwrap_or(0));
        Ok(lo | (hi << 16))
    }

    pub fn write(&mut self, off: u32, value: u32, mask: u32, now: Ps) -> Result<(), RegError> {
        self.sync(now);
        if mask & 0xFFFF != 0 {
            let old = u32::from(self.read16(off, now)?);
            self.write16(off, ((old & !mask) | (value & mask)) as u16, now)?;
        }
        if mask >> 16 != 0 {
            let old = u32::from(self.read16(off + 2, now)?) << 16;
            self.write16(
                off + 2,
                (((old & !mask) | (value & mask)) >> 16) as u16,
                now,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::PS_PER_S;

    const HZ: u64 = 16_000_000;

    fn w16(p: &mut FlexPwm, off: u32, v: u16, now: Ps) {
        let (word, shift) = (off & !3, (off & 2) * 8);
        p.write(word, u32::from(v) << shift, 0xFFFF << shift, now)
            .unwrap();
    }

    /// A 400 Hz ESC output as PX4 sets one up: the 16 MHz clock divided by 16 (CTRL.PRSC 4)
    /// counts at 1 MHz, so 2500 counts a period (INIT 0, VAL1 2499; the registers are signed
    /// 16-bit) and a 1500 us pulse is 1500 counts (VAL2 0, VAL3 1500).
    fn esc(p: &mut FlexPwm) {
        w16(p, 0x06, 4 << 4, 0);
        w16(p, 0x02, 0, 0);
        w16(p, 0x0E, 2499, 0);
        w16(p, 0x12, 0, 0);
        w16(p, 0x16, 1500, 0);
        w16(p, 0x180, 1 << 8, 0); // OUTEN.PWMA_EN[0]
        w16(p, 0x188, (1 << 8) | 1, 0); // RUN[0], LDOK[0]
    }

    #[test]
    fn an_esc_channel_reads_back_its_period_and_pulse() {
        let mut p = FlexPwm::new(HZ);
        esc(&mut p);
        let (period, high) = p.output_a(0).unwrap();
        assert!((period - 0.0025).abs() < 1e-12 && (high - 0.0015).abs() < 1e-12);
        assert_eq!(p.output_a(1), None, "not running");
        assert_eq!(p.next_event(), Some(PS_PER_S / 400));
        // Counting at 1 MHz: 1 ms after start the counter is at 1000.
        assert_eq!(p.read(0x00, PS_PER_S / 1000).unwrap() & 0xFFFF, 1000);
    }

    #[test]
    fn buffered_values_take_effect_at_the_reload_after_ldok() {
        let mut p = FlexPwm::new(HZ);
        esc(&mut p);
        w16(&mut p, 0x16, 1000, 1000); // a 1000 us pulse, buffered
        assert_eq!(p.output_a(0).unwrap().1, 0.0015, "not yet latched");
        w16(&mut p, 0x188, (1 << 8) | 1, 1000); // LDOK
        p.sync(PS_PER_S / 400 - 1);
        assert_eq!(p.output_a(0).unwrap().1, 0.0015, "until the reload");
        p.sync(PS_PER_S / 400);
        assert!((p.output_a(0).unwrap().1 - 0.001).abs() < 1e-12);
        assert_eq!(
            p.read(0x188, PS_PER_S / 400).unwrap() & 0xF,
            0,
            "LDOK cleared"
        );
        // RF set at the reload; write-1-to-clear; RIE drives the line.
        assert_ne!(p.read(0x24, PS_PER_S / 400).unwrap() & u32::from(RF), 0);
        w16(&mut p, 0x26, RF, PS_PER_S / 400);
        assert_eq!(p.irq_levels(), [true, false, false, false]);
        w16(&mut p, 0x24, RF, PS_PER_S / 400);
        assert_eq!(p.irq_levels(), [false; 4]);
    }
}
