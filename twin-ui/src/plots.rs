//! The plots (egui_plot): time plots sharing a linked time axis and the cursor, the MU
//! timeline around the cursor, and the vehicle seen from above and from the side.

use egui::{Color32, Id, Ui};
use egui_plot::{Arrows, Legend, Line, LineStyle, Plot, PlotPoints, Points, Polygon, Text, VLine};
use twin_flight::flightloop::Tick;
use twin_flight::session::SessionInfo;

use crate::model::{decimate, Overlay};

pub const RED: Color32 = Color32::from_rgb(214, 39, 40);
pub const BLUE: Color32 = Color32::from_rgb(31, 119, 180);
pub const GREEN: Color32 = Color32::from_rgb(44, 160, 44);
pub const ORANGE: Color32 = Color32::from_rgb(255, 127, 14);
pub const PURPLE: Color32 = Color32::from_rgb(148, 103, 189);
pub const GREY: Color32 = Color32::from_rgb(127, 127, 127);

/// One line of a time plot.
pub struct Series {
    pub name: &'static str,
    pub colour: Color32,
    /// Setpoints and references are dashed.
    pub dashed: bool,
    pub get: fn(&Tick) -> f64,
}

const fn s(name: &'static str, colour: Color32, dashed: bool, get: fn(&Tick) -> f64) -> Series {
    Series {
        name,
        colour,
        dashed,
        get,
    }
}

pub const ATTITUDE: &[Series] = &[
    s("roll", RED, false, |t| t.attitude[0]),
    s("pitch", BLUE, false, |t| t.attitude[1]),
    s("yaw", GREEN, false, |t| t.attitude[2]),
    s("roll setpoint", RED, true, |t| f64::from(t.att_sp[0])),
    s("pitch setpoint", BLUE, true, |t| f64::from(t.att_sp[1])),
    s("yaw setpoint", GREEN, true, |t| f64::from(t.att_sp[2])),
];

pub const RATES: &[Series] = &[
    s("p", RED, false, |t| t.rates[0]),
    s("q", BLUE, false, |t| t.rates[1]),
    s("r", GREEN, false, |t| t.rates[2]),
    s("p setpoint", RED, true, |t| f64::from(t.rate_sp[0])),
    s("q setpoint", BLUE, true, |t| f64::from(t.rate_sp[1])),
    s("r setpoint", GREEN, true, |t| f64::from(t.rate_sp[2])),
];

pub const POSITION: &[Series] = &[
    s("north", RED, false, |t| t.position[0]),
    s("east", BLUE, false, |t| t.position[1]),
    s("down", GREEN, false, |t| t.position[2]),
    s("north waypoint", RED, true, |t| f64::from(t.setpoint[0])),
    s("east waypoint", BLUE, true, |t| f64::from(t.setpoint[1])),
    s("down waypoint", GREEN, true, |t| f64::from(t.setpoint[2])),
];

pub const MOTORS: &[Series] = &[
    s("motor 0", RED, false, |t| f64::from(t.motors[0])),
    s("motor 1", BLUE, false, |t| f64::from(t.motors[1])),
    s("motor 2", GREEN, false, |t| f64::from(t.motors[2])),
    s("motor 3", ORANGE, false, |t| f64::from(t.motors[3])),
];

pub const GYRO: &[Series] = &[
    s("gyro x", RED, false, |t| f64::from(t.gyro[0])),
    s("gyro y", BLUE, false, |t| f64::from(t.gyro[1])),
    s("gyro z", GREEN, false, |t| f64::from(t.gyro[2])),
    s("true p", RED, true, |t| t.rates[0]),
    s("true q", BLUE, true, |t| t.rates[1]),
    s("true r", GREEN, true, |t| t.rates[2]),
];

pub const ACCEL: &[Series] = &[
    s("accel x", RED, false, |t| f64::from(t.accel[0])),
    s("accel y", BLUE, false, |t| f64::from(t.accel[1])),
    s("accel z", GREEN, false, |t| f64::from(t.accel[2])),
];

