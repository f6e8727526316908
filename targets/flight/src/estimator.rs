//! The estimator for the CM4: an error-state extended Kalman filter (ESKF) producing NavState.
//!
//! Nominal state: attitude q (body -> NED), velocity v and position p (NED), gyro bias bg and
//! accelerometer bias ba. Error state (15): attitude error dtheta (body frame: q_true =
//! q (x) [1, dtheta/2]), dv, dp, dbg, dba.
//!
//! Prediction (per IMU sample, rates and specific force in the body frame):
//!   w = gyro - bg, a_b = accel - ba, q <- q (x) [1, w dt / 2] (normalised),
//!   a_n = R(q) a_b + g e_z, p <- p + v dt + a_n dt^2 / 2, v <- v + a_n dt,
//!   P <- Phi P Phi^T + Qd with Phi = I + F dt,
//!   F: dtheta' = -[w]x dtheta - dbg; dv' = -R [a_b]x dtheta - R dba; dp' = dv,
//!   Qd = diag(sigma_g^2, sigma_a^2, 0, sigma_bg^2, sigma_ba^2) dt.
//! Updates: sequential scalar updates (no matrix inverse: what a small core wants), each
//! followed by injecting the error into the nominal state:
//!   GNSS position and velocity (one scalar per axis), barometric altitude (-p_z), and the
//!   magnetometer vector m_b = R^T m_n with d m_b / d dtheta = [m_b]x.
//! Written for synth like the controller: f32, no min/max, sqrt through libm.

use crate::controller::G;
use crate::math::*;
use crate::NavState;

pub const N: usize = 15;
const TH: usize = 0;
const VEL: usize = 3;
const POS: usize = 6;
const BG: usize = 9;
const BA: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct EstimatorConfig {
    pub gyro_noise: f32,
    pub accel_noise: f32,
    pub gyro_bias_walk: f32,
    pub accel_bias_walk: f32,
    pub gnss_pos_noise: f32,
    pub gnss_vel_noise: f32,
    pub baro_noise: f32,
    pub mag_noise: f32,
    /// Earth magnetic field in NED (gauss).
    pub mag_field: [f32; 3],
}

