//! Finding the commit that broke a test by running it, flake-aware: a noisy
//! binary search (LUCI Bisection and Google's flake-aware culprit finding
//! are the model).
//!
//! The commits from `good` (exclusive) to `bad` (inclusive), along first
//! parents, are checked out one at a time in a scratch worktree of the
//! repository (never the user's working tree), built, and the test run
//! there through `proctor run`, several times each. Every attempt is a pass
//! or a failure; [`changepoint::break_at`] turns them into the probability
//! that each commit is the first from which the test fails (nearly)
//! always, against its failing at one rate throughout. The next commit
//! to test is the one that halves that probability best, which is a commit
//! already tested when its results disagree; the search ends when one
//! commit holds [`changepoint::CONFIDENCE`] of it, when the history more
//! likely holds no change at all, or when the budget of runs is spent.
//!
//! A build that fails, or a run that says nothing of the test (exit 2 or 3,
//! the test not run), is an unknown, never a failure: that commit is left
//! out of the search, and a culprit next to it is reported as a range.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::process::{Signal, Stopper};
use crate::store;
use crate::store::changepoint::{self, ChangeAt, Tally};

/// What a bisection is asked.
#[derive(Debug, Clone)]
pub struct Bisection {
    /// The configuration, in the repository to bisect.
    pub config: PathBuf,
    /// The test's id, and its source when several have one so named.
    pub test: String,
    pub source: Option<String>,
    pub good: String,
    pub bad: String,
    /// A shell command that builds the checkout, run in its root.
    pub build: Option<String>,
    /// Runs of the test each time a commit is tested.
    pub repeat: u32,
    /// Runs of the test in all, at most.
    pub budget: u32,
    /// `proctor run`'s arguments beyond the test's own: the store, plugin
    /// directories.
    pub run_args: Vec<String>,
}

/// A commit, and what its runs said.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tried {
    pub commit: String,
    pub subject: String,
    pub passes: u32,
    pub failures: u32,
    /// Runs that said nothing of the test, and why the last did not.
    pub unknown: u32,
    pub unknown_because: Option<String>,
}

/// How a bisection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// One commit is the culprit.
    Found,
    /// The culprit is one of several commits: the budget ran out, or
    /// commits between could not be tested.
    Range,
    /// The test fails as often at `good` as at `bad`: no commit broke it.
    NoChange,
}

/// What a bisection found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BisectReport {
    pub test: String,
    pub good: String,
    pub bad: String,
    pub ending: Ending,
    /// The commits the culprit is among, oldest first, and how likely that is.
    pub culprits: Vec<String>,
    pub confidence: f64,
    /// Every commit of the range, oldest first (`good` first), with its runs.
    pub commits: Vec<Tried>,
    pub runs: u32,
    /// The stop signal that ended the bisection before it settled.
    pub stopped_by: Option<Signal>,
}

