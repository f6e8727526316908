//! `sim findings`: the known synth findings run through the differential, each judged against
//! what the list records (`twin_hosting::findings`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use twin_flight::Result;
use twin_hosting::diff;
use twin_hosting::findings::{self, Status};

use crate::module::{host, reference, ModuleArgs};

/// Cases per finding: its divergence shows among the first (edge values come first).
const CASES: usize = 50;

/// The project's findings list.
fn project_list() -> PathBuf {
    twin_flight::scenario::project_root().join("targets/corpus/findings/findings.ron")
}

/// The id of the project's finding whose reproducer is `wasm`'s export `export`, if any.
pub fn known(wasm: &Path, export: &str) -> Option<String> {
    let wasm = wasm.canonicalize().ok()?;
    findings::load(&project_list())
        .ok()?
        .into_iter()
        .find(|f| f.export == export && f.wat.canonicalize().ok().as_ref() == Some(&wasm))
        .map(|f| f.id)
}

pub fn run(file: Option<PathBuf>, json: bool) -> Result<ExitCode> {
    let file = file.unwrap_or_else(project_list);
    let list = findings::load(&file)?;
    let mut results = Vec::new();
    let mut as_recorded = true;
    for f in &list {
        for core in &f.cores {
            let m = ModuleArgs {
                wasm: f.wat.clone(),
                object: None,
                elf: None,
                core: core.clone(),
                target: None,
                safety_bounds: "software".into(),
                board: None,
                memory_cap: None,
                max_cycles: Some(diff::DEFAULT_MAX_CYCLES),
                imports: Vec::new(),
                bus_log: Default::default(),
                stub_imports: None,
                wit: None,
                core_abi: true,
            };
            let mut arm = host(&m)?;
            let mut wt = reference(&m, &arm.wasm)?;
            let r = diff::diff_export(&mut arm, &mut wt, &f.export, CASES, 1)?;
            let status = findings::status(f, &r);
            as_recorded &= status == Status::Present;
            if !json {
                let what = match &status {
                    Status::Present => "present".to_string(),
                    Status::Fixed => "FIXED: bit-identical now, retire it".to_string(),
                    Status::Changed { now } => {
                        format!("CHANGED: now {now}, recorded {:?}", f.expect)
                    }
                    Status::Skipped => "CHANGED: synth leaves the export out now".to_string(),
                };
                println!("{:<22} {core:<3} {what}", f.id);
                println!("    {} ({}, {})", f.description, f.found, f.wat.display());
                if let Some(d) = diff::format_divergence(&r) {
                    println!("  {}", d.trim_start());
                } else if r.stack_bound_exceeded {
                    println!("  {}", diff::format_report(&r));
                }
            }
            results.push(serde_json::json!({
                "id": f.id, "core": core, "expect": f.expect, "now": status, "report": r,
            }));
        }
    }
    if json {
        println!("{}", serde_json::json!({ "findings": results }));
    } else {
        println!(
            "sim findings: {} findings, {} runs: {}",
            list.len(),
            results.len(),
            if as_recorded {
                "all as recorded"
            } else {
                "some fixed or changed: update targets/corpus/findings/findings.ron"
            }
        );
    }
    Ok(if as_recorded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
