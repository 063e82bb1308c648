//! The JSON documents carried by the ABI's calls.
//!
//! Compatibility rule for 1.x: fields are only added, and every added field
//! has a default, so both an older reader and an older writer keep working.
//! Readers never reject unknown fields here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The four kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// Lists and runs the tests of a source.
    Runner,
    /// Fetches URIs of some schemes.
    Downloader,
    /// Acts at the run's lifecycle events.
    Collector,
    /// Turns many attachments into fewer.
    AttachmentProcessor,
}

impl PluginKind {
    /// Every kind, in the order the host lists them.
    pub const ALL: [PluginKind; 4] = [
        PluginKind::Runner,
        PluginKind::Downloader,
        PluginKind::Collector,
        PluginKind::AttachmentProcessor,
    ];

    /// The kind as the configuration and `proctor plugins` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Runner => "runner",
            PluginKind::Downloader => "downloader",
            PluginKind::Collector => "collector",
            PluginKind::AttachmentProcessor => "attachment_processor",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a library declares about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryManifest {
    /// The plugin-api version the library was built against.
    pub api_version: String,
    /// Every plugin the library holds.
    pub plugins: Vec<PluginManifest>,
}

/// One plugin of a library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginManifest {
    /// What kind of plugin it is.
    pub kind: PluginKind,
    /// What a configuration names it by, unique among plugins of its kind.
    pub name: String,
    /// The plugin's own semver version.
    pub version: String,
    /// One line for `proctor plugins`.
    pub description: String,
    /// Kind-specific facts the host needs before creating an instance,
    /// e.g. a downloader's URI schemes or the attachment kinds a processor takes.
    #[serde(default)]
    pub capabilities: Value,
}

/// Since 1.1: how a library was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The proctor-sdk version the library was built with.
    pub sdk_version: String,
    /// The crate that built the library, and its version.
    pub package: String,
    /// The version of `package`.
    pub package_version: String,
}

// ---------------------------------------------------------------- runners

/// A source as the host hands it to a runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The source's name, unique in the configuration.
    pub name: String,
    /// The source's path, absolute.
    pub path: PathBuf,
    /// The directory relative paths of the configuration are resolved from.
    pub base_dir: PathBuf,
}

impl SourceInfo {
    /// The directory a runner works in: `configured` (relative to the
    /// configuration) when given, else the source itself when it is a
    /// directory, else the directory holding it.
    pub fn directory(&self, configured: Option<&std::path::Path>) -> PathBuf {
        match configured {
            Some(dir) => self.base_dir.join(dir),
            None if self.path.is_dir() => self.path.clone(),
            None => self
                .path
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default(),
        }
    }
}

/// A process the host is asked to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// The program: a path, or a name looked up in `PATH`.
    pub program: String,
    /// Its arguments, the program's name not included.
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables set on top of the host's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Its working directory; the host's when absent.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

impl CommandSpec {
    /// A command running `program` with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The command as a shell-like line, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProcessExit {
    /// The exit code, when it exited rather than died of a signal.
    pub code: Option<i32>,
    /// The signal that ended it, on Unix.
    pub signal: Option<i32>,
}

impl ProcessExit {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl From<std::process::ExitStatus> for ProcessExit {
    /// How a process the caller ran ended: the host's supervision and the
    /// SDK's harness read a status the same way.
    fn from(status: std::process::ExitStatus) -> Self {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        Self {
            code: status.code(),
            signal,
        }
    }
}

impl std::fmt::Display for ProcessExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => match signal_name(signal) {
                Some(name) => write!(f, "signal {signal} ({name})"),
                None => write!(f, "signal {signal}"),
            },
            (None, None) => f.write_str("an unknown status"),
        }
    }
}

/// The names of the signals a test process commonly dies of (Linux numbering).
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        31 => "SIGSYS",
        _ => return None,
    })
}

