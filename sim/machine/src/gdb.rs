//! A GDB remote server for the machine (`sim run --gdb`): both cores as threads (thread 1 =
//! the board's first core, the CM7; 2 = the CM4), all-stop, on the `gdbstub` crate.
//!
//! - Registers: ARMv7-M with the FPU and the system registers, described to GDB by
//!   [`TARGET_XML`] (features `org.gnu.gdb.arm.m-profile`, `org.gnu.gdb.arm.vfp`: d0-d15 and
//!   fpscr, GDB makes s0-s31 of them; `org.gnu.gdb.arm.m-system`: msp, psp; and
//!   `org.rt-twin.arm.m-masks`: primask, basepri, faultmask, control).
//! - Memory through each thread's core's own map (the CM4's 0x2000_0000 is its DTCM, not the
//!   CM7's); reads of peripheral registers have their read side effects, as on silicon.
//! - Breakpoints (software and hardware alike: the code is never patched) and watchpoints are
//!   set on every core ([`crate::debug`]); the stop names the core that hit one.
//! - Virtual time stops for both cores when one stops; a step of one thread lets the cores
//!   scheduled before it reach the same virtual time, as a run without the debugger would
//!   ([`Machine::run_debug`]). Ctrl-C in GDB is seen within 20 ms of wall time.
//! - Stops: breakpoint (SIGTRAP), BKPT (SIGTRAP), watchpoint, step, a fault taken (SIGSEGV for
//!   bus faults, SIGILL for usage faults, at the handler's first instruction), semihosting
//!   exit (the inferior exits with its code), lockup or twin error (SIGABRT; the run cannot go
//!   on), the run's time limit (SIGALRM), `monitor continue-for`'s limit (SIGTRAP).
//! - `monitor` commands: `time`, `irq`, `mu`, `continue-for DURATION`, `help`.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use gdbstub::arch::{Arch, Registers};
use gdbstub::common::{Signal, Tid};
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{self, BlockingEventLoop, WaitForStopReasonError};
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use unicorn_engine::RegisterARM;

use crate::core::{self, FaultKind, CALL_REGS, D_REGS};
use crate::debug::{self, Access, Event};
use crate::machine::{Machine, Stop};
use crate::time::{self, Ps};

/// The target description GDB reads (`qXfer:features:read`). The `g` packet follows its order:
/// r0-r12, sp, lr, pc, xpsr, d0-d15, fpscr, msp, psp, primask, basepri, faultmask, control.
pub const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
  <architecture>arm</architecture>
  <feature name="org.gnu.gdb.arm.m-profile">
    <reg name="r0" bitsize="32"/>
    <reg name="r1" bitsize="32"/>
    <reg name="r2" bitsize="32"/>
    <reg name="r3" bitsize="32"/>
    <reg name="r4" bitsize="32"/>
    <reg name="r5" bitsize="32"/>
    <reg name="r6" bitsize="32"/>
    <reg name="r7" bitsize="32"/>
    <reg name="r8" bitsize="32"/>
    <reg name="r9" bitsize="32"/>
    <reg name="r10" bitsize="32"/>
    <reg name="r11" bitsize="32"/>
    <reg name="r12" bitsize="32"/>
    <reg name="sp" bitsize="32" type="data_ptr"/>
    <reg name="lr" bitsize="32"/>
    <reg name="pc" bitsize="32" type="code_ptr"/>
    <reg name="xpsr" bitsize="32"/>
  </feature>
  <feature name="org.gnu.gdb.arm.vfp">
    <reg name="d0" bitsize="64" type="ieee_double"/>
    <reg name="d1" bitsize="64" type="ieee_double"/>
    <reg name="d2" bitsize="64" type="ieee_double"/>
    <reg name="d3" bitsize="64" type="ieee_double"/>
    <reg name="d4" bitsize="64" type="ieee_double"/>
    <reg name="d5" bitsize="64" type="ieee_double"/>
    <reg name="d6" bitsize="64" type="ieee_double"/>
    <reg name="d7" bitsize="64" type="ieee_double"/>
    <reg name="d8" bitsize="64" type="ieee_double"/>
    <reg name="d9" bitsize="64" type="ieee_double"/>
    <reg name="d10" bitsize="64" type="ieee_double"/>
    <reg name="d11" bitsize="64" type="ieee_double"/>
    <reg name="d12" bitsize="64" type="ieee_double"/>
    <reg name="d13" bitsize="64" type="ieee_double"/>
    <reg name="d14" bitsize="64" type="ieee_double"/>
    <reg name="d15" bitsize="64" type="ieee_double"/>
    <reg name="fpscr" bitsize="32" type="int" group="float"/>
  </feature>
  <feature name="org.gnu.gdb.arm.m-system">
    <reg name="msp" bitsize="32" type="data_ptr" group="system"/>
    <reg name="psp" bitsize="32" type="data_ptr" group="system"/>
  </feature>
  <feature name="org.rt-twin.arm.m-masks">
    <reg name="primask" bitsize="32" group="system"/>
    <reg name="basepri" bitsize="32" group="system"/>
    <reg name="faultmask" bitsize="32" group="system"/>
    <reg name="control" bitsize="32" group="system"/>
  </feature>
