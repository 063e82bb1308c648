//! A run, from configuration to summary.

mod discover;
mod errors;
mod execute;
mod keyed;
mod live;
mod outcome;
mod queue;
mod recording;
mod releasing;
mod reported;
mod schedule;
mod shares;
mod tail;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use proctor_plugin_api::messages::{
    CommandSpec, DiscoveryOffer, ExecutionMode, PluginKind, RunnerCapabilities, SourceInfo, Stream,
    TestCase,
};

use crate::collect::{self, Collectors};
use crate::config::{self, Config, NoTests, SourceConfig};
use crate::error::{Error, Result};
use crate::events::{Events, RunEvent, Subscriber};
use crate::fetch::Fetcher;
use crate::plugins::{self, Catalog, OutputStream, Runner, RunnerPlugin, SearchPath};
use crate::process::Stopper;
use crate::report::{Console, HelixEnvironment, Journal, Reports};
use crate::results::{
    exit_status, Counts, DownloadRecord, ExitStatus, Layout, RecordKind, ResultsDir, RunOverview,
    RunSummary, SourceRecord, TestRecord,
};
use crate::select::{Filter, Selection, Selector};

pub use discover::discover;
pub use errors::{DiscoveryError, ExecutionError};

/// A source with its runner created and its settings accepted.
pub struct PreparedSource {
    pub config: SourceConfig,
    /// Its name, shared by every record of its tests.
    shared_name: Arc<str>,
    pub runner: Arc<dyn Runner>,
    pub capabilities: RunnerCapabilities,
    pub mode: ExecutionMode,
    pub info: SourceInfo,
    /// What the runner is told of each stream it reads, besides the lines.
    output_streams: [OutputStream; 2],
    /// The variables collectors asked for when the source started.
    pub collected_env: std::sync::OnceLock<std::collections::BTreeMap<String, String>>,
}

/// Variables holding `:`-separated search paths: several parties may each
/// add their entry (a runner its plugin, a collector its hook).
const SEARCH_PATHS: [&str; 4] = ["PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD"];

impl PreparedSource {
    pub fn new(
        config: SourceConfig,
        runner: Arc<dyn Runner>,
        capabilities: RunnerCapabilities,
        mode: ExecutionMode,
        info: SourceInfo,
    ) -> Self {
        Self {
            output_streams: Stream::ALL.map(|stream| OutputStream::new(info.clone(), stream)),
            shared_name: config.name.as_str().into(),
            config,
            runner,
            capabilities,
            mode,
            info,
            collected_env: std::sync::OnceLock::new(),
        }
    }

    /// What the runner is told of `stream`, besides its lines.
    pub fn output_stream(&self, stream: Stream) -> &OutputStream {
        (self.output_streams.iter())
            .find(|s| s.stream() == stream)
            .expect("every stream has one")
    }

    /// The source's name, as the configuration gives it.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The same, for a record to hold.
    pub fn shared_name(&self) -> Arc<str> {
        self.shared_name.clone()
    }

    /// How many of its processes may run at once in a run of `jobs`.
    pub fn jobs(&self, jobs: usize) -> usize {
        self.config.jobs.map_or(jobs, |own| own.min(jobs))
    }

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
    /// Bounds the plugins' calls once `stopper` hears a stop, from their
    /// creation on, for as long as the session lasts.
    _calls_bound: plugins::CallBound,
}

impl Session {
    /// Reads the configuration at `config_path` and creates its plugins,
    /// whose calls `stopper` bounds; on the current Tokio runtime.
    pub fn prepare(config_path: &Path, plugin_dirs: &[PathBuf], stopper: &Stopper) -> Result<Self> {
        let config = config::load(config_path)?;
        let calls_bound = plugins::CallBound::start(stopper, config.grace_period);
        let catalog = Catalog::load(SearchPath::new(plugin_dirs, &config.plugin_dirs));
        let at = |location: String, error: Error| {
            error.at(format!("{}: {location}", config.file.display()))
        };
        let mut sources = Vec::new();
        for source in &config.sources {
            let (library, manifest) = catalog
                .find(PluginKind::Runner, &source.runner)
                .map_err(|e| at(format!("{}.runner", source.location), e.into()))?;
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
            let runner: RunnerPlugin = plugins::create(
                library,
                &source.runner,
                &source.settings,
                &config.plugin_policy,
            )
            .map_err(|e| {
                Error::of_plugin_creation(e, &config, &format!("{}.settings", source.location))
            })?;
            let info = SourceInfo {
                name: source.name.clone(),
                path: source.path.clone(),
                base_dir: config.base_dir.clone(),
            };
            sources.push(Arc::new(PreparedSource::new(
                source.clone(),
                Arc::new(runner),
                capabilities,
                mode,
                info,
            )));
        }
        let fetcher = Fetcher::prepare(&config, &catalog)?;
        let collectors = collect::Prepared::prepare(&config, &catalog)?;
        Ok(Self {
            config,
            catalog,
            sources,
            fetcher,
            collectors,
            _calls_bound: calls_bound,
        })
    }

