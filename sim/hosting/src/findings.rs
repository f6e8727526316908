//! Known synth findings: minimal modules on which the differential finds synth's code doing
//! other than the wasm says (`targets/corpus/findings/findings.ron` lists them with the
//! divergence each gives). Checking one runs its export through the differential and says
//! whether the finding is still there as recorded, fixed, or changed, so a suite that checks
//! them stays green while the findings stay listed, and says so when synth fixes one.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diff::{ExportReport, Mismatch};
use twin_machine::error::{Error, Result};

/// What a finding's export gives in the differential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Expect {
    /// The first divergence is a result, a trap, linear memory or a global.
    Result,
    Trap,
    Memory,
    Global,
    /// No divergence, but the measured stack is above synth's claimed bound.
    StackBound,
}

/// One finding, as the manifest lists it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// A short name (kebab-case).
    pub id: String,
    /// The module, beside the manifest.
    pub wat: PathBuf,
    pub export: String,
    /// The cores it shows on.
    pub cores: Vec<String>,
    pub expect: Expect,
    /// The synth version it was found with.
    pub found: String,
    pub description: String,
}

/// The manifest's findings, their modules' paths made absolute (beside the manifest).
pub fn load(path: &Path) -> Result<Vec<Finding>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: file.clone(),
        source: e,
    })?;
    let mut findings: Vec<Finding> = ron::from_str(&text).map_err(|e| Error::Ron {
        file: file.clone(),
        line: e.position.line,
        column: e.position.col,
        message: e.code.to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for f in &mut findings {
        f.wat = dir.join(&f.wat);
        if f.cores.is_empty() {
            return Err(Error::Usage(format!(
                "{file}: finding {} names no core",
                f.id
            )));
        }
    }
    Ok(findings)
}

/// How a finding stands now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// The differential gives what the manifest records.
    Present,
    /// The export is bit-identical (and within its stack bound): synth fixed it.
    Fixed,
    /// It diverges otherwise than recorded (what it gives now).
    Changed { now: String },
    /// synth left the export out of its object.
    Skipped,
}

/// What the differential's report of a finding's export says of it.
pub fn status(f: &Finding, r: &ExportReport) -> Status {
    if r.skipped {
        return Status::Skipped;
    }
    let now = match &r.divergence {
        Some(d) => match d.mismatch {
            Mismatch::Result { .. } => Expect::Result,
            Mismatch::Trap { .. } => Expect::Trap,
            Mismatch::Memory { .. } => Expect::Memory,
            Mismatch::Global { .. } => Expect::Global,
        },
        None if r.stack_bound_exceeded => Expect::StackBound,
        None => return Status::Fixed,
    };
    if now == f.expect {
        Status::Present
    } else {
        Status::Changed {
            now: format!("{now:?}"),
        }
    }
}
