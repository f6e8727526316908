//! `sim compare A B`: two runs of a scenario (twin against board, ARM against wasm, two seeds),
//! each an `--out` directory (trace.csv, report.json) or a trace file, aligned by tick. Per
//! signal: the max and RMS difference and the first tick where a tolerance is exceeded; the
//! cycles per tick and MU latency of each side; the gate results of both. The verdict fails when
//! a tolerance is exceeded.
//!
//! Tolerances: the flight signals (attitude, rates, position, velocity, motors, NavState) default
//! to `default_tolerance` (0: the same bits, as the same flight code on the same sensor frames
//! must give); timing signals (cycles, MU latency) are reported but only judged when given a
//! tolerance. A scenario's `tolerances` and `--tolerance SIGNAL=X` set individual ones.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::flightloop::Tick;
use crate::plot::{Panel, Series};
use crate::trace::{self, SignalDiff, Stats, Tolerances, SIGNALS};
use twin_machine::Error as TwinError;
use twin_machine::Result;

/// One run being compared.
#[derive(Debug, Clone)]
pub struct Side {
    pub path: PathBuf,
    pub trace: Vec<Tick>,
    /// The gates of its report.json, when there is one: (gate, pass, detail).
    pub gates: Option<Vec<GateLine>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateLine {
    pub gate: String,
    pub pass: bool,
    #[serde(default)]
    pub detail: String,
}

impl Side {
    /// Load an `--out` directory (trace.csv and, when present, report.json) or a trace file.
    pub fn load(path: &Path) -> Result<Side> {
        let trace = trace::read_trace(path)?;
        let report = path.join("report.json");
        let gates = if path.is_dir() && report.exists() {
            Some(read_gates(&report)?)
        } else {
            None
        };
        Ok(Side {
            path: path.to_path_buf(),
            trace,
            gates,
        })
    }
}

/// The part of a `sim --scenario --out` report.json that a comparison shows.
#[derive(Deserialize)]
struct ReportGates {
    gates: Vec<GateLine>,
}

fn read_gates(file: &Path) -> Result<Vec<GateLine>> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| TwinError::Io {
        path: name.clone(),
        source: e,
    })?;
    let r: ReportGates = serde_json::from_str(&text).map_err(|e| TwinError::Image {
        file: format!("{name}:{}:{}", e.line(), e.column()),
        message: format!("not a sim report: {e}"),
    })?;
    Ok(r.gates)
}

/// One signal's comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignalLine {
    pub signal: String,
    pub unit: String,
    pub max_abs: f64,
    pub rms: f64,
    /// The bound it is judged against (None: reported only).
    pub tolerance: Option<f64>,
    /// The first tick where |a - b| exceeds the bound, and its time (s).
    pub first_exceeded: Option<(usize, f64)>,
}

/// Timing of one side.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub estimator_cycles_per_tick: Stats,
    pub controller_cycles_per_tick: Stats,
    pub mu_latency_ns: Stats,
}