pub const ALTITUDE: &[Series] = &[
    s("baro altitude", RED, false, |t| f64::from(t.baro_alt)),
    s("GNSS altitude", BLUE, false, |t| -f64::from(t.gnss[2])),
    s("estimated altitude", GREEN, false, |t| -f64::from(t.nav[6])),
    s("true altitude", GREY, true, |t| -t.position[2]),
];

pub const HORIZONTAL: &[Series] = &[
    s("GNSS north", RED, false, |t| f64::from(t.gnss[0])),
    s("GNSS east", BLUE, false, |t| f64::from(t.gnss[1])),
    s("estimated north", ORANGE, false, |t| f64::from(t.nav[4])),
    s("estimated east", PURPLE, false, |t| f64::from(t.nav[5])),
    s("true north", RED, true, |t| t.position[0]),
    s("true east", BLUE, true, |t| t.position[1]),
];

pub const CYCLES: &[Series] = &[
    s("CM4 estimator", RED, false, |t| t.m4_cycles as f64),
    s("CM7 controller", BLUE, false, |t| t.m7_cycles as f64),
];

pub const LATENCY: &[Series] = &[s("MU latency", PURPLE, false, |t| {
    t.mu_latency_ns as f64 / 1000.0
})];

/// When tick `k`'s work happened (µs of virtual time, at the clocks of `info`): the tick's start,
/// the end of the estimator's call (its MU write), and, when the controller ran, the MU
/// interrupt on its core and the end of its call.
pub struct TickTimes {
    pub start: f64,
    pub estimated: f64,
    pub controller: Option<(f64, f64)>,
}

pub fn tick_times(info: &SessionInfo, k: usize, t: &Tick) -> TickTimes {
    let us = |cycles: u64, c: usize| (cycles * info.cores[c].ps_per_cycle) as f64 / 1e6;
    let start = k as f64 * info.dt * 1e6;
    let estimated = start + us(t.m4_cycles, 0);
    let irq = estimated + t.mu_latency_ns as f64 / 1000.0;
    TickTimes {
        start,
        estimated,
        controller: (t.m7_cycles > 0).then(|| (irq, irq + us(t.m7_cycles, 1))),
    }
}

/// NavState age when the controller receives it (µs): the estimator's run plus the MU
/// delivery (the clocks of `info`).
pub fn nav_age_us(info: &SessionInfo, t: &Tick) -> f64 {
    (t.m4_cycles * info.cores[0].ps_per_cycle) as f64 / 1e6 + t.mu_latency_ns as f64 / 1000.0
}

/// Decimated series kept between frames: a paused or finished run, and an overlay, are not
/// decimated again each frame (`benches/frame.rs` measures the difference).
#[derive(Default)]
pub struct Cache {
    map: std::collections::HashMap<(String, usize, usize), Vec<[f64; 2]>>,
}

impl Cache {
    /// The points under `key` for `len` ticks at `buckets`, computed by `f` when missing.
    pub fn get(
        &mut self,
        key: String,
        len: usize,
        buckets: usize,
        f: impl FnOnce() -> Vec<[f64; 2]>,
    ) -> Vec<[f64; 2]> {
        if self.map.len() > 4096 {
            self.map.clear();
        }
        self.map
            .entry((key, len, buckets))
            .or_insert_with(f)
            .clone()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// What a time plot shows of the overlay.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OverlayMode {
    /// The overlay's lines dashed and faded beside the run's.
    Beside,
    /// The difference run - overlay, tick by tick.
    Difference,
}

pub struct TimePlot<'a> {
    pub id: &'static str,
    pub title: &'a str,
    pub unit: &'a str,
    pub series: &'a [Series],
    pub height: f32,
    /// Horizontal reference lines (label, value, colour).
    pub hlines: Vec<(String, f64, Color32)>,
    /// Draw the run as points (per-tick quantities that jump, like cycles and latencies).
    pub points: bool,
}

