//! Campaigns (`sim sweep`): one scenario flown many times with its parameters varied. A sweep
//! file names the base scenario, the dimensions to vary and the number of runs; run `i` is
//! fully determined by (sweep file, `i`): list and range dimensions form a grid walked in file
//! order (the first dimension fastest), random draws come from a ChaCha8 stream seeded by
//! (the sweep's seed, `i`, the dimension's position). Runs fly on worker threads (each its own
//! session: engines do not cross threads), any slice of them at a time (`--shard I/N`), and
//! their results merge into one report, whatever slices produced them.
//!
//! The report is deterministic (the same sweep file gives the same `report.json` byte for byte,
//! on one process or merged from shards); wall-clock figures go to `timing.json` beside it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};
use serde::{Deserialize, Serialize};

use crate::check::{all_finite, at_least, finite, invalid, non_negative, Checked};
use crate::error::Result;
use crate::scenario::{Fault, Gate, GateResult, Scenario};
use crate::session::Session;
use crate::vehicle::wind::Gust;
use twin_hosting::backend::Backend;
use twin_machine::{Error as TwinError, Result as TwinResult};

/// A sweep file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub name: String,
    /// The base scenario, relative to the sweep file's project root (as a scenario's paths).
    pub scenario: PathBuf,
    /// How many runs.
    pub runs: u64,
    /// The random draws' seed.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub vary: Vec<Vary>,
    /// The gates that count, by their position in the scenario's list (all when empty).
    #[serde(default)]
    pub gates: Vec<usize>,
    /// How many of the worst runs the report lists with their replay.
    #[serde(default = "ten")]
    pub worst: usize,
    /// Where the runs fly, overriding the scenario (both components).
    #[serde(default)]
    pub backend: Option<Backend>,
    /// The directory of the sweep file ([`Sweep::load`]): where `scenario` is looked for
    /// first.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

fn ten() -> usize {
    10
}

/// One varied parameter and its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vary {
    pub what: Param,
    pub values: Values,
}

/// What a dimension varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Param {
    /// The scenario's seed (sensor noise, turbulence): integers.
    Seed,
    /// Steady horizontal wind speed (m/s), keeping the scenario's direction.
    WindSpeed,
    /// The steady wind's direction (rad from north, the way the air moves), keeping its speed.
    WindDirection,
    /// Every gust's peak magnitude (m/s), keeping its direction (the scenario needs a gust).
    GustAmplitude,
    /// The first gust's start (s); later gusts move with it.
    GustTime,
    /// The IMU's white noise (accelerometer and gyro) times this factor.
    ImuNoiseScale,
    /// The vehicle-state reaches the CM7 this many ticks late.
    NavStateDelay,
    /// The vehicle-state delay varies by up to this many ticks.
    NavStateJitter,
    /// The scenario's rotor failure (motor 0 when it has none) happens at this time (s).
    RotorFailureTime,
    /// Initial attitude (rad) and position (m, NED).
    InitialRoll,
    InitialPitch,
    InitialYaw,
    InitialNorth,
    InitialEast,
    InitialDown,
    /// Where both components fly (`values: Backends([...])`).
    Backend,
}

/// A dimension's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Values {
    /// These values, in turn (a grid dimension).
    List(Vec<f64>),
    /// `steps` values from `from` to `to` inclusive, evenly spaced (a grid dimension).
    Range { from: f64, to: f64, steps: u32 },
    /// A seeded draw per run, uniform in [low, high).
    Uniform { low: f64, high: f64 },
    /// A seeded draw per run, normal.
    Normal { mean: f64, sigma: f64 },
    /// The seed: the sweep's seed plus the run's index.
    PerRun,
    /// Backends, in turn (a grid dimension).
    Backends(Vec<Backend>),
}

impl Values {
    /// How many values a grid dimension has (None for a draw).
    fn grid_len(&self) -> Option<u64> {
        match self {
            Values::List(v) => Some(v.len() as u64),
            Values::Range { steps, .. } => Some(u64::from(*steps)),
            Values::Backends(b) => Some(b.len() as u64),
            _ => None,
        }
    }
}

/// A parameter's value in one run (a number, or a backend's name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Number(f64),
    Backend(Backend),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Number(x) => write!(f, "{x}"),
            Value::Backend(b) => write!(f, "{b}"),
        }
    }
}

