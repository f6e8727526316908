//! Hosting synth output on an emulated core, as gale/kiln would: the relocatable object is linked
//! in process into the core's code TCM, the embedder init is done from the companion `.wasm`,
//! R9/R10/R11 are set per synth's embedder ABI (reference/pulseengine.md section 1), imports are
//! trampolines serviced by Rust host functions, and exports are called from the host.
//!
//! Layout (per the board file's `hosting` section of the core):
//! - code window: the linked image, then one 4-byte trampoline per import and per run-time ABI
//!   helper the object calls (`bx lr; nop`), then the return stub (`b .`) that export calls
//!   return to;
//! - first data window: the globals table (R9) at its base, the stack at its top;
//! - linear memory (R11, R10 = its size in bytes): after the globals when it fits below the
//!   stack, else in the first later data window large enough;
//!   A memory larger than any one window runs on through the windows that follow it on the bus
//!   (OCRAM1, OCRAM2, their ECC areas and OCRAM M7 are one 1.75 MB range on the RT1176); with
//!   `Options::memory_cap` only that much is placed and R10 is the cap;
//! - the funcref tables, when the module has them, as raw code pointers at R11 + 0, one after
//!   the other (synth's #650 layout: table N after the entries of tables 0..N; wasm addresses
//!   [0, 4 x entries) alias them), then the entries' type ids when the object carries
//!   `.synth.table_type_ids` (#676). A table entry naming a function synth left out of the
//!   object (it compiles only what is called directly) points at a stub that stops a call
//!   reaching it with an error naming the function.

pub mod abi;
pub mod host;
pub mod hw;
pub mod link;
pub mod runtime;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Serialize;
use unicorn_engine::{uc_error, RegisterARM};

use crate::wasm::{Val, ValType, WasmModule};
use abi::Loc;
use host::{HostFns, HostFunc, HostMem};
use link::RelObject;
use twin_machine::board::{Board, Window};
use twin_machine::core::{self, Halt, Uc};
use twin_machine::debug;
use twin_machine::error::{Error, Result};
use twin_machine::machine::{Config, Machine, Resume, Stop};
use twin_machine::symbols::Symbols;

/// Stack painted before each export call to find its high-water mark.
const PAINT: u32 = 0xC5C5_C5C5;
const TRAMPOLINE: [u8; 4] = [0x70, 0x47, 0x00, 0xBF]; // bx lr ; nop
/// Where an export returns to: `wfi` ends `emu_start` (PC after it; reference/unicorn.md), so a
/// call needs no `until` address. (Unicorn translates the block at `until` again after every
/// `emu_start`, softmmu/cpus.c `resume_all_vcpus`, and each translation walks the whole TLB in
/// `tlb_reset_dirty_by_vaddr`: a call with `until` at the stub cost a translation.) The `wfi`
/// is the twin's, not the export's: the call takes its instruction and cycles back.
const RETURN_STUB: [u8; 4] = [0x30, 0xBF, 0xFE, 0xE7]; // wfi ; b .
/// Never executed: a gap between the code and the return stub.
const STUB_GUARD: [u8; 4] = [0x00, 0xDE, 0x00, 0xDE]; // udf #0 ; udf #0

#[derive(Debug, Clone)]
pub struct Options {
    pub stack_bytes: u32,
    /// Budget per export call, in the core's cycles.
    pub max_cycles: u64,
    /// Run with FPSCR.DN = 1 (default-NaN mode: every NaN result is 0x7FC0_0000 /
    /// 0x7FF8_0000_0000_0000). The reset value is DN = 0 (NaN payloads propagate); wasm leaves
    /// NaN sign and payload nondeterministic, and the differential pairs DN = 1 with wasmtime's
    /// NaN canonicalisation so that floats stored to memory compare bit for bit.
    pub default_nan: bool,
    /// Place only this many bytes of linear memory and run with R10 = the cap, as a deployment
    /// that gives the module less memory than it declares does: an access beyond the cap traps
    /// in synth's bounds check. None: the memory the module declares.
    pub memory_cap: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stack_bytes: 32 * 1024,
            max_cycles: 2_000_000_000,
            default_nan: true,
            memory_cap: None,
        }
    }
}

/// synth's type-id sidecar of the funcref tables (#676): one u32 per table entry, copied
/// verbatim after the tables' pointers.
const TYPE_IDS_SECTION: &str = ".synth.table_type_ids";

/// synth's section of wasm memory N (N >= 1, multi-memory: `.synth.wasm_mem_1`...), its data
/// initialised, addressed through `__synth_wasm_data_N` (synth #406).
const MEMORY_SECTION: &str = ".synth.wasm_mem_";

/// FPSCR.DN (ARMv7-M A2.5.3).
const FPSCR_DN: u32 = 1 << 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub code_base: u32,
    pub code_size: u32,
    pub trampolines: u32,
    pub return_stub: u32,
    pub globals: u32,
    pub globals_size: u32,
    pub linmem: u32,
    /// The module's memory 0 in bytes (what is compared; 0 without a memory).
    pub linmem_size: u32,
    /// The R10 value the code runs with: `linmem_size` for relocatable objects, whatever the
    /// Reset_Handler set for self-contained images.
    pub r10: u32,
    /// Bytes at R11 + 0 holding the funcref tables and their type ids (0 without tables). The
    /// region placed at R11 is the larger of this and `linmem_size`.
    pub table_region: u32,
    pub stack_bottom: u32,
    pub stack_top: u32,
}

/// The free space of a board's RAMs when several modules share them: the first free byte
/// offset in each RAM, by the RAM's name (so that the cores' views of a shared RAM, OCRAM
/// for one, allocate from one place). [`Module::link_in`] takes each module's code, globals,
/// stack and linear memory from it, one after the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arena {
    pub next: BTreeMap<String, u32>,
    /// One call stack per core for every module linked on it, as one runtime calling the
    /// modules' exports one at a time has (falcon's leaves on the CM7): the first module's
    /// stack serves the next ones on that core (one asking for a larger stack is refused).
    /// Off: each module gets its own.
    pub share_stacks: bool,
    /// Each core's shared stack: (bottom, top).
    stacks: BTreeMap<usize, (u32, u32)>,
}

impl Arena {
    /// The first free address of window `w`.
    fn at(&self, w: &twin_machine::board::Window) -> u32 {
        w.base
            + self
                .next
                .get(&w.ram)
                .map_or(0, |o| o.saturating_sub(w.offset))
    }
    /// Everything in `w` below `addr` is taken.
    fn take_to(&mut self, w: &twin_machine::board::Window, addr: u32) {
        self.next.insert(w.ram.clone(), w.offset + (addr - w.base));
    }

    /// Keep the `len` bytes at `addr` of core `core`'s map, and what lies below them in that
    /// RAM, from the modules linked after: a region a runtime uses itself (the NavState
    /// mailbox in OCRAM2, for one).
    pub fn reserve(&mut self, machine: &Machine, core: usize, addr: u32, len: u32) -> Result<()> {
        let desc = &machine.board.cores[core];
        let w = desc
            .memory
            .iter()
            .find(|w| addr >= w.base && u64::from(addr) + u64::from(len) <= end(w))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "[{addr:#x}, +{len:#x}) lies in no RAM window of core {}",
                    desc.name
                ))
            })?;
        let top = w.offset + (addr - w.base) + len;
        let next = self.next.entry(w.ram.clone()).or_insert(0);
        *next = (*next).max(top);
        Ok(())
    }
}

/// A wasm trap (or fault) seen on the ARM side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArmTrap {
    /// A UDF instruction (synth's trap): `imm` 0 for most traps, 1 for signed-division overflow.
    Udf { imm: u16, pc: u32, function: String },
    /// An access to unmapped memory (no bounds checks compiled in).
    MemoryFault {
        addr: u32,
        pc: u32,
        function: String,
    },
    /// The call did not return within the cycle budget.
    Timeout { cycles: u64 },
    /// The call used its whole stack (the paint's lowest word was overwritten): it ran on
    /// into what lies below the stack and ended there (`ended`: how), or returned having
    /// overwritten it.
    StackOverflow { bytes: u32, ended: String },
    /// A host function refused the call.
    Host { message: String },
}

