//! What a run tested and where it ran, as the store records it beside the
//! run: the machine, the Helix work item, the repository, branch and
//! commit, and the variant (key/value pairs such as `os`, `arch`,
//! `config`), which a short hash identifies, as LUCI's variant hash does.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// What a run tested and where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    pub machine: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub work_item: Option<String>,
    pub job: Option<String>,
    pub queue: Option<String>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    /// The commit's time, in milliseconds since the epoch.
    pub commit_ms: Option<i64>,
    /// For repositories that number their commits.
    pub commit_position: Option<i64>,
    pub variant: BTreeMap<String, String>,
}

impl RunContext {
    /// This machine: its name, OS and architecture, which are also the
    /// variant's first pairs.
    pub fn this_machine() -> Self {
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_owned())
            .ok()
            .filter(|name| !name.is_empty());
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        Self {
            machine,
            os: Some(os.to_owned()),
            arch: Some(arch.to_owned()),
            variant: BTreeMap::from([
                ("os".to_owned(), os.to_owned()),
                ("arch".to_owned(), arch.to_owned()),
            ]),
            ..Self::default()
        }
    }

    /// The variant's hash (the first 16 hex digits of the SHA-256 of its
    /// sorted `key:value` lines) and its pairs as a JSON object.
    pub fn variant_key(&self) -> (String, String) {
        let mut digest = Sha256::new();
        for (key, value) in &self.variant {
            digest.update(format!("{key}:{value}\n"));
        }
        let hash: String = digest.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let pairs = serde_json::to_string(&self.variant).expect("a map of strings serializes");
        (hash, pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_is_named_by_its_pairs_whatever_their_order() {
        let mut one = RunContext::default();
        one.variant.insert("os".into(), "linux".into());
        one.variant.insert("config".into(), "release".into());
        let mut other = RunContext::default();
        other.variant.insert("config".into(), "release".into());
        other.variant.insert("os".into(), "linux".into());
        assert_eq!(one.variant_key(), other.variant_key());
        assert_eq!(one.variant_key().0.len(), 16);
        other.variant.insert("config".into(), "debug".into());
        assert_ne!(one.variant_key().0, other.variant_key().0);
    }
}
