//! The flat f32 records the P3 flight components (`targets/p3-flight`: sensor, estimator and
//! controller as async components with streams between them) pass on their streams: one
//! definition of what each word means. The falcon-cascade stack (`targets/flight-stack`)
//! uses falcon's records instead ([`crate::cascade`]).
//!
//! | record | words |
//! |---|---|
//! | sensor frame (estimator input) | accel 3, gyro 3, dt, gnss-valid, position 3, velocity 3, baro-valid, altitude, mag-valid, mag 3, reserved 2 = 22 |
//! | controller input | NavState 16, gyro 3, waypoint position 3, yaw cos/2, yaw sin/2 = 24 |
//! | vehicle-config | 17 parameters + 2 reserved = 19 |

use crate::controller::{Controller, VehicleConfig, Waypoint};
use crate::estimator::Estimator;
use crate::NavState;

pub const SENSOR_FRAME_WORDS: usize = 22;
pub const STEP_INPUT_WORDS: usize = 24;
pub const VEHICLE_CONFIG_WORDS: usize = 19;
pub const NAV_WORDS: usize = 16;
pub const MOTOR_WORDS: usize = 4;

/// The estimator on a sensor frame: predict with the IMU, then each aiding measurement flagged
/// valid.
pub fn estimate(est: &mut Estimator, f: &[f32; SENSOR_FRAME_WORDS]) -> [f32; NAV_WORDS] {
    est.predict([f[0], f[1], f[2]], [f[3], f[4], f[5]], f[6]);
    if f[7] != 0.0 {
        est.update_gnss([f[8], f[9], f[10]], [f[11], f[12], f[13]]);
    }
    if f[14] != 0.0 {
        est.update_baro(f[15]);
    }
    if f[16] != 0.0 {
        est.update_mag([f[17], f[18], f[19]]);
    }
    est.nav().to_words()
}

/// The controller on its input record: NavState, body rates and the waypoint to motor commands.
pub fn step(ctl: &mut Controller, w: &[f32; STEP_INPUT_WORDS]) -> [f32; MOTOR_WORDS] {
    step_detailed(ctl, w).motors
}

/// [`step`] with the controller's inner setpoints.
pub fn step_detailed(ctl: &mut Controller, w: &[f32; STEP_INPUT_WORDS]) -> crate::controller::Step {
    let mut nav = [0.0; NAV_WORDS];
    nav.copy_from_slice(&w[..NAV_WORDS]);
    let wp = Waypoint {
        p: [w[19], w[20], w[21]],
        yaw_cos_half: w[22],
        yaw_sin_half: w[23],
    };
    ctl.step_detailed(&NavState::from_words(&nav), [w[16], w[17], w[18]], &wp)
}

/// `controller#configure`'s record.
pub fn vehicle_config(w: &[f32; VEHICLE_CONFIG_WORDS]) -> VehicleConfig {
    VehicleConfig {
        mass: w[0],
        inertia: [w[1], w[2], w[3]],
        arm_xy: w[4],
        yaw_moment: w[5],
        max_motor_thrust: w[6],
        kp_pos: w[7],
        kp_vel: w[8],
        ki_vel: w[9],
        kp_att: w[10],
        kp_rate: w[11],
        kd_rate: w[12],
        max_speed: w[13],
        max_accel: w[14],
        max_tilt_cos: w[15],
        loop_dt: w[16],
    }
}
