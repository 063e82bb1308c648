//! A proctor runner for pytest suites.
//!
//! A source is a directory or a test file. A small pytest plugin of ours
//! (`proctor_pytest.py`, written to a temporary directory and put on
//! `PYTHONPATH`) reports every collected item with its markers, and each
//! test's start and end as it happens, on the original stderr. It appends
//! each test's result, with the failure's details and captured output, to a
//! file in the attempt's directory as the test ends: what ran before a crash
//! stays, and it costs far less than pytest's JUnit writer (see
//! BENCHMARKS.md). Node ids are relative to the root directory, which is the
//! source directory (or the test file's) unless set.
//!
//! When the host runs the whole source, collection happens in the test
//! process itself, which saves a separate `pytest --collect-only` run:
//! discovery answers one expanding case, whose process collects the suite
//! once and forks a worker for each of the host's jobs, each running a
//! share of the items (or, with `"fork": false`, one expanding case per
//! process, each collecting the suite and running its share). Otherwise
//! discovery runs `--collect-only`, and execution runs batches of node ids
//! (a file when all its tests are wanted).

mod names;

#[cfg(test)]
mod fuzz;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proctor_sdk::messages::*;
use proctor_sdk::{export_plugins, Error, Result, ResultSink, Runner};
use serde::Deserialize;

const PLUGIN_MODULE: &str = "proctor_pytest";
const PLUGIN_SOURCE: &str = include_str!("proctor_pytest.py");
const EVENT_PREFIX: &str = "##proctor ";
const RESULTS_FILE: &str = "pytest-results.jsonl";
/// The node ids a process is to run, when they cannot go on its command line.
const SELECTION_FILE: &str = "pytest-selection.txt";

/// Settings block of the `pytest` runner.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The Python interpreter that has pytest installed.
    python: String,
    /// Extra arguments for every pytest invocation, e.g. `["-p", "no:randomly"]`.
    args: Vec<String>,
    /// The root directory node ids are relative to.
    rootdir: Option<PathBuf>,
    /// Whether a whole source spread over several jobs runs in workers
    /// forked from one process once it has collected the suite (the
    /// default), or in processes that each collect it.
    fork: bool,
    /// Whether each pytest process ends with the interpreter's teardown,
    /// as plain pytest does, rather than after its exit functions (the
    /// default): the teardown frees what the process's end frees anyway.
    teardown: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            python: "python3".to_owned(),
            args: Vec::new(),
            rootdir: None,
            fork: true,
            teardown: false,
        }
    }
}

pub struct PytestRunner {
    settings: Settings,
}

