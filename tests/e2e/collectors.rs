//! Collector plugins in a run: they hear the run's lifecycle events, put
//! variables in test processes' environment, hand back attachments, and a
//! collector that panics is switched off while the run goes on.

use std::path::Path;

use proctor_e2e::*;
use proctor_plugin_api::messages::Owner;
use serde_json::json;

/// A directory holding the example collector and the panicking fixture.
fn plugin_dir(scratch: &Path) -> std::path::PathBuf {
    let slowest = fixture_plugin_dir(
        &repo_root().join("examples/slowest-tests-collector/Cargo.toml"),
        "slowest_tests_collector",
        scratch,
    );
    let panicking = fixture_plugin_dir(
        &fixtures().join("panicking-plugin/Cargo.toml"),
        "panicking_runner",
        scratch,
    );
    for entry in std::fs::read_dir(panicking).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), slowest.join(entry.file_name())).unwrap();
    }
    slowest
}

/// A `command` source whose one test is named after a variable a collector set.
fn source() -> serde_json::Value {
    json!({
        "name": "env", "runner": "command", "path": ".",
        "settings": {
            "command": ["sh", "-c",
                "echo \"<testsuite name='s'><testcase name='saw-$SLOWEST_TESTS_SOURCE'/></testsuite>\" > {results_dir}/r.xml"],
            "id": "{name}"
        }
    })
}

#[test]
fn collectors_set_the_environment_and_hand_back_attachments() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(scratch.path());
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let config = json!({
        "collectors": { "slowest-tests": { "count": 3 } },
        "sources": [
            source(),
            { "name": "py", "runner": "pytest", "path": fixtures().join("pytest-suite") }
        ]
    });
    let path = write_config(&work, &config);
    let output = proctor(
        &work,
        &[
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "run",
            path.to_str().unwrap(),
        ],
    );
    let summary = read_summary(&work.join("results/summary.json"));
    assert!(output.status.code().is_some(), "{}", stderr(&output));

    // The variable asked for at the source's start reached its process.
    test_record(&summary, "env", "saw-env");

    let attachment = &summary.run.attachments[0];
    assert_eq!(attachment.collector, "slowest-tests");
    assert_eq!(attachment.kind, "urn:example:slowest-tests:text:1");
    assert_eq!(attachment.owner, proctor_plugin_api::messages::Owner::Run);
    assert_eq!(attachment.path, std::path::Path::new("slowest-tests.txt"));
    let text = std::fs::read_to_string(work.join("results/slowest-tests.txt")).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("(attempt 1)"), "{text}");

    let collector = &summary.run.collectors[0];
    assert_eq!(collector.name, "slowest-tests");
    assert!(collector.error.is_none());
    assert!(collector.events > 10, "{collector:#?}");
}