/// Draw a time plot of `run` (and `overlay`); returns the time clicked, if any.
pub fn time_plot(
    ui: &mut Ui,
    p: TimePlot<'_>,
    run: &[Tick],
    overlay: Option<(&Overlay, OverlayMode)>,
    cursor_t: Option<f64>,
    cache: &mut Cache,
) -> Option<f64> {
    ui.label(egui::RichText::new(format!("{} ({})", p.title, p.unit)).strong());
    let width = ui.available_width().max(100.0);
    // About one point per horizontal pixel (a min and a max per two pixels).
    let buckets = (width as usize / 2).clamp(50, 1000);
    let resp = Plot::new(p.id)
        .height(p.height)
        .legend(Legend::default())
        .link_axis(Id::unique("time axis"), [true, false])
        .link_cursor(Id::unique("time axis"), [true, false])
        .x_axis_label("t (s)")
        .show(ui, |pu| {
            for s in p.series {
                let style = |l: Line<'static>| {
                    if s.dashed {
                        l.style(LineStyle::dashed_dense())
                    } else {
                        l
                    }
                };
                match overlay {
                    Some((o, OverlayMode::Difference)) => {
                        let key = format!("{}/{}/diff/{}", p.id, s.name, o.generation);
                        let pts = cache.get(key, run.len(), buckets, || {
                            let pts: Vec<[f64; 2]> = run
                                .iter()
                                .zip(&o.ticks)
                                .map(|(a, b)| [a.t, (s.get)(a) - (s.get)(b)])
                                .filter(|p| p[1].is_finite())
                                .collect();
                            thin(pts, 2 * buckets)
                        });
                        pu.line(style(
                            Line::new(format!("{} − overlay", s.name), PlotPoints::new(pts))
                                .color(s.colour),
                        ));
                    }
                    other => {
                        let key = format!("{}/{}/run", p.id, s.name);
                        let pts =
                            cache.get(key, run.len(), buckets, || decimate(run, buckets, s.get));
                        if p.points {
                            pu.points(
                                Points::new(s.name, PlotPoints::new(pts))
                                    .radius(1.5)
                                    .color(s.colour),
                            );
                        } else {
                            pu.line(style(
                                Line::new(s.name, PlotPoints::new(pts)).color(s.colour),
                            ));
                        }
                        if let Some((o, _)) = other {
                            let key = format!("{}/{}/overlay/{}", p.id, s.name, o.generation);
                            let pts = cache.get(key, o.ticks.len(), buckets, || {
                                decimate(&o.ticks, buckets, s.get)
                            });
                            pu.line(
                                Line::new(format!("{} ({})", s.name, o.name), PlotPoints::new(pts))
                                    .color(s.colour.gamma_multiply(0.45))
                                    .style(LineStyle::dotted_dense()),
                            );
                        }
                    }
                }
            }
            for (label, y, c) in &p.hlines {
                pu.hline(egui_plot::HLine::new(label.clone(), *y).color(*c));
            }
            if let Some(t) = cursor_t {
                pu.vline(VLine::new("", t).color(Color32::YELLOW).width(1.5));
            }
        });
    let r = &resp.response;
    if r.clicked() {
        r.interact_pointer_pos()
            .map(|pos| resp.transform.value_from_position(pos).x)
    } else {
        None
    }
}

/// Every n-th point so that at most `max` remain.
fn thin(pts: Vec<[f64; 2]>, max: usize) -> Vec<[f64; 2]> {
    if pts.len() <= max {
        return pts;
    }
    let step = pts.len().div_ceil(max);
    pts.into_iter().step_by(step).collect()
}

