//! What plugin libraries declare, kept from one run to the next.
//!
//! To find a plugin by name the host must know what every library on the
//! search path declares, and reading that maps each library (or starts a
//! plugin process for it) and checks its layout: 4 to 5 ms for the host's
//! own twelve, a third of a GoogleTest run's fixed cost, though a run
//! creates plugins of one or two. What an accepted library declares cannot
//! change while neither its file nor the host does, so its description is
//! kept in the user's cache directory, under the host program's identity
//! and the library's path and identity ([`FileIdentity`]). A run then maps
//! only the libraries whose plugins it creates, and [`Library::module`]
//! checks each of them then, as every library was checked before.
//!
//! Refusals are never kept: a refused library is looked at afresh each
//! time, and warned of. The file is a cache: unreadable, it is as if
//! empty. It is replaced whole (a temporary file renamed over it) only when
//! a library was looked at afresh, and then keeps only the entries whose
//! files are still as they were.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use proctor_loader::{Description, Library};
use serde::{Deserialize, Serialize};

/// The descriptions kept, read from their file and added to by a look at
/// the search path.
pub(super) struct Kept {
    file: Option<PathBuf>,
    /// What every host program that wrote the file kept.
    hosts: Vec<KeptBy>,
    /// This host's, if it has an identity to keep them under.
    this: Option<KeptBy>,
    changed: bool,
}

/// The descriptions one host program kept: several hosts on one machine
/// share the file without undoing each other's work.
#[derive(Serialize, Deserialize)]
struct KeptBy {
    program: PathBuf,
    identity: FileIdentity,
    libraries: BTreeMap<PathBuf, Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    file: FileIdentity,
    description: Description,
}

/// What tells one version of a file from another without reading it: a
/// file rewritten in place has new times, one replaced by another is
/// another inode, and the change time cannot be set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct FileIdentity {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl FileIdentity {
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        })
    }

    /// The identity of the program at `path`, but for its change time,
    /// which moves whenever a link to it is made or removed (by an
    /// installation, by a test). A description kept by another build of
    /// the same size and time would only be looked at again: each library
    /// is checked in full as it is mapped.
    fn of_program(path: &Path) -> Option<Self> {
        let identity = Self::of(path)?;
        Some(Self {
            changed: (0, 0),
            ..identity
        })
    }

    /// Whether the file at `path` is still this version.
    fn still(&self, path: &Path) -> bool {
        Self::of(path).as_ref() == Some(self)
    }
}

impl Kept {
    /// The descriptions kept in the user's cache directory, if it has one.
    pub fn read() -> Self {
        Self::read_from(default_file(), std::env::current_exe().ok())
    }

    /// The descriptions kept in `file` for the host program `program`.
    fn read_from(file: Option<PathBuf>, program: Option<PathBuf>) -> Self {
        let mut hosts: Vec<KeptBy> = (file.as_deref())
            .and_then(|file| std::fs::read(file).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let this = program.and_then(|program| {
            let identity = FileIdentity::of_program(&program)?;
            let kept = hosts
                .iter()
                .position(|host| host.program == program && host.identity == identity)
                .map(|at| hosts.swap_remove(at));
            Some(kept.unwrap_or(KeptBy {
                program,
                identity,
                libraries: BTreeMap::new(),
            }))
        });
        Self {
            file,
            hosts,
            this,
            changed: false,
        }
    }

    /// The library at `path` as its kept description says, if its file is
    /// as it was when described.
    pub fn library(&self, path: &Path) -> Option<Library> {
        let entry = self.this.as_ref()?.libraries.get(path)?;
        (entry.file.still(path)).then(|| Library::described(path, entry.description.clone()))
    }

    /// Keeps the description of a library just looked at.
    pub fn keep(&mut self, library: &Library) {
        let (Some(this), Some(file)) = (&mut self.this, FileIdentity::of(&library.path)) else {
            return;
        };
        let entry = Entry {
            file,
            description: library.description(),
        };
        this.libraries.insert(library.path.clone(), entry);
        self.changed = true;
    }

    /// Drops the description of the library at `path`, kept or not, so
    /// that the next run looks at it afresh: a run that failed to create
    /// one of its plugins cannot tell a broken library from a description
    /// that no longer fits it.
    pub fn forget(path: &Path) {
        let mut kept = Self::read();
        if let Some(this) = &mut kept.this {
            kept.changed = this.libraries.remove(path).is_some();
        }
        kept.write();
    }

    /// Writes the descriptions back if any was added or dropped, without those of
    /// hosts or libraries whose files are gone or changed. Failing to is no
    /// error: the next run looks at the libraries again.
    pub fn write(self) {
        let (Some(file), true) = (&self.file, self.changed) else {
            return;
        };
        let mut hosts: Vec<KeptBy> = (self.hosts.into_iter().chain(self.this))
            .filter(|host| FileIdentity::of_program(&host.program) == Some(host.identity))
            .collect();
        for host in &mut hosts {
            host.libraries.retain(|path, entry| entry.file.still(path));
        }
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let json = serde_json::to_vec(&hosts).map_err(std::io::Error::other)?;
                let partial = file.with_extension(format!("{}.partial", std::process::id()));
                std::fs::write(&partial, json)?;
                std::fs::rename(&partial, file)
            });
        if let Err(e) = written {
            tracing::debug!(file = %file.display(), "cannot keep the plugin libraries' descriptions: {e}");
        }
    }
}

