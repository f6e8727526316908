//! The Private Peripheral Bus of one core: System Control Space (NVIC, SCB, SysTick, MPU, FPU,
//! cache maintenance), DWT, and the CM4's LMEM cache controller.
//!
//! Sources: ARMv7-M ARM (DDI 0403E) B3.2 (SCB), B3.3 (SysTick), B3.4 (NVIC), C1.8 (DWT);
//! rt1176.md section 4 (CM7 cache registers, CCSIDR values, LMEM GO bit) and 3.4 (SysTick).
//!
//! | Address (0xE000_xxxx) | Register | Implemented |
//! |---|---|---|
//! | E004 | ICTR | INTLINESNUM = 6 (218 IRQs) |
//! | E008 | ACTLR | stored |
//! | E010-E01C | SYST_CSR/RVR/CVR/CALIB | ENABLE, TICKINT, CLKSOURCE (1 = core clock, 0 = the board's `<core>_systick` root), COUNTFLAG (cleared on read and on CVR write); counts in virtual time; CALIB = NOREF=0, SKEW=1, TENMS=0 |
//! | E100-E11C / E180 / E200 / E280 / E300 | NVIC ISER/ICER/ISPR/ICPR/IABR | 218 lines; bits past the last line RAZ/WI |
//! | E400-E4D9 | NVIC IPR | byte-accessible, top 4 bits kept |
//! | ED00 | CPUID | M7 r1p2 0x411F_C272, M4 r0p1 0x410F_C241 |
//! | ED04 | ICSR | PENDSVSET/CLR, PENDSTSET/CLR, NMIPENDSET, VECTACTIVE, VECTPENDING, RETTOBASE, ISRPENDING |
//! | ED08 | VTOR | bits [31:7] (1024-byte aligned tables need [9:7] = 0; kept as written) |
//! | ED0C | AIRCR | VECTKEY 0x05FA, PRIGROUP, SYSRESETREQ (stops the run as a system reset); reads VECTKEYSTAT 0xFA05 |
//! | ED10 / ED14 | SCR / CCR | stored; CCR resets to STKALIGN (0x200) |
//! | ED18-ED20 | SHPR1-3 | byte-accessible priorities of exceptions 4-15 |
//! | ED24 | SHCSR | ACT/PENDED bits from the exception state, MEM/BUS/USGFAULTENA |
//! | ED28 / ED2C / ED30 | CFSR / HFSR / DFSR | write-one-to-clear |
//! | ED34 / ED38 / ED3C | MMFAR / BFAR / AFSR | stored / stored / RAZ |
//! | ED40-ED74 | ID_PFR0..ID_ISAR4 | ARMv7-M values |
//! | ED78 / ED7C / ED80 / ED84 | CLIDR / CTR / CCSIDR / CSSELR | CM7: 0x0900_0003, 0x8303_C003, D 0xF01F_E019 / I 0xF03F_E009 by CSSELR; CM4: RAZ |
//! | ED88 | CPACR | stored (the FPU runs regardless: NOCP is not raised) |
//! | ED90-EDB8 | MPU TYPE/CTRL/RNR/RBAR/RASR (+aliases) | stored per region (16 on CM7, 8 on CM4); not enforced |
//! | EDF0-EDFC | DHCSR/DCRSR/DCRDR/DEMCR | DHCSR reads 0 (no debugger); DEMCR stored |
//! | EF00 | STIR | pends IRQ n |
//! | EF34-EF48 | FPCCR/FPCAR/FPDSCR/MVFR0-2 | FPCCR resets to ASPEN|LSPEN; stored (stacking is eager) |
//! | EF50-EF78 | ICIALLU..BPIALL | cache maintenance: accepted, no effect (caches are not modelled) |
//! | EF90-EFA8 | ITCMCR/DTCMCR/AHBPCR/CACR/AHBSCR/ABFSR | stored (CM7) |
//! | EFD0-EFFC | PID/CID | RAZ |
//! | E000_1000 | DWT_CTRL | NUMCOMP = 4, CYCCNTENA |
//! | E000_1004 | DWT_CYCCNT | the core's clock cycles of virtual time while enabled |
//! | E000_0000-E000_2FFF | ITM, rest of DWT, FPB | RAZ/WI (no trace) |
//! | E008_2000 / E008_2800 | LMEM PCCCR / PSCCR (CM4) | stored; GO (bit 31) self-clears |
//!
//! Any other PPB address is a twin error.

