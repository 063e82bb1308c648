//! Results layout 2: the records of layout 1, written in half the bytes.
//!
//! A run of many fast tests wrote about 2 KB of `summary.json` and journal
//! a passing test in layout 1, most of it what every such test repeats:
//! nulls and falses, a name equal to the id, and its batch process's start,
//! pid, exit status and log paths. Layout 2 writes the same records with:
//! - what is null, false or empty left out, and a `name` equal to the id;
//! - a batch's process once, in `processes[]` (the journal's
//!   `process_finished`), its tests' attempts naming it by `process`;
//! - an attempt's `dir` only where the directory is: not for a passing
//!   test of a batch, whose directory is never made;
//! - the journal's `test_finished` giving its attempts' number, each
//!   attempt having had its `attempt_finished`.
//!
//! The types here borrow the records to write them and own what they read
//! ([`Cow`]), so that one description serves both and the schema of each
//! file is generated from it. Reading a layout 2 summary gives back the
//! records layout 1 would have written ([`read_summary`]): what is left out
//! can be told again from what is there.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use proctor_plugin_api::messages::{Outcome, SubtestResult};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::summary::{AttemptRecord, RecordKind, RunOverview, RunSummary, TestRecord};
use super::{attempt_path, Layout};

/// A test record as layout 2 writes it. `A` is its attempts: their records
/// in `summary.json`, their number in the journal.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Test<'a, A> {
    pub source: Cow<'a, str>,
    pub id: Cow<'a, str>,
    /// The test's name, when it is not its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    /// The name Helix's rules and JUnit's classname use, when it is not the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified_name: Option<Cow<'a, str>>,
    /// Absent for a test.
    #[serde(default, skip_serializing_if = "RecordKind::is_test")]
    pub kind: RecordKind,
    /// The outcome of the last attempt.
    pub outcome: Outcome,
    /// Present, true, when it failed, then passed on a later attempt.
    #[serde(default, skip_serializing_if = "is_false")]
    pub flaky: bool,
    /// Present, true, when it ran and reported but does not fail the run.
    #[serde(default, skip_serializing_if = "is_false")]
    pub quarantined: bool,
    /// Present, true, when its last attempt's process left descendants running.
    #[serde(default, skip_serializing_if = "is_false")]
    pub leaky: bool,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'a, str>>,
    pub attempts: A,
}

/// An attempt as layout 2 writes it. One that ran in a batch names its
/// process, which holds how it ran; one that ran alone holds that itself.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Attempt<'a> {
    pub attempt: u32,
    pub outcome: Outcome,
    /// The batch process that ran it, by its `name` in `processes[]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Cow<'a, str>>,
    /// How the process that ran it alone ran; absent when `process` is given.
    #[serde(flatten)]
    pub ran: Option<Ran<'a>>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<Cow<'a, str>>,
    /// The attempt's own directory, when it has one: a passing attempt in
    /// a batch has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<Cow<'a, str>>,
    /// What this test alone printed, when the runner could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub subtests: Cow<'a, [SubtestResult]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<Cow<'a, str>>,
}

/// How a process ran: when it started, its pid, how it ended, its output.
/// Written with an attempt that ran alone, and once for a batch's process.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Ran<'a> {
    /// When it started (RFC 3339).
    pub started_at: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Cow<'a, str>>,
}

/// A process that ran a batch of tests, written once for all of them.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Process<'a> {
    pub source: Cow<'a, str>,
    /// Its directory's name under `sources/<source>/processes/`, by which
    /// its tests' attempts name it.
    pub name: Cow<'a, str>,
    #[serde(flatten)]
    pub ran: Ran<'a>,
}

/// `summary.json` in layout 2.
// `T` is its tests: the records, written one at a time (`Written`), or
// the tests read.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "summary.json, proctor's summary of a run (results layout 2)")]
pub struct Summary<'a, T = Vec<Test<'a, Vec<Attempt<'a>>>>> {
    #[serde(flatten)]
    pub run: Cow<'a, RunOverview>,
    /// The processes that ran batches of tests, in the order their tests are listed.
    pub processes: Vec<Process<'a>>,
    pub tests: T,
}

/// Records written as layout 2 writes them, each as it is reached: the
/// views of a large run's tests, gathered first, were a third of the
/// host's heap at the run's end.
#[derive(Debug)]
pub struct Written<'a, R>(&'a [R]);

