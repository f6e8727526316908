//! `sim sweep SWEEP.ron` and `sim sweep merge DIR...` (twin_flight::sweep): the runs on worker
//! threads with a progress bar, a shard's results file, the merged report with its histograms,
//! the worst runs' replay files and a JUnit case per run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use twin_flight::scenario::Scenario;
use twin_flight::sweep::{self, Results, Sweep};
use twin_flight::Result;
use twin_machine::Error as TwinError;

use crate::interrupt::{self, STOP};

/// Listen for SIGINT/SIGTERM: the first keeps the finished runs.
fn on_ctrl_c() {
    interrupt::install("keeping the finished runs");
}

/// The exit code of a campaign: 0, or 128 + the signal that interrupted it (130 when it ended
/// short without one).
fn interrupted_code() -> ExitCode {
    ExitCode::from(interrupt::requested().map_or(130, interrupt::exit_code))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TwinError + '_ {
    move |e| TwinError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, text).map_err(io(path))?;
    Ok(())
}

/// Which slice this process flies: `--shard I/N`, else a Slurm array task's or an indexed
/// Kubernetes Job's index with `count` (Slurm says its own count), else all of it.
fn slice_of(
    runs: u64,
    shard: Option<&str>,
    count: Option<u64>,
) -> Result<Option<(u64, u64, u64, u64)>> {
    let parse = |s: &str, what: &str| -> Result<u64> {
        s.trim()
            .parse()
            .map_err(|_| TwinError::Usage(format!("{what}: {s:?} is not a number")).into())
    };
    let (i, n) = if let Some(spec) = shard {
        let (i, n) = spec
            .split_once('/')
            .ok_or_else(|| TwinError::Usage(format!("--shard {spec}: expected I/N, e.g. 0/4")))?;
        (parse(i, "--shard")?, parse(n, "--shard")?)
    } else if let Ok(i) = std::env::var("SLURM_ARRAY_TASK_ID") {
        let n = match std::env::var("SLURM_ARRAY_TASK_COUNT") {
            Ok(n) => parse(&n, "SLURM_ARRAY_TASK_COUNT")?,
            Err(_) => count.ok_or_else(|| {
                TwinError::Usage(
                    "SLURM_ARRAY_TASK_ID without SLURM_ARRAY_TASK_COUNT: give --shard-count".into(),
                )
            })?,
        };
        (parse(&i, "SLURM_ARRAY_TASK_ID")?, n)
    } else if let Ok(i) = std::env::var("JOB_COMPLETION_INDEX") {
        let n = count
            .ok_or_else(|| TwinError::Usage("JOB_COMPLETION_INDEX needs --shard-count N".into()))?;
        (parse(&i, "JOB_COMPLETION_INDEX")?, n)
    } else {
        return Ok(None);
    };
    if n == 0 || i >= n {
        return Err(TwinError::Usage(format!("shard {i}/{n}: need 0 <= I < N")).into());
    }
    let (a, b) = sweep::shard(runs, i, n);
    Ok(Some((i, n, a, b)))
}

pub struct Args<'a> {
    pub file: &'a Path,
    pub out: &'a Path,
    pub jobs: Option<usize>,
    pub shard: Option<&'a str>,
    pub shard_count: Option<u64>,
    pub junit: Option<&'a Path>,
    pub confirm_arm: usize,
}

