//! `results.trx`: every attempt of every test, for Azure DevOps and other
//! readers of Visual Studio's format.

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use proctor_formats::trx::{self, TrxResult, TrxRun};

use super::RunSummary;

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn write_trx(summary: &RunSummary, path: &std::path::Path) -> std::io::Result<()> {
    let started: DateTime<Utc> = summary.started_at.parse().unwrap_or_else(|_| Utc::now());
    let finished = started + Span::milliseconds(summary.duration_ms as i64);
    let storage = |source: &str| {
        summary
            .sources
            .iter()
            .find(|s| s.name == source)
            .map(|s| s.path.clone())
            .unwrap_or_default()
    };
    let mut results = Vec::new();
    for test in &summary.tests {
        let base = TrxResult {
            test_key: format!("{}\u{1f}{}", test.source, test.id),
            name: test.id.clone(),
            classname: test.source.clone(),
            storage: storage(&test.source),
            attempt: 1,
            outcome: test.outcome,
            duration_ms: 0,
            start_time: timestamp(started),
            end_time: timestamp(started),
            message: test.message.clone(),
            stack_trace: None,
            stdout: None,
        };
        if test.attempts.is_empty() {
            results.push(base);
            continue;
        }
        for attempt in &test.attempts {
            let start: DateTime<Utc> = attempt.started_at.parse().unwrap_or(started);
            results.push(TrxResult {
                attempt: attempt.attempt,
                outcome: attempt.outcome,
                duration_ms: attempt.duration_ms,
                start_time: timestamp(start),
                end_time: timestamp(start + Span::milliseconds(attempt.duration_ms as i64)),
                message: attempt.message.clone(),
                stack_trace: attempt.stack_trace.clone(),
                ..base.clone()
            });
        }
    }
    let user = std::env::var("USER").unwrap_or_default();
    let computer = hostname();
    let run = TrxRun {
        name: &format!("proctor {}", summary.proctor_version),
        user: &user,
        computer: &computer,
        start_time: &timestamp(started),
        finish_time: &timestamp(finished),
        results: &results,
        errors: &summary.errors,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    trx::write(&run, file)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}
