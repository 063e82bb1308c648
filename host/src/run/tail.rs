//! The end of what a process or a test printed: the last lines of a
//! process's logs, for a failure that came without a message of its own (a
//! process that failed while its tests passed), and the bounded [`Tail`] of
//! a test's output the host holds in memory, however much it printed.

use std::path::Path;

use proctor_plugin_api::messages::Stream;

use crate::results::last_lines;

/// How much of the end of a file is read.
const WINDOW: u64 = 32 * 1024;
/// How many lines of each stream are shown.
const LINES: usize = 20;

/// The end of a text that may grow without bound: at most about twice
/// `limit` bytes are held while it grows, `limit` once it is taken.
#[derive(Debug)]
pub struct Tail {
    text: String,
    limit: usize,
    /// Bytes left out from the front.
    dropped: u64,
}

impl Tail {
    pub fn new(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
            dropped: 0,
        }
    }

    /// A whole text, of which only the end is kept.
    pub fn of(text: String, limit: usize) -> Self {
        let mut tail = Self {
            text,
            limit,
            dropped: 0,
        };
        tail.shorten();
        tail
    }

    /// Appends a line; the front goes once the text is twice the limit, so
    /// that each byte is moved a bounded number of times.
    pub fn push_line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        if self.text.len() > 2 * self.limit {
            self.shorten();
        }
    }

    /// The kept end, after a line saying how much went before it.
    pub fn into_string(mut self) -> String {
        self.shorten();
        match self.dropped {
            0 => self.text,
            dropped => format!(
                "[proctor: {dropped} bytes before this are not held in memory \
                 (output_tail_bytes); the process's log has them]\n{}",
                self.text
            ),
        }
    }

    /// Leaves the last `limit` bytes, from the start of a line when one
    /// starts within them, else from a character's.
    fn shorten(&mut self) {
        if self.text.len() <= self.limit {
            return;
        }
        let mut start = self.text.len() - self.limit;
        while !self.text.is_char_boundary(start) {
            start += 1;
        }
        if let Some(newline) = self.text[start..].find('\n') {
            if newline + 1 < self.text.len() - start {
                start += newline + 1;
            }
        }
        self.dropped += start as u64;
        self.text.drain(..start);
    }
}

/// The last lines of the process's `stderr.log` and `stdout.log` in `dir`,
/// without the lines `protocol` names (the runner's own events), each
/// stream under a heading; `None` when the process printed nothing else.
pub fn describe(dir: &Path, protocol: impl Fn(&[String], Stream) -> Vec<usize>) -> Option<String> {
    let mut parts = Vec::new();
    for (stream, file) in [
        (Stream::Stderr, "stderr.log"),
        (Stream::Stdout, "stdout.log"),
    ] {
        let lines = last_lines(&dir.join(file), WINDOW);
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
    fn a_tail_keeps_the_last_whole_lines_within_its_limit_and_says_what_went() {
        let mut tail = Tail::new(20);
        for n in 0..100 {
            tail.push_line(&format!("line {n:02}"));
            assert!(tail.text.len() <= 2 * 20 + "line 00\n".len());
        }
        let kept = tail.into_string();
        assert!(
            kept.ends_with(
                "bytes before this are not held in memory (output_tail_bytes); \
                            the process's log has them]\nline 98\nline 99\n"
            ),
            "{kept}"
        );
        let dropped: u64 = kept["[proctor: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(dropped, 98 * "line 00\n".len() as u64);
    }

    #[test]
    fn a_tail_of_one_long_line_keeps_whole_characters() {
        let kept = Tail::of("é".repeat(100), 11).into_string();
        assert!(kept.ends_with(&format!("]\n{}", "é".repeat(5))), "{kept}");
        assert_eq!(Tail::of("short".into(), 11).into_string(), "short");
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
