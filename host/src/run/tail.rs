//! The last lines a process printed, for a failure that came without a
//! message of its own (a process that failed while its tests passed).

use std::path::Path;

use proctor_plugin_api::messages::Stream;

use crate::results::read_end;

/// How much of the end of a file is read.
const WINDOW: u64 = 32 * 1024;
/// How many lines of each stream are shown.
const LINES: usize = 20;

/// The last lines of the process's `stderr.log` and `stdout.log` in `dir`,
/// without the lines `protocol` names (the runner's own events), each
/// stream under a heading; `None` when the process printed nothing else.
pub fn describe(dir: &Path, protocol: impl Fn(&[String], Stream) -> Vec<usize>) -> Option<String> {
    let mut parts = Vec::new();
    for (stream, file) in [
        (Stream::Stderr, "stderr.log"),
        (Stream::Stdout, "stdout.log"),
    ] {
        let lines = last_lines(&dir.join(file));
        let skip = protocol(&lines, stream);
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(index, line)| !skip.contains(index) && !line.trim().is_empty())
            .map(|(_, line)| line.as_str())
            .collect();
        if kept.is_empty() {
            continue;
        }
        let shown = &kept[kept.len().saturating_sub(LINES)..];
        let name = match stream {
            Stream::Stderr => "stderr",
            Stream::Stdout => "stdout",
        };
        parts.push(format!(
            "{name}, last {} lines:\n{}",
            shown.len(),
            shown.join("\n")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// The complete lines in the last [`WINDOW`] bytes of a file.
fn last_lines(path: &Path) -> Vec<String> {
    let Ok((text, cut)) = read_end(path, WINDOW) else {
        return Vec::new();
    };
    // A window that starts mid-file starts mid-line: that line is left out.
    let text = match cut {
        true => text.split_once('\n').map_or("", |(_, rest)| rest),
        false => &text,
    };
    text.lines().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_of_each_stream_without_the_runners_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut stderr = String::from("##event started\n");
        for n in 0..30 {
            stderr.push_str(&format!("line {n}\n"));
        }
        stderr.push_str("##event finished\n");
        std::fs::write(dir.path().join("stderr.log"), stderr).unwrap();
        std::fs::write(dir.path().join("stdout.log"), "\n\n").unwrap();
        let described = describe(dir.path(), |lines, _| {
            let events = lines.iter().enumerate();
            events
                .filter(|(_, l)| l.starts_with("##"))
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap();
        assert!(
            described.starts_with("stderr, last 20 lines:\nline 10\n"),
            "{described}"
        );
        assert!(described.ends_with("line 29"), "{described}");
        assert!(!described.contains("stdout"), "{described}");
    }

    #[test]
    fn a_long_file_is_read_from_its_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut stdout = "x".repeat(3 * WINDOW as usize);
        stdout.push_str("\nthe end\n");
        std::fs::write(dir.path().join("stdout.log"), stdout).unwrap();
        let described = describe(dir.path(), |_, _| Vec::new()).unwrap();
        assert_eq!(described, "stdout, last 1 lines:\nthe end");
        assert_eq!(describe(&dir.path().join("none"), |_, _| Vec::new()), None);
    }
}
