//! The closed loop in hosted mode (docs/flight.md, ../shared/ARCHITECTURE.md): falcon-cascade's
//! interfaces on the cores the Pixhawk 6X-RT split gives them (reference/pulseengine.md
//! section 5): the estimator on the CM4, the position, attitude, rate and mixer stages on the
//! CM7, as synth's ARM code on the emulated cores; the `vehicle-state` crosses from one to the
//! other through shared OCRAM and the Messaging Unit.
//!
//! One control tick k (period `dt`, starting at t_k):
//! 1. the sensors sample the true state;
//! 2. the CM4 runtime calls `aided-ekf#estimate` with the sensor frame (or, for a module
//!    without the project's aided-ekf, falcon's `ekf#estimate` with the IMU alone), lowering
//!    the record through the module's `cabi_realloc`; it costs the CM4 its cycles (2.5 ns
//!    each): done at t4;
//! 3. at t4 the CM4 runtime writes the vehicle-state (14 x f32) and a sequence word into the
//!    mailbox in OCRAM2, the ready word last, and writes the sequence number to MUB TR0;
//! 4. the MU delivers at the next lockstep sync point (a multiple of the quantum): the CM7's
//!    MUA RF0 sets and its IRQ 118 pends (the CM7 runtime armed RIE0 and the NVIC line);
//! 5. the CM7 runtime takes the interrupt there: reads MUA RR0 (clearing RF0), checks the ready
//!    word and sequence, reads the vehicle-state, and runs the stages due this tick (each
//!    every `divider` ticks; a stage not due passes on its last output): `position#tick`
//!    (state, waypoint) -> attitude-setpoint, `attitude#tick` -> rate-setpoint, `rate#tick` ->
//!    torque-setpoint, `mixer#mix` -> motor-pwm (1 ns per cycle): done at t7;
//! 6. the motor commands reach the vehicle at the first physics step starting at or after t7.
//!
//! A core whose calls do not finish within the period overruns.

use serde::Serialize;

use crate::error::Result;
use crate::vehicle::sensors::{Frame, Sensors};
use crate::vehicle::wind::Wind;
use crate::vehicle::{step, Params, State};
use twin_hosting::backend::{bytes_words, words_bytes, Arg, Iface, SensorFrame, Stack};
use twin_machine::exc::FIRST_IRQ;
use twin_machine::machine::Machine;
use twin_machine::time::{Ps, PS_PER_S};
use twin_machine::Error as TwinError;

/// The vehicle-state mailbox: OCRAM2, where the NXP SDK keeps its rpmsg shared memory
/// (rt1176.md section 1.1). Layout: ready word, sequence, then 14 x f32.
pub const MAILBOX: u32 = 0x202C_0000;
/// Words in a vehicle-state record.
pub const STATE_WORDS: usize = flight::cascade::VEHICLE_STATE_WORDS;
/// The mailbox's bytes: ready word, sequence, vehicle-state.
pub const MAILBOX_BYTES: u32 = 8 + 4 * STATE_WORDS as u32;
const READY: u32 = 0x5653_5441; // "ATSV"
const MU_IRQ: u32 = 118;

/// How often each CM7 stage runs: every `n`th control tick (falcon runs position at 50 Hz and
/// attitude at 250 Hz against 1 kHz for rate and mixer). 1 = every tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dividers {
    pub position: u32,
    pub attitude: u32,
    pub rate: u32,
    pub mixer: u32,
}

impl Default for Dividers {
    fn default() -> Dividers {
        Dividers {
            position: 1,
            attitude: 1,
            rate: 1,
            mixer: 1,
        }
    }
}

