//! What `export_plugins!` expands to: the root module, one static vtable per
//! plugin type, and the `extern "C"` functions behind them. Every function
//! that crosses the boundary runs plugin code inside `guarded`, so a panic
//! becomes a `PluginError` instead of unwinding into the host.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use proctor_plugin_api::__private::abi_stable::{
    marker_type::ErasedObject,
    pointer_trait::TransmuteElement,
    prefix_type::WithMetadata,
    std_types::{RBox, RResult, RStr, RString},
};
use proctor_plugin_api::abi::*;
use proctor_plugin_api::messages::{
    BuildInfo, LibraryManifest, OutputRequest, PluginKind, PluginManifest, TestResult,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::{AttachmentProcessor, Collector, Downloader, Progress, Result, Runner};

#[doc(hidden)]
pub use proctor_plugin_api::__export_root_module;

/// Implemented by `export_plugins!` for the library it defines.
pub trait LibraryDefinition: 'static {
    fn registry() -> &'static Registry;
}

type Make<O> = fn(settings: &str) -> Result<O, PluginError>;
/// The named constructors of one kind.
type Makers<O> = [(&'static str, Make<O>)];

/// The plugins of one library: their manifest and how to create each.
pub struct Registry {
    package: &'static str,
    package_version: &'static str,
    plugins: Vec<PluginManifest>,
    runners: Vec<(&'static str, Make<RunnerObject>)>,
    downloaders: Vec<(&'static str, Make<DownloaderObject>)>,
    collectors: Vec<(&'static str, Make<CollectorObject>)>,
    attachment_processors: Vec<(&'static str, Make<AttachmentProcessorObject>)>,
}

impl Registry {
    pub fn new(package: &'static str, package_version: &'static str) -> Self {
        Self {
            package,
            package_version,
            plugins: Vec::new(),
            runners: Vec::new(),
            downloaders: Vec::new(),
            collectors: Vec::new(),
            attachment_processors: Vec::new(),
        }
    }

    fn declare(&mut self, kind: PluginKind, name: &str, description: &str, capabilities: Value) {
        self.plugins.push(PluginManifest {
            kind,
            name: name.to_owned(),
            version: self.package_version.to_owned(),
            description: description.to_owned(),
            capabilities,
        });
    }

    pub fn runner<R: Runner>(&mut self) {
        self.declare(
            PluginKind::Runner,
            R::NAME,
            R::DESCRIPTION,
            R::capabilities(),
        );
        self.runners.push((R::NAME, |settings| {
            instantiate(
                PluginKind::Runner,
                R::NAME,
                settings,
                R::new,
                RunnerGlue::<R>::vtable(),
            )
        }));
    }

    pub fn downloader<D: Downloader>(&mut self) {
        let capabilities = serde_json::json!({ "schemes": D::SCHEMES });
        self.declare(
            PluginKind::Downloader,
            D::NAME,
            D::DESCRIPTION,
            capabilities,
        );
        self.downloaders.push((D::NAME, |settings| {
            let vtable = DownloaderGlue::<D>::vtable();
            instantiate(PluginKind::Downloader, D::NAME, settings, D::new, vtable)
        }));
    }

    pub fn collector<C: Collector>(&mut self) {
        self.declare(
            PluginKind::Collector,
            C::NAME,
            C::DESCRIPTION,
            serde_json::json!({ "faults": C::CATCHES_FAULTS }),
        );
        self.collectors.push((C::NAME, |settings| {
            let vtable = CollectorGlue::<C>::vtable();
            instantiate(PluginKind::Collector, C::NAME, settings, C::new, vtable)
        }));
    }

    pub fn attachment_processor<P: AttachmentProcessor>(&mut self) {
        let capabilities = serde_json::json!({ "kinds": P::KINDS, "incremental": P::INCREMENTAL });
        self.declare(
            PluginKind::AttachmentProcessor,
            P::NAME,
            P::DESCRIPTION,
            capabilities,
        );
        self.attachment_processors.push((P::NAME, |settings| {
            let vtable = AttachmentProcessorGlue::<P>::vtable();
            instantiate(
                PluginKind::AttachmentProcessor,
                P::NAME,
                settings,
                P::new,
                vtable,
            )
        }));
    }

    fn manifest(&self) -> LibraryManifest {
        LibraryManifest {
            api_version: proctor_plugin_api::API_VERSION.to_owned(),
            plugins: self.plugins.clone(),
        }
    }
}

/// Runs plugin code, turning a panic into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
        Err(PluginError::new(
            PluginError::PANICKED,
            format!("plugin panicked: {message}"),
        ))
    })
}

fn instantiate<P, S, V>(
    kind: PluginKind,
    name: &str,
    settings: &str,
    new: fn(S) -> Result<P>,
    vtable: V,
) -> Result<PluginObject<V>, PluginError>
where
    P: Send + Sync + 'static,
    S: DeserializeOwned,
{
    let settings = parse_settings::<S>(settings).map_err(|e| {
        PluginError::new(
            PluginError::INVALID_SETTINGS,
            format!("{kind} `{name}`: {e}"),
        )
    })?;
    let plugin = new(settings).map_err(|e| match e.is_invalid_settings() {
        true => PluginError::new(
            PluginError::INVALID_SETTINGS,
            format!("{kind} `{name}`: {e}"),
        ),
        false => PluginError::new(
            PluginError::FAILED,
            format!("{kind} `{name}` could not start: {e}"),
        ),
    })?;
    // SAFETY: the state is only ever cast back to `P`, by the vtable built for `P`.
    let state = unsafe { RBox::new(plugin).transmute_element::<ErasedObject>() };
    Ok(PluginObject { state, vtable })
}

/// Reads a settings block; an absent one (`null`) reads as `{}`.
fn parse_settings<S: DeserializeOwned>(json: &str) -> std::result::Result<S, String> {
    let json = match json.trim() {
        "" | "null" => "{}",
        other => other,
    };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("invalid settings: {inner}")
        } else {
            format!("invalid settings at `{path}`: {inner}")
        }
    })
}

