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

type Job = Box<dyn FnOnce() + Send>;

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
}
