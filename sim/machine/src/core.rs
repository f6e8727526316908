//! One Cortex-M core on one Unicorn engine, with what Unicorn lacks done here: cycle counting in
//! virtual time, exception entry and return (ARMv7-M ARM B1.5.6-B1.5.8: PushStack, ExceptionTaken,
//! ExceptionReturn, PopStack, tail-chaining), faults and escalation, WFI/WFE sleep, semihosting.
//!
//! Unicorn facts this relies on (reference/unicorn.md, and Unicorn's unicorn_arm.c / m_helper.c):
//! - `svc` arrives as interrupt 2 with PC past it; `bkpt` as interrupt 7 with PC at it; a branch to
//!   an EXC_RETURN value in handler mode as interrupt 8 with PC = EXC_RETURN & !1.
//! - `wfi` ends `emu_start` with PC after it; `wfe`/`yield` are invalid instructions.
//! - MSP/PSP/CONTROL/PRIMASK register writes go through QEMU's MSR helper, which ignores them
//!   from unprivileged thread mode; an IPSR write does not swap the banked SP. Mode changes
//!   therefore stage through a privileged handler state ([`write_mode`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use unicorn_engine::{Arch, ArmCpuModel, HookType, MemType, Mode, Prot, RegisterARM, Unicorn};

use crate::board::{CoreDesc, CpuModel, Fpu};
use crate::error::{Error, Result, UcContext};
use crate::exc::{self, Masks};
use crate::semihost::{self, Semihost};
use crate::soc::Soc;
use crate::symbols::Symbols;
use crate::time::Ps;
use crate::timing::{BlockCost, CpuTiming, ExceptionEvent, Kind, Timing};

/// `emu_start`'s `until`: an address no code runs at (reference/unicorn.md: keep it away from
/// hot code, and away from the EXC_RETURN range 0xFF00_0000..).
pub const UNTIL: u32 = 0xF000_0000;

const CONTROL_NPRIV: u32 = 1;
const CONTROL_SPSEL: u32 = 2;
const CONTROL_FPCA: u32 = 4;

/// Unicorn syncs the PC only at translated-block boundaries (and its memory hooks do not fire
/// for MMIO regions), so an MMIO callback sees the start of the block holding the access.
const MMIO_PC: &str = "in the code block starting at";

/// Why a run of the engine ended (set by hooks).
#[derive(Debug, Clone, PartialEq)]
pub enum Halt {
    /// The segment's deadline was reached.
    Budget,
    /// The exception state changed: re-evaluate pending exceptions.
    Irq,
    /// A synchronous fault to deliver.
    Fault(FaultKind),
    /// WFE with the event register clear.
    Wfe,
    /// Semihosting SYS_EXIT.
    Exit(i32),
    /// A twin error (unmodelled peripheral, broken invariant).
    TwinError(String),
    /// A host function serving a wasm import refused the call (e.g. a pointer outside memory).
    HostError(String),
    /// The core locked up.
    Lockup(String),
    /// A debugger's breakpoint at this address ([`crate::debug`]).
    Breakpoint(u32),
    /// A BKPT instruction at this address while a debugger is attached.
    Bkpt(u32),
}

/// The accesses a watchpoint catches, and the access that hit one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
    /// Read or write (gdb's `awatch`); never the kind of a hit.
    Any,
}

pub(crate) struct Watch {
    pub addr: u32,
    pub len: u32,
    pub kind: Access,
    pub hook: unicorn_engine::UcHookId,
}

/// A core's debugger state (set and read by [`crate::debug`]).
#[derive(Default)]
pub struct CoreDebug {
    /// A debugger is attached: a BKPT stops for it instead of raising HardFault.
    pub attached: bool,
    /// Stop when a fault is taken (vector catch).
    pub catch_faults: bool,
    pub(crate) breakpoints: std::collections::BTreeMap<u32, unicorn_engine::UcHookId>,
    /// The breakpoint the core stopped at: not hit again by the first instruction it runs.
    pub skip: Option<u32>,
    pub(crate) watches: Vec<Watch>,
    /// The first watched access since the last stop: (address, kind, instruction).
    pub(crate) hit: Option<(u32, Access, u32)>,
}

