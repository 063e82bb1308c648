//! The two ways a command fails before its tests can speak, and whose fault
//! each error of the layers below is.

use std::fmt;

pub use crate::results::ExitStatus;

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

    /// The same error without the secrets its message may quote.
    pub fn redacted(self, redactor: &crate::redact::Redactor) -> Self {
        match self {
            Error::Usage(message) => Error::Usage(redactor.redacted(&message)),
            Error::Infrastructure(message) => Error::Infrastructure(redactor.redacted(&message)),
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) => ExitStatus::UsageError,
            Error::Infrastructure(_) => ExitStatus::InfrastructureError,
        }
    }
}

/// A configuration that cannot be used is the user's to fix.
impl From<crate::config::ConfigError> for Error {
    fn from(error: crate::config::ConfigError) -> Self {
        Error::Usage(error.to_string())
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

impl Error {
    /// A plugin that could not be created from the settings block at
    /// `block` of `config`: settings it refused are the configuration's
    /// fault, said in the file's coordinates; any other failure is the
    /// infrastructure's.
    pub fn of_plugin_creation(
        error: crate::plugins::CreateError,
        config: &crate::config::Config,
        block: &str,
    ) -> Self {
        match error.invalid_settings() {
            true => Error::Usage(config.settings_refusal(block, &error.plugin, &error.message)),
            false => Error::from(error).at(format!("{}: {block}", config.file.display())),
        }
    }
}

/// A results directory proctor may not use is the command's fault; one it
/// cannot write is the machine's.
impl From<crate::results::ResultsDirError> for Error {
    fn from(error: crate::results::ResultsDirError) -> Self {
        match error {
            crate::results::ResultsDirError::NotOurs(_)
            | crate::results::ResultsDirError::InUse { .. } => Error::Usage(error.to_string()),
            crate::results::ResultsDirError::Io { .. } => Error::Infrastructure(error.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
