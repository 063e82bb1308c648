//! The FFI-safe surface: one root module per library, one vtable per plugin kind.
//!
//! Every struct with a `Prefix` kind is an `abi_stable` prefix type. The field
//! marked `last_prefix_field` closes the part that every 1.x plugin has; a
//! minor version appends fields after it, and the host reads those through
//! accessors that return `None` when the plugin predates them.
//!
//! Everything a call carries beyond handles and callbacks is a JSON document
//! defined in [`crate::messages`].

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    marker_type::ErasedObject,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RSlice, RStr, RString},
    StableAbi,
};

/// An error crossing the boundary: a code from the constants below and a message.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// One of the constants below; a code this side does not know is read as
    /// [`PluginError::FAILED`].
    pub code: u32,
    /// What went wrong, for a person.
    pub message: RString,
}

impl PluginError {
    /// The plugin reported a failure of its own.
    pub const FAILED: u32 = 1;
    /// The plugin panicked; the SDK caught it before it crossed the boundary.
    pub const PANICKED: u32 = 2;
    /// The plugin's settings block was rejected.
    pub const INVALID_SETTINGS: u32 = 3;
    /// The request could not be read: a host/plugin message mismatch.
    pub const INVALID_REQUEST: u32 = 4;
    /// The library has no plugin of that kind and name.
    pub const NO_SUCH_PLUGIN: u32 = 5;

    /// An error with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: RString::from(message.into()),
        }
    }
}

/// The answer of a call: a JSON response, or an error.
pub type CallResult = RResult<RString, PluginError>;

/// Reports progress to the host: `done` units of `total` (`u64::MAX` when
/// unknown). The host answers `false` to ask the plugin to stop early.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct ProgressSink<'a> {
    /// The host's state for this call, passed back to `report` as it is.
    pub context: &'a ErasedObject,
    /// Called by the plugin with `context`, the units done and the total.
    pub report: extern "C" fn(context: &ErasedObject, done: u64, total: u64) -> bool,
}

/// A plugin instance: type-erased state owned by the plugin, and its vtable.
///
/// Dropping it runs the plugin's own destructor (the `RBox` carries it).
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginObject<VTable> {
    /// The plugin's own state, opaque to the host.
    pub state: RBox<ErasedObject>,
    /// The plugin kind's operations, each taking `state`.
    pub vtable: VTable,
}

/// A runner instance.
pub type RunnerObject = PluginObject<RunnerVTableRef>;
/// A downloader instance.
pub type DownloaderObject = PluginObject<DownloaderVTableRef>;
/// A collector instance.
pub type CollectorObject = PluginObject<CollectorVTableRef>;
/// An attachment processor instance.
pub type AttachmentProcessorObject = PluginObject<AttachmentProcessorVTableRef>;

/// The root module of a plugin library.
///
/// Each constructor creates a plugin instance from its name and its JSON
/// settings block. Every operation of a vtable takes the instance's state and
/// a JSON request, and answers JSON or an error.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginLibraryRef)))]
pub struct PluginLibrary {
    /// A [`crate::messages::LibraryManifest`]: every plugin the library holds.
    pub manifest: extern "C" fn() -> RString,
    /// Creates the runner `name` from its JSON settings.
    pub new_runner:
        extern "C" fn(name: RStr<'_>, settings: RStr<'_>) -> RResult<RunnerObject, PluginError>,
    /// Creates the downloader `name` from its JSON settings.
    pub new_downloader:
        extern "C" fn(name: RStr<'_>, settings: RStr<'_>) -> RResult<DownloaderObject, PluginError>,
    /// Creates the collector `name` from its JSON settings.
    pub new_collector:
        extern "C" fn(name: RStr<'_>, settings: RStr<'_>) -> RResult<CollectorObject, PluginError>,
    /// Creates the attachment processor `name` from its JSON settings.
    #[sabi(last_prefix_field)]
    pub new_attachment_processor: extern "C" fn(
        name: RStr<'_>,
        settings: RStr<'_>,
    )
        -> RResult<AttachmentProcessorObject, PluginError>,
    /// Since 1.1: a [`crate::messages::BuildInfo`] describing how the library was built.
    pub build_info: extern "C" fn() -> RString,
}

impl RootModule for PluginLibraryRef {
    declare_root_module_statics! {PluginLibraryRef}
    const BASE_NAME: &'static str = "proctor_plugin";
    const NAME: &'static str = "proctor plugin library";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// How a runner turns a source into tests, commands and results.
/// The host owns every process: a runner describes and parses, never spawns.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = RunnerVTableRef)))]
pub struct RunnerVTable {
    /// `DiscoverRequest` -> `DiscoveryStep`
    pub discover: extern "C" fn(&ErasedObject, RStr<'_>) -> CallResult,
    /// `ExecutionRequest` -> `ExecutionPlan`
    pub plan_execution: extern "C" fn(&ErasedObject, RStr<'_>) -> CallResult,
    /// `OutputRequest` -> `Vec<LiveEvent>`
    pub parse_output: extern "C" fn(&ErasedObject, RStr<'_>) -> CallResult,
    /// `CollectRequest` -> `Vec<TestResult>`
    #[sabi(last_prefix_field)]
    pub collect_results: extern "C" fn(&ErasedObject, RStr<'_>) -> CallResult,
    /// Since 1.10: `parse_output` with the lines as they are: [`OutputLines`]
    /// -> `Vec<LiveEvent>`. The host calls it, where a runner has it, in
    /// its own process; `parse_output` otherwise.
    pub parse_lines: extern "C" fn(&ErasedObject, OutputLines<'_>) -> CallResult,
}

/// Since 1.10: an [`crate::messages::OutputRequest`] whose lines cross as
/// they are rather than inside its JSON. Output is most of what a runner
/// is sent during a run, and quoting it into JSON and reading it back was
/// most of what a call cost.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct OutputLines<'a> {
    /// The request without its lines (`"lines": []`), as JSON. It is the
    /// same text for every call about one stream of one process, so a
    /// runner may read it once and keep it while the text stays the same.
    pub request: RStr<'a>,
    /// The request's lines, without their line breaks.
    pub lines: RSlice<'a, RStr<'a>>,
}

/// How a downloader fetches one URI scheme into a local path.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = DownloaderVTableRef)))]
pub struct DownloaderVTable {
    /// `DownloadRequest` -> `DownloadResponse`
    #[sabi(last_prefix_field)]
    pub download: extern "C" fn(&ErasedObject, RStr<'_>, ProgressSink<'_>) -> CallResult,
}

/// What a collector does at each lifecycle event.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = CollectorVTableRef)))]
pub struct CollectorVTable {
    /// `LifecycleEvent` -> `CollectorResponse`
    #[sabi(last_prefix_field)]
    pub on_event: extern "C" fn(&ErasedObject, RStr<'_>) -> CallResult,
}

/// How an attachment processor turns many attachments into fewer.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = AttachmentProcessorVTableRef)))]
pub struct AttachmentProcessorVTable {
    /// `ProcessRequest` -> `ProcessResponse`
    #[sabi(last_prefix_field)]
    pub process: extern "C" fn(&ErasedObject, RStr<'_>, ProgressSink<'_>) -> CallResult,
}