impl std::fmt::Display for ArmTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmTrap::Udf { imm, pc, function } => {
                write!(f, "udf #{imm} at {pc:#010x} ({function})")
            }
            ArmTrap::MemoryFault { addr, pc, function } => {
                write!(
                    f,
                    "memory fault at {addr:#010x} from {pc:#010x} ({function})"
                )
            }
            ArmTrap::Timeout { cycles } => write!(f, "no return within {cycles} cycles"),
            ArmTrap::StackOverflow { bytes, ended } => {
                write!(
                    f,
                    "stack overflow: all {bytes} B of the stack used, then {ended}"
                )
            }
            ArmTrap::Host { message } => write!(f, "host error: {message}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub result: std::result::Result<Vec<Val>, ArmTrap>,
    pub instructions: u64,
    pub cycles: u64,
    /// Stack bytes the callee used below its entry SP (painted stack).
    pub stack_bytes: u32,
}

/// synth's `.stack.json` (synth-stack-v1) entry for a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum StackBound {
    Bounded(u32),
    Declined(String),
}

/// What a trampoline leads to.
enum Target {
    /// A wasm import served by a host function (AAPCS-VFP).
    Import(HostFunc),
    /// A run-time ABI helper (base PCS, core registers only).
    Runtime(runtime::Helper),
    /// A table entry's function that synth left out of the object (wasm function index).
    Missing(u32),
}

/// The offset of the first 4-byte word of `bytes` that is not [`PAINT`] (whole words only).
fn first_unpainted(bytes: &[u8]) -> Option<usize> {
    let pair = u64::from(PAINT) << 32 | u64::from(PAINT);
    let eights = bytes.chunks_exact(8);
    let at = eights
        .clone()
        .position(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) != pair)
        .map_or(bytes.len() / 8 * 8, |i| i * 8);
    bytes[at..]
        .chunks_exact(4)
        .position(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")) != PAINT)
        .map(|i| at + 4 * i)
}

/// Everything a trampoline needs, shared with the code hook.
struct Bridge {
    trampolines: u32,
    targets: Vec<(String, Target)>,
    regs: [u32; 3],
    symbols: Rc<Symbols>,
}

struct ArmMem<'a, 'b> {
    uc: &'a mut Uc<'b>,
    base: u32,
    size: u32,
}

impl HostMem for ArmMem<'_, '_> {
    fn hw(&mut self) -> Option<host::HwCtx> {
        let d = self.uc.get_data();
        Some(host::HwCtx {
            soc: Rc::clone(&d.soc),
            core: d.idx,
            now: d.now(),
        })
    }
    fn stall(&mut self, t: twin_machine::time::Ps) {
        let d = self.uc.get_data_mut();
        let n = t.div_ceil(d.ps_per_cycle);
        d.run_cycles += n;
        d.cycles += n;
    }
    fn size(&self) -> u32 {
        self.size
    }
    fn read(&mut self, ptr: u32, len: u32) -> std::result::Result<Vec<u8>, String> {
        host::check_range(ptr, len, self.size)?;
        let mut v = vec![0; len as usize];
        self.uc
            .mem_read(u64::from(self.base) + u64::from(ptr), &mut v)
            .map_err(|e| format!("{e:?}"))?;
        Ok(v)
    }
    fn write(&mut self, ptr: u32, data: &[u8]) -> std::result::Result<(), String> {
        host::check_range(ptr, data.len() as u32, self.size)?;
        self.uc
            .mem_write(u64::from(self.base) + u64::from(ptr), data)
            .map_err(|e| format!("{e:?}"))
    }
}

fn reg(uc: &Uc<'_>, r: RegisterARM) -> u32 {
    uc.reg_read(r).unwrap_or(0) as u32
}

fn core_reg(n: u8) -> RegisterARM {
    [
        RegisterARM::R0,
        RegisterARM::R1,
        RegisterARM::R2,
        RegisterARM::R3,
    ][n as usize]
}

fn s_reg(n: u8) -> RegisterARM {
    core::s_reg(usize::from(n))
}

fn read_word(uc: &Uc<'_>, addr: u32) -> u32 {
    let mut b = [0u8; 4];
    let _ = uc.mem_read(u64::from(addr), &mut b);
    u32::from_le_bytes(b)
}

/// Read a value from its AAPCS-VFP location (`sp` for stack slots).
fn get_val(uc: &Uc<'_>, ty: ValType, loc: Loc, sp: u32) -> Val {
    let w = |l: u32, h: u32| (u64::from(h) << 32) | u64::from(l);
    match (ty, loc) {
        (ValType::I32, Loc::Core(r)) => Val::I32(reg(uc, core_reg(r))),
        (ValType::I64, Loc::CorePair(r)) => {
            Val::I64(w(reg(uc, core_reg(r)), reg(uc, core_reg(r + 1))))
        }
        (ValType::F32, Loc::S(s)) => Val::F32(reg(uc, s_reg(s))),
        (ValType::F64, Loc::D(d)) => Val::F64(w(reg(uc, s_reg(2 * d)), reg(uc, s_reg(2 * d + 1)))),
        (ValType::I32, Loc::Stack(o)) => Val::I32(read_word(uc, sp + o)),
        (ValType::F32, Loc::Stack(o)) => Val::F32(read_word(uc, sp + o)),
        (ValType::I64, Loc::Stack(o)) => {
            Val::I64(w(read_word(uc, sp + o), read_word(uc, sp + o + 4)))
        }
        (ValType::F64, Loc::Stack(o)) => {
            Val::F64(w(read_word(uc, sp + o), read_word(uc, sp + o + 4)))
        }
        _ => Val::zero(ty),
    }
}

/// Write a value to its AAPCS-VFP location.
fn set_val(uc: &mut Uc<'_>, v: Val, loc: Loc, sp: u32) {
    let lo = v.bits() as u32;
    let hi = (v.bits() >> 32) as u32;
    let set = |uc: &mut Uc<'_>, r: RegisterARM, x: u32| {
        let _ = uc.reg_write(r, u64::from(x));
    };
    match loc {
        Loc::Core(r) => set(uc, core_reg(r), lo),
        Loc::CorePair(r) => {
            set(uc, core_reg(r), lo);
            set(uc, core_reg(r + 1), hi);
        }
        Loc::S(s) => set(uc, s_reg(s), lo),
        Loc::D(d) => {
            set(uc, s_reg(2 * d), lo);
            set(uc, s_reg(2 * d + 1), hi);
        }
        Loc::Stack(o) => {
            let bytes: Vec<u8> = match v.ty() {
                ValType::I32 | ValType::F32 => lo.to_le_bytes().to_vec(),
                _ => v.bits().to_le_bytes().to_vec(),
            };
            let _ = uc.mem_write(u64::from(sp + o), &bytes);
        }
    }
}

fn abi_regs(uc: &Uc<'_>) -> [u32; 3] {
    [
        reg(uc, RegisterARM::R9),
        reg(uc, RegisterARM::R10),
        reg(uc, RegisterARM::R11),
    ]
}

