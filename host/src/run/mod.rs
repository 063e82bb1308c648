//! A run, from configuration to summary.

mod discover;
mod execute;
mod schedule;
mod tail;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use proctor_plugin_api::messages::{
    CommandSpec, DiscoveryOffer, ExecutionMode, LifecycleEvent, PluginKind, RunnerCapabilities,
    SourceInfo, TestCase,
};

use crate::collect::{self, Collectors};
use crate::config::{self, Config, NoTests, SourceConfig};
use crate::error::{Error, Result};
use crate::fetch::{DownloadRecord, Fetcher};
use crate::plugins::{self, Catalog, RunnerPlugin, SearchPath};
use crate::process::Stopper;
use crate::report::{
    write_helix_report, write_junit, write_trx, Console, Journal, JournalEvent, HELIX_REPORT,
};
use crate::results::{
    exit_status, write_atomically, Counts, RecordKind, ResultsDir, RunSummary, SourceRecord,
    TestRecord, LAYOUT_VERSION,
};
use crate::select::{Filter, Selection, Selector};

pub use discover::discover;

/// Helix sets these on its machines; results and dumps then go where it
/// uploads from, and its reporter finds the results in the work item's root.
pub const HELIX_UPLOAD_ROOT: &str = "HELIX_WORKITEM_UPLOAD_ROOT";
pub const HELIX_DUMP_FOLDER: &str = "HELIX_DUMP_FOLDER";
pub const HELIX_WORKITEM_ROOT: &str = "HELIX_WORKITEM_ROOT";

/// A source with its runner created and its settings accepted.
pub struct PreparedSource {
    pub config: SourceConfig,
    pub runner: RunnerPlugin,
    pub capabilities: RunnerCapabilities,
    pub mode: ExecutionMode,
    pub info: SourceInfo,
    /// The variables collectors asked for when the source started.
    pub collected_env: std::sync::OnceLock<std::collections::BTreeMap<String, String>>,
}

/// Variables holding `:`-separated search paths: several parties may each
/// add their entry (a runner its plugin, a collector its hook).
const SEARCH_PATHS: [&str; 4] = ["PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD"];

