//! No false green: every failure reaches the verdict. Real GoogleTest
//! binaries failing outside their tests, real pytest sessions that fail
//! while their tests pass, real subtests, output the runner cannot read,
//! and runs that select no test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proctor_e2e::*;
use serde_json::{json, Value};

fn verdict_fixture(path: &str) -> PathBuf {
    fixtures().join("pytest-verdict").join(path)
}

fn tests_of<'a>(summary: &'a RunSummary, source: &str) -> Vec<&'a TestRecord> {
    summary
        .tests
        .iter()
        .filter(|t| *t.source == *source)
        .collect()
}

/// The names of the files in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = (std::fs::read_dir(dir).unwrap())
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The pids of the processes that ran a test of the `workers` fixture,
/// from the marks it left in `marks`.
fn processes_that_ran(marks: &Path) -> Vec<String> {
    (file_names(marks).into_iter())
        .filter_map(|name| name.strip_prefix("ran-").map(str::to_owned))
        .collect()
}

/// A pytest suite of one file, `name` holding `text`, in `dir`/suite.
fn one_file_suite(dir: &Path, name: &str, text: &str) -> PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(suite.join(name), text).unwrap();
    suite
}

fn gtest(name: &str, path: &Path, mode: &str) -> Value {
    json!({ "name": name, "runner": "gtest", "path": path, "mode": mode })
}

/// A gtest source in batches whose binary runs with `variable` set to `value`.
fn gtest_batches_with(name: &str, path: &Path, variable: &str, value: &str) -> Value {
    let mut source = gtest(name, path, "batch");
    source["env"] = json!({ variable: value });
    source
}

/// The message, and the details below it, of a record's last attempt.
fn last_attempt_text(test: &TestRecord) -> String {
    let last = test.attempts.last().unwrap();
    format!(
        "{}\n{}",
        last.message.as_deref().unwrap_or_default(),
        last.stack_trace.as_deref().unwrap_or_default()
    )
}

#[test]
fn failures_in_a_suites_set_up_or_tear_down_or_the_environment_fail_the_run() {
    let binary = gtest_fixture("gtest-verdict/suite_failures.cc", "suite_failures");
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [gtest("batch", &binary, "batch"), gtest("alone", &binary, "isolated")],
    });
    let (code, summary, _) = run_config_with_env(
        dir.path(),
        config,
        &["-j", "2"],
        &[("FAIL_ENVIRONMENT", "1")],
    );
    assert_eq!(
        code,
        Some(1),
        "every test passed or was skipped, and the run fails"
    );
    assert_eq!(summary.run.outcome, RunOutcome::TestsFailed);

    for source in ["batch", "alone"] {
        let tests = tests_of(&summary, source);
        // GoogleTest skips the tests of a suite whose set-up failed.
        for id in ["FailingSetUp.First", "FailingSetUp.Second"] {
            assert_eq!(test_record(&summary, source, id).outcome, Outcome::Skipped);
        }
        assert_eq!(
            test_record(&summary, source, "FailingTearDown.Only").outcome,
            Outcome::Passed
        );
        let outside: Vec<&TestRecord> = tests
            .iter()
            .copied()
            .filter(|t| t.kind == RecordKind::Suite)
            .collect();
        let ids: Vec<&str> = outside.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "FailingSetUp: SetUpTestSuite or TearDownTestSuite",
                "FailingTearDown: SetUpTestSuite or TearDownTestSuite",
                "NonTestSuiteFailure"
            ],
            "once each, though each process of the isolated source reported them: {tests:#?}"
        );
        for (record, says) in outside.iter().zip([
            "the suite's database did not start",
            "the suite left a temporary directory behind",
            "the global environment broke",
        ]) {
            assert_eq!(record.outcome, Outcome::Failed);
            assert!(last_attempt_text(record).contains(says), "{record:#?}");
        }
    }
    assert_eq!(summary.run.counts.failed, 6);
    assert_reports_valid(&dir.path().join("results"));
}

