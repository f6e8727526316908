//! The reference controller built three ways agrees on recorded inputs: synth's ARM code on
//! each core and wasmtime bit for bit, the native build within float tolerance.

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
use flight::controller::{Controller, VehicleConfig, Waypoint};
use flight::NavState;
use glam::{DQuat, DVec3};
use twin_flight::vehicle::{step, Params, State};
use twin_hosting::hosted::host::HostFns;
use twin_hosting::reference::Reference;
use twin_hosting::wasm::Val;

const STEP: &str = "pulseengine:falcon-cascade/controller@0.10.0#step";

/// Inputs of the controller over a closed-loop stabilization flight (native controller).
fn recorded(ticks: usize) -> Vec<([f32; 24], [f32; 4])> {
    let params = Params::quad_x();
    let mut s = State::at_rest(&params, DVec3::new(0.0, 0.0, -5.0));
    s.on_ground = false;
    s.q = DQuat::from_rotation_x(0.4) * DQuat::from_rotation_z(0.3);
    s.omega = vec![params.hover_omega(); 4];
    let mut ctl = Controller::new(VehicleConfig::quad_x_default());
    let wp = Waypoint::at([0.5, -0.3, -5.5]);
    let mut out = Vec::new();
    for _ in 0..ticks {
        let nav = NavState {
            q: [s.q.w as f32, s.q.x as f32, s.q.y as f32, s.q.z as f32],
            p: s.p.as_vec3().to_array(),
            v: s.v.as_vec3().to_array(),
            bg: [0.0; 3],
            ba: [0.0; 3],
        };
        let gyro = s.w.as_vec3().to_array();
        let mut input = [0.0f32; 24];
        input[..16].copy_from_slice(&nav.to_words());
        input[16..19].copy_from_slice(&gyro);
        input[19..22].copy_from_slice(&wp.p);
        input[22] = wp.yaw_cos_half;
        input[23] = wp.yaw_sin_half;
        let u = ctl.step(&nav, gyro, &wp);
        out.push((input, u));
        let uf: Vec<f64> = u.iter().map(|&x| f64::from(x)).collect();
        for _ in 0..2 {
            step(&params, &mut s, &uf, DVec3::ZERO);
        }
    }
    out
}

fn floats(mem: &[u8], at: u32, n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let o = at as usize + 4 * i;
            u32::from_le_bytes(mem[o..o + 4].try_into().unwrap())
        })
        .collect()
}

#[test]
fn controller_agrees_three_ways_on_both_cores() {
    let wasm_path = build_wasm_crate("targets/flight-wasm", "flight_wasm.wasm");
    let inputs = recorded(1500);
    for (core, target) in [("m7", "cortex-m7dp"), ("m4", "cortex-m4f")] {
        let mut arm = hosted(&wasm_path, core, target);
        let mut wt = Reference::new(&arm.wasm, &HostFns::builtin()).unwrap();
        let alloc = [Val::I32(0), Val::I32(0), Val::I32(4), Val::I32(96)];
        let a_ptr = arm.call("cabi_realloc", &alloc).unwrap().result.unwrap()[0];
        let w_ptr = wt.call("cabi_realloc", &alloc, 1).unwrap().unwrap()[0];
        assert_eq!(a_ptr, w_ptr, "same arena on both sides");
        let Val::I32(ptr) = a_ptr else { unreachable!() };
        let (mut cycles_min, mut cycles_max, mut stack) = (u64::MAX, 0, 0);
        let mut worst_native = 0f32;
        for (k, (input, native)) in inputs.iter().enumerate() {
            let bytes: Vec<u8> = input.iter().flat_map(|x| x.to_le_bytes()).collect();
            arm.write_memory(ptr, &bytes).unwrap();
            wt.write_memory(ptr, &bytes).unwrap();
            let a = arm.call(STEP, &[Val::I32(ptr)]).unwrap();
            let w = wt.call(STEP, &[Val::I32(ptr)], 1).unwrap().unwrap();
            let a_res = a.result.clone().unwrap();
            assert_eq!(a_res, w, "return pointer at tick {k}");
            let Val::I32(ret) = a_res[0] else {
                unreachable!()
            };
            let (am, wm) = (arm.memory(), wt.memory());
            let (au, wu) = (floats(&am, ret, 4), floats(&wm, ret, 4));
            assert_eq!(
                au, wu,
                "{core}: motor commands differ at tick {k}: ARM {au:x?} wasmtime {wu:x?}"
            );
            assert_eq!(am, wm, "{core}: linear memory differs after tick {k}");
            for (i, bits) in wu.iter().enumerate() {
                worst_native = worst_native.max((f32::from_bits(*bits) - native[i]).abs());
            }
            cycles_min = cycles_min.min(a.cycles);
            cycles_max = cycles_max.max(a.cycles);
            stack = stack.max(a.stack_bytes);
        }
        assert!(worst_native < 1e-5, "native vs wasm: {worst_native}");
        eprintln!(
            "controller#step on {core} ({target}): {} ticks bit-identical to wasmtime, native within {worst_native:e}; cycles {cycles_min}..{cycles_max}, stack {stack} B",
            inputs.len()
        );
    }
}

