//! `sim`: the headless front end of rt-twin.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sim::board::Board;
use sim::image::Image;
use sim::machine::{Config, Machine, Stop};
use sim::time::{format_ps, parse_duration};

/// Exit codes of `sim run` beyond the firmware's own (documented in the README).
const EXIT_USAGE: u8 = 2;
const EXIT_TIMEOUT: u8 = 124;
const EXIT_LOCKUP: u8 = 125;
const EXIT_TWIN_ERROR: u8 = 126;
const EXIT_SYSTEM_RESET: u8 = 127;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "rt-twin: a digital twin of the i.MX RT1176"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run bare-metal ELF images on the emulated cores.
    ///
    /// Exit code: the firmware's (semihosting SYS_EXIT), or 124 when the time limit is reached,
    /// 125 on a core lockup, 126 on a twin error (e.g. an unmodelled peripheral), 127 when the
    /// firmware requests a system reset, 2 for bad input.
    Run {
        /// Image for the Cortex-M7.
        #[arg(long)]
        m7: Option<PathBuf>,
        /// Image for the Cortex-M4 (held in reset until the CM7 releases it through SRC,
        /// unless --m4-running or there is no CM7 image).
        #[arg(long)]
        m4: Option<PathBuf>,
        /// Virtual time limit, e.g. 250ms, 5s, 2m.
        #[arg(long = "for", default_value = "10s")]
        duration: String,
        /// Start the CM4 at power-on instead of waiting for the CM7 to release it.
        #[arg(long)]
        m4_running: bool,
        /// Board description (default: the built-in targets/rt1176.ron).
        #[arg(long)]
        board: Option<PathBuf>,
        /// Lockstep quantum (default 10us).
        #[arg(long)]
        quantum: Option<String>,
        /// Print the summary as JSON (on stderr) instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            m7,
            m4,
            duration,
            m4_running,
            board,
            quantum,
            json,
        } => match run(m7, m4, &duration, m4_running, board, quantum, json) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("sim: error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

fn run(
    m7: Option<PathBuf>,
    m4: Option<PathBuf>,
    duration: &str,
    m4_running: bool,
    board: Option<PathBuf>,
    quantum: Option<String>,
    json: bool,
) -> sim::Result<ExitCode> {
    if m7.is_none() && m4.is_none() {
        return Err(sim::Error::Usage(
            "give at least one image: --m7 FILE and/or --m4 FILE".into(),
        ));
    }
    let limit = parse_duration(duration)?;
    let board = match board {
        Some(p) => Board::load(&p)?,
        None => Board::rt1176(),
    };
    let config = Config {
        quantum: quantum
            .as_deref()
            .map(parse_duration)
            .transpose()?
            .unwrap_or(0),
        echo: true,
        m4_running,
    };
    let mut machine = Machine::new(board, &config)?;
    for (core, path) in [("m7", &m7), ("m4", &m4)] {
        if let Some(p) = path {
            let image = Image::load(p)?;
            machine.load(core, &image)?;
        }
    }
    machine.power_on()?;
    let stop = machine.run_for(limit);
    let summary = machine.summary();
    let wall = machine.wall_seconds();
    if json {
        let v = serde_json::json!({
            "stop": stop,
            "virtual_time_ps": machine.now(),
            "wall_seconds": wall,
            "cores": summary,
        });
        eprintln!("{v}");
    } else {
        eprintln!(
            "sim: {} after {} virtual, {:.3} s wall",
            describe(&stop),
            format_ps(machine.now()),
            wall
        );
        for c in &summary {
            eprintln!(
                "  {:<3} {:<8} insns {:>12}  cycles {:>12}  sleep {:>5.1}%  irqs {:>8}  exceptions {:>8}",
                c.core,
                format!("{:?}", c.state),
                c.instructions,
                c.cycles,
                100.0 * c.sleep_share,
                c.irqs_taken,
                c.exceptions_taken
            );
        }
    }
    Ok(match stop {
        Stop::Exit { code, .. } => ExitCode::from((code & 0xFF) as u8),
        Stop::Timeout => ExitCode::from(EXIT_TIMEOUT),
        Stop::Lockup { .. } => ExitCode::from(EXIT_LOCKUP),
        Stop::TwinError { .. } => ExitCode::from(EXIT_TWIN_ERROR),
        Stop::SystemReset { .. } => ExitCode::from(EXIT_SYSTEM_RESET),
    })
}

fn describe(stop: &Stop) -> String {
    match stop {
        Stop::Exit { core, code } => format!("{core} exited with code {code}"),
        Stop::Timeout => "time limit reached".into(),
        Stop::Lockup { core, detail } => format!("LOCKUP on {core}: {detail}"),
        Stop::TwinError { core, detail } => format!("twin error on {core}: {detail}"),
        Stop::SystemReset { core } => format!("{core} requested a system reset"),
    }
}
