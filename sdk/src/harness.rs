//! Testing a plugin without the host: load the library cargo built, create a
//! plugin from it with a settings block, call it, look at what it answers.
//!
//! The library goes through the host's own loader (`proctor-loader`), with
//! the same version and layout checks, so a plugin that passes here is one
//! `proctor` loads. Enable the `harness` feature in `[dev-dependencies]`:
//!
//! ```toml
//! [dev-dependencies]
//! proctor-sdk = { version = "1.14", features = ["harness"] }
//! ```
//!
//! ```no_run
//! use proctor_sdk::harness::{PluginLibrary, ProgressLog};
//! use proctor_sdk::messages::DownloadRequest;
//!
//! let library = PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap();
//! let downloader = library
//!     .downloader("artifacts", serde_json::json!({ "root": "/srv/artifacts" }))
//!     .unwrap();
//! let progress = ProgressLog::default();
//! let request = DownloadRequest {
//!     uri: "artifacts://build-42/suite.tar.gz".into(),
//!     destination: "/tmp/suite.tar.gz".into(),
//!     base_dir: None,
//! };
//! let response = downloader.download(&request, &progress.sink()).unwrap();
//! assert_eq!(progress.last(), Some((response.bytes, Some(response.bytes))));
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use proctor_loader::{
    AttachmentProcessorPlugin, CallError, CollectorPlugin, CreateError, DownloaderPlugin, Library,
    OutputStream, Refusal, RunnerPlugin,
};

use crate::messages::{
    CollectRequest, ExecutionPlan, ExecutionRequest, LibraryManifest, LiveEvent, ProcessExit,
    SourceInfo, Stream, TestCase, TestResult,
};

/// A plugin library, loaded and checked as the host loads it.
pub struct PluginLibrary {
    library: Library,
}

impl PluginLibrary {
    /// The library cargo built for `package` (pass `env!("CARGO_PKG_NAME")`
    /// from the package's own tests): `lib<package>.so` beside the test
    /// binary. `cargo test` builds it first when the package's `crate-type`
    /// lists `"rlib"` beside `"cdylib"`.
    pub fn built(package: &str) -> Result<Self, String> {
        let file = format!(
            "{}{}{}",
            std::env::consts::DLL_PREFIX,
            package.replace('-', "_"),
            std::env::consts::DLL_SUFFIX
        );
        let exe = std::env::current_exe().map_err(|e| format!("no test binary path: {e}"))?;
        // Tests run from <target>/<profile>/deps, examples from
        // <target>/<profile>/examples; the library is in the profile's
        // directory or its deps.
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let profile = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let candidates: Vec<PathBuf> = [dir, profile.clone(), profile.join("deps")]
            .iter()
            .map(|dir| dir.join(&file))
            .collect();
        let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!(
                "{file} was not built; looked for {} (`cargo test` builds it when the \
                 crate-type list has \"rlib\" beside \"cdylib\")",
                looked.join(" and ")
            )
        })?;
        Self::load(path).map_err(|refusal| refusal.to_string())
    }

    /// A library at `path`.
    #[allow(
        clippy::result_large_err,
        reason = "a library is loaded once, and its refusal carries what its message needs"
    )]
    pub fn load(path: &Path) -> Result<Self, Refusal> {
        proctor_loader::load_library(path).map(|library| Self { library })
    }

    /// What the library declares: its plugins, their versions, its API version.
    pub fn manifest(&self) -> &LibraryManifest {
        &self.library.manifest
    }

    /// Where the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.library.path
    }

    /// Creates the runner `name` with `settings`, as the host would:
    /// refused settings come back as the host would report them.
    pub fn runner(
        &self,
        name: &str,
        settings: serde_json::Value,
    ) -> Result<RunnerPlugin, CreateError> {
        RunnerPlugin::create(&self.library, name, &settings)
    }

    /// Creates the downloader `name` with `settings`, as the host would:
    /// refused settings come back as the host would report them.
    pub fn downloader(
        &self,
        name: &str,
        settings: serde_json::Value,
    ) -> Result<DownloaderPlugin, CreateError> {
        DownloaderPlugin::create(&self.library, name, &settings)
    }

    /// Creates the collector `name` with `settings`, as the host would:
    /// refused settings come back as the host would report them.
    pub fn collector(
        &self,
        name: &str,
        settings: serde_json::Value,
    ) -> Result<CollectorPlugin, CreateError> {
        CollectorPlugin::create(&self.library, name, &settings)
    }

    /// Creates the attachment processor `name` with `settings`, as the host would:
    /// refused settings come back as the host would report them.
    pub fn attachment_processor(
        &self,
        name: &str,
        settings: serde_json::Value,
    ) -> Result<AttachmentProcessorPlugin, CreateError> {
        AttachmentProcessorPlugin::create(&self.library, name, &settings)
    }
}

