//! Plugins that misbehave, as an adversary would write them: damaged
//! library files, and plugins that crash, exit or hang. Whatever they do,
//! the run goes on or ends with a status that says it did not finish.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use proctor_e2e::*;
use serde_json::json;

/// A built-in plugin library of the host under test.
fn built_in_library() -> PathBuf {
    let dir = proctor_bin().parent().unwrap().to_path_buf();
    dir.join(format!(
        "libproctor_runner_command.{}",
        std::env::consts::DLL_EXTENSION
    ))
}

/// A `command` source of two tests, one passing and one failing.
fn command_source() -> serde_json::Value {
    json!({
        "name": "command", "runner": "command", "path": ".",
        "settings": {
            "command": ["sh", "-c", "echo \"<testsuite name='s'><testcase name='passes'/>\
                <testcase name='fails'><failure message='no'/></testcase></testsuite>\" \
                > {results_dir}/r.xml"],
            "id": "{name}"
        }
    })
}

#[test]
fn damaged_libraries_are_listed_as_refused_and_never_mapped() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = scratch.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let real = std::fs::read(built_in_library()).unwrap();
    // An interrupted copy: mapping it faulted every command with SIGBUS.
    std::fs::write(plugins.join("libcut.so"), &real[..real.len() / 3]).unwrap();
    // The same library built for another machine (e_machine at byte 18).
    let mut foreign = real.clone();
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    foreign[18..20].copy_from_slice(&other.to_le_bytes());
    std::fs::write(plugins.join("libforeign.so"), foreign).unwrap();
    // A shared library that is no proctor plugin.
    std::fs::copy("/proc/self/exe", plugins.join("libnot-a-plugin.so")).unwrap();
    let plugin_dir = plugins.to_str().unwrap();

    let listing = proctor(scratch.path(), &["--plugin-dir", plugin_dir, "plugins"]);
    assert_eq!(listing.status.code(), Some(0), "{}", stderr(&listing));
    let text = stdout(&listing);
    let refusal = |file: &str| {
        text.lines()
            .find(|line| line.starts_with("refused ") && line.contains(file))
            .unwrap_or_else(|| panic!("{file} is not listed as refused:\n{text}"))
            .to_owned()
    };
    assert!(refusal("libcut.so").contains("refused before mapping: it is truncated"));
    assert!(refusal("libforeign.so").contains("refused before mapping: it was built for"));
    assert!(refusal("libnot-a-plugin.so").contains("refused before mapping"));
    assert!(
        text.contains("runner                command"),
        "the host's own plugins are still listed:\n{text}"
    );

    let config = write_config(scratch.path(), &json!({ "sources": [command_source()] }));
    let run = proctor(
        scratch.path(),
        &["--plugin-dir", plugin_dir, "run", config.to_str().unwrap()],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    check_results(&scratch.path().join("results"));
}

/// How a plugin misbehaves, as the fixture's settings name it.
const MISBEHAVIOURS: [&str; 4] = ["segfault", "abort", "exit", "loop"];
/// A hung call is given up after this many seconds.
const DEADLINE: f64 = 1.0;

/// The fixture library of misbehaving plugins, alone in a plugin directory.
fn misbehaving_plugins(scratch: &Path) -> PathBuf {
    fixture_plugin_dir(
        &fixtures().join("misbehaving-plugin/Cargo.toml"),
        "misbehaving_plugin",
        scratch,
    )
}

/// A directory of one script test that passes.
fn scripts(dir: &Path) -> PathBuf {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(scripts.join("passes.sh"), "exit 0\n").unwrap();
    scripts
}

/// What one run of a misbehaving plugin came to.
struct Misbehaved {
    code: Option<i32>,
    stderr: String,
    results: PathBuf,
}

impl Misbehaved {
    fn summary(&self) -> RunSummary {
        check_results(&self.results);
        read_summary(&self.results.join("summary.json"))
    }