/// What one tick did (a row of the trace).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tick {
    pub t: f64,
    pub position: [f64; 3],
    pub velocity: [f64; 3],
    /// Roll, pitch, yaw (rad).
    pub attitude: [f64; 3],
    /// Body rates (rad/s).
    pub rates: [f64; 3],
    /// The attitude setpoint (roll, pitch, yaw, rad) and body-rate setpoint (rad/s) in force
    /// this tick: `position#tick`'s and `attitude#tick`'s latest results (NaN before the
    /// first, or when the flight computer does not report them).
    pub att_sp: [f32; 3],
    pub rate_sp: [f32; 3],
    /// The position setpoint the controller was given (NED, m).
    pub setpoint: [f32; 3],
    /// The sensor frame the estimator was given: IMU specific force (m/s^2) and rate (rad/s),
    /// baro altitude and GNSS position (NaN when not sampled this tick).
    pub accel: [f32; 3],
    pub gyro: [f32; 3],
    pub baro_alt: f32,
    pub gnss: [f32; 3],
    /// The vehicle-state the estimator published: qw qx qy qz, position and velocity NED,
    /// body rates, innovation.
    pub nav: [f32; STATE_WORDS],
    pub motors: [f32; 4],
    pub m4_cycles: u64,
    pub m7_cycles: u64,
    /// Stack bytes the tick's call used on each core (painted high-water mark; 0 off ARM).
    pub m4_stack: u32,
    pub m7_stack: u32,
    /// From the CM4's MU write to the CM7 taking the interrupt.
    pub mu_latency_ns: u64,
    pub overrun_m4: bool,
    pub overrun_m7: bool,
    /// What happened in this tick (failsafe, loss of control, a NavState not delivered...).
    pub events: Vec<String>,
}

/// Faults the loop injects (the scenario's `faults`; vehicle-state delay and jitter are the
/// flight computer's, [`FlightComputer::set_nav_faults`]).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Motor index and time (s) from which it gives no thrust.
    pub rotor_failure: Option<(usize, f64)>,
    /// From this time (s) the CM7's heartbeat no longer reaches the IO MCU.
    pub heartbeat_loss: Option<f64>,
}

/// The IO MCU (STM32F100 on the Pixhawk): forwards the CM7's motor commands to the ESCs and cuts
/// the motors when the CM7 heartbeat has been missing for `timeout` (50 ms; the requirement is
/// within 100 ms). Non-finite commands are sent as 0.
#[derive(Debug, Clone)]
pub struct IoMcu {
    pub timeout: f64,
    pub last_heartbeat: f64,
    pub outputs: [f32; 4],
    pub failsafe_at: Option<f64>,
}

impl IoMcu {
    fn forward(&mut self, t: f64, commands: [f32; 4]) {
        self.last_heartbeat = t;
        self.outputs = commands.map(|u| if u.is_finite() { u } else { 0.0 });
    }

    /// The commands the ESCs see at time t (0 once the heartbeat has timed out).
    fn output(&mut self, t: f64) -> [f32; 4] {
        if t - self.last_heartbeat > self.timeout {
            self.failsafe_at.get_or_insert(t);
        }
        if self.failsafe_at.is_some() {
            [0.0; 4]
        } else {
            self.outputs
        }
    }
}

/// What one control tick did on the flight computer.
#[derive(Debug, Clone, Default)]
pub struct FcTick {
    /// The vehicle-state the estimator computed.
    pub state: [f32; STATE_WORDS],
    /// The controller's run, when it ran this tick.
    pub control: Option<Control>,
    pub m4_cycles: u64,
    pub m7_cycles: u64,
    pub m4_stack: u32,
    pub m7_stack: u32,
    pub mu_latency_ns: u64,
    pub overrun_m4: bool,
    pub overrun_m7: bool,
    pub events: Vec<String>,
}

/// The CM7 stages' output this tick.
#[derive(Debug, Clone)]
pub struct Control {
    pub motors: [f32; 4],
    /// When the commands left the CM7 (virtual time).
    pub at: Ps,
    /// The attitude-setpoint (qw qx qy qz thrust) and rate-setpoint (rx ry rz thrust) in
    /// force, when the flight computer reports them.
    pub setpoints: Option<([f32; 5], [f32; 4])>,
}

