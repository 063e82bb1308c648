//! A proctor runner for GoogleTest binaries.
//!
//! A source is a test binary. Discovery reads `--gtest_list_tests`; tests
//! named `DISABLED_...` (or in such a suite) are skipped, as GoogleTest skips
//! them. Offered the whole binary in one process, the runner answers with
//! that process at once, its listing run beside it
//! ([`TestCase::listing`]): GoogleTest prints no list as it starts, and the
//! listing is what names the tests a crash left unrun. A batch runs with
//! `--gtest_filter` naming its tests, from a flag file when the names are
//! too long for an argument, or with no filter when it holds every test
//! the binary listed. Live events come from the `[ RUN ]`/`[ OK ]` lines
//! GoogleTest flushes as it goes, and results from the same lines once
//! the binary ended, each failure's message from the block GoogleTest
//! printed for it; failures outside any test (a suite's set-up or
//! tear-down, a global environment) come from the output too.
//!
//! Results come from the output rather than from `--gtest_output=xml:`:
//! GoogleTest formats its XML as the binary ends, about 2% of the binary's
//! own time, while a run under proctor is to cost at most 5% more than the
//! binary alone. What the XML holds and the output does not: a failure's
//! message apart from what the test printed after it, and `RecordProperty`
//! values. A binary whose printer is not GoogleTest's (a `main` that
//! replaces it, or `--gtest_brief`) prints no line for a passing test: the
//! setting `xml` reads the XML instead, and `--gtest_brief` among the
//! `args` chooses it. `GTEST_BRIEF` set in the environment is overruled.
//! A binary that ran and printed no test line is refused, the setting
//! named, unless its global environment skipped the run: then every test
//! asked for is skipped.

mod listing;
mod output;

#[cfg(test)]
mod fuzz;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use proctor_formats::junit;
use proctor_sdk::messages::*;
use proctor_sdk::{export_plugins, Error, Result, Runner};
use serde::Deserialize;

const RESULTS_FILE: &str = "gtest.xml";

/// Settings block of the `gtest` runner.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Extra arguments for every test process, e.g. `["--gtest_break_on_failure"]`.
    args: Vec<String>,
    /// Read the results from GoogleTest's XML file rather than from its
    /// output: for a binary whose printer is not GoogleTest's own.
    xml: bool,
}

impl Settings {
    /// Whether the results are read from the XML file: when asked, or
    /// when the arguments ask GoogleTest to print only failures.
    fn reads_xml(&self) -> bool {
        let brief = |arg: &String| {
            arg.strip_prefix("--gtest_brief")
                .is_some_and(|value| !matches!(value, "=0" | "=false"))
        };
        self.xml || self.args.iter().any(brief)
    }
}

pub struct GtestRunner {
    settings: Settings,
    /// How many tests the last listing gave, when it skipped none: a batch
    /// of that many is the whole binary. With a `DISABLED_` test listed, a
    /// batch is always filtered, so that `--gtest_also_run_disabled_tests`
    /// in the settings cannot run what proctor reports as skipped.
    whole_binary_size: AtomicUsize,
}

fn binary(source: &SourceInfo) -> String {
    source.path.display().to_string()
}

/// The option that writes the listing to a file, which discovery reads.
const LIST_OUTPUT: &str = "--gtest_output=json:";

/// A fresh path for a listing file.
fn listing_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "proctor-gtest-list-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Longer than this, a filter goes in a flag file: Linux refuses an
/// argument of 128 KiB or more (`MAX_ARG_STRLEN`), and 12,000 tests of a
/// parameterized suite name more than that.
const LONGEST_FILTER_ARGUMENT: usize = 32 * 1024;

/// `command` running only the request's tests.
fn filtered(command: CommandSpec, request: &ExecutionRequest) -> Result<CommandSpec> {
    let names: Vec<&str> = request.tests.iter().map(|t| t.id.as_str()).collect();
    let filter = format!("--gtest_filter={}", names.join(":"));
    if filter.len() <= LONGEST_FILTER_ARGUMENT {
        return Ok(command.arg(filter));
    }
    let flags = request.artifacts_dir.join(FILTER_FILE);
    proctor_sdk::write_file(&flags, format!("{filter}\n"))?;
    Ok(command.arg(format!("--gtest_flagfile={}", flags.display())))
}

/// The flag file a long filter is written to, in the attempt's directory.
const FILTER_FILE: &str = "gtest-filter.flags";

