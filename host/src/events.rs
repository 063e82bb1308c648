//! The run as one stream of typed events.
//!
//! The engine (`run`) says what happens and nothing else: it never writes
//! a report, prints a line or calls a collector itself. Each of those is a
//! [`Subscriber`] of the stream: the journal, the console, the collectors'
//! dispatcher, the report writers, and whatever a caller adds to the run's
//! options. Adding one touches no engine code.
//!
//! Design:
//! - **Borrowed events, delivered in place.** [`Events::emit`] calls every
//!   subscriber on the emitting task, in the order they subscribed, with a
//!   [`RunEvent`] that borrows from the engine: an event costs no
//!   allocation unless a subscriber keeps something of it. Subscribers must
//!   not block: one that has slow work (the collectors' plugin calls) hands
//!   it to a thread of its own.
//! - **One order for all.** Emitting is serialized, so every subscriber
//!   sees the same events in the same order, and the journal, which writes
//!   each as it comes, is the durable, ordered record of the stream.
//! - **Answers where the engine waits.** Some events hold the engine until
//!   subscribers have handled them ([`RunEvent::awaited`]): a source's
//!   environment before its processes start, a hung or faulted process
//!   looked at before it is killed or let go, the reports written before
//!   the run's end is told. A subscriber answers through the [`Delivery`], now or
//!   later; the engine awaits [`Delivery::answered`] only where it needs to.
//! - **Per-test events are written in batches.** A subscriber that writes
//!   (the journal, the console) may hold what it makes of an event until
//!   [`Subscriber::flush`]. The stream flushes every subscriber after any
//!   event but the per-test ones ([`RunEvent::per_test`]), and the engine
//!   calls [`Events::flush`] before it waits for a process, a job or a
//!   retry's delay: a batch that reports a thousand tests in one read
//!   costs one write, not a thousand. A host killed outright loses at most
//!   what it read since it last waited.
//! - **The journal's shape is the event's.** Serialized, a journaled event
//!   is its journal line in results layout 1 (docs/results-layout.md);
//!   fields only subscribers in the process need are skipped, and events
//!   that are not journaled say so in [`RunEvent::journaled`]. Layout 2
//!   writes a test's records its own way (`results::layout2`), and every
//!   other event as layout 1 does.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proctor_plugin_api::messages::{Outcome, SourceInfo};
use schemars::JsonSchema;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::process::{Fault, Signal};
use crate::results::{AttemptRecord, DownloadRecord, RunOutcome, RunSummary, TestRecord};

