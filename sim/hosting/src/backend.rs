//! Where a flight component runs: on an emulated core (synth's ARM code, the default), in
//! wasmtime (the same `.wasm`), natively (the `flight` crate built for the host), or in lockstep
//! (ARM and wasmtime side by side, every output compared bit for bit; the first divergence stops
//! the run with a [`Divergence`] report).
//!
//! The loop calls falcon-cascade's interfaces ([`Iface`]) on a [`Stack`] of modules per core:
//! each argument is a record as f32s (or the sensor frame, built field by field), lowered
//! through the canonical ABI from the module's WIT ([`crate::canon`]), and the result comes
//! back as the f32s of its record, whichever backend ran it. Only the ARM side costs its core
//! virtual time; wasmtime reports fuel instead, native nothing.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::canon::{self, Wit};
use crate::hosted::{Module, OnCore};
use crate::reference::Reference;
use crate::wasm::WasmModule;
use twin_machine::machine::Machine;
use twin_machine::{Error as TwinError, Result as TwinResult};

/// What a backend can fail with: the twin's own errors (bad input, a trap, a broken set-up) or,
/// in lockstep, the two sides disagreeing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Twin(#[from] TwinError),
    /// Lockstep differential mode: ARM and wasmtime disagreed.
    #[error("{0}")]
    Divergence(Box<Divergence>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A component's backend (scenario field `estimator_backend` / `controller_backend`, CLI
/// `--backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// synth's ARM code on the emulated core.
    #[default]
    Arm,
    /// The same `.wasm` in wasmtime.
    Wasmtime,
    /// The `flight` crate compiled for the host.
    Native,
    /// ARM and wasmtime on every call, outputs compared bit for bit.
    Lockstep,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Backend, String> {
        match s {
            "arm" => Ok(Backend::Arm),
            "wasmtime" => Ok(Backend::Wasmtime),
            "native" => Ok(Backend::Native),
            "lockstep" => Ok(Backend::Lockstep),
            _ => Err(format!(
                "unknown backend {s:?} (expected arm, wasmtime, native or lockstep)"
            )),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Arm => "arm",
            Backend::Wasmtime => "wasmtime",
            Backend::Native => "native",
            Backend::Lockstep => "lockstep",
        })
    }
}

/// The falcon-cascade interfaces the closed loop calls (reference/pulseengine.md section 4.1),
/// plus the project's `rt-twin:stack/aided-ekf` (wit/stack/stack.wit). An export
/// provides one when its name is `<package>/<interface>@<any version>#<function>`, so 0.7.x and
/// 0.10.x builds both serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Iface {
    /// `aided-ekf#init(state: vehicle-state)`.
    AidedInit,
    /// `aided-ekf#estimate(frame: aiding-frame) -> vehicle-state`.
    AidedEstimate,
    /// `ekf#estimate(imu: imu-sample) -> vehicle-state`.
    Estimate,
    /// `position#tick(state: vehicle-state, target: waypoint) -> attitude-setpoint`.
    Position,
    /// `attitude#tick(state: vehicle-state, sp: attitude-setpoint) -> rate-setpoint`.
    Attitude,
    /// `rate#tick(state: vehicle-state, sp: rate-setpoint) -> torque-setpoint`.
    Rate,
    /// `mixer#mix(torque: torque-setpoint) -> motor-pwm`.
    Mixer,
}

const FALCON: &str = "pulseengine:falcon-cascade/";
const AIDED: &str = "rt-twin:stack/aided-ekf@";

impl Iface {
    pub const ALL: [Iface; 7] = [
        Iface::AidedInit,
        Iface::AidedEstimate,
        Iface::Estimate,
        Iface::Position,
        Iface::Attitude,
        Iface::Rate,
        Iface::Mixer,
    ];

