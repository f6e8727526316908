//! The fuzz targets' bodies, one function per target (`fuzz_targets/NAME.rs` calls `NAME`): the
//! same functions replay the seed corpora and every crash input kept in `fuzz/regressions/` in
//! the project's normal test suite (`tests/fuzz_inputs.rs` includes this file), so a crash the
//! fuzzer found stays a regression test on the stable toolchain. Every function takes any bytes;
//! what the twin says about bad input is an error, never a panic.

use std::sync::OnceLock;
use twin_flight::scenario::Scenario;
use twin_flight::sweep::Sweep;
use twin_flight::wholerun::WholeRun;
use twin_hosting::hosted::host::HostFns;
use twin_hosting::hosted::link::RelObject;
use twin_hosting::hosted::{Arena, Module, Options};
use twin_hosting::wasm::{Val, WasmModule};
use twin_machine::board::Board;
use twin_machine::image::Image;
use twin_machine::machine::{Config, Machine};
use twin_machine::time::PS_PER_S;
use twin_target::rtt::{Memory, Rtt};

/// The ELF loader: any bytes as an executable, and a parsed image placed on the built-in board
/// (segments checked against the cores' memory windows). Errors are answers; panics are bugs.
pub fn elf(data: &[u8]) {
    let Ok(image) = Image::parse(data, "fuzz.elf") else {
        return;
    };
    let mut machine = Machine::new(board(), &Config::default()).expect("built-in board");
    for core in ["m7", "m4"] {
        let _ = machine.load(core, &image);
    }
    let _ = machine.power_on();
}

/// The board reader: any text as a board file (RON, then the range checks).
pub fn board_ron(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Board::parse(text, "fuzz.ron");
        let _ = twin_machine::rontext::locate(text, "cores[1].memory[0].size");
    }
}

/// The scenario, sweep and whole-run readers: any text as each kind of file (RON, the number
/// and range checks, the field locator behind their messages).
pub fn scenario_ron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = Scenario::parse(text, "fuzz.ron") {
        // What a run does first with a valid scenario: its initial state and waypoints.
        let _ = s.initial_state();
        let _ = s.waypoint_at(s.dt * s.steps as f64);
        let _ = twin_flight::scenario::evaluate(&s, &[]);
    }
    let _ = Sweep::parse(text, std::path::Path::new("fuzz.ron"));
    let _ = WholeRun::parse(text, "fuzz.ron");
}

/// The built-in board, read once.
fn board() -> Board {
    static BOARD: OnceLock<Board> = OnceLock::new();
    BOARD.get_or_init(Board::rt1176).clone()
}

fn smoke() -> &'static WasmModule {
    static WASM: OnceLock<WasmModule> = OnceLock::new();
    WASM.get_or_init(|| {
        let bytes = wat::parse_str(include_str!("../../targets/corpus/smoke.wat")).expect("wat");
        WasmModule::parse(bytes, "smoke.wasm").expect("the corpus module")
    })
}

/// The relocatable-object linker and embedder init: any bytes as the synth object of a fixed
/// module (the project's `targets/corpus/smoke.wat`), linked onto the built-in board's CM7 with
/// its data and globals initialised; a linked object's `add` export is then called with a small
/// cycle budget (mutated code may fault, loop or return garbage: reported, never a panic).
pub fn link(data: &[u8]) {
    let Ok(object) = RelObject::parse(data, "fuzz.o") else {
        return;
    };
    let mut machine = Machine::new(board(), &Config::default()).expect("built-in board");
    let options = Options {
        max_cycles: 200_000,
        ..Options::default()
    };
    let mut arena = Arena::default();
    let linked = Module::link_in(
        &mut machine,
        "m7",
        smoke().clone(),
        &object,
        &HostFns::builtin(),
        options,
        &mut arena,
    );
    if let Ok(mut module) = linked {
        let _ = module.call(&mut machine, "add", &[Val::I32(2), Val::I32(3)]);
    }
}

