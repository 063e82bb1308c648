//! What a process's live output said so far, and when the process counts as
//! hung: the deadlines follow each test's start when the runner reports
//! starts, else the process gets the sum of its tests' limits.

use std::time::{Duration, Instant};

use foldhash::HashMap;
use proctor_plugin_api::messages::Outcome;

use super::outcome::{replaces, Hang};
use super::tail::Tail;

/// A source's limits on its tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// The longest one test may run.
    pub test: Option<Duration>,
    /// The longest the process may go without a test starting or ending;
    /// the test limit when unset.
    pub inactivity: Option<Duration>,
}

/// What the live output said so far.
#[derive(Debug)]
pub struct Tracker {
    pub launched: Instant,
    pub last_activity: Instant,
    pub started: HashMap<String, Instant>,
    pub finished: HashMap<String, (Outcome, Option<String>, Duration)>,
    /// Started and not finished: kept apart, since it is asked after every
    /// line and a batch's `started` grows to all its tests.
    pub running: HashMap<String, Instant>,
    /// Lines printed while exactly one test ran, by test: the end of its
    /// own output, for when the runner's results do not have it.
    pub captured: HashMap<String, Tail>,
    /// How much of each test's output is held.
    tail_bytes: usize,
}

impl Tracker {
    /// A tracker holding `tail_bytes` of each test's output at most.
    pub fn new(now: Instant, tail_bytes: usize) -> Self {
        Self {
            launched: now,
            last_activity: now,
            started: HashMap::default(),
            finished: HashMap::default(),
            running: HashMap::default(),
            captured: HashMap::default(),
            tail_bytes,
        }
    }

    /// Keeps `line` as output of the one test running, if only one is.
    pub fn capture(&mut self, line: &str) {
        let mut running = self.running.keys();
        let (Some(id), None) = (running.next(), running.next()) else {
            return;
        };
        let tail_bytes = self.tail_bytes;
        let output = self.captured.entry(id.clone());
        output
            .or_insert_with(|| Tail::new(tail_bytes))
            .push_line(line);
    }

    pub fn start(&mut self, id: String, now: Instant) {
        if !self.finished.contains_key(&id) {
            self.running.insert(id.clone(), now);
        }
        self.started.insert(id, now);
    }

    /// A test's end; a later end of the same test replaces an earlier one
    /// only as [`replaces`] says.
    pub fn finish(&mut self, id: String, outcome: Outcome, message: Option<String>, now: Instant) {
        self.running.remove(&id);
        let began = self.started.get(&id).copied().unwrap_or(now);
        if replaces(self.finished.get(&id).map(|(kept, ..)| *kept), outcome) {
            self.finished.insert(id, (outcome, message, now - began));
        }
    }

    /// When the process counts as hung, and why, for a process running
    /// `tests` tests whose runner reports them live or not.
    pub fn deadline(&self, limits: &Limits, tests: usize, live: bool) -> Option<(Instant, Hang)> {
        let mut candidates: Vec<(Instant, Hang)> = Vec::new();
        if tests == 1 || !live {
            // Nothing tells one test's time from another's: the process gets them all.
            if let Some(limit) = limits.test {
                let total = limit * tests as u32;
                candidates.push((self.launched + total, Hang::ProcessTimeout(total)));
            }
        } else {
            if let Some(limit) = limits.test {
                candidates.extend(self.running.iter().map(|(id, started)| {
                    let hang = Hang::TestTimeout {
                        test: id.clone(),
                        limit,
                    };
                    (*started + limit, hang)
                }));
            }
            if let Some(limit) = limits.inactivity.or(limits.test) {
                candidates.push((self.last_activity + limit, Hang::Inactivity(limit)));
            }
        }
        candidates.into_iter().min_by_key(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn limits(test: u64, inactivity: Option<u64>) -> Limits {
        Limits {
            test: Some(SECOND * test as u32),
            inactivity: inactivity.map(|s| SECOND * s as u32),
        }
    }

    #[test]
    fn a_process_without_live_events_gets_the_sum_of_its_tests_limits() {
        let t0 = Instant::now();
        let tracker = Tracker::new(t0, 1 << 20);
        let (at, hang) = tracker.deadline(&limits(10, None), 3, false).unwrap();
        assert_eq!(at, t0 + 30 * SECOND);
        assert_eq!(hang, Hang::ProcessTimeout(30 * SECOND));
        // One test alone is the same rule, live or not.
        let (at, _) = tracker.deadline(&limits(10, Some(2)), 1, true).unwrap();
        assert_eq!(at, t0 + 10 * SECOND);
    }

    #[test]
    fn with_live_events_each_test_has_its_own_limit_from_its_start() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        tracker.start("early".into(), t0 + SECOND);
        tracker.start("late".into(), t0 + 4 * SECOND);
        tracker.last_activity = t0 + 4 * SECOND;
        let (at, hang) = tracker.deadline(&limits(10, Some(60)), 5, true).unwrap();
        assert_eq!(at, t0 + 11 * SECOND);
        assert_eq!(
            hang,
            Hang::TestTimeout {
                test: "early".into(),
                limit: 10 * SECOND
            }
        );
        // Once it finished, the one still running decides.
        tracker.finish("early".into(), Outcome::Passed, None, t0 + 5 * SECOND);
        let (at, _) = tracker.deadline(&limits(10, Some(60)), 5, true).unwrap();
        assert_eq!(at, t0 + 14 * SECOND);
    }

    #[test]
    fn inactivity_counts_from_the_last_start_or_end() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        tracker.last_activity = t0 + 3 * SECOND;
        let (at, hang) = tracker.deadline(&limits(10, Some(2)), 4, true).unwrap();
        assert_eq!((at, hang), (t0 + 5 * SECOND, Hang::Inactivity(2 * SECOND)));
        // Without an inactivity limit, the test limit is one.
        let (at, _) = tracker.deadline(&limits(10, None), 4, true).unwrap();
        assert_eq!(at, t0 + 13 * SECOND);
        assert!(tracker.deadline(&Limits::default(), 4, true).is_none());
    }

    #[test]
    fn output_is_a_tests_own_only_while_it_runs_alone() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        tracker.capture("before any test");
        tracker.start("a".into(), t0);
        tracker.capture("a's line");
        tracker.start("b".into(), t0);
        tracker.capture("a's or b's");
        tracker.finish("a".into(), Outcome::Passed, None, t0);
        tracker.capture("b's line");
        assert_eq!(tracker.captured.len(), 2);
        let mut output = |id| tracker.captured.remove(id).unwrap().into_string();
        assert_eq!(output("a"), "a's line\n");
        assert_eq!(output("b"), "b's line\n");
    }

    #[test]
    fn a_later_pass_keeps_an_earlier_failure_of_the_same_test() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        tracker.finish("t".into(), Outcome::Failed, None, t0);
        tracker.finish("t".into(), Outcome::Passed, None, t0);
        assert_eq!(tracker.finished["t"].0, Outcome::Failed);
    }
}
