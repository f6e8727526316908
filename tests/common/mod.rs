//! Shared helpers of the end-to-end tests (`tests/`): all of the helper modules, and the `sim`
//! binary. Crate-level tests under `sim/*/tests` include only the modules their crate can use.
#![allow(dead_code)]

use std::process::Command;

#[path = "build.rs"]
pub mod build;
#[path = "firmware.rs"]
pub mod firmware;
#[path = "hosting.rs"]
pub mod hosting;
#[path = "vehicle.rs"]
pub mod vehicle;
#[allow(unused_imports)] // each test binary uses some of the helpers
pub use {build::*, firmware::*, hosting::*, vehicle::*};

/// Run the `sim` binary in the workspace root: (exit code, stdout, stderr).
pub fn sim_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("running sim");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
