//! `twin-machine`: the emulated NXP i.MX RT1176 (Cortex-M7 + Cortex-M4), the bottom of rt-twin.
//!
//! Both cores run real Cortex-M code on Unicorn engines; what Unicorn lacks (NVIC, SCB, SysTick,
//! ARMv7-M exception entry and return, faults, virtual time) and the SoC's peripherals are
//! modelled here: the board description ([`board`]), one core on one engine ([`core`]), the
//! exception state ([`exc`]), the shared SoC bus and timer queue ([`soc`], `events`), the
//! register models ([`periph`], one file each with its register table and sources), ELF images
//! ([`image`]), semihosting (`semihost`), the UARTs' output as the user sees it (`console`), the
//! hardware capabilities a wasm driver calls ([`capability`]),
//! virtual time ([`time`]) and the lockstep scheduler ([`machine`]).
//!
//! Depends on: Unicorn, `object`, serde/RON and nothing else of the twin: no wasm engine, no
//! flight code. Every other crate of the twin builds on this one.
//!
//! Read more: `docs/architecture.md` (the crates and the machine), `docs/time.md` (the time
//! model), `../shared/reference/rt1176.md` and `unicorn.md` (the facts the models follow).

pub mod board;
pub mod capability;
mod console;
pub mod core;
pub mod debug;
pub mod devices;
pub mod error;
mod events;
pub mod exc;
pub mod gdb;
pub mod image;
pub mod machine;
pub mod periph;
pub mod rontext;
mod semihost;
pub mod soc;
pub mod symbols;
pub mod time;
pub mod timing;

pub use error::{Error, Result};
pub use machine::{Config, Machine, Stop};
