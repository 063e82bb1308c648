//! Running one process under supervision: its own process group, a timeout,
//! and a kill of the whole group when it runs past it.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use proctor_plugin_api::messages::{CommandSpec, ProcessExit};
use tokio::process::{Child, Command};

/// How a supervised process ended.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub exit: ProcessExit,
    pub timed_out: bool,
    pub duration: Duration,
}

fn command(spec: &CommandSpec, stdout: Stdio, stderr: Stdio) -> Command {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own group, so a kill reaches the children it started.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    command
}

fn spawn(spec: &CommandSpec, stdout: Stdio, stderr: Stdio) -> io::Result<Child> {
    command(spec, stdout, stderr)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start `{}`: {e}", spec.program)))
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe { libc::killpg(pid as libc::pid_t, libc::SIGKILL) };
    }
}

fn process_exit(status: std::process::ExitStatus) -> ProcessExit {
    ProcessExit {
        code: status.code(),
        signal: status.signal(),
    }
}

/// Runs `spec` with its output written to two files.
pub async fn run_to_files(
    spec: &CommandSpec,
    stdout: &Path,
    stderr: &Path,
    timeout: Option<Duration>,
    on_start: impl FnOnce(Option<u32>),
) -> io::Result<Finished> {
    let out = std::fs::File::create(stdout)?;
    let err = std::fs::File::create(stderr)?;
    let started = Instant::now();
    let mut child = spawn(spec, out.into(), err.into())?;
    let pid = child.id();
    on_start(pid);
    let (status, timed_out) = match timeout {
        Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => (status?, false),
            Err(_) => {
                kill_group(pid);
                (child.wait().await?, true)
            }
        },
        None => (child.wait().await?, false),
    };
    // Whatever it left running in its group goes with it.
    kill_group(pid);
    Ok(Finished {
        exit: process_exit(status),
        timed_out,
        duration: started.elapsed(),
    })
}

/// Runs `spec` and returns what it printed.
pub async fn run_captured(
    spec: &CommandSpec,
    timeout: Duration,
) -> io::Result<(Finished, String, String)> {
    let started = Instant::now();
    let child = spawn(spec, Stdio::piped(), Stdio::piped())?;
    let pid = child.id();
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output?,
        Err(_) => {
            kill_group(pid);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("`{}` did not finish within {timeout:?}", spec.display()),
            ));
        }
    };
    kill_group(pid);
    let finished = Finished {
        exit: process_exit(output.status),
        timed_out: false,
        duration: started.elapsed(),
    };
    Ok((
        finished,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}
