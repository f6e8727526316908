//! Vehicle states for closed-loop tests. Needs the flight crate.
#![allow(dead_code)] // each test binary uses some of these

/// Angle between the body z axis and the vertical: the attitude error from level.
pub fn tilt(q: glam::DQuat) -> f64 {
    (q * glam::DVec3::Z).z.clamp(-1.0, 1.0).acos()
}

/// The default quad in the air at `p`, rolled by `roll` rad, its motors at hover speed.
pub fn tilted_hover(p: glam::DVec3, roll: f64) -> twin_flight::vehicle::State {
    let params = twin_flight::vehicle::Params::quad_x();
    let mut s = twin_flight::vehicle::State::at_rest(&params, p);
    s.on_ground = false;
    s.q = glam::DQuat::from_rotation_x(roll);
    s.omega = vec![params.hover_omega(); params.motors.len()];
    s
}
