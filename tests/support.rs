//! Helpers for the end-to-end tests: build the host and plugins once, build
//! fixture plugins, run `proctor`, read what it wrote.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod http_server;
pub mod postgres_server;

pub use proctor::results::{
    AttachmentRecord, AttemptRecord, RecordKind, RunOutcome, RunSummary, SourceRecord, TestRecord,
};
pub use proctor_plugin_api::messages::Outcome;
pub mod layout_v1;
pub mod layout_v2;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Cargo as the tests run it. The fixture and example crates are workspaces
/// of their own, so the root's line-tables-only debug info (a fraction of
/// the disk full debug info takes) is handed to them here.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only");
    command
}

/// Cargo for the crate of `manifest`, held to its lockfile (`--locked`)
/// when the crate is this repository's and has one: a committed lockfile
/// left behind by a version raised in the workspace (the SDK's) fails the
/// test that builds it, naming it, instead of being rewritten in the clone
/// under test. A crate a test writes elsewhere may update its own.
pub fn cargo_for(manifest: &Path) -> Command {
    let mut command = cargo();
    if manifest.starts_with(repo_root()) && manifest.with_file_name("Cargo.lock").exists() {
        command.arg("--locked");
    }
    command
}

/// The directory this test binary was built into: `<target>/<profile>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps")
        .to_path_buf()
}

/// Fails the calling test saying what it needs from the machine, when the
/// machine lacks `program` (on `PATH`): `provider` says where it comes from.
/// A missing tool otherwise shows as an obscure failure further on.
pub fn require_program(program: &str, provider: &str) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join(program).is_file());
    assert!(found, "{}", missing(&format!("`{program}` ({provider})")));
}

/// As [`require_program`], for a module of `python3`.
pub fn require_python_module(module: &str, package: &str) {
    static FOUND: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if FOUND.lock().unwrap().iter().any(|m| m == module) {
        return;
    }
    let imported = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    let what = format!("Python's `{module}` module (`python3 -m pip install {package}`)");
    assert!(imported, "{}", missing(&what));
    FOUND.lock().unwrap().push(module.to_owned());
}

fn missing(what: &str) -> String {
    format!("this test needs {what}, which this machine lacks; `scripts/test` installs what the tests need")
}

/// Runs a command the tests need done (a build, a download), failing with
/// what it printed on stderr when it does not succeed.
pub fn run_to_success(command: &mut Command, what: &str) {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} for {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds the host and the built-in plugins (a no-op when up to date) and
/// returns the `proctor` binary, with the plugins beside it.
pub fn proctor_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Runs record into a results store of the tests' own, and keep
        // what plugin libraries declare in a cache of theirs, never the
        // user's (nextest runs each test in a process of its own, so this
        // is set before any other thread reads the environment).
        std::env::set_var("XDG_DATA_HOME", repo_root().join("target").join("e2e-data"));
        std::env::set_var(
            "XDG_CACHE_HOME",
            repo_root().join("target").join("e2e-cache"),
        );
        std::env::remove_var("PROCTOR_STORE");
        let mut command = cargo();
        command
            .current_dir(repo_root())
            .args(["build", "--workspace", "--exclude", "proctor-e2e"]);
        if profile_dir().file_name().is_some_and(|p| p == "release") {
            command.arg("--release");
        }
        run_to_success(&mut command, "building the workspace");
        profile_dir().join("proctor")
    })
    .clone()
}