/// `$XDG_CACHE_HOME/proctor/plugin-libraries.json`, else under
/// `~/.cache`.
fn default_file() -> Option<PathBuf> {
    let cache = crate::user_dirs::user_dir("XDG_CACHE_HOME", ".cache")?;
    Some(cache.join("proctor").join("plugin-libraries.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library of one runner plugin named `name`, as a plugin process
    /// would describe it; its file is any file.
    fn described(path: &Path, name: &str) -> Library {
        let description = serde_json::json!({
            "manifest": { "api_version": "1.0.0",
                          "plugins": [{ "kind": "runner", "name": name, "version": "1.0.0",
                                        "description": "runs tests" }] },
            "build_info": null,
        });
        Library::described(path, serde_json::from_value(description).unwrap())
    }

    fn names(library: Option<Library>) -> Vec<String> {
        let plugins = library.map(|l| l.manifest.plugins).unwrap_or_default();
        plugins.into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn a_description_is_kept_until_its_library_or_its_host_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (file, host, library) = (
            dir.path().join("kept.json"),
            dir.path().join("proctor"),
            dir.path().join("libplugin.so"),
        );
        std::fs::write(&host, "host 1").unwrap();
        std::fs::write(&library, "library 1").unwrap();
        let read = || Kept::read_from(Some(file.clone()), Some(host.clone()));

        let mut kept = read();
        assert!(kept.library(&library).is_none(), "nothing kept yet");
        kept.keep(&described(&library, "first"));
        kept.write();
        assert_eq!(names(read().library(&library)), ["first"]);

        // Rewritten in place, the same size: its times tell.
        std::fs::write(&library, "library 2").unwrap();
        assert!(
            read().library(&library).is_none(),
            "a changed library is looked at afresh"
        );
        let mut kept = read();
        kept.keep(&described(&library, "second"));
        kept.write();
        assert_eq!(names(read().library(&library)), ["second"]);

        std::fs::write(&host, "host 2").unwrap();
        assert!(
            read().library(&library).is_none(),
            "another host looks afresh"
        );
    }

    #[test]
    fn hosts_sharing_the_file_keep_their_own_and_what_is_gone_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kept.json");
        let path = |name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, name).unwrap();
            path
        };
        let (one, other) = (path("proctor-1"), path("proctor-2"));
        let (library, removed) = (path("libkept.so"), path("libremoved.so"));
        for (host, name) in [(&one, "of one"), (&other, "of the other")] {
            let mut kept = Kept::read_from(Some(file.clone()), Some(host.clone()));
            kept.keep(&described(&library, name));
            kept.keep(&described(&removed, name));
            kept.write();
        }
        std::fs::remove_file(&removed).unwrap();
        let mut kept = Kept::read_from(Some(file.clone()), Some(one.clone()));
        kept.keep(&described(&path("libnew.so"), "new"));
        kept.write();

        let read = |host: &Path| Kept::read_from(Some(file.clone()), Some(host.to_owned()));
        assert_eq!(names(read(&one).library(&library)), ["of one"]);
        assert_eq!(names(read(&other).library(&library)), ["of the other"]);
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(!written.contains("libremoved.so"), "{written}");
    }
}
