//! What writing each report costs a test, from a real run's summary.
//!
//!     cargo bench -p proctor --bench reports [SUMMARY_JSON]
//!
//! Reads a `summary.json` (by default the one `benchmarks/many_tests.py
//! PROCTOR 10000` leaves), shares each process's texts among its tests as
//! the engine does, and writes `summary.json` (in layouts 1 and 2), JUnit
//! and TRX from it into memory, 15 times each. Prints each report's median
//! time and its bytes, a test. The reports are written on threads of their
//! own at a run's end, after its last test: the slowest of them is time
//! between the last test and the exit.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proctor::report::{write_junit, write_trx};
use proctor::results::RunSummary;

const ROUNDS: usize = 15;

/// Writes one report into the buffer given.
type WriteInto<'a> = &'a dyn Fn(&mut Vec<u8>);

fn main() {
    // cargo bench passes `--bench` along.
    let named = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
    let path = named.map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/bench-many/10000/results/summary.json")
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (run benchmarks/many_tests.py first, or name a summary)",
            path.display()
        )
    });
    let mut summary = proctor::results::read_summary(text.as_bytes()).expect("a summary");
    share_process_texts(&mut summary);
    let tests = summary.tests.len();
    println!("{tests} tests, from {}", path.display());
    println!("| report | median | a test | bytes a test |");
    println!("|---|---|---|---|");
    let reports: [(&str, WriteInto); 4] = [
        ("summary.json", &|out| {
            proctor::report::outline::to_writer_outlined(out, &summary, 2).unwrap()
        }),
        ("summary.json, layout 2", &|out| {
            let layout2 = proctor::results::layout2::Summary::of(&summary);
            proctor::report::outline::to_writer_outlined(out, &layout2, 2).unwrap()
        }),
        ("junit.xml", &|out| write_junit(&summary, out).unwrap()),
        ("results.trx", &|out| write_trx(&summary, out).unwrap()),
    ];
    for (name, write) in reports {
        let mut times = Vec::with_capacity(ROUNDS);
        let mut bytes = 0;
        for _ in 0..ROUNDS {
            let mut out = Vec::new();
            let start = Instant::now();
            write(&mut out);
            times.push(start.elapsed());
            bytes = out.len();
        }
        times.sort();
        let median = times[ROUNDS / 2];
        println!(
            "| {name} | {:.1} ms | {:.2} µs | {} |",
            median.as_secs_f64() * 1e3,
            per_test(median, tests),
            bytes / tests.max(1)
        );
    }
}

fn per_test(time: Duration, tests: usize) -> f64 {
    time.as_secs_f64() * 1e6 / tests.max(1) as f64
}

/// One `Arc` for each distinct start and log path, as a batch's tests
/// share their process's: read back from JSON, every test has its own.
fn share_process_texts(summary: &mut RunSummary) {
    let mut texts: HashSet<Arc<str>> = HashSet::new();
    let mut shared = |text: &mut Arc<str>| match texts.get(text) {
        Some(known) => *text = known.clone(),
        None => {
            texts.insert(text.clone());
        }
    };
    for attempt in summary.tests.iter_mut().flat_map(|t| t.attempts.iter_mut()) {
        shared(&mut attempt.started_at);
        for log in [&mut attempt.stdout, &mut attempt.stderr]
            .into_iter()
            .flatten()
        {
            shared(log);
        }
    }
}
