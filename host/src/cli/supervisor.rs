//! The status CI sees: 0 only for a run that finished and passed.
//!
//! Plugins loaded into the host's process can end it however they like:
//! `exit(0)` in a call, `_exit(0)` in a library's constructor, a segfault.
//! Had the process CI started been the host, CI would have read the
//! plugin's choice, 0 included, for a run that never finished. So that
//! process forks before anything is loaded and only supervises; the child
//! is the host. As its last act the host tells the parent, over a pipe,
//! the status it is about to exit with. The parent exits with the
//! announced status; a child that ends unannounced (an exit, a signal) is
//! reported, and the parent exits 3, infrastructure, or 128 and the number
//! of a stop signal that ended it. The rule is [`verdict`].
//!
//! Signals: the host runs in a process group of its own, and the parent
//! forwards SIGINT, SIGTERM and SIGHUP to it. A signal sent to the parent's
//! group (Ctrl-C at a terminal, a CI ending the job's group) thus reaches
//! the host once, never twice: a second stop signal means "kill now". A
//! parent killed with SIGKILL takes the host with it (`PR_SET_PDEATHSIG`),
//! as SIGKILL on the host did before; the guardian then ends the tests.
//!
//! The parent is single-threaded and does nothing but wait: signals are
//! blocked and taken with `sigwaitinfo`, so there are no handlers to keep
//! async-signal-safe.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

use proctor_plugin_api::messages::signal_name;

use crate::process::Signal;

/// The host's end of the pipe to its supervising parent.
pub struct Announcer {
    pipe: File,
}

impl Announcer {
    /// Tells the parent the status the host exits with: the run finished.
    pub fn announce(&self, status: u8) {
        if let Err(e) = (&self.pipe).write_all(&[status]) {
            tracing::warn!("cannot tell the supervising process the run's status: {e}");
        }
    }
}

/// Signals the parent waits for: the host's end, and those it forwards.
const WAITED: [libc::c_int; 4] = [libc::SIGCHLD, libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Forks. In the parent, supervises the child and exits with the run's
/// verdict, never returning; in the child, answers its end of the pipe.
/// Must be called while the process has one thread.
pub fn fork() -> io::Result<Announcer> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just opened both; each is owned once from here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let waited = signal_set(&WAITED);
    let mut previous = empty_signal_set();
    // SAFETY: signal dispositions and masks of a single-threaded process.
    // An inherited SIG_IGN would discard a stop signal, and an ignored
    // SIGCHLD reaps the child unseen; both go back to the default. They are
    // blocked before the fork, so no signal is lost in between.
    unsafe {
        for signal in WAITED {
            libc::signal(signal, libc::SIG_DFL);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &waited, &mut previous);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the process has one thread, so the child may run Rust freely.
    match unsafe { libc::fork() } {
        -1 => {
            let error = io::Error::last_os_error();
            // SAFETY: restores the mask saved above.
            unsafe { libc::sigprocmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
            Err(error)
        }
        0 => {
            drop(read);
            // SAFETY: process attributes of the child itself, before any
            // thread starts. The parent may have died before PDEATHSIG was
            // set; then nobody reads the status, and the host stops.
            unsafe {
                libc::sigprocmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(3);
                }
            }
            Ok(Announcer {
                pipe: File::from(write),
            })
        }
        child => {
            drop(write);
            // SAFETY: the child's group, set from both sides so that neither
            // forwards a signal before it exists.
            unsafe { libc::setpgid(child, child) };
            let ended = wait_forwarding(child, &waited);
            let (code, message) = verdict(read_announced(read), ended);
            if let Some(message) = message {
                eprintln!("{message}");
            }
            std::process::exit(code.into())
        }
    }
}

/// How the host's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Exited(i32),
    Killed(i32),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Ended::Exited(code) => write!(f, "exited with status {code}"),
            Ended::Killed(signal) => match signal_name(signal) {
                Some(name) => write!(f, "was killed by {name}"),
                None => write!(f, "was killed by signal {signal}"),
            },
        }
    }
}

