//! What the UI holds of a run: the ticks and core snapshots received from the worker, the live
//! gates, the event log built from them, and a loaded overlay trace.

use std::path::PathBuf;
use std::time::Instant;

use twin_flight::flightloop::Tick;
use twin_flight::scenario::{GateStatus, LiveGate, Report};
use twin_flight::session::{CoreSnapshot, SessionInfo};

/// Kinds of event-log entries (colour and filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// What the flight loop reported (failsafe, loss of control, NavState not delivered...).
    Flight,
    /// A core overran its period.
    Overrun,
    /// A gate failed at this tick.
    Gate,
    /// The run stopped early: a trap, a lockstep divergence.
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub tick: usize,
    pub t: f64,
    pub kind: EventKind,
    pub text: String,
}

/// The run shown: everything the worker sent since the session opened.
pub struct Run {
    pub file: PathBuf,
    pub info: SessionInfo,
    pub ticks: Vec<Tick>,
    pub cores: Vec<[CoreSnapshot; 2]>,
    pub gates: Vec<LiveGate>,
    pub events: Vec<LogEvent>,
    pub report: Option<Report>,
    pub running: bool,
    /// Wall time spent running (for the real-time factor shown).
    pub wall: f64,
    run_since: Option<Instant>,
}

impl Run {
    pub fn new(file: PathBuf, info: SessionInfo) -> Run {
        Run {
            file,
            info,
            ticks: Vec::new(),
            cores: Vec::new(),
            gates: Vec::new(),
            events: Vec::new(),
            report: None,
            running: false,
            wall: 0.0,
            run_since: None,
        }
    }

    pub fn set_running(&mut self, on: bool) {
        if let Some(since) = self.run_since.take() {
            self.wall += since.elapsed().as_secs_f64();
        }
        if on {
            self.run_since = Some(Instant::now());
        }
        self.running = on;
    }

    /// Wall seconds spent running so far.
    pub fn wall_seconds(&self) -> f64 {
        self.wall + self.run_since.map_or(0.0, |s| s.elapsed().as_secs_f64())
    }

    /// Take a batch of ticks: append them and log what they contain.
    pub fn append(
        &mut self,
        ticks: Vec<Tick>,
        cores: Vec<[CoreSnapshot; 2]>,
        gates: Vec<LiveGate>,
        failed: &[(usize, usize)],
    ) {
        let base = self.ticks.len();
        for (i, t) in ticks.iter().enumerate() {
            let k = base + i;
            let log = |kind, text: String| LogEvent {
                tick: k,
                t: t.t,
                kind,
                text,
            };
            for e in &t.events {
                self.events.push(log(EventKind::Flight, e.clone()));
            }
            let budget = |c: usize| self.info.cores[c].budget_cycles;
            for (c, over, cycles) in [
                (0, t.overrun_m4, t.m4_cycles),
                (1, t.overrun_m7, t.m7_cycles),
            ] {
                if over {
                    let name = &self.info.cores[c].core;
                    self.events.push(log(
                        EventKind::Overrun,
                        format!("{name} overran: {cycles} cycles > budget {}", budget(c)),
                    ));
                }
            }
        }
        for &(k, g) in failed {
            let t = ticks.get(k - base).map_or(0.0, |t| t.t);
            let what = gates.get(g).map_or("?", |g| g.gate.as_str());
            self.events.push(LogEvent {
                tick: k,
                t,
                kind: EventKind::Gate,
                text: format!("gate failed: {what}"),
            });
        }
        self.events.sort_by_key(|e| e.tick);
        self.ticks.extend(ticks);
        self.cores.extend(cores);
        self.gates = gates;
    }

    pub fn finish(&mut self, report: Report) {
        if let Some(why) = &report.stopped {
            let k = self.ticks.len().saturating_sub(1);
            self.events.push(LogEvent {
                tick: k,
                t: self.ticks.last().map_or(0.0, |t| t.t),
                kind: EventKind::Stopped,
                text: format!("run stopped: {why}"),
            });
        }
        self.report = Some(report);
    }

    /// Every gate passed so far (none failed).
    pub fn gates_ok(&self) -> bool {
        !self
            .gates
            .iter()
            .any(|g| matches!(g.status, GateStatus::Failed { .. }))
    }
}

/// A saved trace drawn over the run.
pub struct Overlay {
    pub name: String,
    pub ticks: Vec<Tick>,
    /// Distinguishes overlays loaded one after another (cached plots and comparisons).
    pub generation: u64,
}