/// The code hook on the trampoline range: one import per 4-byte stub.
fn on_trampoline(uc: &mut Uc<'_>, addr: u64, bridge: &Bridge) {
    let i = ((addr as u32 - bridge.trampolines) / 4) as usize;
    let Some((name, target)) = bridge.targets.get(i) else {
        return;
    };
    let lr = reg(uc, RegisterARM::LR);
    let caller = bridge.symbols.describe(lr.wrapping_sub(4));
    let halt = |uc: &mut Uc<'_>, msg: String| {
        uc.get_data_mut().halt = Some(Halt::TwinError(msg));
        let _ = uc.emu_stop();
    };
    let now = abi_regs(uc);
    if now != bridge.regs {
        let msg = format!(
            "embedder ABI violation: R9/R10/R11 = {:#010x}/{:#010x}/{:#010x}, expected {:#010x}/{:#010x}/{:#010x}, on entry to import {name} called from {caller}",
            now[0], now[1], now[2], bridge.regs[0], bridge.regs[1], bridge.regs[2]
        );
        return halt(uc, msg);
    }
    let h = match target {
        Target::Runtime(helper) => {
            helper(uc);
            let _ = uc.reg_write(RegisterARM::PC, u64::from(lr));
            return;
        }
        Target::Import(h) => h,
        Target::Missing(f) => {
            let msg = format!(
                "call_indirect reached {name}: a funcref table entry names wasm function {f}, which synth left out of the object (it compiles only functions something calls directly); called from {caller}"
            );
            return halt(uc, msg);
        }
    };
    let sp = reg(uc, RegisterARM::SP);
    let (locs, _) = abi::assign_params(&h.ty.params);
    let args: Vec<Val> =
        h.ty.params
            .iter()
            .zip(&locs)
            .map(|(t, l)| get_val(uc, *t, *l, sp))
            .collect();
    let result = {
        let mut mem = ArmMem {
            base: bridge.regs[2],
            size: bridge.regs[1],
            uc: &mut *uc,
        };
        (h.f)(&mut mem, &args)
    };
    match result {
        Ok(results) => {
            if let Some(v) = results.first() {
                set_val(uc, *v, abi::result_loc(v.ty()), sp);
            }
            let _ = uc.reg_write(RegisterARM::PC, u64::from(lr));
        }
        Err(e) => {
            uc.get_data_mut().halt = Some(Halt::HostError(format!(
                "host function {name} (called from {caller}): {e}"
            )));
            let _ = uc.emu_stop();
        }
    }
}

/// A core's hosting section and its memory windows by name.
fn hosting_windows(
    machine: &Machine,
    core: usize,
) -> Result<(
    twin_machine::board::Hosting,
    BTreeMap<String, twin_machine::board::Window>,
)> {
    let desc = &machine.board.cores[core];
    let hosting = desc.hosting.clone().ok_or_else(|| {
        Error::Usage(format!(
            "core {} has no hosting section in the board file",
            desc.name
        ))
    })?;
    let windows = desc
        .memory
        .iter()
        .map(|w| (w.name.clone(), w.clone()))
        .collect();
    Ok((hosting, windows))
}

/// One past a window's last address.
fn end(w: &Window) -> u64 {
    u64::from(w.base) + u64::from(w.size)
}

/// Where `n` bytes of linear memory go among `windows` (a core's data windows after the first,
/// in the board file's order of preference): at the first free byte of a window (all of it
/// without an arena), running on through the windows that follow it in the list when each
/// starts where the one before ends on the bus and nothing has been taken from it. The address
/// and the windows the memory reaches; or, when it fits nowhere, the largest run there was.
fn place_linmem(
    windows: &[Window],
    arena: Option<&Arena>,
    n: u32,
) -> std::result::Result<(u32, Vec<Window>), u64> {
    let free_at = |w: &Window| arena.map_or(w.base, |a| a.at(w));
    let need = |at: u32| u64::from(at) + u64::from(n);
    let mut largest = 0;
    for (i, first) in windows.iter().enumerate() {
        let at = free_at(first);
        let mut reached = vec![first.clone()];
        let mut stop = end(first);
        for w in &windows[i + 1..] {
            if stop >= need(at) || u64::from(w.base) != stop || free_at(w) != w.base {
                break;
            }
            stop = end(w);
            reached.push(w.clone());
        }
        if stop >= need(at) {
            return Ok((at, reached));
        }
        largest = largest.max(stop.saturating_sub(u64::from(at)));
    }
    Err(largest)
}

/// One linked program on one core of a machine: its layout, exports and stack bounds. Methods
/// that run code take the machine (several modules can share one, one per core).
pub struct Module {
    pub core: usize,
    pub wasm: Rc<WasmModule>,
    pub layout: Layout,
    pub exports: BTreeMap<String, u32>,
    /// Exports of the module the object does not define: synth left them out (it declines
    /// what it cannot compile exactly; `--allow-skipped-exports` keeps the rest).
    pub skipped: Vec<String>,
    /// Why synth left functions out, by name, when its warnings were kept
    /// ([`crate::synth::Compiled`]; empty for an object the user compiled).
    pub skip_reasons: BTreeMap<String, String>,
    pub stack_bounds: BTreeMap<String, StackBound>,
    symbols: Rc<Symbols>,
    options: Options,
    /// Linear memory as the embedder init left it (for [`Module::memory_touched`]).
    initial_memory: Vec<u8>,
    /// The stack as read back after a call, kept for the next (the high-water scan).
    scan: Vec<u8>,
    /// Memories 1.. (multi-memory): where synth's `.synth.wasm_mem_N` section was placed and
    /// its size, by memory index; None for a memory the object has no section for.
    pub extra_memories: Vec<Option<(u32, u32)>>,
}

impl Module {
    /// Link `object` (synth `--relocatable` output for `wasm`) onto core `core_name` of
    /// `machine`.
    pub fn link(
        machine: &mut Machine,
        core_name: &str,
        wasm: WasmModule,
        object: &RelObject,
        hostfns: &HostFns,
        options: Options,
    ) -> Result<Module> {
        Self::link_with(machine, core_name, wasm, object, hostfns, options, None)
    }

    /// Link like [`Module::link`], next to the modules already on the core: code, globals,
    /// stack (`options.stack_bytes`) and linear memory come from `arena`, which moves past
    /// them. Linear memory goes in the first data window with room for it.
    pub fn link_in(
        machine: &mut Machine,
        core_name: &str,
        wasm: WasmModule,
        object: &RelObject,
        hostfns: &HostFns,
        options: Options,
        arena: &mut Arena,
    ) -> Result<Module> {
        Self::link_with(
            machine,
            core_name,
            wasm,
            object,
            hostfns,
            options,
            Some(arena),
        )
    }

