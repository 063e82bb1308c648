//! An example collector plugin, as a vendor would write one: it times every
//! test from the lifecycle events it is sent and, when the session ends,
//! attaches a list of the slowest tests to the run.
//!
//! A collector answers each event with environment variables (used when a
//! source starts: they go to that source's test processes) and attachments.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proctor_sdk::messages::{Attachment, CollectorResponse, LifecycleEvent, Owner};
use proctor_sdk::{export_plugins, Collector, Error, Result};
use serde::Deserialize;

/// The attachment kind: a URI naming the format, versioned.
pub const KIND: &str = "urn:example:slowest-tests:text:1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How many tests the list holds.
    #[serde(default = "default_count")]
    count: usize,
}

fn default_count() -> usize {
    10
}

pub struct SlowestTests {
    count: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    results_dir: Option<PathBuf>,
    running: BTreeMap<(String, String, u32), Instant>,
    finished: Vec<(Duration, String)>,
}

impl Collector for SlowestTests {
    const NAME: &'static str = "slowest-tests";
    const DESCRIPTION: &'static str =
        "Attaches the run's slowest tests, timed from lifecycle events";
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        if settings.count == 0 {
            return Err(Error::invalid_settings("count: must be at least 1"));
        }
        Ok(Self {
            count: settings.count,
            state: Mutex::default(),
        })
    }

    fn on_event(&self, event: LifecycleEvent) -> Result<CollectorResponse> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut response = CollectorResponse::default();
        match event {
            LifecycleEvent::SessionStarted { results_dir, .. } => state.results_dir = Some(results_dir),
            LifecycleEvent::SourceStarted { source } => {
                // Test processes of this source can tell they are being timed.
                response
                    .environment
                    .insert("SLOWEST_TESTS_SOURCE".into(), source.name);
            }
            // Events gain fields in minor versions: match them with `..`.
            LifecycleEvent::TestStarted {
                source,
                test,
                attempt,
                ..
            } => {
                state
                    .running
                    .insert((source, test, attempt), Instant::now());
            }
            LifecycleEvent::TestFinished {
                source,
                test,
                attempt,
                ..
            } => {
                let key = (source, test, attempt);
                if let Some(started) = state.running.remove(&key) {
                    let (source, test, attempt) = key;
                    let name = format!("{source}/{test} (attempt {attempt})");
                    state.finished.push((started.elapsed(), name));
                }
            }
            LifecycleEvent::SessionFinished => {
                let dir = state
                    .results_dir
                    .clone()
                    .ok_or_else(|| Error::msg("the session ended before it started"))?;
                state.finished.sort_by_key(|(duration, _)| std::cmp::Reverse(*duration));
                let mut text = String::new();
                for (duration, name) in state.finished.iter().take(self.count) {
                    text.push_str(&format!("{:>10.3} s  {name}\n", duration.as_secs_f64()));
                }
                let path = dir.join("slowest-tests.txt");
                std::fs::write(&path, text)
                    .map_err(|e| Error::msg(format!("cannot write {}: {e}", path.display())))?;
                response.attachments.push(Attachment {
                    kind: KIND.into(),
                    path,
                    owner: Owner::Run,
                    description: format!("the {} slowest tests", self.count),
                });
            }
            // Events this collector does not need, and events from a newer
            // host that this SDK version does not know, are ignored.
            _ => {}
        }
        Ok(response)
    }
}

export_plugins!(collector SlowestTests);
