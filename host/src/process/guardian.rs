//! The guardian: a small process that outlives a host killed with SIGKILL
//! and kills what the host left running.
//!
//! A signal the host cannot catch leaves nobody to end its test processes.
//! `PR_SET_PDEATHSIG` reaches only a direct child, and only when the thread
//! that spawned it ends, which for a pool's thread is any time. So the host
//! starts the guardian (itself, as `proctor guard`) in a process group of
//! its own, and tells it over a pipe of each group or tree it starts and of
//! each it has cleaned up. When the pipe closes, because the host ended
//! however it ended, the guardian kills every group and tree still listed
//! and removes the groups.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{cgroup, tree};

/// The guardian of this host, once started.
static GUARDIAN: OnceLock<Guardian> = OnceLock::new();

struct Guardian {
    orders: Mutex<ChildStdin>,
    /// Kept so that the guardian is not reaped as a zombie before it ends.
    _child: Child,
}

/// Starts the guardian, `program guard`; later calls do nothing.
pub fn start(program: &Path) -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    if GUARDIAN.get().is_some() {
        return Ok(());
    }
    let mut child = Command::new(program)
        .arg("guard")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the host's group: a Ctrl-C or a kill of the group leaves it.
        .process_group(0)
        .spawn()?;
    let orders = child.stdin.take().expect("stdin is piped");
    let _ = GUARDIAN.set(Guardian {
        orders: Mutex::new(orders),
        _child: child,
    });
    Ok(())
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
    let Some(guardian) = GUARDIAN.get() else {
        return;
    };
    let line = match order {
        Order::Group(dir) => format!("group {}\n", dir.display()),
        Order::GroupRemoved(dir) => format!("-group {}\n", dir.display()),
        Order::Tree { root, token } => format!("tree {root} {token}\n"),
        Order::TreeEnded { token } => format!("-tree {token}\n"),
    };
    let mut orders = guardian.orders.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = orders.write_all(line.as_bytes()) {
        tracing::warn!("the guardian is gone ({e}): a host killed now leaves its tests running");
    }
}

/// How long the guardian waits for a killed group to empty before removing it.
const GROUP_WAIT: Duration = Duration::from_secs(5);

/// The guardian's life as a process: deaf to the stop signals, which are
/// the host's to handle, it serves its standard input.
pub fn main() {
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