/// Flags of the settings that change which tests a binary runs, so that
/// an unfiltered run would not be the listing's tests.
const CHOOSING_FLAGS: [&str; 4] = [
    "--gtest_filter",
    "--gtest_also_run_disabled_tests",
    "--gtest_repeat",
    "--gtest_flagfile",
];

/// Whether a request's tests are led by the case of a binary run whole.
fn whole_binary_case_leads(tests: &[TestCase]) -> bool {
    tests.first().is_some_and(|case| case.expands)
}

/// The case of a binary run whole, in one process, beside `listing`.
fn whole_binary_case(listing: CommandSpec) -> TestCase {
    TestCase {
        expands: true,
        listing: Some(Box::new(listing)),
        ..TestCase::new("(all tests)")
    }
}

/// The tests of a finished `--gtest_list_tests`: from the listing file when
/// the binary wrote one, else from what it printed.
fn listed_tests(output: &CommandOutput) -> Result<Vec<TestCase>> {
    let file = output
        .command
        .args
        .iter()
        .find_map(|arg| arg.strip_prefix(LIST_OUTPUT))
        .map(PathBuf::from);
    let text = file.as_ref().and_then(|f| proctor_sdk::read_text(f).ok());
    if let Some(file) = &file {
        let _ = std::fs::remove_file(file);
    }
    match text {
        Some(text) => listing::from_json(&text).map_err(|e| {
            Error::msg(format!(
                "cannot read the listing `{}` wrote: {e}",
                output.command.display()
            ))
        }),
        None => Ok(listing::from_text(&output.stdout)),
    }
}

impl GtestRunner {
    /// Whether to answer an offer of the whole binary in one process with
    /// that process, its listing run beside it rather than first: the
    /// listing took a fifth of what a run adds to a binary of 500 tests.
    /// GoogleTest prints no list as it starts; the listing is what tells
    /// the host which tests a crash left unrun.
    fn runs_whole_beside_its_listing(&self, offer: Option<DiscoveryOffer>) -> bool {
        let one_process = offer.is_some_and(|o| o.expanding && o.whole_source == Some(1));
        let chooses = (self.settings.args.iter())
            .any(|arg| CHOOSING_FLAGS.iter().any(|flag| arg.starts_with(flag)));
        one_process && !chooses
    }
}

