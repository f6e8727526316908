//! The machine: the cores of a board on their engines, the shared RAM, and the scheduler that
//! advances them in lockstep through virtual time (docs/time.md).
//!
//! Scheduling: time advances in segments. A segment ends at the earliest of the run's end, the
//! next timer event, and `now + quantum` (only while some core is running). Each core runs to the
//! segment end (the core that is first in the board file first), stopping at the first translated
//! block that would pass it. At the segment end the due timer events fire and the cross-core
//! effects (MU) are applied: every cross-core effect lands at a deterministic virtual time. When
//! no core is running, time jumps straight to the next event.

use crate::console::Console;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use serde::Serialize;
use unicorn_engine::uc_error;

use crate::board::Board;
use crate::core::{self, Engine, FaultKind, Halt};
use crate::debug::{self, Event};
use crate::error::{Error, Result};
use crate::exc::FIRST_IRQ;
use crate::image::Image;
use crate::soc::{Action, Soc};
use crate::symbols::Symbols;
use crate::time::{format_ps, Ps, PS_PER_US};

/// Default lockstep quantum: 10 us of virtual time (10 000 CM7 cycles, 4 000 CM4 cycles).
pub const DEFAULT_QUANTUM: Ps = 10 * PS_PER_US;

/// A host buffer backing one RAM of the board, page aligned, shared by every engine that maps it.
struct HostRam {
    ptr: *mut u8,
    layout: Layout,
}

impl HostRam {
    fn new(size: usize) -> HostRam {
        let layout = Layout::from_size_align(size.max(4096), 4096).expect("RAM layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(
            !ptr.is_null(),
            "out of memory allocating {size} bytes of guest RAM"
        );
        HostRam { ptr, layout }
    }
}

