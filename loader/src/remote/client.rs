//! The host's side of a plugin process.

use std::collections::HashMap;
use std::io::Read as _;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use abi_stable::std_types::RString;
use proctor_plugin_api::abi::PluginError;
use proctor_plugin_api::messages::{signal_name, PluginKind};

use super::wire::{split_frame, write_frame, Frame, CREATE_ID};
use super::{Order, PluginHostProgram, REFUSED};
use crate::call::{Answer, CallError, Operation, ProgressCell, ProgressFn};
use crate::handles::{label, CreateError, Deadlines};
use crate::stopping::CallDeadline;
use crate::{Library, Refusal, RefusalReason};

/// A plugin in a process of its own, started again after it ended.
pub(crate) struct PluginProcess {
    program: PluginHostProgram,
    /// The [`Order`] that creates it, as JSON.
    order: String,
    deadlines: Deadlines,
    /// The process now, and how many have ended before it.
    current: Mutex<(Arc<Connection>, u32)>,
}

/// How many times a plugin's process is started again after it ended: a
/// plugin that crashes at every call would otherwise cost a process start
/// per call, for nothing.
const RESTARTS: u32 = 3;

impl PluginProcess {
    /// Starts the process and creates the plugin in it.
    pub fn start(
        program: &PluginHostProgram,
        library: &Path,
        kind: PluginKind,
        name: &str,
        settings: String,
        deadlines: Deadlines,
    ) -> Result<Self, CreateError> {
        let order = Order::Create {
            library: library.to_path_buf(),
            kind,
            name: name.to_owned(),
            settings,
        };
        let order = serde_json::to_string(&order).expect("an order serializes");
        let label = label(kind, name);
        let (connection, _) = Connection::open(program, &order, (&label, "`create`"), &deadlines)?;
        Ok(Self {
            program: program.clone(),
            order,
            deadlines,
            current: Mutex::new((connection, 0)),
        })
    }