impl Runner for GtestRunner {
    const NAME: &'static str = "gtest";
    const DESCRIPTION: &'static str = "GoogleTest binaries";
    const EXECUTION: &'static [ExecutionMode] = &[ExecutionMode::Batch, ExecutionMode::Isolated];
    const LIVE_EVENTS: bool = true;
    const LIVE_STREAMS: &'static [Stream] = &[Stream::Stdout];
    /// The whole binary's case, the one that expands, answers for every
    /// test its XML names: the tests discovered beside it go unread.
    const COLLECT_DISCOVERED: bool = false;
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self {
            settings,
            whole_binary_size: AtomicUsize::new(0),
        })
    }

    fn discover(&self, request: DiscoverRequest) -> Result<DiscoveryStep> {
        let Some(output) = request.completed.first() else {
            let listing = CommandSpec::new(binary(&request.source))
                .arg("--gtest_list_tests")
                .arg(format!("{LIST_OUTPUT}{}", listing_path().display()))
                .cwd(&request.source.base_dir);
            if self.runs_whole_beside_its_listing(request.offer) {
                return Ok(DiscoveryStep::Done {
                    tests: vec![whole_binary_case(listing)],
                });
            }
            return Ok(DiscoveryStep::Run {
                commands: vec![listing],
            });
        };
        let tests = listed_tests(output);
        if !output.exit.success() {
            return Err(Error::msg(output.failure(&[Stream::Stderr])));
        }
        let tests = tests?;
        let size = match tests.iter().any(|t| t.skip.is_some()) {
            true => 0,
            false => tests.len(),
        };
        self.whole_binary_size.store(size, Ordering::Relaxed);
        Ok(DiscoveryStep::Done { tests })
    }

    fn plan_execution(&self, request: ExecutionRequest) -> Result<ExecutionPlan> {
        let command = CommandSpec::new(binary(&request.source));
        let whole_binary = whole_binary_case_leads(&request.tests)
            || request.tests.len() == self.whole_binary_size.load(Ordering::Relaxed);
        let mut command = match whole_binary {
            // As the binary runs by itself: a test that checks the filter
            // (GoogleTest's own do) sees none.
            true => command,
            false => filtered(command, &request)?,
        };
        match self.settings.reads_xml() {
            true => {
                let results = request.artifacts_dir.join(RESULTS_FILE);
                command = command.arg(format!("--gtest_output=xml:{}", results.display()));
            }
            // The results are its printer's lines: every test's, not only
            // a failure's. An older GoogleTest ignores the variable, and
            // would refuse a flag it does not know.
            false => {
                command.env.insert("GTEST_BRIEF".into(), "0".into());
            }
        }
        let command = command
            .arg("--gtest_color=no")
            .args(self.settings.args.iter().cloned())
            .cwd(&request.source.base_dir);
        Ok(ExecutionPlan { command })
    }

    fn parse_output(&self, request: OutputRequest) -> Result<Vec<LiveEvent>> {
        if request.stream != Stream::Stdout {
            return Ok(Vec::new());
        }
        Ok(request
            .lines
            .iter()
            .enumerate()
            .filter_map(|(index, line)| output::parse_line(index, line))
            .collect())
    }

    fn collect_results(&self, request: CollectRequest) -> Result<Vec<TestResult>> {
        let stdout = proctor_sdk::read_output(&request.stdout_path).unwrap_or_default();
        let printed = output::read(&stdout);
        let told = printed.any_opened || !request.exit.success() || stdout.contains(RAN_NONE);
        let mut results = match (self.settings.reads_xml(), printed.environment_skip) {
            (true, _) => xml_results(&request.artifacts_dir.join(RESULTS_FILE))?,
            (false, _) if told => printed.results,
            // Every test was skipped; the whole binary's case has its
            // tests run again by name, which are then told so.
            (false, Some(skip)) => (request.tests.iter())
                .filter(|test| !test.expands)
                .map(|test| TestResult {
                    message: Some(skip.clone()),
                    ..TestResult::new(&test.id, Outcome::Skipped)
                })
                .collect(),
            (false, None) => {
                return Err(Error::msg(format!(
                    "`{}` ran and printed none of GoogleTest's `[ RUN      ]` lines, which \
                     the results are read from: its `main` replaces GoogleTest's printer, \
                     or quiets it. Set `\"xml\": true` in the gtest runner's settings to \
                     read GoogleTest's XML file instead.",
                    binary(&request.source)
                )))
            }
        };
        // The whole binary's case answers for every test it ran. A failure
        // is kept even of a test not asked for (one the listing did not
        // show ran unfiltered): it fails the run.
        if !whole_binary_case_leads(&request.tests) {
            let wanted: std::collections::HashSet<&str> =
                request.tests.iter().map(|t| t.id.as_str()).collect();
            results.retain(|r| r.outcome.is_failure() || wanted.contains(r.id.as_str()));
        }
        // Failures outside the tests, as the output tells them: the XML
        // leaves a suite's out until GoogleTest 1.13.
        for (id, text) in printed.outside {
            if results.iter().any(|r| r.id == id) {
                continue;
            }
            let message = match text.is_empty() {
                true => "failed outside its tests; the output says no more".to_owned(),
                false => text,
            };
            results.push(TestResult {
                message: Some(message),
                ..TestResult::new(id, Outcome::Failed)
            });
        }
        Ok(results)
    }
}

/// What GoogleTest prints as it begins a run of no test.
const RAN_NONE: &str = "[==========] Running 0 tests";

/// The results in GoogleTest's XML file at `path`; none when the binary
/// wrote none (it aborted: live events tell the rest).
fn xml_results(path: &std::path::Path) -> Result<Vec<TestResult>> {
    let Ok(xml) = proctor_sdk::read_text(path) else {
        return Ok(Vec::new());
    };
    let cases = junit::read(&xml).map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    let results = cases.into_iter().map(|case| {
        // GoogleTest records a failure outside the tests as a case
        // without a name, in its suite or in `NonTestSuiteFailure`.
        let id = match (case.name.is_empty(), case.suite.as_str()) {
            (false, _) => case.qualified_name(),
            (true, output::ENVIRONMENT_FAILURE) => output::ENVIRONMENT_FAILURE.to_owned(),
            (true, suite) => format!("{suite}{}", output::SUITE_FAILURE),
        };
        case.into_test_result(id)
    });
    Ok(results.collect())
}

