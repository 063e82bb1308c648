//! Helpers for the end-to-end tests: build the host and plugins once, build
//! fixture plugins, run `proctor`, read what it wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The directory this test binary was built into: `<target>/<profile>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps")
        .to_path_buf()
}

fn run_cargo(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo for {what}: {e}"));
    assert!(
        output.status.success(),
        "building {what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds the host and the built-in plugins (a no-op when up to date) and
/// returns the `proctor` binary, with the plugins beside it.
pub fn proctor_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut command = cargo();
        command
            .current_dir(repo_root())
            .args(["build", "--workspace", "--exclude", "proctor-e2e"]);
        if profile_dir().file_name().is_some_and(|p| p == "release") {
            command.arg("--release");
        }
        run_cargo(command, "the workspace");
        profile_dir().join("proctor")
    })
    .clone()
}

/// Builds a fixture plugin crate and returns a fresh directory holding only
/// its library, to use as a `--plugin-dir`.
pub fn fixture_plugin_dir(manifest: &Path, library_name: &str, scratch: &Path) -> PathBuf {
    let target = repo_root().join("target").join("fixtures");
    let mut command = cargo();
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &target);
    run_cargo(command, &manifest.display().to_string());
    let file = format!("lib{library_name}.{}", std::env::consts::DLL_EXTENSION);
    let dir = scratch.join(format!("plugins-{library_name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(target.join("debug").join(&file), dir.join(&file))
        .expect("the fixture library was built");
    dir
}

pub fn fixtures() -> PathBuf {
    repo_root().join("tests").join("fixtures")
}

/// Runs `proctor` with `args` in `cwd`.
pub fn proctor(cwd: &Path, args: &[&str]) -> Output {
    Command::new(proctor_bin())
        .current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("proctor runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Writes a configuration into `dir` and returns its path.
pub fn write_config(dir: &Path, config: &serde_json::Value) -> PathBuf {
    let path = dir.join("proctor.json");
    std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
    path
}
