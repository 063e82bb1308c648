//! What a GoogleTest binary prints: the `[ RUN ]`/`[ OK ]` lines it
//! flushes as it goes, each test's result told by them once it ended, and
//! the failures it reports outside any test.
//!
//! GoogleTest's printer opens a test with `[ RUN      ] Suite.Test` and
//! closes it with `[       OK ]`, `[  FAILED  ]` or `[  SKIPPED ]`, the
//! test's name and its time (` (3 ms)`, unless `--gtest_print_time=0`).
//! Between them come the test's own prints and each failure, a block
//! headed `file:line: Failure` (`Skipped` for a skip). A test that prints
//! without a final newline has the closing line glued to its last print:
//! the last closing tag on a line is read, but only for the test that is
//! running, so that a test's print can end no other.
//!
//! A failure in `SetUpTestSuite` or `TearDownTestSuite` belongs to no test:
//! GoogleTest prints it between the suite's tests, counts it in its closing
//! `N FAILED TEST SUITES` with a line `[  FAILED  ] Suite: SetUpTestSuite or
//! TearDownTestSuite`, and exits 1 (its XML records it only from 1.13 on).
//! A failure in a global environment's `SetUp` or `TearDown` is printed
//! before the first suite or after the last one.

use std::collections::BTreeMap;

use proctor_sdk::messages::{LiveEvent, Outcome, TestResult};

/// What GoogleTest calls a failure outside a suite's tests, and the id it
/// is reported under.
pub const SUITE_FAILURE: &str = ": SetUpTestSuite or TearDownTestSuite";
/// The suite name GoogleTest's XML gives failures of a global environment,
/// and the id they are reported under.
pub const ENVIRONMENT_FAILURE: &str = "NonTestSuiteFailure";

/// A line of GoogleTest's printer: its tag, and what follows it.
fn tagged(line: &str) -> Option<(&str, &str)> {
    let (tag, rest) = line.strip_prefix('[')?.split_once(']')?;
    Some((tag.trim(), rest.trim()))
}

/// A line closing a test: its outcome, the test's id, and its time when
/// printed.
#[derive(Debug, PartialEq)]
struct Closing<'a> {
    outcome: Outcome,
    id: &'a str,
    time_ms: Option<u64>,
}

/// `line` read as a closing line from its start: `[       OK ] Suite.Test
/// (3 ms)`, a parameterized test's id followed by `, where GetParam() =
/// ..`, the time left out under `--gtest_print_time=0`.
fn closing(line: &str) -> Option<Closing<'_>> {
    let (tag, rest) = tagged(line)?;
    let outcome = match tag {
        "OK" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        "SKIPPED" => Outcome::Skipped,
        _ => return None,
    };
    let (named, time_ms) = match rest.rsplit_once(" (") {
        Some((named, time)) => match time.strip_suffix(" ms)").map(str::parse) {
            Some(Ok(ms)) => (named, Some(ms)),
            _ => (rest, None),
        },
        None => (rest, None),
    };
    let id = named.split(", where ").next().unwrap_or(named);
    Some(Closing {
        outcome,
        id,
        time_ms,
    })
}

/// The test a `[ RUN      ] Suite.Test` line opens.
fn opening(line: &str) -> Option<&str> {
    tagged(line).and_then(|(tag, id)| (tag == "RUN").then_some(id))
}

/// The live event of a line: `[ RUN      ] Suite.Test` and `[       OK ]
/// Suite.Test (3 ms)`, also glued to the end of a test's print. The
/// closing summary repeats failures without a time, and is left alone; so
/// is a closing line without its time, which the results read once the
/// binary ended. An end told for a test that has not started is dropped
/// by the host when it starts.
pub fn parse_line(index: usize, line: &str) -> Option<LiveEvent> {
    if let Some(id) = opening(line) {
        return Some(LiveEvent::Started {
            id: id.to_owned(),
            line: Some(index),
        });
    }
    // Only a line that ends with a time is looked into for a glued one:
    // a test's prints cost one comparison each.
    let closing = match closing(line) {
        Some(closing) => closing,
        None if line.ends_with(" ms)") => last_closing(line)?.1,
        None => return None,
    };
    closing.time_ms.map(|_| LiveEvent::Finished {
        id: closing.id.to_owned(),
        outcome: closing.outcome,
        message: None,
        line: Some(index),
    })
}

