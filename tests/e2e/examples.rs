//! The example plugins of `examples/`, which are written the way an outside
//! team writes a plugin: each passes its own tests, and the host runs the
//! artifacts downloader's configuration as a user would.

use proctor_e2e::*;

fn example(name: &str) -> std::path::PathBuf {
    repo_root().join("examples").join(name)
}

#[test]
fn the_example_plugins_pass_their_own_tests() {
    for name in ["artifacts-downloader", "slowest-tests-collector"] {
        let manifest = example(name).join("Cargo.toml");
        let output = cargo_for(&manifest)
            .arg("test")
            .arg("--manifest-path")
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", repo_root().join("target/fixtures"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}:\n{text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains("test result: ok. "), "{text}");
    }
}

#[test]
fn the_artifacts_example_configuration_runs_its_downloaded_suite() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = fixture_plugin_dir(
        &example("artifacts-downloader/Cargo.toml"),
        "artifacts_downloader",
        scratch.path(),
    );
    let work = scratch.path().join("work");
    copy_tree(&example("artifacts-downloader/store"), &work.join("store"));
    std::fs::copy(
        example("artifacts-downloader/proctor.json"),
        work.join("proctor.json"),
    )
    .unwrap();
    let plugin_dir = plugins.to_str().unwrap();
    let output = proctor(&work, &["--plugin-dir", plugin_dir, "run", "proctor.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary = read_summary(&work.join("results/summary.json"));
    assert_eq!(summary.run.downloads[0].downloader, "artifacts");
    assert_eq!(summary.run.counts.passed, 2, "{summary:#?}");

    let library = plugins.join("libartifacts_downloader.so");
    let check = proctor(&work, &["plugins", "--check", library.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0));
    let text = stdout(&check);
    assert!(
        text.contains("plugin      downloader `artifacts` 0.1.0"),
        "{text}"
    );
    assert!(
        text.contains("built from  artifacts-downloader 0.1.0"),
        "{text}"
    );
    assert!(text.ends_with("ok: this host loads it\n"), "{text}");
}