impl Sweep {
    /// Load a sweep file: the sweep, its text, and the project root its paths start from.
    pub fn load(file: &Path) -> TwinResult<(Sweep, String, PathBuf)> {
        let text = std::fs::read_to_string(file).map_err(|e| TwinError::Io {
            path: file.display().to_string(),
            source: e,
        })?;
        let mut s = Sweep::parse(&text, file)?;
        s.origin = crate::scenario::origin_of(file);
        Ok((s, text, crate::scenario::root_for(file)))
    }

    /// A sweep from its text (`file` names it in errors).
    pub fn parse(text: &str, file: &Path) -> TwinResult<Sweep> {
        crate::scenario::parse_ron(text, &file.display().to_string())
    }

    /// The base scenario, found as a scenario's files are ([`crate::scenario::find_file`]).
    pub fn base(&self, root: &Path) -> TwinResult<Scenario> {
        let file = crate::scenario::find_file(self.origin.as_deref(), root, &self.scenario)
            .map_err(|tried| {
                TwinError::Usage(format!(
                    "{}: scenario {} not found (looked in {})",
                    self.name,
                    self.scenario.display(),
                    crate::scenario::looked_in(&tried)
                ))
            })?;
        Scenario::load(&file)
    }

    /// Check the sweep against its base scenario: every dimension applicable, values finite and
    /// in range. An error names the line and column of the value in `text` (the file's).
    pub fn check(&self, base: &Scenario, text: &str, file: &str) -> TwinResult<()> {
        self.checked(base).map_err(|e| e.error(text, file))
    }

    fn checked(&self, base: &Scenario) -> Checked {
        at_least(self.runs, 1, "runs")?;
        for (d, v) in self.vary.iter().enumerate() {
            let at = |field: &str| format!("vary[{d}].values{field}");
            let what = v.what;
            match &v.values {
                Values::List(x) => all_finite(x, &at(""))?,
                Values::Range { from, to, steps } => {
                    finite(*from, &at(".from"))?;
                    finite(*to, &at(".to"))?;
                    if *steps == 0 {
                        return Err(invalid(
                            at(".steps"),
                            format!("{what:?}: a range needs steps >= 1"),
                        ));
                    }
                }
                Values::Uniform { low, high } => {
                    finite(*low, &at(".low"))?;
                    finite(*high, &at(".high"))?;
                    if low >= high {
                        return Err(invalid(
                            at(".high"),
                            format!("{what:?}: Uniform needs low < high"),
                        ));
                    }
                }
                Values::Normal { mean, sigma } => {
                    finite(*mean, &at(".mean"))?;
                    non_negative(*sigma, &at(".sigma"))?;
                }
                Values::PerRun | Values::Backends(_) => {}
            }
            if v.values.grid_len() == Some(0) {
                return Err(invalid(at(""), format!("{what:?}: an empty list")));
            }
            let backend = what == Param::Backend;
            if backend != matches!(v.values, Values::Backends(_)) {
                return Err(invalid(
                    at(""),
                    format!("{what:?}: Backend takes Backends([...]), the others numbers"),
                ));
            }
            if matches!(v.values, Values::PerRun) && what != Param::Seed {
                return Err(invalid(at(""), format!("{what:?}: PerRun is for Seed")));
            }
            if matches!(what, Param::GustAmplitude | Param::GustTime) && base.wind.gusts.is_empty()
            {
                return Err(invalid(
                    format!("vary[{d}].what"),
                    format!("{what:?}: scenario {} has no gust to vary", base.name),
                ));
            }
        }
        if let Some(k) = self.gates.iter().position(|&g| g >= base.gates.len()) {
            return Err(invalid(
                format!("gates[{k}]"),
                format!(
                    "gate {}: scenario {} has {} gates",
                    self.gates[k],
                    base.name,
                    base.gates.len()
                ),
            ));
        }
        Ok(())
    }

