//! Whole software-in-the-loop runs in one call, shaped like falcon's `flight-demo` world
//! (reference/pulseengine.md section 4.3): `run-stabilization` and `run-position-hold` each
//! fly a complete closed loop and return its error, so one export call is one SIL gate.
//!
//! The plant is a rigid-body quad X in f32 (the airframe of [`VehicleConfig::quad_x_default`]:
//! motor thrust f_max u^2 and reaction torque `yaw_moment` f along -z at (+-a, +-a), linear drag)
//! integrated semi-implicitly at dt = 2 ms, in a steady 2.2 m/s wind with a small steady
//! disturbance torque (so the errors are the controller's, not zero). The cascade runs at falcon's rates as far as a 2 ms
//! step allows: position every 10th step (50 Hz), attitude every 2nd (250 Hz), rate and mixer
//! every step (500 Hz), on the true state (no estimator: the run measures the controller and
//! the code synth makes of it). f64-free, so it runs on the CM4 as well.
//!
//! | run | steps | set-up | returns |
//! |---|---|---|---|
//! | stabilization | 6000 | level target at 5 m, start at 0.4 rad roll | the largest tilt (rad, as the chord 2 sin(tilt/2)) over the last 2 s, leaning into the wind included |
//! | position-hold | 30000 | from the origin at 2 m, fly to (2, -1.5, -2) NED | the largest distance (m) to it over the last 10 s |

use crate::cascade::{self, AttitudeSetpoint, RateSetpoint, VehicleState};
use crate::controller::{VehicleConfig, G};
use crate::math::*;

pub const DT: f32 = 0.002;
/// Linear drag (1/s), against the air.
const DRAG: f32 = 0.1;
/// The runs' steady wind (NED, m/s): the vehicle must lean into it.
const WIND: V3 = [2.0, -1.0, 0.0];
/// The runs' steady disturbance torque (N m, body; a centre of gravity off the motors'
/// centre): the rate loop has no integral, so it leaves a small attitude error.
const TORQUE_BIAS: V3 = [0.004, -0.003, 0.0];

/// The plant's state.
#[derive(Debug, Clone, Copy)]
pub struct Plant {
    pub q: Q,
    pub p: V3,
    pub v: V3,
    pub w: V3,
    /// The air's velocity (NED, m/s).
    pub wind: V3,
    /// A disturbance torque (N m, body).
    pub torque_bias: V3,
}

impl Plant {
    /// Advance by `dt` with motor commands `u` (each clamped to [0, 1]).
    #[inline(never)]
    pub fn step(&mut self, c: &VehicleConfig, u: [f32; 4], dt: f32) {
        let a = c.arm_xy;
        // Motor positions (x, y) and spin sign, in the mixer's order.
        let at = [(a, a, 1.0), (-a, -a, 1.0), (a, -a, -1.0), (-a, a, -1.0)];
        let mut thrust = 0.0;
        let mut tau = self.torque_bias;
        for i in 0..4 {
            let ui = clamp(u[i], 0.0, 1.0);
            let f = c.max_motor_thrust * ui * ui;
            let (x, y, s) = at[i];
            thrust += f;
            tau[0] += -y * f;
            tau[1] += x * f;
            tau[2] += s * c.yaw_moment * f;
        }
        // Translation (NED): R(q) (0, 0, -T) / m + g e_z - drag v.
        let f_n = rotate(self.q, [0.0, 0.0, -thrust / c.mass]);
        let air = sub(self.v, self.wind);
        let acc = [
            f_n[0] - DRAG * air[0],
            f_n[1] - DRAG * air[1],
            f_n[2] + G - DRAG * air[2],
        ];
        self.v = add(self.v, scale(acc, dt));
        self.p = add(self.p, scale(self.v, dt));
        // Rotation: I w' = tau - w x I w.
        let i = c.inertia;
        let iw = [i[0] * self.w[0], i[1] * self.w[1], i[2] * self.w[2]];
        let gyro = cross(self.w, iw);
        for k in 0..3 {
            self.w[k] += (tau[k] - gyro[k]) / i[k] * dt;
        }
        let h = scale(self.w, 0.5 * dt);
        self.q = qnormalize(qmul(self.q, [1.0, h[0], h[1], h[2]]));
    }

    pub fn state(&self) -> VehicleState {
        VehicleState {
            q: self.q,
            p: self.p,
            v: self.v,
            w: self.w,
            innovation: 0.0,
        }
    }

    /// The tilt from level as the chord 2 sin(tilt / 2) = 2 |(qx, qy)| (rad; within 0.05 % of
    /// the angle below 0.1 rad, and without asin: libm's asinf computes in f64, which the CM4
    /// lacks).
    #[inline(never)]
    pub fn tilt(&self) -> f32 {
        let [_, x, y, _] = self.q;
        2.0 * libm::sqrtf(x * x + y * y)
    }
}

