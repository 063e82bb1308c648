//! The results store from the command line: where it is, importing results
//! directories, pruning, and what the history says of tests (a run records
//! itself as it ends: `run::run`); and bisecting, which drives runs.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Format;
use crate::config::StoreSetting;
use crate::error::{Error, ExitStatus, Result};
use crate::results::{RunContext, RunSummary};
use crate::store::{self, Location, Recorded, Store, TestVerdict};

/// The variable naming the store, below `--store` and above the default.
pub const STORE_VARIABLE: &str = "PROCTOR_STORE";

/// Where the store is, if anywhere: `--store`, else [`STORE_VARIABLE`],
/// else the user's data directory.
#[derive(Debug, clap::Args)]
pub(super) struct StoreArg {
    /// The results store: a SQLite file, or a PostgreSQL server's
    /// postgres:// URL; default: $PROCTOR_STORE, else
    /// $XDG_DATA_HOME/proctor/history.db (~/.local/share/proctor/history.db).
    #[arg(long, value_name = "PATH|URL")]
    store: Option<String>,
}

impl StoreArg {
    /// The store, open, and where it is.
    fn open(&self) -> Result<(Location, Store)> {
        let location = self.location()?;
        let store = Store::open(location.clone()).map_err(failed)?;
        Ok((location, store))
    }

    /// The store a command reads: `--store`, else [`STORE_VARIABLE`], else
    /// the user's data directory.
    fn location(&self) -> Result<Location> {
        self.given().or_else(default_location).ok_or_else(|| {
            Error::usage(format!(
                "no results store: give --store, or set {STORE_VARIABLE}, XDG_DATA_HOME or HOME"
            ))
        })
    }

    /// The store a run records into: `--store`, else [`STORE_VARIABLE`],
    /// else the configuration's `store` (which may switch recording off),
    /// else the user's data directory; none when it cannot be placed.
    pub(super) fn for_run(&self, configured: Option<&StoreSetting>) -> Option<Location> {
        match (self.given(), configured) {
            (Some(location), _) => Some(location),
            (None, Some(StoreSetting::Off)) => None,
            (None, Some(StoreSetting::At(location))) => Some(location.clone()),
            (None, None) => default_location(),
        }
    }

    /// The store a `proctor run` of this command's records into: the one
    /// named here, else its own choice.
    pub(super) fn as_run_args(&self) -> Vec<String> {
        match &self.store {
            Some(store) => vec!["--store".into(), store.clone()],
            None => Vec::new(),
        }
    }

    /// The store the command line or the environment names.
    fn given(&self) -> Option<Location> {
        let named = self
            .store
            .clone()
            .or_else(|| std::env::var(STORE_VARIABLE).ok().filter(|v| !v.is_empty()));
        named.as_deref().map(Location::parse)
    }
}

/// The user's data directory's store, when there is one.
fn default_location() -> Option<Location> {
    store::default_path().map(Location::File)
}

/// A commit as a person reads it: its first 12 hex digits.
fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

/// What a run tests, as flags say it over what the checkout and the CI's
/// environment say.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct ContextArgs {
    /// The commit the run tests, instead of the checkout's or the CI's.
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// The branch the run tests.
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// The repository the run tests.
    #[arg(long, value_name = "URL")]
    repository: Option<String>,
    /// The commit's position, for repositories that number their commits.
    #[arg(long, value_name = "N")]
    commit_position: Option<i64>,
    /// A pair of the run's variant (repeatable), beside `os` and `arch`:
    /// `--variant config=release`.
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    variant: Vec<(String, String)>,
}

pub(super) fn key_value(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

impl ContextArgs {
    /// What a run started in `dir` tests.
    pub(super) fn gather(&self, dir: &Path) -> RunContext {
        let mut context = RunContext::gather(dir, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        });
        context.commit = self.commit.clone().or(context.commit);
        context.branch = self.branch.clone().or(context.branch);
        context.repository = self.repository.clone().or(context.repository);
        context.commit_position = self.commit_position.or(context.commit_position);
        context.variant.extend(self.variant.iter().cloned());
        context
    }
}