/// One line of our pytest plugin's output: its kind and every kind's
/// fields. Read as a struct, not as serde's internally tagged enum, which
/// buffers each line whole before reading it again (the costliest step of
/// reading a test's events).
#[derive(Debug, Deserialize)]
struct PluginEvent {
    event: PluginEventKind,
    id: String,
    /// Collected: its markers, its skip reason when it will not run.
    #[serde(default)]
    markers: Vec<String>,
    #[serde(default)]
    skip: Option<String>,
    /// Collected: how many tests its file holds: a batch with all of them
    /// names the file.
    file_tests: Option<usize>,
    /// Collected: the node id had text that is not Unicode, escaped: it can
    /// only be selected through a file of node ids.
    #[serde(default)]
    escaped: bool,
    /// Collected, on a share's first item: how many tests the shares were
    /// cut from.
    share_of: Option<u64>,
    /// Finished: how, and why when it did not pass.
    outcome: Option<Outcome>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PluginEventKind {
    Collected,
    Started,
    Finished,
}

impl PluginEvent {
    /// The event for the host, at the index of its line.
    fn into_live(self, index: usize) -> serde_json::Result<LiveEvent> {
        let line = Some(index);
        let missing = <serde_json::Error as serde::de::Error>::missing_field;
        Ok(match self.event {
            PluginEventKind::Started => LiveEvent::Started { id: self.id, line },
            PluginEventKind::Finished => LiveEvent::Finished {
                id: self.id,
                outcome: self.outcome.ok_or_else(|| missing("outcome"))?,
                message: self.message,
                line,
            },
            PluginEventKind::Collected => {
                let file_tests = self.file_tests.ok_or_else(|| missing("file_tests"))?;
                let test =
                    collected_test(self.id, self.markers, self.skip, file_tests, self.escaped);
                LiveEvent::Discovered {
                    test,
                    line,
                    share_of: self.share_of,
                }
            }
        })
    }
}

/// One line of the results file our plugin appends to: a test's result,
/// or a file pytest could not collect (`collect_error`, with `details`).
/// One struct reads both: serde reads an untagged enum by buffering each
/// line, then trying each shape in turn.
#[derive(Debug, Deserialize)]
struct ResultLine {
    id: Option<String>,
    outcome: Option<Outcome>,
    /// Seconds, over setup, call and teardown.
    duration: Option<f64>,
    message: Option<String>,
    details: Option<String>,
    output: Option<String>,
    #[serde(default)]
    subtests: Vec<SubtestResult>,
    /// The runs a plugin repeated before this one (pytest-rerunfailures).
    #[serde(default)]
    earlier_runs: Vec<RunLine>,
    collect_error: Option<String>,
}

/// A run of a test that a plugin repeated, as the results file tells it.
#[derive(Debug, Deserialize)]
struct RunLine {
    outcome: Outcome,
    /// Seconds, over setup, call and teardown.
    duration: f64,
    message: Option<String>,
    details: Option<String>,
}

impl From<RunLine> for EarlierRun {
    fn from(run: RunLine) -> Self {
        EarlierRun {
            outcome: run.outcome,
            duration_ms: Some(milliseconds(run.duration)),
            message: run.message,
            stack_trace: run.details,
        }
    }
}

fn milliseconds(seconds: f64) -> u64 {
    (seconds * 1000.0).round() as u64
}

/// A collected item as a test case. Its runner data is how many tests its
/// file holds, as a bare number, and only for an item whose node id had
/// to be escaped an object saying so too: the host holds every collected
/// case while its batch runs, and an object is a map of eleven slots
/// (600 bytes a test).
fn collected_test(
    id: String,
    markers: Vec<String>,
    skip: Option<String>,
    file_tests: usize,
    escaped: bool,
) -> TestCase {
    let runner_data = match escaped {
        false => file_tests.into(),
        true => serde_json::json!({ "file_tests": file_tests, "escaped": true }),
    };
    TestCase {
        qualified_name: Some(names::qualified_name(&id)),
        attributes: BTreeMap::from([
            ("file".to_owned(), names::file_of(&id).to_owned()),
            ("markers".to_owned(), markers.join(",")),
        ]),
        skip,
        runner_data,
        ..TestCase::new(id)
    }
}

/// The most of a line quoted in an error.
const QUOTED: usize = 200;

/// `line`, cut to a length that fits an error message.
fn quote(line: &str) -> String {
    match line.char_indices().nth(QUOTED) {
        Some((end, _)) => format!("`{}`... ({} bytes)", &line[..end], line.len()),
        None => format!("`{line}`"),
    }
}

/// An expanding case that runs the `index`-th of `count` shares of the source.
fn share_case(index: u32, count: u32) -> TestCase {
    let id = if count == 1 {
        "(all tests)".to_owned()
    } else {
        format!("(tests, share {index} of {count})")
    };
    TestCase {
        expands: true,
        runner_data: serde_json::json!({ "share": format!("{index}/{count}") }),
        ..TestCase::new(id)
    }
}

/// The expanding case of a source whose process forks `count` workers.
fn workers_case(count: u32) -> TestCase {
    TestCase {
        expands: true,
        workers: Some(count),
        ..TestCase::new(format!("(all tests, {count} workers)"))
    }
}

/// Our plugin's events among `lines`, each with the index of its line. A
/// line that starts as ours and does not parse is an error: it may have
/// been a result.
fn live_events<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<LiveEvent>> {
    let mut events = Vec::new();
    for (index, text) in lines.enumerate() {
        // An event is one write, whole; but another process sharing the
        // stream (a crashing worker's traceback, written in pieces) may have
        // left a line unfinished before it.
        let json = match text.strip_prefix(EVENT_PREFIX) {
            Some(json) => json,
            None => match text.find(EVENT_PREFIX) {
                Some(at) => &text[at + EVENT_PREFIX.len()..],
                None => continue,
            },
        };
        let event = serde_json::from_str(json)
            .and_then(|event: PluginEvent| event.into_live(index))
            .map_err(|e| {
                Error::msg(format!(
                    "a line of the pytest plugin does not parse ({e}): {}",
                    quote(text)
                ))
            })?;
        events.push(event);
    }
    Ok(events)
}

/// The directory holding our pytest plugin, written once per process.
fn plugin_dir() -> Result<&'static Path> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "proctor-pytest-{}-{}",
            env!("CARGO_PKG_VERSION"),
            names::short_hash(PLUGIN_SOURCE)
        ));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let target = dir.join(format!("{PLUGIN_MODULE}.py"));
            if std::fs::read_to_string(&target).ok().as_deref() != Some(PLUGIN_SOURCE) {
                // Written beside and renamed, so a concurrent reader never sees half of it.
                let temporary = dir.join(format!(".{PLUGIN_MODULE}.{}.py", std::process::id()));
                std::fs::write(&temporary, PLUGIN_SOURCE)?;
                std::fs::rename(&temporary, &target)?;
            }
            Ok(())
        };
        write()
            .map(|()| dir.clone())
            .map_err(|e| format!("cannot write the pytest plugin to {}: {e}", dir.display()))
    });
    dir.as_deref().map_err(|e| Error::msg(e.clone()))
}

