//! Deadlines of calls made in the host's process.
//!
//! A plugin in the host's process is called on the caller's own thread. A
//! thread cannot be stopped from outside, and handing each call to another
//! thread so that the caller could stop waiting cost two thread switches a
//! call: a tenth of the wall time of 500 pytest tests on two busy cores
//! (`parse_output` comes with every batch of a test's output), and 5% of
//! 200 libtest tests, a process each (`plan_execution` and
//! `collect_results` for each). So the deadline is kept here: a thread
//! looks at the calls under way once a second, and a call past its
//! deadline holds a thread of the host that nothing can free. The run
//! cannot finish properly then, and it must not hang: the host's handler
//! ([`on_stuck_call`]) reports the plugin and the call, and ends the host
//! with an infrastructure error, as a plugin crashing in process would.
//! Out of process, a missed deadline only kills the plugin's process. A
//! stop request bounds every deadline by the grace period (`stopping.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::call::Operation;
use crate::stopping::CallDeadline;

/// What the host does with a call that missed its deadline on a thread of
/// its own: it gets the message, and is not expected to return.
pub type StuckCall = Box<dyn Fn(&str) + Send + Sync>;

static HANDLER: OnceLock<StuckCall> = OnceLock::new();

/// Sets what happens when a call made on the caller's thread misses its
/// deadline; once per process. Without a handler the message is printed
/// and the process aborts.
pub fn on_stuck_call(handler: StuckCall) {
    let _ = HANDLER.set(handler);
}

/// How often the watchdog looks: deadlines are kept to about this.
const LOOK_INTERVAL: Duration = Duration::from_secs(1);

struct Call {
    deadline: CallDeadline,
    plugin: Arc<str>,
    operation: Operation,
}

#[derive(Default)]
pub(crate) struct Watchdog {
    calls: Mutex<HashMap<u64, Call>>,
    next: AtomicU64,
}

/// A call being watched, until dropped.
pub(crate) struct Watched {
    id: u64,
}

impl Drop for Watched {
    fn drop(&mut self) {
        Watchdog::global()
            .calls
            .lock()
            .expect("the watchdog's lock")
            .remove(&self.id);
    }
}

impl Watchdog {
    fn global() -> &'static Watchdog {
        static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
        WATCHDOG.get_or_init(|| {
            std::thread::Builder::new()
                .name("plugin-watchdog".into())
                .spawn(|| loop {
                    std::thread::sleep(LOOK_INTERVAL);
                    Watchdog::global().look(Instant::now());
                })
                .expect("the watchdog thread starts");
            Watchdog::default()
        })
    }

    /// Watches a call of `plugin` that may take `limit`.
    pub fn watch(plugin: &Arc<str>, operation: Operation, limit: Duration) -> Watched {
        let watchdog = Self::global();
        let id = watchdog.next.fetch_add(1, Ordering::Relaxed);
        let call = Call {
            deadline: CallDeadline::starting_now(limit),
            plugin: plugin.clone(),
            operation,
        };
        watchdog
            .calls
            .lock()
            .expect("the watchdog's lock")
            .insert(id, call);
        Watched { id }
    }

    fn look(&self, now: Instant) {
        let stuck = self.overdue(now);
        if let Some(message) = stuck {
            match HANDLER.get() {
                Some(handler) => handler(&message),
                None => {
                    eprintln!("{message}");
                    std::process::abort();
                }
            }
        }
    }

    /// The message of the first call past its deadline at `now`.
    fn overdue(&self, now: Instant) -> Option<String> {
        let calls = self.calls.lock().expect("the watchdog's lock");
        let call = calls.values().find(|call| call.deadline.at() <= now)?;
        let (plugin, operation) = (&call.plugin, call.operation);
        Some(format!(
            "{plugin} failed in {operation}: it did not answer `{operation}` {}, and it runs in \
             the host's process, on a thread nothing can free: the run cannot go on",
            call.deadline.allowed()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_overdue_only_past_its_deadline_and_only_while_it_runs() {
        let plugin: Arc<str> = Arc::from("runner `slow`");
        let watched = Watchdog::watch(&plugin, Operation::ParseOutput, Duration::from_secs(30));
        let watchdog = Watchdog::global();
        let now = Instant::now();
        let overdue = |at| {
            watchdog
                .overdue(at)
                .filter(|message| message.starts_with("runner `slow`"))
        };
        assert_eq!(overdue(now), None);
        let message = overdue(now + Duration::from_secs(31)).expect("overdue");
        assert!(
            message.contains("did not answer `parse_output` within 30 s"),
            "{message}"
        );
        drop(watched);
        assert_eq!(overdue(now + Duration::from_secs(31)), None);
    }
}
