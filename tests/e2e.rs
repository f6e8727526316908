//! rt-twin's end-to-end tests: through the `sim` binary, and runs that cross several crates.
//! One test binary with a module per area (each binary would link wasmtime, Unicorn and
//! probe-rs again, and build the test firmware again); each crate's own tests sit beside it
//! (`sim/*/tests`).

mod common;

mod backends;
mod cli;
mod determinism;
mod diff;
mod fuzz_inputs;
mod gdb;
mod p3;
mod scenario;
mod slurm;
mod sweep;
mod target;
