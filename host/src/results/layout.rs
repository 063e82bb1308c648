//! The results directory (documented in docs/results-layout.md):
//!
//! ```text
//! <results>/
//!   .proctor-results          marker: this directory belongs to proctor
//!   events.jsonl              the journal, appended as the run goes
//!   summary.json              written when the run ends
//!   junit.xml                 written when the run ends
//!   results.trx               written when the run ends (VSTest's format)
//!   sources/<source>/<test>/attempt-<n>/   one attempt of one test: the
//!                             process output when it ran alone, else output.log
//!   sources/<source>/processes/attempt-<n>-<k>/{stdout.log,stderr.log,...}
//!                             a process that ran many tests, and the runner's files
//! ```

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use crate::config::Layout;

/// A results directory a run cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ResultsDirError {
    #[error(
        "results directory {} is not empty and was not written by proctor; \
         choose another or empty it",
        .0.display()
    )]
    NotOurs(PathBuf),
    #[error(
        "results directory {} is in use by another proctor run{}; wait for it to end \
         or choose another",
        root.display(),
        holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    InUse { root: PathBuf, holder: Option<u32> },
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, ResultsDirError>;

const MARKER: &str = ".proctor-results";
/// Beside the test directories of a source; no test directory takes this name.
const PROCESSES: &str = "processes";

pub struct ResultsDir {
    root: PathBuf,
    layout: Layout,
    dumps: PathBuf,
    /// The marker, locked for the run: another run on the directory sees
    /// it is in use instead of clearing it.
    _lock: std::fs::File,
    /// Deleting an earlier run's results, moved aside, while this run goes on.
    cleanup: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ResultsDir {
    /// Makes `root` ready for a new run. A directory from an earlier run is
    /// emptied; any other non-empty directory is refused rather than touched.
    /// Dumps go to `dumps`, when given, else to `dumps/` inside.
    ///
    /// The run holds a lock on the marker until it ends; a directory whose
    /// marker another run holds is refused, naming that run's process. The
    /// new marker is locked before it is put in place, so no run ever sees
    /// it unlocked.
    pub fn prepare(root: &Path, layout: Layout, dumps: Option<PathBuf>) -> Result<Self> {
        let mut cleanup = None;
        let occupied = std::fs::read_dir(root)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        let io = |what| {
            move |source| ResultsDirError::Io {
                what,
                path: root.to_path_buf(),
                source,
            }
        };
        // The earlier run's marker, held until the new one is in place.
        let mut earlier = None;
        if occupied && !abandoned_claim(root).map_err(io("read"))? {
            let marker = root.join(MARKER);
            if !marker.is_file() {
                return Err(ResultsDirError::NotOurs(root.to_path_buf()));
            }
            earlier = lock(&marker).map_err(io("lock"))?;
            if earlier.is_none() {
                let holder = std::fs::read_to_string(&marker).ok();
                return Err(ResultsDirError::InUse {
                    root: root.to_path_buf(),
                    holder: holder.as_deref().and_then(marker_pid),
                });
            }
            cleanup = clear_aside(root)?;
        }
        let create = || -> std::io::Result<std::fs::File> {
            std::fs::create_dir_all(root)?;
            let pid = std::process::id();
            let fresh = root.join(format!("{MARKER}.{pid}"));
            std::fs::write(&fresh, format!("layout {}\npid {pid}\n", layout.version()))?;
            let locked = lock(&fresh)?.expect("nobody else knows the fresh marker");
            std::fs::rename(&fresh, root.join(MARKER))?;
            Ok(locked)
        };
        let lock = create().map_err(io("create"))?;
        drop(earlier);
        Ok(Self {
            root: root.to_path_buf(),
            layout,
            dumps: dumps.unwrap_or_else(|| root.join("dumps")),
            _lock: lock,
            cleanup: std::sync::Mutex::new(cleanup),
        })
    }

    /// Waits until the earlier run's results are gone.
    pub fn finish_cleanup(&self) {
        let handle = self
            .cleanup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout the run writes here.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn journal(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    pub fn junit(&self) -> PathBuf {
        self.root.join("junit.xml")
    }

    pub fn trx(&self) -> PathBuf {
        self.root.join("results.trx")
    }

    /// Where dumps of crashed and hung processes go.
    pub fn dumps(&self) -> &Path {
        &self.dumps
    }

    /// The directory of one attempt of one test.
    pub fn attempt_dir(&self, source: &str, test_id: &str, attempt: u32) -> PathBuf {
        self.root.join(attempt_path(source, test_id, attempt))
    }

    /// The directory of a process that ran many tests of one source.
    pub fn process_dir(&self, source: &str, attempt: u32, number: u64) -> PathBuf {
        self.root
            .join("sources")
            .join(source)
            .join(PROCESSES)
            .join(format!("attempt-{attempt}-{number}"))
    }

    /// `path` relative to the results directory, as the reports record it.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }
}

/// The directory of one attempt of one test, relative to the results
/// directory, as the reports record it: made as text, once per attempt of
/// every test, rather than joined onto the root and taken off again.
pub fn attempt_path(source: &str, test_id: &str, attempt: u32) -> String {
    use std::fmt::Write;
    let mut path = String::with_capacity(source.len() + test_id.len() + 40);
    path.push_str("sources/");
    path.push_str(source);
    path.push('/');
    push_test_dir_name(&mut path, test_id);
    let _ = write!(path, "/attempt-{attempt}");
    path
}

/// What a report is written through: at 10,000 tests the reports are
/// 16 MB, two thousand writes through std's 8 KiB, two hundred and fifty
/// through this, at the run's end where every write delays the exit.
const REPORT_BUFFER: usize = 64 * 1024;

/// Writes the file at `path` through a hidden file beside it, renamed into
/// place once whole: a full disk or a write that fails leaves no report
/// rather than half of one.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let partial = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let written = (|| {
        let file = std::fs::File::create(&partial)?;
        let mut out = std::io::BufWriter::with_capacity(REPORT_BUFFER, file);
        write(&mut out)?;
        std::io::Write::flush(&mut out)?;
        std::fs::rename(&partial, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// The last `max` bytes of a file in the results (a process's output), as
/// text, and whether the file was longer: then the text starts mid-file.
pub fn read_end(path: &Path, max: u64) -> std::io::Result<(String, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let start = file.metadata()?.len().saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), start > 0))
}

/// The whole lines in the last `max` bytes of a file, none when it cannot
/// be read: a window that starts mid-file starts mid-line, and that line
/// is left out.
pub fn last_lines(path: &Path, max: u64) -> Vec<String> {
    let Ok((text, cut)) = read_end(path, max) else {
        return Vec::new();
    };
    let text = match cut {
        true => text.split_once('\n').map_or("", |(_, rest)| rest),
        false => &text,
    };
    text.lines().map(str::to_owned).collect()
}

/// Opens `path` and takes an exclusive advisory lock on it; `None` when
/// another process holds it.
fn lock(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new().read(true).open(path)?;
    // SAFETY: locks a descriptor we own; the lock lives as long as it.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked == 0 {
        return Ok(Some(file));
    }
    let error = std::io::Error::last_os_error();
    match error.kind() {
        std::io::ErrorKind::WouldBlock => Ok(None),
        _ => Err(error),
    }
}

