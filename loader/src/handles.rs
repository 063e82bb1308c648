//! Plugin instances and their typed calls, one handle type per kind.
//!
//! A handle reaches its plugin one of three ways, and its callers cannot
//! tell which: in this process on the caller's thread, without deadlines
//! (the SDK's harness) or with a watchdog keeping them (`watchdog.rs`:
//! a missed one ends the host); or in a plugin process of its own
//! ([`crate::remote`]), which a crash, an exit or a missed deadline takes
//! down instead of the host.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use abi_stable::std_types::{RResult, RSlice, RStr};
use proctor_plugin_api::abi::*;
use proctor_plugin_api::messages::*;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::call::{with_progress_sink, Answer, CallError, Operation, ProgressFn};
use crate::remote::{PluginHostProgram, PluginProcess};
use crate::watchdog::{Watchdog, Watched};
use crate::Library;

/// A vtable type, how a library constructs plugins of its kind, and how
/// an operation reaches its function.
pub trait PluginVTable: Copy + Send + Sync + 'static {
    const KIND: PluginKind;
    fn constructor(module: PluginLibraryRef) -> Constructor<Self>;
    /// Calls `operation` on `object`; `None` when its kind has no such call.
    fn invoke(
        object: &PluginObject<Self>,
        operation: Operation,
        request: RStr<'_>,
        progress: ProgressSink<'_>,
    ) -> Option<CallResult>;
}

pub(crate) type Constructor<V> =
    extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<PluginObject<V>, PluginError>;

macro_rules! plugin_vtable {
    ($vtable:ty, $kind:expr, $constructor:ident, |$o:ident, $r:ident, $p:ident| {
        $($operation:ident => $call:expr),* $(,)?
    }) => {
        impl PluginVTable for $vtable {
            const KIND: PluginKind = $kind;
            fn constructor(module: PluginLibraryRef) -> Constructor<Self> {
                module.$constructor()
            }
            fn invoke(
                $o: &PluginObject<Self>,
                operation: Operation,
                $r: RStr<'_>,
                $p: ProgressSink<'_>,
            ) -> Option<CallResult> {
                let _ = &$p;
                match operation {
                    $(Operation::$operation => Some($call),)*
                    _ => None,
                }
            }
        }
    };
}
plugin_vtable!(RunnerVTableRef, PluginKind::Runner, new_runner, |o, r, p| {
    Discover => (o.vtable.discover())(&o.state, r),
    PlanExecution => (o.vtable.plan_execution())(&o.state, r),
    ParseOutput => (o.vtable.parse_output())(&o.state, r),
    CollectResults => (o.vtable.collect_results())(&o.state, r),
});
plugin_vtable!(DownloaderVTableRef, PluginKind::Downloader, new_downloader, |o, r, p| {
    Download => (o.vtable.download())(&o.state, r, p),
});
plugin_vtable!(CollectorVTableRef, PluginKind::Collector, new_collector, |o, r, p| {
    OnEvent => (o.vtable.on_event())(&o.state, r),
});
plugin_vtable!(
    AttachmentProcessorVTableRef,
    PluginKind::AttachmentProcessor,
    new_attachment_processor,
    |o, r, p| { Process => (o.vtable.process())(&o.state, r, p) }
);

/// How long each kind of call may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadlines {
    by_operation: [Duration; Operation::ALL.len()],
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            by_operation: Operation::ALL.map(Operation::default_deadline),
        }
    }
}

impl Deadlines {
    pub fn get(&self, operation: Operation) -> Duration {
        self.by_operation[usize::from(operation.code())]
    }

    pub fn set(&mut self, operation: Operation, deadline: Duration) {
        self.by_operation[usize::from(operation.code())] = deadline;
    }
}

/// Where a plugin runs.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// In the host's process, called on the caller's thread: a plugin that
    /// crashes, exits or misses a deadline ends the host.
    InProcess,
    /// In a plugin process of its own, started from this program.
    Process(PluginHostProgram),
}

/// How the host reaches a plugin it creates.
#[derive(Debug, Clone)]
pub struct CallOptions {
    pub isolation: Isolation,
    pub deadlines: Deadlines,
}

