//! What a runner read of a process's results, by test id.

use foldhash::HashMap;

use proctor_plugin_api::messages::TestResult;

use super::outcome::replaces;

/// The results a runner read of a process, by test id; a test reported
/// twice keeps what [`replaces`] says. The results stay in the list they
/// came in, indexed: a map holding them was the largest single allocation
/// a host made as a batch of ten thousand tests ended.
#[derive(Default)]
pub(super) struct Reported {
    results: Vec<Option<TestResult>>,
    by_id: HashMap<String, usize>,
}

impl Reported {
    pub(super) fn new(results: Vec<TestResult>) -> Self {
        let mut by_id: HashMap<String, usize> =
            HashMap::with_capacity_and_hasher(results.len(), Default::default());
        let mut kept: Vec<Option<TestResult>> = Vec::with_capacity(results.len());
        for result in results {
            match by_id.get(&result.id) {
                None => {
                    by_id.insert(result.id.clone(), kept.len());
                    kept.push(Some(result));
                }
                Some(&at) => {
                    let earlier = kept[at].as_ref().map(|r| r.outcome);
                    if replaces(earlier, result.outcome) {
                        kept[at] = Some(result);
                    }
                }
            }
        }
        Self {
            results: kept,
            by_id,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().flatten()
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<TestResult> {
        let at = self.by_id.remove(id)?;
        self.results[at].take()
    }

    /// Takes every result not removed.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = TestResult> + '_ {
        self.by_id.clear();
        self.results.drain(..).flatten()
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
        let mut kept = Reported::new(vec![
            result(Outcome::Failed, "first run"),
            result(Outcome::Passed, "second run"),
        ]);
        assert_eq!(kept.len(), 1);
        let first = kept.remove("t").expect("t was reported");
        assert_eq!(first.message.as_deref(), Some("first run"));
        assert!(kept.remove("t").is_none(), "a result is taken once");
        let mut kept = Reported::new(vec![
            result(Outcome::Passed, "first run"),
            result(Outcome::Crashed, "second run"),
            TestResult::new("u", Outcome::Passed),
        ]);
        assert_eq!(kept.remove("t").map(|r| r.outcome), Some(Outcome::Crashed));
        let rest: Vec<String> = kept.drain().map(|r| r.id).collect();
        assert_eq!(rest, ["u"], "what was not taken is drained, once");
        assert!(!kept.contains("u") && kept.values().next().is_none());
    }
}
