//! Being asked to stop: SIGINT, SIGTERM and SIGHUP end a run cleanly.
//!
//! The first signal asks for a graceful stop: nothing new starts, running
//! process trees get the same signal and a grace period to end, then are
//! killed; the run still writes its reports. Any later signal asks to kill
//! at once. The handlers replace an inherited "ignore": a proctor started
//! with `&` from a non-interactive shell still stops on SIGINT.

use tokio::sync::watch;

/// A signal that stops a run, serialized by its name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub enum Signal {
    #[serde(rename = "SIGINT")]
    Interrupt,
    #[serde(rename = "SIGTERM")]
    Terminate,
    #[serde(rename = "SIGHUP")]
    Hangup,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Interrupt, Signal::Terminate, Signal::Hangup];

    pub fn number(self) -> libc::c_int {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Hangup => libc::SIGHUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// The exit code of a run it stopped: 128 and the signal's number, as
    /// shells report a process the signal killed.
    pub fn exit_code(self) -> u8 {
        128 + self.number() as u8
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether, and how, the host was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stop {
    #[default]
    Running,
    /// Signal the running trees, wait the grace period, then kill.
    Gracefully(Signal),
    /// Kill the running trees at once; the signal is the first one received.
    Now(Signal),
}

impl Stop {
    /// The signal that stopped the run, if one did.
    pub fn signal(self) -> Option<Signal> {
        match self {
            Stop::Running => None,
            Stop::Gracefully(signal) | Stop::Now(signal) => Some(signal),
        }
    }

    /// What the next signal makes of this state.
    fn after(self, signal: Signal) -> Stop {
        match self {
            Stop::Running => Stop::Gracefully(signal),
            Stop::Gracefully(first) | Stop::Now(first) => Stop::Now(first),
        }
    }
}

/// Where stop requests come from: the signal handlers, or a caller.
#[derive(Debug, Clone)]
pub struct Stopper {
    sender: watch::Sender<Stop>,
}

impl Default for Stopper {
    fn default() -> Self {
        Self::new()
    }
}

impl Stopper {
    /// A stopper no signal reaches until [`Stopper::listen`].
    pub fn new() -> Self {
        Self {
            sender: watch::Sender::new(Stop::Running),
        }
    }

    /// Installs the handlers of SIGINT, SIGTERM and SIGHUP, which then stop
    /// the run rather than the process. Needs a Tokio runtime.
    pub fn listen(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        for kind in Signal::ALL {
            let mut stream = signal(SignalKind::from_raw(kind.number()))?;
            let stopper = self.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    stopper.request(kind);
                }
            });
        }
        Ok(())
    }

    /// As if `signal` was received.
    pub fn request(&self, signal: Signal) {
        self.sender.send_modify(|stop| *stop = stop.after(signal));
        tracing::debug!(stop = ?*self.sender.borrow(), "stop requested");
    }

    pub fn state(&self) -> Stop {
        *self.sender.borrow()
    }

    /// A receiver that learns of every later request.
    pub fn subscribe(&self) -> StopReceiver {
        StopReceiver(self.sender.subscribe())
    }
}

/// Learns of stop requests.
#[derive(Debug, Clone)]
pub struct StopReceiver(watch::Receiver<Stop>);

impl StopReceiver {
    pub fn state(&self) -> Stop {
        *self.0.borrow()
    }

    /// Waits for the next request and answers the state it made; pends
    /// forever once the stopper is gone.
    pub async fn changed(&mut self) -> Stop {
        match self.0.changed().await {
            Ok(()) => *self.0.borrow_and_update(),
            Err(_) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_stops_gracefully_and_any_later_one_at_once() {
        let stopper = Stopper::new();
        assert_eq!(stopper.state(), Stop::Running);
        stopper.request(Signal::Terminate);
        assert_eq!(stopper.state(), Stop::Gracefully(Signal::Terminate));
        stopper.request(Signal::Interrupt);
        assert_eq!(stopper.state(), Stop::Now(Signal::Terminate));
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Hangup.exit_code(), 129);
    }
}
