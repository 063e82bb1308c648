//! One call across the boundary: JSON out, JSON or an error back.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::marker_type::ErasedObject;
use abi_stable::std_types::{RResult, RStr, RString};
use proctor_plugin_api::abi::{CallResult, PluginError, ProgressSink};
use serde::{de::DeserializeOwned, Serialize};

/// A plugin call that did not answer.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The plugin, as `runner `pytest``.
    pub plugin: String,
    pub operation: &'static str,
    /// One of the `PluginError` codes.
    pub code: u32,
    pub message: String,
}

impl CallError {
    pub fn panicked(&self) -> bool {
        self.code == PluginError::PANICKED
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

/// Encodes `request`, makes the call `invoke` describes, decodes the answer.
pub(crate) fn call_json<Req: Serialize, Resp: DeserializeOwned>(
    plugin: &str,
    operation: &'static str,
    request: &Req,
    invoke: impl FnOnce(RStr<'_>) -> CallResult,
) -> Result<Resp, CallError> {
    let error = |code, message: String| CallError {
        plugin: plugin.to_owned(),
        operation,
        code,
        message,
    };
    let request = serde_json::to_string(request).expect("host messages always serialize");
    match invoke(RStr::from_str(&request)) {
        RResult::ROk(response) => serde_json::from_str(response.as_str()).map_err(|e| {
            error(
                PluginError::INVALID_REQUEST,
                format!("unreadable answer: {e}"),
            )
        }),
        RResult::RErr(e) => Err(error(e.code, e.message.into_string())),
    }
}

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
