//! The real window under Xvfb (glow on Mesa's software renderer): run the stabilization
//! scenario to its end, take the `--screenshot`, and check the picture. `scripts/setup.sh`
//! installs xvfb.

use std::process::Command;

#[path = "../../tests/common/build.rs"]
mod build;
use build::{flight_stack, workspace};

/// Pixels of `png` within `tol` of `rgb` per channel.
fn count_near(rgba: &[u8], rgb: [u8; 3], tol: u8) -> usize {
    rgba.chunks_exact(4)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= tol))
        .count()
}

#[test]
fn the_window_renders_a_whole_run_under_xvfb() {
    let out = tempfile::tempdir().unwrap();
    let shot = out.path().join("twin-ui.png");
    flight_stack();
    let ws = workspace();
    let run = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1700x1100x24"])
        .arg(env!("CARGO_BIN_EXE_twin-ui"))
        .arg("--root")
        .arg(&ws)
        .arg("--scenario")
        .arg(ws.join("scenarios/stabilization.ron"))
        .args(["--speed", "max", "--frames", "3", "--after-finish"])
        .arg("--screenshot")
        .arg(&shot)
        .output()
        .expect("xvfb-run (Debian package xvfb; scripts/setup.sh installs it)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("screenshot saved to"), "{stdout}");

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1600, 1000), "the window size");
    let rgba = &buf[..info.buffer_size()];
    // The gates passed (their PASS labels in the app's green), the roll line and the CM7 /
    // pitch lines are drawn in quantity, and the picture is not a blank window.
    assert!(
        count_near(rgba, [44, 160, 44], 6) > 200,
        "green PASS labels and yaw lines"
    );
    assert!(count_near(rgba, [214, 39, 40], 6) > 500, "roll lines");
    assert!(count_near(rgba, [31, 119, 180], 6) > 500, "pitch lines");
    let mut colours: Vec<u32> = rgba
        .chunks_exact(4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]))
        .collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "{} colours", colours.len());
}

#[test]
fn bad_arguments_exit_2_naming_the_file_before_any_window() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.ron");
    std::fs::write(&bad, "Scenario(name: 3)").unwrap();
    for (args, expect) in [
        (
            vec!["--scenario".to_string(), bad.display().to_string()],
            "broken.ron:1:",
        ),
        (
            vec!["--scenario".into(), "/nonexistent/x.ron".into()],
            "/nonexistent/x.ron",
        ),
        (vec!["--speed".into(), "fast".into()], "--speed fast"),
        (
            vec!["--overlay".into(), bad.display().to_string()],
            "not an rt-twin trace",
        ),
        (vec!["--backend".into(), "gpu".into()], "--backend gpu"),
        (
            vec![
                "--target".into(),
                "emulated".into(),
                "--hil-image".into(),
                "/nonexistent/hil-m7.elf".into(),
            ],
            "/nonexistent/hil-m7.elf not found",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_twin-ui"))
            .args(&args)
            .env_remove("DISPLAY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}