    /// (export-name prefix up to the version, `#function`).
    fn spec(self) -> (&'static str, &'static str) {
        match self {
            Iface::AidedInit => (AIDED, "#init"),
            Iface::AidedEstimate => (AIDED, "#estimate"),
            Iface::Estimate => ("pulseengine:falcon-cascade/ekf@", "#estimate"),
            Iface::Position => ("pulseengine:falcon-cascade/position@", "#tick"),
            Iface::Attitude => ("pulseengine:falcon-cascade/attitude@", "#tick"),
            Iface::Rate => ("pulseengine:falcon-cascade/rate@", "#tick"),
            Iface::Mixer => ("pulseengine:falcon-cascade/mixer@", "#mix"),
        }
    }

    /// Whether `export` provides this interface function.
    pub fn matches(self, export: &str) -> bool {
        let (prefix, func) = self.spec();
        export.starts_with(prefix) && export.ends_with(func) && {
            let version = &export[prefix.len()..export.len() - func.len()];
            !version.is_empty() && !version.contains(['/', '#'])
        }
    }

    /// The export name this project's stack uses (the native backend's, and messages).
    pub fn export(self) -> String {
        let (prefix, func) = self.spec();
        let version = if prefix.starts_with(FALCON) {
            "0.10.0"
        } else {
            "0.1.0"
        };
        format!("{prefix}{version}{func}")
    }

    /// A short name: `position#tick`, `aided-ekf#estimate`.
    pub fn label(self) -> &'static str {
        match self {
            Iface::AidedInit => "aided-ekf#init",
            Iface::AidedEstimate => "aided-ekf#estimate",
            Iface::Estimate => "ekf#estimate",
            Iface::Position => "position#tick",
            Iface::Attitude => "attitude#tick",
            Iface::Rate => "rate#tick",
            Iface::Mixer => "mixer#mix",
        }
    }
}

/// One control period's sensors, as the estimator interfaces take them: `ekf#estimate` the
/// IMU alone, `aided-ekf#estimate` every field present (by field name: `imu`, `dt-s`,
/// `position-ned`, `velocity-ned`, `baro-alt-m`, `mag-body`; falcon's `heading-rad` and
/// `motor-rpm` the twin does not sample: none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SensorFrame {
    /// Specific force (m/s^2) and rate (rad/s), body frame.
    pub accel: [f32; 3],
    pub gyro: [f32; 3],
    pub dt: f32,
    /// GNSS position and velocity, NED.
    pub gnss: Option<([f32; 3], [f32; 3])>,
    /// Barometric altitude (m, up).
    pub baro: Option<f32>,
    /// Magnetic field, body frame.
    pub mag: Option<[f32; 3]>,
}

impl SensorFrame {
    /// `imu-sample`: ax ay az gx gy gz.
    pub fn imu(&self) -> [f32; 6] {
        let mut w = [0.0; 6];
        w[..3].copy_from_slice(&self.accel);
        w[3..].copy_from_slice(&self.gyro);
        w
    }

    /// A field of a frame record by its WIT name, as f32s; None when not sampled or not known.
    pub fn field(&self, name: &str) -> Option<Vec<f32>> {
        match name {
            "imu" => Some(self.imu().to_vec()),
            "dt-s" => Some(vec![self.dt]),
            "position-ned" => self.gnss.map(|g| g.0.to_vec()),
            "velocity-ned" => self.gnss.map(|g| g.1.to_vec()),
            "baro-alt-m" => self.baro.map(|a| vec![a]),
            "mag-body" => self.mag.map(|m| m.to_vec()),
            _ => None,
        }
    }

    /// Every field as f32s (NaN where absent): a divergence report's inputs.
    pub fn words(&self) -> Vec<f32> {
        let nan3 = [f32::NAN; 3];
        let mut w = self.imu().to_vec();
        w.push(self.dt);
        w.extend(self.gnss.map_or(nan3, |g| g.0));
        w.extend(self.gnss.map_or(nan3, |g| g.1));
        w.push(self.baro.unwrap_or(f32::NAN));
        w.extend(self.mag.unwrap_or(nan3));
        w
    }
}

