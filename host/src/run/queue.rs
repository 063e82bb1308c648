//! Jobs waiting for one of the run's slots.
//!
//! Jobs start in the order they were submitted, so tests run in the order
//! discovered, with one exception: a source may cap how many of its
//! processes run at once (its `jobs`), and while all of those are busy its
//! waiting jobs let the other sources' jobs pass. Each source waits in a
//! lane of its own, and the next job to start is the earliest submitted at
//! the head of a lane with room: a choice among the sources, not the jobs,
//! however many tests wait.

use std::collections::VecDeque;

use super::execute::Job;

#[derive(Default)]
pub struct Queue {
    lanes: Vec<Lane>,
    /// The order of the next job submitted.
    next: u64,
}

struct Lane {
    source: String,
    /// The most of its jobs that may run at once.
    limit: usize,
    running: usize,
    waiting: VecDeque<(u64, Job)>,
}

impl Queue {
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
                    limit: job.source.jobs(usize::MAX),
                    running: 0,
                    waiting: VecDeque::new(),
                });
                self.lanes.last_mut().expect("just pushed")
            }
        };
        lane.waiting.push_back((order, job));
    }

    /// The job to start next, counted as running from now on: the earliest
    /// submitted of those whose source has room for another process.
    pub fn start(&mut self) -> Option<Job> {
        let lane = (self.lanes.iter_mut())
            .filter(|lane| lane.running < lane.limit)
            .filter_map(|lane| Some((lane.waiting.front()?.0, lane)))
            .min_by_key(|(order, _)| *order)?
            .1;
        lane.running += 1;
        lane.waiting.pop_front().map(|(_, job)| job)
    }

    /// A job of `source` that [`Self::start`] gave has ended.
    pub fn ended(&mut self, source: &str) {
        if let Some(lane) = self.lanes.iter_mut().find(|lane| lane.source == source) {
            lane.running = lane.running.saturating_sub(1);
        }
    }

    /// Drops every waiting job.
    pub fn clear(&mut self) {
        self.lanes.iter_mut().for_each(|lane| lane.waiting.clear());
    }
}
