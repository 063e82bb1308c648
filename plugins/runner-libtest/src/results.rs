//! Reading the result of one test process.

use proctor_sdk::messages::*;
use proctor_sdk::Result;

pub fn collect(request: CollectRequest) -> Result<Vec<TestResult>> {
    let [test] = request.tests.as_slice() else {
        return Ok(Vec::new());
    };
    let stdout = std::fs::read_to_string(&request.stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&request.stderr_path).unwrap_or_default();
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
        let message = panic_message(&stderr)
            .unwrap_or_else(|| format!("exited with {:?}", request.exit.code));
        (Outcome::Failed, Some(message))
    };
    Ok(vec![TestResult {
        id: test.id.clone(),
        outcome,
        duration_ms: None,
        message,
    }])
}

/// libtest prints `running 0 tests` when `--exact` matched nothing.
fn ran_no_test(stdout: &str) -> bool {
    stdout.lines().any(|line| line.trim() == "running 0 tests")
}

/// The panic message: from `thread '..' panicked at ..:` up to the backtrace note.
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
    let mut message = header.to_owned();
    for line in body {
        message.push('\n');
        message.push_str(line);
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_spans_header_and_body() {
        let stderr = "noise\nthread 'tests::fails' panicked at src/lib.rs:9:9:\nassertion `left == right` failed\n  left: 1\n right: 2\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "thread 'tests::fails' panicked at src/lib.rs:9:9:\nassertion `left == right` failed\n  left: 1\n right: 2"
        );
        assert_eq!(panic_message("no panic here"), None);
    }
}
