//! The app driven headlessly (egui_kittest): widgets found by their labels and clicked, the
//! worker thread running real scenarios (synth's ARM code on the emulated cores).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use twin_flight::scenario::GateStatus;
use twin_flight::session::{Overrides, Session};
use twin_ui::TwinApp;

#[path = "../../tests/common/build.rs"]
mod build;
use build::{flight_stack, hil_image, workspace};

fn harness() -> Harness<'static, TwinApp> {
    flight_stack();
    let app = TwinApp::new(&workspace(), &egui::Context::default());
    Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_ui_state(|ui, app: &mut TwinApp| app.ui_main(ui), app)
}

/// Step frames until the opened session is there; panics at once on an error.
fn opened(h: &mut Harness<'_, TwinApp>) {
    // The click that opens is taken in this frame (clearing any earlier error).
    h.step();
    until(h, "the session to open", 120, |a| {
        a.run.is_some() || a.error.is_some()
    });
    assert_eq!(h.state().error, None, "opening failed");
    assert!(h.state().run.is_some());
}

/// Step frames until `cond` holds (the worker runs meanwhile); panics after `secs`.
fn until(h: &mut Harness<'_, TwinApp>, what: &str, secs: u64, cond: impl Fn(&TwinApp) -> bool) {
    let start = Instant::now();
    while !cond(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; status {:?}, error {:?}",
            h.state().status,
            h.state().error
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
}

/// The shipped stabilization scenario as a library session (hosted), straight from the file.
fn stabilization_session(objects: &Path) -> Session {
    let (s, root) = Overrides::default()
        .load(&workspace().join("scenarios/stabilization.ron"))
        .unwrap();
    Session::open(s, &root, objects).unwrap()
}

fn ticks(app: &TwinApp) -> usize {
    app.run.as_ref().map_or(0, |r| r.ticks.len())
}

/// Frames for `ms` milliseconds.
fn idle(h: &mut Harness<'_, TwinApp>, ms: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(ms) {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn open_run_pause_step_and_read_both_cores() {
    let mut h = harness();
    // No argument: the scenario list.
    assert!(h
        .state()
        .scenarios
        .iter()
        .any(|s| s.name == "stabilization"));
    h.get_by_label("stabilization").click();
    opened(&mut h);
    assert_eq!(ticks(h.state()), 0, "opened paused at tick 0");
    h.get_by_label("Run").click();
    until(&mut h, "200 ticks", 120, |a| ticks(a) >= 200);
    h.get_by_label("Pause").click();
    until(&mut h, "the pause", 30, |a| {
        a.run.as_ref().is_some_and(|r| !r.running)
    });
    idle(&mut h, 200);
    let n = ticks(h.state());
    idle(&mut h, 400);
    assert_eq!(ticks(h.state()), n, "no tick runs while paused");

    h.get_by_label("Step").click();
    until(&mut h, "one step", 30, |a| ticks(a) == n + 1);
    idle(&mut h, 200);
    assert_eq!(ticks(h.state()), n + 1, "a step runs exactly one tick");

    // The ticks the UI received are the session's own, none lost or repeated: the same
    // scenario stepped directly through the library gives the same trace, bit for bit.
    let objects = tempfile::tempdir().unwrap();
    let mut direct = stabilization_session(objects.path());
    for _ in 0..=n {
        assert!(direct.step());
    }
    let run = h.state().run.as_ref().unwrap();
    assert_eq!(
        twin_flight::trace::trace_csv(&run.ticks),
        twin_flight::trace::trace_csv(direct.trace())
    );

    // Paused on tick n: both cores' state there. The CM7 takes one MU receive interrupt
    // (IRQ 118) per vehicle-state, one per tick in this scenario (docs/flight.md); the CM4 takes
    // none; both sit where their last call returned.
    let k = h.state().cursor_tick().unwrap();
    assert_eq!(k, n);
    let cores = &run.cores[k];
    assert_eq!(cores[0].core, "m4");
    assert_eq!(cores[1].core, "m7");
    assert!(cores[0].irqs.is_empty(), "{:?}", cores[0].irqs);
    assert_eq!(cores[1].irqs, vec![(118, n as u64 + 1)]);
    assert!(cores[0].stack_high_water > 0 && cores[1].stack_high_water > 0);
    assert_eq!(cores[1].regs[15], cores[1].pc);
    h.get_by_label_contains(&format!("IRQ118 ×{}", n + 1));
    h.get_by_label_contains(&format!("at tick {n} "));
    h.get_by_label_contains(&format!("{:#010x}", cores[0].pc));

    // Restart: back to tick 0, and running again only when asked.
    h.get_by_label("Restart").click();
    until(&mut h, "the restart", 120, |a| {
        ticks(a) == 0 && a.opening.is_none()
    });
    idle(&mut h, 300);
    assert_eq!(ticks(h.state()), 0, "restarted paused (it was paused)");
}

#[test]
fn target_mode_flies_the_hil_firmware_with_the_hosted_runs_commands() {
    let image = hil_image().to_path_buf();
    let mut h = harness();
    h.state_mut().target = Some(twin_target::TargetSpec::Emulated { image });
    h.get_by_label("stabilization").click();
    opened(&mut h);
    assert!(
        h.state().status.contains("HIL firmware"),
        "{}",
        h.state().status
    );
    h.get_by_label("Run").click();
    until(&mut h, "100 ticks", 120, |a| ticks(a) >= 100);
    h.get_by_label("Pause").click();
    until(&mut h, "the pause", 30, |a| {
        a.run.as_ref().is_some_and(|r| !r.running)
    });
    // The same ticks as the hosted session, bit for bit, on every flight signal.
    let objects = tempfile::tempdir().unwrap();
    let mut hosted = stabilization_session(objects.path());
    let run = h.state().run.as_ref().unwrap();
    for (k, t) in run.ticks.iter().enumerate() {
        assert!(hosted.step());
        let r = &hosted.trace()[k];
        assert_eq!(
            t.motors.map(f32::to_bits),
            r.motors.map(f32::to_bits),
            "tick {k}"
        );
        assert_eq!(t.nav.map(f32::to_bits), r.nav.map(f32::to_bits), "tick {k}");
    }
    // The cores are the firmware's: the CM7 has taken GPT1 (119) and MU (118) interrupts.
    let cores = &run.cores[run.ticks.len() - 1];
    assert!(
        cores[1].irqs.iter().any(|&(irq, n)| irq == 119 && n > 0),
        "{:?}",
        cores[1].irqs
    );
    assert!(cores[1].irqs.iter().any(|&(irq, n)| irq == 118 && n > 0));
}

/// A copy of the stabilization scenario, short, with a gate it fails at a known moment, and
/// the flight module by absolute path (the file lives outside the project).
fn failing_scenario(dir: &Path) -> PathBuf {
    let wasm = flight_stack().canonicalize().unwrap();
    let text = format!(
        r#"Scenario(
    name: "too-strict",
    dt: 0.002, steps: 100, seed: 1,
    initial: Initial(position: (0.0, 0.0, -5.0), attitude: (0.4, 0.0, 0.0)),
    waypoints: [Waypoint(t: 0.0, position: (0.0, 0.0, -5.0))],
    flight: Flight(wasm: {wasm:?}),
    gates: [NoOverrun, Attitude(after: 0.1, below: 0.05)],
)"#
    );
    let path = dir.join("too-strict.ron");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_failing_gate_turns_red_at_its_tick_and_the_log_jumps_there() {
    let dir = tempfile::tempdir().unwrap();
    let file = failing_scenario(dir.path());
    let mut h = harness();
    // A malformed file first: the error names it and the place.
    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, "Scenario(name: \"x\", dt: \"fast\")").unwrap();
    h.state_mut().open_path = bad.display().to_string();
    h.get_by_label("Open file").click();
    until(&mut h, "the error", 30, |a| a.error.is_some());
    let e = h.state().error.clone().unwrap();
    assert!(e.contains("bad.ron:1:"), "{e}");
    assert!(h.state().run.is_none());

    h.state_mut().open_path = file.display().to_string();
    h.get_by_label("Open file").click();
    opened(&mut h);
    h.get_by_label("Run").click();
    until(&mut h, "the end of the run", 120, |a| {
        a.run.as_ref().is_some_and(|r| r.report.is_some())
    });
    let run = h.state().run.as_ref().unwrap();
    assert_eq!(run.ticks.len(), 100);
    // Where the gate must fail, from the trace by a second computation: the first tick in
    // its window (t >= 0.1 s) whose tilt is 0.05 rad or more.
    let tilt = |r: f64, p: f64| (r.cos() * p.cos()).acos();
    let expected = run
        .ticks
        .iter()
        .position(|t| t.t >= 0.1 && tilt(t.attitude[0], t.attitude[1]) >= 0.05)
        .expect("the vehicle is still tilted at 0.1 s");
    let t_fail = run.ticks[expected].t;
    assert!(matches!(run.gates[0].status, GateStatus::Passed { .. }));
    assert_eq!(run.gates[1].status, GateStatus::Failed { at: t_fail });
    assert!(!run.report.as_ref().unwrap().pass);
    h.get_by_label(&format!("FAIL at {t_fail:.3} s"));
    h.get_by_label("scenario FAIL");
    let gate_events: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.kind == twin_ui::model::EventKind::Gate)
        .collect();
    assert_eq!(gate_events.len(), 1);
    assert_eq!(gate_events[0].tick, expected);

    // Clicking the event moves the cursor to its tick (and stops following the run).
    assert_eq!(h.state().cursor_tick(), Some(99));
    h.get_by_label_contains("gate failed: attitude error")
        .click();
    h.step();
    assert_eq!(h.state().cursor_tick(), Some(expected));
    assert!(!h.state().follow);
    h.step();
    h.get_by_label_contains(&format!("at tick {expected} "));
}