/// # Safety
/// `state` must have been created by [`instantiate`] for a `P`.
unsafe fn restore<P>(state: &ErasedObject) -> &P {
    unsafe { &*(state as *const ErasedObject as *const P) }
}

/// Makes `call` on the plugin `state` holds, a panic answered as an error.
fn on_plugin<P>(
    state: &ErasedObject,
    call: impl FnOnce(&P) -> Result<RString, PluginError>,
) -> CallResult {
    guarded(|| {
        // SAFETY: each vtable is built for the type its instances hold.
        let plugin = unsafe { restore::<P>(state) };
        call(plugin)
    })
    .into()
}

/// Decodes a request, runs the operation, encodes the response.
fn json_call<P, Req, Resp>(
    state: &ErasedObject,
    request: RStr<'_>,
    operation: impl FnOnce(&P, Req) -> Result<Resp>,
) -> CallResult
where
    Req: DeserializeOwned,
    Resp: Serialize,
{
    on_plugin(state, |plugin| {
        answer(operation(plugin, read_request(request.as_str())?))
    })
}

fn read_request<Req: DeserializeOwned>(json: &str) -> Result<Req, PluginError> {
    serde_json::from_str(json).map_err(|e| {
        PluginError::new(
            PluginError::INVALID_REQUEST,
            format!("unreadable request: {e}"),
        )
    })
}

/// An operation's response, encoded, or its error.
fn answer<Resp: Serialize>(response: Result<Resp>) -> Result<RString, PluginError> {
    let response = response.map_err(failed)?;
    serde_json::to_string(&response)
        .map(RString::from)
        .map_err(|e| PluginError::new(PluginError::FAILED, format!("unencodable response: {e}")))
}

/// What the host is told of an operation that failed.
fn failed(error: crate::Error) -> PluginError {
    PluginError::new(PluginError::FAILED, error.message())
}

/// The answer to `collect_results`, a JSON list written as each result
/// comes: a process's results are never all held at once.
struct ResultsAnswer {
    json: Vec<u8>,
}

impl Default for ResultsAnswer {
    fn default() -> Self {
        Self { json: vec![b'['] }
    }
}

impl ResultsAnswer {
    fn finish(mut self) -> RString {
        self.json.push(b']');
        String::from_utf8(self.json)
            .expect("serde_json writes UTF-8")
            .into()
    }
}

