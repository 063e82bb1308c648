//! The `coverage` collector: an LCOV tracefile per source, attached when
//! the source finishes (kind `proctor://collector/lcov/1`, which the
//! `lcov-merge` processor merges).
//!
//! - **Python** (a directory or a `.py` file): every Python process of the
//!   source starts coverage.py itself, through a `sitecustomize` module put
//!   first on `PYTHONPATH` and `COVERAGE_PROCESS_START`. Each process writes
//!   its own data file (parallel mode); at the end they are combined and
//!   written as LCOV by `python -m coverage`. What is measured is the
//!   project under test, not only its tests: the source's project root (the
//!   nearest directory above it with a `pyproject.toml`, `setup.py`,
//!   `setup.cfg`, `tox.ini` or `pytest.ini`, else with a `.git`), leaving
//!   out virtual environments and installed packages, as `coverage run -m
//!   pytest` from that root measures it. Settings `root`, `include` and
//!   `omit` change it.
//! - **Binaries built with `--coverage`** (any other file): `GCOV_PREFIX`
//!   sends the `.gcda` files of the source's processes to a directory of
//!   its own, leaving the build tree alone. At the end each is paired with
//!   the `.gcno` the compiler left beside the objects, and `lcov --capture`
//!   (gcov underneath) writes the tracefile. A binary without coverage
//!   leaves no data, and no attachment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use proctor_sdk::messages::{Attachment, CollectorResponse, LifecycleEvent, Owner, SourceInfo};
use proctor_sdk::{export_plugins, Collector, Error, Result};
use serde::Deserialize;

/// An LCOV tracefile.
pub const KIND: &str = "proctor://collector/lcov/1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Python interpreter that runs `coverage combine` and `coverage lcov`.
    #[serde(default = "default_python")]
    python: String,
    /// Measure branches too.
    #[serde(default = "default_true")]
    branch: bool,
    /// The directory whose Python code is measured, relative to the
    /// configuration; default: the source's project root.
    #[serde(default)]
    root: Option<PathBuf>,
    /// coverage.py's `include` patterns: measure the files they match
    /// instead of the root.
    #[serde(default)]
    include: Vec<String>,
    /// coverage.py's `omit` patterns, beside the virtual environments and
    /// installed packages always left out.
    #[serde(default)]
    omit: Vec<String>,
}

/// Files that mark a Python project's root, as pytest and packaging tools
/// look for them.
const PROJECT_MARKERS: [&str; 5] = [
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "tox.ini",
    "pytest.ini",
];

/// Code under these is installed, not the project's.
const INSTALLED: [&str; 2] = ["*/site-packages/*", "*/dist-packages/*"];

/// The project a source's tests belong to: the nearest directory at or
/// above `dir` with a project marker, else with a `.git`, else `dir`.
fn project_root(dir: &Path) -> PathBuf {
    let with =
        |found: &dyn Fn(&Path) -> bool| dir.ancestors().find(|d| found(d)).map(Path::to_path_buf);
    with(&|d| PROJECT_MARKERS.iter().any(|m| d.join(m).is_file()))
        .or_else(|| with(&|d| d.join(".git").exists()))
        .unwrap_or_else(|| dir.to_path_buf())
}

/// The virtual environments directly under `root` and one level down
/// (`.venv`, `venv`, `.tox/py311`, ...): directories holding `pyvenv.cfg`.
fn virtual_environments(root: &Path) -> Vec<PathBuf> {
    let children = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    for child in children(root) {
        if child.join("pyvenv.cfg").is_file() {
            found.push(child);
            continue;
        }
        found.extend(
            children(&child)
                .into_iter()
                .filter(|grandchild| grandchild.join("pyvenv.cfg").is_file()),
        );
    }
    found
}

fn default_python() -> String {
    "python3".into()
}

fn default_true() -> bool {
    true
}

pub struct Coverage {
    settings: Settings,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    results_dir: Option<PathBuf>,
    sources: HashMap<String, Measured>,
}

/// A source being measured: how, and where its data goes.
struct Measured {
    how: How,
    dir: PathBuf,
}

enum How {
    Python { rcfile: PathBuf },
    Gcov { data: PathBuf },
}

/// Python sources are directories or `.py` files; anything else is a binary.
fn is_python(source: &SourceInfo) -> bool {
    source.path.is_dir() || source.path.extension().is_some_and(|e| e == "py")
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::msg(format!("cannot {what} {}: {e}", path.display()))
}