/// The wasm hosting front end: any bytes as a module (wasmparser's validation, then the twin's
/// reading of imports, exports, memories, tables, globals and data), the falcon-cascade
/// interfaces it offers, and the WIT embedded in its custom sections.
pub fn wasm(data: &[u8]) {
    let _ = twin_hosting::canon::Wit::embedded(data, "fuzz.wasm");
    if let Ok(m) = WasmModule::parse(data.to_vec(), "fuzz.wasm") {
        let _ = twin_hosting::backend::interfaces_of(&m);
    }
}

/// The trace reader (`sim compare`, twin-ui's overlays): any text as `trace.csv`.
pub fn trace(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(trace) = twin_flight::trace::parse_trace(&text, "fuzz.csv") {
        // A trace that reads back is compared and written again.
        let _ = twin_flight::trace::compare(&trace, &trace, |_| 0.0);
        let _ = twin_flight::trace::trace_csv(&trace);
    }
}

/// 16 KiB of target RAM at 0x2000_0000, its first bytes from the input.
struct Ram(Vec<u8>);

const BASE: u32 = 0x2000_0000;

impl Memory for Ram {
    fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), String> {
        let at = addr.checked_sub(BASE).ok_or("below RAM")? as usize;
        let src = self
            .0
            .get(at..at.saturating_add(buf.len()))
            .ok_or("beyond RAM")?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), String> {
        let at = addr.checked_sub(BASE).ok_or("below RAM")? as usize;
        let dst = (self.0.get_mut(at..at.saturating_add(data.len()))).ok_or("beyond RAM")?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

/// Target mode's link: the HIL frame decoder (COBS frames, CRC-32C, postcard messages) on any
/// byte stream in both directions, and the host's RTT reader on a target RAM image the input
/// gives (control block, channel descriptors and ring offsets as a broken firmware leaves them).
pub fn hil_frame(data: &[u8]) {
    let mut up = hil_proto::Decoder::default();
    let mut down = hil_proto::Decoder::default();
    for &b in data {
        let _ = up.push::<hil_proto::Up>(b);
        let _ = down.push::<hil_proto::Down>(b);
    }
    let _ = hil_proto::decode::<hil_proto::Up>(data);
    let mut ram = Ram(vec![0; 0x4000]);
    let n = data.len().min(ram.0.len());
    ram.0[..n].copy_from_slice(&data[..n]);
    if let Ok(rtt) = Rtt::find(&mut ram, &[(BASE, 0x4000)]) {
        let mut link = twin_target::rtt::Link::new(rtt);
        let _ = link.poll::<hil_proto::Up>(&mut ram);
        let _ = link.send(&mut ram, &hil_proto::Down::Stop);
        let _ = link.flush(&mut ram);
    }
}

/// A vector table (SP, then every handler at the code) and the code, at `base`.
fn image(base: u32, sp: u32, code: &[u8]) -> Image {
    Image::bare("fuzz", base, sp, code)
}

/// Random Thumb-2 code on both cores: the input's first half is the CM7's code (in ITCM), the
/// second the CM4's (in its code TCM), each after a vector table whose handlers are the same
/// bytes; both cores run from power-on for 20 us of virtual time (20,000 CM7 cycles). The twin reports what the
/// guest does (faults, lockups, unmodelled accesses, semihosting exits) and never panics or
/// hangs (libFuzzer's -timeout is the wall-clock watchdog of each run).
pub fn thumb(data: &[u8]) {
    let code = &data[..data.len().min(4096)];
    let (m7, m4) = code.split_at(code.len() / 2);
    let config = Config {
        m4_running: true,
        ..Config::default()
    };
    let mut machine = Machine::new(board(), &config).expect("built-in board");
    machine
        .load("m7", &image(0x0000_0000, 0x2000_8000, m7))
        .expect("ITCM holds the image");
    machine
        .load("m4", &image(0x1FFE_0000, 0x2000_8000, m4))
        .expect("the CM4 code TCM holds the image");
    machine.power_on().expect("both cores loaded");
    let _ = machine.run_for(PS_PER_S / 50_000);
}
