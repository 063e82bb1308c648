//! The `http` downloader: `http://` and `https://` URIs.
//!
//! The body streams into `<destination>.part`, which is renamed to the
//! destination only once every byte the server announced has arrived. A
//! failed attempt keeps the part file, and the next attempt asks for the rest
//! with a `Range` request (guarded by `If-Range`, so a file that changed on
//! the server starts over instead of being stitched together). Connection
//! errors, stalls and 5xx answers are retried with exponential backoff; 4xx
//! answers are final.

mod request_thread;

use std::time::{Duration, Instant};

use proctor_sdk::messages::{DownloadRequest, DownloadResponse};
use proctor_sdk::{
    export_plugins, BackgroundCopy, CopyError, Downloader, Error, Lost, PartFile, Progress, Result,
};
use serde::Deserialize;
use ureq::http::{header, StatusCode};
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};

use request_thread::{request_hearing_the_host, Answer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Attempts in all, the first included.
    #[serde(default = "defaults::attempts")]
    attempts: u32,
    /// The wait before the second attempt; it doubles for each later one, up to 30 s.
    #[serde(default = "defaults::backoff")]
    backoff_seconds: f64,
    /// The whole download, every attempt and wait included.
    #[serde(default = "defaults::timeout")]
    timeout_seconds: f64,
    /// One attempt, from connecting to the last byte.
    #[serde(default = "defaults::attempt_timeout")]
    attempt_timeout_seconds: f64,
    /// The longest time without receiving a byte.
    #[serde(default = "defaults::stall_timeout")]
    stall_timeout_seconds: f64,
    #[serde(default = "defaults::connect_timeout")]
    connect_timeout_seconds: f64,
    /// Headers sent with every request, e.g. `Authorization`.
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    /// A PEM file of the certificate authorities to trust for https,
    /// instead of the built-in (Mozilla) roots; relative to the configuration.
    #[serde(default)]
    ca_file: Option<std::path::PathBuf>,
}

mod defaults {
    pub fn attempts() -> u32 {
        5
    }
    pub fn backoff() -> f64 {
        1.0
    }
    pub fn timeout() -> f64 {
        3600.0
    }
    pub fn attempt_timeout() -> f64 {
        900.0
    }
    pub fn stall_timeout() -> f64 {
        60.0
    }
    pub fn connect_timeout() -> f64 {
        30.0
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const BUFFER_SIZE: usize = 1 << 20;

pub struct HttpDownloader {
    agent: ureq::Agent,
    settings: Settings,
    backoff: Duration,
    timeout: Duration,
    attempt_timeout: Duration,
}

fn seconds(name: &str, value: f64, zero_allowed: bool) -> Result<Duration> {
    if value.is_finite() && (value > 0.0 || (zero_allowed && value == 0.0)) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Error::invalid_settings(format!(
            "{name}: must be a positive number of seconds, not {value}"
        )))
    }
}

