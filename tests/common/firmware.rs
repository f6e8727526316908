//! The test firmware (`targets/firmware`): built once per test binary, run on the built-in
//! board. Needs only the machine crate.
#![allow(dead_code)] // each test binary uses some of these

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use twin_machine::board::Board;
use twin_machine::image::Image;
use twin_machine::machine::{Config, Machine, Stop};
use twin_machine::time::Ps;

use super::build::{built, workspace};

/// Build `targets/firmware` (both cores) once; return the output root.
pub fn firmware_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        PathBuf::from(built(
            Command::new("bash").arg(workspace().join("targets/firmware/build.sh")),
            "targets/firmware/build.sh",
        ))
    })
}

pub fn fw(core: &str, name: &str) -> PathBuf {
    firmware_root()
        .join(core)
        .join("thumbv7em-none-eabihf/release")
        .join(name)
}

pub struct Run {
    pub stop: Stop,
    pub output: String,
    pub machine: Machine,
}

/// The CM7 test firmware `name` loaded on the built-in board and powered on, not yet run: for
/// tests that give devices their input between slices of the run.
pub fn powered(name: &str) -> Machine {
    let mut machine = Machine::new(Board::rt1176(), &Config::default()).unwrap();
    machine
        .load("m7", &Image::load(&fw("m7", name)).unwrap())
        .unwrap();
    machine.power_on().unwrap();
    machine
}

/// Run `machine` until the CM7 firmware exits; its semihosting output, or a panic with it
/// unless it exited with 0.
pub fn finish(machine: &mut Machine, limit: Ps) -> String {
    let stop = machine.run_for(limit);
    let output = machine.output(0);
    assert_eq!(
        stop,
        Stop::Exit {
            core: "m7".into(),
            code: 0
        },
        "output:\n{output}"
    );
    output
}

/// Run bare-metal images on the built-in board for at most `limit` of virtual time.
pub fn run(m7: Option<&str>, m4: Option<&str>, limit: Ps) -> Run {
    let mut machine = Machine::new(Board::rt1176(), &Config::default()).unwrap();
    if let Some(n) = m7 {
        machine
            .load("m7", &Image::load(&fw("m7", n)).unwrap())
            .unwrap();
    }
    if let Some(n) = m4 {
        machine
            .load("m4", &Image::load(&fw("m4", n)).unwrap())
            .unwrap();
    }
    machine.power_on().unwrap();
    let stop = machine.run_for(limit);
    let output = machine.output(0) + &machine.output(1);
    Run {
        stop,
        output,
        machine,
    }
}

pub fn exited_ok(r: &Run) {
    assert_eq!(
        r.stop,
        Stop::Exit {
            core: "m7".into(),
            code: 0
        },
        "output:\n{}",
        r.output
    );
}

/// The independent model of the ping-pong protocol: the CM4 answers 3x+1, the CM7 folds each
/// answer into a rotate-xor checksum and sends answer + round.
pub fn pingpong_checksum(rounds: u32) -> u32 {
    let (mut x, mut sum) = (1u32, 0u32);
    for r in 1..=rounds {
        let y = x.wrapping_mul(3).wrapping_add(1);
        sum = sum.rotate_left(5) ^ y;
        x = y.wrapping_add(r);
    }
    sum
}

/// A tiny hand-assembled image: vector table (SP, Reset, NMI, HardFault) and code.
pub fn tiny_image(base: u32, sp: u32, code: &[u8], hardfault: &[u8]) -> Image {
    let reset = base + 0x40;
    let hf = reset + code.len() as u32;
    let mut bytes = Vec::new();
    for w in [sp, reset | 1, hf | 1, hf | 1] {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    bytes.resize(0x40, 0);
    bytes.extend_from_slice(code);
    bytes.extend_from_slice(hardfault);
    Image {
        path: "tiny".into(),
        segments: vec![twin_machine::image::Segment {
            index: 0,
            mem_size: bytes.len() as u32,
            addr: base,
            data: bytes,
        }],
        entry: reset,
        vector_table: base,
        symbols: Default::default(),
    }
}

/// The built-in board with `wait_states: n` on every RAM window named `window` (each core's
/// that has one); the edit is checked to have happened.
pub fn board_with_wait_states(window: &str, n: u32) -> Board {
    let start = format!("Window(name: \"{window}\"");
    let mut hits = 0;
    let text: String = twin_machine::board::RT1176_RON
        .lines()
        .map(|l| match l.find(&start) {
            Some(at) => {
                let close = at + l[at..].find(')').expect("a window line ends with `)`");
                hits += 1;
                format!("{}, wait_states: {n}{}\n", &l[..close], &l[close..])
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert!(hits > 0, "no window {window:?} in the built-in board");
    Board::parse(&text, &format!("rt1176-{window}-{n}-wait.ron")).expect("board")
}
