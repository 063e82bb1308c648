//! The closing summary a person reads when the run ends: the counts, what
//! needs attention, and where the run's time and attachments went. Made as
//! text, so that the console writes it whole and the tests read it as it is.

use std::fmt::Write;
use std::path::Path;

use proctor_formats::text::{counted, for_terminal};
use proctor_plugin_api::messages::Outcome;

use crate::results::{RunSummary, TestRecord};

/// Which tests' messages and output the closing summary shows, read from
/// the results under `root`.
#[derive(Debug, Clone, Copy)]
pub struct Details<'a> {
    pub root: &'a Path,
    pub failures: bool,
    pub successes: bool,
}

/// The closing summary of a run; with `details`, why each failing test
/// failed, under its line, and what passing tests printed.
pub fn render(summary: &RunSummary, details: Option<Details>) -> String {
    let mut out = String::new();
    counts(summary, &mut out);
    if let Some(details) = details.filter(|d| d.successes) {
        successes(summary, details.root, &mut out);
    }
    attention(
        summary,
        details.filter(|d| d.failures).map(|d| d.root),
        &mut out,
    );
    sources(summary, &mut out);
    for attachment in &summary.run.attachments {
        line(
            &mut out,
            "ATTACH",
            format_args!(
                "{} ({}, from {})",
                attachment.path.display(),
                attachment.description,
                attachment.collector
            ),
        );
    }
    timeline(summary, &mut out);
    for error in &summary.run.errors {
        line(&mut out, "ERROR", for_terminal(error, true));
    }
    out
}

/// The label a test's final result is shown with.
pub(super) fn label(test: &TestRecord) -> &'static str {
    if test.flaky {
        return "FLAKY";
    }
    if test.quarantined && test.outcome.is_failure() {
        return "QUARANT";
    }
    match test.outcome {
        Outcome::Passed => "PASS",
        Outcome::Failed => "FAIL",
        Outcome::Skipped => "SKIP",
        Outcome::TimedOut => "TIMEOUT",
        Outcome::Crashed => "CRASH",
        Outcome::Blocked => "BLOCKED",
        Outcome::NotRun => "NOT RUN",
    }
}

/// A line of text after its label, the labels right-aligned in one
/// column, as every line of the console is; the text's further lines are
/// indented past the labels.
pub fn labelled(label: &str, text: impl std::fmt::Display) -> String {
    use std::fmt::Write;
    // Written into one string: a run prints a line a test.
    let label_width = TEXT_COLUMN - 1;
    let mut line = format!("{label:>label_width$} ");
    let start = line.len();
    let _ = write!(line, "{text}");
    if line[start..].contains('\n') {
        let text = line.split_off(start);
        line.push_str(&text.replace('\n', &format!("\n{:TEXT_COLUMN$}", "")));
    }
    line
}

/// `ms` as seconds to the millisecond, right-aligned in 8 columns: as
/// `{:>8.3}` writes `ms / 1000` as a float, without the float's cost.
pub fn seconds(ms: u64) -> impl std::fmt::Display {
    struct Seconds(u64);
    impl std::fmt::Display for Seconds {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let (whole, millis) = (self.0 / 1000, self.0 % 1000);
            write!(f, "{whole:>4}.{millis:03}")
        }
    }
    Seconds(ms)
}

/// Where the text after the labels starts.
const TEXT_COLUMN: usize = 10;

fn line(out: &mut String, label: &str, text: impl std::fmt::Display) {
    out.push_str(&labelled(label, text));
    out.push('\n');
}

/// How many lines of each output a failure shows.
const OUTPUT_LINES: usize = 20;
/// How much of the end of an output file is read for them.
const OUTPUT_WINDOW: u64 = 16 * 1024;

/// What a test said, indented under the labels' column, each line ending
/// with a line break: its last attempt's message (why it failed), then the
/// last lines of what it printed (its own output, or its process's when it
/// ran alone), read from the results under `root`. Control characters are
/// escaped.
pub(super) fn test_details(test: &TestRecord, root: &Path) -> String {
    let mut out = String::new();
    let Some(attempt) = test.attempts.last() else {
        return out;
    };
    let indent = |out: &mut String, text: &str| {
        for text in text.lines() {
            let _ = writeln!(out, "{:TEXT_COLUMN$}{}", "", for_terminal(text, false));
        }
    };
    if let Some(message) = &attempt.message {
        indent(&mut out, message);
    }
    let alone = |path: &&str| path.starts_with(&attempt.dir);
    let outputs: Vec<(&str, &str)> = match &attempt.output {
        Some(own) => vec![("output", own)],
        None => [("stderr", &attempt.stderr), ("stdout", &attempt.stdout)]
            .into_iter()
            .filter_map(|(name, path)| path.as_deref().filter(alone).map(|path| (name, path)))
            .collect(),
    };
    for (name, path) in outputs {
        let lines = last_lines(&root.join(path));
        if lines.is_empty() {
            continue;
        }
        indent(
            &mut out,
            &format!("--- {name}, last {} lines ({path}) ---", lines.len()),
        );
        indent(&mut out, &lines.join("\n"));
    }
    out
}