    /// Makes one call, in a new process if the last one ended.
    pub fn call(
        &self,
        label: &str,
        operation: Operation,
        request: String,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<Answer, CallError> {
        let connection = {
            let mut current = self.current.lock().expect("the process's lock");
            let (connection, ended_before) = &mut *current;
            if let Some(ended) = connection.ended() {
                let error = |message: String| CallError {
                    plugin: label.to_owned(),
                    operation: operation.name(),
                    code: CallError::PLUGIN_ENDED,
                    message,
                };
                if *ended_before >= RESTARTS {
                    return Err(error(format!(
                        "its process ended {} times, the last time as it {ended}; nothing more \
                         is asked of it",
                        *ended_before + 1
                    )));
                }
                tracing::warn!("{label}: its plugin process {ended}; starting a new one");
                *ended_before += 1;
                (*connection, _) = Connection::open(
                    &self.program,
                    &self.order,
                    (label, "`create`"),
                    &self.deadlines,
                )
                .map_err(|e| {
                    error(format!(
                        "its process could not be started again: {}",
                        e.message
                    ))
                })?;
            }
            connection.clone()
        };
        connection.call(
            label,
            operation,
            request,
            progress,
            self.deadlines.get(operation),
        )
    }
}

/// One plugin process.
///
/// No thread waits on its answers: a caller waiting for one reads them
/// itself, handing those of other calls to their callers, so that its own
/// answer wakes it directly (a reader thread would cost one more thread
/// switch a call, a third of a round trip). When it has its answer it
/// passes the reading on to another caller still waiting.
struct Connection {
    child: Mutex<Child>,
    writer: Mutex<ChildStdin>,
    /// Held by the caller reading answers.
    reader: Mutex<AnswerReader>,
    /// Calls waiting for an answer; `None` once the process ended.
    pending: Mutex<Option<HashMap<u64, Pending>>>,
    /// How the process ended, once it did.
    ended: OnceLock<String>,
    next_id: AtomicU64,
}

struct Pending {
    delivery: mpsc::Sender<Delivery>,
    progress: Arc<ProgressCell>,
}

/// What a waiting caller is handed.
enum Delivery {
    Answer(Answer),
    /// Read the answers now: the caller who did has its own.
    Read,
}

/// The process's stdout, non-blocking, and what was read of it.
struct AnswerReader {
    stdout: ChildStdout,
    buffer: Vec<u8>,
}

/// What reading answers for a while came to.
enum Read {
    Mine(Answer),
    /// Nothing for this caller yet.
    Waiting,
    /// The process's output ended.
    Closed,
}

impl Connection {
    /// Starts a plugin process and gives it `order`, which messages call
    /// `what`; answers the process and what it answered.
    fn open(
        program: &PluginHostProgram,
        order: &str,
        (label, what): (&str, &str),
        deadlines: &Deadlines,
    ) -> Result<(Arc<Self>, String), CreateError> {
        let failed = |code, message: String| CreateError {
            plugin: label.to_owned(),
            code,
            message,
        };
        let started = Command::new(&program.program)
            .args(&program.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .and_then(|mut child| {
                let stdout = child.stdout.take().expect("stdout is piped");
                set_nonblocking(&stdout)?;
                Ok((child, stdout))
            });
        let (mut child, stdout) = started.map_err(|e| {
            failed(
                PluginError::FAILED,
                format!(
                    "its plugin process ({}) did not start: {e}",
                    program.program.display()
                ),
            )
        })?;
        let writer = child.stdin.take().expect("stdin is piped");
        let connection = Arc::new(Connection {
            child: Mutex::new(child),
            writer: Mutex::new(writer),
            reader: Mutex::new(AnswerReader {
                stdout,
                buffer: Vec::new(),
            }),
            pending: Mutex::new(Some(HashMap::new())),
            ended: OnceLock::new(),
            next_id: AtomicU64::new(CREATE_ID + 1),
        });
        let deadline = CallDeadline::starting_now(deadlines.get(Operation::Create));
        let waited =
            connection.exchange(CREATE_ID, Frame::Create(order.to_owned()), None, deadline);
        match connection.outcome(waited, what, &deadline) {
            Ok(Ok(answer)) => Ok((connection, answer)),
            Ok(Err(e)) => Err(failed(e.code, e.message.into_string())),
            Err((code, message)) => Err(failed(code, message)),
        }
    }

    /// How the process ended, if it did; learns of an end no call saw.
    fn ended(&self) -> Option<&String> {
        if self.ended.get().is_none() {
            let exited = self.child.lock().expect("the child's lock").try_wait();
            if let Ok(Some(status)) = exited {
                let _ = self.ended.set(describe(status));
            }
        }
        self.ended.get()
    }

    fn call(
        &self,
        label: &str,
        operation: Operation,
        request: String,
        progress: Option<&ProgressFn<'_>>,
        limit: Duration,
    ) -> Result<Answer, CallError> {
        let deadline = CallDeadline::starting_now(limit);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = Frame::Call {
            id,
            operation,
            request,
        };
        let waited = self.exchange(id, frame, progress, deadline);
        self.outcome(waited, &format!("`{operation}`"), &deadline)
            .map_err(|(code, message)| CallError {
                plugin: label.to_owned(),
                operation: operation.name(),
                code,
                message,
            })
    }

    /// Sends `frame` as call `id` and waits for its answer, reading the
    /// answers whenever no other caller does.
    fn exchange(
        &self,
        id: u64,
        frame: Frame,
        progress: Option<&ProgressFn<'_>>,
        deadline: CallDeadline,
    ) -> Waited {
        let (sender, deliveries) = mpsc::channel();
        let cell = Arc::new(ProgressCell::default());
        {
            let mut pending = self.pending.lock().expect("the pending calls' lock");
            let Some(pending) = pending.as_mut() else {
                return Waited::Gone;
            };
            let waiting = Pending {
                delivery: sender,
                progress: cell.clone(),
            };
            pending.insert(id, waiting);
        }
        let sent = write_frame(&mut *self.writer.lock().expect("the writer's lock"), &frame);
        let stop = || {
            let frame = Frame::Stop { id };
            let _ = write_frame(&mut *self.writer.lock().expect("the writer's lock"), &frame);
        };
        let waited = match sent {
            // The process is gone: reading says how.
            Err(_) => {
                let now = CallDeadline::starting_now(Duration::ZERO);
                self.wait(id, &deliveries, &cell, None, now, &stop)
            }
            Ok(()) => self.wait(id, &deliveries, &cell, progress, deadline, &stop),
        };
        self.forget(id);
        waited
    }

    /// Waits for call `id`'s answer until its deadline.
    fn wait(
        &self,
        id: u64,
        deliveries: &mpsc::Receiver<Delivery>,
        cell: &ProgressCell,
        progress: Option<&ProgressFn<'_>>,
        deadline: CallDeadline,
        stop: &dyn Fn(),
    ) -> Waited {
        loop {
            match deliveries.try_recv() {
                Ok(Delivery::Answer(answer)) => return Waited::Answered(answer),
                Err(mpsc::TryRecvError::Disconnected) => return Waited::Gone,
                Ok(Delivery::Read) | Err(mpsc::TryRecvError::Empty) => {}
            }
            let left = deadline.at().saturating_duration_since(Instant::now());
            let look = match progress {
                Some(_) => left.min(PROGRESS_INTERVAL),
                None => left.min(DEADLINE_INTERVAL),
            };
            let read = match self.reader.try_lock() {
                Ok(mut reader) => {
                    let read = self.read_answers(&mut reader, id, look);
                    drop(reader);
                    self.pass_the_reading(id);
                    read
                }
                Err(_) => match deliveries.recv_timeout(look) {
                    Ok(Delivery::Answer(answer)) => Read::Mine(answer),
                    Ok(Delivery::Read) | Err(mpsc::RecvTimeoutError::Timeout) => Read::Waiting,
                    Err(mpsc::RecvTimeoutError::Disconnected) => Read::Closed,
                },
            };
            match read {
                Read::Mine(answer) => {
                    pass_progress(cell, progress, stop);
                    return Waited::Answered(answer);
                }
                Read::Closed => return Waited::Gone,
                Read::Waiting if Instant::now() >= deadline.at() => return Waited::Missed,
                Read::Waiting => pass_progress(cell, progress, stop),
            }
        }
    }

    /// Reads answers for at most `look`, handing other calls' to their
    /// callers, until call `id`'s comes.
    fn read_answers(&self, reader: &mut AnswerReader, id: u64, look: Duration) -> Read {
        let until = Instant::now() + look;
        loop {
            loop {
                match split_frame(&reader.buffer) {
                    Ok(Some((frame, length))) => {
                        reader.buffer.drain(..length);
                        if let Some(answer) = self.hand_over(frame, id) {
                            return Read::Mine(answer);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.kill(format!("sent an unreadable frame ({e}) and was killed"));
                        self.close();
                        return Read::Closed;
                    }
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            match fill(reader, left) {
                Ok(true) => {}
                Ok(false) => return Read::Waiting,
                Err(_) => {
                    self.close();
                    return Read::Closed;
                }
            }
        }
    }

    /// Gives a frame read to its call; answers it when it is call `id`'s.
    fn hand_over(&self, frame: Frame, id: u64) -> Option<Answer> {
        match frame {
            Frame::Answer { id: of, answer } => {
                let answer = answer.map_err(|(code, message)| PluginError {
                    code,
                    message: RString::from(message),
                });
                if of == id {
                    return Some(answer);
                }
                let waiting = (self.pending.lock().expect("the lock").as_mut())
                    .and_then(|pending| pending.remove(&of));
                if let Some(waiting) = waiting {
                    let _ = waiting.delivery.send(Delivery::Answer(answer));
                }
            }
            Frame::Progress {
                id: of,
                done,
                total,
            } => {
                if let Some(pending) = self.pending.lock().expect("the lock").as_ref() {
                    if let Some(waiting) = pending.get(&of) {
                        waiting
                            .progress
                            .report(done, (total != u64::MAX).then_some(total));
                    }
                }
            }
            frame => {
                self.kill(format!(
                    "sent a frame only the host sends ({frame:?}) and was killed"
                ));
            }
        }
        None
    }

    /// Asks another waiting caller to read the answers.
    fn pass_the_reading(&self, from: u64) {
        if let Some(pending) = self.pending.lock().expect("the lock").as_ref() {
            if let Some((_, next)) = pending.iter().find(|(id, _)| **id != from) {
                let _ = next.delivery.send(Delivery::Read);
            }
        }
    }

    fn forget(&self, id: u64) {
        if let Some(pending) = self.pending.lock().expect("the lock").as_mut() {
            pending.remove(&id);
        }
    }

    /// What a wait for `what` (`` `discover` ``) comes to: its answer, or
    /// why there is none.
    fn outcome(
        &self,
        waited: Waited,
        what: &str,
        deadline: &CallDeadline,
    ) -> Result<Answer, (u32, String)> {
        match waited {
            Waited::Answered(answer) => Ok(answer),
            Waited::Missed => {
                self.kill(format!("was killed when {what} missed its deadline"));
                self.close();
                Err((
                    CallError::DEADLINE_MISSED,
                    format!(
                        "it did not answer {what} {}; its process was killed",
                        deadline.allowed()
                    ),
                ))
            }
            Waited::Gone => {
                let ended = self.ended().map_or("ended", String::as_str);
                Err((
                    CallError::PLUGIN_ENDED,
                    format!("its process {ended} during {what}"),
                ))
            }
        }
    }

    fn kill(&self, why: String) {
        let _ = self.ended.set(why);
        let _ = self.child.lock().expect("the child's lock").kill();
    }

    /// The process's output closed: it ended, or closed it and can answer
    /// nothing more, and is ended. Every caller still waiting is told.
    fn close(&self) {
        let mut child = self.child.lock().expect("the child's lock");
        let mut status = None;
        for _ in 0..200 {
            match child.try_wait() {
                Ok(Some(ended)) => {
                    status = Some(ended);
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        if status.is_none() {
            let _ = self
                .ended
                .set("closed its output and was killed".to_owned());
            let _ = child.kill();
            status = child.wait().ok();
        }
        drop(child);
        let _ = self.ended.set(match status {
            Some(status) => describe(status),
            None => "ended".to_owned(),
        });
        self.pending.lock().expect("the lock").take();
    }
}

impl Drop for Connection {
    /// A process nothing will call again is ended and reaped.
    fn drop(&mut self) {
        let child = self.child.get_mut().expect("the child's lock");
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How waiting for a call ended.
enum Waited {
    Answered(Answer),
    /// The deadline passed first.
    Missed,
    /// Whatever was to answer is gone.
    Gone,
}

/// Passes the latest progress of a call to `progress`, and its wish to
/// stop back through `cell` and `stop`.
fn pass_progress(cell: &ProgressCell, progress: Option<&ProgressFn<'_>>, stop: &dyn Fn()) {
    if let (Some(progress), Some((done, total))) = (progress, cell.take()) {
        if !progress(done, total) && !cell.stop_asked() {
            cell.ask_to_stop();
            stop();
        }
    }
}

/// How often a caller with a progress function looks at the progress.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// How often a caller looks at its deadline, which a stop may bring
/// forward: the watchdog's own interval for calls in the host's process.
const DEADLINE_INTERVAL: Duration = Duration::from_secs(1);

/// Reads what the process wrote, waiting at most `wait` for something;
/// answers whether anything came. The end of the output is an error.
fn fill(reader: &mut AnswerReader, wait: Duration) -> std::io::Result<bool> {
    let fd = reader.stdout.as_raw_fd();
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = wait.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: polls one descriptor we own, described by a live pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, millis) };
    if ready < 0 {
        let error = std::io::Error::last_os_error();
        return match error.kind() {
            std::io::ErrorKind::Interrupted => Ok(false),
            _ => Err(error),
        };
    }
    if ready == 0 {
        return Ok(false);
    }
    let mut chunk = [0u8; 64 * 1024];
    match reader.stdout.read(&mut chunk) {
        Ok(0) => Err(std::io::ErrorKind::UnexpectedEof.into()),
        Ok(n) => {
            reader.buffer.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

fn set_nonblocking(stdout: &ChildStdout) -> std::io::Result<()> {
    let fd = stdout.as_raw_fd();
    // SAFETY: reads and sets the status flags of a descriptor we own.
    let set = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    };
    match set {
        true => Ok(()),
        false => Err(std::io::Error::last_os_error()),
    }
}

/// Reads a library's manifest in a plugin process, so that whatever its
/// constructors do happens there: the library is described, not mapped
/// here. A process that crashes, exits or hangs while loading it refuses
/// the library, saying so.
#[allow(
    clippy::result_large_err,
    reason = "a library is described once, and a refusal carries what its message needs"
)]
pub fn describe_library(
    path: &Path,
    program: &PluginHostProgram,
    deadline: Duration,
) -> Result<Library, Refusal> {
    crate::library::check_file(path)?;
    let order = Order::Describe {
        library: path.to_path_buf(),
    };
    let order = serde_json::to_string(&order).expect("an order serializes");
    let mut deadlines = Deadlines::default();
    deadlines.set(Operation::Create, deadline);
    let label = format!("plugin library {}", path.display());
    let refused = |what| Refusal::unread(path, RefusalReason::PluginProcess(what));
    match Connection::open(
        program,
        &order,
        (&label, "the loading of the library"),
        &deadlines,
    ) {
        Ok((_, description)) => serde_json::from_str(&description)
            .map(|description| Library::described(path, description))
            .map_err(|e| refused(format!("answered no manifest: {e}"))),
        Err(error) if error.code == REFUSED => serde_json::from_str(&error.message)
            .map_err(|e| refused(format!("answered an unreadable refusal: {e}")))
            .and_then(Err),
        Err(error) => Err(refused(error.message)),
    }
}

/// How a process ended, as messages say it: `exited with status 0`,
/// `was killed by SIGSEGV`.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => match signal_name(signal) {
            Some(name) => format!("was killed by {name}"),
            None => format!("was killed by signal {signal}"),
        },
        (None, None) => "ended".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn progress_passes_once_per_report_and_a_stop_is_asked_once() {
        let cell = ProgressCell::default();
        let stops = std::sync::atomic::AtomicUsize::new(0);
        let stop = || {
            stops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let seen = Mutex::new(Vec::new());
        let progress = |done: u64, total: Option<u64>| {
            seen.lock().unwrap().push((done, total));
            done < 20
        };
        cell.report(10, Some(100));
        pass_progress(&cell, Some(&progress), &stop);
        pass_progress(&cell, Some(&progress), &stop);
        cell.report(30, Some(100));
        pass_progress(&cell, Some(&progress), &stop);
        cell.report(40, Some(100));
        pass_progress(&cell, Some(&progress), &stop);
        assert_eq!(
            *seen.lock().unwrap(),
            [(10, Some(100)), (30, Some(100)), (40, Some(100))]
        );
        assert_eq!(stops.into_inner(), 1);
        assert!(cell.stop_asked());
    }
}
