//! Whether the shares of a source added up to the whole of it.
//!
//! When every test of a source runs, spread over several processes, each
//! process may collect the whole source itself and keep its share of it
//! (`DiscoveryOffer::whole_source`). That is sound only while every process
//! collects the same tests: processes that collect in different orders (a
//! plugin shuffling each one's collection) or different tests (tests
//! generated anew in each process) cut shares that overlap and leave gaps,
//! and a test in a gap is reported by no one. Nothing else would notice: the
//! host learns a source's tests from these very processes.
//!
//! So each process says how many tests the whole held as it collected it
//! ([`LiveEvent::Discovered`]'s `share_of`), and once every share has
//! ended, the shares must hold that many tests between them, each in one.
//! A test no share held cannot be named, but it can be counted, and a run
//! that lost tests must not pass: the source fails as discovery does.
//!
//! [`LiveEvent::Discovered`]: proctor_plugin_api::messages::LiveEvent::Discovered

use foldhash::HashMap;

/// At most this many repeated tests are named in an error.
const NAMED: usize = 3;

/// What the shares of each source said and brought.
#[derive(Default)]
pub struct Shares {
    by_source: HashMap<String, Tally>,
}

#[derive(Default)]
struct Tally {
    /// The source's expanding cases: one a share.
    cases: usize,
    /// Those whose process reported its tests.
    expanded: usize,
    /// The whole, as each process that said it collected it.
    wholes: Vec<u64>,
    /// A process brought tests without saying what they were a share of.
    unsaid: bool,
    /// Tests the shares brought, each counted once.
    distinct: u64,
    /// Tests a share brought that an earlier one had brought.
    repeated: u64,
    /// The first [`NAMED`] of them.
    named: Vec<String>,
}

impl Shares {
    /// An expanding case of `source` is to run.
    pub fn case(&mut self, source: &str) {
        self.tally(source).cases += 1;
    }

    /// An expanding case of `source` turned out to be `fresh` tests no
    /// share had brought before and `repeated` ones another had; its
    /// process said the whole held `share_of`.
    pub fn expanded<'a>(
        &mut self,
        source: &str,
        share_of: Option<u64>,
        fresh: usize,
        repeated: impl IntoIterator<Item = &'a str>,
    ) {
        let tally = self.tally(source);
        tally.expanded += 1;
        tally.distinct += fresh as u64;
        let mut brought = fresh;
        for id in repeated {
            brought += 1;
            tally.repeated += 1;
            if tally.named.len() < NAMED {
                tally.named.push(id.to_owned());
            }
        }
        match share_of {
            Some(whole) => tally.wholes.push(whole),
            None => tally.unsaid |= brought > 0,
        }
    }

    /// The sources whose shares did not add up, each as an error.
    /// Sources a share of which never reported its tests are not judged:
    /// that share's own failure fails them already. Nor are those whose
    /// runner does not say what its shares were cut from.
    pub fn errors(&self) -> Vec<String> {
        let mut errors: Vec<String> = (self.by_source.iter())
            .filter_map(|(source, tally)| Some(format!("source `{source}`: {}", tally.fault()?)))
            .collect();
        errors.sort();
        errors
    }

    fn tally(&mut self, source: &str) -> &mut Tally {
        if !self.by_source.contains_key(source) {
            self.by_source.insert(source.to_owned(), Tally::default());
        }
        self.by_source.get_mut(source).expect("just made")
    }
}

