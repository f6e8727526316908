//! Scenario files and `sim --scenario`: the shipped SIL-gate scenarios pass through the emulated
//! cores, the same seed gives a byte-identical trace, broken files get precise errors.

use crate::common::*;
use twin_flight::scenario::{trace_csv, Scenario};
use twin_flight::session::run;

fn flight_module() {
    build_wasm_crate("targets/flight-wasm", "flight_wasm.wasm");
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

#[test]
fn every_shipped_scenario_passes_on_the_emulated_cores() {
    flight_module();
    let objects = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(workspace().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let s = Scenario::load(&f).unwrap();
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