/// A finished discovery command and what it printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandOutput {
    /// The command as the runner asked for it.
    pub command: CommandSpec,
    /// How it ended.
    pub exit: ProcessExit,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl CommandOutput {
    /// Says that the command failed: how it ended and the last lines it
    /// printed on `streams` (where the tool reports its errors).
    pub fn failure(&self, streams: &[Stream]) -> String {
        const TAIL: usize = 20;
        let mut message = format!("`{}` failed with {}:", self.command.display(), self.exit);
        for stream in streams {
            let text = match stream {
                Stream::Stdout => &self.stdout,
                Stream::Stderr => &self.stderr,
            };
            let lines: Vec<&str> = text.trim_end().lines().collect();
            for line in &lines[lines.len().saturating_sub(TAIL)..] {
                message.push('\n');
                message.push_str(line);
            }
        }
        message
    }
}

/// Asks a runner for the next step of discovery. The host calls `discover`
/// repeatedly, each time with every command output gathered so far, until the
/// runner answers [`DiscoveryStep::Done`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoverRequest {
    /// The source to discover.
    pub source: SourceInfo,
    /// The commands run so far at the runner's request, in the order asked.
    #[serde(default)]
    pub completed: Vec<CommandOutput>,
    /// Since 1.3: what the host accepts beyond a list of tests. `None` from
    /// hosts before 1.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<DiscoveryOffer>,
}

/// Since 1.3: how far a runner may leave discovery to the test processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryOffer {
    /// The host runs cases that [`TestCase::expands`] and takes the tests
    /// their processes report as the source's.
    #[serde(default)]
    pub expanding: bool,
    /// Set when every test of the source is to run, spread over this many
    /// processes: no filter or skip rule picks single tests and no batch size
    /// caps a process. A runner that can collect inside its test processes
    /// may then answer that many expanding cases, each running its share,
    /// instead of listing the tests first; or, since 1.12, one expanding
    /// case whose process spreads them over that many workers
    /// ([`TestCase::workers`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole_source: Option<u32>,
}

/// A runner's answer to a [`DiscoverRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum DiscoveryStep {
    /// Run these commands and call `discover` again with their output.
    /// Run these commands and call `discover` again with their output.
    Run {
        /// The commands, run at once; each one's output comes back in order.
        commands: Vec<CommandSpec>,
    },
    /// Discovery is complete.
    /// Discovery is complete: the source's tests.
    Done {
        /// The tests, in the order to run them.
        tests: Vec<TestCase>,
    },
}

/// A test as its runner identifies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    /// Stable across runs; unique within the source.
    pub id: String,
    /// How people read it: in reports, on the console.
    pub name: String,
    /// What the framework says of the test (tags, file, line), which
    /// `--filter 'attr(KEY=GLOB)'` selects by and `proctor list` shows. A
    /// run whose selection cannot tell a source's tests apart drops them
    /// as they are discovered: what a runner needs to run the test again
    /// belongs in `runner_data`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Set when the runner knows the test will not run (e.g. `#[ignore]`): the reason.
    #[serde(default)]
    pub skip: Option<String>,
    /// Whatever the runner needs later to run this test; the host passes it back unread.
    #[serde(default)]
    pub runner_data: Value,
    /// Since 1.2: the name in `namespace.class.method` form, which retry rules
    /// written for .NET names (Helix's `testName`) match. Defaults to `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified_name: Option<String>,
    /// Since 1.3: this case is no test but stands for the tests its process
    /// will report, for runners that learn their tests only by running them
    /// (offered through [`DiscoveryOffer::expanding`]). It runs alone; the
    /// tests its live events and results name become the source's tests,
    /// and it is reported itself only when its process reports none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expands: bool,
    /// Since 1.12, on an expanding case answered to
    /// [`DiscoveryOffer::whole_source`] alone: its process collects the
    /// source once and spreads the tests over this many workers of its own
    /// (forked after collecting, say), instead of the offer's processes each
    /// collecting it again. The host gives the case that many of the run's
    /// jobs, at most the offer's count. `None` (and hosts before 1.12, which
    /// give every case one job) for a case run by one worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u32>,
    /// Since 1.13, on an expanding case: a command that lists the tests
    /// its process will run, for runners whose framework prints no list as
    /// it starts (GoogleTest). The host runs it beside the case's process
    /// and hands its output to `discover` among `completed`, as if
    /// discovery had asked for it; the tests answered are the case's,
    /// so that those its process never reached run in a fresh one. Hosts
    /// before 1.13 run the case without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<Box<CommandSpec>>,
}