</target>
"#;

/// ARMv7-M as GDB sees the twin's cores.
pub enum ArmV7M {}

impl Arch for ArmV7M {
    type Usize = u32;
    type Registers = Regs;
    /// Thumb breakpoint kinds: 2 (16-bit), 3 (32-bit Thumb-2), 4.
    type BreakpointKind = usize;
    type RegId = ();

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

/// One core's registers in [`TARGET_XML`]'s order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Regs {
    /// r0-r12, sp, lr, pc.
    pub r: [u32; 16],
    pub xpsr: u32,
    pub d: [u64; 16],
    pub fpscr: u32,
    pub msp: u32,
    pub psp: u32,
    pub primask: u32,
    pub basepri: u32,
    pub faultmask: u32,
    pub control: u32,
}

impl Regs {
    fn words_after_d(&self) -> [u32; 7] {
        [
            self.fpscr,
            self.msp,
            self.psp,
            self.primask,
            self.basepri,
            self.faultmask,
            self.control,
        ]
    }
}

impl Registers for Regs {
    type ProgramCounter = u32;

    fn pc(&self) -> u32 {
        self.r[15]
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        let mut put = |b: &[u8]| b.iter().for_each(|&x| write_byte(Some(x)));
        for w in self.r.iter().chain([&self.xpsr]) {
            put(&w.to_le_bytes());
        }
        for d in &self.d {
            put(&d.to_le_bytes());
        }
        for w in self.words_after_d() {
            put(&w.to_le_bytes());
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        const LEN: usize = 17 * 4 + 16 * 8 + 7 * 4;
        if bytes.len() < LEN {
            return Err(());
        }
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        for (k, r) in self.r.iter_mut().enumerate() {
            *r = word(4 * k);
        }
        self.xpsr = word(64);
        for (k, d) in self.d.iter_mut().enumerate() {
            let at = 68 + 8 * k;
            *d = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        }
        let rest: Vec<u32> = (0..7).map(|k| word(196 + 4 * k)).collect();
        self.fpscr = rest[0];
        self.msp = rest[1];
        self.psp = rest[2];
        self.primask = rest[3];
        self.basepri = rest[4];
        self.faultmask = rest[5];
        self.control = rest[6];
        Ok(())
    }
}

/// Read a core's registers.
pub fn read_regs(m: &mut Machine, core_idx: usize) -> Regs {
    let uc = m.engine(core_idx);
    let get = |uc: &core::Engine, r| uc.reg_read(r).unwrap_or(0);
    let mut regs = Regs::default();
    for (k, &r) in CALL_REGS[..13].iter().enumerate() {
        regs.r[k] = get(uc, r) as u32;
    }
    regs.r[13] = get(uc, RegisterARM::SP) as u32;
    regs.r[14] = get(uc, RegisterARM::LR) as u32;
    regs.r[15] = get(uc, RegisterARM::PC) as u32;
    for (k, &r) in D_REGS.iter().enumerate() {
        regs.d[k] = get(uc, r);
    }
    regs.fpscr = get(uc, RegisterARM::FPSCR) as u32;
    regs.primask = get(uc, RegisterARM::PRIMASK) as u32;
    regs.basepri = get(uc, RegisterARM::BASEPRI) as u32;
    regs.faultmask = get(uc, RegisterARM::FAULTMASK) as u32;
    let mode = core::read_mode(uc);
    regs.xpsr = mode.xpsr;
    regs.control = mode.control;
    regs.msp = mode.msp;
    regs.psp = mode.psp;
    regs
}

/// Write a core's registers (the mode registers through [`core::write_mode`], so the banked
/// stack pointers stay consistent).
pub fn write_regs(m: &mut Machine, core_idx: usize, regs: &Regs) {
    let uc = m.engine(core_idx);
    let old = core::read_mode(uc);
    // A write of `sp` is a write of the stack pointer in use.
    let thread_psp = old.ipsr() == 0 && old.control & 2 != 0;
    let old_sp = if thread_psp { old.psp } else { old.msp };
    let (mut msp, mut psp) = (regs.msp, regs.psp);
    if regs.r[13] != old_sp {
        if thread_psp {
            psp = regs.r[13];
        } else {
            msp = regs.r[13];
        }
    }
    core::write_mode(
        uc,
        core::CpuMode {
            xpsr: regs.xpsr,
            control: regs.control,
            msp,
            psp,
        },
    );
    for (k, &r) in CALL_REGS[..13].iter().enumerate() {
        core::set(uc, r, regs.r[k]);
    }
    core::set(uc, RegisterARM::LR, regs.r[14]);
    core::set(uc, RegisterARM::PC, regs.r[15] | 1);
    for (k, &r) in D_REGS.iter().enumerate() {
        let _ = uc.reg_write(r, regs.d[k]);
    }
    core::set(uc, RegisterARM::FPSCR, regs.fpscr);
    core::set(uc, RegisterARM::PRIMASK, regs.primask & 1);
    core::set(uc, RegisterARM::BASEPRI, regs.basepri & 0xFF);
    core::set(uc, RegisterARM::FAULTMASK, regs.faultmask & 1);
}

/// What the next resume does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resume {
    Continue,
    Step(usize),
}

