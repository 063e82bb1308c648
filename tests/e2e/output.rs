//! Output a test prints without bound: the host holds a bounded tail of it,
//! a line of any length costs it linear time, and log files keep what the
//! configuration allows, marked where they were cut.

use std::path::Path;
use std::process::Command;

use proctor_e2e::*;
use proctor_plugin_api::messages::Outcome;
use serde_json::{json, Value};

/// A pytest suite whose failing tests print `megabytes` of output: one in
/// lines, one in a single line without a break.
fn noisy_suite(dir: &Path, megabytes: usize) {
    std::fs::write(
        dir.join("test_noisy.py"),
        format!(
            "import sys\n\
             def test_prints_lines():\n    \
                 line = 'x' * 1023 + '\\n'\n    \
                 for _ in range({megabytes} * 1024):\n        sys.stdout.write(line)\n    \
                 print('the last line')\n    \
                 assert False, 'printed too much'\n\
             def test_prints_one_endless_line():\n    \
                 sys.stdout.write('y' * ({megabytes} << 20))\n    \
                 sys.stdout.flush()\n    \
                 assert False\n"
        ),
    )
    .unwrap();
}

/// Runs `config` with the host's own resource use logged; answers the exit
/// code and the host's peak memory in KiB, children apart.
fn run_measured(dir: &Path, config: &Value) -> (Option<i32>, u64) {
    let path = write_config(dir, config);
    let output = Command::new(proctor_bin())
        .current_dir(dir)
        .args(["run", path.to_str().unwrap()])
        .env("RUST_LOG", "proctor::usage=debug")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = stderr(&output);
    let peak = stderr
        .split("peak_rss_kib=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no resource usage logged:\n{stderr}"));
    (output.status.code(), peak)
}

/// 128 MiB of output, half of it in one line, costs the host less memory
/// than a tenth of it would: it holds each test's last 64 KiB, and a line
/// past a mebibyte is cut where the host reads it.
#[test]
fn a_test_printing_without_bound_costs_the_host_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    noisy_suite(dir.path(), 64);
    let config = json!({
        "output_tail_bytes": 65536,
        "sources": [{ "name": "py", "runner": "pytest", "path": "." }]
    });
    let (code, peak_kib) = run_measured(dir.path(), &config);
    assert_eq!(code, Some(1));
    assert!(peak_kib < 64 * 1024, "the host peaked at {peak_kib} KiB");

    let summary = read_summary(&dir.path().join("results/summary.json"));
    let lines = test_record(&summary, "py", "test_noisy.py::test_prints_lines");
    assert_eq!(
        lines.attempts[0].message.as_deref(),
        Some("AssertionError: printed too much\nassert False")
    );
    let kept = std::fs::read_to_string(
        dir.path()
            .join("results")
            .join(lines.attempts[0].output.as_deref().unwrap()),
    )
    .unwrap();
    assert!(kept.len() < 70_000, "{} bytes kept", kept.len());
    assert!(kept.starts_with("[proctor: "), "{}", &kept[..200]);
    assert!(kept.contains("the last line"));
    check_results(&dir.path().join("results"));
}

/// The same for a Rust test: libtest prints a failing test's output, and
/// its runner reads the process's output through the SDK's `read_output`,
/// its first and last 4 MiB.
#[test]
fn a_rust_test_printing_without_bound_costs_the_host_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"noisy\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/lib.rs"),
        "#[test]\nfn prints_a_lot() {\n    let line = \"x\".repeat(1023);\n    \
         for _ in 0..128 * 1024 { println!(\"{line}\"); }\n    panic!(\"printed too much\");\n}\n",
    )
    .unwrap();
    let config =
        json!({ "sources": [{ "name": "rs", "runner": "libtest", "path": "Cargo.toml" }] });
    let (code, peak_kib) = run_measured(dir.path(), &config);
    assert_eq!(code, Some(1));
    assert!(peak_kib < 64 * 1024, "the host peaked at {peak_kib} KiB");
    let summary = read_summary(&dir.path().join("results/summary.json"));
    let test = test_record(&summary, "rs", "noisy::prints_a_lot");
    let message = test.attempts[0].message.as_deref().unwrap();
    assert!(
        message.starts_with("printed too much\nat src/lib.rs:"),
        "{message}"
    );
}

