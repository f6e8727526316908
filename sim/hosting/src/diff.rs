//! The differential: every export of a module, run on the emulated core (synth's ARM code) and
//! in wasmtime (the same `.wasm`), input case by input case; results, traps, the whole linear
//! memory and every global are compared bit for bit after each call. Any NaN matches any NaN;
//! nothing else is loosened. The first divergence of an export stops that export.
//!
//! Trap equivalence: synth traps with UDF; its immediate does not identify the kind (`udf #1`
//! for i32 signed-division overflow, `udf #0` for the i64 one and all others), so a UDF meets any
//! wasm trap; an unmapped access meets MemoryOutOfBounds, a cycle-budget timeout meets
//! OutOfFuel. A trap on one side only, or a different class, is a divergence.
//!
//! WIT-level cases: when the module's WIT describes an export (`--wit`, or the module's
//! embedded `component-type` section), its cases are WIT values ([`crate::canon::generate`]:
//! edge floats in each field, then finite ones), lowered into each side through that side's own
//! `cabi_realloc` exactly as a canonical-ABI host does, and after the call its `cabi_post_*`
//! runs on both sides; the comparison is the same core one (results, memory with the return
//! area, globals), and a divergence also shows both sides' lifted WIT results.
//!
//! Memory exclusion: when the module has a funcref table, synth's embedder layout puts the table
//! as code pointers at R11 + 0, so wasm addresses [0, 4 x table size) differ by design and are
//! not compared.

use serde::Serialize;

use wasm_wave::value::Value;

use crate::canon::{self, Wit};
use crate::hosted::{ArmTrap, Hosted, StackBound};
use crate::reference::{RefTrap, Reference};
pub use crate::rng::Rng;
use crate::wasm::{Val, ValType};
use twin_machine::error::Result;

/// The ARM side's default cycle budget per call in `sim diff` (and, through
/// [`crate::reference::fuel_for_cycles`], wasmtime's fuel): a case that loops 2^32 times ends
/// in well under a second on both sides, and a falcon export (about 300,000 cycles at most)
/// is far inside it.
pub const DEFAULT_MAX_CYCLES: u64 = 10_000_000;

/// Edge values per type (bit patterns).
pub fn edges(t: ValType) -> Vec<Val> {
    match t {
        ValType::I32 => [
            0u32,
            1,
            u32::MAX,
            0x8000_0000,
            0x7FFF_FFFF,
            2,
            7,
            31,
            32,
            0xFF,
            0x1_0000,
            0xFFFF_FFFE,
        ]
        .into_iter()
        .map(Val::I32)
        .collect(),
        ValType::I64 => [
            0u64,
            1,
            u64::MAX,
            0x8000_0000_0000_0000,
            0x7FFF_FFFF_FFFF_FFFF,
            0xFFFF_FFFF,
            0x1_0000_0000,
            63,
            64,
            0x8000_0000,
        ]
        .into_iter()
        .map(Val::I64)
        .collect(),
        ValType::F32 => [
            0u32,        // +0
            0x8000_0000, // -0
            0x3F80_0000, // 1
            0xBF80_0000, // -1
            0x7FC0_0000, // quiet NaN
            0xFFC0_0001, // negative NaN with payload
            0x7FA0_0001, // signalling NaN
            0x7F80_0000, // +inf
            0xFF80_0000, // -inf
            0x0000_0001, // smallest subnormal
            0x807F_FFFF, // largest negative subnormal
            0x7F7F_FFFF, // max
            0x0080_0000, // min normal
            0x3F00_0000, // 0.5
            0x4F00_0000, // 2^31
            0xCF00_0001, // just below -2^31
            0x4040_0000, // 3
        ]
        .into_iter()
        .map(Val::F32)
        .collect(),
        ValType::F64 => [
            0u64,
            0x8000_0000_0000_0000,
            0x3FF0_0000_0000_0000,
            0xBFF0_0000_0000_0000,
            0x7FF8_0000_0000_0000,
            0xFFF8_0000_0000_0001,
            0x7FF4_0000_0000_0001,
            0x7FF0_0000_0000_0000,
            0xFFF0_0000_0000_0000,
            0x0000_0000_0000_0001,
            0x800F_FFFF_FFFF_FFFF,
            0x7FEF_FFFF_FFFF_FFFF,
            0x0010_0000_0000_0000,
            0x3FE0_0000_0000_0000,
            0x41E0_0000_0000_0000, // 2^31
            0xC3E0_0000_0000_0001, // just below -2^63
            0x4008_0000_0000_0000, // 3
        ]
        .into_iter()
        .map(Val::F64)
        .collect(),
    }
}

