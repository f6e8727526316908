//! `sim sweep`: a campaign on worker threads, the same campaign as shards merged (the report
//! byte for byte), a worst run replayed bit for bit, and bad sweep files.

use crate::common::*;

/// A small campaign over stabilization on the native backend: six runs, a 2 x 3 grid of wind
/// speed and IMU noise, a drawn initial roll and the seed per run.
const SWEEP: &str = r#"Sweep(
    name: "stab-grid",
    scenario: "scenarios/stabilization.ron",
    runs: 6,
    seed: 5,
    backend: Native,
    vary: [
        (what: Seed, values: PerRun),
        (what: WindSpeed, values: List([0.0, 3.0])),
        (what: ImuNoiseScale, values: Range(from: 1.0, to: 3.0, steps: 3)),
        (what: InitialRoll, values: Uniform(low: -0.5, high: 0.5)),
    ],
    gates: [0, 1],
    worst: 2,
)"#;

fn sweep_file(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    // In a `sweeps/`-like directory of its own: its paths resolve against the working
    // directory (the workspace, where sim_cli runs).
    let f = dir.join("stab-grid.ron");
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn a_campaign_and_its_shards_merged_give_the_same_report_and_the_worst_run_replays() {
    flight_stack();
    let dir = tempfile::tempdir().unwrap();
    let file = sweep_file(dir.path(), SWEEP);
    let one = dir.path().join("one");
    let (code, out, err) = sim_cli(&[
        "sweep",
        file.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
        "--jobs",
        "2",
        "--junit",
        dir.path().join("junit.xml").to_str().unwrap(),
    ]);
    assert!(matches!(code, Some(0 | 1)), "{out}\n{err}");
    assert!(
        out.contains("sweep stab-grid: ") && out.contains("of 6 runs pass"),
        "{out}"
    );
    assert!(err.contains("runs/s"), "{err}");
    let report = std::fs::read_to_string(one.join("report.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&report).unwrap();

    assert_eq!(
        (r["runs"].as_u64(), r["flown"].as_u64()),
        (Some(6), Some(6))
    );
    // The grid: wind speed fastest, then the IMU noise scale.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(one.join("results.json")).unwrap()).unwrap();
    let value = |run: usize, k: usize| results["results"][run]["values"][k][1].as_f64().unwrap();
    let grid: Vec<(f64, f64)> = (0..6).map(|i| (value(i, 1), value(i, 2))).collect();
    assert_eq!(
        grid,
        [
            (0.0, 1.0),
            (3.0, 1.0),
            (0.0, 2.0),
            (3.0, 2.0),
            (0.0, 3.0),
            (3.0, 3.0)
        ]
    );
    assert_eq!(value(4, 0), 9.0, "seed per run: the sweep's 5 + 4");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("tests=\"6\""), "{junit}");
    for k in 0..2 {
        let png = std::fs::read(one.join(format!("gate{k}-histogram.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    // The same campaign as three shards (one of them from a Slurm-like environment), merged.
    let shards = dir.path().join("shards");
    for i in 0..3 {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sim"));
        cmd.args([
            "sweep",
            file.to_str().unwrap(),
            "--out",
            shards.to_str().unwrap(),
        ])
        .current_dir(workspace());
        if i == 2 {
            cmd.env("SLURM_ARRAY_TASK_ID", "2")
                .env("SLURM_ARRAY_TASK_COUNT", "3");
        } else {
            cmd.args(["--shard", &format!("{i}/3")]);
        }
        let o = cmd.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let merged = dir.path().join("merged");
    let (code, out, err) = sim_cli(&[
        "sweep",
        "merge",
        shards.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(matches!(code, Some(0 | 1)), "{out}\n{err}");
    let merged_report = std::fs::read_to_string(merged.join("report.json")).unwrap();
    // Byte for byte the same (the replay files are named relative to the report).
    assert_eq!(merged_report, report);

    // Merged again, with the worst run and a sample flown again on the emulated cores in
    // lockstep with wasmtime: the same gates' values, bit for bit, as the native campaign's.
    let confirmed_dir = dir.path().join("confirmed");
    let (code, out, err) = sim_cli(&[
        "sweep",
        "merge",
        shards.to_str().unwrap(),
        "--out",
        confirmed_dir.to_str().unwrap(),
        "--confirm-arm",
        "2",
    ]);
    assert!(matches!(code, Some(0 | 1)), "{out}\n{err}");
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(confirmed_dir.join("report.json")).unwrap())
            .unwrap();
    let confirmed = c["confirmed"].as_array().unwrap();
    assert_eq!(confirmed.len(), 2, "{c}");
    assert_eq!(confirmed[0]["why"], "worst");
    assert_eq!(confirmed[0]["index"], r["worst"][0]["index"]);
    assert!(confirmed.iter().all(|x| x["matched"] == true), "{c}");
    assert!(out.contains("confirmed on ARM in lockstep: run"), "{out}");

    // A shard of another sweep file is refused, and so are overlapping shards.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let text = SWEEP.replace("seed: 5", "seed: 6");
    let file2 = dir.path().join("other.ron");
    std::fs::write(&file2, text).unwrap();
    let (code, _, err) = sim_cli(&[
        "sweep",
        file2.to_str().unwrap(),
        "--out",
        other.to_str().unwrap(),
        "--shard",
        "0/3",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = sim_cli(&[
        "sweep",
        "merge",
        shards.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not belong"), "{err}");
    let (code, _, err) = sim_cli(&[
        "sweep",
        "merge",
        shards.to_str().unwrap(),
        shards.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("shards overlap"), "{err}");

    // The worst run, replayed from its file: the same worst values.
    let worst = &r["worst"][0];
    let index = worst["index"].as_u64().unwrap() as usize;
    let replay = one.join(worst["replay"].as_str().unwrap());
    let replay = replay.to_str().unwrap();
    let (_, out, err) = sim_cli(&[
        "--scenario",
        replay,
        "--out",
        dir.path().join("replay").to_str().unwrap(),
    ]);
    let rep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("replay/report.json")).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    for k in 0..2 {
        assert_eq!(
            rep["gates"][k]["worst"].as_f64(),
            results["results"][index]["gates"][k][2].as_f64(),
            "gate {k} of run {index}"
        );
    }
}

#[test]
fn bad_sweep_files_are_named_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    for (text, expect) in [
        (
            SWEEP.replace("runs: 6", "runs: 0"),
            "stab-grid.ron:4:11: runs: must be at least 1",
        ),
        (
            SWEEP.replace("List([0.0, 3.0])", "List([0.0, inf])"),
            "stab-grid.ron:9:46: `inf` is not a finite number",
        ),
        (
            SWEEP.replace(
                "(what: Seed, values: PerRun)",
                "(what: GustTime, values: List([1.0]))",
            ),
            "stab-grid.ron:8:16: vary[0].what: GustTime: scenario stabilization has no gust",
        ),
        (
            SWEEP.replace("gates: [0, 1]", "gates: [7]"),
            "stab-grid.ron:13:13: gates[0]: gate 7",
        ),
        (
            SWEEP.replace("steps: 3)", "steps: 0)"),
            "stab-grid.ron:10:72: vary[2].values.steps: ImuNoiseScale: a range needs steps >= 1",
        ),
        (
            SWEEP.replace(
                "Uniform(low: -0.5, high: 0.5)",
                "Normal(mean: 0.0, sigma: -1.0)",
            ),
            "stab-grid.ron:11:62: vary[3].values.sigma: must be a number >= 0",
        ),
        (SWEEP.replace("runs: 6", "runs: six"), "stab-grid.ron:4:"),
    ] {
        let file = sweep_file(dir.path(), &text);
        let (code, out, err) = sim_cli(&["sweep", file.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{expect}: {out}\n{err}");
        assert!(err.contains(expect), "{expect}: {err}");
    }
    let file = sweep_file(dir.path(), SWEEP);
    let (code, _, err) = sim_cli(&["sweep", file.to_str().unwrap(), "--shard", "3/3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("shard 3/3: need 0 <= I < N"), "{err}");
}

/// Ctrl-C on a running campaign: the runs in flight finish, the finished ones are kept in a
/// report marked interrupted, exit 130; the kept runs are the same runs a campaign that stops
/// there of its own accord flies.
#[test]
fn an_interrupted_campaign_keeps_its_finished_runs() {
    flight_stack();
    let dir = tempfile::tempdir().unwrap();
    // Seeded draws only (no grid): run i does not depend on the number of runs.
    let text = SWEEP
        .replace("runs: 6", "runs: 400")
        .replace(
            "(what: WindSpeed, values: List([0.0, 3.0]))",
            "(what: WindSpeed, values: Uniform(low: 0.0, high: 4.0))",
        )
        .replace(
            "(what: ImuNoiseScale, values: Range(from: 1.0, to: 3.0, steps: 3))",
            "(what: ImuNoiseScale, values: Normal(mean: 2.0, sigma: 0.3))",
        );
    let file = sweep_file(dir.path(), &text);
    let out = dir.path().join("cut");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["sweep", file.to_str().unwrap(), "--jobs", "2", "--out"])
        .arg(&out)
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for some runs to finish (a run is ~0.2 s), far short of all 400.
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("SIGINT: stopping, keeping the finished runs"),
        "{stderr}"
    );
    assert!(stdout.contains(", interrupted"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    let flown = report["flown"].as_u64().unwrap();
    assert!((1..400).contains(&flown), "flown {flown}");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let kept = kept["results"].as_array().unwrap();
    assert_eq!(kept.len() as u64, flown);

    // The same sweep cut at the last kept run's index, flown to its end: every kept run is
    // there with the same gate values, bit for bit.
    let last = kept
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .max()
        .unwrap();
    let short = sweep_file(
        dir.path(),
        &text.replace("runs: 400", &format!("runs: {}", last + 1)),
    );
    let full = dir.path().join("full");
    let (code, o, e) = sim_cli(&[
        "sweep",
        short.to_str().unwrap(),
        "--jobs",
        "2",
        "--out",
        full.to_str().unwrap(),
    ]);
    assert!(matches!(code, Some(0 | 1)), "{o}\n{e}");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("results.json")).unwrap()).unwrap();
    for r in kept {
        let i = r["index"].as_u64().unwrap() as usize;
        assert_eq!(all["results"][i]["index"], r["index"]);
        assert_eq!(all["results"][i]["gates"], r["gates"], "run {i}");
        assert_eq!(all["results"][i]["values"], r["values"], "run {i}");
    }
}
