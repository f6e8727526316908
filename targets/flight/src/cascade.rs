//! The falcon-cascade contract (`pulseengine:falcon-cascade`, reference/pulseengine.md section
//! 4.1): its records, field by field, and the cascade's stages as falcon's leaf components
//! export them. The controller ([`crate::controller::Controller`]) is these stages run in a row.
//!
//! | record | fields | f32s |
//! |---|---|---|
//! | [`VehicleState`] | qw qx qy qz, pos-n pos-e pos-d, vel-n vel-e vel-d, wx wy wz, innovation | 14 |
//! | [`ImuSample`] | ax ay az (m/s^2, body), gx gy gz (rad/s) | 6 |
//! | [`AttitudeSetpoint`] | qw qx qy qz, thrust | 5 |
//! | [`RateSetpoint`] | rx ry rz (rad/s), thrust | 4 |
//! | [`TorqueSetpoint`] | tx ty tz (N m), thrust | 4 |
//! | motor-pwm | m1 m2 m3 m4 (0..1, quad X) | 4 |
//! | [`Waypoint`] | north east down (m, NED), yaw (rad) | 4 |
//!
//! Thrust is the collective thrust in newtons throughout. `wx wy wz` in the vehicle state are
//! the body rates the estimator passes through, bias-corrected; `innovation` is the estimator's
//! largest normalised innovation of the tick (0 when nothing aided it).

use crate::controller::{VehicleConfig, G};
use crate::math::*;

/// `vehicle-state`: the estimate that crosses from the CM4 to the CM7.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C)]
pub struct VehicleState {
    /// Attitude quaternion body -> NED (w, x, y, z).
    pub q: Q,
    /// Position NED (m).
    pub p: V3,
    /// Velocity NED (m/s).
    pub v: V3,
    /// Body rates, bias-corrected (rad/s).
    pub w: V3,
    pub innovation: f32,
}

pub const VEHICLE_STATE_WORDS: usize = 14;

impl VehicleState {
    pub fn to_words(&self) -> [f32; VEHICLE_STATE_WORDS] {
        let mut o = [0.0; VEHICLE_STATE_WORDS];
        o[0..4].copy_from_slice(&self.q);
        o[4..7].copy_from_slice(&self.p);
        o[7..10].copy_from_slice(&self.v);
        o[10..13].copy_from_slice(&self.w);
        o[13] = self.innovation;
        o
    }

    pub fn from_words(w: &[f32; VEHICLE_STATE_WORDS]) -> VehicleState {
        VehicleState {
            q: [w[0], w[1], w[2], w[3]],
            p: [w[4], w[5], w[6]],
            v: [w[7], w[8], w[9]],
            w: [w[10], w[11], w[12]],
            innovation: w[13],
        }
    }
}

/// `imu-sample`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C)]
pub struct ImuSample {
    pub accel: V3,
    pub gyro: V3,
}

/// `attitude-setpoint`: the attitude to hold and the collective thrust (N).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct AttitudeSetpoint {
    pub q: Q,
    pub thrust: f32,
}

/// `rate-setpoint`: body rates (rad/s) and the collective thrust (N).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct RateSetpoint {
    pub w: V3,
    pub thrust: f32,
}

/// `torque-setpoint`: body torques (N m) and the collective thrust (N).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct TorqueSetpoint {
    pub torque: V3,
    pub thrust: f32,
}

/// `waypoint`: position NED (m) and yaw (rad).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Waypoint {
    pub p: V3,
    pub yaw: f32,
}

/// `position#tick`: position and velocity loops to the thrust vector, then the attitude that
/// points the body z axis along it with the waypoint's yaw. Holds the velocity integral; `dt`
/// is its call period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub cfg: VehicleConfig,
    pub dt: f32,
    vel_int: V3,
}

impl Position {
    pub const fn new(cfg: VehicleConfig, dt: f32) -> Position {
        Position {
            cfg,
            dt,
            vel_int: [0.0; 3],
        }
    }

    /// A yaw that is not a finite angle of less than 1e8 rad (beyond that an f32 has no
    /// digits left below a turn) holds north: it also keeps libm's `sinf`/`cosf` off their
    /// large-argument reduction, which synth 0.89 miscompiles (docs/hosting.md).
    pub fn tick(&mut self, s: &VehicleState, wp: &Waypoint) -> AttitudeSetpoint {
        let yaw = if wp.yaw > -1.0e8 && wp.yaw < 1.0e8 {
            wp.yaw
        } else {
            0.0
        };
        let half = 0.5 * yaw;
        self.tick_half_yaw(s, wp.p, libm::cosf(half), libm::sinf(half))
    }

