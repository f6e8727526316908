//! `sim sweep slurm` on a real Slurm: a one-node cluster on localhost (munged, slurmctld and
//! slurmd from `scripts/slurm-local.sh`, every file in a temporary directory), a 4-task job
//! array and the merge job after it, whose report must equal a single-process run's byte for
//! byte. The daemons are stopped at the end, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The cluster of one test: stopped (and its daemons checked gone) on drop.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let out = Command::new("bash")
            .arg(workspace().join("scripts/slurm-local.sh"))
            .arg("start")
            .arg(dir)
            .output()
            .expect("running bash");
        let cluster = Cluster {
            dir: dir.to_path_buf(),
        };
        assert!(
            out.status.success(),
            "the local Slurm cluster did not start (root and Debian's slurm-wlm + munge are \
             needed; scripts/setup.sh installs them):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    fn pids(&self) -> Vec<u32> {
        ["slurmctld.pid", "slurmd.pid", "munge/munged.pid"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.dir.join(f)).ok())
            .filter_map(|t| t.trim().parse().ok())
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pids = self.pids();
        let _ = Command::new("bash")
            .arg(workspace().join("scripts/slurm-local.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
        // munged removes its pid file as it exits: give it a moment.
        for _ in 0..50 {
            if pids
                .iter()
                .all(|p| !Path::new(&format!("/proc/{p}")).exists())
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if !std::thread::panicking() {
            panic!("Slurm daemons still running after stop: {pids:?}");
        }
    }
}

const SWEEP: &str = r#"Sweep(
    name: "stab-slurm",
    scenario: "scenarios/stabilization.ron",
    runs: 10,
    seed: 11,
    backend: Native,
    vary: [
        (what: Seed, values: PerRun),
        (what: WindSpeed, values: List([0.0, 2.0, 4.0])),
        (what: InitialRoll, values: Uniform(low: -0.6, high: 0.6)),
    ],
    worst: 3,
)"#;

#[test]
fn a_slurm_job_array_and_its_merge_give_the_single_process_report() {
    flight_stack();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stab-slurm.ron");
    std::fs::write(&file, SWEEP).unwrap();

    let one = dir.path().join("one");
    let (single, out, err) = sim_cli(&[
        "sweep",
        file.to_str().unwrap(),
        "--out",
        one.to_str().unwrap(),
    ]);
    assert!(matches!(single, Some(0 | 1)), "{out}\n{err}");

    let cluster = Cluster::start(&dir.path().join("cluster"));
    let pids = cluster.pids();
    assert_eq!(pids.len(), 3, "three daemons: {pids:?}");
    let array = dir.path().join("array");
    let o = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["sweep", "slurm", file.to_str().unwrap(), "--out"])
        .arg(&array)
        .args(["--tasks", "4", "--wait"])
        .env("SLURM_CONF", cluster.conf())
        .current_dir(workspace())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), single, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("job array") && stdout.contains("4 tasks of 10 runs"),
        "{stdout}"
    );

    // Four tasks, each its own slice from SLURM_ARRAY_TASK_ID/COUNT: 10 runs in 2, 3, 2, 3.
    for (i, (a, b)) in [(0, 2), (2, 5), (5, 7), (7, 10)].iter().enumerate() {
        let log = std::fs::read_to_string(array.join(format!("slurm/task-{i}.out"))).unwrap();
        assert!(
            log.contains(&format!("shard {i}/4 (runs {a}..{b})")),
            "task {i}: {log}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(array.join("report.json")).unwrap(),
        std::fs::read_to_string(one.join("report.json")).unwrap(),
        "the merged report is the single process's, byte for byte"
    );
    assert!(
        stdout.contains("sweep stab-slurm: "),
        "the merge's summary: {stdout}"
    );

    // A task that fails: the merge never runs, and the helper says so (exit 2).
    let broken = dir.path().join("broken-sim");
    std::fs::write(&broken, "#!/bin/sh\nexit 3\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&broken)
        .status()
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["sweep", "slurm", file.to_str().unwrap(), "--out"])
        .arg(dir.path().join("broken"))
        .args(["--tasks", "2", "--wait", "--sim"])
        .arg(&broken)
        .env("SLURM_CONF", cluster.conf())
        .current_dir(workspace())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did not finish"), "{stderr}");

    drop(cluster);
    for p in pids {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists(),
            "daemon {p} still running"
        );
    }
}
