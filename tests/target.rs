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
        // each export) that the hosted runtime makes from outside: up to a hundred cycles more
        // per call (the glue's loads, stores and branches at the CPU tables' prices): two on
        // the CM4 (cabi_realloc, aided-ekf#estimate), seven on the CM7 (cabi_realloc and the
        // export for position, attitude and rate; mixer#mix).
        let (d4, d7) = (
            y.m4_cycles as i64 - x.m4_cycles as i64,
            y.m7_cycles as i64 - x.m7_cycles as i64,
        );
        assert!(
            (2..2 * 128).contains(&d4) && (7..7 * 128).contains(&d7),
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

/// Per-tick bus time from the reference's arithmetic (rt1176.md 3.6-3.8, 5.5 and the drivers'
/// settings in targets/hil/m7/src/drivers.rs), for `ticks` control ticks with the default
/// sensors (barometer and magnetometer every 10 ticks, a GNSS fix every 50 from tick 50):
/// LPSPI2 18 bytes at 12 MHz; LPI2C3 at 400 kHz (2.5 us a period), a one-register status read
/// of each part every tick (START, address, register, repeated START, address, byte, STOP: 39
/// periods), then the BMP388's 6 data bytes (84 periods) and the BMM150's 8 (102 periods) when
/// they have a new measurement; LPUART6 at 1.5 Mbit/s, 10-bit frames, 12 bytes of DIRECT_PWM
/// out and a 4-byte answer in; LPUART3 a 100-byte NAV-PVT at 24 MHz / 26 per bit.
fn expected_bus_seconds(ticks: u64) -> Vec<(&'static str, f64)> {
    let t = ticks as f64;
    let samples = (ticks / 10) as f64;
    let fixes = ((ticks - 1) / 50) as f64;
    vec![
        ("LPSPI2", t * 18.0 * 8.0 / 12e6),
        (
            "LPI2C3",
            (t * 2.0 * 39.0 + samples * (84.0 + 102.0)) * 2.5e-6,
        ),
        ("LPUART6 TX", t * 12.0 * 10.0 / 1.5e6),
        ("LPUART6 RX", t * 4.0 * 10.0 / 1.5e6),
        ("LPUART3 RX", fixes * 100.0 * 10.0 * 26.0 / 24e6),
    ]
}

#[test]
fn stabilization_flies_full_system_through_the_modelled_buses_and_devices() {
    flight_stack();
    let image = full_system_image();
    let dir = tempfile::tempdir().unwrap();
    let (hosted, full) = (dir.path().join("hosted"), dir.path().join("full"));
    let scenario = "scenarios/stabilization.ron";
    let (code, out, err) = sim_cli(&["--scenario", scenario, "--out", hosted.to_str().unwrap()]);
    assert_eq!(code, Some(0), "hosted run:\n{out}\n{err}");
    let (code, out, err) = sim_cli(&[
        "--scenario",
        scenario,
        "--target",
        "full-system",
        "--hil-image",
        image.to_str().unwrap(),
        "--out",
        full.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "full-system run:\n{out}\n{err}");
    assert!(
        out.contains("PASS") && out.contains("full-system firmware") && out.contains("LPI2C3"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("report.json")).unwrap()).unwrap();
    let fs = &report["full_system"];
    let buses = fs["buses"].as_array().unwrap();
    for (bus, want) in expected_bus_seconds(6000) {
        let got = buses
            .iter()
            .find(|b| b["bus"] == bus)
            .unwrap_or_else(|| panic!("{bus} in {fs}"))["busy_seconds"]
            .as_f64()
            .unwrap();
        // Within four byte times (the IO's answer to the arming packet may straddle the
        // first tick) and each frame's picosecond rounding.
        assert!(
            (got - want).abs() < 30e-6,
            "{bus}: {got} s, expected {want} s"
        );
    }
    // The drivers wait at least for the two status reads on LPI2C3 every tick (97.5 us at the
    // CM7's 1 GHz), and finish within the period.
    let drivers = &fs["driver_cycles_per_tick"];
    assert!(drivers["min"].as_u64().unwrap() >= 195_000, "{fs}");
    assert!(drivers["max"].as_u64().unwrap() < 2_000_000, "{fs}");
    // Each tick at least: the data-ready edge, the CM4's answer on the MU, GPT1's period, an
    // LPI2C3 interrupt per transfer (two) and the IO MCU's answer.
    assert!(fs["irqs_per_tick"]["min"].as_u64().unwrap() >= 6, "{fs}");
    // The motors leave on the IO MCU's main outputs and, mirrored, on the FMU's auxiliary
    // outputs CH1-4 (FlexPWM, 1 us a count), which latch the new pulse at their next 400 Hz
    // reload: at the end, each pair within the few us a hovering motor moves in a tick.
    let outputs = fs["outputs_at_end"].as_array().unwrap();
    let us = |name: &str| {
        outputs
            .iter()
            .find(|o| o[0] == name)
            .unwrap_or_else(|| panic!("{name} in {fs}"))[1]
            .as_f64()
            .unwrap()
    };
    for k in 1..=4 {
        let main = us(&format!("IO MAIN{k}"));
        assert!((1000.0..=2000.0).contains(&main), "{fs}");
        assert!((main - us(&format!("FMU CH{k}"))).abs() <= 5.0, "{fs}");
    }
    let awake = fs["m7_busy_cycles_per_tick"]["mean"].as_f64().unwrap();
    let handlers = fs["irq_cycles_per_tick"]["mean"].as_f64().unwrap();
    let stages = report["controller_cycles_per_tick"]["mean"]
        .as_f64()
        .unwrap();
    assert!(awake > stages + handlers, "{fs}");

    // The same vehicle, sensors and flight code through another path (quantised by the
    // parts, later by the buses' time): the flight stays within a few milliradians and
    // centimetres of the hosted one.
    let a = read_trace(&hosted).unwrap();
    let b = read_trace(&full).unwrap();
    assert_eq!(b.len(), 6000);
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        for i in 0..3 {
            assert!((x.attitude[i] - y.attitude[i]).abs() < 0.01, "tick {k}");
            assert!((x.position[i] - y.position[i]).abs() < 0.05, "tick {k}");
        }
    }
}

#[test]
fn a_scenario_that_names_its_firmware_flies_position_hold_full_system() {
    flight_stack();
    full_system_image();
    let text = std::fs::read_to_string(workspace().join("scenarios/position-hold.ron")).unwrap();
    let text = text.replacen(
        "Scenario(",
        "Scenario(\n    flight: (firmware: Some(())),",
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("position-hold-full-system.ron");
    std::fs::write(&file, text).unwrap();
    let out_dir = dir.path().join("out");
    let (code, out, err) = sim_cli(&[
        "--scenario",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("PASS") && out.contains("full-system firmware"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    let ticks = report["ticks"].as_u64().unwrap();
    let spi = report["full_system"]["buses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bus"] == "LPSPI2")
        .unwrap()["busy_seconds"]
        .as_f64()
        .unwrap();
    assert!(
        (spi - ticks as f64 * 18.0 * 8.0 / 12e6).abs() < 1e-6,
        "{report}"
    );
    // The hosted runtime refuses it by name (the firmware is twin-target's to run).
    let s = twin_flight::scenario::Scenario::load(&file).unwrap();
    let objects = tempfile::tempdir().unwrap();
    let e = twin_flight::session::Session::open(s, &workspace(), objects.path())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("flight.firmware"), "{e}");
}

/// The hardware-capability WIT (wit/hw): the project's ICM-42688-P driver, Rust built to wasm
/// (targets/hw-driver) and compiled by synth, runs on the CM7 and reaches the modelled LPSPI2
/// and ICM-42688-P only through `rt-twin:hw/spi#transfer` host calls. The twin gives the part
/// what the vehicle's IMU measures (stabilization's first tick: 0.4 rad of roll, the
/// scenario's sensor noise); the driver reads it back to the part's 16-bit resolution
/// (rt1176.md 6: +-16 g, +-2000 dps), and the call's cycles include the bus time: the 15-byte
/// burst at 12 MHz (24 MHz root, SCKDIV 0) is 10 us, 10 000 cycles at 1 GHz.
#[test]
fn a_wasm_imu_driver_reads_the_vehicles_imu_through_the_hardware_capabilities() {
    use twin_flight::scenario::Scenario;
    use twin_flight::vehicle::sensors::{SensorParams, Sensors};
    use twin_hosting::hosted::host::HostFns;
    use twin_hosting::wasm::Val;
    use twin_machine::devices::{icm42688::ImuSample, Measurements};
    let wasm = build_wasm_crate("targets/hw-driver", "hw_driver.wasm");
    let obj = synth_object(&wasm, "cortex-m7dp");
    let object =
        twin_hosting::hosted::link::RelObject::parse(&std::fs::read(&obj).unwrap(), "hw_driver.o")
            .unwrap();
    let module = twin_hosting::wasm::WasmModule::load(&wasm).unwrap();
    let mut h = twin_hosting::hosted::Hosted::new(
        twin_machine::board::Board::rt1176(),
        "m7",
        module,
        &object,
        &HostFns::builtin().with_hw(),
        twin_hosting::hosted::Options::default(),
    )
    .unwrap();
    let exports = h.export_names();
    let init = h
        .call("imu#init", &[])
        .unwrap_or_else(|e| panic!("{e}: {exports:?}"));
    assert_eq!(init.result, Ok(vec![Val::I32(1)]), "WHO_AM_I 0x47");

    let s = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    let mut sensors = Sensors::new(SensorParams::default(), s.seed);
    let frame = sensors.sample(0, s.dt, &s.initial_state());
    // 0.4 rad of roll at rest: the specific force is -g along body y and z rotated by the
    // roll (-sin 0.4 g, -cos 0.4 g).
    assert!(
        (frame.accel[1] + 0.389_418 * 9.806_65).abs() < 0.2,
        "{frame:?}"
    );
    assert!(
        (frame.accel[2] + 0.921_061 * 9.806_65).abs() < 0.2,
        "{frame:?}"
    );
    let truth = ImuSample {
        accel: frame.accel,
        gyro: frame.gyro,
        temp: 25.0,
    };
    h.machine
        .sense(&Measurements {
            imu: Some(truth),
            ..Measurements::default()
        })
        .unwrap();
    let r = h.call("imu#read", &[]).unwrap();
    let Ok(v) = &r.result else { panic!("{r:?}") };
    let [Val::I32(ptr)] = v[..] else {
        panic!("{v:?}")
    };
    let bytes = h.module.read_memory(&mut h.machine, ptr, 28).unwrap();
    let f: Vec<f64> = bytes
        .chunks(4)
        .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
        .collect();
    let accel_lsb = 16.0 * 9.806_65 / 32768.0;
    let gyro_lsb = (2000.0f64 / 32768.0).to_radians();
    for k in 0..3 {
        assert!(
            (f[k] - truth.accel[k]).abs() <= accel_lsb / 2.0 + 1e-6,
            "{f:?} {truth:?}"
        );
        assert!(
            (f[3 + k] - truth.gyro[k]).abs() <= gyro_lsb / 2.0 + 1e-6,
            "{f:?} {truth:?}"
        );
    }
    assert!((f[6] - 25.0).abs() <= 0.5 / 132.48 + 1e-4, "{f:?}");
    assert!(
        r.cycles >= 10_000,
        "the bus time is charged: {} cycles",
        r.cycles
    );
    assert!(r.cycles < 20_000, "{} cycles", r.cycles);
}
