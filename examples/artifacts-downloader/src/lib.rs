//! An example downloader plugin, as a team would write one for its own
//! artifact store: `artifacts://BUILD/PATH` names the file PATH of build
//! BUILD. The store is either a directory tree (`root`: `ROOT/BUILD/PATH`)
//! or an HTTP service (`base_url`: `GET BASE_URL/BUILD/PATH`, with a bearer
//! token read from the environment variable `token_env` names).
//!
//! Everything proctor needs from it is the `Downloader` impl and the
//! `export_plugins!` line at the bottom.

use std::path::PathBuf;

use proctor_sdk::messages::{DownloadRequest, DownloadResponse};
use proctor_sdk::{export_plugins, Detached, Downloader, Error, Progress, Result};
use serde::Deserialize;

/// The plugin's block in the configuration's `downloaders.artifacts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// A directory holding one directory per build; a relative one is read
    /// from the configuration's directory.
    #[serde(default)]
    root: Option<PathBuf>,
    /// An HTTP service serving `BASE_URL/BUILD/PATH`.
    #[serde(default)]
    base_url: Option<String>,
    /// The environment variable holding a bearer token for `base_url`.
    #[serde(default)]
    token_env: Option<String>,
}

enum Store {
    Directory(PathBuf),
    Http {
        agent: ureq::Agent,
        base_url: String,
        token: Option<String>,
    },
}

pub struct Artifacts {
    store: Store,
}

impl Downloader for Artifacts {
    const NAME: &'static str = "artifacts";
    const DESCRIPTION: &'static str =
        "Fetches artifacts://BUILD/PATH from the team's artifact store";
    const SCHEMES: &'static [&'static str] = &["artifacts"];
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        let store = match (settings.root, settings.base_url) {
            (Some(root), None) => Store::Directory(root),
            (None, Some(base_url)) => {
                let token = match &settings.token_env {
                    Some(name) => Some(std::env::var(name).map_err(|_| {
                        Error::invalid_settings(format!(
                            "token_env: the environment variable `{name}` is not set"
                        ))
                    })?),
                    None => None,
                };
                let agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                Store::Http {
                    agent,
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    token,
                }
            }
            _ => {
                return Err(Error::invalid_settings(
                    "give exactly one of `root` (a directory) and `base_url` (an HTTP service)",
                ))
            }
        };
        Ok(Self { store })
    }

    fn download(&self, request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse> {
        let (build, path) = parse(&request.uri)?;
        match &self.store {
            Store::Directory(root) => {
                let root = match &request.base_dir {
                    Some(base_dir) => base_dir.join(root),
                    None => root.clone(),
                };
                let file = root.join(build).join(path);
                let opened = std::fs::File::open(&file)
                    .map_err(|e| Error::msg(format!("{}: {}: {e}", request.uri, file.display())))?;
                let total = opened.metadata().ok().map(|m| m.len());
                proctor_sdk::write_download(opened, total, &request, progress)
            }
            Store::Http {
                agent,
                base_url,
                token,
            } => {
                let url = format!("{base_url}/{build}/{path}");
                let mut get = agent.get(&url);
                if let Some(token) = token {
                    get = get.header("Authorization", &format!("Bearer {token}"));
                }
                // A store that accepts the connection and then says nothing
                // must not keep a stopped run waiting: the request is made
                // on a thread of its own, waited for hearing the host.
                let call = Detached::spawn("artifacts-request", move || get.call())?;
                let response = call
                    .wait(progress, || 0, None)
                    .ok_or_else(|| Error::msg(format!("{}: stopped by the host", request.uri)))?
                    .map_err(|_| Error::msg(format!("{}: GET {url}: no answer", request.uri)))?
                    .map_err(|e| Error::msg(format!("{}: GET {url}: {e}", request.uri)))?;
                if response.status() != 200 {
                    return Err(Error::msg(format!(
                        "{}: GET {url} answered {}",
                        request.uri,
                        response.status()
                    )));
                }
                let total = response.body().content_length();
                // The body is read on a thread of its own for the same reason.
                let body = response.into_body().into_reader();
                proctor_sdk::write_download_on_thread(body, total, &request, progress)
            }
        }
    }
}

/// `artifacts://BUILD/PATH` → (BUILD, PATH); PATH may not climb out of BUILD.
fn parse(uri: &str) -> Result<(&str, &str)> {
    let rest = uri
        .strip_prefix("artifacts://")
        .ok_or_else(|| Error::msg(format!("{uri}: not an artifacts:// URI")))?;
    let (build, path) = rest
        .split_once('/')
        .filter(|(build, path)| !build.is_empty() && !path.is_empty())
        .ok_or_else(|| Error::msg(format!("{uri}: expected artifacts://BUILD/PATH")))?;
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(Error::msg(format!(
            "{uri}: the path may not hold `..` or empty parts"
        )));
    }
    Ok((build, path))
}

export_plugins!(downloader Artifacts);