impl Serialize for Written<'_, TestRecord> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|t| Test::of(t, Written(&t.attempts))))
    }
}

impl Serialize for Written<'_, AttemptRecord> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Attempt::of))
    }
}

fn is_false(value: &bool) -> bool {
    !value
}

fn borrowed<Text: std::ops::Deref<Target = str>>(text: &Option<Text>) -> Option<Cow<'_, str>> {
    text.as_deref().map(Cow::Borrowed)
}

impl<'a, A> Test<'a, A> {
    /// `record` as layout 2 writes it, with `attempts` for its attempts.
    pub fn of(record: &'a TestRecord, attempts: A) -> Self {
        Test {
            source: Cow::Borrowed(&record.source),
            id: Cow::Borrowed(&record.id),
            name: (record.name != record.id).then_some(Cow::Borrowed(&record.name)),
            qualified_name: borrowed(&record.qualified_name),
            kind: record.kind,
            outcome: record.outcome,
            flaky: record.flaky,
            quarantined: record.quarantined,
            leaky: record.leaky,
            duration_ms: record.duration_ms,
            message: borrowed(&record.message),
            attempts,
        }
    }
}

impl<'a> Test<'a, Vec<Attempt<'a>>> {
    /// The record layout 1 would have written, its batched attempts'
    /// process taken from `processes`.
    fn into_record(self, processes: &Processes) -> Result<TestRecord, String> {
        let attempts = (self.attempts.into_iter())
            .map(|attempt| attempt.into_record(&self.source, &self.id, processes))
            .collect::<Result<_, _>>()?;
        let id = self.id.into_owned();
        Ok(TestRecord {
            source: self.source.into(),
            name: self.name.map_or_else(|| id.clone(), Cow::into_owned),
            id,
            qualified_name: self.qualified_name.map(Cow::into_owned),
            kind: self.kind,
            skipped_by_rule: false,
            outcome: self.outcome,
            flaky: self.flaky,
            quarantined: self.quarantined,
            leaky: self.leaky,
            duration_ms: self.duration_ms,
            message: self.message.map(Box::from),
            attempts,
        })
    }
}

impl<'a> Attempt<'a> {
    /// `record` as layout 2 writes it.
    pub fn of(record: &'a AttemptRecord) -> Self {
        let alone = record.process.is_none();
        Attempt {
            attempt: record.attempt,
            outcome: record.outcome,
            process: record.process.as_deref().map(Cow::Borrowed),
            ran: alone.then(|| Ran::of(record)),
            duration_ms: record.duration_ms,
            message: borrowed(&record.message),
            stack_trace: borrowed(&record.stack_trace),
            dir: (alone || record.outcome != Outcome::Passed).then_some(Cow::Borrowed(&record.dir)),
            output: borrowed(&record.output),
            subtests: Cow::Borrowed(&record.subtests),
            leak: borrowed(&record.leak),
        }
    }

    fn into_record(
        self,
        source: &str,
        test: &str,
        processes: &Processes,
    ) -> Result<AttemptRecord, String> {
        let ran = match (&self.process, self.ran) {
            (Some(name), _) => processes
                .get(&(source, name.as_ref()))
                .cloned()
                .ok_or_else(|| {
                    format!("test {test} of {source} names process {name}, which processes[] lacks")
                })?,
            (None, Some(ran)) => Shared::of(None, &ran),
            (None, None) => {
                return Err(format!(
                    "test {test} of {source}: an attempt without a start"
                ));
            }
        };
        Ok(AttemptRecord {
            attempt: self.attempt,
            outcome: self.outcome,
            started_at: ran.started_at,
            duration_ms: self.duration_ms,
            message: self.message.map(Box::from),
            stack_trace: self.stack_trace.map(Box::from),
            pid: ran.pid,
            exit_code: ran.exit_code,
            signal: ran.signal,
            dir: (self.dir.map(Cow::into_owned))
                .unwrap_or_else(|| attempt_path(source, test, self.attempt)),
            stdout: ran.stdout,
            stderr: ran.stderr,
            output: self.output.map(Box::from),
            subtests: self.subtests.into_owned().into(),
            leak: self.leak.map(Box::from),
            process: ran.name,
        })
    }
}

