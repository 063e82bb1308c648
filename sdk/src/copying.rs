//! Waiting on work that may block, a copy from a reader above all,
//! without going deaf to the host.
//!
//! A blocking call cannot be interrupted from outside: a network peer that
//! sends nothing holds a read until its own timeout, and a plugin call
//! blocked in it cannot answer a host asked to stop. So the work runs on a
//! thread of its own ([`Detached`]; a copy: [`BackgroundCopy`]), and the
//! plugin's calling thread only waits for it, a tenth of a second at a
//! time, reporting progress and asking the host whether to go on
//! ([`Progress::wait_hearing_the_host`]). Told to stop, the caller returns
//! at once. A copy's thread, left behind, stops before its next read, or
//! when its blocked read gives up, and what it writes meanwhile goes to a
//! file its caller has already removed.
//!
//! The thread writes the file itself, through its own handle: handing each
//! buffer to the calling thread instead cost an allocation and a wake-up a
//! read, and halved the http downloader's throughput on loopback.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;

use crate::Progress;

/// How a copy on its thread failed.
#[derive(Debug)]
pub enum CopyError {
    /// A read of the input failed.
    Read(std::io::Error),
    /// A write to the file failed.
    Write(std::io::Error),
    /// The thread ended without saying how: it panicked.
    Lost,
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::Read(e) => write!(f, "a read failed: {e}"),
            CopyError::Write(e) => write!(f, "a write failed: {e}"),
            CopyError::Lost => f.write_str("the copy's thread ended unanswered"),
        }
    }
}

/// What both threads see.
#[derive(Default)]
struct Shared {
    /// Bytes written to the file.
    written: AtomicU64,
    /// Set when nobody waits for the copy any more.
    abandoned: AtomicBool,
}

/// Work on a thread of its own, which the plugin's calling thread waits
/// for hearing the host ([`Detached::wait`]). Asked to stop, the caller
/// returns and leaves the thread behind; what it answers then is dropped.
pub struct Detached<T> {
    answer: Receiver<T>,
}

/// A detached thread ended without answering: it panicked.
#[derive(Debug)]
pub struct Lost;

impl<T: Send + 'static> Detached<T> {
    /// Runs `work` on a new thread named `name`.
    pub fn spawn(name: &str, work: impl FnOnce() -> T + Send + 'static) -> std::io::Result<Self> {
        let (sender, answer) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // A caller that stopped waiting has gone: nobody hears it.
                let _ = sender.send(work());
            })?;
        Ok(Self { answer })
    }

    /// The work's answer, reporting `done()` of `total` to the host a
    /// tenth of a second apart while it waits; `None` once the host
    /// answers that the plugin is to stop.
    pub fn wait(
        &self,
        progress: &Progress,
        done: impl Fn() -> u64,
        total: Option<u64>,
    ) -> Option<Result<T, Lost>> {
        progress.wait_hearing_the_host(done, total, |most| match self.answer.recv_timeout(most) {
            Ok(answer) => Some(Ok(answer)),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Err(Lost)),
        })
    }
}

/// A copy from a reader into a file on a thread of its own; abandoned when
/// dropped.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// # let progress: &proctor_sdk::Progress = unimplemented!();
/// # let body: std::net::TcpStream = unimplemented!();
/// let mut part = proctor_sdk::PartFile::create("payload.zip".as_ref())?;
/// let copy = proctor_sdk::BackgroundCopy::start(body, part.file().try_clone()?, 1 << 20)?;
/// match copy.wait(progress, 0, None) {
///     None => { /* the host asked to stop: return, the part file goes */ }
///     Some(Err(failed)) => { /* `copy.written()` bytes arrived before it */ }
///     Some(Ok(())) => { part.finish()?; }
/// }
/// # Ok(()) }
/// ```
pub struct BackgroundCopy {
    thread: Detached<Result<(), CopyError>>,
    shared: Arc<Shared>,
}

impl BackgroundCopy {
    /// Starts copying what `input` reads into `output`, in reads of at
    /// most `buffer_size` bytes, on a new thread.
    pub fn start(
        input: impl Read + Send + 'static,
        output: File,
        buffer_size: usize,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let thread = Detached::spawn("proctor-copy", move || {
            copy(input, output, buffer_size, &theirs)
        })?;
        Ok(Self { thread, shared })
    }

    /// The bytes written so far.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Waits for the copy to end, reporting `before` plus the bytes written
    /// so far of `total` to the host a tenth of a second apart; `None` once
    /// the host answers that the plugin is to stop.
    pub fn wait(
        &self,
        progress: &Progress,
        before: u64,
        total: Option<u64>,
    ) -> Option<Result<(), CopyError>> {
        let ended = self
            .thread
            .wait(progress, || before + self.written(), total)?;
        Some(ended.unwrap_or(Err(CopyError::Lost)))
    }
}

impl Drop for BackgroundCopy {
    fn drop(&mut self) {
        self.shared.abandoned.store(true, Ordering::Relaxed);
    }
}

/// The copy's thread: reads until the input ends, or the copy is abandoned.
fn copy(
    mut input: impl Read,
    mut output: File,
    buffer_size: usize,
    shared: &Shared,
) -> Result<(), CopyError> {
    let mut buffer = vec![0u8; buffer_size.max(1)];
    while !shared.abandoned.load(Ordering::Relaxed) {
        let read = match input.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        output
            .write_all(&buffer[..read])
            .map_err(CopyError::Write)?;
        shared.written.fetch_add(read as u64, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives `chunks` reads of one byte, then fails.
    struct Failing {
        chunks: usize,
    }

    impl Read for Failing {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            if self.chunks == 0 {
                return Err(std::io::Error::other("the peer reset the connection"));
            }
            self.chunks -= 1;
            buffer[0] = b'x';
            Ok(1)
        }
    }

    fn scratch_file(name: &str) -> (std::path::PathBuf, File) {
        let path = std::env::temp_dir().join(format!("proctor-copy-{}-{name}", std::process::id()));
        let file = File::create(&path).unwrap();
        (path, file)
    }

    #[test]
    fn a_copy_counts_what_it_wrote_and_tells_a_read_from_a_write_failing() {
        let (path, file) = scratch_file("read");
        let shared = Shared::default();
        let ended = copy(Failing { chunks: 3 }, file, 16, &shared);
        assert!(matches!(ended, Err(CopyError::Read(_))), "{ended:?}");
        assert_eq!(shared.written.load(Ordering::Relaxed), 3);
        assert_eq!(std::fs::read(&path).unwrap(), b"xxx");

        let read_only = File::open(&path).unwrap();
        let ended = copy(&b"more"[..], read_only, 16, &shared);
        assert!(matches!(ended, Err(CopyError::Write(_))), "{ended:?}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_abandoned_copy_reads_no_more() {
        let (path, file) = scratch_file("abandoned");
        let shared = Shared::default();
        shared.abandoned.store(true, Ordering::Relaxed);
        // A reader that would fail the test if it were read.
        let ended = copy(Failing { chunks: 0 }, file, 16, &shared);
        assert!(ended.is_ok(), "{ended:?}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        std::fs::remove_file(path).unwrap();
    }
}