impl Drop for HostRam {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the engines mapping it are dropped first
        // (field order of `Machine`).
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreState {
    /// No image loaded.
    Off,
    /// Held in reset (the CM4 until SRC releases it).
    Held,
    Running,
    Sleeping,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Lockstep quantum (0 = the default).
    pub quantum: Ps,
    /// Echo semihosting output to the process's stdout/stderr as it is produced.
    pub echo: bool,
    /// Start the CM4 running at power-on instead of holding it for SRC.
    pub m4_running: bool,
}

struct CoreRun {
    uc: Engine,
    name: String,
    state: CoreState,
    now: Ps,
    sleep_ps: Ps,
    vector_table: Option<u32>,
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stop {
    /// Firmware exited through semihosting.
    Exit { core: String, code: i32 },
    /// The run reached its time limit.
    Timeout,
    /// A core locked up (a fault it could not take).
    Lockup { core: String, detail: String },
    /// The twin could not go on (unmodelled peripheral, internal error).
    TwinError { core: String, detail: String },
    /// Firmware requested a system reset (AIRCR.SYSRESETREQ).
    SystemReset { core: String },
    /// A core stopped for its debugger (breakpoint, watchpoint, step, caught fault); the run
    /// can go on from here ([`Machine::run_debug`]).
    Debug {
        core: String,
        #[serde(flatten)]
        event: crate::debug::Event,
    },
    /// The caller's poll asked to stop (between two scheduling segments).
    Interrupted,
}

/// How a run goes on after a debugger's stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// All cores run.
    Continue,
    /// Core `i` runs one instruction or enters one exception ([`Machine::run_debug`]).
    Step(usize),
    /// The debugger ended the run.
    Kill,
}

/// Builds a machine afresh, loaded and powered on ([`Machine::reset`]).
pub type Rebuild = Rc<dyn Fn() -> Result<Machine>>;

/// A debugger attached to a machine (the GDB server, [`crate::gdb`]): whoever runs the machine
/// hands it every stop and asks it, between segments or ticks, whether it wants one.
pub trait DebugPort {
    /// A core stopped (or the run stopped for the debugger): serve the debugger, which reads
    /// and changes the machine, until it says how to go on. `context` says where the workload
    /// is (e.g. "tick 512, in the call of ekf#estimate").
    fn stopped(&mut self, machine: &mut Machine, stop: &Stop, context: &str) -> Resume;
    /// The flag that asks for a stop (a debugger connected, or its Ctrl-C): cheap to poll.
    fn interrupt(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool>;
    /// Is a debugger connected?
    fn attached(&self) -> bool;
}

#[derive(Debug, Clone, Serialize)]
pub struct CoreSummary {
    pub core: String,
    pub state: CoreState,
    pub instructions: u64,
    pub cycles: u64,
    /// How cycles are counted (the CPU model's timing table, or a flat figure).
    pub cycle_model: String,
    pub virtual_time_ps: Ps,
    pub sleep_ps: Ps,
    pub sleep_share: f64,
    pub irqs_taken: u64,
    pub exceptions_taken: u64,
    pub pc: u32,
}

pub struct Machine {
    // Engines before RAM: they must be dropped first.
    cores: Vec<CoreRun>,
    _rams: Vec<HostRam>,
    pub soc: Rc<RefCell<Soc>>,
    pub board: Board,
    now: Ps,
    quantum: Ps,
    /// A scheduling segment is under way: a debugger stopped a core inside it.
    segment_open: bool,
    /// The debugger attached to the machine, if any.
    pub debugger: Option<Box<dyn DebugPort>>,
    /// A debugger's `continue-for`: stop when the run reaches this virtual time.
    pub debug_until: Option<Ps>,
    /// How to build this machine again at power-on (a debugger's `monitor reset`), when its
    /// runner can.
    pub rebuild: Option<Rebuild>,
    /// GDB commands that load the symbols of code placed at run time (hosted modules:
    /// `add-symbol-file OBJECT -s .text ADDR ...`), for the user and `monitor symbols`.
    pub debug_symbols: Vec<String>,
    /// Where the workload is, for the debugger's stops (e.g. "tick 512 (t = 0.512 s), "); set
    /// by whoever drives the machine.
    pub debug_context: String,
    wall_s: f64,
    console: Console,
}

impl Machine {
    pub fn new(board: Board, config: &Config) -> Result<Machine> {
        let soc = Rc::new(RefCell::new(Soc::new(&board, config.m4_running)));
        let rams: Vec<HostRam> = board
            .rams
            .iter()
            .map(|r| HostRam::new(r.size as usize))
            .collect();
        let mut cores = Vec::new();
        for (idx, desc) in board.cores.iter().enumerate() {
            let mut uc = core::new_engine(
                desc,
                idx,
                soc.clone(),
                Rc::new(Symbols::default()),
                config.echo,
            )?;
            for w in &desc.memory {
                let ri = board
                    .rams
                    .iter()
                    .position(|r| r.id == w.ram)
                    .expect("validated board");
                // SAFETY: the buffer outlives the engine (Machine field order) and the window
                // lies inside it (validated board).
                unsafe {
                    core::map_ram(&mut uc, w.base, w.size, rams[ri].ptr.add(w.offset as usize))?;
                }
            }
            core::map_ppb(&mut uc)?;
            for s in &board.spaces {
                core::map_space(&mut uc, s.base, s.size)?;
            }
            core::watch_unmapped(&mut uc)?;
            core::watch_wait_states(&mut uc)?;
            cores.push(CoreRun {
                uc,
                name: desc.name.clone(),
                state: CoreState::Off,
                now: 0,
                sleep_ps: 0,
                vector_table: None,
            });
        }
        let quantum = if config.quantum == 0 {
            DEFAULT_QUANTUM
        } else {
            config.quantum
        };
        let mut console = Console::new(config.echo);
        // A device link's bytes are kept, not echoed: they are not text.
        if let Some(u) = &board.io_uart {
            console.link(u);
        }
        Ok(Machine {
            cores,
            _rams: rams,
            soc,
            board,
            now: 0,
            quantum,
            segment_open: false,
            debugger: None,
            debug_until: None,
            debug_context: String::new(),
            debug_symbols: Vec::new(),
            rebuild: None,
            wall_s: 0.0,
            console,
        })
    }