#[test]
fn a_collector_that_panics_is_switched_off_and_the_run_goes_on() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(scratch.path());
    let work = scratch.path().join("work");
    std::fs::create_dir_all(work.join("suite")).unwrap();
    // pytest reports each test's start as it happens.
    std::fs::write(
        work.join("suite/test_three.py"),
        "def test_a():\n    pass\ndef test_b():\n    pass\ndef test_c():\n    pass\n",
    )
    .unwrap();
    let config = json!({
        "collectors": { "panicky-collector": {}, "slowest-tests": {} },
        "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }]
    });
    let path = write_config(&work, &config);
    let plugin_dir = plugins.to_str().unwrap();
    let output = proctor(
        &work,
        &["--plugin-dir", plugin_dir, "run", path.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary = read_summary(&work.join("results/summary.json"));
    assert_eq!(summary.run.counts.passed, 3);
    let panicky = &summary.run.collectors[0];
    assert_eq!(panicky.name, "panicky-collector");
    let error = panicky.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(
            "collector `panicky-collector` failed in on_event: \
             plugin panicked: collector exploded at test_three.py::test_"
        ),
        "{summary:#?}"
    );
    assert!(
        error.ends_with("(at test_started); switched off"),
        "{error}"
    );
    assert!(stderr(&output).contains("WARN collector `panicky-collector`"));
    // The other collector saw the whole run.
    assert!(summary.run.collectors[1].error.is_none());
    let text = std::fs::read_to_string(work.join("results/slowest-tests.txt")).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn an_unknown_collector_is_a_configuration_error() {
    let work = tempfile::tempdir().unwrap();
    let config = json!({ "collectors": { "blame-o-matic": {} }, "sources": [source()] });
    let path = write_config(work.path(), &config);
    let output = proctor(work.path(), &["run", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "collectors.blame-o-matic: no collector plugin named `blame-o-matic`; looked in: "
        ),
        "{}",
        stderr(&output)
    );
}

fn pytest_file(file: &str, state: &Path) -> serde_json::Value {
    json!({
        "name": "py",
        "runner": "pytest",
        "path": fixtures().join("pytest-suite").join(file),
        "env": { "FIXTURE_STATE": state },
    })
}

/// The blame attachments of a summary, with each file's content.
fn blames(summary: &RunSummary, results: &Path) -> Vec<(AttachmentRecord, serde_json::Value)> {
    summary
        .run
        .attachments
        .iter()
        .filter(|a| a.collector == "blame")
        .map(|a| {
            (
                a.clone(),
                read_json(&results.join(a.path.to_str().unwrap())),
            )
        })
        .collect()
}

#[test]
fn blame_names_the_test_each_crashed_process_was_running() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "collectors": { "blame": {} },
        "sources": [pytest_file("test_crash.py", &dir.path().join("state"))],
    });
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    let blames = blames(&summary, &dir.path().join("results"));
    let crashed: Vec<(&str, i64)> = blames
        .iter()
        .map(|(a, report)| {
            assert_eq!(a.kind, "proctor://collector/blame/1");
            let Owner::Attempt { test, .. } = &a.owner else {
                panic!("a blame belongs to an attempt: {a:#?}");
            };
            assert_eq!(report["ended"], "crashed");
            (test.as_str(), report["signal"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(
        crashed,
        [
            ("test_crash.py::test_2_segfault", 11),
            ("test_crash.py::test_4_abort", 6)
        ]
    );
    // The first process ran a test before the one that crashed it.
    let sequence = &blames[0].1["sequence"];
    assert_eq!(sequence[0]["test"], "test_crash.py::test_1_before_crash");
    assert_eq!(sequence[0]["outcome"], "passed");
}

#[test]
fn blame_records_a_hung_process_tree_before_it_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = json!({
        "timeout_seconds": 3,
        "collectors": { "blame": {} },
        "sources": [pytest_file("test_hang.py", &dir.path().join("state"))],
    });
    config["sources"][0]["inactivity_timeout_seconds"] = json!(60);
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    let blames = blames(&summary, &dir.path().join("results"));
    let (attachment, report) = &blames[0];
    assert_eq!(
        json!(attachment)["test"],
        "test_hang.py::test_1_hangs_with_a_stubborn_grandchild"
    );
    assert_eq!(report["ended"], "hung");
    // The tree as it was before the kill: the test process and what it started.
    assert!(
        report["process_tree"].as_array().unwrap().len() >= 2,
        "{report}"
    );
    assert_eq!(blames.len(), 1, "{blames:?}");
}

/// A `command` source that takes `seconds` and passes one test.
fn sleeping_source(name: &str, seconds: f64) -> serde_json::Value {
    json!({
        "name": name, "runner": "command", "path": ".",
        "settings": {
            "command": ["sh", "-c", format!(
                "sleep {seconds}; echo \"<testsuite name='s'><testcase name='t'/></testsuite>\" > $PROCTOR_RESULTS_DIR/r.xml"
            )],
            "id": "{name}"
        }
    })
}

#[test]
fn coverage_merges_while_the_slowest_source_still_runs() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = fixture_plugin_dir(
        &fixtures().join("lcov-collector/Cargo.toml"),
        "lcov_collector",
        scratch.path(),
    );
    let work = scratch.path().join("work");
    let tracefiles = work.join("tracefiles");
    std::fs::create_dir_all(&tracefiles).unwrap();
    for (source, hits) in [("quick", 1), ("medium", 2), ("slow", 4)] {
        let text = format!(
            "TN:\nSF:/src/shared.c\nDA:1,{hits}\nDA:2,0\nLF:2\nLH:1\nend_of_record\n\
             SF:/src/{source}.c\nDA:7,{hits}\nLF:1\nLH:1\nend_of_record\n"
        );
        std::fs::write(tracefiles.join(format!("{source}.info")), text).unwrap();
    }
    let config = json!({
        "collectors": { "lcov-fixture": { "tracefiles": tracefiles } },
        "attachment_processors": { "lcov-merge": {} },
        "sources": [
            sleeping_source("quick", 0.1),
            sleeping_source("medium", 0.3),
            sleeping_source("slow", 2.0),
        ]
    });
    let path = write_config(&work, &config);
    let plugin_dir = plugins.to_str().unwrap();
    let output = proctor(
        &work,
        &[
            "--plugin-dir",
            plugin_dir,
            "run",
            path.to_str().unwrap(),
            "-j",
            "3",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary = read_summary(&work.join("results/summary.json"));

    // One attachment is left: the merge of all three.
    let attachments = &summary.run.attachments;
    assert_eq!(attachments.len(), 1, "{summary:#?}");
    assert_eq!(attachments[0].collector, "lcov-merge");
    let merged = std::fs::read_to_string(
        work.join("results")
            .join(attachments[0].path.to_str().unwrap()),
    )
    .unwrap();
    assert!(
        merged.contains("SF:/src/shared.c\nFNF:0\nFNH:0\nDA:1,7\nDA:2,0\nLF:2\nLH:1\n"),
        "{merged}"
    );
    for source in ["quick", "medium", "slow"] {
        assert!(
            merged.contains(&format!("SF:/src/{source}.c\n")),
            "{merged}"
        );
    }

    // The first merge ran while `slow` still did; the final one after it.
    let timeline = &summary.run.timeline;
    let finished = |name: &str| {
        timeline
            .sources
            .iter()
            .find(|s| s.source == name)
            .unwrap()
            .finished_ms
            .unwrap()
    };
    let merges = &timeline.merges;
    assert_eq!(merges.len(), 2, "{timeline:#?}");
    assert!(!merges[0].final_pass);
    assert_eq!(merges[0].inputs, 2);
    assert!(merges[0].finished_ms < finished("slow"), "{timeline:#?}");
    assert!(merges[1].final_pass);
    assert_eq!(merges[1].inputs, 2, "the merge so far and slow's");
    assert!(merges[1].started_ms >= finished("slow"));
}

#[test]
fn coverage_of_python_and_gcov_sources_is_merged_into_one_tracefile() {
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path();
    // A Python module and its tests.
    std::fs::create_dir_all(work.join("py")).unwrap();
    std::fs::write(
        work.join("py/calc.py"),
        "def sign(n):\n    if n < 0:\n        return -1\n    return 1\n",
    )
    .unwrap();
    std::fs::write(
        work.join("py/test_calc.py"),
        "from calc import sign\n\ndef test_positive():\n    assert sign(3) == 1\n",
    )
    .unwrap();
    // A GoogleTest binary built with --coverage; its notes stay in build/.
    std::fs::create_dir_all(work.join("build")).unwrap();
    std::fs::write(
        work.join("build/calc_test.cc"),
        "#include <gtest/gtest.h>\nint twice(int n) { return n > 100 ? 200 : 2 * n; }\n\
         TEST(Calc, Twice) { EXPECT_EQ(twice(2), 4); }\n",
    )
    .unwrap();
    require_program("g++", "Debian's g++");
    let built = std::process::Command::new("g++")
        .current_dir(work.join("build"))
        .args([
            "--coverage",
            "calc_test.cc",
            "-o",
            "calc_test",
            "-lgtest",
            "-lgtest_main",
            "-pthread",
        ])
        .status()
        .unwrap();
    assert!(built.success());
    let config = json!({
        "collectors": { "coverage": {} },
        "attachment_processors": { "lcov-merge": {} },
        "sources": [
            { "name": "py", "runner": "pytest", "path": "py" },
            { "name": "native", "runner": "gtest", "path": "build/calc_test" },
        ]
    });
    let (code, summary) = run_config(work, config, &[]);
    assert_eq!(code, Some(0), "{summary:#?}");
    assert!(summary.run.collectors[0].error.is_none(), "{summary:#?}");
    let attachments = &summary.run.attachments;
    assert_eq!(attachments.len(), 1, "{summary:#?}");
    let merged = std::fs::read_to_string(
        work.join("results")
            .join(attachments[0].path.to_str().unwrap()),
    )
    .unwrap();
    let record = |file: &str| {
        let start = merged
            .find(&format!("SF:{}\n", work.join(file).display()))
            .unwrap_or_else(|| panic!("no record of {file} in\n{merged}"));
        merged[start..]
            .split("end_of_record")
            .next()
            .unwrap()
            .to_owned()
    };
    // `sign` ran for a positive number only: line 3 was never reached.
    let calc = record("py/calc.py");
    assert!(calc.contains("DA:2,1\nDA:3,0\nDA:4,1\n"), "{calc}");
    let native = record("build/calc_test.cc");
    assert!(native.contains("DA:2,1\n"), "{native}");
    // The data went to the results, not beside the build's objects.
    let gcda: Vec<_> = std::fs::read_dir(work.join("build"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "gcda"))
        .collect();
    assert!(gcda.is_empty(), "{gcda:?}");
}

/// Per file of an LCOV tracefile (named relative to `root`): whether each
/// line (`DA`) and each branch (`BRDA`) was reached.
fn reached(
    tracefile: &str,
    root: &Path,
) -> std::collections::BTreeMap<String, Vec<(String, bool)>> {
    let mut files = std::collections::BTreeMap::new();
    let mut current: Option<&mut Vec<(String, bool)>> = None;
    let root = format!("{}/", root.display());
    for line in tracefile.lines() {
        if let Some(file) = line.strip_prefix("SF:") {
            let name = file.strip_prefix(root.as_str()).unwrap_or(file).to_owned();
            current = Some(files.entry(name).or_default());
        } else if let Some(data) = line
            .strip_prefix("DA:")
            .or_else(|| line.strip_prefix("BRDA:"))
        {
            let (place, count) = data.rsplit_once(',').unwrap();
            let hit = !matches!(count, "0" | "-");
            current
                .as_mut()
                .unwrap()
                .push((format!("{}{place}", &line[..2]), hit));
        }
    }
    files
}

#[test]
fn coverage_measures_the_project_under_test_as_coverage_run_does() {
    let scratch = tempfile::tempdir().unwrap();
    let project = pypi_sdist("more-itertools", "10.5.0", scratch.path());
    // What a developer would run in the project: coverage.py over pytest.
    require_python_module("coverage", "coverage");
    require_program("lcov", "Debian's lcov");
    let data = scratch.path().join("baseline.coverage");
    let baseline = scratch.path().join("baseline.info");
    let coverage = |args: &[&str]| {
        run_to_success(
            std::process::Command::new("python3")
                .current_dir(&project)
                .args(["-m", "coverage"])
                .args(args)
                .env("COVERAGE_FILE", &data),
            &format!("coverage {args:?}"),
        );
    };
    coverage(&[
        "run",
        "--branch",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests",
    ]);
    coverage(&["lcov", "-q", "-o", baseline.to_str().unwrap()]);

    // proctor, with the tests directory as the source.
    let config = json!({
        "collectors": { "coverage": {} },
        "sources": [{ "name": "more", "runner": "pytest", "path": project.join("tests") }],
    });
    let (code, summary) = run_config(scratch.path(), config, &["-j", "2"]);
    assert_eq!(code, Some(0), "{summary:#?}");
    assert!(summary.run.counts.passed > 600, "its own suite ran");
    let attachment = summary.run.attachments[0].path.to_str().unwrap();
    let measured =
        std::fs::read_to_string(scratch.path().join("results").join(attachment)).unwrap();

    let expected = reached(&std::fs::read_to_string(&baseline).unwrap(), &project);
    let got = reached(&measured, &project);
    assert!(
        expected.contains_key("more_itertools/more.py"),
        "the package itself is measured: {:?}",
        expected.keys()
    );
    for (file, lines) in &expected {
        assert_eq!(
            got.get(file),
            Some(lines),
            "{file}: the same lines and branches reached"
        );
    }
}

#[test]
fn a_hung_tree_is_dumped_before_the_kill_and_the_dumps_are_gzipped_and_grouped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = json!({
        "timeout_seconds": 3,
        "collectors": { "blame": {}, "dump": {} },
        "attachment_processors": { "dumps": {} },
        "sources": [pytest_file("test_hang.py", &dir.path().join("state"))],
    });
    config["sources"][0]["inactivity_timeout_seconds"] = json!(60);
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    assert!(summary.run.collectors[1].error.is_none(), "{summary:#?}");
    assert!(
        summary.run.timeline.merges[0].error.is_none(),
        "{summary:#?}"
    );
    let results = dir.path().join("results");
    let tree = blames(&summary, &results)[0].1["process_tree"].clone();
    let tree = tree.as_array().unwrap();
    let dumps: Vec<&AttachmentRecord> = summary
        .run
        .attachments
        .iter()
        .filter(|a| a.kind == "proctor://processor/dumps/minidump-gzip/1")
        .collect();
    assert_eq!(dumps.len(), tree.len(), "{summary:#?}");
    let hung = "test_hang.py::test_1_hangs_with_a_stubborn_grandchild";
    for dump in &dumps {
        let path = results.join(dump.path.to_str().unwrap());
        // A standard gzip stream holding a minidump, not a core.
        let output = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success());
        assert_eq!(&output.stdout[..4], b"MDMP");
        assert!(
            output.stdout.len() < 8 << 20,
            "{} bytes",
            output.stdout.len()
        );
        let info = read_json(&std::path::PathBuf::from(
            path.to_string_lossy().trim_end_matches(".gz").to_owned() + ".json",
        ));
        assert!(
            info["signature"].as_str().unwrap().contains("+0x"),
            "{info}"
        );
        assert!(tree.contains(&info["pid"]), "{info}");
        assert_eq!(info["tests"], json!([hung]));
    }
    // The index groups the dumps by signature, with the test in flight.
    let index = read_json(&results.join("dumps/index.json"));
    let grouped: usize = index
        .as_object()
        .unwrap()
        .values()
        .map(|bucket| {
            assert_eq!(bucket["tests"], json!([hung]));
            assert_eq!(bucket["attempts"], json!([1]));
            bucket["dumps"].as_array().unwrap().len()
        })
        .sum();
    assert_eq!(grouped, tree.len());
}

/// The address range of `symbol` in `binary`, from `nm`.
fn symbol_range(binary: &Path, symbol: &str) -> std::ops::Range<u64> {
    let output = std::process::Command::new("nm")
        .arg("-S")
        .arg(binary)
        .output()
        .expect("nm runs");
    let listing = String::from_utf8_lossy(&output.stdout);
    let line = listing
        .lines()
        .find(|line| line.ends_with(&format!(" {symbol}")))
        .unwrap_or_else(|| panic!("no {symbol} in {}", binary.display()));
    let mut fields = line.split(' ');
    let mut hex = || u64::from_str_radix(fields.next().unwrap(), 16).unwrap();
    let (start, size) = (hex(), hex());
    start..start + size
}

/// Checks a dump's description: `test`'s null write caught as it faulted,
/// its signature the faulting instruction in `binary`.
fn assert_caught_at_the_null_write(info: &serde_json::Value, binary: &Path, test: &str) {
    assert_eq!(info["tests"], json!([test]), "{info}");
    assert_eq!(info["signal"], "SIGSEGV");
    assert_eq!(info["code"], 1, "SEGV_MAPERR: {info}");
    assert_eq!(info["address"], "0x0");
    let faulting = symbol_range(binary, "write_through_null");
    let signature = info["signature"].as_str().unwrap();
    let offset = signature.strip_prefix("gtest_faults+0x").expect(signature);
    let offset = u64::from_str_radix(offset, 16).unwrap();
    assert!(
        faulting.contains(&offset),
        "{signature} not in {faulting:x?}"
    );
}

#[test]
fn a_crash_is_dumped_at_the_fault_with_the_faulting_frame_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let binary = gtest_fixture("gtest-faults/faults.cc", "gtest_faults");
    let config = json!({
        "collectors": { "dump": {} },
        "attachment_processors": { "dumps": {} },
        "sources": [{ "name": "native", "runner": "gtest", "path": binary }],
    });
    let store = dir.path().join("history.db");
    let args = ["--jobs", "1", "--store", store.to_str().unwrap()];
    let (code, summary) = run_config(dir.path(), config, &args);
    assert_eq!(code, Some(1));
    let outcomes: Vec<(&str, &str)> = summary
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("Fault.A_Passes", "passed"),
            ("Fault.B_NullWrite", "crashed"),
            ("Fault.C_NullWriteInAThread", "crashed"),
            // Its fault was caught and dumped too, but it recovered: no dump.
            ("Fault.D_Handled", "passed"),
        ],
        "{summary:#?}"
    );
    let results = dir.path().join("results");
    let infos: Vec<serde_json::Value> = summary
        .run
        .attachments
        .iter()
        .filter(|a| a.kind == "proctor://processor/dumps/minidump-gzip/1")
        .map(|a| {
            let path = a.path.to_str().unwrap().trim_end_matches(".gz");
            read_json(&results.join(format!("{path}.json")))
        })
        .collect();
    assert_eq!(infos.len(), 2, "{summary:#?}");
    for (info, test) in infos
        .iter()
        .zip(["Fault.B_NullWrite", "Fault.C_NullWriteInAThread"])
    {
        assert_caught_at_the_null_write(info, &binary, test);
    }
    // The thread that faulted, not the main one, for the second.
    assert_eq!(infos[0]["tid"], infos[0]["pid"]);
    assert_ne!(infos[1]["tid"], infos[1]["pid"]);
    // One fault, one group.
    let index = read_json(&results.join("dumps/index.json"));
    assert_eq!(index.as_object().unwrap().len(), 1, "{index:#?}");
    // Named as summary.json names files: relative to the results directory.
    let bucket = index.as_object().unwrap().values().next().unwrap();
    for dump in bucket["dumps"].as_array().unwrap() {
        let dump = dump.as_str().unwrap();
        assert!(dump.starts_with("dumps/native/crash-"), "{dump}");
        assert!(results.join(dump).exists());
    }
    // The recovered process left nothing behind.
    let files = std::fs::read_dir(results.join("dumps/native"))
        .unwrap()
        .count();
    assert_eq!(files, 4, "two dumps, each with its description");

    // The history clusters the two crashes by their dumps' signature.
    let signature = index.as_object().unwrap().keys().next().unwrap();
    let listed = proctor(
        dir.path(),
        &[
            "history",
            "failures",
            "--format",
            "json",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let clusters: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let by_dump: Vec<&serde_json::Value> = (clusters.as_array().unwrap().iter())
        .filter(|c| c["kind"] == "dump_signature")
        .collect();
    assert_eq!(by_dump.len(), 1, "{clusters:#}");
    assert_eq!(by_dump[0]["reason"], signature.as_str());
    assert_eq!(
        by_dump[0]["tests"],
        json!([
            "native Fault.B_NullWrite",
            "native Fault.C_NullWriteInAThread"
        ])
    );
    assert_eq!(by_dump[0]["new"], true);
}

/// pytest's faulthandler handles SIGSEGV and SIGABRT, on a stack of its
/// own: the dump is taken before it runs, and its frames, unwound through
/// the C library, are grouped by who raised the signal, not by `raise`.
#[test]
fn a_python_crash_is_grouped_by_its_caller_and_faulthandler_still_reports() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "collectors": { "dump": {} },
        "sources": [pytest_file("test_crash.py", &dir.path().join("state"))],
    });
    let (code, summary) = run_config(dir.path(), config, &["--jobs", "1"]);
    assert_eq!(code, Some(1));
    let results = dir.path().join("results");
    let dumps: Vec<serde_json::Value> = summary
        .run
        .attachments
        .iter()
        .map(|a| read_json(&results.join(format!("{}.json", a.path.to_str().unwrap()))))
        .collect();
    let signals: Vec<&str> = dumps
        .iter()
        .map(|d| d["signal"].as_str().unwrap())
        .collect();
    assert_eq!(signals, ["SIGSEGV", "SIGABRT"], "{summary:#?}");
    for dump in &dumps {
        let frames: Vec<&str> = dump["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(frames.len() > 3, "{dump:#?}");
        // The signal is raised inside the C library; the signature is the
        // interpreter's frame that called it.
        assert!(frames[0].starts_with("libc.so"), "{dump:#?}");
        let signature = dump["signature"].as_str().unwrap();
        assert!(!signature.starts_with("libc.so"), "{dump:#?}");
        assert!(frames.contains(&signature), "{dump:#?}");
    }
    assert_ne!(dumps[0]["signature"], dumps[1]["signature"]);
    // The handler still ran once the dump was taken.
    let output = std::fs::read_to_string(
        results.join("sources/py/test_crash.py::test_4_abort/attempt-1/output.log"),
    )
    .unwrap();
    assert!(output.contains("Fatal Python error: Aborted"), "{output}");
}

#[test]
fn gcore_writes_a_full_core_when_asked_with_the_same_signature() {
    require_program("gcore", "Debian's gdb");
    let dir = tempfile::tempdir().unwrap();
    let binary = gtest_fixture("gtest-faults/faults.cc", "gtest_faults");
    let config = json!({
        "collectors": { "dump": { "format": "core" } },
        "attachment_processors": { "dumps": {} },
        "sources": [{ "name": "native", "runner": "gtest", "path": binary }],
    });
    let (code, summary) = run_config(dir.path(), config, &["--filter", "test(Fault.B_NullWrite)"]);
    assert_eq!(code, Some(1));
    let dump = &summary.run.attachments[0];
    assert_eq!(
        dump.kind, "proctor://processor/dumps/core-gzip/1",
        "{summary:#?}"
    );
    let path = dir.path().join("results").join(dump.path.to_str().unwrap());
    let core = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(&core[..4], b"\x7fELF");
    let info = path.to_string_lossy().replace(".core.gz", ".core.json");
    let info = read_json(Path::new(&info));
    assert_caught_at_the_null_write(&info, &binary, "Fault.B_NullWrite");
}

/// Under `strace -f` (as when one debugs proctor), test processes are
/// traced already and cannot be traced for faults: the run goes on without
/// crash dumps, says so once, and a hang is still handled.
#[test]
fn where_tracing_is_refused_the_run_goes_on_without_crash_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let binary = gtest_fixture("gtest-faults/faults.cc", "gtest_faults");
    let mut hang = pytest_file("test_hang.py", &dir.path().join("state"));
    hang["inactivity_timeout_seconds"] = json!(60);
    // A Python process under `strace -f` takes near two seconds to start.
    hang["timeout_seconds"] = json!(6);
    let config = write_config(
        dir.path(),
        &json!({
            "timeout_seconds": 2,
            "collectors": { "blame": {}, "dump": {} },
            "sources": [{ "name": "native", "runner": "gtest", "path": binary }, hang],
        }),
    );
    require_program("strace", "Debian's strace");
    let output = std::process::Command::new("strace")
        .args(["-f", "-o", "/dev/null"])
        .arg(proctor_bin())
        .current_dir(dir.path())
        .args(["run", config.to_str().unwrap(), "--jobs", "1"])
        .output()
        .expect("strace runs (apt-get install strace)");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let warnings = stderr(&output).matches("could not be traced").count();
    assert_eq!(warnings, 1, "{}", stderr(&output));
    let summary = read_summary(&dir.path().join("results/summary.json"));
    let outcome = |name: &str| {
        let test = summary
            .tests
            .iter()
            .find(|t| t.name.as_str().ends_with(name));
        test.unwrap().outcome.as_str()
    };
    assert_eq!(outcome("Fault.B_NullWrite"), "crashed");
    assert_eq!(
        outcome("test_1_hangs_with_a_stubborn_grandchild"),
        "timed_out"
    );
    let crash_dumps = summary
        .run
        .attachments
        .iter()
        .filter(|a| a.path.to_str().unwrap().contains("/crash-"))
        .count();
    assert_eq!(crash_dumps, 0, "{summary:#?}");
    let blamed = blames(&summary, &dir.path().join("results"));
    assert_eq!(blamed.len(), 3, "two crashes and a hang: {blamed:?}");
}