/// The flight computer the loop flies: the estimator and the controller stages with the
/// vehicle-state between them. Hosted (the modules hosted on the twin's cores, this file), or
/// the HIL firmware behind an RTT link, on the twin or on a board (`twin_target::`).
pub trait FlightComputer {
    /// Control tick `tick`, starting at `t_k`, of length `period`: the estimator on the
    /// sensor frame, the vehicle-state across, the stages on it toward `waypoint` (north,
    /// east, down, yaw).
    fn tick(
        &mut self,
        tick: u64,
        t_k: Ps,
        period: Ps,
        frame: &SensorFrame,
        waypoint: [f32; 4],
    ) -> Result<FcTick>;
    /// The emulated machine, when there is one (core snapshots).
    fn machine(&mut self) -> Option<&mut Machine>;
    /// The machine's core indices: (estimator core, controller core).
    fn cores(&self) -> (usize, usize);
    /// Picoseconds per cycle of (estimator core, controller core).
    fn ps_per_cycle(&self) -> (Ps, Ps);
    fn backends(
        &self,
    ) -> (
        twin_hosting::backend::Backend,
        twin_hosting::backend::Backend,
    );
    /// What runs the flight code, in words (reports).
    fn describe(&self) -> String;
    /// The vehicle-state published late (+- jitter) by the CM4 runtime: only the hosted
    /// runtime can.
    fn set_nav_faults(&mut self, delay: u32, jitter: u32) -> Result<()>;
    /// The run is over (or abandoned): motors to zero on a board.
    fn stop(&mut self) {}
    /// Full-system firmware: what its drivers, interrupts and buses cost so far.
    fn full_system(&self) -> Option<FullSystemLoad> {
        None
    }
}

/// What the full-system firmware's drivers, interrupts and buses cost, tick by tick
/// (`scenario::FullSystemReport` sums it up).
#[derive(Debug, Clone, Default)]
pub struct FullSystemLoad {
    pub ticks: Vec<TickLoad>,
    /// Each bus's time on the wire from the first tick: (bus, seconds).
    pub buses: Vec<(String, f64)>,
    /// The virtual time the bus figures span (s).
    pub span_s: f64,
    /// The pulse width (us) on each output at the last tick: (output, us).
    pub outputs: Vec<(String, f64)>,
}

/// One full-system tick's cost on the cores.
#[derive(Debug, Clone, Copy, Default)]
pub struct TickLoad {
    /// CM7 DWT cycles from the IMU's data-ready to the frame built, plus the IO MCU exchange.
    pub driver_cycles: u64,
    /// CM7 cycles in interrupt handlers, and the interrupts taken.
    pub irq_cycles: u64,
    pub irqs: u64,
    /// Cycles each core was awake (not in WFI).
    pub m7_awake_cycles: u64,
    pub m4_awake_cycles: u64,
}

/// The modules hosted on the emulated cores (or wasmtime, or native), with the runtimes the
/// loop stands in for: the CM4's publishes the vehicle-state, the CM7's is the MU ISR that
/// runs the stages.
pub struct Hosted {
    pub machine: Machine,
    /// The CM4's modules: `aided-ekf` or `ekf`.
    pub estimator: Stack,
    /// The CM7's modules: position, attitude, rate, mixer.
    pub controller: Stack,
    m4: usize,
    m7: usize,
    mua: u32,
    mub: u32,
    quantum: Ps,
    seq: u32,
    pub dividers: Dividers,
    /// The stages' latest outputs: attitude-setpoint, rate-setpoint, torque-setpoint, motors.
    held: Held,
    nav_delay: u32,
    nav_jitter: u32,
    nav_queue: std::collections::VecDeque<(u64, Vec<f32>)>,
    jitter: rand_chacha::ChaCha8Rng,
}

#[derive(Debug, Clone, Default)]
struct Held {
    attitude: Option<Vec<f32>>,
    rate: Option<Vec<f32>>,
    torque: Option<Vec<f32>>,
    motors: [f32; 4],
}

/// The CM7 stages, in the order they run.
pub const STAGES: [Iface; 4] = [Iface::Position, Iface::Attitude, Iface::Rate, Iface::Mixer];