impl Downloader for HttpDownloader {
    const NAME: &'static str = "http";
    const DESCRIPTION: &'static str =
        "Downloads http:// and https:// URIs, resuming and retrying interrupted transfers";
    const SCHEMES: &'static [&'static str] = &["http", "https"];
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        if settings.attempts == 0 {
            return Err(Error::invalid_settings("attempts: must be at least 1"));
        }
        for name in settings.headers.keys() {
            if header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Error::invalid_settings(format!(
                    "headers: `{name}` is not a valid header name"
                )));
            }
        }
        let config = ureq::Agent::config_builder()
            // Statuses are answers to act on here, not errors.
            .http_status_as_error(false)
            .timeout_connect(Some(seconds(
                "connect_timeout_seconds",
                settings.connect_timeout_seconds,
                false,
            )?))
            .timeout_per_read(Some(seconds(
                "stall_timeout_seconds",
                settings.stall_timeout_seconds,
                false,
            )?))
            .input_buffer_size(BUFFER_SIZE)
            .user_agent(concat!(
                "proctor-downloader-http/",
                env!("CARGO_PKG_VERSION")
            ))
            .build();
        Ok(Self {
            agent: config.into(),
            backoff: seconds("backoff_seconds", settings.backoff_seconds, true)?,
            timeout: seconds("timeout_seconds", settings.timeout_seconds, false)?,
            attempt_timeout: seconds(
                "attempt_timeout_seconds",
                settings.attempt_timeout_seconds,
                false,
            )?,
            settings,
        })
    }

    fn download(&self, request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse> {
        let part = PartFile::create(&request.destination).map_err(|e| {
            Error::msg(format!(
                "cannot create {}.part: {e}",
                request.destination.display()
            ))
        })?;
        let tls = match &self.settings.ca_file {
            Some(file) => {
                let file = match &request.base_dir {
                    Some(base_dir) => base_dir.join(file),
                    None => file.clone(),
                };
                Some(trusting(&file)?)
            }
            None => None,
        };
        let mut transfer = Transfer {
            uri: &request.uri,
            part,
            tls,
            validator: None,
            length: None,
        };
        let deadline = Instant::now() + self.timeout;
        let attempts = self.settings.attempts;
        let mut retried_because = Vec::new();
        for attempt in 1..=attempts {
            let failure = match self.attempt(&mut transfer, deadline, progress) {
                Ok(()) => {
                    let bytes = transfer.part.finish().map_err(|e| {
                        Error::msg(format!(
                            "cannot move the download into {}: {e}",
                            request.destination.display()
                        ))
                    })?;
                    return Ok(DownloadResponse {
                        bytes,
                        attempts: Some(attempt),
                        retried_because,
                    });
                }
                Err(failure) => failure,
            };
            let because = format!(
                "{}: attempt {attempt} of {attempts} failed: {}",
                request.uri, failure.reason
            );
            let wait = self
                .backoff
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            let out_of_time = Instant::now() + wait >= deadline;
            if !failure.retry || attempt == attempts || out_of_time {
                let why_final = if !failure.retry {
                    "not retried"
                } else if attempt == attempts {
                    "no attempts left"
                } else {
                    "the download's timeout_seconds would pass before the next attempt"
                };
                let earlier = match retried_because.is_empty() {
                    true => String::new(),
                    false => format!("; before it: {}", retried_because.join("; ")),
                };
                return Err(Error::msg(format!("{because} ({why_final}){earlier}")));
            }
            retried_because.push(format!("attempt {attempt}: {}", failure.reason));
            let done = transfer.part.len().unwrap_or(0);
            if !wait_unless_cancelled(wait, progress, done, transfer.length) {
                return Err(Error::msg(format!(
                    "{because}; cancelled by the host before the next attempt"
                )));
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// Waits `wait`, hearing the host all the while, so that a host asked to
/// stop need not wait out the backoff: false once it answers that the
/// download is to stop.
fn wait_unless_cancelled(
    wait: Duration,
    progress: &Progress,
    done: u64,
    total: Option<u64>,
) -> bool {
    let until = Instant::now() + wait;
    let waited = progress.wait_hearing_the_host(
        || done,
        total,
        |most| {
            let left = until.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(most));
            left.is_zero().then_some(())
        },
    );
    waited.is_some()
}

/// What one download knows across its attempts.
struct Transfer<'a> {
    uri: &'a str,
    part: PartFile,
    /// Set when `ca_file` replaces the built-in roots.
    tls: Option<TlsConfig>,
    /// The `ETag` (or `Last-Modified`) of the first answer: resumes must match it.
    validator: Option<String>,
    /// The whole file's length, once an answer said it.
    length: Option<u64>,
}

/// Why an attempt failed, and whether another may succeed.
struct Failure {
    reason: String,
    retry: bool,
}

impl Failure {
    fn retry(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: true,
        }
    }

    fn fatal(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: false,
        }
    }

    fn transport(error: ureq::Error) -> Self {
        use ureq::Error as E;
        let retry = match &error {
            // TLS refusals (an untrusted certificate) come as invalid data:
            // another attempt meets the same certificate.
            E::Io(e) => e.kind() != std::io::ErrorKind::InvalidData,
            _ => matches!(
                error,
                E::Timeout(_)
                    | E::HostNotFound
                    | E::ConnectionFailed
                    | E::Protocol(_)
                    | E::BodyStalled
            ),
        };
        Self {
            reason: error.to_string(),
            retry,
        }
    }
}