impl CoreDebug {
    pub fn has_breakpoint(&self, pc: u32) -> bool {
        self.breakpoints.contains_key(&(pc & !1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum FaultKind {
    /// Undefined instruction at `pc`.
    Undefined { pc: u32 },
    /// Precise data bus error.
    DataBus { pc: u32, addr: u32 },
    /// Instruction fetch bus error at `addr`.
    FetchBus { addr: u32 },
    /// Invalid state (e.g. an interworking branch to ARM state).
    InvState { pc: u32 },
    /// Bad EXC_RETURN or exception-return integrity failure.
    InvPc { pc: u32 },
    /// BKPT with no debugger attached.
    Breakpoint { pc: u32 },
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultKind::Undefined { pc } => write!(f, "undefined instruction at {pc:#010x}"),
            FaultKind::DataBus { pc, addr } => {
                write!(
                    f,
                    "bus error on a data access to {addr:#010x} at {pc:#010x}"
                )
            }
            FaultKind::FetchBus { addr } => write!(f, "bus error fetching from {addr:#010x}"),
            FaultKind::InvState { pc } => write!(f, "invalid state (not Thumb) at {pc:#010x}"),
            FaultKind::InvPc { pc } => write!(f, "invalid EXC_RETURN {pc:#010x}"),
            FaultKind::Breakpoint { pc } => write!(f, "BKPT with no debugger at {pc:#010x}"),
        }
    }
}

/// Per-engine state reached from hooks.
pub struct CoreData {
    pub idx: usize,
    pub name: String,
    pub soc: Rc<RefCell<Soc>>,
    pub model: CpuModel,
    pub has_fpu: bool,
    pub ps_per_cycle: Ps,
    /// How instructions are priced in cycles.
    pub timing: Timing,
    /// Wait states by RAM window (base, size, wait states), those above 0: per 32-bit fetch of
    /// code from it and per data access to it ([`watch_wait_states`]).
    pub ram_wait: Vec<(u32, u32, u32)>,
    /// Wait states of a peripheral access (board file `peripheral_wait_states`).
    pub peripheral_wait: u32,
    /// How the last charged block meets the next one ([`Link`]).
    pub link: Link,
    /// The join table of the core's timing ([`Timing::joins`]).
    joins: &'static [i8; 256],
    pub before: Before,
    /// Virtual time at the start of this engine run, and cycles executed in it.
    pub run_start: Ps,
    pub run_cycles: u64,
    pub deadline: Rc<Cell<Ps>>,
    pub irq_flag: Rc<Cell<bool>>,
    /// While a pending exception waits behind PRIMASK/BASEPRI/FAULTMASK: its group priority and
    /// the active priority; the block hook watches the masks.
    pub poll: Option<(i32, i32)>,
    pub halt: Option<Halt>,
    pub insns: u64,
    pub cycles: u64,
    /// Last unmapped access seen by the memory hook: (address, is_fetch).
    pub unmapped: Option<(u32, bool)>,
    /// Instructions per translated block, by start address.
    pub costs: BlockCosts,
    /// The last block the block hook charged in this run: (address, size, instructions); all
    /// zero when it stopped before a block. A debugger's stop inside it gives back what did not
    /// run ([`crate::debug::refund`]).
    pub block: (u32, u32, u32),
    /// Breakpoints, watchpoints and what they hit ([`crate::debug`]).
    pub debug: CoreDebug,
    /// Unicorn's instruction-counting hook is installed (the last run was a step).
    counting: bool,
    /// The engine's handle, for the block hook (a plain C callback).
    handle: *mut unicorn_engine::hook::uc_engine,
    pub semihost: Semihost,
    pub symbols: Rc<Symbols>,
    /// Hosted calls paint the stack to measure its high-water mark: [lo, hi) still holds the
    /// paint of the last call (empty at first: paint it all).
    pub stack_paint: (u32, u32),
    /// The RAM windows mapped into the engine (base, size).
    pub ram: Vec<(u32, u32)>,
    /// Code pages: those instructions have been fetched from (see [`fill_tlb`]).
    pub exec_pages: PageSet,
    /// While set, every hosted call records its starting state in `captured` (the ARM-path
    /// bench replays them on a bare engine).
    pub capture: bool,
    pub captured: Vec<RawCall>,
}

/// A set of engine pages ([`PAGE`] bytes each), by page number.
pub type PageSet = std::collections::BTreeSet<u32>;

/// EPSR's Thumb bit (the IT bits zero).
pub(crate) const EPSR_T: u32 = 1 << 24;

/// Unicorn's ARM target page: the unit of a TLB entry.
pub const PAGE: u32 = 1024;

/// Does the ARMv7-M default memory map mark `addr` execute-never (B3.1: Peripheral
/// 0x4000_0000-0x5FFF_FFFF, Device and System 0xA000_0000-0xFFFF_FFFF)?
pub fn execute_never(addr: u32) -> bool {
    (0x4000_0000..0x6000_0000).contains(&addr) || addr >= 0xA000_0000
}

/// The TLB entry for the page at `vaddr` (the engine runs with Unicorn's virtual TLB, filled
/// here): identity-mapped, readable and writable, and executable only on code pages, i.e.
/// pages instructions have been fetched from. Unicorn 2.1.x marks every writable RAM page
/// "not dirty" when its entry is filled and clears the mark only for entries without execute
/// permission (qemu/accel/tcg/cputlb.c `notdirty_write`); with the CPU's own fill every
/// 0x0000_0000-0x9FFF_FFFF page is executable by the default memory map, so every guest store
/// took the slow path (`store_helper`, `notdirty_write`, `address_space_translate`). A data
/// page gets an entry without execute and its stores run on the fast path after the first;
/// a code page keeps the slow path, which is what catches self-modifying code. A fetch from
/// an execute-never region stops the run with UC_ERR_EXCEPTION, the machine's instruction bus
/// error (as the default map's prefetch abort was).
fn fill_tlb(uc: &mut Uc<'_>, vaddr: u64, ty: MemType) -> Option<unicorn_engine::TlbEntry> {
    let page = (vaddr as u32) / PAGE;
    let fetch = ty == MemType::FETCH;
    if execute_never(vaddr as u32) {
        // The guest fetching here (its PC is on the page): no execute permission, the run
        // stops with UC_ERR_EXCEPTION at the fetch address. Unicorn's own fetch probe when it
        // drops the block at `until` (softmmu/cpus.c) comes with the PC elsewhere: a failed
        // fill there would leave UC_ERR_EXCEPTION as the result of a run that went well.
        let guest = reg(uc, RegisterARM::PC) / PAGE == page;
        return Some(unicorn_engine::TlbEntry {
            paddr: vaddr,
            perms: if guest && fetch {
                Prot::READ | Prot::WRITE
            } else {
                Prot::ALL
            },
        });
    }
    if !fetch {
        // A data access from a running block: Unicorn's fill has just restored the CPU state
        // to this instruction (qemu/softmmu/unicorn_vtlb.c `cpu_restore_state`), IT bits
        // included. QEMU keeps them zero while a block runs (written at its end only when an
        // IT block is still open), so they are set back to zero here; else an IT block that
        // ends within the block would leave its state to the next block.
        let _ = uc.reg_write(RegisterARM::EPSR, u64::from(EPSR_T));
    }
    let d = uc.get_data_mut();
    let code = if fetch {
        d.exec_pages.insert(page);
        true
    } else {
        d.exec_pages.contains(&page)
    };
    let perms = if code {
        Prot::ALL
    } else {
        Prot::READ | Prot::WRITE
    };
    Some(unicorn_engine::TlbEntry {
        paddr: vaddr,
        perms,
    })
}

/// A call's starting state: every RAM window and the register file, the entry point and the
/// return address. Replayed on a bare Unicorn engine (no hooks, no MMIO) it runs the same
/// instructions as the twin did, so the twin's speed can be set against raw Unicorn's on the
/// same code.
#[derive(Debug, Clone)]
pub struct RawCall {
    pub model: CpuModel,
    pub ram: Vec<(u32, Vec<u8>)>,
    pub regs: Vec<(RegisterARM, u64)>,
    pub entry: u32,
    /// The address the call returns to.
    pub until: u32,
    /// The instructions the twin counted for the call (set when it returned).
    pub instructions: u64,
}

/// The registers a call's state is made of: R0-R12 first (`whereabouts` lists those, `boot`
/// clears them), then SP,
/// LR and the special ones (the FPU's data registers are `D_REGS`).
pub const CALL_REGS: [RegisterARM; 20] = [
    RegisterARM::R0,
    RegisterARM::R1,
    RegisterARM::R2,
    RegisterARM::R3,
    RegisterARM::R4,
    RegisterARM::R5,
    RegisterARM::R6,
    RegisterARM::R7,
    RegisterARM::R8,
    RegisterARM::R9,
    RegisterARM::R10,
    RegisterARM::R11,
    RegisterARM::R12,
    RegisterARM::SP,
    RegisterARM::LR,
    RegisterARM::FPSCR,
    RegisterARM::APSR,
    RegisterARM::CONTROL,
    RegisterARM::PRIMASK,
    RegisterARM::BASEPRI,
];

/// The FPU's registers as doubles (S0-S31 within them).
pub const D_REGS: [RegisterARM; 16] = [
    RegisterARM::D0,
    RegisterARM::D1,
    RegisterARM::D2,
    RegisterARM::D3,
    RegisterARM::D4,
    RegisterARM::D5,
    RegisterARM::D6,
    RegisterARM::D7,
    RegisterARM::D8,
    RegisterARM::D9,
    RegisterARM::D10,
    RegisterARM::D11,
    RegisterARM::D12,
    RegisterARM::D13,
    RegisterARM::D14,
    RegisterARM::D15,
];

/// `uc`'s state at the start of a call of `entry` returning to `until`.
pub fn capture(uc: &Uc<'_>, entry: u32, until: u32) -> RawCall {
    let d = uc.get_data();
    let ram = d
        .ram
        .iter()
        .map(|&(base, size)| {
            let mut b = vec![0u8; size as usize];
            let _ = uc.mem_read(u64::from(base), &mut b);
            (base, b)
        })
        .collect();
    let regs = CALL_REGS
        .iter()
        .chain(D_REGS.iter())
        .map(|&r| (r, uc.reg_read(r).unwrap_or(0)))
        .collect();
    RawCall {
        model: d.model,
        ram,
        regs,
        entry,
        until,
        instructions: 0,
    }
}

/// How the last charged block meets the next one, in one word: where it ended (bits 0-31), the
/// refill it adds if the next block starts elsewhere (its last instruction branched; bits
/// 32-39), its last instruction's kind (the next block's first instruction may pipeline or pair
/// with it; bits 40-43), and the half cycle owed (bit 48: dual issue prices in half cycles,
/// cycles are charged whole).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link(u64);

impl Link {
    fn new(end: u32, refill: u32, last: Kind, half: u64) -> Link {
        Link(
            u64::from(end)
                | (u64::from(refill & 0xFF) << 32)
                | (u64::from(last.bits()) << 40)
                | ((half & 1) << 48),
        )
    }

    fn end(self) -> u32 {
        self.0 as u32
    }

    fn refill(self) -> u64 {
        (self.0 >> 32) & 0xFF
    }

    fn last(self) -> usize {
        ((self.0 >> 40) & 0xF) as usize
    }

    fn half(self) -> u64 {
        (self.0 >> 48) & 1
    }
}

/// The accounting before the last charged block (a debugger's stop inside it gives back what
/// did not run: [`crate::debug::refund`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Before {
    pub link: Link,
    /// What the block was charged.
    pub cycles: u64,
    pub insns: u64,
}

impl CoreData {
    /// The half cycles a block costing `halves` alone, whose first instruction is of kind
    /// `first`, costs at `addr` now, the half cycle owed included: straight on from the block
    /// before, its last instruction and this one's first meet; else the block before branched
    /// here and its pipeline refill is due.
    #[inline(always)]
    pub(crate) fn halves_due(&self, addr: u32, halves: u64, first: usize) -> u64 {
        let link = self.link;
        let halves = halves + link.half();
        if addr == link.end() {
            // A join takes at most what the first instruction costs alone.
            halves.wrapping_add_signed(i64::from(self.joins[link.last() << 4 | first]))
        } else {
            halves + 2 * link.refill()
        }
    }