/// A plugin instance. Cheap to clone. Calls block; a host on an async
/// runtime makes them from blocking threads so a slow plugin never stalls
/// it, with one exception: a runner's `parse_output`, called for every
/// batch of lines a test process prints, is made where the lines are read,
/// since handing it to a thread would cost more than the call. Runners
/// answer it from the lines alone, at once (the SDK's
/// `Runner::parse_output` says so). In process, a watchdog keeps every
/// call's deadline (see `watchdog.rs`).
pub struct Plugin<V> {
    inner: Arc<Inner<V>>,
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

struct Inner<V> {
    label: Arc<str>,
    transport: Transport<V>,
}

enum Transport<V> {
    /// Called on the caller's thread, a watchdog keeping its deadlines
    /// when it has any (the SDK's harness calls without).
    Here {
        object: Object<V>,
        deadlines: Option<Deadlines>,
    },
    Process(PluginProcess),
    /// Could not be created: every call fails as its creation did.
    Broken(CreateError),
}

/// A plugin object that may be called from any thread.
pub(crate) struct Object<V>(pub(crate) PluginObject<V>);

// SAFETY: the SDK only accepts `Send + Sync` plugin types, its vtables are
// statics, and every vtable function takes the state by shared reference.
unsafe impl<V> Send for Object<V> {}
unsafe impl<V> Sync for Object<V> {}

/// A plugin that could not be created.
#[derive(Debug, Clone)]
pub struct CreateError {
    /// The plugin, as `downloader `http``.
    pub plugin: String,
    /// One of the `PluginError` codes, or of [`CallError`]'s own.
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

/// A plugin as messages name it: `runner `pytest``.
pub(crate) fn label(kind: PluginKind, name: &str) -> String {
    format!("{kind} `{name}`")
}

/// Creates a plugin of `module` in this process, on this thread.
pub(crate) fn construct<V: PluginVTable>(
    module: PluginLibraryRef,
    name: &str,
    settings: &str,
) -> Result<PluginObject<V>, PluginError> {
    match V::constructor(module)(RStr::from_str(name), RStr::from_str(settings)) {
        RResult::ROk(object) => Ok(object),
        RResult::RErr(e) => Err(e),
    }
}

impl<V: PluginVTable> Plugin<V> {
    /// Creates the plugin `name` of `library` with its settings block, in
    /// this process, called on the caller's thread without deadlines: what
    /// a plugin's own tests want.
    pub fn create(
        library: &Library,
        name: &str,
        settings: &serde_json::Value,
    ) -> Result<Self, CreateError> {
        let label: Arc<str> = label(V::KIND, name).into();
        let object = construct_here::<V>(library, &label, name, &settings_text(settings))?;
        let transport = Transport::Here {
            object,
            deadlines: None,
        };
        Ok(Self::with(label, transport))
    }

    /// Creates the plugin `name` of `library` as `options` say: in this
    /// process or in one of its own, every call with a deadline.
    pub fn create_with(
        library: &Library,
        name: &str,
        settings: &serde_json::Value,
        options: &CallOptions,
    ) -> Result<Self, CreateError> {
        let label: Arc<str> = label(V::KIND, name).into();
        let settings = settings_text(settings);
        let deadlines = options.deadlines.clone();
        let transport = match &options.isolation {
            Isolation::InProcess => {
                let deadline = deadlines.get(Operation::Create);
                let _watched = Watchdog::watch(&label, Operation::Create, deadline);
                let object = construct_here::<V>(library, &label, name, &settings)?;
                Transport::Here {
                    object,
                    deadlines: Some(deadlines),
                }
            }
            Isolation::Process(program) => {
                let library = &library.path;
                let process =
                    PluginProcess::start(program, library, V::KIND, name, settings, deadlines);
                Transport::Process(process?)
            }
        };
        Ok(Self::with(label, transport))
    }

    /// A plugin whose creation failed with `error`: every call fails
    /// with it, so that what needed the plugin fails where it is used and
    /// the rest of a run goes on.
    pub fn broken(name: &str, error: CreateError) -> Self {
        Self::with(label(V::KIND, name).into(), Transport::Broken(error))
    }

    fn with(label: Arc<str>, transport: Transport<V>) -> Self {
        Self {
            inner: Arc::new(Inner { label, transport }),
        }
    }

    /// The plugin as messages name it: `runner `pytest``.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        operation: Operation,
        request: &Req,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<Resp, CallError> {
        self.call_reading(operation, request, progress, PhantomData)
    }

    /// The same, the answer read through `reading`.
    fn call_reading<Req: Serialize, Read: Reading>(
        &self,
        operation: Operation,
        request: &Req,
        progress: Option<&ProgressFn<'_>>,
        reading: Read,
    ) -> Result<Read::Value, CallError> {
        let label = &self.inner.label;
        let request = serde_json::to_string(request).expect("host messages always serialize");
        let answer = match &self.inner.transport {
            Transport::Here { object, deadlines } => {
                let _watched = watch(label, operation, deadlines);
                invoke_here(object, operation, &request, progress)
            }
            Transport::Process(process) => process.call(label, operation, request, progress)?,
            Transport::Broken(creation) => return Err(self.not_created(operation, creation)),
        };
        self.read_answer_with(operation, answer, reading)
    }

