//! Scenario traces on disk and their signals: `trace.csv` (one row per control tick, every float
//! written in Rust's shortest round-trip form, so a trace read back is bit-identical to the one
//! written), the reader that `twin-ui`'s overlay and comparisons use, and the named signals that
//! plots and comparisons share.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::flightloop::Tick;
use twin_machine::Error as TwinError;
use twin_machine::Result;

/// The columns of `trace.csv`, in order.
pub const TRACE_COLUMNS: &str = "t_s,x_m,y_m,z_m,vx,vy,vz,roll,pitch,yaw,p,q,r,\
roll_sp,pitch_sp,yaw_sp,p_sp,q_sp,r_sp,sp_x,sp_y,sp_z,\
ax,ay,az,gx,gy,gz,baro_alt,gnss_x,gnss_y,gnss_z,\
nav_qw,nav_qx,nav_qy,nav_qz,nav_x,nav_y,nav_z,nav_vx,nav_vy,nav_vz,\
nav_wx,nav_wy,nav_wz,nav_innovation,\
m0,m1,m2,m3,m4_cycles,m7_cycles,m4_stack,m7_stack,mu_latency_ns,overrun_m4,overrun_m7,events";

const F64S: usize = 13;
const F32S: usize = 3 + 3 + 3 + 3 + 3 + 1 + 3 + 14 + 4;

fn f64s(t: &Tick) -> impl Iterator<Item = &f64> {
    std::iter::once(&t.t)
        .chain(&t.position)
        .chain(&t.velocity)
        .chain(&t.attitude)
        .chain(&t.rates)
}

fn f32s(t: &Tick) -> impl Iterator<Item = &f32> {
    t.att_sp
        .iter()
        .chain(&t.rate_sp)
        .chain(&t.setpoint)
        .chain(&t.accel)
        .chain(&t.gyro)
        .chain(std::iter::once(&t.baro_alt))
        .chain(&t.gnss)
        .chain(&t.nav)
        .chain(&t.motors)
}

/// The trace as CSV: a header ([`TRACE_COLUMNS`]) and one row per tick; NaN for a sensor not
/// sampled; events joined by "; " (commas in them become spaces).
pub fn trace_csv(trace: &[Tick]) -> String {
    let mut out = format!("{TRACE_COLUMNS}\n");
    for t in trace {
        push_row(&mut out, t);
    }
    out
}

/// One row of [`trace_csv`], its newline included (a row without one was cut short).
fn push_row(out: &mut String, t: &Tick) {
    let mut first = true;
    for x in f64s(t) {
        let _ = write!(out, "{}{x}", if first { "" } else { "," });
        first = false;
    }
    for x in f32s(t) {
        let _ = write!(out, ",{x}");
    }
    let _ = writeln!(
        out,
        ",{},{},{},{},{},{},{},{}",
        t.m4_cycles,
        t.m7_cycles,
        t.m4_stack,
        t.m7_stack,
        t.mu_latency_ns,
        u8::from(t.overrun_m4),
        u8::from(t.overrun_m7),
        t.events.join("; ").replace(',', " ")
    );
}

/// A trace written as it is produced ([`trace_csv`]'s bytes, row by row): the header when it is
/// created, each row as it comes through a buffer that reaches the file at least once a second
/// of wall time, and everything at [`TraceWriter::finish`]. Rows reach the file whole, so a run
/// killed at any moment leaves a trace [`read_trace`] reads up to its last complete row.
pub struct TraceWriter {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    row: String,
    flushed: std::time::Instant,
    rows: u64,
}

/// How long a row may wait in the buffer.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl TraceWriter {
    /// Create (or truncate) `path` and write the header.
    pub fn create(path: &Path) -> Result<TraceWriter> {
        let file = std::fs::File::create(path).map_err(|e| io_error(path, e))?;
        let mut w = TraceWriter {
            file: std::io::BufWriter::with_capacity(1 << 16, file),
            path: path.to_path_buf(),
            row: String::with_capacity(1024),
            flushed: std::time::Instant::now(),
            rows: 0,
        };
        w.write(format!("{TRACE_COLUMNS}\n").as_bytes())?;
        w.flush()?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Append one tick's row.
    pub fn push(&mut self, t: &Tick) -> Result<()> {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        push_row(&mut row, t);
        // One write per row: the buffer only ever hands whole rows to the file.
        let written = self.write(row.as_bytes());
        self.row = row;
        written?;
        self.rows += 1;
        if self.flushed.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Everything written reaches the file (and the disk).
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(|e| io_error(&self.path, e))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write as _;
        self.file
            .write_all(bytes)
            .map_err(|e| io_error(&self.path, e))
    }

    fn flush(&mut self) -> Result<()> {
        use std::io::Write as _;
        self.flushed = std::time::Instant::now();
        self.file.flush().map_err(|e| io_error(&self.path, e))
    }
}

