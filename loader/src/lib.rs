//! The host's side of the plugin ABI, shared by `proctor` and the SDK's test
//! harness: load a plugin library, check it against this plugin-api version,
//! create its plugins and call them with typed messages.
//!
//! Loading is where compatibility is decided: [`load_library`] answers a
//! [`Library`] or a [`Refusal`] that names the library's plugins, its
//! plugin-api version and this one's. Calls go through [`Plugin`] handles,
//! one per kind, that encode requests and decode answers as the
//! `proctor_plugin_api::messages` documents.

mod call;
mod elf;
mod handles;
mod library;
pub mod remote;
mod stopping;
mod watchdog;
mod workers;

pub use call::{CallError, Operation, ProgressFn};
pub use elf::Unmappable;
pub use handles::{
    AttachmentProcessorPlugin, CallOptions, CollectorPlugin, CreateError, Deadlines,
    DownloaderPlugin, Isolation, OutputStream, Plugin, PluginVTable, RunnerPlugin,
};
pub use library::{
    host_api_version, load_library, Declared, Description, Library, Refusal, RefusalReason,
};
pub use proctor_plugin_api as api;
pub use remote::{describe_library, PluginHostProgram};
pub use stopping::bound_calls_after_stop;
pub use watchdog::{on_stuck_call, StuckCall};