// The stages as separate functions: one function holding the whole loop has more live
// floats than synth 0.89's spill pool (#1426), and a function per stage is how falcon's
// components call each other anyway.
#[inline(never)]
fn position_tick(p: &mut cascade::Position, s: &VehicleState, target: &V3) -> AttitudeSetpoint {
    p.tick_half_yaw(s, *target, 1.0, 0.0)
}

#[inline(never)]
fn attitude_tick(c: &VehicleConfig, s: &VehicleState, sp: &AttitudeSetpoint) -> RateSetpoint {
    cascade::attitude(c, s, sp)
}

#[inline(never)]
fn rate_mix(r: &mut cascade::Rate, s: &VehicleState, sp: &RateSetpoint) -> [f32; 4] {
    let torque = r.tick(s, sp);
    cascade::mix(&r.cfg, &torque)
}

/// Fly `steps` steps from `plant` to `target` (yaw 0); `error` measures each step from
/// `settle` on; the largest measurement.
#[inline(never)]
fn fly(
    plant: &mut Plant,
    target: V3,
    steps: u32,
    settle: u32,
    error: impl Fn(&Plant) -> f32,
) -> f32 {
    let c = VehicleConfig::quad_x_default();
    let mut position = cascade::Position::new(c, 10.0 * DT);
    let mut rate = cascade::Rate::new(c, DT);
    let mut att_sp = AttitudeSetpoint {
        q: [1.0, 0.0, 0.0, 0.0],
        thrust: c.mass * G,
    };
    let mut rate_sp = RateSetpoint {
        w: [0.0; 3],
        thrust: c.mass * G,
    };
    let mut worst = 0.0f32;
    for k in 0..steps {
        let s = plant.state();
        if k % 10 == 0 {
            att_sp = position_tick(&mut position, &s, &target);
        }
        if k % 2 == 0 {
            rate_sp = attitude_tick(&c, &s, &att_sp);
        }
        let u = rate_mix(&mut rate, &s, &rate_sp);
        plant.step(&c, u, DT);
        if k >= settle {
            let e = error(plant);
            // NaN-propagating maximum without f32.max (synth declines it).
            if e > worst || e.is_nan() {
                worst = e;
            }
        }
    }
    worst
}

/// `run-stabilization`: recover from 0.4 rad roll at 5 m; the largest tilt over the last 2 s.
pub fn run_stabilization() -> f32 {
    let half = 0.2f32;
    let mut plant = Plant {
        q: [libm::cosf(half), libm::sinf(half), 0.0, 0.0],
        p: [0.0, 0.0, -5.0],
        v: [0.0; 3],
        w: [0.0; 3],
        wind: WIND,
        torque_bias: TORQUE_BIAS,
    };
    fly(&mut plant, [0.0, 0.0, -5.0], 6000, 5000, Plant::tilt)
}

/// `run-position-hold`: from hover at 2 m over the origin to (2, -1.5, -2) NED; the largest
/// distance to it over the last 10 s.
pub fn run_position_hold() -> f32 {
    let mut plant = Plant {
        q: [1.0, 0.0, 0.0, 0.0],
        p: [0.0, 0.0, -2.0],
        v: [0.0; 3],
        w: [0.0; 3],
        wind: WIND,
        torque_bias: TORQUE_BIAS,
    };
    let target = [2.0, -1.5, -2.0];
    fly(&mut plant, target, 30000, 25000, move |p| {
        norm(sub(p.p, target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gates of reference/pulseengine.md 4.3 hold for the runs natively.
    #[test]
    fn whole_runs_pass_falcons_gates() {
        let s = run_stabilization();
        assert!(s < 0.1, "stabilization: {s}");
        let p = run_position_hold();
        assert!(p < 0.6, "position-hold: {p}");
    }

    /// Hover is an equilibrium of the plant in still air: four commands of
    /// sqrt(m g / 4 / f_max) hold it; wind and disturbance torque push it their way.
    #[test]
    fn hover_commands_hold_the_plant_in_still_air() {
        let c = VehicleConfig::quad_x_default();
        let u = libm::sqrtf(c.mass * G / 4.0 / c.max_motor_thrust);
        let mut p = Plant {
            q: [1.0, 0.0, 0.0, 0.0],
            p: [0.0, 0.0, -2.0],
            v: [0.0; 3],
            w: [0.0; 3],
            wind: [0.0; 3],
            torque_bias: [0.0; 3],
        };
        for _ in 0..500 {
            p.step(&c, [u; 4], DT);
        }
        assert!(norm(p.v) < 1e-4 && norm(p.w) == 0.0, "{:?} {:?}", p.v, p.w);
        // The wind pushes it downwind, the disturbance torque rolls it.
        p.wind = WIND;
        p.torque_bias = TORQUE_BIAS;
        p.step(&c, [u; 4], DT);
        assert!(
            p.v[0] > 0.0 && p.v[1] < 0.0 && p.w[0] > 0.0 && p.w[1] < 0.0,
            "{:?} {:?}",
            p.v,
            p.w
        );
    }
}
