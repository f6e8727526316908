//! The reference controller cascade (targets/flight, native build) flying the vehicle model in
//! closed loop on true state, against the falcon SIL gates (reference/pulseengine.md section 4):
//! stabilization (dt 0.002 s, 6000 steps, start at 0.4 rad roll, attitude error < 0.1 rad) and
//! position-hold (dt 0.002 s, 30000 steps, fly to [2, -1.5, -2] NED, position error < 0.6 m).
//! (The estimator, the emulated cores and the scenario files come next.)

// The shared test helpers this crate can use (tests/common).
#[path = "../../../tests/common/build.rs"]
mod build;
#[path = "../../../tests/common/vehicle.rs"]
mod vehicle;
#[allow(unused_imports)] // each test binary uses some of the helpers
mod common {
    pub use super::build::*;
    pub use super::vehicle::*;
}

use flight::controller::{Controller, VehicleConfig, Waypoint};
use flight::NavState;
use glam::DVec3;
use twin_flight::vehicle::{step, Params, State};

fn nav_from(s: &State) -> NavState {
    NavState {
        q: [s.q.w as f32, s.q.x as f32, s.q.y as f32, s.q.z as f32],
        p: s.p.as_vec3().to_array(),
        v: s.v.as_vec3().to_array(),
        bg: [0.0; 3],
        ba: [0.0; 3],
    }
}

/// Fly `steps` control ticks of 2 ms toward `target`; returns the final state and the largest
/// attitude error (angle to level) over the last second.
fn fly(mut s: State, target: [f32; 3], steps: usize) -> (State, f64) {
    let params = Params::quad_x();
    let mut ctl = Controller::new(VehicleConfig::quad_x_default());
    let per_tick = (0.002 / params.dt).round() as usize;
    let wp = Waypoint::at(target);
    let mut worst_late = 0.0f64;
    for k in 0..steps {
        let u = ctl.step(&nav_from(&s), s.w.as_vec3().to_array(), &wp);
        let u: Vec<f64> = u.iter().map(|&x| f64::from(x)).collect();
        for _ in 0..per_tick {
            step(&params, &mut s, &u, DVec3::ZERO);
        }
        assert!(s.p.is_finite() && s.q.is_finite(), "diverged at tick {k}");
        if k + 500 >= steps {
            worst_late = worst_late.max(tilt(&s));
        }
    }
    (s, worst_late)
}

fn tilt(s: &State) -> f64 {
    common::tilt(s.q)
}

#[test]
fn stabilization_from_0_4_rad_roll() {
    let start = DVec3::new(0.0, 0.0, -5.0);
    let s = common::tilted_hover(start, 0.4);
    let (end, worst) = fly(s, start.as_vec3().to_array(), 6000);
    eprintln!(
        "stabilization: tilt at start 0.4 rad, worst over the last second {worst:.5} rad, end {:?}",
        end.p
    );
    assert!(
        worst < 0.1,
        "attitude error over the last second {worst} rad"
    );
    assert!(tilt(&end) < 0.1);
    assert!((end.p - start).length() < 0.5, "held position: {:?}", end.p);
}

#[test]
fn position_hold_reaches_the_waypoint() {
    let params = Params::quad_x();
    let s = State::at_rest(&params, DVec3::ZERO);
    let target = [2.0f32, -1.5, -2.0];
    let (end, _) = fly(s, target, 30_000);
    let err = (end.p - DVec3::new(2.0, -1.5, -2.0)).length();
    eprintln!(
        "position-hold: end {:?}, error {err:.4} m, speed {:.4} m/s",
        end.p,
        end.v.length()
    );
    assert!(err < 0.6, "position error {err} m at {:?}", end.p);
    assert!(end.v.length() < 0.2, "settled: {:?}", end.v);
}

/// The full native loop: vehicle -> sensors (default noise, seeded) -> estimator (initialised at
/// the true initial state) -> controller. Returns the final true state, the worst true tilt over
/// the last second and the final estimate's position error.
fn fly_estimated(mut s: State, target: [f32; 3], steps: usize, seed: u64) -> (State, f64, f64) {
    use flight::estimator::{Estimator, EstimatorConfig};
    use twin_flight::vehicle::sensors::{SensorParams, Sensors};
    let params = Params::quad_x();
    let mut sensors = Sensors::new(SensorParams::default(), seed);
    let mut est = Estimator::new(EstimatorConfig::default_sensors());
    est.init(&nav_from(&s));
    let mut ctl = Controller::new(VehicleConfig::quad_x_default());
    let wp = Waypoint::at(target);
    let dt = 0.002;
    let mut worst_late = 0.0f64;
    for k in 0..steps {
        let f = sensors.sample(k as u64, dt, &s);
        let v3 = |a: [f64; 3]| [a[0] as f32, a[1] as f32, a[2] as f32];
        est.predict(v3(f.accel), v3(f.gyro), dt as f32);
        if let Some(g) = &f.gnss {
            est.update_gnss(v3(g.position), v3(g.velocity));
        }
        if let Some(alt) = f.baro_alt {
            est.update_baro(alt as f32);
        }
        if let Some(m) = f.mag {
            est.update_mag(v3(m));
        }
        let u = ctl.step(&est.nav(), v3(f.gyro), &wp);
        let u: Vec<f64> = u.iter().map(|&x| f64::from(x)).collect();
        for _ in 0..2 {
            step(&params, &mut s, &u, DVec3::ZERO);
        }
        assert!(s.p.is_finite(), "diverged at tick {k}");
        if k + 500 >= steps {
            worst_late = worst_late.max(tilt(&s));
        }
    }
    let est_err = (DVec3::new(est.p[0] as f64, est.p[1] as f64, est.p[2] as f64) - s.p).length();
    (s, worst_late, est_err)
}

#[test]
fn stabilization_with_the_estimator_and_noisy_sensors() {
    let start = DVec3::new(0.0, 0.0, -5.0);
    let s = common::tilted_hover(start, 0.4);
    let (end, worst, est_err) = fly_estimated(s, start.as_vec3().to_array(), 6000, 11);
    eprintln!("stabilization (EKF): worst tilt over the last second {worst:.4} rad, end {:?}, estimate off by {est_err:.3} m", end.p);
    assert!(worst < 0.1, "attitude error {worst} rad");
    assert!((end.p - start).length() < 0.6);
}

#[test]
fn position_hold_with_the_estimator_and_noisy_sensors() {
    let params = Params::quad_x();
    let s = State::at_rest(&params, DVec3::ZERO);
    let (end, _, est_err) = fly_estimated(s, [2.0, -1.5, -2.0], 30_000, 12);
    let err = (end.p - DVec3::new(2.0, -1.5, -2.0)).length();
    eprintln!(
        "position-hold (EKF): end {:?}, error {err:.3} m, estimate off by {est_err:.3} m",
        end.p
    );
    assert!(err < 0.6, "position error {err} m");
}
