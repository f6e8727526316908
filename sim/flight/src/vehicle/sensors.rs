//! Sensors from the true state: IMU, barometer, magnetometer, GNSS. Each has its own seeded noise
//! stream (scenario seed mixed with a per-sensor constant), so enabling one sensor does not change
//! another's noise.
//!
//! | sensor | model |
//! |---|---|
//! | IMU accel | specific force in the body frame, R^T (a - g), + bias + N(0, sigma), quantised to `accel_lsb` |
//! | IMU gyro | body rate + bias + N(0, sigma), quantised to `gyro_lsb` |
//! | IMU biases | initial value + random walk (sigma per sqrt(s)) |
//! | barometer | altitude above ground (-z) + N(0, sigma), every `baro_div` ticks |
//! | magnetometer | the earth field (NED, gauss) in the body frame + N(0, sigma), every `mag_div` ticks |
//! | GNSS | position and velocity NED + N(0, sigma), every `gnss_div` ticks, delivered `gnss_delay` ticks late |
//!
//! The IMU is sampled every control tick (`imu_div` = 1) or every n-th tick.

use std::collections::VecDeque;

use glam::DVec3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{State, G};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorParams {
    pub imu_div: u32,
    pub accel_noise: f64,
    pub gyro_noise: f64,
    pub accel_bias: [f64; 3],
    pub gyro_bias: [f64; 3],
    pub accel_bias_walk: f64,
    pub gyro_bias_walk: f64,
    pub accel_lsb: f64,
    pub gyro_lsb: f64,
    pub baro_div: u32,
    pub baro_noise: f64,
    pub mag_div: u32,
    pub mag_noise: f64,
    pub mag_field: [f64; 3],
    pub gnss_div: u32,
    pub gnss_delay: u32,
    pub gnss_pos_noise: f64,
    pub gnss_vel_noise: f64,
}

impl Default for SensorParams {
    /// An ICM-42688-class IMU at the control rate, a BMP388-class barometer at 50 Hz, a
    /// magnetometer at 50 Hz and a 10 Hz GNSS with 100 ms latency (at a 500 Hz loop).
    fn default() -> Self {
        SensorParams {
            imu_div: 1,
            accel_noise: 0.02,
            gyro_noise: 0.002,
            accel_bias: [0.0; 3],
            gyro_bias: [0.0; 3],
            accel_bias_walk: 0.0,
            gyro_bias_walk: 0.0,
            accel_lsb: 1.0 / 2048.0 * G,
            gyro_lsb: (2000.0 / 32768.0f64).to_radians(),
            baro_div: 10,
            baro_noise: 0.1,
            mag_div: 10,
            mag_noise: 0.002,
            mag_field: [0.21, 0.0, 0.43],
            gnss_div: 50,
            gnss_delay: 50,
            gnss_pos_noise: 0.05,
            gnss_vel_noise: 0.02,
        }
    }
}

impl SensorParams {
    /// Every parameter in range: noises, walks and steps >= 0 and finite, rates >= 1 tick.
    pub fn validate(&self) -> crate::check::Checked {
        use crate::check::{all_finite, at_least, non_negative};
        for (div, at) in [
            (self.imu_div, "imu_div"),
            (self.baro_div, "baro_div"),
            (self.mag_div, "mag_div"),
            (self.gnss_div, "gnss_div"),
        ] {
            at_least(u64::from(div), 1, at)?;
        }
        for (v, at) in [
            (self.accel_noise, "accel_noise"),
            (self.gyro_noise, "gyro_noise"),
            (self.accel_bias_walk, "accel_bias_walk"),
            (self.gyro_bias_walk, "gyro_bias_walk"),
            (self.accel_lsb, "accel_lsb"),
            (self.gyro_lsb, "gyro_lsb"),
            (self.baro_noise, "baro_noise"),
            (self.mag_noise, "mag_noise"),
            (self.gnss_pos_noise, "gnss_pos_noise"),
            (self.gnss_vel_noise, "gnss_vel_noise"),
        ] {
            non_negative(v, at)?;
        }
        all_finite(&self.accel_bias, "accel_bias")?;
        all_finite(&self.gyro_bias, "gyro_bias")?;
        all_finite(&self.mag_field, "mag_field")
    }

