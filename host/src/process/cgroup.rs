//! A cgroup v2 group per supervised process: the one container a process
//! cannot leave by itself.
//!
//! A process is born in its group ([`super::spawn`]), so everything it
//! starts is born inside too: a daemon that calls `setsid`, clears its
//! environment and is reparented to init is still listed in the group and
//! killed with it (`cgroup.kill`, Linux 5.14). Groups are made beside the
//! host in its own cgroup, as `proctor-<host pid>-<n>`, and removed once
//! empty.
//!
//! Where no group can be made (no cgroup v2 hierarchy, no write access,
//! a kernel without `cgroup.kill`), [`Cgroups::detect`] says why, and the
//! caller falls back to the sweep of [`super::tree`].

use std::fs;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::guardian::{self, Order};
use super::spawn::{spawn, wait_blocking, GroupFds, Launch, Program};

/// Where this host makes its groups.
#[derive(Debug)]
pub struct Cgroups {
    /// The host's own cgroup directory.
    parent: PathBuf,
}

/// The number of the next group: one sequence for the whole host, so that
/// no two groups share a name.
static NEXT_GROUP: AtomicU64 = AtomicU64::new(1);

/// The cgroup v2 mount point and the root it shows, from `/proc/self/mountinfo`.
fn cgroup2_mount(mountinfo: &str) -> Option<(PathBuf, String)> {
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        if filesystem.split(' ').next()? != "cgroup2" {
            return None;
        }
        let mut fields = mount.split(' ');
        let root = fields.nth(3)?;
        let point = fields.next()?;
        Some((PathBuf::from(point), root.to_owned()))
    })
}

/// The host's own cgroup v2 path, from `/proc/self/cgroup`.
fn own_cgroup(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|line| line.strip_prefix("0::"))
}