/// Builds a fixture plugin crate and returns a fresh directory holding only
/// its library, to use as a `--plugin-dir`.
pub fn fixture_plugin_dir(manifest: &Path, library_name: &str, scratch: &Path) -> PathBuf {
    let target = repo_root().join("target").join("fixtures");
    let mut command = cargo_for(manifest);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &target);
    run_to_success(&mut command, &format!("building {}", manifest.display()));
    let file = format!("lib{library_name}.{}", std::env::consts::DLL_EXTENSION);
    let dir = scratch.join(format!("plugins-{library_name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(target.join("debug").join(&file), dir.join(&file))
        .expect("the fixture library was built");
    dir
}

pub fn fixtures() -> PathBuf {
    repo_root().join("tests").join("fixtures")
}

/// Runs `proctor` with `args` in `cwd`.
pub fn proctor(cwd: &Path, args: &[&str]) -> Output {
    Command::new(proctor_bin())
        .current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("proctor runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Reads a JSON file; a run's `summary.json` is first held to the
/// results layout's contract ([`check_results`]).
pub fn read_json(path: &Path) -> serde_json::Value {
    if path.file_name().is_some_and(|name| name == "summary.json") {
        check_results(path.parent().expect("a summary is in a results directory"));
    }
    read_plain_json(path)
}

/// The published schemas of `docs/schemas`: layout 1's, then layout 2's.
const SUMMARY_SCHEMA: &str = "summary.schema.json";
const EVENTS_SCHEMA: &str = "events.schema.json";
const SUMMARY_SCHEMA_2: &str = "v2/summary.schema.json";
const EVENTS_SCHEMA_2: &str = "v2/events.schema.json";

/// A published schema, compiled once.
fn published_schema(file: &'static str) -> &'static jsonschema::Validator {
    static SCHEMAS: [OnceLock<jsonschema::Validator>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let cell = match file {
        SUMMARY_SCHEMA => &SCHEMAS[0],
        EVENTS_SCHEMA => &SCHEMAS[1],
        SUMMARY_SCHEMA_2 => &SCHEMAS[2],
        _ => &SCHEMAS[3],
    };
    cell.get_or_init(|| {
        let schema = read_plain_json(&repo_root().join("docs/schemas").join(file));
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("docs/schemas/{file} is no valid schema: {e}"))
    })
}

fn read_plain_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Fails unless `instance` validates against the published schema `file`.
fn assert_conforms(file: &'static str, instance: &serde_json::Value, what: &str) {
    let violations: Vec<String> = published_schema(file)
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        violations.is_empty(),
        "{what} does not conform to docs/schemas/{file}:\n{}",
        violations.join("\n")
    );
}

/// The layout version a results directory's marker names.
pub fn layout_of(results: &Path) -> u32 {
    let marker = std::fs::read_to_string(results.join(".proctor-results")).unwrap_or_default();
    (marker.lines())
        .find_map(|line| line.strip_prefix("layout "))
        .and_then(|version| version.parse().ok())
        .unwrap_or_else(|| panic!("{} has no layout in its marker", results.display()))
}

/// Holds a results directory to its layout's published contract: the
/// summary and every journal line validate against `docs/schemas`, and
/// the frozen reader of its layout reads it (proctor's own reader too, for
/// a layout 2 summary).
pub fn check_results(results: &Path) {
    let summary = results.join("summary.json");
    let (summary_schema, events_schema) = match layout_of(results) {
        1 => {
            if let Err(e) = layout_v1::read(results) {
                panic!("layout version 1 cannot read {}: {e}", results.display());
            }
            (SUMMARY_SCHEMA, EVENTS_SCHEMA)
        }
        2 => {
            if let Err(e) = layout_v2::read(results) {
                panic!("layout version 2 cannot read {}: {e}", results.display());
            }
            if let Ok(bytes) = std::fs::read(&summary) {
                if let Err(e) = proctor::results::read_summary(&bytes) {
                    panic!("{} is no layout 2 summary: {e}", summary.display());
                }
            }
            (SUMMARY_SCHEMA_2, EVENTS_SCHEMA_2)
        }
        other => panic!("{}: layout {other}", results.display()),
    };
    if summary.exists() {
        assert_conforms(summary_schema, &read_plain_json(&summary), "summary.json");
    }
    let journal = std::fs::read_to_string(results.join("events.jsonl")).unwrap_or_default();
    for (n, line) in journal.lines().enumerate() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_conforms(events_schema, &event, &format!("events.jsonl:{}", n + 1));
    }
}

/// Writes a configuration into `dir` and returns its path.
pub fn write_config(dir: &Path, config: &serde_json::Value) -> PathBuf {
    let path = dir.join("proctor.json");
    std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
    require_frameworks(config);
    path
}

/// What the sources of `config` run needs: pytest for the pytest runner
/// with the default interpreter.
fn require_frameworks(config: &serde_json::Value) {
    let sources = config["sources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let default_pytest = |source: &serde_json::Value| {
        source["runner"] == "pytest" && source["settings"]["python"].is_null()
    };
    if sources.iter().any(default_pytest) {
        require_python_module("pytest", "pytest");
    }
}

/// The GoogleTest fixture suite.
pub fn gtest_suite() -> PathBuf {
    gtest_fixture("gtest-suite/suite.cc", "gtest_suite")
}

/// A GoogleTest fixture, `source` under the fixtures, compiled with g++
/// against Debian's googletest into `target/fixtures/NAME` (once, and again
/// when its source changes).
pub fn gtest_fixture(source: &str, name: &str) -> PathBuf {
    gtest_fixture_with(source, name, &[])
}

/// As [`gtest_fixture`], with more compiler flags (e.g. a sanitizer).
pub fn gtest_fixture_with(source: &str, name: &str, flags: &[&str]) -> PathBuf {
    let source = fixtures().join(source);
    let dir = repo_root().join("target").join("fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join(name);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&binary) >= modified(&source) {
        return binary;
    }
    require_program("g++", "Debian's g++");
    let header = Path::new("/usr/include/gtest/gtest.h");
    assert!(
        header.is_file(),
        "{}",
        missing("GoogleTest (Debian's libgtest-dev)")
    );
    // Built beside and renamed: tests in other processes may be building it too.
    let partial = dir.join(format!("{name}.{}", std::process::id()));
    run_to_success(
        Command::new("g++")
            .args(["-std=c++17", "-O0", "-g"])
            .args(flags)
            .arg(&source)
            .arg("-o")
            .arg(&partial)
            .args(["-lgtest", "-lgtest_main", "-pthread"]),
        "building the GoogleTest fixture (it needs g++ and libgtest-dev)",
    );
    std::fs::rename(&partial, &binary).unwrap();
    binary
}

/// Reads a run's `summary.json` through the report's own types, once its
/// results directory is held to the layout's contract.
pub fn read_summary(path: &Path) -> RunSummary {
    check_results(path.parent().expect("a summary is in a results directory"));
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    proctor::results::read_summary(&bytes)
        .unwrap_or_else(|e| panic!("{} is no summary: {e}", path.display()))
}

/// Runs a configuration in `dir`; returns the exit code and the summary.
pub fn run_config(
    dir: &Path,
    config: serde_json::Value,
    extra: &[&str],
) -> (Option<i32>, RunSummary) {
    let (code, summary, _) = run_config_with_env(dir, config, extra, &[]);
    (code, summary)
}

/// The record of test `id` of `source`.
pub fn test_record<'a>(summary: &'a RunSummary, source: &str, id: &str) -> &'a TestRecord {
    (summary.tests.iter())
        .find(|t| *t.source == *source && t.id == id)
        .unwrap_or_else(|| panic!("no test {source}/{id} in {}", pretty(summary)))
}

