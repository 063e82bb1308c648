//! A proctor runner for Rust test binaries built on libtest.
//!
//! A source is either a test binary or a `Cargo.toml`. For a manifest,
//! discovery first asks the host to run `cargo test --no-run` and takes the
//! test binaries cargo reports. Each binary is listed with
//! `--list --format terse` (and again with `--ignored` to tell which tests
//! are ignored, which become skipped). Every test runs in its own process
//! with `--exact`.

mod discovery;
mod results;

use proctor_sdk::messages::*;
use proctor_sdk::{export_plugins, Result, Runner};
use serde::{Deserialize, Serialize};

/// Settings block of the `libtest` runner.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Extra arguments for `cargo test --no-run`, e.g. `["-p", "my-crate"]`.
    cargo_args: Vec<String>,
    /// Extra arguments for every test process.
    test_args: Vec<String>,
}

/// What the runner keeps in each test case to run it later.
#[derive(Debug, Serialize, Deserialize)]
struct TestLocation {
    binary: String,
    test: String,
    cwd: String,
}

pub struct LibtestRunner {
    settings: Settings,
}

impl Runner for LibtestRunner {
    const NAME: &'static str = "libtest";
    const DESCRIPTION: &'static str = "Rust test binaries (libtest): a binary or a Cargo.toml";
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self { settings })
    }

    fn discover(&self, request: DiscoverRequest) -> Result<DiscoveryStep> {
        discovery::next_step(&self.settings.cargo_args, request)
    }

    fn plan_execution(&self, request: ExecutionRequest) -> Result<ExecutionPlan> {
        let [test] = request.tests.as_slice() else {
            return Err(proctor_sdk::Error::msg(format!(
                "libtest runs one test per process; asked for {}",
                request.tests.len()
            )));
        };
        let location: TestLocation = serde_json::from_value(test.runner_data.clone())?;
        let command = CommandSpec::new(&location.binary)
            .args([location.test.as_str(), "--exact", "--nocapture"])
            .args(self.settings.test_args.iter().cloned())
            .cwd(&location.cwd);
        Ok(ExecutionPlan { command })
    }

    fn collect_results(&self, request: CollectRequest) -> Result<Vec<TestResult>> {
        results::collect(request)
    }
}

export_plugins!(runner LibtestRunner);
