//! The collectors' thread: calls every collector with each event in turn,
//! gathers what they answer, and hands finished sources' attachments to
//! the processors.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use proctor_plugin_api::messages::{Attachment, LifecycleEvent, Owner};

use super::processing::{Held, Processing};
use super::{AttachmentRecord, Collected, CollectorRecord, Dispatch, SourceSpan, Timeline, Warn};
use crate::events::{Answer, Environment};
use crate::plugins::CollectorPlugin;

struct Running {
    name: String,
    plugin: CollectorPlugin,
    record: CollectorRecord,
}

/// The collectors' thread.
pub(super) struct Dispatcher {
    results_dir: PathBuf,
    warn: Warn,
    clock: Instant,
    processing: Processing,
    running: Vec<Running>,
    /// Attachments not yet handed to processors, and those none took.
    pending: Vec<Held>,
    kept: Vec<Held>,
    sources: Vec<SourceSpan>,
}

impl Dispatcher {
    pub(super) fn new(
        plugins: Vec<(String, CollectorPlugin)>,
        results_dir: PathBuf,
        warn: Warn,
        clock: Instant,
        processing: Processing,
    ) -> Self {
        let running = (plugins.into_iter())
            .map(|(name, plugin)| Running {
                record: CollectorRecord {
                    name: name.clone(),
                    events: 0,
                    error: None,
                    abandoned: false,
                },
                name,
                plugin,
            })
            .collect();
        Self {
            results_dir,
            warn,
            clock,
            processing,
            running,
            pending: Vec::new(),
            kept: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Delivers each event until the engine ends the thread; answers what
    /// the collectors and processors produced.
    pub(super) fn run(mut self, receiver: mpsc::Receiver<Dispatch>) -> Collected {
        while let Ok(Dispatch {
            event: Some(event),
            reply,
        }) = receiver.recv()
        {
            let environment = self.deliver(&event);
            if let Some(reply) = reply {
                let _ = reply.send(Answer {
                    environment,
                    ..Answer::default()
                });
            }
            self.track(&event);
        }
        let (outputs, merges) = self.processing.finish(self.pending);
        self.kept.extend(outputs);
        Collected {
            collectors: self.running.into_iter().map(|c| c.record).collect(),
            attachments: (self.kept.into_iter())
                .map(|h| record(&h.by, h.attachment, &self.results_dir))
                .collect(),
            timeline: Timeline {
                sources: self.sources,
                merges,
            },
        }
    }

    /// Calls every collector still on with `event`; answers the variables
    /// they asked for, the first to name one setting it. A collector that
    /// fails is switched off; the run goes on.
    fn deliver(&mut self, event: &LifecycleEvent) -> Environment {
        let mut environment = Environment::new();
        for collector in (self.running.iter_mut()).filter(|c| c.record.error.is_none()) {
            match collector.plugin.on_event(event) {
                Ok(response) => {
                    collector.record.events += 1;
                    for (key, value) in response.environment {
                        environment.entry(key).or_insert(value);
                    }
                    let by = &collector.name;
                    self.pending
                        .extend(response.attachments.into_iter().map(|attachment| Held {
                            by: by.clone(),
                            attachment,
                        }));
                }
                Err(error) => {
                    collector.record.abandoned = error.abandoned();
                    let error = format!("{} (at {}); switched off", error, event_name(event));
                    (self.warn)(&error);
                    collector.record.error = Some(error);
                }
            }
        }
        environment
    }

    /// Keeps the sources' spans, and hands what a finished source left to
    /// the processors.
    fn track(&mut self, event: &LifecycleEvent) {
        let now = self.clock.elapsed().as_millis() as u64;
        match event {
            LifecycleEvent::SourceStarted { source } => self.sources.push(SourceSpan {
                source: source.name.clone(),
                started_ms: now,
                finished_ms: None,
            }),
            LifecycleEvent::SourceFinished { source } => {
                if let Some(span) = self.sources.iter_mut().find(|s| &s.source == source) {
                    span.finished_ms = Some(now);
                }
                let (finished, rest): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.pending)
                    .into_iter()
                    .partition(|h| owner_source(&h.attachment.owner) == Some(source));
                self.pending = rest;
                let last = self.sources.iter().all(|s| s.finished_ms.is_some());
                let untaken = self.processing.source_finished(finished, last);
                self.kept.extend(untaken);
            }
            _ => {}
        }
    }
}

fn owner_source(owner: &Owner) -> Option<&String> {
    match owner {
        Owner::Run => None,
        Owner::Source { source } | Owner::Test { source, .. } | Owner::Attempt { source, .. } => {
            Some(source)
        }
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
