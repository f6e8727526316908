//! The vehicle: a 6-DOF multirotor rigid body with first-order motors, linear drag on the
//! airspeed, gravity and a simple ground contact; wind from `wind.rs`, sensors from `sensors.rs`.
//!
//! Conventions: world frame NED (z down, ground at z = 0, airborne means z < 0); body frame FRD
//! (x forward, y right, z down); attitude `q` rotates body vectors into NED; angular rate `w`
//! in the body frame. Motor i sits at (x_i, y_i) in the body frame, spins at `omega_i` (rad/s)
//! with thrust `k_thrust * omega^2` along -z_body and reaction torque `yaw_sign_i * k_torque *
//! omega^2` about z_body. A command u_i in [0, 1] sets the target speed `u_i * omega_max`; the
//! speed follows it with time constant `motor_tau`.
//!
//! Integration: classical 4th-order Runge-Kutta with a fixed step (`Params::dt`, default 1 ms;
//! a control period is a whole number of steps), the quaternion renormalised after each step.
//! Ground: after a step that ends at z >= 0 the vehicle rests on the ground (z = 0, no downward
//! or horizontal velocity, no angular rate) until the net force lifts it.

pub mod sensors;
pub mod wind;

use glam::{DQuat, DVec3};
use serde::{Deserialize, Serialize};

/// Standard gravity (m/s^2).
pub const G: f64 = 9.806_65;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Motor {
    /// Position in the body frame (m).
    pub x: f64,
    pub y: f64,
    /// +1 when the body's reaction torque is about +z_body (a rotor turning counter-clockwise
    /// seen from above), -1 otherwise.
    pub yaw_sign: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// kg
    pub mass: f64,
    /// Principal moments of inertia (kg m^2), body axes.
    pub inertia: [f64; 3],
    /// Thrust coefficient (N / (rad/s)^2).
    pub k_thrust: f64,
    /// Reaction-torque coefficient (N m / (rad/s)^2).
    pub k_torque: f64,
    /// Motor speed at command 1 (rad/s).
    pub omega_max: f64,
    /// Motor time constant (s).
    pub motor_tau: f64,
    /// Linear drag on the airspeed, per body axis (N / (m/s)).
    pub drag: [f64; 3],
    pub motors: Vec<Motor>,
    /// Integration step (s).
    #[serde(default = "default_dt")]
    pub dt: f64,
}

fn default_dt() -> f64 {
    0.001
}

impl Params {
    /// A 1.5 kg quad X with 0.25 m arms (motor order: front-right, rear-left, front-left,
    /// rear-right; the first two turn counter-clockwise), roughly a 450-class frame.
    pub fn quad_x() -> Params {
        let a = 0.25 / std::f64::consts::SQRT_2;
        Params {
            mass: 1.5,
            inertia: [0.029, 0.029, 0.055],
            k_thrust: 1.0e-5,
            k_torque: 1.6e-7,
            omega_max: 1200.0,
            motor_tau: 0.02,
            drag: [0.25, 0.25, 0.35],
            motors: vec![
                Motor {
                    x: a,
                    y: a,
                    yaw_sign: 1.0,
                },
                Motor {
                    x: -a,
                    y: -a,
                    yaw_sign: 1.0,
                },
                Motor {
                    x: a,
                    y: -a,
                    yaw_sign: -1.0,
                },
                Motor {
                    x: -a,
                    y: a,
                    yaw_sign: -1.0,
                },
            ],
            dt: default_dt(),
        }
    }

    /// Motor speed at which every motor carries an equal share of the weight.
    pub fn hover_omega(&self) -> f64 {
        (self.mass * G / (self.motors.len() as f64 * self.k_thrust)).sqrt()
    }

    /// The command (0..1) that holds `hover_omega`.
    pub fn hover_command(&self) -> f64 {
        self.hover_omega() / self.omega_max
    }