/// The machine as a GDB target.
pub struct Debugged<'a> {
    pub machine: &'a mut Machine,
    /// The run's time limit (virtual).
    end: Ps,
    resume: Resume,
    /// `monitor continue-for`: the next resume stops by this virtual time.
    limit: Option<Ps>,
    /// A stop the run cannot go on from (lockup, twin error, reset request, exit).
    finished: Option<Stop>,
    /// Breakpoints GDB set as hardware ones (reported as such).
    hw: std::collections::BTreeSet<u32>,
    /// The stop the run ended with, for the caller's summary.
    pub last: Option<Stop>,
}

impl<'a> Debugged<'a> {
    pub fn new(machine: &'a mut Machine, end: Ps) -> Self {
        machine.attach_debugger(true);
        Debugged {
            machine,
            end,
            resume: Resume::Continue,
            limit: None,
            finished: None,
            hw: Default::default(),
            last: None,
        }
    }

    fn core_of(&self, tid: Tid) -> Option<usize> {
        let i = tid.get() - 1;
        (i < self.machine.core_count()).then_some(i)
    }

    fn tid(&self, core_name: &str) -> Tid {
        let i = self.machine.core_index(core_name).unwrap_or(0);
        NonZeroUsize::new(i + 1).expect("non-zero")
    }

    /// Run as GDB asked, until a stop or until `poll` says data came from GDB.
    fn run(&mut self, poll: &mut dyn FnMut() -> bool) -> Stop {
        if let Some(s) = &self.finished {
            return s.clone();
        }
        let end = self.limit.map_or(self.end, |l| l.min(self.end));
        let step = match self.resume {
            Resume::Step(i) => Some(i),
            Resume::Continue => None,
        };
        let stop = self.machine.run_debug(end, step, poll);
        if matches!(
            stop,
            Stop::Exit { .. }
                | Stop::Lockup { .. }
                | Stop::TwinError { .. }
                | Stop::SystemReset { .. }
        ) {
            self.finished = Some(stop.clone());
        }
        if !matches!(stop, Stop::Interrupted) {
            self.limit = None;
        }
        self.last = Some(stop.clone());
        stop
    }