/// GoogleTest's results are read from what it prints: every test is told
/// as GoogleTest told it, whatever the tests print around its lines, with
/// its printer quieted by the environment or its time left out, or the
/// global environment skipping them all; and from its XML when asked, for
/// a main that replaces its printer.
#[test]
fn googletest_results_read_from_its_output_are_what_it_printed() {
    let binary = gtest_fixture("gtest-verdict/printed.cc", "printed");
    let dir = tempfile::tempdir().unwrap();
    let brief = gtest_batches_with("brief", &binary, "GTEST_BRIEF", "1");
    let mut untimed = gtest("untimed", &binary, "batch");
    untimed["settings"] = json!({ "args": ["--gtest_print_time=0"] });
    let mut replaced = gtest_batches_with("replaced", &binary, "REPLACE_PRINTER", "1");
    replaced["settings"] = json!({ "xml": true });
    let sources = [
        gtest("alone", &binary, "isolated"),
        brief,
        untimed,
        replaced,
    ];
    let config = json!({ "sources": sources });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    for source in ["alone", "brief", "untimed", "replaced"] {
        let outcome = |id: &str| test_record(&summary, source, id).outcome;
        assert_eq!(outcome("Printed.ClaimsAnotherPassed"), Outcome::Passed);
        assert_eq!(outcome("Printed.Fails"), Outcome::Failed, "{source}");
        assert_eq!(outcome("Printed.PassesWithoutNewline"), Outcome::Passed);
        assert_eq!(outcome("Printed.FailsWithoutNewline"), Outcome::Failed);
        assert_eq!(outcome("Printed.Skips"), Outcome::Skipped);
        assert_eq!(tests_of(&summary, source).len(), 5, "{source}");
        let fails = test_record(&summary, source, "Printed.Fails");
        let message = fails.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("printed.cc:") && message.contains("one is not two"),
            "{source}: {message}"
        );
        assert!(!message.contains("printed before"), "{source}: {message}");
    }
    let skip = test_record(&summary, "brief", "Printed.Skips");
    assert!(skip
        .message
        .as_deref()
        .unwrap_or_default()
        .contains("not on this machine"));
    assert_reports_valid(&dir.path().join("results"));

    // An environment that skips in its set-up: GoogleTest opens no test
    // and counts each passed; each is skipped, on one job and on two.
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let skipping = gtest_batches_with("skipping", &binary, "SKIP_ENVIRONMENT", "1");
        let config = json!({ "sources": [skipping] });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", jobs], &[]);
        assert_eq!(code, Some(0), "-j {jobs}: {stderr}");
        let tests = tests_of(&summary, "skipping");
        assert_eq!(tests.len(), 5, "-j {jobs}: {tests:#?}");
        for test in tests {
            assert_eq!(test.outcome, Outcome::Skipped, "-j {jobs}: {test:#?}");
            let message = test.message.as_deref().unwrap_or_default();
            assert!(
                message.contains("no device attached"),
                "-j {jobs}: {message}"
            );
        }
    }

    // The main that replaces the printer, its results read from the
    // output: refused, naming the setting, never green.
    let dir = tempfile::tempdir().unwrap();
    let replaced = gtest_batches_with("replaced", &binary, "REPLACE_PRINTER", "1");
    let config = json!({ "sources": [replaced] });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &[], &[]);
    assert_eq!(code, Some(3), "{stderr}");
    let errors = summary.run.errors.join("\n");
    assert!(errors.contains(r#""xml": true"#), "{errors}");
}

/// A test that prints more than the runner reads of the output (its first
/// and last 4 MiB) without a line break has GoogleTest's closing line
/// glued to the print's end: it is still read, on one job and on two.
#[test]
fn a_googletest_verdict_after_a_print_longer_than_what_is_read_is_kept() {
    let binary = gtest_fixture("gtest-verdict/printed.cc", "printed");
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let long = gtest_batches_with("long", &binary, "LONG_PRINT_BYTES", "9000000");
        let config = json!({ "sources": [long] });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", jobs], &[]);
        assert_eq!(code, Some(1), "-j {jobs}: {stderr}");
        let passes = test_record(&summary, "long", "Printed.PassesWithoutNewline");
        assert_eq!(passes.outcome, Outcome::Passed, "-j {jobs}: {passes:#?}");
        let outcome = |id: &str| test_record(&summary, "long", id).outcome;
        assert_eq!(outcome("Printed.Fails"), Outcome::Failed, "-j {jobs}");
        assert_eq!(outcome("Printed.FailsWithoutNewline"), Outcome::Failed);
    }
}

/// A log cut at `output_log_max_bytes` holds too little of GoogleTest's
/// output to read the results from: each test is still told as GoogleTest
/// told it live, its closing line glued to a print or not, on one job and
/// on two.
#[test]
fn googletest_results_past_the_logs_limit_are_what_it_printed_live() {
    let binary = gtest_fixture("gtest-verdict/printed.cc", "printed");
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let config = json!({
            "output_log_max_bytes": 300,
            "sources": [gtest("cut", &binary, "batch")]
        });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", jobs], &[]);
        assert_eq!(code, Some(1), "-j {jobs}: {stderr}");
        let outcome = |id: &str| test_record(&summary, "cut", id).outcome;
        let told = [
            ("Printed.ClaimsAnotherPassed", Outcome::Passed),
            ("Printed.Fails", Outcome::Failed),
            ("Printed.PassesWithoutNewline", Outcome::Passed),
            ("Printed.FailsWithoutNewline", Outcome::Failed),
            ("Printed.Skips", Outcome::Skipped),
        ];
        for (id, expected) in told {
            assert_eq!(outcome(id), expected, "-j {jobs}: {id}");
        }
    }
}

/// A test's print that reads as GoogleTest's closing line is no result:
/// for the test after it, which then aborts and is the one reported
/// crashed; for itself, passed after it failed. On one job and on two.
#[test]
fn closing_lines_a_test_prints_are_no_results() {
    let binary = gtest_fixture("gtest-verdict/forged.cc", "forged");
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let config = json!({ "sources": [gtest("forged", &binary, "batch")] });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", jobs], &[]);
        assert_eq!(code, Some(1), "-j {jobs}: {stderr}");
        let aborts = test_record(&summary, "forged", "Forged.Aborts");
        assert_eq!(aborts.outcome, Outcome::Crashed, "-j {jobs}: {aborts:#?}");
        let message = aborts.message.as_deref().unwrap_or_default();
        assert!(message.contains("SIGABRT"), "-j {jobs}: {message}");
        let outcome = |id: &str| test_record(&summary, "forged", id).outcome;
        assert_eq!(outcome("Forged.ClaimsTheNextPassed"), Outcome::Passed);
        assert_eq!(outcome("Forged.After"), Outcome::Passed, "-j {jobs}");
        let claims = test_record(&summary, "forged", "Forged.FailsThenClaimsItsPass");
        assert_eq!(claims.outcome, Outcome::Failed, "-j {jobs}: {claims:#?}");
        let message = claims.message.as_deref().unwrap_or_default();
        assert!(message.contains("a real failure"), "-j {jobs}: {message}");
        assert_eq!(tests_of(&summary, "forged").len(), 4, "-j {jobs}");
        assert_reports_valid(&dir.path().join("results"));
    }
}