    fn link_with(
        machine: &mut Machine,
        core_name: &str,
        wasm: WasmModule,
        object: &RelObject,
        hostfns: &HostFns,
        options: Options,
        mut arena: Option<&mut Arena>,
    ) -> Result<Module> {
        let usage = |m: String| Error::Usage(m);
        let obj_err = |m: String| Error::image(&object.path, m);
        let core = machine.core_index(core_name)?;
        let (hosting, windows) = hosting_windows(machine, core)?;
        let window = |name: &str| windows[name].clone();

        // Imports: the object calls each by its field name.
        let bound = hostfns
            .bind(&wasm.imports)
            .map_err(|m| Error::image(&wasm.path, m))?;
        let undefined = object.undefined();
        let mut by_field: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, imp) in wasm.imports.iter().enumerate() {
            if by_field.insert(&imp.field, i).is_some() {
                return Err(Error::image(
                    &wasm.path,
                    format!(
                        "two imports share the field name {:?}: synth's objects name imports by field only",
                        imp.field
                    ),
                ));
            }
        }
        // Undefined symbols that are not imports must be run-time ABI helpers.
        let mut helpers: Vec<(String, runtime::Helper)> = Vec::new();
        let mut unknown = Vec::new();
        for u in undefined
            .iter()
            .filter(|u| !by_field.contains_key(u.as_str()))
        {
            match runtime::lookup(u) {
                Some(h) => helpers.push((u.clone(), h)),
                None => unknown.push(u.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(obj_err(format!(
                "undefined symbols that are neither imports of {} nor run-time ABI helpers the twin provides: {unknown:?}",
                wasm.path
            )));
        }
        // Code: image, trampolines, return stub.
        let code_w = window(&hosting.code);
        let code_base = arena.as_ref().map_or(code_w.base, |a| a.at(&code_w));
        // synth's sections of memories 1.. (multi-memory, synth #406: its data already in it,
        // addressed through `__synth_wasm_data_N`) go to data RAM, not the code image; each
        // must be a memory the module declares, of its size.
        let mut mem_sections: Vec<(usize, &link::Section)> = Vec::new();
        for sec in &object.sections {
            let Some(n) = sec.name.strip_prefix(MEMORY_SECTION) else {
                continue;
            };
            let declared = n
                .parse::<usize>()
                .ok()
                .filter(|&i| i > 0)
                .and_then(|i| Some((i, wasm.memories.get(i)?.bytes())));
            match declared {
                Some((i, bytes)) if bytes == sec.data.len() as u64 => mem_sections.push((i, sec)),
                Some((i, bytes)) => {
                    return Err(obj_err(format!(
                        "{} holds {} bytes, but memory {i} of {} declares {bytes}",
                        sec.name,
                        sec.data.len(),
                        wasm.path
                    )))
                }
                None => {
                    return Err(obj_err(format!(
                        "{} is for a memory {} does not declare",
                        sec.name, wasm.path
                    )))
                }
            }
        }
        let mut memory_sections: BTreeMap<String, u32> = mem_sections
            .iter()
            .map(|(_, s)| (s.name.clone(), 0))
            .collect();
        let probe = object.link_placing(code_base, &memory_sections, &|_| Some(code_base | 1))?;
        // Table entries naming functions the object does not define: each gets a stub.
        let n_imports = wasm.imports.len();
        let missing: Vec<u32> = wasm
            .elements
            .iter()
            .flat_map(|e| e.funcs.iter().copied())
            .filter(|&f| {
                f as usize >= n_imports && !probe.symbols.contains_key(&format!("func_{f}"))
            })
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .collect();
        let n_targets = n_imports + helpers.len() + missing.len();
        let code_size = (probe.image.len() as u32).next_multiple_of(4);
        let trampolines = code_base + code_size;
        let return_stub = trampolines + 4 * n_targets as u32 + STUB_GUARD.len() as u32;
        let code_end = return_stub + 4;
        if code_end > code_w.base + code_w.size {
            return Err(obj_err(format!(
                "{code_end:#x} bytes of code do not fit {} ({:#x} bytes)",
                code_w.name, code_w.size
            )));
        }
        // Data: globals and stack in the first data window, linear memory where it fits.
        let (slots, globals_size) = wasm.global_layout();
        let declared = wasm.memory.as_ref().map(|m| m.bytes()).unwrap_or(0);
        let linmem_size = match options.memory_cap {
            Some(cap) if u64::from(cap) < declared => cap,
            _ => u32::try_from(declared).map_err(|_| {
                usage(format!(
                    "{}: linear memory of {declared} bytes is larger than a 32-bit core can address",
                    wasm.path
                ))
            })?,
        };
        let (_, entries) = wasm.table_bases();
        let type_ids = object.extra.get(TYPE_IDS_SECTION);
        let pointers = u64::from(entries) * 4;
        if let Some(ids) = type_ids {
            if ids.len() as u64 != pointers {
                return Err(obj_err(format!(
                    "{TYPE_IDS_SECTION} holds {} bytes, but the module's tables have {entries} entries ({pointers} bytes of type ids)",
                    ids.len()
                )));
            }
        }
        let table_region = u32::try_from(pointers * if type_ids.is_some() { 2 } else { 1 })
            .map_err(|_| usage(format!("{}: {entries} table entries", wasm.path)))?;
        // What goes at R11: linear memory, and the tables aliasing its first bytes.
        let region = linmem_size.max(table_region);
        let d0 = window(&hosting.data[0]);
        let later: Vec<Window> = hosting.data[1..].iter().map(|n| window(n)).collect();
        let too_large = |largest: u64, left: &str| {
            usage(format!(
                "{}: linear memory of {region} bytes{} does not fit core {core_name}: the largest run of {left}its data windows ({}) holds {largest} bytes; a memory cap (--memory-cap BYTES) runs it with less, R10 = the cap",
                wasm.path,
                if region > linmem_size { " (with its funcref tables)".to_string() } else { String::new() },
                hosting.data[1..].join(", ")
            ))
        };
        let (globals, linmem, stack_bottom, stack_top) = match arena.as_deref_mut() {
            None => {
                let stack_top = d0.base + d0.size;
                let stack_bottom = stack_top
                    .checked_sub(options.stack_bytes)
                    .filter(|&b| b >= d0.base + globals_size.next_multiple_of(8))
                    .ok_or_else(|| {
                        usage(format!(
                            "a {} byte stack does not fit {}",
                            options.stack_bytes, d0.name
                        ))
                    })?;
                let globals = d0.base;
                let after_globals = (globals + globals_size).next_multiple_of(8);
                let linmem =
                    if u64::from(after_globals) + u64::from(region) <= u64::from(stack_bottom) {
                        after_globals
                    } else {
                        place_linmem(&later, None, region)
                            .map_err(|largest| too_large(largest, ""))?
                            .0
                    };
                (globals, linmem, stack_bottom, stack_top)
            }
            Some(a) => {
                let fits = |at: u32, n: u32, w: &Window| u64::from(at) + u64::from(n) <= end(w);
                let globals = a.at(&d0);
                let after_globals = (globals + globals_size).next_multiple_of(8);
                let stack_bytes = options.stack_bytes.next_multiple_of(8);
                let shared = a.stacks.get(&core).copied().filter(|_| a.share_stacks);
                if let Some((b, t)) = shared {
                    if t - b < stack_bytes {
                        return Err(usage(format!(
                            "a {} byte stack: core {core_name}'s shared stack, set by the first module linked on it, has {} bytes",
                            options.stack_bytes,
                            t - b
                        )));
                    }
                }
                let need = if shared.is_some() { 0 } else { stack_bytes };
                let in_d0 = fits(
                    after_globals,
                    region.next_multiple_of(8).saturating_add(need),
                    &d0,
                );
                let (linmem, next) = if in_d0 {
                    (after_globals, after_globals + region.next_multiple_of(8))
                } else {
                    let (at, reached) = place_linmem(&later, Some(a), region)
                        .map_err(|largest| too_large(largest, "what is left of "))?;
                    let stop = u64::from(at) + u64::from(region.next_multiple_of(8));
                    for w in &reached {
                        a.take_to(w, stop.min(end(w)) as u32);
                    }
                    (at, after_globals)
                };
                let (stack_bottom, stack_top) = match shared {
                    Some(s) => {
                        a.take_to(&d0, next);
                        s
                    }
                    None => {
                        if !fits(next, stack_bytes, &d0) {
                            return Err(usage(format!(
                                "a {} byte stack does not fit what is left of {}",
                                options.stack_bytes, d0.name
                            )));
                        }
                        a.take_to(&d0, next + stack_bytes);
                        a.stacks.insert(core, (next, next + stack_bytes));
                        (next, next + stack_bytes)
                    }
                };
                a.take_to(&code_w, code_end.next_multiple_of(8));
                (globals, linmem, stack_bottom, stack_top)
            }
        };
        // Memories 1..: each at the first free byte of the data windows after the first, past
        // memory 0 (synth's section alignment, its size, is for an MPU region the twin does
        // not model).
        {
            let mut scratch = Arena::default();
            let a: &mut Arena = match arena {
                Some(a) => a,
                None => {
                    for w in &later {
                        let (lo, hi) = (u64::from(linmem), u64::from(linmem) + u64::from(region));
                        if lo < end(w) && hi > u64::from(w.base) {
                            scratch.take_to(w, hi.min(end(w)) as u32);
                        }
                    }
                    &mut scratch
                }
            };
            for (_, sec) in &mem_sections {
                let (name, size) = (&sec.name, sec.data.len() as u32);
                let (placed, reached) = place_linmem(&later, Some(a), size).map_err(|largest| {
                    usage(format!(
                        "{}: {name} ({size} bytes, a memory of the module) does not fit core {core_name}'s data windows after memory 0: the largest run left holds {largest} bytes",
                        object.path
                    ))
                })?;
                let stop = u64::from(placed) + u64::from(size.next_multiple_of(8));
                for w in &reached {
                    a.take_to(w, stop.min(end(w)) as u32);
                }
                memory_sections.insert(name.clone(), placed);
            }
        }
        let linked = object.link_placing(code_base, &memory_sections, &|name| {
            by_field
                .get(name)
                .copied()
                .or_else(|| {
                    helpers
                        .iter()
                        .position(|h| h.0 == name)
                        .map(|k| n_imports + k)
                })
                .map(|i| (trampolines + 4 * i as u32) | 1)
        })?;
        let layout = Layout {
            code_base,
            code_size,
            trampolines,
            return_stub,
            globals,
            globals_size,
            linmem,
            linmem_size,
            r10: linmem_size,
            table_region,
            stack_bottom,
            stack_top,
        };

        // Memories 1.. where they were placed (None: the object has no section for it).
        let extra_memories: Vec<Option<(u32, u32)>> = (1..wasm.memories.len())
            .map(|i| {
                let (_, sec) = mem_sections.iter().find(|(n, _)| *n == i)?;
                Some((memory_sections[&sec.name], sec.data.len() as u32))
            })
            .collect();

        // For a debugger: the object's sections where they were placed (GDB's add-symbol-file).
        let placed: Vec<String> = linked
            .sections
            .iter()
            .filter(|(name, _)| !name.is_empty())
            .map(|(name, at)| format!("-s {name} {at:#x}"))
            .collect();
        machine.debug_symbols.push(format!(
            "add-symbol-file {} {}  # {} on {core_name}",
            object.path,
            placed.join(" "),
            wasm.path
        ));

        // Load code and run the embedder init.
        let mut functions = linked.functions.clone();
        for (i, imp) in wasm.imports.iter().enumerate() {
            functions.push((
                trampolines + 4 * i as u32,
                4,
                format!("import {}::{}", imp.module, imp.field),
            ));
        }
        for (k, (name, _)) in helpers.iter().enumerate() {
            functions.push((trampolines + 4 * (n_imports + k) as u32, 4, name.clone()));
        }
        // The stubs of table entries synth left out, by wasm function index.
        let stubs: BTreeMap<u32, u32> = missing
            .iter()
            .enumerate()
            .map(|(k, &f)| (f, trampolines + 4 * (n_imports + helpers.len() + k) as u32))
            .collect();
        for (f, at) in &stubs {
            functions.push((*at, 4, format!("func_{f} (not in the object)")));
        }
        let symbols = Rc::new(Symbols::new(functions));
        {
            let uc = machine.engine(core);
            let mut code = linked.image.clone();
            code.resize(code_size as usize, 0);
            for _ in 0..n_targets {
                code.extend_from_slice(&TRAMPOLINE);
            }
            code.extend_from_slice(&STUB_GUARD);
            code.extend_from_slice(&RETURN_STUB);
            uc.mem_write(u64::from(code_base), &code)
                .map_err(|e| obj_err(format!("loading code: {e:?}")))?;
            for (_, sec) in &mem_sections {
                let at = memory_sections[&sec.name];
                uc.mem_write(u64::from(at), &sec.data)
                    .map_err(|e| obj_err(format!("loading {} at {at:#x}: {e:?}", sec.name)))?;
            }
            core::flush(uc);
            uc.get_data_mut().symbols = symbols.clone();
        }
        let mut hosted = Module {
            core,
            wasm: Rc::new(wasm),
            layout,
            exports: BTreeMap::new(),
            skipped: Vec::new(),
            skip_reasons: BTreeMap::new(),
            stack_bounds: BTreeMap::new(),
            symbols: symbols.clone(),
            options,
            initial_memory: Vec::new(),
            scan: Vec::new(),
            extra_memories,
        };
        hosted.init_data(machine, &slots, &linked.symbols, &stubs, type_ids)?;
        // Exports synth left out (it says so with --allow-skipped-exports) are kept apart; an
        // object with none of the module's exports is another module's.
        for e in &hosted.wasm.exports {
            match linked.symbols.get(&e.name) {
                Some(&addr) => {
                    hosted.exports.insert(e.name.clone(), addr);
                }
                None => hosted.skipped.push(e.name.clone()),
            }
        }
        if hosted.exports.is_empty() && !hosted.skipped.is_empty() {
            return Err(obj_err(format!(
                "defines none of the exports of {} ({}): is it synth's output for this module?",
                hosted.wasm.path,
                hosted.skipped.join(", ")
            )));
        }

        // Trampolines: a code hook on their range only.
        let mut targets: Vec<(String, Target)> = hosted
            .wasm
            .imports
            .iter()
            .zip(bound)
            .map(|(imp, h)| (format!("{}::{}", imp.module, imp.field), Target::Import(h)))
            .collect();
        targets.extend(helpers.into_iter().map(|(n, h)| (n, Target::Runtime(h))));
        targets.extend(
            missing
                .iter()
                .map(|&f| (format!("func_{f}"), Target::Missing(f))),
        );
        let bridge = Rc::new(Bridge {
            trampolines,
            targets,
            regs: [layout.globals, layout.r10, layout.linmem],
            symbols,
        });
        if n_targets > 0 {
            let uc = machine.engine(core);
            let b = bridge.clone();
            uc.add_code_hook(
                u64::from(trampolines),
                u64::from(trampolines + 4 * n_targets as u32 - 1),
                move |uc, addr, _| on_trampoline(uc, addr, &b),
            )
            .map_err(|e| Error::Unicorn {
                what: "trampoline hook".into(),
                err: e,
            })?;
        }
        Ok(hosted)
    }

    /// Host a self-contained synth image (ET_EXEC with vector table, `--cortex-m` or
    /// `-t cortex-m*` with `--all-exports`; modules without imports only). Its Reset_Handler is
    /// run up to the `blx` that would call one export with whatever its registers hold (the data
    /// copy, CPACR and the R9/R10/R11 set-up done); that demo call and the spin after it are not
    /// run, so every export starts from the image's initial state. R9/R10/R11 are then read
    /// from the core, and exports are called by symbol.
    pub fn load_image(
        machine: &mut Machine,
        core_name: &str,
        wasm: WasmModule,
        image: &twin_machine::image::Image,
        options: Options,
    ) -> Result<Module> {
        let bad = |m: String| Error::image(&image.path, m);
        if !wasm.imports.is_empty() {
            return Err(bad(format!(
                "a self-contained image cannot serve imports, and {} has {}",
                wasm.path,
                wasm.imports.len()
            )));
        }
        let core = machine.core_index(core_name)?;
        machine.load(core_name, image).map_err(|e| match e {
            Error::Image { file, message } => Error::Image {
                file,
                message: format!(
                    "{message} (self-contained images are laid out for the CM7 map: ITCM 0x0, DTCM 0x2000_0000)"
                ),
            },
            other => other,
        })?;
        let (hosting, windows) = hosting_windows(machine, core)?;
        let window = |name: &str| windows[name].clone();
        // The end of the code: the return stub goes right after it.
        let code_w = window(&hosting.code);
        let code_end = image
            .segments
            .iter()
            .filter(|s| s.addr >= code_w.base && s.addr < code_w.base + code_w.size)
            .map(|s| s.addr + s.mem_size)
            .max()
            .ok_or_else(|| bad(format!("no segment in {}", code_w.name)))?;
        // A guard word between the image and the stub, as for a linked module.
        let return_stub = code_end.next_multiple_of(4) + STUB_GUARD.len() as u32;
        let d0 = window(&hosting.data[0]);
        let stack_top = d0.base + d0.size;
        let stack_bottom = stack_top - options.stack_bytes;
        let uc = machine.engine(core);
        uc.mem_write(u64::from(return_stub), &RETURN_STUB)
            .map_err(|e| {
                bad(format!(
                    "no room for the return stub at {return_stub:#x}: {e:?}"
                ))
            })?;
        core::flush(uc);
        // Find the Reset_Handler's `blx rN` followed by `b .`.
        let reset = image.symbols.address_of("Reset_Handler").ok_or_else(|| {
            bad("no Reset_Handler symbol: not a synth self-contained image".into())
        })?;
        let mut code = vec![0u8; 0x100];
        let _ = uc.mem_read(u64::from(reset), &mut code);
        let blx = (0..code.len() - 3)
            .step_by(2)
            .find(|&i| {
                let h = u16::from_le_bytes([code[i], code[i + 1]]);
                let next = u16::from_le_bytes([code[i + 2], code[i + 3]]);
                h & 0xFF87 == 0x4780 && next == 0xE7FE
            })
            .map(|i| reset + i as u32)
            .ok_or_else(|| bad("Reset_Handler has no `blx rN; b .` ending".into()))?;
        core::boot(uc, image.vector_table)?;
        let entry = reg(uc, RegisterARM::PC);
        let d = uc.get_data_mut();
        d.run_start = 0;
        d.run_cycles = 0;
        d.deadline
            .set(options.max_cycles.saturating_mul(d.ps_per_cycle));
        let r = uc.emu_start(u64::from(entry | 1), u64::from(blx), 0, 0);
        let pc = reg(uc, RegisterARM::PC);
        if r.is_err() || pc != blx || uc.get_data_mut().halt.take().is_some() {
            return Err(bad(format!(
                "Reset_Handler did not reach its blx at {blx:#x} ({r:?}, pc {pc:#x})"
            )));
        }
        let [r9, r10, r11] = abi_regs(uc);
        let (_, globals_size) = wasm.global_layout();
        let layout = Layout {
            code_base: code_w.base,
            code_size: code_end - code_w.base,
            trampolines: return_stub,
            return_stub,
            globals: r9,
            globals_size,
            linmem: r11,
            linmem_size: wasm.memory.as_ref().map_or(0, |m| m.bytes() as u32),
            r10,
            table_region: 0,
            stack_bottom,
            stack_top,
        };
        let mut exports = BTreeMap::new();
        for e in &wasm.exports {
            let a = image
                .symbols
                .address_of(&e.name)
                .ok_or_else(|| bad(format!("export {:?} has no symbol in the image", e.name)))?;
            exports.insert(e.name.clone(), a | 1);
        }
        let symbols = Rc::new(image.symbols.clone());
        let mut module = Module {
            core,
            wasm: Rc::new(wasm),
            layout,
            exports,
            skipped: Vec::new(),
            skip_reasons: BTreeMap::new(),
            stack_bounds: BTreeMap::new(),
            symbols,
            options,
            initial_memory: Vec::new(),
            scan: Vec::new(),
            extra_memories: Vec::new(),
        };
        module.initial_memory = module.memory(machine);
        Ok(module)
    }

    /// Embedder init: zeroed memory, active data segments at R11 + offset, the funcref tables'
    /// pointers from R11 + 0 (entries naming functions synth left out point at their `stubs`),
    /// then their `type_ids`, global initial values at R9 + slot.
    fn init_data(
        &mut self,
        machine: &mut Machine,
        slots: &[u32],
        symbols: &BTreeMap<String, u32>,
        stubs: &BTreeMap<u32, u32>,
        type_ids: Option<&Vec<u8>>,
    ) -> Result<()> {
        let l = self.layout;
        let wasm = self.wasm.clone();
        let mut mem = vec![0u8; l.linmem_size.max(l.table_region) as usize];
        for (off, bytes) in &wasm.data {
            let end = u64::from(*off) + bytes.len() as u64;
            if end > u64::from(l.linmem_size) {
                let capped = self.options.memory_cap.is_some_and(|c| c == l.linmem_size);
                return Err(Error::image(
                    &wasm.path,
                    format!(
                        "data segment at {off:#x} (+{}) runs past {} ({} bytes)",
                        bytes.len(),
                        if capped { "the memory cap" } else { "memory 0" },
                        l.linmem_size
                    ),
                ));
            }
            mem[*off as usize..end as usize].copy_from_slice(bytes);
        }
        let (bases, entries) = wasm.table_bases();
        let n_imports = wasm.imports.len() as u32;
        for el in &wasm.elements {
            let t = el.table as usize;
            let size = *wasm.tables.get(t).ok_or_else(|| {
                Error::image(
                    &wasm.path,
                    format!("an element segment fills table {t}, which the module does not have"),
                )
            })?;
            for (k, &f) in el.funcs.iter().enumerate() {
                let slot = u64::from(el.offset) + k as u64;
                if slot >= u64::from(size) {
                    return Err(Error::image(
                        &wasm.path,
                        format!("an element segment of table {t} runs past its {size} entries"),
                    ));
                }
                let addr = if f < n_imports {
                    (l.trampolines + 4 * f) | 1
                } else if let Some(a) = symbols.get(&format!("func_{f}")) {
                    *a
                } else {
                    stubs[&f] | 1
                };
                let at = 4 * (u64::from(bases[t]) + slot) as usize;
                mem[at..at + 4].copy_from_slice(&addr.to_le_bytes());
            }
        }
        if let Some(ids) = type_ids {
            let at = 4 * entries as usize;
            mem[at..at + ids.len()].copy_from_slice(ids);
        }
        let mut table = vec![0u8; l.globals_size as usize];
        for (g, &slot) in wasm.globals.iter().zip(slots) {
            let b = g.init.bits().to_le_bytes();
            let n = match g.ty {
                ValType::I32 | ValType::F32 => 4,
                _ => 8,
            };
            table[slot as usize..slot as usize + n].copy_from_slice(&b[..n]);
        }
        self.initial_memory = mem[..l.linmem_size as usize].to_vec();
        let uc = machine.engine(self.core);
        uc.mem_write(u64::from(l.linmem), &mem)
            .and_then(|_| uc.mem_write(u64::from(l.globals), &table))
            .map_err(|e| Error::Usage(format!("embedder init: {e:?}")))
    }

    /// Read synth's `<object>.stack.json` (synth-stack-v1).
    pub fn load_stack_json(&mut self, path: &std::path::Path) -> Result<()> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: name.clone(),
            source: e,
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::image(&name, format!("not JSON: {e}")))?;
        if v["schema"] != "synth-stack-v1" {
            return Err(Error::image(&name, "schema is not synth-stack-v1"));
        }
        for e in v["exports"].as_array().into_iter().flatten() {
            let Some(n) = e["name"].as_str() else {
                continue;
            };
            let b = match (e["status"].as_str(), e["bytes"].as_u64()) {
                (Some("bounded"), Some(b)) => StackBound::Bounded(b as u32),
                _ => StackBound::Declined(e["reason"].as_str().unwrap_or("unknown").to_string()),
            };
            self.stack_bounds.insert(n.to_string(), b);
        }
        Ok(())
    }

    /// Call an export with typed arguments.
    pub fn call(
        &mut self,
        machine: &mut Machine,
        export: &str,
        args: &[Val],
    ) -> Result<CallOutcome> {
        let e = self
            .wasm
            .export(export)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no export {export:?} (exports: {})",
                    self.export_names().join(", ")
                ))
            })?
            .clone();
        let types: Vec<ValType> = args.iter().map(|a| a.ty()).collect();
        if types != e.ty.params {
            return Err(Error::Usage(format!(
                "export {export} takes {}, given ({})",
                e.ty,
                types
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if e.ty.results.len() > 1 {
            return Err(Error::Usage(format!(
                "export {export} returns {} values: multi-value returns are not supported",
                e.ty.results.len()
            )));
        }
        let entry = *self.exports.get(export).ok_or_else(|| {
            Error::Usage(format!(
                "export {export} is not in the object: synth left it out (it says why when it compiles with --allow-skipped-exports)"
            ))
        })?;
        let l = self.layout;
        let (locs, stack_args) = abi::assign_params(&e.ty.params);
        let sp = l.stack_top - stack_args;
        let max_cycles = self.options.max_cycles;
        let uc = machine.engine(self.core);
        // Several modules can share the core: fault reports name this one's functions.
        uc.get_data_mut().symbols = self.symbols.clone();
        // Repaint only what the last call dirtied: the paint below its high-water mark is intact.
        let (lo, hi) = uc.get_data().stack_paint;
        let paint_from = if lo == l.stack_bottom && hi > l.stack_bottom {
            hi.min(sp)
        } else {
            l.stack_bottom
        };
        let paint = PAINT.to_le_bytes().repeat(((sp - paint_from) / 4) as usize);
        let _ = uc.mem_write(u64::from(paint_from), &paint);
        for (v, loc) in args.iter().zip(&locs) {
            set_val(uc, *v, *loc, sp);
        }
        let set = |uc: &mut Uc<'_>, r: RegisterARM, v: u32| {
            let _ = uc.reg_write(r, u64::from(v));
        };
        set(uc, RegisterARM::SP, sp);
        set(uc, RegisterARM::R9, l.globals);
        set(uc, RegisterARM::R10, l.r10);
        set(uc, RegisterARM::R11, l.linmem);
        set(uc, RegisterARM::LR, l.return_stub | 1);
        let fpscr = reg(uc, RegisterARM::FPSCR);
        let dn = if self.options.default_nan {
            FPSCR_DN
        } else {
            0
        };
        set(uc, RegisterARM::FPSCR, (fpscr & !FPSCR_DN) | dn);
        let (insns0, cycles0, ps) = {
            let d = uc.get_data_mut();
            d.run_start = 0;
            d.run_cycles = 0;
            d.halt = None;
            d.unmapped = None;
            d.poll = None;
            d.irq_flag.set(false);
            d.debug.skip = None;
            d.deadline.set(max_cycles.saturating_mul(d.ps_per_cycle));
            (d.insns, d.cycles, d.ps_per_cycle)
        };
        let _ = ps;
        let capturing = uc.get_data().capture;
        if capturing {
            let c = core::capture(uc, entry, l.return_stub);
            uc.get_data_mut().captured.push(c);
        }
        let mut r = uc.emu_start(u64::from(entry), u64::from(core::UNTIL), 0, 0);
        if machine.debugger.is_some() {
            r = self.debug_call(machine, export, r)?;
        }
        let uc = machine.engine(self.core);
        let pc = reg(uc, RegisterARM::PC);
        if r.is_ok() && pc == l.return_stub + 2 && uc.get_data().halt.is_none() {
            // The stub's `wfi` is not the export's.
            let d = uc.get_data_mut();
            let wfi = u64::from(d.timing.one(&[0x30, 0xbf]));
            d.insns -= 1;
            d.cycles -= wfi;
            d.run_cycles -= wfi;
        }
        let (halt, unmapped, insns, cycles) = {
            let d = uc.get_data_mut();
            (
                d.halt.take(),
                d.unmapped.take(),
                d.insns - insns0,
                d.cycles - cycles0,
            )
        };
        if capturing {
            if let Some(c) = uc.get_data_mut().captured.last_mut() {
                c.instructions = insns;
            }
        }
        let describe = |pc: u32| self.symbols.describe(pc);
        let result = match (r, halt) {
            (_, Some(Halt::TwinError(m))) => return Err(Error::Usage(m)),
            (_, Some(Halt::HostError(message))) => Err(ArmTrap::Host { message }),
            (_, Some(Halt::Budget)) => Err(ArmTrap::Timeout { cycles }),
            (_, Some(Halt::Fault(core::FaultKind::Undefined { pc }))) => {
                let mut hw = [0u8; 2];
                let _ = uc.mem_read(u64::from(pc), &mut hw);
                let h = u16::from_le_bytes(hw);
                let imm = if h & 0xFF00 == 0xDE00 {
                    h & 0xFF
                } else {
                    0xFFFF
                };
                Err(ArmTrap::Udf {
                    imm,
                    pc,
                    function: describe(pc),
                })
            }
            (Ok(()), None) if pc == l.return_stub + 2 => {
                let now = abi_regs(uc);
                let want = [l.globals, l.r10, l.linmem];
                if now != want {
                    return Err(Error::Usage(format!(
                        "embedder ABI violation: export {export} returned with R9/R10/R11 = {:#010x}/{:#010x}/{:#010x}, expected {:#010x}/{:#010x}/{:#010x}",
                        now[0], now[1], now[2], want[0], want[1], want[2]
                    )));
                }
                Ok(e.ty
                    .results
                    .iter()
                    .map(|t| get_val(uc, *t, abi::result_loc(*t), 0))
                    .collect())
            }
            (
                Err(uc_error::READ_UNMAPPED | uc_error::WRITE_UNMAPPED | uc_error::FETCH_UNMAPPED),
                _,
            ) => {
                let addr = unmapped.map(|u| u.0).unwrap_or(0);
                Err(ArmTrap::MemoryFault {
                    addr,
                    pc,
                    function: describe(pc),
                })
            }
            (r, h) => {
                return Err(Error::Usage(format!(
                    "export {export}: the engine stopped unexpectedly ({r:?}, {h:?}) at {}",
                    core::whereabouts(uc, pc)
                )))
            }
        };
        // High-water mark: the lowest word below the entry SP that is no longer paint (read
        // into a buffer kept between calls, compared eight bytes at a time).
        let painted = &mut self.scan;
        painted.resize((sp - l.stack_bottom) as usize, 0);
        let _ = uc.mem_read(u64::from(l.stack_bottom), painted);
        let lowest = first_unpainted(painted)
            .map(|i| l.stack_bottom + i as u32)
            .unwrap_or(sp);
        uc.get_data_mut().stack_paint = (l.stack_bottom, lowest);
        // The stack overflowed (what wasmtime reports as StackOverflow) when the call stopped
        // with SP below the stack's bottom, whatever it ran into there, or returned with the
        // stack's bottom word no longer paint.
        let below = reg(uc, RegisterARM::SP) < l.stack_bottom;
        let result = match result {
            Err(t @ ArmTrap::StackOverflow { .. }) => Err(t),
            Err(t) if below => Err(ArmTrap::StackOverflow {
                bytes: sp - l.stack_bottom,
                ended: t.to_string(),
            }),
            Ok(_) if lowest == l.stack_bottom && sp > l.stack_bottom => {
                Err(ArmTrap::StackOverflow {
                    bytes: sp - l.stack_bottom,
                    ended: "returned, having overwritten what lies below the stack".into(),
                })
            }
            r => r,
        };
        Ok(CallOutcome {
            result,
            instructions: insns,
            cycles,
            stack_bytes: sp - lowest,
        })
    }

    /// A call the debugger may stop: serve each of its stops ([`Machine::debug_stop`]) and go
    /// on as it says, until the call ends for a reason of its own; that run's result.
    fn debug_call(
        &mut self,
        machine: &mut Machine,
        export: &str,
        mut r: std::result::Result<(), uc_error>,
    ) -> Result<std::result::Result<(), uc_error>> {
        let mut count = 0;
        loop {
            let uc = machine.engine(self.core);
            let Some(event) = debug::call_stop(uc, r.is_ok(), count) else {
                return Ok(r);
            };
            let pc = reg(uc, RegisterARM::PC);
            let stop = Stop::Debug {
                core: uc.get_data().name.clone(),
                event,
            };
            let context = format!("{}in the call of {export}", machine.debug_context);
            count = match machine.debug_stop(&stop, &context) {
                Resume::Continue => 0,
                Resume::Step(i) if i == self.core => 1,
                // Only this core runs during the call: a step of another is a continue.
                Resume::Step(_) => 0,
                Resume::Kill => {
                    return Err(Error::Usage(format!(
                        "the debugger ended the run in the call of {export}"
                    )))
                }
            };
            let uc = machine.engine(self.core);
            uc.get_data_mut().debug.skip = Some(pc);
            r = core::resume_engine(uc, count);
        }
    }

    /// The cycle budget of each call (a call that exceeds it stops with `ArmTrap::Timeout`).
    /// The options the module was linked with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn set_max_cycles(&mut self, cycles: u64) {
        self.options.max_cycles = cycles;
    }

    pub fn export_names(&self) -> Vec<String> {
        self.wasm.exports.iter().map(|e| e.name.clone()).collect()
    }

    /// The module's canonical-ABI allocator, when the object has one (see
    /// [`crate::canon::realloc_in`]).
    pub fn realloc(&self) -> Option<String> {
        let names: Vec<String> = self
            .export_names()
            .into_iter()
            .filter(|n| !self.skipped.contains(n))
            .collect();
        crate::canon::realloc_in(&names)
    }

    /// Write bytes into linear memory at `offset` (bounds-checked against the memory size).
    pub fn write_memory(&mut self, machine: &mut Machine, offset: u32, bytes: &[u8]) -> Result<()> {
        host::check_range(offset, bytes.len() as u32, self.layout.linmem_size)
            .map_err(Error::Usage)?;
        let at = u64::from(self.layout.linmem) + u64::from(offset);
        machine
            .engine(self.core)
            .mem_write(at, bytes)
            .map_err(|e| Error::Usage(format!("{e:?}")))
    }

    /// `len` bytes of linear memory at `offset` (bounds-checked against the memory size).
    pub fn read_memory(&mut self, machine: &mut Machine, offset: u32, len: u32) -> Result<Vec<u8>> {
        host::check_range(offset, len, self.layout.linmem_size).map_err(Error::Usage)?;
        let mut v = vec![0u8; len as usize];
        machine
            .engine(self.core)
            .mem_read(u64::from(self.layout.linmem) + u64::from(offset), &mut v)
            .map_err(|e| Error::Usage(format!("{e:?}")))?;
        Ok(v)
    }

    /// The whole linear memory as the ARM side sees it.
    pub fn memory(&mut self, machine: &mut Machine) -> Vec<u8> {
        let l = self.layout;
        let mut v = vec![0u8; l.linmem_size as usize];
        let _ = machine
            .engine(self.core)
            .mem_read(u64::from(l.linmem), &mut v);
        v
    }

    /// Memory `i` (1..) as the ARM side has it now, when the object placed it.
    pub fn extra_memory(&mut self, machine: &mut Machine, i: usize) -> Option<Vec<u8>> {
        let (at, size) = (*self.extra_memories.get(i.checked_sub(1)?)?)?;
        let mut v = vec![0u8; size as usize];
        let _ = machine.engine(self.core).mem_read(u64::from(at), &mut v);
        Some(v)
    }

    /// The linear memory the calls so far have changed: the lowest and one past the highest
    /// byte offset whose contents differ from what the embedder init left (zeroes, data
    /// segments, the tables), or None when nothing changed. The upper end is the high-water
    /// mark a memory cap must cover; below the lower end nothing was written (for a Rust
    /// module, the part of its shadow stack it never reached). A store of the value already
    /// there does not show, as with the painted stack.
    pub fn memory_touched(&mut self, machine: &mut Machine) -> Option<(u32, u32)> {
        let now = self.memory(machine);
        let differs = |i: &usize| now[*i] != self.initial_memory[*i];
        let lo = (0..now.len()).find(differs)?;
        let hi = (0..now.len()).rev().find(differs)?;
        Some((lo as u32, hi as u32 + 1))
    }

    /// Every global's current value (from the globals table at R9).
    pub fn globals(&mut self, machine: &mut Machine) -> Vec<Val> {
        let (slots, _) = self.wasm.global_layout();
        let l = self.layout;
        let wasm = self.wasm.clone();
        let uc = machine.engine(self.core);
        wasm.globals
            .iter()
            .zip(slots)
            .map(|(g, s)| {
                let lo = read_word(uc, l.globals + s);
                let hi = read_word(uc, l.globals + s + 4);
                match g.ty {
                    ValType::I32 => Val::I32(lo),
                    ValType::F32 => Val::F32(lo),
                    ValType::I64 => Val::I64((u64::from(hi) << 32) | u64::from(lo)),
                    ValType::F64 => Val::F64((u64::from(hi) << 32) | u64::from(lo)),
                }
            })
            .collect()
    }
}

