//! `sim`: the headless front end of rt-twin.

mod findings;
mod interrupt;
mod junit;
mod module;
mod pty;
mod sweep;
mod wholerun;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use module::{budget, cycle_model, host, module_wit, reference, ModuleArgs};
use twin_hosting::diff;
use twin_hosting::hosted::Hosted;
use twin_hosting::reference::Reference;
use twin_hosting::wasm::{Val, WasmModule};
use twin_machine::board::Board;
use twin_machine::image::Image;
use twin_machine::machine::{Config, Machine, Stop};
use twin_machine::time::{format_ps, parse_duration, Ps};
use twin_machine::Error as TwinError;

// Every command's error: the twin's own, a lockstep divergence, a failed flight computer.
use twin_flight::Result;

/// Exit codes of `sim run` beyond the firmware's own (documented in the README).
const EXIT_USAGE: u8 = 2;
const EXIT_TIMEOUT: u8 = 124;
const EXIT_LOCKUP: u8 = 125;
const EXIT_TWIN_ERROR: u8 = 126;
const EXIT_SYSTEM_RESET: u8 = 127;
/// The run was stopped from outside (a debugger's Ctrl-C with no time to finish; SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "rt-twin: a digital twin of the i.MX RT1176",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Run a scenario file headless (the same as `sim run --scenario FILE`).
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Default)]
struct ScenarioArgs {
    /// Scenario file (RON). Exit code 0 only when every gate passes.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Write the trace (trace.csv), the report (report.json) and a plot (plot.png) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a JUnit XML report, one test case per gate.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Where the flight components run, overriding the scenario: `arm`, `wasmtime`, `native` or
    /// `lockstep` (ARM and wasmtime every tick, stopping at the first bit-level divergence), for
    /// both components or as `estimator=B,controller=B`.
    #[arg(long, value_name = "SPEC")]
    backend: Option<String>,
    /// Target mode: fly the HIL firmware (targets/hil) instead of hosting the components:
    /// `emulated` runs it on the twin (bare-metal), `probe` on a board through a debug probe;
    /// sensor frames go down and motor commands come up over RTT either way (docs/target.md).
    /// `full-system` runs the full-system build on the twin: its drivers read the modelled
    /// sensors and command the motors through the IO MCU (docs/full-system.md), as a
    /// scenario's `flight.firmware` asks.
    #[arg(long, value_name = "WHERE", value_parser = ["emulated", "probe", "full-system"])]
    target: Option<String>,
    /// The firmware's CM7 image (default: target/hil/hil-m7.elf, or hil-fs-m7.elf for
    /// `full-system`, under the project root, as targets/hil/build.sh writes them).
    #[arg(long, value_name = "ELF")]
    hil_image: Option<PathBuf>,
    /// With `--target probe`: the probe to use, VID:PID[:SERIAL] (hex); needed only when
    /// several are attached.
    #[arg(long, value_name = "SELECTOR")]
    probe: Option<String>,
    /// With `--target probe`: load the HIL image into the board's RAM and start it. Without
    /// it nothing is written to the board: the firmware must already be running.
    #[arg(long)]
    flash: bool,
    #[command(flatten)]
    gdb: GdbArgs,
}