/// Something that happened in a run, from its start to its reports.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent<'a> {
    /// The results directory is ready; nothing has been fetched or run.
    RunStarted {
        /// The run's identity, as its summary gives it (added).
        run_id: &'a str,
        layout_version: u32,
        proctor_version: &'a str,
        config: &'a Path,
        sources: Vec<&'a str>,
        #[serde(skip)]
        results_dir: &'a Path,
        #[serde(skip)]
        dumps_dir: &'a Path,
    },
    /// A download is in place, before discovery.
    Downloaded(&'a DownloadRecord),
    DownloadFailed {
        error: &'a str,
    },
    /// A source's first process (discovery's included) is about to start;
    /// subscribers may answer with variables for its processes.
    #[schemars(skip)]
    SourceStarted {
        #[serde(skip)]
        source: &'a SourceInfo,
    },
    SourceDiscovered {
        source: &'a str,
        tests: usize,
    },
    /// An expanding case's process has reported this many tests so far,
    /// while it runs; `source_expanded` gives the final number.
    #[schemars(skip)]
    CaseExpanding {
        source: &'a str,
        case: &'a str,
        tests: usize,
    },
    /// An expanding case's process reported these tests, which take its place.
    SourceExpanded {
        source: &'a str,
        case: &'a str,
        tests: usize,
    },
    SourceFailed {
        source: &'a str,
        error: &'a str,
    },
    /// Every test of a source has its final result.
    #[schemars(skip)]
    SourceFinished {
        source: &'a str,
    },
    ProcessLaunched {
        source: &'a str,
        pid: u32,
        attempt: u32,
        tests: &'a [&'a str],
    },
    TestStarted {
        source: &'a str,
        test: &'a str,
        attempt: u32,
        #[serde(skip)]
        pid: Option<u32>,
    },
    /// A test ended, as the live output reported it or, failing that, as
    /// its process's end showed; `attempt_finished` follows with the record.
    TestReported {
        source: &'a str,
        test: &'a str,
        attempt: u32,
        outcome: Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
        #[serde(skip)]
        pid: Option<u32>,
        /// Reported live by a process running several tests, before it
        /// ended: journaled, so that a host killed mid-batch keeps it.
        #[serde(skip)]
        live_in_batch: bool,
    },
    /// A thread of a test process is about to receive a crash signal; the
    /// process is held stopped until subscribers answered.
    ProcessFaulted {
        source: &'a str,
        #[serde(flatten)]
        fault: &'a Fault,
    },
    /// A process ran past a limit; its tree is killed once subscribers answered.
    HangDetected {
        source: &'a str,
        pid: u32,
        process_tree: &'a [u32],
        reason: &'a str,
    },
    /// A process ended before its tests did, by a signal or by exiting
    /// while a test ran, and not because the host ended it.
    #[schemars(skip)]
    ProcessCrashed {
        source: &'a str,
        pid: u32,
        signal: Option<i32>,
    },
    /// A process ended and its tests' results were read.
    #[schemars(skip)]
    ProcessFinished {
        source: &'a str,
        pid: u32,
        attempt: u32,
    },
    AttemptFinished {
        source: &'a str,
        test: &'a str,
        #[serde(flatten)]
        record: &'a AttemptRecord,
        /// The test runs again: this attempt is not its last.
        #[serde(skip)]
        retrying: bool,
    },
    /// A test's final result: no attempt follows.
    TestFinished(&'a TestRecord),
    RetriesWithheld {
        reason: &'a str,
    },
    /// A signal asked the run to stop: gracefully first, then at once.
    StopRequested {
        signal: Signal,
        at_once: bool,
        /// How long running tests have to end after a graceful request.
        #[serde(skip)]
        grace: Duration,
    },
    /// Every test is done; what subscribers made of the run is due.
    #[schemars(skip)]
    SessionFinished,
    /// The summary is made; the reports are written from it, and
    /// subscribers answer what they could not write. Comes a second time,
    /// the summary with one more warning, when the results store refused
    /// the run (it records the run while the reports are written).
    #[schemars(skip)]
    ReportsDue {
        #[serde(skip)]
        summary: &'a RunSummary,
    },
    /// The run is over, with the exit status the command ends with: the
    /// summary's, unless a report could not be written.
    RunFinished {
        outcome: RunOutcome,
        exit_code: u8,
        #[serde(skip)]
        summary: &'a RunSummary,
    },
}

impl RunEvent<'_> {
    /// Whether the journal keeps the event. Those it does not are for
    /// subscribers in the process only, or, for a test's end, have their
    /// record in `attempt_finished` right after.
    pub fn journaled(&self) -> bool {
        match self {
            RunEvent::SourceStarted { .. }
            | RunEvent::CaseExpanding { .. }
            | RunEvent::SourceFinished { .. }
            | RunEvent::ProcessCrashed { .. }
            | RunEvent::ProcessFinished { .. }
            | RunEvent::SessionFinished
            | RunEvent::ReportsDue { .. } => false,
            RunEvent::TestReported { live_in_batch, .. } => *live_in_batch,
            _ => true,
        }
    }

    /// Whether the event comes once per test or attempt: a subscriber may
    /// hold it until [`Events::flush`].
    pub fn per_test(&self) -> bool {
        matches!(
            self,
            RunEvent::TestStarted { .. }
                | RunEvent::TestReported { .. }
                | RunEvent::AttemptFinished { .. }
                | RunEvent::TestFinished(..)
        )
    }

    /// Whether the engine waits for subscribers' answers before it goes on.
    pub fn awaited(&self) -> bool {
        matches!(
            self,
            RunEvent::RunStarted { .. }
                | RunEvent::SourceStarted { .. }
                | RunEvent::ProcessFaulted { .. }
                | RunEvent::HangDetected { .. }
                | RunEvent::SessionFinished
                | RunEvent::ReportsDue { .. }
        )
    }
}

