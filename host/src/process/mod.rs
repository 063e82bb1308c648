//! Running processes under supervision: their own process group, a token
//! that marks everything they start, output copied to files and optionally
//! read line by line as it streams, and a kill of the whole tree.

pub mod tree;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proctor_plugin_api::messages::{CommandSpec, ProcessExit, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lines one stream of a process printed.
#[derive(Debug)]
pub struct Lines {
    pub stream: Stream,
    pub lines: Vec<String>,
}

/// What a supervised process did next.
#[derive(Debug)]
pub enum Event {
    Output(Lines),
    Exited(ProcessExit),
    /// The deadline passed first.
    Deadline,
}

/// How the process's output is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Written to the files only.
    Files,
    /// Written to the files and handed over line by line as [`Event::Output`].
    FilesAndLines,
}

/// A process started by [`Supervised::spawn`]. Dropping it kills the tree.
pub struct Supervised {
    child: Child,
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

fn command(spec: &CommandSpec, token: &str) -> Command {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(&spec.env)
        .env(tree::TOKEN_VAR, token)
        .stdin(Stdio::null())
        // Its own group, so a signal reaches the children it started.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    command
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
            let child = command.spawn().map_err(|e| spawn_error(spec, e))?;
            return Ok(Self::new(child, token, None, Vec::new(), started));
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| spawn_error(spec, e))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let copiers = vec![
            tokio::spawn(copy_lines(
                stdout,
                stdout_file,
                Stream::Stdout,
                sender.clone(),
            )),
            tokio::spawn(copy_lines(stderr, stderr_file, Stream::Stderr, sender)),
        ];
        Ok(Self::new(child, token, Some(receiver), copiers, started))
    }

    fn new(
        child: Child,
        token: String,
        lines: Option<mpsc::UnboundedReceiver<Lines>>,
        copiers: Vec<JoinHandle<io::Result<()>>>,
        started: Instant,
    ) -> Self {
        let pid = child.id().expect("a child just spawned has a pid");
        Self {
            child,
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
            status = self.child.wait() => {
                let exit = process_exit(status?);
                self.exit = Some(exit);
                // Whatever it left behind goes now, so that the pipes close.
                tree::kill(self.pid, &self.token);
                Ok(Event::Exited(exit))
            }
            () = sleep => Ok(Event::Deadline),
        }
    }

    /// Kills the whole tree and waits for the process to end.
    pub async fn kill(&mut self) -> io::Result<ProcessExit> {
        let killed = tree::kill(self.pid, &self.token);
        tracing::debug!(pid = self.pid, ?killed, "killed process tree");
        let exit = process_exit(self.child.wait().await?);
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
            let _ = sender.send(Lines { stream, lines });
        }
    }
    if !partial.is_empty() {
        let _ = sender.send(Lines {
            stream,
            lines: vec![String::from_utf8_lossy(&partial).into_owned()],
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
    let mut command = command(spec, &token);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
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
