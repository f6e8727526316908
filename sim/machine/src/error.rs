//! Errors the twin reports for bad input or a broken set-up: an unreadable or malformed file
//! (board, image, scenario, module), a bad argument, Unicorn refusing a request. Every crate of
//! the twin raises these; the crates above add their own kinds (a lockstep divergence in
//! `twin-hosting`, a failed flight computer in `twin-flight`). What the *guest* does wrong
//! (faults, lockups, unmodelled accesses) is not an `Error` but a `machine::Stop`.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Ron {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: invalid board description: {message}")]
    Board { file: String, message: String },
    #[error("{file}: {message}")]
    Image { file: String, message: String },
    #[error("unicorn: {what}: {err:?}")]
    Unicorn {
        what: String,
        err: unicorn_engine::uc_error,
    },
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn image(file: &str, message: impl Into<String>) -> Error {
        Error::Image {
            file: file.to_string(),
            message: message.into(),
        }
    }
}

/// Attach context to a Unicorn error.
pub trait UcContext<T> {
    fn uc(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> UcContext<T> for std::result::Result<T, unicorn_engine::uc_error> {
    fn uc(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| Error::Unicorn { what: what(), err })
    }
}
