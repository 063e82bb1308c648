//! A proctor runner for pytest suites.
//!
//! A source is a directory or a test file. Discovery runs
//! `pytest --collect-only` with a small pytest plugin of ours
//! (`proctor_pytest.py`, written to a temporary directory and put on
//! `PYTHONPATH`) that reports every item with its markers. Execution runs a
//! batch of node ids in one process; the plugin reports each test's start and
//! end on the original stderr as it happens, and the results are read from
//! the JUnit file pytest writes. Node ids are relative to the root directory,
//! which is the source directory (or the test file's) unless set.

mod names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proctor_formats::junit;
use proctor_sdk::messages::*;
use proctor_sdk::{export_plugins, Error, Result, Runner};
use serde::Deserialize;

const PLUGIN_MODULE: &str = "proctor_pytest";
const PLUGIN_SOURCE: &str = include_str!("proctor_pytest.py");
const EVENT_PREFIX: &str = "##proctor ";
const JUNIT_FILE: &str = "junit.xml";

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            python: "python3".to_owned(),
            args: Vec::new(),
            rootdir: None,
        }
    }
}

pub struct PytestRunner {
    settings: Settings,
}

/// One line of our pytest plugin's output.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum PluginEvent {
    Collected {
        id: String,
        #[serde(default)]
        markers: Vec<String>,
        #[serde(default)]
        skip: Option<String>,
    },
    Started {
        id: String,
    },
    Finished {
        id: String,
        outcome: Outcome,
        #[serde(default)]
        message: Option<String>,
    },
}

/// Our plugin's events among `lines`, with the index of the line each came from.
fn plugin_events<'a>(
    lines: impl Iterator<Item = &'a str> + 'a,
) -> impl Iterator<Item = (usize, PluginEvent)> + 'a {
    lines.enumerate().filter_map(|(index, line)| {
        let json = line.strip_prefix(EVENT_PREFIX)?;
        Some((index, serde_json::from_str(json).ok()?))
    })
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
        match &self.settings.rootdir {
            Some(dir) => source.base_dir.join(dir),
            None if source.path.is_dir() => source.path.clone(),
            None => source
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        }
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
        Ok(command)
    }
}

impl Runner for PytestRunner {
    const NAME: &'static str = "pytest";
    const DESCRIPTION: &'static str = "pytest suites: a directory or a test file";
    const EXECUTION: &'static [ExecutionMode] = &[ExecutionMode::Batch, ExecutionMode::Isolated];
    const LIVE_EVENTS: bool = true;
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self { settings })
    }

    fn discover(&self, request: DiscoverRequest) -> Result<DiscoveryStep> {
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
        let mut tests: Vec<TestCase> = plugin_events(output.stderr.lines())
            .filter_map(|(_, event)| match event {
                PluginEvent::Collected { id, markers, skip } => Some(TestCase {
                    qualified_name: Some(names::qualified_name(&id)),
                    attributes: BTreeMap::from([
                        ("file".to_owned(), names::file_of(&id).to_owned()),
                        ("markers".to_owned(), markers.join(",")),
                    ]),
                    skip,
                    ..TestCase::new(id)
                }),
                _ => None,
            })
            .collect();
        // How many tests each file holds: a batch with all of them names the file.
        let mut per_file: BTreeMap<String, usize> = BTreeMap::new();
        for test in &tests {
            *per_file.entry(test.attributes["file"].clone()).or_default() += 1;
        }
        for test in &mut tests {
            test.runner_data =
                serde_json::json!({ "file_tests": per_file[&test.attributes["file"]] });
        }
        Ok(DiscoveryStep::Done { tests })
    }

    fn plan_execution(&self, request: ExecutionRequest) -> Result<ExecutionPlan> {
        let command = self
            .pytest(&request.source)?
            .args(["-o", "junit_logging=all"])
            .arg(format!(
                "--junitxml={}",
                request.artifacts_dir.join(JUNIT_FILE).display()
            ))
            .args(selection_args(&request.tests));
        Ok(ExecutionPlan { command })
    }

    fn parse_output(&self, request: OutputRequest) -> Result<Vec<LiveEvent>> {
        if request.stream != Stream::Stderr {
            return Ok(Vec::new());
        }
        Ok(plugin_events(request.lines.iter().map(String::as_str))
            .filter_map(|(index, event)| match event {
                PluginEvent::Started { id } => Some(LiveEvent::Started {
                    id,
                    line: Some(index),
                }),
                PluginEvent::Finished {
                    id,
                    outcome,
                    message,
                } => Some(LiveEvent::Finished {
                    id,
                    outcome,
                    message,
                    line: Some(index),
                }),
                PluginEvent::Collected { .. } => None,
            })
            .collect())
    }

    fn collect_results(&self, request: CollectRequest) -> Result<Vec<TestResult>> {
        let path = request.artifacts_dir.join(JUNIT_FILE);
        // A process that crashed or was killed wrote none; live events tell the rest.
        let Ok(xml) = std::fs::read_to_string(&path) else {
            return Ok(Vec::new());
        };
        let cases =
            junit::read(&xml).map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        let by_name: BTreeMap<String, &TestCase> = request
            .tests
            .iter()
            .map(|test| (names::qualified_name(&test.id), test))
            .collect();
        Ok(cases
            .into_iter()
            .filter_map(|case| {
                let test = by_name.get(&case.qualified_name())?;
                Some(case.into_test_result(test.id.clone()))
            })
            .collect())
    }
}

/// What to ask pytest for: a file when every test of it is wanted (pytest
/// resolves node ids one by one, which costs time on large batches), else
/// the node ids. Skipped tests are not in a batch, so a file with one is
/// named by its node ids and the skipped test stays out.
fn selection_args(tests: &[TestCase]) -> Vec<String> {
    let mut by_file: Vec<(&str, Vec<&TestCase>)> = Vec::new();
    for test in tests {
        let file = names::file_of(&test.id);
        match by_file.iter_mut().find(|(f, _)| *f == file) {
            Some((_, tests)) => tests.push(test),
            None => by_file.push((file, vec![test])),
        }
    }
    let whole = |file_tests: &[&TestCase]| {
        let declared = file_tests[0].runner_data["file_tests"].as_u64();
        declared == Some(file_tests.len() as u64)
    };
    by_file
        .into_iter()
        .flat_map(|(file, file_tests)| {
            if whole(&file_tests) {
                vec![file.to_owned()]
            } else {
                file_tests.iter().map(|t| t.id.clone()).collect()
            }
        })
        .collect()
}

export_plugins!(runner PytestRunner);
