//! Scenario files (RON): what to fly, with which flight images on which cores, and the gates
//! that say pass or fail. `sim check FILE` validates one; `sim --scenario FILE` runs it.
//!
//! ```ron
//! Scenario(
//!     name: "stabilization",
//!     dt: 0.002, steps: 6000, seed: 1,
//!     initial: Initial(position: (0.0, 0.0, -5.0), attitude: (0.4, 0.0, 0.0)),
//!     waypoints: [Waypoint(t: 0.0, position: (0.0, 0.0, -5.0))],
//!     gates: [Attitude(after: 11.0, below: 0.1), NoOverrun],
//! )
//! ```
//! Everything else has defaults: the vehicle (`vehicle::Params::quad_x`), sensors, no wind, the
//! project's falcon-cascade stack built from `targets/flight-stack` (estimator on the CM4, the
//! controller stages on the CM7).

use std::path::{Path, PathBuf};

use glam::{DQuat, DVec3};
use serde::{Deserialize, Serialize};

use crate::check::{finite, Checked};
use crate::error::Result;
use crate::flightloop::{
    initial_state, Dividers, FlightComputer, FlightLoop, Hosted, Tick, MAILBOX, MAILBOX_BYTES,
    STAGES,
};
use crate::trace::Stats;
use crate::vehicle::sensors::{SensorParams, Sensors};
use crate::vehicle::wind::{Wind, WindParams};
use crate::vehicle::{Params, State};
use twin_hosting::backend::{interfaces_of, Backend, Iface, Part, Stack};
use twin_hosting::hosted::host::HostFns;
use twin_hosting::hosted::link::RelObject;
use twin_hosting::hosted::{Arena, Module, Options};
use twin_hosting::reference::Reference;
use twin_hosting::wasm::WasmModule;
use twin_machine::board::Board;
use twin_machine::machine::{Config, Machine};
use twin_machine::{Error as TwinError, Result as TwinResult};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Initial {
    /// NED (m); z < 0 is airborne.
    pub position: (f64, f64, f64),
    /// Roll, pitch, yaw (rad).
    #[serde(default)]
    pub attitude: (f64, f64, f64),
    #[serde(default)]
    pub velocity: (f64, f64, f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waypoint {
    /// From this time (s) on.
    pub t: f64,
    pub position: (f64, f64, f64),
}

/// Faults injected during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// Motor `motor` gives no thrust from `at` s.
    RotorFailure { motor: usize, at: f64 },
    /// The vehicle-state reaches the CM7 `ticks` control ticks late (the name is kept for
    /// the scenario files that use it).
    NavStateDelay { ticks: u32 },
    /// The vehicle-state delay varies by up to +-`ticks` (seeded).
    NavStateJitter { ticks: u32 },
    /// From `at` s the CM7's heartbeat no longer reaches the IO MCU.
    HeartbeatLoss { at: f64 },
    /// IMU noise multiplied by `scale` from `from` s.
    ImuNoise { scale: f64, from: f64 },
    /// No GNSS fix between `from` and `to` s.
    GnssDropout { from: f64, to: f64 },
}

/// Pass/fail criteria, evaluated on the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Gate {
    /// Tilt from level (angle of the body z axis to the vertical) below `below` rad from `after`
    /// s (until `until` s when given).
    Attitude {
        after: f64,
        #[serde(default)]
        until: Option<f64>,
        below: f64,
    },
    /// Distance to the active waypoint below `below` m from `after` s (until `until` s).
    Position {
        after: f64,
        #[serde(default)]
        until: Option<f64>,
        below: f64,
    },
    /// No core overran its period.
    NoOverrun,
    /// The IO MCU cut the motors within `within` s of the heartbeat loss (needs HeartbeatLoss).
    FailsafeWithin { within: f64 },
    /// The run reported a loss of control (a fault the vehicle cannot fly through).
    LossOfControlReported,
}

impl Gate {
    /// The window and threshold of a gate on a signal (`Attitude`, `Position`): (after, until,
    /// below).
    pub fn window(&self) -> Option<(f64, Option<f64>, f64)> {
        match self {
            Gate::Attitude {
                after,
                until,
                below,
            }
            | Gate::Position {
                after,
                until,
                below,
            } => Some((*after, *until, *below)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flight {
    /// The flight module (.wasm) exporting falcon-cascade's interfaces (the project's stack, a
    /// meld-fused falcon); its synth objects are compiled with the pinned synth.
    #[serde(default = "default_wasm")]
    pub wasm: PathBuf,
    /// Several modules instead of `wasm` (falcon's leaves: ekf, position, attitude, rate,
    /// mixer): each is hosted on the core(s) whose interfaces it exports, each interface
    /// served by the first module in the list that exports it.
    #[serde(default)]
    pub modules: Vec<PathBuf>,
    #[serde(default = "m4")]
    pub estimator_core: String,
    #[serde(default = "m7")]
    pub controller_core: String,
    /// Where each component runs: `Arm` (synth's code on its core, the default), `Wasmtime`,
    /// `Native`, or `Lockstep` (ARM and wasmtime compared bit for bit every tick).
    #[serde(default)]
    pub estimator_backend: Backend,
    #[serde(default)]
    pub controller_backend: Backend,
    /// A synth object to link instead of compiling the module with the pinned synth (the
    /// falcon objects a user brings, or a deliberately broken one).
    #[serde(default)]
    pub estimator_object: Option<PathBuf>,
    #[serde(default)]
    pub controller_object: Option<PathBuf>,
    /// How often each controller stage runs, in control ticks (default: every tick).
    #[serde(default)]
    pub dividers: Dividers,
    /// Full-system mode (docs/full-system.md): fly `wasm` inside the project's full-system
    /// firmware on the twin, which reads the sensors from the modelled devices on the buses and
    /// commands the motors through the IO MCU, instead of hosting the modules. `Some(())` for
    /// the image targets/hil/build.sh writes, or `Some((image: "path/to/hil-fs-m7.elf"))`.
    #[serde(default)]
    pub firmware: Option<Firmware>,
}

/// The full-system firmware a scenario flies ([`Flight::firmware`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firmware {
    /// The CM7 image (the CM4's travels inside it), relative to the project root.
    #[serde(default = "default_firmware_image")]
    pub image: PathBuf,
}

/// The built-in flights a scenario names instead of `Flight(...)`.
pub const BUILTIN_FLIGHTS: [&str; 1] = ["Reference"];

/// `flight:` as a scenario writes it: `Flight(...)` (or an anonymous `(...)`) field by field,
/// or a built-in name ([`BUILTIN_FLIGHTS`]: `Reference` is [`Flight::default`], the project's
/// stack). RON hands a bare name over as a unit, so [`Scenario::parse`] checks the name itself.
fn flight_or_builtin<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Flight, D::Error> {
    struct Spec;
    impl<'de> serde::de::Visitor<'de> for Spec {
        type Value = Flight;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "`Flight(...)` or one of {BUILTIN_FLIGHTS:?}")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Flight, E> {
            Ok(Flight::default())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Flight, A::Error> {
            Flight::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Spec)
}

/// Where targets/hil/build.sh writes the full-system image, under the project root.
pub const DEFAULT_FIRMWARE_IMAGE: &str = "target/hil/hil-fs-m7.elf";

fn default_firmware_image() -> PathBuf {
    PathBuf::from(DEFAULT_FIRMWARE_IMAGE)
}

fn default_wasm() -> PathBuf {
    PathBuf::from(DEFAULT_FLIGHT_WASM)
}

fn m4() -> String {
    "m4".into()
}
fn m7() -> String {
    "m7".into()
}

impl Default for Flight {
    fn default() -> Self {
        Flight {
            wasm: default_wasm(),
            modules: Vec::new(),
            estimator_core: m4(),
            controller_core: m7(),
            estimator_backend: Backend::Arm,
            controller_backend: Backend::Arm,
            estimator_object: None,
            controller_object: None,
            dividers: Dividers::default(),
            firmware: None,
        }
    }
}

/// Where the project's build puts the reference flight stack (scripts and tests build it).
pub const DEFAULT_FLIGHT_WASM: &str =
    "targets/flight-stack/target/wasm32-unknown-unknown/release/flight_stack.wasm";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Control period (s).
    pub dt: f64,
    pub steps: u64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "Params::quad_x")]
    pub vehicle: Params,
    #[serde(default)]
    pub sensors: SensorParams,
    #[serde(default)]
    pub wind: WindParams,
    pub initial: Initial,
    pub waypoints: Vec<Waypoint>,
    /// `Flight(...)`, or a built-in name: `Reference`, the project's stack (the default).
    #[serde(default, deserialize_with = "flight_or_builtin")]
    pub flight: Flight,
    #[serde(default)]
    pub faults: Vec<Fault>,
    pub gates: Vec<Gate>,
    /// What `sim compare --scenario` allows between two runs of this scenario: signal name
    /// (`sim::trace::SIGNALS`) -> max |difference|. Unlisted flight signals must match exactly;
    /// timing signals are only judged when listed.
    #[serde(default)]
    pub tolerances: std::collections::BTreeMap<String, f64>,
    /// The directory of the file the scenario was read from ([`Scenario::load`]): the first
    /// place its relative paths are looked for.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// A RON file of the twin's (a scenario, a sweep, a whole run): optional fields take a bare
/// value (`until: 4.0`, no `Some(...)`); numbers must be finite (`NaN`, `inf` and literals past
/// f64's range are refused); an error names the file, line and column.
pub(crate) fn parse_ron<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> TwinResult<T> {
    twin_machine::rontext::check_numbers(text, file)?;
    let options =
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    options.from_str(text).map_err(|e| TwinError::Ron {
        file: file.to_string(),
        line: e.position.line,
        column: e.position.col,
        message: e.code.to_string(),
    })
}

impl Scenario {
    pub fn load(path: &Path) -> TwinResult<Scenario> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TwinError::Io {
            path: name.clone(),
            source: e,
        })?;
        let mut s = Scenario::parse(&text, &name)?;
        s.origin = origin_of(path);
        Ok(s)
    }

