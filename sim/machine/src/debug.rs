//! What a debugger needs of a core: breakpoints, watchpoints, stops that leave virtual time as
//! a run without the debugger would have it.
//!
//! - **Breakpoints** are Unicorn code hooks bounded to the one instruction (Unicorn emits the
//!   callback only for instructions inside a hook's range, so the rest of the code runs as
//!   fast as before); the code is not patched, so memory reads show the image as it is. The
//!   hook stops the engine before the instruction runs (Unicorn checks for a stop request
//!   right after a code hook, qemu/target/arm/translate.c). Unicorn will not stop inside an IT
//!   block (it treats the block as one instruction): a breakpoint on an instruction after an
//!   IT is not hit; put it on the IT itself.
//! - **Watchpoints** are memory hooks bounded to the watched bytes. While any is set, Unicorn
//!   translates every load and store through its slow path (qemu/include/tcg/tcg.h
//!   `tcg_uc_has_hookmem`), so code runs slower; translations are flushed when the first is set
//!   and when the last goes. The hook records the access (its address, kind and instruction)
//!   and the core stops at the end of the translated block holding it: after the access, a few
//!   instructions later at most (a DWT watchpoint on silicon may also halt the core some
//!   instructions after the access). Accesses to peripherals are not seen (Unicorn's memory
//!   hooks do not fire for MMIO).
//! - **Time**: the block hook charges a whole block when it starts; a stop inside a block
//!   gives back what did not run ([`refund`]), so a run that was stopped and resumed counts
//!   the same instructions and cycles, at the same virtual times, as one that never stopped.

use serde::Serialize;
use unicorn_engine::{HookType, MemType, RegisterARM};

use crate::core::{self, FaultKind, Halt, Uc, Watch};
use crate::error::{Result, UcContext};

pub use crate::core::Access;

/// Why a core stopped for its debugger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A breakpoint: the instruction at `pc` has not run.
    Breakpoint { pc: u32 },
    /// A BKPT instruction (not semihosting's 0xAB) while a debugger is attached.
    Bkpt { pc: u32 },
    /// A watched address was accessed by the instruction at `pc`.
    Watch { addr: u32, access: Access, pc: u32 },
    /// One instruction ran, or one exception was entered (the core is at its handler's first
    /// instruction).
    Step,
    /// A fault was taken (the debugger catches faults): the core is at the handler's first
    /// instruction, the faulting context stacked.
    Fault { kind: FaultKind },
}

/// Set a breakpoint at `addr` (false: one was set there already).
pub fn add_breakpoint(uc: &mut Uc<'_>, addr: u32) -> Result<bool> {
    let addr = addr & !1;
    if uc.get_data().debug.has_breakpoint(addr) {
        return Ok(false);
    }
    let what = || format!("breakpoint at {addr:#010x}");
    let hook = uc
        .add_code_hook(u64::from(addr), u64::from(addr), |uc, a, _| {
            hit_breakpoint(uc, a as u32)
        })
        .uc(what)?;
    uc.get_data_mut().debug.breakpoints.insert(addr, hook);
    // Translations holding the address were made without the hook.
    uc.ctl_remove_cache(u64::from(addr), u64::from(addr) + 4)
        .uc(what)?;
    Ok(true)
}

/// Remove the breakpoint at `addr` (false: none was set).
pub fn remove_breakpoint(uc: &mut Uc<'_>, addr: u32) -> bool {
    let addr = addr & !1;
    let Some(hook) = uc.get_data_mut().debug.breakpoints.remove(&addr) else {
        return false;
    };
    let _ = uc.remove_hook(hook);
    let _ = uc.ctl_remove_cache(u64::from(addr), u64::from(addr) + 4);
    true
}

fn hit_breakpoint(uc: &mut Uc<'_>, pc: u32) {
    let d = uc.get_data_mut();
    if d.debug.skip.take() == Some(pc) {
        return;
    }
    core::halt(uc, Halt::Breakpoint(pc));
}

/// Watch `len` bytes at `addr` for `kind` accesses (false: the same watchpoint was set).
pub fn add_watchpoint(uc: &mut Uc<'_>, addr: u32, len: u32, kind: Access) -> Result<bool> {
    let len = len.max(1);
    let d = uc.get_data();
    if d.debug
        .watches
        .iter()
        .any(|w| (w.addr, w.len, w.kind) == (addr, len, kind))
    {
        return Ok(false);
    }
    let ty = match kind {
        Access::Read => HookType::MEM_READ,
        Access::Write => HookType::MEM_WRITE,
        Access::Any => HookType::MEM_READ | HookType::MEM_WRITE,
    };
    let end = u64::from(addr) + u64::from(len);
    // An access that starts up to 7 bytes before the range can still overlap it (LDRD).
    let begin = u64::from(addr).saturating_sub(7);
    let what = || format!("watchpoint at {addr:#010x}");
    let hook = uc
        .add_mem_hook(ty, begin, end - 1, move |uc, ty, a, size, _| {
            let overlaps = a < end && a + size as u64 > u64::from(addr);
            if overlaps {
                let access = if ty == MemType::WRITE {
                    Access::Write
                } else {
                    Access::Read
                };
                watched(uc, (a as u32).max(addr), access);
            }
            true
        })
        .uc(what)?;
    let first = uc.get_data().debug.watches.is_empty();
    uc.get_data_mut().debug.watches.push(Watch {
        addr,
        len,
        kind,
        hook,
    });
    if first {
        // Code translated before has its loads and stores on the fast path, which skips hooks;
        // and pages already in the TLB would not see the hook either.
        uc.ctl_flush_tb().uc(what)?;
        uc.ctl_flush_tlb().uc(what)?;
    }
    Ok(true)
}

