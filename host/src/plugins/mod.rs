//! Finding plugins on the search path and creating them. Loading, ABI checks
//! and typed calls live in `proctor-loader`, which the SDK's harness shares.

mod catalog;

pub use catalog::{default_plugin_dir, Catalog, FindError, SearchPath};
pub use proctor_loader::{
    load_library, AttachmentProcessorPlugin, CallError, CollectorPlugin, CreateError,
    DownloaderPlugin, Library, Plugin, PluginVTable, Refusal, RunnerPlugin,
};

/// Creates the plugin `name` of `library` with its settings.
pub fn create<V: PluginVTable>(
    library: &Library,
    name: &str,
    settings: &serde_json::Value,
) -> Result<Plugin<V>, CreateError> {
    Plugin::create(library, name, settings)
}

use proctor_plugin_api::messages::{
    CollectRequest, DiscoverRequest, DiscoveryStep, ExecutionPlan, ExecutionRequest, LiveEvent,
    OutputRequest, ProcessRequest, ProcessResponse, TestResult,
};

/// What the engine asks of a source's runner. A loaded runner plugin is
/// one; the seam lets the engine's tests run without a plugin, and a
/// runner in another process stand in for one in this.
pub trait Runner: Send + Sync {
    /// The runner as messages name it: `runner `pytest``.
    fn label(&self) -> &str;
    fn discover(&self, request: &DiscoverRequest) -> Result<DiscoveryStep, CallError>;
    fn plan_execution(&self, request: &ExecutionRequest) -> Result<ExecutionPlan, CallError>;
    /// Called often, with few lines: must answer quickly.
    fn parse_output(&self, request: &OutputRequest) -> Result<Vec<LiveEvent>, CallError>;
    fn collect_results(&self, request: &CollectRequest) -> Result<Vec<TestResult>, CallError>;
}

impl Runner for RunnerPlugin {
    fn label(&self) -> &str {
        RunnerPlugin::label(self)
    }

    fn discover(&self, request: &DiscoverRequest) -> Result<DiscoveryStep, CallError> {
        RunnerPlugin::discover(self, request)
    }

    fn plan_execution(&self, request: &ExecutionRequest) -> Result<ExecutionPlan, CallError> {
        RunnerPlugin::plan_execution(self, request)
    }

    fn parse_output(&self, request: &OutputRequest) -> Result<Vec<LiveEvent>, CallError> {
        RunnerPlugin::parse_output(self, request)
    }

    fn collect_results(&self, request: &CollectRequest) -> Result<Vec<TestResult>, CallError> {
        RunnerPlugin::collect_results(self, request)
    }
}

/// What the engine asks of an attachment processor: the seam that lets the
/// processors' orchestration be tested without a plugin.
pub trait AttachmentProcessor: Send {
    /// The processor as messages name it.
    fn label(&self) -> &str;
    fn process(&self, request: &ProcessRequest) -> Result<ProcessResponse, CallError>;
}

impl AttachmentProcessor for AttachmentProcessorPlugin {
    fn label(&self) -> &str {
        AttachmentProcessorPlugin::label(self)
    }

    fn process(&self, request: &ProcessRequest) -> Result<ProcessResponse, CallError> {
        AttachmentProcessorPlugin::process(self, request, &|_, _| true)
    }
}