/// What a binary printed, read once it ended.
#[derive(Debug, Default)]
pub struct Printed {
    /// The result of each test whose closing line was printed, in order.
    pub results: Vec<TestResult>,
    /// Whether any test was printed opening: GoogleTest's own printer
    /// opens each, one that replaces it (or `--gtest_brief`) none.
    pub any_opened: bool,
    /// The failures outside any test, by the id they are reported under,
    /// with what was printed of them.
    pub outside: BTreeMap<String, String>,
    /// What the global environment printed of skipping, when it skipped
    /// the run: GoogleTest then opens no test, and counts each passed.
    pub environment_skip: Option<String>,
}

/// Reads what a binary printed: each test's result from its lines, and
/// the failures outside the tests. Linear in the output, whatever it holds:
/// a test's message is taken as one slice of it, not gathered line by line.
pub fn read(stdout: &str) -> Printed {
    let mut results = Vec::new();
    let mut any_opened = false;
    let mut running: Option<Running> = None;
    let mut outside = Outside::default();
    for line in stdout.lines() {
        if let Some(test) = &mut running {
            // Its closing line, or a later one before the next test or
            // suite line: a test may print what reads as its own closing
            // line before GoogleTest prints the real one.
            if let Some((printed, closing)) = closed(line, test.id) {
                let end = offset(stdout, printed) + printed.len();
                test.close(&mut results, stdout, end, closing);
                continue;
            }
            if structural(line) {
                // Its end; unclosed, its closing line was not printed whole.
                running = None;
            } else {
                test.read(stdout, line);
                // Once closed, what follows is also outside the tests: a
                // suite's tear-down failure is printed there.
                if test.result_at.is_none() {
                    continue;
                }
            }
        }
        if let Some(id) = opening(line) {
            running = Some(Running::new(id));
            any_opened = true;
            continue;
        }
        outside.read(line);
    }
    Printed {
        results,
        any_opened,
        environment_skip: outside.environment_skip(),
        outside: outside.failures(),
    }
}

/// Where `part` begins in `whole`, of which it must be a slice (a line
/// of it, or a part of one).
fn offset(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// The test opened last, until a test or suite line: where in the output
/// its first failure's block, and its first skip's, begin, and its result
/// once closed.
struct Running<'a> {
    id: &'a str,
    failure_at: Option<usize>,
    skip_at: Option<usize>,
    /// Where its result is among the results, once closed.
    result_at: Option<usize>,
}

impl<'a> Running<'a> {
    fn new(id: &'a str) -> Self {
        Self {
            id,
            failure_at: None,
            skip_at: None,
            result_at: None,
        }
    }

    /// Records the result a closing line tells; a later one replaces an
    /// earlier unless it would hide a failure.
    fn close(&mut self, results: &mut Vec<TestResult>, stdout: &str, end: usize, closing: Closing) {
        let result = self.result(stdout, end, closing);
        match self.result_at {
            None => {
                self.result_at = Some(results.len());
                results.push(result);
            }
            Some(at) if !results[at].outcome.is_failure() || result.outcome.is_failure() => {
                results[at] = result;
            }
            Some(_) => {}
        }
    }

    /// Notes a line the test printed (or GoogleTest printed for it).
    fn read(&mut self, stdout: &str, line: &str) {
        if self.failure_at.is_none() && line.ends_with(": Failure") {
            self.failure_at = Some(offset(stdout, line));
        } else if self.skip_at.is_none() && line.ends_with(": Skipped") {
            self.skip_at = Some(offset(stdout, line));
        }
    }

    /// The result its closing line tells, the output up to `end` printed
    /// in it: the message is the failure's (or the skip's) block, and
    /// what the test printed after it.
    fn result(&self, stdout: &str, end: usize, closing: Closing<'_>) -> TestResult {
        let block_at = match closing.outcome {
            Outcome::Failed => self.failure_at,
            Outcome::Skipped => self.skip_at,
            _ => None,
        };
        let message = block_at.map(|at| stdout[at..end].trim_end().to_owned());
        TestResult {
            duration_ms: closing.time_ms,
            message,
            ..TestResult::new(self.id, closing.outcome)
        }
    }
}

