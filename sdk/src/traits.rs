use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::messages::*;
use crate::Result;

/// Runs the tests of one kind of source. It describes commands and parses
/// what they print; the host spawns, supervises, retries and kills.
pub trait Runner: Send + Sync + Sized + 'static {
    /// The plugin's name: what a configuration names it by, unique among
    /// plugins of its kind.
    const NAME: &'static str;
    /// One line for `proctor plugins`.
    const DESCRIPTION: &'static str;
    /// The plugin's settings block. An absent block deserializes from `{}`.
    type Settings: DeserializeOwned;

    /// Since 1.2: the execution modes it supports, the preferred one first.
    const EXECUTION: &'static [ExecutionMode] = &[ExecutionMode::Isolated];
    /// Since 1.2: whether `parse_output` reads started/finished events.
    const LIVE_EVENTS: bool = false;
    /// Since 1.8: the streams `parse_output` reads; it is handed no other.
    const LIVE_STREAMS: &'static [Stream] = &Stream::ALL;
    /// Since 1.9: whether `collect_results`, after an expanding case, reads
    /// the tests the case's live events discovered. Say `false` when it
    /// does not: the host then sends the case alone, not a copy of every test.
    const COLLECT_DISCOVERED: bool = true;

    /// Creates the plugin from its settings; refuse settings that cannot
    /// work with [`Error::invalid_settings`](crate::Error::invalid_settings).
    fn new(settings: Self::Settings) -> Result<Self>;

    /// Facts for the manifest, read before any instance exists. The default
    /// declares [`Self::EXECUTION`], [`Self::LIVE_EVENTS`],
    /// [`Self::LIVE_STREAMS`] and [`Self::COLLECT_DISCOVERED`].
    fn capabilities() -> Value {
        let capabilities = RunnerCapabilities {
            execution: Self::EXECUTION.to_vec(),
            live_events: Self::LIVE_EVENTS,
            live_streams: Self::LIVE_STREAMS.to_vec(),
            collect_discovered: Self::COLLECT_DISCOVERED,
        };
        serde_json::to_value(capabilities).expect("capabilities serialize")
    }

    /// One step of discovery: commands to run, or the tests found.
    fn discover(&self, request: DiscoverRequest) -> Result<DiscoveryStep>;

    /// The command that runs `request.tests` in one process.
    fn plan_execution(&self, request: ExecutionRequest) -> Result<ExecutionPlan>;

    /// Live events read from lines a running process printed. Called for
    /// every few lines, where the host reads them: answer from the lines
    /// alone and at once, without I/O or waiting, or supervision waits too.
    fn parse_output(&self, _request: OutputRequest) -> Result<Vec<LiveEvent>> {
        Ok(Vec::new())
    }

    /// The results of a finished process, one per test it was given when known.
    fn collect_results(&self, request: CollectRequest) -> Result<Vec<TestResult>>;

    /// Since SDK 1.16: the same results, each handed to `results` as it is
    /// read; this is what the host calls. The default hands on what
    /// [`Self::collect_results`] answers. A runner that reads many results
    /// (a file of ten thousand) implements this instead, and has
    /// `collect_results` gather them into a `Vec`: the host's answer is then
    /// written result by result, and no list of them all is held. In
    /// process, the plugin's memory is the host's.
    fn stream_results(&self, request: CollectRequest, results: &mut dyn ResultSink) -> Result<()> {
        for result in self.collect_results(request)? {
            results.push(result);
        }
        Ok(())
    }
}

/// Where [`Runner::stream_results`] puts the results it reads: the host's
/// answer, written as they come, or a `Vec` that gathers them.
pub trait ResultSink {
    /// Takes one result.
    fn push(&mut self, result: TestResult);
}

impl ResultSink for Vec<TestResult> {
    fn push(&mut self, result: TestResult) {
        Vec::push(self, result);
    }
}

