//! Running processes under supervision: each in a container of its own
//! (a cgroup, else a marked tree), output copied to files and optionally
//! read line by line as it streams, descendants that outlive it found and
//! killed, and a stop of the host passed on.

pub mod cgroup;
mod containment;
pub mod guardian;
mod paced;
mod spawn;
pub mod stop;
pub mod trace;
pub mod tree;

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use proctor_plugin_api::messages::{CommandSpec, ProcessExit, Stream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use containment::{command_name, Tree};
pub use containment::{
    containment, decide_early as decide_containment_early, settle as settle_containment,
    Containment,
};
pub(crate) use paced::set_nonblocking;
use paced::PacedPipe;
use spawn::{Child, Launch, Output as SpawnOutput, Pipes, Program};
pub use stop::{Signal, Stop, StopReceiver, Stopper};
pub use trace::Fault;
use trace::{Report, Traced};

/// Runs blocking work (walking `/proc`, waiting for a group to empty,
/// writing a test's output) from async code without stalling the runtime:
/// on a multi-threaded runtime, its worker hands its other tasks over
/// first; elsewhere (a test's single-threaded runtime, no runtime) the work
/// runs as it is. The hand-over costs tens of microseconds, so what is
/// short (a read of a cgroup file, a fork) runs in place: per process, the
/// hand-overs cost 9% of a run of small isolated tests on two jobs.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Lines one stream of a process printed.
#[derive(Debug)]
pub struct Lines {
    pub stream: Stream,
    pub lines: Vec<String>,
    /// The last line is not whole: the stream ended without a line break
    /// after it (the process may have been cut off while writing it), or it
    /// ran past [`MAX_LINE`] and only its beginning is here. The file has
    /// it all.
    pub cut: bool,
}

/// The longest line handed over whole; a longer one is handed over cut,
/// so that what the host holds of a stream does not grow with its lines.
pub const MAX_LINE: usize = 1 << 20;

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
    /// The host was asked to stop ([`stop`]).
    Stop(Stop),
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

/// How long output drains after its process ended, by default: what is
/// still held open then is held by something outside the tree.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(2);
/// How long descendants may take to end after their root did before they
/// count as leaked (nextest waits as long).
const LEAK_WAIT: Duration = Duration::from_millis(100);

/// How a process is supervised.
#[derive(Debug, Clone)]
pub struct Options {
    pub output: Output,
    pub faults: Faults,
    /// How long output may drain after the process ended.
    pub drain: Duration,
    /// The most bytes each output file keeps ([`cut_marker`]); output is
    /// then read through the host even when only files are asked for.
    pub log_limit: Option<u64>,
    /// Where stop requests come from; none reach a process without.
    pub stop: Option<StopReceiver>,
}

impl Options {
    pub fn new(output: Output, faults: Faults) -> Self {
        Self {
            output,
            faults,
            drain: DEFAULT_DRAIN,
            log_limit: None,
            stop: None,
        }
    }
}

/// What a process left behind when it ended by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leak {
    /// Descendants still running after it ended (then killed): pid and command.
    pub processes: Vec<(u32, String)>,
    /// Its output was still held open when the drain time ran out.
    pub held_output: Option<Duration>,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.processes.is_empty() {
            let listed: Vec<String> = (self.processes.iter())
                .map(|(pid, command)| format!("{pid} ({command})"))
                .collect();
            let count = self.processes.len();
            let (noun, verb) = match count {
                1 => ("process", "was"),
                _ => ("processes", "were"),
            };
            write!(
                f,
                "{count} {noun} outlived it and {verb} killed: {}",
                listed.join(", ")
            )?;
        }
        if let Some(drain) = self.held_output {
            if !self.processes.is_empty() {
                f.write_str("; ")?;
            }
            write!(
                f,
                "its output was still held open {drain:?} after it ended, by a process outside its tree"
            )?;
        }
        Ok(())
    }
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
    tree: Tree,
    lines: Option<mpsc::UnboundedReceiver<Lines>>,
    copiers: Vec<JoinHandle<io::Result<()>>>,
    /// How the process ended, and when the host learnt it.
    ended: Option<(ProcessExit, Instant)>,
    /// Tells the copiers the process ended: they read what is left at once.
    ended_signal: watch::Sender<bool>,
    leak: Leak,
    drain: Duration,
    stop: Option<StopReceiver>,
    started: Instant,
}

