//! How a command ends badly, and the exit status that tells scripts which way.

use std::process::ExitCode;

pub enum Failure {
    /// The device, model or settings could not be opened: nothing ran (status 2).
    Setup(String),
    /// The command failed (status 1).
    Failed(String),
    /// Some images could not be analysed and were reported; the rest were (status 1).
    Images,
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Setup(_) => ExitCode::from(2),
            Failure::Failed(_) | Failure::Images => ExitCode::from(1),
        }
    }

    /// The one line for stderr; failed images were reported as they failed.
    pub fn message(&self) -> Option<&str> {
        match self {
            Failure::Setup(m) | Failure::Failed(m) => Some(m),
            Failure::Images => None,
        }
    }
}

/// The process's exit: success, or the failure reported on stderr.
pub fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message() {
                eprintln!("chexlens: {message}");
            }
            failure.exit_code()
        }
    }
}
