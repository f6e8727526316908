//! The GDB side of the server: the `gdbstub` target, on the server's own thread. It holds no
//! machine: every read, write and setting is a job run on the thread that runs the machine,
//! which serves jobs while it is stopped ([`super::Port`]).

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use gdbstub::common::{Signal, Tid};
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{self, BlockingEventLoop, WaitForStopReasonError};
use gdbstub::stub::MultiThreadStopReason;
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
use gdbstub::target::{TargetError, TargetResult};

use super::arch::{read_regs, write_regs, ArmV7M, Regs};
use super::wire::{Halted, ToSim, END_OF_RUN};
use crate::core::{self, FaultKind};
use crate::debug::{self, Access, Event};
use crate::machine::{CoreState, Machine, Resume, Stop};
use crate::time;

/// Errors of the target: the machine's thread has gone (the run ended).
pub type TargetErr = &'static str;

const GONE: TargetErr = "the run has ended";

/// How often a running machine is checked for GDB's Ctrl-C (wall time).
const POLL_EVERY: Duration = Duration::from_millis(20);

pub(crate) struct Target {
    to_sim: Sender<ToSim>,
    pub(crate) from_sim: Receiver<Halted>,
    interrupt: Arc<AtomicBool>,
    resume: Resume,
    /// Breakpoints GDB set as hardware ones (reported as such).
    hw: BTreeSet<u32>,
    /// The cores' names, by thread id - 1.
    names: Vec<String>,
    /// The last stop and where the workload was.
    pub(crate) last: Halted,
}

impl Target {
    pub(crate) fn new(
        to_sim: Sender<ToSim>,
        from_sim: Receiver<Halted>,
        interrupt: Arc<AtomicBool>,
        first: Halted,
    ) -> Result<Target, TargetErr> {
        let mut t = Target {
            to_sim,
            from_sim,
            interrupt,
            resume: Resume::Continue,
            hw: BTreeSet::new(),
            names: Vec::new(),
            last: first,
        };
        t.names = t.on(|m| {
            m.attach_debugger(true);
            (0..m.core_count())
                .map(|i| m.core_name(i).to_string())
                .collect()
        })?;
        Ok(t)
    }

