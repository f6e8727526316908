//! `twin-p3`: hosting P3 async components in callback mode (reference/pulseengine.md sections 2
//! and 3), the stand-in for gale's verified executor.
//!
//! A component is a core wasm module as meld emits it: `[async-lift]F` starts a task and returns
//! a packed code, `[callback][async-lift]F(event, p1, p2)` is called per event until EXIT,
//! results leave through `[task-return]...` imports, and streams/futures/waitable sets go through
//! `pulseengine:async` imports. The same module runs in wasmtime or as synth's ARM code: the
//! intrinsics ([`intrinsics`], over the stream/future state in [`hub`]) are host functions
//! served identically to both. [`executor`] runs one executor per core in virtual time;
//! [`system`] reads, validates and runs system files (`sim p3 run`); [`wit`] takes stream
//! element types from WIT; [`native`] wraps callback-mode modules for wasmtime's own
//! component-model-async (the known answers); [`abi`] holds the ABI's codes.
//!
//! Depends on: `twin-machine` (the board, the MU), `twin-hosting` (hosting and the wasmtime
//! reference). Nothing here knows of the flight loop or target mode.
//!
//! Read more: `docs/p3.md`.

pub mod abi;
pub mod executor;
pub mod hub;
pub mod intrinsics;
pub mod native;
pub mod system;
mod wit;

pub use intrinsics::{intrinsics, SharedHub};