impl Hosted {
    /// `estimator`'s modules on core `cores.0` (the CM4) and `controller`'s on `cores.1` (the
    /// CM7) of `machine`, on whatever backends the parts were built for; the estimator starts
    /// from `state0` when it exports `aided-ekf#init`.
    pub fn new(
        mut machine: Machine,
        mut estimator: Stack,
        controller: Stack,
        cores: (usize, usize),
        state0: &[f32; STATE_WORDS],
    ) -> Result<Hosted> {
        if !estimator.provides(Iface::AidedEstimate) {
            estimator.require(&[Iface::Estimate], "the estimator core")?;
        }
        controller.require(&STAGES, "the controller core")?;
        let (m4, m7) = cores;
        let base = |name: &str| {
            let soc = machine.soc.borrow();
            soc.periph_base(name)
                .ok_or_else(|| TwinError::Usage(format!("the board has no {name}")))
        };
        let (mua, mub) = (base("MUA")?, base("MUB")?);
        if estimator.provides(Iface::AidedInit) {
            estimator
                .call(&mut machine, 0, Iface::AidedInit, &[Arg::Words(state0)])
                .map_err(|e| TwinError::Usage(format!("aided-ekf#init: {e}")))?;
        }
        // The CM7 runtime arms the MU receive interrupt: MUA CR.RIE0 and NVIC line 118.
        {
            let mut soc = machine.soc.borrow_mut();
            soc.periph_write(m7, mua + 0x24, 4, 1 << 27, 0)
                .map_err(|e| TwinError::Usage(e.to_string()))?;
            soc.cores[m7].scs.exc.enabled[(FIRST_IRQ + MU_IRQ) as usize] = true;
        }
        Ok(Hosted {
            machine,
            estimator,
            controller,
            m4,
            m7,
            mua,
            mub,
            quantum: twin_machine::machine::DEFAULT_QUANTUM,
            seq: 0,
            dividers: Dividers::default(),
            held: Held::default(),
            nav_delay: 0,
            nav_jitter: 0,
            nav_queue: Default::default(),
            jitter: rand::SeedableRng::seed_from_u64(0x4A17),
        })
    }

    /// The estimator on this tick's frame: the aided interface when the module has it.
    fn estimate(
        &mut self,
        tick: u64,
        frame: &SensorFrame,
    ) -> Result<twin_hosting::backend::Output> {
        let m = &mut self.machine;
        Ok(if self.estimator.provides(Iface::AidedEstimate) {
            self.estimator
                .call(m, tick, Iface::AidedEstimate, &[Arg::Frame(frame)])?
        } else {
            let imu = frame.imu();
            self.estimator
                .call(m, tick, Iface::Estimate, &[Arg::Words(&imu)])?
        })
    }

    /// The CM7 stages due at `tick` on `state`: (cycles, largest stack) and the held outputs
    /// updated.
    fn stages(&mut self, tick: u64, state: &[f32], waypoint: [f32; 4]) -> Result<(u64, u32)> {
        let (mut cycles, mut stack) = (0, 0);
        let d = self.dividers;
        let due = |n: u32| tick % u64::from(n.max(1)) == 0;
        let m = &mut self.machine;
        let h = &mut self.held;
        let mut run = |iface: Iface, args: &[Arg<'_>]| -> Result<Vec<f32>> {
            let o = self.controller.call(m, tick, iface, args)?;
            cycles += o.cycles;
            stack = stack.max(o.stack_bytes);
            Ok(o.words)
        };
        let s = Arg::Words(state);
        if due(d.position) || h.attitude.is_none() {
            h.attitude = Some(run(Iface::Position, &[s, Arg::Words(&waypoint)])?);
        }
        if due(d.attitude) || h.rate.is_none() {
            let a = h.attitude.clone().unwrap_or_default();
            h.rate = Some(run(Iface::Attitude, &[s, Arg::Words(&a)])?);
        }
        if due(d.rate) || h.torque.is_none() {
            let r = h.rate.clone().unwrap_or_default();
            h.torque = Some(run(Iface::Rate, &[s, Arg::Words(&r)])?);
        }
        if due(d.mixer) || tick == 0 {
            let t = h.torque.clone().unwrap_or_default();
            let u = run(Iface::Mixer, &[Arg::Words(&t)])?;
            h.motors = u.as_slice().try_into().map_err(|_| {
                TwinError::Usage(format!("mixer#mix returned {} values, not 4", u.len()))
            })?;
        }
        Ok((cycles, stack))
    }
}

