//! The host's side of a runner: typed calls, made off the async runtime.

use std::sync::Arc;

use abi_stable::std_types::{RResult, RStr};
use proctor_plugin_api::abi::RunnerObject;
use proctor_plugin_api::messages::*;

use super::{call_json, CallError, LoadedLibrary};
use crate::error::{Error, Result};

/// A runner instance. Cheap to clone; calls are blocking and are made through
/// `spawn_blocking` by the engine so a slow plugin never stalls supervision.
#[derive(Clone)]
pub struct RunnerHandle {
    inner: Arc<Instance>,
}

struct Instance {
    label: String,
    object: RunnerObject,
}

// SAFETY: the SDK only accepts `Send + Sync` plugin types, and the vtable's
// functions take the state by shared reference.
unsafe impl Send for Instance {}
unsafe impl Sync for Instance {}

impl RunnerHandle {
    /// Creates a runner from its library with its settings block.
    pub fn create(
        library: &LoadedLibrary,
        name: &str,
        settings: &serde_json::Value,
    ) -> Result<Self> {
        let settings = serde_json::to_string(settings).expect("JSON values serialize");
        let label = format!("runner `{name}`");
        match (library.module.new_runner())(RStr::from_str(name), RStr::from_str(&settings)) {
            RResult::ROk(object) => Ok(Self {
                inner: Arc::new(Instance { label, object }),
            }),
            RResult::RErr(e)
                if e.code == proctor_plugin_api::abi::PluginError::INVALID_SETTINGS =>
            {
                Err(Error::usage(e.message.into_string()))
            }
            RResult::RErr(e) => Err(Error::infrastructure(format!(
                "{label} could not be created: {}",
                e.message
            ))),
        }
    }

    pub fn label(&self) -> &str {
        &self.inner.label
    }

    fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        pick: fn(
            &RunnerObject,
        ) -> extern "C" fn(
            &abi_stable::marker_type::ErasedObject,
            RStr<'_>,
        ) -> proctor_plugin_api::abi::CallResult,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let object = &self.inner.object;
        call_json(
            &self.inner.label,
            operation,
            pick(object),
            &object.state,
            request,
        )
    }

    pub fn discover(&self, request: &DiscoverRequest) -> Result<DiscoveryStep, CallError> {
        self.call("discover", |o| o.vtable.discover(), request)
    }

    pub fn plan_execution(&self, request: &ExecutionRequest) -> Result<ExecutionPlan, CallError> {
        self.call("plan_execution", |o| o.vtable.plan_execution(), request)
    }

    pub fn parse_output(&self, request: &OutputRequest) -> Result<Vec<LiveEvent>, CallError> {
        self.call("parse_output", |o| o.vtable.parse_output(), request)
    }

    pub fn collect_results(&self, request: &CollectRequest) -> Result<Vec<TestResult>, CallError> {
        self.call("collect_results", |o| o.vtable.collect_results(), request)
    }
}
