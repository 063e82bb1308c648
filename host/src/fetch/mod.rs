//! Fetching what the configuration's `downloads` name, before discovery.
//!
//! Each download goes through the downloader plugin that serves its URI's
//! scheme, into a hidden staging file beside its destination. The host then
//! checks the SHA-256 and, when asked, unpacks the archive into a hidden
//! directory; only a verified, complete result is renamed into place, so a
//! destination never holds a partial or unverified payload.

pub(crate) mod archive;
mod budget;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use proctor_formats::text::counted;
use proctor_plugin_api::messages::{DownloadRequest, PluginKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, Download, DownloadLimits, UnpackLimits};
use crate::error::{Error, Result};
use crate::plugins::{self, Catalog, DownloaderPlugin};
use crate::redact::Redactor;
use budget::Budget;

use crate::results::{DownloadRecord, Unpacked};

/// Where downloads show their progress (the console); the downloads run on
/// threads of their own, several at once.
pub trait Progress: Sync {
    /// A download begins.
    fn download_started(&self, label: &str) -> Box<dyn DownloadProgress + '_>;
}

/// One download's progress, fed by its plugin's progress reports.
pub trait DownloadProgress: Sync {
    /// `done` bytes of `total`, when known.
    fn update(&self, done: u64, total: Option<u64>);
    /// The download arrived: its size, and `detail` of where it went.
    fn fetched(self: Box<Self>, bytes: u64, detail: &str);
    /// What a download would bring was already in place.
    fn reused(self: Box<Self>, detail: &str);
    /// The download failed; the error is reported where it is handled.
    fn failed(self: Box<Self>);
}

/// The downloads of a configuration, each with the plugin that will fetch it.
pub struct Fetcher {
    downloads: Vec<(Download, Downloader)>,
    parallel: usize,
    unpack_limits: UnpackLimits,
    limits: DownloadLimits,
    /// The configuration's directory, for plugins whose settings hold paths.
    base_dir: PathBuf,
    /// A downloader's words may quote the URI it was sent, secrets and all.
    redactor: Redactor,
}

/// Whether the run was asked to stop, asked as downloads go.
pub type Stopped<'a> = dyn Fn() -> bool + Sync + 'a;

/// A downloader plugin and its name.
#[derive(Clone)]
struct Downloader {
    name: String,
    plugin: DownloaderPlugin,
}

/// Written beside a pinned download, so a later run can reuse it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Stamp {
    uri: String,
    sha256: String,
    extract: bool,
    bytes: u64,
}