/// `proctor store import`: each results directory's run, recorded once.
pub(super) fn import(store: &StoreArg, dirs: &[PathBuf]) -> Result<ExitStatus> {
    let (_, mut store) = store.open()?;
    let mut status = ExitStatus::Passed;
    for dir in dirs {
        let summary_path = dir.join("summary.json");
        let summary = match read_summary(&summary_path) {
            Ok(summary) => summary,
            Err(problem) => {
                eprintln!("error: {}: {problem}", summary_path.display());
                status = ExitStatus::UsageError;
                continue;
            }
        };
        let recorded = store.record(&summary, dir).map_err(failed)?;
        match recorded {
            Recorded::New { results } => println!(
                "{}: run {} recorded, {}",
                dir.display(),
                summary.run.run_id,
                proctor_formats::text::counted(results, "result")
            ),
            Recorded::AlreadyThere => {
                println!(
                    "{}: run {} already recorded",
                    dir.display(),
                    summary.run.run_id
                )
            }
        }
    }
    Ok(status)
}

/// A summary as a store records it. One from before runs had ids is named
/// by its content, so that importing it twice records it once.
fn read_summary(path: &Path) -> std::result::Result<RunSummary, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut summary = crate::results::read_summary(&bytes)
        .map_err(|e| format!("not a proctor run's summary: {e}"))?;
    if summary.run.run_id.is_empty() {
        summary.run.run_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &bytes).to_string();
    }
    Ok(summary)
}

/// `proctor history test`: the test's verdict in every recorded run.
pub(super) fn test(
    store: &StoreArg,
    source: Option<&str>,
    test: &str,
    format: Format,
) -> Result<ExitStatus> {
    let (location, mut store) = store.open()?;
    let history = store.test_history(source, test).map_err(failed)?;
    if format == Format::Json {
        return Ok(print_json(&history));
    }
    let mut out = std::io::stdout().lock();
    if history.is_empty() {
        let _ = writeln!(out, "no recorded run of `{test}` in {location}");
        return Ok(ExitStatus::Passed);
    }
    let _ = writeln!(
        out,
        "{:<24} {:<12} {:<16} {:<10} {:>8} {:>9}  REASON",
        "STARTED", "COMMIT", "VARIANT", "VERDICT", "ATTEMPTS", "DURATION"
    );
    for verdict in &history {
        let _ = writeln!(out, "{}", verdict_line(verdict));
    }
    Ok(ExitStatus::Passed)
}

/// A moment of the store as a person reads it: UTC, to the second.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn verdict_line(verdict: &TestVerdict) -> String {
    let started = when(verdict.started_ms);
    let commit = short(verdict.commit.as_deref().unwrap_or("-"));
    let name = serde_json::to_value(verdict.verdict).ok();
    let name = name.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
    format!(
        "{started:<24} {commit:<12} {:<16} {name:<10} {:>8} {:>8.3}s  {}",
        verdict.variant,
        verdict.attempts,
        verdict.duration_ms as f64 / 1000.0,
        verdict.reason.as_deref().unwrap_or("")
    )
}

/// `proctor history flaky`: the tests that passed and failed on one commit
/// and variant, the flakiest first.
pub(super) fn flaky(store: &StoreArg, window: Option<u32>, format: Format) -> Result<ExitStatus> {
    let (_, mut store) = store.open()?;
    let report = store.flaky(window).map_err(failed)?;
    if format == Format::Json {
        return Ok(print_json(&report));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:>6} {:>6} {:>6} {:>9}  {:<19}  {:<19}  TEST",
        "RUNS", "FLAKY", "RATE", "ON RETRY", "FIRST SEEN", "LAST SEEN"
    );
    for test in &report.tests {
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:>5.1}% {:>8.1}%  {:<19}  {:<19}  {} {}",
            test.runs,
            test.flaky_runs,
            test.flake_rate * 100.0,
            test.pass_on_retry_rate * 100.0,
            when(test.first_seen_ms),
            when(test.last_seen_ms),
            test.source,
            test.test
        );
    }
    let _ = writeln!(
        out,
        "{}, {} green only because a retry passed",
        proctor_formats::text::counted(report.tests.len(), "flaky test"),
        proctor_formats::text::counted(report.runs_green_by_retries as usize, "run")
    );
    Ok(ExitStatus::Passed)
}

