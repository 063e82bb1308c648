//! Bad input: a clear error, exit code 2, and nothing written.

use std::path::Path;

use proctor_e2e::*;
use serde_json::json;

/// Each configuration is a usage error whose message holds its text; one
/// without `sources` gets a libtest source.
fn refused_naming(dir: &Path, cases: &[(serde_json::Value, &str)]) {
    for (config, expected) in cases {
        let mut config = config.clone();
        if config.get("sources").is_none() {
            config["sources"] = json!([{ "runner": "libtest", "path": "." }]);
        }
        let message = usage_error(dir, &config.to_string());
        assert!(message.contains(expected), "{expected}\n{message}");
    }
}

/// Runs `proctor run` on a configuration text; asserts exit 2 and no results.
fn usage_error(dir: &Path, config_text: &str) -> String {
    std::fs::write(dir.join("proctor.json"), config_text).unwrap();
    let output = proctor(dir, &["run"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        !dir.join("results").exists(),
        "nothing may be written on a usage error"
    );
    message
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let message = usage_error(
        dir.path(),
        "{\n  \"sources\": [\n    {\"runner\": \"libtest\" \"path\": \"x\"}\n  ]\n}\n",
    );
    assert!(
        message.contains("proctor.json:3:26: expected `,` or `}`"),
        "{message}"
    );
}

#[test]
fn a_wrong_type_says_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let message = usage_error(dir.path(), r#"{"jobs": "many", "sources": []}"#);
    assert!(
        message.contains("proctor.json:1:15: jobs: invalid type: string \"many\", expected usize"),
        "{message}"
    );
}

#[test]
fn unknown_keys_suggest_the_nearest_valid_key() {
    let dir = tempfile::tempdir().unwrap();
    let message = usage_error(
        dir.path(),
        r#"{"sources": [{"runer": "libtest", "path": "."}]}"#,
    );
    assert!(
        message.contains("sources[0]: unknown field `runer`"),
        "{message}"
    );
    assert!(message.contains("did you mean `runner`?"), "{message}");
}

#[test]
fn a_missing_source_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [{ "runner": "libtest", "path": "no/such/binary" }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("sources[0].path: `no/such/binary` does not exist"),
        "{message}"
    );
}

#[test]
fn a_missing_plugin_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [{ "runner": "nunit", "path": "." }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("sources[0].runner: no runner plugin named `nunit`; looked in: "),
        "{message}"
    );
    assert!(
        message.contains("runner plugins available: command, gtest, libtest, pytest"),
        "{message}"
    );
}

