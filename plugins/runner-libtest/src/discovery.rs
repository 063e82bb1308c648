//! Discovery in up to three steps: build (for a manifest), list, done.

use std::collections::BTreeMap;
use std::path::Path;

use proctor_sdk::messages::*;
use proctor_sdk::{Error, Result};

use crate::TestLocation;

/// A test binary and the name its tests are grouped under.
struct TestBinary {
    id: String,
    path: String,
    cwd: String,
}

pub fn next_step(cargo_args: &[String], request: DiscoverRequest) -> Result<DiscoveryStep> {
    let source = &request.source;
    let (listings, builds): (Vec<_>, Vec<_>) = request
        .completed
        .iter()
        .partition(|output| output.command.args.first().map(String::as_str) == Some("--list"));

    if !listings.is_empty() {
        return Ok(DiscoveryStep::Done {
            tests: tests_from_listings(&listings)?,
        });
    }
    let binaries = match builds.first() {
        Some(build) => binaries_from_cargo(build)?,
        None if is_manifest(&source.path) => {
            let command =
                CommandSpec::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .args([
                        "test",
                        "--no-run",
                        "--message-format=json-render-diagnostics",
                        "--manifest-path",
                    ])
                    .arg(source.path.display().to_string())
                    .args(cargo_args.iter().cloned());
            return Ok(DiscoveryStep::Run {
                commands: vec![command],
            });
        }
        None => vec![TestBinary {
            id: binary_id_from_file(&source.path),
            path: source.path.display().to_string(),
            cwd: source.base_dir.display().to_string(),
        }],
    };
    if binaries.is_empty() {
        return Ok(DiscoveryStep::Done { tests: Vec::new() });
    }
    let commands = binaries
        .iter()
        .flat_map(|binary| {
            let list = |ignored: bool| {
                let mut command =
                    CommandSpec::new(&binary.path).args(["--list", "--format", "terse"]);
                if ignored {
                    command = command.arg("--ignored");
                }
                // The binary id and working directory travel with the command.
                command
                    .env
                    .insert("PROCTOR_LIBTEST_BINARY_ID".into(), binary.id.clone());
                command.cwd(&binary.cwd)
            };
            [list(false), list(true)]
        })
        .collect();
    Ok(DiscoveryStep::Run { commands })
}

fn is_manifest(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "Cargo.toml")
}

/// `demo_suite-1a2b3c4d` -> `demo_suite`
fn binary_id_from_file(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => stem,
    }
}

/// Reads the test executables out of `cargo test --no-run --message-format=json`.
fn binaries_from_cargo(build: &CommandOutput) -> Result<Vec<TestBinary>> {
    if !build.exit.success() {
        return Err(Error::msg(build.failure(&[Stream::Stderr])));
    }
    let mut binaries = Vec::new();
    for line in build.stdout.lines().filter(|line| line.starts_with('{')) {
        let message: serde_json::Value = serde_json::from_str(line)?;
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let target = &message["target"];
        let target_name = target["name"].as_str().unwrap_or_default();
        let kind = target["kind"][0].as_str().unwrap_or_default();
        let package = package_name(message["package_id"].as_str().unwrap_or_default());
        let id = match kind {
            "lib" | "rlib" | "cdylib" | "staticlib" | "dylib" | "proc-macro" => package.clone(),
            "bin" => format!("{package}::bin/{target_name}"),
            _ => format!("{package}::{target_name}"),
        };
        let manifest = message["manifest_path"].as_str().unwrap_or_default();
        let cwd = Path::new(manifest)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        binaries.push(TestBinary {
            id,
            path: executable.to_owned(),
            cwd,
        });
    }
    Ok(binaries)
}

/// The package name out of a cargo package id, old (`name 1.0.0 (path+file://..)`)
/// or new (`path+file:///..#name@1.0.0`, `path+file:///../name#1.0.0`).
fn package_name(package_id: &str) -> String {
    if let Some((_, fragment)) = package_id.rsplit_once('#') {
        if let Some((name, _)) = fragment.split_once('@') {
            return name.to_owned();
        }
        let path = package_id.split('#').next().unwrap_or_default();
        return path.rsplit('/').next().unwrap_or_default().to_owned();
    }
    package_id.split(' ').next().unwrap_or_default().to_owned()
}

fn listed_tests(output: &CommandOutput) -> Result<Vec<&str>> {
    if !output.exit.success() {
        return Err(Error::msg(output.failure(&[Stream::Stderr])));
    }
    Ok(output
        .stdout
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .collect())
}

fn tests_from_listings(listings: &[&CommandOutput]) -> Result<Vec<TestCase>> {
    // Pair each binary's full listing with its `--ignored` listing.
    // (binary id, path) -> (every test, the ignored ones)
    type Listing<'a> = (Vec<&'a str>, Vec<&'a str>);
    let mut by_binary: BTreeMap<(&str, &str), Listing> = BTreeMap::new();
    for output in listings {
        let id = output
            .command
            .env
            .get("PROCTOR_LIBTEST_BINARY_ID")
            .map(String::as_str)
            .unwrap_or("");
        let entry = by_binary
            .entry((id, output.command.program.as_str()))
            .or_default();
        let ignored_listing = output.command.args.iter().any(|arg| arg == "--ignored");
        let tests = listed_tests(output)?;
        if ignored_listing {
            entry.1 = tests;
        } else {
            entry.0 = tests;
        }
    }
    let mut tests = Vec::new();
    for ((binary_id, binary), (all, ignored)) in by_binary {
        let cwd = listings
            .iter()
            .find(|o| o.command.program == binary)
            .and_then(|o| o.command.cwd.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for name in all {
            let location = TestLocation {
                binary: binary.to_owned(),
                test: name.to_owned(),
                cwd: cwd.clone(),
            };
            let id = format!("{binary_id}::{name}");
            tests.push(TestCase {
                qualified_name: Some(id.replace("::", ".")),
                name: name.to_owned(),
                attributes: BTreeMap::from([("binary".to_owned(), binary_id.to_owned())]),
                skip: ignored.contains(&name).then(|| "#[ignore]".to_owned()),
                runner_data: serde_json::to_value(location)?,
                ..TestCase::new(id)
            });
        }
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_ids_drop_cargo_hashes() {
        assert_eq!(
            binary_id_from_file(Path::new("/t/demo_suite-0123456789abcdef")),
            "demo_suite"
        );
        assert_eq!(binary_id_from_file(Path::new("/t/my-tests")), "my-tests");
    }

    #[test]
    fn package_names_from_every_id_format() {
        assert_eq!(package_name("demo 0.1.0 (path+file:///x/demo)"), "demo");
        assert_eq!(package_name("path+file:///x/demo#0.1.0"), "demo");
        assert_eq!(
            package_name("path+file:///x/dir#demo-suite@0.1.0"),
            "demo-suite"
        );
    }
}