impl Tally {
    /// What went wrong, if the shares do not add up.
    fn fault(&self) -> Option<String> {
        let &whole = self.wholes.first()?;
        if self.expanded < self.cases || self.unsaid {
            return None;
        }
        let processes = self.wholes.len();
        if let (Some(least), Some(most)) = (self.wholes.iter().min(), self.wholes.iter().max()) {
            if least != most {
                return Some(format!(
                    "its {processes} processes collected different tests, {least} in one and \
                     {most} in another, so their shares cannot hold the whole source: some of \
                     its tests may not have run. {ADVICE}"
                ));
            }
        }
        if self.distinct == whole && self.repeated == 0 {
            return None;
        }
        let mut fault = format!(
            "its {processes} processes each collected {whole} tests, but their shares held \
             {} of them",
            self.distinct
        );
        if let Some(lost) = whole.checked_sub(self.distinct).filter(|&n| n > 0) {
            fault += &format!(": {lost} ran in no share");
        }
        if self.repeated > 0 {
            let named: Vec<String> = self.named.iter().map(|id| format!("`{id}`")).collect();
            let more = match self.repeated as usize > named.len() {
                true => ", ...",
                false => "",
            };
            fault += &format!(
                "; {} ran in two shares ({}{more})",
                self.repeated,
                named.join(", ")
            );
        }
        Some(format!("{fault}. {ADVICE}"))
    }
}

/// What makes shares add up again.
const ADVICE: &str = "Each process must collect the same tests, in any order; \
    otherwise give this source `\"jobs\": 1`, which runs it in one process";

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(cases: usize) -> Shares {
        let mut shares = Shares::default();
        for _ in 0..cases {
            shares.case("unit");
        }
        shares
    }

    #[test]
    fn shares_that_hold_the_whole_once_each_are_no_error() {
        let mut shares = shares(2);
        shares.expanded("unit", Some(5), 3, []);
        shares.expanded("unit", Some(5), 2, []);
        assert!(shares.errors().is_empty());
    }

    #[test]
    fn shares_that_overlap_count_the_tests_no_share_ran_and_name_the_repeated() {
        let mut shares = shares(2);
        shares.expanded("unit", Some(6), 3, []);
        shares.expanded("unit", Some(6), 1, ["a", "b", "c", "d"]);
        let errors = shares.errors();
        assert_eq!(errors.len(), 1);
        let error = &errors[0];
        assert!(
            error.starts_with(
                "source `unit`: its 2 processes each collected 6 tests, but their shares held \
                 4 of them: 2 ran in no share; 4 ran in two shares (`a`, `b`, `c`, ...)."
            ),
            "{error}"
        );
        assert!(
            error.ends_with(
                "otherwise give this source `\"jobs\": 1`, which runs it in one process"
            ),
            "{error}"
        );
    }

    #[test]
    fn processes_that_collect_different_wholes_fail_the_source() {
        let mut shares = shares(2);
        shares.expanded("unit", Some(110), 55, []);
        shares.expanded("unit", Some(120), 60, []);
        let errors = shares.errors();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains(
                "its 2 processes collected different tests, 110 in one and 120 in another"
            ),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn one_process_that_reports_fewer_tests_than_it_collected_fails_the_source() {
        let mut shares = shares(1);
        shares.expanded("unit", Some(10), 9, []);
        let errors = shares.errors();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("held 9 of them: 1 ran in no share"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn a_share_that_never_reported_or_a_runner_that_never_says_leaves_the_source_unjudged() {
        let mut unreported = shares(2);
        unreported.expanded("unit", Some(6), 1, []);
        assert!(
            unreported.errors().is_empty(),
            "the missing share fails it already"
        );

        let mut unsaid = shares(2);
        unsaid.expanded("unit", Some(6), 1, []);
        unsaid.expanded("unit", None, 2, []);
        assert!(unsaid.errors().is_empty());

        let mut never_says = shares(2);
        never_says.expanded("unit", None, 1, []);
        never_says.expanded("unit", None, 2, []);
        assert!(never_says.errors().is_empty());
    }

    #[test]
    fn an_empty_share_need_not_say_what_it_was_cut_from() {
        let mut shares = shares(3);
        shares.expanded("unit", Some(2), 1, []);
        shares.expanded("unit", None, 0, []);
        shares.expanded("unit", Some(2), 1, []);
        assert!(shares.errors().is_empty());
    }
}
