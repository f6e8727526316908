//! PNG plots of traces (plotters, bitmap backend; text through fontconfig, so a system sans-serif
//! font must be installed: `scripts/setup.sh` installs `fonts-dejavu-core`).
//!
//! A figure is a column of [`Panel`]s sharing the time axis; each panel holds named series and
//! optional horizontal reference lines (budgets, bounds). Vertical markers (events) cross every
//! panel. `sim --scenario --out` writes [`scenario_panels`]; `sim compare` overlays two traces.

use std::path::Path;

use plotters::prelude::*;

use crate::flightloop::Tick;
use twin_machine::Error as TwinError;
use twin_machine::Result;

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// (t, value); non-finite values are gaps.
    pub points: Vec<(f64, f64)>,
    /// Index into the palette; series that belong together (a signal and its setpoint) share it.
    pub colour: usize,
    /// Drawn dashed (setpoints, estimates, the second trace of a comparison).
    pub dashed: bool,
}

/// One chart of the figure.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Horizontal reference lines: (label, value).
    pub hlines: Vec<(String, f64)>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// The palette colour for index `i` (what a test looks for in the image).
pub fn colour(i: usize) -> (u8, u8, u8) {
    let c = PALETTE[i % PALETTE.len()];
    (c.0, c.1, c.2)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.06 } else { 1.0 };
    (lo - pad, hi + pad)
}

