//! The plugin tested on its own: the SDK's harness loads the library cargo
//! built, exactly as proctor would, and calls it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use proctor_sdk::harness::{DownloaderPlugin, PluginLibrary, ProgressLog};
use proctor_sdk::messages::{DownloadRequest, PluginKind};
use serde_json::json;

fn library() -> PluginLibrary {
    PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap()
}

fn download(
    plugin: &DownloaderPlugin,
    uri: &str,
    into: &std::path::Path,
) -> (Result<u64, String>, ProgressLog) {
    let progress = ProgressLog::default();
    let request = DownloadRequest {
        uri: uri.into(),
        destination: into.join("out.bin"),
        base_dir: None,
    };
    let result = plugin
        .download(&request, &progress.sink())
        .map(|r| r.bytes)
        .map_err(|e| e.to_string());
    (result, progress)
}

#[test]
fn the_manifest_declares_the_scheme() {
    let library = library();
    let plugin = &library.manifest().plugins[0];
    assert_eq!(plugin.kind, PluginKind::Downloader);
    assert_eq!(plugin.name, "artifacts");
    assert_eq!(plugin.capabilities["schemes"], json!(["artifacts"]));
}

#[test]
fn files_come_from_the_directory_tree() {
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(store.path().join("build-7/bin")).unwrap();
    std::fs::write(store.path().join("build-7/bin/tool"), vec![7u8; 300_000]).unwrap();
    let plugin = library()
        .downloader("artifacts", json!({ "root": store.path() }))
        .unwrap();
    let out = tempfile::tempdir().unwrap();

    let (bytes, progress) = download(&plugin, "artifacts://build-7/bin/tool", out.path());
    assert_eq!(bytes, Ok(300_000));
    assert_eq!(
        std::fs::read(out.path().join("out.bin")).unwrap().len(),
        300_000
    );
    assert_eq!(progress.reports()[0], (0, Some(300_000)));
    assert_eq!(progress.last(), Some((300_000, Some(300_000))));

    let (missing, _) = download(&plugin, "artifacts://build-7/bin/nope", out.path());
    let error = missing.unwrap_err();
    assert!(error.contains("artifacts://build-7/bin/nope"), "{error}");
    let (climbing, _) = download(&plugin, "artifacts://build-7/../secret", out.path());
    assert!(climbing.unwrap_err().contains("may not hold `..`"));

    // A relative root is read from the configuration's directory.
    let relative = library()
        .downloader("artifacts", json!({ "root": "." }))
        .unwrap();
    let request = DownloadRequest {
        uri: "artifacts://build-7/bin/tool".into(),
        destination: out.path().join("again.bin"),
        base_dir: Some(store.path().to_path_buf()),
    };
    let response = relative.download(&request, &|_, _| true).unwrap();
    assert_eq!(response.bytes, 300_000);
}

#[test]
fn the_host_can_stop_a_download_and_nothing_is_left() {
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(store.path().join("b")).unwrap();
    std::fs::write(store.path().join("b/big"), vec![1u8; 2_000_000]).unwrap();
    let plugin = library()
        .downloader("artifacts", json!({ "root": store.path() }))
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let progress = ProgressLog::stop_after(2);
    let request = DownloadRequest {
        uri: "artifacts://b/big".into(),
        destination: out.path().join("big"),
        base_dir: None,
    };
    let error = plugin.download(&request, &progress.sink()).unwrap_err();
    assert!(error.message.contains("stopped by the host"), "{error}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn files_come_from_the_http_store_with_the_token() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            head.push(line.trim().to_owned());
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        )
        .unwrap();
        head
    });
    std::env::set_var("ARTIFACTS_TEST_TOKEN", "s3cret");
    let settings = json!({
        "base_url": format!("http://127.0.0.1:{port}/store/"),
        "token_env": "ARTIFACTS_TEST_TOKEN",
    });
    let plugin = library().downloader("artifacts", settings).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (bytes, _) = download(&plugin, "artifacts://build-9/hello.txt", out.path());
    assert_eq!(bytes, Ok(5));
    let head = server.join().unwrap();
    assert_eq!(head[0], "GET /store/build-9/hello.txt HTTP/1.1");
    assert!(
        head.iter()
            .any(|h| h == "authorization: Bearer s3cret" || h == "Authorization: Bearer s3cret"),
        "{head:?}"
    );
}

/// A store that takes the request and then falls silent, after `answer`
/// (nothing, or the head and the first bytes), for at most 20 s.
fn silent_store(answer: &'static str) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        stream.write_all(answer.as_bytes()).unwrap();
        // Held open, silent; a download still waiting fails the test's timing.
        std::thread::sleep(std::time::Duration::from_secs(20));
    });
    (port, server)
}

#[test]
fn a_store_gone_silent_does_not_keep_a_stopped_download_waiting() {
    let head_then_nothing = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst bytes";
    for (answer, case) in [("", "before its answer"), (head_then_nothing, "in its body")] {
        let (port, _server) = silent_store(answer);
        let settings = json!({ "base_url": format!("http://127.0.0.1:{port}") });
        let plugin = library().downloader("artifacts", settings).unwrap();
        let out = tempfile::tempdir().unwrap();
        // The host answers "stop" at the fifth report: the plugin hears it
        // only if it reports while the store says nothing.
        let progress = ProgressLog::stop_after(5);
        let request = DownloadRequest {
            uri: "artifacts://b/big".into(),
            destination: out.path().join("big"),
            base_dir: None,
        };
        let started = std::time::Instant::now();
        let error = plugin.download(&request, &progress.sink()).unwrap_err();
        let took = started.elapsed();
        assert!(error.message.contains("stopped by the host"), "{case}: {error}");
        assert!(took.as_secs() < 5, "{case}: stopped after {took:?}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "{case}");
    }
}

#[test]
fn settings_that_cannot_work_are_refused_as_settings() {
    let library = library();
    let both = library
        .downloader("artifacts", json!({ "root": "/x", "base_url": "http://h" }))
        .err()
        .unwrap();
    assert!(both.invalid_settings());
    assert!(both.to_string().contains("exactly one of `root`"), "{both}");
    let unknown = library
        .downloader("artifacts", json!({ "rot": "/x" }))
        .err()
        .unwrap();
    assert!(unknown.invalid_settings());
    assert!(
        unknown.to_string().contains("unknown field `rot`"),
        "{unknown}"
    );
}