/// Bisects; `progress` hears of each commit as it is tested. A stop signal
/// (SIGINT, SIGTERM, SIGHUP: its runs hear it too) ends the search where it
/// is, with what it found so far and the scratch worktree removed.
pub fn bisect(
    request: &Bisection,
    stopper: &Stopper,
    mut progress: impl FnMut(&Tried),
) -> Result<BisectReport> {
    let config = std::path::absolute(&request.config)
        .map_err(|e| Error::usage(format!("{}: {e}", request.config.display())))?;
    let dir = config.parent().unwrap_or(Path::new("."));
    let root = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    let inside = config.strip_prefix(&root).map_err(|_| {
        Error::usage(format!(
            "{} is not inside {}",
            config.display(),
            root.display()
        ))
    })?;
    let commit = |name: &str| {
        git(
            &root,
            &["rev-parse", "--verify", &format!("{name}^{{commit}}")],
        )
    };
    let (good, bad) = (commit(&request.good)?, commit(&request.bad)?);
    if git(&root, &["merge-base", "--is-ancestor", &good, &bad]).is_err() {
        return Err(Error::usage(format!(
            "--good {} is not an ancestor of --bad {}",
            request.good, request.bad
        )));
    }
    // Each commit and its subject, from one `git log`.
    let range = git(
        &root,
        &[
            "log",
            "--first-parent",
            "--reverse",
            "--format=%H%x00%s",
            &format!("{good}..{bad}"),
        ],
    )?;
    let subject = git(&root, &["log", "-1", "--format=%s", &good]).unwrap_or_default();
    let mut commits: Vec<Tried> = std::iter::once(format!("{good}\0{subject}"))
        .chain(range.lines().map(str::to_owned))
        .map(|line| {
            let (commit, subject) = line.split_once('\0').unwrap_or((&line, ""));
            Tried {
                commit: commit.to_owned(),
                subject: subject.to_owned(),
                ..Tried::default()
            }
        })
        .collect();
    if commits.len() < 2 {
        return Err(Error::usage(format!(
            "no commit after {} up to {}",
            request.good, request.bad
        )));
    }
    let scratch = Worktree::add(&root, &good)?;
    let config_in_tree = scratch.path.join(inside);
    let stopped = || stopper.state().signal().is_some();
    let mut runs_made = 0;
    let visit = |_: usize, runs: u32, commit: &Tried| -> Vec<Said> {
        if let Err(why) = prepare(&scratch, commit, request.build.as_deref()) {
            return vec![Said::Untestable(why)];
        }
        let mut said = Vec::new();
        for _ in 0..runs {
            if stopped() {
                break;
            }
            let into = scratch.results(runs_made);
            runs_made += 1;
            match run_test(&config_in_tree, request, &into) {
                Ok((passes, failures)) => said.push(Said::Attempts { passes, failures }),
                Err(why) => {
                    said.push(Said::Nothing(why));
                    break;
                }
            }
        }
        said
    };
    let (untestable, runs) = search(
        &mut commits,
        request.repeat,
        request.budget,
        visit,
        &mut progress,
        stopped,
    );
    drop(scratch);
    let stopped_by = stopper.state().signal();
    // Without both ends there is nothing to weigh the others against.
    let ends = [(0, "--good"), (commits.len() - 1, "--bad")];
    let untested_end = ends.into_iter().find(|&(i, _)| untestable[i]);
    if let Some((end, flag)) = untested_end.filter(|_| stopped_by.is_none()) {
        let why = commits[end]
            .unknown_because
            .as_deref()
            .unwrap_or("untested");
        return Err(Error::infrastructure(format!(
            "cannot bisect {}: at {flag} {}, {why}",
            request.test, commits[end].commit
        )));
    }
    let mut report = report(request, (good, bad), commits, &untestable, runs);
    report.stopped_by = stopped_by;
    Ok(report)
}

/// What one run at a commit said of the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Attempts {
        passes: u32,
        failures: u32,
    },
    /// The run said nothing of the test (it exited 2 or 3, the test did
    /// not run): the commit cannot be tested, and is left out of the search.
    Nothing(String),
    /// The commit could not be made ready (its build failed): no run.
    Untestable(String),
}

/// The search itself, whatever testing a commit is: `visit(index, runs,
/// commit)` tests commit `index` `runs` times (fewer when one says
/// nothing). `commits[0]` is good, the last bad. It ends early once
/// `stopped` says so. Answers which commits could not be tested, and the
/// runs made.
pub fn search(
    commits: &mut [Tried],
    repeat: u32,
    budget: u32,
    mut visit: impl FnMut(usize, u32, &Tried) -> Vec<Said>,
    mut heard: impl FnMut(&Tried),
    stopped: impl Fn() -> bool,
) -> (Vec<bool>, u32) {
    let mut runs = 0;
    let mut untestable = vec![false; commits.len()];
    // The ends first: what the others are weighed against.
    let mut queue = vec![commits.len() - 1, 0];
    let mut next = None;
    while let Some(index) = next.take().or_else(|| queue.pop()) {
        if runs >= budget || stopped() {
            break;
        }
        let said = visit(index, repeat.min(budget - runs), &commits[index]);
        // A run the stop ended says nothing of the commit.
        if stopped() {
            break;
        }
        let tried = &mut commits[index];
        for said in said {
            runs += u32::from(!matches!(said, Said::Untestable(_)));
            match said {
                Said::Attempts { passes, failures } => {
                    tried.passes += passes;
                    tried.failures += failures;
                }
                Said::Nothing(why) | Said::Untestable(why) => {
                    tried.unknown += 1;
                    tried.unknown_because = Some(why);
                    untestable[index] = true;
                }
            }
        }
        heard(&commits[index]);
        if !queue.is_empty() {
            continue;
        }
        if untestable[0] || untestable[commits.len() - 1] {
            break;
        }
        let posterior = changepoint::break_at(&tallies(commits));
        if settled(&posterior, &untestable) {
            break;
        }
        next = next_commit(&posterior, &untestable);
    }
    (untestable, runs)
}