/// One argument of an interface call: a record as its f32s, or the sensor frame (built field
/// by field from the module's WIT).
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Words(&'a [f32]),
    Frame(&'a SensorFrame),
}

impl Arg<'_> {
    fn words(&self) -> Vec<f32> {
        match self {
            Arg::Words(w) => w.to_vec(),
            Arg::Frame(f) => f.words(),
        }
    }
}

/// Both sides' outputs at the first call where they differ.
#[derive(Debug, Clone, Serialize)]
pub struct Divergence {
    pub tick: u64,
    pub export: String,
    /// The input record, as f32 bit patterns.
    pub inputs: Vec<u32>,
    /// Output words (bit patterns), or the trap, per side.
    pub arm: std::result::Result<Vec<u32>, String>,
    pub wasm: std::result::Result<Vec<u32>, String>,
    /// Index of the first differing word and its differing bits (XOR), when both returned.
    pub first_word: Option<usize>,
    pub differing_bits: u32,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words = |w: &[u32]| {
            w.iter()
                .map(|x| format!("{x:08x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let hex = |v: &std::result::Result<Vec<u32>, String>| match v {
            Ok(w) => words(w),
            Err(t) => format!("trap: {t}"),
        };
        writeln!(
            f,
            "ARM and wasmtime diverge at tick {} in {}",
            self.tick, self.export
        )?;
        writeln!(f, "  inputs:   {}", words(&self.inputs))?;
        writeln!(f, "  ARM:      {}", hex(&self.arm))?;
        writeln!(f, "  wasmtime: {}", hex(&self.wasm))?;
        if let Some(i) = self.first_word {
            let (a, w) = match (&self.arm, &self.wasm) {
                (Ok(a), Ok(w)) => (a[i], w[i]),
                _ => (0, 0),
            };
            write!(
                f,
                "  first difference: word {i}: ARM {a:08x} ({}) vs wasmtime {w:08x} ({}), differing bits {:08x}",
                f32::from_bits(a),
                f32::from_bits(w),
                self.differing_bits
            )?;
        }
        Ok(())
    }
}

/// What one interface call gave.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The result record's f32s (empty for a function without a result).
    pub words: Vec<f32>,
    /// Cycles on the emulated core: the export and the allocator calls that lowered its
    /// arguments (0 off ARM).
    pub cycles: u64,
    /// wasmtime fuel (0 off wasmtime).
    pub fuel: u64,
    /// Stack bytes the call used on the core (0 off ARM).
    pub stack_bytes: u32,
}

/// falcon-cascade's contract as this project writes it (wit/stack), for modules that
/// carry no WIT of their own (a meld fusion may drop the component-type sections).
pub fn builtin_wit() -> TwinResult<Wit> {
    Wit::from_sources(
        "the built-in falcon-cascade WIT (wit/stack)",
        &[
            (
                "deps/falcon-cascade/cascade.wit",
                include_str!("../../../wit/stack/deps/falcon-cascade/cascade.wit"),
            ),
            ("stack.wit", include_str!("../../../wit/stack/stack.wit")),
        ],
    )
}

/// The `flight` crate's estimator and cascade stages on the host: every interface, with the
/// state each of the project's leaves keeps (targets/flight-stack).
pub struct NativeStack {
    ekf: flight::estimator::Estimator,
    position: flight::cascade::Position,
    rate: flight::cascade::Rate,
    cfg: flight::controller::VehicleConfig,
}

impl Default for NativeStack {
    fn default() -> NativeStack {
        let cfg = flight::controller::VehicleConfig::quad_x_default();
        NativeStack {
            ekf: flight::estimator::Estimator::new(
                flight::estimator::EstimatorConfig::default_sensors(),
            ),
            position: flight::cascade::Position::new(cfg, cfg.loop_dt),
            rate: flight::cascade::Rate::new(cfg, cfg.loop_dt),
            cfg,
        }
    }
}