/// A summary as `summary.json` has it, for failure messages.
pub fn pretty(summary: &RunSummary) -> String {
    serde_json::to_string_pretty(summary).unwrap()
}

/// A published project's sdist from PyPI, downloaded once into
/// `target/sdists` and unpacked afresh into `into`; answers its directory.
pub fn pypi_sdist(name: &str, version: &str, into: &Path) -> PathBuf {
    let cache = repo_root().join("target").join("sdists");
    std::fs::create_dir_all(&cache).unwrap();
    // sdists name themselves with `-` or `_`, in any case.
    let normal = |file: &str| file.to_lowercase().replace('_', "-");
    let wanted = normal(&format!("{name}-{version}.tar.gz"));
    let archive = || {
        std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| normal(&p.file_name().unwrap().to_string_lossy()) == wanted)
    };
    let tarball = match archive() {
        Some(path) => path,
        None => {
            run_to_success(
                Command::new("python3")
                    .args(["-m", "pip", "download", "--quiet", "--no-deps"])
                    .args(["--no-binary", ":all:"])
                    .arg(format!("{name}=={version}"))
                    .arg("-d")
                    .arg(&cache),
                &format!("downloading {name} {version} from PyPI"),
            );
            archive().expect("pip downloaded the sdist")
        }
    };
    let unpacked = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar runs");
    assert!(unpacked.success());
    let stem = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.gz", "");
    into.join(stem)
}