impl TestCase {
    /// A test known only by its id.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id,
            attributes: BTreeMap::new(),
            skip: None,
            runner_data: Value::Null,
            qualified_name: None,
            expands: false,
            workers: None,
            listing: None,
        }
    }

    /// The name retry rules written for .NET names match: `qualified_name` when set, else
    /// `name`.
    pub fn qualified_name(&self) -> &str {
        self.qualified_name.as_deref().unwrap_or(&self.name)
    }
}

/// How a runner can run tests; a runner's manifest `capabilities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerCapabilities {
    /// The execution modes it supports, the preferred one first.
    #[serde(default = "RunnerCapabilities::default_execution")]
    pub execution: Vec<ExecutionMode>,
    /// Whether `parse_output` reads started/finished events from live output.
    #[serde(default)]
    pub live_events: bool,
    /// Since 1.8: the streams `parse_output` reads. The host hands it no
    /// line of another stream, which saves a call per chunk a process
    /// prints there (pytest's progress on stdout, a test's own output).
    #[serde(default = "RunnerCapabilities::every_stream")]
    pub live_streams: Vec<Stream>,
    /// Since 1.9: whether `collect_results`, after an expanding case, reads
    /// the tests its live events discovered ([`CollectRequest::tests`]).
    /// When it does not, the host sends the case alone: on a case of
    /// 10,000 tests, a copy of every test written and read back saved.
    #[serde(default = "RunnerCapabilities::yes")]
    pub collect_discovered: bool,
}

impl RunnerCapabilities {
    fn default_execution() -> Vec<ExecutionMode> {
        vec![ExecutionMode::Isolated]
    }

    fn every_stream() -> Vec<Stream> {
        Stream::ALL.to_vec()
    }

    fn yes() -> bool {
        true
    }
}

impl Default for RunnerCapabilities {
    fn default() -> Self {
        Self {
            execution: Self::default_execution(),
            live_events: false,
            live_streams: Self::every_stream(),
            collect_discovered: true,
        }
    }
}

/// How the tests of a source are spread over processes.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    /// One process per test.
    Isolated,
    /// Many tests in one process.
    Batch,
}

impl ExecutionMode {
    /// The mode as the configuration spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Isolated => "isolated",
            ExecutionMode::Batch => "batch",
        }
    }
}

/// Asks a runner how to run a set of tests of one source in one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRequest {
    /// The source the tests belong to.
    pub source: SourceInfo,
    /// The tests to run, in the order to run them.
    pub tests: Vec<TestCase>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// A directory for this attempt's files; the runner may ask the process to write there.
    pub artifacts_dir: PathBuf,
}

/// How to run the tests of an [`ExecutionRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionPlan {
    /// The command that runs them; the host supervises it.
    pub command: CommandSpec,
}

/// One of a process's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Since 1.8: both streams, what a runner reads unless it says otherwise.
    pub const ALL: [Stream; 2] = [Stream::Stdout, Stream::Stderr];
}

/// Lines a running process just printed, for live events. Since 1.10 the
/// host sends most of them as [`crate::abi::OutputLines`] instead, which
/// the SDK reads into this same request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRequest {
    /// The source the process runs tests of.
    pub source: SourceInfo,
    /// The stream the lines came on.
    pub stream: Stream,
    /// The lines, without their line breaks.
    pub lines: Vec<String>,
}

