//! Write proctor plugins in safe Rust.
//!
//! Implement one trait — [`Runner`], [`Downloader`], [`Collector`] or
//! [`AttachmentProcessor`] — and export it with [`export_plugins!`]:
//!
//! ```no_run
//! use proctor_sdk::messages::{DownloadRequest, DownloadResponse};
//! use proctor_sdk::{export_plugins, Downloader, Progress, Result};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct Settings { root: std::path::PathBuf }
//!
//! pub struct Artifacts { root: std::path::PathBuf }
//!
//! impl Downloader for Artifacts {
//!     const NAME: &'static str = "artifacts";
//!     const DESCRIPTION: &'static str = "Fetches artifacts:// URIs from a directory tree";
//!     const SCHEMES: &'static [&'static str] = &["artifacts"];
//!     type Settings = Settings;
//!
//!     fn new(settings: Settings) -> Result<Self> {
//!         Ok(Self { root: settings.root })
//!     }
//!
//!     fn download(&self, request: DownloadRequest, progress: &Progress) -> Result<DownloadResponse> {
//!         // A real one refuses paths that leave the root: see the guide.
//!         let path = request.uri.trim_start_matches("artifacts://");
//!         let input = std::fs::File::open(self.root.join(path))?;
//!         let total = input.metadata()?.len();
//!         proctor_sdk::write_download(input, Some(total), &request, progress)
//!     }
//! }
//!
//! export_plugins!(downloader Artifacts);
//! # fn main() {}
//! ```
//!
//! The crate is built as a `cdylib`. The SDK catches every panic of plugin
//! code and hands it to the host as an error: a panic never unwinds into the
//! host. Settings arrive as the plugin's own JSON block, deserialized into
//! `Settings`; a rejected block is reported with the path of the bad field.
//! A downloader writes through [`PartFile`], so its destination never holds
//! part of a file; [`write_download`] does it all for a reader, and
//! [`write_download_on_thread`] for a reader that may block. With the `harness` feature, [`harness`] loads the built
//! library and calls it, to test a plugin without the host.
//!
//! `docs/plugin-authoring.md` in the repository walks from an empty
//! directory to a plugin `proctor` loads, and states the ABI guarantees.

#![warn(missing_docs)]

mod copying;
mod error;
#[doc(hidden)]
pub mod glue;
#[cfg(feature = "harness")]
pub mod harness;
mod part_file;
mod traits;

pub use copying::{BackgroundCopy, CopyError, Detached, Lost};
pub use error::{Error, Result};
pub use part_file::{write_download, write_download_on_thread, PartFile};
pub use proctor_plugin_api::messages;
pub use proctor_plugin_api::API_VERSION;
pub use traits::{AttachmentProcessor, Collector, Downloader, Progress, ResultSink, Runner};

/// The SDK's own version, recorded in every library it builds.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A file a test process wrote (its output, a results file), as text. A
/// test may print any bytes: what is not UTF-8 is replaced, never a reason
/// to read nothing.
pub fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    std::fs::read(path).map(text)
}

/// Writes a file a plugin makes (a results file, a list for its process
/// to read), its error naming the file. Since 1.13.
pub fn write_file(path: &std::path::Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| Error::msg(format!("cannot write {}: {e}", path.display())))
}

/// Bytes as text, what is not UTF-8 replaced, copied only then.
fn text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// How much of each end of a process's output [`read_output`] reads.
pub const OUTPUT_EDGE: u64 = 4 << 20;

/// A process's output (its `stdout.log`, `stderr.log`), as text, in
/// bounded memory: whole up to twice [`OUTPUT_EDGE`], else its first and
/// its last [`OUTPUT_EDGE`] bytes, with a line between saying how much was
/// left out. What frameworks print about a run is at its start and its
/// end; a test printing a gigabyte is in the middle. The first part ends
/// at its last line break; the last part keeps the end of the line the
/// gap cut, as a line of its own: a framework may print its verdict right
/// after a test's print that had no line break of its own.
pub fn read_output(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len <= 2 * OUTPUT_EDGE {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        return Ok(text(bytes));
    }
    let mut head = vec![0; OUTPUT_EDGE as usize];
    file.read_exact(&mut head)?;
    file.seek(SeekFrom::Start(len - OUTPUT_EDGE))?;
    let mut tail = vec![0; OUTPUT_EDGE as usize];
    file.read_exact(&mut tail)?;
    let head_end = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    // Not cut inside a character: its continuation bytes are left out.
    let tail_start = tail
        .iter()
        .position(|&b| b & 0xC0 != 0x80)
        .unwrap_or(tail.len());
    let left_out = len - head_end as u64 - (tail.len() - tail_start) as u64;
    let mut text = String::from_utf8_lossy(&head[..head_end]).into_owned();
    text.push_str(&format!(
        "[proctor: {left_out} bytes of output left out here; the file has them]\n"
    ));
    text.push_str(&String::from_utf8_lossy(&tail[tail_start..]));
    Ok(text)
}

