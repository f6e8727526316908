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

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controller {
    pub cfg: VehicleConfig,
    vel_int: V3,
    last_rate_err: V3,
    pub armed: bool,
}

impl Controller {
    pub const fn new(cfg: VehicleConfig) -> Controller {
        Controller {
            cfg,
            vel_int: [0.0; 3],
            last_rate_err: [0.0; 3],
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
        let c = self.cfg;
        let dt = c.loop_dt;
        // 1. Position and velocity.
        let v_sp = limit(scale(sub(wp.p, nav.p), c.kp_pos), c.max_speed);
        let v_err = sub(v_sp, nav.v);
        self.vel_int = limit(add(self.vel_int, scale(v_err, dt)), 2.0);
        let a_cmd = limit(
            add(scale(v_err, c.kp_vel), scale(self.vel_int, c.ki_vel)),
            c.max_accel,
        );
        // 2. Thrust vector (NED): F / m = a_cmd - g e_z, tilt-limited.
        let mut f = [a_cmd[0], a_cmd[1], a_cmd[2] - G];
        let fz = -f[2];
        let horiz = libm::sqrtf(f[0] * f[0] + f[1] * f[1]);
        // cos(tilt) = fz / |f|; keep it above max_tilt_cos by shrinking the horizontal part.
        let max_horiz = fz * libm::sqrtf(1.0 / (c.max_tilt_cos * c.max_tilt_cos) - 1.0);
        if fz > 0.0 && horiz > max_horiz {
            f[0] *= max_horiz / horiz;
            f[1] *= max_horiz / horiz;
        }
        let collective = c.mass * norm(f);
        let z_des = scale(f, -1.0 / norm(f)); // body z axis (down) in NED
                                              // 3. Attitude: tilt taking e_z to z_des, then the yaw setpoint about the new z.
        let q_yaw = q_yaw(wp.yaw_cos_half, wp.yaw_sin_half);
        let z_after_yaw = rotate(q_yaw, [0.0, 0.0, 1.0]);
        let q_tilt = q_between(z_after_yaw, z_des);
        let q_sp = qnormalize(qmul(q_tilt, q_yaw));
        let mut q_err = qmul(qconj(nav.q), q_sp);
        if q_err[0] < 0.0 {
            q_err = [-q_err[0], -q_err[1], -q_err[2], -q_err[3]];
        }
        let w_sp = [
            2.0 * c.kp_att * q_err[1],
            2.0 * c.kp_att * q_err[2],
            2.0 * c.kp_att * q_err[3],
        ];
        // 4. Rate loop.
        let w = sub(gyro, nav.bg);
        let rate_err = sub(w_sp, w);
        let d = scale(sub(rate_err, self.last_rate_err), 1.0 / dt);
        self.last_rate_err = rate_err;
        let alpha = add(scale(rate_err, c.kp_rate), scale(d, c.kd_rate));
        let torque = [
            alpha[0] * c.inertia[0],
            alpha[1] * c.inertia[1],
            alpha[2] * c.inertia[2],
        ];
        // 5. Mixer.
        Step {
            motors: mix(&c, collective, torque),
            q_sp,
            w_sp,
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

/// Quad-X allocation (motor order: front-right, rear-left, front-left, rear-right; the first
/// two give +z reaction torque) and the thrust-to-command law.
pub fn mix(c: &VehicleConfig, collective: f32, torque: V3) -> [f32; 4] {
    // f_i = T/4 - tx*y_i/(4a^2) + ty*x_i/(4a^2) + tz*s_i/(4k)
    let a = c.arm_xy;
    let r = torque[0] / (4.0 * a);
    let p = torque[1] / (4.0 * a);
    let y = torque[2] / (4.0 * c.yaw_moment);
    let t = collective / 4.0;
    let forces = [t - r + p + y, t + r - p + y, t + r + p - y, t - r - p - y];
    let mut u = [0.0; 4];
    for i in 0..4 {
        u[i] = libm::sqrtf(clamp(forces[i] / c.max_motor_thrust, 0.0, 1.0));
    }
    u
}