/// What a runner read in live output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", try_from = "WireLiveEvent")]
pub enum LiveEvent {
    /// A test started.
    Started {
        /// The test's id.
        id: String,
        /// Since 1.2: the index, in the request's lines, of the line that
        /// says so. With it the host tells each test's own output apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
    /// A test ended.
    Finished {
        /// The test's id.
        id: String,
        /// How it ended.
        outcome: Outcome,
        /// Since 1.2: the failure message, when the output shows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Since 1.2: as for `Started`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
    /// Since 1.3, only while an expanding case runs: a test its process
    /// collected. Tests discovered and never finished run again in a fresh
    /// process, so a runner that can tell should say this before the tests start.
    Discovered {
        /// The test.
        test: TestCase,
        /// As for `Started`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
        /// Since 1.11: how many distinct tests the whole source holds, as
        /// this process collected it before keeping its share of it (one
        /// of the cases answered to [`DiscoveryOffer::whole_source`]). Said
        /// on one of a process's events is enough. Once every share has
        /// ended, the host checks that they discovered that many tests
        /// between them, each in one share, and fails the source when they
        /// did not: processes that collect the source differently (in
        /// another order, or other tests) would otherwise leave tests unrun
        /// unnoticed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        share_of: Option<u64>,
    },
}

/// A [`LiveEvent`] as JSON holds it: its tag and every variant's fields.
///
/// Read through this struct rather than as serde's internally tagged enum,
/// which buffers each event whole into an intermediate tree before reading
/// it again: that was the most costly step of the host's part of a live
/// batch. The JSON is the same either way.
#[derive(Deserialize)]
struct WireLiveEvent {
    event: LiveEventKind,
    id: Option<String>,
    outcome: Option<Outcome>,
    message: Option<String>,
    line: Option<usize>,
    test: Option<TestCase>,
    share_of: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LiveEventKind {
    Started,
    Finished,
    Discovered,
}

impl TryFrom<WireLiveEvent> for LiveEvent {
    type Error = serde::de::value::Error;

    fn try_from(wire: WireLiveEvent) -> Result<Self, Self::Error> {
        let missing = <Self::Error as serde::de::Error>::missing_field;
        let WireLiveEvent {
            id,
            outcome,
            message,
            line,
            test,
            share_of,
            ..
        } = wire;
        Ok(match wire.event {
            LiveEventKind::Started => LiveEvent::Started {
                id: id.ok_or_else(|| missing("id"))?,
                line,
            },
            LiveEventKind::Finished => LiveEvent::Finished {
                id: id.ok_or_else(|| missing("id"))?,
                outcome: outcome.ok_or_else(|| missing("outcome"))?,
                message,
                line,
            },
            LiveEventKind::Discovered => LiveEvent::Discovered {
                test: test.ok_or_else(|| missing("test"))?,
                line,
                share_of,
            },
        })
    }
}

impl LiveEvent {
    /// The index of the line that says so, in the request's lines, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            LiveEvent::Started { line, .. }
            | LiveEvent::Finished { line, .. }
            | LiveEvent::Discovered { line, .. } => *line,
        }
    }

    /// The event of a request of one line, placed at `index` of a longer
    /// one; an event without a line stays without.
    pub fn at_line(mut self, index: usize) -> Self {
        match &mut self {
            LiveEvent::Started { line, .. }
            | LiveEvent::Finished { line, .. }
            | LiveEvent::Discovered { line, .. } => {
                if line.is_some() {
                    *line = Some(index);
                }
            }
        }
        self
    }
}

/// Asks a runner for the results of a finished process.
///
/// The runner answers a result per test it was given, when it can tell.
/// A failure outside those tests (a suite's set-up or tear-down, a global
/// environment, anything the framework reports beside its tests) is answered
/// under an id of the runner's own choosing that names no test: the host
/// keeps it as a record of its own, which fails the run and is not retried.
/// Results for other ids that did not fail are ignored. A line of output or
/// of a results file the runner cannot read is an error, quoting the line,
/// not a line to skip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectRequest {
    /// The source the process ran tests of.
    pub source: SourceInfo,
    /// The tests the process was given; after an expanding case, the tests
    /// its live events discovered too, unless the runner declares it does
    /// not read them ([`RunnerCapabilities::collect_discovered`]).
    pub tests: Vec<TestCase>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// How the process ended.
    pub exit: ProcessExit,
    /// The host killed the process because it ran past its timeout.
    pub timed_out: bool,
    /// How long the process ran.
    pub duration_ms: u64,
    /// The file holding all the process printed on stdout.
    pub stdout_path: PathBuf,
    /// The file holding all the process printed on stderr.
    pub stderr_path: PathBuf,
    /// The attempt's directory, where the process may have written files.
    pub artifacts_dir: PathBuf,
}

