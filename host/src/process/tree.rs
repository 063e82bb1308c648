//! Finding and killing every process a supervised process started, including
//! those that left its process group or session or were reparented.
//!
//! Each supervised process gets a token in its environment and passes it on
//! to whatever it starts. A process belongs to the tree when it carries the
//! token, is in the root's process group, or descends from a member (which
//! catches a child that scrubbed its environment while its parent lives).

use std::collections::{HashMap, HashSet};
use std::fs;

/// The environment variable carrying a supervised process's token.
pub const TOKEN_VAR: &str = "PROCTOR_PROCESS_TOKEN";

/// At most this many freeze-and-kill rounds; each catches what forked during the last.
const MAX_ROUNDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Stat {
    ppid: i32,
    pgrp: i32,
    zombie: bool,
}

/// Reads `/proc/PID/stat`: the fields after the command, which is in parentheses
/// and may itself contain spaces or parentheses.
fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(Stat {
        ppid,
        pgrp,
        zombie: matches!(state, "Z" | "X"),
    })
}

fn carries(pid: i32, needle: &[u8]) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|environ| environ.split(|&b| b == 0).any(|entry| entry == needle))
        .unwrap_or(false)
}

/// The live processes of the tree rooted at `root` with `token`, root included.
pub fn members(root: u32, token: &str) -> Vec<u32> {
    let root = root as i32;
    let own = std::process::id() as i32;
    let needle = format!("{TOKEN_VAR}={token}").into_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let processes: HashMap<i32, Stat> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .filter(|(_, stat)| !stat.zombie)
        .collect();
    let mut tree: HashSet<i32> = processes
        .iter()
        .filter(|(&pid, stat)| pid == root || stat.pgrp == root || carries(pid, &needle))
        .map(|(&pid, _)| pid)
        .collect();
    // Descendants of members, to a fixed point.
    loop {
        let before = tree.len();
        tree.extend(
            processes
                .iter()
                .filter(|(_, stat)| tree.contains(&stat.ppid))
                .map(|(&pid, _)| pid)
                .collect::<Vec<_>>(),
        );
        if tree.len() == before {
            break;
        }
    }
    let mut members: Vec<u32> = tree.into_iter().map(|pid| pid as u32).collect();
    members.sort_unstable();
    members
}

/// Whether `pid` is a process that has not ended.
#[cfg(test)]
pub(super) fn alive(pid: u32) -> bool {
    stat(pid as i32).is_some_and(|s| !s.zombie)
}

/// Sends `signal` to process `pid`; a process gone meanwhile is no error.
pub(super) fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

/// Kills every process of the tree. Members are first stopped, so none can
/// start another between the scan and the kill, then killed together.
/// Returns the processes killed.
pub fn kill(root: u32, token: &str) -> Vec<u32> {
    let mut stopped: Vec<u32> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let found: Vec<u32> = members(root, token)
            .into_iter()
            .filter(|pid| !stopped.contains(pid))
            .collect();
        if found.is_empty() {
            break;
        }
        for &pid in &found {
            signal(pid, libc::SIGSTOP);
        }
        stopped.extend(found);
    }
    for &pid in &stopped {
        signal(pid, libc::SIGKILL);
    }
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    #[test]
    fn stat_parses_commands_with_parentheses_and_spaces() {
        let own = stat(std::process::id() as i32).unwrap();
        assert!(own.ppid > 0 && own.pgrp > 0);
    }

    /// A child starts a grandchild in a new session that ignores SIGTERM and
    /// outlives its parent: neither the process group nor the parent link
    /// reaches it, the token does.
    #[test]
    fn a_detached_grandchild_that_ignores_sigterm_is_found_and_killed() {
        let token = format!("tree-test-{}", std::process::id());
        let script = "setsid sh -c 'trap \"\" TERM; echo $$; exec sleep 300' & wait";
        let mut child = Command::new("sh")
            .args(["-c", script])
            .env(TOKEN_VAR, &token)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let grandchild: u32 = line.trim().parse().unwrap();
        // While it execs, its environment cannot be read, and `comm` says
        // `sleep` before the new program's environment is in place: wait
        // for both.
        let needle = format!("{TOKEN_VAR}={token}").into_bytes();
        let deadline = Instant::now() + Duration::from_secs(10);
        let is_sleep = || {
            std::fs::read_to_string(format!("/proc/{grandchild}/comm"))
                .is_ok_and(|comm| comm.trim() == "sleep")
        };
        while !(is_sleep() && carries(grandchild as i32, &needle)) {
            assert!(
                Instant::now() < deadline,
                "the grandchild's environment never showed the token"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // The parent goes away; the grandchild is reparented and lives on.
        signal(child.id(), libc::SIGKILL);
        child.wait().unwrap();
        assert!(alive(grandchild));
        assert!(members(child.id(), &token).contains(&grandchild));

        let killed = kill(child.id(), &token);
        assert!(killed.contains(&grandchild), "{killed:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(grandchild), "the grandchild survived");
    }
}