#[test]
fn a_process_that_fails_after_its_tests_passed_fails_the_run() {
    require_python_module("pytest_cov", "pytest-cov");
    // LeakSanitizer ends the process with a failing status after both tests
    // passed: one process for both, so no test can carry it.
    let binary = gtest_fixture_with("gtest-verdict/leaks.cc", "leaks", &["-fsanitize=address"]);
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [
            gtest("leaks", &binary, "batch"),
            // pytest-cov's data goes to the scratch directory, not the fixture's.
            { "name": "coverage", "runner": "pytest", "path": verdict_fixture("fail-under"),
              "settings": { "args": ["--cov=arithmetic", "--cov-fail-under=100"] },
              "env": { "COVERAGE_FILE": dir.path().join(".coverage") } },
        ],
    });
    let (code, summary, _) = run_config_with_env(dir.path(), config, &["-j", "1"], &[]);
    assert_eq!(code, Some(1));

    for id in ["Leaks.Allocates", "Leaks.Frees"] {
        assert_eq!(test_record(&summary, "leaks", id).outcome, Outcome::Passed);
    }
    let process = test_record(&summary, "leaks", "(process)");
    assert_eq!(process.kind, RecordKind::Process);
    assert_eq!(process.outcome, Outcome::Failed);
    let text = last_attempt_text(process);
    assert!(
        text.contains("after its 2 tests passed")
            && text.contains("LeakSanitizer: detected memory leaks"),
        "the exit status and the tail of stderr: {text}"
    );
    assert!(process.attempts[0].exit_code.unwrap() != 0);

    // pytest-cov's threshold ends the session with a failing status; the
    // one process of the source stands for it through its case.
    assert_eq!(
        test_record(&summary, "coverage", "test_arithmetic.py::test_adds").outcome,
        Outcome::Passed
    );
    let session = test_record(&summary, "coverage", "(all tests)");
    assert_eq!(session.outcome, Outcome::Failed);
    let text = last_attempt_text(session);
    assert!(
        text.contains("Required test coverage of 100% not reached"),
        "{text}"
    );
    assert_reports_valid(&dir.path().join("results"));
}

#[test]
fn a_line_the_runner_cannot_read_fails_the_source_and_is_quoted() {
    let dir = tempfile::tempdir().unwrap();
    // `-s`: the test writes to the real stderr, where the plugin's events go.
    let config = json!({
        "sources": [{ "name": "spoof", "runner": "pytest", "path": verdict_fixture("spoof"),
                      "settings": { "args": ["-s"] } }],
    });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &[], &[]);
    assert_eq!(code, Some(3), "{stderr}");
    let errors = &summary.run.errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = &errors[0];
    assert!(
        error.contains("does not parse")
            && error.contains(r#"`##proctor {"event": "finished", "id": "cut short`"#),
        "{error}"
    );
    // The lines around it still count.
    for id in [
        "test_spoof.py::test_after_it",
        "test_spoof.py::test_prints_a_line_in_the_plugins_shape",
    ] {
        assert_eq!(test_record(&summary, "spoof", id).outcome, Outcome::Passed);
    }
}

#[test]
fn a_pytest_session_that_hangs_after_its_last_test_keeps_that_test_passed() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [{ "name": "hangs", "runner": "pytest", "path": verdict_fixture("hangs-at-end"),
                      "inactivity_timeout_seconds": 2 }],
    });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &[], &[]);
    // The process's hang fails the run; the tests it finished are not
    // charged with it: the last one's end was sent as it ended.
    assert_eq!(code, Some(1), "{stderr}");
    for id in ["test_last.py::test_first", "test_last.py::test_last"] {
        assert_eq!(
            test_record(&summary, "hangs", id).outcome,
            Outcome::Passed,
            "{id}: {stderr}"
        );
    }
    assert!(
        summary.run.counts.failed + summary.run.counts.timed_out > 0,
        "{stderr}"
    );
}