impl NativeStack {
    fn call(&mut self, iface: Iface, args: &[Arg<'_>]) -> std::result::Result<Vec<f32>, String> {
        use flight::cascade::{self as c, VehicleState};
        let words = |i: usize, n: usize| -> std::result::Result<Vec<f32>, String> {
            match args.get(i) {
                Some(Arg::Words(w)) if w.len() == n => Ok(w.to_vec()),
                _ => Err(format!(
                    "{}: argument {} is not {n} f32s",
                    iface.label(),
                    i + 1
                )),
            }
        };
        let state = |i: usize| -> std::result::Result<VehicleState, String> {
            let w = words(i, c::VEHICLE_STATE_WORDS)?;
            Ok(VehicleState::from_words(
                w.as_slice().try_into().expect("14 words"),
            ))
        };
        Ok(match iface {
            Iface::AidedInit => {
                let s = state(0)?;
                self.ekf.init(&flight::NavState {
                    q: s.q,
                    p: s.p,
                    v: s.v,
                    bg: [0.0; 3],
                    ba: [0.0; 3],
                });
                Vec::new()
            }
            Iface::AidedEstimate => {
                let Some(Arg::Frame(f)) = args.first() else {
                    return Err("aided-ekf#estimate: argument 1 is not a sensor frame".into());
                };
                self.ekf.predict(f.accel, f.gyro, f.dt);
                if let Some((p, v)) = f.gnss {
                    self.ekf.update_gnss(p, v);
                }
                if let Some(a) = f.baro {
                    self.ekf.update_baro(a);
                }
                if let Some(m) = f.mag {
                    self.ekf.update_mag(m);
                }
                self.ekf.vehicle_state().to_words().to_vec()
            }
            Iface::Estimate => {
                let w = words(0, 6)?;
                self.ekf
                    .predict([w[0], w[1], w[2]], [w[3], w[4], w[5]], self.cfg.loop_dt);
                self.ekf.vehicle_state().to_words().to_vec()
            }
            Iface::Position => {
                let t = words(1, 4)?;
                let sp = self.position.tick(
                    &state(0)?,
                    &c::Waypoint {
                        p: [t[0], t[1], t[2]],
                        yaw: t[3],
                    },
                );
                let mut o = sp.q.to_vec();
                o.push(sp.thrust);
                o
            }
            Iface::Attitude => {
                let a = words(1, 5)?;
                let sp = c::AttitudeSetpoint {
                    q: [a[0], a[1], a[2], a[3]],
                    thrust: a[4],
                };
                let r = c::attitude(&self.cfg, &state(0)?, &sp);
                vec![r.w[0], r.w[1], r.w[2], r.thrust]
            }
            Iface::Rate => {
                let r = words(1, 4)?;
                let sp = c::RateSetpoint {
                    w: [r[0], r[1], r[2]],
                    thrust: r[3],
                };
                let t = self.rate.tick(&state(0)?, &sp);
                vec![t.torque[0], t.torque[1], t.torque[2], t.thrust]
            }
            Iface::Mixer => {
                let t = words(0, 4)?;
                c::mix(
                    &self.cfg,
                    &c::TorqueSetpoint {
                        torque: [t[0], t[1], t[2]],
                        thrust: t[3],
                    },
                )
                .to_vec()
            }
        })
    }
}

enum Imp {
    Arm(Box<Module>),
    Wasm(Box<Reference>),
    Native(Box<NativeStack>),
    Lockstep(Box<Module>, Box<Reference>),
}

/// One module instance on its backend, with the interfaces it exports.
pub struct Part {
    /// The module's file (messages).
    pub file: String,
    /// Interface -> the export that provides it.
    exports: BTreeMap<Iface, String>,
    /// The contracts its exports are called by (None natively).
    wit: Option<Wit>,
    /// The interfaces whose records are made of f32 alone, with their worked-out lowering
    /// (`canon::call_f32`: no WIT values built per call) and whether a `cabi_post_` follows.
    plans: BTreeMap<Iface, (canon::F32Plan, bool)>,
    realloc: Option<String>,
    imp: Imp,
}

/// The WIT a module's exports are called by: its own embedded one, else the built-in.
fn wit_of(wasm: &WasmModule) -> TwinResult<Wit> {
    match Wit::embedded(&wasm.bytes, &wasm.path)? {
        Some(w) => Ok(w),
        None => builtin_wit(),
    }
}

/// The interfaces among `names`.
fn interfaces(names: &[String]) -> BTreeMap<Iface, String> {
    let mut out = BTreeMap::new();
    for i in Iface::ALL {
        if let Some(n) = names.iter().find(|n| i.matches(n)) {
            out.insert(i, n.clone());
        }
    }
    out
}

/// The interfaces a module exports (before any backend): which core it is needed on.
pub fn interfaces_of(wasm: &WasmModule) -> Vec<Iface> {
    let names: Vec<String> = wasm.exports.iter().map(|e| e.name.clone()).collect();
    interfaces(&names).into_keys().collect()
}

fn trap(iface: Iface, side: &str, tick: u64, e: impl std::fmt::Display) -> TwinError {
    TwinError::Usage(format!(
        "{} trapped on {side} at tick {tick}: {e}",
        iface.label()
    ))
}

impl Part {
    fn new(wasm: &WasmModule, names: &[String], imp: Imp) -> TwinResult<Part> {
        let exports = interfaces(names);
        let wit = wit_of(wasm)?;
        let plans = exports
            .iter()
            .filter_map(|(i, e)| {
                let plan = wit.function(e)?.f32_plan()?;
                let post = names.iter().any(|n| *n == format!("cabi_post_{e}"));
                Some((*i, (plan, post)))
            })
            .collect();
        Ok(Part {
            file: wasm.path.clone(),
            exports,
            wit: Some(wit),
            plans,
            realloc: crate::canon::realloc_in(names),
            imp,
        })
    }

