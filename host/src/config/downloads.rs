//! The `downloads` block: what to fetch before discovery, and where to put it.

use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Result};
use crate::redact::Redactor;

/// As written: the work item's payload, the correlation payloads it shares
/// with other work items, and single files.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `payload`, `correlation_payloads` or `files`"
)]
pub(super) struct DownloadsFile {
    #[serde(default)]
    payload: Option<DownloadFile>,
    #[serde(default)]
    correlation_payloads: Vec<DownloadFile>,
    #[serde(default)]
    files: Vec<DownloadFile>,
    /// How many downloads run at once.
    #[serde(default)]
    parallel: Option<usize>,
    /// How much an archive may unpack to.
    #[serde(default)]
    unpack_limits: UnpackLimitsFile,
    /// The most bytes one download may bring.
    #[serde(default)]
    max_bytes: Option<u64>,
    /// The free space a download leaves on its destination's file system.
    #[serde(default)]
    reserve_bytes: Option<u64>,
}

/// How many bytes a download may bring (the fetcher's budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadLimits {
    /// Unset, the file system's free space is the only bound.
    pub max_bytes: Option<u64>,
    /// A download fails when its file system's free space falls below this.
    pub reserve_bytes: u64,
}

impl Default for DownloadLimits {
    fn default() -> Self {
        Self {
            max_bytes: None,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
        }
    }
}

/// What a download leaves free by default: room for the results and the
/// tests' own files on a small CI disk.
pub const DEFAULT_RESERVE_BYTES: u64 = 256 << 20;

/// How much an archive may unpack to. The defaults are far past any real
/// payload; `downloads.unpack_limits` raises or lowers them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnpackLimits {
    pub bytes: u64,
    pub entries: u64,
    /// Bytes unpacked per byte of archive.
    pub ratio: f64,
    /// Below this many bytes unpacked the ratio is not held against an
    /// archive: a small archive of zeros is harmless.
    pub ratio_floor: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            bytes: 64 << 30,
            entries: 1_000_000,
            ratio: 200.0,
            ratio_floor: 1 << 30,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `bytes`, `entries` or `ratio`"
)]
struct UnpackLimitsFile {
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    entries: Option<u64>,
    #[serde(default)]
    ratio: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a download: an object with a `uri`")]
struct DownloadFile {
    /// A URI, or a path relative to the configuration.
    uri: String,
    #[serde(default)]
    sha256: Option<String>,
    /// Relative to the configuration.
    #[serde(default)]
    destination: Option<PathBuf>,
    /// Unpack the archive (zip, tar.gz or tar) into the destination directory.
    #[serde(default)]
    extract: bool,
    /// The downloader plugin to use instead of the one serving the URI's scheme.
    #[serde(default)]
    downloader: Option<String>,
}

/// Which of the three lists a download comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Payload,
    CorrelationPayload,
    File,
}

impl Role {
    /// The directory a download of this role goes to by default, under the
    /// configuration's directory.
    fn default_dir(self) -> &'static str {
        match self {
            Role::Payload => "payload",
            Role::CorrelationPayload => "correlation",
            Role::File => ".",
        }
    }
}

/// One validated download.
#[derive(Debug, Clone)]
pub struct Download {
    pub role: Role,
    /// The URI as it may be shown: without its secrets ([`Redactor`]).
    pub uri: String,
    /// The URI with its secrets, for the downloader's request and nothing
    /// else. It has a scheme; configured paths became `file://` URIs.
    pub request_uri: String,
    /// Lower-case hex.
    pub sha256: Option<String>,
    /// Absolute: the file, or with `extract` the directory the archive fills.
    pub destination: PathBuf,
    pub extract: bool,
    pub downloader: Option<String>,
    /// Where it sits in the file, for messages: `downloads.files[1]`.
    pub location: String,
}