    /// Charge the block of `size` bytes at `addr`, its cost packed in `slot` ([`Slot`]), with
    /// `halves` due ([`CoreData::halves_due`]).
    #[inline(always)]
    pub(crate) fn charge(&mut self, addr: u32, size: u32, slot: u64, halves: u64) {
        let cycles = halves / 2;
        let insns = (slot >> 32) & 0xFFFF;
        self.before = Before {
            link: self.link,
            cycles,
            insns,
        };
        self.block = (addr, size, insns as u32);
        // The slot's refill (bits 8-11) and last kind (0-3) go to the link's bits 32 and 40.
        self.link = Link(
            u64::from(addr.wrapping_add(size))
                | (((slot >> 8) & 0xF) << 32)
                | ((slot & 0xF) << 40)
                | ((halves & 1) << 48),
        );
        self.run_cycles += cycles;
        self.insns += insns;
        self.cycles += cycles;
    }

    /// Charge `cycles` of waiting inside a block (a peripheral access's wait states).
    pub(crate) fn wait(&mut self, cycles: u32) {
        self.run_cycles += u64::from(cycles);
        self.cycles += u64::from(cycles);
    }

    /// The core's flow was changed from outside its code (exception entry, return or
    /// tail-chain): charge the event's cycles ([`Timing::exception`]); the next block neither
    /// joins the last one nor pays its refill (the event's figure includes the fetch).
    pub(crate) fn flow_changed(&mut self, event: ExceptionEvent) {
        self.link = Link::new(1, 0, Kind::NONE, self.link.half());
        let cycles = self.timing.exception(event);
        self.wait(cycles);
    }

    /// Take back the last block's charge (its accounting as before it).
    pub(crate) fn uncharge(&mut self) {
        let b = self.before;
        self.run_cycles -= b.cycles;
        self.cycles -= b.cycles;
        self.insns -= b.insns;
        self.link = b.link;
        self.block = (0, 0, 0);
    }

    pub fn now(&self) -> Ps {
        self.run_start + self.run_cycles * self.ps_per_cycle
    }
}

impl semihost::Host for CoreData {
    fn now(&self) -> Ps {
        CoreData::now(self)
    }
    fn ps_per_cycle(&self) -> Ps {
        self.ps_per_cycle
    }
    fn semihost(&mut self) -> &mut Semihost {
        &mut self.semihost
    }
}

pub type Uc<'a> = Unicorn<'a, CoreData>;
pub type Engine = Uc<'static>;

/// Guest space per leaf of [`BlockCosts`] (64 KiB: a slot per halfword).
const LEAF_BITS: u32 = 16;

/// Slots per leaf: one per halfword.
const LEAF_SLOTS: usize = 1 << (LEAF_BITS - 1);

/// What each translated block costs, by the block's start address: a two-level table (a leaf
/// per 64 KiB of guest space holding code, a slot per halfword) holding an index into a dense
/// list of packed costs ([`Slot`]: the block's size, instructions, half cycles, refill and its
/// first and last instructions' kinds), so the block hook indexes and never searches while code
/// stays within one leaf, and the costs of the blocks in use stay in a few cache lines. The same
/// start address can begin blocks of different sizes (a block cut at `emu_start`'s `until`, or
/// translated again after code changed), so the size is checked on each use. Leaves are listed
/// as code is first seen (a handful per core: code lives in a few RAM windows). In front of
/// the table, the recent blocks direct-mapped by address answer most lookups.
pub struct BlockCosts {
    /// The blocks met lately, direct-mapped by address: (address | 1, packed cost); (0, 0)
    /// when empty. Nearly every block is found here with one compare (a hosted flight run
    /// prices about 1,700 blocks); the table behind it is two dependent loads further.
    recent: Box<[(u32, u64); RECENT]>,
    /// (top 16 address bits, leaf); a slot is 1 + an index into `costs` (0: not seen).
    leaves: Vec<(u32, Box<[u32; LEAF_SLOTS]>)>,
    /// The leaf the last block was in (an index into `leaves`).
    last: usize,
    costs: Vec<u64>,
}

/// Entries of [`BlockCosts::recent`] (128 KiB a core, zeroed lazily by the allocator):
/// measured against 512 and 2048 (hyperfine on a hosted run, docs/time.md).
const RECENT: usize = 8192;

impl Default for BlockCosts {
    fn default() -> BlockCosts {
        BlockCosts {
            recent: match vec![(0, 0); RECENT].into_boxed_slice().try_into() {
                Ok(recent) => recent,
                Err(_) => unreachable!("a vector of RECENT"),
            },
            leaves: Vec::new(),
            last: 0,
            costs: Vec::new(),
        }
    }
}

/// A cached block cost: size (bits 48-63), instructions (32-47), half cycles (12-31), refill
/// (8-11), the first and last instructions' kinds (4-7, 0-3).
pub(crate) struct Slot;

impl Slot {
    pub(crate) fn pack(size: u32, c: BlockCost) -> u64 {
        (u64::from(size) << 48)
            | (u64::from(c.insns.min(0xFFFF)) << 32)
            | (u64::from(c.halves.min(0xF_FFFF)) << 12)
            | (u64::from(c.refill.min(0xF)) << 8)
            | (u64::from(c.first.bits()) << 4)
            | u64::from(c.last.bits())
    }

    #[inline(always)]
    fn halves(v: u64) -> u64 {
        (v >> 12) & 0xF_FFFF
    }

    #[inline(always)]
    fn first(v: u64) -> usize {
        ((v >> 4) & 0xF) as usize
    }
}

impl BlockCosts {
    /// The slot of the block at `addr`, its leaf allocated on first use.
    #[inline(always)]
    fn slot(&mut self, addr: u32) -> &mut u32 {
        let top = addr >> LEAF_BITS;
        if self.leaves.get(self.last).is_none_or(|l| l.0 != top) {
            self.find(top);
        }
        &mut self.leaves[self.last].1[((addr >> 1) as usize) & (LEAF_SLOTS - 1)]
    }

    /// Point `last` at the leaf for the top address bits `top`, allocating it if new.
    #[cold]
    #[inline(never)]
    fn find(&mut self, top: u32) {
        self.last = match self.leaves.iter().position(|l| l.0 == top) {
            Some(i) => i,
            None => {
                let leaf = match vec![0; LEAF_SLOTS].into_boxed_slice().try_into() {
                    Ok(leaf) => leaf,
                    Err(_) => unreachable!("a vector of LEAF_SLOTS"),
                };
                self.leaves.push((top, leaf));
                self.leaves.len() - 1
            }
        };
    }