#[test]
fn shares_of_a_suite_each_process_shuffles_run_every_test_once() {
    // Forked workers share one collection; processes each collect the suite.
    for (fork, processes) in [(true, 1), (false, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let config = json!({
            "sources": [{ "name": "shuffled", "runner": "pytest", "path": verdict_fixture("shuffled"),
                          "settings": { "fork": fork } }],
        });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
        assert_eq!(code, Some(0), "{stderr}");
        let tests = tests_of(&summary, "shuffled");
        assert_eq!(tests.len(), 200, "{stderr}");
        assert!(tests
            .iter()
            .all(|t| t.outcome == Outcome::Passed && t.attempts.len() == 1));
        let pids: std::collections::BTreeSet<_> = tests.iter().map(|t| t.attempts[0].pid).collect();
        assert_eq!(pids.len(), processes, "fork {fork}: {pids:?}");
    }
}

#[test]
fn a_whole_source_on_two_jobs_is_collected_once_and_run_by_two_forked_workers() {
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    let config = json!({
        "sources": [{ "name": "py", "runner": "pytest", "path": verdict_fixture("workers"),
                      "env": { "WORKERS_MARKS": marks } }],
    });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let tests = tests_of(&summary, "py");
    assert_eq!(tests.len(), 22, "{stderr}");
    assert!(tests.iter().all(|t| t.attempts.len() == 1));

    let collected = std::fs::read_to_string(marks.join("collected")).unwrap();
    assert_eq!(collected.lines().count(), 1, "collected once: {collected}");
    let workers = processes_that_ran(&marks);
    assert_eq!(workers.len(), 2, "{workers:?}");
    assert!(!workers.contains(&collected.trim().to_owned()));
    // A worker's cycle collector leaves alone what collecting made, which
    // it shares with the process that forked it.
    for worker in &workers {
        let frozen = std::fs::read_to_string(marks.join(format!("frozen-{worker}"))).unwrap();
        let frozen: u64 = frozen.trim().parse().unwrap();
        assert!(frozen > 0, "worker {worker}: nothing frozen");
    }

    // Each failure keeps its own output, though the two ran at once.
    for (id, own, other) in [
        (
            "test_workers.py::test_first_prints_and_fails",
            "output of the first",
            "output of the last",
        ),
        (
            "test_workers.py::test_last_prints_and_fails",
            "output of the last",
            "output of the first",
        ),
    ] {
        let test = test_record(&summary, "py", id);
        assert_eq!(test.outcome, Outcome::Failed);
        let output = test.attempts[0].output.as_deref().expect("captured output");
        let output = std::fs::read_to_string(dir.path().join("results").join(output)).unwrap();
        assert!(
            output.contains(own) && !output.contains(other),
            "{id}: {output}"
        );
    }
}

#[test]
fn a_thread_the_program_waits_for_keeps_the_tests_in_one_process_and_a_daemon_does_not() {
    for (thread, processes) in [("daemon", 2), ("waited", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let marks = dir.path().join("marks");
        std::fs::create_dir(&marks).unwrap();
        let config = json!({
            "sources": [{ "name": "py", "runner": "pytest", "path": verdict_fixture("workers"),
                          "env": { "WORKERS_MARKS": marks, "WORKERS_THREAD": thread } }],
        });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
        assert_eq!(code, Some(1), "{thread}: {stderr}");
        assert_eq!(tests_of(&summary, "py").len(), 22, "{thread}: {stderr}");
        let ran = processes_that_ran(&marks);
        assert_eq!(ran.len(), processes, "{thread}: {ran:?}");
    }
}

#[test]
fn a_pytest_process_ends_after_its_threads_and_exit_functions_without_the_teardown_unless_asked() {
    // Each run's marks: the process runs its exit functions and waits for
    // the thread a test left running, as the interpreter would; only
    // `"teardown": true` finalizes the object alive at exit. On two jobs,
    // the forking process and both workers end as one job's process does.
    for (jobs, teardown, marks) in [
        ("1", false, &["exit-functions", "thread"][..]),
        ("1", true, &["exit-functions", "teardown", "thread"][..]),
        ("2", false, &["exit-functions", "thread"][..]),
        ("2", true, &["exit-functions", "teardown", "thread"][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let marked = dir.path().join("marks");
        std::fs::create_dir(&marked).unwrap();
        let config = json!({
            "sources": [{ "name": "py", "runner": "pytest", "path": verdict_fixture("ending"),
                          "settings": { "teardown": teardown },
                          "env": { "ENDING_MARKS": marked } }],
        });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", jobs], &[]);
        let context = format!("-j {jobs}, teardown {teardown}");
        assert_eq!(code, Some(0), "{context}: {stderr}");
        assert_eq!(summary.run.counts.passed, 2, "{context}: {stderr}");
        assert_eq!(file_names(&marked), marks, "{context}: {stderr}");
    }
}

#[test]
fn a_c_librarys_exit_handlers_run_as_a_pytest_process_ends() {
    require_program("gcc", "Debian's gcc");
    // On one job the test's process ends; on two, the worker that ran it.
    // gcov writes its counts from an exit handler, and the library's own
    // writes to stderr.
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("libadd.so");
        run_to_success(
            std::process::Command::new("gcc")
                .args(["-shared", "-fPIC", "--coverage", "-o"])
                .arg(&library)
                .arg(verdict_fixture("c-library/add.c"))
                .current_dir(dir.path()),
            "building the C library (it needs gcc)",
        );
        let config = json!({
            "sources": [{ "name": "py", "runner": "pytest", "path": verdict_fixture("c-library"),
                          "env": { "C_LIBRARY": library } }],
        });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", jobs], &[]);
        assert_eq!(code, Some(0), "-j {jobs}: {stderr}");
        assert_eq!(summary.run.counts.passed, 2, "-j {jobs}: {stderr}");
        // gcov names its counts after the object's path; gcc chose the name.
        let counts: Vec<_> = (file_names(dir.path()).into_iter())
            .filter(|name| name.ends_with(".gcda"))
            .collect();
        assert_eq!(counts.len(), 1, "-j {jobs}: no coverage counts written");
        let logs = dir.path().join("results/sources/py/processes");
        let said: String = (std::fs::read_dir(&logs).unwrap())
            .map(|process| process.unwrap().path().join("stderr.log"))
            .filter_map(|log| std::fs::read_to_string(log).ok())
            .collect();
        assert_eq!(
            said.matches("said by a C exit handler").count(),
            1,
            "-j {jobs}: {said}"
        );
    }
}

#[test]
fn a_worker_past_its_tests_limit_times_out_that_test_alone_and_the_other_workers_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    // Two workers: the first runs `test_a_hangs`; the second runs `test_b`,
    // then `test_c`, which is in flight (from 1.2 s to 2.4 s) when the
    // first runs past its limit of 2 s, and the host kills the process.
    let suite = one_file_suite(
        dir.path(),
        "test_limit.py",
        "import time\n\
         def test_a_hangs():\n    time.sleep(60)\n\
         def test_b():\n    time.sleep(1.2)\n\
         def test_c():\n    time.sleep(1.2)\n",
    );
    let config = json!({
        "sources": [{ "name": "py", "runner": "pytest", "path": suite, "timeout_seconds": 2 }],
    });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let hung = test_record(&summary, "py", "test_limit.py::test_a_hangs");
    assert_eq!(hung.outcome, Outcome::TimedOut, "{stderr}");
    for id in ["test_limit.py::test_b", "test_limit.py::test_c"] {
        let test = test_record(&summary, "py", id);
        assert_eq!(test.outcome, Outcome::Passed, "{id}: {stderr}");
    }
}

#[test]
fn workers_and_shares_given_one_basetemp_each_keep_their_tests_files() {
    let dir = tempfile::tempdir().unwrap();
    // pytest empties a given --basetemp when it first needs it: a second
    // process or worker doing so deletes what the first's test is using.
    let suite = one_file_suite(
        dir.path(),
        "test_tmp.py",
        "import time\nimport pytest\n\
         @pytest.mark.parametrize('i', range(6))\n\
         def test_keeps_its_file(tmp_path, i):\n    \
             (tmp_path / 'f').write_text('x')\n    \
             time.sleep(0.3)\n    \
             assert (tmp_path / 'f').read_text() == 'x'\n",
    );
    for fork in [true, false] {
        let basetemp = dir.path().join(format!("basetemp-{fork}"));
        let config = json!({
            "sources": [{ "name": "py", "runner": "pytest", "path": suite,
                          "settings": { "fork": fork, "args": ["--basetemp", basetemp] } }],
        });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
        assert_eq!(code, Some(0), "fork {fork}: {stderr}");
        assert_eq!(tests_of(&summary, "py").len(), 6);
    }
}

#[test]
fn a_forked_worker_that_dies_crashes_its_test_with_its_signal_and_the_rest_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [{ "name": "py", "runner": "pytest", "path": fixtures().join("pytest-suite").join("test_crash.py") }],
    });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let crashed = [
        ("test_crash.py::test_2_segfault", "signal 11 (SIGSEGV)"),
        ("test_crash.py::test_4_abort", "signal 6 (SIGABRT)"),
    ];
    for (id, signal) in crashed {
        let test = test_record(&summary, "py", id);
        assert_eq!(test.outcome, Outcome::Crashed, "{id}: {stderr}");
        let message = test.attempts[0].message.as_deref().unwrap_or_default();
        assert!(
            message.contains(signal) && message.contains("while this test ran"),
            "{id}: {message}"
        );
    }
    for id in [
        "test_1_before_crash",
        "test_3_after_segfault",
        "test_5_after_abort",
    ] {
        let test = test_record(&summary, "py", &format!("test_crash.py::{id}"));
        assert_eq!(test.outcome, Outcome::Passed, "{id}: {stderr}");
    }
}

