use proctor_sdk::harness::{PluginLibrary, ProgressLog};
use proctor_sdk::messages::DownloadRequest;

#[test]
fn fetches_from_the_store_and_nothing_outside_it() {
    // A store of one artifact, in a directory of this test's own.
    let store = std::env::temp_dir().join(format!("artifacts-store-{}", std::process::id()));
    std::fs::create_dir_all(store.join("build-1")).unwrap();
    std::fs::write(store.join("build-1/a.bin"), b"twelve bytes").unwrap();

    let library = PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap();
    let plugin = library
        .downloader("artifacts", serde_json::json!({ "root": store }))
        .unwrap();
    let fetch = |uri: &str| {
        let request = DownloadRequest {
            uri: uri.into(),
            destination: store.join("fetched.bin"),
            base_dir: None,
        };
        let progress = ProgressLog::default();
        let response = plugin.download(&request, &progress.sink());
        (response, progress.last())
    };

    let (response, last) = fetch("artifacts://build-1/a.bin");
    assert_eq!(response.unwrap().bytes, 12);
    assert_eq!(last, Some((12, Some(12))));
    for outside in [
        "artifacts:///etc/hostname",
        "artifacts://build-1//a.bin",
        "artifacts://../a.bin",
    ] {
        let error = fetch(outside).0.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected artifacts://BUILD/PATH"),
            "{error}"
        );
    }
    std::fs::remove_dir_all(&store).unwrap();
}
