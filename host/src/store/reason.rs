//! A failure's reason, normalised so that the same failure reads the same
//! in every run: what varies from run to run (numbers, addresses, hex,
//! paths, temporary names, UUIDs) is masked. Failures cluster by it.

use std::sync::OnceLock;

use regex::Regex;

/// The most of a message a reason keeps: its first line, cut here.
const MAX_CHARS: usize = 300;

/// `message`'s first line that says something, with what varies masked.
pub fn normalise(message: &str) -> String {
    static MASKS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let masks = MASKS.get_or_init(|| {
        [
            // Before numbers, which they hold.
            (
                r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
                "<uuid>",
            ),
            (r"0[xX][0-9a-fA-F]+", "<hex>"),
            (r"(?:[A-Za-z]:)?(?:[/\\][\w.@+~-]+){2,}[/\\]?", "<path>"),
            (r"\b(?:tmp|temp)[\w.-]*", "<temp>"),
            (r"\b[0-9a-fA-F]{12,}\b", "<hex>"),
            (r"\d+(?:\.\d+)?", "<n>"),
        ]
        .into_iter()
        .map(|(pattern, mask)| (Regex::new(pattern).expect("the pattern is valid"), mask))
        .collect()
    });
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let line: String = line.chars().take(MAX_CHARS).collect();
    // A URI's credentials and signatures are secrets, as in every message
    // proctor writes.
    let line = crate::redact::Redactor::default().redacted(&line);
    masks.iter().fold(line, |text, (pattern, mask)| {
        pattern.replace_all(&text, *mask).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_varies_between_runs_is_masked_and_the_rest_kept() {
        let cases = [
            (
                "assertion `left == right` failed\n  left: 3\n right: 4",
                "assertion `left == right` failed",
            ),
            (
                "segfault at 0x7ffd1234 in /tmp/.tmpAbC123/suite/bin after 12.5s",
                "segfault at <hex> in <path> after <n>s",
            ),
            (
                "timed out waiting for /var/run/app.sock (pid 4242)",
                "timed out waiting for <path> (pid <n>)",
            ),
            (
                "run 3f2b8c1e-9a0d-4e6f-8b7a-1c2d3e4f5a6b failed",
                "run <uuid> failed",
            ),
            ("wrote tmpk2j3h4 then failed", "wrote <temp> then failed"),
            (
                "\n\n  connection reset by peer  \n",
                "connection reset by peer",
            ),
        ];
        for (message, reason) in cases {
            assert_eq!(normalise(message), reason, "{message:?}");
        }
    }

    #[test]
    fn a_uris_secrets_are_not_kept() {
        let reason = normalise(
            "GET https://ci:hunter22@cache.example/blob?X-Amz-Signature=5eCr3t&part=1 failed",
        );
        assert!(
            !reason.contains("hunter22") && !reason.contains("5eCr3t"),
            "{reason}"
        );
        assert!(reason.contains("X-Amz-Signature=REDACTED"), "{reason}");
    }

    #[test]
    fn the_same_failure_in_two_runs_has_one_reason() {
        let first = normalise("KeyError: 'job-1733' at /home/ci/work/41/src/app.py:120");
        let second = normalise("KeyError: 'job-1901' at /home/ci/work/87/src/app.py:121");
        assert_eq!(first, second);
    }
}
