//! Plugin instances and their typed calls, one handle type per kind.

use std::fmt;
use std::sync::Arc;

use abi_stable::std_types::{RResult, RStr};
use proctor_plugin_api::abi::*;
use proctor_plugin_api::messages::*;
use serde::{de::DeserializeOwned, Serialize};

use crate::call::{call_json, with_progress_sink, CallError, ProgressFn};
use crate::Library;

/// A vtable type, and how a library constructs plugins of its kind.
pub trait PluginVTable: Copy + 'static {
    const KIND: PluginKind;
    fn constructor(module: PluginLibraryRef) -> Constructor<Self>;
}

type Constructor<V> = extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<PluginObject<V>, PluginError>;

macro_rules! plugin_vtable {
    ($vtable:ty, $kind:expr, $constructor:ident) => {
        impl PluginVTable for $vtable {
            const KIND: PluginKind = $kind;
            fn constructor(module: PluginLibraryRef) -> Constructor<Self> {
                module.$constructor()
            }
        }
    };
}
plugin_vtable!(RunnerVTableRef, PluginKind::Runner, new_runner);
plugin_vtable!(DownloaderVTableRef, PluginKind::Downloader, new_downloader);
plugin_vtable!(CollectorVTableRef, PluginKind::Collector, new_collector);
plugin_vtable!(
    AttachmentProcessorVTableRef,
    PluginKind::AttachmentProcessor,
    new_attachment_processor
);

/// A plugin instance. Cheap to clone. Calls block; a host on an async runtime
/// makes them from blocking threads so a slow plugin never stalls it, with
/// one exception: a runner's `parse_output`, called for every few lines a
/// test process prints, is made where the lines are read, since handing it
/// to a thread would cost more than the call. Runners answer it from the
/// lines alone, at once (the SDK's `Runner::parse_output` says so).
pub struct Plugin<V> {
    inner: Arc<Instance<V>>,
}

impl<V> Clone for Plugin<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

pub type RunnerPlugin = Plugin<RunnerVTableRef>;
pub type DownloaderPlugin = Plugin<DownloaderVTableRef>;
pub type CollectorPlugin = Plugin<CollectorVTableRef>;
pub type AttachmentProcessorPlugin = Plugin<AttachmentProcessorVTableRef>;

struct Instance<V> {
    label: String,
    object: PluginObject<V>,
}

// SAFETY: the SDK only accepts `Send + Sync` plugin types, its vtables are
// statics, and every vtable function takes the state by shared reference.
unsafe impl<V> Send for Instance<V> {}
unsafe impl<V> Sync for Instance<V> {}

/// A plugin that could not be created.
#[derive(Debug, Clone)]
pub struct CreateError {
    /// The plugin, as `downloader `http``.
    pub plugin: String,
    /// One of the `PluginError` codes.
    pub code: u32,
    pub message: String,
}

impl CreateError {
    /// The settings block was refused: the configuration's fault, not the plugin's.
    pub fn invalid_settings(&self) -> bool {
        self.code == PluginError::INVALID_SETTINGS
    }
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.invalid_settings() {
            // The SDK's message already names the plugin and the bad field.
            f.write_str(&self.message)
        } else {
            write!(f, "{} could not be created: {}", self.plugin, self.message)
        }
    }
}

impl std::error::Error for CreateError {}

impl<V: PluginVTable> Plugin<V> {
    /// Creates the plugin `name` of `library` with its settings block.
    pub fn create(
        library: &Library,
        name: &str,
        settings: &serde_json::Value,
    ) -> Result<Self, CreateError> {
        let settings = serde_json::to_string(settings).expect("JSON values serialize");
        let label = format!("{} `{name}`", V::KIND);
        match V::constructor(library.module)(RStr::from_str(name), RStr::from_str(&settings)) {
            RResult::ROk(object) => Ok(Self {
                inner: Arc::new(Instance { label, object }),
            }),
            RResult::RErr(e) => Err(CreateError {
                plugin: label,
                code: e.code,
                message: e.message.into_string(),
            }),
        }
    }

    /// The plugin as messages name it: `runner `pytest``.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        operation: &'static str,
        request: &Req,
        invoke: impl FnOnce(&PluginObject<V>, RStr<'_>) -> CallResult,
    ) -> Result<Resp, CallError> {
        let object = &self.inner.object;
        call_json(&self.inner.label, operation, request, |request| {
            invoke(object, request)
        })
    }
}

impl RunnerPlugin {
    pub fn discover(&self, request: &DiscoverRequest) -> Result<DiscoveryStep, CallError> {
        self.call("discover", request, |o, r| {
            (o.vtable.discover())(&o.state, r)
        })
    }

    pub fn plan_execution(&self, request: &ExecutionRequest) -> Result<ExecutionPlan, CallError> {
        self.call("plan_execution", request, |o, r| {
            (o.vtable.plan_execution())(&o.state, r)
        })
    }

    pub fn parse_output(&self, request: &OutputRequest) -> Result<Vec<LiveEvent>, CallError> {
        self.call("parse_output", request, |o, r| {
            (o.vtable.parse_output())(&o.state, r)
        })
    }

    pub fn collect_results(&self, request: &CollectRequest) -> Result<Vec<TestResult>, CallError> {
        self.call("collect_results", request, |o, r| {
            (o.vtable.collect_results())(&o.state, r)
        })
    }
}

impl DownloaderPlugin {
    /// Downloads `request.uri`; `progress` hears of the bytes written.
    pub fn download(
        &self,
        request: &DownloadRequest,
        progress: &ProgressFn<'_>,
    ) -> Result<DownloadResponse, CallError> {
        with_progress_sink(progress, |sink| {
            self.call("download", request, |o, r| {
                (o.vtable.download())(&o.state, r, sink)
            })
        })
    }
}

impl CollectorPlugin {
    pub fn on_event(&self, event: &LifecycleEvent) -> Result<CollectorResponse, CallError> {
        self.call("on_event", event, |o, r| (o.vtable.on_event())(&o.state, r))
    }
}

impl AttachmentProcessorPlugin {
    pub fn process(
        &self,
        request: &ProcessRequest,
        progress: &ProgressFn<'_>,
    ) -> Result<ProcessResponse, CallError> {
        with_progress_sink(progress, |sink| {
            self.call("process", request, |o, r| {
                (o.vtable.process())(&o.state, r, sink)
            })
        })
    }
}
