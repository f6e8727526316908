//! Where a flight component runs: on an emulated core (synth's ARM code, the default), in
//! wasmtime (the same `.wasm`), natively (the `flight` crate built for the host), or in lockstep
//! (ARM and wasmtime side by side, every output compared bit for bit; the first divergence stops
//! the run with a [`Divergence`] report).
//!
//! Every backend takes the same flat f32 records (`flight::records`) and returns the same words,
//! so the loop does not care which one it drives. Only the ARM side costs its core virtual time;
//! wasmtime reports fuel instead, native nothing.

use serde::{Deserialize, Serialize};

use crate::hosted::{CallOutcome, Module};
use crate::reference::Reference;
use crate::wasm::Val;
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

/// Which falcon component a [`Part`] is: its exports and record sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Estimator,
    Controller,
}

pub const EKF_ESTIMATE: &str = "pulseengine:falcon-cascade/ekf@0.10.0#estimate";
pub const EKF_INIT: &str = "pulseengine:falcon-cascade/ekf@0.10.0#init";
pub const STEP: &str = "pulseengine:falcon-cascade/controller@0.10.0#step";

impl Kind {
    /// The per-tick export.
    pub fn export(self) -> &'static str {
        match self {
            Kind::Estimator => EKF_ESTIMATE,
            Kind::Controller => STEP,
        }
    }
    pub fn input_words(self) -> usize {
        match self {
            Kind::Estimator => flight::records::SENSOR_FRAME_WORDS,
            Kind::Controller => flight::records::STEP_INPUT_WORDS,
        }
    }
    pub fn output_words(self) -> usize {
        match self {
            Kind::Estimator => flight::records::NAV_WORDS,
            Kind::Controller => flight::records::MOTOR_WORDS,
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

/// What one call gave.
#[derive(Debug, Clone)]
pub struct Output {
    pub words: Vec<f32>,
    /// Cycles on the emulated core (0 off ARM).
    pub cycles: u64,
    /// wasmtime fuel (0 off wasmtime).
    pub fuel: u64,
    /// Stack bytes the call used on the core (0 off ARM).
    pub stack_bytes: u32,
}

/// The ARM side: a linked module and its input buffer in linear memory.
pub struct ArmSide {
    pub module: Module,
    input: u32,
}

/// The wasmtime side: an instance and its input buffer.
pub struct WasmSide {
    pub reference: Reference,
    input: u32,
}

enum NativeSide {
    Estimator(Box<flight::estimator::Estimator>),
    Controller(Box<flight::controller::Controller>),
}

enum Imp {
    Arm(ArmSide),
    Wasm(WasmSide),
    Native(NativeSide),
    Lockstep(ArmSide, WasmSide),
}

/// One flight component on its backend.
pub struct Part {
    pub kind: Kind,
    imp: Imp,
}

/// The buffer the host asks the guest for (`cabi_realloc`, as a canonical-ABI host would).
const ALLOC: [Val; 4] = [Val::I32(0), Val::I32(0), Val::I32(4), Val::I32(96)];

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

/// The pointer an export returned (its first result), or why there is none.
fn pointer(
    result: std::result::Result<&[Val], String>,
    export: &str,
) -> std::result::Result<u32, String> {
    match result?.first() {
        Some(Val::I32(p)) => Ok(*p),
        _ => Err(format!("{export} returned no pointer")),
    }
}

/// The `n` words behind the pointer an export returned (none when `n` is 0), or why not;
/// `read(ptr, len)` reads the side's linear memory.
fn output_words(
    result: std::result::Result<&[Val], String>,
    export: &str,
    n: usize,
    read: impl FnOnce(u32, u32) -> TwinResult<Vec<u8>>,
) -> TwinResult<std::result::Result<Vec<f32>, String>> {
    if n == 0 {
        return Ok(result.map(|_| Vec::new()));
    }
    Ok(match pointer(result, export) {
        Ok(p) => Ok(bytes_words(&read(p, 4 * n as u32)?)),
        Err(e) => Err(e),
    })
}

/// The guest buffer for input records, from `cabi_realloc`.
fn input_buffer(result: std::result::Result<&[Val], String>, side: &str) -> TwinResult<u32> {
    pointer(result, "cabi_realloc")
        .map_err(|e| TwinError::Usage(format!("cabi_realloc failed on {side}: {e}")))
}

impl ArmSide {
    pub fn new(mut module: Module, machine: &mut Machine) -> TwinResult<ArmSide> {
        let out = module.call(machine, "cabi_realloc", &ALLOC)?;
        let input = input_buffer(out.result.as_deref().map_err(|t| t.to_string()), "ARM")?;
        Ok(ArmSide { module, input })
    }

    /// Call `export` on the record; the returned pointer's `n` words, or the trap.
    fn call(
        &mut self,
        machine: &mut Machine,
        export: &str,
        input: &[f32],
        n: usize,
    ) -> TwinResult<(std::result::Result<Vec<f32>, String>, CallOutcome)> {
        self.module
            .write_memory(machine, self.input, &words_bytes(input))?;
        let out = self.module.call(machine, export, &[Val::I32(self.input)])?;
        let result = out.result.as_deref().map_err(|t| t.to_string());
        let module = &mut self.module;
        let words = output_words(result, export, n, |p, len| {
            module.read_memory(machine, p, len)
        })?;
        Ok((words, out))
    }
}

impl WasmSide {
    pub fn new(mut reference: Reference) -> TwinResult<WasmSide> {
        let out = reference.call("cabi_realloc", &ALLOC, 1)?;
        let input = input_buffer(out.as_deref().map_err(|t| t.to_string()), "wasmtime")?;
        Ok(WasmSide { reference, input })
    }

    fn call(
        &mut self,
        export: &str,
        input: &[f32],
        n: usize,
    ) -> TwinResult<std::result::Result<Vec<f32>, String>> {
        self.reference
            .write_memory(self.input, &words_bytes(input))?;
        let out = self
            .reference
            .call(export, &[Val::I32(self.input)], usize::from(n > 0))?;
        let reference = &mut self.reference;
        output_words(
            out.as_deref().map_err(|t| t.to_string()),
            export,
            n,
            |p, len| reference.read_memory(p, len),
        )
    }
}

fn bits(v: &std::result::Result<Vec<f32>, String>) -> std::result::Result<Vec<u32>, String> {
    v.as_ref()
        .map(|w| w.iter().map(|x| x.to_bits()).collect())
        .map_err(Clone::clone)
}

impl Part {
    pub fn arm(kind: Kind, module: Module, machine: &mut Machine) -> TwinResult<Part> {
        Ok(Part {
            kind,
            imp: Imp::Arm(ArmSide::new(module, machine)?),
        })
    }

    pub fn wasmtime(kind: Kind, reference: Reference) -> TwinResult<Part> {
        Ok(Part {
            kind,
            imp: Imp::Wasm(WasmSide::new(reference)?),
        })
    }

    pub fn native(kind: Kind) -> Part {
        use flight::controller::{Controller, VehicleConfig};
        use flight::estimator::{Estimator, EstimatorConfig};
        Part {
            kind,
            imp: Imp::Native(match kind {
                Kind::Estimator => NativeSide::Estimator(Box::new(Estimator::new(
                    EstimatorConfig::default_sensors(),
                ))),
                Kind::Controller => NativeSide::Controller(Box::new(Controller::new(
                    VehicleConfig::quad_x_default(),
                ))),
            }),
        }
    }

    pub fn lockstep(
        kind: Kind,
        module: Module,
        machine: &mut Machine,
        reference: Reference,
    ) -> TwinResult<Part> {
        Ok(Part {
            kind,
            imp: Imp::Lockstep(ArmSide::new(module, machine)?, WasmSide::new(reference)?),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.imp {
            Imp::Arm(_) => Backend::Arm,
            Imp::Wasm(_) => Backend::Wasmtime,
            Imp::Native(_) => Backend::Native,
            Imp::Lockstep(..) => Backend::Lockstep,
        }
    }

    /// The ARM module, when the component runs on a core.
    pub fn arm_module(&self) -> Option<&Module> {
        match &self.imp {
            Imp::Arm(a) | Imp::Lockstep(a, _) => Some(&a.module),
            _ => None,
        }
    }

    /// The estimator's `ekf#init` with a NavState (the controller has nothing to initialise).
    pub fn init(&mut self, machine: &mut Machine, nav: &[f32; 16]) -> TwinResult<()> {
        if self.kind != Kind::Estimator {
            return Ok(());
        }
        let fail =
            |side: &str, e: String| TwinError::Usage(format!("ekf#init failed on {side}: {e}"));
        match &mut self.imp {
            Imp::Arm(a) => {
                a.call(machine, EKF_INIT, nav, 0)?
                    .0
                    .map_err(|e| fail("ARM", e))?;
            }
            Imp::Wasm(w) => {
                w.call(EKF_INIT, nav, 0)?.map_err(|e| fail("wasmtime", e))?;
            }
            Imp::Native(NativeSide::Estimator(e)) => e.init(&flight::NavState::from_words(nav)),
            Imp::Native(NativeSide::Controller(_)) => {}
            Imp::Lockstep(a, w) => {
                a.call(machine, EKF_INIT, nav, 0)?
                    .0
                    .map_err(|e| fail("ARM", e))?;
                w.call(EKF_INIT, nav, 0)?.map_err(|e| fail("wasmtime", e))?;
            }
        }
        Ok(())
    }

    /// Run the per-tick export on `input` (tick numbers the errors and divergences).
    pub fn call(&mut self, machine: &mut Machine, tick: u64, input: &[f32]) -> Result<Output> {
        let (export, n) = (self.kind.export(), self.kind.output_words());
        let trap = |side: &str, e: String| {
            TwinError::Usage(format!("{export} trapped on {side} at tick {tick}: {e}"))
        };
        match &mut self.imp {
            Imp::Arm(a) => {
                let (words, out) = a.call(machine, export, input, n)?;
                Ok(Output {
                    words: words.map_err(|e| trap("ARM", e))?,
                    cycles: out.cycles,
                    fuel: 0,
                    stack_bytes: out.stack_bytes,
                })
            }
            Imp::Wasm(w) => {
                let words = w.call(export, input, n)?.map_err(|e| trap("wasmtime", e))?;
                Ok(Output {
                    words,
                    cycles: 0,
                    fuel: w.reference.last_fuel,
                    stack_bytes: 0,
                })
            }
            Imp::Native(side) => {
                let wrong = || {
                    TwinError::Usage(format!(
                        "{export}: the input record has {} words",
                        input.len()
                    ))
                };
                let words = match side {
                    NativeSide::Estimator(e) => {
                        flight::records::estimate(e, input.try_into().map_err(|_| wrong())?)
                            .to_vec()
                    }
                    NativeSide::Controller(c) => {
                        flight::records::step(c, input.try_into().map_err(|_| wrong())?).to_vec()
                    }
                };
                Ok(Output {
                    words,
                    cycles: 0,
                    fuel: 0,
                    stack_bytes: 0,
                })
            }
            Imp::Lockstep(a, w) => {
                let (arm, out) = a.call(machine, export, input, n)?;
                let wasm = w.call(export, input, n)?;
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
                        export: export.into(),
                        inputs: input.iter().map(|x| x.to_bits()).collect(),
                        arm: ab,
                        wasm: wb,
                        first_word,
                        differing_bits,
                    })));
                }
                Ok(Output {
                    words: arm.map_err(|e| trap("both sides", e))?,
                    cycles: out.cycles,
                    fuel: w.reference.last_fuel,
                    stack_bytes: out.stack_bytes,
                })
            }
        }
    }
}
