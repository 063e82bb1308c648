//! Collector plugins: every lifecycle event of the run goes to each of them,
//! in the order the events happened, and what they answer comes back:
//! environment variables for test processes, and attachments.
//!
//! One thread makes the calls, so a collector sees events in order and a
//! slow one never stalls supervision. The engine `notify`s most events and
//! moves on; it `ask`s (and waits) where the answer matters before it goes
//! on: a source's environment before its processes start, and a hang before
//! the process tree is killed, so that a collector can look at it alive.

mod dispatch;
mod processing;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use dispatch::Dispatcher;
use processing::{Processing, Processor};

use proctor_plugin_api::messages::{LifecycleEvent, PluginKind};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::plugins::{self, Catalog, CollectorPlugin};
use crate::report::Console;
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
            let (library, manifest) = catalog.find(PluginKind::Collector, name).map_err(at)?;
            catches_faults |= manifest.capabilities["faults"] == true;
            let plugin = plugins::create(library, name, settings).map_err(at)?;
            plugins.push((name.clone(), plugin));
        }
        let mut processors = Vec::new();
        for (name, settings) in &config.attachment_processors {
            let at = |e| located("attachment_processors", name, e);
            let (library, manifest) = catalog
                .find(PluginKind::AttachmentProcessor, name)
                .map_err(at)?;
            let kinds = manifest.capabilities["kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect();
            processors.push(Processor {
                name: name.clone(),
                plugin: plugins::create(library, name, settings).map_err(at)?,
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

type Environment = BTreeMap<String, String>;

struct Dispatch {
    /// `None` ends the thread.
    event: Option<LifecycleEvent>,
    /// For `ask`: the environment the collectors asked for, once all answered.
    reply: Option<oneshot::Sender<Environment>>,
}

/// The running collectors.
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
    pub fn start(prepared: Prepared, results_dir: &Path, console: Arc<Console>) -> Self {
        let listening = !prepared.plugins.is_empty();
        let catches_faults = prepared.catches_faults;
        let (sender, receiver) = mpsc::channel::<Dispatch>();
        let results_dir = results_dir.to_path_buf();
        let clock = Instant::now();
        let processing = Processing::start(prepared.processors, results_dir.clone(), clock);
        let worker = std::thread::Builder::new()
            .name("collectors".into())
            .spawn(move || {
                let dispatcher = Dispatcher {
                    results_dir,
                    console,
                    clock,
                    processing,
                };
                dispatcher.run(prepared.plugins, receiver)
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

    fn wanted(&self, event: &LifecycleEvent) -> bool {
        self.listening
            || matches!(
                event,
                LifecycleEvent::SourceStarted { .. }
                    | LifecycleEvent::SourceFinished { .. }
                    | LifecycleEvent::SessionFinished
            )
    }

    /// Hands the event `make` builds to the collectors without waiting, when
    /// any runs: for the events of processes and tests, which come often and
    /// which nothing else needs, so that a run without collectors does not
    /// even build them.
    pub fn observe(&self, make: impl FnOnce() -> LifecycleEvent) {
        if self.listening {
            self.notify(make());
        }
    }

    /// Hands `event` to the collectors without waiting.
    pub fn notify(&self, event: LifecycleEvent) {
        if self.wanted(&event) {
            let _ = self.sender.send(Dispatch {
                event: Some(event),
                reply: None,
            });
        }
    }

    /// Hands `event` to the collectors and waits until every one answered;
    /// answers the environment variables they asked for.
    pub async fn ask(&self, event: LifecycleEvent) -> Environment {
        if !self.wanted(&event) {
            return Environment::new();
        }
        let sender = &self.sender;
        let (reply, answer) = oneshot::channel();
        let dispatch = Dispatch {
            event: Some(event),
            reply: Some(reply),
        };
        if sender.send(dispatch).is_err() {
            return Environment::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Ends the session: the collectors hear of it, and what they produced
    /// over the run is answered.
    pub async fn finish(&self) -> Collected {
        self.ask(LifecycleEvent::SessionFinished).await;
        let _ = self.sender.send(Dispatch {
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