/// Whether the runs so far settle it: a change is unlikely, or one group
/// of commits the runs can tell apart from the rest holds it.
fn settled(posterior: &ChangeAt, untestable: &[bool]) -> bool {
    let best_group = (groups(untestable).iter())
        .map(|group| weight(posterior, group))
        .fold(0.0, f64::max);
    posterior.change < 1.0 - changepoint::CONFIDENCE
        || posterior.change * best_group >= changepoint::CONFIDENCE
}

/// How likely the change is at one of `group`, if there is one.
fn weight(posterior: &ChangeAt, group: &[usize]) -> f64 {
    group.iter().map(|&k| posterior.before[k - 1]).sum()
}

/// The places a change may be (`k`: commit `k` is the first to fail at the
/// new rate), grouped as the runs can tell them apart: when commit `k`
/// cannot be tested, a change at `k` and at `k + 1` look alike.
fn groups(untestable: &[bool]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut joined = false;
    for (k, &cannot) in untestable.iter().enumerate().skip(1) {
        match (joined, groups.last_mut()) {
            (true, Some(group)) => group.push(k),
            _ => groups.push(vec![k]),
        }
        joined = cannot;
    }
    groups
}

/// The testable commit that best halves the probability of where the
/// change is: testing commit `c` tells whether the change is at or before
/// it.
fn next_commit(posterior: &ChangeAt, untestable: &[bool]) -> Option<usize> {
    let mut at_or_before = 0.0;
    let mut best: Option<(f64, usize)> = None;
    for (c, untestable) in untestable.iter().enumerate() {
        if c > 0 {
            at_or_before += posterior.before[c - 1];
        }
        if *untestable {
            continue;
        }
        let distance = (at_or_before - 0.5).abs();
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, c));
        }
    }
    best.map(|(_, c)| c)
}

fn tallies(commits: &[Tried]) -> Vec<Tally> {
    (commits.iter())
        .map(|t| Tally {
            passes: t.passes,
            failures: t.failures,
        })
        .collect()
}

fn report(
    request: &Bisection,
    (good, bad): (String, String),
    commits: Vec<Tried>,
    untestable: &[bool],
    runs: u32,
) -> BisectReport {
    let (ending, culprits, confidence) = conclude(&commits, untestable);
    BisectReport {
        test: request.test.clone(),
        good,
        bad,
        ending,
        culprits: culprits
            .iter()
            .map(|&c| commits[c].commit.clone())
            .collect(),
        confidence,
        commits,
        runs,
        stopped_by: None,
    }
}

/// What the runs say: how the search ended, the commits (indices) the
/// culprit is among, and how likely that is.
pub fn conclude(commits: &[Tried], untestable: &[bool]) -> (Ending, Vec<usize>, f64) {
    let posterior = changepoint::break_at(&tallies(commits));
    if posterior.change < 0.5 {
        return (Ending::NoChange, Vec::new(), 1.0 - posterior.change);
    }
    // The likeliest groups, most likely first, until they hold enough.
    let mut groups: Vec<(f64, Vec<usize>)> = (groups(untestable).into_iter())
        .map(|group| (weight(&posterior, &group), group))
        .collect();
    groups.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut mass = 0.0;
    let mut chosen = Vec::new();
    for (weight, group) in groups {
        if mass >= changepoint::CONFIDENCE {
            break;
        }
        mass += weight;
        chosen.extend(group);
    }
    chosen.sort_unstable();
    let ending = match chosen.len() {
        1 => Ending::Found,
        _ => Ending::Range,
    };
    (ending, chosen, mass * posterior.change)
}

/// Checks `tried` out in the scratch worktree and builds it.
fn prepare(
    scratch: &Worktree,
    tried: &Tried,
    build: Option<&str>,
) -> std::result::Result<(), String> {
    git(
        &scratch.path,
        &["checkout", "-q", "--force", "--detach", &tried.commit],
    )
    .map_err(|e| e.to_string())?;
    let Some(build) = build else {
        return Ok(());
    };
    let output = Command::new("sh")
        .args(["-c", build])
        .current_dir(&scratch.path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("the build could not start: {e}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "the build failed ({}): {}",
            output.status,
            last_line(&output.stderr)
        )),
    }
}