    /// What GDB is told of a stop.
    fn reason(&self, stop: &Stop) -> MultiThreadStopReason<u32> {
        let first = NonZeroUsize::new(1).expect("non-zero");
        let sig = |core: &str, signal| MultiThreadStopReason::SignalWithThread {
            tid: self.tid(core),
            signal,
        };
        match stop {
            Stop::Debug { core, event } => match event {
                Event::Breakpoint { pc } if self.hw.contains(pc) => {
                    MultiThreadStopReason::HwBreak(self.tid(core))
                }
                Event::Breakpoint { .. } => MultiThreadStopReason::SwBreak(self.tid(core)),
                Event::Bkpt { .. } | Event::Step => sig(core, Signal::SIGTRAP),
                Event::Watch { addr, access, .. } => MultiThreadStopReason::Watch {
                    tid: self.tid(core),
                    kind: if *access == Access::Write {
                        WatchKind::Write
                    } else {
                        WatchKind::Read
                    },
                    addr: *addr,
                },
                Event::Fault { kind } => sig(core, fault_signal(kind)),
            },
            Stop::Exit { code, .. } => MultiThreadStopReason::Exited((*code & 0xFF) as u8),
            Stop::Timeout if self.machine.now() >= self.end => {
                MultiThreadStopReason::SignalWithThread {
                    tid: first,
                    signal: Signal::SIGALRM,
                }
            }
            // `monitor continue-for`'s limit.
            Stop::Timeout => MultiThreadStopReason::SignalWithThread {
                tid: first,
                signal: Signal::SIGTRAP,
            },
            // GDB's Ctrl-C.
            Stop::Interrupted => MultiThreadStopReason::SignalWithThread {
                tid: first,
                signal: Signal::SIGINT,
            },
            Stop::Lockup { core, .. } | Stop::TwinError { core, .. } => sig(core, Signal::SIGABRT),
            Stop::SystemReset { core } => sig(core, Signal::SIGHUP),
        }
    }
}

fn fault_signal(kind: &FaultKind) -> Signal {
    match kind {
        FaultKind::DataBus { .. } | FaultKind::FetchBus { .. } => Signal::SIGSEGV,
        FaultKind::Breakpoint { .. } => Signal::SIGTRAP,
        FaultKind::Undefined { .. } | FaultKind::InvState { .. } | FaultKind::InvPc { .. } => {
            Signal::SIGILL
        }
    }
}

/// Errors of the target itself (none are fatal to the session: memory errors go back to GDB
/// as error replies).
pub type TargetErr = &'static str;

impl Target for Debugged<'_> {
    type Arch = ArmV7M;
    type Error = TargetErr;

    fn base_ops(&mut self) -> BaseOps<'_, ArmV7M, TargetErr> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    // The twin implements breakpoints itself (code hooks); GDB need not patch memory.
    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }
}

