//! The `lcov-merge` attachment processor: merges LCOV tracefiles into one,
//! as `lcov --add-tracefile` does (see [`lcov`]). It merges incrementally:
//! the host hands it what finished sources left while others still run.

pub mod lcov;

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
        let mut merged = lcov::Tracefile::default();
        let total = request.attachments.len() as u64;
        for (done, attachment) in request.attachments.iter().enumerate() {
            if !progress.report(done as u64, Some(total)) {
                return Err(Error::msg("stopped by the host"));
            }
            let text = std::fs::read_to_string(&attachment.path).map_err(|e| {
                Error::msg(format!("cannot read {}: {e}", attachment.path.display()))
            })?;
            merged
                .add_text(&text)
                .map_err(|e| Error::msg(format!("{}: {e}", attachment.path.display())))?;
        }
        let path = request.output_dir.join("coverage.info");
        std::fs::write(&path, merged.write())
            .map_err(|e| Error::msg(format!("cannot write {}: {e}", path.display())))?;
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

export_plugins!(attachment_processor LcovMerge);