/// Variables for a source's processes, by name.
pub type Environment = BTreeMap<String, String>;

/// What subscribers answered an event.
#[derive(Debug, Default)]
pub struct Answer {
    /// For [`RunEvent::SourceStarted`]: variables for the source's
    /// processes; the first subscriber to name a variable sets it.
    pub environment: Environment,
    /// What a subscriber could not do with the event (a report it could
    /// not write); the engine decides what it means for the run.
    pub errors: Vec<String>,
}

impl Answer {
    fn merge(&mut self, other: Answer) {
        for (key, value) in other.environment {
            self.environment.entry(key).or_insert(value);
        }
        self.errors.extend(other.errors);
    }
}

/// One event's way to its subscribers, and their answers coming back.
#[derive(Debug, Default)]
pub struct Delivery {
    now: Answer,
    later: Vec<oneshot::Receiver<Answer>>,
}

impl Delivery {
    /// Answers now.
    pub fn answer(&mut self, answer: Answer) {
        self.now.merge(answer);
    }

    /// Answers later, through the sender returned; a sender dropped
    /// unanswered answers nothing.
    pub fn answer_later(&mut self) -> oneshot::Sender<Answer> {
        let (sender, receiver) = oneshot::channel();
        self.later.push(receiver);
        sender
    }

    /// Every subscriber's answer, once all have answered.
    pub async fn answered(self) -> Answer {
        let mut answer = self.now;
        for later in self.later {
            answer.merge(later.await.unwrap_or_default());
        }
        answer
    }
}

/// Takes a run's events as they happen.
pub trait Subscriber: Send + Sync {
    /// Called once per event, in the run's order, on the engine's task:
    /// must not block. Answers, if any, go through `delivery`.
    fn on_event(&self, event: &RunEvent<'_>, delivery: &mut Delivery);

    /// Writes out what it held: an event that is not per test came, or
    /// the engine is about to wait.
    fn flush(&self) {}
}

/// The stream: every event to every subscriber, in one order.
#[derive(Default)]
pub struct Events {
    subscribers: Vec<Arc<dyn Subscriber>>,
    /// Held while an event goes round, so that events never pass each other.
    order: Mutex<()>,
}

impl Events {
    /// A stream to `subscribers`, called in this order for each event.
    pub fn new(subscribers: Vec<Arc<dyn Subscriber>>) -> Self {
        Self {
            subscribers,
            order: Mutex::new(()),
        }
    }

    /// Hands `event` to every subscriber; answers how to await their answers.
    pub fn emit(&self, event: RunEvent<'_>) -> Delivery {
        let mut delivery = Delivery::default();
        let _order = self.lock_order();
        for subscriber in &self.subscribers {
            subscriber.on_event(&event, &mut delivery);
        }
        // Only per-test events wait for the engine's pause; this one goes
        // out now, after what was held before it.
        if !event.per_test() {
            self.flush_subscribers();
        }
        delivery
    }

    /// Lets every subscriber write out what it held: called by the engine
    /// before it waits, so nothing it emitted stays held while nothing happens.
    pub fn flush(&self) {
        let _order = self.lock_order();
        self.flush_subscribers();
    }