#[test]
fn a_saved_trace_overlays_and_its_differences_show() {
    let dir = tempfile::tempdir().unwrap();
    let file = failing_scenario(dir.path());
    let mut h = harness();
    h.state_mut().open_path = file.display().to_string();
    h.get_by_label("Open file").click();
    opened(&mut h);
    h.state_mut()
        .command(twin_ui::worker::Command::Speed(twin_ui::worker::Speed::Max));
    h.get_by_label("Run").click();
    until(&mut h, "the end of the run", 120, |a| {
        a.run.as_ref().is_some_and(|r| r.report.is_some())
    });
    // Export the run, then overlay the file: the same run, no difference anywhere.
    let csv = dir.path().join("run.csv");
    h.state_mut().export_csv_path = csv.display().to_string();
    h.get_by_label("Export CSV").click();
    h.step();
    assert!(csv.exists(), "{:?}", h.state().error);
    h.state_mut().overlay_path = csv.display().to_string();
    h.get_by_label("Load overlay").click();
    h.step();
    assert_eq!(h.state().overlay.as_ref().map(|o| o.ticks.len()), Some(100));
    h.get_by_label("Compare").click();
    h.step();
    assert_eq!(
        h.get_all_by_label("identical").count(),
        twin_flight::trace::SIGNALS.len()
    );

    // A second trace that differs in roll by 0.01 rad from tick 30 on.
    let mut other = twin_flight::trace::read_trace(&csv).unwrap();
    for t in &mut other[30..] {
        t.attitude[0] += 0.01;
    }
    let csv2 = dir.path().join("other.csv");
    std::fs::write(&csv2, twin_flight::trace::trace_csv(&other)).unwrap();
    h.state_mut().overlay_path = csv2.display().to_string();
    h.get_by_label("Load overlay").click();
    h.step();
    h.step();
    let t30 = h.state().run.as_ref().unwrap().ticks[30].t;
    h.get_by_label(&format!("tick 30 ({t30:.3} s)"));
    h.get_by_label("1.000e-2");
    assert_eq!(
        h.get_all_by_label("identical").count(),
        twin_flight::trace::SIGNALS.len() - 1
    );
    // An overlay that is not a trace is refused with the file named.
    h.state_mut().overlay_path = file.display().to_string();
    h.get_by_label("Load overlay").click();
    h.step();
    let e = h.state().error.clone().unwrap_or_default();
    assert!(
        e.contains("too-strict.ron:1") && e.contains("not an rt-twin trace"),
        "{e}"
    );
}