use super::{merge, ticks, RegError};
use crate::board::{CpuModel, EXTERNAL_IRQS};
use crate::exc::{self, ExcState, FIRST_IRQ, PRIO_MASK};
use crate::time::Ps;

/// SysTick in virtual time (B3.3). The counter is a closed-form function of time since an
/// anchor (`origin`, where it held `v0`); it reaches 0 at ticks v0, v0 + (RVR+1), ...
#[derive(Debug, Clone, Default)]
pub struct SysTick {
    pub csr: u32,
    pub rvr: u32,
    origin: Ps,
    v0: u32,
    synced: Ps,
    countflag: bool,
    /// A wrap with TICKINT set happened: the SysTick exception must be pended.
    pub pend: bool,
    /// Wraps counted (for reports).
    pub wraps: u64,
}

impl SysTick {
    fn running(&self) -> bool {
        self.csr & 1 != 0
    }

    fn hz(&self, core_hz: u64, ref_hz: u64) -> u64 {
        if self.csr & 4 != 0 {
            core_hz
        } else {
            ref_hz
        }
    }

    fn value_at(&self, t: Ps, hz: u64) -> u32 {
        if !self.running() {
            return self.v0;
        }
        let k = ticks::count(t.saturating_sub(self.origin), hz, 1);
        let v0 = u64::from(self.v0);
        if k <= v0 {
            (v0 - k) as u32
        } else {
            let period = u64::from(self.rvr) + 1;
            (u64::from(self.rvr) - (k - v0 - 1) % period) as u32
        }
    }

    /// First tick after `k` at which the counter becomes 0 (the 1 -> 0 transition).
    fn next_wrap_after(&self, k: u64) -> Option<u64> {
        let v0 = u64::from(self.v0);
        if k < v0 {
            return Some(v0);
        }
        if self.rvr == 0 {
            return None;
        }
        let period = u64::from(self.rvr) + 1;
        let j = (k - v0) / period + 1;
        Some(v0 + j * period)
    }

    pub fn sync(&mut self, now: Ps, core_hz: u64, ref_hz: u64) {
        if self.running() && now > self.synced {
            let hz = self.hz(core_hz, ref_hz);
            let k_last = ticks::count(self.synced.saturating_sub(self.origin), hz, 1);
            let k_now = ticks::count(now.saturating_sub(self.origin), hz, 1);
            let mut k = k_last;
            while let Some(w) = self.next_wrap_after(k) {
                if w > k_now {
                    break;
                }
                self.countflag = true;
                self.wraps += 1;
                if self.csr & 2 != 0 {
                    self.pend = true;
                }
                k = w;
            }
        }
        self.synced = self.synced.max(now);
    }

    fn anchor(&mut self, now: Ps, value: u32) {
        self.origin = now;
        self.v0 = value;
        self.synced = now;
    }

    pub fn next_event(&self, core_hz: u64, ref_hz: u64) -> Option<Ps> {
        if !self.running() || self.csr & 2 == 0 {
            return None;
        }
        let hz = self.hz(core_hz, ref_hz);
        let k = ticks::count(self.synced.saturating_sub(self.origin), hz, 1);
        self.next_wrap_after(k)
            .map(|w| self.origin.saturating_add(ticks::time_of(w, hz, 1)))
            .filter(|&t| t != Ps::MAX)
    }

    fn read(&mut self, off: u32, now: Ps, core_hz: u64, ref_hz: u64) -> u32 {
        self.sync(now, core_hz, ref_hz);
        match off {
            0x10 => {
                let v = self.csr | if self.countflag { 1 << 16 } else { 0 };
                self.countflag = false;
                v
            }
            0x14 => self.rvr,
            0x18 => self.value_at(now, self.hz(core_hz, ref_hz)),
            _ => 0x4000_0000, // CALIB: SKEW
        }
    }

