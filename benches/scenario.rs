//! Scenario real-time factor (virtual seconds per wall second) for the SIL-gate scenarios on the
//! emulated cores, and the flight code's cycles per tick on each core (the timing-regression
//! figures). Criterion times a 1000-tick slice of each; the summary runs each scenario whole.
//! Campaign throughput: a small `sim sweep` on 1 and 2 worker threads, with the ratio (goal
//! >= 1.8 on two cores).

// The shared test helpers this crate can use (tests/common).
#[path = "../tests/common/build.rs"]
mod build;
#[allow(unused_imports)] // each test binary uses some of the helpers
mod common {
    pub use super::build::*;
}

use criterion::{criterion_group, Criterion};
use twin_flight::scenario::Scenario;
use twin_flight::session::run;

fn load(name: &str) -> Scenario {
    Scenario::load(&common::workspace().join("scenarios").join(name)).expect("scenario")
}

fn benches(c: &mut Criterion) {
    common::build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
    let objects = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    for name in ["stabilization.ron", "position-hold.ron"] {
        let mut s = load(name);
        s.steps = 1000;
        s.gates = vec![twin_flight::scenario::Gate::NoOverrun];
        g.bench_function(format!("1000 ticks/{name}"), |b| {
            b.iter(|| run(&s, &common::workspace(), objects.path(), |_| {}).unwrap())
        });
    }
    g.finish();
}

fn summary() {
    let objects = tempfile::tempdir().unwrap();
    println!("\nrt-twin scenario summary (whole runs, this process)");
    for name in ["stabilization.ron", "position-hold.ron"] {
        let s = load(name);
        let (r, _) = run(&s, &common::workspace(), objects.path(), |_| {}).unwrap();
        println!(
            "{:<20} {:>6.1} s virtual in {:>6.2} s wall: real-time factor {:>5.2}; cycles/tick CM4 estimator {}/{:.0}/{} CM7 controller {}/{:.0}/{} (min/mean/max); worst-tick budget use CM4 {:.3} CM7 {:.4}; gates {}",
            r.scenario,
            r.virtual_seconds,
            r.wall_seconds,
            r.real_time_factor,
            r.estimator_cycles_per_tick.min,
            r.estimator_cycles_per_tick.mean,
            r.estimator_cycles_per_tick.max,
            r.controller_cycles_per_tick.min,
            r.controller_cycles_per_tick.mean,
            r.controller_cycles_per_tick.max,
            r.estimator_cycles_per_tick.max as f64 / r.estimator_budget_cycles as f64,
            r.controller_cycles_per_tick.max as f64 / r.controller_budget_cycles as f64,
            if r.pass { "pass" } else { "FAIL" }
        );
    }
}

/// Eight 1000-tick variations of hover-gusts on the wasmtime backend.
fn campaign() -> (twin_flight::sweep::Sweep, Scenario) {
    use twin_flight::sweep::{Param, Sweep, Values, Vary};
    let mut base = load("hover-gusts.ron");
    base.steps = 1000;
    let sweep = Sweep {
        name: "bench".into(),
        scenario: "scenarios/hover-gusts.ron".into(),
        runs: 8,
        seed: 1,
        vary: vec![
            Vary {
                what: Param::Seed,
                values: Values::PerRun,
            },
            Vary {
                what: Param::WindSpeed,
                values: Values::Uniform {
                    low: 0.0,
                    high: 5.0,
                },
            },
        ],
        gates: vec![0],
        worst: 1,
        backend: Some(twin_hosting::backend::Backend::Wasmtime),
    };
    (sweep, base)
}

fn fly_campaign(sweep: &twin_flight::sweep::Sweep, base: &Scenario, jobs: usize) -> usize {
    let objects = tempfile::tempdir().unwrap();
    let root = common::workspace();
    let c = twin_flight::sweep::Campaign {
        sweep,
        base,
        root: &root,
        objects: objects.path(),
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    c.run((0, sweep.runs), jobs, &stop, |_| {}).len()
}

fn sweeps(c: &mut Criterion) {
    let (sweep, base) = campaign();
    let mut g = c.benchmark_group("sweep");
    g.sample_size(10);
    for jobs in [1, 2] {
        g.bench_function(format!("8 runs x 1000 ticks/{jobs} threads"), |b| {
            b.iter(|| fly_campaign(&sweep, &base, jobs))
        });
    }
    g.finish();
    let rate = |jobs| {
        let t = std::time::Instant::now();
        let n = fly_campaign(&sweep, &base, jobs);
        n as f64 / t.elapsed().as_secs_f64()
    };
    let (one, two) = (rate(1), rate(2));
    println!(
        "
sweep throughput (8 runs x 1000 ticks, wasmtime): 1 thread {one:.2} runs/s, 2 threads {two:.2} runs/s: ratio {:.2}",
        two / one
    );
}

criterion_group!(group, benches, sweeps);

fn main() {
    group();
    summary();
    Criterion::default().configure_from_args().final_summary();
}
