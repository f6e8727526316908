//! Scenario files and `sim --scenario`: the shipped SIL-gate scenarios pass through the emulated
//! cores, the same seed gives a byte-identical trace, broken files get precise errors.

use crate::common::*;
use twin_flight::scenario::{trace_csv, Scenario};
use twin_flight::session::run;

fn flight_module() {
    build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
}

fn sim(args: &[&str]) -> (Option<i32>, String, String) {
    sim_cli(args)
}

#[test]
fn stabilization_passes_through_the_cli_with_trace_report_and_junit() {
    flight_module();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out, err) = sim(&[
        "--scenario",
        "scenarios/stabilization.ron",
        "--out",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("scenario stabilization: PASS"), "{out}");
    assert!(out.contains("real-time factor"), "{out}");
    let csv = std::fs::read_to_string(dir.path().join("trace.csv")).unwrap();
    assert_eq!(csv.lines().count(), 6001, "a header and one row per tick");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["pass"], true);
    assert_eq!(report["overruns"], 0);
    assert!(
        report["estimator_cycles_per_tick"]["mean"]
            .as_f64()
            .unwrap()
            > 1000.0
    );
    // The plot: a 1200-pixel-wide PNG with four panels, the palette's first two colours (roll,
    // north and the CM4 line; pitch, east and the CM7 line) drawn in quantity.
    let decoder = png::Decoder::new(std::fs::File::open(dir.path().join("plot.png")).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 1200));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let count = |c: (u8, u8, u8)| buf.chunks(3).filter(|p| (p[0], p[1], p[2]) == c).count();
    for i in 0..2 {
        let n = count(twin_flight::plot::colour(i));
        assert!(n > 2000, "palette colour {i}: {n} pixels");
    }
    assert!(count((255, 255, 255)) > 600_000, "mostly white background");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(
        xml.contains("tests=\"3\"") && xml.contains("failures=\"0\""),
        "{xml}"
    );
}

/// Every shipped scenario passes its gates with synth's code on the emulated cores, and flies
/// the same trace, byte for byte, three times (determinism at scale on ARM).
#[test]
fn every_shipped_scenario_passes_on_the_emulated_cores() {
    flight_module();
    let objects = tempfile::tempdir().unwrap();
    for s in crate::determinism::shipped() {
        let mut session =
            twin_flight::session::Session::open(s.clone(), &workspace(), objects.path()).unwrap();
        while session.step() {}
        let report = session.report();
        // The live gates (what twin-ui shows) reach the batch evaluation's verdicts.
        for (live, g) in session.gates().iter().zip(&report.gates) {
            assert_eq!(
                matches!(
                    live.status,
                    twin_flight::scenario::GateStatus::Passed { .. }
                ),
                g.pass,
                "{}: {live:?} vs {g:?}",
                s.name
            );
        }
        // The setpoint observer agreed with synth's controller bit for bit on every tick
        // the controller ran.
        let trace = session.trace();
        assert!(
            trace.iter().filter(|t| t.m7_cycles > 0).all(|t| t
                .att_sp
                .iter()
                .chain(&t.rate_sp)
                .all(|x| x.is_finite())),
            "{}: setpoints missing",
            s.name
        );
        for g in &report.gates {
            eprintln!("{}: {} -> {} ({})", s.name, g.gate, g.pass, g.detail);
        }
        eprintln!(
            "{}: real-time factor {:.2}",
            s.name, report.real_time_factor
        );
        assert!(report.pass, "{} failed its gates", s.name);
        let first = trace_csv(trace);
        for again in 1..3 {
            let (_, t) = run(&s, &workspace(), objects.path(), |_| {}).unwrap();
            assert_eq!(
                crate::determinism::first_difference(&first, &trace_csv(&t)),
                None,
                "{}: run {again} differs from run 0 at that line of trace.csv",
                s.name
            );
        }
    }
}

