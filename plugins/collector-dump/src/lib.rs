//! The `dump` collector: minidumps of processes that crash or hang.
//!
//! - **Crash.** The collector asks the host to catch test processes at
//!   faults: when a thread is about to receive a crash signal, the host holds
//!   the process stopped, untraced, the thread as the fault left it, and
//!   sends `ProcessFaulted`. The dump is taken then, with the faulting
//!   frames intact, and kept once the process is known to have crashed of
//!   it (a handled fault the process survives leaves no dump).
//! - **Hang.** Before the host kills a hung tree, a dump of every process
//!   in it.
//!
//! Each dump gets a signature from its crashing or hung thread's top frame,
//! module and offset, so that dumps of one failure group together; the
//! signature and what is known of the dump are written beside it in
//! `DUMP.json`. Minidumps, not full cores: a dump holds the threads' stacks
//! and the module list, a few hundred kilobytes where a core holds all
//! memory. Where a minidump cannot be written, gdb's `gcore` writes a core
//! (setting `format: "core"` asks for cores outright).

mod dumpfile;
mod frames;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use proctor_sdk::messages::{signal_name, Attachment, CollectorResponse, LifecycleEvent, Owner};
use proctor_sdk::{export_plugins, Collector, Error, Result};
use serde::{Deserialize, Serialize};

pub use dumpfile::{describe, Described, Signal};

/// A minidump.
pub const KIND: &str = "proctor://collector/dump/minidump/1";
/// A full core, from gdb's `gcore`.
pub const CORE_KIND: &str = "proctor://collector/dump/core/1";

/// What a dump is written as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A minidump, with gdb's `gcore` as the fallback when one cannot be
    /// written.
    #[default]
    Minidump,
    /// A full core from `gcore`: all the process's memory, many times a
    /// minidump's size.
    Core,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Minidump => "dmp",
            Format::Core => "core",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Format::Minidump => KIND,
            Format::Core => CORE_KIND,
        }
    }

    /// What a dump of this format is called in its description.
    fn noun(self) -> &'static str {
        match self {
            Format::Minidump => "minidump",
            Format::Core => "core",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where dumps go: relative to the results directory, or absolute.
    /// Defaults to where the host says dumps go: the results directory's
    /// `dumps`, or `HELIX_DUMP_FOLDER` under Helix.
    #[serde(default)]
    directory: Option<PathBuf>,
    #[serde(default)]
    format: Format,
}

pub struct Dump {
    directory: Option<PathBuf>,
    state: Mutex<State>,
}

struct State {
    format: Format,
    /// Where dumps go, once the session started.
    dumps_dir: Option<PathBuf>,
    /// By pid: the attempt a process runs, and its tests in flight.
    processes: HashMap<u32, (u32, Vec<String>)>,
    /// By pid: the dump of a fault, until the process is known to have
    /// crashed (it is attached) or to have gone on (it is removed).
    faults: HashMap<u32, Taken>,
}

/// A dump written, not yet described.
struct Taken {
    subject: Subject,
    format: Format,
    path: PathBuf,
    described: Described,
}

/// What is known of a dump, written beside it.
#[derive(Debug, Serialize)]
struct DumpInfo<'a> {
    source: &'a str,
    /// The tests the process was running, and their attempt.
    tests: &'a [String],
    attempt: Option<u32>,
    pid: u32,
    /// The thread the signature is of: the crashing or hung one.
    tid: u32,
    /// `crashed` or `hung`.
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<&'a str>,
    /// `si_code` of the signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<i32>,
    /// The faulting address.
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    /// The frame the dump is grouped by, `module+0xoffset`: the innermost
    /// outside the C and C++ runtimes.
    signature: &'a str,
    /// The thread's frames, innermost first.
    frames: &'a [String],
}

/// One process to dump.
struct Subject {
    source: String,
    /// The test process whose tests the dump is of: `pid`, or the root of
    /// its tree.
    root: u32,
    pid: u32,
    tid: u32,
    /// For a crash: the signal the thread was about to receive.
    signal: Option<Signal>,
}