impl Coverage {
    /// coverage.py's configuration for a source: what to measure and what
    /// to leave out, and where the data goes.
    fn coveragerc(&self, source: &SourceInfo, data_file: &Path) -> String {
        let root = match &self.settings.root {
            Some(root) => source.base_dir.join(root),
            None => project_root(&source.directory(None)),
        };
        let (measure, patterns) = match self.settings.include.is_empty() {
            true => ("source", vec![root.display().to_string()]),
            false => ("include", self.settings.include.clone()),
        };
        let mut omit: Vec<String> = INSTALLED.iter().map(|p| p.to_string()).collect();
        omit.extend(
            virtual_environments(&root)
                .iter()
                .map(|venv| format!("{}/*", venv.display())),
        );
        omit.extend(self.settings.omit.iter().cloned());
        let list = |items: &[String]| -> String {
            items.iter().map(|item| format!("\n    {item}")).collect()
        };
        format!(
            "[run]\nparallel = True\nbranch = {}\ndata_file = {}\n{measure} ={}\nomit ={}\n",
            if self.settings.branch {
                "True"
            } else {
                "False"
            },
            data_file.display(),
            list(&patterns),
            list(&omit),
        )
    }

    /// Prepares the source's directory; answers the variables its processes need.
    fn start(&self, source: &SourceInfo, dir: &Path) -> Result<(Measured, Vec<(String, String)>)> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        if is_python(source) {
            let hook = dir.join("hook");
            std::fs::create_dir_all(&hook).map_err(|e| io_error("create", &hook, e))?;
            let sitecustomize = hook.join("sitecustomize.py");
            std::fs::write(
                &sitecustomize,
                "try:\n    import coverage\nexcept ImportError:\n    pass\nelse:\n    coverage.process_startup()\n",
            )
            .map_err(|e| io_error("write", &sitecustomize, e))?;
            let rcfile = dir.join("coveragerc");
            let rc = self.coveragerc(source, &dir.join(".coverage"));
            std::fs::write(&rcfile, rc).map_err(|e| io_error("write", &rcfile, e))?;
            let environment = vec![
                (
                    "COVERAGE_PROCESS_START".into(),
                    rcfile.display().to_string(),
                ),
                ("PYTHONPATH".into(), hook.display().to_string()),
            ];
            Ok((
                Measured {
                    how: How::Python { rcfile },
                    dir: dir.to_path_buf(),
                },
                environment,
            ))
        } else {
            let data = dir.join("gcda");
            std::fs::create_dir_all(&data).map_err(|e| io_error("create", &data, e))?;
            let environment = vec![("GCOV_PREFIX".into(), data.display().to_string())];
            Ok((
                Measured {
                    how: How::Gcov { data },
                    dir: dir.to_path_buf(),
                },
                environment,
            ))
        }
    }

    /// Writes the source's tracefile; `None` when nothing was measured.
    fn finish(&self, measured: &Measured) -> Result<Option<PathBuf>> {
        let tracefile = measured.dir.join("coverage.info");
        match &measured.how {
            How::Python { rcfile } => {
                let has_data = std::fs::read_dir(&measured.dir)
                    .map_err(|e| io_error("read", &measured.dir, e))?
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".coverage."));
                if !has_data {
                    return Ok(None);
                }
                let rcfile = format!("--rcfile={}", rcfile.display());
                // coverage.py names files relative to its working directory when
                // they are under it: from the data's directory, paths stay absolute.
                let coverage = |args: &[&str]| {
                    let mut command = Command::new(&self.settings.python);
                    command
                        .current_dir(&measured.dir)
                        .args(["-m", "coverage"])
                        .args(args);
                    command
                };
                run(&mut coverage(&["combine", "-q", &rcfile]))?;
                run(coverage(&["lcov", "-q", &rcfile, "-o"]).arg(&tracefile))?;
            }
            How::Gcov { data } => {
                if !pair_with_notes(data)? {
                    return Ok(None);
                }
                let mut lcov = Command::new("lcov");
                lcov.args(["--quiet", "--capture", "--directory"]).arg(data);
                if self.settings.branch {
                    lcov.args(["--rc", "lcov_branch_coverage=1"]);
                }
                run(lcov.arg("--output-file").arg(&tracefile))?;
            }
        }
        Ok(Some(tracefile))
    }
}

