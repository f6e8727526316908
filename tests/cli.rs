//! The `sim run` command line: exit codes, output streams and errors for bad input.

use std::process::{Command, Output};

use crate::common::*;

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("running sim")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn pingpong_demo_prints_and_exits_with_the_firmware_code() {
    let (m7, m4) = (fw("m7", "pingpong"), fw("m4", "pingpong"));
    let out = sim(&[
        "run",
        "--m7",
        m7.to_str().unwrap(),
        "--m4",
        m4.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "pingpong rounds=1000 checksum={:#010x} m4_replies=1000 m4_boots=1\n",
            pingpong_checksum(1000)
        )
    );
    let err = text(&out.stderr);
    assert!(err.contains("m7 exited with code 0"), "{err}");
    assert!(err.contains("m4"), "{err}");
}

#[test]
fn exit_code_is_the_firmwares() {
    let fw = fw("m7", "exit_code");
    let out = sim(&["run", "--m7", fw.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(42), "{}", text(&out.stderr));
}

#[test]
fn json_summary() {
    let m7 = fw("m7", "gpt");
    let out = sim(&["run", "--m7", m7.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(text(&out.stderr).trim()).unwrap();
    assert_eq!(v["stop"]["kind"], "exit");
    assert_eq!(v["cores"][0]["core"], "m7");
    assert_eq!(v["cores"][0]["irqs_taken"], 1001);
}

#[test]
fn timeout_lockup_and_twin_error_have_distinct_codes() {
    let idle = fw("m7", "idle");
    let out = sim(&["run", "--m7", idle.to_str().unwrap(), "--for", "10ms"]);
    assert_eq!(out.status.code(), Some(124));
    assert!(text(&out.stderr).contains("time limit reached after 10.000 ms"));

    let lockup = fw("m7", "lockup");
    let out = sim(&["run", "--m7", lockup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("LOCKUP on m7"));

    let bad = fw("m7", "unmodelled");
    let out = sim(&["run", "--m7", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    let err = text(&out.stderr);
    assert!(err.contains("twin error on m7"), "{err}");
    assert!(err.contains("0x40070000 in eDMA0"), "{err}");
    assert!(err.contains("pc=0x"), "{err}");
    assert!(err.contains("unmodelled::"), "names the function: {err}");
}

#[test]
fn bad_images_are_named_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.elf");
    std::fs::write(&junk, b"not an elf at all").unwrap();
    let out = sim(&["run", "--m7", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("junk.elf") && err.contains("not an ELF"),
        "{err}"
    );

    // A truncated image: the header survives, the segment data does not.
    let hello = std::fs::read(fw("m7", "hello")).unwrap();
    let cut = dir.path().join("cut.elf");
    std::fs::write(&cut, &hello[..hello.len() / 8]).unwrap();
    let out = sim(&["run", "--m7", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("cut.elf"), "{err}");

    // A host executable: wrong class/machine.
    let out = sim(&["run", "--m7", env!("CARGO_BIN_EXE_sim")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("64-bit"));

    // The CM4 image does not fit the CM7's memory map.
    let m4 = fw("m4", "pingpong");
    let out = sim(&["run", "--m7", m4.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("lies outside the memory of core m7") && err.contains("0x1ffe0000"),
        "{err}"
    );

    let out = sim(&["run", "--m7", "/nonexistent/fw.elf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/fw.elf"));

    let out = sim(&["run"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_board_file_is_reported_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let board = dir.path().join("board.ron");
    std::fs::write(&board, "Board(name: \"x\",\n rams: [Ram(id: 3)],").unwrap();
    let hello = fw("m7", "hello");
    let out = sim(&[
        "run",
        "--board",
        board.to_str().unwrap(),
        "--m7",
        hello.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("board.ron:2:"), "{err}");
}

#[test]
fn cm4_image_alone_runs_without_a_release() {
    let m4 = fw("m4", "pingpong");
    let out = sim(&[
        "run",
        "--m4",
        m4.to_str().unwrap(),
        "--for",
        "5ms",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(124),
        "it waits for MU messages forever"
    );
    let v: serde_json::Value = serde_json::from_str(text(&out.stderr).trim()).unwrap();
    assert_eq!(v["cores"][1]["core"], "m4");
    assert_eq!(v["cores"][1]["state"], "sleeping");
    assert!(v["cores"][1]["instructions"].as_u64().unwrap() > 0);
    assert_eq!(v["cores"][0]["state"], "off");
}

#[test]
fn wasm_run_runs_wasi_commands_and_reports_bad_modules() {
    let f = |name: &str| format!("targets/corpus/wasi/{name}.wat");
    let (code, out, err) = sim_cli(&["wasm", "run", &f("hello"), "x", "--y"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    // READY after instantiation, before the entry point's output; argv = name + 2 arguments.
    assert_eq!(out, "READY\nhello from _start, argc=3\n");
    assert_eq!(err, "to stderr\n");
    let (code, out, _) = sim_cli(&["wasm", "run", &f("exit3")]);
    assert_eq!((code, out.as_str()), (Some(3), "READY\n"));
    let (code, out, err) = sim_cli(&["wasm", "run", &f("trap")]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "READY\n");
    assert!(
        err.contains("trap.wat: trapped in _start") && err.contains("integer divide by zero"),
        "{err}"
    );
    let (code, out, err) = sim_cli(&["wasm", "run", &f("no-start")]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty(), "no READY without a _start: {out}");
    assert!(
        err.contains("no-start.wat: no `_start` export") && err.contains("add"),
        "{err}"
    );
    let (code, out, err) = sim_cli(&["wasm", "run", &f("missing-import")]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(err.contains("env::launch_missiles"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0\x05garbage").unwrap();
    let (code, _, err) = sim_cli(&["wasm", "run", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("bad.wasm: not a loadable wasm module"),
        "{err}"
    );
}

/// A bare-metal image printing through LPUART1 shows its text in `sim run` (each line behind
/// the UART's name, control bytes escaped), `--uart NAME=FILE` keeps the raw bytes, and a UART
/// the board does not have is refused.
#[test]
fn sim_run_shows_and_records_what_the_uarts_send() {
    let image = fw("m7", "uart");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("console.log");
    let out = sim(&[
        "run",
        "--m7",
        image.to_str().unwrap(),
        "--uart",
        &format!("LPUART1={}", log.display()),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[LPUART1] rt-twin: LPUART1 at 115200 baud\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[LPUART1] \\x01\\x02\\x03\\x04\\x05\\x10 0"),
        "{stdout}"
    );
    let raw = std::fs::read(&log).unwrap();
    assert!(
        raw.starts_with(b"rt-twin: LPUART1 at 115200 baud\n\x01\x02"),
        "{raw:?}"
    );
    let out = sim(&[
        "run",
        "--m7",
        image.to_str().unwrap(),
        "--uart",
        "LPUART2=x.log",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no UART \"LPUART2\""),
        "{}",
        text(&out.stderr)
    );
}

/// `--uart LPUART1=pty`: the UART on a pseudo-terminal both ways. A terminal (this test) opens
/// the printed slave, types a line and reads the echo firmware's answer (each byte upper-cased
/// by the firmware, at 115 200 baud); the run is paced to real time and ends at `--for` (124),
/// and the UART's output is also echoed on stdout as usual.
#[test]
fn a_uart_on_a_pseudo_terminal_carries_bytes_both_ways() {
    use std::io::{BufRead, Read, Write};
    let image = fw("m7", "uart_echo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--m7", image.to_str().unwrap(), "--for", "3s"])
        .args(["--uart", "LPUART1=pty"])
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let path = line
        .trim()
        .strip_prefix("sim: LPUART1 is on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    assert!(path.starts_with("/dev/pts/"), "{path}");
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    tty.write_all(b"hello twin\n").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut reader = tty.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut b = [0u8; 64];
        while got.len() < 11 {
            match reader.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = tx.send(got);
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the echo within 20 s");
    assert_eq!(got, b"HELLO TWIN\n");
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert_eq!(out.status.code(), Some(124), "{rest}");
    assert!(
        text(&out.stdout).contains("[LPUART1] HELLO TWIN"),
        "{}",
        text(&out.stdout)
    );
}