impl MultiThreadBase for Debugged<'_> {
    fn read_registers(&mut self, regs: &mut Regs, tid: Tid) -> TargetResult<(), Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        *regs = read_regs(self.machine, i);
        Ok(())
    }

    fn write_registers(&mut self, regs: &Regs, tid: Tid) -> TargetResult<(), Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        write_regs(self.machine, i, regs);
        Ok(())
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        let uc = self.machine.engine(i);
        // As much as is readable from `start` on (GDB asks past the end of memory at times).
        let mut n = 0;
        while n < data.len() {
            let chunk = (data.len() - n).min(256);
            let at = u64::from(start) + n as u64;
            if uc.mem_read(at, &mut data[n..n + chunk]).is_ok() {
                n += chunk;
                continue;
            }
            // Byte by byte up to the first unreadable one.
            while n < data.len()
                && uc
                    .mem_read(u64::from(start) + n as u64, &mut data[n..n + 1])
                    .is_ok()
            {
                n += 1;
            }
            break;
        }
        if n == 0 && !data.is_empty() {
            return Err(TargetError::NonFatal);
        }
        Ok(n)
    }

    fn write_addrs(&mut self, start: u32, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        self.machine
            .engine(i)
            .mem_write(u64::from(start), data)
            .map_err(|_| TargetError::NonFatal)?;
        // The bytes may be code, and RAM may be shared: every core forgets its translations.
        for k in 0..self.machine.core_count() {
            core::flush(self.machine.engine(k));
        }
        Ok(())
    }

    fn list_active_threads(&mut self, f: &mut dyn FnMut(Tid)) -> Result<(), TargetErr> {
        for i in 0..self.machine.core_count() {
            f(NonZeroUsize::new(i + 1).expect("non-zero"));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl ThreadExtraInfo for Debugged<'_> {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, TargetErr> {
        let Some(i) = self.core_of(tid) else {
            return Ok(0);
        };
        let text = format!(
            "{} {:?} at {}",
            self.machine.core_name(i),
            self.machine.state(i),
            time::format_ps(self.machine.core_now(i))
        );
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n)
    }
}

impl MultiThreadResume for Debugged<'_> {
    fn resume(&mut self) -> Result<(), TargetErr> {
        // The event loop runs the machine (`wait_for_stop_reason`).
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), TargetErr> {
        self.resume = Resume::Continue;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        _tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), TargetErr> {
        // The cores run in lockstep: continuing one continues all.
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSchedulerLocking for Debugged<'_> {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), TargetErr> {
        // GDB resumes only some threads (e.g. `vCont;c:1`, as it does to move one thread off a
        // watchpoint): the twin's cores stay in lockstep, so all of them run, as they would
        // without the debugger.
        Ok(())
    }
}

impl MultiThreadSingleStep for Debugged<'_> {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), TargetErr> {
        let i = self.core_of(tid).ok_or("no such thread")?;
        self.resume = Resume::Step(i);
        Ok(())
    }
}

impl Breakpoints for Debugged<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl Debugged<'_> {
    /// Set (or clear) a breakpoint on every core.
    fn breakpoint(&mut self, addr: u32, set: bool) -> TargetResult<bool, Self> {
        let mut any = false;
        for i in 0..self.machine.core_count() {
            let uc = self.machine.engine(i);
            any |= if set {
                debug::add_breakpoint(uc, addr).map_err(|_| TargetError::NonFatal)?
            } else {
                debug::remove_breakpoint(uc, addr)
            };
        }
        Ok(any)
    }

    fn watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: WatchKind,
        set: bool,
    ) -> TargetResult<bool, Self> {
        let access = match kind {
            WatchKind::Write => Access::Write,
            WatchKind::Read => Access::Read,
            WatchKind::ReadWrite => Access::Any,
        };
        let mut any = false;
        for i in 0..self.machine.core_count() {
            let uc = self.machine.engine(i);
            any |= if set {
                debug::add_watchpoint(uc, addr, len, access).map_err(|_| TargetError::NonFatal)?
            } else {
                debug::remove_watchpoint(uc, addr, len, access)
            };
        }
        Ok(any)
    }
}

impl SwBreakpoint for Debugged<'_> {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoint(addr, true)
    }
    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoint(addr, false)
    }
}

impl HwBreakpoint for Debugged<'_> {
    fn add_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.hw.insert(addr & !1);
        self.breakpoint(addr, true)
    }
    fn remove_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.hw.remove(&(addr & !1));
        self.breakpoint(addr, false)
    }
}

impl HwWatchpoint for Debugged<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        self.watchpoint(addr, len, kind, true)
    }
    fn remove_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        self.watchpoint(addr, len, kind, false)
    }
}

const MONITOR_HELP: &str = "\
monitor commands of rt-twin:
  time                   virtual time, and each core's time, instructions and cycles
  irq                    each core's NVIC: enabled, pending and active exceptions, priorities
  mu                     the Messaging Unit's registers, both sides
  continue-for DURATION  the next continue stops after DURATION of virtual time (10ms, 250us)
  help                   this text";

