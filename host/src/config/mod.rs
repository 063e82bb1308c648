//! The run configuration: reading, validating, and saying precisely what is wrong.

mod downloads;
pub mod helix;
pub mod json;
mod plugins;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proctor_plugin_api::messages::ExecutionMode;
use serde::Deserialize;
use serde_json::Value;

pub use downloads::{Download, DownloadLimits, Downloads, Role, UnpackLimits};
pub use plugins::{Isolation, PluginPolicy};

use crate::redact::Redactor;
use crate::retry::{RetryPolicy, Rule, Threshold, Verdict};
use crate::select::SkipRule;

/// A configuration that cannot be used: the message says which file,
/// where in it, and what was expected. Always the user's to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// File names looked for in the current directory when no configuration is given.
pub const DEFAULT_CONFIG_NAMES: [&str; 2] = ["proctor.json", "shared-infra-configuration.json"];

/// A version of the results layout (docs/results-layout.md): which files
/// a results directory holds and the shape of their records. Version 2,
/// the default, writes version 1's records in half the bytes; version 1
/// is asked for with `--results-layout 1` or `results_layout: 1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub enum Layout {
    V1,
    /// What layout 1 writes as null, false or empty is left out; a batch's
    /// process is written once, its tests' attempts naming it.
    #[default]
    V2,
}

impl Layout {
    /// The layouts this host writes and reads, oldest first.
    pub const ALL: [Layout; 2] = [Layout::V1, Layout::V2];

    pub fn version(self) -> u32 {
        match self {
            Layout::V1 => 1,
            Layout::V2 => 2,
        }
    }
}

impl TryFrom<u32> for Layout {
    type Error = String;

    fn try_from(version: u32) -> std::result::Result<Self, String> {
        (Layout::ALL.into_iter())
            .find(|layout| layout.version() == version)
            .ok_or_else(|| {
                format!("results layout {version} is not one this proctor knows: 1 or 2")
            })
    }
}

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let version: u32 = text
            .parse()
            .map_err(|_| format!("`{text}` is no layout version: 1 or 2"))?;
        Layout::try_from(version)
    }
}

/// The configuration file as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a configuration: an object with `sources` and the run's settings"
)]
struct ConfigFile {
    /// The configuration format version; only 1 exists.
    #[serde(default = "default_version")]
    version: u32,
    #[serde(default)]
    results_dir: Option<PathBuf>,
    /// The results layout the run writes: 1, or 2 (the default).
    #[serde(default)]
    results_layout: Option<Layout>,
    #[serde(default)]
    jobs: Option<usize>,
    #[serde(default)]
    plugin_dirs: Vec<PathBuf>,
    /// Default per-test timeout.
    #[serde(default)]
    timeout_seconds: Option<f64>,
    /// Default for batches: the longest time without a test starting or finishing.
    #[serde(default)]
    inactivity_timeout_seconds: Option<f64>,
    #[serde(default)]
    retry: Option<RetryFile>,
    /// Tests not to run, by name, optionally only on some platforms.
    #[serde(default)]
    skip: Vec<SkipRule>,
    /// What to fetch before discovery.
    #[serde(default)]
    downloads: downloads::DownloadsFile,
    /// Settings blocks of downloader plugins, by plugin name.
    #[serde(default)]
    downloaders: std::collections::BTreeMap<String, Value>,
    /// The collector plugins to run, by name, with their settings blocks.
    #[serde(default)]
    collectors: std::collections::BTreeMap<String, Value>,
    /// The attachment processors to run, by name, with their settings blocks.
    #[serde(default)]
    attachment_processors: std::collections::BTreeMap<String, Value>,
    /// What a run that selects no test ends as; `fail` by default.
    #[serde(default)]
    no_tests: Option<NoTests>,
    /// Default: what a test whose descendants outlived it ends as.
    #[serde(default)]
    leak: Option<LeakAction>,
    /// Default: how long a source's discovery commands may run.
    #[serde(default)]
    discovery_timeout_seconds: Option<f64>,
    /// After a stop signal, how long running tests have to end before they are killed.
    #[serde(default)]
    grace_period_seconds: Option<f64>,
    /// How long a process's output may drain after it ended.
    #[serde(default)]
    output_drain_seconds: Option<f64>,
    /// How much of a test's output the host holds in memory: its end.
    #[serde(default)]
    output_tail_bytes: Option<u64>,
    /// The most bytes a process's or a test's log file keeps.
    #[serde(default)]
    output_log_max_bytes: Option<u64>,
    /// Where plugins run: `in-process` (the default), `process` or `auto`.
    #[serde(default)]
    isolation: Option<Isolation>,
    /// How long plugin calls may take, in seconds, by call.
    #[serde(default)]
    plugin_deadline_seconds: std::collections::BTreeMap<String, f64>,
    /// Options of single plugins, by name: `isolation`, `deadline_seconds`.
    #[serde(default)]
    plugins: std::collections::BTreeMap<String, plugins::PluginFile>,
    /// What is kept out of everything printed and written.
    #[serde(default)]
    redact: RedactFile,
    /// Where runs are recorded: `false`, `true` (the default store) or a path.
    #[serde(default)]
    store: Option<StoreFile>,
    sources: Vec<SourceFile>,
}

