//! rt-twin: a deterministic digital twin of the NXP i.MX RT1176 (Cortex-M7 + Cortex-M4).
//!
//! Both cores run on Unicorn engines; what Unicorn lacks (NVIC, SCB, SysTick, exception entry
//! and return, faults, virtual time) and the SoC's peripherals are modelled here. See
//! `docs/architecture.md` for the shape and `docs/time.md` for the time model.

pub mod backend;
pub mod board;
pub mod compare;
pub mod core;
pub mod diff;
pub mod error;
pub mod events;
pub mod exc;
pub mod flightloop;
pub mod hosted;
pub mod image;
pub mod machine;
pub mod p3;
pub mod periph;
pub mod plot;
pub mod probe;
pub mod reference;
pub mod rtt;
pub mod scenario;
pub mod semihost;
pub mod session;
pub mod soc;
pub mod symbols;
pub mod synth;
pub mod target;
pub mod time;
pub mod trace;
pub mod vehicle;
pub mod wasi;
pub mod wasm;

pub use error::{Error, Result};
pub use machine::{Config, Machine, Stop};