/// `proctor history failures`: failures clustered by normalised reason,
/// the most frequent first, the latest run's new clusters marked.
pub(super) fn failures(store: &StoreArg, format: Format) -> Result<ExitStatus> {
    let (_, mut store) = store.open()?;
    let clusters = store.failures().map_err(failed)?;
    if format == Format::Json {
        return Ok(print_json(&clusters));
    }
    let mut out = std::io::stdout().lock();
    for cluster in &clusters {
        let new = if cluster.new { "NEW " } else { "" };
        let dump = match cluster.kind {
            store::ClusterKind::Reason => "",
            store::ClusterKind::DumpSignature => "dumps at ",
        };
        let _ = writeln!(
            out,
            "{new}{dump}{}: {}, {}, {} to {}",
            cluster.reason,
            proctor_formats::text::counted(cluster.failures as usize, "failure"),
            proctor_formats::text::counted(cluster.test_count as usize, "test"),
            when(cluster.first_seen_ms),
            when(cluster.last_seen_ms)
        );
        for test in &cluster.tests {
            let _ = writeln!(out, "    {test}");
        }
        if cluster.test_count > cluster.tests.len() as u64 {
            let _ = writeln!(
                out,
                "    and {} more",
                cluster.test_count - cluster.tests.len() as u64
            );
        }
    }
    let _ = writeln!(
        out,
        "{}",
        proctor_formats::text::counted(clusters.len(), "failure cluster")
    );
    Ok(ExitStatus::Passed)
}

/// `proctor history culprit`: where the test's history changed, per
/// variant.
pub(super) fn culprit(
    store: &StoreArg,
    source: Option<&str>,
    test: &str,
    variant: &[(String, String)],
    format: Format,
) -> Result<ExitStatus> {
    let (location, mut store) = store.open()?;
    let reports = store.culprit(source, test, variant).map_err(failed)?;
    if format == Format::Json {
        return Ok(print_json(&reports));
    }
    let mut out = std::io::stdout().lock();
    if reports.is_empty() {
        let _ = writeln!(
            out,
            "no recorded run of `{test}` at a known commit in {location}"
        );
    }
    for report in &reports {
        let _ = writeln!(out, "{}", culprit_line(report));
    }
    Ok(ExitStatus::Passed)
}

/// `proctor history regressions`: the tests whose latest change made them
/// fail, the most recent first.
pub(super) fn regressions(store: &StoreArg, window: u32, format: Format) -> Result<ExitStatus> {
    let (_, mut store) = store.open()?;
    let reports = store.regressions(window).map_err(failed)?;
    if format == Format::Json {
        return Ok(print_json(&reports));
    }
    let mut out = std::io::stdout().lock();
    for report in &reports {
        let _ = writeln!(out, "{}", culprit_line(report));
    }
    let _ = writeln!(
        out,
        "{}",
        proctor_formats::text::counted(reports.len(), "regression")
    );
    Ok(ExitStatus::Passed)
}

/// What a test's history says, in a line or a few.
fn culprit_line(report: &store::CulpritReport) -> String {
    let percent = |rate: f64| format!("{:.0}%", rate * 100.0);
    let head = format!(
        "{} {} [{}]: {} at {}, {}",
        report.source,
        report.test,
        report.variant,
        proctor_formats::text::counted(report.attempts as usize, "attempt"),
        proctor_formats::text::counted(report.commits, "commit"),
        match report.status {
            store::Status::Regressed => "regressed".to_owned(),
            store::Status::Fixed => "fixed since it regressed".to_owned(),
            store::Status::Passing => "passing, no change".to_owned(),
            store::Status::AlwaysFailing => "always failing, no change to blame".to_owned(),
            store::Status::Flaky => format!(
                "flaky without a change (fails {}), no change to blame",
                percent(report.failure_rate)
            ),
        }
    );
    let Some(culprit) = &report.culprit else {
        return head;
    };
    let range = match &culprit.good {
        Some(good) => format!("{}..{}", short(good), short(&culprit.bad)),
        None => format!("at or before {}", short(&culprit.bad)),
    };
    format!(
        "{head}\n    culprit in {range} ({}, {} confident): failed {} of {} attempts before, {} of {} after\n    candidates: {}",
        proctor_formats::text::counted(culprit.candidates.len(), "commit"),
        percent(culprit.confidence),
        percent(culprit.before.failure_rate),
        culprit.before.attempts,
        percent(culprit.after.failure_rate),
        culprit.after.attempts,
        culprit.candidates.iter().map(|c| short(c)).collect::<Vec<_>>().join(" ")
    )
}

