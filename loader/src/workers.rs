//! Threads that make plugin calls for callers who wait with a deadline.
//!
//! A thread cannot be stopped from outside, so a call that hangs keeps its
//! thread for good: the caller stops waiting at the deadline, and the pool
//! starts another thread for the next call. Threads that finished a call
//! wait for the next one, so a call costs a hand-over, not a thread start.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use proctor_plugin_api::abi::PluginError;

use crate::call::{ProgressCell, ProgressFn};

type Job = Box<dyn FnOnce() + Send>;

/// What a call answers: its JSON response or the plugin's error.
pub(crate) type Answer = Result<String, PluginError>;

/// Idle threads, each waiting on its own channel.
pub(crate) struct Workers {
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
}

impl Workers {
    /// The process's pool.
    pub fn global() -> &'static Workers {
        static WORKERS: OnceLock<Workers> = OnceLock::new();
        WORKERS.get_or_init(|| Workers {
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `job` on an idle thread, or on a new one.
    pub fn run(&'static self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        let idle = self.idle.lock().expect("the pool's lock").pop();
        if let Some(worker) = idle {
            // Idle threads never end, so the channel is open.
            worker.send(job).expect("an idle worker waits for a job");
            return;
        }
        let (sender, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("plugin-call".into())
            .spawn(move || {
                let mut job = job;
                loop {
                    job();
                    self.idle
                        .lock()
                        .expect("the pool's lock")
                        .push(sender.clone());
                    match jobs.recv() {
                        Ok(next) => job = next,
                        Err(_) => return,
                    }
                }
            })
            .expect("a thread for a plugin call starts");
    }
}

/// How waiting for a call ended.
pub(crate) enum Waited {
    Answered(Answer),
    /// The deadline passed first.
    Missed,
    /// Whatever was to answer is gone: a thread, a process.
    Gone,
}

/// Passes the latest progress of a call to `progress`, and its wish to
/// stop back through `cell` and `stop`.
pub(crate) fn pass_progress(
    cell: &ProgressCell,
    progress: Option<&ProgressFn<'_>>,
    stop: &dyn Fn(),
) {
    if let (Some(progress), Some((done, total))) = (progress, cell.take()) {
        if !progress(done, total) && !cell.stop_asked() {
            cell.ask_to_stop();
            stop();
        }
    }
}

/// How often a caller with a progress function looks at the progress.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Waits for `answer` until `deadline`, passing the call's progress to
/// `progress` as it comes, and its wish to stop back through `cell` and
/// `stop`.
pub(crate) fn wait_for(
    answer: &mpsc::Receiver<Answer>,
    cell: &ProgressCell,
    progress: Option<&ProgressFn<'_>>,
    deadline: Duration,
    stop: &dyn Fn(),
) -> Waited {
    let until = Instant::now() + deadline;
    let pass_progress = || pass_progress(cell, progress, stop);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let wait = match progress {
            Some(_) => left.min(PROGRESS_INTERVAL),
            None => left,
        };
        match answer.recv_timeout(wait) {
            Ok(answered) => {
                pass_progress();
                return Waited::Answered(answered);
            }
            Err(RecvTimeoutError::Disconnected) => return Waited::Gone,
            Err(RecvTimeoutError::Timeout) if left <= wait => return Waited::Missed,
            Err(RecvTimeoutError::Timeout) => pass_progress(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_call_that_hangs_is_given_up_at_its_deadline_and_the_next_runs_on_another_thread() {
        let (hung, _keep_hung_waiting) = mpsc::channel::<Answer>();
        let (release, hang) = mpsc::channel::<()>();
        Workers::global().run(move || {
            let _ = hang.recv();
            drop(hung);
        });
        let cell = ProgressCell::default();
        let (sender, answer) = mpsc::channel::<Answer>();
        drop(sender);
        assert!(matches!(
            wait_for(&answer, &cell, None, Duration::from_millis(10), &|| {}),
            Waited::Gone
        ));

        let (sender, answer) = mpsc::channel();
        Workers::global().run(move || {
            let _ = sender.send(Ok("answered".to_owned()));
        });
        match wait_for(&answer, &cell, None, Duration::from_secs(10), &|| {}) {
            Waited::Answered(Ok(text)) => assert_eq!(text, "answered"),
            _ => panic!("the second call was not answered"),
        }
        let (_sender, never) = mpsc::channel::<Answer>();
        let started = Instant::now();
        assert!(matches!(
            wait_for(&never, &cell, None, Duration::from_millis(50), &|| {}),
            Waited::Missed
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
        release.send(()).unwrap();
    }

    #[test]
    fn progress_reaches_the_caller_while_it_waits_and_its_stop_reaches_the_call() {
        let cell = Arc::new(ProgressCell::default());
        let (sender, answer) = mpsc::channel();
        let reporting = cell.clone();
        Workers::global().run(move || {
            let mut done = 0;
            while reporting.report(done, Some(1000)) {
                done += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = sender.send(Ok(done.to_string()));
        });
        let seen = Mutex::new(Vec::new());
        let progress = |done: u64, total: Option<u64>| {
            seen.lock().unwrap().push((done, total));
            done < 20
        };
        let waited = wait_for(
            &answer,
            &cell,
            Some(&progress),
            Duration::from_secs(30),
            &|| {},
        );
        let Waited::Answered(Ok(stopped_at)) = waited else {
            panic!("the call did not answer");
        };
        let seen = seen.into_inner().unwrap();
        assert!(seen.len() >= 2, "{seen:?}");
        assert!(seen.iter().all(|(_, total)| *total == Some(1000)));
        assert!(stopped_at.parse::<u64>().unwrap() >= 20);
    }
}
