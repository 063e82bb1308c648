use std::fmt;

/// The error a plugin returns. Any `std::error::Error` converts into it with
/// `?`, keeping its chain of causes in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    /// Since 1.3: the settings block is at fault, not the plugin or the machine.
    invalid_settings: bool,
}

/// What a plugin's calls return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            invalid_settings: false,
        }
    }

    /// Since 1.3: settings that deserialize but cannot work, refused by
    /// `new`. The host reports them as a configuration error (exit code 2),
    /// like settings that do not deserialize.
    pub fn invalid_settings(message: impl fmt::Display) -> Self {
        Self {
            invalid_settings: true,
            ..Self::msg(message)
        }
    }

    /// Whether the settings block is at fault ([`Error::invalid_settings`]).
    pub fn is_invalid_settings(&self) -> bool {
        self.invalid_settings
    }

    /// Prefixes the message with what was being done.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    /// The message, with the context prefixed to it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::msg(message)
    }
}
