//! The `lcov-merge` attachment processor: merges LCOV tracefiles into one,
//! as `lcov --add-tracefile` does (see [`lcov`]). It merges incrementally:
//! the host hands it what finished sources left while others still run.

pub mod lcov;

#[cfg(test)]
mod fuzz;

use std::sync::atomic::{AtomicBool, Ordering};

use proctor_sdk::messages::{Attachment, Owner, ProcessRequest, ProcessResponse};
use proctor_sdk::{export_plugins, AttachmentProcessor, Error, Progress, Result};
use serde::Deserialize;

/// The kind of an LCOV tracefile.
pub const KIND: &str = "proctor://collector/lcov/1";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

pub struct LcovMerge;

impl AttachmentProcessor for LcovMerge {
    const NAME: &'static str = "lcov-merge";
    const DESCRIPTION: &'static str = "Merges LCOV tracefiles as lcov --add-tracefile does";
    const KINDS: &'static [&'static str] = &[KIND];
    const INCREMENTAL: bool = true;
    type Settings = Settings;

    fn new(_: Settings) -> Result<Self> {
        Ok(LcovMerge)
    }

    fn process(&self, request: ProcessRequest, progress: &Progress) -> Result<ProcessResponse> {
        let total = request.attachments.len() as u64;
        let merged = merge_in_parallel(&request.attachments, progress)?;
        let path = request.output_dir.join("coverage.info");
        proctor_sdk::write_file(&path, merged.write())?;
        progress.report(total, Some(total));
        let pass = if request.incremental {
            "so far"
        } else {
            "in all"
        };
        Ok(ProcessResponse {
            attachments: vec![Attachment {
                kind: KIND.into(),
                path,
                owner: Owner::Run,
                description: format!(
                    "coverage of {} source files from {total} tracefiles, merged {pass}",
                    merged.records().len()
                ),
            }],
        })
    }
}

const STOPPED: &str = "stopped by the host";

/// Reads and merges the tracefiles on every core: each thread merges a
/// contiguous share into a tracefile of its own, and the shares are merged
/// in order, so the result is what one thread reading them in order makes.
/// Progress is reported, and a stop heard, on the calling thread.
fn merge_in_parallel(attachments: &[Attachment], progress: &Progress) -> Result<lcov::Tracefile> {
    let total = attachments.len() as u64;
    if !progress.report(0, Some(total)) {
        return Err(Error::msg(STOPPED));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = attachments.len().div_ceil(threads).max(1);
    let stopped = AtomicBool::new(false);
    let (done, read) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (attachments.chunks(share))
            .map(|chunk| {
                let (done, stopped) = (done.clone(), &stopped);
                scope.spawn(move || -> Result<lcov::Tracefile> {
                    let mut merged = lcov::Tracefile::default();
                    for attachment in chunk {
                        if stopped.load(Ordering::Relaxed) {
                            return Err(Error::msg(STOPPED));
                        }
                        let path = &attachment.path;
                        let text = std::fs::read_to_string(path).map_err(|e| {
                            Error::msg(format!("cannot read {}: {e}", path.display()))
                        })?;
                        merged
                            .add_text(&text)
                            .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
                        let _ = done.send(());
                    }
                    Ok(merged)
                })
            })
            .collect();
        drop(done);
        let mut finished = 0;
        for () in read {
            finished += 1;
            if !progress.report(finished, Some(total)) {
                stopped.store(true, Ordering::Relaxed);
            }
        }
        let mut merged = lcov::Tracefile::default();
        for worker in workers {
            let share = worker
                .join()
                .map_err(|_| Error::msg("a merging thread panicked"))??;
            merged.merge(share);
        }
        match stopped.load(Ordering::Relaxed) {
            true => Err(Error::msg(STOPPED)),
            false => Ok(merged),
        }
    })
}

export_plugins!(attachment_processor LcovMerge);
