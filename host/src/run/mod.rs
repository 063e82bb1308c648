//! A run, from configuration to summary.

mod discover;
mod execute;
mod schedule;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use proctor_plugin_api::messages::{
    ExecutionMode, Outcome, PluginKind, RunnerCapabilities, SourceInfo, TestCase,
};

use crate::config::{self, Config, SourceConfig};
use crate::error::{Error, Result};
use crate::plugins::{Catalog, RunnerHandle, SearchPath};
use crate::report::{
    write_junit, write_trx, Console, Counts, Journal, JournalEvent, ResultsDir, RunSummary,
    SourceRecord, TestRecord, LAYOUT_VERSION,
};
use crate::select::{Filter, Platform};

pub use discover::discover;

/// Helix sets these on its machines; results and dumps then go where it uploads from.
pub const HELIX_UPLOAD_ROOT: &str = "HELIX_WORKITEM_UPLOAD_ROOT";
pub const HELIX_DUMP_FOLDER: &str = "HELIX_DUMP_FOLDER";

/// A source with its runner created and its settings accepted.
pub struct PreparedSource {
    pub config: SourceConfig,
    pub runner: RunnerHandle,
    pub capabilities: RunnerCapabilities,
    pub mode: ExecutionMode,
    pub info: SourceInfo,
}

/// Everything checked before anything is written: configuration, plugins, runners.
pub struct Session {
    pub config: Config,
    pub catalog: Catalog,
    pub sources: Vec<Arc<PreparedSource>>,
}

impl Session {
    pub fn prepare(config_path: &Path, plugin_dirs: &[PathBuf]) -> Result<Self> {
        let config = config::load(config_path)?;
        let catalog = Catalog::load(SearchPath::new(plugin_dirs, &config.plugin_dirs));
        let at = |location: String, error: Error| {
            let message = format!("{}: {location}: {error}", config.file.display());
            match error {
                Error::Usage(_) => Error::usage(message),
                Error::Infrastructure(_) => Error::infrastructure(message),
            }
        };
        let mut sources = Vec::new();
        for source in &config.sources {
            let (library, manifest) = catalog
                .find(PluginKind::Runner, &source.runner)
                .map_err(|e| at(format!("{}.runner", source.location), e))?;
            // A runner from before 1.2 declares nothing: one test per process.
            let capabilities: RunnerCapabilities =
                serde_json::from_value(manifest.capabilities.clone()).unwrap_or_default();
            let mode = match source.mode {
                Some(mode) if !capabilities.execution.contains(&mode) => {
                    let supported: Vec<&str> =
                        capabilities.execution.iter().map(|m| m.as_str()).collect();
                    return Err(at(
                        format!("{}.mode", source.location),
                        Error::usage(format!(
                            "runner `{}` cannot run in {} mode; it supports: {}",
                            source.runner,
                            mode.as_str(),
                            supported.join(", ")
                        )),
                    ));
                }
                Some(mode) => mode,
                None => capabilities
                    .execution
                    .first()
                    .copied()
                    .unwrap_or(ExecutionMode::Isolated),
            };
            let runner = RunnerHandle::create(library, &source.runner, &source.settings)
                .map_err(|e| at(format!("{}.settings", source.location), e))?;
            let info = SourceInfo {
                name: source.name.clone(),
                path: source.path.clone(),
                base_dir: config.base_dir.clone(),
            };
            sources.push(Arc::new(PreparedSource {
                config: source.clone(),
                runner,
                capabilities,
                mode,
                info,
            }));
        }
        Ok(Self {
            config,
            catalog,
            sources,
        })
    }

    /// Discovers every source in parallel; a source that fails keeps its error.
    pub async fn discover_all(&self) -> Vec<std::result::Result<Vec<TestCase>, String>> {
        futures::future::join_all(self.sources.iter().map(|source| discover(source))).await
    }

    /// Sorts a source's tests into those to run, those skipped (with the
    /// reason), and the number the filter left out.
    pub fn select(&self, source: &str, tests: Vec<TestCase>, filter: Option<&Filter>) -> Selection {
        let platform = Platform::current();
        let mut selection = Selection::default();
        for test in tests {
            if filter.is_some_and(|f| !f.matches(source, &test)) {
                selection.filtered_out += 1;
                continue;
            }
            let reason = test.skip.clone().or_else(|| {
                self.config
                    .skip
                    .iter()
                    .find_map(|rule| rule.skips(source, &test, &platform))
            });
            match reason {
                Some(reason) => selection.skipped.push((test, reason)),
                None => selection.run.push(test),
            }
        }
        selection
    }
}

#[derive(Default)]
pub struct Selection {
    pub run: Vec<TestCase>,
    pub skipped: Vec<(TestCase, String)>,
    pub filtered_out: usize,
}

pub struct RunOptions {
    pub jobs: usize,
    pub results_dir: Option<PathBuf>,
    pub filter: Option<Filter>,
}

