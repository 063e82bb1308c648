//! A stop reaches the plugin calls: once the host is asked to stop, no call
//! outlasts the grace period, as no test process does (the loader's
//! `bound_calls_after_stop` keeps the rule).

use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{Signal, Stopper};

/// The signal that asked the first stop, once the calls are bounded.
static BOUND_BY: OnceLock<Signal> = OnceLock::new();

/// Bounds the plugin calls by the grace period from the first stop request
/// its stopper hears, as long as it is held.
pub struct CallBound(tokio::task::JoinHandle<()>);

impl CallBound {
    /// Listens to `stopper` on the current Tokio runtime.
    pub fn start(stopper: &Stopper, grace: Duration) -> Self {
        let mut stop = stopper.subscribe();
        Self(tokio::spawn(async move {
            let mut state = stop.state();
            let signal = loop {
                match state.signal() {
                    Some(signal) => break signal,
                    None => state = stop.changed().await,
                }
            };
            // Known before any call can miss the bound.
            let _ = BOUND_BY.set(signal);
            proctor_loader::bound_calls_after_stop(grace, signal.name());
        }))
    }
}

impl Drop for CallBound {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The signal whose stop bounds the plugin calls, if one does: a host that
/// a call in its process then held past the bound ends with its status.
pub fn calls_bound_by() -> Option<Signal> {
    BOUND_BY.get().copied()
}