    /// Run `f` on the machine's thread (stopped, serving jobs) and wait for its result.
    pub(crate) fn on<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Machine) -> R + Send + 'static,
    ) -> Result<R, TargetErr> {
        let (tx, rx) = mpsc::channel();
        self.to_sim
            .send(ToSim::Job(Box::new(move |m| {
                let _ = tx.send(f(m));
            })))
            .map_err(|_| GONE)?;
        rx.recv().map_err(|_| GONE)
    }

    /// Let the machine go on.
    pub(crate) fn release(&self, how: Resume) {
        let _ = self.to_sim.send(ToSim::Resume(how));
    }

    fn core_of(&self, tid: Tid) -> Option<usize> {
        let i = tid.get() - 1;
        (i < self.names.len()).then_some(i)
    }

    fn tid(&self, core_name: &str) -> Tid {
        let i = self.names.iter().position(|n| n == core_name).unwrap_or(0);
        NonZeroUsize::new(i + 1).expect("non-zero")
    }

    /// What GDB is told of a stop.
    fn reason(&self, h: &Halted) -> MultiThreadStopReason<u32> {
        let first = NonZeroUsize::new(1).expect("non-zero");
        let sig = |core: &str, signal| MultiThreadStopReason::SignalWithThread {
            tid: self.tid(core),
            signal,
        };
        match &h.stop {
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
            Stop::Timeout if h.context == END_OF_RUN => MultiThreadStopReason::SignalWithThread {
                tid: first,
                signal: Signal::SIGXCPU,
            },
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

impl gdbstub::target::Target for Target {
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

/// A failed job (the run ended) is an error GDB is told of, not the end of the session.
fn nonfatal<T>(r: Result<T, TargetErr>) -> TargetResult<T, Target> {
    r.map_err(|_| TargetError::NonFatal)
}

impl MultiThreadBase for Target {
    fn read_registers(&mut self, regs: &mut Regs, tid: Tid) -> TargetResult<(), Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        *regs = nonfatal(self.on(move |m| read_regs(m, i)))?;
        Ok(())
    }

    fn write_registers(&mut self, regs: &Regs, tid: Tid) -> TargetResult<(), Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        let regs = regs.clone();
        nonfatal(self.on(move |m| write_regs(m, i, &regs)))
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        let len = data.len();
        let bytes = nonfatal(self.on(move |m| read_memory(m, i, start, len)))?;
        if bytes.is_empty() && len > 0 {
            return Err(TargetError::NonFatal);
        }
        data[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn write_addrs(&mut self, start: u32, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let i = self.core_of(tid).ok_or(TargetError::NonFatal)?;
        let data = data.to_vec();
        let ok = nonfatal(self.on(move |m| {
            let ok = m.engine(i).mem_write(u64::from(start), &data).is_ok();
            // The bytes may be code, and RAM may be shared: every core forgets its
            // translations.
            for k in 0..m.core_count() {
                core::flush(m.engine(k));
            }
            ok
        }))?;
        if ok {
            Ok(())
        } else {
            Err(TargetError::NonFatal)
        }
    }

    fn list_active_threads(&mut self, f: &mut dyn FnMut(Tid)) -> Result<(), TargetErr> {
        for i in 0..self.names.len() {
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

/// As many bytes as are readable from `start` on, through core `i`'s map (GDB asks past the
/// end of memory at times).
fn read_memory(m: &mut Machine, i: usize, start: u32, len: usize) -> Vec<u8> {
    let uc = m.engine(i);
    let mut data = vec![0u8; len];
    if uc.mem_read(u64::from(start), &mut data).is_ok() {
        return data;
    }
    let mut n = 0;
    while n < len
        && uc
            .mem_read(u64::from(start) + n as u64, &mut data[n..n + 1])
            .is_ok()
    {
        n += 1;
    }
    data.truncate(n);
    data
}

impl ThreadExtraInfo for Target {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, TargetErr> {
        let Some(i) = self.core_of(tid) else {
            return Ok(0);
        };
        let text = self.on(move |m| {
            let state = match m.state(i) {
                // No firmware of its own: the core runs the hosted modules' calls.
                CoreState::Off if !m.debug_symbols.is_empty() => "hosted".to_string(),
                s => format!("{s:?}"),
            };
            format!(
                "{} {state} at {}",
                m.core_name(i),
                time::format_ps(m.core_now(i))
            )
        })?;
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n)
    }
}

impl MultiThreadResume for Target {
    fn resume(&mut self) -> Result<(), TargetErr> {
        self.release(self.resume);
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

impl MultiThreadSchedulerLocking for Target {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), TargetErr> {
        // GDB resumes only some threads (e.g. `vCont;c:1`, as it does to move one thread off a
        // watchpoint): the twin's cores stay in lockstep, so all of them run, as they would
        // without the debugger.
        Ok(())
    }
}

impl MultiThreadSingleStep for Target {
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

impl Breakpoints for Target {
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

impl Target {
    /// Set (or clear) a breakpoint on every core.
    fn breakpoint(&mut self, addr: u32, set: bool) -> TargetResult<bool, Self> {
        let r = nonfatal(self.on(move |m| {
            let mut any = false;
            for i in 0..m.core_count() {
                let uc = m.engine(i);
                any |= if set {
                    debug::add_breakpoint(uc, addr).map_err(|_| ())?
                } else {
                    debug::remove_breakpoint(uc, addr)
                };
            }
            Ok::<bool, ()>(any)
        }))?;
        r.map_err(|_| TargetError::NonFatal)
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
        let r = nonfatal(self.on(move |m| {
            let mut any = false;
            for i in 0..m.core_count() {
                let uc = m.engine(i);
                any |= if set {
                    debug::add_watchpoint(uc, addr, len, access).map_err(|_| ())?
                } else {
                    debug::remove_watchpoint(uc, addr, len, access)
                };
            }
            Ok::<bool, ()>(any)
        }))?;
        r.map_err(|_| TargetError::NonFatal)
    }
}

impl SwBreakpoint for Target {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoint(addr, true)
    }
    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoint(addr, false)
    }
}

impl HwBreakpoint for Target {
    fn add_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.hw.insert(addr & !1);
        self.breakpoint(addr, true)
    }
    fn remove_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.hw.remove(&(addr & !1));
        self.breakpoint(addr, false)
    }
}

impl HwWatchpoint for Target {
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
  reset                  power on again: images reloaded, virtual time 0 (then flush GDB's
                         register cache: maintenance flush register-cache)
  time                   where the run is: virtual time, each core's time, instructions, cycles
  irq                    each core's NVIC: enabled, pending and active exceptions, priorities
  mu                     the Messaging Unit's registers, both sides
  symbols                the GDB commands that load hosted modules' symbols where they are
  continue-for DURATION  the next continue stops after DURATION of virtual time (10ms, 250us)
  help                   this text";

impl MonitorCmd for Target {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), TargetErr> {
        let text = String::from_utf8_lossy(cmd);
        let words: Vec<&str> = text.split_whitespace().collect();
        let lines: Vec<String> = match words.as_slice() {
            ["time"] => {
                let context = self.last.context.clone();
                self.on(move |m| {
                    let mut v = vec![format!("virtual time {}", time::format_ps(m.now()))];
                    if !context.is_empty() {
                        v.push(format!("stopped: {context}"));
                    }
                    for (i, c) in m.summary().iter().enumerate() {
                        v.push(format!(
                            "  {:<3} {:<8} at {}  instructions {}  cycles {}",
                            c.core,
                            format!("{:?}", c.state),
                            time::format_ps(m.core_now(i)),
                            c.instructions,
                            c.cycles
                        ));
                    }
                    v
                })?
            }
            ["irq"] => self.on(|m| m.nvic_report())?,
            ["reset"] => {
                let (done, lines) = self.on(|m| match m.reset() {
                    Ok(()) => (
                        true,
                        vec!["reset: both cores at power-on, virtual time 0 (now: maintenance flush register-cache)".to_string()],
                    ),
                    Err(e) => (false, vec![format!("reset: {e}")]),
                })?;
                if done {
                    self.last.context = "reset".into();
                }
                lines
            }
            ["symbols"] => self.on(|m| {
                if m.debug_symbols.is_empty() {
                    vec!["no code placed at run time: the images' own symbols are all".into()]
                } else {
                    m.debug_symbols.clone()
                }
            })?,
            ["mu"] => self.on(|m| m.mu_report())?,
            ["continue-for", d] => match time::parse_duration(d) {
                Ok(ps) => self.on(move |m| {
                    let from = (0..m.core_count())
                        .map(|i| m.core_now(i))
                        .min()
                        .unwrap_or(0)
                        .max(m.now());
                    m.debug_until = Some(from + ps);
                    vec![format!(
                        "the next continue stops at {} of virtual time",
                        time::format_ps(from + ps)
                    )]
                })?,
                Err(e) => vec![format!("continue-for: {e}")],
            },
            _ => vec![MONITOR_HELP.to_string()],
        };
        for l in lines {
            // gdbstub's `outputln!` names `core::fmt`, which this crate's `core` shadows.
            let _ = std::fmt::Write::write_str(&mut out, &l);
            let _ = std::fmt::Write::write_str(&mut out, "\n");
        }
        Ok(())
    }
}

pub(crate) enum EventLoop {}

impl BlockingEventLoop for EventLoop {
    type Target = Target;
    type Connection = TcpStream;
    type StopReason = MultiThreadStopReason<u32>;

    fn wait_for_stop_reason(
        target: &mut Target,
        conn: &mut TcpStream,
    ) -> Result<
        run_blocking::Event<MultiThreadStopReason<u32>>,
        WaitForStopReasonError<TargetErr, std::io::Error>,
    > {
        loop {
            match target.from_sim.recv_timeout(POLL_EVERY) {
                Ok(h) => {
                    let reason = target.reason(&h);
                    target.last = h;
                    return Ok(run_blocking::Event::TargetStopped(reason));
                }
                Err(RecvTimeoutError::Timeout) => {
                    if conn
                        .peek()
                        .map_err(WaitForStopReasonError::Connection)?
                        .is_some()
                    {
                        let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
                        return Ok(run_blocking::Event::IncomingData(byte));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(WaitForStopReasonError::Target(GONE));
                }
            }
        }
    }

    fn on_interrupt(target: &mut Target) -> Result<Option<MultiThreadStopReason<u32>>, TargetErr> {
        // Ask the machine to stop at its next look (between two segments or two ticks); it may
        // stop for a reason of its own first, which is then what GDB is told.
        target.interrupt.store(true, Ordering::Relaxed);
        let h = target.from_sim.recv().map_err(|_| GONE)?;
        let reason = target.reason(&h);
        target.last = h;
        Ok(Some(reason))
    }
}