    /// The run ended by the supervisor, the host's process ended by the
    /// plugin: exit 3 and why, never 0, the journal kept.
    fn assert_host_ended(&self, how: &str) {
        assert_eq!(self.code, Some(3), "{how}: {}", self.stderr);
        let why = match how {
            "segfault" => "was killed by SIGSEGV before the run finished",
            "abort" => "was killed by SIGABRT before the run finished",
            // The watchdog: the call holds a thread nothing can free.
            "loop" => {
                "within 1 s, and it runs in the host's process, on a thread nothing \
                       can free: the run cannot go on"
            }
            _ => "exited with status 0 before the run finished",
        };
        assert!(self.stderr.contains(why), "{how}: {}", self.stderr);
        let journal = std::fs::read_to_string(self.results.join("events.jsonl")).unwrap();
        assert!(journal.contains("run_started"), "{how}: {journal}");
    }
}

/// Runs `config` with the misbehaving plugins in `isolation`, every call's
/// deadline `DEADLINE`.
fn run_misbehaving(
    dir: &Path,
    plugins: &Path,
    isolation: &str,
    mut config: serde_json::Value,
) -> Misbehaved {
    config["isolation"] = json!(isolation);
    config["plugin_deadline_seconds"] = json!({
        "discover": DEADLINE, "plan_execution": DEADLINE, "parse_output": DEADLINE,
        "collect_results": DEADLINE, "download": DEADLINE, "on_event": DEADLINE,
        "process": DEADLINE,
    });
    let path = write_config(dir, &config);
    let output = proctor(
        dir,
        &[
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "run",
            path.to_str().unwrap(),
        ],
    );
    Misbehaved {
        code: output.status.code(),
        stderr: stderr(&output),
        results: dir.join("results"),
    }
}

/// The message a call to a plugin process that misbehaved `how` fails with.
fn failed_call(label: &str, call: &str, how: &str) -> String {
    let why = match how {
        "loop" => format!("it did not answer `{call}` within 1 s; its process was killed"),
        "segfault" => format!("its process was killed by SIGSEGV during `{call}`"),
        "abort" => format!("its process was killed by SIGABRT during `{call}`"),
        _ => format!("its process exited with status 0 during `{call}`"),
    };
    format!("{label} failed in {call}: {why}")
}

/// Runs `config(scripts, how)` with a plugin misbehaving each way, in each
/// isolation mode: in process the host ends, saying why; out of process
/// the run ends with 3, and `check` looks at what it did without the
/// plugin's work.
fn each_misbehaviour(
    kind: &str,
    config: impl Fn(&Path, &str) -> serde_json::Value,
    check: impl Fn(&Misbehaved, &Path, &str),
) {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = misbehaving_plugins(scratch.path());
    for isolation in ["process", "in-process"] {
        for how in MISBEHAVIOURS {
            let dir = scratch.path().join(format!("{kind}-{isolation}-{how}"));
            let scripts = scripts(&dir);
            let run = run_misbehaving(&dir, &plugins, isolation, config(&scripts, how));
            if isolation == "in-process" {
                run.assert_host_ended(how);
            } else {
                assert_eq!(run.code, Some(3), "{kind} {how}: {}", run.stderr);
                check(&run, &dir, how);
            }
        }
    }
}

#[test]
fn a_runner_that_crashes_exits_or_hangs_fails_its_source_and_the_run_goes_on() {
    let config = |scripts: &Path, how: &str| {
        json!({ "sources": [
            { "name": "bad", "runner": "misbehaving", "path": scripts,
              "settings": { "at": "discover", "how": how } },
            { "name": "good", "runner": "misbehaving", "path": scripts },
        ]})
    };
    each_misbehaviour("runner", config, |run, _, how| {
        let summary = run.summary();
        let bad = summary
            .run
            .sources
            .iter()
            .find(|s| s.name == "bad")
            .unwrap();
        let expected = failed_call("runner `misbehaving`", "discover", how);
        let error = bad.error.as_deref().unwrap_or_default();
        assert!(error.ends_with(&expected), "{how}: {error}");
        assert_eq!(
            test_record(&summary, "good", "passes.sh").outcome,
            Outcome::Passed,
            "{how}: the other source ran"
        );
    });
}

