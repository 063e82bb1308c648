//! The outcome decision: from what a process did and what it reported, the
//! outcome of each test it ran. Pure functions of their inputs, so that the
//! rules a run's verdict rests on are read, and tested, as a table.
//!
//! The rules, strongest first:
//! - What the host saw outranks what the runner read: a test in flight (or
//!   alone) when its process hung timed out, whatever was reported; but
//!   when one test ran past its own limit, another in flight beside it (in
//!   a process running tests at once) was cut short, not hung, and runs
//!   again.
//! - Else the runner's result for the test, where a failing subtest fails
//!   a test reported as passed or skipped.
//! - Else what the live output said when the test ended.
//! - Else, for a test in flight (or alone): not run when a stop signal
//!   ended the process; crashed when it died of a signal or exited while
//!   the test ran; failed when a process that ran it alone reported nothing.
//! - Else the test is unknown and runs again in a fresh process, whose
//!   results decide: one crash never decides for the tests after it.
//! - A process that failed (a non-zero exit, a signal, a hang, or a leak
//!   under `leak: fail`) while no test it reported failed fails all the
//!   same ([`charge`]), unless the host stopped it for a stop signal.
//! - Before all of these: a process that exited by itself before any test
//!   began, whose results its runner could not read (the framework never
//!   started), blocks its tests with the runner's error, an infrastructure
//!   failure (`execute`).

use std::time::Duration;

use proctor_plugin_api::messages::{Outcome, ProcessExit, TestResult};

use crate::config::LeakAction;
use crate::process::Signal;

/// Why the host killed a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hang {
    TestTimeout { test: String, limit: Duration },
    ProcessTimeout(Duration),
    Inactivity(Duration),
}

impl Hang {
    /// Whether the hang is `test`'s doing, if it was in flight: a test
    /// past its own limit blames no other.
    fn blames(&self, test: &str) -> bool {
        match self {
            Hang::TestTimeout { test: late, .. } => late == test,
            Hang::ProcessTimeout(_) | Hang::Inactivity(_) => true,
        }
    }
}

impl std::fmt::Display for Hang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hang::TestTimeout { test, limit } => {
                write!(f, "`{test}` ran past its timeout of {limit:?}")
            }
            Hang::ProcessTimeout(limit) => write!(f, "the process ran past {limit:?}"),
            Hang::Inactivity(limit) => {
                write!(f, "no test started or finished for {limit:?}")
            }
        }
    }
}

/// How a process ended, as the host saw it.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnd<'a> {
    pub exit: ProcessExit,
    /// The host killed it for running past a limit.
    pub hang: Option<&'a Hang>,
    /// The run was stopped while it ran: the host signalled it.
    pub stopped: Option<Signal>,
    /// What it left running after it ended, or held its output open.
    pub leak: Option<&'a str>,
}

/// What is known of one test when its process ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen<'a> {
    /// Its id.
    pub id: &'a str,
    /// It had started and not finished when the process ended.
    pub in_flight: bool,
    /// Its process ran it alone: what the process did, it did.
    pub alone: bool,
    /// The runner's result for it.
    pub reported: Option<&'a TestResult>,
    /// Its end as the live output showed it.
    pub live: Option<(Outcome, Option<&'a str>)>,
}

/// A test's outcome, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The runner's result: its details (stack trace, subtests, output)
    /// come with it.
    Reported {
        outcome: Outcome,
        message: Option<String>,
    },
    /// The live output's.
    Live {
        outcome: Outcome,
        message: Option<String>,
    },
    /// The host's own finding; with `details`, the process's last lines
    /// explain it.
    Host {
        outcome: Outcome,
        message: String,
        details: bool,
    },
    /// Not known: the test runs again in a fresh process.
    Unrun,
}

