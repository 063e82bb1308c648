//! Finding, loading and calling plugins.

mod catalog;
mod library;
mod runner;

pub use catalog::{default_plugin_dir, Catalog, SearchPath};
pub use library::{load_library, LoadedLibrary, Refusal};
pub use runner::RunnerHandle;

use std::fmt;

use abi_stable::{
    marker_type::ErasedObject,
    std_types::{RResult, RStr, RString},
};
use proctor_plugin_api::abi::{CallResult, PluginError};
use serde::{de::DeserializeOwned, Serialize};

/// A plugin call that did not answer.
#[derive(Debug, Clone)]
pub struct CallError {
    pub plugin: String,
    pub operation: &'static str,
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

/// Encodes a request, calls across the boundary, decodes the answer.
fn call_json<Req: Serialize, Resp: DeserializeOwned>(
    plugin: &str,
    operation: &'static str,
    function: extern "C" fn(&ErasedObject, RStr<'_>) -> CallResult,
    state: &ErasedObject,
    request: &Req,
) -> Result<Resp, CallError> {
    let error = |code, message: String| CallError {
        plugin: plugin.to_owned(),
        operation,
        code,
        message,
    };
    let request = serde_json::to_string(request).expect("host messages always serialize");
    match function(state, RStr::from_str(&request)) {
        RResult::ROk(response) => serde_json::from_str(response.as_str()).map_err(|e| {
            error(
                PluginError::INVALID_REQUEST,
                format!("unreadable answer: {e}"),
            )
        }),
        RResult::RErr(e) => Err(error(e.code, e.message.into_string())),
    }
}

fn rstring_json<T: DeserializeOwned>(text: RString) -> Option<T> {
    serde_json::from_str(text.as_str()).ok()
}