impl HttpDownloader {
    /// One request: the whole file, or the rest of it after what
    /// `transfer.part` holds. Succeeds once the part file is complete.
    fn attempt(
        &self,
        transfer: &mut Transfer,
        deadline: Instant,
        progress: &Progress,
    ) -> Result<(), Failure> {
        let write_failed =
            |e: std::io::Error| Failure::fatal(format!("cannot write the part file: {e}"));
        let have = transfer.part.len().map_err(write_failed)?;
        if have > 0 && transfer.length == Some(have) {
            return Ok(());
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut builder = self.agent.get(transfer.uri);
        for (name, value) in &self.settings.headers {
            builder = builder.header(name, value);
        }
        let resuming = have > 0;
        if resuming {
            builder = builder.header(header::RANGE, format!("bytes={have}-"));
            if let Some(validator) = &transfer.validator {
                builder = builder.header(header::IF_RANGE, validator);
            }
        }
        let mut config = builder
            .config()
            .timeout_per_call(Some(self.attempt_timeout.min(remaining)));
        if let Some(tls) = &transfer.tls {
            config = config.tls_config(tls.clone());
        }
        let no_thread = |e| Failure::fatal(format!("cannot start the transfer's thread: {e}"));
        let cancelled = || Failure::fatal("cancelled by the host");
        let answer = request_hearing_the_host(config.build(), progress, have, transfer.length)
            .map_err(no_thread)?;
        let (response, announced, body) = match answer.ok_or_else(cancelled)? {
            Ok(Answer::Head(head, announced, body)) => (head, announced, body),
            Ok(Answer::Refused(e)) => return Err(Failure::transport(e)),
            Err(Lost) => return Err(Failure::retry("the request's thread ended unanswered")),
        };

        let status = response.status;
        match status {
            StatusCode::PARTIAL_CONTENT if resuming => {
                let range = content_range(&response.headers);
                let continues = range.is_some_and(|(start, length)| {
                    start == have
                        && (length.is_none()
                            || transfer.length.is_none()
                            || length == transfer.length)
                });
                if !continues {
                    transfer.part.restart().map_err(write_failed)?;
                    return Err(Failure::retry(format!(
                        "the server resumed with a range that does not continue byte {have} \
                         of the same file ({})",
                        response
                            .headers
                            .get(header::CONTENT_RANGE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("no Content-Range")
                    )));
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE if resuming => {
                transfer.part.restart().map_err(write_failed)?;
                return Err(Failure::retry(format!(
                    "the server cannot resume at byte {have} ({status})"
                )));
            }
            StatusCode::OK => {
                transfer.part.restart().map_err(write_failed)?;
                transfer.validator = validator(&response.headers);
            }
            s if s.is_server_error() => {
                return Err(Failure::retry(format!("the server answered {s}")))
            }
            s => {
                return Err(Failure::fatal(format!(
                    "the server answered {s}{}",
                    if s.is_client_error() {
                        ""
                    } else {
                        ", not 200 OK"
                    }
                )))
            }
        }
        let before = transfer.part.len().map_err(write_failed)?;
        if let Some(announced) = announced {
            transfer.length = Some(before + announced);
        }
        let part = transfer.part.file().try_clone().map_err(write_failed)?;
        let copy =
            BackgroundCopy::start(body.into_reader(), part, BUFFER_SIZE).map_err(no_thread)?;
        let ended = copy.wait(progress, before, transfer.length);
        let written = before + copy.written();
        match ended.ok_or_else(cancelled)? {
            Ok(()) => {}
            Err(CopyError::Read(e)) => {
                return Err(Failure::retry(format!(
                    "the connection broke after {written} bytes: {e}"
                )))
            }
            Err(CopyError::Write(e)) => return Err(write_failed(e)),
            Err(CopyError::Lost) => {
                return Err(Failure::retry("the transfer's thread ended unanswered"))
            }
        }
        match transfer.length {
            Some(length) if written < length => Err(Failure::retry(format!(
                "the body ended after {written} of {length} bytes"
            ))),
            _ => Ok(()),
        }
    }
}

/// TLS trusting only the certificate authorities in a PEM file.
fn trusting(ca_file: &std::path::Path) -> Result<TlsConfig> {
    let pem = std::fs::read(ca_file)
        .map_err(|e| Error::msg(format!("ca_file {}: {e}", ca_file.display())))?;
    let mut roots = Vec::new();
    for item in parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(certificate)) => roots.push(certificate),
            Ok(_) => {}
            Err(e) => return Err(Error::msg(format!("ca_file {}: {e}", ca_file.display()))),
        }
    }
    if roots.is_empty() {
        return Err(Error::msg(format!(
            "ca_file {}: holds no PEM certificate",
            ca_file.display()
        )));
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .build())
}

/// A strong `ETag`, else `Last-Modified`: what `If-Range` may carry.
fn validator(headers: &ureq::http::HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    text(header::ETAG)
        .filter(|tag| !tag.starts_with("W/"))
        .or_else(|| text(header::LAST_MODIFIED))
        .map(str::to_owned)
}

/// The first byte and the whole length (`None` for `*`) of a
/// `Content-Range: bytes START-END/LENGTH`.
fn content_range(headers: &ureq::http::HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, length) = value.strip_prefix("bytes ")?.split_once('/')?;
    let start = range.split('-').next()?.trim().parse().ok()?;
    Some((start, length.trim().parse().ok()))
}

export_plugins!(downloader HttpDownloader);

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> ureq::http::HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), value.parse().unwrap()))
            .collect()
    }

    #[test]
    fn content_range_gives_the_first_byte() {
        let h = headers(&[(header::CONTENT_RANGE, "bytes 100-199/200")]);
        assert_eq!(content_range(&h), Some((100, Some(200))));
        let h = headers(&[(header::CONTENT_RANGE, "bytes 100-199/*")]);
        assert_eq!(content_range(&h), Some((100, None)));
        let h = headers(&[(header::CONTENT_RANGE, "bytes */200")]);
        assert_eq!(content_range(&h), None);
    }

    #[test]
    fn weak_etags_do_not_guard_resumes() {
        let h = headers(&[
            (header::ETAG, "W/\"abc\""),
            (header::LAST_MODIFIED, "Sun, 22 Nov 2026 10:00:00 GMT"),
        ]);
        assert_eq!(
            validator(&h).as_deref(),
            Some("Sun, 22 Nov 2026 10:00:00 GMT")
        );
        let h = headers(&[(header::ETAG, "\"abc\"")]);
        assert_eq!(validator(&h).as_deref(), Some("\"abc\""));
    }
}