/// A line to GDB's console (gdbstub's `outputln!` names `core::fmt`, which this crate's
/// `core` module shadows).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = std::fmt::Write::write_fmt(&mut $out, format_args!($($arg)*));
        let _ = std::fmt::Write::write_str(&mut $out, "\n");
    }};
}

impl MonitorCmd for Debugged<'_> {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), TargetErr> {
        let text = String::from_utf8_lossy(cmd);
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["time"] => {
                say!(out, "virtual time {}", time::format_ps(self.machine.now()));
                for c in self.machine.summary() {
                    let i = self.machine.core_index(&c.core).unwrap_or(0);
                    say!(
                        out,
                        "  {:<3} {:<8} at {}  instructions {}  cycles {}",
                        c.core,
                        format!("{:?}", c.state),
                        time::format_ps(self.machine.core_now(i)),
                        c.instructions,
                        c.cycles
                    );
                }
            }
            ["irq"] => {
                for line in self.machine.nvic_report() {
                    say!(out, "{line}");
                }
            }
            ["mu"] => {
                for line in self.machine.mu_report() {
                    say!(out, "{line}");
                }
            }
            ["continue-for", d] => match time::parse_duration(d) {
                Ok(ps) => {
                    let at = self.machine.now().max(
                        (0..self.machine.core_count())
                            .map(|i| self.machine.core_now(i))
                            .min()
                            .unwrap_or(0),
                    ) + ps;
                    self.limit = Some(at);
                    say!(
                        out,
                        "the next continue stops at {} of virtual time",
                        time::format_ps(at)
                    );
                }
                Err(e) => say!(out, "continue-for: {e}"),
            },
            _ => say!(out, "{MONITOR_HELP}"),
        }
        Ok(())
    }
}

/// How often a running machine looks for GDB's Ctrl-C (wall time).
const POLL_EVERY: Duration = Duration::from_millis(20);

struct EventLoop<'a>(std::marker::PhantomData<&'a ()>);

impl<'a> BlockingEventLoop for EventLoop<'a> {
    type Target = Debugged<'a>;
    type Connection = TcpStream;
    type StopReason = MultiThreadStopReason<u32>;

    fn wait_for_stop_reason(
        target: &mut Debugged<'a>,
        conn: &mut TcpStream,
    ) -> Result<
        run_blocking::Event<MultiThreadStopReason<u32>>,
        WaitForStopReasonError<TargetErr, io::Error>,
    > {
        let mut last = Instant::now();
        let mut conn_error = None;
        let stop = target.run(&mut || {
            if last.elapsed() < POLL_EVERY {
                return false;
            }
            last = Instant::now();
            match conn.peek() {
                Ok(b) => b.is_some(),
                Err(e) => {
                    conn_error = Some(e);
                    true
                }
            }
        });
        if let Some(e) = conn_error {
            return Err(WaitForStopReasonError::Connection(e));
        }
        if let Stop::Interrupted = stop {
            let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
            return Ok(run_blocking::Event::IncomingData(byte));
        }
        Ok(run_blocking::Event::TargetStopped(target.reason(&stop)))
    }

    fn on_interrupt(
        target: &mut Debugged<'a>,
    ) -> Result<Option<MultiThreadStopReason<u32>>, TargetErr> {
        // The machine is already stopped between two segments.
        Ok(Some(target.reason(&Stop::Interrupted)))
    }
}

/// How a debugging session ended.
#[derive(Debug)]
pub enum Ended {
    /// GDB detached: the run goes on without it.
    Detached,
    /// GDB killed the inferior: the run ends here.
    Killed,
    /// The firmware exited (GDB was told).
    Exited,
}

/// Serve one GDB connection on `conn` until it detaches, kills, or the firmware exits.
pub fn serve(
    machine: &mut Machine,
    end: Ps,
    conn: TcpStream,
) -> crate::Result<(Ended, Option<Stop>)> {
    let _ = conn.set_nodelay(true);
    let mut target = Debugged::new(machine, end);
    let gdb = GdbStub::new(conn);
    let r = gdb.run_blocking::<EventLoop<'_>>(&mut target);
    let last = target.last.take();
    let ended = match r {
        Ok(DisconnectReason::Disconnect) => Ended::Detached,
        Ok(DisconnectReason::Kill) => Ended::Killed,
        Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => {
            Ended::Exited
        }
        Err(e) if e.is_connection_error() => Ended::Detached,
        Err(e) => {
            return Err(crate::Error::Usage(format!("GDB session: {e}")));
        }
    };
    target.detach();
    Ok((ended, last))
}

