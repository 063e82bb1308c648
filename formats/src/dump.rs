//! What the `dump` collector writes beside each dump it takes: the
//! description `DUMP.json` (`crash-1234.dmp` → `crash-1234.dmp.json`, the
//! same for its gzipped `crash-1234.dmp.gz`), read by whoever groups dumps:
//! the `dumps` processor, the results store. Only the fields they group by
//! are read; every one may be missing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A minidump, as the `dump` collector hands it back.
pub const MINIDUMP: &str = "proctor://collector/dump/minidump/1";
/// A full core, as the `dump` collector hands back what gdb's `gcore` wrote.
pub const CORE: &str = "proctor://collector/dump/core/1";
/// A minidump the `dumps` processor gzipped.
pub const MINIDUMP_GZIP: &str = "proctor://processor/dumps/minidump-gzip/1";
/// A core the `dumps` processor gzipped.
pub const CORE_GZIP: &str = "proctor://processor/dumps/core-gzip/1";

/// Attachment kinds that are dumps: minidumps and cores, raw or gzipped.
pub const DUMP_KINDS: [&str; 4] = [MINIDUMP, CORE, MINIDUMP_GZIP, CORE_GZIP];

/// A dump's description, as far as grouping goes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
pub struct DumpInfo {
    /// The source whose process it is of.
    #[serde(default)]
    pub source: String,
    /// The tests that process was running.
    #[serde(default)]
    pub tests: Vec<String>,
    /// The attempt, when the process ran one test.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// What identifies the failure: the crashing or hung thread's top frame.
    #[serde(default)]
    pub signature: String,
}

impl DumpInfo {
    /// The description beside `dump`, if there is one that reads.
    pub fn beside(dump: &Path) -> Option<Self> {
        let bytes = std::fs::read(info_path(dump)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// `dump.dmp.gz` → `dump.dmp.json`; `dump.dmp` → `dump.dmp.json`.
pub fn info_path(dump: &Path) -> PathBuf {
    let text = dump.to_string_lossy();
    let base = text.strip_suffix(".gz").unwrap_or(&text);
    PathBuf::from(format!("{base}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_and_its_gzipped_form_share_their_description() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("crash-7.dmp");
        std::fs::write(
            info_path(&dump),
            r#"{"source": "native", "tests": ["A.B"], "attempt": 2, "signature": "f+0x1 (a.out)", "pid": 7}"#,
        )
        .unwrap();
        let gzipped = dir.path().join("crash-7.dmp.gz");
        let expected = DumpInfo {
            source: "native".into(),
            tests: vec!["A.B".into()],
            attempt: Some(2),
            signature: "f+0x1 (a.out)".into(),
        };
        assert_eq!(DumpInfo::beside(&dump), Some(expected.clone()));
        assert_eq!(DumpInfo::beside(&gzipped), Some(expected));
        assert_eq!(DumpInfo::beside(&dir.path().join("other.dmp")), None);
    }
}
