//! Finding plugins on the search path and creating them. Loading, ABI checks
//! and typed calls live in `proctor-loader`, which the SDK's harness shares.

mod catalog;
mod kept;
mod results;
mod stopping;

pub use catalog::{
    open_library, own_plugin_dirs, Catalog, FindError, SearchPath, PLUGIN_PATH_VARIABLE,
};
pub use proctor_loader::{
    load_library, AttachmentProcessorPlugin, CallError, CollectorPlugin, CreateError,
    DownloaderPlugin, Library, OutputStream, Plugin, PluginVTable, Refusal, RunnerPlugin,
};
pub use results::RunnerResult;
pub use stopping::{calls_bound_by, CallBound};

use std::path::Path;

use proctor_loader::{CallOptions, PluginHostProgram};

use crate::config::{Isolation, PluginPolicy};

/// Creates the plugin `name` of `library` with its settings, where the
/// policy says it runs, its calls bound by the policy's deadlines. Only
/// refused settings are an error here: a plugin that fails to be created
/// otherwise (an error, a panic, a crash) is broken, and each of its calls
/// fails saying why.
pub fn create<V: PluginVTable>(
    library: &Library,
    name: &str,
    settings: &serde_json::Value,
    policy: &PluginPolicy,
) -> Result<Plugin<V>, CreateError> {
    let (isolation, deadlines) = policy.of(name);
    let in_process = match isolation {
        Isolation::InProcess => true,
        Isolation::Process => false,
        Isolation::Auto => installed_with_host(&library.path),
    };
    let isolation = match in_process {
        true => proctor_loader::Isolation::InProcess,
        false => proctor_loader::Isolation::Process(plugin_host_program()),
    };
    let options = CallOptions {
        isolation,
        deadlines: deadlines.clone(),
    };
    match Plugin::create_with(library, name, settings, &options) {
        Err(error) if !error.invalid_settings() => {
            // Settings are the configuration's to fix before anything runs;
            // a plugin that breaks fails only what uses it.
            tracing::warn!("{error}");
            kept::Kept::forget(&library.path);
            Ok(Plugin::broken(name, error))
        }
        created => created,
    }
}

/// Whether a library is one of the host's own: in the directory it was
/// installed or built with, not one a configuration or a flag added.
pub(crate) fn installed_with_host(library: &Path) -> bool {
    let Some(dir) = library.parent().and_then(|dir| dir.canonicalize().ok()) else {
        return false;
    };
    own_plugin_dirs().contains(&dir)
}

/// This program, serving one plugin: `proctor plugin-host`.
pub(crate) fn plugin_host_program() -> PluginHostProgram {
    PluginHostProgram {
        program: std::env::current_exe().unwrap_or_else(|_| "proctor".into()),
        args: vec!["plugin-host".into()],
    }
}

use proctor_plugin_api::messages::{
    CollectRequest, DiscoverRequest, DiscoveryStep, ExecutionPlan, ExecutionRequest, LiveEvent,
    ProcessRequest, ProcessResponse,
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
    fn parse_output(
        &self,
        stream: &OutputStream,
        lines: &[String],
    ) -> Result<Vec<LiveEvent>, CallError>;
    /// The results of a process that ran about `expected` tests.
    fn collect_results(
        &self,
        request: &CollectRequest,
        expected: usize,
    ) -> Result<Vec<RunnerResult>, CallError>;
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

    fn parse_output(
        &self,
        stream: &OutputStream,
        lines: &[String],
    ) -> Result<Vec<LiveEvent>, CallError> {
        RunnerPlugin::parse_output(self, stream, lines)
    }

    fn collect_results(
        &self,
        request: &CollectRequest,
        expected: usize,
    ) -> Result<Vec<RunnerResult>, CallError> {
        RunnerPlugin::collect_results_of(self, request, expected)
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