/// `sim sweep SWEEP.ron`.
pub fn run(a: &Args) -> Result<ExitCode> {
    let (sw, text, root) = Sweep::load(a.file)?;
    let base = sw.base(&root)?;
    sw.check(&base, &text, &a.file.display().to_string())?;
    let slice = slice_of(sw.runs, a.shard, a.shard_count)?;
    let range = slice.map_or((0, sw.runs), |(_, _, s, e)| (s, e));
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    on_ctrl_c();
    let objects = std::env::temp_dir().join(format!("rt-twin-sweep-{}", std::process::id()));
    let bar = indicatif::ProgressBar::new(range.1 - range.0).with_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len} runs, {msg} [{elapsed_precise} < {eta}]",
        )
        .expect("a valid template"),
    );
    bar.set_prefix(sw.name.clone());
    let started = Instant::now();
    let mut failed = 0;
    let campaign = sweep::Campaign {
        sweep: &sw,
        base: &base,
        root: &root,
        objects: &objects,
    };
    let results = campaign.run(range, jobs, &STOP, |r| {
        failed += u64::from(!r.pass);
        bar.set_message(format!("{failed} failed"));
        bar.inc(1);
    });
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&objects);
    let wall = started.elapsed().as_secs_f64();
    let file = std::path::absolute(a.file).map_err(io(a.file))?;
    let res = Results {
        sweep: sw.name.clone(),
        file,
        digest: sweep::digest(&text),
        text,
        runs: sw.runs,
        slice: range,
        interrupted: STOP.load(Ordering::SeqCst) || results.len() as u64 != range.1 - range.0,
        results,
    };
    let timing = serde_json::json!({
        "runs": res.results.len(),
        "jobs": jobs,
        "wall_seconds": wall,
        "runs_per_second": res.results.len() as f64 / wall.max(1e-9),
    });
    eprintln!(
        "sim sweep: {} runs on {jobs} threads in {wall:.1} s: {:.2} runs/s",
        res.results.len(),
        res.results.len() as f64 / wall.max(1e-9)
    );
    if let Some((i, n, ..)) = slice {
        let file = a.out.join(format!("shard-{i}-of-{n}.json"));
        write(
            &file,
            &serde_json::to_string_pretty(&res).expect("serialises"),
        )?;
        write(
            &a.out.join(format!("timing-{i}-of-{n}.json")),
            &timing.to_string(),
        )?;
        println!(
            "sim sweep: shard {i}/{n} (runs {}..{}) written to {}; merge with `sim sweep merge {}`",
            range.0,
            range.1,
            file.display(),
            a.out.display()
        );
        return Ok(if res.interrupted {
            interrupted_code()
        } else {
            ExitCode::SUCCESS
        });
    }
    write(
        &a.out.join("results.json"),
        &serde_json::to_string_pretty(&res).expect("serialises"),
    )?;
    write(&a.out.join("timing.json"), &timing.to_string())?;
    finish(&sw, &base, &root, res, a.out, a.junit, a.confirm_arm)
}

/// `sim sweep merge DIR...`: every shard file in the directories, merged into one report. The
/// shards say which sweep they belong to (its file and text).
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    junit: Option<&Path>,
    confirm_arm: usize,
) -> Result<ExitCode> {
    let mut parts = Vec::new();
    for d in dirs {
        let entries = std::fs::read_dir(d).map_err(io(d))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".json"))
            })
            .collect();
        files.sort();
        for f in files {
            let t = std::fs::read_to_string(&f).map_err(io(&f))?;
            let r: Results = serde_json::from_str(&t).map_err(|e| {
                TwinError::Usage(format!("{}: not a shard results file: {e}", f.display()))
            })?;
            parts.push(r);
        }
    }
    if parts.is_empty() {
        return Err(
            TwinError::Usage("no shard-*.json files in the directories given".into()).into(),
        );
    }
    let res = sweep::merge(parts)?;
    let sw = Sweep::parse(&res.text, &res.file)?;
    let root = twin_flight::scenario::root_for(&res.file);
    let base = sw.base(&root)?;
    if confirm_arm > 0 {
        on_ctrl_c();
    }
    finish(&sw, &base, &root, res, out, junit, confirm_arm)
}

pub struct SlurmArgs<'a> {
    pub file: &'a Path,
    pub out: &'a Path,
    pub tasks: u64,
    pub cpus_per_task: usize,
    pub wait: bool,
    pub sbatch: &'a [String],
    pub sim: Option<&'a Path>,
    pub junit: Option<&'a Path>,
    pub confirm_arm: usize,
}

/// A shell word for sbatch's `--wrap` (which runs its text with /bin/sh).
fn word(p: &Path) -> Result<String> {
    let s = p
        .to_str()
        .ok_or_else(|| TwinError::Usage(format!("{}: not a UTF-8 path", p.display())))?;
    Ok(shlex::try_quote(s)
        .map_err(|e| TwinError::Usage(format!("{s:?}: cannot be quoted for the shell: {e}")))?
        .into_owned())
}

