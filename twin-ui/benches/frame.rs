//! How long the app takes to draw one frame with a long run loaded (position-hold's 30,000
//! ticks, synthetic), on each tab, with and without an overlay: the figure printed is the share
//! of a 60 fps frame (16.7 ms) it uses, measured in the same run. The app draws headless here
//! (egui_kittest: layout and tessellation, no GPU), as the UI thread does while the worker runs.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use egui_kittest::Harness;
use twin_flight::flightloop::Tick;
use twin_flight::session::{CoreInfo, CoreSnapshot, SessionInfo};
use twin_ui::app::Tab;
use twin_ui::model::{Overlay, Run};
use twin_ui::TwinApp;

const TICKS: usize = 30_000;

fn info() -> SessionInfo {
    let core = |name: &str, role: &str, budget, ps| CoreInfo {
        core: name.into(),
        role: role.into(),
        backend: twin_hosting::backend::Backend::Arm,
        budget_cycles: budget,
        ps_per_cycle: ps,
        cycle_model: String::new(),
    };
    SessionInfo {
        name: "synthetic".into(),
        description: String::new(),
        dt: 0.002,
        steps: TICKS as u64,
        seed: 1,
        cores: [
            core("m4", "estimator", 800_000, 2_500),
            core("m7", "controller", 2_000_000, 1_000),
        ],
        waypoints: vec![],
        flight_computer: "synthetic".into(),
    }
}

fn ticks(phase: f64) -> Vec<Tick> {
    (0..TICKS)
        .map(|k| {
            let t = k as f64 * 0.002;
            let w = (t + phase).sin();
            Tick {
                t,
                position: [w, 0.5 * w, -5.0 + 0.1 * w],
                attitude: [0.1 * w, -0.05 * w, 0.01 * t],
                rates: [0.2 * w, 0.1 * w, 0.0],
                att_sp: [0.09 * w as f32, 0.0, 0.0],
                rate_sp: [0.1; 3],
                motors: [0.5 + 0.1 * w as f32; 4],
                accel: [0.0, 0.0, -9.81],
                gyro: [0.2 * w as f32, 0.0, 0.0],
                baro_alt: 5.0,
                gnss: [w as f32, 0.0, -5.0],
                m4_cycles: 91_000 + (k % 50) as u64 * 100,
                m7_cycles: 4_854,
                mu_latency_ns: if k % 2 == 0 { 2_070 } else { 6_990 },
                ..Tick::default()
            }
        })
        .collect()
}

fn app(tab: Tab, overlay: bool) -> Harness<'static, TwinApp> {
    let mut app = TwinApp::new(std::path::Path::new("."), &egui::Context::default());
    let mut run = Run::new("synthetic.ron".into(), info());
    let n = TICKS;
    run.append(
        ticks(0.0),
        vec![<[CoreSnapshot; 2]>::default(); n],
        vec![],
        &[],
    );
    app.run = Some(run);
    app.follow = false;
    app.cursor = Some(n / 2);
    app.tab = tab;
    if overlay {
        app.overlay = Some(Overlay {
            name: "other".into(),
            ticks: ticks(0.3),
            generation: 1,
        });
    }
    Harness::builder()
        .with_size([1600.0, 1000.0])
        .with_accessibility_check(false)
        .build_ui_state(|ui, app: &mut TwinApp| app.ui_main(ui), app)
}

/// One frame; "running" cases first take a batch of 8 ticks from the worker, as a frame does
/// while the twin runs flat out (every plot's points are then computed afresh).
fn frame(h: &mut Harness<'static, TwinApp>, case: &str) {
    if case.ends_with("running") {
        let run = h.state_mut().run.as_mut().expect("run");
        let more: Vec<Tick> = ticks(0.0).into_iter().take(8).collect();
        run.append(more, vec![<[CoreSnapshot; 2]>::default(); 8], vec![], &[]);
    }
    h.step();
}

fn frames(c: &mut Criterion) {
    let cases = [
        ("flight", Tab::Flight, false),
        ("flight, running", Tab::Flight, false),
        ("flight + overlay", Tab::Flight, true),
        ("sensors", Tab::Sensors, false),
        ("timing", Tab::Timing, false),
        ("mu timeline", Tab::MuTimeline, false),
        ("vehicle", Tab::Vehicle, false),
        ("compare", Tab::Compare, true),
    ];
    let mut g = c.benchmark_group("frame");
    g.sample_size(20);
    for (name, tab, overlay) in cases {
        let mut h = app(tab, overlay);
        h.step();
        g.bench_function(name, |b| b.iter(|| frame(&mut h, name)));
    }
    g.finish();
    // The share of a 60 fps frame, measured here over 30 frames per tab.
    eprintln!("\nframe time with {TICKS} ticks loaded, as a share of a 60 fps frame (16.7 ms):");
    for (name, tab, overlay) in cases {
        let mut h = app(tab, overlay);
        h.step();
        let start = Instant::now();
        for _ in 0..30 {
            frame(&mut h, name);
        }
        let per = start.elapsed().as_secs_f64() / 30.0;
        eprintln!(
            "  {name:<18} {:>7.2} ms  {:>5.2} of the frame",
            per * 1e3,
            per / (1.0 / 60.0)
        );
    }
}

criterion_group!(benches, frames);
criterion_main!(benches);