impl FlightComputer for Hosted {
    fn tick(
        &mut self,
        tick: u64,
        t_k: Ps,
        period: Ps,
        frame: &SensorFrame,
        waypoint: [f32; 4],
    ) -> Result<FcTick> {
        // CM4: estimator.
        let est = self.estimate(tick, frame)?;
        let machine = &mut self.machine;
        let ps4 = machine.soc.borrow().ps_per_cycle(self.m4);
        let t4 = t_k + est.cycles * ps4;
        let state = est.words;
        let mut out = FcTick {
            state: state.as_slice().try_into().map_err(|_| {
                TwinError::Usage(format!(
                    "the estimator returned {} values, not a vehicle-state ({STATE_WORDS})",
                    state.len()
                ))
            })?,
            m4_cycles: est.cycles,
            m4_stack: est.stack_bytes,
            overrun_m4: t4 - t_k > period,
            ..FcTick::default()
        };

        // CM4 runtime: the state goes out `nav_delay` (+- jitter) ticks after it was computed.
        let jitter = if self.nav_jitter > 0 {
            use rand::RngExt;
            let j = i64::from(self.nav_jitter);
            self.jitter.random_range(-j..=j)
        } else {
            0
        };
        let delay = (i64::from(self.nav_delay) + jitter).max(0) as u64;
        self.nav_queue.push_back((tick + delay, state));
        let mut due = None;
        while self.nav_queue.front().is_some_and(|(t, _)| *t <= tick) {
            due = self.nav_queue.pop_front().map(|(_, n)| n);
        }
        let Some(published) = due else {
            out.events.push("no vehicle-state delivered".into());
            return Ok(out);
        };
        // Mailbox (ready word last), then the MU doorbell.
        self.seq = self.seq.wrapping_add(1);
        {
            let uc = machine.engine(self.m4);
            let mut block = vec![0u8; 8];
            block[4..8].copy_from_slice(&self.seq.to_le_bytes());
            block.extend_from_slice(&words_bytes(&published));
            uc.mem_write(u64::from(MAILBOX), &block)
                .and_then(|_| uc.mem_write(u64::from(MAILBOX), &READY.to_le_bytes()))
                .map_err(|e| TwinError::Usage(format!("mailbox write: {e:?}")))?;
        }
        let mut soc = machine.soc.borrow_mut();
        soc.periph_write(self.m4, self.mub, 4, self.seq, t4)
            .map_err(|e| TwinError::Usage(e.to_string()))?;
        // The next lockstep sync point delivers it.
        let t_sync = t4.div_ceil(self.quantum) * self.quantum;
        out.mu_latency_ns = (t_sync - t4) / 1000;
        soc.fire_events(t_sync);
        soc.apply_cross_core();
        let irq = (FIRST_IRQ + MU_IRQ) as usize;
        if !soc.cores[self.m7].scs.exc.pending[irq] {
            return Ok(out);
        }
        // CM7 runtime, as its MU ISR: read RR0 (clears RF0 and the line).
        let seq = soc
            .periph_read(self.m7, self.mua + 0x10, 4, t_sync)
            .map_err(|e| TwinError::Usage(e.to_string()))?;
        soc.cores[self.m7].scs.exc.pending[irq] = false;
        // The runtime is the ISR: the interrupt counts as taken.
        soc.cores[self.m7].scs.exc.taken[irq] += 1;
        drop(soc);
        let mut head = [0u8; MAILBOX_BYTES as usize];
        machine
            .engine(self.m7)
            .mem_read(u64::from(MAILBOX), &mut head)
            .map_err(|e| TwinError::Usage(format!("mailbox read: {e:?}")))?;
        let ready = u32::from_le_bytes(head[0..4].try_into().expect("4"));
        let mail_seq = u32::from_le_bytes(head[4..8].try_into().expect("4"));
        if ready != READY || mail_seq != seq {
            out.events.push(format!(
                "stale mailbox (ready {ready:#x}, seq {mail_seq} vs {seq})"
            ));
            return Ok(out);
        }
        let received = bytes_words(&head[8..]);
        let (cycles, stack) = self.stages(tick, &received, waypoint)?;
        out.m7_cycles = cycles;
        out.m7_stack = stack;
        let t7 = t_sync + cycles * self.machine.soc.borrow().ps_per_cycle(self.m7);
        out.overrun_m7 = t7 - t_sync > period;
        let h = &self.held;
        let setpoints = match (&h.attitude, &h.rate) {
            (Some(a), Some(r)) => a
                .as_slice()
                .try_into()
                .ok()
                .zip(r.as_slice().try_into().ok()),
            _ => None,
        };
        out.control = Some(Control {
            motors: h.motors,
            at: t7,
            setpoints,
        });
        Ok(out)
    }

