//! One call across the boundary: what it is, how its progress is heard,
//! and the error of a call that did not answer.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use abi_stable::marker_type::ErasedObject;
use abi_stable::std_types::RString;
use proctor_plugin_api::abi::{PluginError, ProgressSink};
use serde::de::DeserializeOwned;

/// The calls a plugin answers, one per vtable function, and its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Discover,
    PlanExecution,
    ParseOutput,
    CollectResults,
    Download,
    OnEvent,
    Process,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::Create,
        Operation::Discover,
        Operation::PlanExecution,
        Operation::ParseOutput,
        Operation::CollectResults,
        Operation::Download,
        Operation::OnEvent,
        Operation::Process,
    ];

    /// The name messages and settings use: `plan_execution`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Discover => "discover",
            Operation::PlanExecution => "plan_execution",
            Operation::ParseOutput => "parse_output",
            Operation::CollectResults => "collect_results",
            Operation::Download => "download",
            Operation::OnEvent => "on_event",
            Operation::Process => "process",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Its code on the wire to a plugin process.
    pub(crate) fn code(self) -> u8 {
        Self::ALL.iter().position(|op| *op == self).expect("listed") as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Whether it is called so often (for every batch of a test's output)
    /// that a plugin process makes it on the thread reading the calls,
    /// rather than handing it to a pool thread.
    pub fn frequent(self) -> bool {
        self == Operation::ParseOutput
    }

    /// How long a call may take unless the configuration says otherwise.
    /// Generous: a deadline catches a plugin that hangs, not one that is
    /// slow. Downloads and merges move data of any size.
    pub fn default_deadline(self) -> Duration {
        let seconds = match self {
            Operation::Create | Operation::PlanExecution => 60,
            Operation::ParseOutput => 30,
            Operation::Discover | Operation::CollectResults | Operation::OnEvent => 600,
            Operation::Download | Operation::Process => 6 * 3600,
        };
        Duration::from_secs(seconds)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a call answers: its JSON response or the plugin's error.
pub(crate) type Answer = Result<String, PluginError>;

/// A plugin call that did not answer.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The plugin, as `runner `pytest``.
    pub plugin: String,
    pub operation: &'static str,
    /// One of the `PluginError` codes, or of this type's own for calls the
    /// host gave up on.
    pub code: u32,
    pub message: String,
}

impl CallError {
    /// The call missed its deadline; the host killed the plugin's process.
    pub const DEADLINE_MISSED: u32 = 1001;
    /// The plugin's process ended without answering: a crash, an exit.
    pub const PLUGIN_ENDED: u32 = 1002;
    /// The plugin could not be created, so nothing was asked of it.
    pub const NOT_CREATED: u32 = 1004;

    pub fn panicked(&self) -> bool {
        self.code == PluginError::PANICKED
    }

    /// Whether the host gave up on the plugin rather than hearing an error
    /// from it: a missed deadline, a crash, an exit, or no plugin at all.
    pub fn abandoned(&self) -> bool {
        matches!(
            self.code,
            Self::DEADLINE_MISSED | Self::PLUGIN_ENDED | Self::NOT_CREATED
        )
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed in {}: {}",
            self.plugin, self.operation, self.message
        )
    }
}

impl std::error::Error for CallError {}

pub(crate) fn rstring_json<T: DeserializeOwned>(text: RString) -> Option<T> {
    serde_json::from_str(text.as_str()).ok()
}

/// What the host does with a plugin's progress: `done` of `total` units
/// (`None` when unknown). Answering `false` asks the plugin to stop.
pub type ProgressFn<'a> = dyn Fn(u64, Option<u64>) -> bool + Sync + 'a;

/// Lends `progress` to a call as the ABI's `ProgressSink`.
pub(crate) fn with_progress_sink<T>(
    progress: &ProgressFn<'_>,
    call: impl FnOnce(ProgressSink<'_>) -> T,
) -> T {
    extern "C" fn report(context: &ErasedObject, done: u64, total: u64) -> bool {
        // SAFETY: `context` is the `&&ProgressFn` lent below, alive for the call.
        let progress = unsafe { &*(context as *const ErasedObject as *const &ProgressFn<'_>) };
        let total = (total != u64::MAX).then_some(total);
        // A panic must not unwind into the plugin's frames: it stops the plugin instead.
        catch_unwind(AssertUnwindSafe(|| progress(done, total))).unwrap_or(false)
    }
    let context: &&ProgressFn<'_> = &progress;
    // SAFETY: the erased reference is only read back by `report`, as the same type.
    let context = unsafe { &*(context as *const &ProgressFn<'_> as *const ErasedObject) };
    call(ProgressSink { context, report })
}

/// Progress of a call made on another thread or in another process: the
/// side making it writes the latest figures, the side waiting for it reads
/// them when it looks, and asks it to stop through `stop`. No round trip
/// per report: a plugin may report every block it writes.
#[derive(Debug, Default)]
pub(crate) struct ProgressCell {
    done: AtomicU64,
    /// `u64::MAX` when unknown.
    total: AtomicU64,
    /// Set by each report, cleared by each reading.
    fresh: AtomicBool,
    stop: AtomicBool,
}

impl ProgressCell {
    /// Records a report; answers whether the call may go on.
    pub fn report(&self, done: u64, total: Option<u64>) -> bool {
        self.done.store(done, Ordering::Relaxed);
        self.total
            .store(total.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.fresh.store(true, Ordering::Release);
        !self.stop.load(Ordering::Relaxed)
    }

    /// The latest report, if one came since the last reading.
    pub fn take(&self) -> Option<(u64, Option<u64>)> {
        self.fresh.swap(false, Ordering::Acquire).then(|| {
            let total = self.total.load(Ordering::Relaxed);
            (
                self.done.load(Ordering::Relaxed),
                (total != u64::MAX).then_some(total),
            )
        })
    }

    pub fn ask_to_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stop_asked(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_keep_their_wire_codes_and_names() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_code(op.code()), Some(op));
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
        assert_eq!(Operation::from_code(Operation::ALL.len() as u8), None);
    }

    #[test]
    fn progress_is_read_once_per_report_and_a_stop_reaches_the_reporter() {
        let cell = ProgressCell::default();
        assert_eq!(cell.take(), None);
        assert!(cell.report(10, None));
        assert!(cell.report(20, Some(100)));
        assert_eq!(cell.take(), Some((20, Some(100))));
        assert_eq!(cell.take(), None);
        cell.ask_to_stop();
        assert!(!cell.report(30, Some(100)));
    }
}
