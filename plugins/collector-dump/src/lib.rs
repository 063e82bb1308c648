//! The `dump` collector: when a process tree hangs, a minidump of every
//! process in it, taken before the host kills the tree (the host waits for
//! collectors at a hang). Each dump gets a signature from its hung thread's
//! top frame, module and offset, so that dumps of one hang group together;
//! the signature is written beside the dump in `DUMP.json`.
//!
//! Minidumps, not full cores: a dump holds the threads' stacks and the
//! module list, a few hundred kilobytes where a core holds all memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use minidump::{Minidump, MinidumpModuleList, MinidumpSystemInfo, MinidumpThreadList, Module};
use proctor_sdk::messages::{Attachment, CollectorResponse, LifecycleEvent, Owner};
use proctor_sdk::{export_plugins, Collector, Error, Result};
use serde::{Deserialize, Serialize};

/// A minidump.
pub const KIND: &str = "proctor://collector/dump/minidump/1";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

pub struct Dump {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    results_dir: Option<PathBuf>,
    /// By pid: the attempt a process runs, and its tests in flight.
    processes: HashMap<u32, (u32, Vec<String>)>,
}

/// What is known of a dump, written beside it.
#[derive(Debug, Serialize)]
struct DumpInfo<'a> {
    source: &'a str,
    /// The tests the hung tree's process was running, and their attempt.
    tests: &'a [String],
    attempt: Option<u32>,
    pid: u32,
    /// `hung`.
    reason: &'a str,
    /// The hung thread's top frame: `module+0xoffset`.
    signature: String,
}

/// `module+0xoffset` of the instruction the thread `tid` was at.
fn signature(path: &Path, tid: u32) -> std::result::Result<String, String> {
    let dump = Minidump::read_path(path).map_err(|e| e.to_string())?;
    let threads: MinidumpThreadList = dump.get_stream().map_err(|e| e.to_string())?;
    let modules: MinidumpModuleList = dump.get_stream().map_err(|e| e.to_string())?;
    let system: MinidumpSystemInfo = dump.get_stream().map_err(|e| e.to_string())?;
    let thread = threads
        .threads
        .iter()
        .find(|t| t.raw.thread_id == tid)
        .or(threads.threads.first())
        .ok_or("the dump has no thread")?;
    let context = thread
        .context(&system, None)
        .ok_or("the thread has no context")?;
    let ip = context.get_instruction_pointer();
    Ok(match modules.module_at_address(ip) {
        Some(module) => {
            let file = module.code_file();
            let name = Path::new(file.as_ref())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.into_owned());
            format!("{name}+{:#x}", ip - module.base_address())
        }
        None => format!("{ip:#x}"),
    })
}

fn write_dump(pid: u32, path: &Path) -> std::result::Result<(), String> {
    let mut file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    minidump_writer::minidump_writer::MinidumpWriterConfig::new(pid as i32, pid as i32)
        .write(&mut file)
        .map(drop)
        .map_err(|e| e.to_string())
}

impl Collector for Dump {
    const NAME: &'static str = "dump";
    const DESCRIPTION: &'static str =
        "Takes minidumps of every process of a hung tree before it is killed";
    type Settings = Settings;

    fn new(_: Settings) -> Result<Self> {
        Ok(Self {
            state: Mutex::default(),
        })
    }

    fn on_event(&self, event: LifecycleEvent) -> Result<CollectorResponse> {
        let mut response = CollectorResponse::default();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            LifecycleEvent::SessionStarted { results_dir } => state.results_dir = Some(results_dir),
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
            LifecycleEvent::AttemptFinished { pid, .. } => {
                state.processes.remove(&pid);
            }
            LifecycleEvent::HangDetected {
                source,
                pid: hung,
                process_tree,
            } => {
                let results_dir = state
                    .results_dir
                    .clone()
                    .ok_or_else(|| Error::msg("a hang before the session started"))?;
                let (attempt, tests) = match state.processes.get(&hung) {
                    Some((attempt, tests)) => (Some(*attempt), tests.clone()),
                    None => (None, Vec::new()),
                };
                let dir = results_dir.join("dumps").join(&source);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::msg(format!("cannot create {}: {e}", dir.display())))?;
                for pid in process_tree {
                    let path = dir.join(format!("hang-{pid}.dmp"));
                    // A process may end while the tree is walked: no dump, no error.
                    if let Err(e) = write_dump(pid, &path) {
                        let _ = std::fs::remove_file(&path);
                        if Path::new(&format!("/proc/{pid}")).exists() {
                            return Err(Error::msg(format!("cannot dump process {pid}: {e}")));
                        }
                        continue;
                    }
                    let signature =
                        signature(&path, pid).unwrap_or_else(|e| format!("unknown ({e})"));
                    let info = DumpInfo {
                        source: &source,
                        tests: &tests,
                        attempt,
                        pid,
                        reason: "hung",
                        signature: signature.clone(),
                    };
                    let sidecar = path.with_extension("dmp.json");
                    std::fs::write(
                        &sidecar,
                        serde_json::to_vec_pretty(&info).expect("serializes"),
                    )
                    .map_err(|e| Error::msg(format!("cannot write {}: {e}", sidecar.display())))?;
                    let owner = match (tests.as_slice(), attempt) {
                        ([test], Some(attempt)) => Owner::Attempt {
                            source: source.clone(),
                            test: test.clone(),
                            attempt,
                        },
                        _ => Owner::Source {
                            source: source.clone(),
                        },
                    };
                    response.attachments.push(Attachment {
                        kind: KIND.into(),
                        path,
                        owner,
                        description: format!("minidump of hung process {pid}, at {signature}"),
                    });
                }
            }
            _ => {}
        }
        Ok(response)
    }
}

export_plugins!(collector Dump);
