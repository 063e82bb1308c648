//! What a runner read of a process's results, by test id.

use proctor_plugin_api::messages::TestResult;

use super::keyed::KeyedVec;
use super::outcome::replaces;
use crate::plugins::RunnerResult;

/// The results a runner read of a process, by test id; a test reported
/// twice keeps what [`replaces`] says. The results stay in the list they
/// came in, indexed: a map holding them was the largest single allocation
/// a host made as a batch of ten thousand tests ended.
#[derive(Default)]
pub(super) struct Reported {
    results: KeyedVec<Option<RunnerResult>>,
}

// What `Reported::new` relies on to turn the list into options in place.
const _: () = assert!(size_of::<Option<RunnerResult>>() == size_of::<RunnerResult>());

impl Reported {
    pub(super) fn new(mut results: Vec<RunnerResult>) -> Self {
        // Read with room for the tests expected, which may be more than
        // came, or grown by doubling past them: what is spare is
        // released here. A result and its `Option` are the same size, so
        // the list becomes one of options where it is, without a second
        // copy beside it at the run's peak of memory.
        results.shrink_to_fit();
        let results: Vec<Option<RunnerResult>> = results.into_iter().map(Some).collect();
        let results = KeyedVec::index(results, |results, first, later| {
            let later = results[later].take();
            let earlier = results[first].as_ref().map(|r| r.outcome);
            if later.as_ref().is_some_and(|r| replaces(earlier, r.outcome)) {
                results[first] = later;
            }
        });
        Self { results }
    }

    pub(super) fn len(&self) -> usize {
        self.results.len()
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.results.place(id).is_some()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &RunnerResult> {
        self.results.items().iter().flatten()
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<TestResult> {
        let at = self.results.forget(id)?;
        self.results.items_mut()[at].take().map(TestResult::from)
    }

    /// Takes every result not removed.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = TestResult> {
        std::mem::take(&mut self.results)
            .into_items()
            .into_iter()
            .flatten()
            .map(TestResult::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proctor_plugin_api::messages::Outcome;

    #[test]
    fn a_test_reported_twice_keeps_its_failure() {
        let result = |outcome, message: &str| TestResult {
            message: Some(message.into()),
            ..TestResult::new("t", outcome)
        };
        let held = |results: Vec<TestResult>| results.into_iter().map(RunnerResult::from).collect();
        let mut kept = Reported::new(held(vec![
            result(Outcome::Failed, "first run"),
            result(Outcome::Passed, "second run"),
        ]));
        assert_eq!(kept.len(), 1);
        let first = kept.remove("t").expect("t was reported");
        assert_eq!(first.message.as_deref(), Some("first run"));
        assert!(kept.remove("t").is_none(), "a result is taken once");
        let mut kept = Reported::new(held(vec![
            result(Outcome::Passed, "first run"),
            result(Outcome::Crashed, "second run"),
            TestResult::new("u", Outcome::Passed),
        ]));
        assert_eq!(kept.remove("t").map(|r| r.outcome), Some(Outcome::Crashed));
        let rest: Vec<String> = kept.drain().map(|r| r.id).collect();
        assert_eq!(rest, ["u"], "what was not taken is drained, once");
        assert!(!kept.contains("u") && kept.values().next().is_none());
    }
}
