//! The reference controller cascade (targets/flight, native build) flying the vehicle model in
//! closed loop on true state, against the falcon SIL gates (reference/pulseengine.md section 4):
//! stabilization (dt 0.002 s, 6000 steps, start at 0.4 rad roll, attitude error < 0.1 rad) and
//! position-hold (dt 0.002 s, 30000 steps, fly to [2, -1.5, -2] NED, position error < 0.6 m).
//! (The estimator, the emulated cores and the scenario files come next.)

use flight::controller::{Controller, VehicleConfig, Waypoint};
use flight::NavState;
use glam::{DQuat, DVec3};
use sim::vehicle::{step, Params, State};

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

/// Angle between the body z axis and the vertical (the attitude error from level).
fn tilt(s: &State) -> f64 {
    let z = s.q * DVec3::Z;
    z.z.clamp(-1.0, 1.0).acos()
}

#[test]
fn stabilization_from_0_4_rad_roll() {
    let params = Params::quad_x();
    let start = DVec3::new(0.0, 0.0, -5.0);
    let mut s = State::at_rest(&params, start);
    s.on_ground = false;
    s.q = DQuat::from_rotation_x(0.4);
    s.omega = vec![params.hover_omega(); 4];
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
