//! How the processes a supervised process starts are held together, found
//! and killed: a cgroup of its own where the machine allows it
//! ([`cgroup`]), else a token in the environment and a sweep of `/proc`
//! ([`tree`]). The choice is made once per host, and the summary says which.

use std::io;
use std::sync::{Mutex, OnceLock};

use std::time::{Duration, Instant};

use serde::Serialize;

use proctor_plugin_api::messages::CommandSpec;

use super::cgroup::{Cgroups, Group};
use super::guardian::{self, Order};
use super::spawn::{GroupFds, Program};
use super::stop::Stop;
use super::{blocking, tree};

enum Method {
    Cgroup(Cgroups),
    Sweep { reason: String },
}

static METHOD: OnceLock<Method> = OnceLock::new();

/// Set to `sweep`, this variable keeps the host from making cgroups: where
/// groups can be made but should not be (a machine's own policy), and to
/// exercise the fallback.
pub const CONTAINMENT_VAR: &str = "PROCTOR_CONTAINMENT";

fn method() -> &'static Method {
    METHOD.get_or_init(|| {
        if std::env::var_os(CONTAINMENT_VAR).is_some_and(|v| v == "sweep") {
            let reason = format!("{CONTAINMENT_VAR}=sweep");
            return Method::Sweep { reason };
        }
        detect()
    })
}

/// Decides how processes are held on a thread of its own, so that the
/// deciding overlaps the host's start instead of delaying its first
/// process: the proof that a group works makes one and starts a process
/// in it, which a kernel that refuses `clone3` makes a move, and a move
/// into a group waits out a kernel grace period (12 to 23 ms for a host's
/// first on these machines, 6 to 16 ms after a pause of 50 ms or more;
/// moves close together take a tenth of a millisecond). The first process
/// started waits for the decision.
pub fn decide_early() {
    let decide = || {
        method();
    };
    match std::thread::Builder::new()
        .name("containment".into())
        .spawn(decide)
    {
        Ok(thread) => *DECIDING.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread),
        Err(e) => tracing::debug!("containment is decided when the first process starts: {e}"),
    }
}

/// The thread [`decide_early`] started, until [`settle`] joins it.
static DECIDING: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// Waits for a decision [`decide_early`] began: its proof makes a group,
/// which a host ending meanwhile (a configuration refused at once) would
/// leave to its guardian. Joined, not waited for on the decision, which a
/// thread that panicked would never make.
pub fn settle() {
    let thread = DECIDING.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(thread) = thread {
        let _ = thread.join();
    }
}

fn detect() -> Method {
    match Cgroups::detect() {
        Ok(cgroups) => Method::Cgroup(cgroups),
        Err(reason) => {
            tracing::info!("test processes are found by a sweep of /proc: {reason}");
            Method::Sweep { reason }
        }
    }
}

/// How this host holds its processes, for the summary.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Containment {
    /// `cgroup`: each process in a cgroup v2 group of its own; `sweep`:
    /// found by the token in their environment, their process group and
    /// their parents.
    pub method: String,
    /// Where the groups are made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// Why no group could be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn containment() -> Containment {
    match method() {
        Method::Cgroup(cgroups) => Containment {
            method: "cgroup".into(),
            cgroup_parent: Some(cgroups.parent().display().to_string()),
            reason: None,
        },
        Method::Sweep { reason } => Containment {
            method: "sweep".into(),
            cgroup_parent: None,
            reason: Some(reason.clone()),
        },
    }
}

fn new_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every process one supervised process started, itself included.
/// Dropping it kills what is left.
pub(super) struct Tree {
    token: String,
    group: Option<Group>,
    root: Option<u32>,
    /// Killed since the last look: the sweep need not run again on drop.
    swept: bool,
}

impl Tree {
    /// A tree for a process about to start.
    pub fn prepare() -> Self {
        let group = match method() {
            Method::Cgroup(cgroups) => match cgroups.group() {
                Ok(group) => Some(group),
                Err(e) => {
                    tracing::warn!("cannot make a cgroup, sweeping instead: {e}");
                    None
                }
            },
            Method::Sweep { .. } => None,
        };
        Self {
            token: new_token(),
            group,
            root: None,
            swept: false,
        }
    }

    /// `spec` made ready to start as this tree's root: with the token in
    /// its environment, which its descendants inherit.
    pub fn program(&self, spec: &CommandSpec) -> io::Result<Program> {
        Program::new(spec, &[(tree::TOKEN_VAR, &self.token)])
    }

    /// The group the tree's root is to be born in, when it has one.
    pub fn group(&self) -> Option<GroupFds> {
        self.group.as_ref().map(Group::fds)
    }

    /// The process started, as `root`.
    pub fn started(&mut self, root: u32) {
        self.root = Some(root);
        if self.group.is_none() {
            guardian::order(Order::Tree {
                root,
                token: &self.token,
            });
        }
    }

    /// Every live process of the tree, the root included while it runs.
    pub fn members(&self) -> Vec<u32> {
        match (&self.group, self.root) {
            (Some(group), _) => group.members(),
            // Walking `/proc` is blocking work; reading the group is not.
            (None, Some(root)) => blocking(|| tree::members(root, &self.token)),
            (None, None) => Vec::new(),
        }
    }

    /// The live processes of the tree other than its root.
    pub fn descendants(&self) -> Vec<u32> {
        let mut members = self.members();
        members.retain(|&pid| Some(pid) != self.root);
        members
    }

    /// Sends `signal` to every process of the tree.
    pub fn signal(&self, signal: libc::c_int) {
        for pid in self.members() {
            tree::signal(pid, signal);
        }
    }

    /// What a stop request does to the tree: the first passes its signal
    /// on to every process, as a terminal passes Ctrl-C to its foreground
    /// group. Answers when the tree is to be killed: after `grace`, or now.
    pub fn stop(&self, stop: Stop, grace: Duration) -> Option<Instant> {
        match stop {
            Stop::Running => None,
            Stop::Gracefully(signal) => {
                self.signal(signal.number());
                Some(Instant::now() + grace)
            }
            Stop::Now(_) => Some(Instant::now()),
        }
    }

    /// Says that the tree was found empty: nothing is left to sweep.
    pub fn found_empty(&mut self) {
        self.swept = true;
    }

    /// Kills every process of the tree; answers those it found.
    pub fn kill(&mut self) -> Vec<u32> {
        match (&self.group, self.root) {
            (Some(group), _) => {
                let members = group.members();
                group.kill();
                members
            }
            (None, Some(root)) => {
                self.swept = true;
                blocking(|| tree::kill(root, &self.token))
            }
            (None, None) => Vec::new(),
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        match (self.group.take(), self.root) {
            // Kills what is left, and removes the group once empty: a wait,
            // when something is left.
            (Some(group), _) => match group.populated() {
                true => blocking(move || drop(group)),
                false => drop(group),
            },
            (None, Some(root)) => {
                if !self.swept {
                    blocking(|| tree::kill(root, &self.token));
                }
                guardian::order(Order::TreeEnded { token: &self.token });
            }
            (None, None) => {}
        }
    }
}

/// The command name of a process, for messages.
pub(super) fn command_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}