impl Debugged<'_> {
    /// Remove every breakpoint and watchpoint: the run goes on as without a debugger.
    fn detach(&mut self) {
        for i in 0..self.machine.core_count() {
            debug::clear(self.machine.engine(i));
        }
    }
}

/// Listen for GDB on `addr` (`PORT` or `ADDR:PORT`; 127.0.0.1 unless an address is given).
pub fn listen(addr: &str) -> crate::Result<TcpListener> {
    let full = if addr.contains(':') {
        addr.to_string()
    } else {
        format!("127.0.0.1:{addr}")
    };
    TcpListener::bind(&full)
        .map_err(|e| crate::Error::Usage(format!("--gdb {addr}: cannot listen on {full}: {e}")))
}

/// A GDB that has connected to `listener` since the last look, if any (never blocks).
pub fn accept_pending(listener: &TcpListener) -> Option<TcpStream> {
    let _ = listener.set_nonblocking(true);
    let r = listener.accept().ok().map(|(s, _)| s);
    let _ = listener.set_nonblocking(false);
    if let Some(s) = &r {
        let _ = s.set_nonblocking(false);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registers in the target description, in order: (name, bits).
    fn described() -> Vec<(String, usize)> {
        TARGET_XML
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let name = l.strip_prefix("<reg name=\"")?.split('"').next()?;
                let bits = l.split("bitsize=\"").nth(1)?.split('"').next()?;
                Some((name.to_string(), bits.parse().ok()?))
            })
            .collect()
    }

    #[test]
    fn the_g_packet_follows_the_target_description() {
        let regs = described();
        let names: Vec<&str> = regs.iter().map(|(n, _)| n.as_str()).collect();
        // GDB's ARM M-profile feature names (gdb/features/arm/arm-m-profile.xml).
        assert_eq!(
            &names[..17],
            [
                "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12",
                "sp", "lr", "pc", "xpsr"
            ]
        );
        assert_eq!(names[17], "d0");
        assert_eq!(names[33], "fpscr");
        assert_eq!(
            &names[34..],
            ["msp", "psp", "primask", "basepri", "faultmask", "control"]
        );
        let bytes: usize = regs.iter().map(|(_, b)| b / 8).sum();
        // Every register distinct, so a misplaced one shows.
        let mut r = Regs::default();
        for (k, x) in r.r.iter_mut().enumerate() {
            *x = 0x1000 + k as u32;
        }
        r.xpsr = 0x0100_0000;
        for (k, d) in r.d.iter_mut().enumerate() {
            *d = 0x4000_0000_0000_0000 | k as u64;
        }
        (
            r.fpscr,
            r.msp,
            r.psp,
            r.primask,
            r.basepri,
            r.faultmask,
            r.control,
        ) = (0x0300_0000, 0x2000_1000, 0x2000_2000, 1, 0x40, 1, 6);
        let mut out = Vec::new();
        r.gdb_serialize(|b| out.push(b.unwrap()));
        assert_eq!(out.len(), bytes);
        // Spot checks at the offsets the description implies.
        let word = |i: usize| u32::from_le_bytes(out[i..i + 4].try_into().unwrap());
        assert_eq!(word(15 * 4), 0x100F, "pc");
        assert_eq!(word(16 * 4), 0x0100_0000, "xpsr");
        assert_eq!(out[17 * 4 + 8 * 3], 3, "d3's low byte");
        assert_eq!(word(17 * 4 + 16 * 8 + 4), 0x2000_1000, "msp");
        assert_eq!(word(bytes - 4), 6, "control");
        let mut back = Regs::default();
        back.gdb_deserialize(&out).unwrap();
        assert_eq!(back, r);
        assert!(back.gdb_deserialize(&out[..out.len() - 1]).is_err());
    }
}