impl PytestRunner {
    fn rootdir(&self, source: &SourceInfo) -> PathBuf {
        source.directory(self.settings.rootdir.as_deref())
    }

    /// `python -m pytest` with our plugin, in the root directory.
    fn pytest(&self, source: &SourceInfo) -> Result<CommandSpec> {
        let root = self.rootdir(source);
        let mut python_path = plugin_dir()?.display().to_string();
        if let Ok(existing) = std::env::var("PYTHONPATH") {
            python_path = format!("{python_path}:{existing}");
        }
        let mut command = CommandSpec::new(&self.settings.python)
            .args([
                "-m",
                "pytest",
                "-p",
                PLUGIN_MODULE,
                "-p",
                "no:cacheprovider",
            ])
            .arg(format!("--rootdir={}", root.display()))
            .args(self.settings.args.iter().cloned())
            .cwd(root);
        command.env.insert("PYTHONPATH".into(), python_path);
        if self.settings.teardown {
            command
                .env
                .insert("PROCTOR_PYTEST_TEARDOWN".into(), "1".into());
        }
        Ok(command)
    }
}

impl Runner for PytestRunner {
    const NAME: &'static str = "pytest";
    const DESCRIPTION: &'static str = "pytest suites: a directory or a test file";
    const EXECUTION: &'static [ExecutionMode] = &[ExecutionMode::Batch, ExecutionMode::Isolated];
    const LIVE_EVENTS: bool = true;
    const LIVE_STREAMS: &'static [Stream] = &[Stream::Stderr];
    /// Our plugin's results file names every test it ran.
    const COLLECT_DISCOVERED: bool = false;
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self { settings })
    }

    fn discover(&self, request: DiscoverRequest) -> Result<DiscoveryStep> {
        if let Some(processes) = request
            .offer
            .filter(|offer| offer.expanding)
            .and_then(|offer| offer.whole_source)
        {
            let count = processes.max(1);
            let tests = match self.settings.fork && count > 1 {
                true => vec![workers_case(count)],
                false => (1..=count).map(|index| share_case(index, count)).collect(),
            };
            return Ok(DiscoveryStep::Done { tests });
        }
        let Some(output) = request.completed.first() else {
            let mut command = self
                .pytest(&request.source)?
                .args(["--collect-only", "-q"])
                .arg(request.source.path.display().to_string());
            command
                .env
                .insert("PROCTOR_PYTEST_COLLECT".into(), "1".into());
            return Ok(DiscoveryStep::Run {
                commands: vec![command],
            });
        };
        // 5: nothing collected, which is no error here.
        if !matches!(output.exit.code, Some(0 | 5)) {
            // pytest reports collection errors on stdout.
            return Err(Error::msg(
                output.failure(&[Stream::Stdout, Stream::Stderr]),
            ));
        }
        let tests = live_events(output.stderr.lines())?
            .into_iter()
            .filter_map(|event| match event {
                LiveEvent::Discovered { test, .. } => Some(test),
                _ => None,
            })
            .collect();
        Ok(DiscoveryStep::Done { tests })
    }

    fn plan_execution(&self, request: ExecutionRequest) -> Result<ExecutionPlan> {
        let mut command = self.pytest(&request.source)?;
        command.env.insert(
            "PROCTOR_PYTEST_RESULTS".into(),
            request
                .artifacts_dir
                .join(RESULTS_FILE)
                .display()
                .to_string(),
        );
        match request.tests.as_slice() {
            [case] if case.expands => {
                command = command.arg(request.source.path.display().to_string());
                command
                    .env
                    .insert("PROCTOR_PYTEST_COLLECT".into(), "1".into());
                if let Some(share) = case.runner_data["share"].as_str() {
                    command
                        .env
                        .insert("PROCTOR_PYTEST_SHARD".into(), share.into());
                }
                if let Some(workers) = case.workers {
                    command
                        .env
                        .insert("PROCTOR_PYTEST_WORKERS".into(), workers.to_string());
                }
            }
            tests => match selection_args(tests) {
                Some(args) => command = command.args(args),
                // The plugin selects them from a file.
                None => {
                    let list = request.artifacts_dir.join(SELECTION_FILE);
                    let ids: String = tests.iter().map(|t| format!("{}\n", t.id)).collect();
                    proctor_sdk::write_file(&list, ids)?;
                    command = command.arg(request.source.path.display().to_string());
                    command
                        .env
                        .insert("PROCTOR_PYTEST_SELECT".into(), list.display().to_string());
                }
            },
        }
        Ok(ExecutionPlan { command })
    }

    fn parse_output(&self, request: OutputRequest) -> Result<Vec<LiveEvent>> {
        if request.stream != Stream::Stderr {
            return Ok(Vec::new());
        }
        live_events(request.lines.iter().map(String::as_str))
    }

    fn collect_results(&self, request: CollectRequest) -> Result<Vec<TestResult>> {
        let mut results = Vec::new();
        self.stream_results(request, &mut results)?;
        Ok(results)
    }

    /// Reads the results file line by line, handing each result on as it
    /// is read: a batch of ten thousand results, gathered first, was the
    /// largest thing in the host's memory as the batch ended.
    fn stream_results(&self, request: CollectRequest, results: &mut dyn ResultSink) -> Result<()> {
        let path = request.artifacts_dir.join(RESULTS_FILE);
        let Ok(text) = proctor_sdk::read_text(&path) else {
            // Our plugin opens the file as pytest configures itself: a
            // process that exited without it never started pytest.
            if request.exit.code.is_some() && !request.timed_out {
                return Err(did_not_start(&request));
            }
            // One killed before its first test: live events tell the rest.
            return Ok(());
        };
        // A batch of node ids may run more than asked (arguments of the
        // configuration naming files): only the tests asked for are its own.
        let share = request.tests.iter().find(|t| t.expands);
        let asked: Option<std::collections::HashSet<&str>> = share
            .is_none()
            .then(|| request.tests.iter().map(|t| t.id.as_str()).collect());
        let mut collect_errors = Vec::new();
        let complete = text.ends_with('\n');
        let mut lines = text.lines().enumerate().peekable();
        while let Some((index, raw)) = lines.next() {
            let line: ResultLine = match serde_json::from_str(raw) {
                Ok(line) => line,
                // A process that died mid-write leaves its last line cut
                // short; that test's end is for the host to tell.
                Err(_) if lines.peek().is_none() && !complete && !request.exit.success() => {
                    continue
                }
                Err(e) => {
                    return Err(Error::msg(format!(
                        "{}, line {}, does not parse ({e}): {}",
                        path.display(),
                        index + 1,
                        quote(raw)
                    )))
                }
            };
            if let Some(collect_error) = line.collect_error {
                let details = line.details.unwrap_or_default();
                collect_errors.push(format!("{collect_error}: {details}"));
                continue;
            }
            let (Some(id), Some(outcome), Some(duration)) = (line.id, line.outcome, line.duration)
            else {
                return Err(Error::msg(format!(
                    "{}, line {}, is neither a test's result (id, outcome, duration) \
                     nor a collection error: {}",
                    path.display(),
                    index + 1,
                    quote(raw)
                )));
            };
            if asked
                .as_ref()
                .is_some_and(|asked| !asked.contains(id.as_str()))
            {
                continue;
            }
            results.push(TestResult {
                duration_ms: Some(milliseconds(duration)),
                message: line.message,
                stack_trace: line.details,
                // Empty when pytest captured nothing: the host then knows
                // the test printed nothing, and looks no further.
                output: line.output,
                subtests: line.subtests,
                earlier_runs: line
                    .earlier_runs
                    .into_iter()
                    .map(EarlierRun::from)
                    .collect(),
                ..TestResult::new(id, outcome)
            });
        }
        // A share whose collection failed says so through its own case: the
        // tests collected beside the errors did not run, and go to a fresh
        // process. How else a process failed is the host's to tell.
        if let Some(share) = share.filter(|_| !collect_errors.is_empty()) {
            results.push(TestResult {
                message: Some(format!("collection failed ({})", request.exit)),
                stack_trace: Some(collect_errors.join("\n\n")),
                ..TestResult::new(&share.id, Outcome::Failed)
            });
        }
        Ok(())
    }
}