    fn write(&mut self, off: u32, value: u32, mask: u32, now: Ps, core_hz: u64, ref_hz: u64) {
        self.sync(now, core_hz, ref_hz);
        let cur = self.value_at(now, self.hz(core_hz, ref_hz));
        match off {
            0x10 => {
                self.csr = merge(self.csr, value, mask) & 0x7;
                self.anchor(now, cur);
            }
            0x14 => {
                // A new reload value is used from the next reload on.
                self.rvr = merge(self.rvr, value, mask) & 0x00FF_FFFF;
                self.anchor(now, cur);
            }
            0x18 => {
                // Any write clears the counter and COUNTFLAG; the next tick reloads.
                self.countflag = false;
                self.anchor(now, 0);
            }
            _ => {}
        }
    }
}

/// What a PPB access asks of the core beyond the register state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScsEffects {
    /// The pending state changed: the core must re-evaluate exceptions.
    pub recheck: bool,
    /// AIRCR.SYSRESETREQ was written.
    pub reset_request: bool,
    /// SysTick timing changed: reschedule its event.
    pub systick_changed: bool,
}

/// The timing context of an access.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    pub now: Ps,
    pub core_hz: u64,
    pub systick_ref_hz: u64,
}

#[derive(Debug, Clone)]
pub struct Scs {
    pub model: CpuModel,
    pub exc: ExcState,
    pub systick: SysTick,
    pub vtor: u32,
    pub scr: u32,
    pub ccr: u32,
    pub actlr: u32,
    pub cpacr: u32,
    pub csselr: u32,
    pub demcr: u32,
    pub fpccr: u32,
    pub fpcar: u32,
    pub fpdscr: u32,
    pub mpu_ctrl: u32,
    pub mpu_rnr: u32,
    pub mpu_rbar: Vec<u32>,
    pub mpu_rasr: Vec<u32>,
    pub tcm_ctrl: [u32; 7],
    pub dwt_ctrl: u32,
    cyccnt_base: u64,
    cyccnt_frozen: u32,
    pub lmem: [u32; 2],
}

impl Scs {
    pub fn new(model: CpuModel) -> Scs {
        let regions = if model == CpuModel::CortexM7 { 16 } else { 8 };
        Scs {
            model,
            exc: ExcState::default(),
            systick: SysTick::default(),
            vtor: 0,
            scr: 0,
            ccr: 0x200,
            actlr: 0,
            cpacr: 0,
            csselr: 0,
            demcr: 0,
            fpccr: 0xC000_0000,
            fpcar: 0,
            fpdscr: 0,
            mpu_ctrl: 0,
            mpu_rnr: 0,
            mpu_rbar: vec![0; regions],
            mpu_rasr: vec![0; regions],
            tcm_ctrl: [0; 7],
            dwt_ctrl: 4 << 28,
            cyccnt_base: 0,
            cyccnt_frozen: 0,
            lmem: [0; 2],
        }
    }

    fn m7(&self) -> bool {
        self.model == CpuModel::CortexM7
    }

    /// Core clock cycles of virtual time.
    fn cycles(c: &Clocks) -> u64 {
        ticks::count(c.now, c.core_hz, 1)
    }

    pub fn cyccnt(&self, c: &Clocks) -> u32 {
        if self.dwt_ctrl & 1 != 0 {
            Self::cycles(c).wrapping_sub(self.cyccnt_base) as u32
        } else {
            self.cyccnt_frozen
        }
    }