impl Fetcher {
    /// Picks and creates a downloader for every download. Everything that
    /// can be wrong in the configuration is found here, before any transfer.
    pub fn prepare(config: &Config, catalog: &Catalog) -> Result<Self> {
        let at = |location: &str, error: Error| {
            (error.redacted(&config.redactor)).at(format!("{}: {location}", config.file.display()))
        };
        let create = |name: &str, location: &str| -> Result<Downloader> {
            let (library, _) = catalog
                .find(PluginKind::Downloader, name)
                .map_err(|e| at(location, e.into()))?;
            let settings = config.downloaders.get(name).cloned().unwrap_or_default();
            let block = format!("downloaders.{name}");
            let plugin =
                plugins::create(library, name, &settings, &config.plugin_policy).map_err(|e| {
                    Error::of_plugin_creation(e, config, &block).redacted(&config.redactor)
                })?;
            Ok(Downloader {
                name: name.to_owned(),
                plugin,
            })
        };
        // Every configured block is checked, whether a download uses it or not.
        let mut created: BTreeMap<String, Downloader> = BTreeMap::new();
        for name in config.downloaders.keys() {
            created.insert(name.clone(), create(name, &format!("downloaders.{name}"))?);
        }
        let mut downloads = Vec::new();
        for download in &config.downloads.items {
            let name = match &download.downloader {
                Some(name) => name.clone(),
                None => serving(catalog, &download.scheme(), &config.downloaders)
                    .map_err(|e| at(&format!("{}.uri", download.location), Error::usage(e)))?,
            };
            let downloader = match created.get(&name) {
                Some(downloader) => downloader.clone(),
                None => {
                    let downloader = create(&name, &format!("{}.downloader", download.location))?;
                    created.insert(name, downloader.clone());
                    downloader
                }
            };
            downloads.push((download.clone(), downloader));
        }
        Ok(Self {
            downloads,
            parallel: config.downloads.parallel,
            unpack_limits: config.downloads.unpack_limits,
            limits: config.downloads.limits,
            base_dir: config.base_dir.clone(),
            redactor: config.redactor.clone(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.downloads.is_empty()
    }

    /// Runs every download, `parallel` at a time, until `stopped` answers
    /// true: from then on none starts, and each under way is cancelled at
    /// its plugin's next report of progress. Answers each one's record or
    /// error, in configuration order.
    pub fn fetch(
        &self,
        progress: &dyn Progress,
        stopped: &Stopped<'_>,
    ) -> Vec<std::result::Result<DownloadRecord, String>> {
        let next = AtomicUsize::new(0);
        let results = Mutex::new(BTreeMap::new());
        std::thread::scope(|scope| {
            for _ in 0..self.parallel.min(self.downloads.len()) {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((download, downloader)) = self.downloads.get(index) else {
                        break;
                    };
                    let result = match self.fetch_one(download, downloader, progress, stopped) {
                        Ok(mut record) => {
                            for reason in &mut record.retried_because {
                                *reason = self.redactor.redacted(reason);
                            }
                            Ok(record)
                        }
                        Err(e) => Err(format!(
                            "{}: {}",
                            download.location,
                            self.redactor.redact(&e)
                        )),
                    };
                    results.lock().unwrap().insert(index, result);
                });
            }
        });
        results.into_inner().unwrap().into_values().collect()
    }

    fn fetch_one(
        &self,
        download: &Download,
        downloader: &Downloader,
        progress: &dyn Progress,
        stopped: &Stopped<'_>,
    ) -> std::result::Result<DownloadRecord, String> {
        let stopped_error = || format!("{}: not fetched: the run was asked to stop", download.uri);
        if stopped() {
            return Err(stopped_error());
        }
        let started = Instant::now();
        let destination = &download.destination;
        let parent = destination
            .parent()
            .expect("destinations are inside a directory");
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let record = |bytes, unpacked, attempts, retried_because, reused| DownloadRecord {
            role: download.role,
            uri: download.uri.clone(),
            destination: destination.clone(),
            downloader: downloader.name.clone(),
            bytes,
            sha256: download.sha256.clone(),
            unpacked,
            attempts,
            retried_because,
            reused,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let stamp_path = beside(destination, "download.json");
        if let Some(stamp) = reusable(download, &stamp_path) {
            progress
                .download_started(&download.uri)
                .reused(" (its SHA-256 matches)");
            return Ok(record(stamp.bytes, None, 0, Vec::new(), true));
        }
        let _ = std::fs::remove_file(&stamp_path);

        let staging = beside(destination, "download");
        let _ = std::fs::remove_file(&staging);
        let bar = progress.download_started(&download.uri);
        let request = DownloadRequest {
            uri: download.request_uri.clone(),
            destination: staging.clone(),
            base_dir: Some(self.base_dir.clone()),
        };
        let plugin = &downloader.plugin;
        let budget = Budget::new(self.limits, parent);
        let response = plugin.download(&request, &|done, total| {
            bar.update(done, total);
            budget.allows(done, total) && !stopped()
        });
        // A download past its budget fails for that, and one cancelled
        // for a stop for that, whatever the downloader made of being
        // cancelled.
        let staged = std::fs::metadata(&staging).map_or(0, |m| m.len());
        let result = match budget.exceeded_by(staged) {
            Some(why) => Err(format!("{}: {why}", download.uri)),
            None if response.is_err() && stopped() => Err(stopped_error()),
            None => response.map_err(|e| e.to_string()).and_then(|response| {
                let (bytes, unpacked) =
                    verify_and_place(download, plugin, &staging, self.unpack_limits)?;
                Ok((response, bytes, unpacked))
            }),
        };
        let _ = std::fs::remove_file(&staging);
        match result {
            Ok((response, bytes, unpacked)) => {
                if let Some(sha256) = &download.sha256 {
                    let stamp = Stamp {
                        uri: download.uri.clone(),
                        sha256: sha256.clone(),
                        extract: download.extract,
                        bytes,
                    };
                    let _ = std::fs::write(
                        &stamp_path,
                        serde_json::to_vec(&stamp).expect("serializes"),
                    );
                }
                let detail = match unpacked {
                    Some(u) => format!(
                        " -> {} ({})",
                        destination.display(),
                        counted(u.files as usize, "file")
                    ),
                    None => format!(" -> {}", destination.display()),
                };
                bar.fetched(bytes, &detail);
                Ok(record(
                    bytes,
                    unpacked,
                    response.attempts.unwrap_or(1),
                    response.retried_because,
                    false,
                ))
            }
            Err(error) => {
                bar.failed();
                Err(error)
            }
        }
    }
}

/// The downloader serving `scheme`: the one the configuration gives settings
/// to when several do, else the first on the search path.
fn serving(
    catalog: &Catalog,
    scheme: &str,
    configured: &BTreeMap<String, serde_json::Value>,
) -> std::result::Result<String, String> {
    let candidates: Vec<&str> = catalog
        .plugins(PluginKind::Downloader)
        .filter(|(_, manifest)| {
            manifest.capabilities["schemes"]
                .as_array()
                .is_some_and(|schemes| schemes.iter().any(|s| s.as_str() == Some(scheme)))
        })
        .map(|(_, manifest)| manifest.name.as_str())
        .collect();
    let chosen = candidates
        .iter()
        .find(|name| configured.contains_key(**name))
        .or(candidates.first());
    match chosen {
        Some(name) => Ok((*name).to_owned()),
        None => {
            let served: Vec<String> = catalog
                .plugins(PluginKind::Downloader)
                .map(|(_, m)| format!("{} ({})", m.name, m.capabilities["schemes"]))
                .collect();
            Err(format!(
                "no downloader plugin serves `{scheme}:` URIs; looked in: {}; downloaders found: {}",
                catalog.search_path,
                if served.is_empty() { "none".into() } else { served.join(", ") }
            ))
        }
    }
}

/// A hidden path beside `destination`: `<dir>/.<name>.<suffix>`.
fn beside(destination: &Path, suffix: &str) -> PathBuf {
    let name = destination
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    destination.with_file_name(format!(".{name}.{suffix}"))
}

/// Checks what the plugin left at `staging` and moves it, unpacked when
/// asked, to the download's destination. Answers the bytes downloaded.
fn verify_and_place(
    download: &Download,
    plugin: &DownloaderPlugin,
    staging: &Path,
    limits: UnpackLimits,
) -> std::result::Result<(u64, Option<Unpacked>), String> {
    let staged = std::fs::metadata(staging).map_err(|e| {
        format!(
            "{} reported success but left no file at {}: {e}",
            plugin.label(),
            staging.display()
        )
    })?;
    if let Some(expected) = &download.sha256 {
        let actual = sha256_of(staging)?;
        if &actual != expected {
            return Err(format!(
                "{}: SHA-256 mismatch: the configuration expects {expected}, the download has {actual}",
                download.uri
            ));
        }
    }
    let unpacked = match download.extract {
        true => Some(
            unpack_into_place(staging, &download.destination, limits)
                .map_err(|e| format!("{}: cannot unpack: {e}", download.uri))?,
        ),
        false => {
            replace(staging, &download.destination)?;
            None
        }
    };
    Ok((staged.len(), unpacked))
}

/// The stamp of a pinned download whose destination still holds it.
fn reusable(download: &Download, stamp_path: &Path) -> Option<Stamp> {
    let sha256 = download.sha256.as_ref()?;
    let stamp: Stamp = serde_json::from_slice(&std::fs::read(stamp_path).ok()?).ok()?;
    let same =
        stamp.uri == download.uri && &stamp.sha256 == sha256 && stamp.extract == download.extract;
    let present = match download.extract {
        true => download.destination.is_dir(),
        false => std::fs::metadata(&download.destination).is_ok_and(|m| m.len() == stamp.bytes),
    };
    (same && present).then_some(stamp)
}

fn sha256_of(path: &Path) -> std::result::Result<String, String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Unpacks into a hidden directory beside `destination`, then swaps it in.
fn unpack_into_place(
    archive: &Path,
    destination: &Path,
    limits: UnpackLimits,
) -> std::result::Result<Unpacked, String> {
    let work = beside(destination, "unpacking");
    remove(&work)?;
    std::fs::create_dir(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    match archive::unpack(archive, &work, limits) {
        Ok(unpacked) => {
            replace(&work, destination)?;
            Ok(unpacked)
        }
        Err(error) => {
            let _ = remove(&work);
            Err(error)
        }
    }
}

/// Renames `from` to `to`, replacing what `to` held.
fn replace(from: &Path, to: &Path) -> std::result::Result<(), String> {
    remove(to)?;
    std::fs::rename(from, to)
        .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))
}

fn remove(path: &Path) -> std::result::Result<(), String> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => return Ok(()),
    };
    result.map_err(|e| format!("cannot remove {}: {e}", path.display()))
}
