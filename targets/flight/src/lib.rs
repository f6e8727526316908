//! rt-twin's reference flight stack, shaped like falcon (reference/pulseengine.md section 4):
//! an error-state EKF for the CM4 and a controller cascade for the CM7 (position -> attitude
//! -> rate -> mixer, quad X), as falcon-cascade's stages and records ([`cascade`]). Our
//! implementation, falcon's interface: `targets/flight-stack` exports it as falcon's leaves do,
//! so a falcon build and this stack are interchangeable in every scenario.
//!
//! Written for every way it is built: native (tests, the native backend), wasm32 (the
//! reference), and synth's ARM code from that wasm. So: `no_std`, no allocation, f32 only
//! (except the position stage's libm `sinf`/`cosf`, whose argument reduction uses f64, as
//! falcon's position leaf does), and none of the operations synth 0.89 declines (`f32.min` /
//! `f32.max`, hence no `f32::min`, `max` or `clamp`; no `f32.floor`/`ceil`/`trunc`/`nearest`;
//! square roots through `libm`).
#![no_std]
// Matrix and vector code indexes several arrays with one loop variable: indices read clearest.
#![allow(clippy::needless_range_loop)]

pub mod cascade;
pub mod controller;
pub mod estimator;
pub mod math;
pub mod records;
pub mod sil;

/// The cross-core datum: 16 x f32 = 64 bytes (q, p, v, gyro bias, accel bias).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C)]
pub struct NavState {
    /// Attitude quaternion body -> NED (w, x, y, z).
    pub q: [f32; 4],
    /// Position NED (m).
    pub p: [f32; 3],
    /// Velocity NED (m/s).
    pub v: [f32; 3],
    /// Gyro bias (rad/s).
    pub bg: [f32; 3],
    /// Accelerometer bias (m/s^2).
    pub ba: [f32; 3],
}

impl NavState {
    pub fn to_words(&self) -> [f32; 16] {
        let mut w = [0.0; 16];
        w[0..4].copy_from_slice(&self.q);
        w[4..7].copy_from_slice(&self.p);
        w[7..10].copy_from_slice(&self.v);
        w[10..13].copy_from_slice(&self.bg);
        w[13..16].copy_from_slice(&self.ba);
        w
    }

    pub fn from_words(w: &[f32; 16]) -> NavState {
        let mut n = NavState::default();
        n.q.copy_from_slice(&w[0..4]);
        n.p.copy_from_slice(&w[4..7]);
        n.v.copy_from_slice(&w[7..10]);
        n.bg.copy_from_slice(&w[10..13]);
        n.ba.copy_from_slice(&w[13..16]);
        n
    }
}
