//! What target mode fails with: the board, the probe or the link (no probe, no board, no RTT
//! control block, a stalled link, firmware that stopped). It reaches the flight loop through
//! `twin_flight::Error::Computer`, as a failed flight computer.

/// The board, the probe or the link failed.
#[derive(Debug, thiserror::Error)]
#[error("target: {0}")]
pub struct TargetError(pub String);

impl From<TargetError> for twin_flight::Error {
    fn from(e: TargetError) -> twin_flight::Error {
        twin_flight::Error::Computer(Box::new(e))
    }
}

/// A [`TargetError`] as the flight loop's error.
pub fn target_error(what: impl std::fmt::Display) -> twin_flight::Error {
    TargetError(what.to_string()).into()
}