/// The last [`OUTPUT_LINES`] lines of a file that are not blank.
fn last_lines(path: &Path) -> Vec<String> {
    let mut lines = crate::results::last_lines(path, OUTPUT_WINDOW);
    lines.retain(|line| !line.trim().is_empty());
    lines.split_off(lines.len().saturating_sub(OUTPUT_LINES))
}

fn seconds_of(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

fn counts(summary: &RunSummary, out: &mut String) {
    let counts = &summary.run.counts;
    let seconds = summary.run.duration_ms as f64 / 1000.0;
    let _ = writeln!(out, "------------");
    let _ = writeln!(
        out,
        "  Summary [{seconds:>8.3}s] {}: {} passed ({} flaky), {} failed, {} timed out, \
         {} crashed, {} skipped, {} quarantined",
        counted(counts.total, "test"),
        counts.passed,
        counts.flaky,
        counts.failed,
        counts.timed_out,
        counts.crashed,
        counts.skipped,
        counts.quarantined
    );
    if counts.blocked > 0 {
        let _ = writeln!(
            out,
            "           {} blocked: not run for an infrastructure error (below)",
            counts.blocked
        );
    }
    if let Some(signal) = summary.run.stopped_by {
        let _ = writeln!(
            out,
            "           stopped by {signal}: {} not run (listed in the reports)",
            counts.not_run
        );
    }
    let subtests = &counts.subtests;
    if subtests.total > 0 {
        let _ = writeln!(
            out,
            "           and {} subtests: {} passed, {} failed, {} skipped",
            subtests.total, subtests.passed, subtests.failed, subtests.skipped
        );
    }
}

/// Each passing test's line with what it printed.
fn successes(summary: &RunSummary, root: &Path, out: &mut String) {
    for test in (summary.tests.iter()).filter(|t| t.outcome == Outcome::Passed && !t.flaky) {
        test_line(out, test, Some(root));
    }
}

/// A test's line, with what it said under it when read from `details_from`.
fn test_line(out: &mut String, test: &TestRecord, details_from: Option<&Path>) {
    let id = for_terminal(&test.id, false);
    line(out, label(test), format_args!("{} {id}", test.source));
    if let Some(root) = details_from {
        out.push_str(&test_details(test, root));
    }
}

/// The tests that did not simply pass or skip, the warnings, and why
/// retries were withheld.
fn attention(summary: &RunSummary, details_from: Option<&Path>, out: &mut String) {
    let settled = |t: &&TestRecord| {
        !t.flaky
            && matches!(
                t.outcome,
                Outcome::Passed | Outcome::Skipped | Outcome::NotRun
            )
    };
    for test in summary.tests.iter().filter(|t| !settled(t)) {
        test_line(
            out,
            test,
            details_from.filter(|_| test.outcome.is_failure()),
        );
    }
    for warning in &summary.run.warnings {
        line(out, "WARN", for_terminal(warning, true));
    }
    if let Some(reason) = &summary.run.retries.withheld {
        line(out, "NOTE", reason);
    }
}

/// Each source's tally, when there are several.
fn sources(summary: &RunSummary, out: &mut String) {
    if summary.run.sources.len() < 2 {
        return;
    }
    for source in &summary.run.sources {
        let tests = summary.tests.iter().filter(|t| *t.source == source.name);
        let failed = tests.clone().filter(|t| t.fails_the_run()).count();
        let passed = (tests.clone())
            .filter(|t| {
                !t.fails_the_run() && !matches!(t.outcome, Outcome::Blocked | Outcome::NotRun)
            })
            .count();
        let unrun = tests.count() - failed - passed;
        let unrun = match unrun {
            0 => String::new(),
            n => format!(", {n} blocked or not run"),
        };
        line(
            out,
            "SOURCE",
            format_args!(
                "{}: {passed} of {} passed or skipped, {failed} failed{unrun}",
                source.name, source.tests
            ),
        );
    }
}

/// The merges, beside when the sources ended: incremental merging shows as
/// merges that ran before the last source was done.
fn timeline(summary: &RunSummary, out: &mut String) {
    let timeline = &summary.run.timeline;
    if timeline.merges.is_empty() {
        return;
    }
    for source in &timeline.sources {
        let ended = source.finished_ms.map_or("-".into(), seconds_of);
        let started = seconds_of(source.started_ms);
        let text = format_args!("source {} {started} to {ended}", source.source);
        line(out, "TIME", text);
    }
    for merge in &timeline.merges {
        let pass = match merge.final_pass {
            true => "final pass",
            false => "merge",
        };
        let failed = (merge.error.as_ref())
            .map(|e| format!(": failed: {e}"))
            .unwrap_or_default();
        let text = format_args!(
            "{} {pass} of {} {} to {}{failed}",
            merge.processor,
            merge.inputs,
            seconds_of(merge.started_ms),
            seconds_of(merge.finished_ms),
        );
        line(out, "TIME", text);
    }
}

#[cfg(test)]
mod tests {
    use proctor_plugin_api::messages::Outcome::*;

    use super::*;
    use crate::process::Signal;
    use crate::results::fixture::{summary, test};
    use crate::results::{AttachmentRecord, MergeRecord, SourceSpan};

    #[test]
    fn seconds_read_as_the_float_would() {
        for ms in [
            0, 1, 999, 1_000, 1_234, 59_999, 123_456, 9_999_999, 12_345_678,
        ] {
            let float = format!("{:>8.3}", ms as f64 / 1000.0);
            assert_eq!(seconds(ms).to_string(), float);
        }
    }

    #[test]
    fn a_label_stands_right_aligned_and_further_lines_under_the_text() {
        assert_eq!(labelled("PASS", "a"), "     PASS a");
        assert_eq!(labelled("FAIL", "a\nb"), "     FAIL a\n          b");
    }

    #[test]
    fn a_passing_run_is_one_line_of_counts() {
        let run = summary(vec![test("unit", "adds", &[Passed])], None);
        insta::assert_snapshot!(render(&run, None));
    }

    #[test]
    fn what_needs_attention_is_listed_by_source_with_the_warnings_and_errors() {
        let mut quarantined = test("unit", "sometimes_slow", &[TimedOut]);
        quarantined.quarantined = true;
        let mut run = summary(
            vec![
                test("unit", "adds", &[Passed]),
                test("unit", "parses", &[Failed, Passed]),
                test("unit", "divides", &[Failed, Failed]),
                quarantined,
                test("ui", "renders\x1b[31m", &[Crashed]),
                test("ui", "scrolls", &[Skipped]),
            ],
            None,
        );
        run.run.warnings = vec!["source `ui`: the process 4001 left 1 process running".into()];
        run.run.errors = vec!["source `docs`: discovery failed: no such file".into()];
        run.run.retries.withheld = Some("retries withheld: 3 of 4 tests failed".into());
        insta::assert_snapshot!(render(&run, None));
    }

    #[test]
    fn a_stopped_run_counts_what_it_did_not_run() {
        let never_started = TestRecord::not_run(
            "unit",
            "later",
            "later",
            NotRun,
            "not run: the run was stopped by SIGINT before it started".into(),
        );
        let run = summary(
            vec![test("unit", "adds", &[Passed]), never_started],
            Some(Signal::Interrupt),
        );
        insta::assert_snapshot!(render(&run, None));
    }

    #[test]
    fn merges_are_shown_beside_when_the_sources_ran() {
        let mut run = summary(vec![test("unit", "adds", &[Passed])], None);
        run.run.attachments = vec![AttachmentRecord {
            collector: "coverage".into(),
            kind: "lcov".into(),
            path: "attachments/lcov-merge/merged.info".into(),
            owner: proctor_plugin_api::messages::Owner::Run,
            description: "merged coverage".into(),
        }];
        run.run.timeline.sources = vec![SourceSpan {
            source: "unit".into(),
            started_ms: 10,
            finished_ms: Some(1200),
        }];
        run.run.timeline.merges = vec![MergeRecord {
            processor: "lcov-merge".into(),
            final_pass: true,
            inputs: 2,
            outputs: 1,
            started_ms: 1210,
            finished_ms: 1300,
            error: None,
            abandoned: false,
        }];
        insta::assert_snapshot!(render(&run, None));
    }
}