impl Download {
    /// The URI's scheme, lower-case.
    pub fn scheme(&self) -> String {
        self.uri
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// What `validate` makes of the block.
#[derive(Debug, Clone, Default)]
pub struct Downloads {
    pub items: Vec<Download>,
    pub parallel: usize,
    pub unpack_limits: UnpackLimits,
    pub limits: DownloadLimits,
}

const DEFAULT_PARALLEL: usize = 4;

/// Validates the block; `redactor` learns the secrets its URIs carry.
pub(super) fn validate(
    file: DownloadsFile,
    base_dir: &Path,
    redactor: &mut Redactor,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Downloads> {
    let parallel = match file.parallel {
        Some(0) => return Err(at("downloads.parallel", "must be at least 1".into())),
        Some(n) => n,
        None => DEFAULT_PARALLEL,
    };
    let mut unpack_limits = UnpackLimits::default();
    let limits = file.unpack_limits;
    for (key, given, limit) in [
        ("bytes", limits.bytes, &mut unpack_limits.bytes),
        ("entries", limits.entries, &mut unpack_limits.entries),
    ] {
        match given {
            Some(0) => {
                let key = format!("downloads.unpack_limits.{key}");
                return Err(at(&key, "must be at least 1".into()));
            }
            Some(n) => *limit = n,
            None => {}
        }
    }
    if let Some(ratio) = limits.ratio {
        if !(ratio.is_finite() && ratio >= 1.0) {
            let problem = format!("must be a number of at least 1, not {ratio}");
            return Err(at("downloads.unpack_limits.ratio", problem));
        }
        unpack_limits.ratio = ratio;
    }
    if file.max_bytes == Some(0) {
        return Err(at("downloads.max_bytes", "must be at least 1".into()));
    }
    let limits = DownloadLimits {
        max_bytes: file.max_bytes,
        reserve_bytes: file.reserve_bytes.unwrap_or(DEFAULT_RESERVE_BYTES),
    };
    let entries = file
        .payload
        .into_iter()
        .map(|d| (Role::Payload, "downloads.payload".to_owned(), d))
        .chain(
            file.correlation_payloads
                .into_iter()
                .enumerate()
                .map(|(i, d)| {
                    let location = format!("downloads.correlation_payloads[{i}]");
                    (Role::CorrelationPayload, location, d)
                }),
        )
        .chain(
            file.files
                .into_iter()
                .enumerate()
                .map(|(i, d)| (Role::File, format!("downloads.files[{i}]"), d)),
        );
    let mut items: Vec<Download> = Vec::new();
    for (role, location, entry) in entries {
        let item = download(role, location, entry, base_dir, redactor, at)?;
        if let Some(other) = items
            .iter()
            .find(|d| overlaps(&d.destination, &item.destination))
        {
            return Err(at(
                &item.location,
                format!(
                    "its destination {} overlaps that of {} ({}); give each download its own",
                    item.destination.display(),
                    other.location,
                    other.destination.display()
                ),
            ));
        }
        items.push(item);
    }
    Ok(Downloads {
        items,
        parallel,
        unpack_limits,
        limits,
    })
}

fn download(
    role: Role,
    location: String,
    entry: DownloadFile,
    base_dir: &Path,
    redactor: &mut Redactor,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Download> {
    let written = redactor.learn_uri(&entry.uri);
    let url = if has_scheme(&entry.uri) {
        url::Url::parse(&entry.uri).map_err(|e| {
            at(
                &format!("{location}.uri"),
                format!("`{written}` is not a URI: {e}"),
            )
        })?
    } else {
        url::Url::from_file_path(normalize(&base_dir.join(&entry.uri)))
            .expect("the configuration's directory is absolute")
    };
    let request_uri = String::from(url.clone());
    let uri = redactor.learn_uri(&request_uri);
    let sha256 = match &entry.sha256 {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(hex.to_ascii_lowercase())
        }
        Some(other) => {
            return Err(at(
                &format!("{location}.sha256"),
                format!("`{other}` is not a SHA-256 digest (64 hexadecimal digits)"),
            ))
        }
        None => None,
    };
    let destination = match &entry.destination {
        Some(path) => base_dir.join(path),
        None => {
            let dir = base_dir.join(role.default_dir());
            match (role, entry.extract) {
                // The payload's contents are the payload directory.
                (Role::Payload, true) => dir,
                _ => {
                    let name = default_name(&url);
                    if name.is_empty() {
                        return Err(at(
                            &location,
                            format!("`{written}` names no file; give a `destination`"),
                        ));
                    }
                    dir.join(if entry.extract {
                        archive_stem(&name)
                    } else {
                        &name
                    })
                }
            }
        }
    };
    let destination = normalize(&destination);
    if !destination.starts_with(normalize(base_dir)) || destination == normalize(base_dir) {
        return Err(at(
            &format!("{location}.destination"),
            format!(
                "{} is not inside the configuration's directory {}",
                destination.display(),
                base_dir.display()
            ),
        ));
    }
    Ok(Download {
        role,
        uri,
        request_uri,
        sha256,
        destination,
        extract: entry.extract,
        downloader: entry.downloader,
        location,
    })
}

/// The name a download is given without a `destination`: the URI's last
/// path element (`https://h/a/b.zip`: `b.zip`, `store:b.zip`: `b.zip`),
/// or without a path its authority (`vault://fixtures`: `fixtures`),
/// percent-decoded; empty when it has neither.
fn default_name(url: &url::Url) -> String {
    let last = url
        .path()
        .rsplit('/')
        .next()
        .filter(|last| !last.is_empty());
    let name = last.or_else(|| url.host_str()).unwrap_or_default();
    percent_decode_str(name).decode_utf8_lossy().into_owned()
}

/// `scheme:` as RFC 3986 spells it; one letter is a Windows drive, not a scheme.
fn has_scheme(text: &str) -> bool {
    text.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// `tests.tar.gz` → `tests`.
fn archive_stem(name: &str) -> &str {
    [".tar.gz", ".tgz", ".tar", ".zip"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|stem| !stem.is_empty())
        .unwrap_or(name)
}

/// Removes `.` and resolves `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Checks that no download lands on what the run itself owns: the
/// configuration file and the results directory.
pub(super) fn check_destinations(
    downloads: &Downloads,
    config_file: &Path,
    results_dir: &Path,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<()> {
    let (config_file, results_dir) = (normalize(config_file), normalize(results_dir));
    for download in &downloads.items {
        let destination = &download.destination;
        let clash = if overlaps(destination, &config_file) {
            format!("the configuration file {}", config_file.display())
        } else if overlaps(destination, &results_dir) {
            format!("the results directory {}", results_dir.display())
        } else {
            continue;
        };
        return Err(at(
            &format!("{}.destination", download.location),
            format!(
                "{} would overwrite or hold {clash}; give another `destination`",
                destination.display()
            ),
        ));
    }
    Ok(())
}

/// Whether one of `downloads` creates `path` or puts something inside it.
pub fn is_downloaded(downloads: &Downloads, path: &Path) -> bool {
    let path = normalize(path);
    downloads
        .items
        .iter()
        .any(|d| overlaps(&path, &d.destination))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_told_from_paths() {
        assert!(has_scheme("https://example.org/a.zip"));
        assert!(has_scheme("artifacts://build/42/tests.zip"));
        assert!(!has_scheme("payload/tests.zip"));
        assert!(!has_scheme("C:/payload.zip"));
        assert!(!has_scheme("1x:/a"));
    }

    fn validated(json: &str) -> Result<Downloads> {
        let file: DownloadsFile = serde_json::from_str(json).unwrap();
        let at =
            |location: &str, problem: String| ConfigError::new(format!("{location}: {problem}"));
        validate(file, Path::new("/work/item"), &mut Redactor::default(), &at)
    }

    #[test]
    fn destinations_default_by_role() {
        let downloads = validated(
            r#"{
                "payload": { "uri": "https://h/jobs/42/tests.tar.gz", "extract": true },
                "correlation_payloads": [
                    { "uri": "https://h/runtime%20v8.zip", "extract": true },
                    { "uri": "https://h/tool.bin?sig=x" }
                ],
                "files": [{ "uri": "store/notes.txt" }]
            }"#,
        )
        .unwrap();
        let destinations: Vec<&Path> = downloads
            .items
            .iter()
            .map(|d| d.destination.as_path())
            .collect();
        assert_eq!(
            destinations,
            [
                Path::new("/work/item/payload"),
                Path::new("/work/item/correlation/runtime v8"),
                Path::new("/work/item/correlation/tool.bin"),
                Path::new("/work/item/notes.txt"),
            ]
        );
        assert_eq!(downloads.items[3].uri, "file:///work/item/store/notes.txt");
        assert_eq!(downloads.items[1].role, Role::CorrelationPayload);
        assert_eq!(downloads.parallel, DEFAULT_PARALLEL);
    }

    #[test]
    fn a_uri_without_a_path_is_named_after_its_authority() {
        let downloads = validated(
            r#"{ "files": [
                { "uri": "vault://fixtures" },
                { "uri": "store:data%20set.db" },
                { "uri": "artifacts://build-42/out/tool.bin" },
                { "uri": "https://cdn.example/" }
            ] }"#,
        )
        .unwrap();
        let names: Vec<&Path> = (downloads.items.iter())
            .map(|d| d.destination.strip_prefix("/work/item").unwrap())
            .collect();
        assert_eq!(
            names,
            ["fixtures", "data set.db", "tool.bin", "cdn.example"].map(Path::new)
        );
    }

    #[test]
    fn downloads_that_cannot_work_are_refused() {
        let error = |json: &str| validated(json).unwrap_err().to_string();
        assert_eq!(
            error(
                r#"{ "files": [{ "uri": "a.txt" }, { "uri": "b/a.txt", "destination": "a.txt" }] }"#
            ),
            "downloads.files[1]: its destination /work/item/a.txt overlaps that of \
             downloads.files[0] (/work/item/a.txt); give each download its own"
        );
        assert!(error(r#"{ "files": [{ "uri": "store:" }] }"#)
            .contains("names no file; give a `destination`"));
        assert!(
            error(r#"{ "files": [{ "uri": "https://h/a%2F..%2F..%2Fx" }] }"#)
                .contains("is not inside the configuration's directory")
        );
        assert!(
            error(r#"{ "files": [{ "uri": "x", "destination": "../../etc/x" }] }"#)
                .contains("is not inside the configuration's directory")
        );
        assert!(
            error(r#"{ "payload": { "uri": "https://h/p.zip", "destination": "." } }"#)
                .contains("is not inside the configuration's directory")
        );
        assert!(error(r#"{ "parallel": 0 }"#).contains("downloads.parallel: must be at least 1"));
    }

    #[test]
    fn archive_names_lose_their_suffix() {
        assert_eq!(archive_stem("tests.tar.gz"), "tests");
        assert_eq!(archive_stem("tools.zip"), "tools");
        assert_eq!(archive_stem(".zip"), ".zip");
    }
}
