//! What a run leaves behind: the results directory, and what a person sees.

mod batched;
mod closing;
mod console;
mod helix;
mod journal;
mod junit;
pub mod outline;
pub mod schemas;
mod trx;
mod writers;

pub use closing::labelled;
pub use console::{Console, OutputShown, ShownOutput};
pub use helix::{write_helix_report, HelixEnvironment, FILE_NAME as HELIX_REPORT};
pub use journal::Journal;
pub use junit::write_junit;
pub use trx::write_trx;
pub use writers::Reports;