/// The `store` key as written.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected `false`, `true`, the results store's path or a postgres:// URL"
)]
enum StoreFile {
    Switch(bool),
    Path(String),
}

/// Where the configuration asks its runs to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSetting {
    /// Nowhere (`"store": false`).
    Off,
    /// In this store (a path, relative to the configuration's directory,
    /// or a server).
    At(StoreLocation),
}

/// Where a store is: a SQLite file, or a PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    File(PathBuf),
    /// A `postgres://` (or `postgresql://`) connection URL.
    Server(String),
}

impl StoreLocation {
    /// A connection URL names a server; anything else is a file's path.
    pub fn parse(text: &str) -> Self {
        let is_url = ["postgres://", "postgresql://"]
            .iter()
            .any(|scheme| text.starts_with(scheme));
        match is_url {
            true => StoreLocation::Server(text.to_owned()),
            false => StoreLocation::File(PathBuf::from(text)),
        }
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> Self {
        StoreLocation::File(path.to_owned())
    }
}

impl From<&PathBuf> for StoreLocation {
    fn from(path: &PathBuf) -> Self {
        StoreLocation::File(path.clone())
    }
}

/// A server's URL without its password.
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::File(path) => write!(f, "{}", path.display()),
            StoreLocation::Server(url) => {
                f.write_str(&crate::redact::Redactor::default().redacted(url))
            }
        }
    }
}

/// The `redact` block: secrets beyond those proctor knows by itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `query_parameters`")]
struct RedactFile {
    /// Query parameters whose values are secret, besides the built-in
    /// ones ([`crate::redact::SECRET_PARAMETERS`]); case-insensitive.
    #[serde(default)]
    query_parameters: Vec<String>,
}

/// What a test whose process left descendants running ends as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakAction {
    /// Passing as its tests said, marked `leaky`.
    #[default]
    Pass,
    /// Failed, with what it left behind.
    Fail,
}

/// What a run, or a source, that selects no test (after the filter and the
/// skip rules) ends as. Tests its framework skips are selected all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NoTests {
    /// Exit 4 (when nothing more serious happened).
    Fail,
    /// Say so, on the console and in the summary's `warnings`.
    Warn,
    Pass,
}

impl std::fmt::Display for NoTests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoTests::Fail => "fail",
            NoTests::Warn => "warn",
            NoTests::Pass => "pass",
        })
    }
}