    pub fn core_index(&self, name: &str) -> Result<usize> {
        self.board.core_index(name).ok_or_else(|| {
            Error::Usage(format!(
                "no core {name:?} on board {} (cores: {})",
                self.board.name,
                self.cores
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// Load an executable into a core's memory map.
    pub fn load(&mut self, core: &str, image: &Image) -> Result<()> {
        let i = self.core_index(core)?;
        let desc = &self.board.cores[i];
        for seg in &image.segments {
            let start = u64::from(seg.addr);
            let end = start + u64::from(seg.mem_size);
            let inside = desc.memory.iter().any(|w| {
                start >= u64::from(w.base) && end <= u64::from(w.base) + u64::from(w.size)
            });
            if !inside {
                let map: Vec<String> = desc
                    .memory
                    .iter()
                    .map(|w| format!("{} {:#010x}..{:#010x}", w.name, w.base, w.base + w.size))
                    .collect();
                return Err(Error::image(
                    &image.path,
                    format!(
                        "segment {} at {:#010x}..{:#010x} lies outside the memory of core {} ({})",
                        seg.index,
                        start,
                        end,
                        core,
                        map.join(", ")
                    ),
                ));
            }
            let mut bytes = seg.data.clone();
            bytes.resize(seg.mem_size as usize, 0);
            let uc = &mut self.cores[i].uc;
            uc.mem_write(start, &bytes).map_err(|e| {
                Error::image(&image.path, format!("writing segment {}: {e}", seg.index))
            })?;
        }
        let c = &mut self.cores[i];
        core::flush(&mut c.uc);
        let mut syms = (*c.uc.get_data().symbols).clone();
        syms.merge(&image.symbols);
        c.uc.get_data_mut().symbols = Rc::new(syms);
        c.vector_table = Some(image.vector_table);
        Ok(())
    }

    /// Add symbols for a core's reports (code another core puts there, e.g. the CM4 image the
    /// CM7 copies into the CM4's memory).
    pub fn add_symbols(&mut self, core: &str, symbols: &Symbols) -> Result<()> {
        let i = self.core_index(core)?;
        let uc = &mut self.cores[i].uc;
        let mut syms = (*uc.get_data().symbols).clone();
        syms.merge(symbols);
        uc.get_data_mut().symbols = Rc::new(syms);
        Ok(())
    }

    /// Put loaded cores in their power-on state: the first core boots from its vector table; a
    /// second (the CM4) boots too when `m4_running` (or when the first has no image), else it
    /// is held until SRC releases it.
    pub fn power_on(&mut self) -> Result<()> {
        let released = self.soc.borrow().src.m4_released();
        let first_loaded = self.cores.first().is_some_and(|c| c.vector_table.is_some());
        let m4 = self.soc.borrow().m4;
        for i in 0..self.cores.len() {
            let Some(vt) = self.cores[i].vector_table else {
                continue;
            };
            let held = Some(i) == m4 && first_loaded && !released;
            if held {
                self.cores[i].state = CoreState::Held;
            } else {
                if Some(i) == m4 && !released {
                    // No CM7 image: the CM4 runs alone, as if released.
                    self.soc.borrow_mut().src.scr |= 1;
                }
                core::boot(&mut self.cores[i].uc, vt)?;
                self.cores[i].state = CoreState::Running;
            }
        }
        if self.cores.iter().all(|c| c.state == CoreState::Off) {
            return Err(Error::Usage("no image loaded on any core".into()));
        }
        Ok(())
    }

    pub fn now(&self) -> Ps {
        self.now
    }

    pub fn engine(&mut self, core: usize) -> &mut Engine {
        &mut self.cores[core].uc
    }

    pub fn state(&self, core: usize) -> CoreState {
        self.cores[core].state
    }

    /// Semihosting stdout of a core so far.
    pub fn output(&self, core: usize) -> String {
        String::from_utf8_lossy(&self.cores[core].uc.get_data().semihost.stdout).into_owned()
    }

    /// Everything UART `name` (an LPUART of the board) has sent so far, as text.
    pub fn uart_text(&self, name: &str) -> String {
        self.console.text(name)
    }

    /// Write what UART `name` sends to `file` as well (raw bytes).
    pub fn connect_uart(&mut self, name: &str, file: std::fs::File) -> Result<()> {
        if !self.soc.borrow_mut().uart_input(name, self.now, &[]) {
            return Err(Error::Usage(format!(
                "no UART {name:?} on board {} (the board's LPUARTs are its UARTs)",
                self.board.name
            )));
        }
        self.console.connect(name, file);
        Ok(())
    }

    /// Bytes arriving on UART `name`'s RX line now, back to back at its baud.
    pub fn uart_send(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        if !self.soc.borrow_mut().uart_input(name, self.now, bytes) {
            return Err(Error::Usage(format!(
                "no UART {name:?} on board {}",
                self.board.name
            )));
        }
        Ok(())
    }

    /// Give every sensor part the board wires its measurement now (`m`'s absent ones are not
    /// measured this time); a GNSS solution needs the board's `gnss_uart`.
    pub fn sense(&mut self, m: &crate::devices::Measurements) -> Result<()> {
        use crate::board::Part;
        {
            let mut soc = self.soc.borrow_mut();
            if let Some(imu) = &m.imu {
                for d in &self.board.spi_devices {
                    if matches!(d.part, Part::Icm42688p | Part::Icm42686p) {
                        soc.imu_sample(&d.bus, imu);
                    }
                }
            }
            for d in &self.board.i2c_devices {
                match (d.part, m.baro, m.mag_ut) {
                    (Part::Bmp388, Some((t, p)), _) => {
                        soc.baro_sample(&d.bus, t, p);
                    }
                    (Part::Bmm150, _, Some(b)) => {
                        soc.mag_sample(&d.bus, b);
                    }
                    _ => {}
                }
            }
        }
        match &m.gnss {
            Some(fix) => self.gnss_fix(fix),
            None => Ok(()),
        }
    }

    /// Line time each bus has been busy so far (`Soc::bus_load`).
    pub fn bus_load(&self) -> Vec<(String, Ps)> {
        self.soc.borrow().bus_load()
    }

    /// A GNSS fix: its UBX NAV-PVT frame starts arriving now on the board's GNSS UART.
    pub fn gnss_fix(&mut self, fix: &crate::devices::ublox::NavPvt) -> Result<()> {
        let uart =
            self.board.gnss_uart.clone().ok_or_else(|| {
                Error::Usage(format!("board {} has no gnss_uart", self.board.name))
            })?;
        self.uart_send(&uart, &crate::devices::ublox::nav_pvt_frame(fix))
    }

    /// What the IO MCU (the board's `io_uart`) drives on its outputs now.
    pub fn io_outputs(&mut self) -> Option<crate::devices::px4io::IoOutputs> {
        let now = self.now;
        self.soc.borrow_mut().io_outputs(now)
    }

    /// Run for `duration` of virtual time, or until a stop. With a debugger attached
    /// ([`Machine::debugger`]) its stops are served here, until the run reaches its end or a
    /// stop of its own (exit, lockup, ...); a debugger's kill ends it with [`Stop::Interrupted`].
    pub fn run_for(&mut self, duration: Ps) -> Stop {
        let end = self.now.saturating_add(duration);
        let Some(flag) = self.debugger.as_ref().map(|d| d.interrupt()) else {
            return self.run_debug(end, None, &mut || false);
        };
        let mut step = None;
        loop {
            let until = self.debug_until.map_or(end, |u| u.min(end));
            let stop = self.run_debug(until, step, &mut || {
                flag.load(std::sync::atomic::Ordering::Relaxed)
            });
            let context = match &stop {
                Stop::Debug { .. } | Stop::Interrupted => {
                    format!("{}at {}", self.debug_context, format_ps(self.now))
                }
                Stop::Timeout if self.now < end => {
                    self.debug_until = None;
                    format!("continue-for reached {}", format_ps(self.now))
                }
                _ => return stop,
            };
            step = match self.debug_stop(&stop, &context) {
                Resume::Continue => None,
                Resume::Step(i) => Some(i),
                Resume::Kill => return Stop::Interrupted,
            };
        }
    }

    /// Run until virtual time `end` or a stop, for a debugger: with `step`, until that core has
    /// run one instruction or entered one exception (the cores before it in the segment run to
    /// the segment's end first, as without the debugger); `poll` is asked between scheduling
    /// segments and stops the run when it says so ([`Stop::Interrupted`]). A [`Stop::Debug`]
    /// may come inside a segment; the next run goes on from there, and the cores meet the same
    /// instructions at the same virtual times as in a run that never stopped.
    pub fn run_debug(
        &mut self,
        end: Ps,
        step: Option<usize>,
        poll: &mut dyn FnMut() -> bool,
    ) -> Stop {
        let wall = Instant::now();
        let stop = self.run_until(end, step, poll);
        self.drain_uarts();
        self.console.flush();
        self.wall_s += wall.elapsed().as_secs_f64();
        stop
    }

    /// Attach a debugger to every core: a BKPT stops for it ([`crate::debug::Event::Bkpt`]);
    /// with `catch_faults`, so does every fault taken.
    pub fn attach_debugger(&mut self, catch_faults: bool) {
        for c in &mut self.cores {
            let d = &mut c.uc.get_data_mut().debug;
            d.attached = true;
            d.catch_faults = catch_faults;
        }
    }

    /// Power on again (a debugger's `monitor reset`): the machine is built afresh by its
    /// [`Machine::rebuild`], keeping the debugger and what it set up for the run; virtual time
    /// starts again at 0.
    pub fn reset(&mut self) -> Result<()> {
        let make = self.rebuild.clone().ok_or_else(|| {
            Error::Usage("this run cannot be reset (`sim run` firmware can)".into())
        })?;
        let mut fresh = make()?;
        let debug = self.cores.first().map(|c| {
            let d = &c.uc.get_data().debug;
            (d.attached, d.catch_faults)
        });
        if let Some((true, catch)) = debug {
            fresh.attach_debugger(catch);
        }
        fresh.debugger = self.debugger.take();
        fresh.debug_symbols = std::mem::take(&mut self.debug_symbols);
        fresh.rebuild = Some(make);
        *self = fresh;
        Ok(())
    }

    /// Hand a stop to the attached debugger (see [`DebugPort::stopped`]); without one, go on.
    pub fn debug_stop(&mut self, stop: &Stop, context: &str) -> Resume {
        let Some(mut port) = self.debugger.take() else {
            return Resume::Continue;
        };
        let r = port.stopped(self, stop, context);
        self.debugger = Some(port);
        r
    }

    /// The run cannot go on (`stop` ended it): hand that stop to the debugger for as long as it
    /// stays connected (it is told again at each resume). [`Resume::Kill`] when it ended the
    /// run, else [`Resume::Continue`].
    pub fn debug_final(&mut self, stop: &Stop, context: &str) -> Resume {
        while self.debugging() {
            if self.debug_stop(stop, context) == Resume::Kill {
                return Resume::Kill;
            }
        }
        Resume::Continue
    }

    /// Is a debugger attached and connected?
    pub fn debugging(&self) -> bool {
        self.debugger.as_ref().is_some_and(|d| d.attached())
    }

    /// Virtual time core `i` has reached (ahead of [`Machine::now`] inside a segment).
    pub fn core_now(&self, i: usize) -> Ps {
        self.cores[i].now.max(self.now)
    }

    pub fn core_name(&self, i: usize) -> &str {
        &self.cores[i].name
    }

    pub fn core_count(&self) -> usize {
        self.cores.len()
    }

    /// Hand the UARTs' output to the console (a write error on a connected file is reported
    /// once on stderr: the run goes on).
    fn drain_uarts(&mut self) {
        let words = self.soc.borrow_mut().uart_output(self.now);
        if words.is_empty() {
            return;
        }
        if let Err(e) = self.console.take(words) {
            eprintln!("sim: writing UART output: {e}");
        }
    }

    fn run_until(&mut self, end: Ps, step: Option<usize>, poll: &mut dyn FnMut() -> bool) -> Stop {
        loop {
            if !self.segment_open {
                if self.now >= end {
                    return Stop::Timeout;
                }
                if poll() {
                    return Stop::Interrupted;
                }
                self.wake_sleepers();
                let running = self.cores.iter().any(|c| c.state == CoreState::Running);
                let mut t = end;
                if let Some(e) = self.soc.borrow().events.next_time() {
                    t = t.min(e.max(self.now));
                }
                if running {
                    t = t.min(self.now + self.quantum);
                }
                for c in &self.soc.borrow().cores {
                    c.deadline.set(t);
                }
                self.segment_open = true;
            }
            for i in 0..self.cores.len() {
                if let Some(stop) = self.run_core(i, step == Some(i)) {
                    if let Stop::Debug { .. } = stop {
                        // The segment goes on when the run does.
                        let uc = &mut self.cores[i].uc;
                        let pc = core::pc(uc);
                        uc.get_data_mut().debug.skip = Some(pc);
                    } else {
                        self.segment_open = false;
                        self.now = self.now.max(self.cores[i].now);
                    }
                    return stop;
                }
            }
            self.segment_open = false;
            let t_done = self.soc.borrow().cores[0].deadline.get();
            self.now = self.now.max(t_done);
            let actions = {
                let mut soc = self.soc.borrow_mut();
                soc.fire_events(self.now);
                soc.apply_cross_core();
                std::mem::take(&mut soc.actions)
            };
            self.drain_uarts();
            for a in actions {
                match a {
                    Action::BootCore { core, vtor } => {
                        let c = &mut self.cores[core];
                        // A core with no image of its own runs what another core copied into
                        // its memory (the SDK's multicore boot); an empty reset vector there
                        // means nothing to run.
                        if c.vector_table.is_none()
                            && core::read_u32(&c.uc, vtor.wrapping_add(4)).unwrap_or(0) == 0
                        {
                            continue;
                        }
                        if let Err(e) = core::boot(&mut c.uc, vtor) {
                            return Stop::TwinError {
                                core: c.name.clone(),
                                detail: format!("released by SRC: {e}"),
                            };
                        }
                        c.state = CoreState::Running;
                        c.now = c.now.max(self.now);
                    }
                    Action::SystemReset { core } => {
                        return Stop::SystemReset {
                            core: self.cores[core].name.clone(),
                        }
                    }
                }
            }
        }
    }

    /// A sleeping core with an exception that would wake it is running again (decided before
    /// the segment's length is, so a woken core never gets an idle-length segment).
    fn wake_sleepers(&mut self) {
        let soc = self.soc.borrow();
        for (i, c) in self.cores.iter_mut().enumerate() {
            if c.state == CoreState::Sleeping
                && soc.cores[i].scs.exc.wakes_from_wfi(core::masks(&c.uc))
            {
                c.state = CoreState::Running;
            }
        }
    }

    /// Run core `i` to the current segment end; with `step`, only until it has run one
    /// instruction or entered one exception.
    fn run_core(&mut self, i: usize, step: bool) -> Option<Stop> {
        let soc = self.soc.clone();
        let c = &mut self.cores[i];
        let name = c.name.clone();
        loop {
            let t = soc.borrow().cores[i].deadline.get();
            if c.now >= t {
                return None;
            }
            match c.state {
                CoreState::Off | CoreState::Held => {
                    c.now = t;
                    return None;
                }
                CoreState::Sleeping => {
                    let m = core::masks(&c.uc);
                    if soc.borrow().cores[i].scs.exc.wakes_from_wfi(m) {
                        c.state = CoreState::Running;
                    } else {
                        c.sleep_ps += t - c.now;
                        c.now = t;
                        return None;
                    }
                }
                CoreState::Running => {}
            }
            // Take the highest pending exception that can preempt; else, if one waits only
            // behind the masking registers, have the block hook watch them.
            soc.borrow().cores[i].irq_flag.set(false);
            let m = core::masks(&c.uc);
            let (take, poll) = {
                let s = soc.borrow();
                let e = &s.cores[i].scs.exc;
                let take = e.to_take(m);
                let poll = match (take, e.highest_pending()) {
                    (None, Some(n)) if e.group_priority(n) < e.active_priority() => {
                        Some((e.group_priority(n), e.active_priority()))
                    }
                    _ => None,
                };
                (take, poll)
            };
            if let Some(n) = take {
                let pc = core::pc(&c.uc);
                if let Err(why) = between_runs(c, |uc| core::take_exception(uc, n, pc)) {
                    return Some(Stop::Lockup {
                        core: name,
                        detail: why,
                    });
                }
                if step {
                    return Some(Stop::Debug {
                        core: name,
                        event: Event::Step,
                    });
                }
            }
            let pc = core::pc(&c.uc);
            let d = c.uc.get_data_mut();
            d.poll = poll;
            if d.debug.skip.is_some_and(|s| s != pc) {
                // The core left the breakpoint it stopped at (an exception, a debugger's write).
                d.debug.skip = None;
            }
            let insns_before = d.insns;
            let r = core::run_engine(&mut c.uc, c.now, usize::from(step));
            let pc = core::pc(&c.uc);
            let inside = {
                let (addr, size, _) = c.uc.get_data().block;
                size > 0 && pc >= addr && pc < addr.wrapping_add(size)
            };
            // Unicorn's instruction count stopped a step: before an instruction of the block
            // charged last (a WFI also ends a run with no halt, but after its block).
            let counted = step && r.is_ok() && c.uc.get_data().halt.is_none() && inside;
            let at_breakpoint =
                matches!(c.uc.get_data().halt, Some(Halt::Breakpoint(at)) if at == pc);
            if counted || at_breakpoint {
                debug::refund(&mut c.uc, pc);
            }
            let ran = c.uc.get_data().insns != insns_before;
            let (cycles, ps, halt, unmapped) = {
                let d = c.uc.get_data_mut();
                (
                    d.run_cycles,
                    d.ps_per_cycle,
                    d.halt.take(),
                    d.unmapped.take(),
                )
            };
            c.now += cycles * ps;
            // A breakpoint Unicorn could not stop at (inside an IT block, see `debug`): the run
            // went on and ended for another reason.
            let halt = match halt {
                Some(Halt::Breakpoint(at)) if at != pc => None,
                h => h,
            };
            let fault = match (r, halt) {
                (_, Some(Halt::Exit(code))) => return Some(Stop::Exit { core: name, code }),
                (_, Some(Halt::Breakpoint(_))) => {
                    return Some(Stop::Debug {
                        core: name,
                        event: Event::Breakpoint { pc },
                    })
                }
                (_, Some(Halt::Bkpt(at))) => {
                    return Some(Stop::Debug {
                        core: name,
                        event: Event::Bkpt { pc: at },
                    })
                }
                (_, Some(Halt::TwinError(detail) | Halt::HostError(detail))) => {
                    return Some(Stop::TwinError { core: name, detail })
                }
                (_, Some(Halt::Lockup(detail))) => {
                    let at = core::whereabouts(&c.uc, pc);
                    return Some(Stop::Lockup {
                        core: name,
                        detail: format!("{detail}; {at}"),
                    });
                }
                (_, Some(Halt::Fault(k))) => Some(k),
                (_, Some(Halt::Wfe)) => {
                    c.state = CoreState::Sleeping;
                    None
                }
                (_, Some(Halt::Budget | Halt::Irq)) => None,
                (Ok(()), None) => {
                    if counted {
                        None
                    } else if core::after_wfi(&c.uc, pc) {
                        c.state = CoreState::Sleeping;
                        None
                    } else {
                        let at = core::whereabouts(&c.uc, pc);
                        return Some(Stop::TwinError {
                            core: name,
                            detail: format!("the engine stopped for no known reason at {at}"),
                        });
                    }
                }
                (Err(e), None) => match (e, unmapped) {
                    (uc_error::READ_UNMAPPED | uc_error::WRITE_UNMAPPED, Some((addr, _))) => {
                        Some(FaultKind::DataBus { pc, addr })
                    }
                    (uc_error::FETCH_UNMAPPED, Some((addr, _))) => {
                        Some(FaultKind::FetchBus { addr })
                    }
                    (uc_error::INSN_INVALID, _) => Some(FaultKind::Undefined { pc }),
                    // A fetch from an execute-never region (core::fill_tlb), else a
                    // state the CPU refused (an interworking branch to ARM state).
                    (uc_error::EXCEPTION, _) if core::execute_never(pc) => {
                        Some(FaultKind::FetchBus { addr: pc })
                    }
                    (uc_error::EXCEPTION, _) => Some(FaultKind::InvState { pc }),
                    (e, _) => {
                        let at = core::whereabouts(&c.uc, pc);
                        return Some(Stop::TwinError {
                            core: name,
                            detail: format!("engine error {e:?} at {at}"),
                        });
                    }
                },
            };
            if let Some(k) = fault {
                if let Err(why) = between_runs(c, |uc| core::take_fault(uc, k)) {
                    let at = core::whereabouts(&c.uc, pc);
                    return Some(Stop::Lockup {
                        core: name,
                        detail: format!("{why}; {at}"),
                    });
                }
                if c.uc.get_data().debug.catch_faults {
                    return Some(Stop::Debug {
                        core: name,
                        event: Event::Fault { kind: k },
                    });
                }
            }
            if let Some((addr, access, at)) = c.uc.get_data_mut().debug.hit.take() {
                return Some(Stop::Debug {
                    core: name,
                    event: Event::Watch {
                        addr,
                        access,
                        pc: at,
                    },
                });
            }
            if step && (ran || fault.is_some()) {
                return Some(Stop::Debug {
                    core: name,
                    event: Event::Step,
                });
            }
        }
    }

    /// Each core's name and how its cycles are counted.
    pub fn cycle_models(&self) -> Vec<(String, String)> {
        self.cores
            .iter()
            .map(|c| (c.name.clone(), c.uc.get_data().timing.name()))
            .collect()
    }

    pub fn summary(&self) -> Vec<CoreSummary> {
        let soc = self.soc.borrow();
        self.cores
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let d = c.uc.get_data();
                let e = &soc.cores[i].scs.exc;
                CoreSummary {
                    core: c.name.clone(),
                    state: c.state,
                    instructions: d.insns,
                    cycles: d.cycles,
                    cycle_model: d.timing.name(),
                    virtual_time_ps: self.now,
                    sleep_ps: c.sleep_ps,
                    sleep_share: if self.now == 0 {
                        0.0
                    } else {
                        c.sleep_ps as f64 / self.now as f64
                    },
                    irqs_taken: e.taken[FIRST_IRQ as usize..].iter().sum(),
                    exceptions_taken: e.taken.iter().sum(),
                    pc: core::pc(&c.uc),
                }
            })
            .collect()
    }

    /// Each core's NVIC and system exceptions as text (`monitor irq`): the enabled, pending
    /// and active ones with their priorities, the masks and the fault status registers.
    pub fn nvic_report(&self) -> Vec<String> {
        let soc = self.soc.borrow();
        let mut out = Vec::new();
        for (i, c) in self.cores.iter().enumerate() {
            let e = &soc.cores[i].scs.exc;
            let m = core::masks(&c.uc);
            out.push(format!(
                "{}: PRIMASK {} FAULTMASK {} BASEPRI {:#04x} PRIGROUP {}  CFSR {:#010x} HFSR {:#010x} BFAR {:#010x}",
                c.name,
                u8::from(m.primask),
                u8::from(m.faultmask),
                m.basepri,
                e.prigroup,
                e.cfsr,
                e.hfsr,
                e.bfar
            ));
            let listed: Vec<String> = (1..e.pending.len())
                .filter(|&n| {
                    e.pending[n] || e.active[n] || (e.enabled[n] && n >= FIRST_IRQ as usize)
                })
                .map(|n| {
                    let mut flags = Vec::new();
                    if e.enabled[n] {
                        flags.push("enabled");
                    }
                    if e.pending[n] {
                        flags.push("pending");
                    }
                    if e.active[n] {
                        flags.push("active");
                    }
                    format!(
                        "  {:<12} priority {:>3}  {}  taken {}",
                        crate::exc::exception_name(n as u32),
                        e.raw_priority(n as u32),
                        flags.join(" "),
                        e.taken[n]
                    )
                })
                .collect();
            if listed.is_empty() {
                out.push("  nothing enabled, pending or active".into());
            }
            out.extend(listed);
        }
        out
    }

    /// The Messaging Unit's registers, both sides, as text (`monitor mu`).
    pub fn mu_report(&self) -> Vec<String> {
        let soc = self.soc.borrow();
        let hex = |w: &[u32; 4]| {
            w.iter()
                .map(|x| format!("{x:#010x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        soc.mu
            .sides
            .iter()
            .enumerate()
            .map(|(k, side)| {
                let core = self.cores.get(k).map_or("-", |c| c.name.as_str());
                format!(
                    "MU side {} ({core}): SR {:#010x} CR {:#010x} TR [{}] RR [{}] sent {}",
                    ["A", "B"][k],
                    side.sr,
                    side.cr,
                    hex(&side.tr),
                    hex(&side.rr),
                    soc.mu.sent[k]
                )
            })
            .collect()
    }

    /// Wall-clock seconds spent in `run_for` so far.
    pub fn wall_seconds(&self) -> f64 {
        self.wall_s
    }
}

/// Enter an exception between engine runs (`f` takes it): the entry's cycles, which
/// [`core::take_exception`] charges to the run's accounting, advance the core's time here.
fn between_runs<T>(c: &mut CoreRun, f: impl FnOnce(&mut Engine) -> T) -> T {
    c.uc.get_data_mut().run_cycles = 0;
    let r = f(&mut c.uc);
    let d = c.uc.get_data_mut();
    c.now += std::mem::take(&mut d.run_cycles) * d.ps_per_cycle;
    r
}