    /// What the plugin answered `operation`, read.
    fn read_answer<Resp: DeserializeOwned>(
        &self,
        operation: Operation,
        answer: Answer,
    ) -> Result<Resp, CallError> {
        self.read_answer_with(operation, answer, PhantomData)
    }

    fn read_answer_with<Read: Reading>(
        &self,
        operation: Operation,
        answer: Answer,
        reading: Read,
    ) -> Result<Read::Value, CallError> {
        let error = |code, message: String| CallError {
            plugin: self.inner.label.to_string(),
            operation: operation.name(),
            code,
            message,
        };
        match answer {
            Ok(response) => reading.read(&response).map_err(|e| {
                error(
                    PluginError::INVALID_REQUEST,
                    format!("unreadable answer: {e}"),
                )
            }),
            Err(e) => Err(error(e.code, e.message.into_string())),
        }
    }

    fn not_created(&self, operation: Operation, creation: &CreateError) -> CallError {
        CallError {
            plugin: self.inner.label.to_string(),
            operation: operation.name(),
            code: CallError::NOT_CREATED,
            message: format!("it could not be created: {}", creation.message),
        }
    }
}

/// Keeps `operation`'s deadline, if the plugin has deadlines, until the
/// guard answered is dropped.
fn watch(label: &Arc<str>, operation: Operation, deadlines: &Option<Deadlines>) -> Option<Watched> {
    (deadlines.as_ref())
        .map(|deadlines| Watchdog::watch(label, operation, deadlines.get(operation)))
}

/// Makes a call on this thread.
pub(crate) fn invoke_here<V: PluginVTable>(
    object: &Object<V>,
    operation: Operation,
    request: &str,
    progress: Option<&ProgressFn<'_>>,
) -> Answer {
    let no_progress = |_, _| true;
    let progress = progress.unwrap_or(&no_progress);
    with_progress_sink(progress, |sink| {
        V::invoke(&object.0, operation, RStr::from_str(request), sink)
    })
    .map(answer_of)
    .unwrap_or_else(|| Err(no_such_call::<V>(operation)))
}

/// Creates plugin `name`, which messages call `label`, in this process,
/// on this thread, mapping its library here if it is not yet.
fn construct_here<V: PluginVTable>(
    library: &Library,
    label: &str,
    name: &str,
    settings: &str,
) -> Result<Object<V>, CreateError> {
    let failed = |code, message| CreateError {
        plugin: label.to_owned(),
        code,
        message,
    };
    let module = library.module().map_err(|refusal| {
        let message = format!("its library cannot be loaded in this process: {refusal}");
        failed(PluginError::FAILED, message)
    })?;
    construct::<V>(module, name, settings)
        .map(Object)
        .map_err(|e| failed(e.code, e.message.into_string()))
}

/// How an answer's JSON is read into what its call answers.
trait Reading {
    type Value;
    fn read(self, json: &str) -> serde_json::Result<Self::Value>;
}

/// Read as its type reads itself.
impl<T: DeserializeOwned> Reading for PhantomData<T> {
    type Value = T;

    fn read(self, json: &str) -> serde_json::Result<T> {
        serde_json::from_str(json)
    }
}

/// Reads a list with room made for `room` items first. A list read from
/// JSON grows by doubling: a batch's ten thousand results held room for
/// sixteen thousand at the host's fullest moment of memory.
struct ListWithRoom<T> {
    room: usize,
    item: PhantomData<T>,
}

impl<T> ListWithRoom<T> {
    /// Room made first at most: a guess is no reason to hold more.
    const MOST_ROOM: usize = 1 << 20;

