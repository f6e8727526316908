//! What a flight can fail with beyond the twin's own errors (bad input, a broken set-up): a
//! lockstep divergence from the backends, or a flight computer built elsewhere failing (target
//! mode's board, probe or link: `twin-target` raises its own error through [`Error::Computer`]).

use twin_hosting::backend::Divergence;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Twin(#[from] twin_machine::Error),
    /// Lockstep differential mode: ARM and wasmtime disagreed.
    #[error("{0}")]
    Divergence(Box<Divergence>),
    /// A flight computer implemented outside this crate failed; its own error, as it says it.
    #[error(transparent)]
    Computer(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<twin_hosting::Error> for Error {
    fn from(e: twin_hosting::Error) -> Error {
        match e {
            twin_hosting::Error::Twin(e) => Error::Twin(e),
            twin_hosting::Error::Divergence(d) => Error::Divergence(d),
        }
    }
}
