//! Payloads fetched before discovery: the http and file downloaders against a
//! real server on loopback, checksums, unpacking, and what a failure leaves.

use std::io::Read;
use std::time::Duration;

use proctor_e2e::http_server::{Fault, Route, TestCa, TestServer};
use proctor_e2e::*;
use serde_json::json;

/// A tar.gz holding a pytest suite of two passing tests and a data file.
fn pytest_payload() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut add = |path: &str, content: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append_data(&mut header, path, content).unwrap();
    };
    add(
        "tests/test_payload.py",
        b"import pathlib\n\
          def test_data_came_along():\n    \
              assert (pathlib.Path(__file__).parent / 'data.txt').read_text() == 'payload data'\n\
          def test_adds():\n    assert 1 + 1 == 2\n",
        0o644,
    );
    add("tests/data.txt", b"payload data", 0o644);
    builder.into_inner().unwrap().finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// A configuration running the pytest suite the payload brings.
fn payload_config(uri: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut payload = json!({ "uri": uri, "extract": true });
    payload
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({
        "downloads": { "payload": payload },
        "downloaders": { "http": { "backoff_seconds": 0.05 } },
        "sources": [{ "name": "py", "runner": "pytest", "path": "payload/tests" }]
    })
}

#[test]
fn a_payload_survives_a_500_and_a_cut_connection_then_its_tests_run() {
    let server = TestServer::start();
    let payload = pytest_payload();
    server.route(
        "/work/payload.tar.gz",
        Route::new(payload.clone())
            .with_ranges()
            .then(Fault::Status(500))
            .then(Fault::Truncate(payload.len() / 2)),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = payload_config(
        &server.url("/work/payload.tar.gz"),
        json!({ "sha256": sha256(&payload) }),
    );
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(0), "{summary:#?}");
    assert_eq!(summary.run.counts.passed, 2, "{summary:#?}");

    let download = &summary.run.downloads[0];
    assert_eq!(json!(download.role), "payload");
    assert_eq!(download.downloader, "http");
    assert_eq!(download.bytes, payload.len() as u64);
    assert_eq!(download.attempts, 3);
    assert_eq!(download.unpacked.unwrap().files, 2);
    let reasons = download.retried_because.join("\n");
    assert!(reasons.contains("500 Internal Server Error"), "{reasons}");
    assert!(
        reasons.contains(&format!(
            "the connection broke after {} bytes",
            payload.len() / 2
        )) || reasons.contains("the body ended after"),
        "{reasons}"
    );

    // The third request resumed where the cut left off, guarded by the ETag.
    let seen = server.seen("/work/payload.tar.gz");
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].range, None);
    assert_eq!(
        seen[2].range.as_deref(),
        Some(format!("bytes={}-", payload.len() / 2).as_str())
    );
    assert_eq!(
        seen[2].if_range.as_deref(),
        Some(format!("\"{}\"", payload.len()).as_str())
    );

    // Nothing but the payload itself and a stamp is left beside it.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".payload.download.json",
            "payload",
            "proctor.json",
            "results"
        ]
    );
    let events = journal(&dir.path().join("results"));
    assert!(events.iter().any(|e| e["event"] == "downloaded"));
}

#[test]
fn https_payloads_are_verified_against_the_configured_authority() {
    let ca = TestCa::new();
    let server = TestServer::start_tls(&ca);
    let payload = pytest_payload();
    server.route("/secure.tar.gz", Route::new(payload.clone()).with_ranges());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem).unwrap();
    let uri = server.url("/secure.tar.gz");
    assert!(uri.starts_with("https://"));

    // Mozilla's roots do not know this authority: refused, and not retried.
    let (code, summary) = run_config(dir.path(), payload_config(&uri, json!({})), &[]);
    assert_eq!(code, Some(3));
    let error = &summary.run.errors[0];
    assert!(error.contains("attempt 1 of 5 failed"), "{error}");
    assert!(error.contains("(not retried)"), "{error}");
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    let mut config = payload_config(&uri, json!({ "sha256": sha256(&payload) }));
    config["downloaders"]["http"]["ca_file"] = json!("ca.pem");
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(0), "{summary:#?}");
    assert_eq!(summary.run.counts.passed, 2);
}

#[test]
fn a_pinned_payload_already_in_place_is_not_fetched_again() {
    let server = TestServer::start();
    let payload = pytest_payload();
    server.route("/p.tar.gz", Route::new(payload.clone()));
    let dir = tempfile::tempdir().unwrap();
    let config = payload_config(
        &server.url("/p.tar.gz"),
        json!({ "sha256": sha256(&payload) }),
    );
    let (code, _) = run_config(dir.path(), config.clone(), &[]);
    assert_eq!(code, Some(0));
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(0));
    assert!(summary.run.downloads[0].reused);
    assert_eq!(server.seen("/p.tar.gz").len(), 1);
}