export_plugins!(runner GtestRunner);

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SourceInfo {
        SourceInfo {
            name: "unit".into(),
            path: "/suite/unit".into(),
            base_dir: "/suite".into(),
        }
    }

    /// A runner that discovered the tests `S.{name}` of `names` from a
    /// printed listing.
    fn listed(names: &[&str]) -> GtestRunner {
        let runner = GtestRunner::new(Settings::default()).unwrap();
        let listing: String = names.iter().map(|name| format!("  {name}\n")).collect();
        let request = DiscoverRequest {
            source: source(),
            completed: vec![CommandOutput {
                command: CommandSpec::new("/suite/unit").arg("--gtest_list_tests"),
                exit: ProcessExit {
                    code: Some(0),
                    signal: None,
                },
                stdout: format!("S.\n{listing}"),
                stderr: String::new(),
            }],
            offer: None,
        };
        runner.discover(request).unwrap();
        runner
    }

    fn plan(runner: &GtestRunner, ids: &[&str], dir: &std::path::Path) -> Vec<String> {
        let request = ExecutionRequest {
            source: source(),
            tests: ids.iter().map(|id| TestCase::new(*id)).collect(),
            attempt: 1,
            artifacts_dir: dir.to_path_buf(),
        };
        runner.plan_execution(request).unwrap().command.args
    }

    /// What the runner answers first to `offer`, with `args` in its settings.
    fn first_step(offer: DiscoveryOffer, args: &[&str]) -> DiscoveryStep {
        let settings = Settings {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Settings::default()
        };
        let request = DiscoverRequest {
            source: source(),
            completed: Vec::new(),
            offer: Some(offer),
        };
        GtestRunner::new(settings)
            .unwrap()
            .discover(request)
            .unwrap()
    }

    #[test]
    fn a_binary_offered_whole_to_one_process_runs_whole_beside_its_listing() {
        let one = DiscoveryOffer {
            expanding: true,
            whole_source: Some(1),
        };
        let DiscoveryStep::Done { tests } = first_step(one, &["--gtest_break_on_failure"]) else {
            panic!("one process: the binary's case at once");
        };
        let [case] = tests.as_slice() else {
            panic!("{tests:?}")
        };
        assert!(case.expands);
        let listing = case.listing.as_deref().expect("listed beside");
        assert!(listing.args.contains(&"--gtest_list_tests".to_owned()));
        // Planned after a listing of other tests: the case is still whole.
        let request = ExecutionRequest {
            source: source(),
            tests: vec![case.clone()],
            attempt: 1,
            artifacts_dir: std::env::temp_dir(),
        };
        let args = listed(&["a", "b"])
            .plan_execution(request)
            .unwrap()
            .command
            .args;
        assert!(
            !args.iter().any(|a| a.starts_with("--gtest_filter")),
            "{args:?}"
        );

        let two = DiscoveryOffer {
            whole_source: Some(2),
            ..one
        };
        let choosing = ["--gtest_also_run_disabled_tests"];
        for (offer, args) in [(two, &[][..]), (one, &choosing[..])] {
            assert!(
                matches!(first_step(offer, args), DiscoveryStep::Run { .. }),
                "listed first: {offer:?} {args:?}"
            );
        }
    }

    #[test]
    fn only_a_batch_of_every_listed_test_runs_unfiltered() {
        let dir = std::env::temp_dir();
        let ids = ["S.a", "S.b"];
        let whole = plan(&listed(&["a", "b"]), &ids, &dir);
        assert!(
            !whole.iter().any(|a| a.starts_with("--gtest_filter")),
            "{whole:?}"
        );
        let part = plan(&listed(&["a", "b"]), &ids[..1], &dir);
        assert!(part.contains(&"--gtest_filter=S.a".to_owned()), "{part:?}");
        // A binary with a DISABLED_ test is always filtered: settings that
        // run those would run tests reported as skipped.
        let with_disabled = plan(&listed(&["a", "b", "DISABLED_c"]), &ids, &dir);
        assert!(with_disabled.contains(&"--gtest_filter=S.a:S.b".to_owned()));
    }

    #[test]
    fn a_filter_too_long_for_an_argument_goes_in_a_flag_file() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..5_000)
            .map(|i| format!("Generated/Many.Holds/{i}"))
            .collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let args = plan(&listed(&["other"]), &ids, dir.path());
        let flag = args
            .iter()
            .find_map(|a| a.strip_prefix("--gtest_flagfile="))
            .unwrap();
        let file = std::fs::read_to_string(flag).unwrap();
        assert_eq!(file, format!("--gtest_filter={}\n", ids.join(":")));
    }

    /// The results `runner` collects, asked for `S.asked`, from a process
    /// that printed `stdout`, wrote `xml` when given, and exited `code`.
    fn collected(
        runner: &GtestRunner,
        stdout: &str,
        xml: Option<&str>,
        code: i32,
    ) -> Result<Vec<TestResult>> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(xml) = xml {
            std::fs::write(dir.path().join(RESULTS_FILE), xml).unwrap();
        }
        let stdout_path = dir.path().join("stdout.log");
        std::fs::write(&stdout_path, stdout).unwrap();
        let request = CollectRequest {
            source: source(),
            tests: vec![TestCase::new("S.asked")],
            attempt: 1,
            exit: ProcessExit {
                code: Some(code),
                signal: None,
            },
            timed_out: false,
            duration_ms: 1,
            stdout_path: stdout_path.clone(),
            stderr_path: stdout_path,
            artifacts_dir: dir.path().to_path_buf(),
        };
        runner.collect_results(request)
    }

    fn reading_xml() -> GtestRunner {
        let settings = Settings {
            xml: true,
            ..Settings::default()
        };
        GtestRunner::new(settings).unwrap()
    }

    #[test]
    fn a_failure_of_a_test_not_asked_for_is_kept() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1" disabled="0" errors="0" time="0" name="AllTests">
  <testsuite name="S" tests="3" failures="1" disabled="0" skipped="0" errors="0" time="0">
    <testcase name="asked" status="run" result="completed" time="0" classname="S" />
    <testcase name="unlisted" status="run" result="completed" time="0" classname="S">
      <failure message="boom" type=""><![CDATA[boom]]></failure>
    </testcase>
    <testcase name="passing" status="run" result="completed" time="0" classname="S" />
  </testsuite>
