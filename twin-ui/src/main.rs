//! `twin-ui [--scenario FILE] [--screenshot OUT.png --frames N]`: the desktop app.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use twin_flight::session::Overrides;
use twin_ui::worker::{Command, Speed};
use twin_ui::TwinApp;

#[derive(Parser)]
#[command(
    name = "twin-ui",
    version,
    about = "rt-twin's desktop app: run scenarios live, see both cores, compare runs"
)]
struct Cli {
    /// Open this scenario file and run it (without: the scenario list).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// The project root (its scenarios/ are listed; default: the current directory).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Run speed: a factor of real time (1 = real time) or `max`.
    #[arg(long, default_value = "1")]
    speed: String,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Where the components run: `arm`, `wasmtime`, `native` or `lockstep`, for both or as
    /// `estimator=B,controller=B` (as `sim --backend`).
    #[arg(long, value_name = "SPEC")]
    backend: Option<String>,
    /// Target mode, as `sim --target emulated`: the HIL firmware on the twin flies the scenario
    /// through the RTT link a board uses (docs/target.md).
    #[arg(long, value_name = "WHERE", value_parser = ["emulated"])]
    target: Option<String>,
    /// The HIL firmware's CM7 image (default: target/hil/hil-m7.elf under the root).
    #[arg(long, value_name = "ELF", requires = "target")]
    hil_image: Option<PathBuf>,
    /// Overlay a saved trace (a trace.csv or a `sim --out` directory).
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Render frames, save a screenshot of the window here and exit.
    #[arg(long, value_name = "OUT.png")]
    screenshot: Option<PathBuf>,
    /// Frames to render before the screenshot.
    #[arg(long, default_value_t = 10, requires = "screenshot")]
    frames: u32,
    /// Count the frames only once the run has finished (a screenshot of the whole run).
    #[arg(long, requires = "screenshot")]
    after_finish: bool,
    /// The plots shown first: flight, sensors, timing, mu, vehicle or compare.
    #[arg(long, default_value = "flight")]
    tab: String,
    /// Window size in points, WIDTHxHEIGHT.
    #[arg(long, default_value = "1600x1000")]
    size: String,
}

fn parse_size(s: &str) -> Result<[f32; 2], String> {
    let bad = || format!("--size {s}: expected WIDTHxHEIGHT, e.g. 1600x1000");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (f32, f32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if w < 200.0 || h < 200.0 {
        return Err(bad());
    }
    Ok([w, h])
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.trim_end_matches('x').parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(Speed::Times(x)),
        _ => Err(format!(
            "--speed {s}: expected a positive factor of real time or `max`"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let fail = |m: String| {
        eprintln!("twin-ui: {m}");
        ExitCode::from(2)
    };
    let size = match parse_size(&cli.size) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let speed = match parse_speed(&cli.speed) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let Some(tab) = twin_ui::app::Tab::parse(&cli.tab) else {
        return fail(format!(
            "--tab {}: expected flight, sensors, timing, mu, vehicle or compare",
            cli.tab
        ));
    };
    let mut overrides = Overrides {
        seed: cli.seed,
        ..Overrides::default()
    };
    if let Some(spec) = &cli.backend {
        if let Err(e) = overrides.set_backends(spec) {
            return fail(e.to_string());
        }
    }
    if let Some(f) = &cli.scenario {
        if let Err(e) = twin_flight::scenario::Scenario::load(f) {
            return fail(e.to_string());
        }
    }
    let overlay = match &cli.overlay {
        Some(o) => match twin_flight::trace::read_trace(o) {
            Ok(_) => Some(o.clone()),
            Err(e) => return fail(format!("--overlay: {e}")),
        },
        None => None,
    };
    let root = match cli.root.clone().map_or_else(std::env::current_dir, Ok) {
        Ok(r) => r,
        Err(e) => return fail(format!("current directory: {e}")),
    };
    let mut target = None;
    if cli.target.is_some() {
        let image = cli
            .hil_image
            .clone()
            .unwrap_or_else(|| twin_target::default_image(&root));
        if !image.exists() {
            return fail(format!(
                "HIL firmware image {} not found: build it with targets/hil/build.sh",
                image.display()
            ));
        }
        target = Some(twin_target::TargetSpec::Emulated { image });
    }
    let shot = cli.screenshot.clone();
    let exit = std::sync::Arc::new(std::sync::Mutex::new(None));
    let exit_app = exit.clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size(size)
            .with_title("rt-twin"),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    let result = eframe::run_native(
        "rt-twin",
        options,
        Box::new(move |cc| {
            let mut app = TwinApp::new(&root, &cc.egui_ctx);
            app.seed = overrides.seed;
            app.estimator_backend = overrides.estimator_backend;
            app.controller_backend = overrides.controller_backend;
            app.target = target;
            app.exit = exit_app;
            app.tab = tab;
            app.command(Command::Speed(speed));
            if let Some(f) = &cli.scenario {
                app.open(f);
                app.command(Command::Run);
            }
            if let Some(o) = &overlay {
                app.load_overlay(o);
            }
            if let Some(out) = cli.screenshot.clone() {
                app.screenshot_and_exit(out, cli.frames, cli.after_finish);
            }
            Ok(Box::new(app))
        }),
    );
    if let Err(e) = result {
        return fail(format!("could not start the window: {e}"));
    }
    let outcome = exit.lock().map(|mut e| e.take()).unwrap_or(None);
    match (shot, outcome) {
        (None, _) => ExitCode::SUCCESS,
        (Some(_), Some(Ok(p))) => {
            println!("screenshot saved to {}", p.display());
            ExitCode::SUCCESS
        }
        (Some(_), Some(Err(e))) => fail(format!("screenshot: {e}")),
        (Some(p), None) => fail(format!(
            "the window closed before the screenshot {} was taken",
            p.display()
        )),
    }
}