    /// Run `i`'s values, one per dimension.
    pub fn values(&self, i: u64) -> Vec<(Param, Value)> {
        let mut grid = i;
        self.vary
            .iter()
            .enumerate()
            .map(|(d, v)| {
                let draw = || {
                    ChaCha8Rng::seed_from_u64(
                        self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (d as u64) << 56,
                    )
                };
                let mut take = |n: u64| {
                    let k = grid % n;
                    grid /= n;
                    k
                };
                let value = match &v.values {
                    Values::List(x) => Value::Number(x[take(x.len() as u64) as usize]),
                    Values::Range { from, to, steps } => {
                        let k = take(u64::from(*steps));
                        let span = if *steps > 1 {
                            (to - from) / f64::from(steps - 1)
                        } else {
                            0.0
                        };
                        Value::Number(from + span * k as f64)
                    }
                    Values::Backends(b) => Value::Backend(b[take(b.len() as u64) as usize]),
                    Values::Uniform { low, high } => Value::Number(
                        Uniform::new(*low, *high).map_or(*low, |u| u.sample(&mut draw())),
                    ),
                    Values::Normal { mean, sigma } => {
                        let n: f64 = StandardNormal.sample(&mut draw());
                        Value::Number(mean + sigma * n)
                    }
                    Values::PerRun => Value::Number(self.seed.wrapping_add(i) as f64),
                };
                (v.what, value)
            })
            .collect()
    }

    /// Run `i`'s scenario: the base with its values applied.
    pub fn scenario(&self, base: &Scenario, i: u64) -> (Scenario, Vec<(Param, Value)>) {
        let mut s = base.clone();
        s.name = format!("{}-run{i}", base.name);
        if let Some(b) = self.backend {
            s.flight.estimator_backend = b;
            s.flight.controller_backend = b;
        }
        let values = self.values(i);
        for (what, value) in &values {
            apply(&mut s, *what, value);
        }
        (s, values)
    }
}

fn apply(s: &mut Scenario, what: Param, value: &Value) {
    let x = match value {
        Value::Number(x) => *x,
        Value::Backend(b) => {
            s.flight.estimator_backend = *b;
            s.flight.controller_backend = *b;
            return;
        }
    };
    let steady = s.wind.steady;
    let (speed, dir) = (steady[0].hypot(steady[1]), steady[1].atan2(steady[0]));
    let ticks = x.round().clamp(0.0, f64::from(u32::MAX)) as u32;
    let replace_fault = |s: &mut Scenario, keep: fn(&Fault) -> bool, f: Fault| {
        s.faults.retain(keep);
        s.faults.push(f);
    };
    match what {
        Param::Seed => s.seed = x.round().max(0.0) as u64,
        Param::WindSpeed => s.wind.steady = [x * dir.cos(), x * dir.sin(), steady[2]],
        Param::WindDirection => s.wind.steady = [speed * x.cos(), speed * x.sin(), steady[2]],
        Param::GustAmplitude => {
            for g in &mut s.wind.gusts {
                let m = g.amplitude.iter().map(|a| a * a).sum::<f64>().sqrt();
                g.amplitude = if m > 0.0 {
                    g.amplitude.map(|a| a * x / m)
                } else {
                    [x, 0.0, 0.0]
                };
            }
        }
        Param::GustTime => {
            let shift = x - s.wind.gusts.first().map_or(0.0, |g: &Gust| g.start);
            for g in &mut s.wind.gusts {
                g.start += shift;
            }
        }
        Param::ImuNoiseScale => {
            s.sensors.accel_noise *= x;
            s.sensors.gyro_noise *= x;
        }
        Param::NavStateDelay => replace_fault(
            s,
            |f| !matches!(f, Fault::NavStateDelay { .. }),
            Fault::NavStateDelay { ticks },
        ),
        Param::NavStateJitter => replace_fault(
            s,
            |f| !matches!(f, Fault::NavStateJitter { .. }),
            Fault::NavStateJitter { ticks },
        ),
        Param::RotorFailureTime => {
            let motor = s
                .faults
                .iter()
                .find_map(|f| match f {
                    Fault::RotorFailure { motor, .. } => Some(*motor),
                    _ => None,
                })
                .unwrap_or(0);
            replace_fault(
                s,
                |f| !matches!(f, Fault::RotorFailure { .. }),
                Fault::RotorFailure { motor, at: x },
            )
        }
        Param::InitialRoll => s.initial.attitude.0 = x,
        Param::InitialPitch => s.initial.attitude.1 = x,
        Param::InitialYaw => s.initial.attitude.2 = x,
        Param::InitialNorth => s.initial.position.0 = x,
        Param::InitialEast => s.initial.position.1 = x,
        Param::InitialDown => s.initial.position.2 = x,
        Param::Backend => {}
    }
}

/// One run's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub index: u64,
    pub values: Vec<(Param, Value)>,
    /// Every counted gate passed and the run reached its end.
    pub pass: bool,
    /// The counted gates: (gate, pass, worst value).
    pub gates: Vec<(String, bool, f64)>,
    /// Why the run ended early, or could not start.
    pub stopped: Option<String>,
}