/// A module on its machine as a canonical-ABI guest ([`crate::canon`]): every call's outcome is
/// kept (the export's cycles and stack apart from the allocator's).
pub struct OnCore<'a> {
    pub module: &'a mut Module,
    pub machine: &'a mut Machine,
    /// (export, outcome) of each call made through this guest, in order.
    pub calls: Vec<(String, CallOutcome)>,
}

impl<'a> OnCore<'a> {
    pub fn new(module: &'a mut Module, machine: &'a mut Machine) -> OnCore<'a> {
        OnCore {
            module,
            machine,
            calls: Vec::new(),
        }
    }

    /// The outcome of the last call of `export`.
    pub fn outcome(&self, export: &str) -> Option<&CallOutcome> {
        self.calls
            .iter()
            .rev()
            .find(|(e, _)| e == export)
            .map(|(_, o)| o)
    }
}

impl crate::canon::Guest for OnCore<'_> {
    fn call(
        &mut self,
        export: &str,
        args: &[Val],
        _results: usize,
    ) -> Result<std::result::Result<Vec<Val>, crate::canon::Trap>> {
        let out = self.module.call(self.machine, export, args)?;
        let r = out.result.clone().map_err(|t| t.to_string());
        self.calls.push((export.to_string(), out));
        Ok(r)
    }
    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>> {
        self.module.read_memory(self.machine, ptr, len)
    }
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<()> {
        self.module.write_memory(self.machine, ptr, bytes)
    }
    fn has_export(&mut self, name: &str) -> bool {
        self.module.wasm.export(name).is_some() && !self.module.skipped.iter().any(|s| s == name)
    }
}