/// Whether `line` is one the printer prints only between tests: a test
/// opening, a suite's or the whole run's banner.
fn structural(line: &str) -> bool {
    opening(line).is_some() || line.starts_with("[----------]") || line.starts_with("[==========]")
}

/// How GoogleTest's printer begins a closing line.
const CLOSING_TAGS: [&str; 3] = ["[       OK ] ", "[  FAILED  ] ", "[  SKIPPED ] "];

/// `line` closing the test `id`, with what the test printed before it on
/// the line (a print without its final newline), a slice of `line` even
/// when empty. A closing line ends its line, so only the last tag on it
/// is read: a line of any length costs linear time.
fn closed<'a>(line: &'a str, id: &str) -> Option<(&'a str, Closing<'a>)> {
    let (at, closing) = match closing(line) {
        Some(closing) if closing.id == id => return Some((&line[..0], closing)),
        _ => last_closing(line)?,
    };
    (closing.id == id).then(|| (&line[..at], closing))
}

/// The closing line that ends `line` from its last closing tag, and where
/// the tag begins.
fn last_closing(line: &str) -> Option<(usize, Closing<'_>)> {
    let at = (CLOSING_TAGS.iter())
        .filter_map(|tag| line.rfind(tag))
        .max()?;
    closing(&line[at..]).map(|closing| (at, closing))
}

/// The output outside the tests, read line by line: where it is (in a
/// suite between its tests, or in the global environment's set-up or
/// tear-down) and what was printed there.
#[derive(Default)]
struct Outside<'a> {
    suite: Option<&'a str>,
    in_environment: bool,
    printed: BTreeMap<String, Vec<&'a str>>,
    failed_suites: Vec<&'a str>,
}

impl<'a> Outside<'a> {
    fn read(&mut self, line: &'a str) {
        if let Some(rest) = line.strip_prefix("[----------] ") {
            if rest.starts_with("Global test environment") {
                (self.suite, self.in_environment) = (None, true);
            } else if let Some((_, name)) = rest.split_once(" from ") {
                self.in_environment = false;
                // `N tests from Suite` opens it, `... (N ms total)` closes it.
                self.suite = (!name.ends_with(" total)")).then_some(name.trim());
            }
            return;
        }
        if line.starts_with("[==========]") {
            (self.suite, self.in_environment) = (None, false);
            return;
        }
        if let Some(name) = line
            .strip_prefix("[  FAILED  ] ")
            .and_then(|rest| rest.strip_suffix(SUITE_FAILURE))
        {
            self.failed_suites.push(name);
            return;
        }
        // A closing line of no running test: the summary's repeat, or a
        // test whose opening line was lost.
        if line.trim().is_empty() || closing(line).is_some() {
            return;
        }
        let owner = match (self.suite, self.in_environment) {
            (Some(suite), _) => format!("{suite}{SUITE_FAILURE}"),
            (None, true) => ENVIRONMENT_FAILURE.to_owned(),
            (None, false) => return,
        };
        self.printed.entry(owner).or_default().push(line);
    }