/// Apply a `--backend` spec to a scenario.
fn apply_backend(s: &mut twin_flight::scenario::Scenario, spec: &str) -> Result<()> {
    let mut o = twin_flight::session::Overrides::default();
    o.set_backends(spec)?;
    o.apply(s);
    Ok(())
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Merge shard results (DIR/shard-*.json, from any machines) into one report.
    Merge {
        /// Directories holding shard-*.json files.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long, default_value = "runs/sweep")]
        out: PathBuf,
        /// Write a JUnit XML report, one test case per run.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// As for a campaign: fly K runs again on the emulated cores in lockstep.
        #[arg(long, value_name = "K", default_value_t = 0)]
        confirm_arm: usize,
    },
    /// Submit the campaign to Slurm: a job array of shards (each task `sim sweep FILE`, its
    /// slice from SLURM_ARRAY_TASK_ID) and a merge job that runs when all of them succeeded.
    ///
    /// The shards and the report go to DIR (a directory every node sees), Slurm's output to
    /// DIR/slurm/. With --wait, returns when the merge is done with its exit code.
    Slurm {
        /// The sweep file (RON).
        file: PathBuf,
        #[arg(long, default_value = "runs/sweep")]
        out: PathBuf,
        /// Array tasks (shards).
        #[arg(long, default_value_t = 4)]
        tasks: u64,
        /// CPUs, and so worker threads, per task.
        #[arg(long, default_value_t = 1)]
        cpus_per_task: usize,
        /// Wait for the merge job and exit with its code (sbatch --wait).
        #[arg(long)]
        wait: bool,
        /// An extra sbatch option for both jobs, e.g. --sbatch=--partition=batch (repeatable).
        #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
        sbatch: Vec<String>,
        /// The `sim` the jobs run (default: this one; it must be at that path on the nodes).
        #[arg(long, value_name = "PATH")]
        sim: Option<PathBuf>,
        /// For the merge: a JUnit XML report, one test case per run.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// For the merge: fly K runs again on the emulated cores in lockstep.
        #[arg(long, value_name = "K", default_value_t = 0)]
        confirm_arm: usize,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Fly a campaign: one scenario many times with its parameters varied (a sweep file), on
    /// worker threads, or one shard of it; or merge shards (`sim sweep merge DIR...`).
    ///
    /// Writes DIR/report.json (deterministic for the sweep file), timing.json, results.json,
    /// a histogram per gate and the worst runs' replay scenarios; a shard writes
    /// DIR/shard-I-of-N.json. Exit code 0 when every run passed, 1 when some failed, 130 when
    /// interrupted (the finished runs kept), 2 for bad input.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Sweep {
        /// The sweep file (RON).
        #[arg(required = true)]
        file: Option<PathBuf>,
        /// Where the report, results and replay files go.
        #[arg(long, default_value = "runs/sweep")]
        out: PathBuf,
        /// Worker threads (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Fly only the I-th of N deterministic slices (0-based), e.g. 0/4. Without it the
        /// slice comes from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX
        /// (with --shard-count) when set.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// The number of shards when the environment gives only the index.
        #[arg(long, value_name = "N")]
        shard_count: Option<u64>,
        /// Write a JUnit XML report, one test case per run.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Fly K runs again on the emulated cores in lockstep with wasmtime (the worst half of
        /// them and a seeded sample) and report whether they matched bit for bit.
        #[arg(long, value_name = "K", default_value_t = 0)]
        confirm_arm: usize,
        #[command(subcommand)]
        command: Option<SweepCommand>,
    },
    /// Run bare-metal ELF images on the emulated cores.
    ///
    /// Exit code: the firmware's (semihosting SYS_EXIT), or 124 when the time limit is reached,
    /// 125 on a core lockup, 126 on a twin error (e.g. an unmodelled peripheral), 127 when the
    /// firmware requests a system reset, 2 for bad input.
    Run {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// Image for the Cortex-M7.
        #[arg(long)]
        m7: Option<PathBuf>,
        /// Image for the Cortex-M4 (held in reset until the CM7 releases it through SRC,
        /// unless --m4-running or there is no CM7 image).
        #[arg(long)]
        m4: Option<PathBuf>,
        /// Virtual time limit, e.g. 250ms, 5s, 2m.
        #[arg(long = "for", default_value = "10s")]
        duration: String,
        /// Start the CM4 at power-on instead of waiting for the CM7 to release it.
        #[arg(long)]
        m4_running: bool,
        /// Board description (default: the built-in targets/rt1176.ron).
        #[arg(long)]
        board: Option<PathBuf>,
        /// Lockstep quantum (default 10us).
        #[arg(long)]
        quantum: Option<String>,
        /// Also write what a UART sends to a file, raw (repeatable), e.g. LPUART1=console.log;
        /// or `NAME=pty`: connect the UART both ways to a new pseudo-terminal (its path is
        /// printed; the run is then paced to real time, so a terminal sees the firmware's
        /// timing). Every UART's lines are echoed on stdout as `[LPUART1] text` either way.
        #[arg(long = "uart", value_name = "NAME=FILE|pty")]
        uarts: Vec<String>,
        /// Print the summary as JSON (on stderr) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run every export of a wasm module on the emulated core (synth's ARM code) and in wasmtime,
    /// and compare results, traps, linear memory and globals bit for bit.
    ///
    /// Exit code 0 only if everything compared matched; 1 on a divergence (or, with
    /// --require-all, an export synth left out); 2 for bad input. Each call's budget is
    /// --max-cycles on the ARM side (default 10,000,000 here) and the fuel it implies in
    /// wasmtime.
    Diff {
        #[command(flatten)]
        module: ModuleArgs,
        /// Input cases per export (edge values first, then seeded random).
        #[arg(long, default_value_t = 200)]
        cases: usize,
        /// Seed of the random cases.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Only this export.
        #[arg(long)]
        export: Option<String>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Fail (exit 1) when synth left any export out of the object, as well as on a
        /// divergence (by default the exit code judges what was compared).
        #[arg(long)]
        require_all: bool,
    },
    /// Run the known synth findings (minimal modules on which `sim diff` finds synth's code
    /// doing other than the wasm says) and say whether each is still there as recorded, fixed
    /// (bit-identical now), or changed.
    ///
    /// Exit code 0 when every finding is as recorded; 1 when one is fixed or changed (update
    /// the list); 2 for bad input.
    Findings {
        /// The findings list (default: the project's targets/corpus/findings/findings.ron).
        file: Option<PathBuf>,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Validate a scenario file without running it.
    Check { file: PathBuf },
    /// Compare two runs (`--out` directories or trace files) tick by tick: per signal the max
    /// and RMS difference and the first tick beyond its tolerance, cycles per tick and gates
    /// of both.
    ///
    /// Exit code 0 when no tolerance is exceeded, 1 when one is, 2 for bad input.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Take the tolerances of this scenario file (its `tolerances` field).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// A signal's tolerance, e.g. `roll=0.01` or `m7_cycles=500` (repeatable; overrides the
        /// scenario's).
        #[arg(long = "tolerance", value_name = "SIGNAL=X")]
        tolerances: Vec<String>,
        /// Tolerance of flight signals not given one (default 0: the same bits).
        #[arg(long, default_value_t = 0.0)]
        default_tolerance: f64,
        /// Write compare.json and compare.png (both runs overlaid) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the comparison as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List the scenarios shipped in scenarios/.
    List,
    /// P3 async components in callback mode.
    P3 {
        #[command(subcommand)]
        command: P3Command,
    },
    /// Plain wasm runtime paths (wasmtime).
    Wasm {
        #[command(subcommand)]
        command: WasmCommand,
    },
    /// Call one export on the emulated core and print its result, cycles and stack use.
    Call {
        #[command(flatten)]
        module: ModuleArgs,
        #[arg(long)]
        export: String,
        /// Arguments, comma-separated, typed by the export's signature (e.g. `1,-2,0.5,bits:0x7fc00000`).
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        args: String,
        /// Gate on the result: the call passes only when it returns one number below this
        /// (a whole-run SIL export's error, e.g. `run-stabilization` with `--below 0.1`).
        /// NaN fails.
        #[arg(long, value_name = "X", allow_hyphen_values = true)]
        below: Option<f64>,
    },
}

#[derive(Subcommand)]
enum P3Command {
    /// Validate and run a system of components (RON): per-component callbacks, cost per
    /// callback, ready-queue wait, stack, result.
    ///
    /// Exit code 0 when every component exited without a fault; 1 otherwise (a fault, a
    /// deadlock, the dispatch limit); 2 for a bad or invalid system file.
    Run {
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The GDB server (docs/gdb.md).
#[derive(clap::Args, Clone, Default)]
struct GdbArgs {
    /// Serve GDB's remote protocol on [ADDR:]PORT (127.0.0.1 unless ADDR is given; port 0
    /// picks a free one, printed on stderr): both cores as threads (1 = CM7, 2 = CM4). The run
    /// goes on until GDB connects, which halts it.
    #[arg(long, value_name = "[ADDR:]PORT")]
    gdb: Option<String>,
    /// With --gdb: hold both cores at reset until GDB connects.
    #[arg(long, requires = "gdb")]
    gdb_wait: bool,
}

#[derive(Subcommand)]
enum WasmCommand {
    /// Run a WASI command module's `_start` (stdout/stderr inherited); prints READY after
    /// instantiation and before the entry point.
    ///
    /// Exit code: the module's (0 when `_start` returns, the `proc_exit` code otherwise); 1 when it
    /// traps; 2 when it cannot be loaded or instantiated or has no `_start`.
    Run {
        /// The module (.wasm or .wat).
        file: PathBuf,
        /// Arguments passed to the module after its name.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return match &cli.scenario.scenario {
            Some(_) => finish(run_scenario(&cli.scenario)),
            None => {
                eprintln!("sim: give a subcommand or --scenario FILE (see sim --help)");
                ExitCode::from(EXIT_USAGE)
            }
        };
    };
    let result = match command {
        Command::Run { ref scenario, .. } if scenario.scenario.is_some() => run_scenario(scenario),
        Command::Check { file } => check(&file),
        Command::Findings { file, json } => findings::run(file, json),
        Command::Compare {
            a,
            b,
            scenario,
            tolerances,
            default_tolerance,
            out,
            json,
        } => compare(
            &a,
            &b,
            scenario.as_deref(),
            &tolerances,
            default_tolerance,
            out.as_deref(),
            json,
        ),
        Command::Wasm {
            command: WasmCommand::Run { file, args },
        } => wasm_run(&file, &args),
        Command::P3 {
            command: P3Command::Run { file, json },
        } => p3_run(&file, json),
        Command::List => list(),
        Command::Sweep {
            command:
                Some(SweepCommand::Merge {
                    dirs,
                    out,
                    junit,
                    confirm_arm,
                }),
            ..
        } => sweep::merge(&dirs, &out, junit.as_deref(), confirm_arm),
        Command::Sweep {
            command:
                Some(SweepCommand::Slurm {
                    file,
                    out,
                    tasks,
                    cpus_per_task,
                    wait,
                    sbatch,
                    sim,
                    junit,
                    confirm_arm,
                }),
            ..
        } => sweep::slurm(&sweep::SlurmArgs {
            file: &file,
            out: &out,
            tasks,
            cpus_per_task,
            wait,
            sbatch: &sbatch,
            sim: sim.as_deref(),
            junit: junit.as_deref(),
            confirm_arm,
        }),
        Command::Sweep {
            file,
            out,
            jobs,
            shard,
            shard_count,
            junit,
            confirm_arm,
            command: None,
        } => sweep::run(&sweep::Args {
            file: file.as_deref().expect("clap requires it"),
            out: &out,
            jobs,
            shard: shard.as_deref(),
            shard_count,
            junit: junit.as_deref(),
            confirm_arm,
        }),
        Command::Diff {
            mut module,
            cases,
            seed,
            export,
            json,
            require_all,
        } => {
            module.max_cycles.get_or_insert(diff::DEFAULT_MAX_CYCLES);
            run_diff(&module, cases, seed, export.as_deref(), json, require_all)
        }
        Command::Call {
            module,
            export,
            args,
            below,
        } => run_call(&module, &export, &args, below),
        run => return run_bare(run),
    };
    finish(result)
}

fn finish(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sim: error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

use twin_flight::scenario::root_for;

fn p3_run(file: &std::path::Path, json: bool) -> Result<ExitCode> {
    let system = twin_p3::system::System::load(file)?;
    let root = file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let r = system.run(&root)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).expect("report serialises")
        );
    } else {
        println!(
            "system {}: {:?} after {} callbacks",
            system.name, r.ending, r.dispatches
        );
        println!(
            "  {:<12} {:>4} {:>9} {:>9} {:>22} {:>10} {:>7}  result",
            "component",
            "core",
            "backend",
            "callbacks",
            "cost/callback min/mean/max",
            "ready wait",
            "stack"
        );
        for t in &r.threads {
            let bytes = t.returned.as_ref().and_then(|r| r.1.as_ref());
            let text = bytes
                .and_then(|b| std::str::from_utf8(b).ok())
                .filter(|s| !s.chars().any(char::is_control));
            let result = match (&t.fault, text, bytes, t.returned_i32()) {
                (Some(f), ..) => format!("FAULT: {f}"),
                (None, _, _, Some(v)) => v.to_string(),
                (None, Some(s), _, None) => format!("{s:?}"),
                (None, None, Some(b), None) => format!(
                    "{} bytes: {}",
                    b.len(),
                    b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                ),
                (None, None, None, None) => "-".into(),
            };
            println!(
                "  {:<12} {:>4} {:>9} {:>9} {:>22} {:>10} {:>7}  {result}",
                t.name,
                system.cores[t.core],
                t.backend,
                t.callbacks,
                format!("{}/{:.0}/{}", t.cost_min, t.cost_mean(), t.cost_max),
                t.max_ready_wait,
                if t.stack_high_water > 0 {
                    format!("{} B", t.stack_high_water)
                } else {
                    "n/a".into()
                },
            );
        }
        println!(
            "  cost: cycles on arm, fuel on wasmtime; ready wait: callbacks run on the core meanwhile; undelivered events: {}",
            r.undelivered
        );
        for s in &r.streams {
            println!(
                "  stream {:<10} {:<26} capacity {:>5} B, {:>7} B through, high-water {} B",
                s.name, s.place, s.capacity, s.bytes, s.high_water
            );
        }
        if r.mu.doorbells > 0 {
            println!(
                "  MU: {} doorbells ({} queued behind a full TR0), latency {}/{:.0}/{} cost units",
                r.mu.doorbells,
                r.mu.queued,
                r.mu.latency_min,
                r.mu.latency_total as f64 / r.mu.doorbells as f64,
                r.mu.latency_max
            );
        }
        let st = &r.stack;
        if st.components > 0 {
            println!(
                "  stack memory of {} ARM components: callback mode {} B (one stack per component; {} B with one per core), stackful mode {} B ({} calls in flight, each its deepest point + {} B switch context)",
                st.components,
                st.callback_per_component,
                st.callback_per_core,
                st.stackful,
                st.in_flight,
                twin_p3::executor::SWITCH_CONTEXT
            );
        }
    }
    let ok =
        r.ending == twin_p3::executor::Ending::Done && r.threads.iter().all(|t| t.fault.is_none());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn wasm_run(file: &std::path::Path, args: &[String]) -> Result<ExitCode> {
    Ok(match twin_hosting::wasi::run_command(file, args)? {
        twin_hosting::wasi::Outcome::Exited(code) => {
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        twin_hosting::wasi::Outcome::Trapped(why) => {
            eprintln!("sim: {}: trapped in _start: {why}", file.display());
            ExitCode::from(1)
        }
    })
}

fn compare(
    a: &std::path::Path,
    b: &std::path::Path,
    scenario: Option<&std::path::Path>,
    flags: &[String],
    default: f64,
    out: Option<&std::path::Path>,
    json: bool,
) -> Result<ExitCode> {
    use twin_flight::compare::Side;
    use twin_flight::trace::Tolerances;
    let mut tol = Tolerances {
        default,
        per_signal: Default::default(),
    };
    if let Some(f) = scenario {
        tol.per_signal = twin_flight::scenario::Scenario::load(f)?.tolerances;
    }
    for f in flags {
        let bad = || {
            TwinError::Usage(format!(
                "--tolerance {f}: expected SIGNAL=X, e.g. roll=0.01"
            ))
        };
        let (name, x) = f.split_once('=').ok_or_else(bad)?;
        let x: f64 = x.parse().map_err(|_| bad())?;
        tol.per_signal.insert(name.to_string(), x);
    }
    tol.validate()
        .map_err(|e| TwinError::Usage(format!("tolerances: {e}")))?;
    let (sa, sb) = (Side::load(a)?, Side::load(b)?);
    let c = twin_flight::compare::compare(&sa, &sb, &tol);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&c).expect("comparison serialises")
        );
    } else {
        println!(
            "compare {} ({} ticks) with {} ({} ticks): {} ticks aligned: {}",
            c.a,
            c.ticks_a,
            c.b,
            c.ticks_b,
            c.aligned,
            if c.pass {
                "within tolerance"
            } else {
                "TOLERANCE EXCEEDED"
            }
        );
        println!(
            "  {:<12} {:>12} {:>12} {:>12}  first exceeded",
            "signal", "max |A-B|", "RMS", "tolerance"
        );
        for s in &c.signals {
            println!(
                "  {:<12} {:>12.4e} {:>12.4e} {:>12}  {}",
                s.signal,
                s.max_abs,
                s.rms,
                s.tolerance.map_or("report".into(), |t| format!("{t:.3e}")),
                s.first_exceeded
                    .map_or(String::new(), |(k, t)| format!("tick {k} ({t:.3} s)"))
            );
        }
        let st = |s: &twin_flight::trace::Stats| format!("{}/{:.0}/{}", s.min, s.mean, s.max);
        for (name, t) in [("A", &c.timing_a), ("B", &c.timing_b)] {
            println!(
                "  {name}: cycles per tick min/mean/max estimator {}, controller {}; MU latency {} ns",
                st(&t.estimator_cycles_per_tick),
                st(&t.controller_cycles_per_tick),
                st(&t.mu_latency_ns)
            );
        }
        for (name, g) in [("A", &c.gates_a), ("B", &c.gates_b)] {
            match g {
                Some(g) => {
                    for g in g {
                        println!(
                            "  {name} gate {:<4} {} ({})",
                            if g.pass { "ok" } else { "FAIL" },
                            g.gate,
                            g.detail
                        );
                    }
                }
                None => println!("  {name}: no report.json, no gates"),
            }
        }
    }
    if let Some(dir) = out {
        let io = |e: std::io::Error| TwinError::Io {
            path: dir.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = serde_json::to_string_pretty(&c).expect("comparison serialises");
        std::fs::write(dir.join("compare.json"), text).map_err(io)?;
        twin_flight::plot::render_png(
            &dir.join("compare.png"),
            &twin_flight::compare::panels(&sa.trace, &sb.trace),
            &[],
        )?;
    }
    Ok(if c.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check(file: &std::path::Path) -> Result<ExitCode> {
    if wholerun::is_whole_run_file(file) {
        return wholerun::check(file);
    }
    let s = twin_flight::scenario::Scenario::load(file)?;
    println!(
        "{}: ok ({} s of flight at {} Hz, {} waypoints, {} gates)",
        file.display(),
        s.dt * s.steps as f64,
        (1.0 / s.dt).round(),
        s.waypoints.len(),
        s.gates.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn list() -> Result<ExitCode> {
    let dir = std::env::current_dir()
        .map(|d| d.join("scenarios"))
        .map_err(|e| TwinError::Usage(e.to_string()))?;
    let cwd = std::env::current_dir().unwrap_or_default();
    for (f, s) in twin_flight::scenario::list(&dir)? {
        let shown = f.strip_prefix(&cwd).unwrap_or(&f).display().to_string();
        match s {
            Ok(s) => println!("{shown:<36} {}", s.description),
            Err(e) => println!("{shown:<36} INVALID: {e}"),
        }
    }
    for (f, w) in twin_flight::wholerun::list(&dir.join("sil"))? {
        let shown = f.strip_prefix(&cwd).unwrap_or(&f).display().to_string();
        match w {
            Ok(w) => println!("{shown:<36} whole run: {}", w.description),
            Err(e) => println!("{shown:<36} INVALID: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The scenario's session: hosted, in target mode, or full-system.
fn open_session(
    args: &ScenarioArgs,
    s: twin_flight::scenario::Scenario,
    root: &std::path::Path,
    objects: &std::path::Path,
) -> Result<twin_flight::session::Session> {
    use twin_target::TargetSpec;
    if args.target.is_none() && (args.probe.is_some() || args.flash || args.hil_image.is_some()) {
        return Err(
            TwinError::Usage("--hil-image, --probe and --flash need --target".into()).into(),
        );
    }
    let image = args.hil_image.clone();
    let spec = match args.target.as_deref() {
        None => None,
        Some(t @ ("emulated" | "full-system")) => {
            if args.probe.is_some() || args.flash {
                return Err(
                    TwinError::Usage("--probe and --flash are for --target probe".into()).into(),
                );
            }
            Some(if t == "emulated" {
                TargetSpec::Emulated {
                    image: image.unwrap_or_else(|| twin_target::default_image(root)),
                }
            } else {
                TargetSpec::FullSystem {
                    image: image.unwrap_or_else(|| twin_target::default_full_system_image(root)),
                }
            })
        }
        Some(_) => Some(TargetSpec::Probe {
            image: image.unwrap_or_else(|| twin_target::default_image(root)),
            selector: args.probe.clone(),
            flash: args.flash,
        }),
    };
    if args.backend.is_some() && (spec.is_some() || s.flight.firmware.is_some()) {
        return Err(TwinError::Usage(
            "--backend chooses where hosted components run; in target and full-system mode the firmware runs them".into(),
        ).into());
    }
    twin_target::open_session(s, root, objects, spec.as_ref())
}

/// Run a session to its end, with the GDB server on its machine when asked (docs/gdb.md):
/// stops inside hosted calls at their tick, Ctrl-C between ticks; GDB is told when the
/// scenario ends.
fn run_session_gdb(
    mut session: twin_flight::session::Session,
    gdb: &GdbArgs,
    bar: &indicatif::ProgressBar,
) -> Result<(
    twin_flight::scenario::Report,
    Vec<twin_flight::flightloop::Tick>,
)> {
    let Some(addr) = &gdb.gdb else {
        fly(&mut session, bar);
        return finish_session(session);
    };
    use twin_hosting::backend::Backend;
    let cores = &session.info().cores;
    if !cores
        .iter()
        .any(|c| matches!(c.backend, Backend::Arm | Backend::Lockstep))
    {
        return Err(TwinError::Usage(format!(
            "--gdb: the flight code runs on {} and {} here, not on the emulated cores (use backend arm or lockstep)",
            cores[0].backend, cores[1].backend
        ))
        .into());
    }
    let Some(machine) = session.machine() else {
        return Err(TwinError::Usage(
            "--gdb needs the flight code on the twin's cores (backend arm or lockstep, or the firmware emulated): this run has no emulated machine".into(),
        )
        .into());
    };
    let (port, at) = twin_machine::gdb::serve(addr)?;
    bar.suspend(|| {
        eprintln!("sim: GDB server listening on {at} (gdb-multiarch -ex 'target remote {at}')");
        for c in &machine.debug_symbols {
            eprintln!("sim:   {c}");
        }
    });
    machine.debugger = Some(Box::new(port));
    if gdb.gdb_wait
        && machine.debug_stop(&Stop::Interrupted, "held before tick 0")
            == twin_machine::machine::Resume::Kill
    {
        return Err(TwinError::Usage("the debugger ended the run before tick 0".into()).into());
    }
    fly(&mut session, bar);
    let report = session.report();
    if let Some(m) = session.machine() {
        // GDB sees the scenario end as the inferior's exit: 0 when every gate passed.
        let exit = Stop::Exit {
            core: m.core_name(0).to_string(),
            code: i32::from(!report.pass),
        };
        m.debug_final(&exit, "the scenario ended");
        m.debugger = None;
    }
    finish_session(session)
}

/// The report and trace of a session that ended, its streamed trace closed.
fn finish_session(
    mut session: twin_flight::session::Session,
) -> Result<(
    twin_flight::scenario::Report,
    Vec<twin_flight::flightloop::Tick>,
)> {
    session.finish_trace()?;
    Ok((session.report(), session.into_trace()))
}

/// Fly a session to its end, tick by tick; SIGINT or SIGTERM ends it after the current tick.
fn fly(session: &mut twin_flight::session::Session, bar: &indicatif::ProgressBar) {
    while session.step() {
        let k = session.ticks();
        if k % 100 == 1 {
            bar.set_position(k - 1);
        }
        if let Some(sig) = interrupt::requested() {
            session.interrupt(interrupt::name(sig));
        }
    }
}

/// The `--out` directory, created, with the trace streamed into it from the first tick.
fn stream_out(dir: &std::path::Path, session: &mut twin_flight::session::Session) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TwinError::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    let w = twin_flight::trace::TraceWriter::create(&dir.join("trace.csv"))?;
    session.stream_to(w);
    Ok(())
}

fn run_scenario(args: &ScenarioArgs) -> Result<ExitCode> {
    let file = args.scenario.as_ref().expect("checked by the caller");
    if wholerun::is_whole_run_file(file) {
        return wholerun::run(
            file,
            args.backend.is_some() || args.target.is_some(),
            args.out.as_deref(),
            args.junit.as_deref(),
        );
    }
    let mut s = twin_flight::scenario::Scenario::load(file)?;
    if let Some(spec) = &args.backend {
        apply_backend(&mut s, spec)?;
    }
    let root = root_for(file);
    let objects = std::env::temp_dir().join(format!("rt-twin-objects-{}", std::process::id()));
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(s.steps),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ticks {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_message(s.name.clone());
    interrupt::install("keeping the ticks run: trace, report and plot");
    let result = open_session(args, s.clone(), &root, &objects).and_then(|mut session| {
        if let Some(dir) = &args.out {
            stream_out(dir, &mut session)?;
        }
        run_session_gdb(session, &args.gdb, &bar)
    });
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&objects);
    let (report, trace) = result?;
    println!(
        "scenario {}: {} ({})",
        report.scenario,
        if report.pass { "PASS" } else { "FAIL" },
        report.flight_computer
    );
    if let Some(why) = &report.stopped {
        println!(
            "  stopped after {} of {} ticks: {why}",
            report.ticks, s.steps
        );
    }
    if report.interrupted.is_some() {
        println!(
            "  INTERRUPTED: the gates below judge the {} ticks run, not the scenario",
            report.ticks
        );
    }
    for g in &report.gates {
        println!(
            "  {:<4} {:<44} {}",
            if g.pass { "ok" } else { "FAIL" },
            g.gate,
            g.detail
        );
    }
    let c = |st: &twin_flight::trace::Stats| format!("{}/{:.0}/{}", st.min, st.mean, st.max);
    let on_core = |b: twin_hosting::backend::Backend, st: &twin_flight::trace::Stats| match b {
        twin_hosting::backend::Backend::Arm | twin_hosting::backend::Backend::Lockstep => c(st),
        other => format!("n/a ({other})"),
    };
    println!(
        "  cycles per tick min/mean/max: estimator (CM4) {}, controller (CM7) {}; overruns {}; MU latency {} ns",
        on_core(report.estimator_backend, &report.estimator_cycles_per_tick),
        on_core(report.controller_backend, &report.controller_cycles_per_tick),
        report.overruns,
        c(&report.mu_latency_ns)
    );
    if !report.cycle_model.is_empty() {
        let models: Vec<String> = report
            .cycle_model
            .iter()
            .map(|(core, model)| format!("{core} {model}"))
            .collect();
        println!("  cycle model: {}", models.join("; "));
    }
    if let Some(fs) = &report.full_system {
        println!(
            "  full system, CM7 per tick min/mean/max: drivers {} cycles (bus waits included), interrupt handlers {} cycles in {} interrupts; awake: CM7 {}, CM4 {} cycles",
            c(&fs.driver_cycles_per_tick),
            c(&fs.irq_cycles_per_tick),
            c(&fs.irqs_per_tick),
            c(&fs.m7_busy_cycles_per_tick),
            c(&fs.m4_busy_cycles_per_tick)
        );
        let buses: Vec<String> = fs
            .buses
            .iter()
            .map(|b| format!("{} {:.1} %", b.bus, 100.0 * b.share))
            .collect();
        println!("  bus time on the wire: {}", buses.join(", "));
        let outputs: Vec<String> = fs
            .outputs_at_end
            .iter()
            .map(|(o, us)| format!("{o} {us:.0}"))
            .collect();
        println!("  motor outputs at the end (us): {}", outputs.join(", "));
    }
    println!(
        "  {:.1} s virtual in {:.2} s wall: real-time factor {:.2}",
        report.virtual_seconds, report.wall_seconds, report.real_time_factor
    );
    if let Some(dir) = &args.out {
        let io = |e: std::io::Error| TwinError::Io {
            path: dir.display().to_string(),
            source: e,
        };
        // The trace is on disk already (streamed as the run went).
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        std::fs::write(dir.join("report.json"), json).map_err(io)?;
        // The trace and report are on disk whatever happens to the plot.
        let panels = twin_flight::plot::scenario_panels(
            &trace,
            (
                report.estimator_budget_cycles,
                report.controller_budget_cycles,
            ),
        );
        let markers = twin_flight::plot::event_markers(&trace);
        twin_flight::plot::render_png(&dir.join("plot.png"), &panels, &markers)?;
    }
    if let Some(path) = &args.junit {
        let cases: Vec<(String, Option<String>)> = report
            .gates
            .iter()
            .map(|g| (g.gate.clone(), (!g.pass).then(|| g.detail.clone())))
            .collect();
        junit::write(path, &report.scenario, &cases)?;
    }
    Ok(if report.interrupted.is_some() {
        ExitCode::from(interrupt::requested().map_or(EXIT_INTERRUPTED, interrupt::exit_code))
    } else if report.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_bare(command: Command) -> ExitCode {
    match command {
        Command::Run {
            scenario,
            m7,
            m4,
            duration,
            m4_running,
            board,
            quantum,
            uarts,
            json,
        } => match run(
            m7,
            m4,
            &duration,
            m4_running,
            board,
            quantum,
            &uarts,
            json,
            &scenario.gdb,
        ) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("sim: error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        _ => unreachable!("dispatched in main"),
    }
}

fn run_diff(
    m: &ModuleArgs,
    cases: usize,
    seed: u64,
    only: Option<&str>,
    json: bool,
    require_all: bool,
) -> Result<ExitCode> {
    let hosted = match host(m) {
        Ok(h) => h,
        Err(twin) => {
            // synth declined every function: every export is left out, each with its reason.
            if m.object.is_none() && m.elf.is_none() {
                let target = m
                    .target
                    .clone()
                    .unwrap_or_else(|| twin_hosting::synth::default_target(&m.core).to_string());
                if let Some(declined) =
                    twin_hosting::synth::declined_all(&m.wasm, &target, &m.safety_bounds)?
                {
                    return all_declined(m, &declined, json, require_all);
                }
            }
            // A module wasmtime will not instantiate either (a data segment past its memory):
            // both sides refusing it is the answer.
            let wasm = WasmModule::load(&m.wasm)?;
            let fns = module::host_fns(m, &wasm, module::Side::Wasmtime)?;
            let Some(wt) = Reference::refusal(&wasm, &fns) else {
                return Err(twin.into());
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "wasm": m.wasm.display().to_string(), "core": m.core, "refused": { "wasmtime": wt.to_string(), "twin": twin.to_string() }, "exports": [], "diverged": 0 })
                );
            } else {
                println!("REFUSED  by both sides: the module does not instantiate");
                println!("  wasmtime: {wt}");
                println!("  twin:     {twin}");
                println!(
                    "sim diff: 0 exports on {}: the same outcome on both sides",
                    m.core
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let exports: Vec<String> = match only {
        Some(e) => vec![e.to_string()],
        None => hosted.export_names(),
    };
    let mut reports = Vec::new();
    let wit = module_wit(m, &WasmModule::load(&m.wasm)?)?;
    // A post-return function frees what its export returned: it runs after every WIT-level call
    // of that export, with the pointer the export returned. Called alone with a random pointer
    // it would read the first bytes of linear memory, which synth's tables alias on the ARM
    // side by design.
    let (exports, covered): (Vec<String>, Vec<String>) = exports.into_iter().partition(|e| {
        let described = |x: &str| wit.as_ref().is_some_and(|w| w.function(x).is_some());
        !e.strip_prefix("cabi_post_").is_some_and(described)
    });
    if !json {
        for c in &covered {
            println!(
                "{:<8} {c:<40} runs after each call of {}",
                "post",
                c.trim_start_matches("cabi_post_")
            );
        }
    }
    let mut model = String::new();
    for export in &exports {
        // A fresh pair for every export: a divergence never leaks into the next one.
        let mut arm_fresh = host(m)?;
        model = cycle_model(&arm_fresh);
        let mut reference = reference(m, &arm_fresh.wasm)?;
        let r = diff::diff_export_wit(
            &mut arm_fresh,
            &mut reference,
            export,
            cases,
            seed,
            wit.as_ref(),
        )?;
        if !json {
            println!("{}", diff::format_report(&r));
            if let Some(d) = diff::format_divergence(&r) {
                println!("{d}");
                if let Some(id) = findings::known(&m.wasm, export) {
                    println!("  known synth finding {id} (sim findings)");
                }
            }
        }
        reports.push(r);
    }
    let diverged = reports.iter().filter(|r| r.failed()).count();
    let skipped: Vec<&str> = reports
        .iter()
        .filter(|r| r.skipped)
        .map(|r| r.export.as_str())
        .collect();
    let total: usize = reports.iter().map(|r| r.cases).sum();
    let unfinished: usize = reports.iter().map(|r| r.unfinished).sum();
    let max_cycles = budget(m);
    if json {
        println!(
            "{}",
            serde_json::json!({ "wasm": m.wasm.display().to_string(), "core": m.core, "cycle_model": model, "max_cycles": max_cycles, "exports": reports, "diverged": diverged, "skipped": skipped.len(), "unfinished": unfinished })
        );
    } else {
        let left_out = if skipped.is_empty() {
            String::new()
        } else {
            format!(
                "; {} not in the object, synth left them out: {}{}",
                skipped.len(),
                skipped.join(", "),
                if require_all {
                    " (--require-all: failed)"
                } else {
                    ""
                }
            )
        };
        let unfinished = if unfinished > 0 {
            format!("; {unfinished} cases did not finish on either side within {max_cycles} cycles")
        } else {
            String::new()
        };
        let compiler = reports.iter().any(|r| {
            r.divergence
                .as_ref()
                .is_some_and(|d| matches!(d.triage, diff::Triage::Compiler { .. }))
        });
        if compiler {
            println!("  synth's known findings and their reproducers: sim findings");
        }
        println!(
            "sim diff: {} exports, {total} cases on {} (cycles: {model}): {}{unfinished}{left_out}",
            reports.len(),
            m.core,
            if diverged == 0 {
                "all compared bit-identical to wasmtime".to_string()
            } else {
                format!("{diverged} failed (diverged, or stack above synth's bound)")
            }
        );
    }
    let left_out_fails = require_all && !skipped.is_empty();
    Ok(if diverged == 0 && !left_out_fails {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sim diff` of a module synth compiled none of: every export reported left out, with
/// synth's reason; exit 0 (what was compared, nothing, matched) or 1 with --require-all.
fn all_declined(
    m: &ModuleArgs,
    declined: &[(String, String)],
    json: bool,
    require_all: bool,
) -> Result<ExitCode> {
    let wasm = WasmModule::load(&m.wasm)?;
    let reason = |e: &str| {
        declined
            .iter()
            .find(|(n, _)| n == e)
            .map(|(_, r)| r.clone())
    };
    let exports: Vec<(String, Option<String>)> = wasm
        .exports
        .iter()
        .map(|e| (e.name.clone(), reason(&e.name)))
        .collect();
    if json {
        let list: Vec<_> = exports
            .iter()
            .map(|(e, r)| serde_json::json!({ "export": e, "skipped": true, "skip_reason": r }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "wasm": m.wasm.display().to_string(), "core": m.core, "exports": list, "diverged": 0, "skipped": exports.len() })
        );
    } else {
        for (e, r) in &exports {
            let why = r
                .as_deref()
                .map_or("no reason given".to_string(), |r| format!("synth: {r}"));
            println!(
                "{:<8} {e:<40} not in the object: synth left it out ({why})",
                "SKIPPED"
            );
        }
        println!(
            "sim diff: {} exports on {}: synth compiled none of them, nothing compared{}",
            exports.len(),
            m.core,
            if require_all {
                " (--require-all: failed)"
            } else {
                ""
            }
        );
    }
    Ok(if require_all {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `sim call` with WIT values: WAVE arguments lowered through the module's allocator, the
/// result lifted and printed as WAVE. The export call's own outcome.
fn call_wit(
    arm: &mut Hosted,
    func: twin_hosting::canon::Func<'_>,
    export: &str,
    args: &str,
) -> Result<twin_hosting::hosted::CallOutcome> {
    use twin_hosting::canon;
    let values = func.parse_args(args)?;
    let realloc = arm.realloc();
    let mut guest = arm.guest();
    let outcome = canon::call(func, &mut guest, export, realloc.as_deref(), &values)?;
    let shown = canon::show(&values);
    match &outcome {
        Ok(Some(v)) => println!(
            "{export}({shown}) = {}",
            canon::show(std::slice::from_ref(v))
        ),
        Ok(None) => println!("{export}({shown}) returned"),
        Err(t) => println!("{export}({shown}) trapped: {t}"),
    }
    let call = guest.outcome(export).cloned();
    match call {
        Some(mut c) => {
            if let Err(t) = outcome {
                // A trap in the allocator or an invalid result still fails the call.
                if c.result.is_ok() {
                    c.result = Err(twin_hosting::hosted::ArmTrap::Host { message: t });
                }
            }
            Ok(c)
        }
        None => Err(TwinError::Usage(format!(
            "{export} was not called: {}",
            outcome.err().unwrap_or_default()
        ))
        .into()),
    }
}

fn run_call(m: &ModuleArgs, export: &str, args: &str, below: Option<f64>) -> Result<ExitCode> {
    let mut arm = host(m)?;
    let wit = module_wit(m, &arm.wasm)?;
    if let Some(func) = wit.as_ref().and_then(|w| w.function(export)) {
        if arm.skipped.iter().any(|s| s == export) {
            return Err(TwinError::Usage(format!(
                "export {export} is not in the object: synth left it out"
            ))
            .into());
        }
        let out = call_wit(&mut arm, func, export, args)?;
        return report_call(&mut arm, export, &out, below);
    }
    let e = arm
        .wasm
        .export(export)
        .ok_or_else(|| {
            TwinError::Usage(format!(
                "no export {export:?} (exports: {})",
                arm.export_names().join(", ")
            ))
        })?
        .clone();
    let texts: Vec<&str> = if args.trim().is_empty() {
        vec![]
    } else {
        args.split(',').collect()
    };
    if texts.len() != e.ty.params.len() {
        return Err(TwinError::Usage(format!(
            "export {export} takes {} arguments {}, given {}",
            e.ty.params.len(),
            e.ty,
            texts.len()
        ))
        .into());
    }
    let vals =
        e.ty.params
            .iter()
            .zip(&texts)
            .map(|(t, s)| Val::parse(*t, s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(TwinError::Usage)?;
    let out = arm.call(export, &vals)?;
    match &out.result {
        Ok(v) => println!(
            "{export}({}) = {}",
            texts.join(", "),
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(t) => println!("{export}({}) trapped: {t}", texts.join(", ")),
    }
    report_call(&mut arm, export, &out, below)
}

/// Cycles, stack and linear memory of a call, and the gate on its result; the exit code (1
/// when it trapped or failed the gate).
fn report_call(
    arm: &mut Hosted,
    export: &str,
    out: &twin_hosting::hosted::CallOutcome,
    below: Option<f64>,
) -> Result<ExitCode> {
    let bound = match arm.stack_bounds.get(export) {
        Some(twin_hosting::hosted::StackBound::Bounded(b)) => format!(", synth bound {b} B"),
        Some(twin_hosting::hosted::StackBound::Declined(r)) => format!(", synth declined: {r}"),
        None => String::new(),
    };
    let model = cycle_model(arm);
    println!(
        "instructions {}  cycles {} ({model})  stack {} B{bound}",
        out.instructions, out.cycles, out.stack_bytes
    );
    match arm.memory_touched() {
        Some((lo, hi)) => println!(
            "linear memory {} B: written [{lo:#x}, {hi:#x}), high-water {hi} B",
            arm.layout.linmem_size
        ),
        None if arm.layout.linmem_size > 0 => {
            println!("linear memory {} B: unchanged", arm.layout.linmem_size)
        }
        None => {}
    }
    let Ok(results) = &out.result else {
        return Ok(ExitCode::from(1));
    };
    let Some(limit) = below else {
        return Ok(ExitCode::SUCCESS);
    };
    let (value, shown) = match results.as_slice() {
        [Val::F32(b)] => (
            f64::from(f32::from_bits(*b)),
            f32::from_bits(*b).to_string(),
        ),
        [Val::F64(b)] => (f64::from_bits(*b), f64::from_bits(*b).to_string()),
        [Val::I32(x)] => (f64::from(*x as i32), (*x as i32).to_string()),
        [Val::I64(x)] => (*x as i64 as f64, (*x as i64).to_string()),
        other => {
            return Err(TwinError::Usage(format!(
                "--below needs one number from {export}, which returned {} values",
                other.len()
            ))
            .into())
        }
    };
    let pass = value < limit;
    println!(
        "gate: {export} = {shown} {} {limit}: {}",
        if pass { "<" } else { "is not below" },
        if pass { "pass" } else { "FAIL" }
    );
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Run in 1 ms slices, no faster than real time, handing what the terminals typed to their
/// UARTs between slices.
fn run_with_terminals(
    machine: &mut Machine,
    limit: Ps,
    ptys: &mut [(String, pty::Pty)],
) -> Result<Stop> {
    const SLICE: Ps = twin_machine::time::PS_PER_MS;
    let (start, wall) = (machine.now(), std::time::Instant::now());
    loop {
        let done = machine.now() - start;
        if done >= limit {
            return Ok(Stop::Timeout);
        }
        let stop = machine.run_for(SLICE.min(limit - done));
        if stop != Stop::Timeout {
            return Ok(stop);
        }
        for (name, p) in ptys.iter_mut() {
            let typed = p.input();
            if !typed.is_empty() {
                machine.uart_send(name, &typed)?;
            }
        }
        let ahead = (machine.now() - start) as f64 / twin_machine::time::PS_PER_S as f64
            - wall.elapsed().as_secs_f64();
        if ahead > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(ahead));
        }
    }
}

/// Run for `limit` with a GDB server on `addr` (docs/gdb.md).
fn run_with_gdb(machine: &mut Machine, limit: Ps, addr: &str, wait: bool) -> Result<Stop> {
    use twin_machine::gdb;
    let (port, at) = gdb::serve(addr)?;
    eprintln!(
        "sim: GDB server listening on {at} (gdb-multiarch -ex 'target remote {at}' FILE.elf)"
    );
    if wait {
        eprintln!("sim: both cores held at reset until GDB connects");
    }
    Ok(gdb::run(machine, limit, port, wait))
}

#[allow(clippy::too_many_arguments)] // the command's options, one each
fn run(
    m7: Option<PathBuf>,
    m4: Option<PathBuf>,
    duration: &str,
    m4_running: bool,
    board: Option<PathBuf>,
    quantum: Option<String>,
    uarts: &[String],
    json: bool,
    gdb: &GdbArgs,
) -> Result<ExitCode> {
    if m7.is_none() && m4.is_none() {
        return Err(
            TwinError::Usage("give at least one image: --m7 FILE and/or --m4 FILE".into()).into(),
        );
    }
    let limit = parse_duration(duration)?;
    let board = match board {
        Some(p) => Board::load(&p)?,
        None => Board::rt1176(),
    };
    let config = Config {
        quantum: quantum
            .as_deref()
            .map(parse_duration)
            .transpose()?
            .unwrap_or(0),
        echo: true,
        m4_running,
    };
    let mut machine = Machine::new(board.clone(), &config)?;
    let mut images = Vec::new();
    for (core, path) in [("m7", &m7), ("m4", &m4)] {
        if let Some(p) = path {
            let image = Image::load(p)?;
            machine.load(core, &image)?;
            images.push((core, image));
        }
    }
    if gdb.gdb.is_some() {
        // `monitor reset`: the same board and images, powered on again (UART files appended).
        let files: Vec<(String, String)> = uarts
            .iter()
            .filter_map(|u| u.split_once('='))
            .filter(|(_, f)| *f != "pty")
            .map(|(n, f)| (n.to_string(), f.to_string()))
            .collect();
        let config = config.clone();
        machine.rebuild = Some(std::rc::Rc::new(move || {
            let mut m = Machine::new(board.clone(), &config)?;
            for (core, image) in &images {
                m.load(core, image)?;
            }
            for (name, file) in &files {
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(file)
                    .map_err(|e| TwinError::Io {
                        path: file.clone(),
                        source: e,
                    })?;
                m.connect_uart(name, f)?;
            }
            m.power_on()?;
            Ok(m)
        }));
    }
    let mut ptys = Vec::new();
    for spec in uarts {
        let (name, file) = spec.split_once('=').ok_or_else(|| {
            TwinError::Usage(format!(
                "--uart {spec}: expected NAME=FILE or NAME=pty, e.g. LPUART1=console.log"
            ))
        })?;
        let io = |e: std::io::Error| TwinError::Io {
            path: file.to_string(),
            source: e,
        };
        if file == "pty" {
            let p = pty::Pty::open().map_err(io)?;
            machine.connect_uart(name, p.writer().map_err(io)?)?;
            eprintln!("sim: {name} is on {}", p.path);
            ptys.push((name.to_string(), p));
        } else {
            machine.connect_uart(name, std::fs::File::create(file).map_err(io)?)?;
        }
    }
    machine.power_on()?;
    let stop = if let Some(addr) = &gdb.gdb {
        if !ptys.is_empty() {
            return Err(
                TwinError::Usage("--gdb and --uart NAME=pty go one at a time".into()).into(),
            );
        }
        run_with_gdb(&mut machine, limit, addr, gdb.gdb_wait)?
    } else if ptys.is_empty() {
        machine.run_for(limit)
    } else {
        run_with_terminals(&mut machine, limit, &mut ptys)?
    };
    let summary = machine.summary();
    let wall = machine.wall_seconds();
    if json {
        let v = serde_json::json!({
            "stop": stop,
            "virtual_time_ps": machine.now(),
            "wall_seconds": wall,
            "cores": summary,
        });
        eprintln!("{v}");
    } else {
        eprintln!(
            "sim: {} after {} virtual, {:.3} s wall",
            describe(&stop),
            format_ps(machine.now()),
            wall
        );
        for c in &summary {
            eprintln!(
                "  {:<3} {:<8} insns {:>12}  cycles {:>12}  sleep {:>5.1}%  irqs {:>8}  exceptions {:>8}  ({})",
                c.core,
                format!("{:?}", c.state),
                c.instructions,
                c.cycles,
                100.0 * c.sleep_share,
                c.irqs_taken,
                c.exceptions_taken,
                c.cycle_model
            );
        }
    }
    Ok(match stop {
        Stop::Exit { code, .. } => ExitCode::from((code & 0xFF) as u8),
        Stop::Timeout => ExitCode::from(EXIT_TIMEOUT),
        Stop::Lockup { .. } => ExitCode::from(EXIT_LOCKUP),
        Stop::TwinError { .. } => ExitCode::from(EXIT_TWIN_ERROR),
        Stop::SystemReset { .. } => ExitCode::from(EXIT_SYSTEM_RESET),
        Stop::Debug { .. } | Stop::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
    })
}

fn describe(stop: &Stop) -> String {
    match stop {
        Stop::Exit { core, code } => format!("{core} exited with code {code}"),
        Stop::Timeout => "time limit reached".into(),
        Stop::Lockup { core, detail } => format!("LOCKUP on {core}: {detail}"),
        Stop::TwinError { core, detail } => format!("twin error on {core}: {detail}"),
        Stop::SystemReset { core } => format!("{core} requested a system reset"),
        Stop::Debug { core, event } => format!("{core} stopped for the debugger: {event:?}"),
        Stop::Interrupted => "interrupted".into(),
    }
}