/// Fly one run to its end; None when `stop` was raised before it finished.
pub fn fly(
    s: Scenario,
    root: &Path,
    objects: &Path,
    counted: &[usize],
    index: u64,
    values: Vec<(Param, Value)>,
    stop: &AtomicBool,
) -> Option<RunResult> {
    let fail = |e: String| RunResult {
        index,
        values: values.clone(),
        pass: false,
        gates: Vec::new(),
        stopped: Some(e),
    };
    let mut session = match Session::open(s, root, objects) {
        Ok(x) => x,
        Err(e) => return Some(fail(e.to_string())),
    };
    while session.step() {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
    }
    let report = session.report();
    let gates: Vec<(String, bool, f64)> = report
        .gates
        .iter()
        .enumerate()
        .filter(|(k, _)| counted.is_empty() || counted.contains(k))
        .map(|(_, g): (usize, &GateResult)| (g.gate.clone(), g.pass, g.worst))
        .collect();
    let reached = report.stopped.is_none() && report.ticks >= session.scenario().steps;
    Some(RunResult {
        index,
        values,
        pass: reached && gates.iter().all(|g| g.1),
        gates,
        stopped: report.stopped,
    })
}

/// The runs of a slice, in index order, and whether the campaign was interrupted: a shard's
/// self-describing results file (it carries the sweep file's path and text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The sweep's name, its file and text, and the text's digest: shards of another sweep
    /// file (or another version of it) are refused.
    pub sweep: String,
    pub file: PathBuf,
    pub text: String,
    pub digest: String,
    pub runs: u64,
    /// The slice of run indices this covers: [start, end).
    pub slice: (u64, u64),
    pub results: Vec<RunResult>,
    pub interrupted: bool,
}

/// The content digest of a sweep file's text (SHA-256, hex).
pub fn digest(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The slice of `runs` that shard `i` of `n` flies: [i·runs/n, (i+1)·runs/n).
pub fn shard(runs: u64, i: u64, n: u64) -> (u64, u64) {
    let at = |k: u64| (u128::from(runs) * u128::from(k) / u128::from(n)) as u64;
    (at(i), at(i + 1))
}

/// A campaign's fixed inputs: the sweep, its base scenario, the project root, and where synth's
/// objects go (a directory per worker inside it).
pub struct Campaign<'a> {
    pub sweep: &'a Sweep,
    pub base: &'a Scenario,
    pub root: &'a Path,
    pub objects: &'a Path,
}

impl Campaign<'_> {
    /// Fly the runs of `slice` on `jobs` worker threads; `done` hears of each as it finishes
    /// (in completion order). Raising `stop` keeps the finished runs and drops the ones in
    /// flight.
    pub fn run(
        &self,
        slice: (u64, u64),
        jobs: usize,
        stop: &AtomicBool,
        mut done: impl FnMut(&RunResult),
    ) -> Vec<RunResult> {
        let next = AtomicU64::new(slice.0);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut out = Vec::new();
        std::thread::scope(|scope| {
            for w in 0..jobs.max(1) {
                let (tx, next) = (tx.clone(), &next);
                // Each worker compiles its own objects: no two threads write one file.
                let objects = self.objects.join(format!("worker{w}"));
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= slice.1 || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (s, values) = self.sweep.scenario(self.base, i);
                    let gates = &self.sweep.gates;
                    match fly(s, self.root, &objects, gates, i, values, stop) {
                        Some(r) => {
                            if tx.send(r).is_err() {
                                break;
                            }
                        }
                        None => break,
                    }
                });
            }
            drop(tx);
            for r in rx {
                done(&r);
                out.push(r);
            }
        });
        out.sort_by_key(|r| r.index);
        out
    }
}