impl State {
    /// Dumps `subject` into the dumps directory; `None` when the process
    /// was gone before it could be dumped.
    fn take(&self, subject: Subject) -> Result<Option<Taken>> {
        let Subject { pid, tid, .. } = subject;
        let dumps_dir = self
            .dumps_dir
            .as_ref()
            .ok_or_else(|| Error::msg("a process to dump before the session started"))?;
        let dir = dumps_dir.join(&subject.source);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::msg(format!("cannot create {}: {e}", dir.display())))?;
        let stem = match subject.signal {
            Some(_) => format!("crash-{pid}"),
            None => format!("hang-{pid}"),
        };
        let written = self.write(pid, tid, subject.signal, &dir.join(&stem));
        let (format, path) = match written {
            Ok(written) => written,
            // A process may end while a tree is walked: no dump, no error.
            Err(_) if !Path::new(&format!("/proc/{pid}")).exists() => return Ok(None),
            Err(e) => return Err(Error::msg(format!("cannot dump process {pid}: {e}"))),
        };
        let described = match format {
            Format::Minidump => describe(&path, tid),
            Format::Core => dumpfile::describe_core(&path, tid),
        };
        let described = described.unwrap_or_else(|e| Described {
            signature: format!("unknown ({e})"),
            frames: Vec::new(),
        });
        Ok(Some(Taken {
            subject,
            format,
            path,
            described,
        }))
    }

    /// Writes a dump of `pid` at `stem` plus the format's extension, in the
    /// format set, falling back from a minidump to a core; answers the
    /// format written and the path. Nothing is left of a failed attempt.
    fn write(
        &self,
        pid: u32,
        tid: u32,
        signal: Option<Signal>,
        stem: &Path,
    ) -> std::result::Result<(Format, PathBuf), String> {
        let at = |format: Format| stem.with_extension(format.extension());
        let core = || {
            let path = at(Format::Core);
            dumpfile::write_core(pid, &path)
                .map(|()| (Format::Core, path.clone()))
                .inspect_err(|_| drop(std::fs::remove_file(&path)))
        };
        if self.format == Format::Core {
            return core();
        }
        let path = at(Format::Minidump);
        match dumpfile::write(pid, tid, signal, &path) {
            Ok(()) => Ok((Format::Minidump, path)),
            Err(minidump) => {
                let _ = std::fs::remove_file(&path);
                core().map_err(|core| format!("{minidump}; and as a core: {core}"))
            }
        }
    }

    /// Describes a dump beside it, with the tests its process runs now, and
    /// answers it as an attachment owned by the attempt of the one test in
    /// flight, else by the source. A fault's dump is described once the
    /// process ended, when every test it started is known.
    fn attach(&self, taken: Taken) -> Result<Attachment> {
        let Taken {
            subject,
            format,
            path,
            described: Described { signature, frames },
        } = taken;
        let Subject {
            source,
            root,
            pid,
            tid,
            signal,
        } = subject;
        let (attempt, tests) = match self.processes.get(&root) {
            Some((attempt, tests)) => (Some(*attempt), tests.as_slice()),
            None => (None, &[][..]),
        };
        let signal_name = signal.map(|s| signal_name(s.number).unwrap_or("a signal"));
        let info = DumpInfo {
            source: &source,
            tests,
            attempt,
            pid,
            tid,
            reason: if signal.is_some() { "crashed" } else { "hung" },
            signal: signal_name,
            code: signal.map(|s| s.code),
            address: signal.and_then(|s| s.address).map(|a| format!("{a:#x}")),
            signature: &signature,
            frames: &frames,
        };
        let sidecar = path.with_extension(format!("{}.json", format.extension()));
        proctor_sdk::write_file(
            &sidecar,
            serde_json::to_vec_pretty(&info).expect("serializes"),
        )?;
        let owner = match (tests, attempt) {
            ([test], Some(attempt)) => Owner::Attempt {
                source: source.clone(),
                test: test.clone(),
                attempt,
            },
            _ => Owner::Source { source },
        };
        let what = format.noun();
        let description = match signal_name {
            Some(name) => format!("{what} of process {pid} at {name}, at {signature}"),
            None => format!("{what} of hung process {pid}, at {signature}"),
        };
        Ok(Attachment {
            kind: format.kind().into(),
            path,
            owner,
            description,
        })
    }
}

impl Collector for Dump {
    const NAME: &'static str = "dump";
    const DESCRIPTION: &'static str =
        "Takes minidumps of crashing processes at the fault, and of hung trees before the kill";
    const CATCHES_FAULTS: bool = true;
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self> {
        Ok(Self {
            directory: settings.directory,
            state: Mutex::new(State {
                format: settings.format,
                dumps_dir: None,
                processes: HashMap::new(),
                faults: HashMap::new(),
            }),
        })
    }

    fn on_event(&self, event: LifecycleEvent) -> Result<CollectorResponse> {
        let mut response = CollectorResponse::default();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            LifecycleEvent::SessionStarted {
                results_dir,
                dumps_dir,
            } => {
                let dumps_dir = match (&self.directory, dumps_dir) {
                    (Some(directory), _) => results_dir.join(directory),
                    (None, Some(dumps_dir)) => dumps_dir,
                    // A host before 1.5.
                    (None, None) => results_dir.join("dumps"),
                };
                state.dumps_dir = Some(dumps_dir);
            }
            LifecycleEvent::ProcessLaunched { pid, attempt, .. } => {
                state.processes.insert(pid, (attempt, Vec::new()));
            }
            LifecycleEvent::TestStarted {
                test,
                pid: Some(pid),
                ..
            } => {
                if let Some((_, running)) = state.processes.get_mut(&pid) {
                    running.push(test);
                }
            }
            LifecycleEvent::TestFinished {
                test,
                pid: Some(pid),
                ..
            } => {
                if let Some((_, running)) = state.processes.get_mut(&pid) {
                    running.retain(|t| t != &test);
                }
            }
            LifecycleEvent::ProcessFaulted {
                source,
                pid,
                tid,
                signal,
                code,
                address,
                ..
            } => {
                let signal = Some(Signal {
                    number: signal,
                    code,
                    address,
                });
                let subject = Subject {
                    source,
                    root: pid,
                    pid,
                    tid,
                    signal,
                };
                if let Some(taken) = state.take(subject)? {
                    state.faults.insert(pid, taken);
                }
            }
            LifecycleEvent::ProcessCrashed { pid, .. } => {
                if let Some(taken) = state.faults.remove(&pid) {
                    response.attachments.push(state.attach(taken)?);
                }
            }
            LifecycleEvent::AttemptFinished { pid, .. } => {
                state.processes.remove(&pid);
                // It went on after the fault: its handler recovered.
                if let Some(taken) = state.faults.remove(&pid) {
                    let _ = std::fs::remove_file(&taken.path);
                }
            }
            LifecycleEvent::HangDetected {
                source,
                pid: root,
                process_tree,
            } => {
                for pid in process_tree {
                    let subject = Subject {
                        source: source.clone(),
                        root,
                        pid,
                        tid: pid,
                        signal: None,
                    };
                    if let Some(taken) = state.take(subject)? {
                        response.attachments.push(state.attach(taken)?);
                    }
                }
            }
            _ => {}
        }
        Ok(response)
    }
}

export_plugins!(collector Dump);
