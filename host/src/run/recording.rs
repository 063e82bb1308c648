//! Recording a run in its store. The store is opened as the run starts,
//! on a thread of its own: opening it, and writing what earlier runs left
//! in SQLite's log into its file ([`Store::open_for_run`]), wait on the
//! disk while the tests run. At the end only the run's rows are written
//! (for a 500-test run, 2 ms where opening and recording took 6), on a
//! thread of their own again, while the reports are written.
//!
//! The end waits for the store for a bounded time, and no longer than
//! until the host is asked to stop again: a server that accepted the
//! connection and then never answers would otherwise hold the run for
//! ever, since nothing below bounds the protocol's exchange (a connect
//! timeout covers the connection only). A run the store did not take in
//! time ends unrecorded, with a warning, as one it refused does.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::process::Stopper;
use crate::results::RunSummary;
use crate::store::{self, Location, Store};

/// How long the end waits for the store to take the run: SQLite waits out
/// another writer's lock for 30 s, and a large run's rows sent to a
/// server take seconds.
pub(super) const RECORDING_WAIT: Duration = Duration::from_secs(60);

/// How often a wait for the store looks for a new stop request.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// A run's store, being opened.
pub(super) struct Recording {
    location: Location,
    opening: JoinHandle<store::Result<Store>>,
}

/// A run being recorded, on a thread of its own.
pub(super) struct Pending {
    answer: mpsc::Receiver<Option<String>>,
    thread: JoinHandle<()>,
}

impl Recording {
    pub fn start(location: Location) -> Self {
        let opening = {
            let location = location.clone();
            std::thread::spawn(move || Store::open_for_run(location))
        };
        Self { location, opening }
    }

    /// Records the run on a thread of its own; [`Pending::wait`] answers
    /// why it was not recorded.
    pub fn start_recording(self, summary: Arc<RunSummary>, results_dir: PathBuf) -> Pending {
        let (sender, answer) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            // A wait that gave up has gone: nobody hears the answer.
            let _ = sender.send(self.record(&summary, &results_dir));
        });
        Pending { answer, thread }
    }

    /// Records the run; answers why not. Never an error: the run's results
    /// are in their directory, and it ends as its tests did. A server may
    /// have closed a connection held through a long run, so a server that
    /// could not take the run is tried once more on a new connection; a
    /// file's error stands (it was waited out already, if a lock).
    fn record(self, summary: &RunSummary, results_dir: &Path) -> Option<String> {
        let opened = (self.opening.join()).unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let recorded = opened.and_then(|mut store| store.record(summary, results_dir));
        let recorded = match (recorded, &self.location) {
            (Err(_), Location::Server(_)) => {
                Store::open(self.location).and_then(|mut store| store.record(summary, results_dir))
            }
            (recorded, _) => recorded,
        };
        (recorded.err()).map(|error| format!("the run is not in its history: {error}"))
    }
}

impl Pending {
    /// Waits for the run to be recorded, at most `within`, and no longer
    /// than until `stopper` hears a request it had not heard when the
    /// wait began; answers why the run was not recorded. A store given up
    /// on is left to the thread, which ends with the host.
    pub fn wait(self, within: Duration, stopper: &Stopper) -> Option<String> {
        let stop_before = stopper.state();
        let deadline = Instant::now() + within;
        loop {
            match self.answer.recv_timeout(STOP_CHECK) {
                Ok(answer) => return answer,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The thread ended unanswered: it panicked.
                    let panic = self
                        .thread
                        .join()
                        .expect_err("a thread that answered nothing");
                    std::panic::resume_unwind(panic)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let stop = stopper.state();
            if let (true, Some(signal)) = (stop != stop_before, stop.signal()) {
                return Some(format!(
                    "the run is not in its history: stopped by {signal} while the store recorded it"
                ));
            }
            if Instant::now() >= deadline {
                return Some(format!(
                    "the run is not in its history: the store did not take it within {} s",
                    within.as_secs()
                ));
            }
        }
    }
}