fn io_error(path: &Path, source: std::io::Error) -> TwinError {
    TwinError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where a trace is: `path` itself, or `path/trace.csv` when `path` is a directory (an `--out`
/// directory of `sim --scenario`).
pub fn trace_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("trace.csv")
    } else {
        path.to_path_buf()
    }
}

/// Read a trace written by [`trace_csv`] (a file or an `--out` directory). Errors name the file,
/// the line and the column.
pub fn read_trace(path: &Path) -> Result<Vec<Tick>> {
    let file = trace_file(path);
    let name = file.display().to_string();
    let bytes = std::fs::read(&file).map_err(|e| TwinError::Io {
        path: name.clone(),
        source: e,
    })?;
    // A run killed mid-write may cut a character in two: that is in the row cut short, which
    // the parser drops; anything else that is not UTF-8 fails to parse where it is.
    parse_trace(&String::from_utf8_lossy(&bytes), &name)
}

/// Parse CSV text produced by [`trace_csv`]; `file` names it in errors.
pub fn parse_trace(text: &str, file: &str) -> Result<Vec<Tick>> {
    let bad = |line: usize, message: String| TwinError::Image {
        file: format!("{file}:{line}"),
        message,
    };
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim_end() == TRACE_COLUMNS => {}
        Some(h) => {
            return Err(bad(
                1,
                format!(
                    "not an rt-twin trace of this version: the header is {:?}, expected {TRACE_COLUMNS:?}",
                    h.chars().take(80).collect::<String>()
                ),
            ))
        }
        None => return Err(bad(1, "empty file: no header".into())),
    }
    let columns: Vec<&str> = TRACE_COLUMNS.split(',').collect();
    let mut trace = Vec::new();
    // Every row ends with its newline: text after the last one is a row cut short (a run
    // killed while writing), not read.
    let complete = text.len() - text.rsplit('\n').next().map_or(0, str::len);
    let lines = text[..complete].lines().skip(1);
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        // Events are last and contain no commas.
        let fields: Vec<&str> = line.splitn(columns.len(), ',').collect();
        if fields.len() != columns.len() {
            return Err(bad(
                n,
                format!("{} fields, expected {}", fields.len(), columns.len()),
            ));
        }
        let field = |k: usize| fields[k].trim();
        let num_err = |k: usize, what: &str| {
            bad(
                n,
                format!(
                    "column {} ({}): {:?} is not {what}",
                    k + 1,
                    columns[k],
                    fields[k]
                ),
            )
        };
        let mut t = Tick::default();
        let mut k = 0;
        let mut next_f64 = |t: &mut f64| -> Result<()> {
            *t = field(k).parse().map_err(|_| num_err(k, "a number"))?;
            k += 1;
            Ok(())
        };
        {
            let Tick {
                t: time,
                position,
                velocity,
                attitude,
                rates,
                ..
            } = &mut t;
            next_f64(time)?;
            for x in position
                .iter_mut()
                .chain(velocity)
                .chain(attitude)
                .chain(rates)
            {
                next_f64(x)?;
            }
        }
        debug_assert_eq!(k, F64S);
        let mut next_f32 = |x: &mut f32| -> Result<()> {
            *x = field(k).parse().map_err(|_| num_err(k, "a number"))?;
            k += 1;
            Ok(())
        };
        {
            let Tick {
                att_sp,
                rate_sp,
                setpoint,
                accel,
                gyro,
                baro_alt,
                gnss,
                nav,
                motors,
                ..
            } = &mut t;
            let all = att_sp
                .iter_mut()
                .chain(rate_sp)
                .chain(setpoint)
                .chain(accel)
                .chain(gyro)
                .chain(std::iter::once(baro_alt))
                .chain(gnss)
                .chain(nav)
                .chain(motors);
            for x in all {
                next_f32(x)?;
            }
        }
        debug_assert_eq!(k, F64S + F32S);
        let int = |k: usize| -> Result<u64> {
            field(k).parse().map_err(|_| num_err(k, "a whole number"))
        };
        t.m4_cycles = int(k)?;
        t.m7_cycles = int(k + 1)?;
        t.m4_stack = u32::try_from(int(k + 2)?).map_err(|_| num_err(k + 2, "a stack size"))?;
        t.m7_stack = u32::try_from(int(k + 3)?).map_err(|_| num_err(k + 3, "a stack size"))?;
        t.mu_latency_ns = int(k + 4)?;
        let flag = |k: usize| -> Result<bool> {
            match field(k) {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(num_err(k, "0 or 1")),
            }
        };
        t.overrun_m4 = flag(k + 5)?;
        t.overrun_m7 = flag(k + 6)?;
        let events = fields[k + 7].trim();
        t.events = if events.is_empty() {
            Vec::new()
        } else {
            events.split("; ").map(str::to_string).collect()
        };
        trace.push(t);
    }
    Ok(trace)
}