/// Upper bound of `retry.max_attempts`: more is a typo, not a policy.
const MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the retry policy: an object with `max_attempts`, `rules`, `quarantine` or `test_configuration`"
)]
struct RetryFile {
    /// Attempts in all, the first included.
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    delay_seconds: Option<f64>,
    /// No retries when more tests than this failed.
    #[serde(default)]
    max_failed_tests: Option<usize>,
    /// No retries when more than this percentage of the tests failed.
    #[serde(default)]
    max_failed_percent: Option<f64>,
    /// Failures to retry; every failure when absent.
    #[serde(default)]
    rules: Option<Vec<Rule>>,
    /// Tests that run and are reported but do not fail the run.
    #[serde(default)]
    quarantine: Vec<Rule>,
    /// A Helix `test-configuration.json` to take the rules from instead.
    #[serde(default)]
    test_configuration: Option<PathBuf>,
}

fn default_version() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a source: an object with a `runner` and a `path`"
)]
struct SourceFile {
    #[serde(default)]
    name: Option<String>,
    runner: String,
    path: PathBuf,
    #[serde(default)]
    settings: Value,
    #[serde(default)]
    timeout_seconds: Option<f64>,
    #[serde(default)]
    inactivity_timeout_seconds: Option<f64>,
    /// `isolated` or `batch`; the runner's preference when absent.
    #[serde(default)]
    mode: Option<ExecutionMode>,
    /// In batch mode, the most tests one process runs.
    #[serde(default)]
    batch_size: Option<usize>,
    /// The most of its test processes at once; the run's `jobs` when absent.
    #[serde(default)]
    jobs: Option<usize>,
    /// Environment variables for the source's test processes.
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    /// What the run ends as when this source selects no test; unchecked
    /// when absent.
    #[serde(default)]
    no_tests: Option<NoTests>,
    #[serde(default)]
    leak: Option<LeakAction>,
    #[serde(default)]
    discovery_timeout_seconds: Option<f64>,
}

/// A validated configuration, every path absolute.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub base_dir: PathBuf,
    pub results_dir: PathBuf,
    /// The results layout, when the configuration names one.
    pub results_layout: Option<Layout>,
    pub jobs: Option<usize>,
    pub plugin_dirs: Vec<PathBuf>,
    pub retry: RetryPolicy,
    pub skip: Vec<SkipRule>,
    pub downloads: Downloads,
    /// Settings blocks of downloader plugins, by plugin name.
    pub downloaders: std::collections::BTreeMap<String, Value>,
    /// The collector plugins to run, by name, with their settings blocks.
    pub collectors: std::collections::BTreeMap<String, Value>,
    /// The attachment processors to run, by name, with their settings blocks.
    pub attachment_processors: std::collections::BTreeMap<String, Value>,
    pub no_tests: Option<NoTests>,
    /// After a stop signal, how long running tests have to end.
    pub grace_period: Duration,
    /// How test processes' output is drained, held and kept.
    pub output: OutputPolicy,
    /// Where each plugin runs, and how long its calls may take.
    pub plugin_policy: PluginPolicy,
    pub sources: Vec<SourceConfig>,
    /// Knows the secrets the configuration holds: whatever may carry one
    /// (a plugin's error) goes through it before it is shown or kept.
    pub redactor: Redactor,
    /// Where runs are recorded, when the configuration says (`true` says
    /// nothing beyond the default).
    pub store: Option<StoreSetting>,
}