#[test]
fn a_4xx_is_not_retried_and_ends_the_run_as_an_infrastructure_error() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let uri = server.url("/missing.tar.gz");
    let path = write_config(dir.path(), &payload_config(&uri, json!({})));
    let output = proctor(dir.path(), &["run", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let summary = read_summary(&dir.path().join("results/summary.json"));
    let error = &summary.run.errors[0];
    assert!(
        error.starts_with("download failed: downloads.payload: "),
        "{error}"
    );
    assert!(error.contains(&uri), "{error}");
    assert!(
        error.contains("attempt 1 of 5 failed: the server answered 404 Not Found (not retried)"),
        "{error}"
    );
    assert!(stderr(&output).contains(&uri));
    assert_eq!(server.seen("/missing.tar.gz").len(), 1);
    assert_eq!(summary.tests.len(), 0);
    // The download's failure is the run's one error; the source keeps why it did not run.
    assert_eq!(summary.run.errors.len(), 1, "{:#?}", summary.run.errors);
    assert_eq!(
        stderr(&output)
            .matches("failed: the server answered 404")
            .count(),
        1
    );
    assert_eq!(
        summary.run.sources[0].error.as_deref(),
        Some("source `py`: not run: a download failed")
    );
    assert!(!dir.path().join("payload").exists());
}

#[test]
fn server_errors_are_retried_until_the_attempts_run_out() {
    let server = TestServer::start();
    server.route(
        "/flaky.tar.gz",
        Route::new(pytest_payload())
            .then(Fault::Status(503))
            .then(Fault::Status(502)),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = payload_config(&server.url("/flaky.tar.gz"), json!({}));
    config["downloaders"]["http"]["attempts"] = json!(2);
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(3));
    let error = &summary.run.errors[0];
    assert!(
        error.contains("attempt 2 of 2 failed: the server answered 502 Bad Gateway (no attempts left); before it: attempt 1: the server answered 503 Service Unavailable"),
        "{error}"
    );
}

#[test]
fn a_stalled_transfer_is_cut_and_resumed() {
    let server = TestServer::start();
    let payload = pytest_payload();
    server.route(
        "/slow.tar.gz",
        Route::new(payload.clone())
            .with_ranges()
            .then(Fault::Stall(Duration::from_secs(5))),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = payload_config(&server.url("/slow.tar.gz"), json!({}));
    config["downloaders"]["http"]["stall_timeout_seconds"] = json!(0.3);
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(0), "{summary:#?}");
    assert_eq!(summary.run.downloads[0].attempts, 2);
    assert!(summary.run.duration_ms < 5000);
}

#[test]
fn an_attempt_that_outlives_its_timeout_is_cut_and_the_next_one_resumes() {
    let server = TestServer::start();
    let payload = pytest_payload();
    server.route(
        "/slow.tar.gz",
        Route::new(payload)
            .with_ranges()
            .then(Fault::Stall(Duration::from_secs(5))),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = payload_config(&server.url("/slow.tar.gz"), json!({}));
    config["downloaders"]["http"]["attempt_timeout_seconds"] = json!(0.5);
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(0), "{summary:#?}");
    let download = &summary.run.downloads[0];
    assert_eq!(download.attempts, 2);
    assert!(
        download.retried_because[0].contains("timeout: per call"),
        "{download:#?}"
    );
}

#[test]
fn a_download_that_outlives_its_total_timeout_fails() {
    let server = TestServer::start();
    let mut route = Route::new(pytest_payload());
    for _ in 0..20 {
        route = route.then(Fault::Stall(Duration::from_secs(5)));
    }
    server.route("/never.tar.gz", route);
    let dir = tempfile::tempdir().unwrap();
    let mut config = payload_config(&server.url("/never.tar.gz"), json!({}));
    config["downloaders"]["http"]["attempts"] = json!(20);
    config["downloaders"]["http"]["stall_timeout_seconds"] = json!(0.3);
    config["downloaders"]["http"]["timeout_seconds"] = json!(1.0);
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(3));
    let error = &summary.run.errors[0];
    assert!(summary.run.duration_ms < 3000, "{error}");
    assert!(error.contains("of 20 failed"), "{error}");
    assert!(error.contains("timeout_seconds would pass"), "{error}");
}