/// A named scalar of a tick: what plots draw and comparisons measure.
#[derive(Clone, Copy)]
pub struct Signal {
    pub name: &'static str,
    pub unit: &'static str,
    pub get: fn(&Tick) -> f64,
}

macro_rules! signals {
    ($($name:literal $unit:literal |$t:ident| $e:expr;)*) => {
        /// Every signal of a trace, grouped as the plots group them.
        pub const SIGNALS: &[Signal] = &[$(Signal { name: $name, unit: $unit, get: |$t| $e }),*];
    };
}

signals! {
    "roll" "rad" |t| t.attitude[0];
    "pitch" "rad" |t| t.attitude[1];
    "yaw" "rad" |t| t.attitude[2];
    "p" "rad/s" |t| t.rates[0];
    "q" "rad/s" |t| t.rates[1];
    "r" "rad/s" |t| t.rates[2];
    "x" "m" |t| t.position[0];
    "y" "m" |t| t.position[1];
    "z" "m" |t| t.position[2];
    "vx" "m/s" |t| t.velocity[0];
    "vy" "m/s" |t| t.velocity[1];
    "vz" "m/s" |t| t.velocity[2];
    "m0" "" |t| f64::from(t.motors[0]);
    "m1" "" |t| f64::from(t.motors[1]);
    "m2" "" |t| f64::from(t.motors[2]);
    "m3" "" |t| f64::from(t.motors[3]);
    "nav_x" "m" |t| f64::from(t.nav[4]);
    "nav_y" "m" |t| f64::from(t.nav[5]);
    "nav_z" "m" |t| f64::from(t.nav[6]);
    "m4_cycles" "cycles" |t| t.m4_cycles as f64;
    "m7_cycles" "cycles" |t| t.m7_cycles as f64;
    "mu_latency" "ns" |t| t.mu_latency_ns as f64;
}

/// How one signal differs between two traces aligned by tick.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignalDiff {
    pub signal: String,
    pub max_abs: f64,
    pub rms: f64,
    /// Ticks compared (both finite).
    pub ticks: usize,
    /// The first tick where |a - b| exceeds the tolerance, and its time (s).
    pub first_exceeded: Option<(usize, f64)>,
    pub tolerance: f64,
}