/// `sbatch ARGS --wrap CMD`: the job's id (`--parsable` prints `id[;cluster]`).
fn sbatch(args: &[String], wrap: &str) -> Result<(String, std::process::ExitStatus)> {
    let out = std::process::Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg("--wrap")
        .arg(wrap)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| TwinError::Usage(format!("running sbatch (is Slurm installed?): {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .lines()
        .next()
        .and_then(|l| l.split(';').next())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            TwinError::Usage(format!(
                "sbatch {}: no job id ({}; output {text:?})",
                args.join(" "),
                out.status
            ))
        })?;
    Ok((id.to_string(), out.status))
}

/// `sim sweep slurm SWEEP.ron`: a job array of `--tasks` shards and a merge job after them.
pub fn slurm(a: &SlurmArgs) -> Result<ExitCode> {
    let (sw, text, root) = Sweep::load(a.file)?;
    let base = sw.base(&root)?;
    sw.check(&base, &text, &a.file.display().to_string())?;
    if a.tasks == 0 || a.tasks > sw.runs {
        return Err(TwinError::Usage(format!(
            "--tasks {}: need 1..={} (the sweep's runs)",
            a.tasks, sw.runs
        ))
        .into());
    }
    let exe = match a.sim {
        Some(p) => std::path::absolute(p).map_err(io(p))?,
        None => std::env::current_exe().map_err(io(Path::new("sim")))?,
    };
    if !exe.is_file() {
        return Err(TwinError::Usage(format!("--sim {}: no such program", exe.display())).into());
    }
    let file = std::path::absolute(a.file).map_err(io(a.file))?;
    let out = std::path::absolute(a.out).map_err(io(a.out))?;
    // The merge's report tells, after --wait, that the merge ran (a job cancelled because a
    // task failed leaves sbatch --wait's status at 0 on Slurm 22.05).
    let report = out.join("report.json");
    if report.exists() {
        std::fs::remove_file(&report).map_err(io(&report))?;
    }
    let logs = out.join("slurm");
    std::fs::create_dir_all(&logs).map_err(io(&logs))?;
    let cwd = std::env::current_dir().map_err(io(Path::new(".")))?;
    let common = |name: String, output: &str| -> Vec<String> {
        let mut v = vec![
            format!("--job-name={name}"),
            format!("--output={}", logs.join(output).display()),
            format!("--chdir={}", cwd.display()),
        ];
        v.extend(a.sbatch.iter().cloned());
        v
    };

    let mut array = common(format!("sweep-{}", sw.name), "task-%a.out");
    array.push(format!("--array=0-{}", a.tasks - 1));
    array.push(format!("--cpus-per-task={}", a.cpus_per_task));
    let task = format!(
        "{} sweep {} --out {} --jobs {}",
        word(&exe)?,
        word(&file)?,
        word(&out)?,
        a.cpus_per_task
    );
    let (array_id, _) = sbatch(&array, &task)?;
    println!(
        "sim sweep slurm: job array {array_id}: {} tasks of {} runs ({} CPU each), shards in {}",
        a.tasks,
        sw.runs,
        a.cpus_per_task,
        out.display()
    );

    let mut merge = common(format!("sweep-{}-merge", sw.name), "merge.out");
    merge.push(format!("--dependency=afterok:{array_id}"));
    merge.push("--kill-on-invalid-dep=yes".into());
    if a.wait {
        merge.push("--wait".into());
    }
    let mut cmd = format!(
        "{} sweep merge {} --out {}",
        word(&exe)?,
        word(&out)?,
        word(&out)?
    );
    if let Some(j) = a.junit {
        let j = std::path::absolute(j).map_err(io(j))?;
        cmd += &format!(" --junit {}", word(&j)?);
    }
    if a.confirm_arm > 0 {
        cmd += &format!(" --confirm-arm {}", a.confirm_arm);
    }
    let (merge_id, status) = sbatch(&merge, &cmd)?;
    println!(
        "sim sweep slurm: merge job {merge_id} after it: the report in {} (squeue -j {array_id},{merge_id})",
        out.display()
    );
    if !a.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let log = logs.join("merge.out");
    print!("{}", std::fs::read_to_string(&log).unwrap_or_default());
    match status.code() {
        Some(0) if report.is_file() => Ok(ExitCode::SUCCESS),
        Some(1) if report.is_file() => Ok(ExitCode::from(1)),
        code => Err(TwinError::Usage(format!(
            "the merge job {merge_id} did not finish ({}): a task of array {array_id} failed or \
             was cancelled; Slurm's output in {}",
            code.map_or("killed".to_string(), |c| format!("sbatch exit {c}")),
            logs.display()
        ))
        .into()),
    }
}