    fn new(room: usize) -> Self {
        Self {
            room: room.min(Self::MOST_ROOM),
            item: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Reading for ListWithRoom<T> {
    type Value = Vec<T>;

    fn read(self, json: &str) -> serde_json::Result<Vec<T>> {
        let mut json = serde_json::Deserializer::from_str(json);
        let list = self.deserialize(&mut json)?;
        json.end()?;
        Ok(list)
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ListWithRoom<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListWithRoom<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Vec<T>, A::Error> {
        let mut list = Vec::with_capacity(self.room);
        while let Some(item) = items.next_element()? {
            list.push(item);
        }
        Ok(list)
    }
}

fn answer_of(result: CallResult) -> Answer {
    match result {
        RResult::ROk(response) => Ok(response.into_string()),
        RResult::RErr(e) => Err(e),
    }
}

fn no_such_call<V: PluginVTable>(operation: Operation) -> PluginError {
    PluginError::new(
        PluginError::INVALID_REQUEST,
        format!("a {} has no `{operation}` call", V::KIND),
    )
}

fn settings_text(settings: &serde_json::Value) -> String {
    serde_json::to_string(settings).expect("JSON values serialize")
}

/// A deadline as messages give it: `30 s`, `1.5 s`.
pub(crate) fn seconds(deadline: Duration) -> String {
    format!("{} s", deadline.as_secs_f64())
}

/// One stream of a process whose output a runner reads: what every call
/// about it says besides the lines, made once.
#[derive(Debug, Clone)]
pub struct OutputStream {
    source: SourceInfo,
    stream: Stream,
    /// An [`OutputRequest`] without lines, as JSON: the text a runner reads
    /// once from [`OutputLines`].
    json: String,
}

impl OutputStream {
    pub fn new(source: SourceInfo, stream: Stream) -> Self {
        let json = serde_json::to_string(&LinesOf {
            source: &source,
            stream,
            lines: &[],
        })
        .expect("host messages always serialize");
        Self {
            source,
            stream,
            json,
        }
    }

    pub fn stream(&self) -> Stream {
        self.stream
    }

    /// The request, with `lines`, as a runner's `parse_output` reads it.
    fn request<'a>(&'a self, lines: &'a [String]) -> LinesOf<'a> {
        LinesOf {
            source: &self.source,
            stream: self.stream,
            lines,
        }
    }
}

/// An [`OutputRequest`] made of borrowed parts: the same JSON.
#[derive(Serialize)]
struct LinesOf<'a> {
    source: &'a SourceInfo,
    stream: Stream,
    lines: &'a [String],
}

impl RunnerPlugin {
    pub fn discover(&self, request: &DiscoverRequest) -> Result<DiscoveryStep, CallError> {
        self.call(Operation::Discover, request, None)
    }

    pub fn plan_execution(&self, request: &ExecutionRequest) -> Result<ExecutionPlan, CallError> {
        self.call(Operation::PlanExecution, request, None)
    }

    /// The live events in `lines`, which `stream` printed. A runner built
    /// against 1.10 or later, in this process, is handed the lines as they
    /// are ([`OutputLines`]); any other is sent an [`OutputRequest`].
    pub fn parse_output(
        &self,
        stream: &OutputStream,
        lines: &[String],
    ) -> Result<Vec<LiveEvent>, CallError> {
        let operation = Operation::ParseOutput;
        let raw = match &self.inner.transport {
            Transport::Here { object, deadlines } => {
                (object.0.vtable.parse_lines()).map(|parse_lines| (object, deadlines, parse_lines))
            }
            _ => None,
        };
        let Some((object, deadlines, parse_lines)) = raw else {
            return self.call(operation, &stream.request(lines), None);
        };
        let lines: Vec<RStr<'_>> = lines.iter().map(|line| RStr::from_str(line)).collect();
        let output = OutputLines {
            request: RStr::from_str(&stream.json),
            lines: RSlice::from_slice(&lines),
        };
        let _watched = watch(&self.inner.label, operation, deadlines);
        let answer = answer_of(parse_lines(&object.0.state, output));
        self.read_answer(operation, answer)
    }

    pub fn collect_results(&self, request: &CollectRequest) -> Result<Vec<TestResult>, CallError> {
        self.collect_results_of(request, request.tests.len())
    }

    /// The same, read with room made for `expected` results first: a host
    /// that watched the process's live output knows better than the tests
    /// it asked for (an expanding case is one). Each result is read as an
    /// `Item`: a [`TestResult`], or a type of the host's own that reads as
    /// one (`#[serde(from = "TestResult")]`) and holds it in less room.
    pub fn collect_results_of<Item: DeserializeOwned>(
        &self,
        request: &CollectRequest,
        expected: usize,
    ) -> Result<Vec<Item>, CallError> {
        let reading = ListWithRoom::new(expected);
        self.call_reading(Operation::CollectResults, request, None, reading)
    }
}

impl DownloaderPlugin {
    /// Downloads `request.uri`; `progress` hears of the bytes written.
    pub fn download(
        &self,
        request: &DownloadRequest,
        progress: &ProgressFn<'_>,
    ) -> Result<DownloadResponse, CallError> {
        self.call(Operation::Download, request, Some(progress))
    }
}

impl CollectorPlugin {
    pub fn on_event(&self, event: &LifecycleEvent) -> Result<CollectorResponse, CallError> {
        self.call(Operation::OnEvent, event, None)
    }
}

impl AttachmentProcessorPlugin {
    pub fn process(
        &self,
        request: &ProcessRequest,
        progress: &ProgressFn<'_>,
    ) -> Result<ProcessResponse, CallError> {
        self.call(Operation::Process, request, Some(progress))
    }
}
