//! The app: the scenario list, the run controls, the plots, both cores' state at the cursor,
//! the live gates and the event log. Everything the run produces comes from the worker thread
//! ([`crate::worker`]); this side only draws and sends commands, so it never blocks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use egui::{Color32, RichText, Ui};
use twin_flight::scenario::GateStatus;
use twin_flight::session::{CoreSnapshot, Overrides};
use twin_hosting::backend::Backend;

use crate::model::{EventKind, Overlay, Run};
use crate::plots::{self, OverlayMode, TimePlot};
use crate::worker::{Command, Speed, Update, Worker};

/// A scenario file found in the project's `scenarios/` directory.
#[derive(Debug, Clone)]
pub struct Listed {
    pub path: PathBuf,
    pub name: String,
    /// The description, or why the file does not load.
    pub about: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Flight,
    Sensors,
    Timing,
    MuTimeline,
    Vehicle,
    Compare,
}

impl Tab {
    /// From its command-line name.
    pub fn parse(name: &str) -> Option<Tab> {
        Some(match name {
            "flight" => Tab::Flight,
            "sensors" => Tab::Sensors,
            "timing" => Tab::Timing,
            "mu" => Tab::MuTimeline,
            "vehicle" => Tab::Vehicle,
            "compare" => Tab::Compare,
            _ => return None,
        })
    }
}

const TABS: [(Tab, &str); 6] = [
    (Tab::Flight, "Flight"),
    (Tab::Sensors, "Sensors"),
    (Tab::Timing, "Timing"),
    (Tab::MuTimeline, "MU timeline"),
    (Tab::Vehicle, "Vehicle"),
    (Tab::Compare, "Compare"),
];

const SPEEDS: [(Speed, &str); 6] = [
    (Speed::Times(0.25), "0.25×"),
    (Speed::Times(1.0), "real time"),
    (Speed::Times(2.0), "2×"),
    (Speed::Times(5.0), "5×"),
    (Speed::Times(10.0), "10×"),
    (Speed::Max, "as fast as possible"),
];

/// A screenshot being taken: of the window (`--screenshot`) or of the plots (Export PNG).
struct Shot {
    path: PathBuf,
    /// Frames still to render before taking it.
    frames: u32,
    /// Count frames only once the run has finished.
    after_finish: bool,
    /// The region to keep (points), or the whole window.
    crop: Option<egui::Rect>,
    /// Close the app once saved (`--screenshot`).
    then_close: bool,
    requested: bool,
}

pub struct TwinApp {
    pub root: PathBuf,
    pub scenarios: Vec<Listed>,
    pub open_path: String,
    pub seed: Option<u64>,
    pub estimator_backend: Option<Backend>,
    pub controller_backend: Option<Backend>,
    /// Target mode: the HIL firmware flies instead of the hosted components (`--target`).
    pub target: Option<twin_target::TargetSpec>,
    pub speed: Speed,
    worker: Worker,
    pub run: Option<Run>,
    /// The file being opened (until the worker answers).
    pub opening: Option<PathBuf>,
    pub overlay: Option<Overlay>,
    pub overlay_path: String,
    pub overlay_mode_difference: bool,
    pub export_csv_path: String,
    pub export_png_path: String,
    /// The tick the plots mark and the core panels show; follows the run unless the user
    /// picked one.
    pub cursor: Option<usize>,
    pub follow: bool,
    pub tab: Tab,
    /// The last message (an error names the file and the cause).
    pub status: String,
    pub error: Option<String>,
    shot: Option<Shot>,
    /// Where a screenshot's outcome lands (set from the integration's callback).
    shot_result: Arc<Mutex<Option<Result<PathBuf, String>>>>,
    /// The outcome of `--screenshot`, for the exit code.
    pub exit: Arc<Mutex<Option<Result<PathBuf, String>>>>,
    central: egui::Rect,
    compare_signal: usize,
    mu_span: usize,
    overlay_generation: u64,
    cache: plots::Cache,
    /// The comparison of the run with the overlay: (run ticks, overlay generation, result).
    diffs: Option<(usize, u64, Vec<twin_flight::trace::SignalDiff>)>,
}

