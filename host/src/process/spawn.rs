//! Starting a supervised process inside its cgroup from its first
//! instruction.
//!
//! Moving a process into a cgroup (a write to `cgroup.procs`) takes the
//! kernel's cgroup thread-group lock for writing, and taking it first
//! waits out an RCU grace period unless another move came just before:
//! between the fork and the exec of each test process of an isolated run
//! of 60 ms tests, 11 to 20 ms went by. `clone3` with `CLONE_INTO_CGROUP`
//! (Linux 5.7) creates the child in its group instead: nothing moves,
//! nothing waits. `std::process::Command` cannot ask for that, so the
//! host starts its processes here:
//!
//! - Everything the child needs is made before the clone: the argument and
//!   environment arrays, every path the program may be at, the
//!   descriptors. Between clone and exec the child only makes system
//!   calls: a lock another thread of the host held (the allocator's) stays
//!   held for it.
//! - The child shares the host's memory until its exec, on a stack of its
//!   own, while the thread that started it waits (`CLONE_VM` and
//!   `CLONE_VFORK`, as `posix_spawn` does; x86-64). A copy of the memory
//!   cost each start the host's page tables, a TLB flush on every core its
//!   threads ran on, and then a fault on each page the host wrote next:
//!   300 of a 500-test GoogleTest run's 1,300 faults. Every signal is
//!   blocked across the clone, and each handled one is set back to its
//!   default before any is let through, so that no handler of the host's
//!   runs in the child: by the clone itself (`CLONE_CLEAR_SIGHAND`), or
//!   by a forked child, a call a signal.
//! - The child empties its signal mask, sets `SIGPIPE` back to its default
//!   (Rust ignores it), makes its own process group, takes its standard
//!   descriptors, changes directory, asks to be traced when told to, and
//!   runs the program, trying each place on `PATH` as `execvp` does
//!   (a file without `#!` runs under `/bin/sh`, as there).
//! - Where it failed before the program ran, it writes which step failed
//!   and the error number to a close-on-exec pipe, which the parent reads
//!   to its end: nothing read means the program runs.
//! - Where `clone3` is refused (kernels before 5.7, seccomp profiles that
//!   answer `ENOSYS` so that libc falls back to `clone`, or `EPERM`), the
//!   child is forked and moves itself into its group before the exec,
//!   which waits as above but contains it as well.
//!
//! The process is waited for through its pidfd, readable once it has ended
//! ([`Child`]); a tracer waits for its tracee itself. A kernel without
//! pidfds (before 5.3, or valgrind's emulation of one) gives none: a
//! blocking thread then waits for the end without reaping it, so the pid
//! stays the child's for as long as the host may signal it.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CString, OsString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};

use proctor_plugin_api::messages::CommandSpec;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Where `PATH` is unset, `execvp`'s own default.
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// A command made ready to start: every string the child reads, as C
/// strings, made before the clone.
pub struct Program {
    /// The paths to try, in order: the program's own path when it has a
    /// `/`, else each directory of `PATH` joined with its name.
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
}

fn c_string(bytes: Vec<u8>, what: &str) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} holds a NUL byte"),
        )
    })
}

impl Program {
    /// `spec` with the host's environment under its own variables and
    /// `extra`'s over both.
    pub fn new(spec: &CommandSpec, extra: &[(&str, &str)]) -> io::Result<Self> {
        let mut env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        let set = spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (name, value) in set.chain(extra.iter().copied()) {
            env.insert(name.into(), value.into());
        }
        let path = env.get(std::ffi::OsStr::new("PATH"));
        let candidates = candidates(&spec.program, path.map(|p| p.as_bytes()))?;
        let argv = std::iter::once(&spec.program)
            .chain(&spec.args)
            .map(|arg| c_string(arg.clone().into_bytes(), "an argument"))
            .collect::<io::Result<_>>()?;
        let envp = env
            .into_iter()
            .map(|(name, value)| {
                let mut entry = name.into_vec();
                entry.push(b'=');
                entry.extend(value.into_vec());
                c_string(entry, "an environment variable")
            })
            .collect::<io::Result<_>>()?;
        let cwd = match &spec.cwd {
            Some(dir) => Some(c_string(
                dir.as_os_str().as_bytes().to_vec(),
                "the working directory",
            )?),
            None => None,
        };
        Ok(Self {
            candidates,
            argv,
            envp,
            cwd,
        })
    }

    /// No program: a child started with it ends with status 0 once it is
    /// set up (in its group, with its streams), having run nothing. That
    /// proves a group takes a process without a program's start, which
    /// costs 0.6 ms of CPU on these virtual machines.
    pub fn nothing() -> Self {
        Self {
            candidates: Vec::new(),
            argv: Vec::new(),
            envp: Vec::new(),
            cwd: None,
        }
    }
}