#[test]
fn under_helix_crash_dumps_go_to_its_dump_folder() {
    let dir = tempfile::tempdir().unwrap();
    let binary = gtest_fixture("gtest-faults/faults.cc", "gtest_faults");
    let config = write_config(
        dir.path(),
        &json!({
            "collectors": { "dump": {} },
            "sources": [{ "name": "native", "runner": "gtest", "path": binary }],
        }),
    );
    let helix_dumps = dir.path().join("helix-dumps");
    let output = std::process::Command::new(proctor_bin())
        .current_dir(dir.path())
        .args(["run", config.to_str().unwrap()])
        .args(["--filter", "test(Fault.B_NullWrite)"])
        .env("HELIX_DUMP_FOLDER", &helix_dumps)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let summary = read_summary(&dir.path().join("results/summary.json"));
    let dump = &summary.run.attachments[0];
    let path = std::path::PathBuf::from(dump.path.to_str().unwrap());
    assert!(path.starts_with(&helix_dumps), "{summary:#?}");
    assert!(path.exists());
    assert_eq!(json!(dump)["test"], "Fault.B_NullWrite");
    assert!(!dir.path().join("results/dumps").exists());
}

/// An X server for the test, on a display of its own; killed when dropped.
struct Xvfb {
    server: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        let number = 50 + std::process::id() % 400;
        let display = format!(":{number}");
        require_program("Xvfb", "Debian's xvfb");
        let server = std::process::Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "640x480x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb runs (apt-get install xvfb)");
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !Path::new(&socket).exists() {
            assert!(std::time::Instant::now() < deadline, "Xvfb did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { server, display }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn a_failing_test_leaves_a_screenshot_of_the_display() {
    let xvfb = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("suite")).unwrap();
    std::fs::write(
        dir.path().join("suite/test_ui.py"),
        "def test_renders():\n    pass\n\ndef test_button_is_blue():\n    assert 'red' == 'blue'\n",
    )
    .unwrap();
    let config = json!({
        "collectors": { "screenshot": { "display": xvfb.display } },
        "sources": [{ "name": "ui", "runner": "pytest", "path": "suite" }],
    });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(1));
    let shots = &summary.run.attachments;
    assert_eq!(shots.len(), 1, "only the failing test: {summary:#?}");
    let shot = &shots[0];
    assert_eq!(shot.kind, "proctor://collector/screenshot/png/1");
    assert_eq!(json!(shot)["owner"], "attempt");
    assert_eq!(json!(shot)["test"], "test_ui.py::test_button_is_blue");
    assert_eq!(json!(shot)["attempt"], 1);
    assert!(
        shot.description.starts_with("the screen (640x480) when"),
        "{shot:#?}"
    );
    let png = std::fs::read(dir.path().join("results").join(shot.path.to_str().unwrap())).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The header's width and height, big-endian.
    assert_eq!(&png[16..24], &[0, 0, 2, 128, 0, 0, 1, 224]);
}
