//! What a person watching the run sees: a progress bar on a terminal, plain
//! lines otherwise, and a closing summary. Everything goes to stderr.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use proctor_formats::text::for_terminal;
use proctor_plugin_api::messages::Outcome;

use super::batched::Batched;
use super::closing::{label, labelled, seconds, test_details};
use crate::events::{Delivery, RunEvent, Subscriber};
use crate::fetch::{DownloadProgress, Progress};
use crate::results::{AttemptRecord, RunSummary, TestRecord};

/// When a test's message and the end of its output are shown, as
/// nextest's `--failure-output` and `--success-output` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputShown {
    /// Under the test's line, as it ends.
    Immediate,
    /// In the closing summary.
    Final,
    /// Both.
    ImmediateFinal,
    /// Not on the console: the results have them.
    Never,
}

impl OutputShown {
    fn immediate(self) -> bool {
        matches!(self, Self::Immediate | Self::ImmediateFinal)
    }

    fn in_closing(self) -> bool {
        matches!(self, Self::Final | Self::ImmediateFinal)
    }
}

/// Whose message and output the console shows, and when: by default a
/// failing test's as it fails, a passing test's never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShownOutput {
    pub failures: OutputShown,
    pub successes: OutputShown,
}

impl Default for ShownOutput {
    fn default() -> Self {
        Self {
            failures: OutputShown::Immediate,
            successes: OutputShown::Never,
        }
    }
}

impl ShownOutput {
    /// When `test`'s output is shown; `None` for a test neither passed nor failed.
    fn of(self, test: &TestRecord) -> Option<OutputShown> {
        match test.outcome {
            outcome if outcome.is_failure() => Some(self.failures),
            Outcome::Passed => Some(self.successes),
            _ => None,
        }
    }
}

/// Lines go out whole. Without a terminal, a source's lines are held while
/// other sources run and printed as one block, so parallel sources never
/// interleave; the one source left running prints as it goes.
pub struct Console {
    /// On a terminal: the bars drawn together, the tests' and each download's.
    bars: Option<MultiProgress>,
    bar: Option<ProgressBar>,
    sources: Mutex<Sources>,
    /// On a terminal: tests whose first attempt reported an end, live or
    /// at their process's end, and tests finished. The bar shows the
    /// greater: a batch's tests advance it as they end, not when their
    /// process does, and a test that never ran still counts once finished.
    reported: AtomicU64,
    finished: AtomicU64,
    /// On a terminal: the tests each expanding case is known to hold so
    /// far, by source and case, until it expanded for good.
    cases: Mutex<HashMap<(String, String), usize>>,
    /// Lines made but not yet written, without a terminal: per-test lines
    /// wait for the engine's next pause and go out in one write.
    held: Batched<std::io::Stderr>,
    shown: ShownOutput,
    /// The run's results directory, once it started: where failures'
    /// output is read from, and what the closing summary points to.
    results: OnceLock<PathBuf>,
}

#[derive(Default)]
struct Sources {
    /// Running sources and the lines each holds back.
    running: HashMap<String, Vec<String>>,
}

impl Default for Console {
    fn default() -> Self {
        Self::new(ShownOutput::default())
    }
}

impl Console {
    pub fn new(shown: ShownOutput) -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        // The tests' bar joins the others when the first source starts, so
        // that downloads before it are not shown beside an empty bar.
        let bar = bars.as_ref().map(|_| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise:.dim} [{bar:40.cyan/blue}] {pos}/{len} {msg}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bars,
            bar,
            sources: Mutex::default(),
            reported: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            cases: Mutex::default(),
            held: Batched::new(std::io::stderr(), "stderr"),
            shown,
            results: OnceLock::new(),
        }
    }

    /// Writes a line. Whatever a test printed may be in it: no control
    /// character but line breaks and tabs reaches the terminal.
    fn line(&self, text: &str) {
        let text = for_terminal(text, true);
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => {
                self.held.hold(|bytes| {
                    bytes.extend_from_slice(text.as_bytes());
                    bytes.push(b'\n');
                });
            }
        }
    }

    /// Writes the held lines with one write: stderr is unbuffered.
    fn write_out(&self) {
        self.held.write_out();
    }
}

