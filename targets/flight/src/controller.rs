//! The controller cascade for the CM7: position -> attitude -> rate -> mixer, quad X.
//!
//! 1. Position: velocity setpoint `kp_pos * (p_sp - p)` limited to `max_speed`, acceleration
//!    command `kp_vel * (v_sp - v) + ki_vel * integral` limited to `max_accel`.
//! 2. Thrust vector: `F = m (a_cmd - g e_z)` (NED); the body z axis must point along -F, the
//!    collective thrust is |F| (limited), tilt limited to `max_tilt`.
//! 3. Attitude: the desired attitude aligns body z with -F and holds the yaw setpoint (tilt
//!    first, then yaw); the rate setpoint is `kp_att * 2 * vec(q_err)` (q_err = q^-1 q_sp, w >= 0).
//! 4. Rate: angular acceleration `kp_rate * (w_sp - w) - kd_rate * dw/dt`, torque = I * alpha.
//! 5. Mixer: per-motor thrust from (collective, torques) by the quad-X allocation, then the
//!    command u = sqrt(f / f_max) (thrust grows with the square of the motor speed, and the
//!    command sets the speed).
//!
//! Frames: NED world, FRD body, q body -> NED (as the vehicle model and NavState).

use crate::cascade;
use crate::math::*;
use crate::NavState;

pub const G: f32 = 9.806_65;

/// `configure(vehicle-config)`: the physical constants and gains.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct VehicleConfig {
    pub mass: f32,
    pub inertia: [f32; 3],
    /// Motor offset from the centre along each body axis (quad X: arm / sqrt 2).
    pub arm_xy: f32,
    /// Reaction torque per newton of thrust (k_torque / k_thrust), m.
    pub yaw_moment: f32,
    /// Thrust of one motor at command 1 (N).
    pub max_motor_thrust: f32,
    pub kp_pos: f32,
    pub kp_vel: f32,
    pub ki_vel: f32,
    pub kp_att: f32,
    pub kp_rate: f32,
    pub kd_rate: f32,
    pub max_speed: f32,
    pub max_accel: f32,
    pub max_tilt_cos: f32,
    pub loop_dt: f32,
}

impl VehicleConfig {
    /// Gains for the twin's default 1.5 kg quad X (vehicle::Params::quad_x in the sim crate).
    pub const fn quad_x_default() -> VehicleConfig {
        VehicleConfig {
            mass: 1.5,
            inertia: [0.029, 0.029, 0.055],
            arm_xy: 0.25 / core::f32::consts::SQRT_2,
            yaw_moment: 1.6e-7 / 1.0e-5,
            max_motor_thrust: 1.0e-5 * 1200.0 * 1200.0,
            kp_pos: 0.9,
            kp_vel: 2.2,
            ki_vel: 0.3,
            kp_att: 7.0,
            kp_rate: 18.0,
            kd_rate: 0.0,
            max_speed: 3.0,
            max_accel: 5.0,
            max_tilt_cos: 0.766, // 40 degrees
            loop_dt: 0.002,
        }
    }
}

/// The waypoint: position NED and yaw (as cos and sin of half the yaw angle: no trig needed).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Waypoint {
    pub p: [f32; 3],
    pub yaw_cos_half: f32,
    pub yaw_sin_half: f32,
}

impl Waypoint {
    pub fn at(p: [f32; 3]) -> Waypoint {
        Waypoint {
            p,
            yaw_cos_half: 1.0,
            yaw_sin_half: 0.0,
        }
    }
}

/// The whole cascade at one rate (`loop_dt`): falcon-cascade's position, attitude, rate and
/// mixer stages ([`crate::cascade`]) run in a row on every step, as a fused controller does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controller {
    pub cfg: VehicleConfig,
    position: cascade::Position,
    rate: cascade::Rate,
    pub armed: bool,
}

impl Controller {
    pub const fn new(cfg: VehicleConfig) -> Controller {
        Controller {
            cfg,
            position: cascade::Position::new(cfg, cfg.loop_dt),
            rate: cascade::Rate::new(cfg, cfg.loop_dt),
            armed: true,
        }
    }

    pub fn configure(&mut self, cfg: VehicleConfig) {
        *self = Controller::new(cfg);
    }

    /// One control step: NavState (estimate), the gyro (body rates, bias-corrected here), the
    /// waypoint -> four motor commands in [0, 1] (motor order of the vehicle model).
    pub fn step(&mut self, nav: &NavState, gyro: V3, wp: &Waypoint) -> [f32; 4] {
        self.step_detailed(nav, gyro, wp).motors
    }

    /// [`Controller::step`] with the cascade's inner setpoints (what a twin's plots show
    /// against the vehicle's attitude and rates). Disarmed: zero commands, identity setpoints.
    pub fn step_detailed(&mut self, nav: &NavState, gyro: V3, wp: &Waypoint) -> Step {
        if !self.armed {
            return Step {
                motors: [0.0; 4],
                q_sp: [1.0, 0.0, 0.0, 0.0],
                w_sp: [0.0; 3],
            };
        }
        let s = cascade::VehicleState {
            q: nav.q,
            p: nav.p,
            v: nav.v,
            w: sub(gyro, nav.bg),
            innovation: 0.0,
        };
        let att = self
            .position
            .tick_half_yaw(&s, wp.p, wp.yaw_cos_half, wp.yaw_sin_half);
        let rate = cascade::attitude(&self.cfg, &s, &att);
        let torque = self.rate.tick(&s, &rate);
        Step {
            motors: cascade::mix(&self.cfg, &torque),
            q_sp: att.q,
            w_sp: rate.w,
        }
    }
}

/// What one control step computed: the motor commands and the setpoints on the way there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub motors: [f32; 4],
    /// Attitude setpoint (w, x, y, z), body -> NED.
    pub q_sp: [f32; 4],
    /// Body-rate setpoint (rad/s).
    pub w_sp: V3,
}

/// `mixer#mix` on (collective thrust, body torques): see [`cascade::mix`].
pub fn mix(c: &VehicleConfig, collective: f32, torque: V3) -> [f32; 4] {
    cascade::mix(
        c,
        &cascade::TorqueSetpoint {
            torque,
            thrust: collective,
        },
    )
}
