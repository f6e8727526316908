//! The reference flight stack built three ways agrees on recorded inputs: synth's ARM code on
//! each core and wasmtime bit for bit, the native build within float tolerance; and it flies
//! the hosted loop on the emulated cores.

// The shared test helpers this crate can use (tests/common).
#[path = "../../../tests/common/build.rs"]
mod build;
#[path = "../../../tests/common/hosting.rs"]
mod hosting;
#[path = "../../../tests/common/vehicle.rs"]
mod vehicle;
#[allow(unused_imports)] // each test binary uses some of the helpers
mod common {
    pub use super::build::*;
    pub use super::hosting::*;
    pub use super::vehicle::*;
}

use common::*;
use glam::{DQuat, DVec3};
use twin_flight::vehicle::{step, Params, State};
use twin_hosting::backend::{Arg, Iface, Part, SensorFrame, Stack};
use twin_hosting::hosted::host::HostFns;
use twin_hosting::reference::Reference;

/// One tick of the native stack's closed-loop flight: the sensor frame, then each stage's
/// inputs' source and output.
struct Recorded {
    frame: SensorFrame,
    state: Vec<f32>,
    attitude: Vec<f32>,
    rate: Vec<f32>,
    torque: Vec<f32>,
    motors: Vec<f32>,
}

const WAYPOINT: [f32; 4] = [1.0, 0.5, -6.0, 0.3];

fn machine() -> twin_machine::machine::Machine {
    twin_machine::machine::Machine::new(
        twin_machine::board::Board::rt1176(),
        &twin_machine::machine::Config::default(),
    )
    .unwrap()
}

/// A noisy closed-loop flight of the native stack (the `flight` crate on the host, through the
/// same interface calls the loop makes): its initial vehicle-state and every tick's calls.
fn recorded(ticks: usize) -> (Vec<f32>, Vec<Recorded>) {
    use twin_flight::vehicle::sensors::{SensorParams, Sensors};
    let params = Params::quad_x();
    let mut s = State::at_rest(&params, DVec3::new(0.0, 0.0, -5.0));
    s.on_ground = false;
    s.q = DQuat::from_rotation_x(0.3) * DQuat::from_rotation_z(0.2);
    s.omega = vec![params.hover_omega(); 4];
    let state0 = twin_flight::flightloop::initial_state(&s).to_vec();
    let mut sensors = Sensors::new(SensorParams::default(), 5);
    let mut m = machine();
    let mut native = Part::native();
    let mut call =
        |k: u64, i: Iface, args: &[Arg<'_>]| native.call(&mut m, k, i, args).unwrap().words;
    call(0, Iface::AidedInit, &[Arg::Words(&state0)]);
    let mut out = Vec::new();
    for k in 0..ticks as u64 {
        let f = sensors.sample(k, 0.002, &s);
        let v3 = |a: [f64; 3]| a.map(|x| x as f32);
        let frame = SensorFrame {
            accel: v3(f.accel),
            gyro: v3(f.gyro),
            dt: 0.002,
            gnss: f.gnss.as_ref().map(|g| (v3(g.position), v3(g.velocity))),
            baro: f.baro_alt.map(|a| a as f32),
            mag: f.mag.map(v3),
        };
        let state = call(k, Iface::AidedEstimate, &[Arg::Frame(&frame)]);
        let st = Arg::Words(&state);
        let attitude = call(k, Iface::Position, &[st, Arg::Words(&WAYPOINT)]);
        let rate = call(k, Iface::Attitude, &[st, Arg::Words(&attitude)]);
        let torque = call(k, Iface::Rate, &[st, Arg::Words(&rate)]);
        let motors = call(k, Iface::Mixer, &[Arg::Words(&torque)]);
        let uf: Vec<f64> = motors.iter().map(|&x| f64::from(x)).collect();
        for _ in 0..2 {
            step(&params, &mut s, &uf, DVec3::ZERO);
        }
        out.push(Recorded {
            frame,
            state,
            attitude,
            rate,
            torque,
            motors,
        });
    }
    (state0, out)
}

/// Every interface of the stack, replayed on recorded inputs (each stage fed the native
/// run's inputs): synth's ARM code on each core and wasmtime bit for bit through the
/// canonical ABI, the native build within float tolerance. On the CM4 synth leaves the
/// position stage out (its libm sin/cos are f64; cortex-m4f has a single-precision FPU), as
/// it does falcon's position leaf (reference/pulseengine.md 4.2).
#[test]
fn the_stack_agrees_three_ways_on_both_cores() {
    let wasm_path = build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
    let (state0, ticks) = recorded(1500);
    for (core, target) in [("m7", "cortex-m7dp"), ("m4", "cortex-m4f")] {
        let h = hosted(&wasm_path, core, target);
        let wasm = h.module.wasm.clone();
        let mut m = h.machine;
        let mut arm = Part::arm(h.module).unwrap();
        let mut wt =
            Part::wasmtime(&wasm, Reference::new(&wasm, &HostFns::builtin()).unwrap()).unwrap();
        assert_eq!(
            arm.provides(Iface::Position),
            core == "m7",
            "{core}: position#tick compiled only for the double-precision FPU"
        );
        let mut stats: std::collections::BTreeMap<Iface, (u64, u64, u32, f32)> = Default::default();
        let mut check = |k: u64, iface: Iface, args: &[Arg<'_>], native: &[f32]| {
            if !arm.provides(iface) {
                return;
            }
            let a = arm.call(&mut m, k, iface, args).unwrap();
            let w = wt.call(&mut m, k, iface, args).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&a.words),
                bits(&w.words),
                "{core}: {} differs from wasmtime at tick {k}",
                iface.label()
            );
            assert_eq!(a.words.len(), native.len());
            let e = stats.entry(iface).or_insert((u64::MAX, 0, 0, 0.0));
            for (x, y) in a.words.iter().zip(native) {
                e.3 = e.3.max((x - y).abs());
            }
            e.0 = e.0.min(a.cycles);
            e.1 = e.1.max(a.cycles);
            e.2 = e.2.max(a.stack_bytes);
        };
        check(0, Iface::AidedInit, &[Arg::Words(&state0)], &[]);
        for (k, t) in ticks.iter().enumerate() {
            let k = k as u64;
            let st = Arg::Words(&t.state);
            check(k, Iface::AidedEstimate, &[Arg::Frame(&t.frame)], &t.state);
            check(
                k,
                Iface::Position,
                &[st, Arg::Words(&WAYPOINT)],
                &t.attitude,
            );
            check(k, Iface::Attitude, &[st, Arg::Words(&t.attitude)], &t.rate);
            check(k, Iface::Rate, &[st, Arg::Words(&t.rate)], &t.torque);
            check(k, Iface::Mixer, &[Arg::Words(&t.torque)], &t.motors);
        }
        assert!(
            stats.contains_key(&Iface::AidedEstimate) && stats.contains_key(&Iface::Mixer),
            "{core}: {stats:?}"
        );
        for (iface, (lo, hi, stack, worst)) in &stats {
            if *iface == Iface::AidedInit {
                continue;
            }
            assert!(
                *worst < 1e-4,
                "{core}: {} native vs wasm {worst}",
                iface.label()
            );
            eprintln!(
                "{} on {core} ({target}): {} ticks bit-identical to wasmtime, native within {worst:e}; cycles {lo}..{hi}, stack {stack} B",
                iface.label(),
                ticks.len()
            );
        }
    }
}

