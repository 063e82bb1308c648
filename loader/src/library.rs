//! Loading one plugin library and deciding whether this host can use it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, LibHeader};
use abi_stable::sabi_types::VersionNumber;
use abi_stable::StableAbi;
use proctor_plugin_api::abi::PluginLibraryRef;
use proctor_plugin_api::messages::{BuildInfo, LibraryManifest, PluginKind};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::call::rstring_json;
use crate::elf::{self, Unmappable};

/// A library the host checked and can use: mapped into this process, or
/// described by a plugin process that mapped it ([`crate::describe_library`])
/// and mapped here only if one of its plugins is to run in this process.
pub struct Library {
    pub path: PathBuf,
    pub manifest: LibraryManifest,
    /// `None` for libraries built against plugin-api 1.0, which predates it.
    pub build_info: Option<BuildInfo>,
    module: OnceLock<PluginLibraryRef>,
}

impl Library {
    /// The library's root module, mapping the library into this process
    /// (with every check of [`load_library`]) if it is not yet. A library
    /// known by a description must still declare what it described: its
    /// file may have been replaced since.
    #[allow(
        clippy::result_large_err,
        reason = "a library is mapped once, and a refusal carries what its message needs"
    )]
    pub fn module(&self) -> Result<PluginLibraryRef, Refusal> {
        if let Some(module) = self.module.get() {
            return Ok(*module);
        }
        let loaded = load_library(&self.path)?;
        if loaded.manifest != self.manifest {
            return Err(Refusal {
                plugins: plugin_names(&Some(loaded.manifest.clone())),
                api_version: Some(loaded.manifest.api_version.clone()),
                ..Refusal::unread(&self.path, RefusalReason::Changed)
            });
        }
        let mapped = loaded.module()?;
        Ok(*self.module.get_or_init(|| mapped))
    }

    /// A library known by its description (a plugin process's, or one kept
    /// from an earlier look at the same file), not mapped here.
    pub fn described(path: &Path, description: Description) -> Self {
        Self {
            path: path.to_path_buf(),
            manifest: description.manifest,
            build_info: description.build_info,
            module: OnceLock::new(),
        }
    }

    /// What a plugin process tells the host of it.
    pub fn description(&self) -> Description {
        Description {
            manifest: self.manifest.clone(),
            build_info: self.build_info.clone(),
        }
    }
}

/// What a library declares, as a plugin process that loaded it tells the
/// host: all the host needs to find its plugins before mapping it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Description {
    manifest: LibraryManifest,
    build_info: Option<BuildInfo>,
}

/// A library the host will not use, and why: its message names the
/// library, the plugins it declares, and both sides' plugin-api versions.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
#[error("{}", self.message())]
pub struct Refusal {
    pub path: PathBuf,
    /// The plugins it declares, when its manifest could be read at all.
    pub plugins: Vec<Declared>,
    /// The plugin-api version it was built against, when readable.
    pub api_version: Option<String>,
    /// The plugin-api version of this side.
    pub host_api_version: String,
    pub reason: RefusalReason,
}

/// A plugin a refused library declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    pub kind: PluginKind,
    pub name: String,
    pub version: String,
}

