//! The plugin guide (`docs/plugin-authoring.md`) as its reader uses it.
//! A code block whose info string names a file after its language
//! (```` ```rust runner/src/lib.rs ````) is that file: the downloader's are
//! the template crate's (`examples/plugin-template`), word for word; the
//! runner's and the collector's make crates that are built and tested
//! here; the git form of the dependency resolves against this repository.
//! No Rust block goes unchecked.

use std::path::Path;
use std::process::Command;

use proctor_e2e::*;

/// A fenced block of the guide: its language, the file it names, its text.
struct Block {
    language: String,
    file: Option<String>,
    text: String,
}

fn guide_blocks() -> Vec<Block> {
    let guide = std::fs::read_to_string(repo_root().join("docs/plugin-authoring.md")).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for line in guide.lines() {
        match (line.strip_prefix("```"), &mut open) {
            (Some(_), Some(_)) => blocks.push(open.take().unwrap()),
            (Some(info), None) => {
                let mut words = info.split_whitespace();
                open = Some(Block {
                    language: words.next().unwrap_or_default().to_owned(),
                    file: words.next().map(str::to_owned),
                    text: String::new(),
                });
            }
            (None, Some(block)) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "the guide ends inside a code block");
    blocks
}

fn template() -> std::path::PathBuf {
    repo_root().join("examples/plugin-template")
}

/// The guide's crate beside a clone of proctor (`../proctor/sdk`) is the
/// template inside it (`../../sdk`).
const GUIDE_SDK: &str = r#"path = "../proctor/sdk""#;
const TEMPLATE_SDK: &str = r#"path = "../../sdk""#;

/// The template's manifest for another crate of the guide: its name, and
/// the SDK where it is.
fn manifest_named(name: &str) -> String {
    let sdk = format!(r#"path = "{}""#, repo_root().join("sdk").display());
    std::fs::read_to_string(template().join("Cargo.toml"))
        .unwrap()
        .replace(
            r#"name = "artifacts-plugin""#,
            &format!(r#"name = "{name}""#),
        )
        .replace(TEMPLATE_SDK, &sdk)
}

fn cargo_in(dir: &Path, args: &[&str]) {
    let output = cargo_for(&dir.join("Cargo.toml"))
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", repo_root().join("target/fixtures"))
        // git itself fetches from a shallow clone too, as CI's may be.
        .env("CARGO_NET_GIT_FETCH_WITH_CLI", "true")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo {args:?} in {}:\n{}{}",
        dir.display(),
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn every_rust_block_of_the_guide_names_its_file_and_the_downloaders_are_the_templates() {
    let blocks = guide_blocks();
    let rust: Vec<&Block> = blocks.iter().filter(|b| b.language == "rust").collect();
    assert!(rust.len() >= 6, "{} Rust blocks", rust.len());
    for block in &rust {
        assert!(
            block.file.is_some(),
            "a Rust block names no file:\n{}",
            block.text
        );
    }
    let from_template: Vec<&Block> = (blocks.iter())
        .filter(|b| {
            b.file
                .as_deref()
                .is_some_and(|f| f.starts_with("examples/plugin-template/"))
        })
        .collect();
    assert_eq!(
        from_template.len(),
        3,
        "Cargo.toml, src/lib.rs and tests/store.rs"
    );
    for block in from_template {
        let file = block.file.as_deref().unwrap();
        let text = block.text.replace(GUIDE_SDK, TEMPLATE_SDK);
        let template = std::fs::read_to_string(repo_root().join(file)).unwrap();
        assert_eq!(text, template, "the guide's {file} is not the template's");
    }
    // The template passes its own test (the downloader refuses paths
    // outside its store) and stays under 40 lines of code of its own.
    cargo_in(&template(), &["test", "--quiet"]);
    let code = std::fs::read_to_string(template().join("src/lib.rs")).unwrap();
    let lines = code
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim().starts_with("//"));
    assert!(lines.count() <= 40, "{code}");
}

#[test]
fn the_guides_runner_and_collector_build_and_pass_their_tests() {
    let blocks = guide_blocks();
    let scratch = tempfile::tempdir().unwrap();
    for (dir, name) in [
        ("runner", "scripts-runner"),
        ("collector", "outcomes-collector"),
    ] {
        let krate = scratch.path().join(dir);
        std::fs::create_dir_all(&krate).unwrap();
        std::fs::write(krate.join("Cargo.toml"), manifest_named(name)).unwrap();
        std::fs::copy(template().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
        let prefix = format!("{dir}/");
        let files: Vec<&Block> = (blocks.iter())
            .filter(|b| b.file.as_deref().is_some_and(|f| f.starts_with(&prefix)))
            .collect();
        assert_eq!(files.len(), 2, "{dir}: its src/lib.rs and one test");
        for block in files {
            let path = krate.join(
                block
                    .file
                    .as_deref()
                    .unwrap()
                    .strip_prefix(&prefix)
                    .unwrap(),
            );
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &block.text).unwrap();
        }
        cargo_in(&krate, &["test", "--quiet"]);
    }
}

/// The git form, as the guide writes it, with this repository's URL and
/// its checked-out commit: a crate outside any workspace builds from it.
#[test]
fn the_guides_git_dependency_resolves_from_a_clone_of_this_repository() {
    let blocks = guide_blocks();
    let git = blocks
        .iter()
        .find(|b| b.language == "toml" && b.file.as_deref() == Some("git"))
        .expect("the guide gives the git form");
    let head = Command::new("git")
        .current_dir(repo_root())
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    assert!(head.status.success(), "{}", stderr(&head));
    let commit = stdout(&head).trim().to_owned();
    // A clone, as a team's mirror of proctor would be.
    let scratch = tempfile::tempdir().unwrap();
    let clone = scratch.path().join("proctor");
    run_to_success(
        Command::new("git")
            .args(["clone", "--quiet"])
            .arg(repo_root())
            .arg(&clone),
        "cloning this repository",
    );
    let url = format!("file://{}", clone.display());
    let git_lines: Vec<String> = (git.text.lines())
        .filter(|l| l.starts_with("proctor-sdk"))
        .map(|l| {
            let (_, rest) = l.split_once("git = \"").unwrap();
            let (guide_url, _) = rest.split_once('"').unwrap();
            l.replace(guide_url, &url).replace("COMMIT", &commit)
        })
        .collect();
    assert_eq!(git_lines.len(), 2, "{}", git.text);

    let krate = scratch.path().join("artifacts-plugin");
    copy_tree(&template().join("src"), &krate.join("src"));
    let manifest = std::fs::read_to_string(template().join("Cargo.toml")).unwrap();
    let mut replacements = git_lines.iter();
    let manifest: String = (manifest.lines())
        .map(|line| match line.starts_with("proctor-sdk") {
            true => format!("{}\n", replacements.next().unwrap()),
            false => format!("{line}\n"),
        })
        .collect();
    std::fs::write(krate.join("Cargo.toml"), &manifest).unwrap();
    std::fs::copy(template().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    cargo_in(&krate, &["check", "--quiet"]);
}