/// The flight stack's synth objects linked on both cores of one machine, in the hosted loop.
fn hosted_loop(seed: u64, start: State, waypoint: [f32; 3]) -> twin_flight::flightloop::FlightLoop {
    use twin_hosting::hosted::{link::RelObject, Module, Options};
    let wasm_path = build_wasm_crate("targets/flight-stack", "flight_stack.wasm");
    let wasm = twin_hosting::wasm::WasmModule::load(&wasm_path).unwrap();
    let mut machine = machine();
    let obj = |target: &str| {
        let p = synth_object(&wasm_path, target);
        RelObject::parse(&std::fs::read(&p).unwrap(), p.to_str().unwrap()).unwrap()
    };
    let mut link = |core: &str, target: &str| {
        let m = Module::link(
            &mut machine,
            core,
            wasm.clone(),
            &obj(target),
            &HostFns::builtin(),
            Options::default(),
        )
        .unwrap();
        Stack::new(vec![Part::arm(m).unwrap()])
    };
    let est = link("m4", "cortex-m4f");
    let ctl = link("m7", "cortex-m7dp");
    let params = Params::quad_x();
    let sensors = twin_flight::vehicle::sensors::Sensors::new(
        twin_flight::vehicle::sensors::SensorParams::default(),
        seed,
    );
    let wind = twin_flight::vehicle::wind::Wind::new(Default::default(), seed);
    let state0 = twin_flight::flightloop::initial_state(&start);
    let fc = twin_flight::flightloop::Hosted::new(machine, est, ctl, (1, 0), &state0).unwrap();
    twin_flight::flightloop::FlightLoop::new(
        Box::new(fc),
        params,
        start,
        sensors,
        wind,
        0.002,
        waypoint,
    )
}

#[test]
fn stabilization_through_the_emulated_cores() {
    let start_p = DVec3::new(0.0, 0.0, -5.0);
    let s = tilted_hover(start_p, 0.4);
    let mut lp = hosted_loop(21, s, start_p.as_vec3().to_array());
    let ticks = 6000;
    let mut worst_late = 0.0f64;
    let (mut m4, mut m7, mut mu) = ((u64::MAX, 0u64, 0u64), (u64::MAX, 0u64, 0u64), 0u64);
    for k in 0..ticks {
        let t = lp.step().unwrap();
        assert!(!t.overrun_m4 && !t.overrun_m7, "overrun at tick {k}");
        assert!(t.m7_cycles > 0, "the CM7 ran the controller at tick {k}");
        m4 = (
            m4.0.min(t.m4_cycles),
            m4.1.max(t.m4_cycles),
            m4.2 + t.m4_cycles,
        );
        m7 = (
            m7.0.min(t.m7_cycles),
            m7.1.max(t.m7_cycles),
            m7.2 + t.m7_cycles,
        );
        mu = mu.max(t.mu_latency_ns);
        if k + 500 >= ticks {
            worst_late = worst_late.max(tilt(lp.state.q));
        }
    }
    eprintln!(
        "stabilization on the emulated cores: worst tilt over the last second {worst_late:.4} rad; CM4 ekf cycles/tick {}..{} (mean {}), CM7 controller {}..{} (mean {}), MU latency <= {mu} ns",
        m4.0, m4.1, m4.2 / ticks, m7.0, m7.1, m7.2 / ticks
    );
    assert!(worst_late < 0.1, "attitude error {worst_late} rad");
    assert!((lp.state.p - start_p).length() < 0.6, "{:?}", lp.state.p);
}

#[test]
fn hosted_loop_is_deterministic() {
    let params = Params::quad_x();
    let mut s = State::at_rest(&params, DVec3::new(0.0, 0.0, -3.0));
    s.on_ground = false;
    s.omega = vec![params.hover_omega(); 4];
    let run = |s: State| {
        let mut lp = hosted_loop(5, s, [1.0, 0.0, -3.0]);
        (0..300)
            .map(|_| serde_json::to_string(&lp.step().unwrap()).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(s.clone()), run(s));
}
