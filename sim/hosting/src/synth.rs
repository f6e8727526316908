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

/// What synth said about a compile it finished: the functions it left out, each with its reason
/// (its `warning: skipping function 'NAME': REASON` lines), in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compiled {
    pub skipped: Vec<(String, String)>,
}

/// The functions synth's warnings say it left out: (name, reason).
pub fn skipped_functions(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("warning: skipping function '")?;
            let (name, reason) = rest.split_once("': ")?;
            Some((name.to_string(), reason.trim().to_string()))
        })
        .collect()
}

/// Compile `wasm` to a relocatable object `out` (and `out.stack.json`) for `target`, as
/// relay builds falcon (reference/pulseengine.md 4.2): functions synth declines are left out
/// with a warning (`--allow-skipped-exports`) and the rest compiled.
pub fn compile(wasm: &Path, target: &str, safety_bounds: &str, out: &Path) -> Result<Compiled> {
    run(wasm, target, &relocatable(safety_bounds), out)
}

/// synth's flags for [`compile`].
fn relocatable(safety_bounds: &str) -> [&str; 7] {
    [
        "--relocatable",
        "--allow-skipped-exports",
        "--embedder-data-init",
        "--embedder-global-init",
        "--emit-stack-depth",
        "--safety-bounds",
        safety_bounds,
    ]
}

/// When synth emits no object for `wasm` because it declined every function (each with a
/// warning, then "no functions compiled successfully"): those functions and reasons. None when
/// it compiles something, or fails for another reason. (Runs [`compile`]'s synth command to a
/// scratch file.)
pub fn declined_all(
    wasm: &Path,
    target: &str,
    safety_bounds: &str,
) -> Result<Option<Vec<(String, String)>>> {
    let dir = std::env::temp_dir().join(format!("rt-twin-declined-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
    let result = invoke(
        wasm,
        target,
        &relocatable(safety_bounds),
        &dir.join("module.o"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let result = result?;
    let stderr = String::from_utf8_lossy(&result.stderr);
    let skipped = skipped_functions(&stderr);
    Ok((!result.status.success()
        && stderr.contains("no functions compiled successfully")
        && !skipped.is_empty())
    .then_some(skipped))
}

/// Compile `wasm` to a self-contained image (ET_EXEC with vector table) for `target`.
pub fn compile_image(
    wasm: &Path,
    target: &str,
    safety_bounds: &str,
    out: &Path,
) -> Result<Compiled> {
    run(wasm, target, &["--safety-bounds", safety_bounds], out)
}

/// Run `synth compile` on `wasm` for `target` with `flags`, the output to `out`.
fn invoke(wasm: &Path, target: &str, flags: &[&str], out: &Path) -> Result<std::process::Output> {
    Command::new(find()?)
        .arg("compile")
        .arg(wasm)
        .args(["-t", target, "--all-exports"])
        .args(flags)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|e| Error::Usage(format!("running synth: {e}")))
}

fn run(wasm: &Path, target: &str, flags: &[&str], out: &Path) -> Result<Compiled> {
    let result = invoke(wasm, target, flags, out)?;
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
    Ok(Compiled {
        skipped: skipped_functions(&String::from_utf8_lossy(&result.stderr)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_functions_are_read_from_synths_warnings() {
        // The form synth 0.89 prints (its --allow-skipped-exports warnings), and a summary line
        // that names no function.
        let stderr = "warning: skipping function 'pulseengine:falcon-cascade/position@0.10.0#tick': backend 'arm' failed: compilation failed: scalar f64 requires a double-precision FPU target\n\
                      warning: skipping function 'func_8': backend 'arm' failed: declined\n\
                      warning: 2 of 14 functions were skipped (not in output): a, b\n";
        assert_eq!(
            skipped_functions(stderr),
            vec![
                (
                    "pulseengine:falcon-cascade/position@0.10.0#tick".to_string(),
                    "backend 'arm' failed: compilation failed: scalar f64 requires a double-precision FPU target".to_string()
                ),
                ("func_8".to_string(), "backend 'arm' failed: declined".to_string()),
            ]
        );
    }
}
