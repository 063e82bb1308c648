//! How many bytes one download may bring, so that a body that never ends
//! fails the download instead of filling the disk.
//!
//! Two bounds, both checked as the downloader reports its progress (which
//! it must do to be cancelled) and once more on what it left:
//! - `downloads.max_bytes`, when set: the bytes of one download.
//! - `downloads.reserve_bytes`: the free space the destination's file
//!   system keeps. It is read again every [`RECHECK_BYTES`], since
//!   downloads running side by side share the disk.
//!
//! A download that passes a bound is cancelled (the downloader's progress
//! report is answered "stop") and fails with the bound's name.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config::DownloadLimits;

/// How many bytes may arrive between two readings of the free space.
const RECHECK_BYTES: u64 = 8 << 20;

/// The bounds of one download, and the first one it passed.
pub struct Budget {
    limits: DownloadLimits,
    /// A directory on the destination's file system.
    dir: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// The bytes done when the free space was last read.
    checked_at: Option<u64>,
    /// Why the download was stopped, once it was.
    exceeded: Option<String>,
}

impl Budget {
    pub fn new(limits: DownloadLimits, dir: &Path) -> Self {
        Self {
            limits,
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                checked_at: None,
                exceeded: None,
            }),
        }
    }

    /// Whether the download may go on, with `done` bytes of `total` in.
    pub fn allows(&self, done: u64, total: Option<u64>) -> bool {
        let mut state = self
            .state
            .lock()
            .expect("never poisoned: no panic holds it");
        if state.exceeded.is_some() {
            return false;
        }
        state.exceeded = self.exceeded(done.max(total.unwrap_or(0)), &mut state.checked_at);
        state.exceeded.is_none()
    }

    /// Why the download was stopped, or, checked on what it left, why it
    /// should fail: the first bound passed.
    pub fn exceeded_by(&self, bytes: u64) -> Option<String> {
        let mut state = self
            .state
            .lock()
            .expect("never poisoned: no panic holds it");
        if let Some(why) = &state.exceeded {
            return Some(why.clone());
        }
        // Every bound read afresh, the free space included.
        state.checked_at = None;
        self.exceeded(bytes, &mut state.checked_at)
    }

    fn exceeded(&self, bytes: u64, checked_at: &mut Option<u64>) -> Option<String> {
        if let Some(max) = self.limits.max_bytes {
            if bytes > max {
                return Some(format!(
                    "it is larger than {max} bytes (downloads.max_bytes)"
                ));
            }
        }
        if checked_at.is_some_and(|at| bytes < at + RECHECK_BYTES) {
            return None;
        }
        *checked_at = Some(bytes);
        let reserve = self.limits.reserve_bytes;
        match free_bytes(&self.dir) {
            Ok(free) if free < reserve => Some(format!(
                "the file system holding {} has {free} bytes free, less than the {reserve} bytes \
                 it keeps free (downloads.reserve_bytes)",
                self.dir.display()
            )),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!("cannot read the free space of {}: {e}", self.dir.display());
                None
            }
        }
    }
}

/// The bytes an unprivileged process may still write to the file system
/// holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `stats` is
    // written by statvfs, and read only when it succeeded.
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        stats.assume_init()
    };
    Ok((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: Option<u64>, reserve_bytes: u64) -> DownloadLimits {
        DownloadLimits {
            max_bytes,
            reserve_bytes,
        }
    }

    #[test]
    fn a_download_past_its_byte_limit_is_stopped_and_stays_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(limits(Some(1000), 0), dir.path());
        assert!(budget.allows(1000, None));
        assert!(!budget.allows(1001, None));
        assert!(
            !budget.allows(0, None),
            "once stopped, a download stays stopped"
        );
        let why = budget.exceeded_by(10).unwrap();
        assert_eq!(why, "it is larger than 1000 bytes (downloads.max_bytes)");
    }

    #[test]
    fn an_announced_length_past_the_limit_stops_the_download_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(limits(Some(1000), 0), dir.path());
        assert!(!budget.allows(0, Some(5000)));
    }

    #[test]
    fn a_file_system_below_its_reserve_stops_the_download() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        let budget = Budget::new(limits(None, u64::MAX), dir.path());
        assert!(!budget.allows(0, None));
        let why = budget.exceeded_by(0).unwrap();
        assert!(why.contains("(downloads.reserve_bytes)"), "{why}");
        let roomy = Budget::new(limits(None, 0), dir.path());
        assert!(roomy.allows(u64::MAX / 2, None));
        assert_eq!(roomy.exceeded_by(1 << 40), None);
    }

    #[test]
    fn what_a_downloader_left_is_held_to_the_limit_even_unreported() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Budget::new(limits(Some(10), 0), dir.path());
        assert!(budget.exceeded_by(11).is_some());
        assert!(budget.exceeded_by(10).is_none());
    }

    #[test]
    fn free_space_of_a_missing_directory_is_an_error() {
        assert!(free_bytes(Path::new("/nonexistent/proctor")).is_err());
    }
}