/// Whether `root` holds nothing but the fresh markers of runs killed as
/// they claimed it (each is written, locked, then renamed into place);
/// if so they are removed, and the directory is proctor's and empty. A
/// fresh marker still locked is a run claiming it now: not abandoned.
fn abandoned_claim(root: &Path) -> std::io::Result<bool> {
    let prefix = format!("{MARKER}.");
    let mut claims = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !name.starts_with(&prefix) || lock(&path)?.is_none() {
            return Ok(false);
        }
        claims.push(path);
    }
    for claim in &claims {
        std::fs::remove_file(claim)?;
    }
    Ok(!claims.is_empty())
}

/// The process a marker names, `pid N` on a line of its own.
fn marker_pid(marker: &str) -> Option<u32> {
    marker
        .lines()
        .find_map(|line| line.strip_prefix("pid ")?.trim().parse().ok())
}

/// Moves an earlier run's results beside `root` and deletes them on a thread,
/// so a run does not wait for thousands of files to go. Returns the thread,
/// or `None` when the results could only be deleted in place, already.
fn clear_aside(root: &Path) -> Result<Option<std::thread::JoinHandle<()>>> {
    let name = root.file_name().unwrap_or_default().to_string_lossy();
    let aside = root.with_file_name(format!(".{name}.old-{}", std::process::id()));
    if std::fs::rename(root, &aside).is_err() {
        // A mount point cannot move: delete in place, and wait for it.
        std::fs::remove_dir_all(root).map_err(|source| ResultsDirError::Io {
            what: "clear",
            path: root.to_path_buf(),
            source,
        })?;
        return Ok(None);
    }
    // Earlier runs' results set aside and not yet deleted when their run
    // was killed: this run holds the directory, so no other is deleting
    // them, and they are looked for off the run's path, as the directory
    // they are in may hold many others.
    let prefix = format!(".{name}.old-");
    Ok(Some(std::thread::spawn(move || {
        let parent = aside.parent().unwrap_or(Path::new("."));
        let stale: Vec<PathBuf> = (std::fs::read_dir(parent).into_iter().flatten().flatten())
            .map(|entry| entry.path())
            .filter(|path| path != &aside)
            .filter(|path| {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                name.starts_with(&prefix)
            })
            .collect();
        for dir in std::iter::once(aside).chain(stale) {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("cannot delete {}: {e}", dir.display());
            }
        }
    })))
}

