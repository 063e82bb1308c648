//! The installed layout `scripts/dist` packs: wherever its prefix lands,
//! the binary finds its plugins in `../lib/proctor/plugins`, through a
//! symbolic link too, and on `PROCTOR_PLUGIN_PATH` when copied away alone;
//! and the installed host runs the quick start's demo as the README says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proctor_e2e::*;

/// Packs the host the tests run with `scripts/dist` and unpacks it into
/// `prefix`, as `tar -xzf ... --strip-components=1` installs it.
fn install(scratch: &Path, prefix: &Path) {
    let built = proctor_bin();
    let profile_dir = built.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str() {
        Some("release") => "release",
        _ => "dev",
    };
    let out = scratch.join("dist");
    let packed = Command::new(repo_root().join("scripts/dist"))
        .args(["--profile", profile, "--out"])
        .arg(&out)
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
        .output()
        .unwrap();
    assert!(packed.status.success(), "{}", stderr(&packed));
    let tarball = PathBuf::from(stdout(&packed).trim());
    assert!(tarball.is_file(), "{}", stdout(&packed));
    std::fs::create_dir_all(prefix).unwrap();
    let mut unpack = Command::new("tar");
    unpack
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(prefix)
        .arg("--strip-components=1");
    run_to_success(&mut unpack, "unpacking the tarball");
}

fn plugins(binary: &Path, cwd: &Path, env: &[(&str, &Path)]) -> Output {
    Command::new(binary)
        .current_dir(cwd)
        .args(["plugins", "--format", "json"])
        .env_remove("PROCTOR_PLUGIN_PATH")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The libraries a `plugins --format json` listing found plugins in.
fn libraries(listing: &Output) -> Vec<PathBuf> {
    let listing: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    let mut found: Vec<PathBuf> = (listing["plugins"].as_array().unwrap().iter())
        .map(|p| PathBuf::from(p["library"].as_str().unwrap()))
        .collect();
    found.dedup();
    found
}

#[test]
fn the_installed_layout_finds_its_plugins_wherever_it_lands_and_runs_the_demo() {
    let scratch = tempfile::tempdir().unwrap();
    let prefix = scratch.path().join("opt").join("proctor");
    install(scratch.path(), &prefix);
    let installed = prefix.join("bin").join("proctor");
    let plugin_dir = prefix.join("lib/proctor/plugins").canonicalize().unwrap();
    let elsewhere = scratch.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    // Every built-in plugin, from the prefix's lib/, run directly and
    // through a link in another directory.
    let linked = elsewhere.join("proctor");
    std::os::unix::fs::symlink(&installed, &linked).unwrap();
    for binary in [&installed, &linked] {
        let listed = plugins(binary, &elsewhere, &[]);
        assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
        let found = libraries(&listed);
        assert_eq!(found.len(), 12, "{found:#?}");
        assert!(
            found.iter().all(|l| l.starts_with(&plugin_dir)),
            "{found:#?}"
        );
    }

    // Copied away alone it finds none, unless the variable names them.
    let alone = elsewhere.join("copied");
    std::fs::copy(&installed, &alone).unwrap();
    let lost = plugins(&alone, &elsewhere, &[]);
    assert_eq!(lost.status.code(), Some(3), "{}", stdout(&lost));
    assert!(stderr(&lost).contains("looked in"), "{}", stderr(&lost));
    let pointed = plugins(&alone, &elsewhere, &[("PROCTOR_PLUGIN_PATH", &plugin_dir)]);
    assert_eq!(pointed.status.code(), Some(0), "{}", stderr(&pointed));
    assert_eq!(libraries(&pointed).len(), 12);

    // The quick start, with the installed host.
    let demo = scratch.path().join("demo");
    std::fs::create_dir(&demo).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "proctor.json"] {
        std::fs::copy(
            repo_root().join("examples/demo").join(file),
            demo.join(file),
        )
        .unwrap();
    }
    copy_tree(&repo_root().join("examples/demo/src"), &demo.join("src"));
    copy_tree(
        &repo_root().join("examples/demo/tests"),
        &demo.join("tests"),
    );
    let run = Command::new(&installed)
        .current_dir(&demo)
        .arg("run")
        .env("CARGO_TARGET_DIR", scratch.path().join("demo-target"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    // The console is on stderr.
    let said = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FAIL [") && said.contains("demo::tests::rejects_a_port_out_of_range"),
        "{said}"
    );
    assert!(said.contains("ports stop at 65535"), "{said}");
    check_results(&demo.join("results"));
}