impl TwinApp {
    /// An app for the project at `root`; `ctx` is woken whenever the worker has news.
    pub fn new(root: &Path, ctx: &egui::Context) -> TwinApp {
        let wake = ctx.clone();
        let worker = Worker::spawn(move || wake.request_repaint());
        TwinApp {
            root: root.to_path_buf(),
            scenarios: list_scenarios(&root.join("scenarios")),
            open_path: String::new(),
            seed: None,
            estimator_backend: None,
            controller_backend: None,
            target: None,
            speed: Speed::Times(1.0),
            worker,
            run: None,
            opening: None,
            overlay: None,
            overlay_path: String::new(),
            overlay_mode_difference: false,
            export_csv_path: "twin-trace.csv".into(),
            export_png_path: "twin-plots.png".into(),
            cursor: None,
            follow: true,
            tab: Tab::Flight,
            status: String::new(),
            error: None,
            shot: None,
            shot_result: Arc::new(Mutex::new(None)),
            exit: Arc::new(Mutex::new(None)),
            central: egui::Rect::NOTHING,
            compare_signal: 0,
            mu_span: 1,
            overlay_generation: 0,
            cache: plots::Cache::default(),
            diffs: None,
        }
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            seed: self.seed,
            estimator_backend: self.estimator_backend,
            controller_backend: self.controller_backend,
        }
    }

    /// Open a scenario file (paused at tick 0).
    pub fn open(&mut self, file: &Path) {
        self.opening = Some(file.to_path_buf());
        self.error = None;
        self.status = format!("opening {} (compiling with synth)...", file.display());
        self.worker.send(Command::Open {
            file: file.to_path_buf(),
            overrides: self.overrides(),
            target: self.target.clone(),
        });
    }

    pub fn command(&mut self, c: Command) {
        if let Command::Speed(s) = c {
            self.speed = s;
        }
        if matches!(c, Command::Run | Command::Restart) {
            self.follow = true;
        }
        self.worker.send(c);
    }

    /// Take `--screenshot OUT --frames N`: save the window after N frames and close.
    pub fn screenshot_and_exit(&mut self, path: PathBuf, frames: u32, after_finish: bool) {
        self.shot = Some(Shot {
            path,
            frames,
            after_finish,
            crop: None,
            then_close: true,
            requested: false,
        });
    }

    /// Load a saved trace (a trace.csv or an `--out` directory) as the overlay.
    pub fn load_overlay(&mut self, path: &Path) {
        match twin_flight::trace::read_trace(path) {
            Ok(ticks) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string());
                self.status = format!("overlay {name}: {} ticks", ticks.len());
                self.overlay_generation += 1;
                self.overlay = Some(Overlay {
                    name,
                    ticks,
                    generation: self.overlay_generation,
                });
                self.error = None;
            }
            Err(e) => self.error = Some(format!("overlay: {e}")),
        }
    }

    /// Write the run's trace as CSV.
    pub fn export_csv(&mut self, path: &Path) {
        let Some(run) = &self.run else {
            self.error = Some("nothing to export: no run".into());
            return;
        };
        match std::fs::write(path, twin_flight::trace::trace_csv(&run.ticks)) {
            Ok(()) => self.status = format!("trace written to {}", path.display()),
            Err(e) => self.error = Some(format!("{}: {e}", path.display())),
        }
    }

    /// Drain the worker's updates.
    pub fn poll(&mut self) {
        while let Ok(u) = self.worker.rx.try_recv() {
            match u {
                Update::Opened { file, info, gates } => {
                    self.cache.clear();
                    self.status = format!(
                        "{}: {} ticks of {} s ({})",
                        info.name, info.steps, info.dt, info.flight_computer
                    );
                    let mut run = Run::new(file, *info);
                    run.gates = gates;
                    self.run = Some(run);
                    self.opening = None;
                    self.cursor = None;
                    self.follow = true;
                }
                Update::Ticks {
                    ticks,
                    cores,
                    gates,
                    failed,
                } => {
                    if let Some(run) = &mut self.run {
                        run.append(ticks, cores, gates, &failed);
                    }
                }
                Update::Running(on) => {
                    if let Some(run) = &mut self.run {
                        run.set_running(on);
                    }
                }
                Update::Finished(report) => {
                    if let Some(run) = &mut self.run {
                        self.status = format!(
                            "{}: {} after {} ticks",
                            report.scenario,
                            if report.pass { "PASS" } else { "FAIL" },
                            report.ticks
                        );
                        run.finish(*report);
                    }
                }
                Update::Error(e) => {
                    self.opening = None;
                    self.error = Some(e);
                }
            }
        }
        if self.follow {
            self.cursor = self.run.as_ref().and_then(|r| r.ticks.len().checked_sub(1));
        }
    }

    /// The tick under the cursor.
    pub fn cursor_tick(&self) -> Option<usize> {
        let run = self.run.as_ref()?;
        let k = self.cursor?;
        (k < run.ticks.len()).then_some(k)
    }

    /// Move the cursor to the tick starting at or before time `t`.
    pub fn set_cursor_time(&mut self, t: f64) {
        if let Some(run) = &self.run {
            if run.ticks.is_empty() {
                return;
            }
            let k = ((t / run.info.dt).round().max(0.0) as usize).min(run.ticks.len() - 1);
            self.set_cursor(k);
        }
    }

    pub fn set_cursor(&mut self, k: usize) {
        self.cursor = Some(k);
        self.follow = false;
    }

    /// Draw one frame.
    pub fn ui_main(&mut self, ui: &mut Ui) {
        self.poll();
        egui::Panel::top("controls").show(ui, |ui| self.controls(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::left("left")
            .default_size(360.0)
            .resizable(true)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.left_panel(ui));
            });
        egui::Panel::right("events")
            .default_size(300.0)
            .resizable(true)
            .show(ui, |ui| self.event_log(ui));
        let central = egui::CentralPanel::default().show(ui, |ui| self.central(ui));
        self.central = central.response.rect;
        if self.run.as_ref().is_some_and(|r| r.running) {
            // Keep drawing while the run goes (the worker also wakes us on each batch).
            ui.ctx().request_repaint();
        }
        self.screenshot(ui.ctx());
    }

    fn controls(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("rt-twin");
            let label = self
                .run
                .as_ref()
                .map_or("choose a scenario".to_string(), |r| r.info.name.clone());
            let mut pick = None;
            egui::ComboBox::new("scenario", "scenario")
                .selected_text(label)
                .show_ui(ui, |ui| {
                    for s in &self.scenarios {
                        if ui.selectable_label(false, &s.name).clicked() {
                            pick = Some(s.path.clone());
                        }
                    }
                });
            ui.add(
                egui::TextEdit::singleline(&mut self.open_path)
                    .hint_text("scenario file")
                    .desired_width(160.0),
            );
            if ui.button("Open file").clicked() && !self.open_path.trim().is_empty() {
                pick = Some(PathBuf::from(self.open_path.trim()));
            }
            if let Some(p) = pick {
                self.open(&p);
            }
            ui.separator();
            let have = self.run.is_some();
            let running = self.run.as_ref().is_some_and(|r| r.running);
            let finished = self.run.as_ref().is_some_and(|r| r.report.is_some());
            if running {
                if ui.button("Pause").clicked() {
                    self.command(Command::Pause);
                }
            } else if ui
                .add_enabled(have && !finished, egui::Button::new("Run"))
                .clicked()
            {
                self.command(Command::Run);
            }
            if ui
                .add_enabled(have && !finished, egui::Button::new("Step"))
                .clicked()
            {
                self.follow = true;
                self.command(Command::Step);
            }
            if ui.add_enabled(have, egui::Button::new("Restart")).clicked() {
                self.command(Command::Restart);
            }
            let current = SPEEDS
                .iter()
                .find(|(s, _)| *s == self.speed)
                .map_or("?", |s| s.1);
            let mut speed = None;
            egui::ComboBox::new("speed", "speed")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for (s, name) in SPEEDS {
                        if ui.selectable_label(s == self.speed, name).clicked() {
                            speed = Some(s);
                        }
                    }
                });
            if let Some(s) = speed {
                self.command(Command::Speed(s));
            }
            ui.separator();
            let mut seeded = self.seed.is_some();
            let label = ui.checkbox(&mut seeded, "seed").id;
            let mut seed = self.seed.unwrap_or(1);
            ui.add_enabled(seeded, egui::DragValue::new(&mut seed))
                .labelled_by(label);
            self.seed = seeded.then_some(seed);
            backend_combo(ui, "estimator", &mut self.estimator_backend);
            backend_combo(ui, "controller", &mut self.controller_backend);
            ui.label("(seed and backends apply on open / restart)");
        });
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if let Some(run) = &self.run {
                let k = run.ticks.len();
                let virt = k as f64 * run.info.dt;
                let wall = run.wall_seconds();
                ui.label(format!(
                    "tick {k}/{}  t = {virt:.3} s  {}  real-time factor {:.2}",
                    run.info.steps,
                    if run.running {
                        "running"
                    } else if run.report.is_some() {
                        "finished"
                    } else {
                        "paused"
                    },
                    if wall > 0.0 { virt / wall } else { 0.0 }
                ));
                ui.separator();
            } else if let Some(f) = &self.opening {
                ui.spinner();
                ui.label(format!("opening {}", f.display()));
            }
            if let Some(e) = &self.error {
                ui.colored_label(plots::RED, e);
            } else {
                ui.label(&self.status);
            }
        });
    }

    fn left_panel(&mut self, ui: &mut Ui) {
        if self.run.is_none() {
            ui.heading("Scenarios");
            if self.scenarios.is_empty() {
                ui.label(format!(
                    "no scenario files in {}",
                    self.root.join("scenarios").display()
                ));
            }
            let mut pick = None;
            for s in &self.scenarios {
                ui.horizontal(|ui| {
                    if ui.button(&s.name).clicked() {
                        pick = Some(s.path.clone());
                    }
                    ui.label(RichText::new(&s.about).small());
                });
            }
            if let Some(p) = pick {
                self.open(&p);
            }
            return;
        }
        self.gates(ui);
        ui.separator();
        self.cores(ui);
        ui.separator();
        self.files(ui);
    }

    fn gates(&self, ui: &mut Ui) {
        let Some(run) = &self.run else { return };
        ui.heading("Gates");
        if let Some(r) = &run.report {
            let (text, colour) = if r.pass {
                ("PASS", plots::GREEN)
            } else {
                ("FAIL", plots::RED)
            };
            ui.colored_label(colour, RichText::new(format!("scenario {text}")).strong());
        }
        for g in &run.gates {
            let (tag, colour) = match &g.status {
                GateStatus::Pending => ("waiting".to_string(), plots::GREY),
                GateStatus::Holding => ("holding".to_string(), Color32::from_rgb(120, 180, 90)),
                GateStatus::Passed { .. } => ("PASS".to_string(), plots::GREEN),
                GateStatus::Failed { at } => (format!("FAIL at {at:.3} s"), plots::RED),
            };
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(colour, RichText::new(tag).strong());
                ui.label(&g.gate);
                if g.worst.is_finite() && g.worst != 0.0 {
                    ui.label(RichText::new(format!("worst {:.4}", g.worst)).small());
                }
            });
        }
    }

    fn cores(&self, ui: &mut Ui) {
        let Some(run) = &self.run else { return };
        ui.heading("Cores");
        let Some(k) = self.cursor_tick() else {
            ui.label("no tick run yet");
            return;
        };
        let t = &run.ticks[k];
        ui.label(format!("at tick {k} (t = {:.3} s)", t.t));
        let Some(cores) = run.cores.get(k) else {
            return;
        };
        for (i, c) in cores.iter().enumerate() {
            let info = &run.info.cores[i];
            let (cycles, stack) = if i == 0 {
                (t.m4_cycles, t.m4_stack)
            } else {
                (t.m7_cycles, t.m7_stack)
            };
            egui::CollapsingHeader::new(format!("{} — {} on {}", c.core, info.role, info.backend))
                .id_salt(("core", i))
                .default_open(true)
                .show(ui, |ui| core_view(ui, c, info, cycles, stack));
        }
    }

    fn files(&mut self, ui: &mut Ui) {
        ui.heading("Compare and export");
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.overlay_path)
                    .hint_text("saved trace or --out dir")
                    .desired_width(180.0),
            );
            if ui.button("Load overlay").clicked() {
                let p = PathBuf::from(self.overlay_path.trim());
                self.load_overlay(&p);
            }
        });
        if let Some(o) = &self.overlay {
            let mut clear = false;
            ui.horizontal(|ui| {
                ui.label(format!("overlay: {} ({} ticks)", o.name, o.ticks.len()));
                clear = ui.button("Clear").clicked();
            });
            if clear {
                self.overlay = None;
            }
            ui.checkbox(
                &mut self.overlay_mode_difference,
                "plot the difference (run − overlay)",
            );
        }
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.export_csv_path).desired_width(180.0));
            if ui.button("Export CSV").clicked() {
                let p = PathBuf::from(self.export_csv_path.trim());
                self.export_csv(&p);
            }
        });
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.export_png_path).desired_width(180.0));
            if ui.button("Export PNG").clicked() {
                self.shot = Some(Shot {
                    path: PathBuf::from(self.export_png_path.trim()),
                    frames: 1,
                    after_finish: false,
                    crop: Some(self.central),
                    then_close: false,
                    requested: false,
                });
            }
        });
    }

    fn event_log(&mut self, ui: &mut Ui) {
        ui.heading("Events");
        let Some(run) = &self.run else { return };
        if run.events.is_empty() {
            ui.label("none yet");
        }
        let mut jump = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for e in &run.events {
                let colour = match e.kind {
                    EventKind::Flight => ui.visuals().text_color(),
                    EventKind::Overrun => plots::ORANGE,
                    EventKind::Gate | EventKind::Stopped => plots::RED,
                };
                let text = RichText::new(format!("{:>8.3} s  {}", e.t, e.text)).color(colour);
                let selected = self.cursor == Some(e.tick);
                if ui.selectable_label(selected, text).clicked() {
                    jump = Some(e.tick);
                }
            }
        });
        if let Some(k) = jump {
            self.set_cursor(k);
        }
    }

    fn central(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            for (tab, name) in TABS {
                ui.selectable_value(&mut self.tab, tab, name);
            }
            ui.separator();
            if ui.selectable_label(self.follow, "follow the run").clicked() {
                self.follow = !self.follow;
            }
        });
        ui.separator();
        let Some(run) = &self.run else {
            ui.centered_and_justified(|ui| {
                ui.label("Pick a scenario on the left (or open a file above), then Run.");
            });
            return;
        };
        let cursor = self.cursor_tick();
        let cursor_t = cursor.map(|k| run.ticks[k].t);
        let overlay = self.overlay.as_ref().map(|o| {
            let mode = if self.overlay_mode_difference {
                OverlayMode::Difference
            } else {
                OverlayMode::Beside
            };
            (o, mode)
        });
        let mut clicked = None;
        let cache = &mut self.cache;
        let mut plot = |ui: &mut Ui, p: TimePlot<'_>| {
            if let Some(t) = plots::time_plot(ui, p, &run.ticks, overlay, cursor_t, cache) {
                clicked = Some(t);
            }
        };
        let h = ((ui.available_height() - 40.0) / 2.0 - 30.0).max(120.0);
        let tp = |id, title, unit, series, hlines| TimePlot {
            id,
            title,
            unit,
            series,
            height: h,
            hlines,
            points: false,
        };
        match self.tab {
            Tab::Flight => {
                ui.columns(2, |c| {
                    plot(
                        &mut c[0],
                        tp(
                            "attitude",
                            "attitude vs setpoint",
                            "rad",
                            plots::ATTITUDE,
                            vec![],
                        ),
                    );
                    plot(
                        &mut c[1],
                        tp(
                            "rates",
                            "body rates vs setpoint",
                            "rad/s",
                            plots::RATES,
                            vec![],
                        ),
                    );
                    plot(
                        &mut c[0],
                        tp(
                            "position",
                            "position vs waypoint (NED)",
                            "m",
                            plots::POSITION,
                            vec![],
                        ),
                    );
                    plot(
                        &mut c[1],
                        tp("motors", "motor commands", "0..1", plots::MOTORS, vec![]),
                    );
                });
            }
            Tab::Sensors => {
                ui.columns(2, |c| {
                    plot(
                        &mut c[0],
                        tp("gyro", "gyro vs true rates", "rad/s", plots::GYRO, vec![]),
                    );
                    plot(
                        &mut c[1],
                        tp("accel", "accelerometer", "m/s²", plots::ACCEL, vec![]),
                    );
                    plot(
                        &mut c[0],
                        tp(
                            "altitude",
                            "baro and GNSS altitude vs truth",
                            "m",
                            plots::ALTITUDE,
                            vec![],
                        ),
                    );
                    plot(
                        &mut c[1],
                        tp(
                            "horizontal",
                            "GNSS and estimate vs truth",
                            "m",
                            plots::HORIZONTAL,
                            vec![],
                        ),
                    );
                });
            }
            Tab::Timing => {
                let [c4, c7] = &run.info.cores;
                let budgets = vec![
                    (
                        format!("{} budget", c4.core),
                        c4.budget_cycles as f64,
                        plots::RED,
                    ),
                    (
                        format!("{} budget", c7.core),
                        c7.budget_cycles as f64,
                        plots::BLUE,
                    ),
                ];
                timing_table(ui, run);
                ui.columns(2, |c| {
                    plot(
                        &mut c[0],
                        tp(
                            "cycles",
                            "cycles per tick vs budget",
                            "cycles",
                            plots::CYCLES,
                            budgets,
                        ),
                    );
                    plot(
                        &mut c[1],
                        tp(
                            "latency",
                            "MU latency (CM4 write to CM7 IRQ)",
                            "µs",
                            plots::LATENCY,
                            vec![],
                        ),
                    );
                });
                ui.label(RichText::new("vehicle-state age at the controller (µs)").strong());
                let pts: Vec<[f64; 2]> = run
                    .ticks
                    .iter()
                    .filter(|t| t.m7_cycles > 0)
                    .map(|t| [t.t, plots::nav_age_us(&run.info, t)])
                    .collect();
                let overlay_pts: Option<(String, Vec<[f64; 2]>)> = overlay.map(|(o, _)| {
                    let pts = o
                        .ticks
                        .iter()
                        .filter(|t| t.m7_cycles > 0)
                        .map(|t| [t.t, plots::nav_age_us(&run.info, t)])
                        .collect();
                    (format!("vehicle-state age ({})", o.name), pts)
                });
                let r = egui_plot::Plot::new("nav age")
                    .height((ui.available_height() - 10.0).max(100.0))
                    .link_axis(egui::Id::unique("time axis"), [true, false])
                    .link_cursor(egui::Id::unique("time axis"), [true, false])
                    .show(ui, |pu| {
                        pu.points(
                            egui_plot::Points::new(
                                "vehicle-state age",
                                egui_plot::PlotPoints::new(pts),
                            )
                            .radius(1.5)
                            .color(plots::GREEN),
                        );
                        if let Some((name, pts)) = overlay_pts {
                            pu.points(
                                egui_plot::Points::new(name, egui_plot::PlotPoints::new(pts))
                                    .radius(1.0)
                                    .color(plots::GREY),
                            );
                        }
                        if let Some(t) = cursor_t {
                            pu.vline(egui_plot::VLine::new("", t).color(Color32::YELLOW));
                        }
                    });
                if r.response.clicked() {
                    clicked = r
                        .response
                        .interact_pointer_pos()
                        .map(|p| r.transform.value_from_position(p).x);
                }
            }
            Tab::MuTimeline => match cursor {
                Some(k) => {
                    ui.horizontal(|ui| {
                        ui.label("ticks from the cursor:");
                        ui.add(egui::Slider::new(&mut self.mu_span, 1..=10));
                        ui.label("each core's busy time and the vehicle-state message crossing the MU (move the cursor from the event log or by clicking a time plot)");
                    });
                    plots::mu_timeline(
                        ui,
                        &run.info,
                        &run.ticks,
                        self.overlay.as_ref(),
                        k.saturating_sub(self.mu_span - 1),
                        self.mu_span,
                    );
                }
                None => {
                    ui.label("no tick run yet");
                }
            },
            Tab::Vehicle => {
                plots::vehicle_view(
                    ui,
                    &run.info,
                    &run.ticks,
                    self.overlay.as_ref(),
                    cursor.unwrap_or(0),
                );
            }
            Tab::Compare => {
                if let Some(o) = &self.overlay {
                    let fresh = self
                        .diffs
                        .as_ref()
                        .is_some_and(|(n, g, _)| *n == run.ticks.len() && *g == o.generation);
                    if !fresh {
                        let d = twin_flight::trace::compare(&run.ticks, &o.ticks, |_| 0.0);
                        self.diffs = Some((run.ticks.len(), o.generation, d));
                    }
                }
                let diffs = self.diffs.as_ref().map_or(&[][..], |d| &d.2[..]);
                compare_tab(
                    ui,
                    run,
                    self.overlay.as_ref(),
                    diffs,
                    &mut self.compare_signal,
                )
            }
        }
        if let Some(t) = clicked {
            self.set_cursor_time(t);
        }
    }

    /// Count down a pending screenshot, ask for it, and act on its outcome.
    fn screenshot(&mut self, ctx: &egui::Context) {
        if let Some(done) = self.shot_result.lock().expect("shot").take() {
            let close = self.shot.as_ref().is_some_and(|s| s.then_close);
            match &done {
                Ok(p) => self.status = format!("screenshot saved to {}", p.display()),
                Err(e) => self.error = Some(e.clone()),
            }
            self.shot = None;
            if close {
                *self.exit.lock().expect("exit") = Some(done);
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            return;
        }
        let finished = self.run.as_ref().is_some_and(|r| r.report.is_some());
        let failed_to_open = self.error.is_some() && self.run.is_none();
        let Some(shot) = &mut self.shot else { return };
        if shot.requested {
            ctx.request_repaint();
            return;
        }
        if shot.after_finish && !finished && !failed_to_open {
            ctx.request_repaint();
            return;
        }
        if shot.frames > 0 {
            shot.frames -= 1;
            ctx.request_repaint();
            return;
        }
        shot.requested = true;
        let (path, crop) = (shot.path.clone(), shot.crop);
        let result = self.shot_result.clone();
        let ppp = ctx.pixels_per_point();
        let wake = ctx.clone();
        ctx.request_screenshot(move |image| {
            let image = match crop {
                Some(r) if r.is_positive() => image.region(&r, Some(ppp)),
                _ => (*image).clone(),
            };
            *result.lock().expect("shot") = Some(save_png(&path, &image).map(|()| path));
            wake.request_repaint();
        });
    }
}