impl Progress for Console {
    /// A download begins: a bar of its own on a terminal, a line otherwise.
    fn download_started(&self, label: &str) -> Box<dyn DownloadProgress + '_> {
        let bar = match &self.bars {
            Some(bars) => {
                let bar = bars.insert(0, ProgressBar::no_length());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                    )
                    .expect("the template is valid")
                    .progress_chars("=> "),
                );
                bar.set_prefix(label.to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                Some(bar)
            }
            None => {
                self.note(&labelled("FETCH", label));
                None
            }
        };
        Box::new(DownloadBar {
            console: self,
            bar,
            label: label.to_owned(),
            started: std::time::Instant::now(),
        })
    }
}

impl Console {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A line that belongs to `source`.
    fn source_line(&self, source: &str, text: String) {
        if self.bar.is_none() {
            let mut sources = self.lock();
            let alone = sources.running.len() <= 1;
            if let Some(held) = sources.running.get_mut(source).filter(|_| !alone) {
                held.push(text);
                return;
            }
        }
        self.line(&text);
    }

    fn source_started(&self, source: &str, tests: usize) {
        if let (Some(bars), Some(bar)) = (&self.bars, &self.bar) {
            if bar.is_hidden() {
                bars.add(bar.clone());
            }
            bar.inc_length(tests as u64);
        }
        self.lock().running.insert(source.to_owned(), Vec::new());
    }

    /// An expanding case is `tests` tests so far (`last`: for good). The
    /// bar counted it as one until its process reported tests.
    fn expanding(&self, source: &str, case: &str, tests: usize, last: bool) {
        let Some(bar) = &self.bar else {
            return;
        };
        let key = (source.to_owned(), case.to_owned());
        let mut cases = self.cases.lock().unwrap_or_else(|p| p.into_inner());
        let counted = match last {
            true => cases.remove(&key),
            false => cases.insert(key, tests),
        };
        let length = bar.length().unwrap_or(0) + tests as u64;
        bar.set_length(length.saturating_sub(counted.unwrap_or(1) as u64));
    }

    fn source_finished(&self, source: &str) {
        let mut sources = self.lock();
        // A source whose discovery failed never started here.
        let Some(mut held) = sources.running.remove(source) else {
            return;
        };
        // The last source left prints what it held and then as it goes.
        if sources.running.len() == 1 {
            held.extend(sources.running.values_mut().flat_map(std::mem::take));
        }
        for line in held {
            self.line(&line);
        }
    }

    /// An attempt failed and the test runs again.
    fn retrying(&self, source: &str, test: &str, attempt: &AttemptRecord) {
        let why = attempt
            .message
            .as_deref()
            .and_then(|m| m.lines().next())
            .unwrap_or(attempt.outcome.as_str());
        self.source_line(
            source,
            labelled(
                "RETRY",
                format_args!(
                    "{source} {} (attempt {} {}: {})",
                    for_terminal(test, false),
                    attempt.attempt,
                    attempt.outcome.as_str(),
                    for_terminal(why, false),
                ),
            ),
        );
    }

    pub fn note(&self, text: &str) {
        self.line(text);
        self.write_out();
    }

    /// Where the collectors' warnings go: a `WARN` line each.
    pub fn warnings(self: &Arc<Self>) -> crate::collect::Warn {
        let console = self.clone();
        Box::new(move |warning| console.note(&labelled("WARN", warning)))
    }

    /// A test's end as its process reported it: the bar advances.
    fn reported(&self, test: &str, attempt: u32) {
        if let (Some(bar), 1) = (&self.bar, attempt) {
            self.reported.fetch_add(1, Ordering::Relaxed);
            self.advance(bar);
            bar.set_message(test.to_owned());
        }
    }

    fn advance(&self, bar: &ProgressBar) {
        let done =
            (self.reported.load(Ordering::Relaxed)).max(self.finished.load(Ordering::Relaxed));
        bar.set_position(done.min(bar.length().unwrap_or(done)));
    }

