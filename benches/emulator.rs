//! Emulator speed: the same firmware loops (ALU, load/store, call-heavy, VFP) on raw Unicorn with
//! no hooks and on the twin, and the idle firmware's virtual-to-wall time ratio.
//!
//! Criterion measures each case; a summary measured in the same run prints the twin/raw
//! throughput ratio per loop (goal: >= 0.5 on busy code), the throughput with the CPU timing
//! tables over that with a flat cycle per instruction (model/flat: what pricing blocks by
//! instruction class costs), the throughput with a data wait state on the loops' RAM over
//! that without (waits/model: what charging data wait states costs), and the idle real-time
//! factor.

// The shared test helpers this crate can use (tests/common).
#[path = "../tests/common/build.rs"]
mod build;
#[path = "../tests/common/firmware.rs"]
mod firmware;
#[allow(unused_imports)] // each test binary uses some of the helpers
mod common {
    pub use super::build::*;
    pub use super::firmware::*;
}

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BatchSize, Criterion};
use twin_machine::board::Board;
use twin_machine::image::Image;
use twin_machine::machine::{Config, Machine, Stop};
use twin_machine::time::PS_PER_S;
use unicorn_engine::{Arch, ArmCpuModel, Mode, Prot, RegisterARM, Unicorn};

const LOOPS: [&str; 4] = ["bench_alu", "bench_mem", "bench_call", "bench_vfp"];

fn image(name: &str) -> Image {
    Image::load(&common::fw("m7", name)).expect("bench firmware")
}

/// A bare Unicorn engine with the CM7 model, ITCM/DTCM and the PPB as plain RAM, the image
/// loaded, SP/PC from the vector table. Runs until `bench_done`.
fn raw_engine(img: &Image) -> (Unicorn<'static, ()>, u64, u64) {
    let mut uc = Unicorn::new(Arch::ARM, Mode::THUMB).unwrap();
    uc.ctl_set_cpu_model(ArmCpuModel::CORTEX_M7 as i32).unwrap();
    uc.mem_map(0x0, 0x40000, Prot::ALL).unwrap();
    uc.mem_map(0x2000_0000, 0x40000, Prot::ALL).unwrap();
    uc.mem_map(0xE000_0000, 0x10_0000, Prot::ALL).unwrap();
    for s in &img.segments {
        let mut b = s.data.clone();
        b.resize(s.mem_size as usize, 0);
        uc.mem_write(u64::from(s.addr), &b).unwrap();
    }
    let mut w = [0u8; 8];
    uc.mem_read(u64::from(img.vector_table), &mut w).unwrap();
    let sp = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    let pc = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
    uc.reg_write(RegisterARM::SP, u64::from(sp)).unwrap();
    let done = img
        .symbols
        .address_of("bench_done")
        .expect("bench_done symbol");
    (uc, u64::from(pc), u64::from(done))
}

fn raw_run(img: &Image) -> Duration {
    let (mut uc, pc, done) = raw_engine(img);
    let t = Instant::now();
    uc.emu_start(pc, done, 0, 0).unwrap();
    let e = t.elapsed();
    assert_eq!(
        uc.reg_read(RegisterARM::PC).unwrap(),
        done,
        "raw run ended early"
    );
    e
}

fn twin_machine(img: &Image) -> Machine {
    twin_on(img, Board::rt1176())
}

fn twin_on(img: &Image, board: Board) -> Machine {
    let mut m = Machine::new(board, &Config::default()).unwrap();
    m.load("m7", img).unwrap();
    m.power_on().unwrap();
    m
}

/// The built-in board with every instruction charged one cycle (the cost model before the
/// CPU timing tables): the block hook's pricing compared with the tables' in the same run.
fn flat_board() -> Board {
    let text = twin_machine::board::RT1176_RON.replace(
        "fpu: DoublePrecision,",
        "fpu: DoublePrecision, cycles_per_insn: 1,",
    );
    Board::parse(&text, "rt1176-flat.ron").unwrap()
}

/// The built-in board with a wait state on the CM7's DTCM (the bench loops' data and stack):
/// what charging data wait states (a memory hook over the window) costs.
fn dtcm_wait_board() -> Board {
    common::board_with_wait_states("DTCM", 1)
}

/// Returns (wall time, instructions executed).
fn twin_run(img: &Image) -> (Duration, u64) {
    twin_run_on(img, Board::rt1176())
}

fn twin_run_on(img: &Image, board: Board) -> (Duration, u64) {
    let mut m = twin_on(img, board);
    let t = Instant::now();
    let stop = m.run_for(100 * PS_PER_S);
    let e = t.elapsed();
    assert_eq!(
        stop,
        Stop::Exit {
            core: "m7".into(),
            code: 0
        }
    );
    (e, m.summary()[0].instructions)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("loops");
    g.sample_size(10);
    for name in LOOPS {
        let img = image(name);
        g.bench_function(format!("raw/{name}"), |b| {
            b.iter_batched(
                || raw_engine(&img),
                |(mut uc, pc, done)| uc.emu_start(pc, done, 0, 0).unwrap(),
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("twin/{name}"), |b| {
            b.iter_batched(
                || twin_machine(&img),
                |mut m| black_box(m.run_for(100 * PS_PER_S)),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    let idle = image("idle");
    let mut g = c.benchmark_group("idle");
    g.sample_size(10);
    g.bench_function("twin/idle_60s", |b| {
        b.iter_batched(
            || twin_machine(&idle),
            |mut m| black_box(m.run_for(61 * PS_PER_S)),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Ratios measured in this run: medians of 5 runs each.
fn summary() {
    println!("\nrt-twin emulator summary (medians of 5 runs, same process)");
    println!(
        "{:<11} {:>10} {:>10} {:>10} {:>9} {:>11} {:>11}",
        "loop", "insns", "raw MIPS", "twin MIPS", "twin/raw", "model/flat", "waits/model"
    );
    for name in LOOPS {
        let img = image(name);
        let raw = median((0..5).map(|_| raw_run(&img)).collect());
        let mut insns = 0;
        let twin = median(
            (0..5)
                .map(|_| {
                    let (d, n) = twin_run(&img);
                    insns = n;
                    d
                })
                .collect(),
        );
        let flat = median((0..5).map(|_| twin_run_on(&img, flat_board()).0).collect());
        let waits = median(
            (0..5)
                .map(|_| twin_run_on(&img, dtcm_wait_board()).0)
                .collect(),
        );
        let mips = |d: Duration| insns as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{:<11} {:>10} {:>10.0} {:>10.0} {:>9.2} {:>11.2} {:>11.2}",
            name,
            insns,
            mips(raw),
            mips(twin),
            raw.as_secs_f64() / twin.as_secs_f64(),
            flat.as_secs_f64() / twin.as_secs_f64(),
            twin.as_secs_f64() / waits.as_secs_f64()
        );
    }
    let idle = image("idle");
    let wall = median(
        (0..5)
            .map(|_| {
                let mut m = twin_machine(&idle);
                let t = Instant::now();
                let stop = m.run_for(61 * PS_PER_S);
                let d = t.elapsed();
                assert!(matches!(stop, Stop::Exit { code: 0, .. }));
                d
            })
            .collect(),
    );
    println!(
        "idle firmware: 60 s virtual in {:.1} ms wall: virtual/wall = {:.0}x",
        wall.as_secs_f64() * 1e3,
        60.0 / wall.as_secs_f64()
    );
}

criterion_group!(group, benches);

fn main() {
    group();
    summary();
    Criterion::default().configure_from_args().final_summary();
}
