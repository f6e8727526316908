//! Determinism at scale: the same scenario and seed give the same trace, byte for byte, run
//! after run (the eight shipped scenarios, twenty times each on wasmtime; three times on the
//! emulated cores in `scenario::every_shipped_scenario_passes_on_the_emulated_cores`), and
//! sessions flown at the same time on two threads of one process do not disturb each other.

use std::path::Path;

use crate::common::*;
use twin_flight::scenario::{trace_csv, Scenario};
use twin_hosting::backend::Backend;

/// The shipped scenarios, sorted by file name.
pub fn shipped() -> Vec<Scenario> {
    let mut files: Vec<_> = std::fs::read_dir(workspace().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "{files:?}");
    files.iter().map(|f| Scenario::load(f).unwrap()).collect()
}

/// The 1-based line where two traces first differ (None: the same bytes).
pub fn first_difference(a: &str, b: &str) -> Option<usize> {
    if a == b {
        return None;
    }
    let differs = a.lines().zip(b.lines()).position(|(x, y)| x != y);
    Some(differs.unwrap_or(a.lines().count().min(b.lines().count())) + 1)
}

fn fly(s: &Scenario, objects: &Path) -> String {
    let (report, trace) = twin_flight::session::run(s, &workspace(), objects, |_| {}).unwrap();
    assert!(report.stopped.is_none(), "{}: {:?}", s.name, report.stopped);
    trace_csv(&trace)
}

fn on(mut s: Scenario, backend: Backend) -> Scenario {
    s.flight.estimator_backend = backend;
    s.flight.controller_backend = backend;
    s
}

#[test]
fn the_shipped_scenarios_fly_byte_identical_traces_twenty_times_on_wasmtime() {
    flight_stack();
    let scenarios: Vec<Scenario> = shipped()
        .into_iter()
        .map(|s| on(s, Backend::Wasmtime))
        .collect();
    let objects = tempfile::tempdir().unwrap();
    let first: Vec<String> = scenarios.iter().map(|s| fly(s, objects.path())).collect();
    // The other nineteen, split over two threads.
    std::thread::scope(|scope| {
        for half in 0..2 {
            let (scenarios, first, objects) = (&scenarios, &first, objects.path());
            scope.spawn(move || {
                for run in (1 + half..20).step_by(2) {
                    for (s, want) in scenarios.iter().zip(first) {
                        let got = fly(s, objects);
                        assert_eq!(
                            first_difference(want, &got),
                            None,
                            "{}: run {run} differs from run 0 at that line of trace.csv",
                            s.name
                        );
                    }
                }
            });
        }
    });
}

/// Two sessions of different scenarios on two threads at once, each on its own emulated
/// machine: each trace is the bytes the same session gives alone.
#[test]
fn two_sessions_on_two_threads_do_not_disturb_each_other() {
    flight_stack();
    let all = shipped();
    let pick = |name: &str| {
        let mut s = all.iter().find(|s| s.name == name).unwrap().clone();
        s.steps = 1500;
        s.gates = vec![twin_flight::scenario::Gate::NoOverrun];
        s
    };
    let pair = [pick("hover-gusts"), pick("rotor-failure")];
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let alone: Vec<String> = pair
        .iter()
        .zip(&dirs)
        .map(|(s, d)| fly(s, d.path()))
        .collect();
    let together: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = pair
            .iter()
            .zip(&dirs)
            .map(|(s, d)| scope.spawn(move || fly(s, d.path())))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for ((s, a), t) in pair.iter().zip(&alone).zip(&together) {
        assert_eq!(
            first_difference(a, t),
            None,
            "{}: differs at that line of trace.csv when flown beside the other",
            s.name
        );
    }
    assert_ne!(alone[0], alone[1], "two different flights");
}

#[test]
fn first_difference_names_the_line() {
    assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
    assert_eq!(first_difference("a\nb\n", "a\nc\n"), Some(2));
    assert_eq!(first_difference("a\nb\n", "a\n"), Some(2));
}