    /// Read a word of the PPB at `addr` (word aligned). `ipsr` is the current exception number.
    pub fn read(&mut self, addr: u32, c: &Clocks, ipsr: u32) -> Result<u32, RegError> {
        let e = &self.exc;
        Ok(match addr {
            0xE000_0000..=0xE000_0FFF | 0xE000_2000..=0xE000_2FFF => 0, // ITM, FPB
            0xE000_1000 => self.dwt_ctrl,
            0xE000_1004 => self.cyccnt(c),
            0xE000_1008..=0xE000_1FFF => 0, // rest of DWT
            0xE000_E000 => 0,
            0xE000_E004 => EXTERNAL_IRQS.div_ceil(32) - 1,
            0xE000_E008 => self.actlr,
            0xE000_E010..=0xE000_E01C => {
                self.systick
                    .read(addr - 0xE000_E000, c.now, c.core_hz, c.systick_ref_hz)
            }
            0xE000_E100..=0xE000_E11C => self.irq_bits(addr - 0xE000_E100, |e, n| e.enabled[n]),
            0xE000_E180..=0xE000_E19C => self.irq_bits(addr - 0xE000_E180, |e, n| e.enabled[n]),
            0xE000_E200..=0xE000_E21C => self.irq_bits(addr - 0xE000_E200, |e, n| e.pending[n]),
            0xE000_E280..=0xE000_E29C => self.irq_bits(addr - 0xE000_E280, |e, n| e.pending[n]),
            0xE000_E300..=0xE000_E31C => self.irq_bits(addr - 0xE000_E300, |e, n| e.active[n]),
            0xE000_E400..=0xE000_E4EC => {
                let first = addr - 0xE000_E400;
                (0..4).fold(0, |v, lane| {
                    let irq = first + lane;
                    let p = if irq < EXTERNAL_IRQS {
                        e.prio[(FIRST_IRQ + irq) as usize]
                    } else {
                        0
                    };
                    v | (u32::from(p) << (8 * lane))
                })
            }
            0xE000_ED00 => {
                if self.m7() {
                    0x411F_C272
                } else {
                    0x410F_C241
                }
            }
            0xE000_ED04 => {
                let mut v = ipsr & 0x1FF;
                if let Some(p) = e.highest_pending() {
                    v |= (p & 0x1FF) << 12;
                }
                if e.active_count() <= 1 {
                    v |= 1 << 11;
                }
                if e.isr_pending() {
                    v |= 1 << 22;
                }
                if e.pending[exc::SYSTICK as usize] {
                    v |= 1 << 26;
                }
                if e.pending[exc::PENDSV as usize] {
                    v |= 1 << 28;
                }
                if e.pending[exc::NMI as usize] {
                    v |= 1 << 31;
                }
                v
            }
            0xE000_ED08 => self.vtor,
            0xE000_ED0C => 0xFA05_0000 | (e.prigroup << 8),
            0xE000_ED10 => self.scr,
            0xE000_ED14 => self.ccr,
            0xE000_ED18..=0xE000_ED20 => {
                let first = 4 + (addr - 0xE000_ED18);
                (0..4).fold(0, |v, lane| {
                    v | (u32::from(e.prio[(first + lane) as usize]) << (8 * lane))
                })
            }
            0xE000_ED24 => self.shcsr(),
            0xE000_ED28 => e.cfsr,
            0xE000_ED2C => e.hfsr,
            0xE000_ED30 => 0,
            0xE000_ED34 => e.mmfar,
            0xE000_ED38 => e.bfar,
            0xE000_ED3C => 0,
            0xE000_ED40..=0xE000_ED74 => id_register(addr),
            0xE000_ED78 => {
                if self.m7() {
                    0x0900_0003
                } else {
                    0
                }
            }
            0xE000_ED7C => {
                if self.m7() {
                    0x8303_C003
                } else {
                    0
                }
            }
            0xE000_ED80 => match (self.m7(), self.csselr & 1) {
                (true, 0) => 0xF01F_E019,
                (true, _) => 0xF03F_E009,
                _ => 0,
            },
            0xE000_ED84 => self.csselr,
            0xE000_ED88 => self.cpacr,
            0xE000_ED90 => (self.mpu_rbar.len() as u32) << 8,
            0xE000_ED94 => self.mpu_ctrl,
            0xE000_ED98 => self.mpu_rnr,
            0xE000_ED9C | 0xE000_EDA4 | 0xE000_EDAC | 0xE000_EDB4 => {
                self.mpu_rbar[self.region()] | self.mpu_rnr
            }
            0xE000_EDA0 | 0xE000_EDA8 | 0xE000_EDB0 | 0xE000_EDB8 => self.mpu_rasr[self.region()],
            0xE000_EDF0..=0xE000_EDF8 => 0,
            0xE000_EDFC => self.demcr,
            0xE000_EF00 => 0,
            0xE000_EF34 => self.fpccr,
            0xE000_EF38 => self.fpcar,
            0xE000_EF3C => self.fpdscr,
            0xE000_EF40 => {
                if self.m7() {
                    0x1011_0221
                } else {
                    0x1011_0021
                }
            }
            0xE000_EF44 => 0x1100_0011,
            0xE000_EF48 => {
                if self.m7() {
                    0x40
                } else {
                    0
                }
            }
            0xE000_EF50..=0xE000_EF78 => 0,
            0xE000_EF90..=0xE000_EFA8 if self.m7() => {
                self.tcm_ctrl[((addr - 0xE000_EF90) / 4) as usize]
            }
            0xE000_EFD0..=0xE000_EFFC => 0,
            0xE008_2000 if !self.m7() => self.lmem[0],
            0xE008_2800 if !self.m7() => self.lmem[1],
            _ => return Err(RegError::unmodelled(addr)),
        })
    }