/// `proctor bisect`: the commit that broke a test, found by running it.
pub(super) fn bisect(
    request: &crate::bisect::Bisection,
    stopper: &crate::process::Stopper,
    format: Format,
) -> Result<ExitStatus> {
    let said = |tried: &crate::bisect::Tried| {
        if format == Format::Human {
            eprintln!("{}", tried_line(tried));
        }
    };
    let report = crate::bisect::bisect(request, stopper, said)?;
    let status = match report.stopped_by {
        Some(signal) => ExitStatus::Interrupted(signal),
        None => ExitStatus::Passed,
    };
    if format == Format::Json {
        print_json(&report);
        return Ok(status);
    }
    let mut out = std::io::stdout().lock();
    for tried in report
        .commits
        .iter()
        .filter(|t| t.passes + t.failures + t.unknown > 0)
    {
        let _ = writeln!(out, "{}", tried_line(tried));
    }
    let confidence = format!("{:.0}% confident", report.confidence * 100.0);
    let _ = match report.ending {
        crate::bisect::Ending::Found => writeln!(
            out,
            "culprit: {} ({confidence}, {} runs)",
            report.culprits[0], report.runs
        ),
        crate::bisect::Ending::Range => writeln!(
            out,
            "culprit: one of {} ({confidence}, {} runs)",
            report
                .culprits
                .iter()
                .map(|c| short(c))
                .collect::<Vec<_>>()
                .join(" "),
            report.runs
        ),
        crate::bisect::Ending::NoChange => writeln!(
            out,
            "no culprit: the test fails at {} as at {} ({confidence}, {} runs): flaky, not broken",
            short(&report.good),
            short(&report.bad),
            report.runs
        ),
    };
    if let Some(signal) = report.stopped_by {
        let _ = writeln!(out, "stopped by {signal} before the search settled");
    }
    Ok(status)
}

fn tried_line(tried: &crate::bisect::Tried) -> String {
    let unknown = match (&tried.unknown_because, tried.unknown) {
        (Some(why), n) if n > 0 => format!(", {n} unknown: {why}"),
        _ => String::new(),
    };
    format!(
        "  {} {:<40} {} passed, {} failed{unknown}",
        short(&tried.commit),
        tried.subject.chars().take(40).collect::<String>(),
        tried.passes,
        tried.failures
    )
}

/// When a flaky test is worth quarantining.
#[derive(Debug, clap::Args)]
pub(super) struct QuarantineArgs {
    /// Flaky in at least this many runs: one flake is an accident.
    #[arg(long, default_value_t = 2, value_name = "N")]
    min_flaky_runs: u64,
    /// With at least this flake rate (a fraction).
    #[arg(long, default_value_t = 0.05, value_name = "RATE")]
    min_rate: f64,
    /// Over each test's last this many runs: a test fixed long ago is not
    /// quarantined for its past.
    #[arg(long, default_value_t = 100, value_name = "RUNS")]
    window: u32,
}

/// `proctor history quarantine`: Helix quarantine rules, as
/// `test-configuration.json` holds them, for the tests flaky enough.
pub(super) fn quarantine(store: &StoreArg, args: &QuarantineArgs) -> Result<ExitStatus> {
    let (_, mut store) = store.open()?;
    let report = store.flaky(Some(args.window)).map_err(failed)?;
    let rules: Vec<serde_json::Value> = (report.tests.iter())
        .filter(|t| t.flaky_runs >= args.min_flaky_runs && t.flake_rate >= args.min_rate)
        .map(|t| serde_json::json!({ "testName": t.qualified_name, "testAssembly": t.source }))
        .collect();
    let configuration = serde_json::json!({ "version": 1, "quarantineRules": rules });
    Ok(print_json(&configuration))
}

/// `proctor store prune`: forgets the runs that started longer ago than `age`.
pub(super) fn prune(store: &StoreArg, age: std::time::Duration) -> Result<ExitStatus> {
    let (location, mut store) = store.open()?;
    let age =
        chrono::Duration::from_std(age).map_err(|e| Error::usage(format!("--older-than: {e}")))?;
    let before = chrono::Utc::now() - age;
    let runs = store.prune(before.timestamp_millis()).map_err(failed)?;
    println!(
        "{} from before {} removed from {location}",
        proctor_formats::text::counted(runs, "run"),
        before.format("%Y-%m-%d %H:%M:%S"),
    );
    Ok(ExitStatus::Passed)
}

/// A store that fails a command is the machine's fault, or the file's.
fn failed(error: store::StoreError) -> Error {
    Error::infrastructure(error.to_string())
}

fn print_json(value: &impl serde::Serialize) -> ExitStatus {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
    ExitStatus::Passed
}
