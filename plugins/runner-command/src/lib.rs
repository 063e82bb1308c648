//! A proctor runner for any command that leaves test results as JUnit XML
//! or TRX files: Jest, `go test` through gotestsum, Maven Surefire,
//! `node --test`, a GoogleTest binary, ...
//!
//! Its tests are known only once the command ran, so discovery answers one
//! expanding case: the command. The tests its results files name take that
//! case's place. With a `filter` template, failed tests (and tests a crash
//! kept from running) run again through the command's own test filter;
//! without one, the whole command runs again and only the results of the
//! tests asked for are kept.

mod template;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use proctor_formats::CaseResult;
use proctor_sdk::messages::*;
use proctor_sdk::{export_plugins, Error, Result, Runner};
use serde::Deserialize;

use template::{fill, FilterTemplate, TestValues};

/// The id of the case that stands for the whole command.
const COMMAND_CASE: &str = "(command)";
/// The argument that marks where the filter's arguments go.
const FILTER_PLACEHOLDER: &str = "{filter}";
/// Where results go unless `results` says otherwise.
const DEFAULT_RESULTS: [&str; 2] = ["{results_dir}/**/*.xml", "{results_dir}/**/*.trx"];

/// Settings block of the `command` runner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The program and its arguments. `{results_dir}` becomes a fresh
    /// directory for this attempt (also in `PROCTOR_RESULTS_DIR`), `{source}`
    /// the source's path. An argument `{filter}` marks where the filter's
    /// arguments go (they are appended otherwise); the whole command runs
    /// without it.
    command: Vec<String>,
    /// Globs of the results files to read, relative to the working
    /// directory, placeholders as in `command`. Files last written more than
    /// a second before the process started are from an earlier run: ignored.
    #[serde(default)]
    results: Vec<String>,
    /// The working directory, relative to the configuration. Default: the
    /// source's path if it is a directory, else the directory holding it.
    #[serde(default)]
    cwd: Option<PathBuf>,
    /// How a test's id is made from `{suite}`, `{classname}` and `{name}`;
    /// an empty value drops the separator after it. Default:
    /// `{classname}.{name}`.
    #[serde(default)]
    id: Option<String>,
    /// How the command runs chosen tests; see [`FilterTemplate`].
    #[serde(default)]
    filter: Option<FilterTemplate>,
}

/// How much older than the process a results file may look and still count.
const MTIME_SLACK: Duration = Duration::from_secs(1);

pub struct CommandRunner {
    settings: Settings,
    /// When each process was planned, by its results directory: results
    /// files older than that are left from an earlier run.
    planned: Mutex<HashMap<PathBuf, SystemTime>>,
}

impl CommandRunner {
    fn cwd(&self, source: &SourceInfo) -> PathBuf {
        source.directory(self.settings.cwd.as_deref())
    }

    /// The globs of the results files of one process, filled in.
    fn result_globs(&self, placeholders: &Placeholders) -> Vec<String> {
        let globs: Vec<&str> = if self.settings.results.is_empty() {
            DEFAULT_RESULTS.to_vec()
        } else {
            self.settings.results.iter().map(String::as_str).collect()
        };
        globs.into_iter().map(|g| placeholders.fill(g)).collect()
    }

