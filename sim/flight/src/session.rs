//! A scenario run one tick at a time: the API front ends drive (`sim --scenario` runs a session
//! to its end; `twin-ui` steps one on a worker thread, pausing and restarting it). A session owns
//! the closed loop, the trace so far, the live gates and what stopped the run; after any tick it
//! can describe each core ([`CoreSnapshot`]) and produce the [`Report`] of the ticks run.
//!
//! A session is not `Send` (Unicorn engines share the SoC through `Rc`): create it on the thread
//! that runs it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::flightloop::{FlightLoop, Tick};
use crate::scenario::{
    apply_sensor_faults, build, evaluate, GateMonitor, LiveGate, Report, Scenario, Waypoint,
};
use crate::trace::stats;
use twin_hosting::backend::{Backend, Divergence};
use twin_machine::core::{read_mode, s_reg};
use twin_machine::exc::{exception_name, FIRST_IRQ};
use twin_machine::machine::{Machine, Resume, Stop};

/// What a front end may change in a scenario before running it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub estimator_backend: Option<Backend>,
    pub controller_backend: Option<Backend>,
}

impl Overrides {
    /// Take a backend spec: one backend (`arm`, `wasmtime`, `native`, `lockstep`) for both
    /// components, or `estimator=B,controller=B` (either part alone).
    pub fn set_backends(&mut self, spec: &str) -> twin_machine::Result<()> {
        let bad = |e: String| twin_machine::Error::Usage(format!("--backend {spec}: {e}"));
        for item in spec.split(',') {
            match item.split_once('=') {
                None => {
                    let b: Backend = item.parse().map_err(bad)?;
                    self.estimator_backend = Some(b);
                    self.controller_backend = Some(b);
                }
                Some(("estimator", b)) => self.estimator_backend = Some(b.parse().map_err(bad)?),
                Some(("controller", b)) => self.controller_backend = Some(b.parse().map_err(bad)?),
                Some((c, _)) => {
                    return Err(bad(format!(
                        "unknown component {c:?} (expected estimator or controller)"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Load a scenario file and apply these overrides: the scenario and the project root its
    /// relative paths start from ([`crate::scenario::root_for`]).
    pub fn load(&self, file: &Path) -> Result<(Scenario, PathBuf)> {
        let mut s = Scenario::load(file)?;
        self.apply(&mut s);
        Ok((s, crate::scenario::root_for(file)))
    }

    pub fn apply(&self, s: &mut Scenario) {
        if let Some(seed) = self.seed {
            s.seed = seed;
        }
        if let Some(b) = self.estimator_backend {
            s.flight.estimator_backend = b;
        }
        if let Some(b) = self.controller_backend {
            s.flight.controller_backend = b;
        }
    }
}

/// One core of the board as the session sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CoreInfo {
    /// "m4" / "m7".
    pub core: String,
    /// The component it runs: "estimator" or "controller".
    pub role: String,
    pub backend: Backend,
    /// Cycles per control tick at the core's clock (the overrun budget).
    pub budget_cycles: u64,
    /// Picoseconds per cycle.
    pub ps_per_cycle: u64,
    /// How its cycles are counted (the CPU model's timing table or a flat figure; empty when
    /// the core is not emulated).
    pub cycle_model: String,
}

/// What does not change during a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub name: String,
    pub description: String,
    pub dt: f64,
    pub steps: u64,
    pub seed: u64,
    /// Estimator core, then controller core.
    pub cores: [CoreInfo; 2],
    pub waypoints: Vec<Waypoint>,
    /// What runs the flight code (hosted on the twin, the HIL firmware on the twin, a board).
    pub flight_computer: String,
}

/// One core after a tick: what a debugger would show when the run pauses there. In hosted mode
/// the core sits where the tick's call returned (the export's return stub), with the registers
/// its code left; interrupts counted are those its runtime took (the CM7's MU receive
/// interrupt, line 118).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CoreSnapshot {
    pub core: String,
    pub pc: u32,
    /// The function at PC (`symbol+offset`), or where the call returned.
    pub symbol: String,
    /// R0-R12, SP, LR, PC.
    pub regs: [u32; 16],
    pub xpsr: u32,
    /// FPU registers S0-S15.
    pub s: [u32; 16],
    /// The active exception (from IPSR), or None in Thread mode.
    pub active_exception: Option<String>,
    /// Interrupts taken so far, per external line: (IRQ number, count).
    pub irqs: Vec<(u32, u64)>,
    /// All exceptions taken so far.
    pub exceptions_taken: u64,
    pub instructions: u64,
    pub cycles: u64,
    /// The largest stack use of one call so far (painted high-water mark, bytes).
    pub stack_high_water: u32,
}

pub struct Session {
    scenario: Scenario,
    info: SessionInfo,
    lp: FlightLoop,
    trace: Vec<Tick>,
    monitor: GateMonitor,
    /// Indices of gates that failed at the last tick.
    just_failed: Vec<usize>,
    stopped: Option<String>,
    divergence: Option<Divergence>,
    busy: Duration,
    stack_high_water: [u32; 2],
    /// Where each row goes as it is produced (`sim --scenario --out`).
    sink: Option<crate::trace::TraceWriter>,
    /// What interrupted the run (a signal's name), when something did.
    interrupted: Option<String>,
}

impl Session {
    /// Build the closed loop of `scenario` (paths relative to `root`; synth's objects go to
    /// `objects`).
    pub fn open(scenario: Scenario, root: &Path, objects: &Path) -> Result<Session> {
        let lp = build(&scenario, root, objects)?;
        Ok(Session::with_loop(scenario, lp))
    }

    /// A session around a loop built elsewhere (target mode: `twin-target` builds one around
    /// the HIL firmware).
    pub fn with_loop(scenario: Scenario, mut lp: FlightLoop) -> Session {
        let models = lp
            .fc
            .machine()
            .map(|m| m.cycle_models())
            .unwrap_or_default();
        let model = |core: &str| {
            models
                .iter()
                .find(|(c, _)| c == core)
                .map(|(_, m)| m.clone())
                .unwrap_or_default()
        };
        let (b4, b7) = lp.budget_cycles();
        let (ps4, ps7) = lp.fc.ps_per_cycle();
        let (e_backend, c_backend) = lp.fc.backends();
        let f = &scenario.flight;
        let info = SessionInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            dt: scenario.dt,
            steps: scenario.steps,
            seed: scenario.seed,
            cores: [
                CoreInfo {
                    core: f.estimator_core.clone(),
                    role: "estimator".into(),
                    backend: e_backend,
                    budget_cycles: b4,
                    ps_per_cycle: ps4,
                    cycle_model: model(&f.estimator_core),
                },
                CoreInfo {
                    core: f.controller_core.clone(),
                    role: "controller".into(),
                    backend: c_backend,
                    budget_cycles: b7,
                    ps_per_cycle: ps7,
                    cycle_model: model(&f.controller_core),
                },
            ],
            waypoints: scenario.waypoints.clone(),
            flight_computer: lp.fc.describe(),
        };
        let monitor = GateMonitor::new(&scenario);
        Session {
            trace: Vec::with_capacity(scenario.steps as usize),
            scenario,
            info,
            lp,
            monitor,
            just_failed: Vec::new(),
            stopped: None,
            divergence: None,
            busy: Duration::ZERO,
            stack_high_water: [0; 2],
            sink: None,
            interrupted: None,
        }
    }

    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Ticks run so far.
    pub fn ticks(&self) -> u64 {
        self.trace.len() as u64
    }

    /// The run reached its last tick or stopped.
    pub fn finished(&self) -> bool {
        self.stopped.is_some() || self.ticks() >= self.scenario.steps
    }

    /// Why the run stopped early, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    pub fn trace(&self) -> &[Tick] {
        &self.trace
    }

    pub fn into_trace(self) -> Vec<Tick> {
        self.trace
    }

    /// The gates as they stand.
    pub fn gates(&self) -> &[LiveGate] {
        &self.monitor.gates
    }

    /// Gates that failed at the last tick (indices into [`Session::gates`]).
    pub fn just_failed(&self) -> &[usize] {
        &self.just_failed
    }

    /// Write the trace to `w` as it is produced: the rows so far now, each later one as its
    /// tick ends. A write that fails stops the run (and says why).
    pub fn stream_to(&mut self, mut w: crate::trace::TraceWriter) {
        match self.trace.iter().try_for_each(|t| w.push(t)) {
            Ok(()) => self.sink = Some(w),
            Err(e) => self.stopped = Some(format!("writing the trace: {e}")),
        }
    }

    /// Close the streamed trace: every row on disk. Nothing when the trace is not streamed.
    pub fn finish_trace(&mut self) -> Result<()> {
        match self.sink.take() {
            Some(w) => Ok(w.finish()?),
            None => Ok(()),
        }
    }

    /// End the run here, between two ticks, because of `why` (a signal's name): the flight
    /// computer is stopped (motors to zero on a board), the gates decided on the ticks run and
    /// the report marked interrupted. Nothing when the run is already over.
    pub fn interrupt(&mut self, why: &str) {
        if self.finished() {
            return;
        }
        let k = self.ticks();
        self.stopped = Some(format!("interrupted by {why} before tick {k}"));
        self.interrupted = Some(why.to_string());
        self.lp.fc.stop();
        let end = self.scenario.dt * k as f64;
        self.monitor.finish(&self.scenario, end);
    }

    /// Run one control tick. Returns false when the run is over (nothing was run). A tick
    /// that cannot complete (a trap, a lockstep divergence) ends the run: what ran so far is
    /// kept, and [`Session::stopped`] says why.
    pub fn step(&mut self) -> bool {
        if self.finished() {
            return false;
        }
        let k = self.ticks();
        let t = k as f64 * self.scenario.dt;
        if self.debugger_lets_tick(k, t) {
            self.tick(k, t);
        } else {
            self.stopped = Some(format!("the debugger ended the run before tick {k}"));
        }
        if self.finished() {
            self.lp.fc.stop();
            let end = self.scenario.dt * self.trace.len() as f64;
            self.monitor.finish(&self.scenario, end);
        }
        true
    }

    /// Fly tick `k` at time `t`: its row joins the trace, or why it could not complete ends
    /// the run.
    fn tick(&mut self, k: u64, t: f64) {
        self.lp.waypoint = self.scenario.waypoint_at(t);
        apply_sensor_faults(&self.scenario, &mut self.lp, t);
        let start = Instant::now();
        let result = self.lp.step();
        self.busy += start.elapsed();
        match result {
            Ok(row) => {
                self.stack_high_water[0] = self.stack_high_water[0].max(row.m4_stack);
                self.stack_high_water[1] = self.stack_high_water[1].max(row.m7_stack);
                self.just_failed = self.monitor.observe(&self.scenario, &row);
                if let Some(w) = &mut self.sink {
                    if let Err(e) = w.push(&row) {
                        self.stopped = Some(format!("tick {k}: writing the trace: {e}"));
                    }
                }
                self.trace.push(row);
                if let Some(why) = self.lp.halted.take() {
                    self.stopped = Some(format!("tick {k}: {why}"));
                }
            }
            Err(Error::Divergence(d)) => {
                self.stopped = Some(d.to_string());
                self.divergence = Some(*d);
            }
            Err(e) => self.stopped = Some(format!("tick {k}: {e}")),
        }
    }

    /// With a debugger on the machine: tell it which tick runs next, and stop for it when it
    /// asked (Ctrl-C, a new connection). False when it ended the run.
    fn debugger_lets_tick(&mut self, k: u64, t: f64) -> bool {
        let Some(m) = self.lp.fc.machine() else {
            return true;
        };
        let Some(flag) = m.debugger.as_ref().map(|d| d.interrupt()) else {
            return true;
        };
        m.debug_context = format!("tick {k} (t = {t:.3} s), ");
        if !flag.load(std::sync::atomic::Ordering::Relaxed) {
            return true;
        }
        let context = format!("before tick {k} (t = {t:.3} s)");
        m.debug_stop(&Stop::Interrupted, &context) != Resume::Kill
    }

    /// The emulated machine the flight code runs on (none off the twin).
    pub fn machine(&mut self) -> Option<&mut twin_machine::machine::Machine> {
        self.lp.fc.machine()
    }

    /// Both cores now (estimator core, controller core).
    pub fn cores(&mut self) -> [CoreSnapshot; 2] {
        let (i4, i7) = self.lp.fc.cores();
        let names = [&self.info.cores[0].core, &self.info.cores[1].core].map(|n| n.clone());
        [(i4, 0), (i7, 1)].map(|(i, slot)| {
            let stack_high_water = self.stack_high_water[slot];
            match self.lp.fc.machine() {
                Some(m) => snapshot(m, i, stack_high_water),
                None => CoreSnapshot::off_twin(&names[slot], stack_high_water),
            }
        })
    }

    /// The report of the ticks run so far (gates evaluated on that trace).
    pub fn report(&self) -> Report {
        let trace = &self.trace;
        let s = &self.scenario;
        let (estimator_budget_cycles, controller_budget_cycles) = self.lp.budget_cycles();
        let gates = evaluate(s, trace);
        let virtual_s = s.dt * trace.len() as f64;
        let wall_s = self.busy.as_secs_f64();
        Report {
            scenario: s.name.clone(),
            pass: self.stopped.is_none() && self.ticks() >= s.steps && gates.iter().all(|g| g.pass),
            gates,
            stopped: self.stopped.clone(),
            interrupted: self.interrupted.clone(),
            divergence: self.divergence.clone(),
            estimator_backend: self.info.cores[0].backend,
            controller_backend: self.info.cores[1].backend,
            flight_computer: self.info.flight_computer.clone(),
            ticks: trace.len() as u64,
            virtual_seconds: virtual_s,
            wall_seconds: wall_s,
            real_time_factor: virtual_s / wall_s.max(1e-9),
            estimator_cycles_per_tick: stats(trace.iter().map(|t| t.m4_cycles)),
            controller_cycles_per_tick: stats(trace.iter().map(|t| t.m7_cycles)),
            cycle_model: self
                .info
                .cores
                .iter()
                .filter(|c| !c.cycle_model.is_empty())
                .map(|c| (c.core.clone(), c.cycle_model.clone()))
                .collect(),
            mu_latency_ns: stats(trace.iter().map(|t| t.mu_latency_ns)),
            estimator_budget_cycles,
            controller_budget_cycles,
            overruns: trace
                .iter()
                .filter(|t| t.overrun_m4 || t.overrun_m7)
                .count() as u64,
            events: trace
                .iter()
                .flat_map(|t| t.events.iter().map(move |e| (t.t, e.clone())))
                .collect(),
            full_system: self
                .lp
                .fc
                .full_system()
                .map(|l| crate::scenario::FullSystemReport::of(&l)),
        }
    }
}

impl CoreSnapshot {
    /// A core the twin does not run (the flight code is on a board).
    fn off_twin(core: &str, stack_high_water: u32) -> CoreSnapshot {
        CoreSnapshot {
            core: core.into(),
            pc: 0,
            symbol: "on the board (not emulated)".into(),
            regs: [0; 16],
            xpsr: 0,
            s: [0; 16],
            active_exception: None,
            irqs: Vec::new(),
            exceptions_taken: 0,
            instructions: 0,
            cycles: 0,
            stack_high_water,
        }
    }
}

fn snapshot(machine: &mut Machine, core: usize, stack_high_water: u32) -> CoreSnapshot {
    let name = machine.board.cores[core].name.clone();
    let (irqs, exceptions_taken) = {
        let soc = machine.soc.borrow();
        let taken = &soc.cores[core].scs.exc.taken;
        let irqs = taken[FIRST_IRQ as usize..]
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (i as u32, n))
            .collect();
        (irqs, taken.iter().sum())
    };
    let uc = machine.engine(core);
    use unicorn_engine::RegisterARM as R;
    const CORE_REGS: [R; 16] = [
        R::R0,
        R::R1,
        R::R2,
        R::R3,
        R::R4,
        R::R5,
        R::R6,
        R::R7,
        R::R8,
        R::R9,
        R::R10,
        R::R11,
        R::R12,
        R::SP,
        R::LR,
        R::PC,
    ];
    let regs = CORE_REGS.map(|r| uc.reg_read(r).unwrap_or(0) as u32);
    let s = std::array::from_fn(|i| uc.reg_read(s_reg(i)).unwrap_or(0) as u32);
    let mode = read_mode(uc);
    let pc = regs[15];
    let data = uc.get_data();
    let symbol = match data.symbols.lookup(pc) {
        Some(_) => data.symbols.describe(pc),
        None if data.insns == 0 => "not started (the component runs off this core)".into(),
        None => "idle: the tick's call returned (hosted runtime)".into(),
    };
    let ipsr = mode.ipsr();
    CoreSnapshot {
        core: name,
        pc,
        symbol,
        regs,
        xpsr: mode.xpsr,
        s,
        active_exception: (ipsr != 0).then(|| exception_name(ipsr)),
        irqs,
        exceptions_taken,
        instructions: data.insns,
        cycles: data.cycles,
        stack_high_water,
    }
}

/// Run a scenario to its end; `progress` is called with the tick count every 100 ticks.
pub fn run(
    s: &Scenario,
    root: &Path,
    objects: &Path,
    progress: impl FnMut(u64),
) -> Result<(Report, Vec<Tick>)> {
    let session = Session::open(s.clone(), root, objects)?;
    run_session(session, progress)
}

/// Run an opened session to its end; `progress` is called with the tick count every 100 ticks.
pub fn run_session(
    mut session: Session,
    mut progress: impl FnMut(u64),
) -> Result<(Report, Vec<Tick>)> {
    while session.step() {
        let k = session.ticks();
        if k % 100 == 1 {
            progress(k - 1);
        }
    }
    Ok((session.report(), session.into_trace()))
}
