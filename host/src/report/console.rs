//! What a person watching the run sees: a progress bar on a terminal, plain
//! lines otherwise, and a closing summary. Everything goes to stderr.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use proctor_plugin_api::messages::Outcome;

use super::{RunSummary, TestRecord};

pub struct Console {
    bar: Option<ProgressBar>,
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Console {
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise:.dim} [{bar:40.cyan/blue}] {pos}/{len} {msg}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self { bar }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    pub fn add_tests(&self, count: usize) {
        if let Some(bar) = &self.bar {
            bar.inc_length(count as u64);
        }
    }

    pub fn note(&self, text: &str) {
        self.line(text);
    }

    pub fn finished(&self, test: &TestRecord) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(test.id.clone());
            // On a terminal only what needs attention scrolls by.
            if matches!(test.outcome, Outcome::Passed | Outcome::Skipped) {
                return;
            }
        }
        let seconds = test.duration_ms as f64 / 1000.0;
        self.line(&format!(
            "{:>9} [{seconds:>8.3}s] {} {}",
            label(test.outcome),
            test.source,
            test.id
        ));
    }

    pub fn summary(&self, summary: &RunSummary) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let mut out = std::io::stderr().lock();
        let counts = &summary.counts;
        let seconds = summary.duration_ms as f64 / 1000.0;
        let _ = writeln!(out, "------------");
        let _ = writeln!(
            out,
            "  Summary [{seconds:>8.3}s] {} tests: {} passed, {} failed, {} timed out, {} crashed, {} skipped",
            counts.total, counts.passed, counts.failed, counts.timed_out, counts.crashed, counts.skipped
        );
        for test in summary
            .tests
            .iter()
            .filter(|t| !matches!(t.outcome, Outcome::Passed | Outcome::Skipped))
        {
            let _ = writeln!(
                out,
                "{:>9} {} {}",
                label(test.outcome),
                test.source,
                test.id
            );
        }
        for error in &summary.errors {
            let _ = writeln!(out, "    ERROR {error}");
        }
    }
}

fn label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "PASS",
        Outcome::Failed => "FAIL",
        Outcome::Skipped => "SKIP",
        Outcome::TimedOut => "TIMEOUT",
        Outcome::Crashed => "CRASH",
        Outcome::Blocked => "BLOCKED",
    }
}