</testsuites>
"#;
        let stdout = "[ RUN      ] S.asked
[       OK ] S.asked (0 ms)
[ RUN      ] S.unlisted
s.cc:3: Failure
boom
[  FAILED  ] S.unlisted (0 ms)
[ RUN      ] S.passing
[       OK ] S.passing (0 ms)
";
        let from_xml = collected(&reading_xml(), "", Some(xml), 1);
        let from_output = collected(&listed(&["asked"]), stdout, None, 1);
        for results in [from_xml, from_output] {
            let mut ids: Vec<String> = results.unwrap().into_iter().map(|r| r.id).collect();
            ids.sort();
            assert_eq!(ids, ["S.asked", "S.unlisted"]);
        }
    }

    #[test]
    fn a_binary_that_printed_no_test_line_is_refused_naming_the_xml_setting() {
        let quiet = "Running main() from a main of its own\n";
        let refused = collected(&listed(&["asked"]), quiet, None, 0).unwrap_err();
        assert!(refused.to_string().contains(r#""xml": true"#), "{refused}");
        // A run of no test, or one that failed, is for the host to judge.
        let none = "[==========] Running 0 tests from 0 test suites.\n";
        assert!(collected(&listed(&["asked"]), none, None, 0)
            .unwrap()
            .is_empty());
        assert!(collected(&listed(&["asked"]), quiet, None, 1)
            .unwrap()
            .is_empty());
        // Read from the XML, the same binary's results are found.
        let xml = r#"<testsuites><testsuite name="S"><testcase name="asked" classname="S" time="0"/></testsuite></testsuites>"#;
        let results = collected(&reading_xml(), quiet, Some(xml), 0).unwrap();
        assert_eq!(results.len(), 1);
    }

    #[test]
    fn the_xml_is_asked_for_only_when_read() {
        let dir = std::env::temp_dir();
        let asks_xml = |args: &[String]| args.iter().any(|a| a.starts_with("--gtest_output=xml:"));
        let request = || ExecutionRequest {
            source: source(),
            tests: vec![TestCase::new("S.a")],
            attempt: 1,
            artifacts_dir: dir.clone(),
        };
        let from_output = listed(&["a"]).plan_execution(request()).unwrap().command;
        assert!(!asks_xml(&from_output.args), "{from_output:?}");
        assert_eq!(
            from_output.env.get("GTEST_BRIEF").map(String::as_str),
            Some("0")
        );
        let brief = Settings {
            args: vec!["--gtest_brief=1".into()],
            ..Settings::default()
        };
        for runner in [reading_xml(), GtestRunner::new(brief).unwrap()] {
            let command = runner.plan_execution(request()).unwrap().command;
            assert!(asks_xml(&command.args), "{command:?}");
            assert!(!command.env.contains_key("GTEST_BRIEF"));
        }
    }
}
