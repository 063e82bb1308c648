//! `proctor plugins`: what the search path holds, and `--check` of one library.

use std::io::Write;
use std::path::{Path, PathBuf};

use proctor_plugin_api::messages::PluginKind;
use serde::Serialize;

use super::Format;
use crate::error::{Error, ExitStatus, Result};
use crate::plugins::{open_library, Catalog, Library};
use proctor_loader::host_api_version;

#[derive(Serialize)]
struct ListedPlugin<'a> {
    kind: PluginKind,
    name: &'a str,
    version: &'a str,
    description: &'a str,
    api_version: &'a str,
    sdk_version: Option<&'a str>,
    library: &'a Path,
    capabilities: &'a serde_json::Value,
}

#[derive(Serialize)]
struct ListedRefusal<'a> {
    library: &'a Path,
    plugins: Vec<String>,
    api_version: Option<&'a str>,
    reason: String,
}

#[derive(Serialize)]
struct PluginListing<'a> {
    host_api_version: &'a str,
    search_path: &'a [PathBuf],
    plugins: Vec<ListedPlugin<'a>>,
    refused: Vec<ListedRefusal<'a>>,
}

/// Prints what the catalog holds; answers whether it holds any plugin.
pub(super) fn print_plugins(catalog: &Catalog, format: Format) -> bool {
    let plugins: Vec<ListedPlugin> = PluginKind::ALL
        .iter()
        .flat_map(|kind| catalog.plugins(*kind))
        .map(|(library, plugin)| ListedPlugin {
            kind: plugin.kind,
            name: &plugin.name,
            version: &plugin.version,
            description: &plugin.description,
            api_version: &library.manifest.api_version,
            sdk_version: library.build_info.as_ref().map(|b| b.sdk_version.as_str()),
            library: &library.path,
            capabilities: &plugin.capabilities,
        })
        .collect();
    let refused: Vec<ListedRefusal> = catalog
        .refused
        .iter()
        .map(|r| ListedRefusal {
            library: &r.path,
            plugins: r.plugins.iter().map(ToString::to_string).collect(),
            api_version: r.api_version.as_deref(),
            reason: r.to_string(),
        })
        .collect();
    let listing = PluginListing {
        host_api_version: proctor_plugin_api::API_VERSION,
        search_path: &catalog.search_path.dirs,
        plugins,
        refused,
    };
    let found = !listing.plugins.is_empty();
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let _ = serde_json::to_writer_pretty(&mut out, &listing);
        let _ = writeln!(out);
        return found;
    }
    let _ = writeln!(out, "host plugin-api {}", listing.host_api_version);
    // Finding none is the caller's error to say, with where it looked.
    if found {
        let _ = writeln!(
            out,
            "{:<21} {:<12} {:<8} {:<11} {:<8} LIBRARY",
            "KIND", "NAME", "VERSION", "PLUGIN-API", "SDK"
        );
    }
    for p in &listing.plugins {
        let _ = writeln!(
            out,
            "{:<21} {:<12} {:<8} {:<11} {:<8} {}",
            p.kind.as_str(),
            p.name,
            p.version,
            p.api_version,
            p.sdk_version.unwrap_or("-"),
            p.library.display()
        );
    }
    for r in &listing.refused {
        let _ = writeln!(out, "refused {}: {}", r.library.display(), r.reason);
    }
    found
}

#[derive(Serialize)]
struct CheckReport<'a> {
    library: &'a Path,
    /// Whether this host loads it.
    compatible: bool,
    reason: Option<String>,
    api_version: Option<&'a str>,
    host_api_version: &'a str,
    sdk_version: Option<&'a str>,
    package: Option<String>,
    plugins: Vec<CheckedPlugin<'a>>,
    /// Things that load but deserve a look.
    notes: Vec<String>,
}

#[derive(Serialize)]
struct CheckedPlugin<'a> {
    kind: PluginKind,
    name: &'a str,
    version: &'a str,
    description: &'a str,
    capabilities: &'a serde_json::Value,
}