/// Records the progress a plugin reports during a call, as the host would
/// receive it; [`ProgressLog::stop_after`] makes it ask the plugin to stop.
#[derive(Default)]
pub struct ProgressLog {
    reports: Mutex<Vec<(u64, Option<u64>)>>,
    stop_after: Option<usize>,
}

impl ProgressLog {
    /// A log that answers `false` (stop) from the `reports`-th report on.
    pub fn stop_after(reports: usize) -> Self {
        Self {
            reports: Mutex::default(),
            stop_after: Some(reports),
        }
    }

    /// The callback to pass to a call.
    pub fn sink(&self) -> impl Fn(u64, Option<u64>) -> bool + Sync + '_ {
        move |done, total| {
            let mut reports = self.reports.lock().unwrap_or_else(|p| p.into_inner());
            reports.push((done, total));
            self.stop_after.is_none_or(|limit| reports.len() < limit)
        }
    }

    /// Every report, in order: `(done, total)`.
    pub fn reports(&self) -> Vec<(u64, Option<u64>)> {
        self.reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The last report: units done, and the total when it was known.
    pub fn last(&self) -> Option<(u64, Option<u64>)> {
        self.reports().last().copied()
    }
}

/// What [`run_tests`] saw: the command the runner planned, how its process
/// ended, the live events the runner read in its output, and its results.
#[derive(Debug)]
pub struct Ran {
    /// The command the runner planned.
    pub plan: ExecutionPlan,
    /// How its process ended.
    pub exit: ProcessExit,
    /// What `parse_output` read in the process's stdout, then its stderr.
    pub live: Vec<LiveEvent>,
    /// What `collect_results` answered.
    pub results: Vec<TestResult>,
}

/// Runs `tests` of `source` in one process as the host would, less its
/// supervision (no timeout, no process group, output read once the process
/// has ended): asks the runner for the command, runs it with its stdout
/// and stderr in `stdout.log` and `stderr.log` in `dir` (the attempt's
/// directory, made if missing), hands the runner each stream's lines for
/// live events, and asks it for the results. A runner's tests then build
/// no request: what the host sends it, and any field a later version adds,
/// is made here.
///
/// ```no_run
/// use proctor_sdk::harness::{run_tests, PluginLibrary};
/// use proctor_sdk::messages::{Outcome, SourceInfo, TestCase};
///
/// let library = PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap();
/// let runner = library.runner("scripts", serde_json::json!({})).unwrap();
/// let source = SourceInfo {
///     name: "shell".into(),
///     path: "tests".into(),
///     base_dir: ".".into(),
/// };
/// let ran = run_tests(&runner, &source, vec![TestCase::new("test_adds.sh")], "target/attempt".as_ref())
///     .unwrap();
/// assert_eq!(ran.results[0].outcome, Outcome::Passed);
/// ```
pub fn run_tests(
    runner: &RunnerPlugin,
    source: &SourceInfo,
    tests: Vec<TestCase>,
    dir: &Path,
) -> Result<Ran, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let request = ExecutionRequest {
        source: source.clone(),
        tests,
        attempt: 1,
        artifacts_dir: dir.to_path_buf(),
    };
    let plan = runner.plan_execution(&request).map_err(|e| e.to_string())?;
    let (stdout_path, stderr_path) = (dir.join("stdout.log"), dir.join("stderr.log"));
    let file = |path: &Path| {
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let command = &plan.command;
    let mut process = std::process::Command::new(&command.program);
    process
        .args(&command.args)
        .envs(&command.env)
        .stdin(std::process::Stdio::null())
        .stdout(file(&stdout_path)?)
        .stderr(file(&stderr_path)?);
    if let Some(cwd) = &command.cwd {
        process.current_dir(cwd);
    }
    let started = std::time::Instant::now();
    let status =
        (process.status()).map_err(|e| format!("cannot run `{}`: {e}", command.display()))?;
    let duration_ms = started.elapsed().as_millis() as u64;
    let exit = ProcessExit::from(status);
    let mut live = Vec::new();
    for (stream, path) in [
        (Stream::Stdout, &stdout_path),
        (Stream::Stderr, &stderr_path),
    ] {
        let text = crate::read_text(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let stream = OutputStream::new(source.clone(), stream);
        live.extend(
            runner
                .parse_output(&stream, &lines)
                .map_err(|e| e.to_string())?,
        );
    }
    let collect = CollectRequest {
        source: source.clone(),
        tests: request.tests,
        attempt: 1,
        exit,
        timed_out: false,
        duration_ms,
        stdout_path,
        stderr_path,
        artifacts_dir: dir.to_path_buf(),
    };
    let results = runner
        .collect_results(&collect)
        .map_err(|e| e.to_string())?;
    Ok(Ran {
        plan,
        exit,
        live,
        results,
    })
}