#[test]
fn a_source_capped_at_one_job_runs_in_one_process_while_another_shares_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite = verdict_fixture("shuffled");
    let config = json!({
        "sources": [
            { "name": "whole", "runner": "pytest", "path": suite, "jobs": 1 },
            { "name": "shared", "runner": "pytest", "path": suite, "settings": { "fork": false } },
        ],
    });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    for (source, processes) in [("whole", 1), ("shared", 2)] {
        let tests = tests_of(&summary, source);
        assert_eq!(tests.len(), 200, "{source}");
        let pids: std::collections::BTreeSet<_> = tests.iter().map(|t| t.attempts[0].pid).collect();
        assert_eq!(pids.len(), processes, "{source}: {pids:?}");
    }
}

#[test]
fn shares_of_a_suite_each_process_collects_differently_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [{ "name": "regenerated", "runner": "pytest", "path": verdict_fixture("regenerated"),
                      "settings": { "fork": false } }],
    });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    // Every test a share held passed, and the run cannot vouch for the rest.
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(summary.run.outcome, RunOutcome::InfrastructureError);
    let errors = &summary.run.errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with(
            "source `regenerated`: its 2 processes collected different tests, 100 in one and \
             101 in another"
        ),
        "{errors:#?}"
    );
    let tests = tests_of(&summary, "regenerated");
    assert!(tests.iter().all(|t| t.outcome == Outcome::Passed));
    assert!(tests.len() >= 100, "{}", tests.len());

    // On one job the one process holds the whole source, as it collected it.
    let (code, summary, stderr) = run_config_with_env(
        dir.path(),
        json!({ "sources": [{ "name": "regenerated", "runner": "pytest", "path": verdict_fixture("regenerated") }] }),
        &["-j", "1"],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(tests_of(&summary, "regenerated").len(), 100);

    // Workers forked after one collection have nothing to disagree on.
    let (code, summary, stderr) = run_config_with_env(
        dir.path(),
        json!({ "sources": [{ "name": "regenerated", "runner": "pytest", "path": verdict_fixture("regenerated") }] }),
        &["-j", "2"],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(tests_of(&summary, "regenerated").len(), 100);
}

#[test]
fn what_a_binary_prints_before_its_listing_is_no_test() {
    let binary = gtest_fixture("gtest-verdict/noisy_listing.cc", "noisy_listing");
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [gtest("noisy", &binary, "batch")] });
    let (code, summary, _) = run_config_with_env(dir.path(), config, &[], &[]);
    assert_eq!(code, Some(0));
    let ids: Vec<&str> = tests_of(&summary, "noisy")
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(ids, ["Real.Test"]);
}

/// A binary's listing, run first on two jobs and beside the whole binary
/// on one, names every test the run must account for: a listing that
/// fails fails the run however its tests did.
#[test]
fn a_listing_that_fails_fails_the_run_on_one_job_and_on_two() {
    let binary = gtest_fixture("gtest-verdict/failing_listing.cc", "failing_listing");
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let config = json!({ "sources": [gtest("listing", &binary, "batch")] });
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", jobs], &[]);
        assert_eq!(code, Some(3), "-j {jobs}: {stderr}");
        let errors = summary.run.errors.join("\n");
        assert!(
            errors.contains("source `listing`") && errors.contains("exit code 7"),
            "-j {jobs}: {errors}"
        );
    }
}

/// A binary that fails its listing and runs no test when run whole (a
/// helper binary of a suite, wanting arguments of its own) ends the run:
/// the case that stood for its tests fails, and is not run again and again.
#[test]
fn a_binary_that_refuses_its_listing_and_its_run_ends_the_run() {
    let binary = gtest_fixture("gtest-verdict/failing_listing.cc", "failing_listing");
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let source = gtest_batches_with("helper", &binary, "REFUSE_TO_RUN", "1");
        let config = json!({ "sources": [source] });
        let mut run = Background::command(dir.path(), &["run", "-j", jobs], config, &[], None);
        let (status, stderr) = run.exit(Duration::from_secs(60));
        assert_eq!(status.code(), Some(3), "-j {jobs}: {stderr}");
        let summary = run.summary();
        let errors = summary.run.errors.join("\n");
        assert!(errors.contains("exit code 7"), "-j {jobs}: {errors}");
        let launched = journal(&run.results())
            .iter()
            .filter(|e| e["event"] == "process_launched")
            .count();
        assert!(launched <= 2, "-j {jobs}: {launched} processes");
    }
}

fn subtests_config(python: Option<&Path>) -> Value {
    let mut settings = json!({});
    if let Some(python) = python {
        settings["python"] = json!(python);
    }
    json!({ "sources": [{ "name": "sub", "runner": "pytest",
                          "path": verdict_fixture("subtests"), "settings": settings }] })
}

