//! Reading the result of one test process.

use proctor_sdk::messages::*;
use proctor_sdk::Result;

pub fn collect(request: CollectRequest) -> Result<Vec<TestResult>> {
    let [test] = request.tests.as_slice() else {
        return Ok(Vec::new());
    };
    let read = |path| proctor_sdk::read_output(path).unwrap_or_default();
    let (stdout, stderr) = (read(&request.stdout_path), read(&request.stderr_path));
    let (outcome, message) = if request.timed_out {
        (Outcome::TimedOut, None)
    } else if let Some(signal) = request.exit.signal {
        (Outcome::Crashed, Some(format!("killed by signal {signal}")))
    } else if ran_no_test(&stdout) {
        (
            Outcome::Failed,
            Some(format!("`{}` was not found in its test binary", test.name)),
        )
    } else if request.exit.success() {
        (Outcome::Passed, None)
    } else {
        let message =
            panic_message(&stderr).unwrap_or_else(|| format!("exited with {}", request.exit));
        (Outcome::Failed, Some(message))
    };
    Ok(vec![TestResult {
        message,
        ..TestResult::new(test.id.clone(), outcome)
    }])
}

/// libtest prints `running 0 tests` when `--exact` matched nothing.
fn ran_no_test(stdout: &str) -> bool {
    stdout.lines().any(|line| line.trim() == "running 0 tests")
}

/// The panic message, then where it happened: libtest prints
/// `thread '..' panicked at FILE:LINE:COL:`, the message, then a backtrace note.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr
        .lines()
        .skip_while(|line| !(line.starts_with("thread '") && line.contains("panicked")));
    let header = lines.next()?;
    let body: Vec<&str> = lines
        .take_while(|line| {
            !line.starts_with("note: run with `RUST_BACKTRACE")
                && !line.starts_with("stack backtrace:")
        })
        .collect();
    let location = header
        .rsplit_once(" panicked at ")
        .map_or(header, |(_, at)| at.trim_end_matches(':'));
    if body.is_empty() {
        return Some(header.to_owned());
    }
    Some(format!("{}\nat {location}", body.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_spans_header_and_body() {
        let stderr = "noise\nthread 'tests::fails' panicked at src/lib.rs:9:9:\nassertion `left == right` failed\n  left: 1\n right: 2\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "assertion `left == right` failed\n  left: 1\n right: 2\nat src/lib.rs:9:9"
        );
        assert_eq!(panic_message("no panic here"), None);
    }
}