/// Merge slices of one sweep into one set of results (refusing another sweep's slices or
/// overlapping ones).
pub fn merge(parts: Vec<Results>) -> Result<Results> {
    let Some(first) = parts.first() else {
        return Err(TwinError::Usage("no shard results to merge".into()).into());
    };
    let (sweep, file, text) = (first.sweep.clone(), first.file.clone(), first.text.clone());
    let (digest, runs) = (first.digest.clone(), first.runs);
    let mut slices: Vec<(u64, u64)> = Vec::new();
    let mut results = Vec::new();
    let mut interrupted = false;
    for p in parts {
        if p.digest != digest || p.runs != runs {
            return Err(TwinError::Usage(format!(
                "shard of sweep {} (digest {}) does not belong with sweep {sweep} (digest {digest})",
                p.sweep, p.digest
            ))
            .into());
        }
        if let Some(o) = slices.iter().find(|s| s.0 < p.slice.1 && p.slice.0 < s.1) {
            return Err(TwinError::Usage(format!(
                "shards overlap: runs {}..{} and {}..{}",
                o.0, o.1, p.slice.0, p.slice.1
            ))
            .into());
        }
        slices.push(p.slice);
        interrupted |= p.interrupted;
        results.extend(p.results);
    }
    results.sort_by_key(|r| r.index);
    slices.sort();
    let covered = slices
        .iter()
        .try_fold(0u64, |at, s| (s.0 == at).then_some(s.1));
    let slice = match covered {
        Some(end) => (0, end),
        None => (slices[0].0, slices[slices.len() - 1].1),
    };
    // Runs missing from the slices (a shard not given) make the campaign incomplete.
    let interrupted = interrupted || results.len() as u64 != runs;
    Ok(Results {
        sweep,
        file,
        text,
        digest,
        runs,
        slice,
        results,
        interrupted,
    })
}

/// A gate's pass rate over the runs, with its 95 % Wilson interval, and its metric's spread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateStats {
    pub gate: String,
    pub passed: u64,
    pub runs: u64,
    pub rate: f64,
    pub ci95: (f64, f64),
    /// The gate's worst value per run: min, median, 95th percentile, max.
    pub metric: [f64; 4],
    /// 20 equal bins from min to max: (lower edge, count).
    pub histogram: Vec<(f64, u64)>,
}

/// One of the worst runs, and how to fly it again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    pub index: u64,
    pub values: Vec<(Param, Value)>,
    pub pass: bool,
    /// The counted gates' worst value over their limit (> 1 fails).
    pub margin: f64,
    pub stopped: Option<String>,
    /// The scenario file that flies this run again, bit for bit, relative to the report's
    /// directory, and the command (run in that directory).
    pub replay: String,
    pub command: String,
}

/// A run flown again on the emulated cores in lockstep with wasmtime (`--confirm-arm`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confirmed {
    pub index: u64,
    /// Why this run: one of the worst, or the seeded sample.
    pub why: String,
    /// The ARM run's counted gates gave the same worst values, bit for bit, as the campaign's
    /// run, and lockstep saw ARM and wasmtime agree on every tick.
    pub matched: bool,
    /// Where they parted, when they did.
    pub detail: Option<String>,
}

impl Campaign<'_> {
    /// Fly `k` of the campaign's runs again on the emulated cores in lockstep (ARM and
    /// wasmtime compared every tick): the worst half of them and a sample drawn with the
    /// sweep's seed.
    pub fn confirm_arm(
        &self,
        r: &Results,
        worst: &[Worst],
        k: usize,
        stop: &AtomicBool,
    ) -> Vec<Confirmed> {
        let mut picked: Vec<(u64, &str)> = worst
            .iter()
            .take(k.div_ceil(2))
            .map(|w| (w.index, "worst"))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.sweep.seed ^ 0xC0F1_A4A7);
        let flown: Vec<u64> = r.results.iter().map(|x| x.index).collect();
        let mut tries = 0;
        while picked.len() < k.min(flown.len()) && tries < 100 * k {
            tries += 1;
            let at = Uniform::new(0, flown.len()).map_or(0, |u| u.sample(&mut rng));
            if !picked.iter().any(|p| p.0 == flown[at]) {
                picked.push((flown[at], "sample"));
            }
        }
        picked
            .into_iter()
            .filter_map(|(index, why)| {
                let original = r.results.iter().find(|x| x.index == index)?;
                let (mut s, values) = self.sweep.scenario(self.base, index);
                s.flight.estimator_backend = Backend::Lockstep;
                s.flight.controller_backend = Backend::Lockstep;
                let gates = &self.sweep.gates;
                let again = fly(s, self.root, self.objects, gates, index, values, stop)?;
                let same = again.gates.len() == original.gates.len()
                    && again
                        .gates
                        .iter()
                        .zip(&original.gates)
                        .all(|(a, b)| a.2.to_bits() == b.2.to_bits());
                let detail = match (&again.stopped, same) {
                    (Some(e), _) => Some(e.clone()),
                    (None, false) => Some(format!(
                        "the gates' worst values differ: ARM {:?}, campaign {:?}",
                        again.gates.iter().map(|g| g.2).collect::<Vec<_>>(),
                        original.gates.iter().map(|g| g.2).collect::<Vec<_>>()
                    )),
                    (None, true) => None,
                };
                Some(Confirmed {
                    index,
                    why: why.to_string(),
                    matched: detail.is_none(),
                    detail,
                })
            })
            .collect()
    }
}