impl Cgroups {
    /// Finds where groups can be made, and proves it by making one and
    /// starting a process in it. Answers why not otherwise.
    pub fn detect() -> Result<Self, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let (point, root) = cgroup2_mount(&mountinfo).ok_or("no cgroup v2 hierarchy is mounted")?;
        let cgroup = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let own = own_cgroup(&cgroup).ok_or("this process is in no cgroup v2 group")?;
        let relative = own
            .strip_prefix(root.trim_end_matches('/'))
            .ok_or_else(|| format!("this process's cgroup {own} is outside the mount of {root}"))?;
        let parent = match relative.trim_start_matches('/') {
            "" => point,
            relative => point.join(relative),
        };
        let cgroups = Self { parent };
        cgroups.prove()?;
        Ok(cgroups)
    }

    fn prove(&self) -> Result<(), String> {
        let group = self
            .group()
            .map_err(|e| format!("cannot make a group in {}: {e}", self.parent.display()))?;
        if !group.dir.join("cgroup.kill").exists() {
            return Err(format!(
                "{} has no cgroup.kill (Linux 5.14 or later has)",
                group.dir.display()
            ));
        }
        let cannot_start =
            |e: io::Error| format!("cannot start a process in {}: {e}", group.dir.display());
        // Started as every supervised process is, it ends as soon as it is
        // in the group: no program's start delays the decision.
        let nothing = Program::nothing();
        let spawned = spawn(Launch::piped(&nothing, Some(group.fds()))).map_err(cannot_start)?;
        let status = wait_blocking(spawned.pid as libc::pid_t).map_err(cannot_start)?;
        match status.success() {
            true => Ok(()),
            false => Err(format!("a probe in {} ended {status}", group.dir.display())),
        }
    }

    /// Makes a new, empty group, listed with the guardian from before it
    /// exists until it is removed: a host killed at any moment leaves no
    /// group behind.
    pub fn group(&self) -> io::Result<Group> {
        loop {
            let n = NEXT_GROUP.fetch_add(1, Ordering::Relaxed);
            let dir = self
                .parent
                .join(format!("proctor-{}-{n}", std::process::id()));
            guardian::order(Order::Group(&dir));
            match make(dir.clone()) {
                Ok(group) => return Ok(group),
                Err(e) => {
                    guardian::order(Order::GroupRemoved(&dir));
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Where the groups are made.
    pub fn parent(&self) -> &Path {
        &self.parent
    }
}

/// Makes the group `dir`. Only a host that had this pid before can have
/// made one of that name, and is gone: a group it left behind (killed as
/// it made it) is removed when empty, as its guardian would have, and
/// taken; one still holding processes answers `AlreadyExists`.
fn make(dir: PathBuf) -> io::Result<Group> {
    if let Err(e) = fs::create_dir(&dir) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(e);
        }
        remove_tree(&dir)
            .and_then(|()| fs::create_dir(&dir))
            .map_err(|_| io::Error::from(io::ErrorKind::AlreadyExists))?;
    }
    let opened = fs::File::open(&dir).and_then(|handle| {
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        Ok((handle, procs))
    });
    match opened {
        Ok((handle, procs)) => Ok(Group { dir, handle, procs }),
        Err(e) => {
            let _ = fs::remove_dir(&dir);
            Err(e)
        }
    }
}

/// One supervised process's group. Dropping it kills what is left in it
/// and removes it.
#[derive(Debug)]
pub struct Group {
    dir: PathBuf,
    /// The directory, open: what a child is cloned into.
    handle: fs::File,
    /// Its `cgroup.procs`, open: what a forked child writes to move in.
    procs: fs::File,
}

/// How long a group's removal waits for killed processes to be gone.
const REMOVAL_WAIT: Duration = Duration::from_secs(2);

impl Group {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What [`spawn`] starts a process in the group with; open while the
    /// group lives.
    pub fn fds(&self) -> GroupFds {
        GroupFds {
            dir: self.handle.as_raw_fd(),
            procs: self.procs.as_raw_fd(),
        }
    }

    /// Starts `spec` in the group, its output piped: a process the host
    /// does not supervise.
    #[cfg(test)]
    pub fn start(
        &self,
        spec: &proctor_plugin_api::messages::CommandSpec,
    ) -> io::Result<super::spawn::Spawned> {
        spawn(Launch::piped(&Program::new(spec, &[])?, Some(self.fds())))
    }

    /// Every live process in the group and the groups below it.
    pub fn members(&self) -> Vec<u32> {
        let mut members = Vec::new();
        collect_members(&self.dir, &mut members);
        members.sort_unstable();
        members
    }

    pub fn populated(&self) -> bool {
        populated(&self.dir)
    }

    /// Kills every process in the group and below it, at once.
    pub fn kill(&self) {
        kill_group(&self.dir);
    }

    /// Kills what is left, waits until it is gone and removes the group.
    /// A group left empty, nearly every one, goes at the first attempt:
    /// one `rmdir` rather than a dozen calls to kill, wait and list first.
    fn remove(&self) {
        if fs::remove_dir(&self.dir).is_ok() {
            return;
        }
        self.kill();
        if let Err(e) = remove_once_empty(&self.dir, Instant::now() + REMOVAL_WAIT) {
            tracing::warn!("cannot remove cgroup {}: {e}", self.dir.display());
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.remove();
        guardian::order(Order::GroupRemoved(&self.dir));
    }
}

/// Whether a live process is left in the group or below it.
pub fn populated(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.events"))
        .map(|events| events.lines().any(|line| line == "populated 1"))
        .unwrap_or(false)
}

/// Writes `1` to a group's `cgroup.kill`: the kernel kills every process
/// in it and in the groups below it.
pub fn kill_group(dir: &Path) {
    let killed = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"))
        .and_then(|mut kill| kill.write_all(b"1"));
    if let Err(e) = killed {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!("cannot kill cgroup {}: {e}", dir.display());
        }
    }
}

/// Waits until no process is left in a killed group (or `deadline`
/// passes), then removes it with the groups below it.
pub fn remove_once_empty(dir: &Path, deadline: Instant) -> io::Result<()> {
    while populated(dir) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    remove_tree(dir)
}

/// Removes a group and the groups a test made below it, deepest first.
fn remove_tree(dir: &Path) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn collect_members(dir: &Path, members: &mut Vec<u32>) {
    if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
        members.extend(procs.lines().filter_map(|pid| pid.parse::<u32>().ok()));
    }
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_members(&entry.path(), members);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proctor_plugin_api::messages::CommandSpec;

    #[test]
    fn the_cgroup2_mount_is_found_in_a_hybrid_layout() {
        let mountinfo = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let (point, root) = cgroup2_mount(mountinfo).unwrap();
        assert_eq!(point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(root, "/");
        assert_eq!(
            own_cgroup("1:cpu:/\n0::/user.slice/a.scope\n"),
            Some("/user.slice/a.scope")
        );
        assert_eq!(
            cgroup2_mount("32 31 0:29 / /x rw - cgroup cgroup rw\n"),
            None
        );
    }

    /// Pids come round again: a group a killed host left under the name
    /// this host's next group takes is removed, and the name taken.
    #[test]
    fn a_group_left_behind_by_a_host_with_the_same_pid_is_no_obstacle() {
        let cgroups = Cgroups::detect().expect("cgroup v2 is writable on these machines");
        let next = NEXT_GROUP.load(Ordering::Relaxed);
        let left = (cgroups.parent).join(format!("proctor-{}-{next}", std::process::id()));
        fs::create_dir(&left).unwrap();
        let group = cgroups
            .group()
            .expect("a group despite the one left behind");
        assert_eq!(group.dir(), left);
        drop(group);
        assert!(!left.exists());
    }

    /// A test may make groups of its own below its group (a container
    /// runtime does): the group goes with them, emptied or not.
    #[test]
    fn a_group_holding_groups_its_test_made_is_removed_with_them() {
        let cgroups = Cgroups::detect().expect("cgroup v2 is writable on these machines");
        for occupied in [false, true] {
            let group = cgroups.group().unwrap();
            let inner = group.dir().join("made-by-the-test/deeper");
            fs::create_dir_all(&inner).unwrap();
            let daemon = occupied.then(|| {
                let spec = CommandSpec::new("sh").args([
                    "-c",
                    &format!(
                        "echo $$ > {}/cgroup.procs && exec sleep 300",
                        inner.display()
                    ),
                ]);
                let spawned = group.start(&spec).unwrap();
                let started = Instant::now();
                while !populated(&inner) {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "it never moved"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                spawned.pid
            });
            let dir = group.dir().to_path_buf();
            drop(group);
            assert!(!dir.exists(), "occupied: {occupied}: the group was left");
            if let Some(daemon) = daemon {
                assert!(!super::super::tree::alive(daemon), "the test survived");
            }
        }
    }

    /// A process that leaves its session, clears its environment and is
    /// reparented to init is still in the group, and dies with it.
    #[test]
    fn a_process_that_escaped_its_session_and_parent_is_listed_and_killed() {
        let cgroups = Cgroups::detect().expect("cgroup v2 is writable on these machines");
        let group = cgroups.group().unwrap();
        let spec = CommandSpec::new("sh")
            .args(["-c", "setsid env -i sleep 300 >/dev/null 2>&1 & echo $!"]);
        let spawned = group.start(&spec).unwrap();
        let (stdout, _) = spawned.pipes.unwrap();
        let mut printed = String::new();
        std::io::Read::read_to_string(&mut fs::File::from(stdout), &mut printed).unwrap();
        wait_blocking(spawned.pid as libc::pid_t).unwrap();
        let daemon: u32 = printed.trim().parse().unwrap();
        assert!(group.members().contains(&daemon), "{:?}", group.members());
        assert!(group.populated());
        let dir = group.dir().to_path_buf();
        drop(group);
        assert!(!super::super::tree::alive(daemon), "the daemon survived");
        assert!(!dir.exists(), "the group was removed");
    }
}
