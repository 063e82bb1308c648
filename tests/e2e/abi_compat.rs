//! The ABI promise, with real plugin libraries built here: an old plugin
//! loads, a plugin of another major version is refused with both versions
//! named, and a panicking plugin never takes the host down.

use std::path::Path;

use proctor_e2e::*;
use serde_json::json;

fn scripts_config(dir: &Path, runner: &str) -> std::path::PathBuf {
    let scripts = fixtures().join("scripts");
    write_config(
        dir,
        &json!({ "sources": [
            { "name": "scripts", "runner": runner, "path": scripts },
        ]}),
    )
}

#[test]
fn a_plugin_built_against_api_1_0_loads_and_runs_in_this_host() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = fixture_plugin_dir(
        &fixtures().join("legacy-plugin/Cargo.toml"),
        "legacy_script_runner",
        scratch.path(),
    );
    let plugin_dir = plugins.to_str().unwrap();

    let listing = proctor(
        scratch.path(),
        &["--plugin-dir", plugin_dir, "plugins", "--format", "json"],
    );
    let listing: serde_json::Value = serde_json::from_str(&stdout(&listing)).unwrap();
    assert_eq!(listing["host_api_version"], host_api_version());
    let legacy = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "legacy-script")
        .unwrap();
    assert_eq!(legacy["api_version"], "1.0.0");
    // `build_info` arrived in 1.1: the host sees that this plugin lacks it.
    assert!(legacy["sdk_version"].is_null(), "{legacy}");

    // It reads live output: lines reach it as 1.0 sent them, inside JSON.
    let lines = scratch.path().join("lines.txt");
    let scripts = fixtures().join("scripts");
    let config = write_config(
        scratch.path(),
        &json!({ "sources": [{
            "name": "scripts", "runner": "legacy-script", "path": scripts,
            "settings": { "lines_to": lines },
        }]}),
    );
    let output = proctor(
        scratch.path(),
        &["--plugin-dir", plugin_dir, "run", config.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let summary = read_summary(&scratch.path().join("results/summary.json"));
    assert_eq!(summary.run.counts.passed, 1);
    assert_eq!(summary.run.counts.failed, 1);
    assert_eq!(std::fs::read_to_string(&lines).unwrap(), "nope\n");

    let library = plugins.join("liblegacy_script_runner.so");
    let check = proctor(
        scratch.path(),
        &[
            "plugins",
            "--check",
            library.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    let report: serde_json::Value = serde_json::from_str(&stdout(&check)).unwrap();
    assert_eq!(report["compatible"], true);
    assert_eq!(report["api_version"], "1.0.0");
    assert_eq!(report["plugins"][0]["name"], "legacy-script");
}

/// The plugin-api version this host is built with (plugin-api and SDK share it).
fn host_api_version() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("plugin-api/Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("version = "))
        .unwrap();
    line.trim_start_matches("version = ")
        .trim_matches('"')
        .to_owned()
}

/// Builds the panicking fixture against a copy of today's plugin-api and SDK
/// whose version says 2.0.0: a plugin from a future major version.
fn build_major_2_plugin(scratch: &Path) -> std::path::PathBuf {
    let api = scratch.join("api-2.0");
    for (crate_dir, package) in [("plugin-api", "proctor-plugin-api"), ("sdk", "proctor-sdk")] {
        let to = api.join(crate_dir);
        std::fs::create_dir_all(to.join("src")).unwrap();
        for entry in std::fs::read_dir(repo_root().join(crate_dir).join("src")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join("src").join(entry.file_name())).unwrap();
        }
        let manifest =
            std::fs::read_to_string(repo_root().join(crate_dir).join("Cargo.toml")).unwrap();
        let manifest = manifest
            .replace(
                &format!("version = \"{}\"", host_api_version()),
                "version = \"2.0.0\"",
            )
            .replace("edition.workspace = true", "edition = \"2021\"")
            .replace("license.workspace = true", "license = \"MIT\"");
        assert!(
            manifest.contains(package) && manifest.contains("2.0.0"),
            "{manifest}"
        );
        std::fs::write(to.join("Cargo.toml"), manifest).unwrap();
    }
    let plugin = scratch.join("future-plugin");
    std::fs::create_dir_all(plugin.join("src")).unwrap();
    std::fs::copy(
        fixtures().join("panicking-plugin/src/lib.rs"),
        plugin.join("src/lib.rs"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(fixtures().join("panicking-plugin/Cargo.toml"))
        .unwrap()
        .replace("name = \"panicking-runner\"", "name = \"future-runner\"")
        .replace(
            "path = \"../../../sdk\"",
            &format!("path = {:?}", api.join("sdk")),
        );
    std::fs::write(plugin.join("Cargo.toml"), manifest).unwrap();
    fixture_plugin_dir(&plugin.join("Cargo.toml"), "future_runner", scratch)
}

#[test]
fn a_plugin_of_another_major_version_is_refused_naming_both_versions() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = build_major_2_plugin(scratch.path());
    let plugin_dir = plugins.to_str().unwrap();

    let listing = proctor(scratch.path(), &["--plugin-dir", plugin_dir, "plugins"]);
    let text = stdout(&listing);
    assert!(text.contains("refused"), "{text}");
    assert!(
        text.contains("runner `panicky`"),
        "the refusal names the plugin: {text}"
    );
    let versions = format!(
        "built against plugin-api 2.0.0; this host speaks plugin-api {}",
        host_api_version()
    );
    assert!(text.contains(&versions), "{text}");

    let config = scripts_config(scratch.path(), "panicky");
    let output = proctor(
        scratch.path(),
        &["--plugin-dir", plugin_dir, "run", config.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("no runner plugin named `panicky`"),
        "{message}"
    );
    assert!(message.contains(&versions), "{message}");

    // `plugins --check` gives the same verdict for the one library.
    let library = plugins.join("libfuture_runner.so");
    let check = proctor(
        scratch.path(),
        &["plugins", "--check", library.to_str().unwrap()],
    );
    assert_eq!(check.status.code(), Some(3));
    let text = stdout(&check);
    assert!(text.contains("plugin-api  2.0.0"), "{text}");
    assert!(
        text.contains("refused: plugin library libfuture_runner.so (runner `panicky`"),
        "{text}"
    );
    assert!(text.contains(&versions), "{text}");
}

#[test]
fn a_panicking_plugin_is_reported_and_the_run_completes() {
    let scratch = tempfile::tempdir().unwrap();
    let panicking = fixture_plugin_dir(
        &fixtures().join("panicking-plugin/Cargo.toml"),
        "panicking_runner",
        scratch.path(),
    );
    let legacy = fixture_plugin_dir(
        &fixtures().join("legacy-plugin/Cargo.toml"),
        "legacy_script_runner",
        scratch.path(),
    );
    let scripts = fixtures().join("scripts");
    let config = write_config(
        scratch.path(),
        &json!({ "sources": [
            { "name": "boom", "runner": "panicky", "path": scripts },
            { "name": "scripts", "runner": "legacy-script", "path": scripts },
        ]}),
    );
    let output = proctor(
        scratch.path(),
        &[
            "--plugin-dir",
            panicking.to_str().unwrap(),
            "--plugin-dir",
            legacy.to_str().unwrap(),
            "run",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "a broken plugin is an infrastructure error: {}",
        stderr(&output)
    );
    let summary = read_summary(&scratch.path().join("results/summary.json"));
    assert_eq!(summary.run.outcome, RunOutcome::InfrastructureError);
    let errors = summary.run.errors.join("\n");
    assert!(
        errors.contains(
            "runner `panicky` failed in discover: plugin panicked: discovery exploded on purpose"
        ),
        "{errors}"
    );
    let boom = summary
        .run
        .sources
        .iter()
        .find(|s| s.name == "boom")
        .unwrap();
    assert!(boom.error.as_deref().unwrap().contains("plugin panicked"));
    // The other source ran to the end.
    assert_eq!(summary.run.counts.total, 2);
}

#[test]
fn a_plugin_panicking_while_created_is_an_error_not_a_crash() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = fixture_plugin_dir(
        &fixtures().join("panicking-plugin/Cargo.toml"),
        "panicking_runner",
        scratch.path(),
    );
    let config = write_config(
        scratch.path(),
        &json!({ "sources": [
            { "runner": "panicky", "path": fixtures().join("scripts"), "settings": { "panic_in_new": true } },
        ]}),
    );
    let output = proctor(
        scratch.path(),
        &[
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "run",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("plugin panicked: panicking on request in new()"),
        "{}",
        stderr(&output)
    );
}