/// Links each `.gcda` under `data` (at `data/<object dir>/x.gcda`) with the
/// `x.gcno` in the object directory itself. Answers whether any data was found.
fn pair_with_notes(data: &Path) -> Result<bool> {
    let mut found = false;
    let mut dirs = vec![data.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| io_error("read", &dir, e))?
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "gcda") {
                continue;
            }
            found = true;
            let original = Path::new("/").join(path.strip_prefix(data).expect("found under data"));
            let notes = original.with_extension("gcno");
            let link = path.with_extension("gcno");
            if notes.is_file() && !link.exists() {
                link_or_copy(&notes, &link)?;
            }
        }
    }
    Ok(found)
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    #[cfg(unix)]
    if std::os::unix::fs::symlink(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| io_error("copy", from, e))
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .map_err(|e| Error::msg(format!("cannot run {:?}: {e}", command.get_program())))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::msg(format!(
        "{:?} failed ({}): {}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

impl Collector for Coverage {
    const NAME: &'static str = "coverage";
    const DESCRIPTION: &'static str =
        "Collects LCOV per source: coverage.py for Python, gcov data for binaries built with --coverage";
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self {
            settings,
            state: Mutex::default(),
        })
    }

    fn on_event(&self, event: LifecycleEvent) -> Result<CollectorResponse> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut response = CollectorResponse::default();
        match event {
            LifecycleEvent::SessionStarted { results_dir, .. } => {
                state.results_dir = Some(results_dir)
            }
            LifecycleEvent::SourceStarted { source } => {
                let results_dir = state
                    .results_dir
                    .clone()
                    .ok_or_else(|| Error::msg("a source started before the session"))?;
                let dir = results_dir.join("coverage").join(&source.name);
                let (measured, environment) = self.start(&source, &dir)?;
                response.environment.extend(environment);
                state.sources.insert(source.name, measured);
            }
            LifecycleEvent::SourceFinished { source, .. } => {
                if let Some(measured) = state.sources.remove(&source) {
                    if let Some(path) = self.finish(&measured)? {
                        response.attachments.push(Attachment {
                            kind: KIND.into(),
                            path,
                            owner: Owner::Source {
                                source: source.clone(),
                            },
                            description: format!("the coverage of source `{source}`, as LCOV"),
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(response)
    }
}

export_plugins!(collector Coverage);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_root_is_the_nearest_project_above_the_tests() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("repo/project");
        std::fs::create_dir_all(project.join("tests/unit")).unwrap();
        std::fs::create_dir_all(dir.path().join("repo/.git")).unwrap();
        assert_eq!(
            project_root(&project.join("tests/unit")),
            dir.path().join("repo")
        );
        std::fs::write(project.join("pyproject.toml"), "").unwrap();
        assert_eq!(project_root(&project.join("tests/unit")), project);
        let bare = dir.path().join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        assert_eq!(
            project_root(&bare),
            bare,
            "without a project, the tests alone"
        );
    }

    #[test]
    fn virtual_environments_in_the_project_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for venv in [".venv", ".tox/py311"] {
            std::fs::create_dir_all(root.join(venv)).unwrap();
            std::fs::write(root.join(venv).join("pyvenv.cfg"), "").unwrap();
        }
        std::fs::create_dir_all(root.join("src/package")).unwrap();
        std::fs::write(root.join("setup.py"), "").unwrap();
        let mut found = virtual_environments(root);
        found.sort();
        assert_eq!(found, [root.join(".tox/py311"), root.join(".venv")]);

        let coverage =
            Coverage::new(serde_json::from_str(r#"{"omit": ["*/generated/*"]}"#).unwrap()).unwrap();
        let source = SourceInfo {
            name: "unit".into(),
            path: root.join("src"),
            base_dir: root.to_path_buf(),
        };
        let rc = coverage.coveragerc(&source, Path::new("/data/.coverage"));
        assert!(
            rc.contains(&format!("source =\n    {}\n", root.display())),
            "{rc}"
        );
        assert!(
            rc.contains(&format!("    {}/.venv/*\n", root.display())),
            "{rc}"
        );
        assert!(
            rc.contains("    */site-packages/*\n") && rc.contains("    */generated/*\n"),
            "{rc}"
        );
    }
}
