//! What the collectors and attachment processors left, as the summary
//! lists it: the collectors' fates, the attachments, and when sources ran
//! and merges happened.

use std::path::PathBuf;

use proctor_plugin_api::messages::Owner;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An attachment a collector handed back, as the summary lists it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentRecord {
    pub collector: String,
    pub kind: String,
    /// Relative to the results directory when inside it.
    pub path: PathBuf,
    #[serde(flatten)]
    pub owner: Owner,
    pub description: String,
}

/// How a collector fared.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CollectorRecord {
    pub name: String,
    /// Events it answered.
    pub events: u64,
    /// Why it was switched off, when it was.
    pub error: Option<String>,
    /// Whether it was switched off because it crashed, exited or missed a
    /// deadline: an infrastructure error of the run, not only a warning.
    #[serde(skip)]
    pub abandoned: bool,
}

/// When a source ran, as the collectors heard of it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SourceSpan {
    pub source: String,
    /// Since the run started.
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
}

/// When sources ran and when processors merged their attachments.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Timeline {
    pub sources: Vec<SourceSpan>,
    pub merges: Vec<MergeRecord>,
}

/// One call of a processor, for the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MergeRecord {
    pub processor: String,
    /// The pass after every source finished.
    #[serde(rename = "final")]
    pub final_pass: bool,
    pub inputs: usize,
    pub outputs: usize,
    /// Since the run started.
    pub started_ms: u64,
    pub finished_ms: u64,
    pub error: Option<String>,
    /// Whether it failed because the processor crashed, exited or missed
    /// its deadline: an infrastructure error of the run.
    #[serde(skip)]
    pub abandoned: bool,
}
