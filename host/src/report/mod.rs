//! What a run leaves behind: the results directory, and what a person sees.

mod console;
mod helix;
mod journal;
mod junit;
mod trx;

pub use console::Console;
pub use helix::{write_helix_report, FILE_NAME as HELIX_REPORT};
pub use journal::{Journal, JournalEvent};
pub use junit::write_junit;
pub use trx::write_trx;
