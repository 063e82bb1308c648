//! Collector plugins: every lifecycle event of the run goes to each of them,
//! in the order the events happened, and what they answer comes back:
//! environment variables for test processes, and attachments.
//!
//! [`Collectors`] is a subscriber of the run's events. One thread makes the
//! calls, so a collector sees events in order and a slow one never stalls
//! supervision. Most events are handed over and the engine moves on; an
//! awaited one ([`RunEvent::awaited`]) is answered once every collector
//! answered it: a source's environment before its processes start, a hang
//! before the process tree is killed, so that a collector can look at it
//! alive.

mod dispatch;
mod processing;

use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Instant;

use dispatch::Dispatcher;
use processing::{Processing, Processor};

use proctor_plugin_api::messages::{LifecycleEvent, PluginKind};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{Answer, Delivery, RunEvent, Subscriber};
use crate::plugins::{self, AttachmentProcessorPlugin, Catalog, CollectorPlugin};
use crate::results::{AttachmentRecord, CollectorRecord, SourceSpan, Timeline};

/// The configured collectors and attachment processors, created and
/// checked before the run.
#[derive(Default)]
pub struct Prepared {
    plugins: Vec<(String, CollectorPlugin)>,
    processors: Vec<Processor>,
    /// Whether a collector asks for test processes caught at faults.
    catches_faults: bool,
}

impl Prepared {
    /// Creates every collector and processor the configuration names.
    pub fn prepare(config: &Config, catalog: &Catalog) -> Result<Self> {
        let located = |key: &str, name: &str, e: Error| {
            e.at(format!("{}: {key}.{name}", config.file.display()))
        };
        let mut plugins = Vec::new();
        let mut catches_faults = false;
        for (name, settings) in &config.collectors {
            let at = |e| located("collectors", name, e);
            let (library, manifest) = catalog
                .find(PluginKind::Collector, name)
                .map_err(|e| at(e.into()))?;
            catches_faults |= manifest.capabilities["faults"] == true;
            let plugin = plugins::create(library, name, settings, &config.plugin_policy)
                .map_err(|e| Error::of_plugin_creation(e, config, &format!("collectors.{name}")))?;
            plugins.push((name.clone(), plugin));
        }
        let mut processors = Vec::new();
        for (name, settings) in &config.attachment_processors {
            let at = |e| located("attachment_processors", name, e);
            let (library, manifest) = catalog
                .find(PluginKind::AttachmentProcessor, name)
                .map_err(|e| at(e.into()))?;
            let kinds = manifest.capabilities["kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect();
            let plugin: AttachmentProcessorPlugin =
                plugins::create(library, name, settings, &config.plugin_policy).map_err(|e| {
                    Error::of_plugin_creation(e, config, &format!("attachment_processors.{name}"))
                })?;
            processors.push(Processor {
                name: name.clone(),
                plugin: Box::new(plugin),
                kinds,
                incremental: manifest.capabilities["incremental"] == true,
            });
        }
        Ok(Self {
            plugins,
            processors,
            catches_faults,
        })
    }
}

/// What the collectors and processors produced over the run.
#[derive(Debug, Default, Serialize)]
pub struct Collected {
    pub collectors: Vec<CollectorRecord>,
    /// The attachments at the run's end: processors' outputs in place of
    /// the inputs they took.
    pub attachments: Vec<AttachmentRecord>,
    pub timeline: Timeline,
}

impl Collected {
    /// The failures that make the run an infrastructure error: collectors
    /// and processors that crashed, exited or missed a deadline.
    pub fn errors(&self) -> impl Iterator<Item = String> + '_ {
        let collectors = (self.collectors.iter())
            .filter(|c| c.abandoned)
            .filter_map(|c| c.error.clone());
        let merges = (self.timeline.merges.iter())
            .filter(|m| m.abandoned)
            .filter_map(|m| m.error.clone());
        collectors.chain(merges)
    }
}

struct Dispatch {
    /// `None` ends the thread.
    event: Option<LifecycleEvent>,
    /// For an awaited event: the answer, once every collector answered.
    reply: Option<oneshot::Sender<Answer>>,
}

/// Where the collectors' thread says what went wrong with a collector.
pub type Warn = Box<dyn Fn(&str) + Send>;

/// The running collectors, a subscriber of the run's events.
pub struct Collectors {
    sender: mpsc::Sender<Dispatch>,
    /// Whether any collector runs. Without one, only the events the
    /// timeline needs go to the thread, so a run without collectors pays
    /// nothing per test.
    listening: bool,
    catches_faults: bool,
    worker: Mutex<Option<JoinHandle<Collected>>>,
}

impl Collectors {
    /// Starts the thread that calls `prepared`'s collectors; attachment paths
    /// are recorded relative to `results_dir`.
    pub fn start(prepared: Prepared, results_dir: &Path, warn: Warn) -> Self {
        let listening = !prepared.plugins.is_empty();
        let catches_faults = prepared.catches_faults;
        let (sender, receiver) = mpsc::channel::<Dispatch>();
        let results_dir = results_dir.to_path_buf();
        let clock = Instant::now();
        let processing = Processing::start(prepared.processors, results_dir.clone(), clock);
        let worker = std::thread::Builder::new()
            .name("collectors".into())
            .spawn(move || {
                Dispatcher::new(prepared.plugins, results_dir, warn, clock, processing)
                    .run(receiver)
            })
            .expect("a thread can be started");
        Self {
            sender,
            listening,
            catches_faults,
            worker: Mutex::new(Some(worker)),
        }
    }