/// `proctor plugins --check LIBRARY`: loads one library the way a run would.
pub(super) fn check(path: &Path, format: Format) -> Result<ExitStatus> {
    if !path.is_file() {
        return Err(Error::usage(format!("{} is not a file", path.display())));
    }
    // A bare file name would send the dynamic loader searching its own path.
    let path = &std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let loaded = open_library(path);
    let report = match &loaded {
        Ok(library) => loaded_report(path, library),
        Err(refusal) => CheckReport {
            library: path,
            compatible: false,
            reason: Some(refusal.to_string()),
            api_version: refusal.api_version.as_deref(),
            host_api_version: proctor_plugin_api::API_VERSION,
            sdk_version: None,
            package: None,
            plugins: Vec::new(),
            notes: refusal
                .plugins
                .iter()
                .map(|p| format!("declares {p}"))
                .collect(),
        },
    };
    print_report(&report, format);
    Ok(match report.compatible {
        true => ExitStatus::Passed,
        false => ExitStatus::InfrastructureError,
    })
}

/// What `--check` says of a library this host loads.
fn loaded_report<'a>(path: &'a Path, library: &'a Library) -> CheckReport<'a> {
    let host = proctor_plugin_api::API_VERSION;
    let manifest = &library.manifest;
    let mut notes = Vec::new();
    let declared = semver::Version::parse(&manifest.api_version).ok();
    if declared.as_ref().is_some_and(|v| *v > host_api_version()) {
        notes.push(format!(
            "built against plugin-api {}, newer than this host's {host}: it loads, \
                     and what it declares beyond {host} goes unused",
            manifest.api_version
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for plugin in &manifest.plugins {
        if !names.insert((plugin.kind, &plugin.name)) {
            notes.push(format!(
                "declares {} `{}` twice; the first is used",
                plugin.kind, plugin.name
            ));
        }
        if plugin.kind == PluginKind::Downloader
            && plugin.capabilities["schemes"]
                .as_array()
                .is_none_or(|s| s.is_empty())
        {
            notes.push(format!(
                "downloader `{}` serves no URI scheme: only a download naming it \
                         with `downloader` can use it",
                plugin.name
            ));
        }
    }
    if manifest.plugins.is_empty() {
        notes.push("it declares no plugin".into());
    }
    CheckReport {
        library: path,
        compatible: true,
        reason: None,
        api_version: Some(&manifest.api_version),
        host_api_version: host,
        sdk_version: library.build_info.as_ref().map(|b| b.sdk_version.as_str()),
        package: library
            .build_info
            .as_ref()
            .map(|b| format!("{} {}", b.package, b.package_version)),
        plugins: manifest
            .plugins
            .iter()
            .map(|p| CheckedPlugin {
                kind: p.kind,
                name: &p.name,
                version: &p.version,
                description: &p.description,
                capabilities: &p.capabilities,
            })
            .collect(),
        notes,
    }
}

/// Prints a `--check` report, as JSON or for a person.
fn print_report(report: &CheckReport<'_>, format: Format) {
    let host = report.host_api_version;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let _ = serde_json::to_writer_pretty(&mut out, &report);
        let _ = writeln!(out);
    } else {
        let _ = writeln!(out, "library     {}", report.library.display());
        let _ = writeln!(
            out,
            "plugin-api  {} (this host: {host})",
            report.api_version.unwrap_or("unknown")
        );
        if let Some(sdk) = report.sdk_version {
            let _ = writeln!(out, "sdk         {sdk}");
        }
        if let Some(package) = &report.package {
            let _ = writeln!(out, "built from  {package}");
        }
        for plugin in &report.plugins {
            let _ = writeln!(
                out,
                "plugin      {} `{}` {}: {} {}",
                plugin.kind, plugin.name, plugin.version, plugin.description, plugin.capabilities
            );
        }
        for note in &report.notes {
            let _ = writeln!(out, "note        {note}");
        }
        match &report.reason {
            None => {
                let _ = writeln!(out, "ok: this host loads it");
            }
            Some(reason) => {
                let _ = writeln!(out, "refused: {reason}");
            }
        }
    }
}
