//! Finding plugins on the search path and creating them. Loading, ABI checks
//! and typed calls live in `proctor-loader`, which the SDK's harness shares.

mod catalog;

pub use catalog::{default_plugin_dir, Catalog, SearchPath};
pub use proctor_loader::{
    load_library, AttachmentProcessorPlugin, CallError, CollectorPlugin, DownloaderPlugin, Library,
    Plugin, PluginVTable, Refusal, RunnerPlugin,
};

use crate::error::{Error, Result};

/// Creates the plugin `name` of `library`. Refused settings are the
/// configuration's fault (usage); any other failure is infrastructure.
pub fn create<V: PluginVTable>(
    library: &Library,
    name: &str,
    settings: &serde_json::Value,
) -> Result<Plugin<V>> {
    Plugin::create(library, name, settings).map_err(|e| match e.invalid_settings() {
        true => Error::usage(e.to_string()),
        false => Error::infrastructure(e.to_string()),
    })
}