    /// The packed cost ([`Slot`]) of the block of `size` bytes at `addr`, priced from `uc`'s
    /// memory the first time.
    #[inline(always)]
    fn get(
        &mut self,
        uc: *mut unicorn_engine::hook::uc_engine,
        addr: u32,
        size: u32,
        timing: &Timing,
        ram_wait: &[(u32, u32, u32)],
    ) -> u64 {
        let e = &mut self.recent[(addr as usize >> 1) & (RECENT - 1)];
        if e.0 == addr | 1 && e.1 >> 48 == u64::from(size) {
            return e.1;
        }
        self.lookup(uc, addr, size, timing, ram_wait)
    }

    /// [`BlockCosts::get`] past the recent blocks: the table, priced the first time; the
    /// block becomes recent.
    #[inline(never)]
    fn lookup(
        &mut self,
        uc: *mut unicorn_engine::hook::uc_engine,
        addr: u32,
        size: u32,
        timing: &Timing,
        ram_wait: &[(u32, u32, u32)],
    ) -> u64 {
        let at = *self.slot(addr) as usize;
        let cost = match at.checked_sub(1).and_then(|i| self.costs.get(i)) {
            Some(&cost) if cost >> 48 == u64::from(size) => cost,
            _ => self.reprice(uc, addr, size, timing, ram_wait),
        };
        self.recent[(addr as usize >> 1) & (RECENT - 1)] = (addr | 1, cost);
        cost
    }

    /// Price the block and keep its cost (in its slot's place when the slot had one).
    #[cold]
    #[inline(never)]
    fn reprice(
        &mut self,
        uc: *mut unicorn_engine::hook::uc_engine,
        addr: u32,
        size: u32,
        timing: &Timing,
        ram_wait: &[(u32, u32, u32)],
    ) -> u64 {
        let cost = Slot::pack(size, price(uc, addr, size, timing, ram_wait));
        let at = *self.slot(addr) as usize;
        match at.checked_sub(1) {
            Some(i) if i < self.costs.len() => self.costs[i] = cost,
            _ => {
                self.costs.push(cost);
                *self.slot(addr) = self.costs.len() as u32;
            }
        }
        cost
    }

    /// Forget every block (code was written behind Unicorn's back).
    pub fn clear(&mut self) {
        self.recent.fill((0, 0));
        self.leaves.clear();
        self.last = 0;
        self.costs.clear();
    }
}

/// Wait states per access at `addr`.
fn wait_at(ram_wait: &[(u32, u32, u32)], addr: u32) -> u32 {
    ram_wait
        .iter()
        .find(|&&(base, size, _)| addr.wrapping_sub(base) < size)
        .map_or(0, |w| w.2)
}

/// Price the `size` bytes of code at `addr` (read from `uc`'s memory).
pub(crate) fn price(
    uc: *mut unicorn_engine::hook::uc_engine,
    addr: u32,
    size: u32,
    timing: &Timing,
    ram_wait: &[(u32, u32, u32)],
) -> BlockCost {
    let size = size.min(0xFFFF) as usize;
    let mut buf = vec![0u8; size];
    // SAFETY: `uc` is the live engine calling the hook; `buf` holds `size` bytes.
    let ok = unsafe {
        unicorn_engine::hook::sys::uc_mem_read(
            uc,
            u64::from(addr),
            buf.as_mut_ptr().cast(),
            size as u64,
        )
    } == unicorn_engine::uc_error::OK;
    if !ok {
        buf.clear();
    }
    timing.block(&buf, wait_at(ram_wait, addr))
}

/// A register read through the raw handle (inside the block hook).
fn raw_reg(uc: *mut unicorn_engine::hook::uc_engine, r: RegisterARM) -> u32 {
    let mut v: u64 = 0;
    // SAFETY: `uc` is the live engine calling the hook; `v` is large enough for any core
    // register.
    unsafe {
        unicorn_engine::hook::sys::uc_reg_read(uc, r as i32, (&raw mut v).cast());
    }
    v as u32
}

/// The block hook: charge the block's cycles, or stop the engine before it when the segment's
/// deadline would pass, an interrupt is due, or a pending exception's masks came down.
/// A C callback on the engine's [`CoreData`] (not the binding's closure proxy, which upgrades
/// a weak reference and builds a handle on every block).
///
/// # Safety
/// `data` is the engine's `CoreData`, which lives as long as the engine; the hook runs on the
/// engine's thread inside `emu_start`, where nothing else touches the data.
unsafe extern "C" fn block_hook(
    uc: *mut unicorn_engine::hook::uc_engine,
    addr: u64,
    size: u32,
    data: *mut std::ffi::c_void,
) {
    // SAFETY: the caller's contract.
    let d = unsafe { &mut *data.cast::<CoreData>() };
    let addr = addr as u32;
    let slot = d.costs.get(uc, addr, size, &d.timing, &d.ram_wait);
    let halves = d.halves_due(addr, Slot::halves(slot), Slot::first(slot));
    let cyc = halves / 2;
    let after = d.run_start + (d.run_cycles + cyc) * d.ps_per_cycle;
    let stop = if d.run_cycles > 0 && after > d.deadline.get() {
        Some(Halt::Budget)
    } else if d.irq_flag.get() {
        Some(Halt::Irq)
    } else if let Some((pending, active)) = d.poll {
        let mut boost = active;
        if raw_reg(uc, RegisterARM::PRIMASK) & 1 != 0 {
            boost = boost.min(0);
        }
        let basepri = raw_reg(uc, RegisterARM::BASEPRI) as u8;
        if basepri & exc::PRIO_MASK != 0 {
            // Group priority of BASEPRI: computed with the same PRIGROUP as `pending`.
            boost = boost.min(d.soc.borrow().cores[d.idx].scs.exc.group(basepri));
        }
        if raw_reg(uc, RegisterARM::FAULTMASK) & 1 != 0 {
            boost = -1;
        }
        (pending < boost).then_some(Halt::Irq)
    } else {
        None
    };
    if let Some(h) = stop {
        d.halt = Some(h);
        d.block = (0, 0, 0);
        // SAFETY: `uc` is the live engine.
        unsafe {
            unicorn_engine::hook::sys::uc_emu_stop(uc);
        }
        return;
    }
    d.charge(addr, size, slot, halves);
}

pub(crate) fn reg(uc: &Uc<'_>, r: RegisterARM) -> u32 {
    uc.reg_read(r).unwrap_or(0) as u32
}

pub(crate) fn set(uc: &mut Uc<'_>, r: RegisterARM, v: u32) {
    let _ = uc.reg_write(r, u64::from(v));
}

pub fn masks(uc: &Uc<'_>) -> Masks {
    Masks {
        primask: reg(uc, RegisterARM::PRIMASK) & 1 != 0,
        faultmask: reg(uc, RegisterARM::FAULTMASK) & 1 != 0,
        basepri: reg(uc, RegisterARM::BASEPRI) as u8,
    }
}

/// The mode-relevant CPU state, with both stack pointers resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMode {
    pub xpsr: u32,
    pub control: u32,
    pub msp: u32,
    pub psp: u32,
}

impl CpuMode {
    pub fn ipsr(&self) -> u32 {
        self.xpsr & 0x1FF
    }
}

/// Read xPSR, CONTROL, MSP and PSP whatever the privilege.
pub fn read_mode(uc: &mut Uc<'_>) -> CpuMode {
    let xpsr = reg(uc, RegisterARM::XPSR);
    let control = reg(uc, RegisterARM::CONTROL);
    let ipsr = xpsr & 0x1FF;
    if ipsr == 0 {
        set(uc, RegisterARM::IPSR, 1);
    }
    // In handler mode QEMU's MSP view is the live SP slot and PSP the other slot.
    let live = reg(uc, RegisterARM::MSP);
    let other = reg(uc, RegisterARM::PSP);
    if ipsr == 0 {
        set(uc, RegisterARM::IPSR, 0);
    }
    let using_psp = ipsr == 0 && control & CONTROL_SPSEL != 0;
    let (msp, psp) = if using_psp {
        (other, live)
    } else {
        (live, other)
    };
    CpuMode {
        xpsr,
        control,
        msp,
        psp,
    }
}