/// Fetches URIs of some schemes into local files.
pub trait Downloader: Send + Sync + Sized + 'static {
    /// The plugin's name: what a configuration names it by, unique among
    /// plugins of its kind.
    const NAME: &'static str;
    /// One line for `proctor plugins`.
    const DESCRIPTION: &'static str;
    /// The URI schemes this downloader serves, e.g. `["http", "https"]`.
    const SCHEMES: &'static [&'static str];
    /// The plugin's settings block. An absent block deserializes from `{}`.
    type Settings: DeserializeOwned;

    /// Creates the plugin from its settings; refuse settings that cannot
    /// work with [`Error::invalid_settings`](crate::Error::invalid_settings).
    fn new(settings: Self::Settings) -> Result<Self>;

    /// Writes `request.uri` to `request.destination`, reporting progress in bytes.
    fn download(&self, request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse>;
}

/// Acts at lifecycle events: sets environment variables, produces attachments.
pub trait Collector: Send + Sync + Sized + 'static {
    /// The plugin's name: what a configuration names it by, unique among
    /// plugins of its kind.
    const NAME: &'static str;
    /// One line for `proctor plugins`.
    const DESCRIPTION: &'static str;
    /// Whether test processes are to be caught at a crash signal, for
    /// `ProcessFaulted` (since 1.5). It costs every test process a stop at
    /// each signal and thread it creates, so only dumpers ask.
    const CATCHES_FAULTS: bool = false;
    /// The plugin's settings block. An absent block deserializes from `{}`.
    type Settings: DeserializeOwned;

    /// Creates the plugin from its settings; refuse settings that cannot
    /// work with [`Error::invalid_settings`](crate::Error::invalid_settings).
    fn new(settings: Self::Settings) -> Result<Self>;

    /// Acts at one event of the run; events it does not know arrive as
    /// `Unknown` and are best answered with a default response.
    fn on_event(&self, event: LifecycleEvent) -> Result<CollectorResponse>;
}

/// Turns many attachments of some kinds into fewer.
pub trait AttachmentProcessor: Send + Sync + Sized + 'static {
    /// The plugin's name: what a configuration names it by, unique among
    /// plugins of its kind.
    const NAME: &'static str;
    /// One line for `proctor plugins`.
    const DESCRIPTION: &'static str;
    /// The attachment kinds (URIs) this processor takes.
    const KINDS: &'static [&'static str];
    /// Whether it can merge a partial set while other sources still run.
    const INCREMENTAL: bool;
    /// The plugin's settings block. An absent block deserializes from `{}`.
    type Settings: DeserializeOwned;

    /// Creates the plugin from its settings; refuse settings that cannot
    /// work with [`Error::invalid_settings`](crate::Error::invalid_settings).
    fn new(settings: Self::Settings) -> Result<Self>;

    /// Turns the attachments of `request` into fewer, reporting progress.
    fn process(&self, request: ProcessRequest, progress: &Progress) -> Result<ProcessResponse>;
}

/// Reports progress to the host.
pub struct Progress<'a> {
    pub(crate) sink: proctor_plugin_api::abi::ProgressSink<'a>,
}

impl Progress<'_> {
    /// Reports `done` units of `total`. Returns `false` when the host asks the
    /// plugin to stop: return early then.
    pub fn report(&self, done: u64, total: Option<u64>) -> bool {
        (self.sink.report)(self.sink.context, done, total.unwrap_or(u64::MAX))
    }

    /// Waits until `step` answers, hearing the host all the while: `step`
    /// is given at most a tenth of a second at a time to wait in, and
    /// `done()` of `total` is reported before each. Answers `None` once the
    /// host answers that the plugin is to stop. For a plugin waiting on
    /// anything that may not answer (a backoff, a peer, a thread).
    pub fn wait_hearing_the_host<T>(
        &self,
        done: impl Fn() -> u64,
        total: Option<u64>,
        mut step: impl FnMut(Duration) -> Option<T>,
    ) -> Option<T> {
        loop {
            if !self.report(done(), total) {
                return None;
            }
            if let Some(answer) = step(HEARING_INTERVAL) {
                return Some(answer);
            }
        }
    }
}

/// The longest a plugin waiting through [`Progress::wait_hearing_the_host`]
/// goes without asking the host whether to go on.
const HEARING_INTERVAL: Duration = Duration::from_millis(100);