impl Config {
    /// What a plugin said refusing its settings block, at `block` (as
    /// `sources[0].settings`), in the configuration's own coordinates:
    /// `FILE:LINE:COLUMN: KEY: PLUGIN: PROBLEM`, pointing at the offending
    /// key, with the nearest known key for a misspelt one, as the host's
    /// own errors are. `said` is the SDK's message: `PLUGIN: invalid
    /// settings at `PATH`: PROBLEM` (its position is in a block the host
    /// wrote again, and left out) or, from the plugin's `new`,
    /// `PLUGIN: PROBLEM`.
    pub fn settings_refusal(&self, block: &str, plugin: &str, said: &str) -> String {
        let said = (said.strip_prefix(plugin))
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(said);
        let (path, problem) = match (said.strip_prefix("invalid settings at `"))
            .and_then(|rest| rest.split_once("`: "))
        {
            Some((path, problem)) => (Some(path), problem),
            None => (
                None,
                said.strip_prefix("invalid settings: ").unwrap_or(said),
            ),
        };
        let problem = rust_types_in_words(&json::strip_position(problem));
        let key = path.map_or_else(|| block.to_owned(), |path| format!("{block}.{path}"));
        // A misspelt key is pointed at, and named by the object holding it.
        let (named, problem) = json::suggested(&key, problem, block);
        let position = (std::fs::read_to_string(&self.file).ok()).and_then(|text| {
            json::position_of(&text, &key).or_else(|| json::position_of(&text, block))
        });
        let file = self.file.display();
        match position {
            Some((line, column)) => format!("{file}:{line}:{column}: {named}: {plugin}: {problem}"),
            None => format!("{file}: {named}: {plugin}: {problem}"),
        }
    }
}

/// serde names the Rust type a plugin's settings did not fit ("expected
/// struct Settings"); the configuration's author knows JSON.
fn rust_types_in_words(problem: &str) -> String {
    static TYPES: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let types = TYPES.get_or_init(|| {
        regex::Regex::new(r"expected (struct|enum|tuple struct|unit struct) [A-Za-z_][A-Za-z0-9_]*")
            .expect("the pattern is valid")
    });
    types
        .replace_all(problem, |found: &regex::Captures| match &found[1] {
            "struct" => "expected an object",
            "enum" => "expected one of the setting's names, as a string",
            _ => "expected a value of another shape",
        })
        .into_owned()
}

/// How test processes' output is drained, held and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputPolicy {
    /// How long a process's output may drain after it ended.
    pub drain: Duration,
    /// How much of one test's output the host holds in memory, for its
    /// message, retry rules and its `output.log`: the end of it.
    pub tail_bytes: usize,
    /// The most bytes a log file keeps (a process's `stdout.log` and
    /// `stderr.log`, a test's `output.log`), with a line where it was cut;
    /// unlimited when unset.
    pub log_max_bytes: Option<u64>,
}

/// As much output as a failure's message and retry rules could need.
pub const DEFAULT_TAIL_BYTES: usize = 1 << 20;
/// The smallest tail: enough for a failure's last lines.
const MIN_TAIL_BYTES: u64 = 1024;
/// The largest: held per test in memory, more is a typo.
const MAX_TAIL_BYTES: u64 = 1 << 30;

impl Default for OutputPolicy {
    fn default() -> Self {
        Self {
            drain: crate::process::DEFAULT_DRAIN,
            tail_bytes: DEFAULT_TAIL_BYTES,
            log_max_bytes: None,
        }
    }
}

/// Discovery includes building (`cargo test --no-run`), so it gets time.
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// As nextest's.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub runner: String,
    pub path: PathBuf,
    pub settings: Value,
    pub timeout: Option<Duration>,
    pub inactivity_timeout: Option<Duration>,
    pub mode: Option<ExecutionMode>,
    pub batch_size: Option<usize>,
    /// The most of its test processes at once, below the run's `jobs`:
    /// `1` keeps a batch source whole in one process while others run.
    pub jobs: Option<usize>,
    pub env: std::collections::BTreeMap<String, String>,
    pub no_tests: Option<NoTests>,
    pub leak: LeakAction,
    /// How long each discovery command may run.
    pub discovery_timeout: Duration,
    /// The path as written, for messages.
    pub configured_path: PathBuf,
    /// Where this source sits in the file, for messages: `sources[2]`.
    pub location: String,
}

impl Config {
    /// Checks that every source's path exists: after the downloads, for
    /// the paths they provide.
    pub fn check_source_paths(&self) -> Result<()> {
        self.sources.iter().try_for_each(|source| {
            check_source_path(
                &self.file,
                &source.location,
                &source.configured_path,
                &source.path,
            )
        })
    }
}