/// Split a series at its gaps (non-finite values) into drawable runs.
fn runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(t, v) in points {
        if t.is_finite() && v.is_finite() {
            out.last_mut().expect("non-empty").push((t, v));
        } else if !out.last().expect("non-empty").is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Render `panels` one above the other into a PNG at `path`, with vertical `markers` (t) across
/// every panel.
pub fn render_png(path: &Path, panels: &[Panel], markers: &[f64]) -> Result<()> {
    let fail = |e: String| TwinError::Usage(format!("{}: plot not written: {e}", path.display()));
    let height = 300 * panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let (t0, t1) = range(
        panels
            .iter()
            .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|p| p.0))),
    );
    for (area, panel) in root
        .split_evenly((panels.len().max(1), 1))
        .iter()
        .zip(panels)
    {
        draw_panel(area, panel, (t0, t1), markers).map_err(fail)?;
    }
    root.present().map_err(|e| fail(e.to_string()))
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
    (t0, t1): (f64, f64),
    markers: &[f64],
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let values = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(panel.hlines.iter().map(|h| h.1));
    let (y0, y1) = range(values);
    let span = y1 - y0;
    let y_fmt = move |v: &f64| match span {
        s if s >= 100.0 => format!("{v:.0}"),
        s if s >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(t0..t1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("t (s)")
        .y_desc(panel.y_label.as_str())
        .y_label_formatter(&y_fmt)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    for &m in markers.iter().filter(|m| (t0..=t1).contains(*m)) {
        chart
            .draw_series(LineSeries::new([(m, y0), (m, y1)], BLACK.mix(0.35)))
            .map_err(e)?;
    }
    for (label, v) in &panel.hlines {
        chart
            .draw_series(DashedLineSeries::new(
                [(t0, *v), (t1, *v)],
                8,
                5,
                BLACK.stroke_width(1),
            ))
            .map_err(e)?
            .label(label.as_str())
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK));
    }
    for s in &panel.series {
        let c = PALETTE[s.colour % PALETTE.len()];
        let style = c.stroke_width(if s.dashed { 1 } else { 2 });
        let mut first = true;
        for run in runs(&s.points) {
            let drawn = if s.dashed {
                chart.draw_series(DashedLineSeries::new(run, 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(run, style))
            }
            .map_err(e)?;
            if std::mem::take(&mut first) {
                drawn
                    .label(s.name.as_str())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
            }
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    Ok(())
}

fn series(
    name: &str,
    colour: usize,
    dashed: bool,
    trace: &[Tick],
    f: impl Fn(&Tick) -> f64,
) -> Series {
    Series {
        name: name.into(),
        points: trace.iter().map(|t| (t.t, f(t))).collect(),
        colour,
        dashed,
    }
}

/// Roll, pitch, yaw (rad) of NavState's quaternion (w, x, y, z; body to NED).
fn nav_euler(t: &Tick) -> (f64, f64, f64) {
    let [w, x, y, z] = [t.nav[0], t.nav[1], t.nav[2], t.nav[3]].map(f64::from);
    let q = glam::DQuat::from_xyzw(x, y, z, w);
    let (yaw, pitch, roll) = q.to_euler(glam::EulerRot::ZYX);
    (roll, pitch, yaw)
}

/// The key signals of a scenario run: attitude (truth and NavState), position against the
/// setpoint, motor commands, and each core's cycles per tick against its budget.
pub fn scenario_panels(trace: &[Tick], budgets: (u64, u64)) -> Vec<Panel> {
    let axes = ["roll", "pitch", "yaw"];
    let mut attitude = Panel {
        title: "Attitude: truth (solid) and estimate (dashed)".into(),
        y_label: "rad".into(),
        ..Panel::default()
    };
    for (i, name) in axes.iter().enumerate() {
        attitude
            .series
            .push(series(name, i, false, trace, |t| t.attitude[i]));
        attitude
            .series
            .push(series(&format!("{name} (estimate)"), i, true, trace, |t| {
                let (r, p, y) = nav_euler(t);
                [r, p, y][i]
            }));
    }
    let mut position = Panel {
        title: "Position (NED): truth (solid) and setpoint (dashed)".into(),
        y_label: "m".into(),
        ..Panel::default()
    };
    for (i, name) in ["north", "east", "down"].iter().enumerate() {
        position
            .series
            .push(series(name, i, false, trace, |t| t.position[i]));
        position
            .series
            .push(series(&format!("{name} setpoint"), i, true, trace, |t| {
                f64::from(t.setpoint[i])
            }));
    }
    let mut motors = Panel {
        title: "Motor commands".into(),
        y_label: "throttle, 0 to 1".into(),
        ..Panel::default()
    };
    for i in 0..4 {
        motors
            .series
            .push(series(&format!("m{i}"), i, false, trace, |t| {
                f64::from(t.motors[i])
            }));
    }
    let cycles = Panel {
        title: "Cycles per tick against the budget".into(),
        y_label: "cycles".into(),
        series: vec![
            series("estimator (CM4)", 0, false, trace, |t| t.m4_cycles as f64),
            series("controller (CM7)", 1, false, trace, |t| t.m7_cycles as f64),
        ],
        hlines: vec![
            ("CM4 budget".into(), budgets.0 as f64),
            ("CM7 budget".into(), budgets.1 as f64),
        ],
    };
    vec![attitude, position, motors, cycles]
}

/// Times of the events worth a marker (failsafe, loss of control, faults).
pub fn event_markers(trace: &[Tick]) -> Vec<f64> {
    trace
        .iter()
        .filter(|t| {
            t.events
                .iter()
                .any(|e| e.contains("failsafe") || e.contains("loss of control"))
        })
        .map(|t| t.t)
        .collect()
}

/// A histogram as a PNG: `bins` are (lower edge, count), equal widths.
pub fn histogram_png(path: &Path, title: &str, bins: &[(f64, u64)]) -> Result<()> {
    let fail = |e: String| TwinError::Usage(format!("{}: plot not written: {e}", path.display()));
    let root = BitMapBackend::new(path, (800, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let lo = bins.first().map_or(0.0, |b| b.0);
    let width = match bins {
        [a, b, ..] => b.0 - a.0,
        _ => 1.0,
    };
    let width = if width > 0.0 { width } else { 1.0 };
    let hi = lo + width * bins.len() as f64;
    let top = bins.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, 0u64..top + top / 10 + 1)
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("worst value of the gate in a run")
        .y_desc("runs")
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    chart
        .draw_series(
            bins.iter()
                .map(|&(x, n)| Rectangle::new([(x, 0), (x + width, n)], BLUE.mix(0.6).filled())),
        )
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_series_and_ranges_pad() {
        let r = runs(&[(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 4.0)]);
        assert_eq!(r, vec![vec![(0.0, 1.0)], vec![(2.0, 3.0), (3.0, 4.0)]]);
        assert_eq!(range([f64::NAN].into_iter()), (-1.0, 1.0));
        assert_eq!(range([2.0, 2.0].into_iter()), (1.0, 3.0));
        let (lo, hi) = range([0.0, 10.0, f64::INFINITY].into_iter());
        assert!((lo + 0.6).abs() < 1e-12 && (hi - 10.6).abs() < 1e-12);
    }

    #[test]
    fn nav_euler_of_a_pure_roll() {
        let mut t = Tick::default();
        let a: f64 = 0.4;
        t.nav[0] = (a / 2.0).cos() as f32;
        t.nav[1] = (a / 2.0).sin() as f32;
        let (r, p, y) = nav_euler(&t);
        assert!((r - a).abs() < 1e-6 && p.abs() < 1e-6 && y.abs() < 1e-6);
    }
}
