//! Culprit ranges against seeded breaking commits, beside `git bisect run`.
//!
//!     cargo bench -p proctor --bench culprits [CASES]
//!
//! Each case is a history of 60 to 150 commits of one test that fails at
//! a flake rate until a seeded commit breaks it, then always. The history
//! has a run at every commit, or at about one commit in three; each run
//! makes one attempt, or retries a failure once (Helix's default). The
//! changepoint analysis names a range, or says it found no change; a
//! range is right when it holds the breaking commit (the share of ranges
//! that are one commit, and their mean width, are of the ranges named). `git bisect run` on the same cases tests one
//! commit at a time, once each, between the first commit (good) and the
//! last (bad). A test flaky throughout, with no break, should name no
//! range: how often one is named is the false culprit rate. Then `proctor
//! bisect`'s search itself on the same kind of breaks, beside `git bisect
//! run`.

use proctor::bisect::{conclude, search, Ending, Said, Tried};
use proctor::store::changepoint::{segment, Tally};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const FLAKE_RATES: [f64; 7] = [0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2];

fn main() {
    let cases: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let mut rng = StdRng::seed_from_u64(20);
    println!("{cases} cases a row; ranges hold the culprit at the analysis's confidence");
    println!(
        "| flake rate | runs at | attempts | range named | range holds the culprit | one commit | mean range | false culprits | git bisect right |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut named, mut held) = (0.0, 0.0);
    let (mut every_commit_low_flake, mut single) = (0.0, 0.0);
    for attempts in [1, 2] {
        for every in [1, 3] {
            for flake in FLAKE_RATES {
                let row = measure(&mut rng, cases, flake, every, attempts);
                named += row.named;
                held += row.named * row.held;
                if every == 1 && flake < 0.1 {
                    every_commit_low_flake += row.named;
                    single += row.named * row.single;
                }
                println!(
                    "| {:.0}% | {} | {attempts} | {:.1}% | {:.1}% | {:.1}% | {:.2} | {:.1}% | {} |",
                    flake * 100.0,
                    if every == 1 {
                        "every commit".to_owned()
                    } else {
                        format!("1 in {every}")
                    },
                    row.named * 100.0,
                    row.held * 100.0,
                    row.single * 100.0,
                    row.mean_range,
                    row.false_culprits * 100.0,
                    match row.bisect {
                        Some(right) => format!("{:.1}%", right * 100.0),
                        None => "-".to_owned(),
                    },
                );
            }
        }
    }
    println!(
        "\nOf all ranges named, {:.1}% hold the culprit; with a run at every commit and \
         less than 10% flake, {:.1}% are one commit.",
        held / named * 100.0,
        single / every_commit_low_flake * 100.0
    );
    bisecting(&mut rng, cases);
}

/// `proctor bisect`'s search (3 runs a visit, 60 at most) against `git
/// bisect run` (one run a commit), on the same breaks: each test run
/// makes one attempt.
fn bisecting(rng: &mut StdRng, cases: usize) {
    println!("\n| flake rate | proctor bisect: one commit, right | its answer holds the culprit | mean runs | flaky, no break: blamed | git bisect right | git bisect runs |");
    println!("|---|---|---|---|---|---|---|");
    for flake in FLAKE_RATES {
        let (mut alone, mut held, mut runs_made, mut git_right, mut git_runs) = (0, 0, 0, 0, 0);
        let mut blamed = 0;
        for _ in 0..cases {
            let commits = rng.random_range(60..=150);
            let broken_at = rng.random_range(10..commits - 10);
            let mut tried = vec![Tried::default(); commits];
            let visit = |index: usize, runs: u32, _: &Tried| -> Vec<Said> {
                (0..runs)
                    .map(|_| {
                        let fails = index >= broken_at || rng.random::<f64>() < flake;
                        Said::Attempts {
                            passes: u32::from(!fails),
                            failures: u32::from(fails),
                        }
                    })
                    .collect()
            };
            let (untestable, runs) = search(&mut tried, 3, 60, visit, |_| {}, || false);
            let (ending, culprits, _) = conclude(&tried, &untestable);
            // The same test, flaky and never broken.
            let mut flaky_only = vec![Tried::default(); commits];
            let visit = |_: usize, runs: u32, _: &Tried| -> Vec<Said> {
                (0..runs)
                    .map(|_| {
                        let fails = rng.random::<f64>() < flake;
                        Said::Attempts {
                            passes: u32::from(!fails),
                            failures: u32::from(fails),
                        }
                    })
                    .collect()
            };
            let (untestable, _) = search(&mut flaky_only, 3, 60, visit, |_| {}, || false);
            blamed += usize::from(conclude(&flaky_only, &untestable).0 != Ending::NoChange);
            alone += usize::from(ending == Ending::Found && culprits == [broken_at]);
            held += usize::from(culprits.contains(&broken_at));
            runs_made += runs as usize;
            git_right += usize::from(git_bisect(rng, commits, broken_at, flake) == broken_at);
            git_runs += (commits as f64).log2().ceil() as usize;
        }
        let share = |n: usize| n as f64 / cases as f64 * 100.0;
        println!(
            "| {:.0}% | {:.1}% | {:.1}% | {:.1} | {:.1}% | {:.1}% | {:.1} |",
            flake * 100.0,
            share(alone),
            share(held),
            runs_made as f64 / cases as f64,
            share(blamed),
            share(git_right),
            git_runs as f64 / cases as f64
        );
    }
}

struct Row {
    /// Cases where a regression was named at all.
    named: f64,
    /// Of those, where its range holds the culprit; and is one commit.
    held: f64,
    single: f64,
    mean_range: f64,
    false_culprits: f64,
    bisect: Option<f64>,
}

fn measure(rng: &mut StdRng, cases: usize, flake: f64, every: usize, attempts: u32) -> Row {
    let (mut named, mut held, mut single, mut widths) = (0, 0, 0, 0);
    let (mut false_culprits, mut bisected) = (0, 0);
    for _ in 0..cases {
        let commits = rng.random_range(60..=150);
        let broken_at = rng.random_range(10..commits - 10);
        let ran: Vec<bool> = (0..commits)
            .map(|c| c == 0 || c == commits - 1 || rng.random_range(0..every) == 0)
            .collect();
        let history = |rng: &mut StdRng, broken_at: Option<usize>| -> Vec<Tally> {
            (0..commits)
                .map(|c| match ran[c] {
                    true => run(rng, broken_at.is_some_and(|b| c >= b), flake, attempts),
                    false => Tally::default(),
                })
                .collect()
        };
        let found = segment(&history(rng, Some(broken_at)));
        if let Some(change) = found.changes.iter().rev().find(|c| c.is_regression()) {
            named += 1;
            held += usize::from(change.first <= broken_at && broken_at <= change.last);
            single += usize::from(change.first == change.last);
            widths += change.last - change.first + 1;
        }
        let flaky_only = segment(&history(rng, None));
        false_culprits += usize::from(flaky_only.changes.iter().any(|c| c.is_regression()));
        bisected += usize::from(git_bisect(rng, commits, broken_at, flake) == broken_at);
    }
    let share = |n: usize| n as f64 / cases as f64;
    let of_named = |n: usize| n as f64 / named.max(1) as f64;
    Row {
        named: share(named),
        held: of_named(held),
        single: of_named(single),
        mean_range: of_named(widths),
        false_culprits: share(false_culprits),
        // Bisect tests commits afresh, once each: the same whatever history had.
        bisect: (every == 1 && attempts == 1).then(|| share(bisected)),
    }
}

/// One run of the test: its attempts' passes and failures.
fn run(rng: &mut StdRng, broken: bool, flake: f64, attempts: u32) -> Tally {
    let mut tally = Tally::default();
    for _ in 0..attempts {
        if broken || rng.random::<f64>() < flake {
            tally.failures += 1;
        } else {
            tally.passes += 1;
            break;
        }
    }
    tally
}

/// `git bisect run` with the first commit good and the last bad: the commit
/// it names.
fn git_bisect(rng: &mut StdRng, commits: usize, broken_at: usize, flake: f64) -> usize {
    let (mut good, mut bad) = (0, commits - 1);
    while bad - good > 1 {
        let mid = (good + bad) / 2;
        let fails = mid >= broken_at || rng.random::<f64>() < flake;
        if fails {
            bad = mid;
        } else {
            good = mid;
        }
    }
    bad
}
