//! Plugins that misbehave, as an adversary would write them: damaged
//! library files, and plugins that crash, exit or hang. Whatever they do,
//! the run goes on or ends with a status that says it did not finish.

use std::path::PathBuf;

use proctor_e2e::*;
use serde_json::json;

/// A built-in plugin library of the host under test.
fn built_in_library() -> PathBuf {
    let dir = proctor_bin().parent().unwrap().to_path_buf();
    dir.join(format!(
        "libproctor_runner_command.{}",
        std::env::consts::DLL_EXTENSION
    ))
}

/// A `command` source of two tests, one passing and one failing.
fn command_source() -> serde_json::Value {
    json!({
        "name": "command", "runner": "command", "path": ".",
        "settings": {
            "command": ["sh", "-c", "echo \"<testsuite name='s'><testcase name='passes'/>\
                <testcase name='fails'><failure message='no'/></testcase></testsuite>\" \
                > {results_dir}/r.xml"],
            "id": "{name}"
        }
    })
}

#[test]
fn damaged_libraries_are_listed_as_refused_and_never_mapped() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = scratch.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let real = std::fs::read(built_in_library()).unwrap();
    // An interrupted copy: mapping it faulted every command with SIGBUS.
    std::fs::write(plugins.join("libcut.so"), &real[..real.len() / 3]).unwrap();
    // The same library built for another machine (e_machine at byte 18).
    let mut foreign = real.clone();
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    foreign[18..20].copy_from_slice(&other.to_le_bytes());
    std::fs::write(plugins.join("libforeign.so"), foreign).unwrap();
    // A shared library that is no proctor plugin.
    std::fs::copy("/proc/self/exe", plugins.join("libnot-a-plugin.so")).unwrap();
    let plugin_dir = plugins.to_str().unwrap();

    let listing = proctor(scratch.path(), &["--plugin-dir", plugin_dir, "plugins"]);
    assert_eq!(listing.status.code(), Some(0), "{}", stderr(&listing));
    let text = stdout(&listing);
    let refusal = |file: &str| {
        text.lines()
            .find(|line| line.starts_with("refused ") && line.contains(file))
            .unwrap_or_else(|| panic!("{file} is not listed as refused:\n{text}"))
            .to_owned()
    };
    assert!(refusal("libcut.so").contains("refused before mapping: it is truncated"));
    assert!(refusal("libforeign.so").contains("refused before mapping: it was built for"));
    assert!(refusal("libnot-a-plugin.so").contains("refused before mapping"));
    assert!(
        text.contains("runner                command"),
        "the host's own plugins are still listed:\n{text}"
    );

    let config = write_config(scratch.path(), &json!({ "sources": [command_source()] }));
    let run = proctor(
        scratch.path(),
        &["--plugin-dir", plugin_dir, "run", config.to_str().unwrap()],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    check_results(&scratch.path().join("results"));
}