impl eframe::App for TwinApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.ui_main(ui);
    }
}

fn backend_combo(ui: &mut Ui, what: &str, b: &mut Option<Backend>) {
    let text = b.map_or("scenario's".to_string(), |b| b.to_string());
    egui::ComboBox::new(what, what)
        .selected_text(text)
        .show_ui(ui, |ui| {
            ui.selectable_value(b, None, "as the scenario says");
            for x in [
                Backend::Arm,
                Backend::Wasmtime,
                Backend::Native,
                Backend::Lockstep,
            ] {
                ui.selectable_value(b, Some(x), x.to_string());
            }
        });
}

fn core_view(
    ui: &mut Ui,
    c: &CoreSnapshot,
    info: &twin_flight::session::CoreInfo,
    cycles: u64,
    stack: u32,
) {
    ui.monospace(format!("PC  {:#010x}  {}", c.pc, c.symbol));
    ui.monospace(format!(
        "exception: {}",
        c.active_exception
            .as_deref()
            .unwrap_or("none (Thread mode)")
    ));
    egui::Grid::new(("regs", &c.core))
        .num_columns(4)
        .spacing([12.0, 2.0])
        .show(ui, |ui| {
            const NAMES: [&str; 16] = [
                "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "R11", "R12",
                "SP", "LR", "PC",
            ];
            for (i, name) in NAMES.iter().enumerate() {
                ui.monospace(format!("{name:>3} {:08x}", c.regs[i]));
                if i % 4 == 3 {
                    ui.end_row();
                }
            }
            ui.monospace(format!("xPSR {:08x}", c.xpsr));
            ui.end_row();
        });
    let irqs = if c.irqs.is_empty() {
        "none".to_string()
    } else {
        c.irqs
            .iter()
            .map(|(n, k)| format!("IRQ{n} ×{k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    ui.label(format!(
        "interrupts taken: {irqs} (exceptions in all {})",
        c.exceptions_taken
    ));
    let util = 100.0 * cycles as f64 / info.budget_cycles.max(1) as f64;
    ui.label(format!(
        "this tick: {cycles} cycles of {} ({util:.1} % busy, {:.1} % asleep), stack {stack} B",
        info.budget_cycles,
        100.0 - util
    ));
    ui.label(format!(
        "stack high-water {} B; {} instructions, {} cycles in all",
        c.stack_high_water, c.instructions, c.cycles
    ));
}

fn timing_table(ui: &mut Ui, run: &Run) {
    egui::Grid::new("timing").striped(true).show(ui, |ui| {
        for h in [
            "core",
            "component",
            "cycles min / mean / max",
            "budget",
            "utilisation (mean / max)",
            "asleep (mean)",
            "cycle model",
        ] {
            ui.strong(h);
        }
        ui.end_row();
        for (i, info) in run.info.cores.iter().enumerate() {
            let twin_flight::trace::Stats { min, mean, max } =
                twin_flight::trace::stats(run.ticks.iter().map(|t| {
                    if i == 0 {
                        t.m4_cycles
                    } else {
                        t.m7_cycles
                    }
                }));
            let b = info.budget_cycles.max(1) as f64;
            ui.label(&info.core);
            ui.label(format!("{} ({})", info.role, info.backend));
            ui.label(format!("{min} / {mean:.0} / {max}"));
            ui.label(info.budget_cycles.to_string());
            ui.label(format!(
                "{:.2} % / {:.2} %",
                100.0 * mean / b,
                100.0 * max as f64 / b
            ));
            ui.label(format!("{:.2} %", 100.0 - 100.0 * mean / b));
            ui.label(if info.cycle_model.is_empty() {
                "not emulated"
            } else {
                info.cycle_model.as_str()
            });
            ui.end_row();
        }
    });
}

fn compare_tab(
    ui: &mut Ui,
    run: &Run,
    overlay: Option<&Overlay>,
    diffs: &[twin_flight::trace::SignalDiff],
    pick: &mut usize,
) {
    let Some(o) = overlay else {
        ui.label("Load a saved trace (Compare and export, on the left) to compare this run with it: another backend, another seed, a hardware run.");
        return;
    };
    ui.label(format!(
        "run ({} ticks) vs {} ({} ticks), aligned by tick; first difference is the first tick where they differ at all",
        run.ticks.len(),
        o.name,
        o.ticks.len()
    ));
    egui::Grid::new("diffs").striped(true).show(ui, |ui| {
        for h in ["signal", "max |difference|", "RMS", "first difference"] {
            ui.strong(h);
        }
        ui.end_row();
        for (i, d) in diffs.iter().enumerate() {
            if ui.selectable_label(*pick == i, &d.signal).clicked() {
                *pick = i;
            }
            ui.label(format!("{:.3e}", d.max_abs));
            ui.label(format!("{:.3e}", d.rms));
            ui.label(match d.first_exceeded {
                Some((k, t)) => format!("tick {k} ({t:.3} s)"),
                None => "identical".into(),
            });
            ui.end_row();
        }
    });
    let s = twin_flight::trace::SIGNALS[(*pick).min(twin_flight::trace::SIGNALS.len() - 1)];
    let pts: Vec<[f64; 2]> = run
        .ticks
        .iter()
        .zip(&o.ticks)
        .map(|(a, b)| [a.t, (s.get)(a) - (s.get)(b)])
        .filter(|p| p[1].is_finite())
        .collect();
    ui.label(RichText::new(format!("{} − overlay ({})", s.name, s.unit)).strong());
    egui_plot::Plot::new("compare")
        .height((ui.available_height() - 10.0).max(100.0))
        .show(ui, |pu| {
            pu.line(
                egui_plot::Line::new(
                    format!("{} difference", s.name),
                    egui_plot::PlotPoints::new(pts),
                )
                .color(plots::PURPLE),
            );
        });
}

/// The scenario files of a directory, sorted, each with its description (or why it is invalid).
pub fn list_scenarios(dir: &Path) -> Vec<Listed> {
    twin_flight::scenario::list(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(path, s)| match s {
            Ok(s) => Listed {
                path,
                name: s.name,
                about: s.description,
            },
            Err(e) => Listed {
                name: path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path,
                about: format!("invalid: {e}"),
            },
        })
        .collect()
}

/// Save an image as an RGBA PNG.
pub fn save_png(path: &Path, image: &egui::ColorImage) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| err(&e))?;
    let [w, h] = image.size;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| err(&e))?;
    let bytes: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|c| c.to_srgba_unmultiplied())
        .collect();
    writer.write_image_data(&bytes).map_err(|e| err(&e))?;
    writer.finish().map_err(|e| err(&e))
}