/// Where `program` may be: itself when it names a path, else each
/// directory of `path` (an empty entry being the working directory).
fn candidates(program: &str, path: Option<&[u8]>) -> io::Result<Vec<CString>> {
    if program.contains('/') {
        return Ok(vec![c_string(program.into(), "the program")?]);
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(|&b| b == b':')
        .map(|dir| {
            let mut candidate = match dir {
                b"" => b"./".to_vec(),
                dir => [dir, b"/"].concat(),
            };
            candidate.extend_from_slice(program.as_bytes());
            c_string(candidate, "the program")
        })
        .collect()
}

/// Where the child's standard output and error go.
pub enum Output {
    /// To these files.
    Files(std::fs::File, std::fs::File),
    /// Into pipes, whose read ends come back in [`Spawned::pipes`].
    Pipes,
}

/// The group a child is born in: its directory, for `clone3`, and its
/// `cgroup.procs`, for the child to move itself where `clone3` is refused.
#[derive(Debug, Clone, Copy)]
pub struct GroupFds {
    pub dir: RawFd,
    pub procs: RawFd,
}

/// How to start one process.
pub struct Launch<'a> {
    pub program: &'a Program,
    pub output: Output,
    pub group: Option<GroupFds>,
    /// Ask to be traced (`PTRACE_TRACEME`); a byte written here says the
    /// kernel refused.
    pub trace_refusals: Option<RawFd>,
}

impl<'a> Launch<'a> {
    /// `program`, untraced, its output piped, in `group` when given.
    pub fn piped(program: &'a Program, group: Option<GroupFds>) -> Self {
        Self {
            program,
            output: Output::Pipes,
            group,
            trace_refusals: None,
        }
    }
}

/// The read ends of a child's stdout and stderr.
pub type Pipes = (OwnedFd, OwnedFd);

/// A process just started.
pub struct Spawned {
    pub pid: u32,
    /// `None` where the kernel has no pidfds.
    pub pidfd: Option<OwnedFd>,
    /// Stdout's and stderr's read ends, for [`Output::Pipes`].
    pub pipes: Option<Pipes>,
}

/// Which step of the child's failed, as its report names it.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Step {
    Signals = 1,
    ProcessGroup,
    Group,
    Descriptors,
    Directory,
    Exec,
}

impl Step {
    fn from_byte(byte: u8) -> Option<Self> {
        [
            Self::Signals,
            Self::ProcessGroup,
            Self::Group,
            Self::Descriptors,
            Self::Directory,
            Self::Exec,
        ]
        .into_iter()
        .find(|step| *step as u8 == byte)
    }

    /// The error, with what the step was unless it was running the
    /// program (which whoever started it names).
    fn error(self, program: &Program, error: io::Error) -> io::Error {
        let step = match self {
            Self::Signals => "cannot reset its signals".to_owned(),
            Self::ProcessGroup => "cannot make its process group".to_owned(),
            Self::Group => "cannot join its cgroup".to_owned(),
            Self::Descriptors => "cannot set up its standard streams".to_owned(),
            Self::Directory => {
                let dir = program.cwd.as_deref().map(|d| d.to_string_lossy());
                format!("cannot enter `{}`", dir.unwrap_or_default())
            }
            Self::Exec => return error,
        };
        io::Error::new(error.kind(), format!("{step}: {error}"))
    }
}

/// `libc`'s constant is an `i32` it overflows (and is deprecated for it).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The child's handled signals set back to their defaults by the kernel
/// as it clones (Linux 5.5, before `CLONE_INTO_CGROUP`); ignored ones
/// stay ignored. `libc`'s constant overflows as the one above does.
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// Whether `clone3` was refused once: from then on, children are forked
/// (and move themselves into their groups). Kernels 5.3 and 5.4 have
/// `clone3` but refuse both of the flags above, so they fork every child,
/// as they did wherever there were groups.
static CLONE3_REFUSED: AtomicBool = AtomicBool::new(false);

/// A pipe's read and write ends, both closed on exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = io::pipe()?;
    Ok((read.into(), write.into()))
}