impl crate::ResultSink for ResultsAnswer {
    fn push(&mut self, result: TestResult) {
        if self.json.len() > 1 {
            self.json.push(b',');
        }
        // Its maps have text keys, and a `Vec` takes every write.
        serde_json::to_writer(&mut self.json, &result).expect("a test result always encodes");
    }
}

thread_local! {
    /// The request `parse_lines` read last, and its text: every call about
    /// one stream of a process brings the same one, with other lines.
    static LAST_OUTPUT_REQUEST: RefCell<Option<(String, OutputRequest)>> =
        const { RefCell::new(None) };
}

/// The request `output` stands for, its JSON read once for each stream.
fn output_request(output: OutputLines<'_>) -> Result<OutputRequest, PluginError> {
    let json = output.request.as_str();
    let mut request = LAST_OUTPUT_REQUEST.with_borrow_mut(|last| match last {
        Some((text, request)) if text == json => Ok(request.clone()),
        _ => {
            let request: OutputRequest = read_request(json)?;
            *last = Some((json.to_owned(), request.clone()));
            Ok(request)
        }
    })?;
    request.lines = (output.lines.iter())
        .map(|line| line.as_str().to_owned())
        .collect();
    Ok(request)
}

struct RunnerGlue<R>(PhantomData<R>);

impl<R: Runner> RunnerGlue<R> {
    const VTABLE: &'static WithMetadata<RunnerVTable> = &WithMetadata::new(RunnerVTable {
        discover: Self::discover,
        plan_execution: Self::plan_execution,
        parse_output: Self::parse_output,
        collect_results: Self::collect_results,
        parse_lines: Self::parse_lines,
    });

    fn vtable() -> RunnerVTableRef {
        RunnerVTableRef(Self::VTABLE.static_as_prefix())
    }

    extern "C" fn discover(state: &ErasedObject, request: RStr<'_>) -> CallResult {
        json_call(state, request, R::discover)
    }

    extern "C" fn plan_execution(state: &ErasedObject, request: RStr<'_>) -> CallResult {
        json_call(state, request, R::plan_execution)
    }

    extern "C" fn parse_output(state: &ErasedObject, request: RStr<'_>) -> CallResult {
        json_call(state, request, R::parse_output)
    }

    extern "C" fn collect_results(state: &ErasedObject, request: RStr<'_>) -> CallResult {
        on_plugin(state, |plugin: &R| {
            let mut answer = ResultsAnswer::default();
            let request = read_request(request.as_str())?;
            plugin
                .stream_results(request, &mut answer)
                .map_err(failed)?;
            Ok(answer.finish())
        })
    }

    extern "C" fn parse_lines(state: &ErasedObject, output: OutputLines<'_>) -> CallResult {
        on_plugin(state, |plugin: &R| {
            answer(plugin.parse_output(output_request(output)?))
        })
    }
}

struct DownloaderGlue<D>(PhantomData<D>);

impl<D: Downloader> DownloaderGlue<D> {
    const VTABLE: &'static WithMetadata<DownloaderVTable> = &WithMetadata::new(DownloaderVTable {
        download: Self::download,
    });

    fn vtable() -> DownloaderVTableRef {
        DownloaderVTableRef(Self::VTABLE.static_as_prefix())
    }

    extern "C" fn download(
        state: &ErasedObject,
        request: RStr<'_>,
        sink: ProgressSink<'_>,
    ) -> CallResult {
        json_call(state, request, |plugin: &D, request| {
            plugin.download(request, &Progress { sink })
        })
    }
}

struct CollectorGlue<C>(PhantomData<C>);

impl<C: Collector> CollectorGlue<C> {
    const VTABLE: &'static WithMetadata<CollectorVTable> = &WithMetadata::new(CollectorVTable {
        on_event: Self::on_event,
    });

    fn vtable() -> CollectorVTableRef {
        CollectorVTableRef(Self::VTABLE.static_as_prefix())
    }

    extern "C" fn on_event(state: &ErasedObject, request: RStr<'_>) -> CallResult {
        json_call(state, request, C::on_event)
    }
}

struct AttachmentProcessorGlue<P>(PhantomData<P>);

impl<P: AttachmentProcessor> AttachmentProcessorGlue<P> {
    const VTABLE: &'static WithMetadata<AttachmentProcessorVTable> =
        &WithMetadata::new(AttachmentProcessorVTable {
            process: Self::process,
        });

