//! `sim run --gdb`: GDB (gdb-multiarch in batch mode, installed by scripts/setup.sh) attached
//! to both cores of the ping-pong firmware; every expectation comes from the firmware's source,
//! the ARMv7-M architecture or the same run without GDB.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::common::*;

/// A `sim run ... --gdb 0 --gdb-wait` in the background, killed if the test ends early.
struct Server {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// `sim run ARGS --gdb 0 --gdb-wait`.
    fn start(args: &[&str]) -> Server {
        Server::spawn(args, true)
    }

    fn spawn(args: &[&str], wait: bool) -> Server {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        Server::command(&all, wait)
    }

    /// `sim ARGS --gdb 0 [--gdb-wait]`, in the workspace root.
    fn command(args: &[&str], wait: bool) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
            .current_dir(workspace())
            .args(args)
            .args(["--gdb", "0"])
            .args(if wait { &["--gdb-wait"][..] } else { &[] })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sim");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
            stderr: rx,
        };
        let line = server
            .stderr
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("sim's first line");
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server.addr = addr.to_string();
        server
    }

    /// Wait for the run to end: (exit code, stdout, stderr after the first line).
    fn finish(mut self) -> (Option<i32>, String, String) {
        let mut out = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let code = self.child.wait().unwrap().code();
        let err: Vec<String> = self.stderr.iter().collect();
        (code, out, err.join("\n"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gdb_command(elf: Option<&Path>, addr: &str, commands: &[&str]) -> Command {
    let mut cmd = Command::new("gdb-multiarch");
    cmd.args([
        "-nx",
        "-batch",
        "-ex",
        "set pagination off",
        "-ex",
        "set confirm off",
    ])
    .args(["-ex", &format!("target remote {addr}")]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd.args(elf);
    cmd
}

/// Run GDB in batch mode on `elf` against `addr`; its output (stdout and stderr).
fn gdb(elf: &Path, addr: &str, commands: &[&str]) -> String {
    gdb_on(Some(elf), addr, commands)
}

fn gdb_on(elf: Option<&Path>, addr: &str, commands: &[&str]) -> String {
    let out = gdb_command(elf, addr, commands)
        .output()
        .expect("gdb-multiarch (scripts/setup.sh installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `sim run` of the ping-pong firmware without GDB (exit code, stdout, stderr), GDB's output
/// of `commands` against the same run under `--gdb-wait`, and how that run ended.
type Finished = (Option<i32>, String, String);
fn pingpong_under_gdb(commands: &[&str]) -> (Finished, String, Finished) {
    let (m7, m4) = (fw("m7", "pingpong"), fw("m4", "pingpong"));
    let (m7s, m4s) = (m7.to_str().unwrap(), m4.to_str().unwrap());
    let plain = sim_cli(&["run", "--m7", m7s, "--m4", m4s]);
    assert_eq!(plain.0, Some(0), "{}", plain.2);
    let server = Server::start(&["--m7", m7s, "--m4", m4s]);
    let out = gdb(&m7, &server.addr, commands);
    (plain, out, server.finish())
}

/// The instruction counts of the summary `sim run` prints, per core.
fn instructions(stderr: &str) -> Vec<u64> {
    stderr
        .lines()
        .filter(|l| l.contains("insns"))
        .map(|l| number_after(l, "insns"))
        .collect()
}

/// The number that follows `word` in `text`.
fn number_after(text: &str, word: &str) -> u64 {
    text.split(word)
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {word:?} in {text:?}"))
}

/// The values GDB printed for `print` commands (`$N = VALUE`), in order.
fn printed(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with('$'))
        .filter_map(|l| l.split_once(" = ").map(|(_, v)| v.trim().to_string()))
        .collect()
}

#[test]
fn gdb_debugs_both_cores_of_the_pingpong_firmware_and_the_run_ends_as_without_it() {
    let (plain, out, (code, stdout, stderr)) = pingpong_under_gdb(&[
        "info threads",
        // Virtual time: held at reset until told, then exactly as far as asked.
        "monitor time",
        "monitor continue-for 1ms",
        "continue",
        "monitor time",
        // A breakpoint on the CM7's MU handler, twice: one round between the two stops.
        "break pingpong::pingpong::on_mu",
        "continue",
        "print pingpong::pingpong::ROUND.v.value",
        "continue",
        "print pingpong::pingpong::ROUND.v.value",
        "set language c",
        // In the MU handler (exception 16 + 118) on the main stack.
        "print $xpsr & 0x1ff",
        "print $sp == $msp",
        "print $s0 + $d1",
        "info registers primask basepri faultmask control",
        "monitor irq",
        "monitor mu",
        // Each core's own map: the CM7's VTOR and the CM4's are different registers.
        "print/x *(unsigned int *)0xE000ED08",
        "thread 2",
        "print/x *(unsigned int *)0xE000ED08",
        // The CM4 sleeps in WFI for the CM7's next message: one step ends at the entry of
        // its MU handler, at the vector its VTOR gives.
        "stepi",
        "print $xpsr & 0x1ff",
        "print $pc == (*(unsigned int *)(*(unsigned int *)0xE000ED08 + 4 * 134) & ~1)",
        "stepi",
        "print $pc == (*(unsigned int *)(*(unsigned int *)0xE000ED08 + 4 * 134) & ~1) + 2",
        // The reply count in shared OCRAM is written by the CM4 only.
        "delete",
        "watch *(unsigned int *)0x20240004",
        "continue",
        "delete",
        "continue",
    ]);
    let vals = printed(&out);
    assert_eq!(vals.len(), 10, "{out}");
    assert!(out.contains("(m7 Running at 0 ns)"), "{out}");
    assert!(out.contains("(m4 Held at 0 ns)"), "{out}");
    assert!(out.contains("virtual time 0 ns"), "{out}");
    assert!(out.contains("virtual time 1.000 ms"), "{out}");
    assert!(out.contains("received signal SIGTRAP"), "{out}");
    assert!(
        out.contains("Thread 1 hit Breakpoint 1, pingpong::pingpong::on_mu"),
        "{out}"
    );
    let rounds: Vec<u32> = vals[..2].iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(rounds[1], rounds[0] + 1, "{out}");
    assert_eq!(vals[2], "134", "{out}");
    assert_eq!(vals[3], "1", "handler mode uses the main stack: {out}");
    assert_eq!(vals[4], "0", "{out}");
    for r in ["primask", "basepri", "faultmask", "control"] {
        assert!(out.lines().any(|l| l.starts_with(r)), "{r}: {out}");
    }
    assert!(
        out.contains("IRQ118") && out.contains("enabled"),
        "monitor irq: {out}"
    );
    assert!(
        out.contains("MU side A (m7)") && out.contains("MU side B (m4)"),
        "{out}"
    );
    // The CM7 boots from ITCM at 0; the CM4 from the boot address the CM7 firmware gave SRC
    // (0x2020_0000, m7/src/bin/pingpong.rs), which its VTOR keeps.
    assert_eq!(vals[5], "0x0", "{out}");
    assert_eq!(vals[6], "0x20200000", "{out}");
    assert_eq!(vals[7], "134", "{out}");
    assert_eq!(vals[8], "1", "{out}");
    assert_eq!(vals[9], "1", "{out}");
    let hit = out
        .split("Thread 2 hit Hardware watchpoint")
        .nth(1)
        .unwrap_or_else(|| panic!("the CM4 hit no watchpoint: {out}"));
    assert_eq!(
        number_after(hit, "New value = "),
        number_after(hit, "Old value = ") + 1,
        "{out}"
    );
    assert!(out.contains("exited normally"), "{out}");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, plain.1);
    assert_eq!(instructions(&stderr), instructions(&plain.2), "{stderr}");
    assert_eq!(instructions(&stderr).len(), 2);
}

#[test]
fn ctrl_c_in_gdb_stops_a_running_twin() {
    let spin = fw("m7", "spin");
    let server = Server::start(&["--m7", spin.to_str().unwrap(), "--for", "3600s"]);
    // GDB as a user runs it: `continue`, then Ctrl-C (SIGINT to GDB, which sends the remote
    // interrupt), then a look around, then detach.
    let child = gdb_command(
        Some(&spin),
        &server.addr,
        &[
            "continue",
            "info threads",
            "set language c",
            "x/1dw &SPINS",
            "monitor time",
            "detach",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("gdb-multiarch (scripts/setup.sh installs it)");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("received signal SIGINT"), "{text}");
    let spins: u64 = text
        .lines()
        .find_map(|l| l.split("<SPINS>:").nth(1))
        .unwrap_or_else(|| panic!("{text}"))
        .trim()
        .parse()
        .unwrap();
    assert!(spins > 1000, "{text}");
    assert!(text.contains("virtual time"), "{text}");
    // Detached, the run goes on; the test ends it (the drop kills it).
    drop(server);
}

#[test]
fn gdb_attaches_to_a_running_twin_detaches_and_meets_the_time_limit() {
    let spin = fw("m7", "spin");
    // No --gdb-wait: the run is under way when GDB connects.
    let server = Server::spawn(&["--m7", spin.to_str().unwrap(), "--for", "1s"], false);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let first = gdb(&spin, &server.addr, &["monitor time", "detach"]);
    let at = |out: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.starts_with("virtual time"))
            .unwrap_or_else(|| panic!("{out}"));
        let v: Vec<&str> = line.split_whitespace().collect();
        let x: f64 = v[2].parse().unwrap();
        match v[3] {
            "s" => x,
            "ms" => x / 1e3,
            "us" => x / 1e6,
            _ => x / 1e9,
        }
    };
    let t1 = at(&first);
    assert!(t1 > 0.0 && t1 < 1.0, "{first}");
    // A second GDB: the run went on between the two; `continue` meets the 1 s limit, which
    // GDB is told as SIGXCPU, again on a second `continue`; `kill` ends the run.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let second = gdb(
        &spin,
        &server.addr,
        &[
            "monitor time",
            "continue",
            "monitor time",
            "continue",
            "kill",
        ],
    );
    let (code, _, stderr) = server.finish();
    let t2 = at(&second);
    assert!(t2 > t1, "{first}\n{second}");
    assert_eq!(
        second.matches("received signal SIGXCPU").count(),
        2,
        "{second}"
    );
    assert!(second.contains("virtual time 1.000000 s"), "{second}");
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(stderr.matches("GDB connected").count(), 2, "{stderr}");
    assert!(stderr.contains("GDB detached; the run goes on"), "{stderr}");
}

#[test]
fn gdb_stops_a_hosted_scenario_inside_the_estimator_call_at_its_tick() {
    build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = sim_cli(&[
        "--scenario",
        "scenarios/stabilization.ron",
        "--out",
        plain_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(plain.0, Some(0), "{}\n{}", plain.1, plain.2);

    let dir = tempfile::tempdir().unwrap();
    let server = Server::command(
        &[
            "--scenario",
            "scenarios/stabilization.ron",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        true,
    );
    // The command that loads the symbols of the estimator's object where the twin linked it.
    let symbols = loop {
        let line = server
            .stderr
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the symbol-file lines");
        if line.contains("add-symbol-file") && line.contains(" on m4") {
            break line
                .split("sim:")
                .nth(1)
                .unwrap()
                .split('#')
                .next()
                .unwrap()
                .trim()
                .to_string();
        }
    };
    let estimate = "*'rt-twin:stack/aided-ekf@0.1.0#estimate'";
    let out = gdb_on(
        None,
        &server.addr,
        &[
            &symbols,
            &format!("break {estimate}"),
            "continue",
            "monitor time",
            "continue",
            "monitor time",
            "continue",
            "monitor time",
            "info threads",
            &format!("print $pc == {}", &estimate[1..]),
            "stepi",
            "monitor time",
            "delete",
            "continue",
        ],
    );
    let (code, stdout, stderr) = server.finish();
    // The estimator runs once per tick on the CM4: three stops, at ticks 0, 1 and 2, inside its
    // call, at its first instruction.
    assert_eq!(out.matches("Thread 2 hit Breakpoint 1").count(), 3, "{out}");
    for k in 0..3 {
        let t = format!(
            "tick {k} (t = {:.3} s), in the call of rt-twin:stack/aided-ekf@0.1.0#estimate",
            0.002 * k as f64
        );
        assert!(out.contains(&t), "{t}: {out}");
    }
    assert_eq!(printed(&out), ["1"], "{out}");
    assert!(out.contains("(m4 hosted at 0 ns)"), "{out}");
    // One step: one more instruction on the CM4.
    let m4 = |text: &str| -> Vec<u64> {
        text.lines()
            .filter(|l| l.trim_start().starts_with("m4 "))
            .map(|l| number_after(l, "instructions"))
            .collect()
    };
    let counts = m4(&out);
    assert_eq!(counts.len(), 4, "{out}");
    assert_eq!(counts[3], counts[2] + 1, "{out}");
    // The scenario ends as GDB's inferior does (its gates passed: code 0), and flew exactly as
    // without GDB.
    assert!(out.contains("exited normally"), "{out}");
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("scenario stabilization: PASS"), "{stdout}");
    let trace = |d: &Path| std::fs::read(d.join("trace.csv")).unwrap();
    assert!(
        trace(dir.path()) == trace(plain_dir.path()),
        "the traces differ"
    );
}

#[test]
fn monitor_reset_powers_on_again_and_the_run_ends_as_without_gdb() {
    let (plain, out, (code, stdout, stderr)) = pingpong_under_gdb(&[
        "break pingpong::pingpong::on_mu",
        "continue",
        "continue",
        "print pingpong::pingpong::ROUND.v.value",
        "monitor reset",
        "maintenance flush register-cache",
        "info symbol $pc",
        "info threads",
        "monitor time",
        "continue",
        "print pingpong::pingpong::ROUND.v.value",
        "delete",
        "continue",
    ]);
    // One round before the reset; none after it, at the first stop of the new power-on, which
    // starts at the reset handler with the CM4 held again and virtual time at 0.
    assert_eq!(printed(&out), ["1", "0"], "{out}");
    assert!(out.contains("Reset in section .text"), "{out}");
    assert!(out.contains("(m4 Held at 0 ns)"), "{out}");
    assert!(out.contains("virtual time 0 ns"), "{out}");
    assert!(out.contains("exited normally"), "{out}");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, plain.1);
    assert_eq!(instructions(&stderr), instructions(&plain.2), "{stderr}");
}

#[test]
fn faults_and_a_lockup_stop_gdb_with_their_signals() {
    let lockup = fw("m7", "lockup");
    let server = Server::start(&["--m7", lockup.to_str().unwrap()]);
    let out = gdb(
        &lockup,
        &server.addr,
        &[
            "continue",
            "info symbol $pc",
            "monitor irq",
            "continue",
            "continue",
            "detach",
        ],
    );
    let (code, _, stderr) = server.finish();
    // The read of 0x5000_0000 in main is a bus fault, escalated to HardFault (BusFault is not
    // enabled): GDB stops at the handler with SIGSEGV; the fault inside the handler locks the
    // core up (ARMv7-M B1.5.15): SIGABRT, again at the next continue; detached, `sim run` ends
    // with its lockup code.
    assert!(out.contains("received signal SIGSEGV"), "{out}");
    assert!(out.contains("HardFault"), "{out}");
    assert!(out.contains("HFSR 0x40000000"), "FORCED: {out}");
    assert_eq!(out.matches("received signal SIGABRT").count(), 2, "{out}");
    assert_eq!(code, Some(125), "{stderr}");
    assert!(stderr.contains("LOCKUP on m7"), "{stderr}");
}

#[test]
fn gdb_refuses_a_scenario_whose_flight_code_is_off_the_emulated_cores() {
    build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
    let (code, _, err) = sim_cli(&[
        "--scenario",
        "scenarios/stabilization.ron",
        "--backend",
        "wasmtime",
        "--gdb",
        "0",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--gdb: the flight code runs on wasmtime and wasmtime here"),
        "{err}"
    );
}
