//! The reports written when the run ends, from its summary: `summary.json`,
//! JUnit, TRX, and Helix's report when the run is a Helix work item.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::events::{Answer, Delivery, RunEvent, Subscriber};
use crate::results::{layout2, write_atomically, Layout, ResultsDir, RunSummary};

use super::{write_helix_report, write_junit, write_trx, HelixEnvironment, HELIX_REPORT};

/// Writes every report at [`RunEvent::ReportsDue`], each whole or not at
/// all; one that cannot be written keeps none of the others from being
/// written, and is answered as an error. Each is written on a thread of
/// its own: they read the summary and nothing else, and written one after
/// another they all stood between a large run's last test and its exit.
pub struct Reports {
    results: Arc<ResultsDir>,
    helix: HelixEnvironment,
}

type Writer<'a> = &'a (dyn Fn(&mut dyn Write) -> std::io::Result<()> + Sync);

impl Reports {
    pub fn new(results: Arc<ResultsDir>, helix: HelixEnvironment) -> Self {
        Self { results, helix }
    }

    /// Writes the reports; answers what could not be written.
    fn write(&self, summary: &RunSummary) -> Vec<String> {
        let results = &self.results;
        // Indented to the run's fields; a test, a download, a source a line.
        let outlined = |out: &mut dyn Write| match results.layout() {
            Layout::V1 => super::outline::to_writer_outlined(out, summary, 2),
            Layout::V2 => {
                super::outline::to_writer_outlined(out, &layout2::Summary::of(summary), 2)
            }
        };
        let junit = |out: &mut dyn Write| write_junit(summary, out);
        let trx = |out: &mut dyn Write| write_trx(summary, out);
        let helix =
            |out: &mut dyn Write| write_helix_report(summary, results.root(), &self.helix, out);
        let mut reports: Vec<(PathBuf, Writer)> = vec![
            (results.summary(), &outlined),
            (results.junit(), &junit),
            (results.trx(), &trx),
        ];
        if let Some(root) = &self.helix.workitem_root {
            reports.push((root.join(HELIX_REPORT), &helix));
        }
        let write = |path: PathBuf, report: Writer| {
            write_atomically(&path, |out| report(out))
                .err()
                .map(|e| format!("cannot write {}: {e}", path.display()))
        };
        std::thread::scope(|scope| {
            let writing: Vec<_> = (reports.into_iter())
                .map(|(path, report)| scope.spawn(move || write(path, report)))
                .collect();
            (writing.into_iter())
                .filter_map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }
}

impl Subscriber for Reports {
    fn on_event(&self, event: &RunEvent<'_>, delivery: &mut Delivery) {
        if let RunEvent::ReportsDue { summary } = event {
            delivery.answer(Answer {
                errors: self.write(summary),
                ..Answer::default()
            });
        }
    }
}