/// The MU timeline: for `span` ticks from `first`, each core's busy time (the estimator on its
/// core from the tick's start; the controller on its core from the MU interrupt) and the
/// NavState message crossing the MU, on a time axis in µs. With one tick the axis spans that
/// tick's work, so the controller's few microseconds are visible.
/// An overlay's ticks are drawn as grey outlines over the same lanes.
pub fn mu_timeline(
    ui: &mut Ui,
    info: &SessionInfo,
    run: &[Tick],
    overlay: Option<&Overlay>,
    first: usize,
    span: usize,
) {
    let hi = (first + span).min(run.len());
    let [c4, c7] = &info.cores;
    let bar =
        |y: f64, x0: f64, x1: f64| vec![[x0, y - 0.3], [x1, y - 0.3], [x1, y + 0.3], [x0, y + 0.3]];
    Plot::new("mu timeline")
        .height(ui.available_height().max(200.0) - 20.0)
        .legend(Legend::default())
        .include_y(-0.6)
        .include_y(1.8)
        .x_axis_label("t (µs)")
        .y_axis_label(format!("{} (0) · {} (1)", c4.core, c7.core))
        .show(ui, |pu| {
            let (mut origins, mut tips) = (Vec::new(), Vec::new());
            for (k, t) in run.iter().enumerate().take(hi).skip(first) {
                let w = tick_times(info, k, t);
                pu.vline(
                    VLine::new("", w.start)
                        .color(GREY)
                        .style(LineStyle::dashed_loose()),
                );
                pu.polygon(
                    Polygon::new(
                        format!("{} {}", c4.core, c4.role),
                        PlotPoints::new(bar(0.0, w.start, w.estimated)),
                    )
                    .fill_color(RED.gamma_multiply(0.5))
                    .stroke(egui::Stroke::new(1.0, RED)),
                );
                let mut note = format!(
                    "tick {k}\n{}: {} cycles ({:.1} µs)",
                    c4.core,
                    t.m4_cycles,
                    w.estimated - w.start
                );
                if let Some((irq, done)) = w.controller {
                    pu.polygon(
                        Polygon::new(
                            format!("{} {} (MU IRQ 118)", c7.core, c7.role),
                            PlotPoints::new(bar(1.0, irq, done)),
                        )
                        .fill_color(BLUE.gamma_multiply(0.5))
                        .stroke(egui::Stroke::new(1.0, BLUE)),
                    );
                    origins.push([w.estimated, 0.3]);
                    tips.push([irq, 0.7]);
                    note += &format!(
                        "\nMU: {:.2} µs\n{}: {} cycles ({:.2} µs)",
                        t.mu_latency_ns as f64 / 1000.0,
                        c7.core,
                        t.m7_cycles,
                        done - irq
                    );
                }
                pu.text(
                    Text::new(
                        "",
                        egui_plot::PlotPoint::new(w.start, 1.75),
                        egui::RichText::new(note).size(14.0).color(ui_text()),
                    )
                    .anchor(egui::Align2::LEFT_TOP),
                );
            }
            if let Some(o) = overlay {
                for (k, t) in o.ticks.iter().enumerate().take(hi).skip(first) {
                    let w = tick_times(info, k, t);
                    let bars = std::iter::once((0.0, w.start, w.estimated))
                        .chain(w.controller.map(|(irq, done)| (1.0, irq, done)));
                    for (y, x0, x1) in bars {
                        pu.polygon(
                            Polygon::new(
                                format!("overlay ({})", o.name),
                                PlotPoints::new(bar(y, x0, x1)),
                            )
                            .fill_color(Color32::TRANSPARENT)
                            .stroke(egui::Stroke::new(1.5, GREY)),
                        );
                    }
                }
            }
            pu.arrows(
                Arrows::new("vehicle-state via the MU (TR0 -> RR0)", origins, tips).color(PURPLE),
            );
        });
}

fn ui_text() -> Color32 {
    Color32::from_gray(210)
}

/// Body-frame arm tips of a quad X (NED offsets of the rotated arms, m).
fn arms(t: &Tick, len: f64) -> [[f64; 3]; 4] {
    let [roll, pitch, yaw] = t.attitude;
    let (sr, cr) = roll.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    let (sy, cy) = yaw.sin_cos();
    // R = Rz(yaw) Ry(pitch) Rx(roll), body -> NED.
    let r = [
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ];
    let a = len / std::f64::consts::SQRT_2;
    [[a, a, 0.0], [-a, -a, 0.0], [a, -a, 0.0], [-a, a, 0.0]]
        .map(|b| [0, 1, 2].map(|i| r[i][0] * b[0] + r[i][1] * b[1] + r[i][2] * b[2]))
}

