//! A proctor runner for GoogleTest binaries.
//!
//! A source is a test binary. Discovery reads `--gtest_list_tests`; tests
//! named `DISABLED_...` (or in such a suite) are skipped, as GoogleTest skips
//! them. A batch runs with `--gtest_filter` naming its tests and
//! `--gtest_output=xml:`; live events come from the `[ RUN ]`/`[ OK ]` lines
//! GoogleTest flushes as it goes, results from the XML file.

use std::collections::BTreeMap;

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
}

pub struct GtestRunner {
    settings: Settings,
}

fn binary(source: &SourceInfo) -> String {
    source.path.display().to_string()
}

/// Parses `--gtest_list_tests`: a suite line `Suite.` (maybe followed by
/// `  # TypeParam = ..`), then its tests indented by two spaces (maybe
/// followed by `  # GetParam() = ..`).
fn parse_listing(listing: &str) -> Vec<TestCase> {
    let mut tests = Vec::new();
    let mut suite = String::new();
    for line in listing.lines() {
        let (name, comment) = match line.split_once("  # ") {
            Some((name, comment)) => (name, Some(comment.trim())),
            None => (line, None),
        };
        if let Some(test) = name.strip_prefix("  ") {
            let test = test.trim();
            if suite.is_empty() || test.is_empty() {
                continue;
            }
            let id = format!("{suite}.{test}");
            let disabled = suite.starts_with("DISABLED_") || test.starts_with("DISABLED_");
            let mut attributes = BTreeMap::from([("suite".to_owned(), suite.clone())]);
            if let Some(comment) = comment {
                attributes.insert("parameter".to_owned(), comment.to_owned());
            }
            tests.push(TestCase {
                attributes,
                skip: disabled.then(|| "DISABLED_ in GoogleTest".to_owned()),
                ..TestCase::new(id)
            });
        } else if let Some(name) = name.trim_end().strip_suffix('.') {
            suite = name.to_owned();
        }
    }
    tests
}

/// `[ RUN      ] Suite.Test` and `[       OK ] Suite.Test (3 ms)`; the
/// closing summary repeats failures without a time and is left alone.
fn parse_line(index: usize, line: &str) -> Option<LiveEvent> {
    let rest = line.strip_prefix('[')?;
    let (tag, rest) = rest.split_once(']')?;
    let rest = rest.trim();
    if tag.trim() == "RUN" {
        return Some(LiveEvent::Started {
            id: rest.to_owned(),
            line: Some(index),
        });
    }
    let outcome = match tag.trim() {
        "OK" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        "SKIPPED" => Outcome::Skipped,
        _ => return None,
    };
    let (id, time) = rest.rsplit_once(" (")?;
    time.ends_with(" ms)").then(|| LiveEvent::Finished {
        // A parameterized test is printed as `Suite.Test/0, where GetParam() = ..`.
        id: id.split(", where ").next().unwrap_or(id).to_owned(),
        outcome,
        message: None,
        line: Some(index),
    })
}

impl Runner for GtestRunner {
    const NAME: &'static str = "gtest";
    const DESCRIPTION: &'static str = "GoogleTest binaries";
    const EXECUTION: &'static [ExecutionMode] = &[ExecutionMode::Batch, ExecutionMode::Isolated];
    const LIVE_EVENTS: bool = true;
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self { settings })
    }

    fn discover(&self, request: DiscoverRequest) -> Result<DiscoveryStep> {
        let Some(output) = request.completed.first() else {
            let command = CommandSpec::new(binary(&request.source))
                .arg("--gtest_list_tests")
                .cwd(&request.source.base_dir);
            return Ok(DiscoveryStep::Run {
                commands: vec![command],
            });
        };
        if !output.exit.success() {
            return Err(Error::msg(output.failure(&[Stream::Stderr])));
        }
        Ok(DiscoveryStep::Done {
            tests: parse_listing(&output.stdout),
        })
    }

    fn plan_execution(&self, request: ExecutionRequest) -> Result<ExecutionPlan> {
        let filter: Vec<&str> = request.tests.iter().map(|t| t.id.as_str()).collect();
        let command = CommandSpec::new(binary(&request.source))
            .arg(format!("--gtest_filter={}", filter.join(":")))
            .arg(format!(
                "--gtest_output=xml:{}",
                request.artifacts_dir.join(RESULTS_FILE).display()
            ))
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
            .filter_map(|(index, line)| parse_line(index, line))
            .collect())
    }

    fn collect_results(&self, request: CollectRequest) -> Result<Vec<TestResult>> {
        let path = request.artifacts_dir.join(RESULTS_FILE);
        // An aborted binary writes no XML; live events tell the rest.
        let Ok(xml) = std::fs::read_to_string(&path) else {
            return Ok(Vec::new());
        };
        let cases =
            junit::read(&xml).map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        let wanted: std::collections::HashSet<&str> =
            request.tests.iter().map(|t| t.id.as_str()).collect();
        Ok(cases
            .into_iter()
            .filter_map(|case| {
                let id = case.qualified_name();
                wanted
                    .contains(id.as_str())
                    .then(|| case.into_test_result(id))
            })
            .collect())
    }
}

export_plugins!(runner GtestRunner);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_with_parameters_and_disabled_tests() {
        let listing = "Running main() from gtest_main.cc\nMath.\n  Adds\n  DISABLED_Later\nDISABLED_Old.\n  Works\nSquares/Param.\n  Holds/0  # GetParam() = 1\n  Holds/1  # GetParam() = 2\nTyped/0.  # TypeParam = int\n  Zero\n";
        let tests = parse_listing(listing);
        let ids: Vec<&str> = tests.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "Math.Adds",
                "Math.DISABLED_Later",
                "DISABLED_Old.Works",
                "Squares/Param.Holds/0",
                "Squares/Param.Holds/1",
                "Typed/0.Zero"
            ]
        );
        assert!(tests[0].skip.is_none());
        assert!(tests[1].skip.is_some() && tests[2].skip.is_some());
        assert_eq!(tests[3].attributes["parameter"], "GetParam() = 1");
    }

    #[test]
    fn live_lines() {
        assert_eq!(
            parse_line(4, "[ RUN      ] Math.Adds"),
            Some(LiveEvent::Started {
                id: "Math.Adds".into(),
                line: Some(4)
            })
        );
        assert_eq!(
            parse_line(
                0,
                "[  FAILED  ] Squares/Param.Holds/1, where GetParam() = 2 (0 ms)"
            ),
            Some(LiveEvent::Finished {
                id: "Squares/Param.Holds/1".into(),
                outcome: Outcome::Failed,
                message: None,
                line: Some(0)
            })
        );
        assert_eq!(
            parse_line(0, "[  FAILED  ] Math.Fails"),
            None,
            "the summary's repeat"
        );
        assert_eq!(
            parse_line(0, "[==========] 3 tests ran. (0 ms total)"),
            None
        );
    }
}