const ESTIMATE: &str = "pulseengine:falcon-cascade/ekf@0.10.0#estimate";
const EKF_INIT: &str = "pulseengine:falcon-cascade/ekf@0.10.0#init";

/// Sensor frames (as the wasm export's 22-float record) of a noisy closed-loop flight, with the
/// native estimator's NavState after each.
/// A sensor-frame record as the wasm export reads it, and the NavState the estimator produced.
type EkfTick = ([f32; 22], [f32; 16]);

fn recorded_ekf(ticks: usize) -> (NavState, Vec<EkfTick>) {
    use flight::estimator::{Estimator, EstimatorConfig};
    use twin_flight::vehicle::sensors::{SensorParams, Sensors};
    let params = Params::quad_x();
    let mut s = State::at_rest(&params, DVec3::new(0.0, 0.0, -5.0));
    s.on_ground = false;
    s.q = DQuat::from_rotation_x(0.3);
    s.omega = vec![params.hover_omega(); 4];
    let init = NavState {
        q: [s.q.w as f32, s.q.x as f32, s.q.y as f32, s.q.z as f32],
        p: s.p.as_vec3().to_array(),
        v: [0.0; 3],
        bg: [0.0; 3],
        ba: [0.0; 3],
    };
    let mut sensors = Sensors::new(SensorParams::default(), 5);
    let mut est = Estimator::new(EstimatorConfig::default_sensors());
    est.init(&init);
    let mut ctl = Controller::new(VehicleConfig::quad_x_default());
    let wp = Waypoint::at([1.0, 0.5, -6.0]);
    let mut out = Vec::new();
    for k in 0..ticks {
        let f = sensors.sample(k as u64, 0.002, &s);
        let v3 = |a: [f64; 3]| [a[0] as f32, a[1] as f32, a[2] as f32];
        let mut rec = [0.0f32; 22];
        rec[0..3].copy_from_slice(&v3(f.accel));
        rec[3..6].copy_from_slice(&v3(f.gyro));
        rec[6] = 0.002;
        est.predict(v3(f.accel), v3(f.gyro), 0.002);
        if let Some(g) = &f.gnss {
            rec[7] = 1.0;
            rec[8..11].copy_from_slice(&v3(g.position));
            rec[11..14].copy_from_slice(&v3(g.velocity));
            est.update_gnss(v3(g.position), v3(g.velocity));
        }
        if let Some(alt) = f.baro_alt {
            rec[14] = 1.0;
            rec[15] = alt as f32;
            est.update_baro(alt as f32);
        }
        if let Some(m) = f.mag {
            rec[16] = 1.0;
            rec[17..20].copy_from_slice(&v3(m));
            est.update_mag(v3(m));
        }
        out.push((rec, est.nav().to_words()));
        let u = ctl.step(&est.nav(), v3(f.gyro), &wp);
        let uf: Vec<f64> = u.iter().map(|&x| f64::from(x)).collect();
        for _ in 0..2 {
            step(&params, &mut s, &uf, DVec3::ZERO);
        }
    }
    (init, out)
}

