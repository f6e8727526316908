//! ARMv7-M exception state of one core: what is pending, active and enabled, the priorities, and
//! the decisions built on them (execution priority, which exception is taken, escalation).
//!
//! Pure logic, no Unicorn: the register views (NVIC and SCB in `periph::scs`) and the stack
//! mechanics (`core`) sit on top of it. Semantics: ARMv7-M Architecture Reference Manual (DDI 0403E)
//! B1.5 (exception model: priorities, PRIGROUP grouping, ExecutionPriority, pending selection by
//! group priority, then sub-priority, then number), B3.4 (NVIC) and B3.2 (SCB).

use crate::board::EXTERNAL_IRQS;

pub const RESET: u32 = 1;
pub const NMI: u32 = 2;
pub const HARDFAULT: u32 = 3;
pub const MEMMANAGE: u32 = 4;
pub const BUSFAULT: u32 = 5;
pub const USAGEFAULT: u32 = 6;
pub const SVCALL: u32 = 11;
pub const DEBUGMON: u32 = 12;
pub const PENDSV: u32 = 14;
pub const SYSTICK: u32 = 15;
pub const FIRST_IRQ: u32 = 16;
/// Exception numbers 0..NUM_EXC.
pub const NUM_EXC: usize = (FIRST_IRQ + EXTERNAL_IRQS) as usize;

/// Implemented priority bits (rt1176.md section 4: __NVIC_PRIO_BITS = 4).
pub const PRIO_BITS: u32 = 4;
pub const PRIO_MASK: u8 = (0xFF << (8 - PRIO_BITS)) as u8;

/// "No exception active and no boost": lower than every configurable priority.
pub const BASE_PRIORITY: i32 = 256;

// CFSR bits (B3.2.15).
pub const CFSR_IACCVIOL: u32 = 1 << 0;
pub const CFSR_IBUSERR: u32 = 1 << 8;
pub const CFSR_PRECISERR: u32 = 1 << 9;
pub const CFSR_STKERR: u32 = 1 << 12;
pub const CFSR_BFARVALID: u32 = 1 << 15;
pub const CFSR_UNDEFINSTR: u32 = 1 << 16;
pub const CFSR_INVSTATE: u32 = 1 << 17;
pub const CFSR_INVPC: u32 = 1 << 18;
pub const CFSR_NOCP: u32 = 1 << 19;
// HFSR bits (B3.2.16).
pub const HFSR_VECTTBL: u32 = 1 << 1;
pub const HFSR_FORCED: u32 = 1 << 30;
pub const HFSR_DEBUGEVT: u32 = 1 << 31;
// SHCSR enables (B3.2.13).
pub const SHCSR_MEMFAULTENA: u32 = 1 << 16;
pub const SHCSR_BUSFAULTENA: u32 = 1 << 17;
pub const SHCSR_USGFAULTENA: u32 = 1 << 18;

/// The masking registers that Unicorn keeps (PRIMASK, BASEPRI, FAULTMASK).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Masks {
    pub primask: bool,
    pub faultmask: bool,
    pub basepri: u8,
}

/// The architectural name of exception number `n` (ARMv7-M ARM B1.5.2, table B1-4), or
/// `IRQn` for external interrupt n.
pub fn exception_name(n: u32) -> String {
    match n {
        1 => "Reset".into(),
        2 => "NMI".into(),
        3 => "HardFault".into(),
        4 => "MemManage".into(),
        5 => "BusFault".into(),
        6 => "UsageFault".into(),
        11 => "SVCall".into(),
        12 => "DebugMonitor".into(),
        14 => "PendSV".into(),
        15 => "SysTick".into(),
        n if n >= FIRST_IRQ => format!("IRQ{}", n - FIRST_IRQ),
        n => format!("reserved exception {n}"),
    }
}

