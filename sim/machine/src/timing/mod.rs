//! The cost model: what a translated block of Thumb code costs in core cycles.
//!
//! A CPU model's timing is data (`targets/cpu/<model>.ron`): cycles per instruction class
//! ([`thumb::Class`]), each with its source, the pipeline refill a taken branch adds, the
//! load/store pipelining, and (Cortex-M7) the instruction pairs that dual-issue. A block is
//! priced once, when it is first seen ([`Timing::block`]); the block hook then charges the
//! cached figure, plus the refill of the block before it when that block's last instruction
//! branched away (the next block does not start where it ended). docs/time.md states the
//! model, its sources and its expected error.

pub mod thumb;

use std::sync::OnceLock;

use serde::Deserialize;

use crate::board::CpuModel;
use thumb::{Class, Insn};

/// A cycle figure and where it comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    pub cycles: u32,
    /// The most it can take when it varies with the operands (SDIV: early termination); the
    /// model charges `cycles`.
    #[serde(default)]
    pub max: Option<u32>,
    pub source: String,
}

/// What the core spends entering and leaving exception handlers, with zero wait states: from
/// the exception (or the return instruction) to the first instruction of the handler (or of
/// the code returned to). Late arrival and pop pre-emption are not modelled (docs/time.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionTiming {
    /// Stacking the basic frame, reading the vector and fetching the handler.
    pub entry: Cost,
    /// Unstacking the basic frame and fetching the code returned to.
    pub exit: Cost,
    /// From one handler's return straight into the next pending one (nothing unstacked or
    /// stacked again).
    pub tail_chain: Cost,
    /// What stacking (or unstacking) the floating-point context adds when the frame holds it.
    pub fp_context: Cost,
}

/// What an exception event costs ([`Timing::exception`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionEvent {
    /// Entry; `fp`: the frame holds the floating-point context.
    Entry { fp: bool },
    /// Return to the stacked context; `fp` likewise.
    Exit { fp: bool },
    /// Return straight into another pending handler.
    TailChain,
}

/// Which issue slot an instruction needs (the Cortex-M7's dual-issue pairs name these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Slot {
    Alu,
    Mul,
    Load,
    Store,
    Branch,
    Fp,
    FpLoad,
}

/// A CPU model's instruction timing (zero wait states).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuTiming {
    pub cpu: CpuModel,
    /// How reports name the model.
    pub name: String,
    /// What the figures come from.
    pub sources: Vec<String>,
    /// Cycles a taken branch (any write to the PC) adds: the pipeline refill.
    pub refill: Cost,
    pub alu: Cost,
    pub it: Cost,
    pub hint: Cost,
    pub mul: Cost,
    pub mul_long: Cost,
    pub div: Cost,
    pub load: Cost,
    pub store: Cost,
    /// A single load or store right after another: the address and data phases overlap.
    pub pipelined: Cost,
    /// LDM/STM/PUSH/POP/LDRD/STRD: `multiple + per_register x N`.
    pub multiple: Cost,
    pub per_register: Cost,
    /// A branch not taken (a taken one adds `refill`).
    pub branch: Cost,
    /// TBB/TBH before the refill.
    pub table_branch: Cost,
    pub barrier: Cost,
    /// SVC, BKPT, UDF and undefined encodings (the exception itself is not priced here).
    pub other: Cost,
    pub fp_alu: Cost,
    pub fp_mul: Cost,
    pub fp_mac: Cost,
    pub fp_div: Cost,
    pub fp_sqrt: Cost,
    /// Double precision (absent on a single-precision FPU: the core faults on those).
    #[serde(default)]
    pub fp_alu_f64: Option<Cost>,
    #[serde(default)]
    pub fp_mul_f64: Option<Cost>,
    #[serde(default)]
    pub fp_mac_f64: Option<Cost>,
    #[serde(default)]
    pub fp_div_f64: Option<Cost>,
    #[serde(default)]
    pub fp_sqrt_f64: Option<Cost>,
    /// VLDR/VSTR/VLDM/VSTM/VPUSH/VPOP: `fp_transfer + fp_per_word x words`.
    pub fp_transfer: Cost,
    pub fp_per_word: Cost,
    /// VMOV core <-> single, VMRS, VMSR.
    pub fp_move: Cost,
    /// VMOV two core registers <-> two singles or a double.
    pub fp_move2: Cost,
    /// Exception entry, return and tail-chaining.
    pub exception: ExceptionTiming,
    /// Instruction pairs that issue in one cycle (first, second): both must cost one cycle
    /// alone; register dependencies are not looked at.
    #[serde(default)]
    pub dual_issue: Vec<(Slot, Slot)>,
    /// `dual_issue` as a bit matrix by slot index (filled when the table is loaded): the
    /// block hook joins blocks without a search.
    #[serde(skip)]
    pair_bits: [u8; 8],
    /// [`CpuTiming::join`] for every pair of kinds (`prev << 4 | next`), filled when the table
    /// is loaded: the block hook looks it up.
    #[serde(skip, default = "no_joins")]
    joins: [i8; 256],
}