/// A single module on a machine of its own: the convenient form for one core (`sim call`,
/// `sim diff`, the tests). Dereferences to its [`Module`].
pub struct Hosted {
    pub machine: Machine,
    pub module: Module,
}

impl std::ops::Deref for Hosted {
    type Target = Module;
    fn deref(&self) -> &Module {
        &self.module
    }
}

impl std::ops::DerefMut for Hosted {
    fn deref_mut(&mut self) -> &mut Module {
        &mut self.module
    }
}

impl Hosted {
    /// Link `object` (synth `--relocatable` output for `wasm`) onto `core` of a fresh `board`.
    pub fn new(
        board: Board,
        core_name: &str,
        wasm: WasmModule,
        object: &RelObject,
        hostfns: &HostFns,
        options: Options,
    ) -> Result<Hosted> {
        let mut machine = Machine::new(board, &Config::default())?;
        let module = Module::link(&mut machine, core_name, wasm, object, hostfns, options)?;
        Ok(Hosted { machine, module })
    }

    /// Host a self-contained synth image on a fresh `board` (see [`Module::load_image`]).
    pub fn from_image(
        board: Board,
        core_name: &str,
        wasm: WasmModule,
        image: &twin_machine::image::Image,
        options: Options,
    ) -> Result<Hosted> {
        let mut machine = Machine::new(board, &Config::default())?;
        let module = Module::load_image(&mut machine, core_name, wasm, image, options)?;
        Ok(Hosted { machine, module })
    }