#[test]
fn a_checksum_mismatch_leaves_nothing_in_place() {
    let server = TestServer::start();
    server.route("/p.tar.gz", Route::new(pytest_payload()));
    let dir = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let config = payload_config(&server.url("/p.tar.gz"), json!({ "sha256": wrong }));
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(3));
    let error = &summary.run.errors[0];
    assert!(
        error.contains(&format!(
            "SHA-256 mismatch: the configuration expects {wrong}"
        )),
        "{error}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn an_archive_that_climbs_out_of_its_destination_is_refused() {
    let mut archive = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut archive);
        let mut header = tar::Header::new_gnu();
        // `set_path` refuses `..`, so the name is written raw, as an attacker would.
        header.as_old_mut().name[..9].copy_from_slice(b"../escape");
        header.set_size(4);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, &b"evil"[..]).unwrap();
        builder.finish().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.tar"), &archive).unwrap();
    let config = json!({
        "downloads": { "payload": { "uri": "bad.tar", "extract": true } },
        "sources": [{ "name": "py", "runner": "pytest", "path": "payload/tests" }]
    });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(3));
    let error = &summary.run.errors[0];
    assert!(
        error.contains("cannot unpack: entry `../escape` leaves the destination"),
        "{error}"
    );
    assert!(!dir.path().join("escape").exists());
    assert!(!dir.path().join("payload").exists());
}

#[test]
fn files_come_by_path_through_the_file_downloader() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("store")).unwrap();
    std::fs::write(dir.path().join("store/p.tar.gz"), pytest_payload()).unwrap();
    std::fs::write(dir.path().join("store/notes.txt"), "notes").unwrap();
    let config = json!({
        "downloads": {
            "payload": { "uri": "store/p.tar.gz", "extract": true },
            "files": [{ "uri": "store/notes.txt", "destination": "extra/notes.txt" }]
        },
        "sources": [{ "name": "py", "runner": "pytest", "path": "payload/tests" }]
    });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(0), "{summary:#?}");
    assert_eq!(summary.run.downloads[0].downloader, "file");
    assert_eq!(json!(summary.run.downloads[1].role), "file");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("extra/notes.txt")).unwrap(),
        "notes"
    );
}

