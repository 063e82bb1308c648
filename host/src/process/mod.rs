//! Running processes under supervision: their own process group, a token
//! that marks everything they start, output copied to files and optionally
//! read line by line as it streams, and a kill of the whole tree.

pub mod trace;
pub mod tree;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proctor_plugin_api::messages::{CommandSpec, ProcessExit, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdout};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use trace::Fault;
use trace::{Report, Traced};

/// Lines one stream of a process printed.
#[derive(Debug)]
pub struct Lines {
    pub stream: Stream,
    pub lines: Vec<String>,
    /// The stream ended without a line break after the last line: the
    /// process may have been cut off while writing it.
    pub unterminated: bool,
}

/// What a supervised process did next.
#[derive(Debug)]
pub enum Event {
    Output(Lines),
    Exited(ProcessExit),
    /// A thread is about to receive a crash signal; the process is held
    /// stopped until [`Supervised::resume`].
    Faulted(Fault),
    /// The deadline passed first.
    Deadline,
}

/// Whether a process's faults are caught ([`trace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Faults {
    Ignored,
    Caught,
}

/// How the process's output is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Written to the files only.
    Files,
    /// Written to the files and handed over line by line as [`Event::Output`].
    FilesAndLines,
}

/// The process a [`Supervised`] started, and how its end is learnt.
enum Root {
    Child(Child),
    Traced(Traced),
}

/// How the root process's wait ended.
enum Waited {
    Exited(std::process::ExitStatus),
    Faulted(Fault),
}

impl Root {
    /// Waits for the process to end or, while traced, to fault.
    async fn wait(&mut self) -> io::Result<Waited> {
        match self {
            Root::Child(child) => Ok(Waited::Exited(child.wait().await?)),
            Root::Traced(traced) => loop {
                match traced.next().await? {
                    Report::Exited(status) => return Ok(Waited::Exited(status)),
                    Report::Faulted(fault) => return Ok(Waited::Faulted(fault)),
                    Report::Released => {}
                }
            },
        }
    }

    /// Waits for the process to end, letting faults go.
    async fn exit(&mut self) -> io::Result<std::process::ExitStatus> {
        loop {
            match self.wait().await? {
                Waited::Exited(status) => return Ok(status),
                Waited::Faulted(fault) => trace::resume(&fault),
            }
        }
    }
}

/// A process started by [`Supervised::spawn`]. Dropping it kills the tree.
pub struct Supervised {
    root: Root,
    pid: u32,
    token: String,
    lines: Option<mpsc::UnboundedReceiver<Lines>>,
    copiers: Vec<JoinHandle<io::Result<()>>>,
    exit: Option<ProcessExit>,
    started: Instant,
}

fn new_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn command(spec: &CommandSpec, token: &str) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(&spec.env)
        .env(tree::TOKEN_VAR, token)
        .stdin(Stdio::null())
        // Its own group, so a signal reaches the children it started.
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    command
}

/// A started process and its pipes, when piped.
type Started = (Root, u32, Option<(ChildStdout, ChildStderr)>);

fn start(command: std::process::Command, faults: Faults) -> io::Result<Started> {
    match faults {
        Faults::Ignored => {
            let mut child = tokio::process::Command::from(command)
                .kill_on_drop(true)
                .spawn()?;
            let pid = child.id().expect("a child just spawned has a pid");
            let pipes = child.stdout.take().zip(child.stderr.take());
            Ok((Root::Child(child), pid, pipes))
        }
        Faults::Caught => {
            let (mut child, traced) = Traced::spawn(command)?;
            let pipes = match child.stdout.take().zip(child.stderr.take()) {
                Some((stdout, stderr)) => Some((
                    ChildStdout::from_std(stdout)?,
                    ChildStderr::from_std(stderr)?,
                )),
                None => None,
            };
            Ok((Root::Traced(traced), child.id(), pipes))
        }
    }
}

fn spawn_error(spec: &CommandSpec, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot start `{}`: {e}", spec.program))
}

