//! Every plugin library on the search path, and lookup by kind and name.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proctor_plugin_api::messages::{PluginKind, PluginManifest};

use proctor_loader::{describe_library, load_library, Library, Operation, Refusal};

use super::kept::Kept;

/// The variable naming plugin directories, `:`-separated as `PATH` is.
pub const PLUGIN_PATH_VARIABLE: &str = "PROCTOR_PLUGIN_PATH";

/// Where plugins are looked for, in order: `--plugin-dir`,
/// [`PLUGIN_PATH_VARIABLE`], the configuration's `plugin_dirs`, then the
/// host's own ([`own_plugin_dirs`]).
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    pub dirs: Vec<PathBuf>,
}

impl SearchPath {
    pub fn new(command_line: &[PathBuf], config: &[PathBuf]) -> Self {
        let variable = std::env::var_os(PLUGIN_PATH_VARIABLE).unwrap_or_default();
        let from_variable =
            std::env::split_paths(&variable).filter(|dir| !dir.as_os_str().is_empty());
        let mut dirs: Vec<PathBuf> = command_line.iter().cloned().chain(from_variable).collect();
        dirs.extend(config.iter().cloned());
        dirs.extend(own_plugin_dirs().iter().cloned());
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|dir| seen.insert(dir.clone()));
        Self { dirs }
    }
}

/// The directories, as messages list them: `a, b, c`.
impl std::fmt::Display for SearchPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, dir) in self.dirs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", dir.display())?;
        }
        Ok(())
    }
}

/// The host's own plugin directories, canonical: `lib/proctor/plugins`
/// beside the `bin/` holding the binary (the installed layout, which
/// `scripts/dist` makes), and the binary's directory, where a cargo build
/// leaves the built-in plugins. Through symbolic links to the binary,
/// since the running executable's path is the resolved one.
pub fn own_plugin_dirs() -> &'static [PathBuf] {
    static DIRS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let Some(bin) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
        else {
            return Vec::new();
        };
        let installed = bin.join("../lib/proctor/plugins");
        [installed, bin]
            .iter()
            .filter_map(|dir| dir.canonicalize().ok())
            .collect()
    })
}

/// The libraries found on a search path, loaded or refused.
pub struct Catalog {
    pub search_path: SearchPath,
    pub libraries: Vec<Library>,
    pub refused: Vec<Refusal>,
}

/// Opens a library as the host trusts it: one of its own is mapped here;
/// any other is described by a plugin process, so that whatever its
/// constructors do happens there, and is mapped here only if a plugin of
/// it is configured to run in process.
#[allow(
    clippy::result_large_err,
    reason = "a library is opened once, and a refusal carries what its message needs"
)]
pub fn open_library(path: &Path) -> Result<Library, Refusal> {
    if super::installed_with_host(path) {
        load_library(path)
    } else {
        let deadline = Operation::Create.default_deadline();
        describe_library(path, &super::plugin_host_program(), deadline)
    }
}

/// Opens every library in `files`, several at once, and answers each in
/// the order given: the search path's. Checking a library's layout is
/// three quarters of the work of opening it, and the host's own twelve
/// took 4 to 5 ms one after another; a library described by a plugin
/// process waits for that process.
fn open_all(files: Vec<PathBuf>) -> Vec<(PathBuf, Result<Library, Refusal>, Duration)> {
    // Most runs find every library kept, and open none.
    if files.is_empty() {
        return Vec::new();
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let next = AtomicUsize::new(0);
    let open_next = || {
        let mut opened = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = files.get(index) else {
                return opened;
            };
            let started = Instant::now();
            let library = open_library(path);
            opened.push((index, library, started.elapsed()));
        }
    };
    let mut opened = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(files.len()))
            .map(|_| scope.spawn(open_next))
            .collect();
        let mut opened = open_next();
        for helper in helpers {
            opened.extend(
                helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        opened
    });
    opened.sort_by_key(|(index, ..)| *index);
    (files.into_iter().zip(opened))
        .map(|(path, (_, library, elapsed))| (path, library, elapsed))
        .collect()
}

/// A shared-library file name on this platform.
fn is_library(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext == std::env::consts::DLL_EXTENSION)
}

/// The library files in `search_path`'s directories, in its order, each
/// once, by its resolved path. A directory is resolved once, and a file
/// only when it is a link: resolving every file's path asked the system
/// about each directory above it, five calls a library here.
fn library_files(search_path: &SearchPath) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in &search_path.dirs {
        let Ok(entries) = dir.canonicalize().and_then(std::fs::read_dir) else {
            continue;
        };
        let mut found: Vec<(PathBuf, bool)> = entries
            .flatten()
            .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_symlink())))
            .filter(|(path, _)| is_library(path))
            .collect();
        found.sort();
        for (path, linked) in found {
            let resolved = match linked {
                true => path.canonicalize().unwrap_or(path),
                false => path,
            };
            if !files.contains(&resolved) {
                files.push(resolved);
            }
        }
    }
    files
}