/// The report (deterministic), the worst runs' replay files, histograms and JUnit.
fn finish(
    sw: &Sweep,
    base: &Scenario,
    root: &Path,
    res: Results,
    out: &Path,
    junit: Option<&Path>,
    confirm_arm: usize,
) -> Result<ExitCode> {
    let mut rep = sweep::report(sw, base, &res);
    if confirm_arm > 0 {
        let objects = std::env::temp_dir().join(format!("rt-twin-confirm-{}", std::process::id()));
        eprintln!("sim sweep: flying {confirm_arm} runs again on the emulated cores in lockstep");
        let campaign = sweep::Campaign {
            sweep: sw,
            base,
            root,
            objects: &objects,
        };
        rep.confirmed = campaign.confirm_arm(&res, &rep.worst, confirm_arm, &STOP);
        let _ = std::fs::remove_dir_all(&objects);
    }
    for w in &rep.worst {
        write(
            &out.join(&w.replay),
            &sweep::replay_file(sw, base, root, w.index)?,
        )?;
    }
    write(
        &out.join("report.json"),
        &serde_json::to_string_pretty(&rep).expect("serialises"),
    )?;
    for (k, g) in rep.gates.iter().enumerate() {
        twin_flight::plot::histogram_png(
            &out.join(format!("gate{k}-histogram.png")),
            &g.gate,
            &g.histogram,
        )?;
    }
    if let Some(path) = junit {
        let cases: Vec<(String, Option<String>)> = res
            .results
            .iter()
            .map(|r| {
                let failure = (!r.pass).then(|| {
                    r.stopped.clone().unwrap_or_else(|| {
                        r.gates
                            .iter()
                            .filter(|g| !g.1)
                            .map(|g| format!("{} (worst {:.4})", g.0, g.2))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                });
                (format!("run {}", r.index), failure)
            })
            .collect();
        crate::junit::write(path, &sw.name, &cases)?;
    }
    println!(
        "sweep {}: {} of {} runs pass ({:.1} %, 95 % CI {:.1}-{:.1} %){}",
        rep.sweep,
        rep.passed,
        rep.flown,
        100.0 * rep.pass_rate,
        100.0 * rep.ci95.0,
        100.0 * rep.ci95.1,
        if rep.interrupted { ", interrupted" } else { "" }
    );
    for g in &rep.gates {
        println!(
            "  {:<44} {:>6.1} % (95 % CI {:.1}-{:.1} %), worst value min/median/p95/max {:.4}/{:.4}/{:.4}/{:.4}",
            g.gate,
            100.0 * g.rate,
            100.0 * g.ci95.0,
            100.0 * g.ci95.1,
            g.metric[0],
            g.metric[1],
            g.metric[2],
            g.metric[3]
        );
    }
    for w in rep.worst.iter().take(5) {
        println!(
            "  worst: run {} ({}) margin {:.3}: sim --scenario {}",
            w.index,
            if w.pass { "pass" } else { "FAIL" },
            w.margin,
            out.join(&w.replay).display()
        );
    }
    for c in &rep.confirmed {
        match &c.detail {
            None => println!(
                "  confirmed on ARM in lockstep: run {} ({}) bit for bit",
                c.index, c.why
            ),
            Some(d) => println!(
                "  run {} ({}) on ARM in lockstep PARTED: {d}",
                c.index, c.why
            ),
        }
    }
    println!("  report: {}", out.join("report.json").display());
    Ok(if rep.interrupted {
        interrupted_code()
    } else if rep.passed == rep.flown && rep.confirmed.iter().all(|c| c.matched) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
