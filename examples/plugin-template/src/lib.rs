use std::path::PathBuf;

use proctor_sdk::messages::{DownloadRequest, DownloadResponse};
use proctor_sdk::{export_plugins, Downloader, Error, Progress, Result};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    root: PathBuf,
}

pub struct Artifacts {
    root: PathBuf,
}

/// The store path of `artifacts://BUILD/PATH`. Every part must be a plain
/// name: an empty one (`artifacts:///etc/passwd`), `.` or `..` could reach
/// outside the store.
fn store_path(uri: &str) -> Result<&str> {
    let plain = |part: &str| !matches!(part, "" | "." | "..");
    uri.strip_prefix("artifacts://")
        .filter(|path| path.split('/').all(plain))
        .ok_or_else(|| Error::msg(format!("{uri}: expected artifacts://BUILD/PATH")))
}

impl Downloader for Artifacts {
    const NAME: &'static str = "artifacts";
    const DESCRIPTION: &'static str = "Fetches artifacts://BUILD/PATH from the artifact store";
    const SCHEMES: &'static [&'static str] = &["artifacts"];
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self {
            root: settings.root,
        })
    }

    fn download(&self, request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse> {
        let path = store_path(&request.uri)?;
        // Relative settings paths are read from the configuration's directory.
        let root = match &request.base_dir {
            Some(base) => base.join(&self.root),
            None => self.root.clone(),
        };
        let input = std::fs::File::open(root.join(path))
            .map_err(|e| Error::msg(format!("{}: {e}", request.uri)))?;
        let total = input.metadata()?.len();
        // Through `DESTINATION.part`, reporting progress, stopping when asked.
        proctor_sdk::write_download(input, Some(total), &request, progress)
    }
}

export_plugins!(downloader Artifacts);