/// A plugin reads its own settings block; what it refuses is said in the
/// configuration file's coordinates, as the host's own errors are, with
/// the nearest key for a misspelt one, whichever kind of plugin refused.
#[test]
fn invalid_plugin_settings_point_into_the_file_and_suggest_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = |runner: &str, collector: &str| {
        format!(
            "{{\n  \"sources\": [\n    {{ \"runner\": \"pytest\", \"path\": \".\",\n      \"settings\": {{ {runner} }} }}\n  ],\n  \"collectors\": {{ \"dump\": {{ {collector} }} }}\n}}\n"
        )
    };
    let misspelt = usage_error(dir.path(), &config(r#""pyhton": "python3""#, ""));
    assert!(
        misspelt.contains(
            "proctor.json:4:21: sources[0].settings: runner `pytest`: unknown field `pyhton`, \
             expected one of `python`, `args`, `rootdir`, `fork`, `teardown` (did you mean `python`?)"
        ),
        "{misspelt}"
    );
    // The position of the block the plugin was handed is no one's concern.
    assert!(!misspelt.contains("line 1 column"), "{misspelt}");
    assert_eq!(
        misspelt.matches("unknown field").count(),
        1,
        "said once: {misspelt}"
    );

    let wrong_type = usage_error(dir.path(), &config(r#""args": "-x""#, ""));
    assert!(
        wrong_type.contains(
            "proctor.json:4:21: sources[0].settings.args: runner `pytest`: invalid type: \
             string \"-x\", expected a sequence"
        ),
        "{wrong_type}"
    );

    let collector = usage_error(dir.path(), &config("", r#""formta": "core""#));
    assert!(
        collector.contains(
            "proctor.json:6:29: collectors.dump: collector `dump`: unknown field `formta`"
        ),
        "{collector}"
    );
    assert!(
        collector.contains("(did you mean `format`?)"),
        "{collector}"
    );

    // A block that is no object: said in JSON's words, not the plugin's types.
    let text = r#"{ "sources": [{ "runner": "pytest", "path": ".", "settings": 5 }] }"#;
    let not_an_object = usage_error(dir.path(), text);
    assert!(
        not_an_object.contains(
            "sources[0].settings: runner `pytest`: invalid type: integer `5`, expected an object"
        ),
        "{not_an_object}"
    );
    assert!(!not_an_object.contains("struct"), "{not_an_object}");
}

#[test]
fn no_configuration_lists_the_default_names() {
    let dir = tempfile::tempdir().unwrap();
    let output = proctor(dir.path(), &["run"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("proctor.json nor shared-infra-configuration.json"),
        "{message}"
    );
}

#[test]
fn a_foreign_results_directory_is_never_emptied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("results")).unwrap();
    std::fs::write(dir.path().join("results/precious.txt"), "keep me").unwrap();
    let demo = repo_root().join("examples/demo/Cargo.toml");
    let config = json!({ "sources": [{ "runner": "libtest", "path": demo }] });
    std::fs::write(dir.path().join("proctor.json"), config.to_string()).unwrap();
    let output = proctor(dir.path(), &["run"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("was not written by proctor"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("results/precious.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn a_bad_regex_in_a_retry_rule_names_the_key_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\n  \"retry\": {\"rules\": [\n    {\"message\": {\"regex\": \"conn(ection\"}}\n  ]},\n  \"sources\": [{\"runner\": \"libtest\", \"path\": \".\"}]\n}";
    let message = usage_error(dir.path(), text);
    assert!(
        message.contains("proctor.json:3:") && message.contains("retry.rules[0].message"),
        "{message}"
    );
    assert!(message.contains("invalid regex `conn(ection`"), "{message}");
}

#[test]
fn a_bad_glob_in_a_skip_rule_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "skip": [{ "tests": "net::[a" }], "sources": [{ "runner": "libtest", "path": "." }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("skip[0].tests: invalid glob `net::[a`"),
        "{message}"
    );
}

#[test]
fn a_retry_count_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "retry": { "max_attempts": 50 }, "sources": [{ "runner": "libtest", "path": "." }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("retry.max_attempts: 50 is out of range 1..=10"),
        "{message}"
    );

    std::fs::create_dir_all(dir.path().join("eng")).unwrap();
    std::fs::write(
        dir.path().join("eng/test-configuration.json"),
        "{\"version\": 1, \"localRerunCount\": -1}",
    )
    .unwrap();
    let config = json!({ "sources": [{ "runner": "libtest", "path": "." }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("test-configuration.json:1:") && message.contains("localRerunCount"),
        "{message}"
    );
}

#[test]
fn a_filter_that_does_not_parse_says_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("proctor.json"),
        json!({ "sources": [{ "runner": "libtest", "path": "." }] }).to_string(),
    )
    .unwrap();
    let output = proctor(dir.path(), &["run", "--filter", "test(a) and or test(b)"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("--filter: column 13: expected `test(..)`"),
        "{message}"
    );
    assert!(!dir.path().join("results").exists());
}

#[test]
fn a_mode_the_runner_cannot_do_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "sources": [{ "runner": "libtest", "path": ".", "mode": "batch" }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains(
            "sources[0].mode: runner `libtest` cannot run in batch mode; it supports: isolated"
        ),
        "{message}"
    );
}

#[test]
fn the_ending_settings_are_checked_and_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        json!({ "grace_period_seconds": -1, "sources": [{ "runner": "libtest", "path": "." }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("grace_period_seconds: must be a positive number of seconds, not -1"),
        "{message}"
    );
    let config = json!({ "sources": [{ "runner": "libtest", "path": ".", "discovery_timeout_seconds": 0 }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("sources[0].discovery_timeout_seconds: must be a positive number"),
        "{message}"
    );
    let config = json!({ "leak": "ignore", "sources": [{ "runner": "libtest", "path": "." }] });
    let message = usage_error(dir.path(), &config.to_string());
    assert!(
        message.contains("leak: unknown variant `ignore`, expected `pass` or `fail`"),
        "{message}"
    );
}

#[test]
fn plugin_isolation_and_deadlines_are_checked_and_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            json!({ "plugin_deadline_seconds": { "discovr": 5 } }),
            "plugin_deadline_seconds.discovr: no plugin call is named `discovr`; the calls \
             are create, discover, plan_execution, parse_output, collect_results, download, \
             on_event, process",
        ),
        (
            json!({ "plugins": { "pytest": { "deadline_seconds": { "discover": 0 } } } }),
            "plugins.pytest.deadline_seconds.discover: must be a positive number of seconds, not 0",
        ),
        (
            json!({ "isolation": "sandbox" }),
            "isolation: unknown variant `sandbox`, expected one of `auto`, `process`, `in-process`",
        ),
        (
            json!({ "plugins": { "pytest": { "isolaton": "process" } } }),
            "unknown field `isolaton`",
        ),
    ];
    refused_naming(dir.path(), &cases);
}

#[test]
fn numbers_past_their_range_are_refused_at_load_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let source = json!([{ "runner": "libtest", "path": "." }]);
    let cases = [
        (
            json!({ "timeout_seconds": 1e20 }),
            "timeout_seconds: must be at most 604800 seconds (a week), not 100000000000000000000",
        ),
        (
            json!({ "jobs": 1_000_000_000_000u64 }),
            "jobs: must be at most 4096, not 1000000000000",
        ),
        (
            json!({ "sources": [{ "runner": "libtest", "path": ".", "jobs": 0 }] }),
            "sources[0].jobs: must be at least 1",
        ),
        (
            json!({ "retry": { "delay_seconds": 1e30 } }),
            "retry.delay_seconds: must be a number of seconds from 0 to 604800",
        ),
        (
            json!({ "plugin_deadline_seconds": { "download": 1e12 } }),
            "plugin_deadline_seconds.download: must be at most 604800 seconds (a week)",
        ),
        (
            json!({ "downloads": { "unpack_limits": { "ratio": 0.5 } } }),
            "downloads.unpack_limits.ratio: must be a number of at least 1, not 0.5",
        ),
        (
            json!({ "downloads": { "unpack_limits": { "entries": 0 } } }),
            "downloads.unpack_limits.entries: must be at least 1",
        ),
        (
            json!({ "downloads": { "max_bytes": 0 } }),
            "downloads.max_bytes: must be at least 1",
        ),
        (
            json!({ "output_tail_bytes": 10 }),
            "output_tail_bytes: must be 1024 to 1073741824 (1 GiB), not 10",
        ),
        (
            json!({ "output_log_max_bytes": 0 }),
            "output_log_max_bytes: must be at least 1",
        ),
        (
            json!({ "results_layout": 3 }),
            "results_layout: results layout 3 is not one this proctor knows: 1 or 2",
        ),
        (
            json!({ "redact": { "query_parameters": "sig" } }),
            "redact.query_parameters: invalid type: string \"sig\", expected a sequence",
        ),
    ];
    refused_naming(dir.path(), &cases);
    std::fs::write(
        dir.path().join("proctor.json"),
        json!({ "sources": source }).to_string(),
    )
    .unwrap();
    let output = proctor(dir.path(), &["run", "--jobs", "100000"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--jobs must be at most 4096, not 100000"));
    let output = proctor(dir.path(), &["run", "--results-layout", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("results layout 0 is not one this proctor knows: 1 or 2"));
}

#[test]
fn nul_bytes_and_names_that_are_no_directory_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            json!({ "sources": [{ "runner": "libtest", "path": ".", "env": { "A": "x\u{0}y" } }] }),
            "sources[0].env.A: holds a NUL byte",
        ),
        (
            json!({ "results_dir": "out\u{0}", "sources": [{ "runner": "libtest", "path": "." }] }),
            "results_dir: holds a NUL byte",
        ),
        (
            json!({ "sources": [{ "name": "..", "runner": "libtest", "path": "." }] }),
            "sources[0].name: `..` is not a usable source name",
        ),
        (
            json!({ "sources": [{ "runner": "libtest", "path": ".." }] }),
            "sources[0].name: `` is not a usable source name (empty, `.`, `..` or with a \
             slash); give the source a `name`",
        ),
    ];
    refused_naming(dir.path(), &cases);
}

#[test]
fn a_download_may_not_land_on_the_configuration_or_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let source = json!([{ "runner": "libtest", "path": "." }]);
    let cases = [
        (
            json!({ "files": [{ "uri": "https://h/x.json", "destination": "proctor.json" }] }),
            "downloads.files[0].destination: ",
            "would overwrite or hold the configuration file",
        ),
        (
            json!({ "payload": { "uri": "https://h/p.zip", "destination": "results/p", "extract": true } }),
            "downloads.payload.destination: ",
            "would overwrite or hold the results directory",
        ),
    ];
    for (downloads, location, expected) in cases {
        let config = json!({ "downloads": downloads, "sources": source });
        let message = usage_error(dir.path(), &config.to_string());
        assert!(
            message.contains(location) && message.contains(expected),
            "{expected}\n{message}"
        );
    }
}

/// The README's configuration example is a configuration this proctor
/// reads: every key known, every number in range, no two downloads in one
/// place. Only its sources' paths, which are the reader's, are missing here.
#[test]
fn the_readmes_configuration_example_is_read_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Configuration").unwrap()..];
    let example = section
        .split("```json")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    // The elisions a reader fills in.
    let example = example
        .replace("\"9f86d0…\"", &format!("\"{}\"", "0".repeat(64)))
        .replace("Bearer …", "Bearer token");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("proctor.json"), example).unwrap();
    let output = proctor(dir.path(), &["list", "proctor.json"]);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("sources[0].path: `Cargo.toml` does not exist"),
        "{error}"
    );
}

/// A value of the wrong shape is named by what was expected in the
/// configuration's words, never by a Rust type's name.
#[test]
fn a_value_of_the_wrong_shape_says_what_was_expected_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            json!({ "downloads": { "files": ["x"] } }),
            "downloads.files[0]: invalid type: string \"x\", expected a download: an object with a `uri`",
        ),
        (
            json!({ "sources": ["x"] }),
            "sources[0]: invalid type: string \"x\", expected a source: an object with a `runner` and a `path`",
        ),
        (
            json!({ "retry": 3 }),
            "retry: invalid type: integer `3`, expected the retry policy",
        ),
        (
            json!({ "skip": [1] }),
            "skip[0]: invalid type: integer `1`, expected a skip rule: an object with `tests`",
        ),
        (
            json!({ "retry": { "rules": [true] } }),
            "expected a rule: an object with `test`",
        ),
    ];
    refused_naming(dir.path(), &cases);
    for (config, _) in &cases {
        let mut config = config.clone();
        if config.get("sources").is_none() {
            config["sources"] = json!([{ "runner": "libtest", "path": "." }]);
        }
        let message = usage_error(dir.path(), &config.to_string());
        assert!(!message.contains("struct "), "{message}");
    }
}