impl EstimatorConfig {
    /// Matched to the twin's default sensor models (vehicle::sensors::SensorParams::default),
    /// with the process noise floors a little above the sensor noise.
    pub const fn default_sensors() -> EstimatorConfig {
        EstimatorConfig {
            gyro_noise: 0.005,
            accel_noise: 0.05,
            gyro_bias_walk: 1e-4,
            accel_bias_walk: 1e-3,
            gnss_pos_noise: 0.1,
            gnss_vel_noise: 0.05,
            baro_noise: 0.2,
            mag_noise: 0.01,
            mag_field: [0.21, 0.0, 0.43],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimator {
    pub cfg: EstimatorConfig,
    pub q: Q,
    pub v: V3,
    pub p: V3,
    pub bg: V3,
    pub ba: V3,
    pub cov: [[f32; N]; N],
    /// The largest normalised innovation |y| / sqrt(S) of the updates since the last predict
    /// (falcon-cascade's `vehicle-state.innovation`; 0 when nothing aided the estimate).
    pub innovation: f32,
    /// The last predict's body rates, bias-corrected (`vehicle-state.wx wy wz`).
    pub rates: V3,
}

fn rot(q: Q) -> [[f32; 3]; 3] {
    let [w, x, y, z] = q;
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

fn skew(a: V3) -> [[f32; 3]; 3] {
    [[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]]
}

impl Estimator {
    pub const fn new(cfg: EstimatorConfig) -> Estimator {
        let mut cov = [[0.0; N]; N];
        let mut i = 0;
        while i < N {
            cov[i][i] = if i < VEL {
                0.05
            } else if i < BG {
                1.0
            } else if i < BA {
                1e-4
            } else {
                1e-2
            };
            i += 1;
        }
        Estimator {
            cfg,
            q: [1.0, 0.0, 0.0, 0.0],
            v: [0.0; 3],
            p: [0.0; 3],
            bg: [0.0; 3],
            ba: [0.0; 3],
            cov,
            innovation: 0.0,
            rates: [0.0; 3],
        }
    }

    /// Start from a known state (e.g. the vehicle's initial state), with small uncertainty.
    pub fn init(&mut self, nav: &NavState) {
        *self = Estimator::new(self.cfg);
        self.q = qnormalize(nav.q);
        self.v = nav.v;
        self.p = nav.p;
        self.bg = nav.bg;
        self.ba = nav.ba;
        for i in 0..N {
            self.cov[i][i] = if i < VEL {
                1e-3
            } else if i < BG {
                1e-2
            } else {
                self.cov[i][i]
            };
        }
    }

    pub fn nav(&self) -> NavState {
        NavState {
            q: self.q,
            p: self.p,
            v: self.v,
            bg: self.bg,
            ba: self.ba,
        }
    }

    /// The estimate as falcon-cascade's `vehicle-state`.
    pub fn vehicle_state(&self) -> crate::cascade::VehicleState {
        crate::cascade::VehicleState {
            q: self.q,
            p: self.p,
            v: self.v,
            w: self.rates,
            innovation: self.innovation,
        }
    }

    pub fn predict(&mut self, accel: V3, gyro: V3, dt: f32) {
        let w = sub(gyro, self.bg);
        self.rates = w;
        self.innovation = 0.0;
        let a_b = sub(accel, self.ba);
        let r = rot(self.q);
        self.q = qnormalize(qmul(
            self.q,
            [1.0, 0.5 * w[0] * dt, 0.5 * w[1] * dt, 0.5 * w[2] * dt],
        ));
        let a_n = add(rotate_m(&r, a_b), [0.0, 0.0, G]);
        self.p = add(self.p, add(scale(self.v, dt), scale(a_n, 0.5 * dt * dt)));
        self.v = add(self.v, scale(a_n, dt));

        // Phi = I + F dt.
        let mut phi = [[0.0f32; N]; N];
        for (i, row) in phi.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        let sw = skew(w);
        let ra = mat_mul3(&r, &skew(a_b));
        for i in 0..3 {
            for j in 0..3 {
                phi[TH + i][TH + j] -= sw[i][j] * dt;
                phi[VEL + i][TH + j] = -ra[i][j] * dt;
                phi[VEL + i][BA + j] = -r[i][j] * dt;
            }
            phi[TH + i][BG + i] = -dt;
            phi[POS + i][VEL + i] = dt;
        }
        // P <- Phi P Phi^T + Qd, kept symmetric.
        let mut t = [[0.0f32; N]; N];
        for i in 0..N {
            for j in 0..N {
                let mut s = 0.0;
                for k in 0..N {
                    s += phi[i][k] * self.cov[k][j];
                }
                t[i][j] = s;
            }
        }
        for i in 0..N {
            for j in i..N {
                let mut s = 0.0;
                for k in 0..N {
                    s += t[i][k] * phi[j][k];
                }
                self.cov[i][j] = s;
                self.cov[j][i] = s;
            }
        }
        let c = self.cfg;
        for i in 0..3 {
            self.cov[TH + i][TH + i] += c.gyro_noise * c.gyro_noise * dt;
            self.cov[VEL + i][VEL + i] += c.accel_noise * c.accel_noise * dt;
            self.cov[BG + i][BG + i] += c.gyro_bias_walk * c.gyro_bias_walk * dt;
            self.cov[BA + i][BA + i] += c.accel_bias_walk * c.accel_bias_walk * dt;
        }
    }

    /// One scalar measurement: innovation `y - h(x)`, measurement row `h`, noise variance `r`.
    pub fn update_scalar(&mut self, h: &[f32; N], innovation: f32, r: f32) {
        let mut ph = [0.0f32; N];
        for (i, v) in ph.iter_mut().enumerate() {
            let mut s = 0.0;
            for (j, hj) in h.iter().enumerate() {
                s += self.cov[i][j] * hj;
            }
            *v = s;
        }
        let mut s = r;
        for i in 0..N {
            s += h[i] * ph[i];
        }
        if s <= 0.0 {
            return;
        }
        let mag = if innovation < 0.0 {
            -innovation
        } else {
            innovation
        };
        let nis = mag / libm::sqrtf(s);
        if nis > self.innovation {
            self.innovation = nis;
        }
        let mut dx = [0.0f32; N];
        for i in 0..N {
            let k = ph[i] / s;
            dx[i] = k * innovation;
            for j in 0..N {
                self.cov[i][j] -= k * ph[j];
            }
        }
        self.inject(&dx);
    }

    fn inject(&mut self, dx: &[f32; N]) {
        self.q = qnormalize(qmul(
            self.q,
            [1.0, 0.5 * dx[TH], 0.5 * dx[TH + 1], 0.5 * dx[TH + 2]],
        ));
        for i in 0..3 {
            self.v[i] += dx[VEL + i];
            self.p[i] += dx[POS + i];
            self.bg[i] += dx[BG + i];
            self.ba[i] += dx[BA + i];
        }
    }

    pub fn update_gnss(&mut self, pos: V3, vel: V3) {
        let (rp, rv) = (
            self.cfg.gnss_pos_noise * self.cfg.gnss_pos_noise,
            self.cfg.gnss_vel_noise * self.cfg.gnss_vel_noise,
        );
        for i in 0..3 {
            let mut h = [0.0; N];
            h[POS + i] = 1.0;
            self.update_scalar(&h, pos[i] - self.p[i], rp);
            let mut h = [0.0; N];
            h[VEL + i] = 1.0;
            self.update_scalar(&h, vel[i] - self.v[i], rv);
        }
    }

    pub fn update_baro(&mut self, altitude: f32) {
        let mut h = [0.0; N];
        h[POS + 2] = -1.0;
        let r = self.cfg.baro_noise * self.cfg.baro_noise;
        self.update_scalar(&h, altitude + self.p[2], r);
    }

    pub fn update_mag(&mut self, m_b: V3) {
        let r = self.cfg.mag_noise * self.cfg.mag_noise;
        for i in 0..3 {
            let pred = rotate(qconj(self.q), self.cfg.mag_field);
            let sk = skew(pred);
            let mut h = [0.0; N];
            h[TH..TH + 3].copy_from_slice(&sk[i]);
            self.update_scalar(&h, m_b[i] - pred[i], r);
        }
    }
}

fn rotate_m(r: &[[f32; 3]; 3], v: V3) -> V3 {
    [dot(r[0], v), dot(r[1], v), dot(r[2], v)]
}

fn mat_mul3(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    c
}
