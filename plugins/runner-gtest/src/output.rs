//! What a GoogleTest binary prints: the `[ RUN ]`/`[ OK ]` lines it
//! flushes as it goes, and the failures it reports outside any test.
//!
//! A failure in `SetUpTestSuite` or `TearDownTestSuite` belongs to no test:
//! GoogleTest prints it between the suite's tests, counts it in its closing
//! `N FAILED TEST SUITES` with a line `[  FAILED  ] Suite: SetUpTestSuite or
//! TearDownTestSuite`, and exits 1 (its XML records it only from 1.13 on).
//! A failure in a global environment's `SetUp` or `TearDown` is printed
//! before the first suite or after the last one.

use std::collections::BTreeMap;

use proctor_sdk::messages::{LiveEvent, Outcome};

/// What GoogleTest calls a failure outside a suite's tests, and the id it
/// is reported under.
pub const SUITE_FAILURE: &str = ": SetUpTestSuite or TearDownTestSuite";
/// The suite name GoogleTest's XML gives failures of a global environment,
/// and the id they are reported under.
pub const ENVIRONMENT_FAILURE: &str = "NonTestSuiteFailure";

/// `[ RUN      ] Suite.Test` and `[       OK ] Suite.Test (3 ms)`; the
/// closing summary repeats failures without a time and is left alone.
pub fn parse_line(index: usize, line: &str) -> Option<LiveEvent> {
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

/// The failures outside any test that a binary's output reports, by the id
/// they are reported under, with what was printed of them.
pub fn failures_outside_tests(stdout: &str) -> BTreeMap<String, String> {
    // Only a suite's failed line or a failure's text makes one (see the
    // end): an output without either, most of them, is not read line by line.
    if !stdout.contains("Failure") && !stdout.contains(SUITE_FAILURE) {
        return BTreeMap::new();
    }
    let mut printed: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    // Where the output is: in a suite (outside its tests), in a test, or in
    // the global environment's set-up or tear-down.
    let mut suite: Option<&str> = None;
    let mut in_test = false;
    let mut in_environment = false;
    let mut failed_suites = Vec::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("[----------] ") {
            in_test = false;
            if rest.starts_with("Global test environment") {
                in_environment = true;
                suite = None;
            } else if let Some((_, name)) = rest.split_once(" from ") {
                in_environment = false;
                // `N tests from Suite` opens it, `... (N ms total)` closes it.
                suite = (!name.ends_with(" total)")).then_some(name.trim());
            }
            continue;
        }
        if line.starts_with("[==========]") {
            (suite, in_environment) = (None, false);
            continue;
        }
        if let Some(event) = parse_line(0, line) {
            in_test = matches!(event, LiveEvent::Started { .. });
            continue;
        }
        if let Some(name) = line
            .strip_prefix("[  FAILED  ] ")
            .and_then(|rest| rest.strip_suffix(SUITE_FAILURE))
        {
            failed_suites.push(name.to_owned());
            continue;
        }
        if in_test || line.trim().is_empty() {
            continue;
        }
        let owner = match (suite, in_environment) {
            (Some(suite), _) => format!("{suite}{SUITE_FAILURE}"),
            (None, true) => ENVIRONMENT_FAILURE.to_owned(),
            (None, false) => continue,
        };
        printed.entry(owner).or_default().push(line);
    }
    let mut failures: BTreeMap<String, String> = failed_suites
        .into_iter()
        .map(|suite| {
            let id = format!("{suite}{SUITE_FAILURE}");
            let text = printed.get(&id).map(|lines| lines.join("\n"));
            (id, text.unwrap_or_default())
        })
        .collect();
    if let Some(lines) = printed.get(ENVIRONMENT_FAILURE) {
        // Only a failure is printed there; the banner lines are not kept.
        if lines.iter().any(|l| l.contains("Failure")) {
            failures.insert(ENVIRONMENT_FAILURE.to_owned(), lines.join("\n"));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// GoogleTest 1.12's output for a failing `SetUpTestSuite`, a failing
    /// `TearDownTestSuite` and a failing global environment's `TearDown`.
    const OUTPUT: &str = "Running main() from gtest_main.cc
[==========] Running 4 tests from 3 test suites.
[----------] Global test environment set-up.
[----------] 2 tests from FailingSetUp
s.cc:4: Failure
Failed
setup of the suite broke
[ RUN      ] FailingSetUp.First
s.cc:6: Skipped

[  SKIPPED ] FailingSetUp.First (0 ms)
[----------] 2 tests from FailingSetUp (0 ms total)

[----------] 1 test from FailingTearDown
[ RUN      ] FailingTearDown.Only
printed by the test
[       OK ] FailingTearDown.Only (0 ms)
s.cc:9: Failure
Failed
teardown of the suite broke
[----------] 1 test from FailingTearDown (0 ms total)

[----------] Global test environment tear-down
s.cc:13: Failure
Failed
global env broke
[==========] 4 tests from 3 test suites ran. (0 ms total)
[  PASSED  ] 1 test.
[  SKIPPED ] 1 test, listed below:
[  SKIPPED ] FailingSetUp.First

 0 FAILED TESTS
[  FAILED  ] FailingSetUp: SetUpTestSuite or TearDownTestSuite
[  FAILED  ] FailingTearDown: SetUpTestSuite or TearDownTestSuite

 2 FAILED TEST SUITES
";

    #[test]
    fn failures_outside_tests_are_told_by_suite_with_what_was_printed() {
        let failures = failures_outside_tests(OUTPUT);
        let ids: Vec<&str> = failures.keys().map(String::as_str).collect();
        assert_eq!(
            ids,
            [
                "FailingSetUp: SetUpTestSuite or TearDownTestSuite",
                "FailingTearDown: SetUpTestSuite or TearDownTestSuite",
                "NonTestSuiteFailure"
            ]
        );
        assert_eq!(
            failures["FailingSetUp: SetUpTestSuite or TearDownTestSuite"],
            "s.cc:4: Failure\nFailed\nsetup of the suite broke"
        );
        assert_eq!(
            failures["FailingTearDown: SetUpTestSuite or TearDownTestSuite"],
            "s.cc:9: Failure\nFailed\nteardown of the suite broke"
        );
        assert_eq!(
            failures["NonTestSuiteFailure"],
            "s.cc:13: Failure\nFailed\nglobal env broke"
        );
        let passing = "[----------] Global test environment set-up.\n[----------] 1 test from A\n[ RUN      ] A.B\n[       OK ] A.B (0 ms)\n[----------] 1 test from A (0 ms total)\n\n[----------] Global test environment tear-down\n[==========] 1 test from 1 test suite ran. (0 ms total)\n[  PASSED  ] 1 test.\n";
        assert!(failures_outside_tests(passing).is_empty());
    }

    #[test]
    fn a_failed_suite_line_alone_is_still_a_failure() {
        // The failure's own text went elsewhere (a listener that prints to
        // stderr): no line says "Failure", and the suite still failed.
        let output = "[----------] 1 test from Throwing
[ RUN      ] Throwing.Only
[       OK ] Throwing.Only (0 ms)
[----------] 1 test from Throwing (0 ms total)

[  FAILED  ] Throwing: SetUpTestSuite or TearDownTestSuite
";
        let failures = failures_outside_tests(output);
        let ids: Vec<&str> = failures.keys().map(String::as_str).collect();
        assert_eq!(ids, ["Throwing: SetUpTestSuite or TearDownTestSuite"]);
    }
}
