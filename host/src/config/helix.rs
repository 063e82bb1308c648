//! Helix's `eng/test-configuration.json`, read as teams already write it.
//!
//! Its rules map onto [`RetryPolicy`]: `testName` is the qualified name,
//! `testAssembly` the source, `failureMessage` the message and `callstack`
//! the stack trace, matched line by line.

use std::path::Path;

use serde::Deserialize;

use super::json::{self, Dialect};
use super::{ConfigError, Result};
use crate::matching::Condition;
use crate::retry::{RetryPolicy, Rule, Verdict};

/// Where Helix payloads keep the file, relative to the configuration.
pub const CONVENTIONAL_PATH: &str = "eng/test-configuration.json";

/// The most reruns a file may ask for; more is a typo, not a policy.
const MAX_RERUNS: u32 = 10;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a Helix test configuration: an object with a `version`"
)]
struct TestConfiguration {
    version: u32,
    #[serde(default)]
    default_on_failure: DefaultOnFailure,
    #[serde(default = "one")]
    local_rerun_count: u32,
    /// Reruns on another machine (version 2); one work item cannot do them.
    #[serde(default)]
    remote_rerun_count: u32,
    #[serde(default)]
    retry_on_rules: Vec<HelixRule>,
    #[serde(default)]
    fail_on_rules: Vec<HelixRule>,
    #[serde(default)]
    quarantine_rules: Vec<HelixRule>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DefaultOnFailure {
    #[default]
    Fail,
    Rerun,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a rule: an object with `testName`, `testAssembly`, `failureMessage` or `callstack`"
)]
struct HelixRule {
    #[serde(default)]
    test_name: Option<Condition>,
    #[serde(default)]
    test_assembly: Option<Condition>,
    #[serde(default)]
    failure_message: Option<Condition>,
    #[serde(default)]
    callstack: Option<Condition>,
}

impl From<HelixRule> for Rule {
    fn from(rule: HelixRule) -> Self {
        Rule {
            qualified_name: rule.test_name,
            source: rule.test_assembly,
            message: rule.failure_message,
            stack_trace: rule.callstack,
            ..Rule::default()
        }
    }
}

pub fn load(path: &Path) -> Result<RetryPolicy> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(format!("cannot read {}: {e}", path.display())))?;
    parse(&text, path)
}

/// The test configuration `text`, read as the file at `path`.
pub fn parse(text: &str, path: &Path) -> Result<RetryPolicy> {
    let at = |e: String| ConfigError::new(format!("{}:{e}", path.display()));
    let file: TestConfiguration = json::parse(text, Dialect::Lenient).map_err(at)?;
    let problem =
        |key: &str, text: String| ConfigError::new(format!("{}: {key}: {text}", path.display()));
    if !matches!(file.version, 1 | 2) {
        return Err(problem(
            "version",
            format!(
                "unsupported version {}; versions 1 and 2 are read",
                file.version
            ),
        ));
    }
    if file.local_rerun_count > MAX_RERUNS {
        return Err(problem(
            "localRerunCount",
            format!(
                "{} is out of range 0..={MAX_RERUNS}",
                file.local_rerun_count
            ),
        ));
    }
    if file.remote_rerun_count > 0 {
        tracing::warn!(
            "{}: remoteRerunCount is for reruns on another machine; this run only reruns locally",
            path.display()
        );
    }
    let rules = |rules: Vec<HelixRule>| rules.into_iter().map(Rule::from).collect();
    Ok(RetryPolicy {
        max_attempts: 1 + file.local_rerun_count,
        default: match file.default_on_failure {
            DefaultOnFailure::Fail => Verdict::Keep,
            DefaultOnFailure::Rerun => Verdict::Rerun,
        },
        rerun_rules: rules(file.retry_on_rules),
        fail_rules: rules(file.fail_on_rules),
        quarantine_rules: rules(file.quarantine_rules),
        origin: path.display().to_string(),
        ..RetryPolicy::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::tests::failure_in;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test-configuration.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_documented_sample_reads_unchanged() {
        // As published, trailing commas included.
        let (_dir, path) = write(
            r#"{
  "version" : 2,
  "defaultOnFailure": "fail",
  "localRerunCount" : 2,
  "remoteRerunCount" : 1,
  "retryOnRules": [
    {"testName": {"regex": "^System\\.Networking\\..*"}},
    {"testAssembly": {"wildcard": "System.SomethingElse.*" }},
    {"failureMessage": "network disconnected" },
  ],
  "failOnRules": [
  ],
  "quarantineRules": [
  ]
}"#,
        );
        let policy = load(&path).unwrap();
        assert_eq!(policy.max_attempts, 3);
        let attempt = |name, assembly, message| failure_in(assembly, name, message);
        let verdict = |a| policy.verdict(&a);
        assert_eq!(
            verdict(attempt("system.networking.Sockets.Connect", "x", "boom")),
            Verdict::Rerun
        );
        assert_eq!(
            verdict(attempt("a.b", "System.SomethingElse.Tests", "boom")),
            Verdict::Rerun
        );
        assert_eq!(
            verdict(attempt("a.b", "x", "Network Disconnected")),
            Verdict::Rerun
        );
        assert_eq!(
            verdict(attempt("a.b", "x", "network disconnected!")),
            Verdict::Keep
        );
    }

    #[test]
    fn defaults_and_errors() {
        let (_dir, path) = write(r#"{"version": 1}"#);
        let policy = load(&path).unwrap();
        assert_eq!(policy.max_attempts, 2, "localRerunCount defaults to 1");
        assert_eq!(policy.default, Verdict::Keep);

        let (_dir, path) =
            write("{\"version\": 1,\n \"retryOnRules\": [{\"callstack\": {\"regex\": \"[\"}}]}");
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains(":2:"), "{error}");
        assert!(error.contains("retryOnRules[0].callstack"), "{error}");
        assert!(error.contains("invalid regex"), "{error}");

        let (_dir, path) = write(r#"{"version": 1, "localRerunCount": 50}"#);
        let error = load(&path).unwrap_err().to_string();
        assert!(
            error.contains("localRerunCount: 50 is out of range"),
            "{error}"
        );

        let (_dir, path) = write(r#"{"version": 3}"#);
        assert!(load(&path)
            .unwrap_err()
            .to_string()
            .contains("unsupported version 3"));

        let (_dir, path) = write(r#"{"version": 1, "retryOnRules": [{"testNme": "x"}]}"#);
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("did you mean `testName`?"), "{error}");
    }
}