/// A started process and its pipes (stdout, stderr), when piped.
type Started = (Root, u32, Option<Pipes>);

/// Starts `spec` as `tree`'s root.
fn start(
    spec: &CommandSpec,
    tree: &Tree,
    output: SpawnOutput,
    faults: Faults,
) -> io::Result<Started> {
    let program = tree.program(spec)?;
    match faults {
        Faults::Ignored => {
            let (child, pid, pipes) = start_untraced(&program, tree, output)?;
            Ok((Root::Child(child), pid, pipes))
        }
        Faults::Caught => {
            let (pid, pipes, traced) = Traced::spawn(program, output, tree.group())?;
            Ok((Root::Traced(traced), pid, pipes))
        }
    }
}

/// Starts `program` as `tree`'s root, untraced: waited for through its
/// pidfd.
fn start_untraced(
    program: &Program,
    tree: &Tree,
    output: SpawnOutput,
) -> io::Result<(Child, u32, Option<Pipes>)> {
    let mut spawned = spawn::spawn(Launch {
        program,
        output,
        group: tree.group(),
        trace_refusals: None,
    })?;
    let (pid, pipes) = (spawned.pid, spawned.pipes.take());
    Ok((Child::new(spawned)?, pid, pipes))
}

fn spawn_error(spec: &CommandSpec, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot start `{}`: {e}", spec.program))
}

/// Pends until the next stop request, or forever without a receiver.
async fn next_stop(stop: &mut Option<StopReceiver>) -> Stop {
    match stop {
        Some(stop) => stop.changed().await,
        None => std::future::pending().await,
    }
}