#[cfg(test)]
fn test_dir_name(test_id: &str) -> String {
    let mut name = String::new();
    push_test_dir_name(&mut name, test_id);
    name
}

/// Adds a file-system-safe, stable, unique directory name for a test id to
/// `out`: the id itself when it is safe, else a cleaned prefix and a hash
/// of the id. Made for every attempt of every test, in place.
fn push_test_dir_name(out: &mut String, test_id: &str) {
    const MAX: usize = 96;
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    let reserved = test_id == PROCESSES;
    if test_id.len() <= MAX && test_id.chars().all(safe) && !test_id.starts_with('.') && !reserved {
        out.push_str(test_id);
        return;
    }
    let start = out.len();
    out.extend(
        test_id
            .chars()
            .take(MAX)
            .map(|c| if safe(c) { c } else { '_' }),
    );
    // A leading dot would hide the directory.
    let dots = out[start..].len() - out[start..].trim_start_matches('.').len();
    out.drain(start..start + dots);
    let hash = Sha256::digest(test_id.as_bytes());
    let short = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
    let _ = std::fmt::Write::write_fmt(out, format_args!("-{short:08x}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        write_atomically(&path, |out| std::io::Write::write_all(out, b"{}")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        let failed = write_atomically(&dir.path().join("junit.xml"), |out| {
            std::io::Write::write_all(out, b"<testsuites>")?;
            Err(std::io::Error::other("no space left on device"))
        });
        assert!(failed.is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "only the summary, no partial file: {left:?}");
    }

    /// A run killed between writing its fresh marker and renaming it into
    /// place left only that: the directory is still proctor's.
    #[test]
    fn a_directory_a_killed_run_was_claiming_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("results");
        std::fs::create_dir(&root).unwrap();
        let claim = root.join(format!("{MARKER}.4242"));
        std::fs::write(&claim, "layout 1\npid 4242\n").unwrap();
        let results = ResultsDir::prepare(&root, Layout::V1, None).expect("taken");
        assert!(root.join(MARKER).is_file());
        assert!(!claim.exists());
        drop(results);

        // One being claimed now is another run's.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let claim = other.join(format!("{MARKER}.4343"));
        std::fs::write(&claim, "layout 1\npid 4343\n").unwrap();
        let _held = lock(&claim).unwrap().unwrap();
        assert!(ResultsDir::prepare(&other, Layout::V1, None).is_err());
    }

    /// Results set aside for deletion by a run killed before it deleted
    /// them are deleted by the next run of the directory.
    #[test]
    fn results_a_killed_run_set_aside_are_deleted_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("results");
        drop(ResultsDir::prepare(&root, Layout::V1, None).unwrap());
        let stale = dir.path().join(".results.old-4242");
        std::fs::create_dir_all(stale.join("sources")).unwrap();
        let unrelated = dir.path().join(".other.old-4242");
        std::fs::create_dir(&unrelated).unwrap();
        let results = ResultsDir::prepare(&root, Layout::V1, None).unwrap();
        results.finish_cleanup();
        assert!(!stale.exists());
        assert!(unrelated.exists(), "another directory's are its own");
    }

    #[test]
    fn safe_ids_are_kept_and_others_hashed() {
        assert_eq!(test_dir_name("demo::tests::adds"), "demo::tests::adds");
        // The first four bytes of the id's SHA-256: stable across versions.
        assert_eq!(test_dir_name("a/b c"), "a_b_c-0af99a60");
        assert_ne!(test_dir_name("a/b"), test_dir_name("a b"));
        assert!(test_dir_name(&"x".repeat(300)).len() < 120);
        assert_ne!(test_dir_name("processes"), "processes");
        // A character is one `_`, whatever its bytes; no name is hidden.
        assert!(test_dir_name("é/x").starts_with("__x-"));
        assert!(test_dir_name("..a/b").starts_with("a_b-"));
        assert_eq!(
            attempt_path("unit", "a/b c", 2),
            "sources/unit/a_b_c-0af99a60/attempt-2"
        );
    }
}