fn check_source_path(file: &Path, location: &str, configured: &Path, path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    Err(ConfigError::new(format!(
        "{}: {location}.path: `{}` does not exist (looked for {})",
        file.display(),
        configured.display(),
        path.display()
    )))
}

/// Finds the configuration: the given path, or a default name in `cwd`.
pub fn locate(given: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    DEFAULT_CONFIG_NAMES
        .iter()
        .map(|name| cwd.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            ConfigError::new(format!(
                "no configuration given, and neither {} is in {}",
                DEFAULT_CONFIG_NAMES.join(" nor "),
                cwd.display()
            ))
        })
}

pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(format!("cannot read configuration {}: {e}", path.display()))
    })?;
    load_text(&text, path)
}

/// The configuration `text`, read as the file at `path` (whose directory
/// relative paths start from).
pub fn load_text(text: &str, path: &Path) -> Result<Config> {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // A message may quote the value it could not read, a URI among them.
    let parsed = parse(text).map_err(|e| {
        let e = Redactor::default().redacted(&e);
        ConfigError::new(format!("{}:{e}", path.display()))
    })?;
    // JSON holds a NUL only as the escape `\u0000`: most files need no
    // second reading.
    let nul = text
        .contains("\\u0000")
        .then(|| serde_json::from_str(text).ok());
    if let Some(key) = nul.flatten().and_then(|v| nul_byte_at(&v, "")) {
        return Err(ConfigError::new(format!(
            "{}: {key}: holds a NUL byte, which no name, path or environment value can",
            path.display()
        )));
    }
    validate(parsed, file)
}

/// Parses proctor's own configuration, which is strict JSON.
fn parse(text: &str) -> std::result::Result<ConfigFile, String> {
    json::parse(text, json::Dialect::Strict)
}

/// Where the first string holding a NUL byte is, as a key path, outside
/// the plugins' own settings blocks (theirs to check): such a string can be
/// no name, path or environment value, and would fail only when used.
fn nul_byte_at(value: &Value, at: &str) -> Option<String> {
    const PLUGIN_BLOCKS: [&str; 3] = ["downloaders", "collectors", "attachment_processors"];
    match value {
        Value::String(text) => text.contains('\0').then(|| at.to_owned()),
        Value::Array(items) => (items.iter().enumerate())
            .find_map(|(i, item)| nul_byte_at(item, &format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, field)| {
            let here = match at {
                "" => key.clone(),
                _ => format!("{at}.{key}"),
            };
            if key.contains('\0') {
                return Some(here.replace('\0', "\\u0000"));
            }
            let plugins_own =
                (key == "settings" && at.starts_with("sources[")) || PLUGIN_BLOCKS.contains(&at);
            match plugins_own {
                true => None,
                false => nul_byte_at(field, &here),
            }
        }),
        _ => None,
    }
}

/// The longest time a configuration may give anything, a week: more is a
/// typo, and far more would overflow the clock's arithmetic.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// The most test processes at once: more is a typo, and would exhaust the
/// machine before a test ran.
pub const MAX_JOBS: usize = 4096;

/// Checks a number of jobs, from the file or the command line.
pub fn check_jobs(jobs: usize) -> std::result::Result<(), String> {
    match jobs {
        0 => Err("must be at least 1".into()),
        n if n > MAX_JOBS => Err(format!("must be at most {MAX_JOBS}, not {n}")),
        _ => Ok(()),
    }
}

/// A duration in seconds as the file gives it: positive, finite and at most
/// [`MAX_SECONDS`], or unset.
fn seconds(
    at: &dyn Fn(&str, String) -> ConfigError,
    location: &str,
    seconds: Option<f64>,
) -> Result<Option<Duration>> {
    match seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => Err(at(
            location,
            format!("must be a positive number of seconds, not {s}"),
        )),
        Some(s) if s > MAX_SECONDS => Err(at(
            location,
            format!("must be at most {MAX_SECONDS} seconds (a week), not {s}"),
        )),
        Some(s) => Ok(Some(Duration::from_secs_f64(s))),
        None => Ok(None),
    }
}

