//! What keeps the engine from running a source's tests: each a failure of
//! the infrastructure, never of a test.

use std::path::PathBuf;

use crate::plugins::CallError;

/// Why a job's process could not be run to its end; its tests are blocked.
#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The runner could not say how to run the tests.
    #[error(transparent)]
    Plan(CallError),
    /// The process could not be started.
    #[error(transparent)]
    Spawn(std::io::Error),
    /// Supervising the process failed: reading its output, or killing it.
    #[error(transparent)]
    Supervise(std::io::Error),
    /// A task that called the runner did not finish.
    #[error("{what} task failed: {source}")]
    Task {
        what: &'static str,
        source: tokio::task::JoinError,
    },
}

/// Why a source's tests could not be discovered.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The runner failed to answer.
    #[error(transparent)]
    Runner(CallError),
    #[error("discovery command failed: {0}")]
    Command(std::io::Error),
    #[error(
        "{runner} did not finish discovery within {steps} {}",
        if *steps == 1 { "step" } else { "steps" }
    )]
    Endless { runner: String, steps: usize },
    #[error("discovery task failed: {0}")]
    Task(tokio::task::JoinError),
    /// Discovery did not run: a download failed, or the run was stopped.
    #[error("not run: {0}")]
    NotRun(String),
}