    /// What was printed in the global environment's set-up and tear-down,
    /// and whether a failure was among it (the banner lines are not kept).
    fn environment(&self) -> Option<(&[&'a str], bool)> {
        let lines = self.printed.get(ENVIRONMENT_FAILURE)?;
        Some((lines, lines.iter().any(|l| l.contains("Failure"))))
    }

    /// The skip printed in the global environment, from its header on,
    /// when nothing failed there.
    fn environment_skip(&self) -> Option<String> {
        let (lines, false) = self.environment()? else {
            return None;
        };
        let first = lines.iter().position(|l| l.ends_with(": Skipped"))?;
        Some(lines[first..].join("\n"))
    }

    /// The failures: each suite that failed, with what was printed in it
    /// between its tests, and the environment's when a failure was printed
    /// in it.
    fn failures(&self) -> BTreeMap<String, String> {
        let mut failures: BTreeMap<String, String> = (self.failed_suites.iter())
            .map(|suite| {
                let id = format!("{suite}{SUITE_FAILURE}");
                let text = self.printed.get(&id).map(|lines| lines.join("\n"));
                (id, text.unwrap_or_default())
            })
            .collect();
        if let Some((lines, true)) = self.environment() {
            failures.insert(ENVIRONMENT_FAILURE.to_owned(), lines.join("\n"));
        }
        failures
    }
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
            parse_line(
                7,
                "printed without a newline[       OK ] Math.Prints (1 ms)"
            ),
            Some(LiveEvent::Finished {
                id: "Math.Prints".into(),
                outcome: Outcome::Passed,
                message: None,
                line: Some(7)
            }),
            "a closing line glued to a print"
        );
        assert_eq!(parse_line(0, "waited (3 ms)"), None);
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
        let failures = read(OUTPUT).outside;
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
        assert!(read(passing).outside.is_empty());
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
        let failures = read(output).outside;
        let ids: Vec<&str> = failures.keys().map(String::as_str).collect();
        assert_eq!(ids, ["Throwing: SetUpTestSuite or TearDownTestSuite"]);
    }

    /// The outcome, time and message of each result `read` finds.
    fn results(stdout: &str) -> Vec<(String, Outcome, Option<u64>, Option<String>)> {
        (read(stdout).results.into_iter())
            .map(|r| (r.id, r.outcome, r.duration_ms, r.message))
            .collect()
    }

    #[test]
    fn each_test_is_told_by_its_closing_line_with_its_failure_as_message() {
        let found = results(OUTPUT);
        assert_eq!(
            found,
            [
                (
                    "FailingSetUp.First".into(),
                    Outcome::Skipped,
                    Some(0),
                    Some("s.cc:6: Skipped".into())
                ),
                (
                    "FailingTearDown.Only".into(),
                    Outcome::Passed,
                    Some(0),
                    None
                ),
            ]
        );
        let failing = "[ RUN      ] Math.Fails
before the failure
m.cc:7: Failure
Expected equality of these values:
  1
  2
printed after it
[  FAILED  ] Math.Fails (4 ms)
[ RUN      ] Squares/Param.Holds/1
[  FAILED  ] Squares/Param.Holds/1, where GetParam() = 2 (0 ms)
";
        assert_eq!(
            results(failing),
            [
                (
                    "Math.Fails".into(),
                    Outcome::Failed,
                    Some(4),
                    Some(
                        "m.cc:7: Failure\nExpected equality of these values:\n  1\n  2\nprinted after it"
                            .into()
                    )
                ),
                ("Squares/Param.Holds/1".into(), Outcome::Failed, Some(0), None),
            ]
        );
    }

    #[test]
    fn a_closing_line_glued_to_a_print_still_closes_its_test_and_no_other() {
        let output = "[ RUN      ] Io.NoNewline
partial[       OK ] Io.NoNewline (1 ms)
[ RUN      ] Io.Spoofs
[       OK ] Other.Test (0 ms)
u.cc:3: Failure
Failed
[  FAILED  ] Io.Spoofs (0 ms)
";
        let found = results(output);
        assert_eq!(
            found,
            [
                ("Io.NoNewline".into(), Outcome::Passed, Some(1), None),
                (
                    "Io.Spoofs".into(),
                    Outcome::Failed,
                    Some(0),
                    Some("u.cc:3: Failure\nFailed".into())
                ),
            ]
        );
    }

    #[test]
    fn closing_lines_without_their_time_close_the_running_test_only() {
        // `--gtest_print_time=0`; the summary's repeat names a test ended.
        let output = "[ RUN      ] A.Passes
[       OK ] A.Passes
[ RUN      ] A.Fails
a.cc:1: Failure
Failed
[  FAILED  ] A.Fails
[==========] 2 tests from 1 test suite ran.
[  FAILED  ] A.Fails
";
        let found = results(output);
        let outcomes: Vec<_> = found
            .iter()
            .map(|(id, o, t, _)| (id.as_str(), *o, *t))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("A.Passes", Outcome::Passed, None),
                ("A.Fails", Outcome::Failed, None)
            ]
        );
        assert_eq!(parse_line(1, "[       OK ] A.Passes"), None, "not live");
    }

    #[test]
    fn a_test_whose_closing_line_never_came_has_no_result() {
        // A crash: the output ends in the test. A test's closing line lost
        // before the suite's banner: the banner ends it, unreported.
        let crashed = "[ RUN      ] A.Crashes\nsome output\n";
        let lost = "[----------] 1 test from B\n[ RUN      ] B.Lost\n[----------] 1 test from B (0 ms total)\n[ RUN      ] C.Next\n[       OK ] C.Next (0 ms)\n";
        assert!(results(crashed).is_empty());
        assert!(read(crashed).any_opened);
        let found = results(lost);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "C.Next");
        let printerless = read("Running main() from a main of its own\nall good\n");
        assert!(!printerless.any_opened && printerless.results.is_empty());
    }

    #[test]
    fn a_test_that_prints_its_own_closing_line_cannot_pass_for_its_failure() {
        let output = "[----------] 1 test from A
[ RUN      ] A.Fails
a.cc:3: Failure
Failed
broke
[       OK ] A.Fails (0 ms)
[  FAILED  ] A.Fails (1 ms)
a.cc:9: Failure
Failed
the suite's tear-down broke
[----------] 1 test from A (1 ms total)
[----------] 2 tests from B
[ RUN      ] B.Passes
[  FAILED  ] B.Passes (0 ms)
[       OK ] B.Passes (0 ms)
[ RUN      ] B.FailsLater
[       OK ] B.FailsLater (0 ms)
b.cc:5: Failure
Failed
late
[  FAILED  ] B.FailsLater (0 ms)
[==========] 3 tests from 2 test suites ran. (1 ms total)
[  FAILED  ] A.Fails
[  FAILED  ] B.Passes
[  FAILED  ] B.FailsLater
[  FAILED  ] A: SetUpTestSuite or TearDownTestSuite
";
        let printed = read(output);
        let found: Vec<_> = (printed.results.iter())
            .map(|r| (r.id.as_str(), r.outcome, r.message.as_deref()))
            .collect();
        let failure = "a.cc:3: Failure\nFailed\nbroke\n[       OK ] A.Fails (0 ms)";
        assert_eq!(
            found,
            [
                ("A.Fails", Outcome::Failed, Some(failure)),
                ("B.Passes", Outcome::Failed, None),
                (
                    "B.FailsLater",
                    Outcome::Failed,
                    Some("b.cc:5: Failure\nFailed\nlate")
                )
            ]
        );
        // What follows a closed test is outside it, as GoogleTest prints
        // a suite's tear-down failure there.
        let suite = printed.outside.get(&format!("A{SUITE_FAILURE}"));
        assert!(
            suite.is_some_and(|text| text.contains("tear-down broke")),
            "{printed:?}"
        );
    }

    #[test]
    fn a_skip_in_the_environments_set_up_is_told_apart() {
        // GoogleTest 1.12: no test opens, and the summary counts it passed.
        let output = "[==========] Running 1 test from 1 test suite.
[----------] Global test environment set-up.
env.cc:39: Skipped
Skipping the entire environment
[----------] Global test environment tear-down
[==========] 1 test from 1 test suite ran. (0 ms total)
[  PASSED  ] 1 test.
";
        let printed = read(output);
        assert!(!printed.any_opened && printed.outside.is_empty());
        assert_eq!(
            printed.environment_skip.as_deref(),
            Some("env.cc:39: Skipped\nSkipping the entire environment")
        );
        assert_eq!(read(OUTPUT).environment_skip, None);
    }

    #[test]
    fn a_line_of_brackets_without_end_is_read_in_linear_time() {
        // Every `[` tried as a closing line's start, each read to the
        // line's end, took quadratic time: minutes for this line.
        let noise = "[".repeat(1_000_000);
        let output = format!("[ RUN      ] A.Noisy\n{noise}[       OK ] A.Noisy (1 ms)\n");
        let started = std::time::Instant::now();
        let found = results(&output);
        assert_eq!(found, [("A.Noisy".into(), Outcome::Passed, Some(1), None)]);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