    /// [`Position::tick`] with the yaw given as cos and sin of its half angle.
    pub fn tick_half_yaw(
        &mut self,
        s: &VehicleState,
        target: V3,
        yaw_cos_half: f32,
        yaw_sin_half: f32,
    ) -> AttitudeSetpoint {
        let c = self.cfg;
        // Position and velocity.
        let v_sp = limit(scale(sub(target, s.p), c.kp_pos), c.max_speed);
        let v_err = sub(v_sp, s.v);
        self.vel_int = limit(add(self.vel_int, scale(v_err, self.dt)), 2.0);
        let a_cmd = limit(
            add(scale(v_err, c.kp_vel), scale(self.vel_int, c.ki_vel)),
            c.max_accel,
        );
        // Thrust vector (NED): F / m = a_cmd - g e_z, tilt-limited.
        let mut f = [a_cmd[0], a_cmd[1], a_cmd[2] - G];
        let fz = -f[2];
        let horiz = libm::sqrtf(f[0] * f[0] + f[1] * f[1]);
        // cos(tilt) = fz / |f|; keep it above max_tilt_cos by shrinking the horizontal part.
        let max_horiz = fz * libm::sqrtf(1.0 / (c.max_tilt_cos * c.max_tilt_cos) - 1.0);
        if fz > 0.0 && horiz > max_horiz {
            f[0] *= max_horiz / horiz;
            f[1] *= max_horiz / horiz;
        }
        let thrust = c.mass * norm(f);
        let z_des = scale(f, -1.0 / norm(f)); // body z axis (down) in NED
                                              // Attitude: tilt taking e_z to z_des, then the yaw setpoint about the new z.
        let q_yaw = q_yaw(yaw_cos_half, yaw_sin_half);
        let z_after_yaw = rotate(q_yaw, [0.0, 0.0, 1.0]);
        let q_tilt = q_between(z_after_yaw, z_des);
        AttitudeSetpoint {
            q: qnormalize(qmul(q_tilt, q_yaw)),
            thrust,
        }
    }
}

/// `attitude#tick`: the rate setpoint `kp_att * 2 * vec(q_err)`, q_err = q^-1 q_sp taken with
/// w >= 0 (the short way round). Stateless.
pub fn attitude(cfg: &VehicleConfig, s: &VehicleState, sp: &AttitudeSetpoint) -> RateSetpoint {
    let mut q_err = qmul(qconj(s.q), sp.q);
    if q_err[0] < 0.0 {
        q_err = [-q_err[0], -q_err[1], -q_err[2], -q_err[3]];
    }
    RateSetpoint {
        w: [
            2.0 * cfg.kp_att * q_err[1],
            2.0 * cfg.kp_att * q_err[2],
            2.0 * cfg.kp_att * q_err[3],
        ],
        thrust: sp.thrust,
    }
}

/// `rate#tick`: angular acceleration `kp_rate * e + kd_rate * de/dt` (e = w_sp - w), torque =
/// I alpha. Holds the last error; `dt` is its call period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub cfg: VehicleConfig,
    pub dt: f32,
    last_err: V3,
}

impl Rate {
    pub const fn new(cfg: VehicleConfig, dt: f32) -> Rate {
        Rate {
            cfg,
            dt,
            last_err: [0.0; 3],
        }
    }

    pub fn tick(&mut self, s: &VehicleState, sp: &RateSetpoint) -> TorqueSetpoint {
        let c = self.cfg;
        let err = sub(sp.w, s.w);
        let d = scale(sub(err, self.last_err), 1.0 / self.dt);
        self.last_err = err;
        let alpha = add(scale(err, c.kp_rate), scale(d, c.kd_rate));
        TorqueSetpoint {
            torque: [
                alpha[0] * c.inertia[0],
                alpha[1] * c.inertia[1],
                alpha[2] * c.inertia[2],
            ],
            thrust: sp.thrust,
        }
    }
}