impl std::fmt::Display for Declared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}` {}", self.kind, self.name, self.version)
    }
}

/// Why a library was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalReason {
    /// It is no library, or exports no proctor root module.
    NotAPluginLibrary(String),
    /// Its file was read and found unfit to map: truncated, for another
    /// machine, or no proctor library. It was never mapped. (Found before a
    /// plugin process is asked, so never sent by one.)
    #[serde(skip)]
    Unmappable(Unmappable),
    /// The plugin process that loaded it to read its manifest ended or
    /// hung: a constructor of the library that exits, crashes or loops.
    PluginProcess(String),
    /// Its plugin-api version cannot be read.
    UnreadableVersion(String),
    /// Its plugin-api major version is not this host's.
    MajorVersion,
    /// A type it shares with the host is laid out differently.
    Layout(String),
    /// Its root module could not be loaded.
    RootModule(String),
    /// Its manifest is not valid JSON of the plugin API.
    UnreadableManifest,
    /// Mapped to create a plugin, it declared other plugins than it did
    /// when it was described: its file changed in between.
    Changed,
}

impl Refusal {
    /// A refusal of `path` for `reason`, before its manifest could be read.
    pub(crate) fn unread(path: &Path, reason: RefusalReason) -> Self {
        Self {
            path: path.to_path_buf(),
            plugins: Vec::new(),
            api_version: None,
            host_api_version: host_api_version().to_string(),
            reason,
        }
    }

    fn message(&self) -> String {
        let host = &self.host_api_version;
        let host_major = host.split('.').next().unwrap_or(host);
        let named = describe(&self.path, &self.plugins);
        let library = self.api_version.as_deref().unwrap_or("unknown");
        match &self.reason {
            RefusalReason::NotAPluginLibrary(detail) => {
                format!("not a proctor plugin library: {detail}")
            }
            RefusalReason::Unmappable(why) => format!("refused before mapping: {why}"),
            RefusalReason::PluginProcess(what) => format!(
                "it was loaded in a plugin process to read its manifest, and {what} \
                 (a constructor of the library may have ended it)"
            ),
            RefusalReason::UnreadableVersion(detail) => {
                format!("unreadable plugin-api version: {detail}")
            }
            RefusalReason::MajorVersion => format!(
                "{named} was built against plugin-api {library}; this host speaks plugin-api {host}, \
                 and major versions are not compatible: rebuild the plugin against proctor-sdk {host_major}.x"
            ),
            RefusalReason::Layout(detail) => format!(
                "{named} (plugin-api {library}) does not match the layout of this host's \
                 plugin-api {host}: {detail}"
            ),
            RefusalReason::RootModule(detail) => {
                format!("its root module failed to load: {detail}")
            }
            RefusalReason::UnreadableManifest => "its manifest is unreadable".to_owned(),
            RefusalReason::Changed => format!(
                "{named} declares other plugins than when it was described: \
                 its file changed since; the next run looks at it afresh"
            ),
        }
    }
}

/// The plugin-api version this side was built against.
pub fn host_api_version() -> Version {
    Version::parse(proctor_plugin_api::API_VERSION).expect("the crate version is semver")
}

/// Loads a library: reads its file to see that it can be mapped safely,
/// then checks the plugin-api version it was built against, then
/// the layout of every type it shares with the host, then reads its manifest.
/// A library of the same major version loads whether it is older or newer.
/// Libraries are never unloaded (abi_stable keeps them), so a refused library
/// stays mapped; that is the price of reading its manifest for the message.
#[allow(
    clippy::result_large_err,
    reason = "loading happens once per library, and a refusal carries what its message needs"
)]
pub fn load_library(path: &Path) -> Result<Library, Refusal> {
    let host = host_api_version();
    let refuse = |plugins: Vec<Declared>, api_version: Option<String>, reason| Refusal {
        path: path.to_path_buf(),
        plugins,
        api_version,
        host_api_version: host.to_string(),
        reason,
    };
    check_file(path)?;
    let header = lib_header_from_path(path).map_err(|e| {
        let detail = one_line(&e.to_string());
        refuse(Vec::new(), None, RefusalReason::NotAPluginLibrary(detail))
    })?;

    let library_version = VersionNumber::new(header.version_strings())
        .map(|v| Version::new(v.major.into(), v.minor.into(), v.patch.into()))
        .map_err(|e| {
            let detail = e.to_string();
            refuse(Vec::new(), None, RefusalReason::UnreadableVersion(detail))
        })?;
    let declared = Some(library_version.to_string());
    let declared_plugins = || plugin_names(&read_manifest_of_any_version(header));
    if library_version.major != host.major {
        let reason = RefusalReason::MajorVersion;
        return Err(refuse(declared_plugins(), declared, reason));
    }
    check_layout(header, &library_version, &host).map_err(|detail| {
        refuse(
            declared_plugins(),
            declared.clone(),
            RefusalReason::Layout(detail),
        )
    })?;
    // SAFETY: the layout of every type shared with the library was just checked.
    let module = unsafe { header.unchecked_layout::<PluginLibraryRef>() }.map_err(|e| {
        let reason = RefusalReason::RootModule(e.to_string());
        refuse(Vec::new(), declared.clone(), reason)
    })?;
    let manifest: LibraryManifest = rstring_json(module.manifest()()).ok_or_else(|| {
        refuse(
            Vec::new(),
            declared.clone(),
            RefusalReason::UnreadableManifest,
        )
    })?;
    let build_info = module
        .build_info()
        .and_then(|build_info| rstring_json(build_info()));
    Ok(Library {
        path: path.to_path_buf(),
        manifest,
        build_info,
        module: OnceLock::from(module),
    })
}

/// Reads a library file, without mapping it, for what would make mapping
/// it unsafe ([`elf::check`]).
#[allow(
    clippy::result_large_err,
    reason = "a library is checked once, and a refusal carries what its message needs"
)]
pub(crate) fn check_file(path: &Path) -> Result<(), Refusal> {
    elf::check(path).map_err(|why| Refusal::unread(path, RefusalReason::Unmappable(why)))
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

fn plugin_names(manifest: &Option<LibraryManifest>) -> Vec<Declared> {
    manifest
        .iter()
        .flat_map(|m| &m.plugins)
        .map(|p| Declared {
            kind: p.kind,
            name: p.name.clone(),
            version: p.version.clone(),
        })
        .collect()
}

fn describe(path: &Path, plugins: &[Declared]) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    if plugins.is_empty() {
        format!("plugin library {file}")
    } else {
        let plugins: Vec<String> = plugins.iter().map(Declared::to_string).collect();
        format!("plugin library {file} ({})", plugins.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_no_library_is_refused_with_both_sides_known() {
        let file = std::env::temp_dir().join(format!("not-a-plugin-{}.so", std::process::id()));
        std::fs::write(&file, b"plain text").unwrap();
        let refusal = load_library(&file).err().expect("refused");
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(
            refusal.reason,
            RefusalReason::Unmappable(Unmappable::Unreadable(_))
        ));
        assert_eq!(refusal.host_api_version, host_api_version().to_string());
        assert_eq!(
            (refusal.plugins.len(), refusal.api_version.as_deref()),
            (0, None)
        );
        assert!(refusal
            .to_string()
            .starts_with("refused before mapping: not an object file"));
    }

    #[test]
    fn a_refusal_for_another_major_version_names_both_versions_and_the_plugins() {
        let refusal = Refusal {
            path: "/plugins/libvendor.so".into(),
            plugins: vec![Declared {
                kind: PluginKind::Collector,
                name: "vendor".into(),
                version: "3.1.0".into(),
            }],
            api_version: Some("2.0.0".into()),
            host_api_version: "1.7.0".into(),
            reason: RefusalReason::MajorVersion,
        };
        assert_eq!(
            refusal.to_string(),
            "plugin library libvendor.so (collector `vendor` 3.1.0) was built against \
             plugin-api 2.0.0; this host speaks plugin-api 1.7.0, and major versions are not \
             compatible: rebuild the plugin against proctor-sdk 1.x"
        );
    }
}
