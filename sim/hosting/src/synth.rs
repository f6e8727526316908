//! Driving synth (`synth-cli`): found on PATH or through `RT_TWIN_SYNTH`, its version checked
//! against the pinned one, compiling a module to a relocatable ARM object for the embedder ABI.

use std::path::{Path, PathBuf};
use std::process::Command;

use twin_machine::error::{Error, Result};

/// The synth release the twin is built and tested against (README, scripts/setup.sh).
pub const PINNED_VERSION: &str = "0.89.0";

/// The synth binary: `$RT_TWIN_SYNTH`, else `synth` on PATH. Errors when it cannot be run or is
/// not the pinned version.
pub fn find() -> Result<PathBuf> {
    let exe = std::env::var_os("RT_TWIN_SYNTH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("synth"));
    let out = Command::new(&exe).arg("--version").output().map_err(|e| {
        Error::Usage(format!(
            "cannot run synth ({}): {e}; install it with scripts/setup.sh or set RT_TWIN_SYNTH",
            exe.display()
        ))
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().last().unwrap_or("");
    if version != PINNED_VERSION {
        return Err(Error::Usage(format!(
            "{} is synth {version:?}; rt-twin needs synth {PINNED_VERSION} (scripts/setup.sh installs it)",
            exe.display()
        )));
    }
    Ok(exe)
}

/// The default synth target profile for a core: double precision on the CM7, single on the CM4.
pub fn default_target(core: &str) -> &'static str {
    if core == "m4" {
        "cortex-m4f"
    } else {
        "cortex-m7dp"
    }
}

/// Compile `wasm` to a relocatable object `out` (and `out.stack.json`) for `target`, as
/// relay builds falcon (reference/pulseengine.md 4.2): functions synth declines are left out
/// with a warning (`--allow-skipped-exports`) and the rest compiled.
pub fn compile(wasm: &Path, target: &str, safety_bounds: &str, out: &Path) -> Result<()> {
    run(
        wasm,
        target,
        &[
            "--relocatable",
            "--allow-skipped-exports",
            "--embedder-data-init",
            "--embedder-global-init",
            "--emit-stack-depth",
            "--safety-bounds",
            safety_bounds,
        ],
        out,
    )
}

/// Compile `wasm` to a self-contained image (ET_EXEC with vector table) for `target`.
pub fn compile_image(wasm: &Path, target: &str, safety_bounds: &str, out: &Path) -> Result<()> {
    run(wasm, target, &["--safety-bounds", safety_bounds], out)
}

fn run(wasm: &Path, target: &str, flags: &[&str], out: &Path) -> Result<()> {
    let exe = find()?;
    let result = Command::new(&exe)
        .arg("compile")
        .arg(wasm)
        .args(["-t", target, "--all-exports"])
        .args(flags)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|e| Error::Usage(format!("running synth: {e}")))?;
    if !result.status.success() {
        // synth's own message, without its Rust backtrace.
        let stderr = String::from_utf8_lossy(&result.stderr);
        let message: Vec<&str> = stderr
            .lines()
            .take_while(|l| !l.starts_with("Stack backtrace:"))
            .filter(|l| !l.trim().is_empty())
            .collect();
        return Err(Error::image(
            &wasm.display().to_string(),
            format!("synth compile -t {target} failed: {}", message.join("\n  ")),
        ));
    }
    Ok(())
}