#[derive(Debug, Clone)]
pub struct ExcState {
    pub pending: Vec<bool>,
    pub active: Vec<bool>,
    /// ISER state for external interrupts (index = exception number).
    pub enabled: Vec<bool>,
    /// Interrupt line levels driven by peripherals (index = exception number); a line that is high
    /// re-pends its interrupt when it is not active (level-sensitive, B3.4.1).
    pub level: Vec<bool>,
    /// 8-bit priority registers; only the top PRIO_BITS are kept.
    pub prio: Vec<u8>,
    pub prigroup: u32,
    pub shcsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    pub mmfar: u32,
    pub bfar: u32,
    /// Count of exceptions taken, per number (for reports).
    pub taken: Vec<u64>,
}

impl Default for ExcState {
    fn default() -> Self {
        ExcState {
            pending: vec![false; NUM_EXC],
            active: vec![false; NUM_EXC],
            enabled: vec![false; NUM_EXC],
            level: vec![false; NUM_EXC],
            prio: vec![0; NUM_EXC],
            prigroup: 0,
            shcsr: 0,
            cfsr: 0,
            hfsr: 0,
            mmfar: 0,
            bfar: 0,
            taken: vec![0; NUM_EXC],
        }
    }
}

impl ExcState {
    /// Group priority of a raw 8-bit priority under the current PRIGROUP (B1.5.4).
    pub fn group(&self, raw: u8) -> i32 {
        let sub_bits = self.prigroup + 1;
        let mask: u32 = if sub_bits >= 8 { 0 } else { 0xFF << sub_bits };
        (u32::from(raw) & mask) as i32
    }

    /// Priority of exception `n` as configured (fixed negatives for Reset/NMI/HardFault).
    pub fn raw_priority(&self, n: u32) -> i32 {
        match n {
            RESET => -3,
            NMI => -2,
            HARDFAULT => -1,
            _ => i32::from(self.prio[n as usize]),
        }
    }

    pub fn group_priority(&self, n: u32) -> i32 {
        match n {
            RESET | NMI | HARDFAULT => self.raw_priority(n),
            _ => self.group(self.prio[n as usize]),
        }
    }

    /// Highest group priority among active exceptions (BASE_PRIORITY when none).
    pub fn active_priority(&self) -> i32 {
        (1..NUM_EXC as u32)
            .filter(|&n| self.active[n as usize])
            .map(|n| self.group_priority(n))
            .min()
            .unwrap_or(BASE_PRIORITY)
    }

    /// ExecutionPriority() of B1.5.4, given the masking registers.
    pub fn execution_priority(&self, masks: Masks) -> i32 {
        let mut boost = BASE_PRIORITY;
        if masks.primask {
            boost = 0;
        }
        if masks.basepri & PRIO_MASK != 0 {
            boost = boost.min(self.group(masks.basepri & PRIO_MASK));
        }
        if masks.faultmask {
            boost = -1;
        }
        self.active_priority().min(boost)
    }

    /// Is exception `n` able to be pending-and-taken at all (enabled)?
    fn is_enabled(&self, n: u32) -> bool {
        match n {
            MEMMANAGE => self.shcsr & SHCSR_MEMFAULTENA != 0,
            BUSFAULT => self.shcsr & SHCSR_BUSFAULTENA != 0,
            USAGEFAULT => self.shcsr & SHCSR_USGFAULTENA != 0,
            n if n >= FIRST_IRQ => self.enabled[n as usize],
            _ => true,
        }
    }