/// A test that prints without end, with pytest's capture off so that all
/// of it crosses the host, is cut at its timeout; its log keeps the limit.
#[test]
fn endless_output_is_cut_at_the_timeout_and_its_log_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("test_endless.py"),
        "import sys\ndef test_prints_forever():\n    while True:\n        sys.stdout.write('z' * 4096)\n",
    )
    .unwrap();
    let config = json!({
        "timeout_seconds": 3,
        "output_log_max_bytes": 1_000_000,
        "sources": [{ "name": "py", "runner": "pytest", "path": ".", "mode": "isolated",
                      "settings": { "args": ["-s"] } }]
    });
    let (code, peak_kib) = run_measured(dir.path(), &config);
    assert_eq!(code, Some(1));
    assert!(peak_kib < 64 * 1024, "the host peaked at {peak_kib} KiB");
    let summary = read_summary(&dir.path().join("results/summary.json"));
    let test = test_record(&summary, "py", "test_endless.py::test_prints_forever");
    assert_eq!(test.attempts[0].outcome, Outcome::TimedOut);
    let stdout = dir
        .path()
        .join("results/sources/py/test_endless.py::test_prints_forever/attempt-1/stdout.log");
    let kept = std::fs::read(&stdout).unwrap();
    assert!(kept.len() < 1_000_200, "{} bytes", kept.len());
    assert!(String::from_utf8_lossy(&kept).ends_with("the rest was not kept]\n"));
}

/// With `output_log_max_bytes`, a process's logs and a test's output keep
/// their first bytes and a line saying where they were cut.
#[test]
fn log_files_past_their_limit_are_cut_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    noisy_suite(dir.path(), 4);
    let config = json!({
        "output_log_max_bytes": 100_000,
        "sources": [{ "name": "py", "runner": "pytest", "path": "." }]
    });
    let (code, _) = run_measured(dir.path(), &config);
    assert_eq!(code, Some(1));
    let results = dir.path().join("results");
    let mut logs = files_under(&results.join("sources"));
    logs.retain(|path| path.extension().is_some_and(|e| e == "log"));
    let marker = "[proctor: this log was cut here, at 100000 bytes (output_log_max_bytes); \
                  the rest was not kept]\n";
    let cut: Vec<_> = logs
        .iter()
        .filter(|log| std::fs::read_to_string(log).unwrap().ends_with(marker))
        .collect();
    // Each test's output.log, and the stdout.log of each process (one
    // process forking workers, or one a job).
    let processes = (logs.iter())
        .filter(|log| log.ends_with("stdout.log") && log.to_string_lossy().contains("/processes/"))
        .count();
    assert!(processes >= 1, "{logs:#?}");
    assert_eq!(cut.len(), 2 + processes, "{logs:#?}");
    for log in &logs {
        let len = std::fs::metadata(log).unwrap().len();
        assert!(
            len <= 100_000 + marker.len() as u64 + 1,
            "{}: {len}",
            log.display()
        );
    }
    check_results(&results);
}

/// What pytest captured of a test is its output, even when that is nothing:
/// the lines its process printed as the test started (pytest's progress, a
/// conftest's hook) are not the test's, though they arrive on the other
/// pipe while it runs.
#[test]
fn a_pytest_test_that_printed_nothing_keeps_no_output_of_its_process() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(
        suite.join("conftest.py"),
        // After proctor's plugin told the test's start, and long enough
        // before and after the line for the host to have read the start
        // first and the line before the test's end.
        "import sys, time, pytest\n\
         @pytest.hookimpl(trylast=True)\n\
         def pytest_runtest_logstart(nodeid, location):\n    \
             time.sleep(0.2)\n    \
             sys.stdout.write('\\nthe process, as a test starts\\n')\n    \
             sys.stdout.flush()\n    \
             time.sleep(0.2)\n",
    )
    .unwrap();
    std::fs::write(
        suite.join("test_quiet.py"),
        "import pytest\n\
         def test_fails_quietly():\n    assert 1 == 2\n\
         def test_skips_quietly():\n    pytest.skip('not here')\n\
         def test_fails_printing():\n    print('the test itself')\n    assert False\n",
    )
    .unwrap();
    let config = json!({ "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }] });
    let (code, summary) = run_config(dir.path(), config, &["-j", "1"]);
    assert_eq!(code, Some(1));
    let kept = |id: &str| {
        let attempt = &test_record(&summary, "py", id).attempts[0];
        (attempt.output.as_deref())
            .map(|path| std::fs::read_to_string(dir.path().join("results").join(path)).unwrap())
    };
    assert_eq!(kept("test_quiet.py::test_fails_quietly"), None);
    assert_eq!(kept("test_quiet.py::test_skips_quietly"), None);
    let printed = kept("test_quiet.py::test_fails_printing").unwrap();
    assert!(printed.contains("the test itself"), "{printed}");
    assert!(!printed.contains("the process"), "{printed}");
}