    /// A scenario from its text (`file` names it in errors). Numbers must be finite and every
    /// value in range; an error names the line and column that wrote the value.
    pub fn parse(text: &str, file: &str) -> TwinResult<Scenario> {
        if let Some((name, line, column)) = twin_machine::rontext::name_at(text, "flight") {
            if name != "Flight" && !BUILTIN_FLIGHTS.contains(&name.as_str()) {
                return Err(TwinError::Ron {
                    file: file.to_string(),
                    line,
                    column,
                    message: format!(
                        "flight: no built-in flight {name:?}: write `Flight(...)` or one of {BUILTIN_FLIGHTS:?}"
                    ),
                });
            }
        }
        let s: Scenario = parse_ron(text, file)?;
        s.validate().map_err(|e| e.error(text, file))?;
        Ok(s)
    }

    fn validate(&self) -> Checked {
        use crate::check::{all_finite, at_least, invalid, non_negative, positive};
        self.vehicle.validate().map_err(|e| e.within("vehicle"))?;
        self.sensors.validate().map_err(|e| e.within("sensors"))?;
        self.wind.validate().map_err(|e| e.within("wind"))?;
        positive(self.dt, "dt")?;
        let sub = self.dt / self.vehicle.dt;
        if (sub - sub.round()).abs() > 1e-9 || sub.round() < 1.0 {
            return Err(invalid(
                "dt",
                format!(
                    "{} must be a whole number of physics steps of {} s",
                    self.dt, self.vehicle.dt
                ),
            ));
        }
        at_least(self.steps, 1, "steps")?;
        let i = &self.initial;
        all_finite(
            &[i.position.0, i.position.1, i.position.2],
            "initial.position",
        )?;
        all_finite(
            &[i.attitude.0, i.attitude.1, i.attitude.2],
            "initial.attitude",
        )?;
        all_finite(
            &[i.velocity.0, i.velocity.1, i.velocity.2],
            "initial.velocity",
        )?;
        if self.waypoints.is_empty() {
            return Err(invalid("waypoints", "at least one waypoint"));
        }
        for (k, w) in self.waypoints.iter().enumerate() {
            non_negative(w.t, &format!("waypoints[{k}].t"))?;
            let p = w.position;
            all_finite(&[p.0, p.1, p.2], &format!("waypoints[{k}].position"))?;
        }
        if let Some(k) = self.waypoints.windows(2).position(|w| w[1].t < w[0].t) {
            return Err(invalid(
                format!("waypoints[{}].t", k + 1),
                "waypoints must be in time order",
            ));
        }
        let d = &self.flight.dividers;
        for (v, at) in [
            (d.position, "position"),
            (d.attitude, "attitude"),
            (d.rate, "rate"),
            (d.mixer, "mixer"),
        ] {
            at_least(u64::from(v), 1, &format!("flight.dividers.{at}"))?;
        }
        if self.gates.is_empty() {
            return Err(invalid(
                "gates",
                "at least one gate (what does passing mean?)",
            ));
        }
        crate::trace::Tolerances {
            default: 0.0,
            per_signal: self.tolerances.clone(),
        }
        .validate()
        .map_err(|e| invalid("tolerances", e))?;
        let duration = self.dt * self.steps as f64;
        for (k, f) in self.faults.iter().enumerate() {
            let at = |field: &str| format!("faults[{k}].{field}");
            match f {
                Fault::RotorFailure { motor, at: t } => {
                    non_negative(*t, &at("at"))?;
                    if *motor >= self.vehicle.motors.len() {
                        return Err(invalid(
                            at("motor"),
                            format!(
                                "rotor failure of motor {motor}: the vehicle has {} motors",
                                self.vehicle.motors.len()
                            ),
                        ));
                    }
                }
                Fault::HeartbeatLoss { at: t } => non_negative(*t, &at("at"))?,
                Fault::ImuNoise { scale, from } => {
                    non_negative(*scale, &at("scale"))?;
                    non_negative(*from, &at("from"))?;
                }
                Fault::GnssDropout { from, to } => {
                    non_negative(*from, &at("from"))?;
                    non_negative(*to, &at("to"))?;
                    if to < from {
                        return Err(invalid(at("to"), "GNSS dropout ends before it starts"));
                    }
                }
                Fault::NavStateDelay { .. } | Fault::NavStateJitter { .. } => {}
            }
        }
        for (k, g) in self.gates.iter().enumerate() {
            let at = |field: &str| format!("gates[{k}].{field}");
            if let Some((after, until, below)) = g.window() {
                non_negative(after, &at("after"))?;
                positive(below, &at("below"))?;
                if let Some(u) = until {
                    finite(u, &at("until"))?;
                    if u <= after {
                        return Err(invalid(
                            at("until"),
                            format!("the window ends ({u} s) before it starts ({after} s)"),
                        ));
                    }
                }
                if after >= duration {
                    return Err(invalid(
                        at("after"),
                        format!("gate {g:?} starts after the end of the run ({duration} s)"),
                    ));
                }
            }
            if let Gate::FailsafeWithin { within } = g {
                positive(*within, &at("within"))?;
                if self.heartbeat_loss().is_none() {
                    return Err(invalid(
                        format!("gates[{k}]"),
                        "a FailsafeWithin gate needs a HeartbeatLoss fault",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where a file the scenario names is ([`find_file`] from the scenario file's directory).
    pub fn find(&self, root: &Path, path: &Path) -> Result<PathBuf, Vec<PathBuf>> {
        find_file(self.origin.as_deref(), root, path)
    }

    pub(crate) fn heartbeat_loss(&self) -> Option<f64> {
        self.faults.iter().find_map(|f| match f {
            Fault::HeartbeatLoss { at } => Some(*at),
            _ => None,
        })
    }

    /// The waypoint active at time t.
    pub fn waypoint_at(&self, t: f64) -> [f32; 3] {
        let w = self
            .waypoints
            .iter()
            .take_while(|w| w.t <= t)
            .last()
            .unwrap_or(&self.waypoints[0]);
        [
            w.position.0 as f32,
            w.position.1 as f32,
            w.position.2 as f32,
        ]
    }

    /// The vehicle's state at t = 0.
    pub fn initial_state(&self) -> State {
        let i = &self.initial;
        let p = DVec3::new(i.position.0, i.position.1, i.position.2);
        let mut s = State::at_rest(&self.vehicle, p);
        s.q = DQuat::from_euler(
            glam::EulerRot::ZYX,
            i.attitude.2,
            i.attitude.1,
            i.attitude.0,
        );
        s.v = DVec3::new(i.velocity.0, i.velocity.1, i.velocity.2);
        if p.z < 0.0 {
            s.on_ground = false;
            s.omega = vec![self.vehicle.hover_omega(); self.vehicle.motors.len()];
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    pub gate: String,
    pub pass: bool,
    /// The worst value seen where the gate applies.
    pub worst: f64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    /// Every gate passed and the run reached its end.
    pub pass: bool,
    pub gates: Vec<GateResult>,
    /// Why the run ended early (a trap, a divergence, an interrupt), if it did.
    pub stopped: Option<String>,
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`), if one did: the report
    /// covers the ticks run before it.
    pub interrupted: Option<String>,
    /// The lockstep divergence that stopped the run.
    pub divergence: Option<twin_hosting::backend::Divergence>,
    pub estimator_backend: Backend,
    pub controller_backend: Backend,
    /// What ran the flight code: hosted on the twin, the HIL firmware on the twin, a board.
    #[serde(default)]
    pub flight_computer: String,
    /// Ticks run (the scenario's steps unless the run stopped early).
    pub ticks: u64,
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
    pub real_time_factor: f64,
    pub estimator_cycles_per_tick: Stats,
    pub controller_cycles_per_tick: Stats,
    /// How the emulated cores' cycles are counted: (core, model) (empty when no core is
    /// emulated).
    #[serde(default)]
    pub cycle_model: Vec<(String, String)>,
    pub mu_latency_ns: Stats,
    /// Cycles per tick each core has (the control period at its clock).
    pub estimator_budget_cycles: u64,
    pub controller_budget_cycles: u64,
    pub overruns: u64,
    /// Every event with its time (s).
    pub events: Vec<(f64, String)>,
    /// Full-system runs: what the drivers, interrupts and buses cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_system: Option<FullSystemReport>,
}

/// What the full-system firmware's drivers, interrupts and buses cost (docs/full-system.md).
#[derive(Debug, Clone, Serialize)]
pub struct FullSystemReport {
    /// CM7 DWT cycles per tick from the IMU's data-ready to the sensor frame built, plus the
    /// IO MCU exchange: bus waits included (the core sleeps through them).
    pub driver_cycles_per_tick: Stats,
    /// CM7 cycles in interrupt handlers per tick, and the interrupts taken.
    pub irq_cycles_per_tick: Stats,
    pub irqs_per_tick: Stats,
    /// Cycles per tick each core was awake (not in WFI): everything it ran, drivers, handlers
    /// and flight code.
    pub m7_busy_cycles_per_tick: Stats,
    pub m4_busy_cycles_per_tick: Stats,
    /// Each bus's time on the wire over the run (from the first tick).
    pub buses: Vec<BusUse>,
    /// The pulse width (us) on each motor output at the last tick: the IO MCU's main outputs
    /// and the FMU's auxiliary ones.
    pub outputs_at_end: Vec<(String, f64)>,
}

impl FullSystemReport {
    pub fn of(load: &crate::flightloop::FullSystemLoad) -> FullSystemReport {
        let col = |f: fn(&crate::flightloop::TickLoad) -> u64| {
            crate::trace::stats(load.ticks.iter().map(f))
        };
        FullSystemReport {
            driver_cycles_per_tick: col(|t| t.driver_cycles),
            irq_cycles_per_tick: col(|t| t.irq_cycles),
            irqs_per_tick: col(|t| t.irqs),
            m7_busy_cycles_per_tick: col(|t| t.m7_awake_cycles),
            m4_busy_cycles_per_tick: col(|t| t.m4_awake_cycles),
            buses: load
                .buses
                .iter()
                .filter(|(_, s)| *s > 0.0)
                .map(|(bus, s)| BusUse {
                    bus: bus.clone(),
                    busy_seconds: *s,
                    share: s / load.span_s.max(1e-12),
                })
                .collect(),
            outputs_at_end: load.outputs.clone(),
        }
    }
}

/// One bus's time on the wire ([`FullSystemReport::buses`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusUse {
    /// The peripheral (`LPSPI2`, `LPI2C3`, `LPUART6 TX`, ...).
    pub bus: String,
    pub busy_seconds: f64,
    /// busy_seconds over the run's virtual time.
    pub share: f64,
}

/// Evaluate the gates on a trace.
pub fn evaluate(s: &Scenario, trace: &[Tick]) -> Vec<GateResult> {
    s.gates
        .iter()
        .map(|g| match g {
            Gate::Attitude {
                after,
                until,
                below,
            } => {
                let gate = format!(
                    "attitude error < {below} rad after {after} s{}",
                    window(until)
                );
                unjudged(trace, *after, *until, &ATTITUDE_INPUTS, &gate).unwrap_or_else(|| {
                    let worst = worst_in(trace, *after, *until, |t| {
                        tilt(t.attitude[0], t.attitude[1])
                    });
                    GateResult {
                        gate,
                        pass: worst < *below,
                        worst,
                        detail: format!("worst {worst:.4} rad"),
                    }
                })
            }
            Gate::Position {
                after,
                until,
                below,
            } => {
                let gate = format!(
                    "position error < {below} m after {after} s{}",
                    window(until)
                );
                unjudged(trace, *after, *until, &POSITION_INPUTS, &gate).unwrap_or_else(|| {
                    let worst = worst_in(trace, *after, *until, |t| {
                        let w = s.waypoint_at(t.t);
                        (DVec3::from(t.position)
                            - DVec3::new(w[0].into(), w[1].into(), w[2].into()))
                        .length()
                    });
                    GateResult {
                        gate,
                        pass: worst < *below,
                        worst,
                        detail: format!("worst {worst:.3} m"),
                    }
                })
            }
            Gate::NoOverrun => {
                let n = trace
                    .iter()
                    .filter(|t| t.overrun_m4 || t.overrun_m7)
                    .count();
                GateResult {
                    gate: "no core overruns its period".into(),
                    pass: n == 0,
                    worst: n as f64,
                    detail: format!("{n} overruns"),
                }
            }
            Gate::FailsafeWithin { within } => {
                let lost = s.heartbeat_loss().unwrap_or(0.0);
                let cut = trace
                    .iter()
                    .find(|t| t.events.iter().any(|e| e.starts_with("IO MCU failsafe")))
                    .map(|t| t.t + s.dt);
                let delay = cut.map(|c| c - lost);
                GateResult {
                    gate: format!("motors cut within {within} s of heartbeat loss"),
                    pass: delay.is_some_and(|d| d <= *within),
                    worst: delay.unwrap_or(f64::INFINITY),
                    detail: match delay {
                        Some(d) => format!("cut {:.0} ms after the loss", d * 1000.0),
                        None => "never cut".into(),
                    },
                }
            }
            Gate::LossOfControlReported => {
                let first = trace.iter().find_map(|t| {
                    t.events
                        .iter()
                        .find(|e| e.starts_with("loss of control"))
                        .map(|e| (t.t, e.clone()))
                });
                GateResult {
                    gate: "loss of control reported".into(),
                    pass: first.is_some(),
                    worst: first.as_ref().map_or(f64::INFINITY, |f| f.0),
                    detail: match first {
                        Some((t, e)) => format!("at {t:.2} s: {e}"),
                        None => "not reported".into(),
                    },
                }
            }
        })
        .collect()
}

/// Where a gate stands during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum GateStatus {
    /// Not yet applicable (before its window, or waiting for its event).
    Pending,
    /// Applies and holds so far.
    Holding,
    /// Decided: passed at time `at` (s), or at the end of the run.
    Passed { at: f64 },
    /// Decided: failed at the tick starting at `at` (s).
    Failed { at: f64 },
}

/// A gate evaluated tick by tick ([`GateMonitor`]).
#[derive(Debug, Clone, Serialize)]
pub struct LiveGate {
    pub gate: String,
    pub status: GateStatus,
    /// The worst value seen so far where the gate applies (as [`GateResult::worst`]).
    pub worst: f64,
}

/// The gates evaluated as the run goes, so a front end can show the moment one fails. At the end
/// of a run ([`GateMonitor::finish`]) its verdicts are those of [`evaluate`] on the whole
/// trace (tested against it).
#[derive(Debug, Clone)]
pub struct GateMonitor {
    pub gates: Vec<LiveGate>,
}

impl GateMonitor {
    pub fn new(s: &Scenario) -> GateMonitor {
        // The gate texts come from the batch evaluation of an empty trace.
        let names = evaluate(s, &[]);
        GateMonitor {
            gates: names
                .into_iter()
                .zip(&s.gates)
                .map(|(r, g)| LiveGate {
                    gate: r.gate,
                    status: match g {
                        Gate::NoOverrun => GateStatus::Holding,
                        _ => GateStatus::Pending,
                    },
                    worst: 0.0,
                })
                .collect(),
        }
    }

    /// Take one tick into account; returns the indices of gates that failed at this tick.
    pub fn observe(&mut self, s: &Scenario, t: &Tick) -> Vec<usize> {
        let mut failed = Vec::new();
        for (i, (g, live)) in s.gates.iter().zip(&mut self.gates).enumerate() {
            if matches!(
                live.status,
                GateStatus::Failed { .. } | GateStatus::Passed { .. }
            ) {
                continue;
            }
            let before = live.status.clone();
            match (g.window(), g) {
                (Some((after, until, below)), _) => {
                    if t.t < after {
                        continue;
                    }
                    if until.is_some_and(|u| t.t >= u) {
                        live.status = GateStatus::Passed { at: t.t };
                        continue;
                    }
                    let inputs: &[Input] = if matches!(g, Gate::Attitude { .. }) {
                        &ATTITUDE_INPUTS
                    } else {
                        &POSITION_INPUTS
                    };
                    if inputs.iter().any(|(_, f)| !f(t).is_finite()) {
                        // A value the gate cannot judge fails it.
                        live.worst = f64::INFINITY;
                        live.status = GateStatus::Failed { at: t.t };
                        failed.push(i);
                        continue;
                    }
                    let v = if matches!(g, Gate::Attitude { .. }) {
                        tilt(t.attitude[0], t.attitude[1])
                    } else {
                        let w = s.waypoint_at(t.t);
                        (DVec3::from(t.position)
                            - DVec3::new(w[0].into(), w[1].into(), w[2].into()))
                        .length()
                    };
                    live.worst = live.worst.max(v);
                    live.status = if live.worst < below {
                        GateStatus::Holding
                    } else {
                        GateStatus::Failed { at: t.t }
                    };
                }
                (None, Gate::NoOverrun) => {
                    if t.overrun_m4 || t.overrun_m7 {
                        live.worst += 1.0;
                        live.status = GateStatus::Failed { at: t.t };
                    }
                }
                (None, Gate::FailsafeWithin { within }) => {
                    let lost = s.heartbeat_loss().unwrap_or(0.0);
                    let cut = t.events.iter().any(|e| e.starts_with("IO MCU failsafe"));
                    // A cut seen at this tick lands at its end (as `evaluate` counts it).
                    let delay = t.t + s.dt - lost;
                    if cut {
                        live.worst = delay;
                        live.status = if delay <= *within {
                            GateStatus::Passed { at: t.t }
                        } else {
                            GateStatus::Failed { at: t.t }
                        };
                    } else if delay > *within {
                        live.worst = f64::INFINITY;
                        live.status = GateStatus::Failed { at: t.t };
                    }
                }
                (None, Gate::LossOfControlReported) => {
                    if t.events.iter().any(|e| e.starts_with("loss of control")) {
                        live.worst = t.t;
                        live.status = GateStatus::Passed { at: t.t };
                    }
                }
                // Signal gates always have a window (the first arm).
                (None, Gate::Attitude { .. } | Gate::Position { .. }) => {}
            }
            if matches!(live.status, GateStatus::Failed { .. })
                && !matches!(before, GateStatus::Failed { .. })
            {
                failed.push(i);
            }
        }
        failed
    }

    /// The run ended at `end` (s): every undecided gate is decided.
    pub fn finish(&mut self, s: &Scenario, end: f64) {
        for (g, live) in s.gates.iter().zip(&mut self.gates) {
            if !matches!(live.status, GateStatus::Pending | GateStatus::Holding) {
                continue;
            }
            let never_applied = matches!(live.status, GateStatus::Pending)
                && matches!(g, Gate::Attitude { .. } | Gate::Position { .. });
            live.status = match g {
                Gate::FailsafeWithin { .. } | Gate::LossOfControlReported => {
                    live.worst = f64::INFINITY;
                    GateStatus::Failed { at: end }
                }
                // Its window never came: nothing was judged.
                _ if never_applied => {
                    live.worst = f64::INFINITY;
                    GateStatus::Failed { at: end }
                }
                _ => GateStatus::Passed { at: end },
            };
        }
    }
}

/// A trace signal a gate judges: its name and how to read it from a tick.
type Input = (&'static str, fn(&Tick) -> f64);

/// What the attitude gate reads (the tilt comes from roll and pitch).
const ATTITUDE_INPUTS: [Input; 2] = [("roll", |t| t.attitude[0]), ("pitch", |t| t.attitude[1])];

/// What the position gate reads (against the waypoint, which the scenario check keeps finite).
const POSITION_INPUTS: [Input; 3] = [
    ("x_m", |t| t.position[0]),
    ("y_m", |t| t.position[1]),
    ("z_m", |t| t.position[2]),
];

/// The failed result of a gate whose inputs are not finite at some tick of [after, until): a
/// gate never passes on a value it cannot judge. None when every input is finite.
fn unjudged(
    trace: &[Tick],
    after: f64,
    until: Option<f64>,
    inputs: &[Input],
    gate: &str,
) -> Option<GateResult> {
    let in_window = |t: &Tick| t.t >= after && until.is_none_or(|u| t.t < u);
    if !trace.iter().any(in_window) {
        // The run stopped (or was interrupted) before the gate's window.
        let detail = match trace.last() {
            Some(t) => format!(
                "not judged: the run ended at {:.3} s, before the window",
                t.t
            ),
            None => "not judged: no tick was run".into(),
        };
        return Some(GateResult {
            gate: gate.to_string(),
            pass: false,
            worst: f64::INFINITY,
            detail,
        });
    }
    trace
        .iter()
        .enumerate()
        .filter(|(_, t)| t.t >= after && until.is_none_or(|u| t.t < u))
        .find_map(|(k, t)| {
            let (name, f) = inputs.iter().find(|(_, f)| !f(t).is_finite())?;
            Some(GateResult {
                gate: gate.to_string(),
                pass: false,
                worst: f64::INFINITY,
                detail: format!(
                    "{name} is {} at tick {k} (t = {:.3} s): not judged, failed",
                    f(t),
                    t.t
                ),
            })
        })
}

/// The largest value of `f` over the ticks in [after, until).
fn worst_in(trace: &[Tick], after: f64, until: Option<f64>, f: impl Fn(&Tick) -> f64) -> f64 {
    trace
        .iter()
        .filter(|t| t.t >= after && until.is_none_or(|u| t.t < u))
        .map(f)
        .fold(0.0, f64::max)
}

fn window(until: &Option<f64>) -> String {
    until.map(|u| format!(" until {u} s")).unwrap_or_default()
}

/// Tilt from level for roll and pitch (ZYX Euler): the angle of the body z axis to the vertical.
fn tilt(roll: f64, pitch: f64) -> f64 {
    (roll.cos() * pitch.cos()).clamp(-1.0, 1.0).acos()
}

/// Build the closed loop with the flight module hosted on both cores. `root` resolves
/// relative paths in the scenario; `objects` is where synth's objects go.
pub fn build(s: &Scenario, root: &Path, objects: &Path) -> Result<FlightLoop> {
    if s.flight.firmware.is_some() {
        return Err(TwinError::Usage(format!(
            "{}: the scenario flies the full-system firmware (flight.firmware), which twin-target runs (`sim --scenario`, twin-ui), not the hosted runtime",
            s.name
        ))
        .into());
    }
    let fc = hosted(s, root, objects)?;
    build_with(s, Box::new(fc))
}

/// The scenario's flight module ([`Scenario::find`]), checked to exist.
pub fn flight_wasm(s: &Scenario, root: &Path) -> TwinResult<PathBuf> {
    existing(s, root, &s.flight.wasm)
}

/// A module path the scenario names, found ([`Scenario::find`]).
fn existing(s: &Scenario, root: &Path, path: &Path) -> TwinResult<PathBuf> {
    s.find(root, path).map_err(|tried| {
        let built = path.ends_with(DEFAULT_FLIGHT_WASM)
            || Path::new(DEFAULT_FLIGHT_WASM).ends_with(path);
        TwinError::Usage(format!(
            "flight module {} not found (looked in {}){}",
            path.display(),
            looked_in(&tried),
            if built {
                ": build it with `cargo build --release` in targets/flight-stack, or run scripts/demo.sh"
            } else {
                ""
            }
        ))
    })
}

/// Where a file a scenario, sweep or whole-run file names is: an absolute path as written; a
/// relative one in the first place it exists of the naming file's own directory (`origin`),
/// `root` (the project the file sits in, or the working directory) and the project the twin
/// was built from ([`project_root`]). Err: every place looked in.
pub fn find_file(origin: Option<&Path>, root: &Path, path: &Path) -> Result<PathBuf, Vec<PathBuf>> {
    if path.is_absolute() {
        return if path.exists() {
            Ok(path.to_path_buf())
        } else {
            Err(vec![path.to_path_buf()])
        };
    }
    let mut tried: Vec<PathBuf> = Vec::new();
    let bases = origin
        .map(Path::to_path_buf)
        .into_iter()
        .chain([root.to_path_buf(), project_root()]);
    for base in bases {
        let candidate = base.join(path);
        if candidate.exists() {
            return Ok(candidate);
        }
        if !tried.contains(&candidate) {
            tried.push(candidate);
        }
    }
    Err(tried)
}

/// The places a path was looked for, for an error message.
pub fn looked_in(tried: &[PathBuf]) -> String {
    tried
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The directory of a file, absolute (where its relative paths are looked for first).
pub fn origin_of(file: &Path) -> Option<PathBuf> {
    file.parent()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()))
}

/// The project the twin was built from: where project-relative paths and `flight: Reference`
/// are found for a scenario outside any project tree. `RT_TWIN_ROOT` names another.
pub fn project_root() -> PathBuf {
    match std::env::var_os("RT_TWIN_ROOT") {
        Some(r) => PathBuf::from(r),
        // sim/flight -> the workspace.
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    }
}

/// The scenario's module set: `modules`, or `wasm` alone.
pub fn flight_modules(s: &Scenario, root: &Path) -> TwinResult<Vec<PathBuf>> {
    if s.flight.modules.is_empty() {
        return Ok(vec![flight_wasm(s, root)?]);
    }
    if s.flight.wasm != default_wasm() {
        return Err(TwinError::Usage(format!(
            "{}: flight gives both `wasm` and `modules`: give one",
            s.name
        )));
    }
    s.flight
        .modules
        .iter()
        .map(|m| existing(s, root, m))
        .collect()
}

/// The scenario's modules hosted on the twin's cores (or the scenario's other backends).
pub fn hosted(s: &Scenario, root: &Path, objects: &Path) -> Result<Hosted> {
    let paths = flight_modules(s, root)?;
    let f = &s.flight;
    if paths.len() > 1 && (f.estimator_object.is_some() || f.controller_object.is_some()) {
        return Err(TwinError::Usage(format!(
            "{}: estimator_object and controller_object replace the code of a single module; this scenario flies {} modules",
            s.name,
            paths.len()
        ))
        .into());
    }
    std::fs::create_dir_all(objects).map_err(|e| TwinError::Io {
        path: objects.display().to_string(),
        source: e,
    })?;
    let mut machine = Machine::new(Board::rt1176(), &Config::default())?;
    // Both cores' modules come from one arena (OCRAM is shared), which keeps the mailbox to
    // the runtimes.
    // The modules of a core are called one at a time by its runtime: one stack per core.
    let mut arena = Arena::default();
    arena.share_stacks = true;
    let m4 = machine.core_index(&f.estimator_core)?;
    arena.reserve(&machine, m4, MAILBOX, MAILBOX_BYTES)?;
    let mut part = |wasm_path: &Path,
                    wasm: &WasmModule,
                    core: &str,
                    backend: Backend,
                    object: &Option<PathBuf>|
     -> TwinResult<Part> {
        let mut link = |machine: &mut Machine| -> TwinResult<Module> {
            let target = twin_hosting::synth::default_target(core);
            let out = match object {
                Some(o) => s.find(root, o).map_err(|tried| {
                    TwinError::Usage(format!(
                        "{}: object {} not found (looked in {})",
                        s.name,
                        o.display(),
                        looked_in(&tried)
                    ))
                })?,
                None => {
                    let stem = wasm_path
                        .file_stem()
                        .map_or("flight".into(), |s| s.to_string_lossy());
                    let out = objects.join(format!("{stem}-{target}.o"));
                    twin_hosting::synth::compile(wasm_path, target, "software", &out)?;
                    out
                }
            };
            let bytes = std::fs::read(&out).map_err(|e| TwinError::Io {
                path: out.display().to_string(),
                source: e,
            })?;
            let obj = RelObject::parse(&bytes, &out.display().to_string())?;
            Module::link_in(
                machine,
                core,
                wasm.clone(),
                &obj,
                &HostFns::builtin(),
                Options::default(),
                &mut arena,
            )
        };
        let reference = || Reference::new(wasm, &HostFns::builtin());
        match backend {
            Backend::Arm => Part::arm(link(&mut machine)?),
            Backend::Wasmtime => Part::wasmtime(wasm, reference()?),
            Backend::Native => Ok(Part::native()),
            Backend::Lockstep => Part::lockstep(link(&mut machine)?, reference()?),
        }
    };
    const ESTIMATOR: [Iface; 3] = [Iface::AidedInit, Iface::AidedEstimate, Iface::Estimate];
    let (mut est, mut ctl) = (Vec::new(), Vec::new());
    for path in &paths {
        let wasm = WasmModule::load(path)?;
        let has = interfaces_of(&wasm);
        let on_m4 = has.iter().any(|i| ESTIMATOR.contains(i));
        let on_m7 = has.iter().any(|i| STAGES.contains(i));
        if !on_m4 && !on_m7 {
            return Err(TwinError::Usage(format!(
                "{}: exports none of falcon-cascade's interfaces (pulseengine:falcon-cascade/<ekf|position|attitude|rate|mixer>@<version>#<function>)",
                path.display()
            ))
            .into());
        }
        if on_m4 {
            est.push(part(
                path,
                &wasm,
                &f.estimator_core,
                f.estimator_backend,
                &f.estimator_object,
            )?);
        }
        if on_m7 {
            ctl.push(part(
                path,
                &wasm,
                &f.controller_core,
                f.controller_backend,
                &f.controller_object,
            )?);
        }
    }
    // A native backend stands for every module of its core.
    let native = |parts: &mut Vec<Part>| {
        if parts.iter().any(|p| p.backend() == Backend::Native) {
            *parts = vec![Part::native()];
        }
    };
    native(&mut est);
    native(&mut ctl);
    let core_index = |name: &str| {
        machine
            .board
            .cores
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| TwinError::Usage(format!("{}: the board has no core {name:?}", s.name)))
    };
    let cores = (
        core_index(&f.estimator_core)?,
        core_index(&f.controller_core)?,
    );
    let mut h = Hosted::new(
        machine,
        Stack::new(est),
        Stack::new(ctl),
        cores,
        &initial_state(&s.initial_state()),
    )?;
    h.dividers = f.dividers;
    Ok(h)
}

/// The closed loop of `s` around flight computer `fc`.
pub fn build_with(s: &Scenario, fc: Box<dyn FlightComputer>) -> Result<FlightLoop> {
    let mut lp = FlightLoop::new(
        fc,
        s.vehicle.clone(),
        s.initial_state(),
        Sensors::new(s.sensors.clone(), s.seed),
        Wind::new(s.wind.clone(), s.seed ^ 0x5749_4E44),
        s.dt,
        s.waypoint_at(0.0),
    );
    let (mut delay, mut jitter) = (0, 0);
    for f in &s.faults {
        match f {
            Fault::RotorFailure { motor, at } => lp.faults.rotor_failure = Some((*motor, *at)),
            Fault::HeartbeatLoss { at } => lp.faults.heartbeat_loss = Some(*at),
            Fault::NavStateDelay { ticks } => delay = *ticks,
            Fault::NavStateJitter { ticks } => jitter = *ticks,
            Fault::ImuNoise { .. } | Fault::GnssDropout { .. } => {}
        }
    }
    lp.fc.set_nav_faults(delay, jitter)?;
    Ok(lp)
}

/// Sensor faults active at time t.
pub(crate) fn apply_sensor_faults(s: &Scenario, lp: &mut FlightLoop, t: f64) {
    lp.sensors.imu_noise_scale = 1.0;
    lp.sensors.gnss_dropout = false;
    for f in &s.faults {
        match f {
            Fault::ImuNoise { scale, from } if t >= *from => lp.sensors.imu_noise_scale = *scale,
            Fault::GnssDropout { from, to } if t >= *from && t < *to => {
                lp.sensors.gnss_dropout = true
            }
            _ => {}
        }
    }
}

/// The scenario files (`*.ron`) of a directory, sorted, each loaded (or why it does not load).
pub fn list(dir: &Path) -> TwinResult<Vec<(PathBuf, TwinResult<Scenario>)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| TwinError::Io {
            path: dir.display().to_string(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|f| {
            let s = Scenario::load(&f);
            (f, s)
        })
        .collect())
}

/// The project root a scenario file's relative paths start from: the file's grandparent when
/// it sits in a `scenarios/` directory of a tree with `targets/`, else the current directory.
pub fn root_for(file: &Path) -> PathBuf {
    let parent = file.parent().and_then(|p| p.parent());
    match parent {
        Some(p) if p.join("targets").is_dir() => p.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    }
}

pub use crate::trace::{trace_csv, TRACE_COLUMNS};

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"Scenario(
        name: "t", dt: 0.002, steps: 10,
        initial: Initial(position: (0.0, 0.0, -5.0), attitude: (0.4, 0.0, 0.0)),
        waypoints: [Waypoint(t: 0.0, position: (0.0, 0.0, -5.0)), Waypoint(t: 1.0, position: (1.0, 0.0, -5.0))],
        gates: [Attitude(after: 0.01, below: 0.1), NoOverrun],
    )"#;

    #[test]
    fn parses_with_defaults_and_schedules_waypoints() {
        let s = Scenario::parse(MINIMAL, "t.ron").unwrap();
        assert_eq!(s.vehicle, Params::quad_x());
        assert_eq!(s.flight.estimator_core, "m4");
        assert_eq!(s.waypoint_at(0.5), [0.0, 0.0, -5.0]);
        assert_eq!(s.waypoint_at(1.0), [1.0, 0.0, -5.0]);
        let st = s.initial_state();
        assert!((st.euler().0 - 0.4).abs() < 1e-12);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad = MINIMAL.replace("steps: 10", "steps: \"ten\"");
        let e = Scenario::parse(&bad, "bad.ron").unwrap_err().to_string();
        assert!(e.starts_with("bad.ron:2:"), "{e}");
        let unknown = MINIMAL
            .replace("seed", "x")
            .replace("steps: 10,", "steps: 10, colour: 3,");
        let e = Scenario::parse(&unknown, "u.ron").unwrap_err().to_string();
        assert!(e.contains("u.ron:2:") && e.contains("colour"), "{e}");
        let late = MINIMAL.replace("after: 0.01", "after: 9.0");
        let e = Scenario::parse(&late, "l.ron").unwrap_err().to_string();
        assert!(e.contains("after the end of the run"), "{e}");
        let rotor = MINIMAL.replace(
            "gates:",
            "faults: [RotorFailure(motor: 7, at: 1.0)], gates:",
        );
        let e = Scenario::parse(&rotor, "r.ron").unwrap_err().to_string();
        assert!(e.contains("motor 7") && e.contains("4 motors"), "{e}");
        let failsafe = MINIMAL.replace("NoOverrun]", "FailsafeWithin(within: 0.1)]");
        let e = Scenario::parse(&failsafe, "f.ron").unwrap_err().to_string();
        assert!(e.contains("needs a HeartbeatLoss"), "{e}");
        let until = MINIMAL.replace("after: 0.01,", "after: 0.01, until: 0.015,");
        assert!(
            Scenario::parse(&until, "u.ron").is_ok(),
            "implicit Some for until"
        );
        let odd = MINIMAL.replace("dt: 0.002", "dt: 0.0025");
        let e = Scenario::parse(&odd, "o.ron").unwrap_err().to_string();
        assert!(e.contains("whole number of physics steps"), "{e}");
    }

    #[test]
    fn non_finite_and_out_of_range_values_are_placed() {
        // Each case: what replaces what, and the error's expected start (the line and column
        // of the offending value, counted in the edited text outside the twin).
        let cases = [
            ("attitude: (0.4,", "attitude: (NaN,", "3:65: `NaN` is not a finite"),
            ("dt: 0.002", "dt: -inf", "2:24: `inf` is not a finite"),
            ("steps: 10", "steps: 0", "2:38: steps: must be at least 1"),
            ("below: 0.1", "below: -0.1", "5:46: gates[0].below: must be a positive"),
            ("after: 0.01", "after: -1.0", "5:33: gates[0].after: must be a number >= 0"),
            (
                "Waypoint(t: 1.0",
                "Waypoint(t: -1.0",
                "4:79: waypoints[1].t: must be a number >= 0",
            ),
            (
                "gates:",
                "sensors: SensorParams(gyro_noise: -0.5), gates:",
                "5:43: sensors.gyro_noise: must be a number >= 0",
            ),
            (
                "gates:",
                "wind: WindParams(gusts: [Gust(start: 1.0, duration: 0.0, amplitude: (1.0, 0.0, 0.0))]), gates:",
                "5:61: wind.gusts[0].duration: must be a positive",
            ),
            (
                "gates:",
                "flight: Flight(dividers: Dividers(position: 0, attitude: 1, rate: 1, mixer: 1)), gates:",
                "5:53: flight.dividers.position: must be at least 1",
            ),
            (
                "gates:",
                "faults: [ImuNoise(scale: 2.0, from: -3.0)], gates:",
                "5:45: faults[0].from: must be a number >= 0",
            ),
        ];
        for (from, to, want) in cases {
            let text = MINIMAL.replacen(from, to, 1);
            assert_ne!(text, MINIMAL, "{from}");
            let e = Scenario::parse(&text, "s.ron").unwrap_err().to_string();
            assert!(e.starts_with(&format!("s.ron:{want}")), "{to}: {e}");
        }
    }

    #[test]
    fn a_gate_never_passes_on_a_value_it_cannot_judge() {
        let s = Scenario::parse(MINIMAL, "t.ron").unwrap();
        let tick = |k: usize, roll: f64, x: f64| Tick {
            t: k as f64 * 0.002,
            position: [x, 0.0, -5.0],
            attitude: [roll, 0.0, 0.0],
            ..Tick::default()
        };
        // Roll NaN from tick 6 (t = 0.012, inside the attitude gate's window from 0.01 s);
        // north infinite at tick 2 (outside it: the gate does not look there).
        let trace: Vec<Tick> = (0..10)
            .map(|k| {
                let roll = if k >= 6 { f64::NAN } else { 0.01 };
                let x = if k == 2 { f64::INFINITY } else { 0.0 };
                tick(k, roll, x)
            })
            .collect();
        let r = evaluate(&s, &trace);
        assert!(!r[0].pass, "{r:?}");
        assert_eq!(r[0].worst, f64::INFINITY);
        assert_eq!(
            r[0].detail,
            "roll is NaN at tick 6 (t = 0.012 s): not judged, failed"
        );
        let mut m = GateMonitor::new(&s);
        let failed: Vec<(usize, Vec<usize>)> = trace
            .iter()
            .enumerate()
            .map(|(k, t)| (k, m.observe(&s, t)))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        assert_eq!(failed, vec![(6, vec![0])]);
        assert_eq!(m.gates[0].status, GateStatus::Failed { at: 0.012 });
        // A position gate over the infinite tick fails and names the signal.
        let p = Scenario::parse(
            &MINIMAL.replace(
                "Attitude(after: 0.01, below: 0.1)",
                "Position(after: 0.0, below: 1.0)",
            ),
            "p.ron",
        )
        .unwrap();
        let r = evaluate(&p, &trace);
        assert_eq!(
            r[0].detail,
            "x_m is inf at tick 2 (t = 0.004 s): not judged, failed"
        );
    }

    #[test]
    fn flight_is_written_whole_anonymous_or_as_a_built_in_name() {
        let with = |flight: &str| MINIMAL.replace("gates:", &format!("flight: {flight}, gates:"));
        let s = Scenario::parse(&with("Reference"), "r.ron").unwrap();
        assert_eq!(s.flight, Flight::default());
        let s = Scenario::parse(
            &with("Flight(wasm: \"a.wasm\", estimator_object: \"e.o\")"),
            "f.ron",
        )
        .unwrap();
        assert_eq!(s.flight.wasm, PathBuf::from("a.wasm"));
        assert_eq!(s.flight.estimator_object, Some(PathBuf::from("e.o")));
        let s = Scenario::parse(&with("(controller_core: \"m4\")"), "a.ron").unwrap();
        assert_eq!(s.flight.controller_core, "m4");
        let e = Scenario::parse(&with("Refrence"), "t.ron")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.ron:5:17: flight: no built-in flight \"Refrence\""),
            "{e}"
        );
        let e = Scenario::parse(&with("Flight(wasm: \"a.wasm\", colour: 1)"), "t.ron")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.ron:5:") && e.contains("colour"), "{e}");
    }

    #[test]
    fn relative_paths_are_found_beside_the_file_then_in_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("mine.wasm");
        std::fs::write(&mine, b"").unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        // Beside the file first, whatever the root.
        assert_eq!(
            find_file(Some(dir.path()), elsewhere.path(), Path::new("mine.wasm")),
            Ok(mine.clone())
        );
        // Then the root, then the project the twin was built from.
        let cargo = Path::new("Cargo.toml");
        assert_eq!(
            find_file(Some(elsewhere.path()), dir.path(), cargo),
            Ok(project_root().join(cargo))
        );
        assert!(project_root().join("scenarios/stabilization.ron").is_file());
        // Absolute paths are taken as written; what is nowhere lists the places looked in.
        assert_eq!(find_file(None, elsewhere.path(), &mine), Ok(mine.clone()));
        let tried =
            find_file(Some(dir.path()), elsewhere.path(), Path::new("no.wasm")).unwrap_err();
        assert_eq!(
            tried,
            vec![
                dir.path().join("no.wasm"),
                elsewhere.path().join("no.wasm"),
                project_root().join("no.wasm")
            ]
        );
    }

    #[test]
    fn a_window_the_run_never_reached_fails() {
        let s = Scenario::parse(MINIMAL, "t.ron").unwrap();
        // Two ticks (0 and 0.002 s): the attitude gate's window opens at 0.01 s.
        let trace: Vec<Tick> = (0..2)
            .map(|k| Tick {
                t: k as f64 * 0.002,
                ..Tick::default()
            })
            .collect();
        let r = evaluate(&s, &trace);
        assert!(!r[0].pass);
        assert_eq!(
            r[0].detail,
            "not judged: the run ended at 0.002 s, before the window"
        );
        assert!(r[1].pass, "no overrun in the ticks run");
        assert_eq!(evaluate(&s, &[])[0].detail, "not judged: no tick was run");
        let mut m = GateMonitor::new(&s);
        for t in &trace {
            m.observe(&s, t);
        }
        m.finish(&s, 0.004);
        assert_eq!(m.gates[0].status, GateStatus::Failed { at: 0.004 });
        assert_eq!(m.gates[1].status, GateStatus::Passed { at: 0.004 });
    }

    #[test]
    fn gates_evaluate_on_a_trace() {
        let s = Scenario::parse(MINIMAL, "t.ron").unwrap();
        let tick = |t: f64, roll: f64, overrun: bool| Tick {
            t,
            position: [0.0, 0.0, -5.0],
            velocity: [0.0; 3],
            attitude: [roll, 0.0, 0.0],
            m4_cycles: 1,
            m7_cycles: 1,
            overrun_m4: overrun,
            ..Tick::default()
        };
        let ok = evaluate(&s, &[tick(0.0, 0.4, false), tick(0.02, 0.05, false)]);
        assert!(ok.iter().all(|g| g.pass), "{ok:?}");
        let bad = evaluate(&s, &[tick(0.02, 0.2, true)]);
        assert!(!bad[0].pass && !bad[1].pass);
        assert!((bad[0].worst - 0.2).abs() < 1e-12);
    }

    #[test]
    fn live_gates_fail_at_the_tick_and_agree_with_the_batch_evaluation() {
        let text = MINIMAL
            .replace(
                "gates: [Attitude(after: 0.01, below: 0.1), NoOverrun]",
                "faults: [HeartbeatLoss(at: 0.004)], gates: [Attitude(after: 0.01, below: 0.1), \
                 Position(after: 0.0, until: 0.008, below: 1.0), NoOverrun, \
                 FailsafeWithin(within: 0.01), LossOfControlReported]",
            )
            .replace("steps: 10", "steps: 20");
        let s = Scenario::parse(&text, "t.ron").unwrap();
        let tick = |k: usize, roll: f64, x: f64, overrun: bool, event: Option<&str>| Tick {
            t: k as f64 * 0.002,
            position: [x, 0.0, -5.0],
            attitude: [roll, 0.0, 0.0],
            overrun_m7: overrun,
            events: event.map(|e| vec![e.to_string()]).unwrap_or_default(),
            ..Tick::default()
        };
        // Roll goes bad at tick 7 (t = 0.014); position is bad only after its window; an
        // overrun at tick 3; the failsafe cut seen at tick 4 (0.010 - 0.004 + 0.002 = 0.008 s
        // after the loss); no loss of control.
        let trace: Vec<Tick> = (0..12)
            .map(|k| {
                let roll = if k >= 7 { 0.3 } else { 0.05 };
                let x = if k >= 5 { 3.0 } else { 0.5 };
                let ev = (k == 4).then_some("IO MCU failsafe: motors cut at 0.010 s");
                tick(k, roll, x, k == 3, ev)
            })
            .collect();
        let mut m = GateMonitor::new(&s);
        let mut failed_at = vec![None; s.gates.len()];
        for (k, t) in trace.iter().enumerate() {
            for i in m.observe(&s, t) {
                assert!(failed_at[i].is_none(), "gate {i} failed twice");
                failed_at[i] = Some(k);
            }
        }
        assert_eq!(failed_at, vec![Some(7), None, Some(3), None, None]);
        assert_eq!(m.gates[1].status, GateStatus::Passed { at: 0.008 });
        assert_eq!(m.gates[3].status, GateStatus::Passed { at: 0.008 });
        assert_eq!(m.gates[4].status, GateStatus::Pending);
        m.finish(&s, 0.024);
        assert_eq!(m.gates[4].status, GateStatus::Failed { at: 0.024 });
        let batch = evaluate(&s, &trace);
        for (live, b) in m.gates.iter().zip(&batch) {
            assert_eq!(live.gate, b.gate);
            assert_eq!(
                matches!(live.status, GateStatus::Passed { .. }),
                b.pass,
                "{live:?} vs {b:?}"
            );
        }
        // A failsafe that never comes fails once its deadline has passed.
        let mut m = GateMonitor::new(&s);
        let quiet: Vec<Tick> = (0..12).map(|k| tick(k, 0.0, 0.0, false, None)).collect();
        let when: Vec<usize> = quiet
            .iter()
            .enumerate()
            .filter(|(_, t)| m.observe(&s, t).contains(&3))
            .map(|(k, _)| k)
            .collect();
        // 0.004 + 0.01 = 0.014: the tick at 0.014 ends at 0.016, past the deadline.
        assert_eq!(when, vec![7]);
        assert!(!evaluate(&s, &quiet)[3].pass);
    }
}