/// Where results go: the command line's choice, else Helix's upload root
/// when it is set, else the configuration's.
fn results_root(options: &RunOptions, config: &Config) -> PathBuf {
    options
        .results_dir
        .clone()
        .or_else(|| std::env::var_os(HELIX_UPLOAD_ROOT).map(PathBuf::from))
        .unwrap_or_else(|| config.results_dir.clone())
}

/// Runs every selected test of every source and writes the reports.
pub async fn run(
    session: Session,
    options: RunOptions,
    console: Arc<Console>,
) -> Result<RunSummary> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let results = Arc::new(ResultsDir::prepare(
        &results_root(&options, &session.config),
        std::env::var_os(HELIX_DUMP_FOLDER).map(PathBuf::from),
    )?);
    let journal = Arc::new(
        Journal::create(&results.journal())
            .map_err(|e| Error::infrastructure(format!("cannot create the journal: {e}")))?,
    );
    journal.record(&JournalEvent::RunStarted {
        layout_version: LAYOUT_VERSION,
        proctor_version: env!("CARGO_PKG_VERSION"),
        config: &session.config.file,
        sources: session
            .sources
            .iter()
            .map(|s| s.config.name.as_str())
            .collect(),
    });

    let mut records: Vec<TestRecord> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut source_records = Vec::new();
    let mut to_run: Vec<(Arc<PreparedSource>, Vec<TestCase>)> = Vec::new();
    let mut filtered_out = 0;
    for (source, discovered) in session.sources.iter().zip(session.discover_all().await) {
        let name = source.config.name.as_str();
        let mut record = SourceRecord {
            name: name.to_owned(),
            runner: source.config.runner.clone(),
            path: source.config.path.display().to_string(),
            mode: source.mode,
            tests: 0,
            error: None,
        };
        match discovered {
            Ok(tests) => {
                let selection = session.select(name, tests, options.filter.as_ref());
                filtered_out += selection.filtered_out;
                let selected = selection.run.len() + selection.skipped.len();
                journal.record(&JournalEvent::SourceDiscovered {
                    source: name,
                    tests: selected,
                });
                record.tests = selected;
                console.source_started(name, selected);
                for (test, reason) in selection.skipped {
                    let skipped =
                        TestRecord::not_run(name, &test.id, &test.name, Outcome::Skipped, reason);
                    journal.record(&JournalEvent::TestFinished(&skipped));
                    console.finished(&skipped);
                    records.push(skipped);
                }
                if selection.run.is_empty() {
                    console.source_finished(name);
                } else {
                    to_run.push((source.clone(), selection.run));
                }
            }
            Err(error) => {
                let error = format!("source `{name}`: discovery failed: {error}");
                journal.record(&JournalEvent::SourceFailed {
                    source: name,
                    error: &error,
                });
                console.note(&format!("    ERROR {error}"));
                record.error = Some(error.clone());
                errors.push(error);
            }
        }
        source_records.push(record);
    }

    let context = Arc::new(execute::Context::new(results.clone(), journal.clone()));
    let scheduled = schedule::Scheduler::new(
        context,
        options.jobs,
        &session.config.retry,
        console.clone(),
    )
    .run(to_run)
    .await?;
    records.extend(scheduled.records);
    errors.extend(scheduled.errors);

    // Reports list tests in source order, whatever order they finished in.
    let order: std::collections::HashMap<&str, usize> = session
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.config.name.as_str(), i))
        .collect();
    records
        .sort_by(|a, b| (order[a.source.as_str()], &a.id).cmp(&(order[b.source.as_str()], &b.id)));
    let counts = Counts::of(&records);
    let status = RunSummary::exit_status(&counts, &errors);
    let flaky = records
        .iter()
        .filter(|t| t.flaky)
        .map(|t| format!("{}/{}", t.source, t.id))
        .collect();
    let summary = RunSummary {
        layout_version: LAYOUT_VERSION,
        proctor_version: env!("CARGO_PKG_VERSION"),
        outcome: status.as_str(),
        exit_code: status.code(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: clock.elapsed().as_millis() as u64,
        counts,
        filtered_out,
        sources: source_records,
        errors,
        retries: scheduled.retries,
        dumps_dir: results.dumps().display().to_string(),
        flaky,
        tests: records,
    };
    write_reports(&results, &summary)?;
    results.finish_cleanup();
    journal.record(&JournalEvent::RunFinished {
        outcome: status.as_str(),
        exit_code: status.code(),
    });
    Ok(summary)
}

fn write_reports(results: &ResultsDir, summary: &RunSummary) -> Result<()> {
    let failed =
        |what: &str, e: std::io::Error| Error::infrastructure(format!("cannot write {what}: {e}"));
    let json = serde_json::to_vec_pretty(summary).expect("the summary serializes");
    std::fs::write(results.summary(), json).map_err(|e| failed("summary.json", e))?;
    write_junit(summary, &results.junit()).map_err(|e| failed("junit.xml", e))?;
    write_trx(summary, &results.trx()).map_err(|e| failed("results.trx", e))
}
