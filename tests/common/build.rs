//! Locating the workspace and building its wasm crates: shared by every test of the workspace
//! (crate-level tests and twin-ui's include this file by path).
#![allow(dead_code)] // each test binary uses some of these

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root: the first directory above the testing crate that holds `Cargo.lock`.
pub fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Run a build command; its standard output (trimmed), or a panic with its errors naming `what`.
pub fn built(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Build a wasm32 cdylib crate (its own workspace and .cargo/config.toml) and return its module.
pub fn build_wasm_crate(dir: &str, module: &str) -> PathBuf {
    let dir = workspace().join(dir);
    built(
        Command::new("cargo")
            .args(["build", "--release", "--quiet"])
            .current_dir(&dir)
            .env_remove("CARGO_TARGET_DIR"),
        &format!("the build of {}", dir.display()),
    );
    dir.join("target/wasm32-unknown-unknown/release")
        .join(module)
}

/// The flight stack's leaves (`targets/flight-stack`, one cargo feature each, as falcon's
/// leaf components are built one by one), built once per test binary into their own target
/// directory (so they never replace the one-module build) and copied to
/// `target/leaves/<leaf>.wasm`: ekf, position, attitude, rate, mixer.
pub fn flight_leaves() -> &'static [PathBuf] {
    static LEAVES: OnceLock<Vec<PathBuf>> = OnceLock::new();
    LEAVES.get_or_init(|| {
        ["ekf", "position", "attitude", "rate", "mixer"]
            .iter()
            .map(|leaf| flight_leaf(leaf))
            .collect()
    })
}

/// An ekf leaf with falcon's world alone (`ekf#estimate(imu)`, no `aided-ekf`), as a falcon
/// build's ekf leaf offers the host; built once per test binary.
pub fn falcon_ekf_leaf() -> &'static Path {
    static LEAF: OnceLock<PathBuf> = OnceLock::new();
    LEAF.get_or_init(|| flight_leaf("falcon-ekf"))
}

/// Build the flight stack with feature `<leaf>-leaf` into the leaves' target directory; the
/// module, copied to `target/leaves/<leaf>.wasm`.
fn flight_leaf(leaf: &str) -> PathBuf {
    // One build at a time: they share a target directory and its flight_stack.wasm.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    {
        let dir = workspace().join("targets/flight-stack");
        let out = workspace().join("target/leaves");
        std::fs::create_dir_all(&out).unwrap();
        {
            built(
                Command::new("cargo")
                    .args(["build", "--release", "--quiet", "--no-default-features"])
                    .args(["--features", &format!("{leaf}-leaf")])
                    .args(["--target-dir", "target/leaf"])
                    .current_dir(&dir)
                    .env_remove("CARGO_TARGET_DIR"),
                &format!("the {leaf} leaf of {}", dir.display()),
            );
            let to = out.join(format!("{leaf}.wasm"));
            std::fs::copy(
                dir.join("target/leaf/wasm32-unknown-unknown/release/flight_stack.wasm"),
                &to,
            )
            .unwrap();
            to
        }
    }
}

/// Build the whole-run SIL module (`targets/flight-demo`, shaped like falcon's flight-demo)
/// once per test binary.
pub fn flight_demo() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_wasm_crate("targets/flight-demo", "flight_demo.wasm"))
}

/// Build the reference flight stack (`targets/flight-stack`) once per test binary.
pub fn flight_stack() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_wasm_crate("targets/flight-stack", "flight_stack.wasm"))
}

/// Build the HIL firmware (`targets/hil/build.sh`) from the reference flight module once per
/// test binary, into `target/hil` where `sim --target` looks by default; the CM7 image
/// (the full-system image, `hil-fs-m7.elf`, lies beside it).
pub fn hil_image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        PathBuf::from(built(
            Command::new("bash")
                .arg(workspace().join("targets/hil/build.sh"))
                .arg(flight_stack())
                .env_remove("CARGO_TARGET_DIR"),
            "targets/hil/build.sh",
        ))
    })
}

/// The full-system firmware's CM7 image, built with the HIL firmware ([`hil_image`]).
pub fn full_system_image() -> PathBuf {
    hil_image().with_file_name("hil-fs-m7.elf")
}
