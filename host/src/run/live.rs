//! What a process's live output said so far, and when the process counts as
//! hung: the deadlines follow each test's start when the runner reports
//! starts, else the process gets the sum of its tests' limits.

use std::time::{Duration, Instant};

use foldhash::HashMap;
use proctor_plugin_api::messages::Outcome;

use super::keyed::{Keyed, KeyedVec};
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
    /// Each test the live output named, in the order it named them.
    tests: KeyedVec<LiveTest>,
    /// The places in `tests` of those started and not finished: kept
    /// apart, since it is asked after every line.
    running: Vec<u32>,
    /// Lines printed while exactly one test ran, by its place in `tests`:
    /// the end of its own output, for when the runner's results do not
    /// have it.
    captured: HashMap<u32, Tail>,
    /// How much of each test's output is held.
    tail_bytes: usize,
}

/// What the live output said of one test.
#[derive(Debug)]
pub struct LiveTest {
    id: String,
    /// When it last started.
    pub started: Option<Instant>,
    pub end: Option<LiveEnd>,
    /// Its place in [`Tracker::running`], while it runs.
    running_at: Option<u32>,
}

/// A test's end, as the live output said.
#[derive(Debug)]
pub struct LiveEnd {
    pub outcome: Outcome,
    pub message: Option<String>,
    /// From its start, or zero when it was not seen to start.
    pub span: Duration,
}

impl LiveTest {
    /// Whether it started and did not finish.
    pub fn in_flight(&self) -> bool {
        self.running_at.is_some()
    }
}

impl Keyed for LiveTest {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Tracker {
    /// A tracker holding `tail_bytes` of each test's output at most.
    pub fn new(now: Instant, tail_bytes: usize) -> Self {
        Self {
            launched: now,
            last_activity: now,
            tests: KeyedVec::default(),
            running: Vec::new(),
            captured: HashMap::default(),
            tail_bytes,
        }
    }

    /// Whether the live output named no test.
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// What the live output said of the test `id`.
    pub fn test(&self, id: &str) -> Option<&LiveTest> {
        self.tests.get(id)
    }

    /// What was printed while the test `id` ran alone, taken.
    pub fn take_captured(&mut self, id: &str) -> Option<Tail> {
        if self.captured.is_empty() {
            return None;
        }
        let at = self.tests.place(id)?;
        self.captured.remove(&(at as u32))
    }

    /// Forgets every test, and what was caught of their output: once a
    /// process ended and its tests are decided, none of it is asked again.
    pub fn forget_tests(&mut self) {
        self.tests = KeyedVec::default();
        self.running = Vec::new();
        self.captured = HashMap::default();
    }

    /// Gives back the room its lists grew beyond the tests they hold.
    pub fn shrink_to_fit(&mut self) {
        self.tests.shrink_to_fit();
        self.running.shrink_to_fit();
    }

    /// Keeps `line` as output of the one test running, if only one is.
    pub fn capture(&mut self, line: &str) {
        let &[at] = self.running.as_slice() else {
            return;
        };
        let tail_bytes = self.tail_bytes;
        (self.captured.entry(at))
            .or_insert_with(|| Tail::new(tail_bytes))
            .push_line(line);
    }

    /// The test `id`, named now if it was not yet.
    fn named(&mut self, id: String) -> (u32, &mut LiveTest) {
        let at = match self.tests.place(&id) {
            Some(at) => at,
            None => self.tests.push_new(LiveTest {
                id,
                started: None,
                end: None,
                running_at: None,
            }),
        };
        (at as u32, &mut self.tests.items_mut()[at])
    }

    pub fn start(&mut self, id: String, now: Instant) {
        let running = self.running.len() as u32;
        let (at, test) = self.named(id);
        // An end told before the test ever started was not its own: an
        // earlier test printed what reads as its closing line (GoogleTest's
        // printer and the tests share stdout). Now it runs.
        if test.started.is_none() {
            test.end = None;
        }
        test.started = Some(now);
        if test.end.is_none() && test.running_at.is_none() {
            test.running_at = Some(running);
            self.running.push(at);
        }
    }