    /// Whether test processes are to be caught at faults, for
    /// `ProcessFaulted`: only when a collector asks, since tracing costs
    /// a process a stop at each signal and thread.
    pub fn catches_faults(&self) -> bool {
        self.catches_faults
    }

    /// Whether `event` goes to the thread: every event when a collector
    /// runs, else only those the timeline needs.
    fn wanted(&self, event: &RunEvent<'_>) -> bool {
        self.listening
            || matches!(
                event,
                RunEvent::SourceStarted { .. }
                    | RunEvent::SourceFinished { .. }
                    | RunEvent::SessionFinished
            )
    }

    fn send(&self, dispatch: Dispatch) {
        // A thread that ended has answered all it will.
        let _ = self.sender.send(dispatch);
    }

    /// Ends the thread, after [`RunEvent::SessionFinished`]: answers what
    /// the collectors and processors produced over the run.
    pub async fn finish(&self) -> Collected {
        self.send(Dispatch {
            event: None,
            reply: None,
        });
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        match worker {
            Some(worker) => tokio::task::spawn_blocking(move || worker.join())
                .await
                .ok()
                .and_then(|joined| joined.ok())
                .unwrap_or_default(),
            None => Collected::default(),
        }
    }
}

impl Subscriber for Collectors {
    /// Hands the event to the collectors' thread, as the plugin API's
    /// lifecycle event; an awaited one is answered once every collector
    /// answered it, at once when none runs (the thread may not even have
    /// been scheduled yet as the first source starts).
    fn on_event(&self, event: &RunEvent<'_>, delivery: &mut Delivery) {
        if !self.wanted(event) {
            return;
        }
        let Some(lifecycle) = lifecycle_event(event) else {
            return;
        };
        let reply = (event.awaited() && self.listening).then(|| delivery.answer_later());
        self.send(Dispatch {
            event: Some(lifecycle),
            reply,
        });
    }
}

/// The plugin API's lifecycle event for a run event, for those collectors hear of.
fn lifecycle_event(event: &RunEvent<'_>) -> Option<LifecycleEvent> {
    Some(match *event {
        RunEvent::RunStarted {
            results_dir,
            dumps_dir,
            ..
        } => LifecycleEvent::SessionStarted {
            results_dir: results_dir.to_path_buf(),
            dumps_dir: Some(dumps_dir.to_path_buf()),
        },
        RunEvent::SessionFinished => LifecycleEvent::SessionFinished,
        RunEvent::SourceStarted { source } => LifecycleEvent::SourceStarted {
            source: source.clone(),
        },
        RunEvent::SourceFinished { source } => LifecycleEvent::SourceFinished {
            source: source.to_owned(),
        },
        _ => return process_event(event),
    })
}

/// The lifecycle event of a run event about a process or a test.
fn process_event(event: &RunEvent<'_>) -> Option<LifecycleEvent> {
    let owned = |tests: &[&str]| tests.iter().map(|t| t.to_string()).collect();
    Some(match *event {
        RunEvent::ProcessLaunched {
            source,
            pid,
            attempt,
            tests,
        } => LifecycleEvent::ProcessLaunched {
            source: source.to_owned(),
            pid,
            tests: owned(tests),
            attempt,
        },
        RunEvent::TestStarted {
            source,
            test,
            attempt,
            pid,
        } => LifecycleEvent::TestStarted {
            source: source.to_owned(),
            test: test.to_owned(),
            attempt,
            pid,
        },
        RunEvent::TestReported {
            source,
            test,
            attempt,
            outcome,
            pid,
            ..
        } => LifecycleEvent::TestFinished {
            source: source.to_owned(),
            test: test.to_owned(),
            attempt,
            outcome,
            pid,
        },
        RunEvent::HangDetected {
            source,
            pid,
            process_tree,
            ..
        } => LifecycleEvent::HangDetected {
            source: source.to_owned(),
            pid,
            process_tree: process_tree.to_vec(),
        },
        RunEvent::ProcessFaulted { source, fault } => LifecycleEvent::ProcessFaulted {
            source: source.to_owned(),
            pid: fault.pid,
            tid: fault.tid,
            signal: fault.signal,
            code: fault.code,
            address: fault.address,
            handled: fault.handled,
        },
        RunEvent::ProcessCrashed {
            source,
            pid,
            signal,
        } => LifecycleEvent::ProcessCrashed {
            source: source.to_owned(),
            pid,
            signal,
        },
        RunEvent::ProcessFinished {
            source,
            pid,
            attempt,
        } => LifecycleEvent::AttemptFinished {
            source: source.to_owned(),
            pid,
            attempt,
        },
        _ => return None,
    })
}
