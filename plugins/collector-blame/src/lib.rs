//! The `blame` collector: the sequence of tests each process ran. When a
//! process crashes or hangs, the sequence is written as an attachment that
//! names the tests in flight, so that a crash in a batch of hundreds points
//! at the test, and the tests before it that may have set it up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use proctor_sdk::messages::{Attachment, CollectorResponse, LifecycleEvent, Outcome, Owner};
use proctor_sdk::{export_plugins, Collector, Error, Result};
use serde::{Deserialize, Serialize};

/// The attachment kind: a blame file, as written below.
pub const KIND: &str = "proctor://collector/blame/1";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Also write the sequence of processes that ended normally.
    #[serde(default)]
    always: bool,
}

pub struct Blame {
    always: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    results_dir: Option<PathBuf>,
    /// By source and pid.
    processes: HashMap<(String, u32), Process>,
}

/// One process's tests, in the order they started.
#[derive(Debug, Serialize)]
struct Process {
    source: String,
    pid: u32,
    attempt: u32,
    /// The tests the host gave it.
    given: Vec<String>,
    sequence: Vec<Step>,
}

#[derive(Debug, Serialize)]
struct Step {
    test: String,
    /// `None` while it runs.
    outcome: Option<Outcome>,
}

/// A blame file.
#[derive(Serialize)]
struct Report<'a> {
    /// `crashed`, `hung` or `exited`.
    ended: &'a str,
    signal: Option<i32>,
    process_tree: &'a [u32],
    in_flight: Vec<&'a str>,
    #[serde(flatten)]
    process: &'a Process,
}

impl State {
    /// The process a test event belongs to: the one it names, or for a host
    /// from before 1.4 (no pid) the source's only running process.
    fn process(&mut self, source: &str, pid: Option<u32>) -> Option<&mut Process> {
        let key = match pid {
            Some(pid) => (source.to_owned(), pid),
            None => {
                let mut keys = self.processes.keys().filter(|(s, _)| s == source);
                match (keys.next(), keys.next()) {
                    (Some(key), None) => key.clone(),
                    _ => return None,
                }
            }
        };
        self.processes.get_mut(&key)
    }
}

impl Collector for Blame {
    const NAME: &'static str = "blame";
    const DESCRIPTION: &'static str =
        "Writes the sequence of tests of each process that crashed or hung, naming those in flight";
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self {
            always: settings.always,
            state: Mutex::default(),
        })
    }

    fn on_event(&self, event: LifecycleEvent) -> Result<CollectorResponse> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut response = CollectorResponse::default();
        match event {
            LifecycleEvent::SessionStarted { results_dir, .. } => {
                state.results_dir = Some(results_dir)
            }
            LifecycleEvent::ProcessLaunched {
                source,
                pid,
                tests,
                attempt,
                ..
            } => {
                let process = Process {
                    source: source.clone(),
                    pid,
                    attempt,
                    given: tests,
                    sequence: Vec::new(),
                };
                state.processes.insert((source, pid), process);
            }
            LifecycleEvent::TestStarted {
                source, test, pid, ..
            } => {
                if let Some(process) = state.process(&source, pid) {
                    process.sequence.push(Step {
                        test,
                        outcome: None,
                    });
                }
            }
            LifecycleEvent::TestFinished {
                source,
                test,
                outcome,
                pid,
                ..
            } => {
                if let Some(process) = state.process(&source, pid) {
                    let running = process
                        .sequence
                        .iter_mut()
                        .find(|s| s.test == test && s.outcome.is_none());
                    match running {
                        Some(step) => step.outcome = Some(outcome),
                        // Known only once it ended (no live output): it ran all the same.
                        None => process.sequence.push(Step {
                            test,
                            outcome: Some(outcome),
                        }),
                    }
                }
            }
            LifecycleEvent::HangDetected {
                source,
                pid,
                process_tree,
                ..
            } => {
                if let Some(attachment) = state.write(&source, pid, "hung", None, &process_tree)? {
                    response.attachments.push(attachment);
                }
            }
            LifecycleEvent::ProcessCrashed {
                source,
                pid,
                signal,
                ..
            } => {
                if let Some(attachment) = state.write(&source, pid, "crashed", signal, &[])? {
                    response.attachments.push(attachment);
                }
            }
            LifecycleEvent::AttemptFinished { source, pid, .. } => {
                if self.always {
                    if let Some(attachment) = state.write(&source, pid, "exited", None, &[])? {
                        response.attachments.push(attachment);
                    }
                }
                state.processes.remove(&(source, pid));
            }
            _ => {}
        }
        Ok(response)
    }
}

impl State {
    /// Writes the blame file of a process; `None` when the process is unknown.
    fn write(
        &mut self,
        source: &str,
        pid: u32,
        ended: &str,
        signal: Option<i32>,
        process_tree: &[u32],
    ) -> Result<Option<Attachment>> {
        let results_dir = self
            .results_dir
            .clone()
            .ok_or_else(|| Error::msg("a process ended before the session started"))?;
        let Some(process) = self.processes.get(&(source.to_owned(), pid)) else {
            return Ok(None);
        };
        let in_flight: Vec<&str> = process
            .sequence
            .iter()
            .filter(|s| s.outcome.is_none())
            .map(|s| s.test.as_str())
            .collect();
        let report = Report {
            ended,
            signal,
            process_tree,
            in_flight: in_flight.clone(),
            process,
        };
        let path = blame_path(&results_dir, source, pid, process.attempt);
        std::fs::create_dir_all(path.parent().expect("inside the results directory"))
            .and_then(|()| {
                let json = serde_json::to_vec_pretty(&report).expect("a report serializes");
                std::fs::write(&path, json)
            })
            .map_err(|e| Error::msg(format!("cannot write {}: {e}", path.display())))?;
        let how = match signal {
            Some(signal) => format!("{ended} (signal {signal})"),
            None => ended.to_owned(),
        };
        let description = match in_flight.as_slice() {
            [] => format!("the tests of process {pid}, which {how} with no test running"),
            tests => format!(
                "the tests of process {pid}, which {how} while running {}",
                tests.join(", ")
            ),
        };
        // One test in flight: the blame is that attempt's.
        let owner = match in_flight.as_slice() {
            [test] => Owner::Attempt {
                source: source.to_owned(),
                test: (*test).to_owned(),
                attempt: process.attempt,
            },
            _ => Owner::Source {
                source: source.to_owned(),
            },
        };
        Ok(Some(Attachment {
            kind: KIND.into(),
            path,
            owner,
            description,
        }))
    }
}

fn blame_path(results_dir: &Path, source: &str, pid: u32, attempt: u32) -> PathBuf {
    results_dir
        .join("blame")
        .join(source)
        .join(format!("attempt-{attempt}-pid-{pid}.json"))
}

export_plugins!(collector Blame);