fn no_joins() -> [i8; 256] {
    [0; 256]
}

/// The built-in tables.
const CORTEX_M4_RON: &str = include_str!("../../../../targets/cpu/cortex-m4.ron");
const CORTEX_M7_RON: &str = include_str!("../../../../targets/cpu/cortex-m7.ron");

impl CpuTiming {
    /// The built-in table of a CPU model (parsed once; the unit tests parse both).
    pub fn builtin(cpu: CpuModel) -> &'static CpuTiming {
        static M4: OnceLock<CpuTiming> = OnceLock::new();
        static M7: OnceLock<CpuTiming> = OnceLock::new();
        let (cell, text, file) = match cpu {
            CpuModel::CortexM4 => (&M4, CORTEX_M4_RON, "cortex-m4.ron"),
            CpuModel::CortexM7 => (&M7, CORTEX_M7_RON, "cortex-m7.ron"),
        };
        cell.get_or_init(|| match ron::from_str::<CpuTiming>(text) {
            Ok(mut t) if t.cpu == cpu => {
                for &(a, b) in &t.dual_issue {
                    t.pair_bits[slot_index(a)] |= 1 << slot_index(b);
                }
                for i in 0..256 {
                    let (prev, next) = (Kind::from_bits((i >> 4) as u8), Kind::from_bits(i as u8));
                    t.joins[i] = t.join(prev, next).clamp(-128, 0) as i8;
                }
                t
            }
            // Built into the binary and parsed by the unit tests: not user input.
            Ok(_) => unreachable!("targets/cpu/{file} names another CPU"),
            Err(e) => unreachable!("targets/cpu/{file}: {e}"),
        })
    }

    /// The cost of `i` alone (not paired, not pipelined, not taken).
    pub fn cost(&self, i: &Insn) -> u32 {
        let f64_or = |c: &Option<Cost>| c.as_ref().unwrap_or(&self.other).cycles;
        let multi = |n: u8| self.multiple.cycles + self.per_register.cycles * u32::from(n);
        let fp_multi = |n: u8| self.fp_transfer.cycles + self.fp_per_word.cycles * u32::from(n);
        match i.class {
            Class::Alu => self.alu.cycles,
            Class::It => self.it.cycles,
            Class::Hint => self.hint.cycles,
            Class::Mul => self.mul.cycles,
            Class::MulLong => self.mul_long.cycles,
            Class::Div => self.div.cycles,
            Class::Load => self.load.cycles,
            Class::Store => self.store.cycles,
            Class::LoadMulti { n } | Class::StoreMulti { n } => multi(n),
            Class::Branch => self.branch.cycles,
            Class::TableBranch => self.table_branch.cycles,
            Class::Barrier => self.barrier.cycles,
            Class::Other => self.other.cycles,
            Class::FpAlu { f64: false } => self.fp_alu.cycles,
            Class::FpMul { f64: false } => self.fp_mul.cycles,
            Class::FpMac { f64: false } => self.fp_mac.cycles,
            Class::FpDiv { f64: false } => self.fp_div.cycles,
            Class::FpSqrt { f64: false } => self.fp_sqrt.cycles,
            Class::FpAlu { f64: true } => f64_or(&self.fp_alu_f64),
            Class::FpMul { f64: true } => f64_or(&self.fp_mul_f64),
            Class::FpMac { f64: true } => f64_or(&self.fp_mac_f64),
            Class::FpDiv { f64: true } => f64_or(&self.fp_div_f64),
            Class::FpSqrt { f64: true } => f64_or(&self.fp_sqrt_f64),
            Class::FpLoad { n }
            | Class::FpStore { n }
            | Class::FpLoadMulti { n }
            | Class::FpStoreMulti { n } => fp_multi(n),
            Class::FpMove => self.fp_move.cycles,
            Class::FpMove2 => self.fp_move2.cycles,
        }
    }

    /// How `i` meets its neighbours: its issue slot, and whether it can pair (it costs one
    /// cycle alone and the model dual-issues).
    pub fn kind(&self, i: &Insn) -> Kind {
        let slot = match i.class {
            Class::Alu | Class::It | Class::Hint => Slot::Alu,
            Class::Mul => Slot::Mul,
            Class::Load => Slot::Load,
            Class::Store => Slot::Store,
            Class::Branch => Slot::Branch,
            Class::FpAlu { .. } | Class::FpMul { .. } | Class::FpMove => Slot::Fp,
            Class::FpLoad { .. } | Class::FpStore { .. } => Slot::FpLoad,
            _ => return Kind::NONE,
        };
        Kind::new(slot, !self.dual_issue.is_empty() && self.cost(i) == 1)
    }

    /// What an instruction of kind `next` costs after one of kind `prev` beyond what it costs
    /// alone, in half cycles (0 or less): a single load or store after another pipelines; a
    /// second instruction that dual-issues with the first costs half a cycle (two such in a
    /// row cost one cycle).
    pub fn join(&self, prev: Kind, next: Kind) -> i32 {
        let (Some(a), Some(b)) = (prev.slot(), next.slot()) else {
            return 0;
        };
        let single = |s: Slot| matches!(s, Slot::Load | Slot::Store);
        let alone = |s: Slot| match s {
            Slot::Load => self.load.cycles,
            _ => self.store.cycles,
        };
        if single(a) && single(b) && self.pipelined.cycles < alone(b) {
            2 * self.pipelined.cycles as i32 - 2 * alone(b) as i32
        } else if prev.pairs()
            && next.pairs()
            && self.pair_bits[slot_index(a)] & (1 << slot_index(b)) != 0
        {
            -1
        } else {
            0
        }
    }
}

