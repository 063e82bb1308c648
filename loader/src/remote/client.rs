//! The host's side of a plugin process.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use abi_stable::std_types::RString;
use proctor_plugin_api::abi::PluginError;
use proctor_plugin_api::messages::{signal_name, PluginKind};

use super::wire::{read_frame, write_frame, Frame, CREATE_ID};
use super::{Order, PluginHostProgram, REFUSED};
use crate::call::{CallError, Operation, ProgressCell, ProgressFn};
use crate::handles::{seconds, CreateError, Deadlines};
use crate::workers::{wait_for, Answer, Waited};
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
        let label = format!("{kind} `{name}`");
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
struct Connection {
    child: Mutex<Child>,
    writer: Mutex<ChildStdin>,
    /// Calls waiting for an answer; `None` once the process ended.
    pending: Mutex<Option<HashMap<u64, Pending>>>,
    /// How the process ended, once it did.
    ended: OnceLock<String>,
    next_id: AtomicU64,
}

struct Pending {
    answer: mpsc::Sender<Answer>,
    progress: Arc<ProgressCell>,
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
        let mut child = Command::new(&program.program)
            .args(&program.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                failed(
                    PluginError::FAILED,
                    format!(
                        "its plugin process ({}) did not start: {e}",
                        program.program.display()
                    ),
                )
            })?;
        let writer = child.stdin.take().expect("stdin is piped");
        let reader = child.stdout.take().expect("stdout is piped");
        let connection = Arc::new(Connection {
            child: Mutex::new(child),
            writer: Mutex::new(writer),
            pending: Mutex::new(Some(HashMap::new())),
            ended: OnceLock::new(),
            next_id: AtomicU64::new(CREATE_ID + 1),
        });
        let reading = connection.clone();
        std::thread::Builder::new()
            .name("plugin-answers".into())
            .spawn(move || reading.read_answers(reader))
            .map_err(|e| failed(PluginError::FAILED, format!("no thread to read it: {e}")))?;
        let waited = connection.exchange(
            CREATE_ID,
            Frame::Create(order.to_owned()),
            None,
            deadlines.get(Operation::Create),
        );
        match connection.outcome(waited, what, deadlines.get(Operation::Create)) {
            Ok(Ok(answer)) => Ok((connection, answer)),
            Ok(Err(e)) => Err(failed(e.code, e.message.into_string())),
            Err((code, message)) => Err(failed(code, message)),
        }
    }

    fn ended(&self) -> Option<&String> {
        self.ended.get()
    }

    fn call(
        &self,
        label: &str,
        operation: Operation,
        request: String,
        progress: Option<&ProgressFn<'_>>,
        deadline: Duration,
    ) -> Result<Answer, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = Frame::Call {
            id,
            operation,
            request,
        };
        let waited = self.exchange(id, frame, progress, deadline);
        self.outcome(waited, &format!("`{operation}`"), deadline)
            .map_err(|(code, message)| CallError {
                plugin: label.to_owned(),
                operation: operation.name(),
                code,
                message,
            })
    }

    /// Sends `frame` as call `id` and waits for its answer.
    fn exchange(
        &self,
        id: u64,
        frame: Frame,
        progress: Option<&ProgressFn<'_>>,
        deadline: Duration,
    ) -> Waited {
        let (sender, answer) = mpsc::channel();
        let cell = Arc::new(ProgressCell::default());
        {
            let mut pending = self.pending.lock().expect("the pending calls' lock");
            let Some(pending) = pending.as_mut() else {
                return Waited::Gone;
            };
            pending.insert(
                id,
                Pending {
                    answer: sender,
                    progress: cell.clone(),
                },
            );
        }
        let sent = write_frame(&mut *self.writer.lock().expect("the writer's lock"), &frame);
        if sent.is_err() {
            // The process is gone; the reader learns how.
            self.forget(id);
            return match answer.recv_timeout(Duration::from_secs(5)) {
                Ok(answered) => Waited::Answered(answered),
                Err(_) => Waited::Gone,
            };
        }
        let stop = || {
            let _ = write_frame(
                &mut *self.writer.lock().expect("the writer's lock"),
                &Frame::Stop { id },
            );
        };
        let waited = wait_for(&answer, &cell, progress, deadline, &stop);
        self.forget(id);
        waited
    }

    fn forget(&self, id: u64) {
        if let Some(pending) = self.pending.lock().expect("the lock").as_mut() {
            pending.remove(&id);
        }
    }

    /// What a call's wait comes to: its answer, or why there is none.
    /// What a wait for `what` (`` `discover` ``) comes to: its answer, or
    /// why there is none.
    fn outcome(
        &self,
        waited: Waited,
        what: &str,
        deadline: Duration,
    ) -> Result<Answer, (u32, String)> {
        match waited {
            Waited::Answered(answer) => Ok(answer),
            Waited::Missed => {
                self.kill(format!("was killed when {what} missed its deadline"));
                Err((
                    CallError::DEADLINE_MISSED,
                    format!(
                        "it did not answer {what} within {}; its process was killed",
                        seconds(deadline)
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

    /// The reader thread: hands answers to their callers until the
    /// process ends, then tells every caller still waiting.
    fn read_answers(&self, stdout: ChildStdout) {
        let mut input = BufReader::new(stdout);
        loop {
            match read_frame(&mut input) {
                Ok(Some(Frame::Answer { id, answer })) => {
                    let waiting = self
                        .pending
                        .lock()
                        .expect("the lock")
                        .as_mut()
                        .and_then(|pending| pending.remove(&id));
                    if let Some(waiting) = waiting {
                        let answer = answer.map_err(|(code, message)| PluginError {
                            code,
                            message: RString::from(message),
                        });
                        let _ = waiting.answer.send(answer);
                    }
                }
                Ok(Some(Frame::Progress { id, done, total })) => {
                    if let Some(pending) = self.pending.lock().expect("the lock").as_ref() {
                        if let Some(waiting) = pending.get(&id) {
                            waiting
                                .progress
                                .report(done, (total != u64::MAX).then_some(total));
                        }
                    }
                }
                Ok(None) => break,
                Ok(Some(frame)) => {
                    self.kill(format!(
                        "sent a frame only the host sends ({frame:?}) and was killed"
                    ));
                    break;
                }
                Err(e) => {
                    self.kill(format!("sent an unreadable frame ({e}) and was killed"));
                    break;
                }
            }
        }
        // The output closed: the process is ending. One that closed it and
        // lives on can answer nothing more, and is ended.
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
    let refused = |reason| Refusal {
        path: path.to_path_buf(),
        plugins: Vec::new(),
        api_version: None,
        host_api_version: crate::host_api_version().to_string(),
        reason,
    };
    match Connection::open(
        program,
        &order,
        (&label, "the loading of the library"),
        &deadlines,
    ) {
        Ok((_, description)) => serde_json::from_str(&description)
            .map(|description| Library::described(path, description))
            .map_err(|e| {
                refused(RefusalReason::PluginProcess(format!(
                    "answered no manifest: {e}"
                )))
            }),
        Err(error) if error.code == REFUSED => serde_json::from_str(&error.message)
            .map_err(|e| {
                refused(RefusalReason::PluginProcess(format!(
                    "answered an unreadable refusal: {e}"
                )))
            })
            .and_then(Err),
        Err(error) => Err(refused(RefusalReason::PluginProcess(error.message))),
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
