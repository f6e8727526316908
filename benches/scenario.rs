//! Scenario real-time factor (virtual seconds per wall second) for the SIL-gate scenarios on the
//! emulated cores, and the flight code's cycles per tick on each core (the timing-regression
//! figures). Criterion times a 1000-tick slice of each; the summary runs each scenario whole.

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

criterion_group!(group, benches);

fn main() {
    group();
    summary();
    Criterion::default().configure_from_args().final_summary();
}