    fn machine(&mut self) -> Option<&mut Machine> {
        Some(&mut self.machine)
    }

    fn cores(&self) -> (usize, usize) {
        (self.m4, self.m7)
    }

    fn ps_per_cycle(&self) -> (Ps, Ps) {
        let soc = self.machine.soc.borrow();
        (soc.ps_per_cycle(self.m4), soc.ps_per_cycle(self.m7))
    }

    fn backends(
        &self,
    ) -> (
        twin_hosting::backend::Backend,
        twin_hosting::backend::Backend,
    ) {
        let est = if self.estimator.provides(Iface::AidedEstimate) {
            Iface::AidedEstimate
        } else {
            Iface::Estimate
        };
        (
            self.estimator.backend(est),
            self.controller.backend(Iface::Position),
        )
    }

    fn describe(&self) -> String {
        let (e, c) = self.backends();
        // The modules by file name (their paths are in the scenario).
        let files = |s: &Stack| {
            let mut f: Vec<String> = s
                .parts()
                .iter()
                .map(|p| {
                    std::path::Path::new(&p.file)
                        .file_name()
                        .map_or(p.file.clone(), |n| n.to_string_lossy().into_owned())
                })
                .collect();
            f.dedup();
            f.join(", ")
        };
        format!(
            "hosted: estimator on {e} ({}), controller stages on {c} ({})",
            files(&self.estimator),
            files(&self.controller)
        )
    }

    fn set_nav_faults(&mut self, delay: u32, jitter: u32) -> Result<()> {
        self.nav_delay = delay;
        self.nav_jitter = jitter;
        Ok(())
    }
}

/// The closed loop: the vehicle, its sensors and the IO MCU on the host, the flight code on
/// a [`FlightComputer`].
pub struct FlightLoop {
    pub fc: Box<dyn FlightComputer>,
    pub params: Params,
    pub state: State,
    pub sensors: Sensors,
    pub wind: Wind,
    pub dt: f64,
    pub waypoint: [f32; 3],
    tick: u64,
    /// The controller's latest commands.
    motors: [f32; 4],
    pub faults: Faults,
    pub io: IoMcu,
    lost_control: bool,
    airborne: bool,
    /// The setpoints last reported (attitude-setpoint, rate-setpoint).
    setpoints: Option<([f32; 5], [f32; 4])>,
    /// Why the vehicle model cannot go on (its state went non-finite): the run ends after the
    /// tick that says so.
    pub halted: Option<String>,
}

/// Which input of a physics step made the vehicle's state non-finite: the state it started
/// from, a motor command, the wind, or none (the model itself diverged).
fn vehicle_input_fault(state_before: Option<String>, u: &[f64], wind: glam::DVec3) -> String {
    if let Some(s) = state_before {
        return format!("the step started from a non-finite state ({s})");
    }
    if let Some(m) = u.iter().position(|x| !x.is_finite()) {
        return format!("motor command {m} was {}", u[m]);
    }
    if !wind.is_finite() {
        return format!("the wind was {wind}");
    }
    "every input was finite: the model diverged (check the vehicle's parameters and dt)".into()
}

/// The vehicle-state the estimator starts from (`aided-ekf#init`): the vehicle's initial
/// attitude, position, velocity and body rates.
pub fn initial_state(state: &State) -> [f32; STATE_WORDS] {
    let q = state.q;
    flight::cascade::VehicleState {
        q: [q.w as f32, q.x as f32, q.y as f32, q.z as f32],
        p: state.p.as_vec3().to_array(),
        v: state.v.as_vec3().to_array(),
        w: state.w.as_vec3().to_array(),
        innovation: 0.0,
    }
    .to_words()
}