/// The vehicle from above (east right, north up) and from the side (north right, altitude up):
/// its track, the waypoints, the vehicle at the cursor (and the overlay's track).
pub fn vehicle_view(
    ui: &mut Ui,
    info: &SessionInfo,
    run: &[Tick],
    overlay: Option<&Overlay>,
    cursor: usize,
) {
    /// (title, x label, y label, NED -> plot coordinates)
    type View = (
        &'static str,
        &'static str,
        &'static str,
        fn([f64; 3]) -> [f64; 2],
    );
    let views: [View; 2] = [
        ("top view", "east (m)", "north (m)", |p| [p[1], p[0]]),
        ("side view", "north (m)", "altitude (m)", |p| [p[0], -p[2]]),
    ];
    ui.columns(2, |cols| {
        for (ui, (id, xl, yl, proj)) in cols.iter_mut().zip(views) {
            ui.label(egui::RichText::new(id).strong());
            Plot::new(id)
                .data_aspect(1.0)
                .height(ui.available_height().max(200.0) - 10.0)
                .legend(Legend::default())
                .x_axis_label(xl)
                .y_axis_label(yl)
                .show(ui, |pu| {
                    let track: Vec<[f64; 2]> = decimate_track(run, 2000)
                        .map(|t| proj(t.position))
                        .collect();
                    pu.line(Line::new("track", PlotPoints::new(track)).color(BLUE));
                    if let Some(o) = overlay {
                        let track: Vec<[f64; 2]> = decimate_track(&o.ticks, 2000)
                            .map(|t| proj(t.position))
                            .collect();
                        pu.line(
                            Line::new(format!("track ({})", o.name), PlotPoints::new(track))
                                .color(GREY)
                                .style(LineStyle::dotted_dense()),
                        );
                    }
                    let wps: Vec<[f64; 2]> = info
                        .waypoints
                        .iter()
                        .map(|w| proj([w.position.0, w.position.1, w.position.2]))
                        .collect();
                    pu.points(
                        Points::new("waypoints", PlotPoints::new(wps))
                            .radius(5.0)
                            .color(GREEN),
                    );
                    if let Some(t) = run.get(cursor) {
                        let c = t.position;
                        for (i, tip) in arms(t, arm_length(run)).iter().enumerate() {
                            let end = proj([c[0] + tip[0], c[1] + tip[1], c[2] + tip[2]]);
                            let colour = if i < 2 { RED } else { ORANGE };
                            pu.line(
                                Line::new("vehicle", PlotPoints::new(vec![proj(c), end]))
                                    .color(colour)
                                    .width(3.0),
                            );
                        }
                    }
                });
        }
    });
}

/// Arms drawn at a tenth of the track's extent (at least 5 cm, at most the real 0.25 m x 4).
fn arm_length(run: &[Tick]) -> f64 {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for t in run {
        for i in 0..3 {
            lo[i] = lo[i].min(t.position[i]);
            hi[i] = hi[i].max(t.position[i]);
        }
    }
    let extent = (0..3).map(|i| hi[i] - lo[i]).fold(0.0, f64::max);
    (0.1 * extent).clamp(0.05, 1.0)
}

fn decimate_track(ticks: &[Tick], max: usize) -> impl Iterator<Item = &Tick> {
    let step = ticks.len().div_ceil(max).max(1);
    ticks.iter().step_by(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_follow_the_attitude() {
        let mut t = Tick::default();
        let level = arms(&t, 1.0);
        let a = 1.0 / std::f64::consts::SQRT_2;
        assert!((level[0][0] - a).abs() < 1e-12 && (level[0][1] - a).abs() < 1e-12);
        assert!(level.iter().all(|p| p[2].abs() < 1e-12), "level: no height");
        // Yawed 90 degrees: the front-right arm (north-east) points south-east.
        t.attitude = [0.0, 0.0, std::f64::consts::FRAC_PI_2];
        let yawed = arms(&t, 1.0);
        assert!((yawed[0][0] + a).abs() < 1e-12 && (yawed[0][1] - a).abs() < 1e-12);
        // Rolled right 90 degrees: the right-hand arms point down (+z in NED).
        t.attitude = [std::f64::consts::FRAC_PI_2, 0.0, 0.0];
        let rolled = arms(&t, 1.0);
        assert!((rolled[0][2] - a).abs() < 1e-12, "{rolled:?}");
    }
}
