//! Reports every parser reads: JUnit and TRX from runs with retries,
//! quarantine, crashes, hangs and hostile text, validated against their
//! public schemas; reports that agree with the run; the console kept free
//! of control characters; Helix's results file.

use std::path::Path;

use proctor_e2e::*;
use serde_json::{json, Value};

fn pytest_source(name: &str, path: &Path, state: &Path) -> Value {
    json!({ "name": name, "runner": "pytest", "path": path, "env": { "FIXTURE_STATE": state } })
}

/// A suite of hostile tests, and a file whose name is not valid UTF-8
/// holding a test that fails once (what a file name cannot hold in git).
fn hostile_suite(dir: &Path) -> std::path::PathBuf {
    let suite = dir.join("hostile");
    std::fs::create_dir_all(&suite).unwrap();
    let source = fixtures().join("pytest-verdict/hostile/test_hostile.py");
    std::fs::copy(source, suite.join("test_hostile.py")).unwrap();
    write_test_failing_once(&suite, b"test_caf\xff.py", "");
    suite
}

fn count_attribute(xml: &str, element: &str, attribute: &str) -> u64 {
    let start = xml
        .find(&format!("<{element} "))
        .expect("the element is there");
    let tag = &xml[start..start + xml[start..].find('>').unwrap()];
    let value = tag
        .split(&format!(" {attribute}=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {attribute} in {tag}"));
    value.parse().unwrap()
}

/// Retries, quarantine, crashes, timeouts and hostile text, in batches of
/// pytest and GoogleTest tests; each run needs `dir` afresh.
fn mixed_config(dir: &Path, hangs: bool) -> Value {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let suite = fixtures().join("pytest-suite");
    let mut hang = pytest_source("hang", &suite.join("test_hang.py"), &state);
    hang["timeout_seconds"] = json!(3);
    let mut config = json!({
        "retry": {
            "max_attempts": 2,
            "quarantine": [{ "test": "test_crash.py::test_4_abort" }],
        },
        "sources": [
            pytest_source("flaky", &suite.join("test_flaky.py"), &state),
            pytest_source("crash", &suite.join("test_crash.py"), &state),
            pytest_source("hostile", &hostile_suite(dir), &state),
            // Its `Hang.Forever` sleeps for an hour.
            { "name": "gt", "runner": "gtest", "path": gtest_suite(), "timeout_seconds": 2,
              "env": { "FIXTURE_STATE": state } },
        ],
    });
    if hangs {
        config["sources"].as_array_mut().unwrap().push(hang);
    }
    config
}