    /// A noiseless, bias-free, unquantised set (tests, reference runs).
    pub fn ideal() -> SensorParams {
        SensorParams {
            accel_noise: 0.0,
            gyro_noise: 0.0,
            accel_lsb: 0.0,
            gyro_lsb: 0.0,
            baro_noise: 0.0,
            mag_noise: 0.0,
            gnss_pos_noise: 0.0,
            gnss_vel_noise: 0.0,
            gnss_delay: 0,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gnss {
    pub position: [f64; 3],
    pub velocity: [f64; 3],
}

/// What the flight code sees in one tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frame {
    pub accel: [f64; 3],
    pub gyro: [f64; 3],
    pub baro_alt: Option<f64>,
    pub mag: Option<[f64; 3]>,
    pub gnss: Option<Gnss>,
    pub motor_rpm: Vec<f64>,
}

struct Stream(ChaCha8Rng);

impl Stream {
    fn new(seed: u64, id: u64) -> Stream {
        Stream(ChaCha8Rng::seed_from_u64(
            seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }
    fn n(&mut self, sigma: f64) -> f64 {
        if sigma == 0.0 {
            0.0
        } else {
            let z: f64 = StandardNormal.sample(&mut self.0);
            sigma * z
        }
    }
    fn v(&mut self, sigma: f64) -> DVec3 {
        DVec3::new(self.n(sigma), self.n(sigma), self.n(sigma))
    }
}

fn quantise(v: DVec3, lsb: f64) -> DVec3 {
    if lsb > 0.0 {
        (v / lsb).round() * lsb
    } else {
        v
    }
}

pub struct Sensors {
    pub params: SensorParams,
    accel_bias: DVec3,
    gyro_bias: DVec3,
    imu: Stream,
    baro: Stream,
    mag: Stream,
    gnss: Stream,
    gnss_queue: VecDeque<(u64, Gnss)>,
    last_imu: ([f64; 3], [f64; 3]),
    /// Multiplier on the IMU noise (the "IMU noise x3" scenarios), and a dropout switch.
    pub imu_noise_scale: f64,
    pub gnss_dropout: bool,
}

impl Sensors {
    pub fn new(params: SensorParams, seed: u64) -> Sensors {
        Sensors {
            accel_bias: DVec3::from(params.accel_bias),
            gyro_bias: DVec3::from(params.gyro_bias),
            params,
            imu: Stream::new(seed, 1),
            baro: Stream::new(seed, 2),
            mag: Stream::new(seed, 3),
            gnss: Stream::new(seed, 4),
            gnss_queue: VecDeque::new(),
            last_imu: ([0.0; 3], [0.0; 3]),
            imu_noise_scale: 1.0,
            gnss_dropout: false,
        }
    }

    /// Sample for control tick `tick` of length `dt` seconds.
    pub fn sample(&mut self, tick: u64, dt: f64, s: &State) -> Frame {
        let p = &self.params;
        let every = |div: u32| div > 0 && tick % u64::from(div) == 0;
        if every(p.imu_div) {
            let walk = dt.sqrt();
            self.accel_bias += self.imu.v(p.accel_bias_walk * walk);
            self.gyro_bias += self.imu.v(p.gyro_bias_walk * walk);
            let k = self.imu_noise_scale;
            let specific = s.q.inverse() * (s.a - DVec3::new(0.0, 0.0, G));
            let accel = quantise(
                specific + self.accel_bias + self.imu.v(p.accel_noise * k),
                p.accel_lsb,
            );
            let gyro = quantise(
                s.w + self.gyro_bias + self.imu.v(p.gyro_noise * k),
                p.gyro_lsb,
            );
            self.last_imu = (accel.to_array(), gyro.to_array());
        }
        let baro_alt = every(p.baro_div).then(|| -s.p.z + self.baro.n(p.baro_noise));
        let mag = every(p.mag_div).then(|| {
            (s.q.inverse() * DVec3::from(p.mag_field) + self.mag.v(p.mag_noise)).to_array()
        });
        if every(p.gnss_div) {
            let fix = Gnss {
                position: (s.p + self.gnss.v(p.gnss_pos_noise)).to_array(),
                velocity: (s.v + self.gnss.v(p.gnss_vel_noise)).to_array(),
            };
            self.gnss_queue
                .push_back((tick + u64::from(p.gnss_delay), fix));
        }
        let mut gnss = None;
        while self.gnss_queue.front().is_some_and(|(due, _)| *due <= tick) {
            gnss = self.gnss_queue.pop_front().map(|(_, g)| g);
        }
        if self.gnss_dropout {
            gnss = None;
        }
        Frame {
            accel: self.last_imu.0,
            gyro: self.last_imu.1,
            baro_alt,
            mag,
            gnss,
            motor_rpm: s
                .omega
                .iter()
                .map(|w| w * 60.0 / (2.0 * std::f64::consts::PI))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{step, Params};
    use super::*;

    fn hovering() -> (Params, State) {
        let p = Params::quad_x();
        let mut s = State::at_rest(&p, DVec3::new(0.0, 0.0, -5.0));
        s.omega = vec![p.hover_omega(); 4];
        step(&p, &mut s, &[p.hover_command(); 4], DVec3::ZERO);
        (p, s)
    }

    #[test]
    fn level_hover_reads_minus_g_and_free_fall_reads_zero() {
        let (p, s) = hovering();
        let mut sens = Sensors::new(SensorParams::ideal(), 1);
        let f = sens.sample(0, 0.002, &s);
        assert!((f.accel[2] + G).abs() < 1e-6, "{:?}", f.accel);
        assert!(f.accel[0].abs() < 1e-9 && f.accel[1].abs() < 1e-9);
        assert_eq!(f.baro_alt, Some(-s.p.z), "altitude above ground");
        let mut fall = State::at_rest(&p, DVec3::new(0.0, 0.0, -50.0));
        let mut nodrag = p.clone();
        nodrag.drag = [0.0; 3];
        step(&nodrag, &mut fall, &[0.0; 4], DVec3::ZERO);
        let f = sens.sample(1, 0.002, &fall);
        assert!(
            DVec3::from(f.accel).length() < 1e-6,
            "free fall: {:?}",
            f.accel
        );
    }

    #[test]
    fn magnetometer_rotates_with_yaw() {
        let (p, mut s) = hovering();
        s.q = glam::DQuat::from_rotation_z(std::f64::consts::FRAC_PI_2);
        let mut sens = Sensors::new(SensorParams::ideal(), 1);
        let f = sens.sample(0, 0.002, &s);
        let m = f.mag.unwrap();
        // Heading east: north (0.21) appears on the body's -y axis.
        assert!(
            (m[1] + 0.21).abs() < 1e-9 && m[0].abs() < 1e-9 && (m[2] - 0.43).abs() < 1e-9,
            "{m:?}"
        );
        let _ = p;
    }

    #[test]
    fn gnss_rate_divider_and_latency() {
        let (_, s) = hovering();
        let mut params = SensorParams::ideal();
        params.gnss_div = 5;
        params.gnss_delay = 3;
        let mut sens = Sensors::new(params, 1);
        let got: Vec<bool> = (0..12)
            .map(|t| sens.sample(t, 0.002, &s).gnss.is_some())
            .collect();
        // Fixes taken at ticks 0, 5, 10 arrive at 3, 8 (and 13).
        let want: Vec<bool> = (0..12).map(|t| t == 3 || t == 8).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn imu_noise_statistics_quantisation_and_seed() {
        let (_, s) = hovering();
        let mut params = SensorParams::ideal();
        params.gyro_noise = 0.01;
        let mut sens = Sensors::new(params.clone(), 9);
        let n = 50_000;
        let (mut sum, mut sum2) = (0.0, 0.0);
        for t in 0..n {
            let g = sens.sample(t, 0.002, &s).gyro[0];
            sum += g;
            sum2 += g * g;
        }
        let sd = (sum2 / n as f64 - (sum / n as f64).powi(2)).sqrt();
        assert!((sd - 0.01).abs() < 0.0005, "{sd}");
        params.gyro_lsb = 0.001;
        let mut q = Sensors::new(params.clone(), 9);
        for t in 0..100 {
            let g = q.sample(t, 0.002, &s).gyro[1];
            assert!(
                (g / 0.001 - (g / 0.001).round()).abs() < 1e-9,
                "{g} is a multiple of the LSB"
            );
        }
        let mut a = Sensors::new(params.clone(), 3);
        let mut b = Sensors::new(params, 3);
        for t in 0..100 {
            assert_eq!(a.sample(t, 0.002, &s), b.sample(t, 0.002, &s));
        }
    }
}
