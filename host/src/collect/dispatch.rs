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
    pub(super) results_dir: PathBuf,
    pub(super) warn: Warn,
    pub(super) clock: Instant,
    pub(super) processing: Processing,
}

impl Dispatcher {
    pub(super) fn run(
        self,
        plugins: Vec<(String, CollectorPlugin)>,
        receiver: mpsc::Receiver<Dispatch>,
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
        // Attachments not yet handed to processors, and those none took.
        let mut pending: Vec<Held> = Vec::new();
        let mut kept: Vec<Held> = Vec::new();
        let mut sources: Vec<SourceSpan> = Vec::new();
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
                        pending.extend(response.attachments.into_iter().map(|attachment| Held {
                            by: collector.name.clone(),
                            attachment,
                        }));
                    }
                    Err(error) => {
                        // A collector that fails is switched off; the run goes on.
                        let error = format!("{} (at {}); switched off", error, event_name(&event));
                        (self.warn)(&error);
                        collector.record.error = Some(error);
                    }
                }
            }
            if let Some(reply) = reply {
                let _ = reply.send(Answer {
                    environment,
                    ..Answer::default()
                });
            }
            let now = self.clock.elapsed().as_millis() as u64;
            match &event {
                LifecycleEvent::SourceStarted { source } => sources.push(SourceSpan {
                    source: source.name.clone(),
                    started_ms: now,
                    finished_ms: None,
                }),
                LifecycleEvent::SourceFinished { source } => {
                    if let Some(span) = sources.iter_mut().find(|s| &s.source == source) {
                        span.finished_ms = Some(now);
                    }
                    // What the source left goes to the processors now.
                    let (finished, rest): (Vec<Held>, Vec<Held>) = pending
                        .into_iter()
                        .partition(|h| owner_source(&h.attachment.owner) == Some(source));
                    pending = rest;
                    let last = sources.iter().all(|s| s.finished_ms.is_some());
                    kept.extend(self.processing.source_finished(finished, last));
                }
                _ => {}
            }
        }
        let (outputs, merges) = self.processing.finish(pending);
        kept.extend(outputs);
        Collected {
            collectors: running.into_iter().map(|c| c.record).collect(),
            attachments: kept
                .into_iter()
                .map(|h| record(&h.by, h.attachment, &self.results_dir))
                .collect(),
            timeline: Timeline { sources, merges },
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