#[test]
fn reports_of_retries_quarantine_crashes_hangs_and_hostile_text_validate() {
    let dir = tempfile::tempdir().unwrap();
    let config = mixed_config(dir.path(), true);
    let (code, summary, stderr) = run_config_with_env(dir.path(), config, &["-j", "2"], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let results = dir.path().join("results");
    assert_reports_valid(&results);

    let outcomes: Vec<&str> = summary.tests.iter().map(|t| t.outcome.as_str()).collect();
    for outcome in ["passed", "failed", "skipped", "crashed", "timed_out"] {
        assert!(outcomes.contains(&outcome), "no {outcome} in {outcomes:?}");
    }
    let quarantined = test_record(&summary, "crash", "test_crash.py::test_4_abort");
    assert!(quarantined.quarantined);

    let junit = std::fs::read_to_string(results.join("junit.xml")).unwrap();
    let counts = &summary.run.counts;
    // Quarantined failures are skips in JUnit: a reader gating on failures
    // agrees with the run.
    assert_eq!(
        count_attribute(&junit, "testsuites", "tests"),
        counts.total as u64
    );
    assert_eq!(
        count_attribute(&junit, "testsuites", "failures"),
        counts.failed as u64
    );
    assert_eq!(
        count_attribute(&junit, "testsuites", "errors"),
        counts.crashed as u64 + counts.timed_out as u64
    );
    assert!(junit.contains(r#"<skipped type="quarantined""#), "{junit}");
    assert!(junit.contains("<flakyFailure") && junit.contains("<rerunFailure"));
    // Hostile text is escaped: nothing but tabs and line breaks below U+0020.
    for (name, report) in [
        ("junit.xml", &junit),
        (
            "results.trx",
            &std::fs::read_to_string(results.join("results.trx")).unwrap(),
        ),
    ] {
        let bad: Vec<char> = report
            .chars()
            .filter(|&c| (c < ' ' && !"\t\n\r".contains(c)) || c == '\u{fffe}' || c == '\u{ffff}')
            .collect();
        assert!(bad.is_empty(), "{name} holds {bad:?}");
        assert!(
            report.contains("bell\\u{7} nul\\u{0} escred"),
            "{name} keeps the text, escaped"
        );
    }
    // The test in the file whose name is not Unicode ran again and passed.
    let escaped = test_record(&summary, "hostile", "test_caf\\udcff.py::test_fails_once");
    assert!(escaped.flaky, "{escaped:#?}");
    // The console got no control character either.
    let controls: Vec<char> = stderr
        .chars()
        .filter(|&c| c.is_control() && !"\t\n".contains(c))
        .collect();
    assert!(
        controls.is_empty(),
        "the console printed {controls:?}:\n{stderr}"
    );
}

/// A run's records with what differs from run to run taken out: times,
/// pids, the run's directory, the digits of texts (a process directory's
/// number follows the order processes started in) and hexadecimal
/// addresses (a crash's thread, in Python's fault handler's traceback).
fn comparable(summary: &RunSummary, dir: &Path) -> Value {
    let dir = dir.to_string_lossy();
    let address = regex::Regex::new("0x[[:xdigit:]]*").unwrap();
    let scrub_text = |text: &str| {
        let text = text.replace(dir.as_ref(), "<dir>");
        (address.replace_all(&text, "0x<hex>")).replace(|c: char| c.is_ascii_digit(), "#")
    };
    fn scrub(value: &mut Value, text: &dyn Fn(&str) -> String) {
        match value {
            Value::Object(fields) => {
                for volatile in ["duration_ms", "started_at", "pid"] {
                    fields.remove(volatile);
                }
                fields.values_mut().for_each(|v| scrub(v, text));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, text)),
            Value::String(written) => *written = text(written),
            _ => {}
        }
    }
    let mut value = json!({
        "outcome": summary.run.outcome,
        "counts": summary.run.counts,
        "flaky": summary.run.flaky,
        "tests": summary.tests,
    });
    scrub(&mut value, &scrub_text);
    value
}

#[test]
fn layout_2_holds_the_records_of_layout_1_in_fewer_bytes() {
    let mut runs = Vec::new();
    for layout in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let config = mixed_config(dir.path(), false);
        let extra = ["-j", "2", "--results-layout", layout];
        // Read back through the layout's own reader, each held to its schemas.
        let (code, summary, stderr) = run_config_with_env(dir.path(), config, &extra, &[]);
        assert_eq!(code, Some(1), "{stderr}");
        let results = dir.path().join("results");
        assert_eq!(layout_of(&results).to_string(), layout);
        assert_reports_valid(&results);
        let bytes: u64 = ["summary.json", "events.jsonl"]
            .iter()
            .map(|file| std::fs::metadata(results.join(file)).unwrap().len())
            .sum();
        runs.push((comparable(&summary, dir.path()), bytes, dir));
    }
    let [(first, first_bytes, _), (second, second_bytes, _)] = &runs[..] else {
        unreachable!()
    };
    assert_eq!(
        first,
        second,
        "layout 2 read back differs from layout 1:\n{}\n{}",
        serde_json::to_string_pretty(first).unwrap(),
        serde_json::to_string_pretty(second).unwrap()
    );
    assert!(
        second_bytes < first_bytes,
        "layout 2 wrote {second_bytes} bytes of summary and journal, layout 1 {first_bytes}"
    );
}

#[test]
fn reports_agree_with_a_run_that_passed_through_retries_and_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let config = json!({
        "retry": {
            "max_attempts": 2,
            "quarantine": [{ "test": "test_flaky.py::test_always_fails_with_reset" }],
        },
        "sources": [pytest_source("py", &fixtures().join("pytest-suite/test_flaky.py"), &state)],
    });
    let (code, summary, _) = run_config_with_env(dir.path(), config, &[], &[]);
    assert_eq!(code, Some(0), "{summary:#?}");
    let results = dir.path().join("results");
    assert_reports_valid(&results);

    let trx = std::fs::read_to_string(results.join("results.trx")).unwrap();
    assert!(
        trx.contains(r#"<ResultSummary outcome="Completed">"#),
        "{trx}"
    );
    assert!(
        trx.contains(r#"total="2" executed="2" passed="1" failed="0""#)
            && trx.contains(r#"inconclusive="1""#),
        "the final results: one passed after a retry, one quarantined failure: {trx}"
    );
    let junit = std::fs::read_to_string(results.join("junit.xml")).unwrap();
    assert_eq!(
        count_attribute(&junit, "testsuites", "failures"),
        0,
        "{junit}"
    );
    assert_eq!(
        count_attribute(&junit, "testsuites", "errors"),
        0,
        "{junit}"
    );
}

#[test]
fn under_helix_the_results_file_has_every_final_result_and_earlier_attempts_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let workitem = dir.path().join("workitem");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&workitem).unwrap();
    let suite = fixtures().join("pytest-suite");
    let config = json!({
        "retry": { "max_attempts": 2 },
        "sources": [
            pytest_source("flaky", &suite.join("test_flaky.py"), &state),
            pytest_source("basic", &suite.join("test_basic.py"), &state),
        ],
    });
    let workitem_root = workitem.to_str().unwrap();
    let (code, summary, _) = run_config_with_env(
        dir.path(),
        config,
        &["--results-dir", "results"],
        &[("HELIX_WORKITEM_ROOT", workitem_root)],
    );
    assert_eq!(code, Some(1));
    let report = read_json(&workitem.join("__test_report_v2.json"));
    assert_eq!(report["schema_version"], 1);
    assert!(report["azdo"].is_object() && report["azdo"].get("access_token").is_none());
    let results = report["results"].as_array().unwrap();
    let required = [
        "name",
        "kind",
        "type",
        "method",
        "duration_seconds",
        "result",
        "exception_type",
        "failure_message",
        "stack_trace",
        "skip_reason",
        "ignored",
        "attachments",
    ];
    for result in results {
        for field in required {
            assert!(
                result.get(field).is_some(),
                "{field} missing in {result:#?}"
            );
        }
        assert!(["Pass", "Fail", "Skip"].contains(&result["result"].as_str().unwrap()));
    }
    let counted: Vec<&Value> = results.iter().filter(|r| r["ignored"] == false).collect();
    assert_eq!(counted.len(), summary.run.counts.total);

    let of = |method: &str| -> Vec<(&str, bool)> {
        results
            .iter()
            .filter(|r| r["method"] == method)
            .map(|r| {
                (
                    r["result"].as_str().unwrap(),
                    r["ignored"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    // Failed, then passed: the failure is there, and not counted.
    assert_eq!(
        of("test_flaky.py::test_flaky"),
        [("Fail", true), ("Pass", false)]
    );
    assert_eq!(
        of("test_flaky.py::test_always_fails_with_reset"),
        [("Fail", true), ("Fail", false)]
    );
    let failure = results
        .iter()
        .find(|r| {
            r["method"] == "test_flaky.py::test_always_fails_with_reset" && r["ignored"] == false
        })
        .unwrap();
    assert_eq!(
        failure["name"],
        "flaky.test_flaky.py::test_always_fails_with_reset"
    );
    assert_eq!(failure["type"], "flaky");
    assert!(failure["failure_message"]
        .as_str()
        .unwrap()
        .contains("connection reset by peer, always"));
}

#[test]
fn a_report_that_cannot_be_written_whole_is_not_written_at_all() {
    // A file size limit stands for a disk that fills up: the test
    // processes' own files and the JUnit report fit under it, the TRX of
    // 150 tests does not (nor, in layout 1, their summary). SIGXFSZ is
    // ignored, so a write past the limit fails instead.
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::write(
        suite.join("test_many.py"),
        "import pytest\n\n@pytest.mark.parametrize('n', range(150))\ndef test_n(n):\n    assert n >= 0\n",
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        &json!({ "sources": [{ "name": "py", "runner": "pytest", "path": suite }] }),
    );
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 96; exec "$0" run "$1" -j 2"#)
        .arg(proctor_bin())
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let too_large: Vec<&str> = (["summary.json", "results.trx"].into_iter())
        .filter(|report| stderr.contains(&format!("/{report}: File too large")))
        .collect();
    assert!(!too_large.is_empty(), "{stderr}");
    let results = dir.path().join("results");
    let left: Vec<String> = std::fs::read_dir(&results)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for report in too_large {
        assert!(!left.contains(&report.to_owned()), "{report}: {left:?}");
    }
    assert!(!left.iter().any(|f| f.ends_with(".partial")), "{left:?}");
    // What fit was written all the same, and whole.
    assert!(left.contains(&"junit.xml".to_owned()), "{left:?}");
    assert_valid("junit-10.xsd", &results.join("junit.xml"));
}

#[test]
fn a_report_that_cannot_be_written_ends_the_run_as_an_infrastructure_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "sources": [{ "name": "gt", "runner": "gtest", "path": gtest_suite(),
                      "env": { "FIXTURE_STATE": dir.path().join("state") } }],
    });
    let nowhere = dir.path().join("no such directory");
    let (code, _, stderr) = run_config_with_env(
        dir.path(),
        config,
        &["--filter", "test(Math.Adds)"],
        &[("HELIX_WORKITEM_ROOT", nowhere.to_str().unwrap())],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    let events = journal(&dir.path().join("results"));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(
        (&last["outcome"], &last["exit_code"]),
        (&json!("infrastructure_error"), &json!(3)),
        "the journal's end says what the command's exit says"
    );
}

/// On a terminal the bar advances as each test of a batch reports its end,
/// not all at once when the process ends: a pytest share of 30 tests of
/// 60 ms each shows positions in between while it runs.
#[test]
fn the_progress_bar_advances_with_each_live_result() {
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path();
    std::fs::create_dir_all(work.join("suite")).unwrap();
    std::fs::write(
        work.join("suite/test_slow.py"),
        "import time, pytest\n\n@pytest.mark.parametrize('i', range(30))\n\
         def test_slow(i):\n    time.sleep(0.06)\n",
    )
    .unwrap();
    let config = write_config(
        work,
        &json!({ "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }] }),
    );
    // `script` gives the run a terminal and keeps what it drew.
    let command = format!("{} run {} -j 1", proctor_bin().display(), config.display());
    let output = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .current_dir(work)
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let drawn = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{drawn}");
    let positions: std::collections::BTreeSet<u32> = (1..30)
        .filter(|n| drawn.contains(&format!(" {n}/30 ")))
        .collect();
    assert!(
        positions.len() >= 5,
        "the bar showed only {positions:?} between 0 and 30: {drawn}"
    );
}
