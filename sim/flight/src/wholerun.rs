//! Whole-run SIL files (`scenarios/sil/*.ron`): a module export that flies a whole closed loop in
//! one call and returns its error, as falcon's `flight-demo` world does (`run-stabilization()
//! -> f32`, reference/pulseengine.md section 4.3), run on each listed core as synth's code and
//! judged against a gate. `sim --scenario FILE` runs one as it runs a flight scenario.
//!
//! ```ron
//! WholeRun(
//!     name: "sil-stabilization",
//!     wasm: "targets/flight-demo/target/wasm32-unknown-unknown/release/flight_demo.wasm",
//!     export: "run-stabilization",
//!     cores: ["m7", "m4"],
//!     below: 0.1,
//! )
//! ```
//!
//! The export takes no arguments and returns one number; it is called through its WIT when the
//! module embeds one (wit-bindgen, cargo-component), else as a core function. `max_cycles`
//! (default: the hosting default, 2 G) is each call's budget: a run that needs more stops and
//! fails its gate.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use twin_hosting::canon::{self, Wit};
use twin_hosting::hosted::host::HostFns;
use twin_hosting::hosted::link::RelObject;
use twin_hosting::hosted::{Hosted, Options, StackBound};
use twin_hosting::wasm::{Val, WasmModule};
use twin_machine::board::Board;
use twin_machine::{Error as TwinError, Result as TwinResult};

/// One whole-run file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WholeRun {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The module (.wasm): absolute, or relative to this file, the project root or the
    /// project the twin was built from ([`crate::scenario::find_file`]).
    pub wasm: PathBuf,
    /// The export that flies the run.
    pub export: String,
    /// The cores to run it on, each with synth's default target for it.
    #[serde(default = "m7")]
    pub cores: Vec<String>,
    /// The gate: the run's result must be below this (NaN fails).
    pub below: f64,
    /// Cycle budget of the call on each core.
    #[serde(default)]
    pub max_cycles: Option<u64>,
    /// The directory of the file ([`WholeRun::load`]): where `wasm` is looked for first.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

fn m7() -> Vec<String> {
    vec!["m7".into()]
}