/// Exports the plugins of this library. List each with its kind, as
/// `export_plugins!(runner MyRunner, downloader MyDownloader)`. Kinds: `runner`, `downloader`, `collector`, `attachment_processor`.
/// Use it once per library, at the crate root.
#[macro_export]
macro_rules! export_plugins {
    ($($kind:ident $plugin:ty),+ $(,)?) => {
        #[doc(hidden)]
        pub struct __ProctorPlugins;

        impl $crate::glue::LibraryDefinition for __ProctorPlugins {
            fn registry() -> &'static $crate::glue::Registry {
                static REGISTRY: ::std::sync::OnceLock<$crate::glue::Registry> =
                    ::std::sync::OnceLock::new();
                REGISTRY.get_or_init(|| {
                    let mut registry = $crate::glue::Registry::new(
                        env!("CARGO_PKG_NAME"),
                        env!("CARGO_PKG_VERSION"),
                    );
                    $( registry.$kind::<$plugin>(); )+
                    registry
                })
            }
        }

        $crate::glue::__export_root_module!($crate::glue::root_module::<__ProctorPlugins>);
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_that_is_not_utf8_is_replaced_not_lost() {
        let dir = std::env::temp_dir().join(format!("proctor-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stdout.log");
        std::fs::write(&path, b"ok \xff\xfe end\n").unwrap();
        assert_eq!(
            super::read_text(&path).unwrap(),
            "ok \u{fffd}\u{fffd} end\n"
        );
        assert!(super::read_text(&dir.join("none")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_output_is_read_as_its_whole_first_and_last_lines() {
        use super::{read_output, OUTPUT_EDGE};
        let dir = std::env::temp_dir().join(format!("proctor-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stdout.log");
        let line = "x".repeat(99) + "\n";
        let middle = line.repeat((3 * OUTPUT_EDGE / 100) as usize);
        let whole = format!("running 1 test\n{middle}test result: FAILED\n");
        std::fs::write(&path, &whole).unwrap();
        let read = read_output(&path).unwrap();
        assert!(read.len() as u64 <= 2 * OUTPUT_EDGE + 100, "{}", read.len());
        assert!(read.starts_with("running 1 test\nxxx"));
        assert!(read.ends_with("x\ntest result: FAILED\n"));
        let (head, tail) = read.split_once("[proctor: ").unwrap();
        let all_whole = |mut lines: std::iter::Skip<std::str::Lines>| lines.all(|l| l.len() == 99);
        assert!(
            all_whole(head.lines().skip(1)),
            "the first part ends at a line's end"
        );
        // The tail's first line is the end of the line the gap cut.
        let mut tail_lines = tail.lines().skip(1);
        let cut = tail_lines.next().unwrap();
        assert!(cut.len() < line.len() && line.ends_with(&format!("{cut}\n")));
        let tail_lines: Vec<&str> = tail_lines.collect();
        let (last, xs) = tail_lines.split_last().unwrap();
        assert!(xs.iter().all(|l| *l == line.trim_end()) && *last == "test result: FAILED");
        let marker = read.lines().find(|l| l.starts_with("[proctor: ")).unwrap();
        let left_out: usize = marker["[proctor: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(left_out + read.len() - marker.len() - 1, whole.len());

        std::fs::write(&path, "short\n").unwrap();
        assert_eq!(read_output(&path).unwrap(), "short\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// GoogleTest prints a test's verdict right after what the test
    /// printed, on the same line when the print had no line break: a
    /// print longer than both parts read keeps the verdict at its end.
    #[test]
    fn a_line_longer_than_both_parts_keeps_its_end() {
        use super::{read_output, OUTPUT_EDGE};
        let dir = std::env::temp_dir().join(format!("proctor-long-line-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stdout.log");
        let mut print = "[ RUN      ] Big.Print\n".to_owned();
        // Two-byte characters, so that the tail begins inside one.
        print.push_str(&"é".repeat(OUTPUT_EDGE as usize + 7));
        print.push_str("[       OK ] Big.Print (15 ms)\n");
        std::fs::write(&path, &print).unwrap();
        let read = read_output(&path).unwrap();
        let lines: Vec<&str> = read.lines().collect();
        assert_eq!(lines[0], "[ RUN      ] Big.Print");
        assert!(lines[1].starts_with("[proctor: "), "{}", lines[1]);
        assert_eq!(lines.len(), 3);
        assert!(lines[2].ends_with("éé[       OK ] Big.Print (15 ms)"));
        assert!(!lines[2].contains('\u{fffd}'), "no character is cut");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_runner_declares_what_it_reads_and_older_manifests_mean_everything() {
        use crate::messages::{RunnerCapabilities, Stream};
        struct StderrOnly;
        impl crate::Runner for StderrOnly {
            const NAME: &'static str = "stderr-only";
            const DESCRIPTION: &'static str = "";
            const LIVE_STREAMS: &'static [Stream] = &[Stream::Stderr];
            const COLLECT_DISCOVERED: bool = false;
            type Settings = serde_json::Value;
            fn new(_: serde_json::Value) -> crate::Result<Self> {
                Ok(Self)
            }
            fn discover(
                &self,
                _: crate::messages::DiscoverRequest,
            ) -> crate::Result<crate::messages::DiscoveryStep> {
                unreachable!()
            }
            fn plan_execution(
                &self,
                _: crate::messages::ExecutionRequest,
            ) -> crate::Result<crate::messages::ExecutionPlan> {
                unreachable!()
            }
            fn collect_results(
                &self,
                _: crate::messages::CollectRequest,
            ) -> crate::Result<Vec<crate::messages::TestResult>> {
                unreachable!()
            }
        }
        let declared: RunnerCapabilities =
            serde_json::from_value(<StderrOnly as crate::Runner>::capabilities()).unwrap();
        assert_eq!(declared.live_streams, [Stream::Stderr]);
        assert!(!declared.collect_discovered);
        // A plugin built before 1.8 says nothing of streams: it reads both;
        // nor, before 1.9, of discovered tests: it is sent them.
        let older: RunnerCapabilities =
            serde_json::from_str(r#"{"execution": ["batch"], "live_events": true}"#).unwrap();
        assert_eq!(older.live_streams, [Stream::Stdout, Stream::Stderr]);
        assert!(older.collect_discovered);
    }
}