impl<'a> Ran<'a> {
    /// How the process of `record` ran.
    fn of(record: &'a AttemptRecord) -> Self {
        Ran {
            started_at: Cow::Borrowed(&record.started_at),
            pid: record.pid,
            exit_code: record.exit_code,
            signal: record.signal,
            stdout: record.stdout.as_deref().map(Cow::Borrowed),
            stderr: record.stderr.as_deref().map(Cow::Borrowed),
        }
    }
}

/// The batch processes written so far, by source and name: each is written
/// once, with the first of its tests' attempts (the summary's
/// `processes[]`, the journal's `process_finished`).
#[derive(Debug, Default)]
pub struct ProcessesWritten(HashMap<String, HashSet<Arc<str>>>);

impl ProcessesWritten {
    /// The process of `record`, an attempt of a test of `source`, when it
    /// ran in a batch whose process is not written yet.
    pub fn first<'a>(&mut self, source: &'a str, record: &'a AttemptRecord) -> Option<Process<'a>> {
        let name = record.process.as_ref()?;
        if self.0.get(source).is_some_and(|names| names.contains(name)) {
            return None;
        }
        (self.0.entry(source.to_owned()).or_default()).insert(name.clone());
        Some(Process {
            source: Cow::Borrowed(source),
            name: Cow::Borrowed(name),
            ran: Ran::of(record),
        })
    }
}

impl<'a> Summary<'a, Written<'a, TestRecord>> {
    /// `summary` as layout 2 writes it.
    pub fn of(summary: &'a RunSummary) -> Self {
        let mut written = ProcessesWritten::default();
        let processes = (summary.tests.iter())
            .flat_map(|test| test.attempts.iter().map(move |a| (&*test.source, a)))
            .filter_map(|(source, attempt)| written.first(source, attempt))
            .collect();
        Summary {
            run: Cow::Borrowed(&summary.run),
            processes,
            tests: Written(&summary.tests),
        }
    }
}

/// How a process ran, read back as its attempts' records hold it: a
/// batch's texts once, shared by all its tests' attempts.
#[derive(Clone)]
struct Shared {
    /// The batch process's name; none for an attempt that ran alone.
    name: Option<Arc<str>>,
    started_at: Arc<str>,
    pid: Option<u32>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    stdout: Option<Arc<str>>,
    stderr: Option<Arc<str>>,
}

impl Shared {
    fn of(name: Option<&str>, ran: &Ran) -> Self {
        Shared {
            name: name.map(Into::into),
            started_at: ran.started_at.as_ref().into(),
            pid: ran.pid,
            exit_code: ran.exit_code,
            signal: ran.signal,
            stdout: ran.stdout.as_deref().map(Into::into),
            stderr: ran.stderr.as_deref().map(Into::into),
        }
    }
}

type Processes<'p> = HashMap<(&'p str, &'p str), Shared>;