/// Waits for `child` to end, forwarding stop signals to it meanwhile.
fn wait_forwarding(child: libc::pid_t, waited: &libc::sigset_t) -> Ended {
    loop {
        // SAFETY: waits for a blocked signal; the info is not read.
        let signal = unsafe { libc::sigwaitinfo(waited, std::ptr::null_mut()) };
        match signal {
            libc::SIGCHLD => {
                let mut status = 0;
                // SAFETY: reaps our own child, if it ended, into `status`.
                if unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) } == child {
                    if libc::WIFEXITED(status) {
                        return Ended::Exited(libc::WEXITSTATUS(status));
                    }
                    if libc::WIFSIGNALED(status) {
                        return Ended::Killed(libc::WTERMSIG(status));
                    }
                }
            }
            // Interrupted: wait again.
            -1 => {}
            // SAFETY: signals our own child's process.
            forwarded => unsafe {
                libc::kill(child, forwarded);
            },
        }
    }
}

/// The status the host announced, if it did. The pipe may still be held
/// open by a process a plugin forked, so the read must not block.
fn read_announced(pipe: OwnedFd) -> Option<u8> {
    crate::process::set_nonblocking(&pipe).ok()?;
    let mut byte = [0u8];
    let read = File::from(pipe).read(&mut byte).ok()?;
    (read == 1).then_some(byte[0])
}

/// The status CI sees, and what to tell it, from what the host announced
/// and how its process ended.
fn verdict(announced: Option<u8>, ended: Ended) -> (u8, Option<String>) {
    const INFRASTRUCTURE: u8 = 3;
    match (announced, ended) {
        (Some(code), Ended::Exited(exited)) if i32::from(code) == exited => (code, None),
        // The run finished; what came after it does not change its verdict.
        (Some(code), ended) => (
            code,
            Some(format!(
                "warning: proctor {ended} after the run finished with status {code}"
            )),
        ),
        (None, Ended::Killed(signal)) => {
            match Signal::ALL.into_iter().find(|s| s.number() == signal) {
                Some(stop) => (
                    stop.exit_code(),
                    Some(format!(
                        "error: proctor was stopped by {stop} before it could finish the run"
                    )),
                ),
                None => (
                    INFRASTRUCTURE,
                    Some(format!(
                        "error: proctor {ended} before the run finished; a plugin loaded in \
                         its process may have crashed (what was collected is in the results \
                         directory's journal)"
                    )),
                ),
            }
        }
        (None, ended) => (
            INFRASTRUCTURE,
            Some(format!(
                "error: proctor {ended} before the run finished; a plugin loaded in its \
                 process may have called exit (what was collected is in the results \
                 directory's journal)"
            )),
        ),
    }
}

fn empty_signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    let mut set = empty_signal_set();
    for &signal in signals {
        // SAFETY: adds a valid signal number to an initialised set.
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_status_is_the_verdict_when_the_host_exits_with_it() {
        for code in [0, 1, 2, 3, 4, 130] {
            assert_eq!(
                verdict(Some(code), Ended::Exited(code.into())),
                (code, None)
            );
        }
    }

    #[test]
    fn a_host_that_exits_without_announcing_is_an_infrastructure_error_even_at_zero() {
        let (code, message) = verdict(None, Ended::Exited(0));
        assert_eq!(code, 3);
        let message = message.unwrap();
        assert!(
            message.contains("exited with status 0 before the run finished"),
            "{message}"
        );
        assert!(message.contains("called exit"), "{message}");
        assert_eq!(verdict(None, Ended::Exited(101)).0, 3, "a panic");
    }

    #[test]
    fn a_host_killed_by_a_crash_is_an_infrastructure_error_naming_the_signal() {
        let (code, message) = verdict(None, Ended::Killed(libc::SIGSEGV));
        assert_eq!(code, 3);
        assert!(message.unwrap().contains("was killed by SIGSEGV"));
    }

    #[test]
    fn a_host_killed_by_a_stop_signal_ends_as_that_signal_stops_a_run() {
        let (code, message) = verdict(None, Ended::Killed(libc::SIGTERM));
        assert_eq!(code, 143);
        assert!(message.unwrap().contains("stopped by SIGTERM"));
    }

    #[test]
    fn what_happens_after_the_announcement_is_reported_but_keeps_the_verdict() {
        let (code, message) = verdict(Some(1), Ended::Exited(0));
        assert_eq!(code, 1);
        assert!(message
            .unwrap()
            .contains("exited with status 0 after the run finished"));
        assert_eq!(verdict(Some(0), Ended::Killed(libc::SIGABRT)).0, 0);
    }
}