/// Writes a pytest file into `dir` under `name` (bytes, which need not be
/// UTF-8) whose `test_fails_once` fails on its first attempt and passes on
/// the next (it leaves a marker beside itself), followed by `more` tests.
pub fn write_test_failing_once(dir: &Path, name: &[u8], more: &str) {
    use std::os::unix::ffi::OsStrExt;
    let source = format!(
        "import os\n\
         STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'failed-once')\n\
         def test_fails_once():\n\
         \x20   first = not os.path.exists(STATE)\n\
         \x20   open(STATE, 'a').close()\n\
         \x20   assert not first, 'fails on its first attempt'\n\
         {more}"
    );
    std::fs::write(dir.join(std::ffi::OsStr::from_bytes(name)), source).unwrap();
}

/// Validates a report against one of the schemas under
/// `tests/fixtures/schemas` with Python's xmlschema, failing with every
/// violation it finds.
pub fn assert_valid(schema: &str, report: &Path) {
    require_python_module("xmlschema", "xmlschema");
    let schemas = fixtures().join("schemas");
    let output = Command::new("python3")
        .arg(schemas.join("validate.py"))
        .arg(schemas.join(schema))
        .arg(report)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{} does not validate against {schema}:\n{}{}",
        report.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Validates a run's `junit.xml` and `results.trx` against their schemas.
pub fn assert_reports_valid(results: &Path) {
    assert_valid("junit-10.xsd", &results.join("junit.xml"));
    assert_valid("vstst.xsd", &results.join("results.trx"));
}

/// Runs a configuration in `dir` with `env` set; returns the exit code, the
/// summary and what proctor printed on stderr.
pub fn run_config_with_env(
    dir: &Path,
    config: serde_json::Value,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, RunSummary, String) {
    let path = write_config(dir, &config);
    let output = Command::new(proctor_bin())
        .current_dir(dir)
        .arg("run")
        .arg(&path)
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .expect("proctor runs");
    let summary_path = dir.join("results/summary.json");
    assert!(summary_path.exists(), "no summary:\n{}", stderr(&output));
    (
        output.status.code(),
        read_summary(&summary_path),
        stderr(&output),
    )
}

/// The events of a journal.
pub fn journal(results: &Path) -> Vec<serde_json::Value> {
    check_results(results);
    std::fs::read_to_string(results.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A proctor command (a run, unless said) started in the background, as a
/// CI's script starts it: to be signalled, watched and waited for.
pub struct Background {
    child: Child,
    dir: PathBuf,
}

impl Background {
    /// Starts `proctor run` on `config` in `dir`; `shell` wraps it (`{}`
    /// stands for the command), as a script that starts it would.
    pub fn start(
        dir: &Path,
        config: serde_json::Value,
        env: &[(&str, &str)],
        shell: Option<&str>,
    ) -> Self {
        Self::command(dir, &["run"], config, env, shell)
    }

    /// Starts `proctor ARGS CONFIG` on `config` in `dir`, as
    /// [`Self::start`]: `args` are the command and the options before it.
    pub fn command(
        dir: &Path,
        args: &[&str],
        config: serde_json::Value,
        env: &[(&str, &str)],
        shell: Option<&str>,
    ) -> Self {
        let path = write_config(dir, &config);
        let bin = proctor_bin();
        let mut process = match shell {
            Some(script) => {
                let mut process = Command::new("sh");
                process.args(["-c", script, "sh"]).arg(&bin);
                process
            }
            None => Command::new(&bin),
        };
        let child = process
            .current_dir(dir)
            .args(args)
            .arg(&path)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// The process id of what was started (a wrapping shell's, with one).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn results(&self) -> PathBuf {
        self.dir.join("results")
    }

    /// Waits until the journal has an event `found` accepts.
    pub fn wait_for(&self, what: &str, found: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let events =
                std::fs::read_to_string(self.results().join("events.jsonl")).unwrap_or_default();
            let seen = events
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .any(|event| found(&event));
            if seen {
                return;
            }
            assert!(Instant::now() < deadline, "never saw {what}:\n{events}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for proctor to exit, at most `within`; kills it otherwise.
    pub fn exit(&mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr)
                    .unwrap();
                return (status, stderr);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("proctor did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn summary(&self) -> RunSummary {
        read_summary(&self.results().join("summary.json"))
    }
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to process `pid`, as `kill` does.
pub fn send_signal(pid: u32, signal: &str) {
    run_to_success(
        Command::new("kill").args(["-s", signal, &pid.to_string()]),
        &format!("kill -s {signal} {pid}"),
    );
}

/// Whether process `pid` runs: it exists and is no zombie.
pub fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The host of a `proctor` started as `pid`: the process CI starts only
/// supervises, and the host is its one child.
pub fn host_pid(pid: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_else(|e| panic!("proctor {pid} has no readable children: {e}"));
    let children: Vec<u32> = children
        .split_whitespace()
        .map(|child| child.parse().unwrap())
        .collect();
    assert_eq!(children.len(), 1, "proctor {pid} supervises one host");
    children[0]
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            match entry.path() {
                path if path.is_dir() => dirs.push(path),
                path => files.push(path),
            }
        }
    }
    files
}

/// Copies a directory tree, files and directories alike.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layout 2 directory whose batch process is `process`, and whose
    /// one test's attempt names `named`.
    fn layout_2_results(process: &str, named: &str) -> tempfile::TempDir {
        use serde_json::json;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write(".proctor-results", "layout 2\npid 1\n".into());
        let process = json!({ "source": "py", "name": process,
                              "started_at": "2026-12-05T10:00:00.000Z", "pid": 7 });
        let attempt = json!({ "attempt": 1, "outcome": "passed", "process": named,
                              "duration_ms": 0 });
        let test = json!({ "source": "py", "id": "a", "outcome": "passed", "duration_ms": 0 });
        let line = |event: &str, fields: &serde_json::Value, more: serde_json::Value| {
            let mut line = json!({ "time": "2026-12-05T10:00:01.000Z", "event": event });
            for part in [fields, &more] {
                line.as_object_mut()
                    .unwrap()
                    .extend(part.as_object().unwrap().clone());
            }
            line.to_string() + "\n"
        };
        write(
            "events.jsonl",
            line("process_finished", &process, json!({}))
                + &line(
                    "attempt_finished",
                    &attempt,
                    json!({ "source": "py", "test": "a" }),
                )
                + &line("test_finished", &test, json!({ "attempts": 1 })),
        );
        let mut test = test;
        test["attempts"] = json!([attempt]);
        let summary = json!({ "layout_version": 2, "outcome": "passed", "exit_code": 0,
                              "counts": { "total": 1, "passed": 1, "failed": 0 },
                              "processes": [process], "tests": [test] });
        write("summary.json", summary.to_string());
        dir
    }

    #[test]
    fn the_layout_2_reader_holds_an_attempt_to_a_process_that_is_there() {
        let whole = layout_2_results("attempt-1-1", "attempt-1-1");
        let summary = layout_v2::read(whole.path()).unwrap().unwrap();
        assert_eq!(summary.processes[0].ran.pid, Some(7));
        let lacking = layout_2_results("attempt-1-1", "attempt-1-2");
        let error = layout_v2::read(lacking.path()).unwrap_err();
        assert!(
            error.contains("py/a names process attempt-1-2, not there"),
            "{error}"
        );
    }

    #[test]
    #[should_panic(
        expected = "this test needs `no-such-tool` (a package), which this machine lacks"
    )]
    fn a_missing_program_is_named_with_where_it_comes_from() {
        require_program("no-such-tool", "a package");
    }

    #[test]
    #[should_panic(expected = "`python3 -m pip install no-such-package`")]
    fn a_missing_python_module_is_named_with_how_to_install_it() {
        require_python_module("no_such_module", "no-such-package");
    }

    #[test]
    fn a_present_program_passes() {
        require_program("sh", "the system");
    }
}