/// The outcome of one test whose process ended as `end`.
pub fn decide(end: &ProcessEnd<'_>, seen: &Seen<'_>) -> Decision {
    let concerned = seen.in_flight || seen.alone;
    match (end.hang, end.stopped, seen.reported, seen.live) {
        (Some(hang), _, _, _) if concerned && hang.blames(seen.id) => Decision::Host {
            outcome: Outcome::TimedOut,
            message: format!("timed out: {hang}"),
            details: false,
        },
        (_, _, Some(result), _) => {
            let (outcome, message) = reported(result);
            Decision::Reported { outcome, message }
        }
        (_, _, None, Some((outcome, message))) => Decision::Live {
            outcome,
            message: message.map(str::to_owned),
        },
        (None, Some(signal), None, None) if concerned => {
            let when = match seen.in_flight {
                true => "while this test ran",
                false => "before this test reported a result",
            };
            Decision::Host {
                outcome: Outcome::NotRun,
                message: format!("not run to its end: the run was stopped by {signal} {when}"),
                details: false,
            }
        }
        (None, None, None, None) if concerned => {
            let exit = end.exit;
            let (outcome, message) = match (exit.signal, seen.in_flight) {
                (Some(_), true) => (
                    Outcome::Crashed,
                    format!("the process died of {exit} while this test ran"),
                ),
                (Some(_), false) => (Outcome::Crashed, format!("the process died of {exit}")),
                (None, true) => (
                    Outcome::Crashed,
                    format!("the process ended ({exit}) while this test ran"),
                ),
                (None, false) => (
                    Outcome::Failed,
                    format!("the runner reported no result ({exit})"),
                ),
            };
            Decision::Host {
                outcome,
                message,
                details: true,
            }
        }
        _ => Decision::Unrun,
    }
}

/// A runner's result, where a failing subtest fails the test whatever the
/// runner made of it.
pub fn reported(result: &TestResult) -> (Outcome, Option<String>) {
    let failed: Vec<_> = (result.subtests.iter())
        .filter(|s| s.outcome.is_failure())
        .collect();
    match (result.outcome, failed.as_slice()) {
        (Outcome::Passed | Outcome::Skipped, [first, ..]) => (
            Outcome::Failed,
            Some(format!(
                "{} of its subtests failed, first {}: {}",
                failed.len(),
                first.name,
                first.message.as_deref().unwrap_or("no message")
            )),
        ),
        (outcome, _) => (outcome, result.message.clone()),
    }
}

/// What a process's own failure makes of its job, when none of the
/// `finished` tests it settled failed: the outcome and message its job is
/// charged with. Nothing when a test's failure already accounts for it,
/// when it settled no test (they run again, and decide), when a stop
/// signal ended it, or when it did not fail.
pub fn charge(
    end: &ProcessEnd<'_>,
    leak_action: LeakAction,
    finished: usize,
    a_failure_accounts: bool,
) -> Option<(Outcome, String)> {
    if a_failure_accounts || finished == 0 || end.stopped.is_some() {
        return None;
    }
    let (outcome, how) = match (end.hang, end.exit.signal) {
        (Some(hang), _) => (Outcome::TimedOut, format!("was killed: {hang}")),
        (None, Some(_)) => (Outcome::Crashed, format!("ended with {}", end.exit)),
        (None, None) if !end.exit.success() => {
            (Outcome::Failed, format!("ended with {}", end.exit))
        }
        (None, None) => match (end.leak, leak_action) {
            (Some(leak), LeakAction::Fail) => {
                (Outcome::Failed, format!("left processes behind ({leak})"))
            }
            _ => return None,
        },
    };
    let message = match finished {
        1 => format!("the process {how} after the test passed"),
        n => format!("the process {how} after its {n} tests passed or were skipped"),
    };
    Some((outcome, message))
}

/// Whether a later result of a test replaces the one kept. A test that ran
/// twice under one name failed if either run did: a pass never hides a
/// failure.
pub fn replaces(kept: Option<Outcome>, later: Outcome) -> bool {
    kept.is_none_or(|kept| !kept.is_failure() || later.is_failure())
}

#[cfg(test)]
mod tests {
    use proctor_plugin_api::messages::SubtestResult;

    use super::*;

    const CLEAN: ProcessExit = ProcessExit {
        code: Some(0),
        signal: None,
    };
    const EXIT_1: ProcessExit = ProcessExit {
        code: Some(1),
        signal: None,
    };
    const SIGSEGV: ProcessExit = ProcessExit {
        code: None,
        signal: Some(11),
    };
    const SIGKILL: ProcessExit = ProcessExit {
        code: None,
        signal: Some(9),
    };