    fn region(&self) -> usize {
        (self.mpu_rnr as usize) % self.mpu_rbar.len()
    }

    fn irq_bits(&self, off: u32, f: impl Fn(&ExcState, usize) -> bool) -> u32 {
        let first = (off / 4) * 32;
        (0..32).fold(0, |v, b| {
            let irq = first + b;
            if irq < EXTERNAL_IRQS && f(&self.exc, (FIRST_IRQ + irq) as usize) {
                v | (1 << b)
            } else {
                v
            }
        })
    }

    fn shcsr(&self) -> u32 {
        let e = &self.exc;
        let bit = |cond: bool, b: u32| if cond { 1 << b } else { 0 };
        let a = |n: u32| e.active[n as usize];
        let p = |n: u32| e.pending[n as usize];
        (e.shcsr & 0x7_0000)
            | bit(a(exc::MEMMANAGE), 0)
            | bit(a(exc::BUSFAULT), 1)
            | bit(a(exc::USAGEFAULT), 3)
            | bit(a(exc::SVCALL), 7)
            | bit(a(exc::DEBUGMON), 8)
            | bit(a(exc::PENDSV), 10)
            | bit(a(exc::SYSTICK), 11)
            | bit(p(exc::USAGEFAULT), 12)
            | bit(p(exc::MEMMANAGE), 13)
            | bit(p(exc::BUSFAULT), 14)
            | bit(p(exc::SVCALL), 15)
    }