/// Why pytest did not start, as the process said it.
fn did_not_start(request: &CollectRequest) -> Error {
    const TAIL: usize = 20;
    let stderr = proctor_sdk::read_output(&request.stderr_path).unwrap_or_default();
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    let said = lines[lines.len().saturating_sub(TAIL)..].join("\n");
    Error::msg(format!(
        "pytest did not start ({}){}{said}",
        request.exit,
        if said.is_empty() { "" } else { ":\n" }
    ))
}

fn is_escaped(test: &TestCase) -> bool {
    test.runner_data["escaped"] == true
}

/// How many tests the file of a collected `test` holds.
fn tests_in_file(test: &TestCase) -> Option<u64> {
    (test.runner_data.as_u64()).or_else(|| test.runner_data["file_tests"].as_u64())
}

/// More than this in node ids, a batch's tests are named in a file: Linux
/// refuses to start a command whose arguments and environment together
/// pass 2 MiB (`ARG_MAX`), which 50,000 node ids do.
const LONGEST_SELECTION: usize = 256 * 1024;

/// What to ask pytest for on its command line: a file when every test of it
/// is wanted (pytest resolves node ids one by one, which costs time on large
/// batches), else the node ids. Skipped tests are not in a batch, so a file
/// with one is named by its node ids and the skipped test stays out. `None`
/// when the tests cannot be named there: node ids with escaped text name no
/// file, and too many are more than a command line holds.
fn selection_args(tests: &[TestCase]) -> Option<Vec<String>> {
    if tests.iter().any(is_escaped) {
        return None;
    }
    // Files in the order their first test comes, each with its tests.
    let mut by_file: Vec<(&str, Vec<&TestCase>)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for test in tests {
        let file = names::file_of(&test.id);
        let at = *position.entry(file).or_insert_with(|| {
            by_file.push((file, Vec::new()));
            by_file.len() - 1
        });
        by_file[at].1.push(test);
    }
    let whole =
        |file_tests: &[&TestCase]| tests_in_file(file_tests[0]) == Some(file_tests.len() as u64);
    let args: Vec<String> = (by_file.into_iter())
        .flat_map(|(file, file_tests)| {
            if whole(&file_tests) {
                vec![file.to_owned()]
            } else {
                file_tests.iter().map(|t| t.id.clone()).collect()
            }
        })
        .collect();
    let length: usize = args.iter().map(|arg| arg.len() + 1).sum();
    (length <= LONGEST_SELECTION).then_some(args)
}