/// Runs the test once through `proctor run`; answers its attempts' passes
/// and failures, or why the run said nothing of it.
fn run_test(
    config: &Path,
    request: &Bisection,
    into: &Path,
) -> std::result::Result<(u32, u32), String> {
    let output = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .arg("run")
        .arg(config)
        .args(["--filter", &filter_for(&request.test), "--results-dir"])
        .arg(into)
        .args(&request.run_args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("proctor run could not start: {e}"))?;
    let code = output.status.code();
    if code == Some(i32::from(crate::results::ExitStatus::NoTests.code())) {
        return Err(format!("no test here is named {}", request.test));
    }
    if !matches!(code, Some(0 | 1)) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let error = (stderr.lines()).find(|l| l.starts_with("error:"));
        return Err(format!(
            "proctor run exited {}: {}",
            code.map_or("by a signal".to_owned(), |c| c.to_string()),
            error.map_or_else(|| last_line(&output.stderr), str::to_owned)
        ));
    }
    let text = std::fs::read(into.join("summary.json")).map_err(|e| e.to_string())?;
    let summary = crate::results::read_summary(&text)?;
    let test = (summary.tests.iter())
        .find(|t| t.id == request.test && request.source.as_ref().is_none_or(|s| **s == *t.source))
        .ok_or_else(|| format!("the run did not run {}", request.test))?;
    let tally = store::attempt_tally(
        store::verdict(test),
        test.outcome,
        test.attempts.len() as u32,
    );
    tally
        .map(|t| (t.passes, t.failures))
        .ok_or_else(|| format!("{} ended {:?}", request.test, test.outcome))
}

/// A `--filter` selecting the test by its id: glob characters escaped, and
/// a `)`, which would end the expression, matched as any one character.
fn filter_for(test: &str) -> String {
    format!("test({})", globset::escape(test).replace(')', "?"))
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// `git -C dir ARGS`' output, trimmed; its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::infrastructure(format!("git could not start: {e}")))?;
    match output.status.success() {
        true => Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned()),
        false => Err(Error::usage(format!(
            "git {}: {}",
            args.join(" "),
            last_line(&output.stderr)
        ))),
    }
}

/// A detached worktree of the repository in a directory of its own,
/// removed with it when dropped.
struct Worktree {
    root: PathBuf,
    path: PathBuf,
    dir: tempfile::TempDir,
}

impl Worktree {
    fn add(root: &Path, commit: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("proctor-bisect-")
            .tempdir()
            .map_err(|e| Error::infrastructure(format!("cannot make a scratch directory: {e}")))?;
        let path = dir.path().join("tree");
        let target = path.to_string_lossy().into_owned();
        git(
            root,
            &["worktree", "add", "--quiet", "--detach", &target, commit],
        )?;
        Ok(Self {
            root: root.to_owned(),
            path,
            dir,
        })
    }

    /// Where the `n`-th run's results go.
    fn results(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("results-{n}"))
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let target = self.path.to_string_lossy().into_owned();
        let _ = git(&self.root, &["worktree", "remove", "--force", &target]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(passes: u32, failures: u32) -> Tried {
        Tried {
            passes,
            failures,
            ..Tried::default()
        }
    }

    #[test]
    fn the_next_commit_halves_where_the_change_may_be() {
        // Only the ends known: the middle is next.
        let mut commits: Vec<Tried> = (0..9).map(|_| Tried::default()).collect();
        commits[0] = tried(3, 0);
        commits[8] = tried(0, 3);
        let posterior = changepoint::break_at(&tallies(&commits));
        let next = next_commit(&posterior, &[false; 9]).unwrap();
        assert!((3..=5).contains(&next), "{next}");
        // A commit that cannot be tested is passed over.
        let mut untestable = [false; 9];
        untestable[next] = true;
        assert_ne!(next_commit(&posterior, &untestable), Some(next));
    }

    #[test]
    fn a_commit_that_cannot_be_tested_joins_the_places_either_side_of_it() {
        assert_eq!(
            groups(&[false, false, true, true, false]),
            [vec![1], vec![2, 3, 4]]
        );
        assert_eq!(groups(&[false, false, false]), [vec![1], vec![2]]);
    }

    #[test]
    fn a_filter_selects_an_id_with_glob_characters_as_written() {
        assert_eq!(
            filter_for("t.py::test_x[1-2]"),
            "test(t.py::test_x[[]1-2[]])"
        );
        assert_eq!(
            filter_for("t.py::test_y[(1, 2)]"),
            "test(t.py::test_y[[](1, 2?[]])"
        );
    }
}