/// An instruction's issue slot and whether it can dual-issue, in four bits (0: neither, as a
/// block's start with nothing before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kind(u8);

const SLOTS: [Slot; 7] = [
    Slot::Alu,
    Slot::Mul,
    Slot::Load,
    Slot::Store,
    Slot::Branch,
    Slot::Fp,
    Slot::FpLoad,
];

/// A slot's place in [`SLOTS`].
fn slot_index(slot: Slot) -> usize {
    SLOTS.iter().position(|&s| s == slot).unwrap_or(0)
}

impl Kind {
    pub const NONE: Kind = Kind(0);

    fn new(slot: Slot, pairs: bool) -> Kind {
        Kind((slot_index(slot) as u8 + 1) | (u8::from(pairs) << 3))
    }

    fn slot(self) -> Option<Slot> {
        SLOTS.get(usize::from(self.0 & 7).checked_sub(1)?).copied()
    }

    fn pairs(self) -> bool {
        self.0 & 8 != 0
    }

    /// The four bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(b: u8) -> Kind {
        Kind(b & 0xF)
    }
}

/// What a translated block costs, priced on its own: the first instruction as if nothing ran
/// before it ([`Timing::join`] adds what the instruction before it changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockCost {
    pub insns: u32,
    /// Half cycles (dual issue prices a paired instruction at half a cycle).
    pub halves: u32,
    /// Cycles added when the block's last instruction wrote the PC and the next block does not
    /// start right after this one.
    pub refill: u32,
    /// The first and last instructions' kinds.
    pub first: Kind,
    pub last: Kind,
}

