//! The run configuration: reading, validating, and saying precisely what is wrong.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// File names looked for in the current directory when no configuration is given.
pub const DEFAULT_CONFIG_NAMES: [&str; 2] = ["proctor.json", "shared-infra-configuration.json"];

/// The configuration file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// The configuration format version; only 1 exists.
    #[serde(default = "default_version")]
    version: u32,
    #[serde(default)]
    results_dir: Option<PathBuf>,
    #[serde(default)]
    jobs: Option<usize>,
    #[serde(default)]
    plugin_dirs: Vec<PathBuf>,
    /// Default per-test timeout.
    #[serde(default)]
    timeout_seconds: Option<f64>,
    sources: Vec<SourceFile>,
}

fn default_version() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    #[serde(default)]
    name: Option<String>,
    runner: String,
    path: PathBuf,
    #[serde(default)]
    settings: Value,
    #[serde(default)]
    timeout_seconds: Option<f64>,
}

/// A validated configuration, every path absolute.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub base_dir: PathBuf,
    pub results_dir: PathBuf,
    pub jobs: Option<usize>,
    pub plugin_dirs: Vec<PathBuf>,
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub runner: String,
    pub path: PathBuf,
    pub settings: Value,
    pub timeout: Option<std::time::Duration>,
    /// Where this source sits in the file, for messages: `sources[2]`.
    pub location: String,
}

/// Finds the configuration: the given path, or a default name in `cwd`.
pub fn locate(given: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    DEFAULT_CONFIG_NAMES
        .iter()
        .map(|name| cwd.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            Error::usage(format!(
                "no configuration given, and neither {} is in {}",
                DEFAULT_CONFIG_NAMES.join(" nor "),
                cwd.display()
            ))
        })
}

pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read configuration {}: {e}", path.display())))?;
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let parsed = parse(&text).map_err(|e| Error::usage(format!("{}:{e}", path.display())))?;
    validate(parsed, file)
}

/// Parses the text; errors read `LINE:COLUMN: PATH: PROBLEM`.
fn parse(text: &str) -> std::result::Result<ConfigFile, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed: ConfigFile = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let mut path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = (inner.line(), inner.column());
        let mut message = strip_position(&inner.to_string());
        if let Some(hint) = suggestion(&message) {
            message.push_str(&hint);
            // The path ends with the unknown key itself; name the object holding it.
            path = path
                .rsplit_once('.')
                .map_or(".".to_owned(), |(parent, _)| parent.to_owned());
        }
        if path == "." || inner.is_syntax() || inner.is_eof() {
            format!("{line}:{column}: {message}")
        } else {
            format!("{line}:{column}: {path}: {message}")
        }
    })?;
    deserializer.end().map_err(|e| {
        format!(
            "{}:{}: {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        )
    })?;
    Ok(parsed)
}

/// serde_json appends " at line L column C"; the position is printed up front instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// For "unknown field `x`, expected one of `a`, `b`": the nearest valid key.
fn suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let nearest = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|key| (strsim::jaro_winkler(unknown, key), key))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some(format!(" (did you mean `{}`?)", nearest.1))
}

fn validate(parsed: ConfigFile, file: PathBuf) -> Result<Config> {
    let at = |location: &str, problem: String| {
        Error::usage(format!("{}: {location}: {problem}", file.display()))
    };
    if parsed.version != 1 {
        return Err(at(
            "version",
            format!(
                "unsupported configuration version {}; this proctor reads version 1",
                parsed.version
            ),
        ));
    }
    if parsed.jobs == Some(0) {
        return Err(at("jobs", "must be at least 1".into()));
    }
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let timeout = |location: &str, seconds: Option<f64>| match seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => Err(at(
            location,
            format!("must be a positive number of seconds, not {s}"),
        )),
        Some(s) => Ok(Some(std::time::Duration::from_secs_f64(s))),
        None => Ok(None),
    };
    let default_timeout = timeout("timeout_seconds", parsed.timeout_seconds)?;
    if parsed.sources.is_empty() {
        return Err(at("sources", "lists no source; add at least one".into()));
    }
    let mut names = BTreeSet::new();
    let mut sources = Vec::new();
    for (index, source) in parsed.sources.into_iter().enumerate() {
        let location = format!("sources[{index}]");
        let path = base_dir.join(&source.path);
        if !path.exists() {
            return Err(at(
                &format!("{location}.path"),
                format!(
                    "`{}` does not exist (looked for {})",
                    source.path.display(),
                    path.display()
                ),
            ));
        }
        let name = source.name.unwrap_or_else(|| default_source_name(&path));
        if name.is_empty() || name.contains(['/', '\\']) {
            return Err(at(
                &format!("{location}.name"),
                format!("`{name}` is not a usable source name (empty or contains a slash)"),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(at(
                &format!("{location}.name"),
                format!("another source is already named `{name}`; give each a distinct name"),
            ));
        }
        sources.push(SourceConfig {
            name,
            runner: source.runner,
            path,
            settings: source.settings,
            timeout: timeout(
                &format!("{location}.timeout_seconds"),
                source.timeout_seconds,
            )?
            .or(default_timeout),
            location,
        });
    }
    Ok(Config {
        results_dir: base_dir.join(
            parsed
                .results_dir
                .unwrap_or_else(|| PathBuf::from("results")),
        ),
        plugin_dirs: parsed
            .plugin_dirs
            .iter()
            .map(|dir| base_dir.join(dir))
            .collect(),
        jobs: parsed.jobs,
        base_dir,
        file,
        sources,
    })
}

/// A manifest is named after its directory, anything else after its file.
fn default_source_name(path: &Path) -> String {
    let named_by_parent = path.file_name().is_some_and(|n| n == "Cargo.toml");
    let component = if named_by_parent {
        path.parent().and_then(Path::file_name)
    } else {
        path.file_stem()
    };
    component
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> String {
        parse(text).unwrap_err()
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let error = parse_error("{\n  \"sources\": [\n    {\"runner\": \"libtest\",}\n  ]\n}");
        assert!(error.starts_with("3:26: "), "{error}");
    }

    #[test]
    fn unknown_keys_suggest_the_nearest() {
        let error = parse_error("{\"sources\": [], \"jbos\": 2}");
        assert!(error.contains("unknown field `jbos`"), "{error}");
        assert!(error.contains("did you mean `jobs`?"), "{error}");
        let error = parse_error("{\"sources\": [{\"runer\": \"x\", \"path\": \"p\"}]}");
        assert!(
            error.contains("sources[0]: unknown field `runer`"),
            "{error}"
        );
        assert!(error.contains("did you mean `runner`?"), "{error}");
    }

    #[test]
    fn wrong_types_name_the_key_and_the_expectation() {
        let error = parse_error("{\"sources\": [], \"jobs\": \"four\"}");
        assert_eq!(
            error,
            "1:30: jobs: invalid type: string \"four\", expected usize"
        );
    }

    #[test]
    fn far_keys_get_no_suggestion() {
        let error = parse_error("{\"sources\": [], \"zzzzqqq\": 1}");
        assert!(!error.contains("did you mean"), "{error}");
    }

    #[test]
    fn sources_get_default_names() {
        assert_eq!(default_source_name(Path::new("/x/demo/Cargo.toml")), "demo");
        assert_eq!(
            default_source_name(Path::new("/x/tests-1234")),
            "tests-1234"
        );
    }
}
