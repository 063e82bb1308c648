//! The guardian: a small process that outlives a host killed with SIGKILL
//! and kills what the host left running.
//!
//! A signal the host cannot catch leaves nobody to end its test processes.
//! `PR_SET_PDEATHSIG` reaches only a direct child, and only when the thread
//! that spawned it ends, which for a pool's thread is any time. So the host
//! starts the guardian in a process group of its own, and tells it over a
//! pipe of each group or tree it starts and of each it has cleaned up.
//! When the pipe closes, because the host ended however it ended, the
//! guardian kills every group and tree still listed and removes the groups.
//!
//! The host forks it as it starts, while it has one thread: the copy runs
//! the guardian's loop with nothing loaded anew. Running a program instead
//! (the host as `proctor guard`, until the twentieth round) costs a
//! process 0.6 ms of CPU on these virtual machines, most of it the dynamic
//! loader asking the CPU about its caches, each question a trip to the
//! hypervisor; the host's start competed with it, and waited for its exec.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{cgroup, tree};

/// The write end of the pipe to this host's guardian, once started.
static GUARDIAN: OnceLock<Mutex<File>> = OnceLock::new();

/// Forks the guardian; later calls do nothing. Refused once this process
/// has a second thread, whose locks (the allocator's) a forked copy could
/// find held for ever.
pub fn start() -> io::Result<()> {
    if GUARDIAN.get().is_some() {
        return Ok(());
    }
    if !single_threaded() {
        return Err(io::Error::other("the host has started threads already"));
    }
    let _ = GUARDIAN.set(Mutex::new(File::from(fork()?)));
    Ok(())
}

/// Whether this process has one thread, as `/proc` lists them.
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// Forks the guardian; answers the write end of its orders.
fn fork() -> io::Result<OwnedFd> {
    let (read, write) = io::pipe()?;
    // SAFETY: the caller found one thread, so the child may run Rust freely.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: in the child just forked, which owns its copy of `read`.
        0 => unsafe { serve_forked(OwnedFd::from(read)) },
        _ => Ok(OwnedFd::from(write)),
    }
}

/// The forked guardian's life: its orders on standard input, its output
/// discarded, every other descriptor of the host's closed (a copy of the
/// pipe to the supervising process would keep that process waiting for
/// the guardian's end), out of the host's process group, so that a
/// Ctrl-C or a kill of that group leaves it.
///
/// # Safety
///
/// Only in a child just forked from a process with one thread.
unsafe fn serve_forked(orders: OwnedFd) -> ! {
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    libc::dup2(orders.as_raw_fd(), 0);
    libc::dup2(null, 1);
    libc::dup2(null, 2);
    close_above_stdio();
    libc::setpgid(0, 0);
    libc::prctl(libc::PR_SET_NAME, c"proctor-guard".as_ptr());
    main();
    libc::_exit(0)
}

/// Closes every descriptor above the standard three.
fn close_above_stdio() {
    // SAFETY: close_range takes no pointers (Linux 5.9).
    if unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) } == 0 {
        return;
    }
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            (fds.flatten())
                .filter_map(|fd| fd.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|&fd| fd > 2) {
        // SAFETY: closing a number this process may no longer use is harmless.
        unsafe { libc::close(fd) };
    }
}

/// What the guardian is told.
pub(super) enum Order<'a> {
    Group(&'a Path),
    GroupRemoved(&'a Path),
    Tree { root: u32, token: &'a str },
    TreeEnded { token: &'a str },
}

/// Tells the guardian, when one was started.
pub(super) fn order(order: Order<'_>) {
    let Some(orders) = GUARDIAN.get() else {
        return;
    };
    let line = match order {
        Order::Group(dir) => format!("group {}\n", dir.display()),
        Order::GroupRemoved(dir) => format!("-group {}\n", dir.display()),
        Order::Tree { root, token } => format!("tree {root} {token}\n"),
        Order::TreeEnded { token } => format!("-tree {token}\n"),
    };
    let mut orders = orders.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = orders.write_all(line.as_bytes()) {
        tracing::warn!("the guardian is gone ({e}): a host killed now leaves its tests running");
    }
}

/// How long the guardian waits for a killed group to empty before removing it.
const GROUP_WAIT: Duration = Duration::from_secs(5);

/// The guardian's life as a process: deaf to the stop signals, which are
/// the host's to handle, it serves its standard input.
fn main() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: setting a signal to be ignored has no preconditions.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    serve(io::stdin().lock());
}

/// Reads orders until the host is gone, then kills what is left.
pub fn serve(orders: impl BufRead) {
    let mut groups: BTreeSet<PathBuf> = BTreeSet::new();
    let mut trees: Vec<(u32, String)> = Vec::new();
    for line in orders.lines() {
        let Ok(line) = line else { break };
        let Some((verb, rest)) = line.split_once(' ') else {
            continue;
        };
        match verb {
            "group" => {
                groups.insert(PathBuf::from(rest));
            }
            "-group" => {
                groups.remove(Path::new(rest));
            }
            "tree" => {
                if let Some((root, token)) = rest.split_once(' ') {
                    if let Ok(root) = root.parse() {
                        trees.push((root, token.to_owned()));
                    }
                }
            }
            "-tree" => trees.retain(|(_, token)| token != rest),
            _ => {}
        }
    }
    for dir in &groups {
        cgroup::kill_group(dir);
    }
    for (root, token) in &trees {
        tree::kill(*root, token);
    }
    let deadline = Instant::now() + GROUP_WAIT;
    for dir in &groups {
        let _ = cgroup::remove_once_empty(dir, deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process started by hand in a group of its own, as the host does.
    fn start_in(group: &cgroup::Group) -> u32 {
        let spec = proctor_plugin_api::messages::CommandSpec::new("sleep").arg("300");
        let pid = group.start(&spec).unwrap().pid;
        // Reaped by a thread, so that its end is seen as the kernel sees it.
        std::thread::spawn(move || super::super::spawn::wait_blocking(pid as libc::pid_t));
        pid
    }

    #[test]
    fn a_host_that_has_started_threads_is_refused_a_forked_guardian() {
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || held.recv());
        let error = start().unwrap_err();
        drop(hold);
        let _ = other.join();
        assert!(error.to_string().contains("threads"), "{error}");
        assert!(GUARDIAN.get().is_none());
    }

    #[test]
    fn when_its_orders_end_it_kills_the_groups_still_listed_and_removes_them() {
        let cgroups = cgroup::Cgroups::detect().expect("cgroup v2 is writable on these machines");
        let (kept, removed) = (cgroups.group().unwrap(), cgroups.group().unwrap());
        let (kept_dir, removed_dir) = (kept.dir().to_path_buf(), removed.dir().to_path_buf());
        let pid = start_in(&kept);
        // The guardian removes the first group; the second the host removed itself.
        std::mem::forget(kept);
        assert!(cgroup::populated(&kept_dir));
        let orders = format!(
            "group {}\ngroup {}\n-group {}\n",
            kept_dir.display(),
            removed_dir.display(),
            removed_dir.display()
        );
        serve(io::Cursor::new(orders));
        assert!(
            !tree::alive(pid),
            "the process in the listed group survived"
        );
        assert!(!kept_dir.exists(), "the listed group was removed");
        assert!(
            removed_dir.exists(),
            "a group no longer listed is left alone"
        );
    }
}