/// Remove a watchpoint (false: none such was set).
pub fn remove_watchpoint(uc: &mut Uc<'_>, addr: u32, len: u32, kind: Access) -> bool {
    let len = len.max(1);
    let d = uc.get_data_mut();
    let Some(i) = d
        .debug
        .watches
        .iter()
        .position(|w| (w.addr, w.len, w.kind) == (addr, len, kind))
    else {
        return false;
    };
    let w = d.debug.watches.remove(i);
    let last = d.debug.watches.is_empty();
    let _ = uc.remove_hook(w.hook);
    if last {
        // Back to the fast path for loads and stores.
        let _ = uc.ctl_flush_tb();
        let _ = uc.ctl_flush_tlb();
    }
    true
}

/// A watched access: remember the first since the last stop, and have the block hook stop
/// before the next block.
fn watched(uc: &mut Uc<'_>, addr: u32, access: Access) {
    // Unicorn restored the CPU state to the accessing instruction before calling the hook (the
    // PC is exact), IT bits included; QEMU keeps those zero while a block runs (see
    // `core::fill_tlb`, which meets the same restore).
    let pc = core::reg(uc, RegisterARM::PC);
    let _ = uc.reg_write(RegisterARM::EPSR, u64::from(core::EPSR_T));
    let d = uc.get_data_mut();
    if d.debug.hit.is_none() {
        d.debug.hit = Some((addr, access, pc));
    }
    d.irq_flag.set(true);
}

/// The engine stopped at `pc` inside the block the block hook charged last: give back the
/// instructions (and their cycles) from `pc` to the block's end, which did not run: the block's
/// charge is taken back and the part that ran charged as a block of its own. Each instruction's
/// price depends only on itself and the one before it (`timing::Timing::block`), so the core
/// going on from `pc` costs what the block would have cost unstopped.
pub(crate) fn refund(uc: &mut Uc<'_>, pc: u32) {
    let handle = uc.get_handle();
    let d = uc.get_data_mut();
    let (addr, size, _) = d.block;
    if size == 0 || pc < addr || pc >= addr.wrapping_add(size) {
        return;
    }
    d.uncharge();
    if pc != addr {
        let ran = core::price(handle, addr, pc - addr, &d.timing, &d.ram_wait);
        let halves = d.halves_due(addr, u64::from(ran.halves), usize::from(ran.first.bits()));
        d.charge(addr, pc - addr, core::Slot::pack(pc - addr, ran), halves);
        d.block = (0, 0, 0);
    }
}

/// Remove every breakpoint and watchpoint of a core (the debugger went away).
pub fn clear(uc: &mut Uc<'_>) {
    let bps: Vec<u32> = uc.get_data().debug.breakpoints.keys().copied().collect();
    for a in bps {
        remove_breakpoint(uc, a);
    }
    let ws: Vec<(u32, u32, Access)> = uc
        .get_data()
        .debug
        .watches
        .iter()
        .map(|w| (w.addr, w.len, w.kind))
        .collect();
    for (a, l, k) in ws {
        remove_watchpoint(uc, a, l, k);
    }
    let d = &mut uc.get_data_mut().debug;
    d.attached = false;
    d.catch_faults = false;
    d.hit = None;
    d.skip = None;
}

/// After a run of the engine outside the scheduler (a hosted call, `count` as given to
/// [`core::resume_engine`]): the debugger's event that stopped it, if any, with the unexecuted
/// part of the block given back and the halt cleared. None: the run ended for another reason
/// (a breakpoint Unicorn could not stop at, inside an IT block, is forgotten).
pub fn call_stop(uc: &mut Uc<'_>, ran_ok: bool, count: usize) -> Option<Event> {
    let pc = core::reg(uc, RegisterARM::PC);
    let d = uc.get_data_mut();
    let (addr, size, _) = d.block;
    let inside = size > 0 && pc >= addr && pc < addr.wrapping_add(size);
    let event = match d.halt {
        Some(Halt::Breakpoint(at)) if at == pc => Event::Breakpoint { pc },
        Some(Halt::Breakpoint(_)) => {
            d.halt = None;
            return None;
        }
        Some(Halt::Bkpt(at)) => Event::Bkpt { pc: at },
        Some(Halt::Irq) if d.debug.hit.is_some() => {
            let (addr, access, at) = d.debug.hit.take().expect("checked");
            d.irq_flag.set(false);
            Event::Watch {
                addr,
                access,
                pc: at,
            }
        }
        None if count > 0 && ran_ok && inside => Event::Step,
        _ => return None,
    };
    d.halt = None;
    if matches!(event, Event::Breakpoint { .. } | Event::Step) {
        refund(uc, pc);
    }
    Some(event)
}