    /// The results files the process left, found by `globs`.
    fn results_files(&self, request: &CollectRequest, globs: &[String]) -> Result<Vec<PathBuf>> {
        let planned = self
            .planned
            .lock()
            .expect("never poisoned: no panic holds it")
            .remove(&request.artifacts_dir)
            .unwrap_or_else(|| SystemTime::now() - Duration::from_millis(request.duration_ms));
        // File times come from a coarser clock than `SystemTime::now` (a
        // kernel tick behind, or whole seconds on some file systems): a file
        // written just after the plan can carry an earlier time.
        let since = planned - MTIME_SLACK;
        let cwd = self.cwd(&request.source);
        let mut files = Vec::new();
        for pattern in globs {
            let pattern = cwd.join(pattern);
            let matches = glob::glob(&pattern.to_string_lossy())
                .map_err(|e| Error::msg(format!("results glob `{}`: {e}", pattern.display())))?;
            for path in matches.flatten() {
                let fresh = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified >= since);
                if fresh && path.is_file() && !files.contains(&path) {
                    files.push(path);
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// A test's id from what its results file says.
    fn test_id(&self, case: &CaseResult) -> String {
        match &self.settings.id {
            Some(template) => fill_id(
                template,
                &[
                    ("suite", &case.suite),
                    ("classname", &case.classname),
                    ("name", &case.name),
                ],
            ),
            None => case.qualified_name(),
        }
    }
}

/// The values of `{results_dir}` and `{source}` for one process.
struct Placeholders {
    results_dir: String,
    source: String,
}

impl Placeholders {
    fn new(artifacts_dir: &Path, source: &SourceInfo) -> Self {
        Self {
            results_dir: artifacts_dir.display().to_string(),
            source: source.path.display().to_string(),
        }
    }

    fn fill(&self, template: &str) -> String {
        fill(
            template,
            &[("results_dir", &self.results_dir), ("source", &self.source)],
        )
    }
}

/// Fills an id template; an empty value takes the separator after it
/// (the characters up to the next word or placeholder) along.
fn fill_id(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (key, value) in values {
        let placeholder = format!("{{{key}}}");
        if value.is_empty() {
            while let Some(at) = text.find(&placeholder) {
                let end = at + placeholder.len();
                let separator: usize = text[end..]
                    .chars()
                    .take_while(|c| !c.is_alphanumeric() && *c != '{')
                    .map(char::len_utf8)
                    .sum();
                text.replace_range(at..end + separator, "");
            }
        } else {
            text = text.replace(&placeholder, value);
        }
    }
    text
}

/// What a results file says of one test, as a result and a test case.
fn test_result(id: String, case: CaseResult) -> TestResult {
    let values = TestValues::from([
        ("id".to_owned(), id.clone()),
        ("suite".to_owned(), case.suite.clone()),
        ("classname".to_owned(), case.classname.clone()),
        ("name".to_owned(), case.name.clone()),
    ]);
    let test = TestCase {
        name: case.name.clone(),
        qualified_name: Some(case.qualified_name()),
        attributes: BTreeMap::from([
            ("suite".to_owned(), case.suite.clone()),
            ("classname".to_owned(), case.classname.clone()),
        ]),
        runner_data: serde_json::to_value(&values).expect("strings serialize"),
        ..TestCase::new(&id)
    };
    TestResult {
        test: Some(test),
        ..case.into_test_result(id)
    }
}

impl Runner for CommandRunner {
    const NAME: &'static str = "command";
    const DESCRIPTION: &'static str =
        "any command that leaves JUnit XML or TRX files; failed tests run again through a filter template";
    const EXECUTION: &'static [ExecutionMode] = &[ExecutionMode::Batch, ExecutionMode::Isolated];
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        if settings.command.is_empty() {
            return Err(Error::invalid_settings(
                "command: empty; give the program and its arguments",
            ));
        }
        if let Some(filter) = &settings.filter {
            filter.check().map_err(Error::invalid_settings)?;
        }
        Ok(Self {
            settings,
            planned: Mutex::new(HashMap::new()),
        })
    }

    fn discover(&self, request: DiscoverRequest) -> Result<DiscoveryStep> {
        if !request.offer.is_some_and(|offer| offer.expanding) {
            return Err(Error::msg(
                "the command runner learns its tests by running the command, which needs a host \
                 on plugin-api 1.3 or newer",
            ));
        }
        let case = TestCase {
            name: self.settings.command.join(" "),
            expands: true,
            ..TestCase::new(COMMAND_CASE)
        };
        Ok(DiscoveryStep::Done { tests: vec![case] })
    }

    fn plan_execution(&self, request: ExecutionRequest) -> Result<ExecutionPlan> {
        let placeholders = Placeholders::new(&request.artifacts_dir, &request.source);
        let [program, args @ ..] = self.settings.command.as_slice() else {
            unreachable!("`new` refuses an empty command");
        };
        let whole = matches!(request.tests.as_slice(), [case] if case.expands);
        let filter_args = match (whole, &self.settings.filter) {
            (false, Some(filter)) => {
                let tests: Vec<TestValues> = request
                    .tests
                    .iter()
                    .map(|t| serde_json::from_value(t.runner_data.clone()).unwrap_or_default())
                    .collect();
                filter.args(&tests.iter().collect::<Vec<_>>())
            }
            _ => Vec::new(),
        };
        let mut command =
            CommandSpec::new(placeholders.fill(program)).cwd(self.cwd(&request.source));
        let mut filter_args = Some(filter_args);
        for arg in args {
            if arg == FILTER_PLACEHOLDER {
                command = command.args(filter_args.take().unwrap_or_default());
            } else {
                command = command.arg(placeholders.fill(arg));
            }
        }
        command = command.args(filter_args.unwrap_or_default());
        command
            .env
            .insert("PROCTOR_RESULTS_DIR".into(), placeholders.results_dir);
        self.planned
            .lock()
            .expect("never poisoned: no panic holds it")
            .insert(request.artifacts_dir, SystemTime::now());
        Ok(ExecutionPlan { command })
    }

    fn collect_results(&self, request: CollectRequest) -> Result<Vec<TestResult>> {
        let globs = self.result_globs(&Placeholders::new(&request.artifacts_dir, &request.source));
        let mut results = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let files = self.results_files(&request, &globs)?;
        for path in &files {
            let text = proctor_sdk::read_text(path)
                .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
            let cases = proctor_formats::read_results(&text)
                .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
            for case in cases {
                let mut id = self.test_id(&case);
                // Two results of one name (a tool's own retry, a repeated
                // name) stay apart rather than one hiding the other.
                let count = seen.entry(id.clone()).or_default();
                *count += 1;
                if *count > 1 {
                    id = format!("{id} ({count})");
                }
                results.push(test_result(id, case));
            }
        }
        let Some(command) = request.tests.iter().find(|t| t.expands) else {
            // The whole command may have run: keep the tests asked for.
            let wanted: HashSet<&str> = request.tests.iter().map(|t| t.id.as_str()).collect();
            results.retain(|r| wanted.contains(r.id.as_str()));
            return Ok(results);
        };
        // The command's own ending, when no test can say it: without its
        // files, or with files that name no test while it failed. A failing
        // command whose tests all passed is the host's to report.
        let failed = request.timed_out || !request.exit.success();
        let ended = match (files.is_empty(), results.is_empty()) {
            (true, _) => Some(format!(
                "left no results files matching {}",
                globs.join(", ")
            )),
            (false, true) if failed => Some(format!(
                "and its {} results files name no test",
                files.len()
            )),
            _ => None,
        };
        if let Some(ended) = ended {
            let outcome = match (request.timed_out, request.exit.signal) {
                (true, _) => Outcome::TimedOut,
                (false, Some(_)) => Outcome::Crashed,
                (false, None) => Outcome::Failed,
            };
            let message = format!("`{}` ended with {} {ended}", command.name, request.exit);
            results.push(TestResult {
                message: Some(message),
                ..TestResult::new(&command.id, outcome)
            });
        }
        Ok(results)
    }
}

export_plugins!(runner CommandRunner);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_id_parts_take_their_separator_along() {
        let values = |suite| [("suite", suite), ("classname", "test"), ("name", "adds")];
        assert_eq!(fill_id("{suite} > {name}", &values("math")), "math > adds");
        assert_eq!(fill_id("{suite}/{name}", &values("")), "adds");
        assert_eq!(fill_id("{suite} > {name}", &values("")), "adds");
        assert_eq!(fill_id("{classname}.{name}", &values("")), "test.adds");
    }
}