impl FlightLoop {
    pub fn new(
        fc: Box<dyn FlightComputer>,
        params: Params,
        state: State,
        sensors: Sensors,
        wind: Wind,
        dt: f64,
        waypoint: [f32; 3],
    ) -> FlightLoop {
        FlightLoop {
            fc,
            params,
            state,
            sensors,
            wind,
            dt,
            waypoint,
            tick: 0,
            motors: [0.0; 4],
            faults: Faults::default(),
            io: IoMcu {
                timeout: 0.05,
                last_heartbeat: 0.0,
                outputs: [0.0; 4],
                failsafe_at: None,
            },
            lost_control: false,
            airborne: false,
            setpoints: None,
            halted: None,
        }
    }

    /// The sensors' frame as the estimator interfaces take it.
    fn sensor_frame(f: &Frame, dt: f64) -> SensorFrame {
        let v3 = |a: [f64; 3]| a.map(|x| x as f32);
        SensorFrame {
            accel: v3(f.accel),
            gyro: v3(f.gyro),
            dt: dt as f32,
            gnss: f.gnss.as_ref().map(|g| (v3(g.position), v3(g.velocity))),
            baro: f.baro_alt.map(|a| a as f32),
            mag: f.mag.map(v3),
        }
    }

    fn period(&self) -> Ps {
        (self.dt * PS_PER_S as f64).round() as Ps
    }

    /// Cycles each core has per control tick (estimator core, controller core): the budget an
    /// overrun is measured against.
    pub fn budget_cycles(&self) -> (u64, u64) {
        let (p4, p7) = self.fc.ps_per_cycle();
        (self.period() / p4, self.period() / p7)
    }