fn assert_subtests_reported(summary: &RunSummary) {
    let failing = test_record(summary, "sub", "test_subtests.py::test_some_cases_fail");
    assert_eq!(failing.outcome, Outcome::Failed);
    let message = failing.message.as_deref().unwrap();
    assert!(
        message.contains("[case] (i=2): AssertionError: two is out of range")
            && message.contains("[case] (i=3): AssertionError: three is out of range"),
        "each failing subtest with its message: {message}"
    );
    let subtests: Vec<(&str, &str)> = (failing.attempts[0].subtests.iter())
        .map(|s| (s.name.as_str(), s.outcome.as_str()))
        .collect();
    assert_eq!(
        subtests,
        [
            ("[case] (i=0)", "passed"),
            ("[case] (i=1)", "skipped"),
            ("[case] (i=2)", "failed"),
            ("[case] (i=3)", "failed")
        ]
    );
    let skipping = test_record(
        summary,
        "sub",
        "test_subtests.py::test_a_skipped_case_leaves_the_test_passing",
    );
    assert_eq!(
        skipping.outcome,
        Outcome::Passed,
        "a skipped subtest does not skip its test"
    );
    let subtests = &summary.run.counts.subtests;
    assert_eq!(
        (
            subtests.total,
            subtests.passed,
            subtests.failed,
            subtests.skipped
        ),
        (6, 2, 2, 2)
    );
    assert_eq!(summary.run.counts.failed, 1);
    assert_eq!(summary.run.counts.passed, 2);
}

#[test]
fn pytests_own_subtests_fail_their_test_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (code, summary, _) = run_config_with_env(dir.path(), subtests_config(None), &[], &[]);
    assert_eq!(code, Some(1));
    assert_subtests_reported(&summary);
    assert_reports_valid(&dir.path().join("results"));
}

/// The python of a virtual environment under `target/` holding
/// `packages`, made once (`scripts/test` makes each ahead).
fn pytest_venv(name: &str, packages: &[&str]) -> PathBuf {
    let venv = repo_root().join("target").join(name);
    let python = venv.join("bin").join("python");
    if python.exists() {
        return python;
    }
    let what = format!("making the environment {name}");
    let partial = venv.with_extension(format!("partial-{}", std::process::id()));
    run_to_success(
        std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&partial),
        &what,
    );
    run_to_success(
        std::process::Command::new(partial.join("bin").join("python"))
            .args(["-m", "pip", "install", "--quiet"])
            .args(packages),
        &what,
    );
    // Another test may have made it meanwhile; either is as good.
    let _ = std::fs::rename(&partial, &venv);
    python
}

/// pytest 8 and the pytest-subtests plugin.
fn pytest_subtests_python() -> PathBuf {
    pytest_venv("venv-pytest-subtests", &["pytest>=8,<9", "pytest-subtests"])
}

/// pytest and the pytest-rerunfailures plugin.
fn pytest_rerunfailures_python() -> PathBuf {
    pytest_venv(
        "venv-pytest-rerunfailures",
        &["pytest", "pytest-rerunfailures"],
    )
}

#[test]
fn the_pytest_subtests_plugins_failing_subtests_fail_their_test() {
    let python = pytest_subtests_python();
    let dir = tempfile::tempdir().unwrap();
    let (code, summary, _) =
        run_config_with_env(dir.path(), subtests_config(Some(&python)), &[], &[]);
    // pytest-subtests leaves the test itself passing; proctor does not.
    assert_eq!(code, Some(1));
    assert_subtests_reported(&summary);
}

#[test]
fn a_suite_pytest_xdist_spreads_over_its_workers_reports_every_test_once() {
    // A project whose configuration says `-n 2` (`addopts`): two workers
    // in each test process, sharing its output and its results file.
    let python = pytest_venv("venv-pytest-xdist", &["pytest", "pytest-xdist"]);
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [{ "name": "xdist", "runner": "pytest",
        "path": verdict_fixture("xdist"),
        "settings": { "python": python, "args": ["-n", "2"] } }] });
    for jobs in ["1", "2"] {
        let (code, summary, stderr) =
            run_config_with_env(dir.path(), config.clone(), &["-j", jobs], &[]);
        assert_eq!(code, Some(1), "-j {jobs}: {stderr}");
        assert!(
            summary.run.errors.is_empty(),
            "-j {jobs}: {:#?}",
            summary.run.errors
        );
        let tests = tests_of(&summary, "xdist");
        assert_eq!(tests.len(), 3001, "-j {jobs}");
        let mut failed: Vec<&str> = (tests.iter())
            .filter(|t| t.outcome == Outcome::Failed)
            .map(|t| t.id.as_str())
            .collect();
        failed.sort();
        assert_eq!(
            failed,
            [
                "test_workers.py::test_long_message",
                "test_workers.py::test_value[1234]"
            ],
            "-j {jobs}"
        );
        let message = |id| test_record(&summary, "xdist", id).message.clone().unwrap();
        assert!(message(failed[1]).contains("the one that fails"));
        // Whole, as the results file has it, though its live end was cut.
        assert!(message(failed[0]).contains(&"x".repeat(10_000)));
        assert_reports_valid(&dir.path().join("results"));
    }
}