/// What the run sets for every source, unless a source sets it itself.
struct SourceDefaults {
    timeout: Option<Duration>,
    inactivity: Option<Duration>,
    discovery: Duration,
    leak: Option<LeakAction>,
}

fn validate(parsed: ConfigFile, file: PathBuf) -> Result<Config> {
    let at = |location: &str, problem: String| {
        ConfigError::new(format!("{}: {location}: {problem}", file.display()))
    };
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    if parsed.version != 1 {
        return Err(at(
            "version",
            format!(
                "unsupported configuration version {}; this proctor reads version 1",
                parsed.version
            ),
        ));
    }
    if let Some(jobs) = parsed.jobs {
        check_jobs(jobs).map_err(|problem| at("jobs", problem))?;
    }
    let defaults = SourceDefaults {
        timeout: seconds(&at, "timeout_seconds", parsed.timeout_seconds)?,
        inactivity: seconds(
            &at,
            "inactivity_timeout_seconds",
            parsed.inactivity_timeout_seconds,
        )?,
        discovery: seconds(
            &at,
            "discovery_timeout_seconds",
            parsed.discovery_timeout_seconds,
        )?
        .unwrap_or(DEFAULT_DISCOVERY_TIMEOUT),
        leak: parsed.leak,
    };
    let grace_period = match parsed.grace_period_seconds {
        Some(0.0) => Duration::ZERO,
        given => seconds(&at, "grace_period_seconds", given)?.unwrap_or(DEFAULT_GRACE_PERIOD),
    };
    let output = output_policy(&parsed, &at)?;
    let plugin_policy = plugins::validate(
        parsed.isolation,
        parsed.plugin_deadline_seconds,
        parsed.plugins,
        &at,
    )?;
    let retry = match parsed.retry {
        Some(retry) => retry_policy(retry, &base_dir, &at)?,
        None => {
            let conventional = base_dir.join(helix::CONVENTIONAL_PATH);
            if conventional.is_file() {
                helix::load(&conventional)?
            } else {
                RetryPolicy::default()
            }
        }
    };
    if parsed.sources.is_empty() {
        return Err(at("sources", "lists no source; add at least one".into()));
    }
    let mut redactor = Redactor::new(&parsed.redact.query_parameters);
    learn_header_values(&parsed.downloaders, &mut redactor);
    let downloads = downloads::validate(parsed.downloads, &base_dir, &mut redactor, &at)?;
    let mut names = BTreeSet::new();
    let mut sources = Vec::new();
    for (index, source) in parsed.sources.into_iter().enumerate() {
        let location = format!("sources[{index}]");
        let path = base_dir.join(&source.path);
        // A downloaded path is checked once the downloads are done.
        if !downloads::is_downloaded(&downloads, &path) {
            check_source_path(&file, &location, &source.path, &path)?;
        }
        let source = source_config(source, path, location, &defaults, &at)?;
        if !names.insert(source.name.clone()) {
            return Err(at(
                &format!("{}.name", source.location),
                format!(
                    "another source is already named `{}`; give each a distinct name",
                    source.name
                ),
            ));
        }
        sources.push(source);
    }
    let results_dir = base_dir.join(
        parsed
            .results_dir
            .unwrap_or_else(|| PathBuf::from("results")),
    );
    downloads::check_destinations(&downloads, &file, &results_dir, &at)?;
    let store = match &parsed.store {
        Some(StoreFile::Switch(false)) => Some(StoreSetting::Off),
        Some(StoreFile::Path(text)) => Some(StoreSetting::At(match StoreLocation::parse(text) {
            StoreLocation::File(path) => StoreLocation::File(base_dir.join(path)),
            server => server,
        })),
        Some(StoreFile::Switch(true)) | None => None,
    };
    Ok(Config {
        results_dir,
        results_layout: parsed.results_layout,
        plugin_dirs: parsed
            .plugin_dirs
            .iter()
            .map(|dir| base_dir.join(dir))
            .collect(),
        jobs: parsed.jobs,
        retry,
        skip: parsed.skip,
        downloads,
        downloaders: parsed.downloaders,
        collectors: parsed.collectors,
        attachment_processors: parsed.attachment_processors,
        no_tests: parsed.no_tests,
        grace_period,
        output,
        plugin_policy,
        base_dir,
        file,
        store,
        sources,
        redactor,
    })
}

