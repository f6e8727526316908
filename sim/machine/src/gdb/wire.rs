//! What the machine's thread and the server's thread send each other.

use crate::machine::{Machine, Resume, Stop};

/// The context of the stop at the run's time limit (GDB is told SIGXCPU).
pub const END_OF_RUN: &str = "the run's time limit";

/// A job the server has run on the machine's thread.
pub type Job = Box<dyn FnOnce(&mut Machine) + Send>;

pub enum ToSim {
    Job(Job),
    Resume(Resume),
}

/// A stop, as the machine's thread tells the server.
pub struct Halted {
    pub stop: Stop,
    pub context: String,
}