    fn finished(&self, test: &TestRecord) {
        // What a stopped run never started is counted in the summary, not
        // listed: it may be most of the suite.
        let never_started = test.outcome == Outcome::NotRun && test.attempts.is_empty();
        if let Some(bar) = &self.bar {
            self.finished.fetch_add(1, Ordering::Relaxed);
            self.advance(bar);
            // On a terminal only what needs attention scrolls by.
            let asked = self.shown.of(test).is_some_and(OutputShown::immediate);
            if matches!(test.outcome, Outcome::Passed | Outcome::Skipped) && !test.flaky && !asked {
                return;
            }
        }
        if never_started {
            return;
        }
        let mut text = labelled(
            label(test),
            format_args!(
                "[{}s] {} {}",
                seconds(test.duration_ms),
                test.source,
                for_terminal(&test.id, false)
            ),
        );
        if test.attempts.len() > 1 {
            text.push_str(&format!(" (after {} attempts)", test.attempts.len()));
        }
        // Read from the results only when shown: a run may hold many
        // thousand tests.
        let root = (self.results.get())
            .filter(|_| self.shown.of(test).is_some_and(OutputShown::immediate));
        if let Some(root) = root {
            let details = test_details(test, root);
            if !details.is_empty() {
                text.push('\n');
                text.push_str(details.trim_end());
            }
        }
        self.source_line(&test.source, text);
    }

    fn summary(&self, summary: &RunSummary) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        // One write, with whatever was held before it.
        let root = self.results.get();
        let details = root.map(|root| super::closing::Details {
            root,
            failures: self.shown.failures.in_closing(),
            successes: self.shown.successes.in_closing(),
        });
        let mut closing = super::closing::render(summary, details);
        if let Some(root) = root {
            closing.push_str(&labelled("RESULTS", root.display()));
            closing.push('\n');
        }
        self.held
            .write_with(|bytes| bytes.extend_from_slice(closing.as_bytes()));
    }
}

impl Subscriber for Console {
    fn on_event(&self, event: &RunEvent<'_>, _: &mut Delivery) {
        match *event {
            RunEvent::RunStarted { results_dir, .. } => {
                let _ = self.results.set(results_dir.to_path_buf());
            }
            RunEvent::SourceDiscovered { source, tests } => self.source_started(source, tests),
            RunEvent::CaseExpanding {
                source,
                case,
                tests,
            } => self.expanding(source, case, tests, false),
            RunEvent::SourceExpanded {
                source,
                case,
                tests,
            } => self.expanding(source, case, tests, true),
            RunEvent::SourceFailed { error, .. } => self.note(&labelled("ERROR", error)),
            RunEvent::SourceFinished { source } => self.source_finished(source),
            RunEvent::AttemptFinished {
                source,
                test,
                record,
                retrying: true,
            } => self.retrying(source, test, record),
            RunEvent::TestReported { test, attempt, .. } => self.reported(test, attempt),
            RunEvent::TestFinished(record) => self.finished(record),
            RunEvent::RetriesWithheld { reason } => self.note(&labelled("NOTE", reason)),
            RunEvent::StopRequested {
                signal,
                at_once,
                grace,
            } => self.note(&labelled(
                "STOP",
                match at_once {
                    false => format!(
                        "{signal}: no test starts any more; running tests get {grace:?} \
                         to end, then are killed (a second signal kills them at once)"
                    ),
                    true => "a second signal: killing running tests now".to_owned(),
                },
            )),
            RunEvent::RunFinished { summary, .. } => self.summary(summary),
            _ => {}
        }
    }

    fn flush(&self) {
        self.write_out();
    }
}

/// One download's progress, fed by its plugin's progress reports.
pub struct DownloadBar<'a> {
    console: &'a Console,
    bar: Option<ProgressBar>,
    label: String,
    started: std::time::Instant,
}

impl DownloadProgress for DownloadBar<'_> {
    fn update(&self, done: u64, total: Option<u64>) {
        if let Some(bar) = &self.bar {
            if bar.length() != total {
                match total {
                    Some(total) => bar.set_length(total),
                    None => bar.unset_length(),
                }
            }
            bar.set_position(done);
        }
    }

    fn fetched(self: Box<Self>, bytes: u64, detail: &str) {
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = HumanBytes((bytes as f64 / seconds.max(1e-3)) as u64);
        let text = format!(
            "{} {} in {seconds:.2}s ({rate}/s){detail}",
            self.label,
            HumanBytes(bytes)
        );
        (*self).end("FETCHED", &text);
    }

    fn reused(self: Box<Self>, detail: &str) {
        let text = format!("{}{detail}", self.label);
        (*self).end("REUSED", &text);
    }

    fn failed(self: Box<Self>) {
        let text = self.label.clone();
        (*self).end("FAILED", &text);
    }
}

impl DownloadBar<'_> {
    fn end(self, label: &str, text: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.console.note(&labelled(label, text));
    }
}