impl Supervised {
    /// Starts `spec` with stdout and stderr written to the two files.
    pub fn spawn(
        spec: &CommandSpec,
        stdout_path: &Path,
        stderr_path: &Path,
        options: Options,
    ) -> io::Result<Self> {
        let mut tree = Tree::prepare();
        let (stdout_file, stderr_file) = (
            std::fs::File::create(stdout_path)?,
            std::fs::File::create(stderr_path)?,
        );
        let started = Instant::now();
        let (ended_signal, ended) = watch::channel(false);
        let (receiver, copiers, root, pid) =
            if options.output == Output::Files && options.log_limit.is_none() {
                let output = SpawnOutput::Files(stdout_file, stderr_file);
                let (root, pid, _) =
                    start(spec, &tree, output, options.faults).map_err(|e| spawn_error(spec, e))?;
                (None, Vec::new(), root, pid)
            } else {
                let (root, pid, pipes) = start(spec, &tree, SpawnOutput::Pipes, options.faults)
                    .map_err(|e| spawn_error(spec, e))?;
                let (sender, receiver) = mpsc::unbounded_channel();
                let (stdout, stderr) = pipes.expect("stdout and stderr are piped");
                let copy = |pipe, file, stream| {
                    let copier = Copier {
                        file: LimitedFile::new(file, options.log_limit),
                        stream,
                        sender: (options.output == Output::FilesAndLines).then(|| sender.clone()),
                    };
                    PacedPipe::new(pipe, ended.clone()).map(|pipe| tokio::spawn(copier.copy(pipe)))
                };
                let copiers = vec![
                    copy(stdout, stdout_file, Stream::Stdout)?,
                    copy(stderr, stderr_file, Stream::Stderr)?,
                ];
                let receiver = (options.output == Output::FilesAndLines).then_some(receiver);
                (receiver, copiers, root, pid)
            };
        tree.started(pid);
        Ok(Self {
            root,
            pid,
            tree,
            lines: receiver,
            copiers,
            ended: None,
            ended_signal,
            leak: Leak::default(),
            drain: options.drain,
            stop: options.stop,
            started,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every live process of the tree, the root first when it still runs.
    pub fn tree(&self) -> Vec<u32> {
        let mut members = self.tree.members();
        if let Some(root) = members.iter().position(|&pid| pid == self.pid) {
            members[..=root].rotate_right(1);
        }
        members
    }

    /// What the process left behind when it ended by itself; empty when
    /// it left nothing, or was killed.
    pub fn leak(&self) -> &Leak {
        &self.leak
    }

    /// Waits for output, the process's exit, the deadline or a stop
    /// request. Once the process has exited, only the output it left
    /// remains to be read, for at most the drain time; after that,
    /// `Exited` is returned again.
    pub async fn next(&mut self, deadline: Option<Instant>) -> io::Result<Event> {
        if let Some((exit, at)) = self.ended {
            return Ok(self.drain_output(exit, at).await);
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
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
                    let exit = ProcessExit::from(status);
                    self.ended(exit);
                    self.leak.processes = self.reap_descendants().await;
                    Ok(Event::Exited(exit))
                }
                Waited::Faulted(fault) => Ok(Event::Faulted(fault)),
            },
            stop = next_stop(&mut self.stop) => Ok(Event::Stop(stop)),
            () = sleep => Ok(Event::Deadline),
        }
    }

    fn ended(&mut self, exit: ProcessExit) {
        self.ended = Some((exit, Instant::now()));
        self.ended_signal.send_replace(true);
    }

    fn exit(&self) -> Option<ProcessExit> {
        self.ended.map(|(exit, _)| exit)
    }

    /// The next output left after the exit, or the exit again once there
    /// is none, or once the drain time is over: then the pipes are closed,
    /// whoever still holds them.
    async fn drain_output(&mut self, exit: ProcessExit, exited_at: Instant) -> Event {
        let until = exited_at + self.drain;
        match self.lines.as_mut() {
            Some(lines) => tokio::select! {
                received = lines.recv() => if let Some(lines) = received {
                    return Event::Output(lines);
                },
                () = tokio::time::sleep_until(until.into()) => self.stop_copying(),
            },
            // Copied to the files alone (to cut them at their limit): the
            // copiers end when the pipes close.
            None => {
                if !self.copied_by(until).await {
                    self.stop_copying();
                }
            }
        }
        self.lines = None;
        Event::Exited(exit)
    }

    /// Whether every copier has finished by `until`.
    async fn copied_by(&self, until: Instant) -> bool {
        while self.copiers.iter().any(|copier| !copier.is_finished()) {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Closes the pipes whoever still holds them: output held past the
    /// drain time is held by something outside the tree.
    fn stop_copying(&mut self) {
        for copier in &self.copiers {
            copier.abort();
        }
        self.leak.held_output = Some(self.drain);
    }

    /// Descendants still running a moment after the root ended: they are
    /// described, then killed.
    async fn reap_descendants(&mut self) -> Vec<(u32, String)> {
        let deadline = Instant::now() + LEAK_WAIT;
        loop {
            let left = self.tree.descendants();
            if left.is_empty() {
                self.tree.found_empty();
                return Vec::new();
            }
            if Instant::now() >= deadline {
                let described = left.iter().map(|&pid| (pid, command_name(pid))).collect();
                self.tree.kill();
                return described;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Passes a stop request on to the tree; answers when it is to be
    /// killed: after `grace`, or at once.
    pub fn stop(&self, stop: Stop, grace: Duration) -> Option<Instant> {
        self.tree.stop(stop, grace)
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
        if !traced.tracing() || self.ended.is_some() {
            return Ok(());
        }
        traced.release(self.pid);
        // Released or faulted, it is stopped and untraced either way.
        if let Report::Exited(status) = traced.next().await? {
            self.ended(ProcessExit::from(status));
        }
        Ok(())
    }

    /// Kills the whole tree and waits for the process to end.
    pub async fn kill(&mut self) -> io::Result<ProcessExit> {
        if let Some(exit) = self.exit() {
            return Ok(exit);
        }
        let killed = self.tree.kill();
        tracing::debug!(pid = self.pid, ?killed, "killed process tree");
        let exit = ProcessExit::from(self.root.exit().await?);
        self.ended(exit);
        // Anything that forked while the root was dying.
        self.tree.kill();
        Ok(exit)
    }

    /// Waits until the output files hold everything the process printed,
    /// or all that was read before the drain time ran out.
    pub async fn finish(mut self) -> io::Result<(ProcessExit, Duration)> {
        let exit = match self.exit() {
            Some(exit) => exit,
            None => self.kill().await?,
        };
        for copier in self.copiers.drain(..) {
            match copier.await {
                Ok(copied) => copied?,
                Err(e) if e.is_cancelled() => {}
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        Ok((exit, self.started.elapsed()))
    }
}

/// What marks the place where a log file was cut at `limit` bytes.
pub fn cut_marker(limit: u64) -> String {
    format!(
        "\n[proctor: this log was cut here, at {limit} bytes (output_log_max_bytes); \
         the rest was not kept]\n"
    )
}

/// A log file that keeps at most `limit` bytes, then [`cut_marker`].
struct LimitedFile {
    file: std::fs::File,
    limit: Option<u64>,
    written: u64,
    /// The limit was reached and the marker written: nothing more is.
    cut: bool,
}

impl LimitedFile {
    fn new(file: std::fs::File, limit: Option<u64>) -> Self {
        Self {
            file,
            limit,
            written: 0,
            cut: false,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let Some(limit) = self.limit else {
            return self.file.write_all(bytes);
        };
        if self.cut {
            return Ok(());
        }
        let room = usize::try_from(limit - self.written).unwrap_or(usize::MAX);
        let kept = &bytes[..bytes.len().min(room)];
        self.file.write_all(kept)?;
        self.written += kept.len() as u64;
        if kept.len() < bytes.len() {
            self.file.write_all(cut_marker(limit).as_bytes())?;
            self.cut = true;
        }
        Ok(())
    }
}

/// Writes a log file whole, or its first `limit` bytes and [`cut_marker`].
pub fn write_log(path: &Path, text: &str, limit: Option<u64>) -> io::Result<()> {
    let mut file = LimitedFile::new(std::fs::File::create(path)?, limit);
    file.write(text.as_bytes())?;
    std::io::Write::flush(&mut file.file)
}

/// Copies one stream of a process to its file and, when asked, hands its
/// lines on.
struct Copier {
    file: LimitedFile,
    stream: Stream,
    sender: Option<mpsc::UnboundedSender<Lines>>,
}

impl Copier {
    /// Copies the pipe as it arrives, in [`paced`] batches. Each byte is
    /// looked at once, however long its line; a line past [`MAX_LINE`] is
    /// sent cut, and the rest of it only written.
    async fn copy(mut self, mut pipe: PacedPipe) -> io::Result<()> {
        // Written in place: a chunk of at most 64 KiB to a regular file is a
        // short write to the page cache, where tokio's file would hand every
        // chunk to a blocking thread (most of the host's cost per test, with a
        // framework that prints a line a test).
        let mut buffer = vec![0u8; 64 * 1024];
        let mut splitter = LineSplitter::default();
        loop {
            let read = pipe.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            let chunk = &buffer[..read];
            self.file.write(chunk)?;
            if self.sender.is_some() {
                let (lines, cut) = splitter.split(chunk);
                if !lines.is_empty() {
                    self.send(lines, false);
                }
                if let Some(cut) = cut {
                    self.send(vec![cut], true);
                }
            }
        }
        if let Some(last) = splitter.finish() {
            self.send(vec![last], true);
        }
        std::io::Write::flush(&mut self.file.file)
    }

    fn send(&self, lines: Vec<String>, cut: bool) {
        let stream = self.stream;
        // The receiver may have stopped listening; the file still gets everything.
        if let Some(sender) = &self.sender {
            let _ = sender.send(Lines { stream, lines, cut });
        }
    }
}

/// Splits a stream into lines as its chunks arrive, holding at most
/// [`MAX_LINE`] bytes of the line not yet ended.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
    /// The line being read ran past [`MAX_LINE`] and was sent cut: the rest
    /// of it, up to its line break, is skipped.
    skipping: bool,
}

impl LineSplitter {
    /// The lines `chunk` ends, and the beginning of one it made too long.
    fn split(&mut self, chunk: &[u8]) -> (Vec<String>, Option<String>) {
        let mut lines = Vec::new();
        let mut rest = chunk;
        if let Some(first) = rest.iter().position(|&b| b == b'\n') {
            // The line begun in an earlier chunk ends here.
            if !std::mem::take(&mut self.skipping) {
                self.partial.extend_from_slice(&rest[..first]);
                lines.push(line(&self.partial));
            }
            self.partial.clear();
            rest = &rest[first + 1..];
            // The lines whole in this chunk (shorter than it, so than
            // MAX_LINE), made text in one pass.
            if let Some(last) = rest.iter().rposition(|&b| b == b'\n') {
                let text = String::from_utf8_lossy(&rest[..last]);
                let whole = text.split('\n');
                lines.extend(whole.map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned()));
                rest = &rest[last + 1..];
            }
        }
        if self.skipping {
            return (lines, None);
        }
        let room = MAX_LINE - self.partial.len();
        if rest.len() <= room {
            self.partial.extend_from_slice(rest);
            return (lines, None);
        }
        self.partial.extend_from_slice(&rest[..room]);
        self.skipping = true;
        let cut = line(&self.partial);
        self.partial.clear();
        (lines, Some(cut))
    }

    /// The last line, when the stream ended without a line break.
    fn finish(self) -> Option<String> {
        (!self.partial.is_empty()).then(|| line(&self.partial))
    }
}

/// One line as text, without its carriage return.
fn line(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a command printed, and how it ended.
pub struct Captured {
    pub exit: ProcessExit,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `spec` to its end and returns what it printed. Past `timeout` it
/// is killed; a stop request passes the signal on and kills it after
/// `grace` (at once when asked to).
pub async fn run_captured(
    spec: &CommandSpec,
    timeout: Duration,
    mut stop: Option<StopReceiver>,
    grace: Duration,
) -> io::Result<Captured> {
    let stopped_by = |signal: Signal| {
        io::Error::new(
            io::ErrorKind::Interrupted,
            format!("`{}` was stopped by {signal}", spec.display()),
        )
    };
    if let Some(signal) = stop.as_ref().and_then(|s| s.state().signal()) {
        return Err(stopped_by(signal));
    }
    let mut tree = Tree::prepare();
    let (mut child, pid, pipes) = tree
        .program(spec)
        .and_then(|program| start_untraced(&program, &tree, SpawnOutput::Pipes))
        .map_err(|e| spawn_error(spec, e))?;
    tree.started(pid);
    let (stdout, stderr) = pipes.expect("stdout and stderr are piped");
    let output = async {
        let (stdout, stderr, status) =
            tokio::try_join!(read_all(stdout), read_all(stderr), child.wait())?;
        io::Result::Ok((stdout, stderr, status))
    };
    tokio::pin!(output);
    let mut deadline = Instant::now() + timeout;
    // Why it did not end by itself, when it did not.
    let mut ended_early: Option<io::Error> = None;
    let mut killed = false;
    let output = loop {
        tokio::select! {
            output = &mut output => break output?,
            stopped = next_stop(&mut stop) => {
                if let Some(signal) = stopped.signal() {
                    ended_early.get_or_insert_with(|| stopped_by(signal));
                }
                if let Some(kill_at) = tree.stop(stopped, grace) {
                    deadline = deadline.min(kill_at);
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                if killed {
                    // Killed, and its pipes still open: held by something
                    // outside its tree. Why it was killed is what counts.
                    return Err(ended_early.take().expect("it was killed for a reason"));
                }
                ended_early.get_or_insert_with(|| io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("`{}` did not finish within {timeout:?}", spec.display()),
                ));
                tree.kill();
                killed = true;
                deadline = Instant::now() + DEFAULT_DRAIN;
            }
        }
    };
    if let Some(error) = ended_early {
        return Err(error);
    }
    let (stdout, stderr, status) = output;
    Ok(Captured {
        exit: ProcessExit::from(status),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Everything a pipe holds until its end.
async fn read_all(pipe: OwnedFd) -> io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(pipe)?;
    let mut bytes = Vec::new();
    pipe.read_to_end(&mut bytes).await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limited_log_keeps_its_first_bytes_and_marks_the_cut_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut file = LimitedFile::new(std::fs::File::create(&path).unwrap(), Some(10));
        for chunk in [&b"01234"[..], b"56789", b"abc", b"def"] {
            file.write(chunk).unwrap();
        }
        let kept = std::fs::read_to_string(&path).unwrap();
        assert_eq!(kept, format!("0123456789{}", cut_marker(10)));

        let mut file = LimitedFile::new(std::fs::File::create(&path).unwrap(), Some(10));
        file.write(b"0123456789").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0123456789",
            "nothing was cut"
        );
    }

    #[test]
    fn lines_are_joined_across_chunks_without_their_carriage_returns() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.split(b"one\r\ntw"), (vec!["one".to_owned()], None));
        assert_eq!(
            splitter.split(b"o\n\nthr"),
            (vec!["two".to_owned(), String::new()], None)
        );
        assert_eq!(splitter.finish().as_deref(), Some("thr"));
    }

    #[test]
    fn a_line_past_the_longest_is_sent_cut_once_and_the_next_whole() {
        let mut splitter = LineSplitter::default();
        let chunk = vec![b'x'; 64 * 1024];
        let mut cuts = Vec::new();
        for _ in 0..(3 * MAX_LINE / chunk.len()) {
            let (lines, cut) = splitter.split(&chunk);
            assert!(lines.is_empty());
            cuts.extend(cut);
            assert!(
                splitter.partial.len() <= MAX_LINE,
                "the held line grows no further"
            );
        }
        assert_eq!(cuts.len(), 1);
        assert_eq!(cuts[0].len(), MAX_LINE);
        let (lines, cut) = splitter.split(b"xxx tail of the long line\nnext\n");
        assert_eq!((lines, cut), (vec!["next".to_owned()], None));
        assert_eq!(splitter.finish(), None);
    }

    fn python(code: &str) -> CommandSpec {
        CommandSpec::new("python3").args(["-c", code])
    }

    /// Output copied to files alone (for their size limit) drains like
    /// output read line by line: a daemon outside the tree holding the
    /// pipe holds the process no longer than the drain time.
    #[tokio::test]
    async fn a_pipe_held_outside_the_tree_closes_after_the_drain_when_logs_are_limited() {
        let dir = tempfile::tempdir().unwrap();
        let marker = format!("proctor-held-pipe-{}", std::process::id());
        // Out of the session, its environment cleared: no sweep finds it.
        let daemon = format!(
            "import subprocess; subprocess.Popen(\"setsid env -i python3 -c \
             'import time; time.sleep(60)' {marker} &\", shell=True)"
        );
        // In a cgroup the daemon would die with the process: the sweep is
        // what a machine without cgroups has (nextest runs each test in a
        // process of its own, so this reaches no other test).
        std::env::set_var(containment::CONTAINMENT_VAR, "sweep");
        let command = python(&daemon);
        let options = Options {
            drain: Duration::from_millis(300),
            log_limit: Some(1000),
            ..Options::new(Output::Files, Faults::Ignored)
        };
        let (stdout, stderr) = (dir.path().join("out"), dir.path().join("err"));
        let mut process = Supervised::spawn(&command, &stdout, &stderr, options).unwrap();
        let started = Instant::now();
        while !matches!(process.next(None).await.unwrap(), Event::Exited(_)) {}
        let ended = process.next(None).await.unwrap();
        let took = started.elapsed();
        let _ = std::process::Command::new("pkill")
            .args(["-f", &marker])
            .status();
        assert!(matches!(ended, Event::Exited(_)), "{ended:?}");
        assert!(took < Duration::from_secs(10), "it took {took:?}");
        assert_eq!(process.leak().held_output, Some(Duration::from_millis(300)));
        process.finish().await.unwrap();
    }

    async fn spawn_traced(spec: &CommandSpec, dir: &Path) -> Supervised {
        let (stdout, stderr) = (dir.join("out"), dir.join("err"));
        Supervised::spawn(
            spec,
            &stdout,
            &stderr,
            Options::new(Output::Files, Faults::Caught),
        )
        .unwrap()
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