#[test]
fn a_runner_out_of_process_that_crashes_while_tests_run_fails_their_source_and_is_replaced() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = misbehaving_plugins(scratch.path());
    for call in ["plan_execution", "parse_output", "collect_results"] {
        let dir = scratch.path().join(format!("runner-{call}"));
        let scripts = scripts(&dir);
        std::fs::write(scripts.join("prints.sh"), "echo a line\n").unwrap();
        let config = json!({ "jobs": 1, "sources": [
            { "name": "bad", "runner": "misbehaving", "path": scripts,
              "settings": { "at": call, "how": "segfault" } },
        ]});
        let run = run_misbehaving(&dir, &plugins, "process", config);
        assert_eq!(run.code, Some(3), "{call}: {}", run.stderr);
        let summary = run.summary();
        let errors = summary.run.errors.join("\n");
        let expected = failed_call("runner `misbehaving`", call, "segfault");
        assert!(errors.contains(&expected), "{call}: {errors}");
        // Each test's process was run with a new plugin process where the last crashed.
        assert_eq!(summary.run.counts.total, 2, "{call}: {}", pretty(&summary));
    }
}

#[test]
fn a_downloader_that_crashes_exits_or_hangs_fails_its_download() {
    let config = |scripts: &Path, how: &str| {
        json!({
            "downloads": { "files": [{ "uri": "misbehave://x", "destination": "scripts/fetched.sh" }] },
            "downloaders": { "misbehaving": { "at": "download", "how": how } },
            "sources": [{ "name": "good", "runner": "misbehaving", "path": scripts }],
        })
    };
    each_misbehaviour("downloader", config, |run, dir, how| {
        let expected = failed_call("downloader `misbehaving`", "download", how);
        assert!(run.stderr.contains(&expected), "{how}: {}", run.stderr);
        assert!(!dir.join("scripts/fetched.sh").exists());
    });
}

#[test]
fn a_collector_that_crashes_exits_or_never_answers_is_switched_off_and_the_run_goes_on() {
    // A hang where the host waits for the answer, a crash where it does not.
    let at = |how: &str| match how {
        "loop" => "source_started",
        _ => "source_finished",
    };
    let config = |scripts: &Path, how: &str| {
        json!({
            "collectors": { "misbehaving-collector": { "at": at(how), "how": how } },
            "sources": [{ "name": "good", "runner": "misbehaving", "path": scripts }],
        })
    };
    each_misbehaviour("collector", config, |run, _, how| {
        let summary = run.summary();
        let error = summary.run.collectors[0]
            .error
            .as_deref()
            .unwrap_or_default();
        let label = "collector `misbehaving-collector`";
        let expected = failed_call(label, "on_event", how);
        assert!(error.contains(&expected), "{how}: {error}");
        let switched_off = format!("(at {}); switched off", at(how));
        assert!(error.ends_with(&switched_off), "{error}");
        assert!(
            summary.run.errors.iter().any(|e| e == error),
            "{:?}",
            summary.run.errors
        );
        assert_eq!(
            test_record(&summary, "good", "passes.sh").outcome,
            Outcome::Passed,
            "{how}: the tests ran"
        );
    });
}

/// A stop bounds a plugin call that never answers by the grace period, as
/// it bounds a test process: a collector looping in `on_event` (whose own
/// deadline is 600 s) held a stopped run for ten minutes, a runner looping
/// in its creation for one. Out of process, the call now fails and the run
/// writes its reports; in process, the host ends, its journal kept; either
/// way with the stop's status.
#[test]
fn a_stop_signal_bounds_a_plugin_call_that_never_answers_by_the_grace_period() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = misbehaving_plugins(scratch.path());
    for (call, looping_at) in [("on_event", "source_started"), ("create", "new")] {
        for isolation in ["process", "in-process"] {
            let dir = scratch.path().join(format!("{call}-{isolation}"));
            let scripts = scripts(&dir);
            let misbehaving = json!({ "at": looping_at, "how": "loop" });
            let config = match call {
                "on_event" => json!({
                    "collectors": { "misbehaving-collector": misbehaving },
                    "sources": [{ "name": "good", "runner": "misbehaving", "path": scripts }],
                }),
                _ => json!({
                    "sources": [{ "name": "bad", "runner": "misbehaving", "path": scripts,
                                  "settings": misbehaving }],
                }),
            };
            let mut config = config;
            config["isolation"] = json!(isolation);
            config["grace_period_seconds"] = json!(1);
            let (status, took, stderr) = stopped_while_looping(&dir, &plugins, &config);
            let case = format!("{call}, {isolation}");
            assert!(
                took < Duration::from_secs(10),
                "{case}: ended {took:?} after the signal"
            );
            assert_eq!(status, Some(143), "{case}: {stderr}");
            let cut =
                format!("did not answer `{call}` within the grace period of 1 s after SIGTERM");
            assert!(stderr.contains(&cut), "{case}: {stderr}");
            let results = dir.join("results");
            // A plugin is created before anything is written.
            if call == "create" {
                continue;
            }
            if isolation == "in-process" {
                let journal = std::fs::read_to_string(results.join("events.jsonl")).unwrap();
                assert!(
                    journal.contains("run_started"),
                    "the journal is kept: {journal}"
                );
            } else {
                check_results(&results);
                let summary = read_summary(&results.join("summary.json"));
                let error = summary.run.collectors[0]
                    .error
                    .as_deref()
                    .unwrap_or_default();
                assert!(
                    error.contains(&format!("{cut}; its process was killed")),
                    "{error}"
                );
                assert_eq!(summary.run.counts.total, 0, "nothing starts after a stop");
            }
        }
    }
}