/// `mixer#mix`: quad-X allocation (motor order: front-right, rear-left, front-left,
/// rear-right; the first two give +z reaction torque) and the thrust-to-command law
/// u = sqrt(f / f_max) (thrust grows with the square of the motor speed, and the command sets
/// the speed).
pub fn mix(c: &VehicleConfig, t: &TorqueSetpoint) -> [f32; 4] {
    // f_i = T/4 - tx*y_i/(4a^2) + ty*x_i/(4a^2) + tz*s_i/(4k)
    let a = c.arm_xy;
    let r = t.torque[0] / (4.0 * a);
    let p = t.torque[1] / (4.0 * a);
    let y = t.torque[2] / (4.0 * c.yaw_moment);
    let q = t.thrust / 4.0;
    let forces = [q - r + p + y, q + r - p + y, q + r + p - y, q - r - p - y];
    let mut u = [0.0; 4];
    for i in 0..4 {
        u[i] = libm::sqrtf(clamp(forces[i] / c.max_motor_thrust, 0.0, 1.0));
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level_at(p: V3) -> VehicleState {
        VehicleState {
            q: [1.0, 0.0, 0.0, 0.0],
            p,
            ..Default::default()
        }
    }

    /// Hovering level at the waypoint: the attitude setpoint is level with yaw 0 and the
    /// thrust carries the weight; no rate, no torque; four equal commands sqrt(m g / 4 / f_max).
    #[test]
    fn hover_at_the_waypoint_is_a_fixed_point_of_the_cascade() {
        let cfg = VehicleConfig::quad_x_default();
        let s = level_at([1.0, -2.0, -5.0]);
        let mut pos = Position::new(cfg, 0.02);
        let att = pos.tick(
            &s,
            &Waypoint {
                p: [1.0, -2.0, -5.0],
                yaw: 0.0,
            },
        );
        assert_eq!(att.q, [1.0, 0.0, 0.0, 0.0]);
        assert!((att.thrust - cfg.mass * G).abs() < 1e-5, "{}", att.thrust);
        let rate = attitude(&cfg, &s, &att);
        assert_eq!(rate.w, [0.0; 3]);
        let torque = Rate::new(cfg, 0.002).tick(&s, &rate);
        assert_eq!(torque.torque, [0.0; 3]);
        let u = mix(&cfg, &torque);
        let hover = (cfg.mass * G / 4.0 / cfg.max_motor_thrust).sqrt();
        for m in u {
            assert!((m - hover).abs() < 1e-6, "{u:?} vs {hover}");
        }
    }

    /// A yaw setpoint of 90 degrees gives the quaternion (cos 45, 0, 0, sin 45); a roll error
    /// gives a rate setpoint about x only, of 2 kp_att sin(err/2); a positive roll-rate error
    /// speeds up the motors on the left (motors 2 and 3, body y < 0).
    #[test]
    fn stages_answer_by_hand() {
        let cfg = VehicleConfig::quad_x_default();
        let s = level_at([0.0; 3]);
        let att = Position::new(cfg, 0.02).tick(
            &s,
            &Waypoint {
                p: [0.0; 3],
                yaw: core::f32::consts::FRAC_PI_2,
            },
        );
        let h = core::f32::consts::FRAC_1_SQRT_2;
        for (a, b) in att.q.iter().zip([h, 0.0, 0.0, h]) {
            assert!((a - b).abs() < 1e-6, "{:?}", att.q);
        }
        let roll = 0.2f32;
        let sp = AttitudeSetpoint {
            q: [libm::cosf(roll / 2.0), libm::sinf(roll / 2.0), 0.0, 0.0],
            thrust: 10.0,
        };
        let r = attitude(&cfg, &s, &sp);
        assert!((r.w[0] - 2.0 * cfg.kp_att * libm::sinf(roll / 2.0)).abs() < 1e-6);
        assert_eq!((r.w[1], r.w[2], r.thrust), (0.0, 0.0, 10.0));
        let t = Rate::new(cfg, 0.002).tick(&s, &r);
        assert!((t.torque[0] - cfg.kp_rate * r.w[0] * cfg.inertia[0]).abs() < 1e-6);
        let u = mix(&cfg, &t);
        assert!(u[1] > u[0] && u[2] > u[3], "{u:?}");
    }

    #[test]
    fn vehicle_state_words_round_trip_in_field_order() {
        let w: [f32; 14] = core::array::from_fn(|i| i as f32);
        let s = VehicleState::from_words(&w);
        assert_eq!(s.p, [4.0, 5.0, 6.0]);
        assert_eq!(s.w, [10.0, 11.0, 12.0]);
        assert_eq!(s.innovation, 13.0);
        assert_eq!(s.to_words(), w);
    }
}
