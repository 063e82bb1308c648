//! Threads that make a plugin process's calls, so that calls made at once
//! run at once, as they would in the host's process.
//!
//! A thread cannot be stopped from outside, so a call that hangs keeps its
//! thread for good (the host kills the process at the call's deadline),
//! and the pool starts another thread for the next call. Threads that
//! finished a call wait for the next one, so a call costs a hand-over, not
//! a thread start.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

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
    /// Whatever was to answer is gone.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_call_that_hangs_keeps_its_thread_and_the_next_runs_on_another() {
        let (release, hang) = mpsc::channel::<()>();
        Workers::global().run(move || {
            let _ = hang.recv();
        });
        let (sender, answer) = mpsc::channel();
        Workers::global().run(move || {
            let _ = sender.send("answered");
        });
        assert_eq!(answer.recv_timeout(Duration::from_secs(10)), Ok("answered"));
        release.send(()).unwrap();
    }

    #[test]
    fn progress_passes_once_per_report_and_a_stop_is_asked_once() {
        let cell = ProgressCell::default();
        let stops = std::sync::atomic::AtomicUsize::new(0);
        let stop = || {
            stops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let seen = Mutex::new(Vec::new());
        let progress = |done: u64, total: Option<u64>| {
            seen.lock().unwrap().push((done, total));
            done < 20
        };
        cell.report(10, Some(100));
        pass_progress(&cell, Some(&progress), &stop);
        pass_progress(&cell, Some(&progress), &stop);
        cell.report(30, Some(100));
        pass_progress(&cell, Some(&progress), &stop);
        cell.report(40, Some(100));
        pass_progress(&cell, Some(&progress), &stop);
        assert_eq!(
            *seen.lock().unwrap(),
            [(10, Some(100)), (30, Some(100)), (40, Some(100))]
        );
        assert_eq!(stops.into_inner(), 1);
        assert!(cell.stop_asked());
    }
}