    fn ended(exit: ProcessExit) -> ProcessEnd<'static> {
        ProcessEnd {
            exit,
            hang: None,
            stopped: None,
            leak: None,
        }
    }

    fn result(outcome: Outcome) -> TestResult {
        TestResult {
            message: Some("as reported".into()),
            ..TestResult::new("t", outcome)
        }
    }

    /// A rule, the process's end, what was seen of the test, and the
    /// outcome with the start of its message (`None`: unrun).
    type DecisionRow<'a> = (
        &'a str,
        ProcessEnd<'a>,
        Seen<'a>,
        Option<(Outcome, &'a str)>,
    );
    /// A rule, the process's end, the leak setting, the tests settled,
    /// whether a failure accounts for it, and the charge.
    type ChargeRow<'a> = (
        &'a str,
        ProcessEnd<'a>,
        LeakAction,
        usize,
        bool,
        Option<(Outcome, &'a str)>,
    );

    /// The outcome and the start of the message a decision gives, or `None` for unrun.
    fn outcome_of(decision: Decision) -> Option<(Outcome, String)> {
        match decision {
            Decision::Reported { outcome, message } | Decision::Live { outcome, message } => {
                Some((outcome, message.unwrap_or_default()))
            }
            Decision::Host {
                outcome, message, ..
            } => Some((outcome, message)),
            Decision::Unrun => None,
        }
    }

    #[test]
    fn each_test_gets_the_outcome_the_rules_give() {
        let hang = Hang::Inactivity(Duration::from_secs(5));
        let passed = result(Outcome::Passed);
        let failed = result(Outcome::Failed);
        let mut with_failing_subtest = result(Outcome::Passed);
        with_failing_subtest.subtests = vec![SubtestResult {
            name: "case 2".into(),
            outcome: Outcome::Failed,
            message: Some("2 != 3".into()),
        }];
        let hung = ProcessEnd {
            hang: Some(&hang),
            ..ended(SIGKILL)
        };
        let late_test = Hang::TestTimeout {
            test: "late".into(),
            limit: Duration::from_secs(5),
        };
        let late = ProcessEnd {
            hang: Some(&late_test),
            ..ended(SIGKILL)
        };
        let stopped = ProcessEnd {
            stopped: Some(Signal::Terminate),
            ..ended(SIGKILL)
        };
        let in_flight = Seen {
            in_flight: true,
            ..Seen::default()
        };
        let alone = Seen {
            alone: true,
            ..Seen::default()
        };
        let in_a_batch = Seen::default();
        fn reported<'a>(seen: Seen<'a>, result: &'a TestResult) -> Seen<'a> {
            Seen {
                reported: Some(result),
                ..seen
            }
        }
        let (passed, failed, with_failing_subtest) = (&passed, &failed, &with_failing_subtest);
        let live = |outcome| Seen {
            live: Some((outcome, Some("as the live output said"))),
            ..in_a_batch
        };
        #[rustfmt::skip]
        let table: Vec<DecisionRow> = vec![
            ("a reported pass stands", ended(CLEAN), reported(in_a_batch, passed), Some((Outcome::Passed, "as reported"))),
            ("a reported failure stands", ended(EXIT_1), reported(alone, failed), Some((Outcome::Failed, "as reported"))),
            ("a failing subtest fails a passed test", ended(CLEAN), reported(alone, with_failing_subtest), Some((Outcome::Failed, "1 of its subtests failed, first case 2: 2 != 3"))),
            ("the live output decides without a result", ended(CLEAN), live(Outcome::Failed), Some((Outcome::Failed, "as the live output said"))),
            ("a hang times out the test in flight, whatever was reported", hung, reported(in_flight, passed), Some((Outcome::TimedOut, "timed out: no test started or finished for 5s"))),
            ("a hang times out a test alone", hung, alone, Some((Outcome::TimedOut, "timed out"))),
            ("a hang leaves a finished test of a batch its result", hung, reported(in_a_batch, passed), Some((Outcome::Passed, "as reported"))),
            ("a hang leaves an unstarted test of a batch unrun", hung, in_a_batch, None),
            ("a test past its limit times out", late, Seen { id: "late", ..in_flight }, Some((Outcome::TimedOut, "timed out: `late` ran past its timeout of 5s"))),
            ("a test past its limit leaves another in flight unrun", late, in_flight, None),
            ("a test past its limit leaves another's result", late, reported(in_flight, passed), Some((Outcome::Passed, "as reported"))),
            ("a crash in flight crashes the test", ended(SIGSEGV), in_flight, Some((Outcome::Crashed, "the process died of signal 11 (SIGSEGV) while this test ran"))),
            ("a crash of a test alone crashes it", ended(SIGSEGV), alone, Some((Outcome::Crashed, "the process died of signal 11 (SIGSEGV)"))),
            ("an exit in flight crashes the test", ended(CLEAN), in_flight, Some((Outcome::Crashed, "the process ended (exit code 0) while this test ran"))),
            ("a test alone that reported nothing failed", ended(CLEAN), alone, Some((Outcome::Failed, "the runner reported no result (exit code 0)"))),
            ("a crash leaves the tests after it unrun", ended(SIGSEGV), in_a_batch, None),
            ("zero tests reported: the batch's tests run again", ended(CLEAN), in_a_batch, None),
            ("a stop in flight leaves the test not run", stopped, in_flight, Some((Outcome::NotRun, "not run to its end: the run was stopped by SIGTERM while this test ran"))),
            ("a stop keeps a reported result", stopped, reported(in_flight, failed), Some((Outcome::Failed, "as reported"))),
            ("a stop leaves an unstarted test of a batch unrun", stopped, in_a_batch, None),
        ];
        for (rule, end, seen, expected) in table {
            let got = outcome_of(decide(&end, &seen));
            let got = got.as_ref().map(|(o, m)| (*o, m.as_str()));
            match (got, expected) {
                (Some((outcome, message)), Some((want, start))) => {
                    assert_eq!(outcome, want, "{rule}");
                    assert!(message.starts_with(start), "{rule}: {message}");
                }
                (got, want) => assert_eq!(got.is_none(), want.is_none(), "{rule}: {got:?}"),
            }
        }
    }

    #[test]
    fn a_failed_process_whose_tests_passed_is_charged() {
        let hang = Hang::ProcessTimeout(Duration::from_secs(60));
        let leak = "1 process left running";
        let leaky = ProcessEnd {
            leak: Some(leak),
            ..ended(CLEAN)
        };
        #[rustfmt::skip]
        let table: Vec<ChargeRow> = vec![
            ("a non-zero exit after passing tests", ended(EXIT_1), LeakAction::Pass, 2, false, Some((Outcome::Failed, "the process ended with exit code 1 after its 2 tests passed or were skipped"))),
            ("a signal after the test passed", ended(SIGSEGV), LeakAction::Pass, 1, false, Some((Outcome::Crashed, "the process ended with signal 11 (SIGSEGV) after the test passed"))),
            ("a hang after the tests passed", ProcessEnd { hang: Some(&hang), ..ended(SIGKILL) }, LeakAction::Pass, 3, false, Some((Outcome::TimedOut, "the process was killed: the process ran past 60s after its 3 tests passed or were skipped"))),
            ("a leak under leak: fail", leaky, LeakAction::Fail, 1, false, Some((Outcome::Failed, "the process left processes behind (1 process left running) after the test passed"))),
            ("a leak under leak: pass", leaky, LeakAction::Pass, 1, false, None),
            ("a failed test accounts for the exit", ended(EXIT_1), LeakAction::Pass, 2, true, None),
            ("no settled test: they run again and decide", ended(EXIT_1), LeakAction::Pass, 0, false, None),
            ("a stop signal is not the process's failure", ProcessEnd { stopped: Some(Signal::Interrupt), ..ended(SIGKILL) }, LeakAction::Fail, 2, false, None),
            ("a clean exit", ended(CLEAN), LeakAction::Fail, 2, false, None),
        ];
        for (rule, end, leak_action, finished, accounted, expected) in table {
            let got = charge(&end, leak_action, finished, accounted);
            assert_eq!(
                got.as_ref().map(|(o, m)| (*o, m.as_str())),
                expected,
                "{rule}"
            );
        }
    }

    #[test]
    fn a_pass_never_hides_a_failure_of_the_same_test() {
        assert!(replaces(None, Outcome::Passed));
        assert!(replaces(Some(Outcome::Passed), Outcome::Failed));
        assert!(replaces(Some(Outcome::Failed), Outcome::Crashed));
        assert!(!replaces(Some(Outcome::Failed), Outcome::Passed));
        assert!(!replaces(Some(Outcome::TimedOut), Outcome::Skipped));
    }
}
