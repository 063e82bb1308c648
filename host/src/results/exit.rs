//! The exit codes of a command, a contract with CI systems; `summary.json`
//! records the run's.

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
}