    /// Write `value` (lanes in `mask`) to the PPB word at `addr`.
    pub fn write(
        &mut self,
        addr: u32,
        value: u32,
        mask: u32,
        c: &Clocks,
    ) -> Result<ScsEffects, RegError> {
        let mut fx = ScsEffects::default();
        let v = value & mask;
        match addr {
            0xE000_0000..=0xE000_0FFF | 0xE000_2000..=0xE000_2FFF => {}
            0xE000_1000 => {
                let was = self.dwt_ctrl & 1 != 0;
                let cur = self.cyccnt(c);
                self.dwt_ctrl = (4 << 28) | (merge(self.dwt_ctrl, value, mask) & 0x0FFF_FFFF);
                let now_on = self.dwt_ctrl & 1 != 0;
                if was != now_on {
                    self.set_cyccnt(cur, c);
                }
            }
            0xE000_1004 => {
                let new = merge(self.cyccnt(c), value, mask);
                self.set_cyccnt(new, c);
            }
            0xE000_1008..=0xE000_1FFF => {}
            0xE000_E008 => self.actlr = merge(self.actlr, value, mask),
            0xE000_E010..=0xE000_E01C => {
                self.systick.write(
                    addr - 0xE000_E000,
                    value,
                    mask,
                    c.now,
                    c.core_hz,
                    c.systick_ref_hz,
                );
                fx.systick_changed = true;
            }
            0xE000_E100..=0xE000_E11C => {
                self.set_irq_bits(addr - 0xE000_E100, v, |e, n| e.enabled[n] = true);
                fx.recheck = true;
            }
            0xE000_E180..=0xE000_E19C => {
                self.set_irq_bits(addr - 0xE000_E180, v, |e, n| e.enabled[n] = false);
            }
            0xE000_E200..=0xE000_E21C => {
                self.set_irq_bits(addr - 0xE000_E200, v, |e, n| e.pending[n] = true);
                fx.recheck = true;
            }
            0xE000_E280..=0xE000_E29C => {
                self.set_irq_bits(addr - 0xE000_E280, v, |e, n| e.clear_pending(n as u32));
            }
            0xE000_E300..=0xE000_E31C => {} // IABR is read-only
            0xE000_E400..=0xE000_E4EC => {
                let first = addr - 0xE000_E400;
                for lane in 0..4 {
                    let irq = first + lane;
                    if mask & (0xFF << (8 * lane)) != 0 && irq < EXTERNAL_IRQS {
                        self.exc.prio[(FIRST_IRQ + irq) as usize] =
                            ((value >> (8 * lane)) as u8) & PRIO_MASK;
                    }
                }
                fx.recheck = true;
            }
            0xE000_ED04 => {
                let e = &mut self.exc;
                if v & (1 << 31) != 0 {
                    e.set_pending(exc::NMI);
                }
                if v & (1 << 28) != 0 {
                    e.set_pending(exc::PENDSV);
                } else if v & (1 << 27) != 0 {
                    e.pending[exc::PENDSV as usize] = false;
                }
                if v & (1 << 26) != 0 {
                    e.set_pending(exc::SYSTICK);
                } else if v & (1 << 25) != 0 {
                    e.pending[exc::SYSTICK as usize] = false;
                }
                fx.recheck = true;
            }
            0xE000_ED08 => self.vtor = merge(self.vtor, value, mask) & 0xFFFF_FF80,
            0xE000_ED0C => {
                if mask == u32::MAX && value >> 16 == 0x05FA {
                    self.exc.prigroup = (value >> 8) & 7;
                    if value & (1 << 2) != 0 {
                        fx.reset_request = true;
                    }
                    fx.recheck = true;
                }
            }
            0xE000_ED10 => self.scr = merge(self.scr, value, mask) & 0x16,
            0xE000_ED14 => self.ccr = merge(self.ccr, value, mask) | 0x200,
            0xE000_ED18..=0xE000_ED20 => {
                let first = 4 + (addr - 0xE000_ED18);
                for lane in 0..4 {
                    let n = first + lane;
                    let settable = matches!(n, 4..=6 | 11 | 12 | 14 | 15);
                    if mask & (0xFF << (8 * lane)) != 0 && settable {
                        self.exc.prio[n as usize] = ((value >> (8 * lane)) as u8) & PRIO_MASK;
                    }
                }
                fx.recheck = true;
            }
            0xE000_ED24 => {
                let new = merge(self.shcsr(), value, mask);
                let e = &mut self.exc;
                e.shcsr = new & 0x7_0000;
                let set = |e: &mut ExcState, n: u32, b: u32, active: bool| {
                    if active {
                        e.active[n as usize] = new & (1 << b) != 0;
                    } else {
                        e.pending[n as usize] = new & (1 << b) != 0;
                    }
                };
                for (n, b) in [
                    (exc::MEMMANAGE, 0),
                    (exc::BUSFAULT, 1),
                    (exc::USAGEFAULT, 3),
                    (exc::SVCALL, 7),
                    (exc::DEBUGMON, 8),
                    (exc::PENDSV, 10),
                    (exc::SYSTICK, 11),
                ] {
                    set(e, n, b, true);
                }
                for (n, b) in [
                    (exc::USAGEFAULT, 12),
                    (exc::MEMMANAGE, 13),
                    (exc::BUSFAULT, 14),
                    (exc::SVCALL, 15),
                ] {
                    set(e, n, b, false);
                }
                fx.recheck = true;
            }
            0xE000_ED28 => self.exc.cfsr &= !v,
            0xE000_ED2C => self.exc.hfsr &= !v,
            0xE000_ED30 | 0xE000_ED3C => {}
            0xE000_ED34 => self.exc.mmfar = merge(self.exc.mmfar, value, mask),
            0xE000_ED38 => self.exc.bfar = merge(self.exc.bfar, value, mask),
            0xE000_ED84 => self.csselr = merge(self.csselr, value, mask) & 0xF,
            0xE000_ED88 => self.cpacr = merge(self.cpacr, value, mask),
            0xE000_ED94 => self.mpu_ctrl = merge(self.mpu_ctrl, value, mask) & 7,
            0xE000_ED98 => self.mpu_rnr = merge(self.mpu_rnr, value, mask) & 0xFF,
            0xE000_ED9C | 0xE000_EDA4 | 0xE000_EDAC | 0xE000_EDB4 => {
                let new = merge(self.mpu_rbar[self.region()], value, mask);
                if new & 0x10 != 0 {
                    self.mpu_rnr = new & 0xF;
                }
                let r = self.region();
                self.mpu_rbar[r] = new & !0x1F;
            }
            0xE000_EDA0 | 0xE000_EDA8 | 0xE000_EDB0 | 0xE000_EDB8 => {
                let r = self.region();
                self.mpu_rasr[r] = merge(self.mpu_rasr[r], value, mask);
            }
            0xE000_EDF0..=0xE000_EDF8 => {}
            0xE000_EDFC => self.demcr = merge(self.demcr, value, mask),
            0xE000_EF00 => {
                let irq = value & 0x1FF;
                if irq < EXTERNAL_IRQS {
                    self.exc.set_pending(FIRST_IRQ + irq);
                    fx.recheck = true;
                }
            }
            0xE000_EF34 => self.fpccr = merge(self.fpccr, value, mask),
            0xE000_EF38 => self.fpcar = merge(self.fpcar, value, mask) & !7,
            0xE000_EF3C => self.fpdscr = merge(self.fpdscr, value, mask),
            0xE000_EF50..=0xE000_EF78 => {}
            0xE000_EF90..=0xE000_EFA8 if self.m7() => {
                let i = ((addr - 0xE000_EF90) / 4) as usize;
                self.tcm_ctrl[i] = merge(self.tcm_ctrl[i], value, mask);
            }
            0xE008_2000 | 0xE008_2800 if !self.m7() => {
                let i = usize::from(addr == 0xE008_2800);
                // GO (bit 31) starts a maintenance command that completes at once.
                self.lmem[i] = merge(self.lmem[i], value, mask) & !(1 << 31);
            }
            _ => return Err(RegError::unmodelled(addr)),
        }
        Ok(fx)
    }