/// The outcome of one attempt of one test.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It ran and passed.
    Passed,
    /// It ran and failed.
    Failed,
    /// It did not run: its framework or a skip rule skipped it.
    Skipped,
    /// It ran past its timeout and was killed.
    TimedOut,
    /// Its process died while it ran.
    Crashed,
    /// A requirement was not met: infrastructure, not the test.
    Blocked,
    /// Since 1.7, the host's own: a test that a stopped run (SIGINT,
    /// SIGTERM, SIGHUP) never started, or did not let finish. Runners
    /// never report it, and plugins are never sent it.
    NotRun,
}

impl Outcome {
    /// The outcome as reports spell it: `passed`, `timed_out`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::TimedOut => "timed_out",
            Outcome::Crashed => "crashed",
            Outcome::Blocked => "blocked",
            Outcome::NotRun => "not_run",
        }
    }

    /// Failed, timed out or crashed: the test's own fault, and retryable.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::TimedOut | Outcome::Crashed)
    }
}

/// One test's result, as the runner read it from what its process left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The id of the test, as discovered, or an id of the runner's for a failure beside the
    /// tests.
    pub id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it ran, when the framework says.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The failure message, when there is one.
    #[serde(default)]
    pub message: Option<String>,
    /// Since 1.2: the stack trace or failure details beyond the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
    /// Since 1.2: what the test itself printed, when the runner can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Since 1.3, in answer to an expanding case: the test as the runner
    /// knows it (name, attributes, data to run it again). Its id is the result's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestCase>,
    /// Since 1.6: the subtests the test ran (pytest's `subtests`), each with
    /// its own outcome. A failing subtest fails its test; a skipped one
    /// leaves it as it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtests: Vec<SubtestResult>,
    /// Since 1.14: the runs of the test before the one this result tells,
    /// in the same process, oldest first: a framework that runs a failed
    /// test again itself (pytest-rerunfailures) ran each and then the
    /// test again. The host makes each an attempt of its own, as a test
    /// it runs again is, so that a test that failed and then passed is
    /// flaky; they count towards the retry policy's attempts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_runs: Vec<EarlierRun>,
}

/// Since 1.14: a run of a test that its framework ran again in the same
/// process ([`TestResult::earlier_runs`]).
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlierRun {
    /// How it ended: a failure, nearly always.
    pub outcome: Outcome,
    /// How long it ran, when the framework says.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The failure message, when there is one.
    #[serde(default)]
    pub message: Option<String>,
    /// The failure's details beyond the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
}

/// Since 1.6: one subtest of a test.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtestResult {
    /// What tells it from the test's other subtests, e.g. `[case] (i=2)`.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The failure message or skip reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TestResult {
    /// A result of `outcome` for the test `id`, with nothing more known.
    pub fn new(id: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            id: id.into(),
            outcome,
            duration_ms: None,
            message: None,
            stack_trace: None,
            output: None,
            test: None,
            subtests: Vec::new(),
            earlier_runs: Vec::new(),
        }
    }
}

// ------------------------------------------------------------ downloaders