/// Input case `k` of `n` for a signature: edge-value combinations first (mixed radix), then
/// seeded random values (half of them drawn from the edges, half uniform bits).
pub fn case(params: &[ValType], k: usize, rng: &mut Rng) -> Vec<Val> {
    let tables: Vec<Vec<Val>> = params.iter().map(|t| edges(*t)).collect();
    let combos: usize = tables.iter().map(|t| t.len()).product::<usize>().max(1);
    if k < combos && !params.is_empty() {
        let mut rest = k;
        return tables
            .iter()
            .map(|t| {
                let v = t[rest % t.len()];
                rest /= t.len();
                v
            })
            .collect();
    }
    params
        .iter()
        .zip(&tables)
        .map(|(t, edge)| {
            let r = rng.next_u64();
            if r & 1 == 0 {
                edge[(r >> 8) as usize % edge.len()]
            } else {
                let bits = rng.next_u64();
                match t {
                    ValType::I32 => Val::I32(bits as u32),
                    ValType::I64 => Val::I64(bits),
                    ValType::F32 => Val::F32(bits as u32),
                    ValType::F64 => Val::F64(bits),
                }
            }
        })
        .collect()
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    Result {
        index: usize,
        expected: String,
        actual: String,
        differing_bits: String,
    },
    Trap {
        expected: String,
        actual: String,
    },
    Memory {
        /// Which memory (0 unless the module has several).
        #[serde(skip_serializing_if = "is_zero")]
        memory: u32,
        offset: u32,
        expected: String,
        actual: String,
        differing_bytes: usize,
    },
    Global {
        index: usize,
        expected: String,
        actual: String,
        differing_bits: String,
    },
}

/// Whose a divergence is, as far as the twin can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Triage {
    /// The compiled code computes something other than the wasm: synth's (where it shows:
    /// the ARM function and instruction).
    Compiler { detail: String },
    /// One side stopped at its budget and the other did not: the budgets' difference, not the
    /// code's (raise `--max-cycles`).
    Budget { detail: String },
    /// A limit of the twin's hosting, not of the code (its stack smaller than wasmtime's, a
    /// host function).
    Twin { detail: String },
}

impl std::fmt::Display for Triage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Triage::Compiler { detail } => write!(f, "[compiler] {detail}"),
            Triage::Budget { detail } => write!(f, "[budget] {detail}"),
            Triage::Twin { detail } => write!(f, "[twin] {detail}"),
        }
    }
}

