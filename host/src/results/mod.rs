//! The results layout's own types: the records `summary.json` and the
//! journal are made of, and the directory that holds them. Everything that
//! writes results (the engine, the reports) or reads them (the tests, a
//! results history) takes them from here.

mod collected;
mod context;
mod exit;
mod fetched;
#[cfg(test)]
pub mod fixture;
mod layout;
pub mod layout2;
mod summary;
mod timestamp;

pub use collected::{AttachmentRecord, CollectorRecord, MergeRecord, SourceSpan, Timeline};
pub use context::{machine_name, Gathering, RunContext};
pub use exit::ExitStatus;
pub use fetched::{DownloadRecord, Unpacked};
pub use layout::{
    attempt_path, last_lines, read_end, write_atomically, Layout, ResultsDir, ResultsDirError,
};
pub use layout2::read_summary;
pub use summary::{
    exit_status, AttemptRecord, Counts, RecordKind, RetrySummary, RunOutcome, RunOverview,
    RunSummary, SourceRecord, TestRecord,
};
pub use timestamp::timestamp;