    /// synth's code for `module` on its core (the exports synth left out are not offered).
    pub fn arm(module: Module) -> TwinResult<Part> {
        let names: Vec<String> = module
            .export_names()
            .into_iter()
            .filter(|n| !module.skipped.contains(n))
            .collect();
        let wasm = module.wasm.clone();
        Part::new(&wasm, &names, Imp::Arm(Box::new(module)))
    }

    pub fn wasmtime(wasm: &WasmModule, reference: Reference) -> TwinResult<Part> {
        let names: Vec<String> = wasm.exports.iter().map(|e| e.name.clone()).collect();
        Part::new(wasm, &names, Imp::Wasm(Box::new(reference)))
    }

    /// ARM and wasmtime side by side: the interfaces both offer.
    pub fn lockstep(module: Module, reference: Reference) -> TwinResult<Part> {
        let mut part = Part::arm(module)?;
        let Imp::Arm(module) = part.imp else {
            unreachable!("Part::arm builds an ARM part")
        };
        part.imp = Imp::Lockstep(module, Box::new(reference));
        Ok(part)
    }

    /// The `flight` crate on the host: every interface.
    pub fn native() -> Part {
        Part {
            file: "the native flight crate".into(),
            exports: Iface::ALL.iter().map(|i| (*i, i.export())).collect(),
            wit: None,
            plans: BTreeMap::new(),
            realloc: None,
            imp: Imp::Native(Box::default()),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.imp {
            Imp::Arm(_) => Backend::Arm,
            Imp::Wasm(_) => Backend::Wasmtime,
            Imp::Native(_) => Backend::Native,
            Imp::Lockstep(..) => Backend::Lockstep,
        }
    }

    /// The ARM module, when the part runs on a core.
    pub fn arm_module(&self) -> Option<&Module> {
        match &self.imp {
            Imp::Arm(a) | Imp::Lockstep(a, _) => Some(a),
            _ => None,
        }
    }

    /// The interfaces this part provides.
    pub fn interfaces(&self) -> impl Iterator<Item = Iface> + '_ {
        self.exports.keys().copied()
    }