/// Put the CPU in exactly `m`: handler or thread mode, SPSEL, nPRIV, FPCA, both SPs.
pub fn write_mode(uc: &mut Uc<'_>, m: CpuMode) {
    // Stage in handler mode: privileged whatever nPRIV says.
    set(uc, RegisterARM::IPSR, 1);
    set(uc, RegisterARM::CONTROL, m.control & !CONTROL_NPRIV);
    if reg(uc, RegisterARM::CONTROL) & CONTROL_SPSEL != m.control & CONTROL_SPSEL {
        // SPSEL only changes in (now privileged) thread mode.
        set(uc, RegisterARM::IPSR, 0);
        set(uc, RegisterARM::CONTROL, m.control & !CONTROL_NPRIV);
        set(uc, RegisterARM::IPSR, 1);
    }
    let using_psp = m.ipsr() == 0 && m.control & CONTROL_SPSEL != 0;
    let (live, other) = if using_psp {
        (m.psp, m.msp)
    } else {
        (m.msp, m.psp)
    };
    set(uc, RegisterARM::MSP, live);
    set(uc, RegisterARM::PSP, other);
    set(uc, RegisterARM::CONTROL, m.control);
    set(uc, RegisterARM::XPSR_NZCVQG, m.xpsr);
    // Unicorn caches mode flags: rewrite APSR to rebuild them (reference/unicorn.md gotcha).
    let nzcv = reg(uc, RegisterARM::APSR_NZCV);
    set(uc, RegisterARM::APSR_NZCV, nzcv);
}

/// Single-precision register sN (N < 16).
pub fn s_reg(i: usize) -> RegisterARM {
    const S: [RegisterARM; 16] = [
        RegisterARM::S0,
        RegisterARM::S1,
        RegisterARM::S2,
        RegisterARM::S3,
        RegisterARM::S4,
        RegisterARM::S5,
        RegisterARM::S6,
        RegisterARM::S7,
        RegisterARM::S8,
        RegisterARM::S9,
        RegisterARM::S10,
        RegisterARM::S11,
        RegisterARM::S12,
        RegisterARM::S13,
        RegisterARM::S14,
        RegisterARM::S15,
    ];
    S[i]
}

pub(crate) fn read_u32(uc: &Uc<'_>, addr: u32) -> Option<u32> {
    let mut b = [0u8; 4];
    uc.mem_read(u64::from(addr), &mut b).ok()?;
    Some(u32::from_le_bytes(b))
}

fn write_words(uc: &mut Uc<'_>, addr: u32, words: &[u32]) -> bool {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    uc.mem_write(u64::from(addr), &bytes).is_ok()
}

fn vtor(uc: &Uc<'_>) -> u32 {
    let d = uc.get_data();
    let soc = d.soc.borrow();
    soc.cores[d.idx].scs.vtor
}

/// Describe where the core is, for error reports.
pub fn whereabouts(uc: &Uc<'_>, pc: u32) -> String {
    let sym = uc.get_data().symbols.describe(pc);
    // R0-R12 lead CALL_REGS.
    let regs: Vec<String> = CALL_REGS[..13]
        .iter()
        .enumerate()
        .map(|(i, &r)| format!("r{i}={:#010x}", reg(uc, r)))
        .collect();
    format!(
        "pc={pc:#010x} ({sym}) sp={:#010x} lr={:#010x} xpsr={:#010x} {}",
        reg(uc, RegisterARM::SP),
        reg(uc, RegisterARM::LR),
        reg(uc, RegisterARM::XPSR),
        regs.join(" ")
    )
}

/// Exception entry (PushStack + ExceptionTaken) with `ret` as the stacked return address.
/// Returns Err(description) when the core locks up.
pub fn take_exception(uc: &mut Uc<'_>, n: u32, ret: u32) -> std::result::Result<(), String> {
    let mode = read_mode(uc);
    let has_fpu = uc.get_data().has_fpu;
    let fpca = has_fpu && mode.control & CONTROL_FPCA != 0;
    uc.get_data_mut()
        .flow_changed(ExceptionEvent::Entry { fp: fpca });
    let frame_size = if fpca { 0x68 } else { 0x20 };
    let thread_psp = mode.ipsr() == 0 && mode.control & CONTROL_SPSEL != 0;
    let sp = if thread_psp { mode.psp } else { mode.msp };
    let align = sp & 4 != 0;
    let frame = sp.wrapping_sub(frame_size) & !7;
    let xpsr = (mode.xpsr & !(1 << 9)) | if align { 1 << 9 } else { 0 };
    let mut words = vec![
        reg(uc, RegisterARM::R0),
        reg(uc, RegisterARM::R1),
        reg(uc, RegisterARM::R2),
        reg(uc, RegisterARM::R3),
        reg(uc, RegisterARM::R12),
        reg(uc, RegisterARM::LR),
        ret,
        xpsr,
    ];
    if fpca {
        words.extend((0..16).map(|i| reg(uc, s_reg(i))));
        words.push(reg(uc, RegisterARM::FPSCR));
        words.push(0);
    }
    let stacked = write_words(uc, frame, &words);
    let exc_return = match (mode.ipsr() != 0, thread_psp) {
        (true, _) => 0xFFFF_FFF1,
        (false, false) => 0xFFFF_FFF9,
        (false, true) => 0xFFFF_FFFD,
    } & if fpca { !0x10 } else { !0 };
    let (msp, psp) = if thread_psp {
        (mode.msp, frame)
    } else {
        (frame, mode.psp)
    };
    let target = if stacked {
        n
    } else {
        // A stacking bus error: BusFault (STKERR), escalated like any fault.
        let soc = uc.get_data().soc.clone();
        let m = masks(uc);
        let mut s = soc.borrow_mut();
        let e = &mut s.cores[uc.get_data().idx].scs.exc;
        e.cfsr |= exc::CFSR_STKERR;
        match e.route_fault(exc::BUSFAULT, m) {
            Some(t) => t,
            None => {
                return Err(format!(
                    "stacking at {frame:#010x} failed while entering exception {n}"
                ))
            }
        }
    };
    let table = vtor(uc);
    let Some(vector) = read_u32(uc, table.wrapping_add(4 * target)) else {
        return Err(format!(
            "vector {target} unreadable at {:#010x} (VTOR {table:#010x})",
            table.wrapping_add(4 * target)
        ));
    };
    write_mode(
        uc,
        CpuMode {
            xpsr: (mode.xpsr & 0xF80F_0000) | (1 << 24) | target,
            control: mode.control & !(CONTROL_SPSEL | CONTROL_FPCA),
            msp,
            psp,
        },
    );
    set(uc, RegisterARM::LR, exc_return);
    set(uc, RegisterARM::PC, vector | 1);
    let d = uc.get_data();
    d.soc.borrow_mut().cores[d.idx].scs.exc.activate(target);
    uc.get_data_mut().poll = None;
    Ok(())
}

