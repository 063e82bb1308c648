//! Writing a download so that its destination never holds part of a file.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::messages::{DownloadRequest, DownloadResponse};
use crate::{BackgroundCopy, Error, Progress, Result};

/// A download in progress. Bytes go to `<destination>.part`, which becomes
/// the destination only through [`PartFile::finish`]; dropped unfinished,
/// the part file is removed.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// use std::io::Write;
/// let mut part = proctor_sdk::PartFile::create("payload.zip".as_ref())?;
/// part.file().write_all(b"...")?;
/// let bytes = part.finish()?;
/// # Ok(()) }
/// ```
pub struct PartFile {
    destination: PathBuf,
    part: PathBuf,
    file: Option<File>,
}

impl PartFile {
    /// Starts an empty part file beside `destination`, replacing a stale one.
    pub fn create(destination: &Path) -> std::io::Result<Self> {
        let mut name = destination.file_name().unwrap_or_default().to_os_string();
        name.push(".part");
        let part = destination.with_file_name(name);
        let file = File::create(&part)?;
        Ok(Self {
            destination: destination.to_path_buf(),
            part,
            file: Some(file),
        })
    }

    /// The part file's path.
    pub fn path(&self) -> &Path {
        &self.part
    }

    /// The file to write to. Writes continue where the last one stopped, so
    /// a resumed transfer goes on after [`Self::len`] bytes.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("only `finish` takes the file")
    }

    /// The bytes written so far.
    pub fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.as_ref().expect("open").metadata()?.len())
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> std::io::Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// Throws away what was written, to start again from the first byte.
    pub fn restart(&mut self) -> std::io::Result<()> {
        let file = self.file();
        file.set_len(0)?;
        file.rewind()
    }

    /// Moves the complete file to its destination; answers its length.
    pub fn finish(mut self) -> std::io::Result<u64> {
        let mut file = self.file.take().expect("open");
        file.flush()?;
        let bytes = file.metadata()?.len();
        drop(file);
        std::fs::rename(&self.part, &self.destination)?;
        Ok(bytes)
    }
}

/// How much a download copies between two progress reports: a stop is
/// answered within it.
const CHUNK: u64 = 4 << 20;

/// The buffer of a copy on its own thread: as much as a fast network
/// hands over between two reads.
const THREAD_BUFFER: usize = 1 << 20;

/// Writes what `input` reads to `request.destination`, as a downloader
/// answers: through a [`PartFile`], reporting progress against `total`
/// (`None` when unknown) before every chunk, and stopping with an error
/// when the host asks it to. Errors name the URI and what failed. From a
/// [`std::fs::File`], the kernel copies the bytes (`copy_file_range`).
/// For a reader that may block (a network peer's body), use
/// [`write_download_on_thread`]: this one asks the host only between reads.
///
/// ```no_run
/// # use proctor_sdk::{messages::*, Progress, Result};
/// fn download(request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse> {
///     let input = std::fs::File::open("/srv/artifacts/suite.tar.gz")?;
///     let total = input.metadata()?.len();
///     proctor_sdk::write_download(input, Some(total), &request, progress)
/// }
/// ```
pub fn write_download(
    mut input: impl Read,
    total: Option<u64>,
    request: &DownloadRequest,
    progress: &Progress,
) -> Result<DownloadResponse> {
    let uri = &request.uri;
    let mut part = create_part(request)?;
    let mut done = 0;
    loop {
        if !progress.report(done, total) {
            return Err(stopped(uri, done));
        }
        // `copy` reaches the kernel's copy for a file; a read error and a
        // write error alike end the transfer.
        let n = std::io::copy(&mut (&mut input).take(CHUNK), part.file())
            .map_err(|e| copy_failed(uri, done, e))?;
        if n == 0 {
            break;
        }
        done += n;
    }
    finish(part, request)
}

/// As [`write_download`], reading on a thread of its own
/// ([`BackgroundCopy`]), so that the download hears the host within a
/// tenth of a second even while a read waits on a peer that sends
/// nothing: asked to stop, it returns at once and the part file goes. Hand
/// it a network client's body reader.
///
/// ```no_run
/// # use proctor_sdk::{messages::*, Progress, Result};
/// fn download(request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse> {
///     let stream = std::net::TcpStream::connect("artifacts.internal:7000")?;
///     proctor_sdk::write_download_on_thread(stream, None, &request, progress)
/// }
/// ```
pub fn write_download_on_thread(
    input: impl Read + Send + 'static,
    total: Option<u64>,
    request: &DownloadRequest,
    progress: &Progress,
) -> Result<DownloadResponse> {
    let uri = &request.uri;
    let mut part = create_part(request)?;
    let output = (part.file().try_clone())
        .map_err(|e| Error::msg(format!("{uri}: cannot open the part file again: {e}")))?;
    let copy = BackgroundCopy::start(input, output, THREAD_BUFFER)
        .map_err(|e| Error::msg(format!("{uri}: cannot start the copy's thread: {e}")))?;
    match copy.wait(progress, 0, total) {
        None => Err(stopped(uri, copy.written())),
        Some(Err(e)) => Err(copy_failed(uri, copy.written(), e)),
        Some(Ok(())) => finish(part, request),
    }
}

/// The part file of `request`'s destination.
fn create_part(request: &DownloadRequest) -> Result<PartFile> {
    PartFile::create(&request.destination).map_err(|e| {
        let beside = request.destination.display();
        Error::msg(format!(
            "{}: cannot create a file beside {beside}: {e}",
            request.uri
        ))
    })
}

/// The error of a download the host stopped after `done` bytes.
fn stopped(uri: &str, done: u64) -> Error {
    Error::msg(format!("{uri}: stopped by the host after {done} bytes"))
}

/// The error of a download whose copy failed after `done` bytes.
fn copy_failed(uri: &str, done: u64, e: impl std::fmt::Display) -> Error {
    Error::msg(format!("{uri}: the copy failed after {done} bytes: {e}"))
}

/// Moves a complete download into place: the downloader's answer.
fn finish(part: PartFile, request: &DownloadRequest) -> Result<DownloadResponse> {
    let bytes = part.finish().map_err(|e| {
        let destination = request.destination.display();
        Error::msg(format!(
            "{}: cannot move the download into {destination}: {e}",
            request.uri
        ))
    })?;
    Ok(DownloadResponse {
        bytes,
        ..DownloadResponse::default()
    })
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_appears_only_when_finished() {
        let dir = std::env::temp_dir().join(format!("proctor-part-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let destination = dir.join("payload.bin");
        let mut part = PartFile::create(&destination).unwrap();
        part.file().write_all(b"stale").unwrap();
        part.restart().unwrap();
        part.file().write_all(b"fresh").unwrap();
        assert!(!destination.exists());
        assert_eq!(part.len().unwrap(), 5);
        assert_eq!(part.finish().unwrap(), 5);
        assert_eq!(std::fs::read(&destination).unwrap(), b"fresh");

        let abandoned = PartFile::create(&dir.join("other.bin")).unwrap();
        let path = abandoned.path().to_path_buf();
        assert!(path.exists());
        drop(abandoned);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
