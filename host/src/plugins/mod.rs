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