    fn lock_order(&self) -> std::sync::MutexGuard<'_, ()> {
        self.order.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn flush_subscribers(&self) {
        for subscriber in &self.subscribers {
            subscriber.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the names of the events it saw; answers `SourceStarted` with
    /// its variable, now or from a thread.
    struct Recorder {
        seen: Mutex<Vec<String>>,
        variable: (&'static str, &'static str),
        later: bool,
    }

    impl Recorder {
        fn new(variable: (&'static str, &'static str), later: bool) -> Arc<Self> {
            Arc::new(Self {
                seen: Mutex::default(),
                variable,
                later,
            })
        }
    }

    impl Subscriber for Recorder {
        fn on_event(&self, event: &RunEvent<'_>, delivery: &mut Delivery) {
            let name = serde_json::to_value(event).unwrap()["event"].to_string();
            self.seen.lock().unwrap().push(name);
            if let RunEvent::SourceStarted { .. } = event {
                let (key, value) = self.variable;
                let answer = Answer {
                    environment: [(key.to_owned(), value.to_owned())].into(),
                    errors: vec![format!("{key} answered")],
                };
                match self.later {
                    false => delivery.answer(answer),
                    true => {
                        let sender = delivery.answer_later();
                        std::thread::spawn(move || sender.send(answer));
                    }
                }
            }
        }
    }

    fn source() -> SourceInfo {
        SourceInfo {
            name: "unit".into(),
            path: "tests".into(),
            base_dir: ".".into(),
        }
    }

    #[tokio::test]
    async fn every_subscriber_sees_every_event_in_the_order_emitted() {
        let (first, second) = (
            Recorder::new(("A", "1"), false),
            Recorder::new(("B", "2"), false),
        );
        let events = Events::new(vec![first.clone(), second.clone()]);
        events.emit(RunEvent::SourceDiscovered {
            source: "unit",
            tests: 3,
        });
        events.emit(RunEvent::RetriesWithheld { reason: "r" });
        events.emit(RunEvent::SessionFinished);
        let expected = [
            "\"source_discovered\"",
            "\"retries_withheld\"",
            "\"session_finished\"",
        ];
        assert_eq!(*first.seen.lock().unwrap(), expected);
        assert_eq!(*second.seen.lock().unwrap(), expected);
    }

    #[tokio::test]
    async fn answers_now_and_later_are_merged_the_first_name_winning() {
        let now = Recorder::new(("SHARED", "from the first"), false);
        let later = Recorder::new(("SHARED", "from the second"), true);
        let events = Events::new(vec![now, later]);
        let info = source();
        let answer = events
            .emit(RunEvent::SourceStarted { source: &info })
            .answered()
            .await;
        assert_eq!(answer.environment["SHARED"], "from the first");
        assert_eq!(answer.errors, ["SHARED answered", "SHARED answered"]);
    }

    #[tokio::test]
    async fn a_subscriber_that_drops_its_answer_answers_nothing() {
        struct Forgetful;
        impl Subscriber for Forgetful {
            fn on_event(&self, _: &RunEvent<'_>, delivery: &mut Delivery) {
                drop(delivery.answer_later());
            }
        }
        let events = Events::new(vec![Arc::new(Forgetful)]);
        let answer = events.emit(RunEvent::SessionFinished).answered().await;
        assert!(answer.environment.is_empty() && answer.errors.is_empty());
    }

    #[test]
    fn the_journal_shape_skips_what_only_subscribers_in_the_process_need() {
        let event = RunEvent::TestStarted {
            source: "s",
            test: "t",
            attempt: 1,
            pid: Some(7),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({"event": "test_started", "source": "s", "test": "t", "attempt": 1})
        );
        let live = |live_in_batch| RunEvent::TestReported {
            source: "s",
            test: "t",
            attempt: 1,
            outcome: Outcome::Passed,
            message: None,
            pid: None,
            live_in_batch,
        };
        assert!(live(true).journaled() && !live(false).journaled());
        assert!(!RunEvent::SessionFinished.journaled());
    }
}