fn timing(t: &[Tick]) -> Timing {
    Timing {
        estimator_cycles_per_tick: trace::stats(t.iter().map(|t| t.m4_cycles)),
        controller_cycles_per_tick: trace::stats(t.iter().map(|t| t.m7_cycles)),
        mu_latency_ns: trace::stats(t.iter().map(|t| t.mu_latency_ns)),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub ticks_a: usize,
    pub ticks_b: usize,
    /// Ticks compared (the shorter trace).
    pub aligned: usize,
    pub signals: Vec<SignalLine>,
    /// Signals whose tolerance was exceeded.
    pub exceeded: Vec<String>,
    pub timing_a: Timing,
    pub timing_b: Timing,
    pub gates_a: Option<Vec<GateLine>>,
    pub gates_b: Option<Vec<GateLine>>,
    /// No tolerance exceeded.
    pub pass: bool,
}

/// Compare two runs.
pub fn compare(a: &Side, b: &Side, tol: &Tolerances) -> Comparison {
    let diffs: Vec<SignalDiff> =
        trace::compare(&a.trace, &b.trace, |s| tol.of(s).unwrap_or(f64::INFINITY));
    let signals: Vec<SignalLine> = diffs
        .into_iter()
        .zip(SIGNALS)
        .map(|(d, s)| {
            let tolerance = tol.of(s.name);
            SignalLine {
                signal: d.signal,
                unit: s.unit.to_string(),
                max_abs: d.max_abs,
                rms: d.rms,
                tolerance,
                first_exceeded: tolerance.and(d.first_exceeded),
            }
        })
        .collect();
    let exceeded: Vec<String> = signals
        .iter()
        .filter(|s| s.first_exceeded.is_some())
        .map(|s| s.signal.clone())
        .collect();
    Comparison {
        a: a.path.display().to_string(),
        b: b.path.display().to_string(),
        ticks_a: a.trace.len(),
        ticks_b: b.trace.len(),
        aligned: a.trace.len().min(b.trace.len()),
        pass: exceeded.is_empty(),
        exceeded,
        signals,
        timing_a: timing(&a.trace),
        timing_b: timing(&b.trace),
        gates_a: a.gates.clone(),
        gates_b: b.gates.clone(),
    }
}

/// A named signal for a panel.
type Named<'a> = (&'a str, &'a dyn Fn(&Tick) -> f64);

/// The overlay figure: attitude, position, motors and cycles per tick of both runs (A solid,
/// B dashed), and the attitude difference.
pub fn panels(a: &[Tick], b: &[Tick]) -> Vec<Panel> {
    let s = |name: &str, colour, dashed, t: &[Tick], f: &dyn Fn(&Tick) -> f64| Series {
        name: name.to_string(),
        points: t.iter().map(|x| (x.t, f(x))).collect(),
        colour,
        dashed,
    };
    let both = |title: &str, unit: &str, sig: &[Named<'_>]| {
        let mut p = Panel {
            title: format!("{title}: A solid, B dashed"),
            y_label: unit.into(),
            ..Panel::default()
        };
        for (i, (name, f)) in sig.iter().enumerate() {
            p.series.push(s(&format!("{name} A"), i, false, a, f));
            p.series.push(s(&format!("{name} B"), i, true, b, f));
        }
        p
    };
    let att: [Named<'_>; 3] = [
        ("roll", &|t| t.attitude[0]),
        ("pitch", &|t| t.attitude[1]),
        ("yaw", &|t| t.attitude[2]),
    ];
    let pos: [Named<'_>; 3] = [
        ("north", &|t| t.position[0]),
        ("east", &|t| t.position[1]),
        ("down", &|t| t.position[2]),
    ];
    let motors: [Named<'_>; 2] = [
        ("motor 0", &|t| f64::from(t.motors[0])),
        ("motor 1", &|t| f64::from(t.motors[1])),
    ];
    let cycles: [Named<'_>; 2] = [
        ("estimator cycles", &|t| t.m4_cycles as f64),
        ("controller cycles", &|t| t.m7_cycles as f64),
    ];
    let mut diff = Panel {
        title: "Attitude difference A - B".into(),
        y_label: "rad".into(),
        ..Panel::default()
    };
    for (i, (name, f)) in att.iter().enumerate() {
        diff.series.push(Series {
            name: format!("{name} A - B"),
            points: a.iter().zip(b).map(|(x, y)| (x.t, f(x) - f(y))).collect(),
            colour: i,
            dashed: false,
        });
    }
    vec![
        both("Attitude", "rad", &att),
        both("Position (NED)", "m", &pos),
        both("Motor commands", "throttle, 0 to 1", &motors),
        both("Cycles per tick", "cycles", &cycles),
        diff,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_judged_only_when_asked() {
        let mut t = Tolerances::default();
        assert_eq!(t.of("roll"), Some(0.0));
        assert_eq!(t.of("m4_cycles"), None);
        t.per_signal.insert("m4_cycles".into(), 100.0);
        t.default = 0.01;
        assert_eq!(t.of("m4_cycles"), Some(100.0));
        assert_eq!(t.of("pitch"), Some(0.01));
        assert!(t.validate().is_ok());
        t.per_signal.insert("altitude".into(), 1.0);
        assert!(t.validate().unwrap_err().contains("no signal \"altitude\""));
    }
}