/// Asks a downloader to fetch one URI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadRequest {
    /// The URI, as the configuration gives it.
    pub uri: String,
    /// Where the file must be when the call returns.
    pub destination: PathBuf,
    /// Since 1.4: the directory the configuration's relative paths are
    /// resolved from, for settings that hold paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_dir: Option<PathBuf>,
}

/// A downloader's answer to a [`DownloadRequest`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadResponse {
    /// The bytes it wrote to the destination.
    pub bytes: u64,
    /// Since 1.4: the attempts made, the successful one included, when the
    /// downloader retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Since 1.4: why each earlier attempt failed, for the run's report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_because: Vec<String>,
}

// ------------------------------------------------------------- collectors

/// Who an attachment belongs to.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "owner", rename_all = "snake_case")]
pub enum Owner {
    /// The run as a whole.
    Run,
    /// A source.
    Source {
        /// The source's name.
        source: String,
    },
    /// A test, across its attempts.
    Test {
        /// The test's source.
        source: String,
        /// The test's id.
        test: String,
    },
    /// One attempt of a test.
    Attempt {
        /// The test's source.
        source: String,
        /// The test's id.
        test: String,
        /// The attempt, 1 for the first.
        attempt: u32,
    },
}

/// A file with a kind, an owner and a description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// A URI naming the format, e.g. `proctor://collector/lcov/1`.
    pub kind: String,
    /// Where the file is: inside the results directory where it can be.
    pub path: PathBuf,
    /// Who it belongs to.
    pub owner: Owner,
    /// What it is, for people.
    #[serde(default)]
    pub description: String,
}

/// A moment in the life of a run, as collectors see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// The run begins: sent first, before any download.
    SessionStarted {
        /// The run's results directory.
        results_dir: PathBuf,
        /// Since 1.5: where dumps of crashed and hung processes go: the
        /// results directory's `dumps`, or `HELIX_DUMP_FOLDER` under Helix,
        /// whose uploader collects it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dumps_dir: Option<PathBuf>,
    },
    /// Every test is done: sent last. Attachments of the run come with the answer.
    SessionFinished,
    /// A source's first process (discovery's included) is about to start; the answer's
    /// `environment` goes to its processes.
    SourceStarted {
        /// The source.
        source: SourceInfo,
    },
    /// Every test of a source has its final result; its attachments go to the processors.
    SourceFinished {
        /// The source's name.
        source: String,
    },
    /// A test process started.
    ProcessLaunched {
        /// The source it runs tests of.
        source: String,
        /// Its process id.
        pid: u32,
        /// The ids of the tests it was given.
        tests: Vec<String>,
        /// The attempt, 1 for the first.
        attempt: u32,
    },
    /// A test started, as live output or a test alone shows it.
    TestStarted {
        /// The test's source.
        source: String,
        /// The test's id.
        test: String,
        /// The attempt, 1 for the first.
        attempt: u32,
        /// Since 1.4: the process running it.
        #[serde(default)]
        pid: Option<u32>,
    },
    /// A test ended.
    TestFinished {
        /// The test's source.
        source: String,
        /// The test's id.
        test: String,
        /// The attempt, 1 for the first.
        attempt: u32,
        /// How it ended.
        outcome: Outcome,
        /// Since 1.4: the process that ran it.
        #[serde(default)]
        pid: Option<u32>,
    },
    /// Sent before the host kills a hung process tree.
    HangDetected {
        /// The source of the hung process.
        source: String,
        /// The hung process.
        pid: u32,
        /// Every process of its tree, alive, before the kill.
        process_tree: Vec<u32>,
    },
    /// Since 1.5, to collectors whose capabilities ask for faults: a thread
    /// of a test process is about to receive its first crash signal (a
    /// fault, `abort`, or one sent by `kill`), before any handler runs. The process is held stopped and untraced, the thread as the
    /// fault left it, so that a dumper can attach; the host waits for the
    /// answers, then lets the signal go. A `handled` signal goes to the
    /// process's handler, which may yet recover; otherwise it ends the
    /// process, and `ProcessCrashed` follows.
    ProcessFaulted {
        /// The source of the process.
        source: String,
        /// The process.
        pid: u32,
        /// The thread the signal is for.
        tid: u32,
        /// The signal's number.
        signal: i32,
        /// `si_code`: positive when the kernel raised the signal for a fault.
        code: i32,
        /// The faulting address, for SIGSEGV, SIGBUS, SIGILL and SIGFPE.
        #[serde(default)]
        address: Option<u64>,
        /// Whether the process has a handler for the signal.
        handled: bool,
    },
    /// A process ended before its tests did: by a signal, or by exiting
    /// while a test ran. Sent before the tests' outcomes are.
    ProcessCrashed {
        /// The source of the process.
        source: String,
        /// The process.
        pid: u32,
        /// The signal that ended it, when one did.
        signal: Option<i32>,
    },
    /// A test process ended and its tests' results were read.
    AttemptFinished {
        /// The source of the process.
        source: String,
        /// The process.
        pid: u32,
        /// The attempt, 1 for the first.
        attempt: u32,
    },
    /// An event this plugin's API version does not know.
    #[serde(other)]
    Unknown,
}