    fn vtable() -> AttachmentProcessorVTableRef {
        AttachmentProcessorVTableRef(Self::VTABLE.static_as_prefix())
    }

    extern "C" fn process(
        state: &ErasedObject,
        request: RStr<'_>,
        sink: ProgressSink<'_>,
    ) -> CallResult {
        json_call(state, request, |plugin: &P, request| {
            plugin.process(request, &Progress { sink })
        })
    }
}

/// The root module of the library `L` defines.
pub fn root_module<L: LibraryDefinition>() -> PluginLibraryRef {
    PluginLibraryRef(RootGlue::<L>::MODULE.static_as_prefix())
}

struct RootGlue<L>(PhantomData<L>);

impl<L: LibraryDefinition> RootGlue<L> {
    const MODULE: &'static WithMetadata<PluginLibrary> = &WithMetadata::new(PluginLibrary {
        manifest: Self::manifest,
        new_runner: Self::new_runner,
        new_downloader: Self::new_downloader,
        new_collector: Self::new_collector,
        new_attachment_processor: Self::new_attachment_processor,
        build_info: Self::build_info,
    });

    /// The manifest as JSON; empty if building it panicked, which the host
    /// reports as an unreadable manifest.
    extern "C" fn manifest() -> RString {
        guarded(|| Ok(serde_json::to_string(&L::registry().manifest()).unwrap_or_default()))
            .map(RString::from)
            .unwrap_or_default()
    }

    extern "C" fn build_info() -> RString {
        guarded(|| {
            let registry = L::registry();
            let info = BuildInfo {
                sdk_version: crate::SDK_VERSION.to_owned(),
                package: registry.package.to_owned(),
                package_version: registry.package_version.to_owned(),
            };
            Ok(serde_json::to_string(&info).unwrap_or_default())
        })
        .map(RString::from)
        .unwrap_or_default()
    }

    fn create<O>(
        kind: PluginKind,
        makers: fn(&'static Registry) -> &'static Makers<O>,
        name: RStr<'_>,
        settings: RStr<'_>,
    ) -> RResult<O, PluginError> {
        guarded(|| {
            let name = name.as_str();
            let (_, make) = makers(L::registry())
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| {
                    PluginError::new(
                        PluginError::NO_SUCH_PLUGIN,
                        format!("this library has no {kind} named `{name}`"),
                    )
                })?;
            make(settings.as_str())
        })
        .into()
    }

    extern "C" fn new_runner(
        name: RStr<'_>,
        settings: RStr<'_>,
    ) -> RResult<RunnerObject, PluginError> {
        Self::create(PluginKind::Runner, |r| &r.runners, name, settings)
    }

    extern "C" fn new_downloader(
        name: RStr<'_>,
        settings: RStr<'_>,
    ) -> RResult<DownloaderObject, PluginError> {
        Self::create(PluginKind::Downloader, |r| &r.downloaders, name, settings)
    }

    extern "C" fn new_collector(
        name: RStr<'_>,
        settings: RStr<'_>,
    ) -> RResult<CollectorObject, PluginError> {
        Self::create(PluginKind::Collector, |r| &r.collectors, name, settings)
    }

    extern "C" fn new_attachment_processor(
        name: RStr<'_>,
        settings: RStr<'_>,
    ) -> RResult<AttachmentProcessorObject, PluginError> {
        Self::create(
            PluginKind::AttachmentProcessor,
            |r| &r.attachment_processors,
            name,
            settings,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResultSink;
    use proctor_plugin_api::messages::Outcome;

    #[test]
    fn results_written_as_they_come_read_back_as_the_list() {
        let read = |answer: ResultsAnswer| -> Vec<TestResult> {
            serde_json::from_str(answer.finish().as_str()).unwrap()
        };
        assert!(read(ResultsAnswer::default()).is_empty());
        let results = vec![
            TestResult::new("a", Outcome::Passed),
            TestResult {
                message: Some("expected \"1\",\n got ü".into()),
                ..TestResult::new("b[x,y]", Outcome::Failed)
            },
            TestResult::new("c", Outcome::Skipped),
        ];
        let mut answer = ResultsAnswer::default();
        for result in results.clone() {
            answer.push(result);
        }
        assert_eq!(read(answer), results);
    }
}
