//! Scenario real-time factor (virtual seconds per wall second) for the SIL-gate scenarios on the
//! emulated cores, and the flight code's cycles per tick on each core (the timing-regression
//! figures). Criterion times a 1000-tick slice of each; the summary runs each scenario whole.
//! Campaign throughput: a small `sim sweep` on 1 and 2 worker threads, with the ratio (goal:
//! at least 1.8 on two cores). The ARM path: the stabilization scenario's guest MIPS on the
//! emulated cores against raw Unicorn's on the same synth code (every hosted call of a tick
//! captured and replayed on a bare engine), goal: a ratio of at least 0.6.

// The shared test helpers this crate can use (tests/common).
#[path = "../tests/common/build.rs"]
mod build;
#[allow(unused_imports)] // each test binary uses some of the helpers
mod common {
    pub use super::build::*;
}

use criterion::{criterion_group, Criterion};
use twin_flight::scenario::Scenario;
use twin_flight::session::run;
use twin_machine::core::RawCall;

fn load(name: &str) -> Scenario {
    Scenario::load(&common::workspace().join("scenarios").join(name)).expect("scenario")
}

fn benches(c: &mut Criterion) {
    common::build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
    let objects = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    for name in ["stabilization.ron", "position-hold.ron"] {
        let mut s = load(name);
        s.steps = 1000;
        s.gates = vec![twin_flight::scenario::Gate::NoOverrun];
        g.bench_function(format!("1000 ticks/{name}"), |b| {
            b.iter(|| run(&s, &common::workspace(), objects.path(), |_| {}).unwrap())
        });
    }
    g.finish();
}

fn summary() {
    let objects = tempfile::tempdir().unwrap();
    println!("\nrt-twin scenario summary (whole runs, this process)");
    for name in ["stabilization.ron", "position-hold.ron"] {
        let s = load(name);
        let (r, _) = run(&s, &common::workspace(), objects.path(), |_| {}).unwrap();
        println!(
            "{:<20} {:>6.1} s virtual in {:>6.2} s wall: real-time factor {:>5.2}; cycles/tick CM4 estimator {}/{:.0}/{} CM7 controller {}/{:.0}/{} (min/mean/max); worst-tick budget use CM4 {:.3} CM7 {:.4}; gates {}",
            r.scenario,
            r.virtual_seconds,
            r.wall_seconds,
            r.real_time_factor,
            r.estimator_cycles_per_tick.min,
            r.estimator_cycles_per_tick.mean,
            r.estimator_cycles_per_tick.max,
            r.controller_cycles_per_tick.min,
            r.controller_cycles_per_tick.mean,
            r.controller_cycles_per_tick.max,
            r.estimator_cycles_per_tick.max as f64 / r.estimator_budget_cycles as f64,
            r.controller_cycles_per_tick.max as f64 / r.controller_budget_cycles as f64,
            if r.pass { "pass" } else { "FAIL" }
        );
    }
}

/// Eight 1000-tick variations of hover-gusts on the wasmtime backend.
fn campaign() -> (twin_flight::sweep::Sweep, Scenario) {
    use twin_flight::sweep::{Param, Sweep, Values, Vary};
    let mut base = load("hover-gusts.ron");
    base.steps = 1000;
    let sweep = Sweep {
        name: "bench".into(),
        scenario: "scenarios/hover-gusts.ron".into(),
        runs: 8,
        seed: 1,
        vary: vec![
            Vary {
                what: Param::Seed,
                values: Values::PerRun,
            },
            Vary {
                what: Param::WindSpeed,
                values: Values::Uniform {
                    low: 0.0,
                    high: 5.0,
                },
            },
        ],
        gates: vec![0],
        worst: 1,
        origin: None,
        backend: Some(twin_hosting::backend::Backend::Wasmtime),
    };
    (sweep, base)
}