impl Catalog {
    pub fn load(search_path: SearchPath) -> Self {
        let files = library_files(&search_path);
        let mut kept = Kept::read();
        let mut found: Vec<Option<Result<Library, Refusal>>> = files
            .iter()
            .map(|path| kept.library(path).map(Ok))
            .collect();
        let unknown = (files.iter().zip(&found))
            .filter(|(_, known)| known.is_none())
            .map(|(path, _)| path.clone())
            .collect();
        let mut opened = open_all(unknown).into_iter();
        for slot in found.iter_mut().filter(|slot| slot.is_none()) {
            let (path, library, elapsed) = opened.next().expect("one opened for each unknown");
            match &library {
                Ok(library) => {
                    tracing::debug!(path = %path.display(), ?elapsed, "loaded plugin library");
                    kept.keep(library);
                }
                Err(refusal) => {
                    tracing::warn!(path = %path.display(), %refusal, "refused plugin library")
                }
            }
            *slot = Some(library);
        }
        kept.write();
        let (mut libraries, mut refused) = (Vec::new(), Vec::new());
        for library in found.into_iter().flatten() {
            match library {
                Ok(library) => libraries.push(library),
                Err(refusal) => refused.push(refusal),
            }
        }
        Self {
            search_path,
            libraries,
            refused,
        }
    }

    /// The first plugin of that kind and name on the search path.
    pub fn find(
        &self,
        kind: PluginKind,
        name: &str,
    ) -> Result<(&Library, &PluginManifest), FindError> {
        let mut other_kinds = Vec::new();
        for library in &self.libraries {
            for plugin in library.manifest.plugins.iter().filter(|p| p.name == name) {
                if plugin.kind == kind {
                    return Ok((library, plugin));
                }
                other_kinds.push(plugin.kind);
            }
        }
        if !other_kinds.is_empty() {
            return Err(FindError::OtherKind {
                name: name.to_owned(),
                wanted: kind,
                found: other_kinds,
            });
        }
        Err(FindError::NotFound {
            kind,
            name: name.to_owned(),
            search_path: self.search_path.to_string(),
            refused: (self.refused.iter())
                .filter(|r| r.plugins.iter().any(|p| p.name == name))
                .cloned()
                .collect(),
            available: self.plugins(kind).map(|(_, p)| p.name.clone()).collect(),
        })
    }

    pub fn plugins(&self, kind: PluginKind) -> impl Iterator<Item = (&Library, &PluginManifest)> {
        self.libraries
            .iter()
            .flat_map(|library| {
                library
                    .manifest
                    .plugins
                    .iter()
                    .map(move |plugin| (library, plugin))
            })
            .filter(move |(_, plugin)| plugin.kind == kind)
    }
}

/// A plugin the configuration names and the search path does not have.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("`{name}` is a {} plugin, not a {wanted}", list(found, " and a "))]
    OtherKind {
        name: String,
        wanted: PluginKind,
        found: Vec<PluginKind>,
    },
    #[error(
        "no {kind} plugin named `{name}`; looked in: {search_path}{}{}",
        match refused.is_empty() {
            true => String::new(),
            false => format!("; a library declaring it was refused: {}", list(refused, "; ")),
        },
        match available.is_empty() {
            true => String::new(),
            false => format!("; {kind} plugins available: {}", list(available, ", ")),
        }
    )]
    NotFound {
        kind: PluginKind,
        name: String,
        search_path: String,
        /// Libraries declaring it that this host refused.
        refused: Vec<Refusal>,
        /// The plugins of that kind there are.
        available: Vec<String>,
    },
}

fn list(items: &[impl std::fmt::Display], separator: &str) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    items.join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_opened_at_once_are_answered_in_search_order() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..24)
            .map(|i| {
                let path = dir.path().join(format!("lib{i:02}.so"));
                std::fs::write(&path, format!("not a library {i}")).unwrap();
                path
            })
            .collect();
        let opened = open_all(files.clone());
        let paths: Vec<&PathBuf> = opened.iter().map(|(path, ..)| path).collect();
        assert_eq!(paths, files.iter().collect::<Vec<_>>());
        for (path, library, _) in &opened {
            let refusal = library.as_ref().err().expect("text is no library");
            assert_eq!(&refusal.path, path, "each refusal names its own file");
        }
    }

    #[test]
    fn each_library_is_listed_once_by_its_resolved_path() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let dir = scratch.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            dir
        };
        let (real, other, links) = (dir("real"), dir("other"), dir("links"));
        std::fs::write(real.join("liba.so"), "a").unwrap();
        std::fs::write(real.join("notes.txt"), "not a library").unwrap();
        std::fs::write(other.join("libb.so"), "b").unwrap();
        std::os::unix::fs::symlink(real.join("liba.so"), links.join("libalias.so")).unwrap();
        let through_link = scratch.path().join("through");
        std::os::unix::fs::symlink(&real, &through_link).unwrap();

        let search_path = SearchPath {
            dirs: vec![
                through_link,
                links,
                real.clone(),
                other.clone(),
                dir("empty"),
            ],
        };
        let resolved = |dir: &Path, name: &str| dir.canonicalize().unwrap().join(name);
        assert_eq!(
            library_files(&search_path),
            [resolved(&real, "liba.so"), resolved(&other, "libb.so")]
        );
    }
}