/// Whose the divergence of one call's outcomes (ARM, wasmtime) is; `max_cycles` the ARM
/// side's budget.
pub fn triage(
    arm: &std::result::Result<Vec<Val>, ArmTrap>,
    wt: &std::result::Result<Vec<Val>, RefTrap>,
    max_cycles: u64,
) -> Triage {
    match (arm, wt) {
        (Err(ArmTrap::Timeout { .. }), Ok(_)) => Triage::Budget {
            detail: format!(
                "ARM stopped at its budget of {max_cycles} cycles where wasmtime returned: raise --max-cycles"
            ),
        },
        (Err(ArmTrap::Timeout { .. }), Err(t)) => Triage::Budget {
            detail: format!(
                "ARM stopped at its budget of {max_cycles} cycles where wasmtime trapped ({t}): raise --max-cycles"
            ),
        },
        (_, Err(RefTrap::OutOfFuel)) => Triage::Budget {
            detail: format!(
                "wasmtime ran out of its fuel ({} units: {} per ARM cycle) where ARM finished: raise --max-cycles",
                crate::reference::fuel_for_cycles(max_cycles),
                crate::reference::FUEL_PER_CYCLE
            ),
        },
        (Err(ArmTrap::StackOverflow { bytes, .. }), _) => Triage::Twin {
            detail: format!(
                "the ARM side's {bytes} B stack overflowed where wasmtime's larger one did not"
            ),
        },
        (Err(ArmTrap::Host { .. }), _) | (_, Err(RefTrap::Host(_))) => Triage::Twin {
            detail: "a host function answered differently on the two sides".into(),
        },
        (Err(ArmTrap::Udf { pc, function, .. }), _) => Triage::Compiler {
            detail: format!("synth's code trapped (udf at {pc:#010x} in {function})"),
        },
        (Err(ArmTrap::MemoryFault { addr, pc, function }), _) => Triage::Compiler {
            detail: format!(
                "synth's code accessed {addr:#010x} outside the memory it was given (from {pc:#010x} in {function})"
            ),
        },
        _ => Triage::Compiler {
            detail: "synth's code computes another result or state".into(),
        },
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Divergence {
    pub case: usize,
    pub args: Vec<String>,
    pub mismatch: Mismatch,
    pub triage: Triage,
    /// WIT-level cases: the result each side's core results lift to (wasmtime, ARM), or why
    /// they do not lift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted: Option<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub export: String,
    pub signature: String,
    pub cases: usize,
    pub equal: usize,
    pub traps: usize,
    /// Cases that did not finish on either side within the budget (equal: the same outcome).
    pub unfinished: usize,
    /// Why the export's cases stopped before `cases` without a divergence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub cycles_min: u64,
    pub cycles_max: u64,
    pub stack_max: u32,
    pub stack_bound: Option<StackBound>,
    /// The measured high-water mark is above synth's claimed bound (a synth defect).
    pub stack_bound_exceeded: bool,
    pub divergence: Option<Divergence>,
    /// Linear memory the export's calls changed on the ARM side: [lo, hi) bytes (see
    /// `Module::memory_touched`); `hi` is the memory a deployment must give it.
    pub memory_touched: Option<(u32, u32)>,
    /// The linear memory the ARM side ran with (R10).
    pub memory_size: u32,
    /// synth left the export out of its object: nothing was compared.
    pub skipped: bool,
    /// synth's reason for leaving it out, when its warnings were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
}

impl ExportReport {
    pub fn failed(&self) -> bool {
        self.divergence.is_some() || self.stack_bound_exceeded
    }
}

fn traps_match(arm: &ArmTrap, wt: &RefTrap) -> bool {
    match (arm, wt) {
        // synth's UDF immediate does not identify the trap kind consistently (`udf #1` for
        // i32 signed-division overflow, `udf #0` for the i64 one and every other trap), so
        // any UDF meets any wasm trap; both kinds are reported.
        (ArmTrap::Udf { .. }, t) => !matches!(t, RefTrap::OutOfFuel | RefTrap::Host(_)),
        (ArmTrap::Host { .. }, RefTrap::Host(_)) => true,
        (ArmTrap::MemoryFault { .. }, RefTrap::MemoryOutOfBounds) => true,
        (ArmTrap::Timeout { .. }, RefTrap::OutOfFuel) => true,
        (ArmTrap::StackOverflow { .. }, RefTrap::StackOverflow) => true,
        _ => false,
    }
}

fn bits_diff(a: &Val, b: &Val) -> String {
    let x = a.bits() ^ b.bits();
    match a.ty() {
        ValType::I32 | ValType::F32 => format!("{:#010x}", x as u32),
        _ => format!("{x:#018x}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// "returned v1, v2" or "trap: ..." for reports.
fn describe_outcome<T: std::fmt::Display>(r: &std::result::Result<Vec<Val>, T>) -> String {
    match r {
        Ok(v) => format!(
            "returned {}",
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(t) => format!("trap: {t}"),
    }
}

/// One memory of both sides after a call: (index, ARM bytes, wasmtime bytes, bytes at the
/// start not compared).
type Memories<'a> = (u32, &'a [u8], &'a [u8], usize);

/// Compare one call's outcomes and the state after it.
fn compare(
    arm: &std::result::Result<Vec<Val>, ArmTrap>,
    wt: &std::result::Result<Vec<Val>, RefTrap>,
    memories: &[Memories<'_>],
    arm_globals: &[Val],
    wt_globals: &[Val],
) -> Option<Mismatch> {
    match (arm, wt) {
        (Ok(a), Ok(w)) => {
            for (i, (x, y)) in a.iter().zip(w).enumerate() {
                if !x.same(y) {
                    return Some(Mismatch::Result {
                        index: i,
                        expected: y.to_string(),
                        actual: x.to_string(),
                        differing_bits: bits_diff(x, y),
                    });
                }
            }
        }
        // The ARM stack ran through what lies below it (the twin gives it no guard region):
        // the memory and globals after it are not the program's.
        (Err(ArmTrap::StackOverflow { .. }), Err(RefTrap::StackOverflow)) => return None,
        (Err(a), Err(w)) if traps_match(a, w) => {}
        (a, w) => {
            let (show_a, show_w) = (describe_outcome(a), describe_outcome(w));
            return Some(Mismatch::Trap {
                expected: show_w,
                actual: show_a,
            });
        }
    }
    for &(memory, arm_mem, wt_mem, skip) in memories {
        if arm_mem.len() != wt_mem.len() {
            return Some(Mismatch::Memory {
                memory,
                offset: 0,
                expected: format!("{} bytes", wt_mem.len()),
                actual: format!("{} bytes", arm_mem.len()),
                differing_bytes: arm_mem.len().abs_diff(wt_mem.len()),
            });
        }
        if let Some(first) = (skip..arm_mem.len()).find(|&i| arm_mem[i] != wt_mem[i]) {
            let end = (first + 16).min(arm_mem.len());
            return Some(Mismatch::Memory {
                memory,
                offset: first as u32,
                expected: hex(&wt_mem[first..end]),
                actual: hex(&arm_mem[first..end]),
                differing_bytes: (skip..arm_mem.len())
                    .filter(|&i| arm_mem[i] != wt_mem[i])
                    .count(),
            });
        }
    }
    for (i, (a, w)) in arm_globals.iter().zip(wt_globals).enumerate() {
        if !a.same(w) {
            return Some(Mismatch::Global {
                index: i,
                expected: w.to_string(),
                actual: a.to_string(),
                differing_bits: bits_diff(a, w),
            });
        }
    }
    None
}

/// Run the differential for one export over `cases` inputs from `seed`, core values only.
pub fn diff_export(
    arm: &mut Hosted,
    wt: &mut Reference,
    export: &str,
    cases: usize,
    seed: u64,
) -> Result<ExportReport> {
    diff_export_wit(arm, wt, export, cases, seed, None)
}

/// One case's core arguments for each side (ARM, wasmtime) and the arguments as people read
/// them; or, when lowering trapped on a side, that side's trap.
struct Case {
    arm: std::result::Result<Vec<Val>, String>,
    wt: std::result::Result<Vec<Val>, String>,
    shown: Vec<String>,
}

/// [`diff_export`] with WIT-level cases when `wit` describes the export.
pub fn diff_export_wit(
    arm: &mut Hosted,
    wt: &mut Reference,
    export: &str,
    cases: usize,
    seed: u64,
    wit: Option<&Wit>,
) -> Result<ExportReport> {
    let e = arm
        .wasm
        .export(export)
        .ok_or_else(|| twin_machine::Error::Usage(format!("no export {export:?}")))?
        .clone();
    // The tables (and their type ids) alias the first bytes of the ARM side's memory.
    let skip = arm.layout.table_region as usize;
    // Under a memory cap the ARM side has the first `cap` bytes: those are compared.
    let capped = arm.options().memory_cap.is_some();
    let max_cycles = arm.options().max_cycles;
    let mut rng = Rng::new(seed ^ fnv(export));
    let func = wit.and_then(|w| w.function(export));
    let realloc = match func {
        Some(f) => {
            let (params, results) = f.core_types()?;
            if params != e.ty.params || results != e.ty.results {
                return Err(twin_machine::Error::Usage(format!(
                    "export {export} is {} in the module, but its WIT signature {} lowers to {}",
                    e.ty,
                    f.signature(),
                    crate::wasm::FuncType { params, results }
                )));
            }
            arm.realloc()
        }
        None => None,
    };
    let post = format!("cabi_post_{export}");
    let post = (func.is_some() && arm.wasm.export(&post).is_some()).then_some(post);
    let mut rep = ExportReport {
        export: export.to_string(),
        signature: match func {
            Some(f) => f.signature(),
            None => e.ty.to_string(),
        },
        cases: 0,
        equal: 0,
        traps: 0,
        unfinished: 0,
        stopped: None,
        cycles_min: u64::MAX,
        cycles_max: 0,
        stack_max: 0,
        stack_bound: arm.stack_bounds.get(export).cloned(),
        stack_bound_exceeded: false,
        divergence: None,
        memory_touched: None,
        memory_size: arm.layout.linmem_size,
        skipped: arm.skipped.iter().any(|s| s == export),
        skip_reason: arm.skip_reasons.get(export).cloned(),
    };
    if rep.skipped {
        rep.cycles_min = 0;
        return Ok(rep);
    }
    // No parameters: one case is all there is (state may still change: run a few).
    let n = if e.ty.params.is_empty() {
        cases.min(3)
    } else {
        cases
    };
    for k in 0..n {
        let c = match func {
            Some(f) => {
                let values = canon::generate(f, k, &mut rng)?;
                Case {
                    arm: canon::lower(f, &mut arm.guest(), realloc.as_deref(), &values)?,
                    wt: canon::lower(f, wt, realloc.as_deref(), &values)?,
                    shown: values
                        .iter()
                        .map(|v| canon::show(std::slice::from_ref(v)))
                        .collect(),
                }
            }
            None => {
                let args = case(&e.ty.params, k, &mut rng);
                Case {
                    arm: Ok(args.clone()),
                    wt: Ok(args.clone()),
                    shown: args.iter().map(|v| v.to_string()).collect(),
                }
            }
        };
        rep.cases += 1;
        let (arm_args, wt_args) = match (c.arm, c.wt) {
            (Ok(a), Ok(w)) => (a, w),
            (Err(_), Err(_)) => {
                // Both allocators refused the arguments: the same outcome, nothing called.
                rep.traps += 1;
                rep.equal += 1;
                continue;
            }
            (a, w) => {
                let side = |r: &std::result::Result<Vec<Val>, String>| match r {
                    Ok(_) => "lowered the arguments".to_string(),
                    Err(t) => format!("trap while lowering: {t}"),
                };
                rep.divergence = Some(Divergence {
                    case: k,
                    args: c.shown,
                    mismatch: Mismatch::Trap {
                        expected: side(&w),
                        actual: side(&a),
                    },
                    triage: Triage::Compiler {
                        detail: "lowering the arguments through cabi_realloc went differently"
                            .into(),
                    },
                    lifted: None,
                });
                break;
            }
        };
        let a = arm.call(export, &arm_args)?;
        let w = wt.call(export, &wt_args, e.ty.results.len())?;
        // The callee frees what it returned (canonical ABI post-return), on both sides.
        let post_trap = |r: Option<String>| r.map(|t| format!("cabi_post trapped: {t}"));
        let (mut arm_post, mut wt_post) = (None, None);
        if let (Some(p), Ok(ar), Ok(wr)) = (&post, &a.result, &w) {
            arm_post = post_trap(arm.call(p, ar)?.result.err().map(|t| t.to_string()));
            wt_post = post_trap(wt.call(p, wr, 0)?.err().map(|t| t.to_string()));
        }
        rep.cycles_min = rep.cycles_min.min(a.cycles);
        rep.cycles_max = rep.cycles_max.max(a.cycles);
        rep.stack_max = rep.stack_max.max(a.stack_bytes);
        if a.result.is_err() {
            rep.traps += 1;
        }
        if matches!(
            (&a.result, &w),
            (Err(ArmTrap::Timeout { .. }), Err(RefTrap::OutOfFuel))
        ) {
            rep.unfinished += 1;
        }
        let (am, mut wm) = (arm.memory(), wt.memory());
        if capped {
            wm.truncate(am.len());
        }
        let (ag, wg) = (arm.globals(), wt.globals());
        // Memories 1.. that the object placed (multi-memory).
        let extras: Vec<(u32, Vec<u8>, Vec<u8>)> = (1..arm.wasm.memories.len())
            .filter_map(|i| Some((i as u32, arm.extra_memory(i)?, wt.extra_memory(i)?)))
            .collect();
        let mismatch = if arm_post.is_some() != wt_post.is_some() {
            Some(Mismatch::Trap {
                expected: wt_post.unwrap_or_else(|| "cabi_post returned".into()),
                actual: arm_post.unwrap_or_else(|| "cabi_post returned".into()),
            })
        } else {
            let memories: Vec<Memories<'_>> = std::iter::once((0, &am[..], &wm[..], skip))
                .chain(extras.iter().map(|(i, a, w)| (*i, &a[..], &w[..], 0)))
                .collect();
            compare(&a.result, &w, &memories, &ag, &wg)
        };
        match mismatch {
            None if matches!(
                (&a.result, &w),
                (
                    Err(ArmTrap::StackOverflow { .. }),
                    Err(RefTrap::StackOverflow)
                )
            ) =>
            {
                rep.equal += 1;
                rep.stopped = Some(format!(
                    "stack overflow on both sides at case {k}; the ARM stack ran through what lies below it, so later cases are not run"
                ));
                break;
            }
            None => rep.equal += 1,
            Some(m) => {
                let lifted = match (func, &a.result, &w) {
                    (Some(f), Ok(ar), Ok(wr)) => {
                        let text = |r: Result<std::result::Result<Option<Value>, String>>| match r {
                            Ok(Ok(Some(v))) => canon::show(&[v]),
                            Ok(Ok(None)) => "nothing".into(),
                            Ok(Err(t)) => t,
                            Err(e) => e.to_string(),
                        };
                        Some((
                            text(canon::lift(f, wt, wr)),
                            text(canon::lift(f, &mut arm.guest(), ar)),
                        ))
                    }
                    _ => None,
                };
                rep.divergence = Some(Divergence {
                    case: k,
                    args: c.shown,
                    mismatch: m,
                    triage: triage(&a.result, &w, max_cycles),
                    lifted,
                });
                break;
            }
        }
    }
    if rep.cases == 0 {
        rep.cycles_min = 0;
    }
    if let Some(StackBound::Bounded(b)) = rep.stack_bound {
        rep.stack_bound_exceeded = rep.stack_max > b;
    }
    rep.memory_touched = arm.memory_touched();
    Ok(rep)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

/// One line per export for people.
pub fn format_report(r: &ExportReport) -> String {
    let bound = match &r.stack_bound {
        Some(StackBound::Bounded(b)) if r.stack_bound_exceeded => {
            format!("EXCEEDS synth bound {b} B")
        }
        Some(StackBound::Bounded(b)) => format!("synth bound {b} B"),
        Some(StackBound::Declined(why)) => format!("synth declined: {why}"),
        None => "no synth bound".into(),
    };
    if r.skipped {
        let why = match &r.skip_reason {
            Some(why) => format!("synth: {why}"),
            None => {
                "no reason recorded: synth prints it when it compiles with --allow-skipped-exports"
                    .into()
            }
        };
        return format!(
            "{:<8} {:<40} not in the object: synth left it out ({why})",
            "SKIPPED", r.export
        );
    }
    let status = if r.divergence.is_some() {
        "DIVERGED"
    } else if r.stack_bound_exceeded {
        "STACK"
    } else {
        "ok"
    };
    let memory = match r.memory_touched {
        Some((_, hi)) => format!("  memory high-water {hi} of {} B", r.memory_size),
        None if r.memory_size > 0 => format!("  memory untouched ({} B)", r.memory_size),
        None => String::new(),
    };
    let mut unfinished = if r.unfinished > 0 {
        format!("  unfinished on both sides {}", r.unfinished)
    } else {
        String::new()
    };
    if let Some(why) = &r.stopped {
        unfinished += &format!("\n  {why}");
    }
    format!(
        "{:<8} {:<40} cases {:>5}  equal {:>5}  traps {:>4}  cycles {:>6}..{:<8} stack {:>5} B ({bound}){memory}{unfinished}",
        status, r.export, r.cases, r.equal, r.traps, r.cycles_min, r.cycles_max, r.stack_max
    )
}

pub fn format_divergence(r: &ExportReport) -> Option<String> {
    let d = r.divergence.as_ref()?;
    let what = match &d.mismatch {
        Mismatch::Result {
            index,
            expected,
            actual,
            differing_bits,
        } => format!(
            "result {index}: wasmtime {expected}, ARM {actual}, differing bits {differing_bits}"
        ),
        Mismatch::Trap { expected, actual } => format!("wasmtime {expected}; ARM {actual}"),
        Mismatch::Memory {
            memory,
            offset,
            expected,
            actual,
            differing_bytes,
        } => format!(
            "linear memory{} at {offset:#x} ({differing_bytes} bytes differ): wasmtime {expected}, ARM {actual}",
            if *memory > 0 { format!(" {memory}") } else { String::new() }
        ),
        Mismatch::Global {
            index,
            expected,
            actual,
            differing_bits,
        } => format!(
            "global {index}: wasmtime {expected}, ARM {actual}, differing bits {differing_bits}"
        ),
    };
    let lifted = match &d.lifted {
        Some((w, a)) => format!("\n  as WIT values: wasmtime {w}; ARM {a}"),
        None => String::new(),
    };
    Some(format!(
        "  first divergence of {} {} at case {} with ({}): {what}{lifted}\n  {}",
        r.export,
        r.signature,
        d.case,
        d.args.join(", "),
        d.triage
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_cover_edge_combinations_first() {
        let mut rng = Rng::new(1);
        let p = [ValType::I32, ValType::I32];
        let n = edges(ValType::I32).len();
        let all: std::collections::HashSet<Vec<Val>> =
            (0..n * n).map(|k| case(&p, k, &mut rng)).collect();
        assert_eq!(all.len(), n * n, "every pair of edge values once");
        // Deterministic: same seed, same random cases.
        let a: Vec<_> = (0..50)
            .map(|k| case(&p, n * n + k, &mut Rng::new(9)))
            .collect();
        let b: Vec<_> = (0..50)
            .map(|k| case(&p, n * n + k, &mut Rng::new(9)))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn splitmix_known_answer() {
        // splitmix64 with seed 0: first output 0xE220A8397B1DCDAF (the reference sequence).
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn trap_classes() {
        let udf = |imm| ArmTrap::Udf {
            imm,
            pc: 0,
            function: String::new(),
        };
        assert!(traps_match(&udf(1), &RefTrap::IntegerOverflow));
        assert!(
            traps_match(&udf(0), &RefTrap::IntegerOverflow),
            "synth's i64 overflow"
        );
        assert!(traps_match(&udf(0), &RefTrap::DivideByZero));
        assert!(
            !traps_match(&udf(0), &RefTrap::OutOfFuel),
            "a timeout is not a UDF"
        );
        let fault = ArmTrap::MemoryFault {
            addr: 0,
            pc: 0,
            function: String::new(),
        };
        assert!(!traps_match(&fault, &RefTrap::DivideByZero));
    }
}