/// A summary of either layout, as records. One of layout 2 is given back
/// as layout 1 would have written it: its processes' parts in each of
/// their attempts, a name equal to the id, every attempt's directory.
pub fn read_summary(bytes: &[u8]) -> Result<RunSummary, String> {
    #[derive(Deserialize)]
    struct Version {
        layout_version: u32,
    }
    let version: Version = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match Layout::try_from(version.layout_version)? {
        Layout::V1 => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Layout::V2 => {
            let summary: Summary = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let processes: Processes = (summary.processes.iter())
                .map(|p| {
                    (
                        (p.source.as_ref(), p.name.as_ref()),
                        Shared::of(Some(&p.name), &p.ran),
                    )
                })
                .collect();
            let tests = (summary.tests.into_iter())
                .map(|test| test.into_record(&processes))
                .collect::<Result<_, _>>()?;
            Ok(RunSummary {
                run: summary.run.into_owned(),
                tests,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixture;

    /// A test of a batch process `process` of `source`, its attempts as
    /// the engine records them: the process's start, pid, exit and logs.
    fn batched(source: &str, id: &str, process: &str, outcome: Outcome) -> TestRecord {
        let mut test = fixture::test(source, id, &[outcome]);
        let logs = format!("sources/{source}/processes/{process}");
        for attempt in &mut test.attempts {
            attempt.dir = attempt_path(source, id, attempt.attempt);
            attempt.process = Some(process.into());
            attempt.stdout = Some(format!("{logs}/stdout.log").into());
            attempt.stderr = Some(format!("{logs}/stderr.log").into());
            attempt.pid = Some(7);
            attempt.exit_code = Some(1);
        }
        test
    }

    /// A run with tests alone and in two batch processes of two sources,
    /// passing, failing, retried, named apart from their ids.
    fn summary() -> RunSummary {
        let mut renamed = batched("py", "t.py::test_b", "attempt-1-1", Outcome::Passed);
        renamed.name = "test_b".into();
        renamed.qualified_name = Some("t.test_b".into());
        let mut summary = fixture::summary(
            vec![
                fixture::test("unit", "alone", &[Outcome::Failed, Outcome::Passed]),
                batched("py", "t.py::test_a", "attempt-1-1", Outcome::Failed),
                renamed,
                batched("py", "t.py::test_c", "attempt-2-2", Outcome::Passed),
                batched("gt", "Suite.Test", "attempt-1-1", Outcome::Passed),
            ],
            None,
        );
        summary.run.layout_version = 2;
        summary
    }

    fn written(summary: &RunSummary) -> Vec<u8> {
        serde_json::to_vec(&Summary::of(summary)).unwrap()
    }

    /// The records as layout 1 writes them: what reading must give back.
    fn as_layout1(summary: &RunSummary) -> serde_json::Value {
        serde_json::to_value(summary).unwrap()
    }

    #[test]
    fn a_summary_read_back_holds_the_records_layout_1_would_have_written() {
        let summary = summary();
        let read = read_summary(&written(&summary)).unwrap();
        assert_eq!(as_layout1(&read), as_layout1(&summary));
        let processes = |s: &RunSummary| -> Vec<Option<Arc<str>>> {
            (s.tests.iter().flat_map(|t| &t.attempts))
                .map(|a| a.process.clone())
                .collect()
        };
        assert_eq!(processes(&read), processes(&summary));
    }

    #[test]
    fn a_batch_process_is_written_once_for_its_tests_and_named_by_source_and_name() {
        let value: serde_json::Value = serde_json::from_slice(&written(&summary())).unwrap();
        let processes: Vec<(&str, &str)> = (value["processes"].as_array().unwrap().iter())
            .map(|p| (p["source"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            processes,
            [
                ("py", "attempt-1-1"),
                ("py", "attempt-2-2"),
                ("gt", "attempt-1-1")
            ]
        );
        let attempt = &value["tests"][2]["attempts"][0];
        let written: Vec<&str> = attempt
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // A passing test of a batch: its process is named, and nothing is
        // null (the keys in JSON's order).
        assert_eq!(written, ["attempt", "duration_ms", "outcome", "process"]);
    }

    #[test]
    fn what_layout_1_writes_as_null_false_or_the_id_is_left_out() {
        let value: serde_json::Value = serde_json::from_slice(&written(&summary())).unwrap();
        let passing = value["tests"][4].as_object().unwrap();
        let keys: Vec<&str> = passing.keys().map(String::as_str).collect();
        assert_eq!(keys, ["attempts", "duration_ms", "id", "outcome", "source"]);
        let renamed = &value["tests"][2];
        assert_eq!(
            (renamed["name"].as_str(), renamed["qualified_name"].as_str()),
            (Some("test_b"), Some("t.test_b"))
        );
        // A test that ran alone keeps its process's part, and its directory.
        let alone = &value["tests"][0]["attempts"][0];
        assert!(
            alone["pid"].is_u64() && alone["dir"].is_string() && alone["started_at"].is_string()
        );
        // A failing test of a batch has a directory of its own.
        assert!(value["tests"][1]["attempts"][0]["dir"].is_string());
    }

    #[test]
    fn an_attempt_naming_a_process_the_summary_lacks_is_refused() {
        let mut value: serde_json::Value = serde_json::from_slice(&written(&summary())).unwrap();
        value["processes"].as_array_mut().unwrap().remove(1);
        let error = read_summary(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(
            error.contains("t.py::test_c of py names process attempt-2-2"),
            "{error}"
        );
    }

    #[test]
    fn a_layout_this_host_does_not_know_is_refused_by_its_number() {
        let mut value: serde_json::Value = serde_json::from_slice(&written(&summary())).unwrap();
        value["layout_version"] = 3.into();
        let error = read_summary(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(error.contains("results layout 3"), "{error}");
    }

    #[test]
    fn a_layout_1_summary_is_read_as_written() {
        let mut summary = summary();
        summary.run.layout_version = 1;
        let text = serde_json::to_vec(&summary).unwrap();
        assert_eq!(
            as_layout1(&read_summary(&text).unwrap()),
            as_layout1(&summary)
        );
    }
}