#[test]
fn runs_pytest_rerunfailures_repeated_are_attempts_and_a_pass_after_a_failed_one_is_flaky() {
    let python = pytest_rerunfailures_python();
    for jobs in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        // One rerun in each process, and proctor's own retry after it:
        // four attempts at most. Each run has the time limit from its start.
        let config = json!({
            "retry": { "max_attempts": 4 },
            "sources": [{ "name": "reruns", "runner": "pytest", "timeout_seconds": 1.5,
                "path": verdict_fixture("rerunfailures"),
                "settings": { "python": python, "args": ["--reruns", "1"] } }] });
        let counts = dir.path().to_str().unwrap();
        let (code, summary, stderr) =
            run_config_with_env(dir.path(), config, &["-j", jobs], &[("RERUNS_DIR", counts)]);
        assert_eq!(code, Some(1), "-j {jobs}: {stderr}");
        assert!(
            summary.run.errors.is_empty(),
            "-j {jobs}: {:#?}",
            summary.run.errors
        );
        let test = |name: &str| test_record(&summary, "reruns", &format!("test_reruns.py::{name}"));
        let attempts = |name: &str| -> Vec<(u32, Outcome)> {
            (test(name).attempts.iter())
                .map(|a| (a.attempt, a.outcome))
                .collect()
        };
        use Outcome::{Failed, Passed};
        assert_eq!(attempts("test_passes"), [(1, Passed)], "-j {jobs}");
        for name in ["test_fails_once", "test_slow_and_fails_once"] {
            assert_eq!(
                attempts(name),
                [(1, Failed), (2, Passed)],
                "-j {jobs}: {name}"
            );
        }
        let four_failed = [(1, Failed), (2, Failed), (3, Failed), (4, Failed)];
        assert_eq!(attempts("test_always_fails"), four_failed, "-j {jobs}");
        assert_eq!(
            attempts("test_setup_always_errors"),
            four_failed,
            "-j {jobs}"
        );
        let second_process = attempts("test_passes_in_the_second_process");
        assert_eq!(
            second_process,
            [(1, Failed), (2, Failed), (3, Passed)],
            "-j {jobs}"
        );
        for name in [
            "test_fails_once",
            "test_slow_and_fails_once",
            "test_passes_in_the_second_process",
        ] {
            assert!(test(name).flaky, "-j {jobs}: {name}");
        }
        let first = &test("test_fails_once").attempts[0];
        let message = first.message.as_deref().unwrap_or_default();
        assert!(
            message.starts_with("AssertionError: the first run fails"),
            "{message}"
        );
        assert!(first
            .stack_trace
            .as_deref()
            .is_some_and(|t| t.contains("def test_fails_once")));
        assert_eq!(
            (summary.run.counts.flaky, summary.run.counts.failed),
            (3, 2)
        );
        assert_eq!(summary.run.counts.timed_out, 0, "-j {jobs}");
        // Each run's start is told, and the last run's end only.
        let events = journal(&dir.path().join("results"));
        let told = |event: &str| {
            (events.iter())
                .filter(|e| e["event"] == event && e["test"] == "test_reruns.py::test_fails_once")
                .count()
        };
        assert_eq!(
            (told("test_started"), told("test_reported")),
            (2, 1),
            "-j {jobs}"
        );
        assert_reports_valid(&dir.path().join("results"));
    }
}

#[test]
fn a_pass_after_a_repeated_run_stays_flaky_when_a_later_test_has_its_process_killed() {
    let python = pytest_rerunfailures_python();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::write(
        suite.join("test_then_hang.py"),
        "import time\n\nruns = []\n\n\ndef test_a_fails_once():\n    runs.append(1)\n    \
         assert len(runs) > 1\n\n\ndef test_b_hangs():\n    time.sleep(60)\n",
    )
    .unwrap();
    let config = json!({ "sources": [{ "name": "hang", "runner": "pytest", "path": suite,
        "timeout_seconds": 2, "settings": { "python": python, "args": ["--reruns", "1"] } }] });
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "1"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let record = |name: &str| test_record(&summary, "hang", &format!("test_then_hang.py::{name}"));
    assert_eq!(record("test_b_hangs").outcome, Outcome::TimedOut);
    // Its result was written as it ended, not held with the passes.
    let flaky = record("test_a_fails_once");
    assert!(flaky.flaky, "{flaky:#?}");
    assert_eq!(flaky.attempts.len(), 2);
}