fn output_policy(
    parsed: &ConfigFile,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<OutputPolicy> {
    let mut policy = OutputPolicy::default();
    if let Some(drain) = seconds(at, "output_drain_seconds", parsed.output_drain_seconds)? {
        policy.drain = drain;
    }
    match parsed.output_tail_bytes {
        Some(n) if !(MIN_TAIL_BYTES..=MAX_TAIL_BYTES).contains(&n) => {
            let problem = format!("must be {MIN_TAIL_BYTES} to {MAX_TAIL_BYTES} (1 GiB), not {n}");
            return Err(at("output_tail_bytes", problem));
        }
        Some(n) => policy.tail_bytes = usize::try_from(n).unwrap_or(usize::MAX),
        None => {}
    }
    if parsed.output_log_max_bytes == Some(0) {
        return Err(at("output_log_max_bytes", "must be at least 1".into()));
    }
    policy.log_max_bytes = parsed.output_log_max_bytes;
    Ok(policy)
}

/// Header values in downloaders' settings (`headers: { name: value }`,
/// as the http downloader takes them) are credentials more often than not:
/// all are treated as secrets.
fn learn_header_values(
    downloaders: &std::collections::BTreeMap<String, Value>,
    redactor: &mut Redactor,
) {
    let headers = downloaders
        .values()
        .filter_map(|block| block["headers"].as_object());
    for value in headers.flat_map(|headers| headers.values()) {
        if let Some(value) = value.as_str() {
            redactor.learn_value(value);
        }
    }
}

/// One source as the file gives it at `location`, with the run's defaults
/// where it sets nothing itself.
fn source_config(
    source: SourceFile,
    path: PathBuf,
    location: String,
    defaults: &SourceDefaults,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<SourceConfig> {
    let name = source.name.unwrap_or_else(|| default_source_name(&path));
    // The name is a directory of the results: it must be one, and only one.
    if matches!(name.as_str(), "" | "." | "..") || name.contains(['/', '\\']) {
        return Err(at(
            &format!("{location}.name"),
            format!(
                "`{name}` is not a usable source name (empty, `.`, `..` or with a slash); \
                 give the source a `name`"
            ),
        ));
    }
    if source.batch_size == Some(0) {
        let problem = "must be at least 1".into();
        return Err(at(&format!("{location}.batch_size"), problem));
    }
    let field = |key: &str| format!("{location}.{key}");
    if let Some(jobs) = source.jobs {
        check_jobs(jobs).map_err(|problem| at(&field("jobs"), problem))?;
    }
    Ok(SourceConfig {
        name,
        runner: source.runner,
        path,
        settings: source.settings,
        timeout: seconds(at, &field("timeout_seconds"), source.timeout_seconds)?
            .or(defaults.timeout),
        inactivity_timeout: seconds(
            at,
            &field("inactivity_timeout_seconds"),
            source.inactivity_timeout_seconds,
        )?
        .or(defaults.inactivity),
        mode: source.mode,
        batch_size: source.batch_size,
        jobs: source.jobs,
        env: source.env,
        no_tests: source.no_tests,
        leak: source.leak.or(defaults.leak).unwrap_or_default(),
        discovery_timeout: seconds(
            at,
            &field("discovery_timeout_seconds"),
            source.discovery_timeout_seconds,
        )?
        .unwrap_or(defaults.discovery),
        configured_path: source.path,
        location,
    })
}

/// The `retry` block: proctor's own rules, or a Helix file named by it.
fn retry_policy(
    retry: RetryFile,
    base_dir: &Path,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<RetryPolicy> {
    let mut policy = match &retry.test_configuration {
        Some(path) => {
            if retry.rules.is_some() || !retry.quarantine.is_empty() {
                return Err(at(
                    "retry.test_configuration",
                    "takes its rules from that file; remove `rules` and `quarantine` \
                     or this key"
                        .into(),
                ));
            }
            helix::load(&base_dir.join(path))?
        }
        None => RetryPolicy {
            max_attempts: 1,
            // Without rules every failure is retried.
            default: if retry.rules.is_some() {
                Verdict::Keep
            } else {
                Verdict::Rerun
            },
            rerun_rules: retry.rules.unwrap_or_default(),
            quarantine_rules: retry.quarantine,
            origin: "retry".to_owned(),
            ..RetryPolicy::default()
        },
    };
    if let Some(attempts) = retry.max_attempts {
        if !(1..=MAX_ATTEMPTS).contains(&attempts) {
            return Err(at(
                "retry.max_attempts",
                format!("{attempts} is out of range 1..={MAX_ATTEMPTS}"),
            ));
        }
        policy.max_attempts = attempts;
    }
    if let Some(seconds) = retry.delay_seconds {
        if !(seconds.is_finite() && (0.0..=MAX_SECONDS).contains(&seconds)) {
            return Err(at(
                "retry.delay_seconds",
                format!("must be a number of seconds from 0 to {MAX_SECONDS}, not {seconds}"),
            ));
        }
        policy.delay = Duration::from_secs_f64(seconds);
    }
    if let Some(count) = retry.max_failed_tests {
        policy.thresholds.push(Threshold::Count(count));
    }
    if let Some(percent) = retry.max_failed_percent {
        if !(0.0..=100.0).contains(&percent) {
            return Err(at(
                "retry.max_failed_percent",
                format!("{percent} is not a percentage (0 to 100)"),
            ));
        }
        policy.thresholds.push(Threshold::Percent(percent));
    }
    Ok(policy)
}

/// A manifest is named after its directory, anything else after its file.
fn default_source_name(path: &Path) -> String {
    let named_by_parent = path.file_name().is_some_and(|n| n == "Cargo.toml");
    let component = if named_by_parent {
        path.parent().and_then(Path::file_name)
    } else {
        path.file_stem()
    };
    component
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> String {
        parse(text).unwrap_err()
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let error = parse_error("{\n  \"sources\": [\n    {\"runner\": \"libtest\",}\n  ]\n}");
        assert!(error.starts_with("3:26: "), "{error}");
    }

    #[test]
    fn unknown_keys_suggest_the_nearest() {
        let error = parse_error("{\"sources\": [], \"jbos\": 2}");
        assert!(error.contains("unknown field `jbos`"), "{error}");
        assert!(error.contains("did you mean `jobs`?"), "{error}");
        let error = parse_error("{\"sources\": [{\"runer\": \"x\", \"path\": \"p\"}]}");
        assert!(
            error.contains("sources[0]: unknown field `runer`"),
            "{error}"
        );
        assert!(error.contains("did you mean `runner`?"), "{error}");
    }

    #[test]
    fn wrong_types_name_the_key_and_the_expectation() {
        let error = parse_error("{\"sources\": [], \"jobs\": \"four\"}");
        assert_eq!(
            error,
            "1:30: jobs: invalid type: string \"four\", expected usize"
        );
    }

    #[test]
    fn far_keys_get_no_suggestion() {
        let error = parse_error("{\"sources\": [], \"zzzzqqq\": 1}");
        assert!(!error.contains("did you mean"), "{error}");
    }

    #[test]
    fn sources_get_default_names() {
        assert_eq!(default_source_name(Path::new("/x/demo/Cargo.toml")), "demo");
        assert_eq!(
            default_source_name(Path::new("/x/tests-1234")),
            "tests-1234"
        );
    }
}