/// How a core's cycles are counted.
#[derive(Debug, Clone, Copy)]
pub enum Timing {
    /// A CPU model's table.
    Model(&'static CpuTiming),
    /// Every instruction costs the same (`cycles_per_insn` in the board file).
    Flat(u32),
}

impl Timing {
    /// How reports name it.
    pub fn name(&self) -> String {
        match self {
            Timing::Model(t) => t.name.clone(),
            Timing::Flat(n) => format!("{n} cycle(s) per instruction"),
        }
    }

    /// The cost of the Thumb code `code` run straight through (a translated block), fetched
    /// from memory with `fetch_wait` wait states per 32-bit fetch. A 32-bit instruction cut at
    /// the end counts as one instruction. Each instruction's cost depends on itself and the
    /// one before it only, so a block split in two costs what it costs whole once the second
    /// part's first instruction is joined to the first part's last ([`Timing::join`]).
    pub fn block(&self, code: &[u8], fetch_wait: u32) -> BlockCost {
        let mut c = BlockCost::default();
        let mut i = 0;
        let hw = |at: usize| {
            code.get(at..at + 2)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
        };
        while i < code.len() {
            let insn = thumb::decode(hw(i), hw(i + 2));
            i += usize::from(insn.len);
            match self {
                Timing::Flat(n) => c.halves += 2 * n,
                Timing::Model(t) => {
                    let kind = t.kind(&insn);
                    let mut halves = 2 * t.cost(&insn) as i32;
                    if c.insns == 0 {
                        c.first = kind;
                    } else {
                        halves += t.join(c.last, kind);
                    }
                    c.halves += halves.max(0) as u32;
                    c.last = kind;
                    c.refill = if insn.writes_pc { t.refill.cycles } else { 0 };
                }
            }
            c.insns += 1;
        }
        c.halves += 2 * fetch_wait * code.len().div_ceil(4) as u32;
        c.insns = c.insns.max(1);
        c
    }

    /// The cycles of an exception entry, return or tail-chain (none at a flat cycle count per
    /// instruction, which prices instructions only).
    pub fn exception(&self, event: ExceptionEvent) -> u32 {
        let Timing::Model(t) = self else {
            return 0;
        };
        let e = &t.exception;
        let fp = |on: bool| if on { e.fp_context.cycles } else { 0 };
        match event {
            ExceptionEvent::Entry { fp: on } => e.entry.cycles + fp(on),
            ExceptionEvent::Exit { fp: on } => e.exit.cycles + fp(on),
            ExceptionEvent::TailChain => e.tail_chain.cycles,
        }
    }

    /// What `next` costs after `prev` beyond its price alone, in half cycles.
    #[inline]
    pub fn join(&self, prev: Kind, next: Kind) -> i32 {
        match self {
            Timing::Model(t) => i32::from(t.joins[usize::from(prev.0 << 4 | next.0)]),
            Timing::Flat(_) => 0,
        }
    }

    /// [`Timing::join`] for every pair of kinds, indexed by `prev << 4 | next`.
    pub fn joins(&self) -> &'static [i8; 256] {
        static NONE: [i8; 256] = [0; 256];
        match self {
            Timing::Model(t) => &t.joins,
            Timing::Flat(_) => &NONE,
        }
    }