#[test]
fn estimator_agrees_three_ways_on_both_cores() {
    let wasm_path = build_wasm_crate("targets/flight-wasm", "flight_wasm.wasm");
    let (init, frames) = recorded_ekf(600);
    for (core, target) in [("m4", "cortex-m4f"), ("m7", "cortex-m7dp")] {
        let mut arm = hosted(&wasm_path, core, target);
        let mut wt = Reference::new(&arm.wasm, &HostFns::builtin()).unwrap();
        let alloc = [Val::I32(0), Val::I32(0), Val::I32(4), Val::I32(96)];
        let Val::I32(ptr) = arm.call("cabi_realloc", &alloc).unwrap().result.unwrap()[0] else {
            unreachable!()
        };
        wt.call("cabi_realloc", &alloc, 1).unwrap().unwrap();
        let init_bytes: Vec<u8> = init
            .to_words()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        arm.write_memory(ptr, &init_bytes).unwrap();
        wt.write_memory(ptr, &init_bytes).unwrap();
        arm.call(EKF_INIT, &[Val::I32(ptr)])
            .unwrap()
            .result
            .unwrap();
        wt.call(EKF_INIT, &[Val::I32(ptr)], 0).unwrap().unwrap();
        let (mut cycles_min, mut cycles_max, mut stack) = (u64::MAX, 0, 0);
        let mut worst_native = 0f32;
        for (k, (frame, native)) in frames.iter().enumerate() {
            let bytes: Vec<u8> = frame.iter().flat_map(|x| x.to_le_bytes()).collect();
            arm.write_memory(ptr, &bytes).unwrap();
            wt.write_memory(ptr, &bytes).unwrap();
            let a = arm.call(ESTIMATE, &[Val::I32(ptr)]).unwrap();
            let w = wt.call(ESTIMATE, &[Val::I32(ptr)], 1).unwrap().unwrap();
            assert_eq!(a.result.as_ref().unwrap(), &w);
            let Val::I32(ret) = w[0] else { unreachable!() };
            let (am, wm) = (arm.memory(), wt.memory());
            let (an, wn) = (floats(&am, ret, 16), floats(&wm, ret, 16));
            assert_eq!(an, wn, "{core}: NavState differs at tick {k}");
            assert_eq!(am, wm, "{core}: linear memory differs after tick {k}");
            for (i, bits) in wn.iter().enumerate() {
                worst_native = worst_native.max((f32::from_bits(*bits) - native[i]).abs());
            }
            cycles_min = cycles_min.min(a.cycles);
            cycles_max = cycles_max.max(a.cycles);
            stack = stack.max(a.stack_bytes);
        }
        assert!(worst_native < 1e-4, "native vs wasm: {worst_native}");
        eprintln!(
            "ekf#estimate on {core} ({target}): {} ticks bit-identical to wasmtime, native within {worst_native:e}; cycles {cycles_min}..{cycles_max}, stack {stack} B",
            frames.len()
        );
    }
}

/// The flight module's synth objects linked on both cores of one machine, in the hosted loop.
fn hosted_loop(seed: u64, start: State, waypoint: [f32; 3]) -> twin_flight::flightloop::FlightLoop {
    use twin_hosting::hosted::{link::RelObject, Module, Options};
    let wasm_path = build_wasm_crate("targets/flight-wasm", "flight_wasm.wasm");
    let wasm = twin_hosting::wasm::WasmModule::load(&wasm_path).unwrap();
    let mut machine = twin_machine::machine::Machine::new(
        twin_machine::board::Board::rt1176(),
        &twin_machine::machine::Config::default(),
    )
    .unwrap();
    let obj = |target: &str| {
        let p = synth_object(&wasm_path, target);
        RelObject::parse(&std::fs::read(&p).unwrap(), p.to_str().unwrap()).unwrap()
    };
    let est = Module::link(
        &mut machine,
        "m4",
        wasm.clone(),
        &obj("cortex-m4f"),
        &HostFns::builtin(),
        Options::default(),
    )
    .unwrap();
    let ctl = Module::link(
        &mut machine,
        "m7",
        wasm,
        &obj("cortex-m7dp"),
        &HostFns::builtin(),
        Options::default(),
    )
    .unwrap();
    let params = Params::quad_x();
    let sensors = twin_flight::vehicle::sensors::Sensors::new(
        twin_flight::vehicle::sensors::SensorParams::default(),
        seed,
    );
    let wind = twin_flight::vehicle::wind::Wind::new(Default::default(), seed);
    use twin_hosting::backend::{Kind, Part};
    let est = Part::arm(Kind::Estimator, est, &mut machine).unwrap();
    let ctl = Part::arm(Kind::Controller, ctl, &mut machine).unwrap();
    let nav0 = twin_flight::flightloop::initial_nav(&start);
    let fc = twin_flight::flightloop::Hosted::new(machine, est, ctl, (1, 0), &nav0).unwrap();
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