/// Runs `config` in `dir` with the misbehaving plugins, and stops it with
/// SIGTERM once a plugin call loops: its exit status, how long after the
/// signal it ended, and its stderr. A run still going 15 s after the
/// signal fails the test.
fn stopped_while_looping(
    dir: &Path,
    plugins: &Path,
    config: &serde_json::Value,
) -> (Option<i32>, Duration, String) {
    let looping = dir.join("looping");
    let mut run = Background::command(
        dir,
        &["--plugin-dir", plugins.to_str().unwrap(), "run"],
        config.clone(),
        &[("MISBEHAVING_LOOP_MARK", looping.to_str().unwrap())],
        None,
    );
    let started = Instant::now();
    while !looping.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}: the plugin's call never began",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    send_signal(run.pid(), "TERM");
    let (status, stderr) = run.exit(Duration::from_secs(15));
    (status.code(), signalled.elapsed(), stderr)
}

#[test]
fn a_processor_that_crashes_exits_or_hangs_leaves_its_inputs() {
    let config = |scripts: &Path, how: &str| {
        json!({
            "collectors": { "misbehaving-collector": {} },
            "attachment_processors": { "misbehaving-processor": { "at": "process", "how": how } },
            "sources": [{ "name": "good", "runner": "misbehaving", "path": scripts }],
        })
    };
    each_misbehaviour("processor", config, |run, _, how| {
        let summary = run.summary();
        let label = "attachment_processor `misbehaving-processor`";
        let expected = failed_call(label, "process", how);
        let errors = summary.run.errors.join("\n");
        assert!(errors.contains(&expected), "{how}: {errors}");
        let kinds: Vec<&str> = summary
            .run
            .attachments
            .iter()
            .map(|a| a.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            ["proctor://fixture/misbehaving/1"],
            "the input is left"
        );
    });
}

#[test]
fn a_library_whose_constructor_exits_is_refused_or_ends_the_host_with_3_never_0() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = misbehaving_plugins(scratch.path());
    let dir = scratch.path().join("work");
    let scripts = scripts(&dir);
    let config = write_config(
        &dir,
        &json!({ "sources": [{ "name": "s", "runner": "misbehaving", "path": scripts }] }),
    );
    let with_constructor = |command: &mut std::process::Command| {
        command
            .current_dir(&dir)
            .env("MISBEHAVE_IN_CONSTRUCTOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    // Found outside the host's directory: described by a plugin process,
    // never mapped into the host, refused with the reason.
    let listing = with_constructor(std::process::Command::new(proctor_bin()).args([
        "--plugin-dir",
        plugins.to_str().unwrap(),
        "plugins",
    ]));
    assert_eq!(listing.status.code(), Some(0), "{}", stderr(&listing));
    let text = stdout(&listing);
    assert!(
        text.contains("its process exited with status 0 during the loading of the library"),
        "{text}"
    );
    let run = with_constructor(std::process::Command::new(proctor_bin()).args([
        "--plugin-dir",
        plugins.to_str().unwrap(),
        "run",
        config.to_str().unwrap(),
    ]));
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("no runner plugin named `misbehaving`"));

    // Installed with the host: mapped into it, so the constructor ends the
    // host's process; the status says so.
    let (_installed, host) = installed_with(&[plugins.join("libmisbehaving_plugin.so")]);
    for args in [vec!["plugins"], vec!["run", config.to_str().unwrap()]] {
        let output = with_constructor(std::process::Command::new(&host).args(&args));
        assert_ended_by_constructor(&output, &format!("{args:?}"));
    }
}