/// A collector's answer to a [`LifecycleEvent`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectorResponse {
    /// Environment variables for the test processes of the source that started.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Files it made, to attach to the run, a source, a test or an attempt.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

// -------------------------------------------------- attachment processors

/// Asks an attachment processor to process attachments of its kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRequest {
    /// The attachments: collectors' files, or an earlier call's outputs.
    pub attachments: Vec<Attachment>,
    /// True while other sources still run; false for the final pass.
    pub incremental: bool,
    /// A directory of its own for this call's outputs.
    pub output_dir: PathBuf,
    /// Since 1.4: the run's results directory, for outputs with a place of
    /// their own in its layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_dir: Option<PathBuf>,
}

/// An attachment processor's answer: its outputs, which replace its inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessResponse {
    /// The attachments it made.
    pub attachments: Vec<Attachment>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_events_read_back_as_written_and_a_missing_field_is_named() {
        let events = [
            LiveEvent::Started {
                id: "a".into(),
                line: Some(3),
            },
            LiveEvent::Started {
                id: "b".into(),
                line: None,
            },
            LiveEvent::Finished {
                id: "a".into(),
                outcome: Outcome::Failed,
                message: Some("boom".into()),
                line: Some(4),
            },
            LiveEvent::Discovered {
                test: TestCase::new("c"),
                line: None,
                share_of: None,
            },
            LiveEvent::Discovered {
                test: TestCase::new("d"),
                line: Some(5),
                share_of: Some(12),
            },
        ];
        let json = serde_json::to_string(&events).unwrap();
        let read: Vec<LiveEvent> = serde_json::from_str(&json).unwrap();
        assert_eq!(read, events);
        // The tag may come anywhere, as serde's own tagged enums allow.
        let late_tag = r#"{"id": "a", "outcome": "passed", "event": "finished"}"#;
        assert!(matches!(
            serde_json::from_str::<LiveEvent>(late_tag).unwrap(),
            LiveEvent::Finished {
                outcome: Outcome::Passed,
                ..
            }
        ));
        for (json, missing) in [
            (
                r#"{"event": "finished", "id": "a"}"#,
                "missing field `outcome`",
            ),
            (r#"{"id": "a"}"#, "missing field `event`"),
            (r#"{"event": "discovered"}"#, "missing field `test`"),
        ] {
            let error = serde_json::from_str::<LiveEvent>(json)
                .unwrap_err()
                .to_string();
            assert!(error.contains(missing), "{json}: {error}");
        }
        let unknown = serde_json::from_str::<LiveEvent>(r#"{"event": "paused", "id": "a"}"#);
        assert!(unknown
            .unwrap_err()
            .to_string()
            .contains("unknown variant `paused`"));
    }
}
