//! `twin-hosting`: synth's output hosted on the emulated cores, and the references it is judged
//! against.
//!
//! A synth relocatable object is linked in process into a core's memory with the embedder ABI
//! (R9/R10/R11, data and global init from the `.wasm`) and its exports are called from Rust
//! ([`hosted`]: linking, host-function trampolines, the AEABI helpers). The same `.wasm` runs in
//! wasmtime ([`reference`], [`wasi`] for command modules) and the reference flight stack natively;
//! [`diff`] compares ARM and wasmtime bit for bit; [`backend`] gives the flight loop one interface
//! over ARM, wasmtime, native and lockstep, whose divergence is this crate's [`Error`].
//! [`wasm`] reads modules; [`synth`] runs the pinned synth compiler.
//!
//! Depends on: `twin-machine`, wasmtime, the reference flight stack (`flight`, for the native
//! backend). Nothing here knows of vehicles, scenarios or target mode.
//!
//! Read more: `docs/hosting.md`, `../shared/reference/pulseengine.md` (the embedder ABI).

pub mod backend;
pub mod canon;
pub mod diff;
pub mod findings;
pub mod hosted;
pub mod provider;
pub mod reference;
pub mod rng;
pub mod synth;
pub mod wasi;
pub mod wasm;

pub use backend::{Error, Result};