/// The host's process ended by a library's constructor calling `exit(0)`:
/// exit 3, and why, never 0.
fn assert_ended_by_constructor(output: &Output, context: &str) {
    assert_eq!(
        output.status.code(),
        Some(3),
        "{context}: {}",
        stderr(output)
    );
    assert!(
        stderr(output).contains("exited with status 0 before the run finished"),
        "{context}: {}",
        stderr(output)
    );
}

/// A copy of the host in a directory of its own (under `target`, so that
/// it is the host's own), with `libraries` copied beside it as its own
/// plugins: the directory, kept while it is, and the host.
fn installed_with(libraries: &[PathBuf]) -> (tempfile::TempDir, PathBuf) {
    let installed = tempfile::tempdir_in(repo_root().join("target")).unwrap();
    let host = installed.path().join("proctor");
    std::fs::hard_link(proctor_bin(), &host)
        .or_else(|_| std::fs::copy(proctor_bin(), &host).map(drop))
        .unwrap();
    for library in libraries {
        std::fs::copy(library, installed.path().join(library.file_name().unwrap())).unwrap();
    }
    (installed, host)
}

/// `host run CONFIG` in `dir`, keeping what plugin libraries declare in
/// `cache`, with the misbehaving library's constructor ending whatever
/// process loads it when `constructor_exits`.
fn run_keeping(host: &Path, dir: &Path, cache: &Path, constructor_exits: bool) -> Output {
    let config = dir.join("proctor.json");
    let mut command = std::process::Command::new(host);
    command
        .current_dir(dir)
        .arg("run")
        .arg(config)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("RUST_LOG");
    if constructor_exits {
        command.env("MISBEHAVE_IN_CONSTRUCTOR", "1");
    }
    command.output().unwrap()
}

/// A library's description is kept from one look to the next while its
/// file stays as it was, so a run maps only the libraries whose plugins it
/// creates: a constructor that ends whatever process loads it ends no run
/// that does not use it, until its library changes.
#[test]
fn a_library_described_before_is_mapped_only_by_a_run_that_uses_it() {
    let scratch = tempfile::tempdir().unwrap();
    let built = misbehaving_plugins(scratch.path()).join("libmisbehaving_plugin.so");
    let (installed, host) = installed_with(&[built.clone(), built_in_library()]);
    let misbehaving = installed.path().join(built.file_name().unwrap());
    write_config(scratch.path(), &json!({ "sources": [command_source()] }));
    let cache = scratch.path().join("cache");
    let run = |constructor_exits| run_keeping(&host, scratch.path(), &cache, constructor_exits);

    let first = run(false);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let described = run(true);
    assert_eq!(
        described.status.code(),
        Some(1),
        "the run used no plugin of the library, which it knew: {}",
        stderr(&described)
    );
    std::fs::copy(&built, &misbehaving).unwrap();
    let changed = run(true);
    assert_ended_by_constructor(&changed, "a changed library is looked at again");
}

/// A kept description says what a library declared; a library that
/// declares something else when a run maps it was replaced since, and is
/// refused rather than trusted, and its description is dropped.
#[test]
fn a_library_that_no_longer_declares_what_was_kept_is_refused_when_mapped() {
    let scratch = tempfile::tempdir().unwrap();
    let cache = scratch.path().join("cache");
    write_config(scratch.path(), &json!({ "sources": [command_source()] }));
    let run = || run_keeping(&proctor_bin(), scratch.path(), &cache, false);
    let first = run();
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let kept = cache.join("proctor/plugin-libraries.json");
    let text = std::fs::read_to_string(&kept).unwrap();
    let declared = r#""kind":"runner","name":"command","version":""#;
    assert!(text.contains(declared), "{text}");
    std::fs::write(
        &kept,
        text.replace(declared, &format!("{declared}0.0.0-kept")),
    )
    .unwrap();

    let second = run();
    assert_ne!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("declares other plugins than when it was described"),
        "{}",
        stderr(&second)
    );
    let third = run();
    assert_eq!(
        third.status.code(),
        Some(1),
        "the next run looked at the library afresh: {}",
        stderr(&third)
    );
}