fn fly_campaign(sweep: &twin_flight::sweep::Sweep, base: &Scenario, jobs: usize) -> usize {
    let objects = tempfile::tempdir().unwrap();
    let root = common::workspace();
    let c = twin_flight::sweep::Campaign {
        sweep,
        base,
        root: &root,
        objects: objects.path(),
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    c.run((0, sweep.runs), jobs, &stop, |_| {}).len()
}

fn sweeps(c: &mut Criterion) {
    let (sweep, base) = campaign();
    let mut g = c.benchmark_group("sweep");
    g.sample_size(10);
    for jobs in [1, 2] {
        g.bench_function(format!("8 runs x 1000 ticks/{jobs} threads"), |b| {
            b.iter(|| fly_campaign(&sweep, &base, jobs))
        });
    }
    g.finish();
    let rate = |jobs| {
        let t = std::time::Instant::now();
        let n = fly_campaign(&sweep, &base, jobs);
        n as f64 / t.elapsed().as_secs_f64()
    };
    let (one, two) = (rate(1), rate(2));
    println!(
        "
sweep throughput (8 runs x 1000 ticks, wasmtime): 1 thread {one:.2} runs/s, 2 threads {two:.2} runs/s: ratio {:.2}",
        two / one
    );
}

/// A bare engine for replaying `calls` (all of one core): the core's RAM windows as plain
/// memory over buffers of the bench's, no MMIO and no hooks, unless `tlb` gives it the twin's
/// data-page TLB fill (pages executable only once fetched from).
struct Replay {
    uc: unicorn_engine::Unicorn<'static, ()>,
    ram: Vec<(u32, Vec<u8>)>,
}

impl Replay {
    fn new(call: &RawCall, tlb: bool) -> Replay {
        use unicorn_engine::{Arch, ArmCpuModel, Mode, Prot, Unicorn};
        let mut uc = Unicorn::new(Arch::ARM, Mode::THUMB).unwrap();
        let model = match call.model {
            twin_machine::board::CpuModel::CortexM7 => ArmCpuModel::CORTEX_M7,
            twin_machine::board::CpuModel::CortexM4 => ArmCpuModel::CORTEX_M4,
        };
        uc.ctl_set_cpu_model(model as i32).unwrap();
        if tlb {
            let mut code = std::collections::BTreeSet::new();
            uc.ctl_set_tlb_type(unicorn_engine::TlbType::VIRTUAL)
                .unwrap();
            uc.add_tlb_hook(1, 0, move |uc, addr, ty| {
                let page = addr / 1024;
                let fetch = ty == unicorn_engine::MemType::FETCH;
                if fetch {
                    code.insert(page);
                } else {
                    // As the twin does (core::fill_tlb): no IT state left behind.
                    let _ = uc.reg_write(unicorn_engine::RegisterARM::EPSR, 1 << 24);
                }
                Some(unicorn_engine::TlbEntry {
                    paddr: addr,
                    perms: if code.contains(&page) {
                        Prot::ALL
                    } else {
                        Prot::READ | Prot::WRITE
                    },
                })
            })
            .unwrap();
        }
        let mut ram: Vec<(u32, Vec<u8>)> = call.ram.clone();
        for (base, buf) in &mut ram {
            // SAFETY: the buffers live in `Replay` beside the engine and are never resized.
            unsafe {
                uc.mem_map_ptr(
                    u64::from(*base),
                    buf.len() as u64,
                    Prot::ALL,
                    buf.as_mut_ptr().cast(),
                )
            }
            .unwrap();
        }
        Replay { uc, ram }
    }

    /// Set the call's starting state (memory through the buffers, then registers).
    fn prepare(&mut self, call: &RawCall) {
        for ((_, buf), (_, from)) in self.ram.iter_mut().zip(&call.ram) {
            buf.copy_from_slice(from);
        }
        for &(r, v) in &call.regs {
            let _ = self.uc.reg_write(r, v);
        }
    }

    fn run(&mut self, call: &RawCall) {
        let r = self.uc.emu_start(
            u64::from(call.entry),
            u64::from(twin_machine::core::UNTIL),
            0,
            0,
        );
        let pc = self.uc.reg_read(unicorn_engine::RegisterARM::PC).unwrap() as u32;
        assert!(
            r.is_ok() && pc == call.until + 2,
            "raw replay of the call at {:#x} stopped at {pc:#x}: {r:?}",
            call.entry
        );
    }
}

/// Every hosted call of tick `tick` of `scenario`, per core (the machine's core order).
fn captured_tick(scenario: &Scenario, tick: u64) -> Vec<Vec<RawCall>> {
    let objects = tempfile::tempdir().unwrap();
    let mut s =
        twin_flight::session::Session::open(scenario.clone(), &common::workspace(), objects.path())
            .unwrap();
    while s.ticks() < tick {
        assert!(s.step(), "the scenario ended before tick {tick}");
    }
    let m = s
        .machine()
        .expect("the scenario runs on the emulated cores");
    let cores = m.summary().len();
    for i in 0..cores {
        m.engine(i).get_data_mut().capture = true;
    }
    assert!(s.step());
    let m = s.machine().unwrap();
    (0..cores)
        .map(|i| std::mem::take(&mut m.engine(i).get_data_mut().captured))
        .collect()
}

/// The calls a bare engine runs exactly as the twin did: Unicorn itself counts each one's
/// instructions (a code hook, on an engine of its own), which must equal the twin's count. A
/// call that reaches an import's trampoline differs (the host function behind it is the
/// twin's) and is left out.
fn replayable(calls: &[RawCall]) -> Vec<RawCall> {
    let mut counter = Replay::new(&calls[0], false);
    // Instructions of the blocks the bare engine runs, decoded here (a halfword with top five
    // bits 0b11101, 0b11110 or 0b11111 starts a 32-bit Thumb instruction). Unicorn's code hook
    // is no count to hold the twin to: it skips some IT instructions.
    let seen = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let n = seen.clone();
    counter
        .uc
        .add_block_hook(1, 0, move |uc, addr, size| {
            let mut b = vec![0u8; size as usize];
            let _ = uc.mem_read(addr, &mut b);
            let mut i = 0;
            while i + 1 < b.len() {
                let hw = u16::from_le_bytes([b[i], b[i + 1]]);
                i += if hw >> 11 >= 0x1D { 4 } else { 2 };
                n.set(n.get() + 1);
            }
        })
        .unwrap();
    calls
        .iter()
        .filter(|c| {
            seen.set(0);
            counter.prepare(c);
            counter.run(c);
            // The stub's `wfi` runs on the bare engine too; the twin does not count it.
            seen.get() - 1 == c.instructions
        })
        .cloned()
        .collect()
}

/// Raw Unicorn on one core's replayable calls of a tick: (instructions, wall time of `rounds`
/// replays).
fn raw_mips(calls: &[RawCall], rounds: u32, tlb: bool) -> (u64, std::time::Duration) {
    let mut raw = Replay::new(&calls[0], tlb);
    let mut wall = std::time::Duration::ZERO;
    for _ in 0..rounds {
        for c in calls {
            raw.prepare(c);
            let t = std::time::Instant::now();
            raw.run(c);
            wall += t.elapsed();
        }
    }
    let insns: u64 = calls.iter().map(|c| c.instructions).sum();
    (insns * u64::from(rounds), wall)
}

/// The stabilization scenario's guest MIPS on the emulated cores (the whole run: every core's
/// instructions over the wall time, the vehicle model and the loop included), and raw
/// Unicorn's MIPS on the same code mix: each core's calls of tick 500 replayed with no hooks,
/// weighted by that core's share of the scenario's instructions.
fn arm_path() {
    let scenario = load("stabilization.ron");
    let objects = tempfile::tempdir().unwrap();
    let mut s =
        twin_flight::session::Session::open(scenario.clone(), &common::workspace(), objects.path())
            .unwrap();
    let t = std::time::Instant::now();
    while s.step() {}
    let wall = t.elapsed().as_secs_f64();
    let per_core: Vec<u64> = s
        .machine()
        .unwrap()
        .summary()
        .iter()
        .map(|c| c.instructions)
        .collect();
    let total: u64 = per_core.iter().sum();
    let twin = total as f64 / wall / 1e6;
    let captured = captured_tick(&scenario, 500);
    let calls: Vec<Vec<RawCall>> = captured.iter().map(|c| replayable(c)).collect();
    let share = |v: &[Vec<RawCall>]| -> u64 { v.iter().flatten().map(|c| c.instructions).sum() };
    println!(
        "\nARM path (stabilization, 6000 ticks; raw: tick 500's calls replayed 200 times, {} of {} calls, {:.1} % of the tick's instructions; a call whose replay differs is left out)",
        calls.iter().map(Vec::len).sum::<usize>(),
        captured.iter().map(Vec::len).sum::<usize>(),
        100.0 * share(&calls) as f64 / share(&captured) as f64
    );
    for (label, tlb) in [("no hooks", false), ("no hooks, data-page TLB", true)] {
        // Time per instruction on each core, weighted by the core's instructions in the run.
        let mut raw_seconds = 0.0;
        for (core, calls) in calls.iter().enumerate() {
            if calls.is_empty() {
                continue;
            }
            let (n, d) = raw_mips(calls, 200, tlb);
            raw_seconds += per_core[core] as f64 * d.as_secs_f64() / n as f64;
        }
        let raw = total as f64 / raw_seconds / 1e6;
        println!(
            "  twin {twin:.0} MIPS ({total} instructions in {wall:.2} s) vs raw Unicorn ({label}) {raw:.0} MIPS: ratio {:.2}",
            twin / raw
        );
    }
}

criterion_group!(group, benches, sweeps);

fn main() {
    group();
    summary();
    arm_path();
    Criterion::default().configure_from_args().final_summary();
}