#[test]
fn download_settings_are_checked_before_anything_is_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let check = |config: serde_json::Value, expected: &str| {
        let path = write_config(dir.path(), &config);
        let output = proctor(dir.path(), &["run", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    };
    let source = json!([{ "runner": "pytest", "path": "payload/tests" }]);
    check(
        json!({ "downloads": { "payload": { "uri": "ftp://h/p.zip", "extract": true } }, "sources": source }),
        "downloads.payload.uri: no downloader plugin serves `ftp:` URIs; looked in: ",
    );
    check(
        json!({ "downloads": { "payload": { "uri": "https://h/p.zip", "sha256": "abc", "extract": true } }, "sources": source }),
        "downloads.payload.sha256: `abc` is not a SHA-256 digest",
    );
    check(
        json!({ "downloads": { "payload": { "uri": "https://h/p.zip", "extract": true } },
                "downloaders": { "http": { "attempts": 0 } }, "sources": source }),
        "downloaders.http: downloader `http`: attempts: must be at least 1",
    );
    check(
        json!({ "downloaders": { "http": { "retries": 3 } }, "sources": [{ "runner": "pytest", "path": "." }] }),
        "downloaders.http.retries: downloader `http`: unknown field `retries`, expected one of `attempts`",
    );
    check(
        json!({ "downloaders": { "ftp": {} }, "sources": [{ "runner": "pytest", "path": "." }] }),
        "downloaders.ftp: no downloader plugin named `ftp`; looked in: ",
    );
    check(
        json!({ "downloads": { "payload": { "uri": "https://h/p.zip", "destination": "../outside" } },
                "sources": source }),
        "downloads.payload.destination: ",
    );
}

/// A compression bomb: 256 MiB of zeros in a quarter-megabyte tar.gz. The
/// byte limit stops it at the first byte past, and nothing is left.
#[test]
fn an_archive_past_its_unpack_limit_fails_its_download_and_leaves_nothing() {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(256 << 20);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "zeros", std::io::repeat(0).take(256 << 20))
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    let bomb = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bomb.tar.gz"), &bomb).unwrap();
    let config = json!({
        "downloads": {
            "payload": { "uri": "bomb.tar.gz", "extract": true },
            "unpack_limits": { "bytes": 10_000_000 }
        },
        "sources": [{ "name": "py", "runner": "pytest", "path": "payload/tests" }]
    });
    let (code, summary) = run_config(dir.path(), config, &[]);
    assert_eq!(code, Some(3));
    let error = &summary.run.errors[0];
    assert!(
        error.contains(
            "cannot unpack: it unpacks to more than 10000000 bytes \
             (downloads.unpack_limits.bytes)"
        ),
        "{error}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name != "bomb.tar.gz" && name != "proctor.json" && name != "results")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Every file a run leaves under `dir`, and what it printed, as text.
fn everything_written(dir: &std::path::Path, output: &std::process::Output) -> String {
    let mut text = stdout(output) + &stderr(output);
    for path in files_under(dir) {
        if path.file_name().is_some_and(|name| name != "proctor.json") {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
        }
    }
    text
}

/// Credentials in a URI's userinfo, signatures and tokens in its query (the
/// built-in names and one the configuration adds) and header values reach
/// the server, and appear in nothing the run prints or writes: console,
/// journal, summary, JUnit, TRX, Helix's report, download stamps.
#[test]
fn secrets_in_uris_and_headers_reach_the_server_and_nothing_else() {
    let server = TestServer::start();
    server.route("/p.tar.gz", Route::new(pytest_payload()));
    let with_secrets = |path: &str, query: &str| {
        let url = server.url(path);
        let (scheme, rest) = url.split_once("://").unwrap();
        format!("{scheme}://alice:PASSWORD-SECRET@{rest}?{query}")
    };
    let payload = with_secrets(
        "/p.tar.gz",
        "X-Amz-Credential=CREDENTIAL-SECRET&sig=SIG-SECRET&keep=visible",
    );
    let missing = with_secrets("/missing.txt", "token=TOKEN-SECRET&API_KEY=KEY-SECRET");
    let dir = tempfile::tempdir().unwrap();
    let workitem = dir.path().join("workitem");
    std::fs::create_dir(&workitem).unwrap();
    let mut config = payload_config(&payload, json!({ "sha256": sha256(&pytest_payload()) }));
    config["downloads"]["files"] = json!([{ "uri": missing, "destination": "missing.txt" }]);
    config["downloaders"]["http"]["attempts"] = json!(2);
    config["downloaders"]["http"]["headers"] = json!({ "Authorization": "Bearer HEADER-SECRET" });
    config["redact"] = json!({ "query_parameters": ["api_key"] });
    let path = write_config(dir.path(), &config);
    let output = std::process::Command::new(proctor_bin())
        .current_dir(dir.path())
        .args(["run", path.to_str().unwrap()])
        .env("HELIX_WORKITEM_ROOT", &workitem)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let seen = server.seen("/p.tar.gz");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer HEADER-SECRET")
    );
    let query = seen[0].query.as_deref().unwrap();
    assert!(query.contains("sig=SIG-SECRET"), "{query}");
    assert_eq!(server.seen("/missing.txt").len(), 1, "a 404 is not retried");

    let written = everything_written(dir.path(), &output);
    assert!(workitem.join("__test_report_v2.json").exists());
    assert!(!written.contains("SECRET"), "a secret leaked:\n{written}");
    let summary = read_summary(&dir.path().join("results/summary.json"));
    let shown = &summary.run.downloads[0].uri;
    assert!(
        shown.contains("REDACTED@127.0.0.1")
            && shown.contains("X-Amz-Credential=REDACTED&sig=REDACTED&keep=visible"),
        "{shown}"
    );
    assert!(
        summary.run.errors[0].contains("token=REDACTED&API_KEY=REDACTED"),
        "{}",
        summary.run.errors[0]
    );
}

/// What a failed download left beside the configuration: nothing.
fn left_behind(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name != "proctor.json" && name != "results")
        .collect()
}

/// A body that never ends, over HTTP or read from `/dev/zero`, fails its
/// download at the configured byte limit; a file system below its reserve
/// fails one at once. Each leaves nothing.
#[test]
fn a_download_that_never_ends_fails_at_its_byte_limit() {
    let server = TestServer::start();
    server.route("/endless", Route::new(Vec::new()).then(Fault::Endless));
    for (uri, limits, expected) in [
        (
            server.url("/endless"),
            json!({ "max_bytes": 3_000_000 }),
            "it is larger than 3000000 bytes (downloads.max_bytes)",
        ),
        (
            "file:///dev/zero".to_owned(),
            json!({ "max_bytes": 3_000_000 }),
            "it is larger than 3000000 bytes (downloads.max_bytes)",
        ),
        (
            server.url("/endless"),
            json!({ "reserve_bytes": u64::MAX }),
            "bytes it keeps free (downloads.reserve_bytes)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = json!({
            "downloads": { "files": [{ "uri": uri, "destination": "endless.bin" }] },
            "sources": [{ "name": "py", "runner": "pytest", "path": "." }]
        });
        let downloads = config["downloads"].as_object_mut().unwrap();
        downloads.extend(limits.as_object().unwrap().clone());
        let (code, summary) = run_config(dir.path(), config, &[]);
        assert_eq!(code, Some(3), "{uri}");
        let error = &summary.run.errors[0];
        assert!(error.contains(expected), "{uri}: {error}");
        assert!(
            left_behind(dir.path()).is_empty(),
            "{uri}: {:?}",
            left_behind(dir.path())
        );
    }
}