    /// The highest-priority pending and enabled exception, by group priority, then raw priority,
    /// then exception number (B1.5.4). This is ICSR.VECTPENDING.
    pub fn highest_pending(&self) -> Option<u32> {
        let mut best: Option<(i32, i32, u32)> = None;
        // Asked at every scheduling step: runs of 32 numbers with nothing pending are skipped
        // with one branchless OR over the run.
        for (c, run) in self.pending.chunks(32).enumerate() {
            if !run.iter().fold(false, |a, &p| a | p) {
                continue;
            }
            for (j, _) in run.iter().enumerate().filter(|(_, &p)| p) {
                let n = (c * 32 + j) as u32;
                if n == 0 || !self.is_enabled(n) {
                    continue;
                }
                let key = (self.group_priority(n), self.raw_priority(n), n);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
        }
        best.map(|b| b.2)
    }

    /// The exception to take now, if one preempts the current execution priority.
    pub fn to_take(&self, masks: Masks) -> Option<u32> {
        let n = self.highest_pending()?;
        (self.group_priority(n) < self.execution_priority(masks)).then_some(n)
    }

    /// WFI wake-up: a pending exception that would preempt if PRIMASK were clear (B1.5.19).
    pub fn wakes_from_wfi(&self, masks: Masks) -> bool {
        let unmasked = Masks {
            primask: false,
            ..masks
        };
        self.to_take(unmasked).is_some()
    }

    /// Any external interrupt pending (ICSR.ISRPENDING).
    pub fn isr_pending(&self) -> bool {
        self.pending[FIRST_IRQ as usize..].iter().any(|&p| p)
    }

    /// Number of active exceptions.
    pub fn active_count(&self) -> usize {
        self.active.iter().filter(|&&a| a).count()
    }

    pub fn set_pending(&mut self, n: u32) {
        self.pending[n as usize] = true;
    }

    /// An interrupt line changed level. A rising (or held-high) line pends its interrupt unless
    /// it is active; the ISR clearing the source lowers the line.
    pub fn set_level(&mut self, n: u32, high: bool) {
        let i = n as usize;
        self.level[i] = high;
        if high && !self.active[i] {
            self.pending[i] = true;
        }
    }

    /// Clear-pending write (ICPR): a level-sensitive line still high stays pending.
    pub fn clear_pending(&mut self, n: u32) {
        let i = n as usize;
        self.pending[i] = self.level[i] && n >= FIRST_IRQ;
    }

    pub fn activate(&mut self, n: u32) {
        let i = n as usize;
        self.active[i] = true;
        self.pending[i] = false;
        self.taken[i] += 1;
    }

    /// DeActivate on exception return: a level-sensitive line still high re-pends.
    pub fn deactivate(&mut self, n: u32) {
        let i = n as usize;
        self.active[i] = false;
        if n >= FIRST_IRQ && self.level[i] {
            self.pending[i] = true;
        }
    }

    /// Decide where a synchronous fault of kind `fault` (MEMMANAGE/BUSFAULT/USAGEFAULT, or
    /// HARDFAULT for debug events) goes: the fault itself when enabled and able to preempt,
    /// HardFault (escalation, HFSR.FORCED) otherwise, or lockup when even HardFault cannot run.
    pub fn route_fault(&mut self, fault: u32, masks: Masks) -> Option<u32> {
        let exec = self.execution_priority(masks);
        if fault != HARDFAULT && self.is_enabled(fault) && self.group_priority(fault) < exec {
            return Some(fault);
        }
        if exec <= -1 {
            return None; // lockup: a fault at priority -1 or higher
        }
        if fault != HARDFAULT {
            self.hfsr |= HFSR_FORCED;
        }
        Some(HARDFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn irq(n: u32) -> u32 {
        FIRST_IRQ + n
    }

    #[test]
    fn higher_priority_preempts_and_equal_does_not() {
        let mut e = ExcState::default();
        e.enabled[irq(1) as usize] = true;
        e.enabled[irq(2) as usize] = true;
        e.prio[irq(1) as usize] = 0x80;
        e.prio[irq(2) as usize] = 0x40;
        e.activate(irq(1));
        e.set_pending(irq(2));
        assert_eq!(e.to_take(Masks::default()), Some(irq(2)));
        e.prio[irq(2) as usize] = 0x80;
        assert_eq!(
            e.to_take(Masks::default()),
            None,
            "same priority never preempts"
        );
    }

    #[test]
    fn prigroup_makes_subpriority_not_preempt() {
        let mut e = ExcState::default();
        e.enabled[irq(1) as usize] = true;
        e.enabled[irq(2) as usize] = true;
        // PRIGROUP 6: bit 7 is group, bits 6..0 sub-priority.
        e.prigroup = 6;
        e.prio[irq(1) as usize] = 0x60;
        e.prio[irq(2) as usize] = 0x20;
        e.activate(irq(1));
        e.set_pending(irq(2));
        assert_eq!(e.to_take(Masks::default()), None);
        e.prigroup = 3;
        assert_eq!(e.to_take(Masks::default()), Some(irq(2)));
    }

    #[test]
    fn the_highest_pending_is_found_across_the_whole_table() {
        // One pending per run of 32 numbers and beyond, enabled or not, in every priority
        // order: the answer is the rule's (group priority, raw priority, number), checked
        // against a plain scan of every number.
        let mut e = ExcState::default();
        let lines = [0u32, 29, 31, 32, 63, 64, 150, 200, (NUM_EXC as u32) - 17];
        for (k, &l) in lines.iter().enumerate() {
            let n = irq(l);
            e.enabled[n as usize] = k % 3 != 1;
            e.prio[n as usize] = [0x80, 0x40, 0x40, 0xC0, 0x20, 0x60, 0x20, 0xE0, 0x00][k];
            e.set_pending(n);
        }
        let plain = |e: &ExcState| {
            (1..NUM_EXC as u32)
                .filter(|&n| e.pending[n as usize] && e.is_enabled(n))
                .min_by_key(|&n| (e.group_priority(n), e.raw_priority(n), n))
        };
        for _ in 0..lines.len() {
            let want = plain(&e);
            assert_eq!(e.highest_pending(), want);
            match want {
                Some(n) => e.pending[n as usize] = false,
                None => break,
            }
        }
        assert_eq!(e.highest_pending(), None);
    }

    #[test]
    fn masks_and_pending_order() {
        let mut e = ExcState::default();
        for n in [3, 4] {
            e.enabled[irq(n) as usize] = true;
            e.prio[irq(n) as usize] = 0x40;
            e.set_pending(irq(n));
        }
        // Same priority: lower exception number first.
        assert_eq!(e.highest_pending(), Some(irq(3)));
        let basepri = Masks {
            basepri: 0x40,
            ..Masks::default()
        };
        assert_eq!(e.to_take(basepri), None, "BASEPRI masks equal priority");
        let basepri_lower = Masks {
            basepri: 0x50,
            ..Masks::default()
        };
        assert_eq!(e.to_take(basepri_lower), Some(irq(3)));
        let primask = Masks {
            primask: true,
            ..Masks::default()
        };
        assert_eq!(e.to_take(primask), None);
        assert!(e.wakes_from_wfi(primask), "WFI wakes even with PRIMASK set");
    }

    #[test]
    fn faults_escalate_and_lock_up() {
        let mut e = ExcState::default();
        assert_eq!(e.route_fault(BUSFAULT, Masks::default()), Some(HARDFAULT));
        assert_ne!(e.hfsr & HFSR_FORCED, 0);
        e.shcsr |= SHCSR_BUSFAULTENA;
        assert_eq!(e.route_fault(BUSFAULT, Masks::default()), Some(BUSFAULT));
        e.activate(HARDFAULT);
        assert_eq!(e.route_fault(BUSFAULT, Masks::default()), None);
    }

    #[test]
    fn level_lines_repend_after_return() {
        let mut e = ExcState::default();
        e.enabled[irq(5) as usize] = true;
        e.set_level(irq(5), true);
        e.activate(irq(5));
        assert!(!e.pending[irq(5) as usize]);
        e.deactivate(irq(5));
        assert!(e.pending[irq(5) as usize], "still-asserted line re-pends");
        e.activate(irq(5));
        e.set_level(irq(5), false);
        e.deactivate(irq(5));
        assert!(!e.pending[irq(5) as usize]);
    }
}