impl PreparedSource {
    /// Adds the source's variables to a command its runner asked for: the
    /// runner's own first, then the configuration's, then the collectors';
    /// search paths are joined, so that each finds its own entry.
    pub fn complete_environment(&self, command: &mut CommandSpec) {
        let collected = self.collected_env.get().into_iter().flatten();
        for (key, value) in self.config.env.iter().chain(collected) {
            match command.env.get_mut(key) {
                Some(existing) if SEARCH_PATHS.contains(&key.as_str()) => {
                    if !existing.split(':').any(|part| part == value) {
                        existing.push(':');
                        existing.push_str(value);
                    }
                }
                Some(_) => {}
                None => {
                    command.env.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

/// Everything checked before anything is written: configuration, plugins,
/// runners, downloaders.
pub struct Session {
    pub config: Config,
    pub catalog: Catalog,
    pub sources: Vec<Arc<PreparedSource>>,
    pub fetcher: Fetcher,
    pub collectors: collect::Prepared,
}

impl Session {
    pub fn prepare(config_path: &Path, plugin_dirs: &[PathBuf]) -> Result<Self> {
        let config = config::load(config_path)?;
        let catalog = Catalog::load(SearchPath::new(plugin_dirs, &config.plugin_dirs));
        let at = |location: String, error: Error| {
            error.at(format!("{}: {location}", config.file.display()))
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
            let runner = plugins::create(library, &source.runner, &source.settings)
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
                collected_env: std::sync::OnceLock::new(),
            }));
        }
        let fetcher = Fetcher::prepare(&config, &catalog)?;
        let collectors = collect::Prepared::prepare(&config, &catalog)?;
        Ok(Self {
            config,
            catalog,
            sources,
            fetcher,
            collectors,
        })
    }

    /// Downloads what the configuration names. Answers each download's
    /// record and the errors of those that failed; once all succeeded, the
    /// sources' paths must exist.
    pub fn fetch(&self, console: &Console) -> Result<(Vec<DownloadRecord>, Vec<String>)> {
        let (mut records, mut errors) = (Vec::new(), Vec::new());
        for result in self.fetcher.fetch(console) {
            match result {
                Ok(record) => records.push(record),
                Err(error) => errors.push(format!("download failed: {error}")),
            }
        }
        if errors.is_empty() {
            self.config.check_source_paths()?;
        }
        Ok((records, errors))
    }

    /// The selector of this configuration with `filter`.
    pub fn selector<'a>(&'a self, filter: Option<&'a Filter>) -> Selector<'a> {
        Selector::new(&self.config.skip, filter)
    }

    /// Discovers every source in parallel; a source that fails keeps its
    /// error. With `run`, a source whose tests all run, spread over `jobs`
    /// processes, may leave its discovery to them.
    pub async fn discover_all(
        &self,
        run: Option<(&Selector<'_>, usize)>,
        stopper: &Stopper,
    ) -> Vec<std::result::Result<Vec<TestCase>, String>> {
        futures::future::join_all(self.sources.iter().map(|source| {
            let whole_source = run.and_then(|(selector, jobs)| {
                let one_batch_per_job =
                    source.mode == ExecutionMode::Batch && source.config.batch_size.is_none();
                (one_batch_per_job && selector.takes_whole(&source.config.name))
                    .then_some(jobs as u32)
            });
            discover(
                source,
                DiscoveryOffer {
                    expanding: true,
                    whole_source,
                },
                stopper,
                self.config.grace_period,
            )
        }))
        .await
    }
}

pub struct RunOptions {
    pub jobs: usize,
    pub results_dir: Option<PathBuf>,
    pub filter: Option<Filter>,
    /// What a run that selects no test ends as, over the configuration's.
    pub no_tests: Option<NoTests>,
    /// Where stop requests come from (the signal handlers).
    pub stopper: Stopper,
}

/// Where results go: the command line's choice, else Helix's upload root
/// when it is set, else the configuration's. Always absolute: test
/// processes run in directories of their own and are handed paths in it.
fn results_root(options: &RunOptions, config: &Config) -> PathBuf {
    let root = options
        .results_dir
        .clone()
        .or_else(|| std::env::var_os(HELIX_UPLOAD_ROOT).map(PathBuf::from))
        .unwrap_or_else(|| config.results_dir.clone());
    std::path::absolute(&root).unwrap_or(root)
}

/// Runs every selected test of every source and writes the reports.
pub async fn run(
    mut session: Session,
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

    let collectors = Arc::new(Collectors::start(
        std::mem::take(&mut session.collectors),
        results.root(),
        console.clone(),
    ));
    collectors
        .ask(LifecycleEvent::SessionStarted {
            results_dir: results.root().to_path_buf(),
            dumps_dir: Some(results.dumps().to_path_buf()),
        })
        .await;
    let stopper = options.stopper.clone();
    let watch_stop = tokio::spawn(record_stops(
        stopper.subscribe(),
        journal.clone(),
        console.clone(),
        session.config.grace_period,
    ));
    let (downloads, mut errors) = tokio::task::block_in_place(|| session.fetch(&console))?;
    for download in &downloads {
        journal.record(&JournalEvent::Downloaded(download));
    }
    for error in &errors {
        journal.record(&JournalEvent::DownloadFailed { error });
    }
    // Collectors hear of a source before its first process (discovery's
    // included) starts, and may ask for variables in its environment.
    if errors.is_empty() {
        for source in &session.sources {
            let event = LifecycleEvent::SourceStarted {
                source: source.info.clone(),
            };
            let _ = source.collected_env.set(collectors.ask(event).await);
        }
    }
    let mut source_records = Vec::new();
    let mut to_run: Vec<(Arc<PreparedSource>, Selection)> = Vec::new();
    let selector = session.selector(options.filter.as_ref());
    let discovered = match (errors.is_empty(), stopper.state().signal()) {
        (true, None) => {
            session
                .discover_all(Some((&selector, options.jobs.max(1))), &stopper)
                .await
        }
        // Without its payload no source can run.
        (false, _) => (session.sources.iter())
            .map(|_| Err("not run: a download failed".to_owned()))
            .collect(),
        (true, Some(signal)) => (session.sources.iter())
            .map(|_| Err(format!("not run: the run was stopped by {signal}")))
            .collect(),
    };
    for (source, discovered) in session.sources.iter().zip(discovered) {
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
                let selection = selector.select(name, tests);
                let selected = selection.run.len() + selection.skipped.len();
                journal.record(&JournalEvent::SourceDiscovered {
                    source: name,
                    tests: selected,
                });
                console.source_started(name, selected);
                to_run.push((source.clone(), selection));
            }
            Err(error) => {
                if source.collected_env.get().is_some() {
                    collectors.notify(LifecycleEvent::SourceFinished {
                        source: name.to_owned(),
                    });
                }
                let error = format!("source `{name}`: discovery failed: {error}");
                journal.record(&JournalEvent::SourceFailed {
                    source: name,
                    error: &error,
                });
                console.note(&format!("    ERROR {error}"));
                record.error = Some(error.clone());
                // A discovery the stop cut short is no infrastructure error.
                if stopper.state().signal().is_none() {
                    errors.push(error);
                }
            }
        }
        source_records.push(record);
    }

    let context = Arc::new(execute::Context::new(
        results.clone(),
        journal.clone(),
        collectors.clone(),
        stopper.clone(),
        (session.config.grace_period, session.config.output_drain),
    ));
    let scheduled = schedule::Scheduler::new(
        context,
        options.jobs,
        &session.config.retry,
        &selector,
        console.clone(),
    )
    .run(to_run)
    .await?;
    let mut records = scheduled.records;
    errors.extend(scheduled.errors);
    let stopped_by = stopper.state().signal();
    watch_stop.abort();
    let collected = collectors.finish().await;
    // Expanding cases are known by their tests only now.
    for source in &mut source_records {
        source.tests = records.iter().filter(|t| t.source == source.name).count();
    }

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
    let run_policy = options
        .no_tests
        .or(session.config.no_tests)
        .unwrap_or(NoTests::Fail);
    let policies: Vec<Option<NoTests>> =
        session.sources.iter().map(|s| s.config.no_tests).collect();
    let (no_tests, mut warnings) =
        no_tests_findings(run_policy, &source_records, &policies, &records);
    warnings.extend(scheduled.warnings);
    let status = exit_status(&counts, &errors, no_tests, stopped_by);
    let flaky = records
        .iter()
        .filter(|t| t.flaky)
        .map(|t| format!("{}/{}", t.source, t.id))
        .collect();
    let summary = RunSummary {
        layout_version: LAYOUT_VERSION,
        proctor_version: env!("CARGO_PKG_VERSION"),
        outcome: status,
        exit_code: status.code(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: clock.elapsed().as_millis() as u64,
        counts,
        filtered_out: scheduled.filtered_out,
        downloads,
        collectors: collected.collectors,
        attachments: collected.attachments,
        timeline: collected.timeline,
        sources: source_records,
        errors,
        warnings,
        stopped_by,
        containment: crate::process::containment(),
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

/// Records each stop request in the journal and on the console as it comes.
async fn record_stops(
    mut stop: crate::process::StopReceiver,
    journal: Arc<Journal>,
    console: Arc<Console>,
    grace: std::time::Duration,
) {
    use crate::process::Stop;
    loop {
        let (signal, at_once) = match stop.changed().await {
            Stop::Running => continue,
            Stop::Gracefully(signal) => (signal, false),
            Stop::Now(signal) => (signal, true),
        };
        journal.record(&JournalEvent::StopRequested { signal, at_once });
        console.note(&match at_once {
            false => format!(
                "    STOP {signal}: no test starts any more; running tests get {grace:?} \
                 to end, then are killed (a second signal kills them at once)"
            ),
            true => "    STOP a second signal: killing running tests now".to_owned(),
        });
    }
}

/// Whether the run fails for want of tests, and what to say of the sources
/// (and the run) that selected none. A source that failed is left to its
/// error. Tests that a skip rule or the filter left out were not selected;
/// tests their framework skipped were.
fn no_tests_findings(
    run_policy: NoTests,
    sources: &[SourceRecord],
    policies: &[Option<NoTests>],
    records: &[TestRecord],
) -> (bool, Vec<String>) {
    let mut selected: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for record in records {
        if record.kind == RecordKind::Test && !record.skipped_by_rule {
            *selected.entry(record.source.as_str()).or_default() += 1;
        }
    }
    let mut findings: Vec<(NoTests, String)> = Vec::new();
    for (source, policy) in sources.iter().zip(policies) {
        if let (None, Some(policy)) = (&source.error, policy) {
            if !selected.contains_key(source.name.as_str()) {
                let what = format!("source `{}` selected no test", source.name);
                findings.push((*policy, format!("{what} (its no_tests: {policy})")));
            }
        }
    }
    let all_failed_elsewhere = sources.iter().all(|s| s.error.is_some());
    if !all_failed_elsewhere && selected.is_empty() {
        findings.push((
            run_policy,
            format!(
                "no test was selected in any source, after the filter and skip rules \
                 (no_tests: {run_policy})"
            ),
        ));
    }
    let failed = findings.iter().any(|(policy, _)| *policy == NoTests::Fail);
    let said = findings
        .into_iter()
        .filter(|(policy, _)| *policy != NoTests::Pass)
        .map(|(_, finding)| finding)
        .collect();
    (failed, said)
}

/// Writes every report, each whole or not at all; a report that cannot be
/// written keeps none of the others from being written.
fn write_reports(results: &ResultsDir, summary: &RunSummary) -> Result<()> {
    let mut failed = Vec::new();
    let mut write =
        |path: PathBuf, report: &dyn Fn(&mut dyn std::io::Write) -> std::io::Result<()>| {
            if let Err(e) = write_atomically(&path, |out| report(out)) {
                failed.push(format!("cannot write {}: {e}", path.display()));
            }
        };
    write(results.summary(), &|out| {
        serde_json::to_writer_pretty(out, summary).map_err(std::io::Error::other)
    });
    write(results.junit(), &|out| write_junit(summary, out));
    write(results.trx(), &|out| write_trx(summary, out));
    if let Some(root) = std::env::var_os(HELIX_WORKITEM_ROOT) {
        let path = PathBuf::from(root).join(HELIX_REPORT);
        write(path, &|out| {
            write_helix_report(summary, results.root(), out)
        });
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(Error::infrastructure(failed.join("; "))),
    }
}