/// What the run did on one core.
#[derive(Debug, Clone, Serialize)]
pub struct CoreRun {
    pub core: String,
    /// The result as text (or the trap).
    pub result: String,
    pub value: Option<f64>,
    pub pass: bool,
    pub cycles: u64,
    pub instructions: u64,
    /// Stack the call used (painted high-water mark) and synth's bound for the export.
    pub stack_bytes: u32,
    pub stack_bound: Option<String>,
    /// Linear memory: its size and the highest byte the run wrote.
    pub memory_bytes: u32,
    pub memory_high_water: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WholeRunReport {
    pub name: String,
    pub export: String,
    pub below: f64,
    pub runs: Vec<CoreRun>,
    pub pass: bool,
    pub wall_seconds: f64,
}

/// Whether RON text is a whole-run file (its top-level struct is `WholeRun`) rather than a
/// flight scenario.
pub fn is_whole_run(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    rest.strip_prefix("WholeRun")
        .is_some_and(|r| r.trim_start().starts_with('('))
}

impl WholeRun {
    pub fn load(path: &Path) -> TwinResult<WholeRun> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TwinError::Io {
            path: name.clone(),
            source: e,
        })?;
        let mut w = WholeRun::parse(&text, &name)?;
        w.origin = crate::scenario::origin_of(path);
        Ok(w)
    }

    pub fn parse(text: &str, file: &str) -> TwinResult<WholeRun> {
        let w: WholeRun = crate::scenario::parse_ron(text, file)?;
        let invalid = |m: String| TwinError::Image {
            file: file.to_string(),
            message: format!("invalid whole run: {m}"),
        };
        if w.cores.is_empty() {
            return Err(invalid("at least one core".into()));
        }
        if w.export.is_empty() {
            return Err(invalid("no export named".into()));
        }
        if !w.below.is_finite() {
            return Err(invalid(format!("below must be a number, got {}", w.below)));
        }
        if w.max_cycles == Some(0) {
            return Err(invalid("max_cycles must be at least 1".into()));
        }
        Ok(w)
    }

    /// Run the export on each core (`root` resolves the module's path; synth's objects go to
    /// `objects`).
    pub fn run(&self, root: &Path, objects: &Path) -> TwinResult<WholeRunReport> {
        let path = crate::scenario::find_file(self.origin.as_deref(), root, &self.wasm).map_err(
            |tried| {
                TwinError::Usage(format!(
                    "{}: module {} not found (looked in {})",
                    self.name,
                    self.wasm.display(),
                    crate::scenario::looked_in(&tried)
                ))
            },
        )?;
        std::fs::create_dir_all(objects).map_err(|e| TwinError::Io {
            path: objects.display().to_string(),
            source: e,
        })?;
        let wasm = WasmModule::load(&path)?;
        if wasm.export(&self.export).is_none() {
            let names: Vec<&str> = wasm.exports.iter().map(|e| e.name.as_str()).collect();
            return Err(TwinError::Usage(format!(
                "{}: {} has no export {:?} (exports: {})",
                self.name,
                path.display(),
                self.export,
                names.join(", ")
            )));
        }
        let wit = Wit::embedded(&wasm.bytes, &wasm.path)?;
        let started = std::time::Instant::now();
        let runs = self
            .cores
            .iter()
            .map(|core| self.run_on(core, &path, &wasm, wit.as_ref(), objects))
            .collect::<TwinResult<Vec<_>>>()?;
        Ok(WholeRunReport {
            name: self.name.clone(),
            export: self.export.clone(),
            below: self.below,
            pass: runs.iter().all(|r| r.pass),
            runs,
            wall_seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn run_on(
        &self,
        core: &str,
        path: &Path,
        wasm: &WasmModule,
        wit: Option<&Wit>,
        objects: &Path,
    ) -> TwinResult<CoreRun> {
        let target = twin_hosting::synth::default_target(core);
        let stem = path
            .file_stem()
            .map_or("module".into(), |s| s.to_string_lossy());
        let out = objects.join(format!("{stem}-{target}.o"));
        twin_hosting::synth::compile(path, target, "software", &out)?;
        let bytes = std::fs::read(&out).map_err(|e| TwinError::Io {
            path: out.display().to_string(),
            source: e,
        })?;
        let object = RelObject::parse(&bytes, &out.display().to_string())?;
        let mut options = Options::default();
        if let Some(c) = self.max_cycles {
            options.max_cycles = c;
        }
        let mut arm = Hosted::new(
            Board::rt1176(),
            core,
            wasm.clone(),
            &object,
            &HostFns::builtin(),
            options,
        )?;
        let stack_json = PathBuf::from(format!("{}.stack.json", out.display()));
        if stack_json.exists() {
            arm.load_stack_json(&stack_json)?;
        }
        if arm.skipped.contains(&self.export) {
            return Err(TwinError::Usage(format!(
                "{}: synth left {} out of the {target} object",
                self.name, self.export
            )));
        }
        // The call, through the WIT when the module has one.
        let (outcome, value) = match wit.and_then(|w| w.function(&self.export)) {
            Some(func) => {
                if !func.param_names().is_empty() {
                    return Err(TwinError::Usage(format!(
                        "{}: {} takes arguments ({}); a whole run takes none",
                        self.name,
                        self.export,
                        func.signature()
                    )));
                }
                let realloc = arm.realloc();
                let mut guest = arm.guest();
                let r = canon::call(func, &mut guest, &self.export, realloc.as_deref(), &[])?;
                let outcome = guest.outcome(&self.export).cloned();
                let value = match r {
                    Ok(Some(v)) => {
                        let shown = canon::show(std::slice::from_ref(&v));
                        canon::number(&v).map(|x| (x, shown.clone())).ok_or(shown)
                    }
                    Ok(None) => Err("no result".to_string()),
                    Err(t) => Err(format!("trapped: {t}")),
                };
                (outcome, value)
            }
            None => {
                let o = arm.call(&self.export, &[])?;
                let value = match &o.result {
                    Ok(v) => match v.as_slice() {
                        [Val::F32(b)] => {
                            let x = f32::from_bits(*b);
                            Ok((f64::from(x), x.to_string()))
                        }
                        [Val::F64(b)] => {
                            let x = f64::from_bits(*b);
                            Ok((x, x.to_string()))
                        }
                        [Val::I32(x)] => Ok((f64::from(*x as i32), (*x as i32).to_string())),
                        [Val::I64(x)] => Ok((*x as i64 as f64, (*x as i64).to_string())),
                        other => Err(format!("{} values", other.len())),
                    },
                    Err(t) => Err(format!("trapped: {t}")),
                };
                (Some(o), value)
            }
        };
        let outcome = outcome.ok_or_else(|| {
            TwinError::Usage(format!("{}: {} was not called", self.name, self.export))
        })?;
        let stack_bound = arm.stack_bounds.get(&self.export).map(|b| match b {
            StackBound::Bounded(n) => format!("{n} B"),
            StackBound::Declined(why) => format!("declined: {why}"),
        });
        let memory_bytes = arm.layout.linmem_size;
        let memory_high_water = arm.memory_touched().map(|(_, hi)| hi);
        let (result, value, pass) = match value {
            Ok((v, shown)) => (shown, Some(v), v < self.below),
            Err(e) => (e, None, false),
        };
        Ok(CoreRun {
            core: core.to_string(),
            result,
            value,
            pass,
            cycles: outcome.cycles,
            instructions: outcome.instructions,
            stack_bytes: outcome.stack_bytes,
            stack_bound,
            memory_bytes,
            memory_high_water,
        })
    }
}

/// The whole-run files of a directory (`*.ron` whose top level is `WholeRun`), sorted, each
/// loaded (or why it does not load).
pub fn list(dir: &Path) -> TwinResult<Vec<(PathBuf, TwinResult<WholeRun>)>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ron"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(TwinError::Io {
                path: dir.display().to_string(),
                source: e,
            })
        }
    };
    files.sort();
    Ok(files
        .into_iter()
        .map(|f| {
            let w = WholeRun::load(&f);
            (f, w)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_run_files_are_told_from_scenarios_and_checked() {
        assert!(is_whole_run(
            "// a comment\n/* block */ WholeRun (name: \"x\")"
        ));
        assert!(!is_whole_run("Scenario(name: \"x\")"));
        assert!(!is_whole_run("// WholeRun(\nScenario()"));
        let w = WholeRun::parse(
            "WholeRun(name: \"s\", wasm: \"m.wasm\", export: \"run\", below: 0.1)",
            "s.ron",
        )
        .unwrap();
        assert_eq!(
            (w.cores.as_slice(), w.max_cycles),
            (&["m7".to_string()][..], None)
        );
        let e = WholeRun::parse(
            "WholeRun(name: \"s\", wasm: \"m.wasm\", export: \"run\", cores: [], below: 0.1)",
            "s.ron",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.ron") && e.contains("at least one core"),
            "{e}"
        );
        let e = WholeRun::parse("WholeRun(\n  name: \"s\",\n  below: \"x\",\n)", "t.ron")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.ron:3:"), "{e}");
    }
}
