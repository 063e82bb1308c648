//! The `dumps` attachment processor: gzips every dump, minidump or core (a
//! standard gzip stream, several dumps at once) and groups the dumps by signature in
//! `dumps/index.json`: signature → dumps, sources, tests, attempts.
//!
//! Signatures and tests come from the `DUMP.json` the `dump` collector
//! writes beside each dump. The processor merges incrementally: dumps are
//! compressed as sources finish, and each pass rewrites the index from every
//! dump known so far.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use flate2::write::GzEncoder;
use flate2::Compression;
use proctor_formats::dump::DumpInfo;
use proctor_sdk::messages::{Attachment, Owner, ProcessRequest, ProcessResponse};
use proctor_sdk::{export_plugins, AttachmentProcessor, Error, Progress, Result};
use serde::{Deserialize, Serialize};

pub use proctor_formats::dump::{CORE, CORE_GZIP, MINIDUMP, MINIDUMP_GZIP};

/// The kind of a dump once gzipped; `None` for what is not a raw dump.
fn gzipped_kind(kind: &str) -> Option<&'static str> {
    match kind {
        MINIDUMP => Some(MINIDUMP_GZIP),
        CORE => Some(CORE_GZIP),
        _ => None,
    }
}
/// `dumps/index.json`.
pub const INDEX: &str = "proctor://processor/dumps/index/1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// gzip's level, 1 (fastest) to 9 (smallest).
    #[serde(default = "default_level")]
    level: u32,
    /// Dumps compressed at once; default: the number of cores.
    #[serde(default)]
    threads: Option<usize>,
}

fn default_level() -> u32 {
    6
}

pub struct Dumps {
    level: Compression,
    threads: usize,
}

/// One bucket of the index.
#[derive(Debug, Default, Serialize)]
struct Bucket {
    dumps: Vec<PathBuf>,
    sources: Vec<String>,
    tests: Vec<String>,
    attempts: Vec<u32>,
}

/// Compresses `path` to `path.gz` and removes it.
pub fn gzip(path: &Path, level: Compression) -> std::io::Result<PathBuf> {
    let data = std::fs::read(path)?;
    let target = PathBuf::from(format!("{}.gz", path.display()));
    let mut encoder = GzEncoder::new(std::fs::File::create(&target)?, level);
    encoder.write_all(&data)?;
    encoder.finish()?.sync_data().ok();
    std::fs::remove_file(path)?;
    Ok(target)
}

impl Dumps {
    /// Compresses `paths` on `threads` threads; answers each one's `.gz`.
    fn compress_all(&self, paths: &[PathBuf], progress: &Progress) -> Result<Vec<PathBuf>> {
        let next = AtomicUsize::new(0);
        let done = Mutex::new(vec![None; paths.len()]);
        let failed = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..self.threads.min(paths.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    match gzip(path, self.level) {
                        Ok(target) => done.lock().unwrap()[i] = Some(target),
                        Err(e) => {
                            *failed.lock().unwrap() =
                                Some(format!("cannot compress {}: {e}", path.display()));
                            break;
                        }
                    }
                });
            }
        });
        if let Some(error) = failed.into_inner().unwrap() {
            return Err(Error::msg(error));
        }
        progress.report(paths.len() as u64, Some(paths.len() as u64));
        Ok(done.into_inner().unwrap().into_iter().flatten().collect())
    }
}

impl AttachmentProcessor for Dumps {
    const NAME: &'static str = "dumps";
    const DESCRIPTION: &'static str =
        "Gzips dumps and groups them by signature in dumps/index.json";
    const KINDS: &'static [&'static str] = &[MINIDUMP, MINIDUMP_GZIP, CORE, CORE_GZIP, INDEX];
    const INCREMENTAL: bool = true;
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        if !(1..=9).contains(&settings.level) {
            return Err(Error::invalid_settings(format!(
                "level: {} is not a gzip level (1 to 9)",
                settings.level
            )));
        }
        let threads = settings
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(Self {
            level: Compression::new(settings.level),
            threads: threads.max(1),
        })
    }

    fn process(&self, request: ProcessRequest, progress: &Progress) -> Result<ProcessResponse> {
        let mut raw = Vec::new();
        let mut compressed: Vec<Attachment> = Vec::new();
        for attachment in request.attachments {
            match attachment.kind.as_str() {
                MINIDUMP | CORE => raw.push(attachment),
                MINIDUMP_GZIP | CORE_GZIP => compressed.push(attachment),
                // The index of an earlier pass: it is written anew below.
                _ => {}
            }
        }
        let paths: Vec<PathBuf> = raw.iter().map(|a| a.path.clone()).collect();
        let targets = self.compress_all(&paths, progress)?;
        for (attachment, path) in raw.into_iter().zip(targets) {
            compressed.push(Attachment {
                kind: gzipped_kind(&attachment.kind).expect("a raw dump").into(),
                path,
                description: format!("{} (gzip)", attachment.description),
                ..attachment
            });
        }

        let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
        for dump in &compressed {
            let info = DumpInfo::beside(&dump.path).unwrap_or_default();
            let signature = match info.signature.is_empty() {
                true => "unknown".to_owned(),
                false => info.signature,
            };
            let bucket = buckets.entry(signature).or_default();
            // As `summary.json` names files: relative to the results directory.
            let path = request
                .results_dir
                .as_deref()
                .and_then(|results| dump.path.strip_prefix(results).ok())
                .unwrap_or(&dump.path);
            bucket.dumps.push(path.to_owned());
            let add = |list: &mut Vec<String>, item: String| {
                if !item.is_empty() && !list.contains(&item) {
                    list.push(item);
                }
            };
            add(&mut bucket.sources, info.source);
            for test in info.tests {
                add(&mut bucket.tests, test);
            }
            if let Some(attempt) = info.attempt.filter(|a| !bucket.attempts.contains(a)) {
                bucket.attempts.push(attempt);
            }
        }
        let dir = match &request.results_dir {
            Some(results) => results.join("dumps"),
            None => request.output_dir.clone(),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::msg(format!("cannot create {}: {e}", dir.display())))?;
        let index = dir.join("index.json");
        proctor_sdk::write_file(
            &index,
            serde_json::to_vec_pretty(&buckets).expect("serializes"),
        )?;
        let description = format!(
            "{} dumps in {} groups by signature",
            compressed.len(),
            buckets.len()
        );
        compressed.push(Attachment {
            kind: INDEX.into(),
            path: index,
            owner: Owner::Run,
            description,
        });
        Ok(ProcessResponse {
            attachments: compressed,
        })
    }
}

export_plugins!(attachment_processor Dumps);
