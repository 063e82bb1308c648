//! How long plugin calls may go on once the host is asked to stop.
//!
//! A host asked to stop gives its test processes a grace period to end,
//! then kills them. Its plugin calls need the same bound: without one, a
//! collector looping in `on_event`, or a merge that never ends, holds a
//! stopped run for the call's own deadline (600 s for `on_event`, 6 hours
//! for `process`), through every signal.
//!
//! The rule: once the host is asked to stop ([`bound_calls_after_stop`]),
//! no call outlasts the grace period. A call under way has the grace
//! period from the request; a call made after it has the grace period from
//! its own start, so that the results of the tests the stop killed are
//! still read, and the collectors still hear the run end. A call past that
//! bound is one past its deadline: out of process, its process is killed
//! and the call fails; in the host's process, the watchdog ends the host.
//!
//! A second request does not shorten the bound. A test process can be
//! killed at once and its results still read; a call in the host's
//! process ends only with the host, and the run's reports with it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::handles::seconds;

/// The stop that bounds every call, from the first request on.
#[derive(Debug)]
struct Bound {
    since: Instant,
    grace: Duration,
    /// What asked to stop, as messages name it: `SIGTERM`.
    by: String,
}

static BOUND: OnceLock<Bound> = OnceLock::new();

/// Bounds every plugin call of this process, under way or to come, by
/// `grace` from now or from its start, whichever is later; `by` names what
/// asked to stop (`SIGTERM`) in the failures of calls cut short. Only the
/// first call counts: the bound never moves.
pub fn bound_calls_after_stop(grace: Duration, by: &str) {
    let _ = BOUND.set(Bound {
        since: Instant::now(),
        grace,
        by: by.to_owned(),
    });
}

/// When a call must have answered by: its own limit from its start, unless
/// a stop bounds it sooner.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallDeadline {
    started: Instant,
    limit: Duration,
}

impl CallDeadline {
    /// The deadline of a call starting now that may take `limit`.
    pub fn starting_now(limit: Duration) -> Self {
        Self {
            started: Instant::now(),
            limit,
        }
    }

    /// When the call must have answered by, as things stand: a stop may
    /// come while it runs.
    pub fn at(&self) -> Instant {
        self.under(BOUND.get())
    }

    /// What the call was allowed, as its failure says it: `within 600 s`,
    /// or `within the grace period of 10 s after SIGTERM`.
    pub fn allowed(&self) -> String {
        self.allowed_under(BOUND.get())
    }

    fn own(&self) -> Instant {
        self.started + self.limit
    }

    /// The stop's bound of this call, if it comes before its own deadline.
    fn bound_by(&self, bound: Option<&Bound>) -> Option<Instant> {
        let bound = bound?;
        let at = self.started.max(bound.since) + bound.grace;
        (at < self.own()).then_some(at)
    }

    fn under(&self, bound: Option<&Bound>) -> Instant {
        self.bound_by(bound).unwrap_or_else(|| self.own())
    }

    fn allowed_under(&self, bound: Option<&Bound>) -> String {
        match (self.bound_by(bound), bound) {
            (Some(_), Some(bound)) => format!(
                "within the grace period of {} after {}",
                seconds(bound.grace),
                bound.by
            ),
            _ => format!("within {}", seconds(self.limit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    fn bound(since: Instant) -> Bound {
        Bound {
            since,
            grace: GRACE,
            by: "SIGTERM".into(),
        }
    }

    fn call(started: Instant, limit: u64) -> CallDeadline {
        CallDeadline {
            started,
            limit: Duration::from_secs(limit),
        }
    }

    #[test]
    fn without_a_stop_a_call_has_its_own_limit() {
        let start = Instant::now();
        let call = call(start, 600);
        assert_eq!(call.under(None), start + Duration::from_secs(600));
        assert_eq!(call.allowed_under(None), "within 600 s");
    }

    #[test]
    fn a_call_under_way_when_the_stop_comes_has_the_grace_period_from_the_stop() {
        let start = Instant::now();
        let stop = start + Duration::from_secs(100);
        let call = call(start, 600);
        assert_eq!(call.under(Some(&bound(stop))), stop + GRACE);
        assert_eq!(
            call.allowed_under(Some(&bound(stop))),
            "within the grace period of 10 s after SIGTERM"
        );
    }

    #[test]
    fn a_call_made_after_the_stop_has_the_grace_period_from_its_start() {
        let stop = Instant::now();
        let start = stop + Duration::from_secs(100);
        assert_eq!(call(start, 600).under(Some(&bound(stop))), start + GRACE);
    }

    #[test]
    fn a_call_whose_own_limit_comes_first_keeps_it_and_says_so() {
        let start = Instant::now();
        let call = call(start, 5);
        assert_eq!(
            call.under(Some(&bound(start))),
            start + Duration::from_secs(5)
        );
        assert_eq!(call.allowed_under(Some(&bound(start))), "within 5 s");
    }
}
