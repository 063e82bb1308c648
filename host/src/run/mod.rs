//! A run, from configuration to summary.

mod discover;
mod execute;
pub mod process;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use proctor_plugin_api::messages::{PluginKind, SourceInfo, TestCase};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{self, Config, SourceConfig};
use crate::error::{Error, Result};
use crate::plugins::{Catalog, RunnerHandle, SearchPath};
use crate::report::{
    write_junit, Console, Counts, Journal, JournalEvent, ResultsDir, RunSummary, SourceRecord,
    TestRecord, LAYOUT_VERSION,
};

pub use discover::discover;

/// A source with its runner created and its settings accepted.
pub struct PreparedSource {
    pub config: SourceConfig,
    pub runner: RunnerHandle,
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
            let (library, _) = catalog
                .find(PluginKind::Runner, &source.runner)
                .map_err(|e| at(format!("{}.runner", source.location), e))?;
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
}

pub struct RunOptions {
    pub jobs: usize,
    pub results_dir: Option<PathBuf>,
}

/// Runs every test of every source, each in its own process, up to `jobs` at once.
pub async fn run(
    session: Session,
    options: RunOptions,
    console: Arc<Console>,
) -> Result<RunSummary> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let results_root = options
        .results_dir
        .unwrap_or_else(|| session.config.results_dir.clone());
    let results = Arc::new(ResultsDir::prepare(&results_root)?);
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
    let mut pending: Vec<(Arc<PreparedSource>, TestCase)> = Vec::new();
    for (source, discovered) in session.sources.iter().zip(session.discover_all().await) {
        let name = source.config.name.as_str();
        let mut record = SourceRecord {
            name: name.to_owned(),
            runner: source.config.runner.clone(),
            path: source.config.path.display().to_string(),
            tests: 0,
            error: None,
        };
        match discovered {
            Ok(tests) => {
                journal.record(&JournalEvent::SourceDiscovered {
                    source: name,
                    tests: tests.len(),
                });
                record.tests = tests.len();
                console.add_tests(tests.len());
                for test in tests {
                    match &test.skip {
                        Some(reason) => {
                            let skipped = execute::skipped(name, &test, reason);
                            journal.record(&JournalEvent::TestFinished(&skipped));
                            console.finished(&skipped);
                            records.push(skipped);
                        }
                        None => pending.push((source.clone(), test)),
                    }
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

    let slots = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut running = JoinSet::new();
    for (source, test) in pending {
        let (slots, results, journal) = (slots.clone(), results.clone(), journal.clone());
        running.spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            execute::run_test(&source, test, 1, &results, &journal).await
        });
    }
    while let Some(joined) = running.join_next().await {
        let (record, error) =
            joined.map_err(|e| Error::infrastructure(format!("a test task failed: {e}")))?;
        journal.record(&JournalEvent::TestFinished(&record));
        console.finished(&record);
        errors.extend(error);
        records.push(record);
    }

    // Reports list tests in discovery order, whatever order they finished in.
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
    let summary = RunSummary {
        layout_version: LAYOUT_VERSION,
        proctor_version: env!("CARGO_PKG_VERSION"),
        outcome: status.as_str(),
        exit_code: status.code(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: clock.elapsed().as_millis() as u64,
        counts,
        sources: source_records,
        errors,
        tests: records,
    };
    write_reports(&results, &summary)?;
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
    write_junit(summary, &results.junit()).map_err(|e| failed("junit.xml", e))
}
