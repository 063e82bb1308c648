//! The results store as a user meets it: runs recorded as they end (into
//! the user's data directory unless told otherwise), results directories
//! imported once each, a test's verdicts across runs, and a store that
//! cannot be written never changing a run's exit status.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use proctor_e2e::*;
use serde_json::{json, Value};

/// A pytest suite with a test that fails once, one that always fails and
/// one that passes; retried once.
fn suite(dir: &Path) -> std::path::PathBuf {
    let tests = dir.join("suite");
    std::fs::create_dir_all(&tests).unwrap();
    write_test_failing_once(
        &tests,
        b"test_history.py",
        "def test_passes():\n    pass\n\ndef test_always_fails():\n    assert 2 + 2 == 5, 'arithmetic is off by 1'\n",
    );
    write_config(
        dir,
        &json!({ "retry": { "max_attempts": 2 },
                 "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }] }),
    )
}

fn run(dir: &Path, config: &Path, extra: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    Command::new(proctor_bin())
        .current_dir(dir)
        .arg("run")
        .arg(config)
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// What a command of the store (`history ...`, `store ...`) printed on
/// stdout, once it succeeded on `store`.
fn store_command(store: impl AsRef<OsStr>, args: &[&str]) -> String {
    let store = store.as_ref().to_str().unwrap();
    let output = proctor(Path::new("."), &[args, &["--store", store]].concat());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

fn history(store: impl AsRef<OsStr>, id: &str) -> Vec<Value> {
    let args = ["history", "test", id, "--source", "py", "--format", "json"];
    let listed: Value = serde_json::from_str(&store_command(store, &args)).unwrap();
    listed.as_array().unwrap().clone()
}

#[test]
fn each_run_is_recorded_with_its_verdicts_and_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = suite(dir.path());
    let store = dir.path().join("history.db");
    let store_arg = store.to_str().unwrap();

    // The suite is a git checkout: its commit is what the runs tested.
    let git = |args: &[&str]| git_in(dir.path(), args, None);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "suite", "proctor.json"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "commit",
        "-q",
        "-m",
        "suite",
    ]);
    let head = git(&["rev-parse", "HEAD"]);

    let first = run(dir.path(), &config, &["--store", store_arg], &[]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let first_summary = read_summary(&dir.path().join("results/summary.json"));
    let second = run(dir.path(), &config, &["--store", store_arg], &[]);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));

    let flaky = history(&store, "test_history.py::test_fails_once");
    let verdicts: Vec<&str> = flaky
        .iter()
        .map(|v| v["verdict"].as_str().unwrap())
        .collect();
    // The marker it leaves makes it pass from then on.
    assert_eq!(verdicts, ["flaky", "expected"], "{flaky:#?}");
    assert_eq!(flaky[0]["run_id"], first_summary.run.run_id.as_str());
    assert_eq!(flaky[0]["attempts"], 2);
    for verdict in &flaky {
        assert_eq!(
            (verdict["commit"].as_str(), verdict["branch"].as_str()),
            (Some(head.as_str()), Some("main"))
        );
    }
    let context = first_summary
        .run
        .context
        .as_ref()
        .expect("the summary says what the run tested");
    assert_eq!(context.commit.as_deref(), Some(head.as_str()));

    // Flags say what the checkout cannot: another variant, another commit.
    let other_variant = run(
        dir.path(),
        &config,
        &[
            "--store",
            store_arg,
            "--variant",
            "config=debug",
            "--commit",
            "feedface",
        ],
        &[],
    );
    assert_eq!(
        other_variant.status.code(),
        Some(1),
        "{}",
        stderr(&other_variant)
    );
    let passes = history(&store, "test_history.py::test_passes");
    assert_eq!(passes.len(), 3);
    assert_eq!(passes[2]["commit"], "feedface");
    assert_eq!(passes[0]["variant"], passes[1]["variant"]);
    assert_ne!(passes[1]["variant"], passes[2]["variant"]);
    let broken = history(&store, "test_history.py::test_always_fails");
    assert_eq!(broken.len(), 3);
    for verdict in &broken {
        assert_eq!(verdict["verdict"], "unexpected");
        assert_eq!(verdict["attempts"], 2);
        assert!(
            verdict["reason"]
                .as_str()
                .unwrap()
                .contains("arithmetic is off by <n>"),
            "{verdict}"
        );
    }

    // Flaky as LUCI says: it failed and passed on one commit and variant.
    let flaky = store_command(&store, &["history", "flaky", "--format", "json"]);
    let report: Value = serde_json::from_str(&flaky).unwrap();
    let tests = report["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 1, "{report:#}");
    assert_eq!(tests[0]["test"], "test_history.py::test_fails_once");
    assert_eq!(
        (tests[0]["runs"].as_u64(), tests[0]["flaky_runs"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(tests[0]["pass_on_retry_rate"], 1.0);
    // Every run had a test that always fails: none was green.
    assert_eq!(report["runs_green_by_retries"], 0);

    // The always failing test's failures are one cluster, seen in every run.
    let failures = store_command(&store, &["history", "failures", "--format", "json"]);
    let clusters: Value = serde_json::from_str(&failures).unwrap();
    let arithmetic = (clusters.as_array().unwrap().iter())
        .find(|c| {
            c["reason"]
                .as_str()
                .unwrap()
                .contains("arithmetic is off by <n>")
        })
        .unwrap_or_else(|| panic!("{clusters:#}"));
    assert_eq!(
        (arithmetic["failures"].as_u64(), arithmetic["new"].as_bool()),
        (Some(3), Some(false))
    );
    assert_eq!(
        arithmetic["tests"],
        json!(["py test_history.py::test_always_fails"])
    );

    // The latest run is recorded already; a store of its own takes it once.
    let results = dir.path().join("results");
    let import =
        |store: &Path| store_command(store, &["store", "import", results.to_str().unwrap()]);
    assert!(import(&store).contains("already recorded"));
    let other = dir.path().join("other.db");
    assert!(
        import(&other).contains("recorded, 3 results"),
        "{}",
        import(&other)
    );
    assert!(import(&other).contains("already recorded"));
    assert_eq!(history(&other, "test_history.py::test_passes").len(), 1);

    let prune = |age: &str| store_command(&store, &["store", "prune", "--older-than", age]);
    assert!(
        prune("90d").starts_with("0 runs from before"),
        "{}",
        prune("90d")
    );
    assert!(prune("0s").starts_with("3 runs from before"));
    assert!(history(&store, "test_history.py::test_passes").is_empty());
}

/// A results directory of layout 2, imported, is the same run as one of
/// layout 1: each test's verdict, outcome, attempts and reason.
#[test]
fn a_run_in_layout_2_is_imported_as_the_same_run_in_layout_1() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.db");
    let mut imported = Vec::new();
    for layout in ["1", "2"] {
        let run_dir = dir.path().join(format!("layout-{layout}"));
        let config = suite(&run_dir);
        let results = run_dir.join("results");
        let args = ["--no-store", "--results-layout", layout];
        let output = run(&run_dir, &config, &args, &[]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        imported.push(store_command(
            &store,
            &["store", "import", results.to_str().unwrap()],
        ));
    }
    assert!(
        imported
            .iter()
            .all(|said| said.contains("recorded, 3 results")),
        "{imported:?}"
    );
    for test in ["test_passes", "test_fails_once", "test_always_fails"] {
        let verdicts: Vec<Value> = (history(&store, &format!("test_history.py::{test}")).iter())
            .map(|run| {
                json!([
                    run["verdict"],
                    run["outcome"],
                    run["attempts"],
                    run["reason"]
                ])
            })
            .collect();
        assert_eq!(verdicts.len(), 2, "{test}: {verdicts:?}");
        assert_eq!(verdicts[0], verdicts[1], "{test}");
    }
}

#[test]
fn runs_go_to_the_users_data_directory_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let config = suite(dir.path());
    let data = dir.path().join("data");
    let default_store = data.join("proctor").join("history.db");

    let unrecorded = run(
        dir.path(),
        &config,
        &["--no-store"],
        &[("XDG_DATA_HOME", &data)],
    );
    assert_eq!(unrecorded.status.code(), Some(1), "{}", stderr(&unrecorded));
    assert!(!default_store.exists());

    let recorded = run(dir.path(), &config, &[], &[("XDG_DATA_HOME", &data)]);
    assert_eq!(recorded.status.code(), Some(1), "{}", stderr(&recorded));
    assert_eq!(
        history(&default_store, "test_history.py::test_passes").len(),
        1
    );

    let named = dir.path().join("named.db");
    let by_variable = run(
        dir.path(),
        &config,
        &[],
        &[("XDG_DATA_HOME", &data), ("PROCTOR_STORE", &named)],
    );
    assert_eq!(
        by_variable.status.code(),
        Some(1),
        "{}",
        stderr(&by_variable)
    );
    assert_eq!(history(&named, "test_history.py::test_passes").len(), 1);
    assert_eq!(
        history(&default_store, "test_history.py::test_passes").len(),
        1
    );

    // The configuration's `store`: off, or a path beside it; the variable
    // and the flag still win.
    let with_store = |store: Value| {
        let text = std::fs::read_to_string(&config).unwrap();
        let mut written: Value = serde_json::from_str(&text).unwrap();
        written["store"] = store;
        write_config(dir.path(), &written)
    };
    let off = with_store(json!(false));
    let output = run(dir.path(), &off, &[], &[("XDG_DATA_HOME", &data)]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        history(&default_store, "test_history.py::test_passes").len(),
        1
    );
    let beside = with_store(json!("project.db"));
    let output = run(dir.path(), &beside, &[], &[("XDG_DATA_HOME", &data)]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let project = dir.path().join("project.db");
    assert_eq!(history(&project, "test_history.py::test_passes").len(), 1);
    let env = [
        ("XDG_DATA_HOME", data.as_path()),
        ("PROCTOR_STORE", named.as_path()),
    ];
    let output = run(dir.path(), &beside, &[], &env);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(history(&named, "test_history.py::test_passes").len(), 2);
    let refused = with_store(json!(5));
    let output = run(dir.path(), &refused, &[], &[]);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(
        said.contains("expected `false`, `true`, the results store's path or a postgres:// URL"),
        "{said}"
    );
}

#[test]
fn a_store_that_cannot_be_written_warns_and_leaves_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let config = suite(dir.path());
    // A directory where the store's file would be.
    let blocked = dir.path().join("history.db");
    std::fs::create_dir(&blocked).unwrap();
    let output = run(
        dir.path(),
        &config,
        &["--store", blocked.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("WARN the run is not in its history: results store"),
        "{said}"
    );
    // The summary says so too: the reports are written again with it.
    let summary = read_summary(&dir.path().join("results/summary.json"));
    assert!(
        (summary.run.warnings.iter()).any(|w| w.starts_with("the run is not in its history")),
        "{:?}",
        summary.run.warnings
    );
}

/// The suggested quarantine is a Helix file proctor itself reads: a test
/// flaky in two runs is quarantined, and its failure no longer fails a run.
#[test]
fn suggested_quarantine_rules_quarantine_the_flaky_test_when_used() {
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("suite");
    std::fs::create_dir_all(&tests).unwrap();
    write_test_failing_once(&tests, b"test_q.py", "def test_passes():\n    pass\n");
    let retried = json!({ "retry": { "max_attempts": 2 },
                          "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }] });
    let config = write_config(dir.path(), &retried);
    let store = dir.path().join("history.db");
    let store_arg = store.to_str().unwrap();
    // Flaky in two runs: it fails, then passes on its retry, each time.
    for _ in 0..2 {
        let _ = std::fs::remove_file(tests.join("failed-once"));
        let output = run(dir.path(), &config, &["--store", store_arg], &[]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    let suggested = store_command(&store, &["history", "quarantine"]);
    let rules: Value = serde_json::from_str(&suggested).unwrap();
    assert_eq!(
        rules["quarantineRules"].as_array().unwrap().len(),
        1,
        "{rules:#}"
    );

    // Used as Helix uses it, beside a configuration without a retry block.
    std::fs::create_dir_all(dir.path().join("eng")).unwrap();
    std::fs::write(dir.path().join("eng/test-configuration.json"), &suggested).unwrap();
    write_config(
        dir.path(),
        &json!({ "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }] }),
    );
    std::fs::write(
        tests.join("test_q.py"),
        "def test_fails_once():\n    assert False, 'broken for good'\n\ndef test_passes():\n    pass\n",
    )
    .unwrap();
    let output = run(dir.path(), &config, &["--no-store"], &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "quarantined: {}",
        stderr(&output)
    );
    let summary = read_summary(&dir.path().join("results/summary.json"));
    let quarantined = test_record(&summary, "py", "test_q.py::test_fails_once");
    assert!(
        quarantined.quarantined && quarantined.outcome == Outcome::Failed,
        "{}",
        pretty(&summary)
    );
}

/// Many machines, one server: runs recorded into PostgreSQL as they end
/// read back as the same runs imported into SQLite do, word for word.
#[test]
fn runs_recorded_on_a_postgresql_server_read_as_they_do_from_sqlite() {
    let server = postgres_server::PostgresServer::start();
    // The password is for the redaction below: the server trusts loopback.
    let url = server
        .database("history")
        .replace("proctor@", "proctor:s3cr3t-pass@");
    let dir = tempfile::tempdir().unwrap();
    let config = suite(dir.path());
    let server_env = [("PROCTOR_STORE", Path::new(&url))];
    let mut results = Vec::new();
    for n in 0..3 {
        let into = dir.path().join(format!("results-{n}"));
        let args = ["--results-dir", into.to_str().unwrap()];
        let output = run(dir.path(), &config, &args, &server_env);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(!stderr(&output).contains("WARN"), "{}", stderr(&output));
        results.push(into.to_str().unwrap().to_owned());
    }
    let sqlite = dir.path().join("history.db");
    let import = |store: &dyn AsRef<OsStr>| {
        let args: Vec<&str> = ["store", "import"]
            .into_iter()
            .chain(results.iter().map(String::as_str))
            .collect();
        store_command(store, &args)
    };
    assert!(import(&sqlite).contains("recorded, 3 results"));
    assert_eq!(import(&url).matches("already recorded").count(), 3);

    let analyses: [&[&str]; 4] = [
        &["history", "flaky", "--format", "json"],
        &["history", "failures", "--format", "json"],
        &[
            "history",
            "test",
            "test_history.py::test_fails_once",
            "--format",
            "json",
        ],
        &["history", "quarantine", "--min-flaky-runs", "1"],
    ];
    for args in analyses {
        assert_eq!(
            store_command(&url, args),
            store_command(&sqlite, args),
            "{args:?}"
        );
    }
    // Not alike for want of anything to say.
    let flaky: Value = serde_json::from_str(&store_command(&url, analyses[0])).unwrap();
    assert_eq!(
        flaky["tests"][0]["test"],
        "test_history.py::test_fails_once"
    );
    assert_eq!(history(&url, "test_history.py::test_always_fails").len(), 3);

    // A store of a newer schema is refused, naming the server without its
    // password; a run that cannot record into it keeps its exit status.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute("UPDATE proctor_schema SET version = 99")
        .unwrap();
    let refused = proctor(dir.path(), &["history", "flaky", "--store", &url]);
    let said = stderr(&refused);
    assert_eq!(refused.status.code(), Some(3), "{said}");
    assert!(
        said.contains("version 99, newer than this proctor's"),
        "{said}"
    );
    assert!(
        said.contains("127.0.0.1") && !said.contains("s3cr3t-pass"),
        "{said}"
    );
    let output = run(dir.path(), &config, &[], &server_env);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("WARN the run is not in its history"));

    client
        .batch_execute("UPDATE proctor_schema SET version = 2")
        .unwrap();
    let pruned = store_command(&url, &["store", "prune", "--older-than", "0s"]);
    assert!(pruned.starts_with("3 runs from before"), "{pruned}");
    assert!(history(&url, "test_history.py::test_passes").is_empty());
}

/// A pytest test that waits until another connection to the store's
/// database is open, then has the server end it.
const DROPS_THE_STORES_CONNECTION: &str = r#"
import os, subprocess, time

OTHERS = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"

def psql(sql):
    command = [os.environ["PSQL"], os.environ["STORE_URL"], "-Atc", sql]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

def test_drops_the_stores_connection():
    deadline = time.monotonic() + 30
    while psql("SELECT count(*) " + OTHERS) == "0":
        assert time.monotonic() < deadline, "the run never connected to its store"
        time.sleep(0.05)
    assert psql("SELECT bool_and(pg_terminate_backend(pid)) " + OTHERS) == "t"
"#;

/// A run connects to its store's server as it starts; a server that ends
/// the connection while the tests run (a restart, an idle timeout) still
/// gets the run, over a new one.
#[test]
fn a_run_whose_store_connection_the_server_ended_is_recorded_over_a_new_one() {
    let server = postgres_server::PostgresServer::start();
    let url = server.database("ended");
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("suite");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(tests.join("test_store.py"), DROPS_THE_STORES_CONNECTION).unwrap();
    let config = write_config(
        dir.path(),
        &json!({ "sources": [{ "name": "py", "runner": "pytest", "path": "suite" }] }),
    );
    let psql = server.program("psql");
    let env = [
        ("PROCTOR_STORE", Path::new(&url)),
        ("STORE_URL", Path::new(&url)),
        ("PSQL", psql.as_path()),
    ];
    let output = run(dir.path(), &config, &[], &env);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("WARN"), "{}", stderr(&output));
    let recorded = history(&url, "test_store.py::test_drops_the_stores_connection");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
}

/// Machines finishing at once: imports started together into a new store
/// migrate it once and record every run, on a server and in a file.
#[test]
fn runs_recorded_at_once_are_all_kept() {
    let server = postgres_server::PostgresServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = suite(dir.path());
    let results: Vec<String> = (0..4)
        .map(|n| {
            let into = dir.path().join(format!("results-{n}"));
            let args = ["--no-store", "--results-dir", into.to_str().unwrap()];
            let output = run(dir.path(), &config, &args, &[]);
            assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
            into.to_str().unwrap().to_owned()
        })
        .collect();
    let sqlite = dir.path().join("history.db");
    for store in [
        server.database("at_once"),
        sqlite.to_str().unwrap().to_owned(),
    ] {
        let importing: Vec<_> = (results.iter())
            .map(|results| {
                Command::new(proctor_bin())
                    .args(["store", "import", results, "--store", &store])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in importing {
            let output = child.wait_with_output().unwrap();
            assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
            assert!(
                stdout(&output).contains("recorded, 3 results"),
                "{}",
                stdout(&output)
            );
        }
        assert_eq!(history(&store, "test_history.py::test_passes").len(), 4);
    }
}

/// A project whose history breaks one test at one commit (the seventh of
/// twelve), and has another that fails one attempt in four throughout
/// (retried once): its repository's directory, and its commits, oldest
/// first.
fn broken_project(dir: &Path) -> (std::path::PathBuf, Vec<String>) {
    let repo = dir.join("project");
    std::fs::create_dir_all(repo.join("tests")).unwrap();
    let counter = dir.join("attempts");
    std::fs::write(
        repo.join("tests/test_project.py"),
        format!(
            "import pathlib\n\
             from answer import ANSWER\n\
             def test_answer():\n\
             \x20   assert ANSWER == 42, f'the answer is {{ANSWER}}'\n\
             def test_flaky():\n\
             \x20   counter = pathlib.Path({counter:?})\n\
             \x20   n = int(counter.read_text()) + 1 if counter.exists() else 1\n\
             \x20   counter.write_text(str(n))\n\
             \x20   assert n % 4 != 0, 'every fourth attempt fails'\n"
        ),
    )
    .unwrap();
    write_config(
        &repo,
        &json!({ "retry": { "max_attempts": 2 },
                 "sources": [{ "name": "py", "runner": "pytest", "path": "tests" }] }),
    );
    let git = |args: &[&str], when: Option<usize>| git_in(&repo, args, when);
    git(&["init", "-q", "-b", "main"], None);
    let commits = (0..12)
        .map(|n| {
            let answer = if n < 6 { 42 } else { 41 };
            // Beside the tests, where pytest imports from.
            std::fs::write(
                repo.join("tests/answer.py"),
                format!("ANSWER = {answer}\n# change {n}\n"),
            )
            .unwrap();
            git(&["add", "."], None);
            let message = format!("change {n}");
            let identity = ["-c", "user.name=t", "-c", "user.email=t@e"];
            git(
                &[&identity[..], &["commit", "-q", "-m", &message]].concat(),
                Some(n),
            );
            git(&["rev-parse", "HEAD"], None)
        })
        .collect();
    (repo, commits)
}

/// `git ARGS` in `repo`, dated day `when` of a month when given; its output.
fn git_in(repo: &Path, args: &[&str], when: Option<usize>) -> String {
    let mut command = Command::new("git");
    command.current_dir(repo).args(args);
    if let Some(n) = when {
        let date = format!("2026-11-{:02}T12:00:00Z", n + 1);
        command
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_AUTHOR_DATE", &date);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
    stdout(&output).trim().to_owned()
}

/// The broken project run at each of its commits, recorded into SQLite
/// and PostgreSQL: the broken test's culprit is the commit that broke it,
/// on both, and the flaky one has none.
#[test]
fn the_commit_that_broke_a_test_is_named_and_a_flaky_test_blames_none() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, commits) = broken_project(dir.path());
    let git = |args: &[&str]| git_in(&repo, args, None);
    let sqlite = dir.path().join("history.db");
    let mut results = Vec::new();
    for (n, commit) in commits.iter().enumerate() {
        git(&["checkout", "-q", commit]);
        let into = dir.path().join(format!("results-{n}"));
        let args = [
            "--store",
            sqlite.to_str().unwrap(),
            "--results-dir",
            into.to_str().unwrap(),
        ];
        let output = run(&repo, &repo.join("proctor.json"), &args, &[]);
        let expected = if n < 6 { 0 } else { 1 };
        assert_eq!(output.status.code(), Some(expected), "{}", stderr(&output));
        results.push(into.to_str().unwrap().to_owned());
    }
    let server = postgres_server::PostgresServer::start();
    let url = server.database("culprits");
    let import: Vec<&str> = ["store", "import"]
        .into_iter()
        .chain(results.iter().map(String::as_str))
        .collect();
    store_command(&url, &import);

    let culprit = |store: &dyn AsRef<OsStr>, test: &str| -> Value {
        let args = ["history", "culprit", test, "--format", "json"];
        let reports: Value = serde_json::from_str(&store_command(store, &args)).unwrap();
        assert_eq!(reports.as_array().unwrap().len(), 1, "{reports:#}");
        reports[0].clone()
    };
    for store in [&sqlite as &dyn AsRef<OsStr>, &url] {
        let broken = culprit(store, "test_project.py::test_answer");
        assert_eq!(broken["status"], "regressed", "{broken:#}");
        assert_eq!(broken["culprit"]["good"], commits[5].as_str());
        assert_eq!(broken["culprit"]["bad"], commits[6].as_str());
        assert_eq!(broken["culprit"]["candidates"], json!([commits[6]]));
        let flaky = culprit(store, "test_project.py::test_flaky");
        assert_eq!(flaky["status"], "flaky", "{flaky:#}");
        assert_eq!(flaky["culprit"], Value::Null);
        let regressions = store_command(store, &["history", "regressions", "--format", "json"]);
        let regressions: Value = serde_json::from_str(&regressions).unwrap();
        let named: Vec<&str> = (regressions.as_array().unwrap().iter())
            .map(|r| r["test"].as_str().unwrap())
            .collect();
        assert_eq!(named, ["test_project.py::test_answer"]);
    }
    let human = store_command(
        &sqlite,
        &["history", "culprit", "test_project.py::test_answer"],
    );
    let range = format!("{}..{}", &commits[5][..12], &commits[6][..12]);
    assert!(human.contains(&format!("culprit in {range}")), "{human}");
}

/// `proctor bisect` on the broken project: the breaking commit, found by
/// running the test at commits between in a scratch worktree, with a
/// commit whose build fails left untested; the flaky test is blamed on no
/// commit; the user's checkout is left as it was, and the runs are in the
/// store.
#[test]
fn bisect_names_the_breaking_commit_and_never_blames_the_flaky_test() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, commits) = broken_project(dir.path());
    let store = dir.path().join("history.db");
    let bisect = |test: &str, extra: &[&str]| -> Value {
        let args = [
            &["bisect", test, "--good", &commits[0], "--bad", &commits[11]][..],
            &["--store", store.to_str().unwrap(), "--format", "json"],
            extra,
        ]
        .concat();
        let output = proctor(&repo, &args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let broken = bisect("test_project.py::test_answer", &[]);
    assert_eq!(broken["ending"], "found", "{broken:#}");
    assert_eq!(broken["culprits"], json!([commits[6]]), "{broken:#}");
    let runs = broken["runs"].as_u64().unwrap();

    // The build fails at the commit before the culprit: it is an unknown,
    // not a failure, and the culprit is one of the two.
    let build = "! grep -q 'change 5$' tests/answer.py";
    let unbuilt = bisect("test_project.py::test_answer", &["--build", build]);
    assert_eq!(unbuilt["ending"], "range", "{unbuilt:#}");
    assert_eq!(
        unbuilt["culprits"],
        json!([commits[5], commits[6]]),
        "{unbuilt:#}"
    );
    let fifth = &unbuilt["commits"][5];
    assert_eq!(
        (fifth["passes"].as_u64(), fifth["failures"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        fifth["unknown_because"]
            .as_str()
            .unwrap()
            .contains("the build failed"),
        "{fifth:#}"
    );

    let flaky = bisect("test_project.py::test_flaky", &["--budget", "24"]);
    assert_eq!(flaky["ending"], "no_change", "{flaky:#}");
    assert_eq!(flaky["culprits"], json!([]));

    // A test the project does not have: no end says anything of it.
    let args = [
        "bisect",
        "test_project.py::test_misspelt",
        "--good",
        &commits[0],
        "--bad",
        &commits[11],
        "--no-store",
    ];
    let nothing = proctor(&repo, &args);
    assert_eq!(nothing.status.code(), Some(3), "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains("cannot bisect test_project.py::test_misspelt: at --good"),
        "{}",
        stderr(&nothing)
    );

    // The user's checkout is untouched, and the runs are history.
    assert_eq!(git_in(&repo, &["rev-parse", "HEAD"], None), commits[11]);
    assert_eq!(git_in(&repo, &["status", "--porcelain"], None), "");
    assert_eq!(
        git_in(&repo, &["worktree", "list", "--porcelain"], None)
            .matches("worktree ")
            .count(),
        1
    );
    let recorded = history(&store, "test_project.py::test_answer");
    assert_eq!(
        recorded.len() as u64,
        runs + unbuilt["runs"].as_u64().unwrap()
    );
}

/// A bisection stopped by SIGINT ends where it is, exit 130, saying so,
/// with its scratch worktree removed from the repository.
#[test]
fn a_stopped_bisection_removes_its_worktree_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let (repo, commits) = broken_project(dir.path());
    let mut bisect = Command::new(proctor_bin())
        .current_dir(&repo)
        .args(["bisect", "test_project.py::test_answer", "--no-store"])
        .args(["--good", &commits[0], "--bad", &commits[11]])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first commit is tested, the search is under way.
    let mut progress = BufReader::new(bisect.stderr.take().unwrap()).lines();
    let first = progress.next().unwrap().unwrap();
    assert!(first.contains("passed"), "{first}");
    send_signal(bisect.id(), "INT");
    let output = bisect.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("stopped by SIGINT before the search settled"),
        "{}",
        stdout(&output)
    );
    let worktrees = git_in(&repo, &["worktree", "list", "--porcelain"], None);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
}
