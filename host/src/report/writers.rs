//! The reports written when the run ends, from its summary: `summary.json`,
//! JUnit, TRX, and Helix's report when the run is a Helix work item.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::events::{Answer, Delivery, RunEvent, Subscriber};
use crate::results::{write_atomically, ResultsDir, RunSummary};

use super::{write_helix_report, write_junit, write_trx, HelixEnvironment, HELIX_REPORT};

/// Writes every report at [`RunEvent::ReportsDue`], each whole or not at
/// all; one that cannot be written keeps none of the others from being
/// written, and is answered as an error.
pub struct Reports {
    results: Arc<ResultsDir>,
    helix: HelixEnvironment,
}

type Writer<'a> = &'a dyn Fn(&mut dyn Write) -> std::io::Result<()>;

impl Reports {
    pub fn new(results: Arc<ResultsDir>, helix: HelixEnvironment) -> Self {
        Self { results, helix }
    }

    /// Writes the reports; answers what could not be written.
    fn write(&self, summary: &RunSummary) -> Vec<String> {
        let results = &self.results;
        let mut failed = Vec::new();
        let mut write = |path: PathBuf, report: Writer| {
            if let Err(e) = write_atomically(&path, |out| report(out)) {
                failed.push(format!("cannot write {}: {e}", path.display()));
            }
        };
        // Indented to the run's fields; a test, a download, a source a line.
        write(results.summary(), &|out| {
            super::outline::to_writer_outlined(out, summary, 2)
        });
        write(results.junit(), &|out| write_junit(summary, out));
        write(results.trx(), &|out| write_trx(summary, out));
        if let Some(root) = &self.helix.workitem_root {
            write(root.join(HELIX_REPORT), &|out| {
                write_helix_report(summary, results.root(), &self.helix, out)
            });
        }
        failed
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
