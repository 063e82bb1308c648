//! Catching a process at the moment it faults, with the faulting frames
//! intact.
//!
//! A dump taken from inside a signal handler, or after the process died,
//! has lost the state of the fault. So a process whose faults are wanted is
//! started traced (`PTRACE_TRACEME`) by a thread of its own, the tracer, which
//! also traces the threads the process creates (`PTRACE_O_TRACECLONE`; forked
//! children are left alone). When a thread is about to receive its first
//! crash signal, the tracer holds the signal back, leaves the process stopped and
//! untraced, and reports the fault: the thread's registers are as the fault
//! left them, and a dumper can attach to every thread. [`resume`] then lets
//! the process go on to receive its signal.
//!
//! Every thread of a traced process stops at each signal it receives and at
//! each thread it creates; the tracer passes those on at once.

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use libc::{c_int, pid_t};
use tokio::sync::mpsc;

use super::spawn::{
    self, retrying, wait_blocking, GroupFds, Launch, Output, Pipes, Program, Spawned,
};
use super::tree;

/// The signals a fault or an abort delivers.
const CRASH_SIGNALS: [c_int; 6] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGSYS,
];

/// A thread about to receive a crash signal; its process is stopped and
/// untraced until [`resume`]. Serialized as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Fault {
    pub pid: u32,
    pub tid: u32,
    pub signal: i32,
    /// `si_code`: positive when the kernel raised the signal for a fault,
    /// otherwise how it was sent (`abort` sends it with `tgkill`).
    #[serde(skip)]
    pub code: i32,
    /// The faulting address, for the signals that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u64>,
    /// Whether the process has a handler for the signal, which may yet
    /// recover; otherwise the signal ends it.
    #[serde(skip)]
    pub handled: bool,
}

/// What a traced process did, as the tracer reports it.
#[derive(Debug)]
pub enum Report {
    Faulted(Fault),
    /// Stopped and untraced, as [`Traced::release`] asked.
    Released,
    Exited(ExitStatus),
}

/// A process started traced.
pub struct Traced {
    reports: mpsc::UnboundedReceiver<Report>,
    release: Arc<AtomicBool>,
    /// Until it faulted or was released (or tracing was refused), the
    /// tracer holds the process.
    tracing: bool,
}

impl Traced {
    /// Starts `command` traced, on a tracer thread of its own (ptrace
    /// requests come from the thread that started the tracee). Answers its
    /// pid and pipes; its exit comes as a [`Report`].
    pub fn spawn(
        program: Program,
        output: Output,
        group: Option<GroupFds>,
    ) -> io::Result<(u32, Option<Pipes>, Self)> {
        // A byte on this pipe says that tracing was refused (under a
        // debugger or `strace -f`, say, or where ptrace is forbidden): the
        // process then runs untraced, its exit reported, no fault.
        let (mut refusals, refused) = io::pipe()?;
        let (reports_sender, reports) = mpsc::unbounded_channel();
        let (spawned_sender, spawned) = std::sync::mpsc::sync_channel(1);
        let release = Arc::new(AtomicBool::new(false));
        let released = release.clone();
        std::thread::Builder::new()
            .name("tracer".into())
            .spawn(move || {
                let launch = Launch {
                    program: &program,
                    output,
                    group,
                    trace_refusals: Some(refused.as_raw_fd()),
                };
                let Spawned { pid, pidfd, pipes } = match spawn::spawn(launch) {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = spawned_sender.send(Err(e));
                        return;
                    }
                };
                // The child's end closed at its exec: the read ends at once.
                drop(refused);
                let mut refusal = Vec::new();
                let traced = refusals.read_to_end(&mut refusal).is_ok() && refusal.is_empty();
                let _ = spawned_sender.send(Ok((pid, pipes, traced)));
                Tracer::new(pid as pid_t, pidfd, released).run(traced, &reports_sender);
            })?;
        let (pid, pipes, traced) = spawned.recv().map_err(|_| {
            io::Error::other("the tracer thread ended before the process started")
        })??;
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !traced && !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                pid,
                "a test process could not be traced (is proctor itself traced, or ptrace \
                 forbidden here?): faults are not caught, crashes are not dumped"
            );
        }
        let traced = Self {
            reports,
            release,
            tracing: traced,
        };
        Ok((pid, pipes, traced))
    }

    /// Whether the tracer holds the process: not once it faulted or was
    /// released, nor where tracing was refused.
    pub fn tracing(&self) -> bool {
        self.tracing
    }

    /// The tracer's next report; a fault or a release ends the tracing.
    pub async fn next(&mut self) -> io::Result<Report> {
        let report = self
            .reports
            .recv()
            .await
            .ok_or_else(|| io::Error::other("the tracer thread ended"))?;
        if matches!(report, Report::Faulted(_) | Report::Released) {
            self.tracing = false;
        }
        Ok(report)
    }

    /// Asks the tracer to leave the process stopped and untraced, so that
    /// another tracer (a dumper) can attach. A [`Report::Released`] follows,
    /// unless the process faulted or ended first.
    pub fn release(&self, pid: u32) {
        self.release.store(true, Ordering::SeqCst);
        // The tracer waits for its tracees: a stop is what wakes it.
        tree::signal(pid, libc::SIGSTOP);
    }
}

