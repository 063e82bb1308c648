//! Jobs waiting for the run's slots.
//!
//! The run has `jobs` slots. A job takes one, except the case of a whole
//! source whose process spreads its tests over workers of its own
//! ([`TestCase::workers`]): it takes one a worker.
//!
//! Jobs start in the order they were submitted, so tests run in the order
//! discovered, with one exception: a source may cap how many of its
//! processes run at once (its `jobs`), and while all of those are busy its
//! waiting jobs let the other sources' jobs pass. Each source waits in a
//! lane of its own, and the next job to start is the earliest submitted at
//! the head of a lane with room: a choice among the sources, not the jobs,
//! however many tests wait. When that job needs more slots than are free,
//! it waits for them and nothing passes it: a job of one slot after it
//! would otherwise take each slot as it came free, and it might never
//! start.

use std::collections::VecDeque;

use proctor_plugin_api::messages::TestCase;

use super::execute::Job;

pub struct Queue {
    lanes: Vec<Lane>,
    /// The order of the next job submitted.
    next: u64,
    /// The run's slots, and how many of them running jobs hold.
    slots: usize,
    busy: usize,
}

struct Lane {
    source: String,
    /// The most slots its running jobs may hold at once.
    limit: usize,
    busy: usize,
    waiting: VecDeque<Waiting>,
}

struct Waiting {
    order: u64,
    slots: usize,
    job: Job,
}

impl Queue {
    /// A queue for a run of `slots` jobs at once.
    pub fn new(slots: usize) -> Self {
        Self {
            lanes: Vec::new(),
            next: 0,
            slots: slots.max(1),
            busy: 0,
        }
    }

    /// Queues `job` behind every job submitted before it.
    pub fn push(&mut self, job: Job) {
        let order = self.next;
        self.next += 1;
        let name = job.source.name();
        let lane = match self.lanes.iter().position(|lane| lane.source == name) {
            Some(at) => &mut self.lanes[at],
            None => {
                self.lanes.push(Lane {
                    source: name.to_owned(),
                    limit: job.source.jobs(self.slots),
                    busy: 0,
                    waiting: VecDeque::new(),
                });
                self.lanes.last_mut().expect("just pushed")
            }
        };
        let slots = slots_of(&job.tests, lane.limit);
        lane.waiting.push_back(Waiting { order, slots, job });
    }

    /// The job to start next and the slots it holds from now on: the
    /// earliest submitted of those whose source has room for it, if the
    /// run has the slots it needs free.
    pub fn start(&mut self) -> Option<(Job, usize)> {
        let (_, slots, at) = (self.lanes.iter().enumerate())
            .filter_map(|(at, lane)| {
                let next = lane.waiting.front()?;
                let room = lane.busy + next.slots <= lane.limit;
                room.then_some((next.order, next.slots, at))
            })
            .min_by_key(|&(order, ..)| order)?;
        if self.busy + slots > self.slots {
            return None;
        }
        let lane = &mut self.lanes[at];
        let Waiting { job, .. } = lane.waiting.pop_front()?;
        lane.busy += slots;
        self.busy += slots;
        Some((job, slots))
    }

    /// A job of `source` that [`Self::start`] gave, holding `slots`, has ended.
    pub fn ended(&mut self, source: &str, slots: usize) {
        if let Some(lane) = self.lanes.iter_mut().find(|lane| lane.source == source) {
            lane.busy = lane.busy.saturating_sub(slots);
        }
        self.busy = self.busy.saturating_sub(slots);
    }

    /// Drops every waiting job.
    pub fn clear(&mut self) {
        self.lanes.iter_mut().for_each(|lane| lane.waiting.clear());
    }
}

/// The slots a job of `tests` holds in a lane of `limit`: one, or one a
/// worker of a whole source's case, as many as the lane has.
fn slots_of(tests: &[TestCase], limit: usize) -> usize {
    match tests {
        [case] if case.expands => case.workers.map_or(1, |w| w as usize).clamp(1, limit),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use proctor_plugin_api::messages::ExecutionMode;

    use super::*;
    use crate::run::schedule::tests::capped_source;

    /// A first attempt at `tests` of a source capped at `jobs`.
    fn job_of(source: &str, jobs: Option<usize>, tests: Vec<TestCase>) -> Job {
        Job {
            source: capped_source(source, ExecutionMode::Batch, jobs),
            tests,
            attempt: 1,
        }
    }

    fn case(id: &str, workers: Option<u32>) -> TestCase {
        TestCase {
            expands: workers.is_some(),
            workers,
            ..TestCase::new(id)
        }
    }

    fn started(queue: &mut Queue) -> Option<(String, usize)> {
        let (job, slots) = queue.start()?;
        Some((job.tests[0].id.clone(), slots))
    }

    #[test]
    fn a_case_of_workers_holds_a_slot_a_worker_as_many_as_the_run_has() {
        let mut queue = Queue::new(3);
        queue.push(job_of("py", None, vec![case("whole", Some(8))]));
        queue.push(job_of("go", None, vec![case("a", None)]));
        assert_eq!(started(&mut queue), Some(("whole".into(), 3)));
        assert_eq!(started(&mut queue), None, "every slot is held");
        queue.ended("py", 3);
        assert_eq!(started(&mut queue), Some(("a".into(), 1)));
    }

    #[test]
    fn a_case_waiting_for_slots_is_passed_by_no_later_job() {
        let mut queue = Queue::new(2);
        queue.push(job_of("go", None, vec![case("a", None)]));
        queue.push(job_of("py", None, vec![case("whole", Some(2))]));
        queue.push(job_of("go", None, vec![case("b", None)]));
        assert_eq!(started(&mut queue), Some(("a".into(), 1)));
        assert_eq!(
            started(&mut queue),
            None,
            "the case waits for two slots, b behind it"
        );
        queue.ended("go", 1);
        assert_eq!(started(&mut queue), Some(("whole".into(), 2)));
        queue.ended("py", 2);
        assert_eq!(started(&mut queue), Some(("b".into(), 1)));
    }

    #[test]
    fn a_source_capped_lets_later_jobs_of_others_pass() {
        let mut queue = Queue::new(3);
        queue.push(job_of("gtest", Some(1), vec![case("a", None)]));
        queue.push(job_of("gtest", Some(1), vec![case("b", None)]));
        queue.push(job_of("py", None, vec![case("c", None)]));
        assert_eq!(started(&mut queue), Some(("a".into(), 1)));
        assert_eq!(started(&mut queue), Some(("c".into(), 1)), "b waits for a");
        assert_eq!(started(&mut queue), None);
        queue.ended("gtest", 1);
        assert_eq!(started(&mut queue), Some(("b".into(), 1)));
    }

    #[test]
    fn a_capped_source_gives_a_case_of_workers_its_own_jobs_at_most() {
        let mut queue = Queue::new(4);
        queue.push(job_of("py", Some(2), vec![case("whole", Some(4))]));
        queue.push(job_of("go", None, vec![case("a", None)]));
        assert_eq!(started(&mut queue), Some(("whole".into(), 2)));
        assert_eq!(started(&mut queue), Some(("a".into(), 1)));
    }
}