/// Deliver a synchronous fault: set the status bits, route it (escalating to HardFault), and
/// enter it with the faulting instruction as the return address.
pub fn take_fault(uc: &mut Uc<'_>, kind: FaultKind) -> std::result::Result<(), String> {
    let m = masks(uc);
    let (fault, ret, cfsr, bfar) = match kind {
        FaultKind::Undefined { pc } => (exc::USAGEFAULT, pc, exc::CFSR_UNDEFINSTR, None),
        FaultKind::InvState { pc } => (exc::USAGEFAULT, pc, exc::CFSR_INVSTATE, None),
        FaultKind::InvPc { pc } => (exc::USAGEFAULT, pc, exc::CFSR_INVPC, None),
        FaultKind::DataBus { pc, addr } => (
            exc::BUSFAULT,
            pc,
            exc::CFSR_PRECISERR | exc::CFSR_BFARVALID,
            Some(addr),
        ),
        FaultKind::FetchBus { addr } => (exc::BUSFAULT, addr, exc::CFSR_IBUSERR, None),
        FaultKind::Breakpoint { pc } => (exc::HARDFAULT, pc, 0, None),
    };
    let soc = uc.get_data().soc.clone();
    let idx = uc.get_data().idx;
    let target = {
        let mut s = soc.borrow_mut();
        let e = &mut s.cores[idx].scs.exc;
        e.cfsr |= cfsr;
        if let Some(a) = bfar {
            e.bfar = a;
        }
        if matches!(kind, FaultKind::Breakpoint { .. }) {
            e.hfsr |= exc::HFSR_DEBUGEVT;
        }
        e.route_fault(fault, m)
    };
    match target {
        Some(t) => take_exception(uc, t, ret),
        None => Err(format!(
            "{kind} at priority -1 or above (in HardFault, NMI or with FAULTMASK set)"
        )),
    }
}

/// Exception return (ExceptionReturn + PopStack), with tail-chaining.
fn exception_return(uc: &mut Uc<'_>, exc_return: u32) -> std::result::Result<(), Halt> {
    let mode = read_mode(uc);
    let returning = mode.ipsr();
    let soc = uc.get_data().soc.clone();
    let idx = uc.get_data().idx;
    let has_fpu = uc.get_data().has_fpu;
    let kind = exc_return & 0xF;
    let valid = exc_return | 0x1F == u32::MAX
        && matches!(kind, 0x1 | 0x9 | 0xD)
        && (has_fpu || exc_return & 0x10 != 0)
        && soc.borrow().cores[idx].scs.exc.active[returning as usize];
    if !valid {
        // The stacked return address of an INVPC fault is the EXC_RETURN value itself.
        return take_fault(uc, FaultKind::InvPc { pc: exc_return })
            .map_err(|why| Halt::Lockup(format!("bad EXC_RETURN {exc_return:#010x}: {why}")));
    }
    {
        let mut s = soc.borrow_mut();
        s.cores[idx].scs.exc.deactivate(returning);
    }
    if returning != exc::NMI {
        set(uc, RegisterARM::FAULTMASK, 0);
    }
    let m = masks(uc);
    // Tail-chain: a pending exception that preempts the context we return to is taken with the
    // frame already on the stack.
    let chained = soc.borrow().cores[idx].scs.exc.to_take(m);
    if let Some(n) = chained {
        uc.get_data_mut().flow_changed(ExceptionEvent::TailChain);
        let table = vtor(uc);
        let Some(vector) = read_u32(uc, table.wrapping_add(4 * n)) else {
            return Err(Halt::Lockup(format!(
                "vector {n} unreadable (VTOR {table:#010x})"
            )));
        };
        write_mode(
            uc,
            CpuMode {
                xpsr: (mode.xpsr & !0x1FF) | n,
                ..mode
            },
        );
        set(uc, RegisterARM::LR, exc_return);
        set(uc, RegisterARM::PC, vector | 1);
        soc.borrow_mut().cores[idx].scs.exc.activate(n);
        return Ok(());
    }
    let to_psp = kind == 0xD;
    let frame = if to_psp { mode.psp } else { mode.msp };
    let fp = exc_return & 0x10 == 0;
    uc.get_data_mut().flow_changed(ExceptionEvent::Exit { fp });
    let count = if fp { 26 } else { 8 };
    let mut bytes = vec![0u8; count * 4];
    if uc.mem_read(u64::from(frame), &mut bytes).is_err() {
        return Err(Halt::Lockup(format!(
            "unstacking from {frame:#010x} failed on exception return"
        )));
    }
    let w: Vec<u32> = bytes
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    for (i, r) in [
        RegisterARM::R0,
        RegisterARM::R1,
        RegisterARM::R2,
        RegisterARM::R3,
        RegisterARM::R12,
        RegisterARM::LR,
    ]
    .into_iter()
    .enumerate()
    {
        set(uc, r, w[i]);
    }
    if fp {
        for i in 0..16 {
            set(uc, s_reg(i), w[8 + i]);
        }
        set(uc, RegisterARM::FPSCR, w[24]);
    }
    let psr = w[7];
    let new_sp = frame
        .wrapping_add((count as u32) * 4)
        .wrapping_add(if psr & (1 << 9) != 0 { 4 } else { 0 });
    let (msp, psp) = if to_psp {
        (mode.msp, new_sp)
    } else {
        (new_sp, mode.psp)
    };
    let mut control = mode.control & !(CONTROL_SPSEL | CONTROL_FPCA);
    if to_psp {
        control |= CONTROL_SPSEL;
    }
    if fp {
        control |= CONTROL_FPCA;
    }
    // Returning to thread mode must restore IPSR 0; to handler mode a non-zero IPSR.
    let xpsr = if kind == 0x1 {
        psr & !(1 << 9)
    } else {
        psr & !(1 << 9) & !0x1FF
    };
    write_mode(
        uc,
        CpuMode {
            xpsr,
            control,
            msp,
            psp,
        },
    );
    set(uc, RegisterARM::PC, w[6] | 1);
    // Something still pending (held back by the returning handler, or by PRIMASK/BASEPRI) must
    // be looked at again before the next block: have the block hook stop once.
    let d = uc.get_data();
    if soc.borrow().cores[idx].scs.exc.highest_pending().is_some() {
        d.irq_flag.set(true);
    }
    Ok(())
}

pub(crate) fn halt(uc: &mut Uc<'_>, h: Halt) {
    uc.get_data_mut().halt = Some(h);
    let _ = uc.emu_stop();
}

fn on_interrupt(uc: &mut Uc<'_>, intno: u32) {
    let pc = reg(uc, RegisterARM::PC);
    match intno {
        2 => {
            // SVC: PC is already past the instruction. SVCall must be able to preempt, else
            // it escalates to HardFault (B1.5.6).
            let m = masks(uc);
            let target = {
                let d = uc.get_data();
                let mut s = d.soc.borrow_mut();
                let e = &mut s.cores[d.idx].scs.exc;
                if e.group_priority(exc::SVCALL) < e.execution_priority(m) {
                    Some(exc::SVCALL)
                } else {
                    e.route_fault(exc::HARDFAULT, m)
                        .inspect(|_| e.hfsr |= exc::HFSR_FORCED)
                }
            };
            let r = match target {
                Some(t) => take_exception(uc, t, pc),
                None => Err("SVC at priority -1 or above".into()),
            };
            if let Err(why) = r {
                halt(uc, Halt::Lockup(why));
            }
        }
        7 => {
            let mut hw = [0u8; 2];
            let _ = uc.mem_read(u64::from(pc), &mut hw);
            if u16::from_le_bytes(hw) == 0xBEAB {
                match semihost::call(uc) {
                    semihost::Outcome::Continue => set(uc, RegisterARM::PC, (pc + 2) | 1),
                    semihost::Outcome::Exit(code) => {
                        set(uc, RegisterARM::PC, (pc + 2) | 1);
                        halt(uc, Halt::Exit(code));
                    }
                }
            } else if uc.get_data().debug.attached {
                halt(uc, Halt::Bkpt(pc));
            } else {
                halt(uc, Halt::Fault(FaultKind::Breakpoint { pc }));
            }
        }
        8 => {
            if let Err(h) = exception_return(uc, pc | 1) {
                halt(uc, h);
            }
        }
        3 => halt(uc, Halt::Fault(FaultKind::FetchBus { addr: pc })),
        18 => halt(uc, Halt::Fault(FaultKind::InvState { pc })),
        other => {
            let at = whereabouts(uc, pc);
            halt(
                uc,
                Halt::TwinError(format!("unhandled CPU exception {other} at {at}")),
            );
        }
    }
}