    pub fn call(&mut self, export: &str, args: &[Val]) -> Result<CallOutcome> {
        self.module.call(&mut self.machine, export, args)
    }

    pub fn write_memory(&mut self, offset: u32, bytes: &[u8]) -> Result<()> {
        self.module.write_memory(&mut self.machine, offset, bytes)
    }

    pub fn memory(&mut self) -> Vec<u8> {
        self.module.memory(&mut self.machine)
    }

    /// See [`Module::extra_memory`].
    pub fn extra_memory(&mut self, i: usize) -> Option<Vec<u8>> {
        self.module.extra_memory(&mut self.machine, i)
    }

    /// See [`Module::memory_touched`].
    pub fn memory_touched(&mut self) -> Option<(u32, u32)> {
        self.module.memory_touched(&mut self.machine)
    }

    pub fn globals(&mut self) -> Vec<Val> {
        self.module.globals(&mut self.machine)
    }

    /// The module as a canonical-ABI guest.
    pub fn guest(&mut self) -> OnCore<'_> {
        OnCore::new(&mut self.module, &mut self.machine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_water_scan_finds_the_first_word_that_is_not_paint() {
        let paint = |words: usize| PAINT.to_le_bytes().repeat(words);
        assert_eq!(
            first_unpainted(&paint(9)),
            None,
            "all paint, odd word count"
        );
        assert_eq!(first_unpainted(&[]), None);
        for at in 0..9 {
            let mut b = paint(9);
            b[4 * at + 3] ^= 1; // one byte of word `at` written
            assert_eq!(first_unpainted(&b), Some(4 * at), "word {at}");
            b[35] ^= 0x80; // a later word written too: the first one counts
            assert_eq!(first_unpainted(&b), Some(4 * at.min(8)), "word {at}");
        }
    }
}
