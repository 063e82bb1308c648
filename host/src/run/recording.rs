//! Recording a run in its store. The store is opened as the run starts,
//! on a thread of its own: opening it, and writing what earlier runs left
//! in SQLite's log into its file ([`Store::open_for_run`]), wait on the
//! disk while the tests run. At the end only the run's rows are written
//! (for a 500-test run, 2 ms where opening and recording took 6).

use std::path::Path;
use std::thread::JoinHandle;

use crate::results::RunSummary;
use crate::store::{self, Location, Store};

/// A run's store, being opened.
pub(super) struct Recording {
    location: Location,
    opening: JoinHandle<store::Result<Store>>,
}

impl Recording {
    pub fn start(location: Location) -> Self {
        let opening = {
            let location = location.clone();
            std::thread::spawn(move || Store::open_for_run(location))
        };
        Self { location, opening }
    }

    /// Records the run; answers why not. Never an error: the run's results
    /// are in their directory, and it ends as its tests did. A server may
    /// have closed a connection held through a long run, so a server that
    /// could not take the run is tried once more on a new connection; a
    /// file's error stands (it was waited out already, if a lock).
    pub fn record(self, summary: &RunSummary, results_dir: &Path) -> Option<String> {
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
