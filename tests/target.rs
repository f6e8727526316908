//! Target mode end to end on the twin (docs/target.md): the HIL firmware built from the
//! reference flight module, flown through the same RTT host code a board uses, compared with
//! the hosted run; and the probe path failing cleanly where no probe is attached.

use crate::common::*;
use twin_flight::trace::read_trace;

#[test]
fn stabilization_in_emulated_target_mode_passes_and_matches_the_hosted_run() {
    flight_stack();
    let image = hil_image();
    let dir = tempfile::tempdir().unwrap();
    let (hosted, emulated, cmp) = (
        dir.path().join("hosted"),
        dir.path().join("emulated"),
        dir.path().join("cmp"),
    );
    let scenario = "scenarios/stabilization.ron";
    let (code, out, err) = sim_cli(&["--scenario", scenario, "--out", hosted.to_str().unwrap()]);
    assert_eq!(code, Some(0), "hosted run:\n{out}\n{err}");
    let (code, out, err) = sim_cli(&[
        "--scenario",
        scenario,
        "--target",
        "emulated",
        "--hil-image",
        image.to_str().unwrap(),
        "--out",
        emulated.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "emulated target run:\n{out}\n{err}");
    assert!(
        out.contains("PASS") && out.contains("HIL firmware"),
        "{out}"
    );

    // The same flight code on the same sensor frames: every flight signal bit for bit.
    let a = read_trace(&hosted).unwrap();
    let b = read_trace(&emulated).unwrap();
    assert_eq!((a.len(), b.len()), (6000, 6000));
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(
            x.motors.map(f32::to_bits),
            y.motors.map(f32::to_bits),
            "motors, tick {k}"
        );
        assert_eq!(
            x.nav.map(f32::to_bits),
            y.nav.map(f32::to_bits),
            "vehicle-state, tick {k}"
        );
        assert_eq!(
            (x.att_sp.map(f32::to_bits), x.rate_sp.map(f32::to_bits)),
            (y.att_sp.map(f32::to_bits), y.rate_sp.map(f32::to_bits)),
            "setpoints, tick {k}"
        );
        assert!(x.rate_sp.iter().all(|r| r.is_finite()), "tick {k}");
        assert_eq!(
            x.attitude.map(f64::to_bits),
            y.attitude.map(f64::to_bits),
            "tick {k}"
        );
        // The firmware's cycle counts include its embedder-ABI calls (setting R9-R11 around
        // each export) that the hosted runtime makes from outside: a few tens of cycles more
        // per call: two on the CM4 (cabi_realloc, aided-ekf#estimate), seven on the CM7
        // (cabi_realloc and the export for position, attitude and rate; mixer#mix).
        let (d4, d7) = (
            y.m4_cycles as i64 - x.m4_cycles as i64,
            y.m7_cycles as i64 - x.m7_cycles as i64,
        );
        assert!(
            (2..2 * 64).contains(&d4) && (7..7 * 64).contains(&d7),
            "tick {k}: {d4} {d7}"
        );
        assert!(
            y.mu_latency_ns > 0,
            "tick {k}: the MU latency is measured on the target"
        );
    }

    // sim compare: within the default (zero) tolerance on flight signals; report and plots.
    let (code, out, err) = sim_cli(&[
        "compare",
        hosted.to_str().unwrap(),
        emulated.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "compare:\n{out}\n{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cmp.join("compare.json")).unwrap()).unwrap();
    assert_eq!(report["aligned"], 6000, "{report}");
    assert_eq!(report["pass"], true, "{report}");
    for line in report["signals"].as_array().unwrap() {
        if line["signal"].as_str().unwrap().starts_with('m') && line["unit"] == "" {
            assert_eq!(line["max_abs"], 0.0, "motor commands identical: {line}");
        }
    }
    let png = std::fs::read(cmp.join("compare.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn the_probe_path_fails_cleanly_without_a_probe() {
    flight_stack();
    let image = hil_image();
    let scenario = "scenarios/stabilization.ron";
    let img = image.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("board");
    let (code, out, err) = sim_cli(&[
        "--scenario",
        scenario,
        "--target",
        "probe",
        "--hil-image",
        img,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains("no debug probe found") && err.contains("--target emulated"),
        "{err}"
    );
    let (code, _, err) = sim_cli(&[
        "--scenario",
        scenario,
        "--target",
        "probe",
        "--probe",
        "not-a-selector",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--probe") && err.contains("VID:PID"), "{err}");
    let (code, _, err) = sim_cli(&["--scenario", scenario, "--flash"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("need --target"), "{err}");
}

#[test]
fn firmware_that_is_not_the_hil_firmware_gets_a_clear_error() {
    flight_stack();
    // Test firmware that prints and exits through semihosting: no RTT, no Hello.
    let hello = fw("m7", "hello");
    let (code, out, err) = sim_cli(&[
        "--scenario",
        "scenarios/stabilization.ron",
        "--target",
        "emulated",
        "--hil-image",
        hello.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(err.contains("hello") && err.contains("exited"), "{err}");
}