    fn set_cyccnt(&mut self, value: u32, c: &Clocks) {
        self.cyccnt_frozen = value;
        self.cyccnt_base = Self::cycles(c).wrapping_sub(u64::from(value));
    }

    fn set_irq_bits(&mut self, off: u32, v: u32, f: impl Fn(&mut ExcState, usize)) {
        let first = (off / 4) * 32;
        for b in 0..32 {
            let irq = first + b;
            if v & (1 << b) != 0 && irq < EXTERNAL_IRQS {
                f(&mut self.exc, (FIRST_IRQ + irq) as usize);
            }
        }
    }
}

/// ARMv7-M processor feature registers (same for the CM4 and CM7 here).
fn id_register(addr: u32) -> u32 {
    match addr {
        0xE000_ED40 => 0x0000_0030, // ID_PFR0
        0xE000_ED44 => 0x0000_0200, // ID_PFR1
        0xE000_ED48 => 0x0010_0000, // ID_DFR0
        0xE000_ED4C => 0,           // ID_AFR0
        0xE000_ED50 => 0x0010_0030, // ID_MMFR0
        0xE000_ED54 => 0,
        0xE000_ED58 => 0x0100_0000,
        0xE000_ED5C => 0,
        0xE000_ED60 => 0x0110_1110, // ID_ISAR0
        0xE000_ED64 => 0x0211_2000,
        0xE000_ED68 => 0x2123_2231,
        0xE000_ED6C => 0x0111_1131,
        0xE000_ED70 => 0x0131_0132,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{PS_PER_MS, PS_PER_S};

    const HZ: u64 = 1_000_000_000;

    fn clocks(now: Ps) -> Clocks {
        Clocks {
            now,
            core_hz: HZ,
            systick_ref_hz: 100_000,
        }
    }

    #[test]
    fn systick_one_khz_from_core_clock() {
        let mut s = Scs::new(CpuModel::CortexM7);
        s.write(0xE000_E014, 999_999, !0, &clocks(0)).unwrap();
        s.write(0xE000_E018, 0, !0, &clocks(0)).unwrap();
        s.write(0xE000_E010, 0b111, !0, &clocks(0)).unwrap();
        // CVR = 0 at enable: the first tick reloads, the counter reaches 0 RVR ticks later.
        assert_eq!(s.systick.next_event(HZ, 0), Some(PS_PER_MS));
        assert_eq!(
            s.read(0xE000_E018, &clocks(PS_PER_MS / 2), 0).unwrap(),
            500_000
        );
        let mut t = 0;
        let mut n = 0;
        while let Some(next) = s.systick.next_event(HZ, 0) {
            if next > PS_PER_S {
                break;
            }
            t = next;
            s.systick.sync(t, HZ, 0);
            assert!(s.systick.pend);
            s.systick.pend = false;
            n += 1;
        }
        assert_eq!(n, 1000);
        assert_eq!(t, PS_PER_S);
        let csr = s.read(0xE000_E010, &clocks(t), 0).unwrap();
        assert_ne!(csr & (1 << 16), 0, "COUNTFLAG");
        let csr = s.read(0xE000_E010, &clocks(t), 0).unwrap();
        assert_eq!(csr & (1 << 16), 0, "COUNTFLAG clears on read");
    }

    #[test]
    fn nvic_enable_pending_priority_and_stir() {
        let mut s = Scs::new(CpuModel::CortexM7);
        let c = clocks(0);
        // IRQ 118 (MU): ISER3 bit 22.
        s.write(0xE000_E10C, 1 << 22, !0, &c).unwrap();
        assert!(s.exc.enabled[(FIRST_IRQ + 118) as usize]);
        // Byte write of priority 0x5F to IRQ 118 keeps the top four bits.
        s.write(0xE000_E474, 0x5F << 16, 0xFF << 16, &c).unwrap();
        assert_eq!(s.exc.prio[(FIRST_IRQ + 118) as usize], 0x50);
        s.write(0xE000_EF00, 118, !0, &c).unwrap();
        assert_eq!(s.read(0xE000_E20C, &c, 0).unwrap(), 1 << 22);
        let icsr = s.read(0xE000_ED04, &c, 0).unwrap();
        assert_eq!((icsr >> 12) & 0x1FF, FIRST_IRQ + 118, "VECTPENDING");
        assert_ne!(icsr & (1 << 22), 0, "ISRPENDING");
    }

    #[test]
    fn aircr_needs_the_key_and_cfsr_is_w1c() {
        let mut s = Scs::new(CpuModel::CortexM7);
        let c = clocks(0);
        s.write(0xE000_ED0C, 5 << 8, !0, &c).unwrap();
        assert_eq!(s.exc.prigroup, 0, "no VECTKEY, no effect");
        s.write(0xE000_ED0C, 0x05FA_0000 | (5 << 8), !0, &c)
            .unwrap();
        assert_eq!(s.read(0xE000_ED0C, &c, 0).unwrap(), 0xFA05_0500);
        s.exc.cfsr = 0x8200;
        s.write(0xE000_ED28, 0x0200, !0, &c).unwrap();
        assert_eq!(s.exc.cfsr, 0x8000);
    }

    #[test]
    fn cache_geometry_and_dwt() {
        let mut s = Scs::new(CpuModel::CortexM7);
        let c = clocks(0);
        assert_eq!(s.read(0xE000_ED80, &c, 0).unwrap(), 0xF01F_E019);
        s.write(0xE000_ED84, 1, !0, &c).unwrap();
        assert_eq!(s.read(0xE000_ED80, &c, 0).unwrap(), 0xF03F_E009);
        s.write(0xE000_1000, 1, !0, &c).unwrap();
        assert_eq!(s.read(0xE000_1004, &clocks(5_000), 0).unwrap(), 5);
        assert!(s.read(0xE000_E500, &c, 0).is_err(), "unmodelled SCS offset");
    }
}
