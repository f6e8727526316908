//! `twin-flight`: the closed loop and everything that judges a flight.
//!
//! The vehicle model, its sensors and wind ([`vehicle`]); the loop around a flight computer
//! ([`flightloop`]: the components hosted on the emulated cores, or anything else implementing
//! [`flightloop::FlightComputer`]); per-tick records and their CSV form ([`trace`]); plots
//! ([`plot`]); scenario files and their gates ([`scenario`]); a scenario stepped tick by tick
//! ([`session`], the API `sim --scenario` and `twin-ui` drive); two runs compared ([`compare`]);
//! whole-run SIL exports judged on the cores ([`wholerun`]); campaigns of varied runs
//! ([`sweep`]).
//!
//! Depends on: `twin-machine`, `twin-hosting` (the backends the loop calls). Target mode
//! (`twin-target`) builds on this crate, never the other way round.
//!
//! Read more: `docs/flight.md`, `docs/twin-ui.md` (sessions), `docs/architecture.md`.

mod check;
pub mod compare;
mod error;
pub mod flightloop;
pub mod plot;
pub mod scenario;
pub mod session;
pub mod sweep;
pub mod trace;
pub mod vehicle;
pub mod wholerun;

pub use error::{Error, Result};