    pub fn provides(&self, iface: Iface) -> bool {
        self.exports.contains_key(&iface)
    }

    /// Call interface function `iface` with `args` (tick numbers errors and divergences).
    pub fn call(
        &mut self,
        machine: &mut Machine,
        tick: u64,
        iface: Iface,
        args: &[Arg<'_>],
    ) -> Result<Output> {
        let Some(export) = self.exports.get(&iface).cloned() else {
            return Err(TwinError::Usage(format!(
                "{} does not export {}",
                self.file,
                iface.label()
            ))
            .into());
        };
        // Records of f32 alone (every falcon-cascade interface but a frame with options) go
        // through the worked-out plan; anything else through WIT values.
        let words: Option<Vec<&[f32]>> = args
            .iter()
            .map(|a| match a {
                Arg::Words(w) => Some(*w),
                Arg::Frame(_) => None,
            })
            .collect();
        let fast = words.and_then(|w| self.plans.get(&iface).map(|p| (p, w)));
        let values = match (&self.wit, &fast) {
            (Some(wit), None) => Some(lower_args(wit, &export, args)?),
            _ => None,
        };
        let realloc = self.realloc.as_deref();
        let wit = self.wit.as_ref();
        // One call on a guest: the plan, or lower, call and lift through the WIT.
        let call = |g: &mut dyn canon::Guest| -> TwinResult<std::result::Result<Vec<f32>, String>> {
            Ok(match &fast {
                Some(((plan, post), w)) => canon::call_f32(plan, g, &export, realloc, *post, w)?,
                None => {
                    let func = wit
                        .and_then(|w| w.function(&export))
                        .expect("checked by lower_args");
                    let v = values.as_deref().unwrap_or(&[]);
                    words_of(canon::call(func, g, &export, realloc, v)?)
                }
            })
        };
        let call_arm = |m: &mut Module, machine: &mut Machine| -> TwinResult<_> {
            let mut g = OnCore::new(m, machine);
            let r = call(&mut g)?;
            let cycles = g.calls.iter().map(|(_, o)| o.cycles).sum();
            let stack = g
                .calls
                .iter()
                .map(|(_, o)| o.stack_bytes)
                .max()
                .unwrap_or(0);
            Ok((r, cycles, stack))
        };
        let call_wasm = |r: &mut Reference| call(r);
        match &mut self.imp {
            Imp::Arm(m) => {
                let (words, cycles, stack_bytes) = call_arm(m, machine)?;
                Ok(Output {
                    words: words.map_err(|e| trap(iface, "ARM", tick, e))?,
                    cycles,
                    fuel: 0,
                    stack_bytes,
                })
            }
            Imp::Wasm(r) => {
                let words = call_wasm(r)?.map_err(|e| trap(iface, "wasmtime", tick, e))?;
                Ok(Output {
                    words,
                    fuel: r.last_fuel,
                    ..Output::default()
                })
            }
            Imp::Native(n) => Ok(Output {
                words: n.call(iface, args).map_err(TwinError::Usage)?,
                ..Output::default()
            }),
            Imp::Lockstep(m, r) => {
                let (arm, cycles, stack_bytes) = call_arm(m, machine)?;
                let wasm = call_wasm(r)?;
                let (ab, wb) = (bits(&arm), bits(&wasm));
                if ab != wb {
                    let first_word = match (&ab, &wb) {
                        (Ok(x), Ok(y)) => x.iter().zip(y).position(|(p, q)| p != q),
                        _ => None,
                    };
                    let differing_bits = match (first_word, &ab, &wb) {
                        (Some(i), Ok(x), Ok(y)) => x[i] ^ y[i],
                        _ => 0,
                    };
                    return Err(Error::Divergence(Box::new(Divergence {
                        tick,
                        export,
                        inputs: args
                            .iter()
                            .flat_map(|a| a.words())
                            .map(f32::to_bits)
                            .collect(),
                        arm: ab,
                        wasm: wb,
                        first_word,
                        differing_bits,
                    })));
                }
                Ok(Output {
                    words: arm.map_err(|e| trap(iface, "both sides", tick, e))?,
                    cycles,
                    fuel: r.last_fuel,
                    stack_bytes,
                })
            }
        }
    }
}

/// `args` as the WIT values of `export`'s parameters.
fn lower_args(wit: &Wit, export: &str, args: &[Arg<'_>]) -> TwinResult<Vec<canon::Value>> {
    let func = wit.function(export).ok_or_else(|| {
        TwinError::Usage(format!(
            "{export} is not described by {}: the twin cannot lower its arguments",
            wit.source
        ))
    })?;
    args.iter()
        .enumerate()
        .map(|(i, a)| match a {
            Arg::Words(w) => func.param_from_f32s(i, w),
            Arg::Frame(f) => func.param_from_fields(i, &|name| f.field(name)),
        })
        .collect()
}

/// A lifted call result as f32s (a result that is not made of f32s is the guest's error).
fn words_of(
    r: std::result::Result<Option<canon::Value>, canon::Trap>,
) -> std::result::Result<Vec<f32>, String> {
    match r? {
        None => Ok(Vec::new()),
        Some(v) => canon::f32s(&v),
    }
}

fn bits(v: &std::result::Result<Vec<f32>, String>) -> std::result::Result<Vec<u32>, String> {
    v.as_ref()
        .map(|w| w.iter().map(|x| x.to_bits()).collect())
        .map_err(Clone::clone)
}

/// The modules one core runs, each interface served by the first module that exports it.
pub struct Stack {
    parts: Vec<Part>,
}

impl Stack {
    pub fn new(parts: Vec<Part>) -> Stack {
        Stack { parts }
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    pub fn provides(&self, iface: Iface) -> bool {
        self.parts.iter().any(|p| p.provides(iface))
    }

    /// Fail unless some module provides each of `need`; `what` says what needs them.
    pub fn require(&self, need: &[Iface], what: &str) -> TwinResult<()> {
        let missing: Vec<&str> = need
            .iter()
            .filter(|i| !self.provides(**i))
            .map(|i| i.label())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let offered: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                let i: Vec<&str> = p.interfaces().map(Iface::label).collect();
                format!(
                    "{} offers {}",
                    p.file,
                    if i.is_empty() {
                        "none".into()
                    } else {
                        i.join(", ")
                    }
                )
            })
            .collect();
        Err(TwinError::Usage(format!(
            "{what} needs {} (pulseengine:falcon-cascade/<interface>@<version>), which no module provides: {}",
            missing.join(", "),
            if offered.is_empty() {
                "no modules".into()
            } else {
                offered.join("; ")
            }
        )))
    }

    /// The backend of the part serving `iface` (of the first part if none does).
    pub fn backend(&self, iface: Iface) -> Backend {
        self.parts
            .iter()
            .find(|p| p.provides(iface))
            .or(self.parts.first())
            .map_or(Backend::Native, Part::backend)
    }

    pub fn call(
        &mut self,
        machine: &mut Machine,
        tick: u64,
        iface: Iface,
        args: &[Arg<'_>],
    ) -> Result<Output> {
        match self.parts.iter_mut().find(|p| p.provides(iface)) {
            Some(p) => p.call(machine, tick, iface, args),
            None => Err(TwinError::Usage(format!("no module provides {}", iface.label())).into()),
        }
    }
}

/// f32 words as little-endian bytes (records into guest memory).
pub fn words_bytes(words: &[f32]) -> Vec<u8> {
    words.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes as f32 words (records out of guest memory).
pub fn bytes_words(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::ValType::{F32, I32};

    /// The core-wasm shapes reference/pulseengine.md section 4.1 gives falcon-cascade's
    /// functions after canonical lowering.
    #[test]
    fn the_built_in_wit_lowers_each_interface_as_the_reference_says() {
        let wit = builtin_wit().unwrap();
        let shape = |i: Iface| wit.function(&i.export()).unwrap().core_types().unwrap();
        assert_eq!(shape(Iface::Estimate), (vec![F32; 6], vec![I32]));
        for i in [Iface::Position, Iface::Attitude, Iface::Rate] {
            assert_eq!(shape(i), (vec![I32], vec![I32]), "{}: spilled", i.label());
        }
        assert_eq!(shape(Iface::Mixer), (vec![F32; 4], vec![I32]));
        // The project's aided estimator: 14 flat f32 in, a 21-word frame spilled.
        assert_eq!(shape(Iface::AidedInit), (vec![F32; 14], vec![]));
        assert_eq!(shape(Iface::AidedEstimate), (vec![I32], vec![I32]));
    }

    #[test]
    fn interfaces_are_found_at_any_version_and_nowhere_else() {
        let ok = "pulseengine:falcon-cascade/position@0.7.0#tick";
        assert!(Iface::Position.matches(ok));
        assert!(Iface::Position.matches(&Iface::Position.export()));
        for bad in [
            "pulseengine:falcon-cascade/position@#tick",
            "pulseengine:falcon-cascade/position@0.7.0/x#tick",
            "pulseengine:falcon-cascade/position@0.7.0#mix",
            "pulseengine:falcon-cascade/attitude@0.7.0#tick",
        ] {
            assert!(!Iface::Position.matches(bad), "{bad}");
        }
        assert!(!Iface::Estimate.matches(&Iface::AidedEstimate.export()));
    }

    #[test]
    fn a_frame_fills_fields_by_name_and_leaves_unsampled_options_none() {
        let wit = builtin_wit().unwrap();
        let f = wit.function(&Iface::AidedEstimate.export()).unwrap();
        let frame = SensorFrame {
            accel: [1.0, 2.0, 3.0],
            gyro: [4.0, 5.0, 6.0],
            dt: 0.5,
            gnss: None,
            baro: Some(7.0),
            mag: None,
        };
        // Absent options are `none` (WAVE leaves them out of a record).
        let v = f.param_from_fields(0, &|n| frame.field(n)).unwrap();
        assert_eq!(
            canon::show(std::slice::from_ref(&v)),
            "{imu: {ax: 1, ay: 2, az: 3, gx: 4, gy: 5, gz: 6}, dt-s: 0.5, baro-alt-m: some(7)}"
        );
        use wasm_wave::wasm::WasmValue;
        let none: Vec<String> = v
            .unwrap_record()
            .filter(|(_, x)| x.kind() == wasm_wave::wasm::WasmTypeKind::Option)
            .filter(|(_, x)| x.unwrap_option().is_none())
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(none, ["position-ned", "velocity-ned", "mag-body"]);
        // falcon's sensor-frame (0.10) has fields the twin does not sample: none as well.
        let step = wit
            .function("pulseengine:falcon-cascade/controller@0.10.0#step")
            .unwrap();
        let v = step.param_from_fields(0, &|n| frame.field(n)).unwrap();
        assert_eq!(
            canon::show(&[v]),
            "{imu: {ax: 1, ay: 2, az: 3, gx: 4, gy: 5, gz: 6}, dt-s: 0.5}"
        );
        // A record a field is missing from, or the wrong number of f32s, is refused.
        let e = f.param_from_f32s(0, &[1.0; 21]).unwrap_err().to_string();
        assert!(e.contains("option<vec3> is not made of f32 fields"), "{e}");
        let pos = wit.function(&Iface::Position.export()).unwrap();
        let e = pos.param_from_f32s(0, &[0.0; 13]).unwrap_err().to_string();
        assert!(
            e.contains("tick parameter state: 13 f32s given, vehicle-state has 14"),
            "{e}"
        );
        let e = pos.param_from_f32s(1, &[0.0; 5]).unwrap_err().to_string();
        assert!(e.contains("5 f32s given, waypoint has 4"), "{e}");
    }
}
