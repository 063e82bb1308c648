//! What the downloads before discovery did, as the summary and the journal
//! record them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Role;

/// What one download did, for the summary and the journal.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DownloadRecord {
    pub role: Role,
    pub uri: String,
    pub destination: PathBuf,
    pub downloader: String,
    pub bytes: u64,
    /// Set when the configuration pinned it, and then verified.
    pub sha256: Option<String>,
    /// What the archive held, when it was unpacked.
    pub unpacked: Option<Unpacked>,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_because: Vec<String>,
    /// The destination already held this pinned download; nothing was fetched.
    pub reused: bool,
    pub duration_ms: u64,
}

/// What an archive held.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
}