/// Compare `a` and `b` tick by tick (up to the shorter) on every signal; `tolerance(name)` gives
/// each signal's bound. Ticks where either side is not finite are skipped; ticks where exactly
/// one side is NaN count as exceeding.
pub fn compare(a: &[Tick], b: &[Tick], tolerance: impl Fn(&str) -> f64) -> Vec<SignalDiff> {
    SIGNALS
        .iter()
        .map(|s| {
            let tol = tolerance(s.name);
            let (mut max_abs, mut sq, mut n, mut first) = (0.0f64, 0.0f64, 0usize, None);
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                let (p, q) = ((s.get)(x), (s.get)(y));
                if p.is_nan() && q.is_nan() {
                    continue;
                }
                let d = (p - q).abs();
                let d = if d.is_nan() { f64::INFINITY } else { d };
                if d > tol && first.is_none() {
                    first = Some((k, x.t));
                }
                if d.is_finite() {
                    max_abs = max_abs.max(d);
                    sq += d * d;
                    n += 1;
                } else {
                    max_abs = f64::INFINITY;
                }
            }
            SignalDiff {
                signal: s.name.into(),
                max_abs,
                rms: if n == 0 { 0.0 } else { (sq / n as f64).sqrt() },
                ticks: n,
                first_exceeded: first,
                tolerance: tol,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub min: u64,
    pub mean: f64,
    pub max: u64,
}

pub fn stats(v: impl Iterator<Item = u64>) -> Stats {
    let (mut min, mut max, mut sum, mut n) = (u64::MAX, 0, 0u128, 0u64);
    for x in v {
        min = min.min(x);
        max = max.max(x);
        sum += u128::from(x);
        n += 1;
    }
    Stats {
        min: if n == 0 { 0 } else { min },
        mean: if n == 0 { 0.0 } else { sum as f64 / n as f64 },
        max,
    }
}

/// The signals that measure time rather than flight.
pub fn is_timing(signal: &str) -> bool {
    matches!(signal, "m4_cycles" | "m7_cycles" | "mu_latency")
}

/// Which differences are allowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tolerances {
    /// For flight signals without their own tolerance.
    pub default: f64,
    /// Per signal (names as in [`SIGNALS`]).
    pub per_signal: BTreeMap<String, f64>,
}

impl Tolerances {
    /// Check every named signal exists and every bound is a non-negative number.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.default.is_nan() || self.default < 0.0 {
            return Err(format!("default tolerance {} is not >= 0", self.default));
        }
        for (name, tol) in &self.per_signal {
            if !SIGNALS.iter().any(|s| s.name == name) {
                return Err(format!(
                    "no signal {name:?} (signals: {})",
                    SIGNALS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if tol.is_nan() || *tol < 0.0 {
                return Err(format!("tolerance of {name} is {tol}, not >= 0"));
            }
        }
        Ok(())
    }

    /// The bound of `signal`, or None when it is reported but not judged.
    pub fn of(&self, signal: &str) -> Option<f64> {
        match self.per_signal.get(signal) {
            Some(t) => Some(*t),
            None if is_timing(signal) => None,
            None => Some(self.default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(k: usize) -> Tick {
        let x = k as f64;
        Tick {
            t: x * 0.002,
            position: [0.1 * x, -1.0 / 3.0, -5.0 - x.sin()],
            velocity: [1e-12, f64::MIN_POSITIVE, 3.5],
            attitude: [0.4 / (x + 1.0), 0.0, std::f64::consts::PI],
            rates: [0.1, -0.2, 0.3],
            att_sp: [f32::NAN, 0.25, -0.125],
            rate_sp: [1.0 / 3.0, 2.0, f32::MAX],
            setpoint: [0.0, 0.0, -5.0],
            accel: [0.01, -0.02, -9.81],
            gyro: [1e-7, 0.0, -0.0],
            baro_alt: if k % 2 == 0 { 5.1 } else { f32::NAN },
            gnss: [f32::NAN; 3],
            nav: std::array::from_fn(|i| i as f32 / 7.0),
            motors: [0.55, 0.5, 0.45, 1.0 / 3.0],
            m4_cycles: 91_172 + k as u64,
            m7_cycles: 4_854,
            m4_stack: 424,
            m7_stack: 128,
            mu_latency_ns: 2_070,
            overrun_m4: k == 1,
            overrun_m7: false,
            events: if k == 2 {
                vec!["IO MCU failsafe: motors cut at 0.004 s".into(), "x".into()]
            } else {
                vec![]
            },
        }
    }

    /// Every field as bits (NaN compares equal to NaN).
    fn bits(t: &Tick) -> Vec<u64> {
        let mut v: Vec<u64> = f64s(t).map(|x| x.to_bits()).collect();
        v.extend(f32s(t).map(|x| u64::from(x.to_bits())));
        v.extend([
            t.m4_cycles,
            t.m7_cycles,
            t.m4_stack.into(),
            t.m7_stack.into(),
            t.mu_latency_ns,
            t.overrun_m4.into(),
            t.overrun_m7.into(),
        ]);
        v
    }

    #[test]
    fn a_trace_read_back_is_bit_identical() {
        let trace: Vec<Tick> = (0..5).map(tick).collect();
        let csv = trace_csv(&trace);
        assert_eq!(
            csv.lines().next().unwrap().split(',').count(),
            F64S + F32S + 8
        );
        let back = parse_trace(&csv, "t.csv").unwrap();
        assert_eq!(back.len(), 5);
        for (a, b) in trace.iter().zip(&back) {
            assert_eq!(bits(a), bits(b));
            assert_eq!(a.events, b.events);
        }
    }

    #[test]
    fn bad_traces_name_the_line_and_column() {
        let csv = trace_csv(&[tick(0), tick(1)]);
        let e = parse_trace("a,b\n1,2\n", "x.csv").unwrap_err().to_string();
        assert!(
            e.contains("x.csv:1") && e.contains("not an rt-twin trace"),
            "{e}"
        );
        let broken = csv.replacen("91173", "9x", 1);
        let e = parse_trace(&broken, "y.csv").unwrap_err().to_string();
        assert!(e.contains("y.csv:3") && e.contains("m4_cycles"), "{e}");
        let short: String = csv
            .lines()
            .take(2)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + "0.1,2\n";
        let e = parse_trace(&short, "z.csv").unwrap_err().to_string();
        assert!(e.contains("z.csv:3") && e.contains("2 fields"), "{e}");
        assert!(read_trace(Path::new("/nonexistent/trace")).is_err());
    }

    #[test]
    fn a_streamed_trace_is_the_same_bytes_and_a_cut_one_reads_to_its_last_whole_row() {
        let trace: Vec<Tick> = (0..5).map(tick).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.csv");
        let mut w = TraceWriter::create(&path).unwrap();
        // The header is on disk at once: a run killed before its first row leaves a valid,
        // empty trace.
        assert!(read_trace(&path).unwrap().is_empty());
        for t in &trace {
            w.push(t).unwrap();
        }
        assert_eq!(w.rows(), 5);
        w.finish().unwrap();
        let csv = std::fs::read_to_string(&path).unwrap();
        assert_eq!(csv, trace_csv(&trace));
        // Cut anywhere inside the fourth row: the three whole rows read back.
        let third_end = csv.match_indices('\n').nth(3).unwrap().0 + 1;
        let fourth_end = csv.match_indices('\n').nth(4).unwrap().0 + 1;
        for cut in [
            third_end,
            third_end + 1,
            (third_end + fourth_end) / 2,
            fourth_end - 1,
        ] {
            let back = parse_trace(&csv[..cut], "cut.csv").unwrap();
            assert_eq!(back.len(), 3, "cut at {cut}");
            assert_eq!(bits(&back[2]), bits(&trace[2]));
        }
        assert_eq!(parse_trace(&csv[..fourth_end], "c.csv").unwrap().len(), 4);
    }

    #[test]
    fn compare_finds_known_differences() {
        let a: Vec<Tick> = (0..10).map(tick).collect();
        let mut b = a.clone();
        // roll differs by 0.01 from tick 4 on; m0 by 0.5 at tick 7 only.
        for t in &mut b[4..] {
            t.attitude[0] += 0.01;
        }
        b[7].motors[0] += 0.5;
        let d = compare(&a, &b, |s| if s == "roll" { 0.005 } else { 0.1 });
        let get = |n: &str| d.iter().find(|x| x.signal == n).unwrap();
        let roll = get("roll");
        assert!((roll.max_abs - 0.01).abs() < 1e-12);
        assert!((roll.rms - (6.0 * 1e-4 / 10.0f64).sqrt()).abs() < 1e-9);
        assert_eq!(roll.first_exceeded, Some((4, 4.0 * 0.002)));
        let m0 = get("m0");
        assert!((m0.max_abs - 0.5).abs() < 1e-6);
        assert_eq!(m0.first_exceeded.map(|f| f.0), Some(7));
        assert_eq!(get("pitch").max_abs, 0.0);
        assert_eq!(get("pitch").first_exceeded, None);
    }
}