/// The campaign's report: deterministic for a sweep file and its runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub sweep: String,
    pub digest: String,
    pub scenario: String,
    pub runs: u64,
    pub flown: u64,
    pub passed: u64,
    pub pass_rate: f64,
    pub ci95: (f64, f64),
    pub interrupted: bool,
    pub gates: Vec<GateStats>,
    pub worst: Vec<Worst>,
    /// Runs flown again on the emulated cores in lockstep (`--confirm-arm`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub confirmed: Vec<Confirmed>,
}

/// The 95 % Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p, z) = (n as f64, k as f64 / n as f64, 1.959_963_984_540_054);
    let den = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / den;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / den;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A gate's limit, for the margin of its worst value.
fn limit(g: &Gate) -> Option<f64> {
    match g {
        Gate::Attitude { below, .. } | Gate::Position { below, .. } => Some(*below),
        Gate::FailsafeWithin { within } => Some(*within),
        _ => None,
    }
}

/// The report of `r`. The worst runs' replay files are named relative to the report's own
/// directory (`replay/run-K.ron`), so the report is the same bytes wherever it is written.
pub fn report(sweep: &Sweep, base: &Scenario, r: &Results) -> Report {
    let counted: Vec<usize> = if sweep.gates.is_empty() {
        (0..base.gates.len()).collect()
    } else {
        sweep.gates.clone()
    };
    let flown = r.results.len() as u64;
    let passed = r.results.iter().filter(|x| x.pass).count() as u64;
    let gates = counted
        .iter()
        .enumerate()
        .map(|(k, _)| {
            let of: Vec<&(String, bool, f64)> =
                r.results.iter().filter_map(|x| x.gates.get(k)).collect();
            let name = of.first().map_or(String::new(), |g| g.0.clone());
            let ok = of.iter().filter(|g| g.1).count() as u64;
            let mut m: Vec<f64> = of.iter().map(|g| g.2).collect();
            m.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile(&m, 0.0), quantile(&m, 1.0));
            let width = (hi - lo) / 20.0;
            let mut histogram: Vec<(f64, u64)> =
                (0..20).map(|b| (lo + width * b as f64, 0)).collect();
            for x in &m {
                let b = if width > 0.0 {
                    (((x - lo) / width) as usize).min(19)
                } else {
                    0
                };
                histogram[b].1 += 1;
            }
            GateStats {
                gate: name,
                passed: ok,
                runs: of.len() as u64,
                rate: ok as f64 / (of.len() as f64).max(1.0),
                ci95: wilson(ok, of.len() as u64),
                metric: [lo, quantile(&m, 0.5), quantile(&m, 0.95), hi],
                histogram,
            }
        })
        .collect();
    let margin = |x: &RunResult| {
        counted
            .iter()
            .zip(&x.gates)
            .filter_map(|(&g, (_, _, worst))| limit(&base.gates[g]).map(|l| worst / l))
            .fold(0.0, f64::max)
    };
    let mut ranked: Vec<&RunResult> = r.results.iter().collect();
    // Failed runs first, then by the largest margin; the index breaks ties.
    ranked.sort_by(|a, b| {
        a.pass
            .cmp(&b.pass)
            .then(margin(b).total_cmp(&margin(a)))
            .then(a.index.cmp(&b.index))
    });
    let worst = ranked
        .into_iter()
        .take(sweep.worst)
        .map(|x| {
            let replay = format!("replay/run-{}.ron", x.index);
            Worst {
                index: x.index,
                values: x.values.clone(),
                pass: x.pass,
                margin: margin(x),
                stopped: x.stopped.clone(),
                command: format!("sim --scenario {replay}"),
                replay,
            }
        })
        .collect();
    Report {
        sweep: r.sweep.clone(),
        digest: r.digest.clone(),
        scenario: base.name.clone(),
        runs: r.runs,
        flown,
        passed,
        pass_rate: passed as f64 / (flown as f64).max(1.0),
        ci95: wilson(passed, flown),
        interrupted: r.interrupted,
        gates,
        worst,
        confirmed: Vec::new(),
    }
}