/// At most about `2 * buckets` points of `f` over `ticks`: every tick when there are few, else
/// the minimum and maximum of each bucket (so spikes survive). Non-finite values are left out.
pub fn decimate(ticks: &[Tick], buckets: usize, f: impl Fn(&Tick) -> f64) -> Vec<[f64; 2]> {
    if ticks.len() <= 2 * buckets {
        return ticks
            .iter()
            .filter_map(|t| {
                let v = f(t);
                v.is_finite().then_some([t.t, v])
            })
            .collect();
    }
    let per = ticks.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(2 * buckets + 2);
    for chunk in ticks.chunks(per) {
        let (mut lo, mut hi): (Option<[f64; 2]>, Option<[f64; 2]>) = (None, None);
        for t in chunk {
            let v = f(t);
            if !v.is_finite() {
                continue;
            }
            if lo.is_none_or(|l| v < l[1]) {
                lo = Some([t.t, v]);
            }
            if hi.is_none_or(|h| v > h[1]) {
                hi = Some([t.t, v]);
            }
        }
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo[0] <= hi[0] {
                out.extend([lo, hi]);
            } else {
                out.extend([hi, lo]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(n: usize, f: impl Fn(usize) -> f64) -> Vec<Tick> {
        (0..n)
            .map(|k| Tick {
                t: k as f64 * 0.002,
                attitude: [f(k), 0.0, 0.0],
                ..Tick::default()
            })
            .collect()
    }

    #[test]
    fn decimation_keeps_every_point_when_few_and_the_extremes_when_many() {
        let few = ticks(10, |k| k as f64);
        assert_eq!(decimate(&few, 100, |t| t.attitude[0]).len(), 10);
        // A single spike in 10,000 ticks survives decimation to 100 buckets.
        let many = ticks(10_000, |k| {
            if k == 6_789 {
                5.0
            } else {
                (k % 7) as f64 * 0.1
            }
        });
        let d = decimate(&many, 100, |t| t.attitude[0]);
        assert!(d.len() <= 200, "{}", d.len());
        let top = d.iter().map(|p| p[1]).fold(f64::MIN, f64::max);
        assert_eq!(top, 5.0);
        assert!(d.windows(2).all(|w| w[0][0] <= w[1][0]), "time order kept");
        let nan = ticks(5, |k| if k == 2 { f64::NAN } else { 1.0 });
        assert_eq!(decimate(&nan, 100, |t| t.attitude[0]).len(), 4);
    }

    #[test]
    fn the_log_records_overruns_and_failed_gates_at_their_ticks() {
        let info = SessionInfo {
            name: "t".into(),
            description: String::new(),
            dt: 0.002,
            steps: 10,
            seed: 0,
            cores: [
                twin_flight::session::CoreInfo {
                    core: "m4".into(),
                    role: "estimator".into(),
                    backend: twin_hosting::backend::Backend::Arm,
                    budget_cycles: 800_000,
                    ps_per_cycle: 2_500,
                    cycle_model: "Cortex-M4".into(),
                },
                twin_flight::session::CoreInfo {
                    core: "m7".into(),
                    role: "controller".into(),
                    backend: twin_hosting::backend::Backend::Arm,
                    budget_cycles: 2_000_000,
                    ps_per_cycle: 1_000,
                    cycle_model: "Cortex-M7".into(),
                },
            ],
            waypoints: vec![],
            flight_computer: String::new(),
        };
        let mut run = Run::new("t.ron".into(), info);
        let mut batch = ticks(4, |_| 0.0);
        batch[2].overrun_m4 = true;
        batch[2].m4_cycles = 900_000;
        batch[3]
            .events
            .push("IO MCU failsafe: motors cut at 0.006 s".into());
        let gate = LiveGate {
            gate: "attitude error < 0.1 rad after 0 s".into(),
            status: GateStatus::Failed { at: 0.002 },
            worst: 0.2,
        };
        run.append(batch, vec![], vec![gate], &[(1, 0)]);
        let log: Vec<(usize, EventKind)> = run.events.iter().map(|e| (e.tick, e.kind)).collect();
        assert_eq!(
            log,
            vec![
                (1, EventKind::Gate),
                (2, EventKind::Overrun),
                (3, EventKind::Flight)
            ]
        );
        assert!(run.events[1].text.contains("900000 cycles > budget 800000"));
        assert!(!run.gates_ok());
    }
}