/// Makes a system call until a signal does not interrupt it; answers its
/// result, or the error a negative result stands for.
pub(super) fn retrying(mut call: impl FnMut() -> c_int) -> io::Result<c_int> {
    loop {
        let result = call();
        if result >= 0 {
            return Ok(result);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// `fd`, or a copy of it numbered 3 or more: the child puts its streams
/// on 0, 1 and 2 one after another, which must not overwrite a source (a
/// host started with its own streams closed opens files there).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC takes no pointers; the copy is owned below.
    let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just opened, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Everything the child reads, as raw values, so that it touches no Rust
/// object that could allocate.
struct Plan {
    candidates: Vec<*const c_char>,
    argv: Vec<*const c_char>,
    /// `/bin/sh`, a slot for the candidate, the arguments: for a program
    /// without `#!`.
    sh_argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    cwd: Option<*const c_char>,
    stdio: [RawFd; 3],
    join: Option<RawFd>,
    trace_refusals: Option<RawFd>,
    report: RawFd,
    /// Whether the clone set the child's handled signals to their
    /// defaults already (`CLONE_CLEAR_SIGHAND`).
    handlers_cleared: bool,
}

const SHELL: &std::ffi::CStr = c"/bin/sh";

impl Plan {
    fn new(program: &Program, stdio: [RawFd; 3], report: RawFd) -> Self {
        let pointers = |strings: &[CString]| -> Vec<*const c_char> {
            let mut pointers: Vec<_> = strings.iter().map(|s| s.as_ptr()).collect();
            pointers.push(std::ptr::null());
            pointers
        };
        let argv = pointers(&program.argv);
        let mut sh_argv = vec![SHELL.as_ptr(), std::ptr::null()];
        sh_argv.extend_from_slice(&argv[1..]);
        Self {
            candidates: program.candidates.iter().map(|c| c.as_ptr()).collect(),
            argv,
            sh_argv,
            envp: pointers(&program.envp),
            cwd: program.cwd.as_ref().map(|c| c.as_ptr()),
            stdio,
            join: None,
            trace_refusals: None,
            report,
            handlers_cleared: false,
        }
    }
}

/// The child's side, from the clone to the exec.
///
/// # Safety
///
/// Only in a child just cloned or forked from this process, with `plan`'s
/// pointers valid (the parent's memory, or its copy, holds them), and with
/// every signal blocked where it shares the parent's memory.
unsafe fn run_child(plan: &mut Plan) -> ! {
    let report = plan.report;
    let fail = |step: Step| -> ! {
        let errno = *libc::__errno_location();
        let mut message = [0u8; 5];
        message[0] = step as u8;
        message[1..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(report, message.as_ptr().cast(), message.len());
        libc::_exit(127)
    };
    // A handler of the host's, run in a child that shares its memory,
    // would act for the host: every handled signal goes back to its
    // default before any is let through (the exec would do it after).
    // A clone that did so spares the child a call for each signal, 64 of
    // its start's system calls.
    if !plan.handlers_cleared {
        for signal in 1..=libc::SIGRTMAX() {
            let mut action = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
            if libc::sigaction(signal, std::ptr::null(), action.as_mut_ptr()) != 0 {
                continue;
            }
            let mut action = action.assume_init();
            if action.sa_sigaction != libc::SIG_DFL && action.sa_sigaction != libc::SIG_IGN {
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
    let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    libc::sigemptyset(empty.as_mut_ptr());
    if libc::sigprocmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut()) != 0 {
        fail(Step::Signals);
    }
    if libc::signal(libc::SIGPIPE, libc::SIG_DFL) == libc::SIG_ERR {
        fail(Step::Signals);
    }
    // Its own group, so that a signal reaches the children it starts.
    if libc::setpgid(0, 0) != 0 {
        fail(Step::ProcessGroup);
    }
    if let Some(procs) = plan.join {
        if libc::write(procs, b"0".as_ptr().cast(), 1) != 1 {
            fail(Step::Group);
        }
    }
    for (target, &source) in plan.stdio.iter().enumerate() {
        if libc::dup2(source, target as c_int) < 0 {
            fail(Step::Descriptors);
        }
    }
    if let Some(cwd) = plan.cwd {
        if libc::chdir(cwd) != 0 {
            fail(Step::Directory);
        }
    }
    if let Some(refusals) = plan.trace_refusals {
        let null = std::ptr::null_mut::<libc::c_void>();
        if libc::ptrace(libc::PTRACE_TRACEME, 0, null, null) == -1 {
            libc::write(refusals, [1u8].as_ptr().cast(), 1);
        }
    }
    if plan.candidates.is_empty() {
        libc::_exit(0)
    }
    let mut denied = false;
    for index in 0..plan.candidates.len() {
        let candidate = plan.candidates[index];
        libc::execve(candidate, plan.argv.as_ptr(), plan.envp.as_ptr());
        match *libc::__errno_location() {
            libc::ENOEXEC => {
                plan.sh_argv[1] = candidate;
                libc::execve(SHELL.as_ptr(), plan.sh_argv.as_ptr(), plan.envp.as_ptr());
                fail(Step::Exec);
            }
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => fail(Step::Exec),
        }
    }
    if denied {
        *libc::__errno_location() = libc::EACCES;
    }
    fail(Step::Exec)
}

/// Starts a process as `launch` says. Blocks until it runs its program or
/// failed to.
pub fn spawn(launch: Launch) -> io::Result<Spawned> {
    spawn_by(launch, !CLONE3_REFUSED.load(Ordering::Relaxed))
}

/// [`spawn`], trying `clone3` first or forking at once.
fn spawn_by(launch: Launch, try_clone3: bool) -> io::Result<Spawned> {
    let null = above_stdio(std::fs::File::open("/dev/null")?.into())?;
    let (stdout, stderr, pipes) = match launch.output {
        Output::Files(stdout, stderr) => (stdout.into(), stderr.into(), None),
        Output::Pipes => {
            let (stdout_read, stdout_write) = pipe()?;
            let (stderr_read, stderr_write) = pipe()?;
            (stdout_write, stderr_write, Some((stdout_read, stderr_read)))
        }
    };
    let (stdout, stderr) = (above_stdio(stdout)?, above_stdio(stderr)?);
    let (report_read, report_write) = pipe()?;
    let stdio = [null.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
    let mut plan = Plan::new(launch.program, stdio, report_write.as_raw_fd());
    plan.trace_refusals = launch.trace_refusals;
    let (pid, pidfd) = clone_child(&mut plan, launch.group, try_clone3)?;
    // The child has its copies; the pipes' write ends must close here for
    // their readers to see an end.
    drop((null, stdout, stderr, report_write));
    let mut report = Vec::new();
    std::fs::File::from(report_read).read_to_end(&mut report)?;
    if let [step, errno @ ..] = report.as_slice() {
        let _ = wait_blocking(pid);
        let errno = <[u8; 4]>::try_from(errno).map_or(0, c_int::from_ne_bytes);
        let error = io::Error::from_raw_os_error(errno);
        let step = Step::from_byte(*step).unwrap_or(Step::Exec);
        return Err(step.error(launch.program, error));
    }
    Ok(Spawned {
        pid: pid as u32,
        pidfd,
        pipes,
    })
}

/// The stack a child sharing the host's memory runs on until its exec.
/// It has no guard page, and needs none: `run_child` and its system calls
/// used 1.5 KB at most across the spawn tests (the shell's fallback and
/// each failure included), measured by the bytes left as filled.
#[cfg(target_arch = "x86_64")]
const CHILD_STACK: usize = 64 * 1024;

/// `clone3` as `args` says, the child sharing this memory (`CLONE_VM`)
/// and this thread waiting until it runs its program or ends
/// (`CLONE_VFORK`), as `posix_spawn` starts a child: nothing is copied,
/// where a copy of the host's memory cost the clone its page tables and
/// the host a fault on each page it wrote next, and a TLB flush on every
/// core its threads ran on. The child runs `run_child` on a stack of its
/// own with every signal blocked. Answers the child's pid, or -1 with
/// `errno` set.
#[cfg(target_arch = "x86_64")]
fn clone3(args: &mut libc::clone_args, plan: &mut Plan) -> libc::c_long {
    extern "C" fn child(plan: *mut Plan) -> ! {
        // SAFETY: the plan the parent passed, valid while it waits; every
        // signal is blocked, as `run_child` asks of a child sharing memory.
        unsafe { run_child(&mut *plan) }
    }
    let mut stack = Vec::<std::mem::MaybeUninit<u8>>::with_capacity(CHILD_STACK);
    args.flags |= (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
    args.stack = stack.as_mut_ptr() as u64;
    args.stack_size = CHILD_STACK as u64;
    let mut all = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let mut previous = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let result: libc::c_long;
    // SAFETY: the mask is this thread's and is restored below. In the
    // child, the kernel leaves every register as it was but `rax` (0) and
    // the stack pointer (the top of `stack`, which outlives the child's use
    // of it: this thread waits until the child execs or exits); the child
    // calls `child` there with the plan and never returns. `syscall`
    // clobbers `rcx` and `r11` only.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), previous.as_mut_ptr());
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "and rsp, -16",
            "mov rdi, r9",
            "call r8",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => result,
            in("rdi") std::ptr::from_mut(args),
            in("rsi") std::mem::size_of::<libc::clone_args>(),
            in("r8") child as extern "C" fn(*mut Plan) -> !,
            in("r9") std::ptr::from_mut(plan),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, previous.as_ptr(), std::ptr::null_mut());
    }
    drop(stack);
    if result < 0 {
        // SAFETY: this thread's errno, set as libc's wrappers set it.
        unsafe { *libc::__errno_location() = -result as c_int };
        return -1;
    }
    result
}

/// `clone3` as `args` says, the child getting a copy of this memory and
/// returning here as from fork, where it runs `run_child`. Answers the
/// child's pid, or -1 with `errno` set.
#[cfg(not(target_arch = "x86_64"))]
fn clone3(args: &mut libc::clone_args, plan: &mut Plan) -> libc::c_long {
    // SAFETY: without CLONE_VM the child gets a copy of this memory and
    // returns here as from fork; `args` outlives the call.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::from_mut(args),
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if pid == 0 {
        // SAFETY: in the child just cloned, with the plan in its copy.
        unsafe { run_child(plan) }
    }
    pid
}

/// Clones the child into its group, or forks it to move itself there
/// where `clone3` is refused; answers its pid and, where the kernel has
/// them, its pidfd.
fn clone_child(
    plan: &mut Plan,
    group: Option<GroupFds>,
    try_clone3: bool,
) -> io::Result<(libc::pid_t, Option<OwnedFd>)> {
    if try_clone3 {
        let mut pidfd: c_int = -1;
        // SAFETY: all-zero is a valid clone_args (no flags, no pointers).
        let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
        args.flags = libc::CLONE_PIDFD as u64 | CLONE_CLEAR_SIGHAND;
        args.pidfd = std::ptr::addr_of_mut!(pidfd) as u64;
        args.exit_signal = libc::SIGCHLD as u64;
        if let Some(group) = group {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = group.dir as u64;
        }
        plan.handlers_cleared = true;
        match clone3(&mut args, plan) {
            pid if pid > 0 => {
                // SAFETY: CLONE_PIDFD wrote a descriptor owned by nothing else.
                let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
                return Ok((pid as libc::pid_t, Some(pidfd)));
            }
            _ => {
                let error = io::Error::last_os_error();
                // No clone3 (ENOSYS), none that knows CLONE_INTO_CGROUP or
                // CLONE_CLEAR_SIGHAND (E2BIG for the larger arguments,
                // EINVAL for the flags), or a seccomp profile that refuses
                // what it does not know (EPERM, older container runtimes).
                // A group the host may not write is refused to the forked
                // child as well, which then says so.
                match error.raw_os_error() {
                    Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL | libc::EPERM) => {
                        tracing::debug!(
                            "clone3 refused ({error}): children move into their groups"
                        );
                        CLONE3_REFUSED.store(true, Ordering::Relaxed);
                    }
                    _ => return Err(error),
                }
            }
        }
    }
    plan.join = group.map(|group| group.procs);
    plan.handlers_cleared = false;
    // SAFETY: fork takes no pointers; the child only makes system calls.
    let pid = unsafe { libc::fork() };
    match pid {
        // SAFETY: in the child just forked, with the plan in its copy.
        0 => unsafe { run_child(plan) },
        pid if pid > 0 => {
            // SAFETY: pidfd_open takes no pointers; a child not yet waited
            // for cannot be reaped by anyone else, so the pid is still its.
            let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            if pidfd >= 0 {
                // SAFETY: just opened, owned by nothing else.
                return Ok((pid, Some(unsafe { OwnedFd::from_raw_fd(pidfd as c_int) })));
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                // No pidfds here (before Linux 5.3), or not allowed.
                Some(libc::ENOSYS | libc::EPERM) => Ok((pid, None)),
                _ => {
                    // SAFETY: the child was just forked; killing it is all that is left.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    let _ = wait_blocking(pid);
                    Err(error)
                }
            }
        }
        _ => Err(io::Error::last_os_error()),
    }
}

/// Waits for a child of this process to end, blocking.
pub fn wait_blocking(pid: libc::pid_t) -> io::Result<ExitStatus> {
    let mut status: c_int = 0;
    // SAFETY: `status` is a valid out pointer.
    retrying(|| unsafe { libc::waitpid(pid, &mut status, 0) })?;
    Ok(ExitStatus::from_raw(status))
}

/// Blocks until child `pid` has a state `flags` ask for (`WEXITED`,
/// `WSTOPPED`), and answers it without consuming it: the child is left to
/// be waited for again, and an ended one unreaped.
pub fn peek_state(pid: libc::pid_t, flags: c_int) -> io::Result<libc::siginfo_t> {
    // SAFETY: all-zero is a valid siginfo_t, filled in by waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out pointer.
    retrying(|| unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            flags | libc::WNOWAIT,
        )
    })?;
    Ok(info)
}

/// Blocks until child `pid` has ended, leaving it unreaped: what its
/// pidfd's readiness tells where there are pidfds. A traced child's stops
/// are reported too, and left for its tracer; the wait then goes on.
pub fn wait_ended(pid: libc::pid_t) -> io::Result<()> {
    loop {
        let info = peek_state(pid, libc::WEXITED)?;
        if matches!(
            info.si_code,
            libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED
        ) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A started process. Dropped before it was waited for, it is killed, and
/// reaped off the caller's thread.
pub struct Child {
    pid: libc::pid_t,
    end: End,
    status: Option<ExitStatus>,
}

/// How a [`Child`] learns that its process ended.
enum End {
    /// Its pidfd turns readable.
    Pidfd(AsyncFd<OwnedFd>),
    /// A blocking task returns ([`wait_ended`]); gone once it has.
    Waiter(Option<tokio::task::JoinHandle<io::Result<()>>>),
}

impl Child {
    /// Takes over a process [`spawn`] started; inside a runtime.
    pub fn new(spawned: Spawned) -> io::Result<Self> {
        let pid = spawned.pid as libc::pid_t;
        let end = match spawned.pidfd {
            // SAFETY: the AsyncFd owns the pidfd, which stays open and the
            // same for as long as it is registered.
            Some(pidfd) => End::Pidfd(
                unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
                    .map_err(|e| e.into_parts().1)?,
            ),
            None => End::Waiter(Some(tokio::task::spawn_blocking(move || wait_ended(pid)))),
        };
        Ok(Self {
            pid,
            end,
            status: None,
        })
    }

    /// Waits for the process to end, and reaps it. Cancel-safe: callers
    /// wait inside `select!`.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match &mut self.end {
                // Readable once the process has ended.
                End::Pidfd(pidfd) => pidfd.readable().await?.clear_ready(),
                // Awaited in place, so that a wait cancelled keeps it.
                End::Waiter(Some(waiter)) => {
                    let ended = waiter.await;
                    self.end = End::Waiter(None);
                    ended.map_err(io::Error::other)??;
                }
                End::Waiter(None) => return Err(io::Error::other("ended, yet not reapable")),
            }
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            let mut status: c_int = 0;
            // SAFETY: `status` is a valid out pointer.
            let reaped =
                retrying(|| unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) })?;
            if reaped == self.pid {
                self.status = Some(ExitStatus::from_raw(status));
            }
        }
        Ok(self.status)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        match &self.end {
            // SAFETY: the pidfd is open and names this child, reaped or
            // not: the signal cannot reach a process that reused its pid.
            End::Pidfd(pidfd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.get_ref().as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            },
            // SAFETY: only `try_wait` reaps, and it has not: the pid is
            // still this child's.
            End::Waiter(_) => unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            },
        }
        let pid = self.pid;
        // A process in uninterruptible sleep ends when it wakes: waiting
        // here could hold the caller that long.
        let reaped = std::thread::Builder::new()
            .name("reaper".into())
            .spawn(move || wait_blocking(pid));
        if let Err(e) = reaped {
            tracing::debug!(pid, "a killed process is left unreaped: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sh(script: &str) -> Program {
        Program::new(&CommandSpec::new("sh").args(["-c", script]), &[]).unwrap()
    }

    fn run(program: &Program) -> io::Result<(ExitStatus, String)> {
        run_by(Launch::piped(program, None), true)
    }

    /// How it ended and what it printed.
    fn run_by(launch: Launch, try_clone3: bool) -> io::Result<(ExitStatus, String)> {
        let spawned = spawn_by(launch, try_clone3)?;
        let (stdout, _stderr) = spawned.pipes.unwrap();
        let mut text = String::new();
        std::fs::File::from(stdout).read_to_string(&mut text)?;
        Ok((wait_blocking(spawned.pid as i32)?, text))
    }

    #[test]
    fn a_program_is_found_on_the_path_and_given_its_arguments_and_environment() {
        let script = "echo \"$0|$1|$PROCTOR_SPAWN_TEST|$PROCTOR_SPAWN_EXTRA\" && pwd";
        let mut spec = CommandSpec::new("sh")
            .args(["-c", script, "zero", "one two"])
            .cwd("/tmp");
        spec.env.insert("PROCTOR_SPAWN_TEST".into(), "set".into());
        let program = Program::new(&spec, &[("PROCTOR_SPAWN_EXTRA", "too")]).unwrap();
        let (status, text) = run(&program).unwrap();
        assert!(status.success());
        assert_eq!(text, "zero|one two|set|too\n/tmp\n");
    }

    /// Read by the programs themselves: a shell in between blocks signals
    /// of its own while it forks.
    #[test]
    fn the_child_leads_its_own_process_group_with_no_signal_blocked_and_sigpipe_heeded() {
        let spec = CommandSpec::new("cut").args(["-d", " ", "-f", "1,5", "/proc/self/stat"]);
        let (_, text) = run(&Program::new(&spec, &[]).unwrap()).unwrap();
        let ids: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(ids[0], ids[1], "pid and process group: {ids:?}");
        // SIGPIPE is ignored in this process, as in every Rust program.
        let spec = CommandSpec::new("grep").args(["-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
        let (_, text) = run(&Program::new(&spec, &[]).unwrap()).unwrap();
        let mask = |name: &str| {
            let line = text.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0);
        assert_eq!(
            mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE ignored"
        );
    }

    /// Handled signals go back to their defaults in the child, by the
    /// clone or by the forked child; an ignored one stays ignored, as
    /// across an exec. The kernel here takes `clone3` with the flag that
    /// clears the handlers: were it refused, every child would be forked.
    #[test]
    fn an_ignored_signal_stays_ignored_in_the_child_whether_cloned_or_forked() {
        // SAFETY: a disposition of this test's process, put back below.
        let previous = unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
        let spec = CommandSpec::new("grep").args(["-E", "^SigIgn", "/proc/self/status"]);
        let program = Program::new(&spec, &[]).unwrap();
        for try_clone3 in [true, false] {
            let (status, text) = run_by(Launch::piped(&program, None), try_clone3).unwrap();
            assert!(status.success(), "clone3: {try_clone3}: {status}");
            let ignored = text.split_whitespace().nth(1).unwrap();
            let ignored = u64::from_str_radix(ignored, 16).unwrap();
            assert_ne!(
                ignored & (1 << (libc::SIGUSR2 - 1)),
                0,
                "clone3: {try_clone3}"
            );
        }
        // SAFETY: as above.
        unsafe { libc::signal(libc::SIGUSR2, previous) };
        assert!(!CLONE3_REFUSED.load(Ordering::Relaxed));
    }

    /// The clone blocks every signal of the starting thread for the
    /// child's sake, and gives the thread its own mask back.
    #[test]
    fn starting_a_child_leaves_the_starting_threads_signal_mask_as_it_was() {
        let mask = |how: c_int, signal: Option<c_int>| {
            let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            // SAFETY: this thread's own mask; both sets are initialized
            // (sigemptyset, pthread_sigmask) before they are read.
            unsafe {
                libc::sigemptyset(set.as_mut_ptr());
                if let Some(signal) = signal {
                    libc::sigaddset(set.as_mut_ptr(), signal);
                }
                libc::pthread_sigmask(how, set.as_ptr(), old.as_mut_ptr());
                let old = old.assume_init();
                (1..32)
                    .filter(|&s| libc::sigismember(&old, s) == 1)
                    .collect::<Vec<_>>()
            }
        };
        mask(libc::SIG_BLOCK, Some(libc::SIGUSR2));
        let (status, _) = run(&sh("exit 0")).unwrap();
        assert!(status.success());
        let after = mask(libc::SIG_UNBLOCK, Some(libc::SIGUSR2));
        assert_eq!(after, vec![libc::SIGUSR2]);
    }

    #[test]
    fn a_missing_program_or_directory_is_an_error_that_says_which() {
        let missing = Program::new(&CommandSpec::new("proctor-no-such-program"), &[]).unwrap();
        let error = run(&missing).expect_err("not started");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);

        let spec = CommandSpec::new("true").cwd("/proctor-no-such-directory");
        let error = run(&Program::new(&spec, &[]).unwrap()).expect_err("not started");
        assert!(
            error.to_string().contains("/proctor-no-such-directory"),
            "{error}"
        );
    }

    #[test]
    fn a_script_without_an_interpreter_line_runs_under_the_shell() {
        let script = std::env::temp_dir().join(format!("proctor-spawn-{}", std::process::id()));
        std::fs::write(&script, "echo from the shell\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec = CommandSpec::new(script.display().to_string());
        let result = run(&Program::new(&spec, &[]).unwrap());
        std::fs::remove_file(&script).unwrap();
        let (status, text) = result.unwrap();
        assert!(status.success());
        assert_eq!(text, "from the shell\n");
    }

    #[test]
    fn a_file_that_may_not_be_run_is_refused_as_execvp_refuses_it() {
        let file = std::env::temp_dir().join(format!("proctor-spawn-x-{}", std::process::id()));
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let spec = CommandSpec::new(file.display().to_string());
        let result = run(&Program::new(&spec, &[]).unwrap());
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            result.err().unwrap().kind(),
            io::ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn the_path_is_searched_in_order_with_an_empty_entry_for_the_working_directory() {
        let found = candidates("prog", Some(b"/a::/b")).unwrap();
        let found: Vec<&str> = found.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(found, ["/a/prog", "./prog", "/b/prog"]);
        let found = candidates("./here/prog", Some(b"/a")).unwrap();
        assert_eq!(found[0].to_str().unwrap(), "./here/prog");
        assert_eq!(candidates("prog", None).unwrap().len(), 2);
    }

    #[test]
    fn a_child_is_in_its_group_from_its_start_whether_cloned_into_it_or_forked() {
        let cgroups = super::super::cgroup::Cgroups::detect().expect("cgroup v2 is writable here");
        let program = sh("cat /proc/$$/cgroup");
        for try_clone3 in [true, false] {
            let group = cgroups.group().unwrap();
            let launch = Launch::piped(&program, Some(group.fds()));
            let (status, text) = run_by(launch, try_clone3).unwrap();
            assert!(status.success());
            let name = group.dir().file_name().unwrap().to_str().unwrap();
            let own = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
            assert!(
                own.ends_with(&format!("/{name}")),
                "{own} (clone3: {try_clone3})"
            );
        }
    }

    /// What the containment proof starts: a group that takes a process
    /// passes, one that takes none fails, and no program runs.
    #[test]
    fn no_program_ends_at_once_inside_its_group_and_a_group_that_takes_none_is_an_error() {
        let cgroups = super::super::cgroup::Cgroups::detect().expect("cgroup v2 is writable here");
        let nothing = Program::nothing();
        for try_clone3 in [true, false] {
            let group = cgroups.group().unwrap();
            let launch = Launch::piped(&nothing, Some(group.fds()));
            let (status, text) = run_by(launch, try_clone3).unwrap();
            assert!(status.success(), "clone3: {try_clone3}: {status}");
            assert_eq!(text, "");
            std::fs::remove_dir(group.dir()).unwrap();
            let launch = Launch::piped(&nothing, Some(group.fds()));
            let refused = run_by(launch, try_clone3);
            assert!(
                refused.is_err(),
                "clone3: {try_clone3}: a removed group took a process"
            );
        }
    }

    /// A child of `program` as a kernel with pidfds gives it, or as one
    /// without gives it (before Linux 5.3; valgrind).
    fn child(program: &Program, with_pidfd: bool) -> (Child, u32, OwnedFd) {
        let mut spawned = spawn(Launch::piped(program, None)).unwrap();
        if !with_pidfd {
            spawned.pidfd = None;
        }
        let pid = spawned.pid;
        let (stdout, _) = spawned.pipes.take().unwrap();
        (Child::new(spawned).unwrap(), pid, stdout)
    }

    #[tokio::test]
    async fn a_child_is_waited_for_with_a_pidfd_or_without() {
        for with_pidfd in [true, false] {
            let (mut child, pid, _) = child(&sh("sleep 0.2; exit 7"), with_pidfd);
            let status = child.wait().await.unwrap();
            assert_eq!(status.code(), Some(7), "pidfd: {with_pidfd}");
            assert!(!super::super::tree::alive(pid), "{pid} is unreaped");
        }
    }

    #[tokio::test]
    async fn a_wait_cancelled_leaves_the_child_to_be_waited_for_again() {
        for with_pidfd in [true, false] {
            let (mut child, _, _) = child(&sh("sleep 0.3; exit 5"), with_pidfd);
            let cancelled = tokio::time::timeout(Duration::from_millis(50), child.wait()).await;
            assert!(cancelled.is_err(), "still running");
            let status = child.wait().await.unwrap();
            assert_eq!(status.code(), Some(5), "pidfd: {with_pidfd}");
        }
    }

    #[tokio::test]
    async fn a_child_dropped_before_its_end_is_killed_with_a_pidfd_or_without() {
        let program = Program::new(&CommandSpec::new("sleep").arg("30"), &[]).unwrap();
        for with_pidfd in [true, false] {
            let (child, pid, stdout) = child(&program, with_pidfd);
            drop(child);
            // The pipe ends when the killed process is gone.
            let mut rest = Vec::new();
            std::fs::File::from(stdout).read_to_end(&mut rest).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(!super::super::tree::alive(pid), "{pid} is still running");
        }
    }

    #[test]
    fn waiting_for_the_end_without_a_pidfd_leaves_the_child_to_be_reaped() {
        let spawned = spawn(Launch::piped(&sh("exit 3"), None)).unwrap();
        let pid = spawned.pid as libc::pid_t;
        wait_ended(pid).unwrap();
        let mut status = 0;
        // SAFETY: `status` is a valid out pointer.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert_eq!(reaped, pid, "ended and still there to reap");
        assert_eq!(ExitStatus::from_raw(status).code(), Some(3));
    }
}
