//! `sim --scenario FILE` for whole-run SIL files (`twin_flight::wholerun`): the export on each
//! core, its gate, cycles, stack and memory; `--out` writes report.json, `--junit` one test
//! case per core.

use std::path::Path;
use std::process::ExitCode;

use twin_flight::scenario::root_for;
use twin_flight::wholerun::WholeRun;
use twin_flight::Result;
use twin_machine::Error as TwinError;

/// Whether `file` holds a whole run (a file that cannot be read is left to the scenario path,
/// which reports it).
pub fn is_whole_run_file(file: &Path) -> bool {
    std::fs::read_to_string(file).is_ok_and(|t| twin_flight::wholerun::is_whole_run(&t))
}

/// Run the whole-run `file`; `flight_options` says whether options that apply only to flight
/// scenarios (`--backend`, `--target`) were given; the report goes to `out`, a JUnit report to
/// `junit`.
pub fn run(
    file: &Path,
    flight_options: bool,
    out: Option<&Path>,
    junit: Option<&Path>,
) -> Result<ExitCode> {
    let w = WholeRun::load(file)?;
    if flight_options {
        return Err(TwinError::Usage(format!(
            "{}: a whole run is one export on the emulated cores; --backend and --target apply to flight scenarios",
            file.display()
        ))
        .into());
    }
    let objects = std::env::temp_dir().join(format!("rt-twin-objects-{}", std::process::id()));
    let result = w.run(&root_for(file), &objects);
    let _ = std::fs::remove_dir_all(&objects);
    let report = result?;
    println!(
        "whole run {}: {} ({} of {})",
        report.name,
        if report.pass { "PASS" } else { "FAIL" },
        report.export,
        w.wasm.display()
    );
    for r in &report.runs {
        let memory = match r.memory_high_water {
            Some(hi) => format!("linear memory high-water {hi} of {} B", r.memory_bytes),
            None => format!("linear memory {} B untouched", r.memory_bytes),
        };
        println!(
            "  {:<4} {}: {} = {} {} {}   {} cycles, stack {} B{}, {memory}",
            if r.pass { "ok" } else { "FAIL" },
            r.core,
            report.export,
            r.result,
            if r.pass { "<" } else { "is not below" },
            report.below,
            r.cycles,
            r.stack_bytes,
            r.stack_bound
                .as_ref()
                .map(|b| format!(" (synth: {b})"))
                .unwrap_or_default()
        );
    }
    println!("  {:.2} s wall", report.wall_seconds);
    if let Some(dir) = out {
        let io = |e: std::io::Error| TwinError::Io {
            path: dir.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        std::fs::write(dir.join("report.json"), json).map_err(io)?;
    }
    if let Some(path) = junit {
        let cases: Vec<(String, Option<String>)> = report
            .runs
            .iter()
            .map(|r| {
                let name = format!("{} on {} below {}", report.export, r.core, report.below);
                (
                    name,
                    (!r.pass).then(|| format!("{} = {}", report.export, r.result)),
                )
            })
            .collect();
        crate::junit::write(path, &report.name, &cases)?;
    }
    Ok(if report.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sim check` of a whole-run file.
pub fn check(file: &Path) -> Result<ExitCode> {
    let w = WholeRun::load(file)?;
    println!(
        "{}: ok (whole run: {} of {} on {}, below {})",
        file.display(),
        w.export,
        w.wasm.display(),
        w.cores.join(", "),
        w.below
    );
    Ok(ExitCode::SUCCESS)
}
