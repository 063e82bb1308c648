//! The `file` downloader: `file://` URIs, copied into place.
//!
//! The copy goes to `<destination>.part` and is renamed once complete, so a
//! destination never holds half a file; the kernel copies the bytes
//! (`copy_file_range`), chunk by chunk so that progress can be reported
//! (the SDK's `write_download`).

use std::fs::File;
use std::path::PathBuf;

use proctor_sdk::messages::{DownloadRequest, DownloadResponse};
use proctor_sdk::{export_plugins, Downloader, Error, Progress, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

pub struct FileDownloader;

impl Downloader for FileDownloader {
    const NAME: &'static str = "file";
    const DESCRIPTION: &'static str = "Copies file:// URIs from this machine's file systems";
    const SCHEMES: &'static [&'static str] = &["file"];
    type Settings = Settings;

    fn new(_settings: Settings) -> Result<Self> {
        Ok(Self)
    }

    fn download(&self, request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse> {
        let source = local_path(&request.uri)?;
        let failed =
            |what: String, e: std::io::Error| Error::msg(format!("{}: {what}: {e}", request.uri));
        let input = File::open(&source)
            .map_err(|e| failed(format!("cannot open {}", source.display()), e))?;
        let total = input.metadata().map(|m| m.len()).ok();
        proctor_sdk::write_download(input, total, &request, progress)
    }
}

/// The path a `file:` URI names: `file:///abs/path` or `file://localhost/abs/path`.
fn local_path(uri: &str) -> Result<PathBuf> {
    let url = url::Url::parse(uri).map_err(|e| Error::msg(format!("{uri}: not a URI: {e}")))?;
    if url.scheme() != "file" {
        return Err(Error::msg(format!("{uri}: not a file:// URI")));
    }
    url.to_file_path().map_err(|()| {
        Error::msg(format!(
            "{uri}: names no local path (a file:// URI has an absolute path and no host other than localhost)"
        ))
    })
}

export_plugins!(downloader FileDownloader);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn file_uris_name_absolute_paths() {
        assert_eq!(
            local_path("file:///srv/pay%20load.zip").unwrap(),
            Path::new("/srv/pay load.zip")
        );
        assert_eq!(
            local_path("file://localhost/srv/a").unwrap(),
            Path::new("/srv/a")
        );
        let error = local_path("file://build-host/srv/a")
            .unwrap_err()
            .to_string();
        assert!(error.contains("names no local path"), "{error}");
        let error = local_path("http://x/a").unwrap_err().to_string();
        assert!(error.contains("not a file:// URI"), "{error}");
    }
}
