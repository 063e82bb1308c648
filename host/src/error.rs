//! The two ways a run fails before its tests can speak, and the exit codes.

use std::fmt;

use crate::process::Signal;

/// The process exit codes, a contract with CI systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every test passed (skipped tests and flaky tests count as passed): 0.
    Passed,
    /// At least one test failed, timed out or crashed: 1.
    TestsFailed,
    /// The command line or the configuration is wrong: 2.
    UsageError,
    /// Something other than the tests broke: a plugin, a download, discovery: 3.
    InfrastructureError,
    /// No test was selected where `no_tests` asks for some (by default, a
    /// run that selects none): 4.
    NoTests,
    /// A signal stopped the run: 128 and its number (SIGINT 130, SIGTERM
    /// 143, SIGHUP 129), whatever the tests that finished did.
    Interrupted(Signal),
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Passed => 0,
            ExitStatus::TestsFailed => 1,
            ExitStatus::UsageError => 2,
            ExitStatus::InfrastructureError => 3,
            ExitStatus::NoTests => 4,
            ExitStatus::Interrupted(signal) => signal.exit_code(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExitStatus::Passed => "passed",
            ExitStatus::TestsFailed => "tests_failed",
            ExitStatus::UsageError => "usage_error",
            ExitStatus::InfrastructureError => "infrastructure_error",
            ExitStatus::NoTests => "no_tests",
            ExitStatus::Interrupted(_) => "interrupted",
        }
    }
}

/// An error that ends the command, classified by whose fault it is. The
/// classification of every layer's errors is made here, in the `From`
/// conversions below, and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line or the configuration is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Something other than the tests broke (exit 3).
    #[error("{0}")]
    Infrastructure(String),
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    pub fn infrastructure(message: impl Into<String>) -> Self {
        Error::Infrastructure(message.into())
    }

    /// The same error, its message prefixed with where it arose; whose
    /// fault it is does not change.
    pub fn at(self, location: impl fmt::Display) -> Self {
        match self {
            Error::Usage(message) => Error::Usage(format!("{location}: {message}")),
            Error::Infrastructure(message) => {
                Error::Infrastructure(format!("{location}: {message}"))
            }
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) => ExitStatus::UsageError,
            Error::Infrastructure(_) => ExitStatus::InfrastructureError,
        }
    }
}

/// A plugin the configuration names is not there: the configuration's fault.
impl From<crate::plugins::FindError> for Error {
    fn from(error: crate::plugins::FindError) -> Self {
        Error::Usage(error.to_string())
    }
}

/// Settings a plugin refused are the configuration's fault; a plugin that
/// fails to start otherwise is the infrastructure's.
impl From<crate::plugins::CreateError> for Error {
    fn from(error: crate::plugins::CreateError) -> Self {
        match error.invalid_settings() {
            true => Error::Usage(error.to_string()),
            false => Error::Infrastructure(error.to_string()),
        }
    }
}

/// A results directory proctor may not use is the command's fault; one it
/// cannot write is the machine's.
impl From<crate::results::ResultsDirError> for Error {
    fn from(error: crate::results::ResultsDirError) -> Self {
        match error {
            crate::results::ResultsDirError::NotOurs(_) => Error::Usage(error.to_string()),
            crate::results::ResultsDirError::Io { .. } => Error::Infrastructure(error.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