/// Build a core's engine: CPU model first (the M33 trap), then memory, MMIO and hooks.
pub fn new_engine(
    desc: &CoreDesc,
    idx: usize,
    soc: Rc<RefCell<Soc>>,
    symbols: Rc<Symbols>,
    echo: bool,
) -> Result<Engine> {
    let (deadline, irq_flag, ps_per_cycle) = {
        let s = soc.borrow();
        (
            s.cores[idx].deadline.clone(),
            s.cores[idx].irq_flag.clone(),
            s.ps_per_cycle(idx),
        )
    };
    let timing = match desc.cycles_per_insn {
        Some(n) => Timing::Flat(n),
        None => Timing::Model(CpuTiming::builtin(desc.model)),
    };
    let data = CoreData {
        idx,
        name: desc.name.clone(),
        soc,
        model: desc.model,
        has_fpu: desc.fpu != Fpu::None,
        ps_per_cycle,
        timing,
        ram_wait: desc
            .memory
            .iter()
            .filter(|w| w.wait_states > 0)
            .map(|w| (w.base, w.size, w.wait_states))
            .collect(),
        peripheral_wait: desc.peripheral_wait_states,
        link: Link::default(),
        joins: timing.joins(),
        before: Before::default(),
        run_start: 0,
        run_cycles: 0,
        stack_paint: (0, 0),
        ram: Vec::new(),
        exec_pages: Default::default(),
        capture: false,
        captured: Vec::new(),
        deadline,
        irq_flag,
        poll: None,
        halt: None,
        insns: 0,
        cycles: 0,
        unmapped: None,
        costs: BlockCosts::default(),
        block: (0, 0, 0),
        debug: Default::default(),
        counting: false,
        handle: std::ptr::null_mut(),
        semihost: Semihost::new(echo),
        symbols,
    };
    let what = || format!("core {}", desc.name);
    let mut uc = Unicorn::new_with_data(Arch::ARM, Mode::THUMB, data).uc(what)?;
    let model = match desc.model {
        CpuModel::CortexM7 => ArmCpuModel::CORTEX_M7,
        CpuModel::CortexM4 => ArmCpuModel::CORTEX_M4,
    };
    uc.ctl_set_cpu_model(model as i32).uc(what)?;
    uc.ctl_set_tlb_type(unicorn_engine::TlbType::VIRTUAL)
        .uc(what)?;
    uc.add_tlb_hook(1, 0, fill_tlb).uc(what)?;

    let handle = uc.get_handle();
    let data: *mut CoreData = uc.get_data_mut();
    // SAFETY: `data` is set once here; the engine owns the data for its whole life.
    unsafe { (*data).handle = handle };
    let mut id: unicorn_engine::hook::uc_hook = 0;
    // SAFETY: `block_hook` has the UC_HOOK_BLOCK signature; `data` outlives the hook (both
    // belong to the engine); range 1..0 covers all code.
    let r = unsafe {
        unicorn_engine::hook::sys::uc_hook_add(
            handle,
            &raw mut id,
            HookType::BLOCK.0 as i32,
            block_hook as *mut std::ffi::c_void,
            data.cast(),
            1,
            0,
        )
    };
    r.and(Ok(())).uc(what)?;

    uc.add_intr_hook(on_interrupt).uc(what)?;

    uc.add_insn_invalid_hook(|uc| {
        let pc = reg(uc, RegisterARM::PC);
        let mut hw = [0u8; 2];
        let prev = uc
            .mem_read(u64::from(pc.wrapping_sub(2)), &mut hw)
            .map(|_| u16::from_le_bytes(hw))
            .unwrap_or(0);
        match prev {
            // WFE: sleep until an event; YIELD: a hint, go on.
            0xBF20 => {
                uc.get_data_mut().halt = Some(Halt::Wfe);
                let _ = uc.emu_stop();
                true
            }
            0xBF10 => true,
            _ => {
                uc.get_data_mut().halt = Some(Halt::Fault(FaultKind::Undefined { pc }));
                false
            }
        }
    })
    .uc(what)?;

    Ok(uc)
}

/// Watch every access to an address no region maps, recording it for the fault report. Called
/// once the map is complete: the hooks cover only the gaps between regions. (Unicorn 2.1.x
/// keeps a RAM page's TLB entry "not dirty", sending every store to it through the slow path
/// of `store_helper` and `notdirty_write`, while any memory hook's range covers the page,
/// unmapped-access hooks included: `uc_mem_hook_installed` in qemu/include/exec/exec-all.h.
/// One hook over the whole space made every guest store slow.)
pub fn watch_unmapped(uc: &mut Uc<'_>) -> Result<()> {
    let what = format!("core {}: unmapped-access hooks", uc.get_data().name);
    let mut regions: Vec<(u64, u64)> = uc
        .mem_regions()
        .uc(|| what.clone())?
        .iter()
        .map(|r| (r.begin, r.end))
        .collect();
    regions.sort_unstable();
    let mut gaps = Vec::new();
    let mut next = 0u64;
    for (begin, end) in regions {
        if begin > next {
            gaps.push((next, begin - 1));
        }
        next = next.max(end + 1);
    }
    if next <= 0xFFFF_FFFF {
        gaps.push((next, 0xFFFF_FFFF));
    }
    for (begin, end) in gaps {
        uc.add_mem_hook(
            HookType::MEM_UNMAPPED,
            begin,
            end,
            |uc, ty, addr, _size, _value| {
                uc.get_data_mut().unmapped = Some((addr as u32, ty == MemType::FETCH_UNMAPPED));
                false
            },
        )
        .uc(|| what.clone())?;
    }
    Ok(())
}

/// Charge the wait states of data accesses to RAM windows that have them (board file
/// `wait_states`): a memory hook over each such window only. A hook's range sends the guest's
/// loads and stores to those pages through Unicorn's slow path (see [`watch_unmapped`]), so a
/// board that sets no data wait states pays nothing; one that does pays for the accesses to
/// those windows (the emulator bench measures it).
pub fn watch_wait_states(uc: &mut Uc<'_>) -> Result<()> {
    let windows = uc.get_data().ram_wait.clone();
    let handle = uc.get_handle();
    let data: *mut CoreData = uc.get_data_mut();
    for (base, size, _) in windows {
        let mut id: unicorn_engine::hook::uc_hook = 0;
        // SAFETY: `wait_hook` has the UC_HOOK_MEM_READ/WRITE signature; `data` outlives the
        // hook (both belong to the engine).
        let r = unsafe {
            unicorn_engine::hook::sys::uc_hook_add(
                handle,
                &raw mut id,
                (HookType::MEM_READ | HookType::MEM_WRITE).0 as i32,
                wait_hook as *mut std::ffi::c_void,
                data.cast(),
                u64::from(base),
                u64::from(base) + u64::from(size) - 1,
            )
        };
        r.and(Ok(())).uc(|| {
            format!(
                "core {}: wait-state hook at {base:#010x}",
                uc.get_data().name
            )
        })?;
    }
    Ok(())
}

/// A data access to a RAM window with wait states: charge them.
///
/// # Safety
/// As for [`block_hook`].
unsafe extern "C" fn wait_hook(
    _uc: *mut unicorn_engine::hook::uc_engine,
    _ty: i32,
    addr: u64,
    _size: i32,
    _value: i64,
    data: *mut std::ffi::c_void,
) {
    // SAFETY: the caller's contract.
    let d = unsafe { &mut *data.cast::<CoreData>() };
    let cycles = wait_at(&d.ram_wait, addr as u32);
    d.wait(cycles);
}