#[test]
fn a_googletest_binary_of_12000_tests_runs_whole_unfiltered_or_in_shares_named_in_a_flag_file() {
    let binary = gtest_fixture("gtest-many/many.cc", "gtest_many");
    let dir = tempfile::tempdir().unwrap();
    let config = || json!({ "sources": [gtest("many", &binary, "batch")] });

    // One process runs every test as the binary runs by itself, with no
    // filter: its 12,000 names are longer than an argument may be.
    let (code, summary, stderr) = run_config_with_env(dir.path(), config(), &["-j", "1"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(summary.run.counts.passed, 12_001, "{stderr}");

    // Two processes, each given its 6,000 names in a flag file.
    let shares = ["-j", "2", "--filter", "not test(Filter.*)"];
    let (code, summary, stderr) = run_config_with_env(dir.path(), config(), &shares, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(summary.run.counts.passed, 12_000, "{stderr}");
    let processes: std::collections::BTreeSet<_> =
        (summary.tests.iter()).map(|t| t.attempts[0].pid).collect();
    assert_eq!(processes.len(), 2, "{processes:?}");
}

#[test]
fn a_run_that_selects_no_test_exits_4_unless_told_otherwise() {
    let binary = gtest_fixture("gtest-suite/suite.cc", "gtest_suite");
    let dir = tempfile::tempdir().unwrap();
    let config = || json!({ "sources": [gtest("gt", &binary, "batch")] });
    let nothing = ["--filter", "test(NoSuch.*)"];

    let (code, summary, stderr) = run_config_with_env(dir.path(), config(), &nothing, &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert_eq!(summary.run.outcome, RunOutcome::NoTests);
    assert!(
        summary.run.warnings[0].contains("no test was selected"),
        "{summary:#?}"
    );
    assert!(stderr.contains("WARN no test was selected"), "{stderr}");

    let with = |policy: &'static str| [&nothing[..], &["--no-tests", policy]].concat();
    let (code, summary, _) = run_config_with_env(dir.path(), config(), &with("warn"), &[]);
    assert_eq!(code, Some(0));
    assert_eq!(summary.run.warnings.len(), 1);
    let (code, summary, _) = run_config_with_env(dir.path(), config(), &with("pass"), &[]);
    assert_eq!(code, Some(0));
    assert!(summary.run.warnings.is_empty());

    // The configuration says it too, per run.
    let mut passing = config();
    passing["no_tests"] = json!("pass");
    let (code, _, _) = run_config_with_env(dir.path(), passing, &nothing, &[]);
    assert_eq!(code, Some(0));

    // Tests skipped by a skip rule were not selected either...
    let mut skipped_by_rule = config();
    skipped_by_rule["skip"] = json!([{ "tests": "*" }]);
    let (code, summary, _) = run_config_with_env(dir.path(), skipped_by_rule, &[], &[]);
    assert_eq!(code, Some(4), "{summary:#?}");

    // ...but tests their framework skips were: GoogleTest's DISABLED_ ones.
    let (code, summary, _) = run_config_with_env(
        dir.path(),
        config(),
        &["--filter", "test(*DISABLED_*)"],
        &[],
    );
    assert_eq!(code, Some(0), "{summary:#?}");
    assert!(summary.run.counts.skipped > 0);
}

#[test]
fn a_source_that_must_have_tests_fails_the_run_without_them() {
    let binary = gtest_fixture("gtest-suite/suite.cc", "gtest_suite");
    let dir = tempfile::tempdir().unwrap();
    let mut required = gtest("required", &binary, "batch");
    required["no_tests"] = json!("fail");
    let config = json!({ "sources": [gtest("other", &binary, "batch"), required] });
    let (code, summary, _) = run_config_with_env(
        dir.path(),
        config,
        &["--filter", "source(other) and test(Math.Adds)"],
        &[],
    );
    assert_eq!(code, Some(4), "{summary:#?}");
    assert!(summary.run.warnings[0].contains("source `required` selected no test"));
}

#[test]
fn a_test_listed_twice_is_reported_once_as_pytest_runs_it() {
    // pytest given the same file twice with --keep-duplicates collects and
    // runs every test of it twice, under one node id.
    let dir = tempfile::tempdir().unwrap();
    let passing = dir.path().join("test_twice.py");
    std::fs::write(
        &passing,
        "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
    )
    .unwrap();
    let source = |name: &str, file: &Path| {
        json!({ "name": name, "runner": "pytest", "path": file,
                "settings": { "args": ["--keep-duplicates", file] } })
    };
    let config = json!({ "sources": [
        source("whole", &fixtures().join("pytest-suite/test_basic.py")),
        source("listed", &passing),
    ] });
    // `listed` is listed first (the filter picks single tests); `whole`
    // collects in its processes, two shares.
    let (code, summary, stderr) = run_config_with_env(
        dir.path(),
        config,
        &["-j", "2", "--filter", "source(whole) or test(*::test_a)"],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    let ids = |source: &str| -> Vec<String> {
        let mut ids: Vec<String> = tests_of(&summary, source)
            .iter()
            .map(|t| t.id.as_str().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids("whole").len(), 7, "each test once: {:?}", ids("whole"));
    assert_eq!(
        test_record(&summary, "whole", "test_basic.py::test_fails").outcome,
        Outcome::Failed
    );
    assert_eq!(ids("listed"), ["test_twice.py::test_a"]);
    assert_eq!(
        test_record(&summary, "listed", "test_twice.py::test_a").outcome,
        Outcome::Passed
    );
    assert!(summary.run.errors.is_empty(), "{summary:#?}");
}

#[test]
fn a_test_in_a_file_named_with_undecodable_bytes_is_selected_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    write_test_failing_once(
        &suite,
        b"test_caf\xe9.py",
        "def test_left_out():\n    assert False, 'the filter keeps this one from running'\n",
    );
    let config = json!({
        "retry": { "max_attempts": 2 },
        "sources": [{ "name": "py", "runner": "pytest", "path": suite }],
    });
    // Latin-1's é is no UTF-8: Python names the file with a lone surrogate,
    // which the id carries escaped, backslash and all.
    let id = r"test_caf\udce9.py::test_fails_once";
    let filter = format!("test({})", id.replace('\\', r"\\"));
    let (code, summary, stderr) =
        run_config_with_env(dir.path(), config, &["--filter", &filter], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let test = test_record(&summary, "py", id);
    assert!(test.flaky, "it ran again, alone: {test:#?}");
    assert_eq!(summary.run.counts.total, 1);
    assert_eq!(summary.run.filtered_out, 1);
}

#[test]
fn a_suite_whose_framework_is_missing_is_blocked_with_the_cause_in_run_as_in_list() {
    let dir = tempfile::tempdir().unwrap();
    // A real interpreter without pytest: a fresh environment of this python.
    let venv = dir.path().join("venv");
    run_to_success(
        std::process::Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
        "making an environment without pytest",
    );
    let config = json!({ "sources": [{
        "name": "py", "runner": "pytest", "path": fixtures().join("pytest-suite"),
        // Processes that each collect it: every one fails alike.
        "settings": { "python": venv.join("bin").join("python"), "fork": false },
    }]});
    let cause = "No module named pytest";

    let (code, summary, said) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    assert_eq!(code, Some(3), "{said}");
    assert!(!summary.tests.is_empty(), "{}", pretty(&summary));
    for test in &summary.tests {
        assert_eq!(test.outcome, Outcome::Blocked, "{}", pretty(&summary));
    }
    // Every process failed alike; the cause is said once.
    assert_eq!(summary.run.errors.len(), 1, "{:#?}", summary.run.errors);
    assert!(
        summary.run.errors[0].contains(cause),
        "{:#?}",
        summary.run.errors
    );
    assert_eq!(said.matches(cause).count(), 1, "{said}");
    assert!(said.contains("2 blocked"), "{said}");

    let listed = proctor(dir.path(), &["list"]);
    assert_eq!(listed.status.code(), Some(3));
    assert!(stderr(&listed).contains(cause), "{}", stderr(&listed));
}
