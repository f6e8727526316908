//! Wind in NED (m/s): a steady component, 1-cosine gusts and seeded turbulence.
//!
//! - Gust: over [start, start + duration] the wind adds `amplitude * (1 - cos(2 pi s)) / 2` with
//!   s = (t - start) / duration: it rises from 0 to the full amplitude at mid-gust and back to 0
//!   (the "1-cosine" discrete gust shape).
//! - Turbulence: per axis a first-order Gauss-Markov process (a simplified Dryden model):
//!   x[k+1] = a x[k] + sigma sqrt(1 - a^2) n[k], a = exp(-dt / tau), n ~ N(0, 1); its stationary
//!   standard deviation is sigma and its correlation time tau. Seeded: the same seed gives the
//!   same wind.

use glam::DVec3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gust {
    pub start: f64,
    pub duration: f64,
    pub amplitude: [f64; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turbulence {
    pub sigma: [f64; 3],
    pub tau: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindParams {
    #[serde(default)]
    pub steady: [f64; 3],
    #[serde(default)]
    pub gusts: Vec<Gust>,
    #[serde(default)]
    pub turbulence: Option<Turbulence>,
}

impl WindParams {
    /// Every parameter in range: gusts start at t >= 0 and last > 0 s, turbulence has a
    /// positive correlation time and sigmas >= 0.
    pub fn validate(&self) -> crate::check::Checked {
        use crate::check::{all_finite, all_non_negative, non_negative, positive};
        all_finite(&self.steady, "steady")?;
        for (i, g) in self.gusts.iter().enumerate() {
            non_negative(g.start, &format!("gusts[{i}].start"))?;
            positive(g.duration, &format!("gusts[{i}].duration"))?;
            all_finite(&g.amplitude, &format!("gusts[{i}].amplitude"))?;
        }
        if let Some(t) = &self.turbulence {
            all_non_negative(&t.sigma, "turbulence.sigma")?;
            positive(t.tau, "turbulence.tau")?;
        }
        Ok(())
    }
}

pub struct Wind {
    params: WindParams,
    turb: DVec3,
    rng: ChaCha8Rng,
}

impl Wind {
    pub fn new(params: WindParams, seed: u64) -> Wind {
        Wind {
            params,
            turb: DVec3::ZERO,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The gusts' contribution at time t.
    pub fn gust(&self, t: f64) -> DVec3 {
        self.params
            .gusts
            .iter()
            .filter(|g| g.duration > 0.0 && t >= g.start && t <= g.start + g.duration)
            .map(|g| {
                let s = (t - g.start) / g.duration;
                DVec3::from(g.amplitude) * (0.5 * (1.0 - (2.0 * std::f64::consts::PI * s).cos()))
            })
            .sum()
    }

    /// Advance the turbulence by dt and return the wind at time t.
    pub fn sample(&mut self, t: f64, dt: f64) -> DVec3 {
        if let Some(tb) = &self.params.turbulence {
            let a = (-dt / tb.tau).exp();
            let k = (1.0 - a * a).sqrt();
            let mut n = [0.0; 3];
            for v in &mut n {
                *v = StandardNormal.sample(&mut self.rng);
            }
            self.turb = self.turb * a + DVec3::from(tb.sigma) * k * DVec3::from(n);
        }
        DVec3::from(self.params.steady) + self.gust(t) + self.turb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cosine_gust_peaks_at_mid_gust() {
        let w = Wind::new(
            WindParams {
                gusts: vec![Gust {
                    start: 2.0,
                    duration: 1.0,
                    amplitude: [4.0, 0.0, -1.0],
                }],
                ..Default::default()
            },
            0,
        );
        assert_eq!(w.gust(1.9), DVec3::ZERO);
        assert!((w.gust(2.5) - DVec3::new(4.0, 0.0, -1.0)).length() < 1e-12);
        assert!(
            (w.gust(2.25).x - 2.0).abs() < 1e-12,
            "half amplitude a quarter in"
        );
        assert!(w.gust(3.0).length() < 1e-12);
    }

    #[test]
    fn turbulence_has_the_configured_sigma_and_is_seeded() {
        let params = WindParams {
            turbulence: Some(Turbulence {
                sigma: [1.5, 0.5, 0.2],
                tau: 0.5,
            }),
            ..Default::default()
        };
        let mut w = Wind::new(params.clone(), 42);
        let n = 200_000;
        let (mut s, mut s2) = (DVec3::ZERO, DVec3::ZERO);
        for k in 0..n {
            let v = w.sample(k as f64 * 0.01, 0.01);
            s += v;
            s2 += v * v;
        }
        let mean = s / n as f64;
        let sd = (s2 / n as f64 - mean * mean).sqrt();
        for (got, want) in [(sd.x, 1.5), (sd.y, 0.5), (sd.z, 0.2)] {
            assert!((got - want).abs() / want < 0.05, "sigma {got} vs {want}");
        }
        let mut a = Wind::new(params.clone(), 7);
        let mut b = Wind::new(params, 7);
        for k in 0..100 {
            assert_eq!(a.sample(k as f64, 0.01), b.sample(k as f64, 0.01));
        }
    }
}
