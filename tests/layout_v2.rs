//! A reader of results layout version 2, written from the "Layout 2"
//! section of docs/results-layout.md as it stood when layout 2 shipped,
//! the counterpart of `layout_v1.rs`: what a CI script written against
//! that section expects. Every layout 2 directory the end-to-end tests
//! produce is read through it. It knows only what the section names, and
//! holds the section's promises: an attempt names a process that
//! `processes[]` (the journal, before it) holds, or says how it ran itself.
//! Do not change it: a layout that needs it changed is layout version 3.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

/// `summary.json`.
#[derive(Debug, Deserialize)]
pub struct Summary {
    pub layout_version: u32,
    pub outcome: String,
    pub exit_code: u8,
    pub counts: Counts,
    pub processes: Vec<Process>,
    pub tests: Vec<Test>,
}

#[derive(Debug, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
}

/// A process that ran a batch, written once.
#[derive(Debug, Deserialize)]
pub struct Process {
    pub source: String,
    pub name: String,
    #[serde(flatten)]
    pub ran: Ran,
}

/// How a process ran; an attempt that ran alone holds it itself.
#[derive(Debug, Deserialize)]
pub struct Ran {
    pub started_at: String,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// A test; what is absent reads as null, false or empty, a name as the id.
#[derive(Debug, Deserialize)]
pub struct Test {
    pub source: String,
    pub id: String,
    pub name: Option<String>,
    pub outcome: String,
    #[serde(default)]
    pub flaky: bool,
    #[serde(default)]
    pub quarantined: bool,
    pub duration_ms: u64,
    pub message: Option<String>,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    pub outcome: String,
    pub process: Option<String>,
    pub started_at: Option<String>,
    pub pid: Option<u32>,
    pub duration_ms: u64,
    pub message: Option<String>,
    pub dir: Option<String>,
    pub stdout: Option<String>,
    pub output: Option<String>,
}

/// A line of `events.jsonl`; the events layout 2 writes its own way, and
/// any other, as layout 1 has it.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    ProcessFinished(Process),
    AttemptFinished {
        source: String,
        test: String,
        #[serde(flatten)]
        attempt: Attempt,
    },
    TestFinished {
        source: String,
        id: String,
        outcome: String,
        /// Their number: each had its `attempt_finished`.
        attempts: u32,
    },
    #[serde(other)]
    Other,
}

/// Reads a results directory as layout version 2, failing with what does
/// not match it.
pub fn read(results: &Path) -> Result<Option<Summary>, String> {
    let marker = std::fs::read_to_string(results.join(".proctor-results"))
        .map_err(|e| format!(".proctor-results: {e}"))?;
    if !marker.lines().any(|line| line == "layout 2") {
        return Err(format!(".proctor-results does not say layout 2: {marker}"));
    }
    read_journal(results)?;
    let text = match std::fs::read_to_string(results.join("summary.json")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("summary.json: {e}")),
    };
    let summary: Summary = serde_json::from_str(&text).map_err(|e| format!("summary.json: {e}"))?;
    if summary.layout_version != 2 {
        return Err(format!("layout_version {}", summary.layout_version));
    }
    let processes: HashSet<(&str, &str)> = (summary.processes.iter())
        .map(|p| (p.source.as_str(), p.name.as_str()))
        .collect();
    for test in &summary.tests {
        for attempt in &test.attempts {
            attempt_holds(&test.source, &test.id, attempt, &processes)?;
        }
    }
    Ok(Some(summary))
}

/// The journal's lines: every attempt naming a process comes after that
/// process's line, and every test's end after its attempts'.
fn read_journal(results: &Path) -> Result<(), String> {
    let journal = std::fs::read_to_string(results.join("events.jsonl"))
        .map_err(|e| format!("events.jsonl: {e}"))?;
    let mut processes = HashSet::new();
    let mut attempts_seen = std::collections::HashMap::new();
    for (n, line) in journal.lines().enumerate() {
        let event: Event = serde_json::from_str(line)
            .map_err(|e| format!("events.jsonl:{}: {e}: {line}", n + 1))?;
        match event {
            Event::ProcessFinished(process) => {
                processes.insert((process.source, process.name));
            }
            Event::AttemptFinished {
                source,
                test,
                attempt,
            } => {
                let known: HashSet<(&str, &str)> = processes
                    .iter()
                    .map(|(s, n)| (s.as_str(), n.as_str()))
                    .collect();
                attempt_holds(&source, &test, &attempt, &known)
                    .map_err(|e| format!("events.jsonl:{}: {e}", n + 1))?;
                *attempts_seen.entry((source, test)).or_insert(0) += 1;
            }
            Event::TestFinished {
                source,
                id,
                attempts,
                ..
            } => {
                let seen = attempts_seen.get(&(source.clone(), id.clone())).copied();
                // A test that never ran has no attempt.
                if attempts > 0 && seen != Some(attempts) {
                    return Err(format!(
                        "events.jsonl:{}: {source}/{id} ended with {attempts} attempts, \
                         {seen:?} were journaled",
                        n + 1
                    ));
                }
            }
            Event::Other => {}
        }
    }
    Ok(())
}

/// An attempt names a process that is there, or says how it ran itself.
fn attempt_holds(
    source: &str,
    test: &str,
    attempt: &Attempt,
    processes: &HashSet<(&str, &str)>,
) -> Result<(), String> {
    match (&attempt.process, &attempt.started_at) {
        (Some(name), None) if processes.contains(&(source, name.as_str())) => Ok(()),
        (Some(name), None) => Err(format!("{source}/{test} names process {name}, not there")),
        (Some(_), Some(_)) => Err(format!("{source}/{test}: a process named and a start")),
        (None, Some(_)) => Ok(()),
        (None, None) => Err(format!("{source}/{test}: an attempt without a start")),
    }
}
