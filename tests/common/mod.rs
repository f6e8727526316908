//! Shared helpers: build the test firmware once per test binary and locate its images.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sim::board::Board;
use sim::image::Image;
use sim::machine::{Config, Machine, Stop};
use sim::time::Ps;

#[path = "build.rs"]
mod build;
pub use build::*;

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

/// Compile a corpus file (or any wasm) with synth for `target` into target/corpus/<target>/,
/// once per process and file.
pub fn synth_object(src: &Path, target: &str) -> PathBuf {
    use std::sync::Mutex;
    static DONE: OnceLock<Mutex<std::collections::HashMap<(PathBuf, String), PathBuf>>> =
        OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    let key = (src.to_path_buf(), target.to_string());
    if let Some(p) = done.lock().unwrap().get(&key) {
        return p.clone();
    }
    let dir = workspace().join("target/corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let stem = src.file_stem().unwrap().to_string_lossy().replace('.', "_");
    let out = dir.join(format!("{stem}.o"));
    sim::synth::compile(src, target, "software", &out).expect("synth compile");
    done.lock().unwrap().insert(key, out.clone());
    out
}

pub fn corpus(name: &str) -> PathBuf {
    workspace().join("targets/corpus").join(name)
}

/// Build the Rust corpus crate to wasm32 once; return the module path.
pub fn rust_corpus() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_wasm_crate("targets/corpus/rust", "corpus_rs.wasm"))
}

/// Host a module's synth object on a core, with synth's stack sidecar loaded.
pub fn hosted(src: &Path, core: &str, target: &str) -> sim::hosted::Hosted {
    let obj = synth_object(src, target);
    let object =
        sim::hosted::link::RelObject::parse(&std::fs::read(&obj).unwrap(), obj.to_str().unwrap())
            .unwrap();
    let wasm = sim::wasm::WasmModule::load(src).unwrap();
    let mut h = sim::hosted::Hosted::new(
        Board::rt1176(),
        core,
        wasm,
        &object,
        &sim::hosted::host::HostFns::builtin(),
        sim::hosted::Options::default(),
    )
    .unwrap();
    h.load_stack_json(&PathBuf::from(format!("{}.stack.json", obj.display())))
        .unwrap();
    h
}

/// Run the `sim` binary in the workspace root: (exit code, stdout, stderr).
pub fn sim_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("running sim");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Angle between the body z axis and the vertical: the attitude error from level.
pub fn tilt(q: glam::DQuat) -> f64 {
    (q * glam::DVec3::Z).z.clamp(-1.0, 1.0).acos()
}

/// The default quad in the air at `p`, rolled by `roll` rad, its motors at hover speed.
pub fn tilted_hover(p: glam::DVec3, roll: f64) -> sim::vehicle::State {
    let params = sim::vehicle::Params::quad_x();
    let mut s = sim::vehicle::State::at_rest(&params, p);
    s.on_ground = false;
    s.q = glam::DQuat::from_rotation_x(roll);
    s.omega = vec![params.hover_omega(); params.motors.len()];
    s
}