export_plugins!(runner PytestRunner);

#[cfg(test)]
mod tests {
    use super::*;

    fn collected(id: &str, file_tests: usize, escaped: bool) -> TestCase {
        collected_test(id.into(), Vec::new(), None, file_tests, escaped)
    }

    #[test]
    fn a_share_says_on_its_first_item_what_it_was_cut_from() {
        let lines = [
            r#"##proctor {"event": "collected", "id": "t.py::a", "markers": [], "skip": null, "file_tests": 2, "share_of": 5}"#,
            r#"##proctor {"event": "collected", "id": "t.py::b", "markers": [], "skip": null, "file_tests": 2}"#,
        ];
        let wholes: Vec<Option<u64>> = (live_events(lines.into_iter()).unwrap().into_iter())
            .map(|event| match event {
                LiveEvent::Discovered { share_of, .. } => share_of,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(wholes, [Some(5), None]);
    }

    #[test]
    fn an_event_after_another_workers_unfinished_line_still_counts() {
        let lines = [
            r#"  File "runner.py", line ##proctor {"event": "started", "id": "t.py::c"}"#,
            "184 in pytest_runtest_call",
        ];
        let events = live_events(lines.into_iter()).unwrap();
        assert!(
            matches!(&events[..], [LiveEvent::Started { id, line: Some(0) }] if id == "t.py::c"),
            "{events:?}"
        );
    }

    #[test]
    fn a_whole_source_over_several_jobs_is_one_case_of_workers_unless_forking_is_off() {
        let offer = |fork: bool| {
            let runner = PytestRunner {
                settings: Settings {
                    fork,
                    ..Settings::default()
                },
            };
            let request = DiscoverRequest {
                source: SourceInfo {
                    name: "py".into(),
                    path: "tests".into(),
                    base_dir: ".".into(),
                },
                completed: Vec::new(),
                offer: Some(DiscoveryOffer {
                    expanding: true,
                    whole_source: Some(3),
                }),
            };
            match runner.discover(request).unwrap() {
                DiscoveryStep::Done { tests } => tests,
                other => panic!("{other:?}"),
            }
        };
        let forked = offer(true);
        assert_eq!(forked.len(), 1);
        assert!(forked[0].expands);
        assert_eq!(forked[0].workers, Some(3));
        let shares = offer(false);
        assert_eq!(shares.len(), 3);
        assert!(shares
            .iter()
            .all(|case| case.expands && case.workers.is_none()));
    }

    #[test]
    fn a_batch_of_a_whole_file_names_the_file_and_a_part_names_its_tests() {
        let whole = [
            collected("t.py::a", 2, false),
            collected("t.py::b", 2, false),
        ];
        assert_eq!(selection_args(&whole).unwrap(), ["t.py"]);
        let part = [
            collected("u.py::a", 3, false),
            collected("u.py::b", 3, false),
        ];
        assert_eq!(selection_args(&part).unwrap(), ["u.py::a", "u.py::b"]);
        // Files keep the order of their first tests.
        let mixed = [
            collected("w.py::a", 3, false),
            collected("t.py::a", 2, false),
            collected("w.py::b", 3, false),
            collected("t.py::b", 2, false),
        ];
        assert_eq!(
            selection_args(&mixed).unwrap(),
            ["w.py::a", "w.py::b", "t.py"]
        );
        // An escaped id keeps its count beside the mark, and names no file.
        let escaped = collected("v.py::\\udcff", 1, true);
        assert!(is_escaped(&escaped));
        assert_eq!(tests_in_file(&escaped), Some(1));
        assert!(!is_escaped(&whole[0]));
        assert_eq!(selection_args(&[escaped]), None);
    }

    #[test]
    fn node_ids_too_many_for_a_command_line_are_not_put_on_one() {
        let many: Vec<TestCase> = (0..20_000)
            .map(|i| {
                collected(
                    &format!("tests/test_many.py::test_value[{i}]"),
                    100_000,
                    false,
                )
            })
            .collect();
        assert_eq!(
            selection_args(&many[..1_000]).map(|args| args.len()),
            Some(1_000)
        );
        assert_eq!(selection_args(&many), None);
    }

    /// What `collect_results` makes of `lines`, written as a share's
    /// results file, its process having ended with `code`.
    fn results_of(lines: &str, code: i32) -> Result<Vec<TestResult>> {
        let share = TestCase {
            expands: true,
            ..TestCase::new("(all tests)")
        };
        let exit = ProcessExit {
            code: Some(code),
            signal: None,
        };
        results_for(lines, vec![share], exit)
    }

    /// What the runner reads of a results file holding `lines`, for a
    /// process of `tests` that ended with `exit`.
    fn results_for(
        lines: &str,
        tests: Vec<TestCase>,
        exit: ProcessExit,
    ) -> Result<Vec<TestResult>> {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        std::fs::write(dir.join(RESULTS_FILE), lines).unwrap();
        let source = SourceInfo {
            name: "py".into(),
            path: dir.clone(),
            base_dir: dir.clone(),
        };
        let runner = PytestRunner::new(Settings::default()).unwrap();
        runner.collect_results(CollectRequest {
            source,
            tests,
            attempt: 1,
            exit,
            timed_out: false,
            duration_ms: 10,
            stdout_path: dir.join("stdout.log"),
            stderr_path: dir.join("stderr.log"),
            artifacts_dir: dir.clone(),
        })
    }

    #[test]
    fn the_results_file_gives_each_test_and_a_collection_error_fails_the_share() {
        let lines = concat!(
            r#"{"id": "t.py::a", "outcome": "passed", "duration": 0.0125}"#,
            "\n",
            r#"{"id": "t.py::b", "outcome": "failed", "duration": 1.5, "message": "boom", "details": "t.py:3: boom", "output": ""}"#,
            "\n",
            r#"{"collect_error": "u.py", "details": "SyntaxError"}"#,
            "\n",
            // Cut short by a process that died writing it.
            r#"{"id": "t.py::c", "outco"#,
        );
        let results = results_of(lines, 1).unwrap();
        let summary: Vec<_> = (results.iter())
            .map(|r| (r.id.as_str(), r.outcome, r.duration_ms))
            .collect();
        assert_eq!(
            summary,
            [
                ("t.py::a", Outcome::Passed, Some(13)),
                ("t.py::b", Outcome::Failed, Some(1500)),
                ("(all tests)", Outcome::Failed, None),
            ]
        );
        assert_eq!(results[1].message.as_deref(), Some("boom"));
        assert_eq!(results[1].stack_trace.as_deref(), Some("t.py:3: boom"));
        // Pytest captured nothing: the host is told so, and looks no further.
        assert_eq!(results[1].output.as_deref(), Some(""));
        assert_eq!(results[2].stack_trace.as_deref(), Some("u.py: SyntaxError"));
    }

    #[test]
    fn results_are_read_line_by_line_and_only_the_tests_asked_for_kept() {
        let lines = concat!(
            r#"{"id": "t.py::a", "outcome": "passed", "duration": 0.002}"#,
            "\n",
            r#"{"id": "t.py::other", "outcome": "passed", "duration": 0.001}"#,
            "\n",
            r#"{"id": "t.py::b", "outcome": "failed", "duration": 0.5, "message": "assert 1 == 2", "details": "t.py:3"}"#,
            "\n",
        );
        // A batch named by its tests: pytest may run more than those.
        let asked = vec![TestCase::new("t.py::a"), TestCase::new("t.py::b")];
        let failed = ProcessExit {
            code: Some(1),
            signal: None,
        };
        let results = results_for(lines, asked, failed).unwrap();
        let read: Vec<_> = (results.iter())
            .map(|r| (&r.id[..], r.outcome, r.duration_ms, r.message.as_deref()))
            .collect();
        assert_eq!(
            read,
            [
                ("t.py::a", Outcome::Passed, Some(2), None),
                ("t.py::b", Outcome::Failed, Some(500), Some("assert 1 == 2")),
            ]
        );
    }

    #[test]
    fn a_last_line_cut_short_by_a_death_is_left_out_and_anywhere_else_it_fails() {
        let whole = r#"{"id": "t.py::a", "outcome": "passed", "duration": 0.1}"#;
        let cut = r#"{"id": "t.py::b", "outc"#;
        let asked = || vec![TestCase::new("t.py::a"), TestCase::new("t.py::b")];
        let killed = ProcessExit {
            code: None,
            signal: Some(9),
        };
        let results = results_for(&format!("{whole}\n{cut}"), asked(), killed).unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].id, "t.py::a");
        // Cut short in the middle, or by a process that exited cleanly:
        // the file is not what our plugin writes.
        let error = results_for(&format!("{cut}\n{whole}\n"), asked(), killed).unwrap_err();
        assert!(
            error.message().contains("line 1, does not parse"),
            "{}",
            error.message()
        );
        let clean = ProcessExit {
            code: Some(0),
            signal: None,
        };
        let error = results_for(&format!("{whole}\n{cut}"), asked(), clean).unwrap_err();
        assert!(
            error.message().contains("line 2, does not parse"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn a_line_that_is_no_result_is_an_error_naming_it() {
        let error = results_of("{\"id\": \"t.py::a\", \"outcome\": \"passed\"}\n", 0)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 1, is neither a test's result"),
            "{error}"
        );
        let error = results_of("not json\n", 0).unwrap_err().to_string();
        assert!(error.contains("line 1, does not parse"), "{error}");
    }
}