/// A read of the SoC at (core, address, size, virtual time, IPSR).
type SocRead =
    fn(&mut Soc, usize, u32, usize, Ps, u32) -> std::result::Result<u32, crate::soc::BusError>;
/// A write to the SoC at (core, address, size, value, virtual time).
type SocWrite =
    fn(&mut Soc, usize, u32, usize, u32, Ps) -> std::result::Result<(), crate::soc::BusError>;

/// Map `size` bytes at `base` as MMIO served by the SoC through `read` / `write`; an access the
/// SoC refuses stops the run with a twin error naming the block holding the access.
/// `bus_wait`: the access costs the core's `peripheral_wait` cycles (peripherals beyond the
/// core's private bus).
fn map_mmio(
    uc: &mut Uc<'_>,
    base: u32,
    size: u32,
    bus_wait: bool,
    read: SocRead,
    write: SocWrite,
) -> Result<()> {
    let base64 = u64::from(base);
    uc.mmio_map(
        base64,
        u64::from(size),
        Some(move |uc: &mut Uc<'_>, off: u64, size: usize| {
            let addr = (base64 + off) as u32;
            let ipsr = reg(uc, RegisterARM::IPSR) & 0x1FF;
            let (idx, now, soc) = {
                let d = uc.get_data_mut();
                if bus_wait {
                    d.wait(d.peripheral_wait);
                }
                (d.idx, d.now(), d.soc.clone())
            };
            let r = read(&mut soc.borrow_mut(), idx, addr, size, now, ipsr);
            match r {
                Ok(v) => u64::from(v),
                Err(e) => {
                    let at = whereabouts(uc, reg(uc, RegisterARM::PC));
                    halt(uc, Halt::TwinError(format!("read: {e}, {MMIO_PC} {at}")));
                    0
                }
            }
        }),
        Some(move |uc: &mut Uc<'_>, off: u64, size: usize, value: u64| {
            let addr = (base64 + off) as u32;
            let (idx, now, soc) = {
                let d = uc.get_data_mut();
                if bus_wait {
                    d.wait(d.peripheral_wait);
                }
                (d.idx, d.now(), d.soc.clone())
            };
            let r = write(&mut soc.borrow_mut(), idx, addr, size, value as u32, now);
            if let Err(e) = r {
                let at = whereabouts(uc, reg(uc, RegisterARM::PC));
                halt(uc, Halt::TwinError(format!("write: {e}, {MMIO_PC} {at}")));
            }
        }),
    )
    .uc(|| format!("mapping MMIO at {base:#010x}"))
}

/// Map the PPB (0xE000_0000..0xE010_0000) as MMIO served by this core's SCS.
pub fn map_ppb(uc: &mut Uc<'_>) -> Result<()> {
    map_mmio(
        uc,
        0xE000_0000,
        0x10_0000,
        false,
        Soc::ppb_read,
        Soc::ppb_write,
    )
}

/// Map one peripheral space as MMIO served by the SoC bus.
pub fn map_space(uc: &mut Uc<'_>, base: u32, size: u32) -> Result<()> {
    map_mmio(
        uc,
        base,
        size,
        true,
        |soc, core, addr, size, now, _ipsr| soc.periph_read(core, addr, size, now),
        Soc::periph_write,
    )
}

/// Reset the CPU to boot from the vector table at `vtor`: MSP = [vtor], PC = [vtor + 4].
pub fn boot(uc: &mut Uc<'_>, vtor: u32) -> Result<()> {
    let name = uc.get_data().name.clone();
    let sp = read_u32(uc, vtor).ok_or_else(|| {
        Error::Usage(format!(
            "core {name}: no vector table at {vtor:#010x} (nothing mapped there)"
        ))
    })?;
    let pc = read_u32(uc, vtor + 4).unwrap_or(0);
    if pc & 1 == 0 {
        return Err(Error::Usage(format!(
            "core {name}: reset vector {pc:#010x} at {:#010x} is not a Thumb address",
            vtor + 4
        )));
    }
    {
        let d = uc.get_data();
        let mut s = d.soc.borrow_mut();
        s.reset_core(d.idx);
        s.cores[d.idx].scs.vtor = vtor;
    }
    for &r in &CALL_REGS[..13] {
        set(uc, r, 0);
    }
    set(uc, RegisterARM::PRIMASK, 0);
    set(uc, RegisterARM::BASEPRI, 0);
    set(uc, RegisterARM::FAULTMASK, 0);
    write_mode(
        uc,
        CpuMode {
            xpsr: 1 << 24,
            control: 0,
            msp: sp & !3,
            psp: 0,
        },
    );
    set(uc, RegisterARM::LR, 0xFFFF_FFFF);
    set(uc, RegisterARM::PC, pc);
    let d = uc.get_data_mut();
    d.poll = None;
    d.halt = None;
    Ok(())
}

pub fn pc(uc: &Uc<'_>) -> u32 {
    reg(uc, RegisterARM::PC)
}

/// Is the instruction just before `pc` a WFI (16-bit 0xBF30 or 32-bit 0xF3AF 0x8003)?
pub fn after_wfi(uc: &Uc<'_>, pc: u32) -> bool {
    let mut b = [0u8; 4];
    if uc.mem_read(u64::from(pc.wrapping_sub(4)), &mut b).is_err() {
        return false;
    }
    let hw1 = u16::from_le_bytes([b[0], b[1]]);
    let hw2 = u16::from_le_bytes([b[2], b[3]]);
    hw2 == 0xBF30 || (hw1 == 0xF3AF && hw2 == 0x8003)
}

/// Run the engine from the current PC until a hook halts it (or it returns by itself); with
/// `count` non-zero, for at most that many instructions (a debugger's step: Unicorn flushes
/// its translations when counting starts and when it stops).
pub fn run_engine(
    uc: &mut Uc<'_>,
    start: Ps,
    count: usize,
) -> std::result::Result<(), unicorn_engine::uc_error> {
    let d = uc.get_data_mut();
    d.run_start = start;
    d.run_cycles = 0;
    d.halt = None;
    d.unmapped = None;
    d.block = (0, 0, 0);
    resume_engine(uc, count)
}

/// Go on from the current PC without resetting the run's accounting (a hosted call the
/// debugger stopped); `count` as for [`run_engine`].
pub fn resume_engine(
    uc: &mut Uc<'_>,
    count: usize,
) -> std::result::Result<(), unicorn_engine::uc_error> {
    let d = uc.get_data_mut();
    let first_count = count > 0 && !d.counting;
    d.counting = count > 0;
    if first_count {
        // Unicorn installs its counting hook without dropping the translations made without
        // it (uc.c `uc_emu_start`; it does drop them when counting stops): they would run
        // uncounted.
        uc.ctl_flush_tb()?;
    }
    let pc = reg(uc, RegisterARM::PC);
    uc.emu_start(u64::from(pc | 1), u64::from(UNTIL), 0, count)
}

/// Translated blocks must be dropped when code is written behind Unicorn's back.
pub fn flush(uc: &mut Uc<'_>) {
    let _ = uc.ctl_flush_tb();
    uc.get_data_mut().costs.clear();
}

/// Map a RAM window of a host buffer into the engine.
///
/// # Safety
/// `ptr` must stay valid for `size` bytes for as long as the engine lives.
pub unsafe fn map_ram(uc: &mut Uc<'_>, base: u32, size: u32, ptr: *mut u8) -> Result<()> {
    unsafe { uc.mem_map_ptr(u64::from(base), u64::from(size), Prot::ALL, ptr.cast()) }
        .uc(|| format!("mapping RAM at {base:#010x}"))?;
    uc.get_data_mut().ram.push((base, size));
    Ok(())
}
