//! Discovery: the host runs the commands a runner asks for until it answers.

use std::time::Duration;

use proctor_plugin_api::messages::*;

use super::errors::DiscoveryError;
use super::PreparedSource;
use crate::process::{run_captured, Stopper};

/// A runner that keeps asking for commands is broken; stop it.
const MAX_DISCOVERY_STEPS: usize = 8;

/// Asks the source's runner for its tests, running the commands it asks
/// for, each within the source's `discovery_timeout`; a stop request
/// passes on to them, and kills them after `grace`.
pub async fn discover(
    source: &PreparedSource,
    offer: DiscoveryOffer,
    stopper: &Stopper,
    grace: Duration,
) -> Result<Vec<TestCase>, DiscoveryError> {
    let mut request = DiscoverRequest {
        source: source.info.clone(),
        completed: Vec::new(),
        offer: Some(offer),
    };
    for _ in 0..MAX_DISCOVERY_STEPS {
        let commands = match next_step(source, request.clone()).await? {
            DiscoveryStep::Done { tests } => return Ok(unique(tests)),
            DiscoveryStep::Run { commands } => commands,
        };
        let outputs = futures::future::join_all(
            (commands.iter()).map(|command| run_listing(source, command, stopper, grace)),
        )
        .await;
        for output in outputs {
            request.completed.push(output?);
        }
    }
    Err(DiscoveryError::Endless {
        runner: source.runner.label().to_owned(),
        steps: MAX_DISCOVERY_STEPS,
    })
}

/// The tests the listing `command` names, as the source's runner reads its
/// output: run and read as a step of discovery that asked for it.
pub async fn listed(
    source: &PreparedSource,
    command: &CommandSpec,
    stopper: &Stopper,
    grace: Duration,
) -> Result<Vec<TestCase>, DiscoveryError> {
    let request = DiscoverRequest {
        source: source.info.clone(),
        completed: vec![run_listing(source, command, stopper, grace).await?],
        offer: None,
    };
    match next_step(source, request).await? {
        DiscoveryStep::Done { tests } => Ok(tests),
        DiscoveryStep::Run { .. } => Err(DiscoveryError::Endless {
            runner: source.runner.label().to_owned(),
            steps: 1,
        }),
    }
}

/// The runner's next step of discovery, asked off the runtime's threads.
async fn next_step(
    source: &PreparedSource,
    request: DiscoverRequest,
) -> Result<DiscoveryStep, DiscoveryError> {
    let runner = source.runner.clone();
    tokio::task::spawn_blocking(move || runner.discover(&request))
        .await
        .map_err(DiscoveryError::Task)?
        .map_err(DiscoveryError::Runner)
}

/// Runs a command a runner asked for to learn the source's tests, within
/// the source's `discovery_timeout`; a stop request passes on to it.
async fn run_listing(
    source: &PreparedSource,
    command: &CommandSpec,
    stopper: &Stopper,
    grace: Duration,
) -> Result<CommandOutput, DiscoveryError> {
    tracing::debug!(command = %command.display(), "discovery command");
    let mut completed = command.clone();
    source.complete_environment(&mut completed);
    let timeout = source.config.discovery_timeout;
    let captured = run_captured(&completed, timeout, Some(stopper.subscribe()), grace)
        .await
        .map_err(DiscoveryError::Command)?;
    Ok(CommandOutput {
        command: command.clone(),
        exit: captured.exit,
        stdout: captured.stdout,
        stderr: captured.stderr,
    })
}

/// The tests listed, each id once. A framework may list a test twice (a
/// path given twice to pytest with `--keep-duplicates`, two instantiations
/// under one name): it then runs both under that one name, and reports them
/// so; proctor reports that name once, failed if either failed.
fn unique(tests: Vec<TestCase>) -> Vec<TestCase> {
    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::with_capacity(tests.len());
    for test in tests {
        match seen.contains(test.id.as_str()) {
            true => tracing::debug!(id = %test.id, "a test listed twice"),
            false => {
                seen.insert(test.id.clone());
                unique.push(test);
            }
        }
    }
    unique
}