/// Lets a process that [`Report::Faulted`] go on: its signal is pending
/// again (or, a handled fault, happens again), to end it or to go to its
/// handler.
pub fn resume(fault: &Fault) {
    tree::signal(fault.pid, libc::SIGCONT);
}

fn tgkill(pid: pid_t, tid: pid_t, signal: c_int) {
    // SAFETY: tgkill has no memory-safety preconditions.
    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signal) };
}

/// What `waitpid` said of one tracee.
enum Wait {
    Ended(ExitStatus),
    /// A stop: the signal, and the ptrace event (0 for none).
    Stopped(c_int, c_int),
}

/// Waits for the next change of any tracee of this thread.
fn wait_any() -> io::Result<(pid_t, Wait)> {
    let mut status: c_int = 0;
    // SAFETY: `status` is a valid out pointer.
    let tid =
        retrying(|| unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD) })?;
    let wait = if libc::WIFSTOPPED(status) {
        Wait::Stopped(libc::WSTOPSIG(status), status >> 16)
    } else {
        Wait::Ended(ExitStatus::from_raw(status))
    };
    Ok((tid, wait))
}

/// A ptrace request; `data` is an address for the requests that write one.
fn ptrace(request: libc::c_uint, tid: pid_t, data: *mut libc::c_void) -> io::Result<()> {
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: the requests made here take no address, and data that is a
    // number or, for the requests that write, a valid address.
    if unsafe { libc::ptrace(request, tid, null, data) } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn number(value: c_int) -> *mut libc::c_void {
    value as usize as *mut libc::c_void
}

fn restart(tid: pid_t, signal: c_int) {
    // A tracee killed meanwhile cannot be restarted; its end follows.
    let _ = ptrace(libc::PTRACE_CONT, tid, number(signal));
}

fn detach(tid: pid_t, signal: c_int) {
    let _ = ptrace(libc::PTRACE_DETACH, tid, number(signal));
}

/// The thread a clone event created.
fn new_thread(tid: pid_t) -> io::Result<pid_t> {
    let mut message: libc::c_ulong = 0;
    ptrace(
        libc::PTRACE_GETEVENTMSG,
        tid,
        (&mut message as *mut libc::c_ulong).cast(),
    )?;
    Ok(message as pid_t)
}

/// The signal a thread in a signal stop is about to take; an error for a
/// group stop.
fn siginfo(tid: pid_t) -> io::Result<libc::siginfo_t> {
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    ptrace(libc::PTRACE_GETSIGINFO, tid, info.as_mut_ptr().cast())?;
    // SAFETY: zeroed is a valid siginfo_t, and the kernel filled it.
    Ok(unsafe { info.assume_init() })
}

/// Whether the process has a handler installed for `signal`
/// (`SigCgt` in `/proc/PID/status`).
fn handles(pid: pid_t, signal: c_int) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

struct Tracer {
    pid: pid_t,
    /// The process's pidfd, for waiting once it is untraced; `None` where
    /// the kernel has no pidfds.
    pidfd: Option<OwnedFd>,
    /// Traced threads, the process's main thread among them.
    threads: HashSet<pid_t>,
    /// Threads a clone event announced whose first stop (a SIGSTOP the
    /// kernel queues for a newly traced thread) is still to come.
    starting: HashSet<pid_t>,
    /// Whether the stop after the first exec, when options are set, was seen.
    started: bool,
    release: Arc<AtomicBool>,
}

impl Tracer {
    fn new(pid: pid_t, pidfd: Option<OwnedFd>, release: Arc<AtomicBool>) -> Self {
        Self {
            pid,
            pidfd,
            threads: HashSet::from([pid]),
            starting: HashSet::new(),
            started: false,
            release,
        }
    }

    /// Traces the process, when `traced`, until it ends, faults or is
    /// released, then waits for it as for any child; reports what it did.
    fn run(mut self, traced: bool, reports: &mpsc::UnboundedSender<Report>) {
        let status = match traced.then(|| self.trace()) {
            Some(Ok(Report::Exited(status))) => Ok(status),
            Some(Ok(report)) => {
                let _ = reports.send(report);
                wait_for(self.pid, self.pidfd.as_ref())
            }
            Some(Err(e)) => Err(e),
            None => wait_for(self.pid, self.pidfd.as_ref()),
        };
        match status {
            Ok(status) => drop(reports.send(Report::Exited(status))),
            Err(e) => tracing::error!(pid = self.pid, "cannot wait for a test process: {e}"),
        }
    }

    /// Passes stops on until the process ends, faults, or is to be released.
    fn trace(&mut self) -> io::Result<Report> {
        loop {
            let (tid, wait) = wait_any()?;
            let (signal, event) = match wait {
                Wait::Ended(status) => {
                    self.threads.remove(&tid);
                    if tid == self.pid {
                        return Ok(Report::Exited(status));
                    }
                    continue;
                }
                Wait::Stopped(signal, event) => (signal, event),
            };
            if !self.started && tid == self.pid && signal == libc::SIGTRAP {
                // The stop after exec: from now on, threads are traced too,
                // and the process dies with this thread.
                self.started = true;
                let options =
                    libc::PTRACE_O_TRACECLONE | libc::PTRACE_O_TRACEEXEC | libc::PTRACE_O_EXITKILL;
                ptrace(libc::PTRACE_SETOPTIONS, tid, number(options))?;
                restart(tid, 0);
                continue;
            }
            if event == libc::PTRACE_EVENT_CLONE {
                let thread = new_thread(tid)?;
                if self.threads.insert(thread) {
                    self.starting.insert(thread);
                }
                restart(tid, 0);
                continue;
            }
            if event == libc::PTRACE_EVENT_EXEC {
                // An exec leaves one thread, the main one, whichever thread
                // called it; the others are gone (their ends may follow).
                self.threads = HashSet::from([self.pid]);
                self.starting.clear();
            }
            if event != 0 {
                restart(tid, 0);
                continue;
            }
            // A new thread's first stop may come before its clone event.
            if signal == libc::SIGSTOP && (self.starting.remove(&tid) || self.threads.insert(tid)) {
                restart(tid, 0);
                continue;
            }
            let Ok(info) = siginfo(tid) else {
                // A group stop (the tracee stays traced through it).
                restart(tid, 0);
                continue;
            };
            if signal == libc::SIGSTOP && self.release.load(Ordering::SeqCst) {
                return Ok(match self.detach_all(tid)? {
                    Some(status) => Report::Exited(status),
                    None => Report::Released,
                });
            }
            if CRASH_SIGNALS.contains(&signal) {
                // The first crash signal is caught, whoever sent it and
                // whether or not the process handles it: a handler may run
                // on another stack, or end the process itself, and the
                // frames that led to the signal are intact only now.
                let handled = handles(self.pid, signal);
                let fault = Fault {
                    pid: self.pid as u32,
                    tid: tid as u32,
                    signal,
                    code: info.si_code,
                    address: (info.si_code > 0 && has_address(signal))
                        // SAFETY: a fault's signal carries its address.
                        .then(|| unsafe { info.si_addr() } as u64),
                    handled,
                };
                if let Some(status) = self.detach_all(tid)? {
                    return Ok(Report::Exited(status));
                }
                // Sent again now, pending while the process is stopped, so
                // that it is the first thing the process does when continued,
                // whoever continues it (a dumper does). A fault with a
                // handler happens again instead, the faulting instruction
                // run again, so that the handler sees it as the kernel told.
                if !(handled && info.si_code > 0) {
                    tgkill(self.pid, tid, signal);
                }
                return Ok(Report::Faulted(fault));
            }
            restart(tid, signal);
        }
    }

    /// Leaves the process stopped and untraced. `first` is in a signal stop:
    /// it is let go with a SIGSTOP in place of its signal, which stops the
    /// whole process; every other thread then reports its stop and is let go
    /// too, still stopped. Answers the process's exit if it ended meanwhile
    /// (killed, say).
    fn detach_all(&mut self, first: pid_t) -> io::Result<Option<ExitStatus>> {
        detach(first, libc::SIGSTOP);
        self.threads.remove(&first);
        // Only threads that still exist will report a stop.
        let pid = self.pid;
        self.threads
            .retain(|tid| std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists());
        let mut detached = HashSet::from([first]);
        while !self.threads.is_empty() {
            let (tid, wait) = wait_any()?;
            self.threads.remove(&tid);
            let (signal, event) = match wait {
                Wait::Ended(status) if tid == self.pid => return Ok(Some(status)),
                Wait::Ended(_) => continue,
                Wait::Stopped(signal, event) => (signal, event),
            };
            if event == libc::PTRACE_EVENT_CLONE {
                let thread = new_thread(tid)?;
                if !detached.contains(&thread) {
                    self.threads.insert(thread);
                }
            }
            // A signal this thread was about to take stays pending for it.
            let pending = match (event, signal) {
                (0, libc::SIGSTOP) => 0,
                (0, signal) if siginfo(tid).is_ok() => signal,
                _ => 0,
            };
            detach(tid, pending);
            detached.insert(tid);
        }
        wait_until_stopped(self.pid)?;
        Ok(None)
    }
}

/// Waits until every thread of an untraced child has stopped (or it
/// ended), leaving the state to be waited for again.
fn wait_until_stopped(pid: pid_t) -> io::Result<()> {
    spawn::peek_state(pid, libc::WSTOPPED | libc::WEXITED).map(drop)
}

fn has_address(signal: c_int) -> bool {
    matches!(
        signal,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
    )
}

/// Waits for an untraced child to end.
///
/// Not with a blocking `waitpid` alone: while a dumper in this process (a
/// collector) traces the child, the kernel reports the dumper's stops to
/// any thread of the child's parent process, and such a wait would take
/// them from the dumper. Its pidfd becomes readable only once the process
/// has ended (without one, [`spawn::wait_ended`] leaves stops where they
/// are), and the wait that follows reaps it.
fn wait_for(pid: pid_t, pidfd: Option<&OwnedFd>) -> io::Result<ExitStatus> {
    match pidfd {
        Some(pidfd) => {
            let mut poll = libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            retrying(|| unsafe { libc::poll(&mut poll, 1, -1) })?;
        }
        None => spawn::wait_ended(pid)?,
    }
    wait_blocking(pid)
}