    /// The cycles of one instruction alone (the hosted-call stub's `wfi`).
    pub fn one(&self, code: &[u8]) -> u32 {
        self.block(code, 0).halves / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cortex-M4 figures from the TRM (ARM 100166_0001_00, 3.3.1 Table 3-1 and the FPU
    /// chapter's instruction table), typed here by hand: the table file must agree.
    #[test]
    fn cortex_m4_table_matches_the_trm() {
        let m4 = Timing::Model(CpuTiming::builtin(CpuModel::CortexM4));
        let cases: &[(&[u8], u32, &str)] = &[
            (&[0x08, 0x18], 1, "adds"),
            (&[0x01, 0xfb, 0x02, 0x30], 1, "mla"),
            (&[0x81, 0xfb, 0x02, 0x01], 1, "smull"),
            (&[0x08, 0x68], 2, "ldr"),
            (&[0x08, 0x60], 2, "str"),
            (&[0x2d, 0xe9, 0xf0, 0x4f], 10, "push.w {r4-r11, lr}: 1 + N"),
            (&[0xd1, 0xe9, 0x00, 0x23], 3, "ldrd: 1 + N"),
            (&[0xfe, 0xd0], 1, "beq not taken"),
            (&[0x30, 0xee, 0x20, 0x0a], 1, "vadd.f32"),
            (&[0x20, 0xee, 0x20, 0x0a], 1, "vmul.f32"),
            (&[0x00, 0xee, 0x20, 0x0a], 3, "vmla.f32"),
            (&[0xa0, 0xee, 0x20, 0x0a], 3, "vfma.f32"),
            (&[0x80, 0xee, 0x20, 0x0a], 14, "vdiv.f32"),
            (&[0xb1, 0xee, 0xc0, 0x0a], 14, "vsqrt.f32"),
            (&[0x91, 0xed, 0x00, 0x0a], 2, "vldr s0"),
            (&[0x91, 0xed, 0x00, 0x0b], 3, "vldr d0"),
            (&[0x2d, 0xed, 0x04, 0x8b], 5, "vpush {d8, d9}: 1 + N words"),
            (&[0x41, 0xec, 0x10, 0x0b], 2, "vmov d0, r0, r1"),
        ];
        for &(code, want, what) in cases {
            assert_eq!(m4.one(code), want, "{what}");
        }
        let t = CpuTiming::builtin(CpuModel::CortexM4);
        assert_eq!(
            (t.div.cycles, t.div.max),
            (t.div.cycles, Some(12)),
            "SDIV 2-12"
        );
        assert_eq!(t.refill.max, Some(3), "P: 1-3");
        assert!(
            t.dual_issue.is_empty(),
            "the M4 issues one instruction a cycle"
        );
    }

    #[test]
    fn loads_pipeline_and_branches_refill() {
        let m4 = Timing::Model(CpuTiming::builtin(CpuModel::CortexM4));
        // ldr r0, [r1]; ldr r2, [r1]; str r0, [r1]: 2 + 1 + 1 (TRM 3.3.1 note: neighbouring
        // single loads and stores pipeline).
        let b = m4.block(&[0x08, 0x68, 0x0a, 0x68, 0x08, 0x60], 0);
        assert_eq!((b.insns, b.halves, b.refill), (3, 2 * 4, 0));
        // adds; bx lr: 1 + 1, and the refill if the next block is elsewhere.
        let b = m4.block(&[0x08, 0x18, 0x70, 0x47], 0);
        let p = CpuTiming::builtin(CpuModel::CortexM4).refill.cycles;
        assert_eq!((b.insns, b.halves, b.refill), (2, 2 * 2, p));
        // Two wait states per 32-bit fetch: 6 bytes are two fetches.
        let b = m4.block(&[0x08, 0x18, 0x08, 0x18, 0x08, 0x18], 2);
        assert_eq!(b.halves, 2 * (3 + 4));
    }

    #[test]
    fn flat_counts_instructions() {
        let b = Timing::Flat(3).block(&[0x08, 0x18, 0xd1, 0xf8, 0x04, 0x00, 0x70, 0x47], 0);
        assert_eq!((b.insns, b.halves, b.refill), (3, 2 * 9, 0));
    }

    #[test]
    fn the_m7_pairs_simple_instructions() {
        let m7 = Timing::Model(CpuTiming::builtin(CpuModel::CortexM7));
        // adds r0, r1, r0; adds r1, r2, r1; adds r2, r3, r2; adds r3, r4, r3: the first whole,
        // each after it half a cycle (two a cycle once issuing).
        let four_alu = [0x08, 0x18, 0x51, 0x18, 0x9a, 0x18, 0xe3, 0x18];
        assert_eq!(m7.block(&four_alu, 0).halves, 2 + 3);
        let eight_alu = [four_alu, four_alu].concat();
        assert_eq!(m7.block(&eight_alu, 0).halves, 2 + 7);
        // sdiv r0, r1, r2 pairs with nothing.
        let t = CpuTiming::builtin(CpuModel::CortexM7);
        let div_alu = [0x91, 0xfb, 0xf2, 0xf0, 0x08, 0x18];
        assert_eq!(m7.block(&div_alu, 0).halves, 2 * (t.div.cycles + 1));
    }

    /// Pricing a block in two parts and joining them gives the whole block's price, at every
    /// split point: a debugger's stop inside a block and a single step cannot change time.
    #[test]
    fn a_split_block_costs_what_it_costs_whole() {
        // A mix of every kind: ldr, ldr, adds, muls, vadd.f32, vldr, str, adds, sdiv, adds,
        // vmul.f32, push, adds, adds, bx lr.
        let code: &[&[u8]] = &[
            &[0x08, 0x68],
            &[0x0a, 0x68],
            &[0x08, 0x18],
            &[0x48, 0x43],
            &[0x30, 0xee, 0x20, 0x0a],
            &[0x91, 0xed, 0x00, 0x0a],
            &[0x08, 0x60],
            &[0x51, 0x18],
            &[0x91, 0xfb, 0xf2, 0xf0],
            &[0x9a, 0x18],
            &[0x20, 0xee, 0x20, 0x0a],
            &[0x30, 0xb5],
            &[0xe3, 0x18],
            &[0x08, 0x18],
            &[0x70, 0x47],
        ];
        let bytes = code.concat();
        for cpu in [CpuModel::CortexM4, CpuModel::CortexM7] {
            let t = Timing::Model(CpuTiming::builtin(cpu));
            let whole = t.block(&bytes, 0);
            let mut at = 0;
            for insn in &code[..code.len() - 1] {
                at += insn.len();
                let (a, b) = (t.block(&bytes[..at], 0), t.block(&bytes[at..], 0));
                let joined = a.halves as i32 + b.halves as i32 + t.join(a.last, b.first);
                assert_eq!(joined, whole.halves as i32, "{cpu:?} split at byte {at}");
                assert_eq!(a.insns + b.insns, whole.insns);
            }
        }
    }

    #[test]
    fn the_m4_has_no_double_precision() {
        let m4 = Timing::Model(CpuTiming::builtin(CpuModel::CortexM4));
        let t = CpuTiming::builtin(CpuModel::CortexM4);
        // vdiv.f64: undefined on FPv4-SP (the core faults), priced as `other`.
        assert_eq!(m4.one(&[0x81, 0xee, 0x02, 0x0b]), t.other.cycles);
        let m7 = CpuTiming::builtin(CpuModel::CortexM7);
        assert!(m7
            .fp_div_f64
            .as_ref()
            .is_some_and(|c| c.cycles > m7.fp_div.cycles));
    }
}