#[test]
fn a_runner_that_hangs_reading_output_in_process_ends_the_host_with_3_and_out_of_process_fails_its_source(
) {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = misbehaving_plugins(scratch.path());
    for isolation in ["process", "in-process"] {
        let dir = scratch.path().join(format!("parse-output-{isolation}"));
        let scripts = scripts(&dir);
        std::fs::write(scripts.join("prints.sh"), "echo a line\n").unwrap();
        let config = json!({ "jobs": 1, "sources": [
            { "name": "bad", "runner": "misbehaving", "path": scripts,
              "settings": { "at": "parse_output", "how": "loop" } },
        ]});
        let run = run_misbehaving(&dir, &plugins, isolation, config);
        assert_eq!(run.code, Some(3), "{isolation}: {}", run.stderr);
        let expected = match isolation {
            // Called on the thread reading the output: nothing can free it.
            "in-process" => "runner `misbehaving` failed in parse_output: it did not answer \
                `parse_output` within 1 s, and it runs in the host's process, on a thread \
                nothing can free: the run cannot go on"
                .to_owned(),
            _ => failed_call("runner `misbehaving`", "parse_output", "loop"),
        };
        assert!(
            run.stderr.contains(&expected),
            "{isolation}: {}",
            run.stderr
        );
        if isolation == "process" {
            assert_eq!(run.summary().run.counts.total, 2);
        }
    }
}

#[test]
fn a_runner_that_claims_thousands_of_earlier_runs_has_the_latest_hundred_kept_and_a_warning() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = misbehaving_plugins(scratch.path());
    let scripts = scripts(scratch.path());
    let config = json!({ "sources": [
        { "name": "claims", "runner": "misbehaving", "path": scripts,
          "settings": { "earlier_runs": 5000 } },
    ]});
    let run = run_misbehaving(scratch.path(), &plugins, "in-process", config);
    // The test passed in the end, after failed runs: flaky, a pass.
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let summary = run.summary();
    let test = &summary.tests[0];
    assert!(test.flaky);
    assert_eq!(test.attempts.len(), 101);
    let numbers: Vec<u32> = test.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, (1..=101).collect::<Vec<u32>>());
    let warning = "the runner reported 5000 runs of `passes.sh` before its last; the earliest \
        4900 are left out, 100 kept";
    assert!(
        summary.run.warnings.iter().any(|w| w.contains(warning)),
        "{:#?}",
        summary.run.warnings
    );
}

/// Live output reaches a runner in the host's process as the lines are
/// (plugin-api 1.10's `parse_lines`) and one in a plugin process as JSON
/// (`parse_output`): a suite's live events read the same both ways.
#[test]
fn live_output_reads_the_same_in_the_hosts_process_and_in_a_plugin_process() {
    let [in_process, out_of_process] = ["in-process", "process"].map(|isolation| {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let config = json!({
            "isolation": isolation,
            "sources": [{
                "name": "py", "runner": "pytest",
                "path": fixtures().join("pytest-suite/test_basic.py"),
                "env": { "FIXTURE_STATE": state },
            }],
        });
        let (code, _, stderr) = run_config_with_env(dir.path(), config, &["-j", "1"], &[]);
        assert_eq!(code, Some(1), "{isolation}: {stderr}");
        let live: Vec<serde_json::Value> = (journal(&dir.path().join("results")).into_iter())
            .filter(|e| matches!(e["event"].as_str(), Some("test_started" | "test_reported")))
            .map(|mut e| {
                let fields = e.as_object_mut().unwrap();
                fields.remove("time");
                fields.remove("pid");
                e
            })
            .collect();
        live
    });
    let reported = |events: &[serde_json::Value]| {
        (events.iter())
            .filter(|e| e["event"] == "test_reported")
            .count()
    };
    assert!(reported(&in_process) >= 5, "{in_process:#?}");
    assert_eq!(in_process, out_of_process);
}