#[test]
fn same_seed_gives_a_byte_identical_trace() {
    flight_module();
    let mut s = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    s.steps = 400;
    s.gates = vec![twin_flight::scenario::Gate::NoOverrun];
    let objects = tempfile::tempdir().unwrap();
    let a = trace_csv(&run(&s, &workspace(), objects.path(), |_| {}).unwrap().1);
    let b = trace_csv(&run(&s, &workspace(), objects.path(), |_| {}).unwrap().1);
    assert_eq!(a, b);
    s.seed += 1;
    let c = trace_csv(&run(&s, &workspace(), objects.path(), |_| {}).unwrap().1);
    assert_ne!(a, c, "another seed, other sensor noise");
}

#[test]
fn broken_scenarios_get_precise_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ron");
    std::fs::write(
        &bad,
        "Scenario(\n    name: \"x\",\n    dt: 0.002,\n    steps: -5,\n)",
    )
    .unwrap();
    let (code, _, err) = sim(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.ron:4:"), "{err}");
    let (code, _, err) = sim(&["--scenario", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.ron:4:"), "{err}");
    // The case: stabilization with its initial roll NaN is refused where it says so
    // (line 11 of the shipped file, column of the value), not flown.
    let shipped = std::fs::read_to_string(workspace().join("scenarios/stabilization.ron")).unwrap();
    let (line, col) = shipped
        .lines()
        .enumerate()
        .find_map(|(n, l)| {
            l.find("attitude: (0.4")
                .map(|c| (n + 1, c + 1 + "attitude: (".len()))
        })
        .unwrap();
    let nan = dir.path().join("stabilization.ron");
    std::fs::write(
        &nan,
        shipped.replacen("attitude: (0.4", "attitude: (NaN", 1),
    )
    .unwrap();
    let (code, out, err) = sim(&["--scenario", nan.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(!out.contains("PASS"), "{out}");
    assert!(
        err.contains(&format!(
            "stabilization.ron:{line}:{col}: `NaN` is not a finite number"
        )),
        "{err}"
    );
    let (code, out, _) = sim(&["check", "scenarios/position-hold.ron"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("60 s of flight at 500 Hz"), "{out}");
    let (code, out, _) = sim(&["list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("scenarios/stabilization.ron") && out.contains("scenarios/position-hold.ron"),
        "{out}"
    );
}

/// Two synthetic runs with known differences, as `--out` directories.
fn compare_dirs(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use twin_flight::flightloop::Tick;
    let tick = |k: usize| Tick {
        t: k as f64 * 0.002,
        position: [0.0, 0.0, -5.0],
        attitude: [0.1, 0.0, 0.0],
        motors: [0.5; 4],
        m4_cycles: 90_000,
        m7_cycles: 4_854,
        mu_latency_ns: 2_070,
        ..Tick::default()
    };
    let a: Vec<Tick> = (0..50).map(tick).collect();
    let mut b = a.clone();
    // Roll off by 0.02 rad from tick 20; motor 1 by 1e-3 at tick 40; the controller 100
    // cycles slower throughout.
    for t in &mut b[20..] {
        t.attitude[0] += 0.02;
    }
    b[40].motors[1] += 1e-3;
    for t in &mut b {
        t.m7_cycles += 100;
    }
    let write = |name: &str, trace: &[Tick], pass: bool| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("trace.csv"), trace_csv(trace)).unwrap();
        let report = serde_json::json!({
            "gates": [{"gate": "attitude error < 0.1 rad after 0 s", "pass": pass, "detail": "x"}]
        });
        std::fs::write(d.join("report.json"), report.to_string()).unwrap();
        d
    };
    (write("a", &a, true), write("b", &b[..45], false))
}

#[test]
fn compare_reports_known_differences_and_judges_tolerances() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = compare_dirs(dir.path());
    let out = dir.path().join("cmp");
    let (a, b, o) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    // Default: flight signals must match exactly.
    let (code, stdout, err) = sim(&["compare", a, b, "--out", o]);
    assert_eq!(code, Some(1), "{stdout}\n{err}");
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(
        (c["ticks_a"].as_u64(), c["ticks_b"].as_u64()),
        (Some(50), Some(45))
    );
    assert_eq!(c["aligned"], 45);
    let sig = |n: &str| {
        c["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["signal"] == n)
            .unwrap()
            .clone()
    };
    let roll = sig("roll");
    assert!((roll["max_abs"].as_f64().unwrap() - 0.02).abs() < 1e-12);
    // 25 of 45 aligned ticks differ by 0.02.
    let rms = (25.0 * 0.02f64.powi(2) / 45.0).sqrt();
    assert!(
        (roll["rms"].as_f64().unwrap() - rms).abs() < 1e-12,
        "{roll}"
    );
    assert_eq!(roll["first_exceeded"][0], 20);
    assert_eq!(sig("m1")["first_exceeded"][0], 40);
    assert!(sig("pitch")["first_exceeded"].is_null());
    // Timing is reported, not judged, unless asked.
    assert_eq!(sig("m7_cycles")["max_abs"], 100.0);
    assert!(sig("m7_cycles")["tolerance"].is_null());
    assert!(sig("m7_cycles")["first_exceeded"].is_null());
    assert_eq!(c["exceeded"], serde_json::json!(["roll", "m1"]));
    assert_eq!(c["timing_b"]["controller_cycles_per_tick"]["max"], 4954);
    assert_eq!(c["gates_a"][0]["pass"], true);
    assert_eq!(c["gates_b"][0]["pass"], false);
    assert!(out.join("compare.png").exists());

    // Tolerances that admit the differences pass; a timing bound is judged when given.
    let (code, stdout, _) = sim(&[
        "compare",
        a,
        b,
        "--tolerance",
        "roll=0.03",
        "--tolerance",
        "m1=0.002",
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("within tolerance"), "{stdout}");
    let (code, stdout, _) = sim(&[
        "compare",
        a,
        b,
        "--default-tolerance",
        "0.05",
        "--tolerance",
        "m7_cycles=50",
    ]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("tick 0 (0.000 s)"), "{stdout}");
    // From a scenario's tolerances.
    let scen = dir.path().join("tol.ron");
    let text = std::fs::read_to_string(workspace().join("scenarios/stabilization.ron"))
        .unwrap()
        .replace(
            "gates:",
            "tolerances: {\"roll\": 0.03, \"m1\": 0.01},\n    gates:",
        );
    std::fs::write(&scen, text).unwrap();
    let (code, stdout, err) = sim(&["compare", a, b, "--scenario", scen.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}\n{err}");

    // Bad input: exit 2 naming the problem.
    let (code, _, err) = sim(&["compare", a, "/nonexistent/run"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/run"), "{err}");
    let (code, _, err) = sim(&["compare", a, b, "--tolerance", "altitude=1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no signal \"altitude\""), "{err}");
}

/// The flight signals of a trace as bits: what must not change when only the packaging of the
/// same flight code does.
fn flight_bits(t: &[twin_flight::flightloop::Tick]) -> Vec<Vec<u64>> {
    t.iter()
        .map(|r| {
            let mut v: Vec<u64> = r.attitude.iter().map(|x| x.to_bits()).collect();
            v.extend(r.position.iter().map(|x| x.to_bits()));
            v.extend(r.motors.iter().map(|x| u64::from(x.to_bits())));
            v.extend(r.nav.iter().map(|x| u64::from(x.to_bits())));
            v.extend(r.att_sp.iter().map(|x| u64::from(x.to_bits())));
            v.extend(r.rate_sp.iter().map(|x| u64::from(x.to_bits())));
            v
        })
        .collect()
}

/// falcon's packaging: five leaf modules, one per interface. The stack built as leaves flies
/// the same bits as the stack built as one module (each interface keeps its own state either
/// way); the CM4 hosts the ekf leaf alone and the CM7 the four stage leaves.
#[test]
fn the_stack_as_five_leaves_flies_bit_identical_to_one_module() {
    flight_module();
    let leaves = flight_leaves();
    let mut one = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    one.steps = 1500;
    // 3 s of flight: the gates whose windows open by then (a gate never reached fails).
    one.gates.retain(
        |g| !matches!(g, twin_flight::scenario::Gate::Position { after, .. } if *after >= 3.0),
    );
    let mut five = one.clone();
    five.flight.modules = leaves.to_vec();
    let objects = tempfile::tempdir().unwrap();
    let h = twin_flight::scenario::hosted(&five, &workspace(), objects.path()).unwrap();
    let files = |s: &twin_hosting::backend::Stack| -> Vec<String> {
        s.parts()
            .iter()
            .map(|p| {
                std::path::Path::new(&p.file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(files(&h.estimator), ["ekf.wasm"]);
    assert_eq!(
        files(&h.controller),
        ["position.wasm", "attitude.wasm", "rate.wasm", "mixer.wasm"]
    );
    drop(h);
    let (r1, t1) = run(&one, &workspace(), objects.path(), |_| {}).unwrap();
    let (r5, t5) = run(&five, &workspace(), objects.path(), |_| {}).unwrap();
    assert!(r1.pass && r5.pass, "{:?}\n{:?}", r1.gates, r5.gates);
    assert_eq!(t5.len(), 1500);
    assert!(
        flight_bits(&t1) == flight_bits(&t5),
        "leaves fly other bits"
    );
    assert!(t5.iter().all(|t| t.m4_cycles > 0 && t.m7_cycles > 0));

    // Through the command line, from a scenario file naming the leaves.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leaves.ron");
    let list: Vec<String> = leaves
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    let ron = std::fs::read_to_string(workspace().join("scenarios/stabilization.ron"))
        .unwrap()
        .replacen(
            "    gates:",
            &format!(
                "    flight: Flight(modules: [{}]),\n    gates:",
                list.join(", ")
            ),
            1,
        );
    std::fs::write(&file, ron).unwrap();
    let (code, out, err) = sim(&["--scenario", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("PASS") && out.contains("mixer.wasm"), "{out}");
}

/// A module set that leaves an interface out, names both `wasm` and `modules`, or brings a
/// module with none of falcon-cascade's interfaces is refused, saying what is missing and what
/// each module offers.
#[test]
fn an_incomplete_module_set_is_refused_with_what_each_module_offers() {
    flight_module();
    let leaves = flight_leaves();
    let objects = tempfile::tempdir().unwrap();
    let mut s = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    s.flight.modules = leaves[..4].to_vec(); // no mixer
    let e = twin_flight::scenario::hosted(&s, &workspace(), objects.path())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("the controller core needs mixer#mix")
            && e.contains("position.wasm offers position#tick")
            && e.contains("rate.wasm offers rate#tick"),
        "{e}"
    );
    s.flight.modules = vec![leaves[0].clone(), flight_demo().to_path_buf()];
    let e = twin_flight::scenario::hosted(&s, &workspace(), objects.path())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("flight_demo.wasm: exports none of falcon-cascade's interfaces"),
        "{e}"
    );
    s.flight.wasm = leaves[1].clone();
    let e = twin_flight::scenario::hosted(&s, &workspace(), objects.path())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("both `wasm` and `modules`"), "{e}");
}

/// Stage dividers: the position stage every 5th tick and attitude every 2nd, as falcon runs
/// position and attitude slower than rate and mixer. A stage's output (the setpoint in the
/// trace) can change only on a tick it runs, and the CM7 pays for the position stage only
/// then.
#[test]
fn stage_dividers_run_each_stage_on_its_ticks() {
    flight_module();
    let mut s = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    s.steps = 1000;
    s.flight.dividers.position = 5;
    s.flight.dividers.attitude = 2;
    let objects = tempfile::tempdir().unwrap();
    let (r, t) = run(&s, &workspace(), objects.path(), |_| {}).unwrap();
    assert!(r.stopped.is_none(), "{:?}", r.stopped);
    let bits = |x: &[f32; 3]| x.map(f32::to_bits);
    let (mut att_changes, mut rate_changes) = (0, 0);
    for k in 1..t.len() {
        if bits(&t[k].att_sp) != bits(&t[k - 1].att_sp) {
            assert_eq!(k % 5, 0, "attitude setpoint changed at tick {k}");
            att_changes += 1;
        }
        if bits(&t[k].rate_sp) != bits(&t[k - 1].rate_sp) {
            assert_eq!(k % 2, 0, "rate setpoint changed at tick {k}");
            rate_changes += 1;
        }
    }
    assert!(
        att_changes > 150 && rate_changes > 400,
        "{att_changes} {rate_changes}"
    );
    // The position stage costs thousands of cycles: ticks that run it cost more.
    let cycles = |m: u64| {
        let v: Vec<u64> = t
            .iter()
            .enumerate()
            .filter(|(k, _)| (*k as u64) % 5 == m)
            .map(|(_, x)| x.m7_cycles)
            .collect();
        (*v.iter().min().unwrap(), *v.iter().max().unwrap())
    };
    for m in 1..5 {
        assert!(
            cycles(0).0 > cycles(m).1 + 1000,
            "{:?} vs {:?}",
            cycles(0),
            cycles(m)
        );
    }
}

/// Whole-run SIL files: the shipped `scenarios/sil` files pass through `sim --scenario`, with
/// results bit-identical on both cores and to the same Rust built natively; a gate below the
/// run's error fails it, a budget too small stops it, and a bad file or export is refused.
#[test]
fn whole_run_files_fly_the_sil_module_and_judge_its_gate() {
    flight_demo();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out, err) = sim(&[
        "--scenario",
        "scenarios/sil/sil-stabilization.ron",
        "--out",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("whole run sil-stabilization: PASS"), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let native = flight::sil::run_stabilization();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{report}");
    for r in runs {
        let v = r["value"].as_f64().unwrap() as f32;
        assert_eq!(v.to_bits(), native.to_bits(), "{r}");
        assert!(r["cycles"].as_u64().unwrap() > 10_000_000, "{r}");
        assert!(r["stack_bytes"].as_u64().unwrap() > 0, "{r}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 2, "{xml}");

    let wasm = flight_demo().display().to_string();
    let file = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!("WholeRun(name: \"{name}\", wasm: {wasm:?}, {body})"),
        )
        .unwrap();
        p.display().to_string()
    };
    let tight = file("tight.ron", "export: \"run-stabilization\", below: 0.001");
    let (code, out, _) = sim(&["--scenario", &tight]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL") && out.contains("is not below 0.001"),
        "{out}"
    );
    let short = file(
        "short.ron",
        "export: \"run-stabilization\", below: 0.1, max_cycles: 100000",
    );
    let (code, out, _) = sim(&["--scenario", &short]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL") && out.contains("trapped"), "{out}");
    let missing = file("missing.ron", "export: \"run-hover\", below: 0.1");
    let (code, _, err) = sim(&["--scenario", &missing]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("run-hover"), "{err}");
    let bad = file("bad.ron", "export: 3, below: 0.1");
    let (code, _, err) = sim(&["check", &bad]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.ron:1:"), "{err}");
}

/// A falcon ekf leaf (falcon's `ekf` world alone: no `aided-ekf`) gets `ekf#estimate` with the
/// IMU sample and nothing else, over the module's own period: its vehicle-state every tick is
/// exactly what the `flight` crate's estimator gives, run natively on the trace's IMU columns
/// from a fresh start (no init, no aiding).
#[test]
fn a_falcon_ekf_leaf_is_fed_the_imu_alone() {
    flight_module();
    let mut modules = vec![falcon_ekf_leaf().to_path_buf()];
    modules.extend_from_slice(&flight_leaves()[1..]);
    let mut s = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    s.steps = 300;
    s.gates = vec![twin_flight::scenario::Gate::NoOverrun];
    s.flight.modules = modules;
    let objects = tempfile::tempdir().unwrap();
    let (r, t) = run(&s, &workspace(), objects.path(), |_| {}).unwrap();
    assert!(r.stopped.is_none(), "{:?}", r.stopped);
    let mut ekf =
        flight::estimator::Estimator::new(flight::estimator::EstimatorConfig::default_sensors());
    let dt = flight::controller::VehicleConfig::quad_x_default().loop_dt;
    for (k, row) in t.iter().enumerate() {
        ekf.predict(row.accel, row.gyro, dt);
        assert_eq!(
            row.nav.map(f32::to_bits),
            ekf.vehicle_state().to_words().map(f32::to_bits),
            "tick {k}"
        );
    }
    assert!(
        t.iter().any(|row| row.gnss[0].is_finite()),
        "GNSS was sampled (and not given to this estimator)"
    );
}

/// `sim --scenario position-hold --out DIR` started, and the rows on disk once the streamed
/// trace holds at least `rows` of them (the header excluded).
/// The caller waits for the child it is given.
#[allow(clippy::zombie_processes)]
fn started_with_rows(dir: &std::path::Path, rows: usize) -> std::process::Child {
    flight_module();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["--scenario", "scenarios/position-hold.ron", "--out"])
        .arg(dir)
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let trace = dir.join("trace.csv");
    let started = std::time::Instant::now();
    loop {
        let on_disk = std::fs::read_to_string(&trace).map_or(0, |t| t.matches('\n').count());
        if on_disk > rows {
            return child;
        }
        if started.elapsed().as_secs() > 300 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no {rows} rows on disk after 300 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn signal(child: &std::process::Child, sig: i32) {
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// SIGINT or SIGTERM during a run: it stops after the current tick with the trace (streamed
/// from the start), a report marked interrupted whose tick count is the trace's, and the plot;
/// the exit code is 128 + the signal.
#[test]
fn an_interrupted_scenario_keeps_its_trace_report_and_plot() {
    for (sig, name, code) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let child = started_with_rows(dir.path(), 200);
        signal(&child, sig);
        let o = child.wait_with_output().unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert_eq!(o.status.code(), Some(code), "{name}: {out}\n{err}");
        assert!(err.contains(&format!("{name}: stopping")), "{err}");
        assert!(out.contains("scenario position-hold: FAIL"), "{out}");
        assert!(out.contains("INTERRUPTED"), "{out}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(report["interrupted"], name);
        assert_eq!(report["pass"], false);
        let ticks = report["ticks"].as_u64().unwrap();
        assert!((200..30_000).contains(&ticks), "{ticks} ticks");
        assert_eq!(
            report["stopped"],
            format!("interrupted by {name} before tick {ticks}")
        );
        // The trace holds exactly the ticks the report judged, every row whole.
        let trace = twin_flight::trace::read_trace(dir.path()).unwrap();
        assert_eq!(trace.len() as u64, ticks);
        assert!(std::fs::read_to_string(dir.path().join("trace.csv"))
            .unwrap()
            .ends_with('\n'));
        assert!(dir.path().join("plot.png").is_file());
    }
}

/// A second SIGINT exits at once: whatever was flushed is a trace `sim compare` reads, up to
/// its last whole row.
#[test]
fn a_second_interrupt_exits_at_once_leaving_a_readable_trace() {
    let dir = tempfile::tempdir().unwrap();
    let child = started_with_rows(dir.path(), 100);
    signal(&child, libc::SIGINT);
    signal(&child, libc::SIGINT);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = sim(&["compare", d, d]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let rows = twin_flight::trace::read_trace(dir.path()).unwrap().len();
    assert!(rows >= 100, "{rows} rows");
}

/// A vehicle whose state goes non-finite stops the run at that tick with an event saying what
/// made it so, and no gate passes on the values it cannot judge. Inertia of 1e-300 kg m^2 is a
/// valid (positive, finite) parameter the model cannot integrate: the body rates overflow.
#[test]
fn a_vehicle_state_gone_non_finite_stops_the_run_and_fails_the_gates() {
    flight_module();
    let mut s = Scenario::load(&workspace().join("scenarios/stabilization.ron")).unwrap();
    s.vehicle.inertia = [1e-300; 3];
    s.gates = vec![
        twin_flight::scenario::Gate::Attitude {
            after: 0.0,
            until: None,
            below: 0.1,
        },
        twin_flight::scenario::Gate::NoOverrun,
    ];
    s.flight.estimator_backend = twin_hosting::backend::Backend::Native;
    s.flight.controller_backend = twin_hosting::backend::Backend::Native;
    let objects = tempfile::tempdir().unwrap();
    let (report, trace) = run(&s, &workspace(), objects.path(), |_| {}).unwrap();
    assert!(!report.pass);
    assert!((trace.len() as u64) < s.steps, "stopped early");
    let last = trace.len() - 1;
    let stopped = report.stopped.clone().unwrap();
    assert!(
        stopped.starts_with(&format!("tick {last}: vehicle state not finite at "))
            && stopped.ends_with("every input was finite: the model diverged (check the vehicle's parameters and dt)"),
        "{stopped}"
    );
    assert!(
        trace[last]
            .events
            .iter()
            .any(|e| stopped.ends_with(e.as_str())),
        "the event is in the trace: {:?}",
        trace[last].events
    );
    let attitude = &report.gates[0];
    assert!(!attitude.pass, "{attitude:?}");
    assert!(
        attitude.detail.contains(&format!("at tick {last} "))
            && attitude.detail.contains("not judged"),
        "{attitude:?}"
    );
}

/// A scenario file works from any directory: copied out of the project and run from elsewhere,
/// its flight found in the project the twin was built from (by default, or named `Reference`),
/// or beside the file when it names a module relative to itself.
#[test]
fn a_scenario_file_flies_from_any_directory() {
    flight_module();
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(workspace().join("scenarios/stabilization.ron")).unwrap();
    std::fs::copy(
        workspace().join(twin_flight::scenario::DEFAULT_FLIGHT_WASM),
        dir.path().join("my-flight.wasm"),
    )
    .unwrap();
    let with = |flight: &str| {
        shipped.replacen(
            "    gates:",
            &format!("    flight: {flight},\n    gates:"),
            1,
        )
    };
    for (file, text, project) in [
        ("copy.ron", shipped.clone(), true),
        ("reference.ron", with("Reference"), true),
        // No project to fall back on: the module must be the one beside the file.
        (
            "beside.ron",
            with("Flight(wasm: \"my-flight.wasm\")"),
            false,
        ),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, &text).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sim"));
        cmd.args(["--scenario", path.to_str().unwrap(), "--backend", "native"])
            .current_dir(cwd.path());
        if !project {
            cmd.env("RT_TWIN_ROOT", cwd.path());
        }
        let o = cmd.output().unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert_eq!(o.status.code(), Some(0), "{file}: {out}\n{err}");
        assert!(
            out.contains("scenario stabilization: PASS"),
            "{file}: {out}"
        );
    }
    // Named but nowhere: the error lists where it looked.
    let path = dir.path().join("missing.ron");
    std::fs::write(&path, with("Flight(wasm: \"nowhere.wasm\")")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["--scenario", path.to_str().unwrap(), "--backend", "native"])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("flight module nowhere.wasm not found (looked in ")
            && err.contains(&dir.path().join("nowhere.wasm").display().to_string()),
        "{err}"
    );
}