/// Run `i`'s scenario as a file that flies it again on its own: the flight modules' paths made
/// absolute where they were found ([`Scenario::find`]).
pub fn replay_file(sweep: &Sweep, base: &Scenario, root: &Path, i: u64) -> TwinResult<String> {
    let (mut s, _) = sweep.scenario(base, i);
    let found = |origin: Option<&Path>, p: &Path| {
        crate::scenario::find_file(origin, root, p).unwrap_or_else(|_| root.join(p))
    };
    let origin = s.origin.clone();
    s.flight.wasm = found(origin.as_deref(), &s.flight.wasm);
    s.flight.modules = (s.flight.modules.iter())
        .map(|m| found(origin.as_deref(), m))
        .collect();
    ron::ser::to_string_pretty(&s, ron::ser::PrettyConfig::default())
        .map_err(|e| TwinError::Usage(format!("writing run {i}'s scenario: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(vary: Vec<Vary>, runs: u64) -> Sweep {
        Sweep {
            name: "t".into(),
            scenario: "scenarios/hover-gusts.ron".into(),
            runs,
            seed: 7,
            vary,
            gates: vec![],
            worst: 3,
            backend: None,
            origin: None,
        }
    }

    #[test]
    fn grid_dimensions_walk_in_file_order_and_draws_are_per_run() {
        let s = sweep(
            vec![
                Vary {
                    what: Param::WindSpeed,
                    values: Values::List(vec![0.0, 5.0]),
                },
                Vary {
                    what: Param::ImuNoiseScale,
                    values: Values::Range {
                        from: 1.0,
                        to: 3.0,
                        steps: 3,
                    },
                },
                Vary {
                    what: Param::WindDirection,
                    values: Values::Uniform {
                        low: 0.0,
                        high: 1.0,
                    },
                },
            ],
            6,
        );
        let num = |v: &Value| match v {
            Value::Number(x) => *x,
            _ => f64::NAN,
        };
        let grid: Vec<(f64, f64)> = (0..6)
            .map(|i| {
                let v = s.values(i);
                (num(&v[0].1), num(&v[1].1))
            })
            .collect();
        assert_eq!(
            grid,
            [
                (0.0, 1.0),
                (5.0, 1.0),
                (0.0, 2.0),
                (5.0, 2.0),
                (0.0, 3.0),
                (5.0, 3.0)
            ]
        );
        // A draw depends on the run alone: the same for the same index, not for another.
        assert_eq!(s.values(4)[2], s.values(4)[2]);
        assert_ne!(s.values(4)[2], s.values(5)[2]);
        let d = num(&s.values(4)[2].1);
        assert!((0.0..1.0).contains(&d));
    }

    #[test]
    fn shards_cover_the_runs_once() {
        let mut covered = Vec::new();
        for i in 0..7 {
            let (a, b) = shard(1000, i, 7);
            covered.extend(a..b);
        }
        assert_eq!(covered, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn wilson_interval_known_answers() {
        // 95 % Wilson intervals: 0/10 -> [0, 0.2775], 10/10 -> [0.7225, 1], 50/100 ->
        // [0.4038, 0.5962] (the standard tables).
        let (lo, hi) = wilson(0, 10);
        assert!(lo.abs() < 1e-12 && (hi - 0.2775).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(10, 10);
        assert!(
            (lo - 0.7225).abs() < 1e-4 && (hi - 1.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(50, 100);
        assert!((lo - 0.4038).abs() < 1e-4 && (hi - 0.5962).abs() < 1e-4);
    }

    #[test]
    fn shard_files_carry_every_f64_back_bit_for_bit() {
        // The value that parted a Slurm merge from the single-process report (one ulp) with
        // serde_json's default float parser, and 100 000 random bit patterns.
        let mut v = vec![0.109_888_115_347_246_17_f64, 0.109_888_115_347_246_16];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        v.extend(
            (0..100_000)
                .map(|_| f64::from_bits(rand::RngExt::random::<u64>(&mut rng)))
                .filter(|x| x.is_finite()),
        );
        let back: Vec<f64> = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        let wrong = v
            .iter()
            .zip(&back)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(wrong, 0, "of {} values", v.len());
    }
}