    /// Run one control tick; returns its trace row.
    pub fn step(&mut self) -> Result<Tick> {
        let period = self.period();
        let t_k = self.tick * period;
        let frame = self.sensors.sample(self.tick, self.dt, &self.state);
        let rec = Self::sensor_frame(&frame, self.dt);
        let [n, e, d] = self.waypoint;
        let fc = self.fc.tick(self.tick, t_k, period, &rec, [n, e, d, 0.0])?;
        let mut events = fc.events;
        if let Some(c) = &fc.control {
            self.motors = c.motors;
            if c.setpoints.is_some() {
                self.setpoints = c.setpoints;
            }
            let t7_s = c.at as f64 / PS_PER_S as f64;
            let linked = self.faults.heartbeat_loss.is_none_or(|at| t7_s < at);
            if linked {
                self.io.forward(t7_s, self.motors);
            }
        }
        // The vehicle flies with what the IO MCU outputs; a failed rotor gives no thrust.
        let sub = (self.dt / self.params.dt).round() as u64;
        let step_ps = period / sub;
        let had_failsafe = self.io.failsafe_at.is_some();
        // The state the tick starts from (the loop's owner may have set it).
        let mut started = self.state.non_finite();
        for j in 0..sub {
            let t = t_k + j * step_ps;
            let t_s = t as f64 / PS_PER_S as f64;
            let mut u: Vec<f64> = self.io.output(t_s).iter().map(|&x| f64::from(x)).collect();
            if let Some((m, at)) = self.faults.rotor_failure {
                if t_s >= at && m < u.len() {
                    u[m] = 0.0;
                }
            }
            let wind = self.wind.sample(t_s, self.params.dt);
            let v_before = self.state.v;
            step(&self.params, &mut self.state, &u, wind);
            if let Some(now) = self.state.non_finite() {
                // Every step after the tick's first starts from a state checked finite.
                let was = if j == 0 { started.take() } else { None };
                let why = vehicle_input_fault(was, &u, wind);
                let what = format!("vehicle state not finite at {t_s:.3} s ({now}): {why}");
                events.push(what.clone());
                self.halted = Some(what);
                break;
            }
            if self.state.on_ground && self.airborne {
                self.airborne = false;
                if v_before.length() > 2.0 && !self.lost_control {
                    self.lost_control = true;
                    events.push(format!(
                        "loss of control: ground impact at {:.1} m/s",
                        v_before.length()
                    ));
                }
            }
            if !self.state.on_ground {
                self.airborne = true;
            }
        }
        if let (false, Some(at)) = (had_failsafe, self.io.failsafe_at) {
            events.push(format!("IO MCU failsafe: motors cut at {at:.3} s"));
        }
        let tilt = (self.state.q * glam::DVec3::Z).z.clamp(-1.0, 1.0).acos();
        if tilt > 1.0 && !self.lost_control {
            self.lost_control = true;
            events.push(format!("loss of control: tilt {tilt:.2} rad"));
        }
        let (roll, pitch, yaw) = self.state.euler();
        let (att_sp, rate_sp) = self
            .setpoints
            .map_or(([f32::NAN; 3], [f32::NAN; 3]), |(a, r)| {
                let [w, x, y, z] = [a[0], a[1], a[2], a[3]].map(f64::from);
                let (yaw, pitch, roll) =
                    glam::DQuat::from_xyzw(x, y, z, w).to_euler(glam::EulerRot::ZYX);
                ([roll as f32, pitch as f32, yaw as f32], [r[0], r[1], r[2]])
            });
        let row = Tick {
            t: t_k as f64 / PS_PER_S as f64,
            position: self.state.p.to_array(),
            velocity: self.state.v.to_array(),
            attitude: [roll, pitch, yaw],
            rates: self.state.w.to_array(),
            att_sp,
            rate_sp,
            setpoint: self.waypoint,
            accel: frame.accel.map(|a| a as f32),
            gyro: frame.gyro.map(|g| g as f32),
            baro_alt: frame.baro_alt.map_or(f32::NAN, |a| a as f32),
            gnss: frame
                .gnss
                .as_ref()
                .map_or([f32::NAN; 3], |g| g.position.map(|p| p as f32)),
            nav: fc.state,
            motors: self.motors,
            m4_cycles: fc.m4_cycles,
            m7_cycles: fc.m7_cycles,
            m4_stack: fc.m4_stack,
            m7_stack: fc.m7_stack,
            mu_latency_ns: fc.mu_latency_ns,
            overrun_m4: fc.overrun_m4,
            overrun_m7: fc.overrun_m7,
            events,
        };
        self.tick += 1;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_vehicle_state_is_traced_to_its_input() {
        use crate::vehicle::{step, Params, State};
        let p = Params::quad_x();
        let hover = vec![p.hover_command(); 4];
        let fly = |s: &mut State, u: &[f64], wind: glam::DVec3| {
            let was = s.non_finite();
            step(&p, s, u, wind);
            s.non_finite()
                .map(|now| (now, vehicle_input_fault(was, u, wind)))
        };
        let air = || State::at_rest(&p, glam::DVec3::new(0.0, 0.0, -5.0));
        assert_eq!(fly(&mut air(), &hover, glam::DVec3::ZERO), None);
        let mut u = hover.clone();
        u[2] = f64::NAN;
        let (_, why) = fly(&mut air(), &u, glam::DVec3::ZERO).unwrap();
        assert_eq!(why, "motor command 2 was NaN");
        let (_, why) = fly(
            &mut air(),
            &hover,
            glam::DVec3::new(f64::INFINITY, 0.0, 0.0),
        )
        .unwrap();
        assert!(why.starts_with("the wind was [inf"), "{why}");
        let mut s = air();
        s.v.y = f64::NAN;
        let (now, why) = fly(&mut s, &hover, glam::DVec3::ZERO).unwrap();
        assert_eq!(why, "the step started from a non-finite state (v.y = NaN)");
        assert!(now.starts_with("p."), "{now}");
    }

    #[test]
    fn io_mcu_cuts_the_motors_after_the_heartbeat_timeout() {
        let mut io = IoMcu {
            timeout: 0.05,
            last_heartbeat: 0.0,
            outputs: [0.0; 4],
            failsafe_at: None,
        };
        io.forward(1.0, [0.5, f32::NAN, 0.25, 1.0]);
        assert_eq!(
            io.output(1.02),
            [0.5, 0.0, 0.25, 1.0],
            "forwarded, NaN sent as 0"
        );
        assert_eq!(
            io.output(1.049),
            [0.5, 0.0, 0.25, 1.0],
            "not yet: inside the timeout"
        );
        assert_eq!(io.output(1.0501), [0.0; 4]);
        assert_eq!(io.failsafe_at, Some(1.0501));
        io.forward(1.06, [0.5; 4]);
        assert_eq!(io.output(1.061), [0.0; 4], "a failsafe latches");
    }
}
