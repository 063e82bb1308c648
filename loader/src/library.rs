//! Loading one plugin library and deciding whether this host can use it.

use std::path::{Path, PathBuf};

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, LibHeader};
use abi_stable::sabi_types::VersionNumber;
use abi_stable::StableAbi;
use proctor_plugin_api::abi::PluginLibraryRef;
use proctor_plugin_api::messages::{BuildInfo, LibraryManifest};
use semver::Version;

use crate::call::rstring_json;

/// A library the host checked and can call.
pub struct Library {
    pub path: PathBuf,
    pub module: PluginLibraryRef,
    pub manifest: LibraryManifest,
    /// `None` for libraries built against plugin-api 1.0, which predates it.
    pub build_info: Option<BuildInfo>,
}

/// A library the host will not use, and why.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub path: PathBuf,
    /// The plugins it declares, when its manifest could be read at all.
    pub plugins: Vec<String>,
    pub api_version: Option<String>,
    pub reason: String,
}

/// The plugin-api version this side was built against.
pub fn host_api_version() -> Version {
    Version::parse(proctor_plugin_api::API_VERSION).expect("the crate version is semver")
}

/// Loads a library: checks the plugin-api version it was built against, then
/// the layout of every type it shares with the host, then reads its manifest.
/// A library of the same major version loads whether it is older or newer.
/// Libraries are never unloaded (abi_stable keeps them), so a refused library
/// stays mapped; that is the price of reading its manifest for the message.
pub fn load_library(path: &Path) -> Result<Library, Refusal> {
    let refuse = |plugins: Vec<String>, api_version: Option<String>, reason: String| Refusal {
        path: path.to_path_buf(),
        plugins,
        api_version,
        reason,
    };
    let header = lib_header_from_path(path).map_err(|e| {
        refuse(
            Vec::new(),
            None,
            format!("not a proctor plugin library: {}", one_line(&e.to_string())),
        )
    })?;

    let host = host_api_version();
    let library_version = VersionNumber::new(header.version_strings())
        .map(|v| Version::new(v.major.into(), v.minor.into(), v.patch.into()))
        .map_err(|e| {
            refuse(
                Vec::new(),
                None,
                format!("unreadable plugin-api version: {e}"),
            )
        })?;
    let declared = library_version.to_string();
    if library_version.major != host.major {
        let plugins = plugin_names(&read_manifest_of_any_version(header));
        let named = describe(path, &plugins);
        return Err(refuse(
            plugins,
            Some(declared.clone()),
            format!(
                "{named} was built against plugin-api {library_version}; this host speaks plugin-api {host}, \
                 and major versions are not compatible: rebuild the plugin against proctor-sdk {}.x",
                host.major
            ),
        ));
    }

    let layout_refusal = |detail: String| {
        let plugins = plugin_names(&read_manifest_of_any_version(header));
        refuse(
            plugins.clone(),
            Some(declared.clone()),
            format!(
                "{} (plugin-api {library_version}) does not match the layout of this host's plugin-api {host}: {detail}",
                describe(path, &plugins)
            ),
        )
    };
    check_layout(header, &library_version, &host).map_err(layout_refusal)?;
    // SAFETY: the layout of every type shared with the library was just checked.
    let module = unsafe { header.unchecked_layout::<PluginLibraryRef>() }.map_err(|e| {
        refuse(
            Vec::new(),
            Some(declared.clone()),
            format!("its root module failed to load: {e}"),
        )
    })?;
    let manifest: LibraryManifest = rstring_json(module.manifest()()).ok_or_else(|| {
        refuse(
            Vec::new(),
            Some(declared.clone()),
            "its manifest is unreadable".into(),
        )
    })?;
    let build_info = module
        .build_info()
        .and_then(|build_info| rstring_json(build_info()));
    Ok(Library {
        path: path.to_path_buf(),
        module,
        manifest,
        build_info,
    })
}

/// Checks the library's types against the host's with abi_stable's checker.
///
/// abi_stable takes the loader's types as the interface a library must at
/// least implement, so a prefix type may only have more fields in the
/// library. Plugins are the other way round: a plugin built against 1.0
/// must load in a 1.7 host, whose prefix types have more fields. A library
/// is built against one API version, so all its types are older (or all
/// newer) than the host's; the older side is the interface. Fields a plugin
/// lacks are then read through accessors that answer `None`.
fn check_layout(header: &LibHeader, library: &Version, host: &Version) -> Result<(), String> {
    let library_layout = header
        .layout()
        .ok_or_else(|| "it was exported without layout information".to_owned())?;
    let host_layout = <PluginLibraryRef as StableAbi>::LAYOUT;
    let (interface, implementation) = if library <= host {
        (library_layout, host_layout)
    } else {
        (host_layout, library_layout)
    };
    check_layout_compatibility(interface, implementation).map_err(|errors| {
        let detail = errors.to_string();
        tracing::debug!(%detail, "layout mismatch");
        // The full report lists both layouts; its last `Error:` says what differs.
        let last = detail
            .rfind("Error:")
            .map_or(detail.as_str(), |i| &detail[i..]);
        one_line(last)
    })
}

/// Reads the manifest of a library whose layout was not (or could not be)
/// checked. Sound because of an ABI rule kept in every major version: the
/// root module's first field is `manifest: extern "C" fn() -> RString`.
fn read_manifest_of_any_version(header: &LibHeader) -> Option<LibraryManifest> {
    // SAFETY: only the first field is read, whose type every version keeps.
    let module = unsafe { header.unchecked_layout::<PluginLibraryRef>() }.ok()?;
    rstring_json(module.manifest()())
}

/// abi_stable's messages span lines; a refusal is read on one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn plugin_names(manifest: &Option<LibraryManifest>) -> Vec<String> {
    manifest
        .iter()
        .flat_map(|m| &m.plugins)
        .map(|p| format!("{} `{}` {}", p.kind, p.name, p.version))
        .collect()
}

fn describe(path: &Path, plugins: &[String]) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    if plugins.is_empty() {
        format!("plugin library {file}")
    } else {
        format!("plugin library {file} ({})", plugins.join(", "))
    }
}
