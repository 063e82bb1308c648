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

impl serde::Serialize for ExitStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An error that ends the command, classified by whose fault it is.
#[derive(Debug)]
pub enum Error {
    Usage(String),
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) | Error::Infrastructure(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