fn process_exit(status: std::process::ExitStatus) -> ProcessExit {
    ProcessExit {
        code: status.code(),
        signal: status.signal(),
    }
}

impl Supervised {
    /// Starts `spec` with stdout and stderr written to the two files.
    pub fn spawn(
        spec: &CommandSpec,
        stdout_path: &Path,
        stderr_path: &Path,
        output: Output,
        faults: Faults,
    ) -> io::Result<Self> {
        let token = new_token();
        let mut command = command(spec, &token);
        let (stdout_file, stderr_file) = (
            std::fs::File::create(stdout_path)?,
            std::fs::File::create(stderr_path)?,
        );
        let started = Instant::now();
        if output == Output::Files {
            command.stdout(stdout_file).stderr(stderr_file);
            let (root, pid, _) = start(command, faults).map_err(|e| spawn_error(spec, e))?;
            return Ok(Self::new(root, pid, token, None, Vec::new(), started));
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let (root, pid, pipes) = start(command, faults).map_err(|e| spawn_error(spec, e))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let (stdout, stderr) = pipes.expect("stdout and stderr are piped");
        let copiers = vec![
            tokio::spawn(copy_lines(
                stdout,
                stdout_file,
                Stream::Stdout,
                sender.clone(),
            )),
            tokio::spawn(copy_lines(stderr, stderr_file, Stream::Stderr, sender)),
        ];
        Ok(Self::new(
            root,
            pid,
            token,
            Some(receiver),
            copiers,
            started,
        ))
    }

    fn new(
        root: Root,
        pid: u32,
        token: String,
        lines: Option<mpsc::UnboundedReceiver<Lines>>,
        copiers: Vec<JoinHandle<io::Result<()>>>,
        started: Instant,
    ) -> Self {
        Self {
            root,
            pid,
            token,
            lines,
            copiers,
            exit: None,
            started,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every live process of the tree, the root first when it still runs.
    pub fn tree(&self) -> Vec<u32> {
        tree::members(self.pid, &self.token)
    }

    /// Waits for output, the process's exit, or the deadline. Once the
    /// process has exited, only the output it left remains to be read; after
    /// that, `Exited` is returned again.
    pub async fn next(&mut self, deadline: Option<Instant>) -> io::Result<Event> {
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        if let Some(exit) = self.exit {
            return Ok(match self.lines.as_mut() {
                Some(lines) => match lines.recv().await {
                    Some(lines) => Event::Output(lines),
                    None => Event::Exited(exit),
                },
                None => Event::Exited(exit),
            });
        }
        let lines = async {
            match self.lines.as_mut() {
                Some(lines) => lines.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(lines) = lines => Ok(Event::Output(lines)),
            waited = self.root.wait() => match waited? {
                Waited::Exited(status) => {
                    let exit = process_exit(status);
                    self.exit = Some(exit);
                    // Whatever it left behind goes now, so that the pipes close.
                    tree::kill(self.pid, &self.token);
                    Ok(Event::Exited(exit))
                }
                Waited::Faulted(fault) => Ok(Event::Faulted(fault)),
            },
            () = sleep => Ok(Event::Deadline),
        }
    }

    /// Lets a process that [`Event::Faulted`] take its signal.
    pub fn resume(&self, fault: &Fault) {
        trace::resume(fault);
    }

    /// Leaves a traced process stopped and untraced, so that a dumper can
    /// attach to it; a process not traced is left as it is. What the
    /// process does next is only learnt once it is resumed or killed.
    pub async fn release(&mut self) -> io::Result<()> {
        let Root::Traced(traced) = &mut self.root else {
            return Ok(());
        };
        if !traced.tracing() || self.exit.is_some() {
            return Ok(());
        }
        traced.release(self.pid);
        // Released or faulted, it is stopped and untraced either way.
        if let Report::Exited(status) = traced.next().await? {
            self.exit = Some(process_exit(status));
        }
        Ok(())
    }

    /// Kills the whole tree and waits for the process to end.
    pub async fn kill(&mut self) -> io::Result<ProcessExit> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        let killed = tree::kill(self.pid, &self.token);
        tracing::debug!(pid = self.pid, ?killed, "killed process tree");
        let exit = process_exit(self.root.exit().await?);
        self.exit = Some(exit);
        // Anything that forked while the root was dying.
        tree::kill(self.pid, &self.token);
        Ok(exit)
    }

    /// Waits until the output files hold everything the process printed.
    pub async fn finish(mut self) -> io::Result<(ProcessExit, Duration)> {
        let exit = match self.exit {
            Some(exit) => exit,
            None => self.kill().await?,
        };
        for copier in self.copiers.drain(..) {
            copier.await.map_err(io::Error::other)??;
        }
        Ok((exit, self.started.elapsed()))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.exit.is_none() {
            tree::kill(self.pid, &self.token);
        }
    }
}

/// Copies a pipe to a file as it arrives and sends on complete lines.
async fn copy_lines(
    mut pipe: impl AsyncRead + Unpin,
    file: std::fs::File,
    stream: Stream,
    sender: mpsc::UnboundedSender<Lines>,
) -> io::Result<()> {
    let mut file = tokio::fs::File::from_std(file);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let read = pipe.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        file.write_all(chunk).await?;
        partial.extend_from_slice(chunk);
        if let Some(end) = partial.iter().rposition(|&b| b == b'\n') {
            let complete: Vec<u8> = partial.drain(..=end).collect();
            let lines = String::from_utf8_lossy(&complete[..end])
                .split('\n')
                .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
                .collect();
            // The receiver may have stopped listening; the file still gets everything.
            let _ = sender.send(Lines {
                stream,
                lines,
                unterminated: false,
            });
        }
    }
    if !partial.is_empty() {
        let _ = sender.send(Lines {
            stream,
            lines: vec![String::from_utf8_lossy(&partial).into_owned()],
            unterminated: true,
        });
    }
    file.flush().await
}

/// Runs `spec` to its end and returns what it printed; kills it past `timeout`.
pub async fn run_captured(
    spec: &CommandSpec,
    timeout: Duration,
) -> io::Result<(ProcessExit, String, String)> {
    let token = new_token();
    let mut command = tokio::process::Command::from(command(spec, &token));
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|e| spawn_error(spec, e))?;
    let pid = child.id().expect("a child just spawned has a pid");
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output?,
        Err(_) => {
            tree::kill(pid, &token);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("`{}` did not finish within {timeout:?}", spec.display()),
            ));
        }
    };
    tree::kill(pid, &token);
    Ok((
        process_exit(output.status),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python(code: &str) -> CommandSpec {
        CommandSpec::new("python3").args(["-c", code])
    }

    async fn spawn_traced(spec: &CommandSpec, dir: &Path) -> Supervised {
        let (stdout, stderr) = (dir.join("out"), dir.join("err"));
        Supervised::spawn(spec, &stdout, &stderr, Output::Files, Faults::Caught).unwrap()
    }

    /// The next event that is not output.
    async fn next(process: &mut Supervised) -> Event {
        loop {
            match process.next(None).await.unwrap() {
                Event::Output(_) => continue,
                event => return event,
            }
        }
    }

    async fn expect_fault(process: &mut Supervised) -> Fault {
        match next(process).await {
            Event::Faulted(fault) => fault,
            event => panic!("{event:?} where a fault was expected"),
        }
    }

    async fn expect_exit(process: &mut Supervised) -> ProcessExit {
        match next(process).await {
            Event::Exited(exit) => exit,
            event => panic!("{event:?} where the exit was expected"),
        }
    }

    const NULL_READ: &str = "import ctypes; ctypes.string_at(0)";

    #[tokio::test]
    async fn a_fault_is_caught_before_the_signal_and_the_process_dies_of_it_when_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let mut process = spawn_traced(&python(NULL_READ), dir.path()).await;
        let fault = expect_fault(&mut process).await;
        assert_eq!((fault.pid, fault.tid), (process.pid(), process.pid()));
        assert_eq!(fault.signal, libc::SIGSEGV);
        assert!(fault.code > 0, "a fault the kernel raised: {fault:?}");
        assert_eq!(fault.address, Some(0));
        assert!(!fault.handled);
        // Held stopped, and untraced so that a dumper can attach.
        let status = std::fs::read_to_string(format!("/proc/{}/status", fault.pid)).unwrap();
        assert!(status.contains("State:\tT (stopped)"), "{status}");
        assert!(status.contains("TracerPid:\t0"), "{status}");
        process.resume(&fault);
        assert_eq!(expect_exit(&mut process).await.signal, Some(libc::SIGSEGV));
    }

    #[tokio::test]
    async fn a_fault_in_another_thread_names_that_thread() {
        let dir = tempfile::tempdir().unwrap();
        let code = format!(
            "import threading; t = threading.Thread(target=lambda: exec({NULL_READ:?})); t.start(); t.join()"
        );
        let mut process = spawn_traced(&python(&code), dir.path()).await;
        let fault = expect_fault(&mut process).await;
        assert_ne!(fault.tid, fault.pid);
        process.resume(&fault);
        assert_eq!(expect_exit(&mut process).await.signal, Some(libc::SIGSEGV));
    }

    #[tokio::test]
    async fn a_handled_crash_signal_is_caught_first_and_reaches_its_handler_after() {
        let dir = tempfile::tempdir().unwrap();
        let code = "import os, signal; \
                    signal.signal(signal.SIGSEGV, lambda *_: os._exit(5)); \
                    os.kill(os.getpid(), signal.SIGSEGV)";
        let mut process = spawn_traced(&python(code), dir.path()).await;
        let fault = expect_fault(&mut process).await;
        assert!(fault.handled);
        assert_eq!(fault.code, 0, "SI_USER: sent by kill");
        assert_eq!(fault.address, None);
        process.resume(&fault);
        assert_eq!(expect_exit(&mut process).await.code, Some(5));
    }

    /// A thread other than the main one execs another program, which then
    /// crashes: the exec takes the main thread's id and leaves no end of
    /// its own old one to wait for.
    #[tokio::test]
    async fn a_fault_after_an_exec_from_another_thread_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let code = "import os, threading, time; \
                    run = lambda: os.execv('/bin/sh', ['sh', '-c', 'kill -SEGV $$']); \
                    threading.Thread(target=run).start(); time.sleep(60)";
        let mut process = spawn_traced(&python(code), dir.path()).await;
        let fault = tokio::time::timeout(Duration::from_secs(20), expect_fault(&mut process))
            .await
            .expect("the fault is reported");
        assert_eq!(fault.signal, libc::SIGSEGV);
        process.resume(&fault);
        assert_eq!(expect_exit(&mut process).await.signal, Some(libc::SIGSEGV));
    }

    #[tokio::test]
    async fn a_traced_process_keeps_its_signals_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        // SIGUSR1 is handled, SIGCHLD comes from a child: both pass through.
        let code = "import os, signal, subprocess; got = []; \
                    signal.signal(signal.SIGUSR1, lambda *_: got.append(1)); \
                    os.kill(os.getpid(), signal.SIGUSR1); subprocess.run(['true']); \
                    raise SystemExit(3 if got else 4)";
        let mut process = spawn_traced(&python(code), dir.path()).await;
        assert_eq!(expect_exit(&mut process).await.code, Some(3));
    }

    #[tokio::test]
    async fn a_released_process_is_stopped_untraced_and_can_still_be_killed() {
        let dir = tempfile::tempdir().unwrap();
        let mut process = spawn_traced(&python("import time; time.sleep(60)"), dir.path()).await;
        // Past the exec, so that the tracer has set its options.
        tokio::time::sleep(Duration::from_millis(300)).await;
        process.release().await.unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", process.pid())).unwrap();
        assert!(status.contains("State:\tT (stopped)"), "{status}");
        assert!(status.contains("TracerPid:\t0"), "{status}");
        let exit = process.kill().await.unwrap();
        assert_eq!(exit.signal, Some(libc::SIGKILL));
    }
}