    /// Every parameter in range; a failed check names the field (`inertia[2]`, `motors[1].x`).
    pub fn validate(&self) -> crate::check::Checked {
        use crate::check::{all_finite, all_non_negative, finite, invalid, non_negative, positive};
        positive(self.mass, "mass")?;
        for (i, v) in self.inertia.iter().enumerate() {
            positive(*v, &format!("inertia[{i}]"))?;
        }
        positive(self.k_thrust, "k_thrust")?;
        non_negative(self.k_torque, "k_torque")?;
        positive(self.omega_max, "omega_max")?;
        positive(self.motor_tau, "motor_tau")?;
        all_non_negative(&self.drag, "drag")?;
        positive(self.dt, "dt")?;
        if self.motors.is_empty() {
            return Err(invalid("motors", "at least one motor"));
        }
        for (i, m) in self.motors.iter().enumerate() {
            all_finite(&[m.x, m.y], &format!("motors[{i}]"))?;
            finite(m.yaw_sign, &format!("motors[{i}].yaw_sign"))?;
            if m.yaw_sign.abs() != 1.0 {
                return Err(invalid(
                    format!("motors[{i}].yaw_sign"),
                    format!("must be 1 or -1, got {}", m.yaw_sign),
                ));
            }
        }
        if self.hover_command() >= 1.0 {
            return Err(invalid(
                "omega_max",
                format!(
                    "cannot hover: needs {:.0} rad/s per motor, omega_max is {}",
                    self.hover_omega(),
                    self.omega_max
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Position NED (m).
    pub p: DVec3,
    /// Velocity NED (m/s).
    pub v: DVec3,
    /// Attitude, body -> NED.
    pub q: DQuat,
    /// Angular rate, body frame (rad/s).
    pub w: DVec3,
    /// Motor speeds (rad/s).
    pub omega: Vec<f64>,
    /// Linear acceleration NED over the last step (for the accelerometer).
    pub a: DVec3,
    pub on_ground: bool,
}

impl State {
    pub fn at_rest(params: &Params, p: DVec3) -> State {
        State {
            p,
            v: DVec3::ZERO,
            q: DQuat::IDENTITY,
            w: DVec3::ZERO,
            omega: vec![0.0; params.motors.len()],
            a: DVec3::ZERO,
            on_ground: p.z >= 0.0,
        }
    }

    /// The first component that is not finite (`p.z`, `omega[2]`), or None.
    pub fn non_finite(&self) -> Option<String> {
        let vectors = [("p", self.p), ("v", self.v), ("w", self.w), ("a", self.a)];
        for (name, v) in vectors {
            if let Some(i) = v.to_array().iter().position(|x| !x.is_finite()) {
                return Some(format!("{name}.{} = {}", ["x", "y", "z"][i], v[i]));
            }
        }
        if !self.q.is_finite() {
            return Some(format!("q = {:?}", self.q.to_array()));
        }
        let m = self.omega.iter().position(|x| !x.is_finite())?;
        Some(format!("omega[{m}] = {}", self.omega[m]))
    }

    /// Euler angles (roll, pitch, yaw) in radians, ZYX convention.
    pub fn euler(&self) -> (f64, f64, f64) {
        let (yaw, pitch, roll) = self.q.to_euler(glam::EulerRot::ZYX);
        (roll, pitch, yaw)
    }
}

/// Forces and torques in the body frame from the motors.
pub fn motor_wrench(params: &Params, omega: &[f64]) -> (DVec3, DVec3) {
    let mut thrust = 0.0;
    let mut torque = DVec3::ZERO;
    for (m, &w) in params.motors.iter().zip(omega) {
        let f = params.k_thrust * w * w;
        thrust += f;
        // r x F with F = (0, 0, -f): (-y f, x f, 0); plus the reaction torque.
        torque += DVec3::new(-m.y * f, m.x * f, m.yaw_sign * params.k_torque * w * w);
    }
    (DVec3::new(0.0, 0.0, -thrust), torque)
}

#[derive(Clone)]
struct Deriv {
    dp: DVec3,
    dv: DVec3,
    dq: DQuat,
    dw: DVec3,
    domega: Vec<f64>,
}

/// Time derivative of the state, for motor commands `u`, wind `wind` (NED, m/s) and an extra
/// body force/torque (disturbance or test input).
fn derivative(
    params: &Params,
    s: &State,
    u: &[f64],
    wind: DVec3,
    extra_force_b: DVec3,
    extra_torque_b: DVec3,
) -> Deriv {
    let (f_motor, t_motor) = motor_wrench(params, &s.omega);
    let airspeed_b = s.q.inverse() * (s.v - wind);
    let drag_b = -DVec3::from(params.drag) * airspeed_b;
    let f_b = f_motor + drag_b + extra_force_b;
    let dv = DVec3::new(0.0, 0.0, G) + (s.q * f_b) / params.mass;
    let i = DVec3::from(params.inertia);
    let tau = t_motor + extra_torque_b;
    let dw = (tau - s.w.cross(i * s.w)) / i;
    let dq = s.q * DQuat::from_xyzw(s.w.x, s.w.y, s.w.z, 0.0) * 0.5;
    let domega = u
        .iter()
        .zip(&s.omega)
        .map(|(&c, &w)| (c.clamp(0.0, 1.0) * params.omega_max - w) / params.motor_tau)
        .collect();
    Deriv {
        dp: s.v,
        dv,
        dq,
        dw,
        domega,
    }
}

fn advance(s: &State, d: &Deriv, h: f64) -> State {
    State {
        p: s.p + d.dp * h,
        v: s.v + d.dv * h,
        q: s.q + d.dq * h,
        w: s.w + d.dw * h,
        omega: s
            .omega
            .iter()
            .zip(&d.domega)
            .map(|(w, dw)| w + dw * h)
            .collect(),
        a: s.a,
        on_ground: s.on_ground,
    }
}

/// One RK4 step of `params.dt` with motor commands `u` held.
pub fn step(params: &Params, s: &mut State, u: &[f64], wind: DVec3) {
    step_with(params, s, u, wind, DVec3::ZERO, DVec3::ZERO);
}

/// One RK4 step with an additional body-frame force and torque.
pub fn step_with(
    params: &Params,
    s: &mut State,
    u: &[f64],
    wind: DVec3,
    force_b: DVec3,
    torque_b: DVec3,
) {
    let h = params.dt;
    let d = |st: &State| derivative(params, st, u, wind, force_b, torque_b);
    let k1 = d(s);
    let k2 = d(&advance(s, &k1, h / 2.0));
    let k3 = d(&advance(s, &k2, h / 2.0));
    let k4 = d(&advance(s, &k3, h));
    let v0 = s.v;
    let comb = |a: DVec3, b: DVec3, c: DVec3, e: DVec3| (a + 2.0 * b + 2.0 * c + e) * (h / 6.0);
    s.p += comb(k1.dp, k2.dp, k3.dp, k4.dp);
    s.v += comb(k1.dv, k2.dv, k3.dv, k4.dv);
    s.q = (s.q + (k1.dq + k2.dq * 2.0 + k3.dq * 2.0 + k4.dq) * (h / 6.0)).normalize();
    s.w += comb(k1.dw, k2.dw, k3.dw, k4.dw);
    for i in 0..s.omega.len() {
        s.omega[i] +=
            (k1.domega[i] + 2.0 * k2.domega[i] + 2.0 * k3.domega[i] + k4.domega[i]) * (h / 6.0);
    }
    s.a = (s.v - v0) / h;
    // Ground contact.
    if s.p.z >= 0.0 {
        let (f_motor, _) = motor_wrench(params, &s.omega);
        let lift = -(s.q * f_motor).z > params.mass * G;
        if !lift {
            s.p.z = 0.0;
            s.v = DVec3::ZERO;
            s.w = DVec3::ZERO;
            s.a = DVec3::ZERO;
            s.on_ground = true;
            return;
        }
    }
    s.on_ground = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn airborne(params: &Params) -> State {
        State::at_rest(params, DVec3::new(0.0, 0.0, -10.0))
    }

    #[test]
    fn hover_thrust_equals_weight() {
        let p = Params::quad_x();
        let mut s = airborne(&p);
        let w = p.hover_omega();
        s.omega = vec![w; 4];
        let (f, t) = motor_wrench(&p, &s.omega);
        assert!(
            (-f.z - p.mass * G).abs() < 1e-9,
            "thrust {} vs weight {}",
            -f.z,
            p.mass * G
        );
        assert!(t.length() < 1e-12, "symmetric quad: no net torque");
        let u = vec![p.hover_command(); 4];
        for _ in 0..10_000 {
            step(&p, &mut s, &u, DVec3::ZERO);
        }
        assert!(
            (s.p - DVec3::new(0.0, 0.0, -10.0)).length() < 1e-6,
            "{:?}",
            s.p
        );
        assert!(s.v.length() < 1e-6);
    }

    #[test]
    fn free_fall_follows_half_g_t_squared() {
        let mut p = Params::quad_x();
        p.drag = [0.0; 3];
        let mut s = State::at_rest(&p, DVec3::new(0.0, 0.0, -100.0));
        let u = vec![0.0; 4];
        let steps = 2000; // 2 s
        for _ in 0..steps {
            step(&p, &mut s, &u, DVec3::ZERO);
        }
        let t = steps as f64 * p.dt;
        assert!(
            (s.p.z - (-100.0 + 0.5 * G * t * t)).abs() < 1e-9,
            "{}",
            s.p.z
        );
        assert!((s.v.z - G * t).abs() < 1e-9);
        // Energy: kinetic + potential (height is -z) is conserved.
        let e = |s: &State| 0.5 * p.mass * s.v.length_squared() - p.mass * G * s.p.z;
        assert!((e(&s) - p.mass * G * 100.0).abs() < 1e-6);
    }

    #[test]
    fn pure_torque_spins_up_at_torque_over_inertia() {
        let p = Params::quad_x();
        let mut s = airborne(&p);
        let torque = DVec3::new(0.0, 0.0, 0.011);
        let weight = DVec3::new(0.0, 0.0, p.mass * G);
        for _ in 0..1000 {
            // Cancel gravity with a body force so the vehicle stays put (it stays level: yaw only).
            step_with(&p, &mut s, &[0.0; 4], DVec3::ZERO, -weight, torque);
        }
        let t = 1000.0 * p.dt;
        assert!((s.w.z - 0.011 / p.inertia[2] * t).abs() < 1e-9, "{}", s.w.z);
        // Yaw angle = 1/2 alpha t^2.
        let (_, _, yaw) = s.euler();
        assert!(
            (yaw - 0.5 * 0.011 / p.inertia[2] * t * t).abs() < 1e-6,
            "{yaw}"
        );
    }

    #[test]
    fn linear_drag_reaches_terminal_velocity() {
        let p = Params::quad_x();
        let mut s = State::at_rest(&p, DVec3::new(0.0, 0.0, -10_000.0));
        for _ in 0..60_000 {
            step(&p, &mut s, &[0.0; 4], DVec3::ZERO);
        }
        // m g = c_z v  ->  v = m g / c_z (body z is down when level).
        let v_term = p.mass * G / p.drag[2];
        assert!((s.v.z - v_term).abs() < 1e-3, "{} vs {v_term}", s.v.z);
    }

    #[test]
    fn motor_speed_follows_first_order_lag() {
        let p = Params::quad_x();
        let mut s = airborne(&p);
        let steps = (p.motor_tau / p.dt).round() as usize;
        for _ in 0..steps {
            step(&p, &mut s, &[1.0; 4], DVec3::ZERO);
        }
        // After one time constant: 1 - 1/e of the step.
        let want = p.omega_max * (1.0 - (-1.0f64).exp());
        assert!(
            (s.omega[0] - want).abs() / want < 1e-6,
            "{} vs {want}",
            s.omega[0]
        );
    }

    #[test]
    fn mixer_geometry_signs() {
        let p = Params::quad_x();
        let h = p.hover_omega();
        // More thrust on the left motors (2: rear-left, 3: front-left) rolls right (+x torque).
        let (_, t) = motor_wrench(&p, &[h, h * 1.1, h * 1.1, h]);
        assert!(t.x > 0.0 && t.y.abs() < 1e-12, "{t:?}");
        // More thrust on the front motors (1, 3) pitches up (+y torque).
        let (_, t) = motor_wrench(&p, &[h * 1.1, h, h * 1.1, h]);
        assert!(t.y > 0.0 && t.x.abs() < 1e-12, "{t:?}");
        // Faster counter-clockwise rotors (1, 2) yaw the body clockwise from above (+z).
        let (_, t) = motor_wrench(&p, &[h * 1.1, h * 1.1, h, h]);
        assert!(t.z > 0.0, "{t:?}");
    }

    #[test]
    fn resting_on_the_ground_until_thrust_lifts() {
        let p = Params::quad_x();
        let mut s = State::at_rest(&p, DVec3::ZERO);
        for _ in 0..500 {
            step(&p, &mut s, &[0.3; 4], DVec3::ZERO);
        }
        assert!(s.on_ground && s.p.z == 0.0);
        for _ in 0..500 {
            step(&p, &mut s, &[0.9; 4], DVec3::ZERO);
        }
        assert!(!s.on_ground && s.p.z < 0.0, "{:?}", s.p);
    }
}
