//! Collector plugins: every lifecycle event of the run goes to each of them,
//! in the order the events happened, and what they answer comes back:
//! environment variables for test processes, and attachments.
//!
//! One thread makes the calls, so a collector sees events in order and a
//! slow one never stalls supervision. The engine `notify`s most events and
//! moves on; it `ask`s (and waits) where the answer matters before it goes
//! on: a source's environment before its processes start, and a hang before
//! the process tree is killed, so that a collector can look at it alive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use proctor_plugin_api::messages::{Attachment, LifecycleEvent, Owner, PluginKind};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::plugins::{self, Catalog, CollectorPlugin};
use crate::report::Console;

/// The configured collectors, created and checked before the run.
#[derive(Default)]
pub struct Prepared {
    plugins: Vec<(String, CollectorPlugin)>,
}

impl Prepared {
    /// Creates every collector the configuration names, with its settings.
    pub fn prepare(config: &Config, catalog: &Catalog) -> Result<Self> {
        let mut plugins = Vec::new();
        for (name, settings) in &config.collectors {
            let at = |e: Error| {
                let message = format!("{}: collectors.{name}: {e}", config.file.display());
                match e {
                    Error::Usage(_) => Error::usage(message),
                    Error::Infrastructure(_) => Error::infrastructure(message),
                }
            };
            let (library, _) = catalog.find(PluginKind::Collector, name).map_err(at)?;
            plugins.push((
                name.clone(),
                plugins::create(library, name, settings).map_err(at)?,
            ));
        }
        Ok(Self { plugins })
    }
}

/// An attachment a collector handed back, as the summary lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentRecord {
    pub collector: String,
    pub kind: String,
    /// Relative to the results directory when inside it.
    pub path: PathBuf,
    #[serde(flatten)]
    pub owner: Owner,
    pub description: String,
}

/// How a collector fared.
#[derive(Debug, Clone, Serialize)]
pub struct CollectorRecord {
    pub name: String,
    /// Events it answered.
    pub events: u64,
    /// Why it was switched off, when it was.
    pub error: Option<String>,
}

/// What the collectors produced over the run.
#[derive(Debug, Default, Serialize)]
pub struct Collected {
    pub collectors: Vec<CollectorRecord>,
    pub attachments: Vec<AttachmentRecord>,
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
    /// `None` without collectors: then every event costs nothing.
    sender: Option<mpsc::Sender<Dispatch>>,
    worker: Mutex<Option<JoinHandle<Collected>>>,
}

impl Collectors {
    /// Starts the thread that calls `prepared`'s collectors; attachment paths
    /// are recorded relative to `results_dir`.
    pub fn start(prepared: Prepared, results_dir: &Path, console: Arc<Console>) -> Self {
        if prepared.plugins.is_empty() {
            return Self {
                sender: None,
                worker: Mutex::new(None),
            };
        }
        let (sender, receiver) = mpsc::channel::<Dispatch>();
        let results_dir = results_dir.to_path_buf();
        let worker = std::thread::Builder::new()
            .name("collectors".into())
            .spawn(move || dispatch(prepared.plugins, receiver, &results_dir, &console))
            .expect("a thread can be started");
        Self {
            sender: Some(sender),
            worker: Mutex::new(Some(worker)),
        }
    }

    /// Hands `event` to the collectors without waiting.
    pub fn notify(&self, event: LifecycleEvent) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Dispatch {
                event: Some(event),
                reply: None,
            });
        }
    }

    /// Hands `event` to the collectors and waits until every one answered;
    /// answers the environment variables they asked for.
    pub async fn ask(&self, event: LifecycleEvent) -> Environment {
        let Some(sender) = &self.sender else {
            return Environment::new();
        };
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
        if let Some(sender) = &self.sender {
            let _ = sender.send(Dispatch {
                event: None,
                reply: None,
            });
        }
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

struct Running {
    name: String,
    plugin: CollectorPlugin,
    record: CollectorRecord,
}

fn dispatch(
    plugins: Vec<(String, CollectorPlugin)>,
    receiver: mpsc::Receiver<Dispatch>,
    results_dir: &Path,
    console: &Console,
) -> Collected {
    let mut running: Vec<Running> = plugins
        .into_iter()
        .map(|(name, plugin)| Running {
            record: CollectorRecord {
                name: name.clone(),
                events: 0,
                error: None,
            },
            name,
            plugin,
        })
        .collect();
    let mut attachments = Vec::new();
    while let Ok(Dispatch {
        event: Some(event),
        reply,
    }) = receiver.recv()
    {
        let mut environment = Environment::new();
        for collector in running.iter_mut().filter(|c| c.record.error.is_none()) {
            match collector.plugin.on_event(&event) {
                Ok(response) => {
                    collector.record.events += 1;
                    for (key, value) in response.environment {
                        environment.entry(key).or_insert(value);
                    }
                    attachments.extend(
                        response
                            .attachments
                            .into_iter()
                            .map(|a| record(&collector.name, a, results_dir)),
                    );
                }
                Err(error) => {
                    // A collector that fails is switched off; the run goes on.
                    let error = format!("{} (at {}); switched off", error, event_name(&event));
                    console.note(&format!("     WARN {error}"));
                    collector.record.error = Some(error);
                }
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(environment);
        }
    }
    Collected {
        collectors: running.into_iter().map(|c| c.record).collect(),
        attachments,
    }
}

fn record(collector: &str, attachment: Attachment, results_dir: &Path) -> AttachmentRecord {
    let path = attachment
        .path
        .strip_prefix(results_dir)
        .map(Path::to_path_buf)
        .unwrap_or(attachment.path);
    AttachmentRecord {
        collector: collector.to_owned(),
        kind: attachment.kind,
        path,
        owner: attachment.owner,
        description: attachment.description,
    }
}

/// The event's name as its JSON spells it, for messages.
fn event_name(event: &LifecycleEvent) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v["event"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "an event".into())
}