    /// A test's end; a later end of the same test replaces an earlier one
    /// only as [`replaces`] says.
    pub fn finish(&mut self, id: String, outcome: Outcome, message: Option<String>, now: Instant) {
        let (_, test) = self.named(id);
        let began = test.started.unwrap_or(now);
        let stopped = test.running_at.take();
        if replaces(test.end.as_ref().map(|end| end.outcome), outcome) {
            test.end = Some(LiveEnd {
                outcome,
                message,
                span: now - began,
            });
        }
        if let Some(i) = stopped {
            // The last of those running takes the place of the one that ended.
            self.running.swap_remove(i as usize);
            if let Some(&moved) = self.running.get(i as usize) {
                self.tests.items_mut()[moved as usize].running_at = Some(i);
            }
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
                let items = self.tests.items();
                candidates.extend(self.running.iter().map(|&at| {
                    let test = &items[at as usize];
                    let started = test.started.expect("a test running started");
                    let hang = Hang::TestTimeout {
                        test: test.id.clone(),
                        limit,
                    };
                    (started + limit, hang)
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
        let mut output = |id| tracker.take_captured(id).unwrap().into_string();
        assert_eq!(output("a"), "a's line\n");
        assert_eq!(output("b"), "b's line\n");
        assert!(tracker.take_captured("a").is_none(), "taken once");
    }

    #[test]
    fn tests_in_flight_end_in_any_order_and_the_rest_stay_in_flight() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        for id in ["a", "b", "c", "d"] {
            tracker.start(id.into(), t0);
        }
        tracker.finish("a".into(), Outcome::Passed, None, t0);
        tracker.finish("d".into(), Outcome::Passed, None, t0);
        tracker.start("a".into(), t0);
        let in_flight = |tracker: &Tracker, id| tracker.test(id).is_some_and(LiveTest::in_flight);
        let flying: Vec<bool> = ["a", "b", "c", "d"]
            .map(|id| in_flight(&tracker, id))
            .into();
        assert_eq!(
            flying,
            [false, true, true, false],
            "a test ended does not run again"
        );
        tracker.finish("b".into(), Outcome::Failed, None, t0 + SECOND);
        tracker.capture("c's line");
        assert!(!in_flight(&tracker, "b") && in_flight(&tracker, "c"));
        assert_eq!(
            tracker.take_captured("c").unwrap().into_string(),
            "c's line\n"
        );
        let b = tracker.test("b").and_then(|b| b.end.as_ref()).unwrap();
        assert_eq!((b.outcome, b.span), (Outcome::Failed, SECOND));
        tracker.finish("c".into(), Outcome::Passed, None, t0);
        assert!(
            tracker.deadline(&limits(10, Some(60)), 4, true).unwrap().1
                == Hang::Inactivity(60 * SECOND)
        );
    }

    #[test]
    fn an_end_told_before_its_test_started_is_not_its_own() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        tracker.start("printer".into(), t0);
        tracker.finish("crasher".into(), Outcome::Passed, None, t0);
        tracker.finish("printer".into(), Outcome::Passed, None, t0);
        tracker.start("crasher".into(), t0 + SECOND);
        let crasher = tracker.test("crasher").unwrap();
        assert!(crasher.in_flight() && crasher.end.is_none(), "{crasher:?}");
    }

    #[test]
    fn a_later_pass_keeps_an_earlier_failure_of_the_same_test() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        tracker.finish("t".into(), Outcome::Failed, None, t0);
        tracker.finish("t".into(), Outcome::Passed, None, t0);
        let end = tracker.test("t").and_then(|t| t.end.as_ref());
        let end = end.map(|end| end.outcome);
        assert_eq!(end, Some(Outcome::Failed));
    }

    #[test]
    fn forgetting_the_tests_forgets_their_output_too() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(t0, 1 << 20);
        tracker.start("t".into(), t0);
        tracker.capture("t's line");
        tracker.forget_tests();
        assert!(tracker.is_empty() && tracker.test("t").is_none());
        assert!(tracker.take_captured("t").is_none());
        tracker.start("t".into(), t0);
        assert!(tracker.test("t").is_some_and(LiveTest::in_flight));
    }
}