    /// Downloads what the configuration names. Answers each download's
    /// record and the errors of those that failed; once all succeeded, the
    /// sources' paths must exist.
    pub fn fetch(
        &self,
        progress: &dyn crate::fetch::Progress,
        stopper: &Stopper,
    ) -> Result<(Vec<DownloadRecord>, Vec<String>)> {
        let (mut records, mut errors) = (Vec::new(), Vec::new());
        let stopped = || stopper.state().signal().is_some();
        for result in self.fetcher.fetch(progress, &stopped) {
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
    ) -> Vec<std::result::Result<Vec<TestCase>, DiscoveryError>> {
        futures::future::join_all(self.sources.iter().map(|source| {
            let whole_source = run.and_then(|(selector, jobs)| {
                let one_batch_per_job =
                    source.mode == ExecutionMode::Batch && source.config.batch_size.is_none();
                (one_batch_per_job && selector.takes_whole(&source.config.name))
                    .then_some(source.jobs(jobs) as u32)
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
    /// The results layout, over the configuration's.
    pub results_layout: Option<Layout>,
    pub filter: Option<Filter>,
    /// What a run that selects no test ends as, over the configuration's.
    pub no_tests: Option<NoTests>,
    /// Where stop requests come from (the signal handlers).
    pub stopper: Stopper,
    /// What Helix's environment says, read where the command started.
    pub helix: HelixEnvironment,
    /// What the run tests and where it runs, for its summary.
    pub context: Option<crate::results::Gathering>,
    /// The results store the run is recorded in as it ends, if any.
    pub store: Option<crate::store::Location>,
    /// Subscribers of the run's events beside the journal, the reports,
    /// the collectors and the console.
    pub subscribers: Vec<Arc<dyn Subscriber>>,
}

/// Where results go: the command line's choice, else Helix's upload root
/// when it is set, else the configuration's. Always absolute: test
/// processes run in directories of their own and are handed paths in it.
fn results_root(options: &RunOptions, config: &Config) -> PathBuf {
    let root = (options.results_dir.clone())
        .or_else(|| options.helix.upload_root.clone())
        .unwrap_or_else(|| config.results_dir.clone());
    std::path::absolute(&root).unwrap_or(root)
}

/// Runs every selected test of every source; the reports are written by
/// the run's subscribers as it ends.
pub async fn run(
    mut session: Session,
    mut options: RunOptions,
    console: Arc<Console>,
) -> Result<RunSummary> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let recording = options.store.take().map(recording::Recording::start);
    let run_id = uuid::Uuid::new_v4().to_string();
    let layout = (options.results_layout)
        .or(session.config.results_layout)
        .unwrap_or_default();
    let results = Arc::new(ResultsDir::prepare(
        &results_root(&options, &session.config),
        layout,
        options.helix.dump_folder.clone(),
    )?);
    let collectors = Arc::new(Collectors::start(
        std::mem::take(&mut session.collectors),
        results.root(),
        console.warnings(),
    ));
    let events = subscribe(&results, &mut options, collectors.clone(), console.clone())?;
    let sources: Vec<&str> = session.sources.iter().map(|s| s.name()).collect();
    let started = RunEvent::RunStarted {
        run_id: &run_id,
        layout_version: layout.version(),
        proctor_version: env!("CARGO_PKG_VERSION"),
        config: &session.config.file,
        sources,
        results_dir: results.root(),
        dumps_dir: results.dumps(),
    };
    events.emit(started).answered().await;
    let stopper = options.stopper.clone();
    let watch_stop = tokio::spawn(announce_stops(
        stopper.subscribe(),
        events.clone(),
        session.config.grace_period,
    ));

    let (downloads, mut errors) = fetch(&session, &events, console.as_ref(), &stopper)?;
    if errors.is_empty() {
        start_sources(&session, &events).await;
    }
    let selector = session.selector(options.filter.as_ref());
    let discovered = discover_sources(&session, &selector, options.jobs, &stopper, &errors).await;
    let (source_records, to_run) = select_discovered(
        &session,
        &selector,
        discovered,
        &events,
        &stopper,
        &mut errors,
    );

    let taken_whole = (session.sources.iter())
        .map(|source| source.name())
        .filter(|name| selector.takes_whole(name))
        .map(str::to_owned);
    let context = Arc::new(
        execute::Context::new(
            results.clone(),
            events.clone(),
            collectors.catches_faults(),
            stopper.clone(),
            (session.config.grace_period, session.config.output),
        )
        .taking_whole(taken_whole),
    );
    let scheduled = schedule::Scheduler::new(
        context,
        (events.clone(), stopper.clone()),
        options.jobs,
        &session.config.retry,
        &selector,
    )
    .run(to_run)
    .await?;
    let stopped_by = stopper.state().signal();
    watch_stop.abort();
    events.emit(RunEvent::SessionFinished).answered().await;
    let ended = Ended {
        run_id,
        started_at,
        duration: clock.elapsed(),
        downloads,
        errors,
        sources: source_records,
        scheduled,
        collected: collectors.finish().await,
        stopped_by,
    };
    let summary = summarize(&session, &mut options, ended, &results);
    results.finish_cleanup();
    finish(&events, summary, recording, results.root(), &stopper).await
}

/// The run's subscribers, in the order they hear each event: the reports
/// first, so that the journal's last line follows them, then the journal,
/// the collectors, the console, and the caller's own.
fn subscribe(
    results: &Arc<ResultsDir>,
    options: &mut RunOptions,
    collectors: Arc<Collectors>,
    console: Arc<Console>,
) -> Result<Arc<Events>> {
    let journal = Journal::create(&results.journal(), results.layout())
        .map_err(|e| Error::infrastructure(format!("cannot create the journal: {e}")))?;
    let mut subscribers: Vec<Arc<dyn Subscriber>> = vec![
        Arc::new(Reports::new(results.clone(), options.helix.clone())),
        Arc::new(journal),
        collectors,
        console,
    ];
    subscribers.append(&mut options.subscribers);
    Ok(Arc::new(Events::new(subscribers)))
}

/// Ends the run with its summary: the subscribers write the reports while
/// the store records the run, and what they could not write fails the run;
/// then the run's end is told, with the exit status the command ends with.
/// A store that could not take the run is a warning in the reports, which
/// are then written again: a rare cost, where one after the other the two
/// kept every run waiting (a 500-test run's reports take 3 ms, its store,
/// opened as the run started, 2).
async fn finish(
    events: &Events,
    summary: RunSummary,
    recording: Option<recording::Recording>,
    results_dir: &Path,
    stopper: &Stopper,
) -> Result<RunSummary> {
    // Database and file work, kept off the runtime's threads.
    let summary = Arc::new(summary);
    let recording = recording
        .map(|recording| recording.start_recording(summary.clone(), results_dir.to_path_buf()));
    let (delivery, unrecorded) = tokio::task::block_in_place(|| {
        let delivery = events.emit(RunEvent::ReportsDue { summary: &summary });
        let unrecorded =
            recording.and_then(|pending| pending.wait(recording::RECORDING_WAIT, stopper));
        (delivery, unrecorded)
    });
    // The summary is shared still only with a store given up on.
    let mut summary = Arc::try_unwrap(summary).unwrap_or_else(|shared| (*shared).clone());
    let mut answer = delivery.answered().await;
    if let Some(warning) = unrecorded {
        summary.run.warnings.push(warning);
        let due = RunEvent::ReportsDue { summary: &summary };
        answer = tokio::task::block_in_place(|| events.emit(due))
            .answered()
            .await;
    }
    let unwritten = (!answer.errors.is_empty()).then(|| answer.errors.join("; "));
    let status = match unwritten {
        None => summary.status(),
        Some(_) => ExitStatus::InfrastructureError,
    };
    events.emit(RunEvent::RunFinished {
        outcome: status.into(),
        exit_code: status.code(),
        summary: &summary,
    });
    match unwritten {
        None => Ok(summary),
        Some(errors) => Err(Error::infrastructure(errors)),
    }
}

/// Downloads the payloads, off the runtime's threads; answers their
/// records and the errors of those that failed.
fn fetch(
    session: &Session,
    events: &Events,
    progress: &dyn crate::fetch::Progress,
    stopper: &Stopper,
) -> Result<(Vec<DownloadRecord>, Vec<String>)> {
    let (downloads, errors) = tokio::task::block_in_place(|| session.fetch(progress, stopper))?;
    for download in &downloads {
        events.emit(RunEvent::Downloaded(download));
    }
    for error in &errors {
        events.emit(RunEvent::DownloadFailed { error });
    }
    Ok((downloads, errors))
}

/// Subscribers hear of each source before its first process (discovery's
/// included) starts, and may answer with variables for its environment.
async fn start_sources(session: &Session, events: &Events) {
    for source in &session.sources {
        let event = RunEvent::SourceStarted {
            source: &source.info,
        };
        let answer = events.emit(event).answered().await;
        let _ = source.collected_env.set(answer.environment);
    }
}

/// Discovers every source, unless a download failed or the run is
/// stopping: then each source keeps why it was not run.
async fn discover_sources(
    session: &Session,
    selector: &Selector<'_>,
    jobs: usize,
    stopper: &Stopper,
    errors: &[String],
) -> Vec<std::result::Result<Vec<TestCase>, DiscoveryError>> {
    let not_run = |why: String| {
        (session.sources.iter())
            .map(|_| Err(DiscoveryError::NotRun(why.clone())))
            .collect()
    };
    match (errors.is_empty(), stopper.state().signal()) {
        (true, None) => {
            session
                .discover_all(Some((selector, jobs.max(1))), stopper)
                .await
        }
        // Without its payload no source can run.
        (false, _) => not_run("a download failed".to_owned()),
        (true, Some(signal)) => not_run(format!("the run was stopped by {signal}")),
    }
}

/// Each source's record, and the selection of those whose discovery
/// succeeded; a failed discovery is an error, unless the stop cut it short.
fn select_discovered(
    session: &Session,
    selector: &Selector<'_>,
    discovered: Vec<std::result::Result<Vec<TestCase>, DiscoveryError>>,
    events: &Events,
    stopper: &Stopper,
    errors: &mut Vec<String>,
) -> (Vec<SourceRecord>, Vec<(Arc<PreparedSource>, Selection)>) {
    let mut records = Vec::new();
    let mut to_run = Vec::new();
    for (source, discovered) in session.sources.iter().zip(discovered) {
        let name = source.name();
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
                let tests = selection.run.len() + selection.skipped.len();
                events.emit(RunEvent::SourceDiscovered {
                    source: name,
                    tests,
                });
                to_run.push((source.clone(), selection));
            }
            // Not run for a failed download or a stop: the cause is the
            // run's error, said once; the source's record keeps why.
            Err(DiscoveryError::NotRun(why)) => {
                record.error = Some(format!("source `{name}`: not run: {why}"));
            }
            Err(error) => {
                // A source the subscribers heard start is finished.
                if source.collected_env.get().is_some() {
                    events.emit(RunEvent::SourceFinished { source: name });
                }
                let error = format!("source `{name}`: discovery failed: {error}");
                events.emit(RunEvent::SourceFailed {
                    source: name,
                    error: &error,
                });
                record.error = Some(error.clone());
                if stopper.state().signal().is_none() {
                    errors.push(error);
                }
            }
        }
        records.push(record);
    }
    (records, to_run)
}

/// What a run came to, before its summary.
struct Ended {
    run_id: String,
    started_at: chrono::DateTime<chrono::Utc>,
    duration: std::time::Duration,
    downloads: Vec<DownloadRecord>,
    errors: Vec<String>,
    sources: Vec<SourceRecord>,
    scheduled: schedule::Scheduled,
    collected: crate::collect::Collected,
    stopped_by: Option<crate::process::Signal>,
}

/// The run's summary: its records in source order, its counts, findings
/// and exit status.
fn summarize(
    session: &Session,
    options: &mut RunOptions,
    ended: Ended,
    results: &ResultsDir,
) -> RunSummary {
    let Ended {
        scheduled,
        mut errors,
        mut sources,
        ..
    } = ended;
    let mut records = scheduled.records;
    // Expanding cases are known by their tests only now.
    for source in &mut sources {
        source.tests = records.iter().filter(|t| *t.source == source.name).count();
    }
    // Reports list tests in source order, whatever order they finished in.
    let order: std::collections::HashMap<&str, usize> = (session.sources.iter())
        .enumerate()
        .map(|(i, s)| (s.name(), i))
        .collect();
    // Sources are looked up only to order tests of two sources: hashing
    // both names at every comparison was most of a 500-test run's summary.
    records.sort_by(|a, b| match a.source == b.source {
        true => a.id.cmp(&b.id),
        false => (order[&*a.source], &a.id).cmp(&(order[&*b.source], &b.id)),
    });
    let counts = Counts::of(&records);
    let run_policy = (options.no_tests)
        .or(session.config.no_tests)
        .unwrap_or(NoTests::Fail);
    let policies: Vec<Option<NoTests>> =
        session.sources.iter().map(|s| s.config.no_tests).collect();
    let (no_tests, mut warnings) = no_tests_findings(run_policy, &sources, &policies, &records);
    warnings.extend(scheduled.warnings);
    errors.extend(scheduled.errors);
    errors.extend(ended.collected.errors());
    let (errors, warnings) = (once_each(errors), once_each(warnings));
    let status = exit_status(&counts, &errors, no_tests, ended.stopped_by);
    let flaky = (records.iter().filter(|t| t.flaky))
        .map(|t| format!("{}/{}", t.source, t.id))
        .collect();
    RunSummary {
        run: RunOverview {
            run_id: ended.run_id,
            context: options.context.take().map(crate::results::Gathering::wait),
            layout_version: results.layout().version(),
            proctor_version: env!("CARGO_PKG_VERSION").to_owned(),
            outcome: status.into(),
            exit_code: status.code(),
            started_at: crate::results::timestamp(ended.started_at),
            duration_ms: ended.duration.as_millis() as u64,
            counts,
            filtered_out: scheduled.filtered_out,
            downloads: ended.downloads,
            collectors: ended.collected.collectors,
            attachments: ended.collected.attachments,
            timeline: ended.collected.timeline,
            sources,
            errors,
            warnings,
            stopped_by: ended.stopped_by,
            containment: crate::process::containment(),
            retries: scheduled.retries,
            dumps_dir: results.dumps().display().to_string(),
            flaky,
        },
        tests: records,
    }
}

/// Announces each stop request as it comes.
async fn announce_stops(
    mut stop: crate::process::StopReceiver,
    events: Arc<Events>,
    grace: std::time::Duration,
) {
    use crate::process::Stop;
    loop {
        let (signal, at_once) = match stop.changed().await {
            Stop::Running => continue,
            Stop::Gracefully(signal) => (signal, false),
            Stop::Now(signal) => (signal, true),
        };
        events.emit(RunEvent::StopRequested {
            signal,
            at_once,
            grace,
        });
    }
}

/// `messages` with each said once, where first said: the processes of one
/// source often fail alike (every share of a suite whose framework is
/// missing), and a person reads one cause once.
fn once_each(messages: Vec<String>) -> Vec<String> {
    let mut times: Vec<(String, usize)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for message in messages {
        match index.get(&message) {
            Some(&i) => times[i].1 += 1,
            None => {
                index.insert(message.clone(), times.len());
                times.push((message, 1));
            }
        }
    }
    times
        .into_iter()
        .map(|(message, times)| match times {
            1 => message,
            n => format!("{message}\n(said {n} times)"),
        })
        .collect()
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
            *selected.entry(&*record.source).or_default() += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_said_by_many_processes_is_kept_once_with_how_often() {
        let said = ["b", "a", "b", "c", "b"].map(str::to_owned).to_vec();
        assert_eq!(once_each(said), ["b\n(said 3 times)", "a", "c"]);
    }
}
