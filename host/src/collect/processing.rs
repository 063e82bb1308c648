//! Attachment processors, orchestrated as vstest's RFC 0031 describes:
//! as soon as two sources have finished, a processor that can merge
//! incrementally merges what they left while the other sources still run;
//! one merge at a time per processor, and what finishes during a merge waits
//! for the next one. When every source has finished, a final pass runs with
//! every processor. A processor that fails leaves its inputs as they were.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use proctor_plugin_api::messages::{Attachment, ProcessRequest};

use crate::plugins::AttachmentProcessor;
use crate::results::MergeRecord;

/// An attachment and the plugin that made it (a collector or a processor).
#[derive(Debug, Clone)]
pub struct Held {
    pub by: String,
    pub attachment: Attachment,
}

/// A processor as its manifest describes it.
pub struct Processor {
    pub name: String,
    pub plugin: Box<dyn AttachmentProcessor>,
    pub kinds: Vec<String>,
    pub incremental: bool,
}

enum Batch {
    /// What a finished source left of this processor's kinds. After the
    /// last source no merge starts: the final pass comes next.
    Source { held: Vec<Held>, last: bool },
    /// Everything else, once every source has finished: the final pass.
    Last(Vec<Held>),
}

struct Worker {
    kinds: Vec<String>,
    sender: mpsc::Sender<Batch>,
    thread: JoinHandle<(Vec<Held>, Vec<MergeRecord>)>,
}

/// The processors at work, each on a thread of its own.
pub struct Processing {
    workers: Vec<Worker>,
}

impl Processing {
    /// Starts the processors; their outputs go under
    /// `results_dir/attachments/<name>/`.
    pub fn start(processors: Vec<Processor>, results_dir: PathBuf, clock: Instant) -> Self {
        let output_root = results_dir.join("attachments");
        let workers = processors
            .into_iter()
            .map(|processor| {
                let (sender, receiver) = mpsc::channel();
                let kinds = processor.kinds.clone();
                let root = output_root.join(&processor.name);
                let results_dir = results_dir.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("processor {}", processor.name))
                    .spawn(move || work(processor, receiver, root, results_dir, clock))
                    .expect("a thread can be started");
                Worker {
                    kinds,
                    sender,
                    thread,
                }
            })
            .collect();
        Self { workers }
    }

    /// Hands a finished source's attachments to the processors of their
    /// kinds (the first that takes a kind gets it); answers those none takes.
    /// `last` says no source is still running.
    pub fn source_finished(&self, attachments: Vec<Held>, last: bool) -> Vec<Held> {
        self.route(attachments, Some(last))
    }

    /// Runs the final pass over what is left and what was merged so far.
    /// Answers the attachments of the run's end and every call made.
    pub fn finish(self, rest: Vec<Held>) -> (Vec<Held>, Vec<MergeRecord>) {
        let mut kept = self.route(rest, None);
        let mut merges = Vec::new();
        for worker in self.workers {
            drop(worker.sender);
            if let Ok((outputs, records)) = worker.thread.join() {
                kept.extend(outputs);
                merges.extend(records);
            }
        }
        merges.sort_by_key(|m| m.started_ms);
        (kept, merges)
    }

    /// Shares out `attachments`: as a finished source's (`Some(last_source)`)
    /// or for the final pass (`None`).
    fn route(&self, attachments: Vec<Held>, source: Option<bool>) -> Vec<Held> {
        let mut shares: Vec<Vec<Held>> = self.workers.iter().map(|_| Vec::new()).collect();
        let mut kept = Vec::new();
        for held in attachments {
            match self
                .workers
                .iter()
                .position(|w| w.kinds.contains(&held.attachment.kind))
            {
                Some(i) => shares[i].push(held),
                None => kept.push(held),
            }
        }
        for (worker, held) in self.workers.iter().zip(shares) {
            // Every worker hears of the end and of the last source; another
            // source without its kinds is no news.
            let batch = match source {
                None => Batch::Last(held),
                Some(last) if last || !held.is_empty() => Batch::Source { held, last },
                Some(_) => continue,
            };
            let _ = worker.sender.send(batch);
        }
        kept
    }
}

/// One processor's calls, and the record of each.
struct Merger {
    processor: Processor,
    /// Where each pass's outputs go, a directory per pass.
    root: PathBuf,
    results_dir: PathBuf,
    clock: Instant,
    merges: Vec<MergeRecord>,
}

impl Merger {
    /// Calls the processor on `inputs`; on success its outputs take their
    /// place. A failure leaves the inputs as they were, for the report.
    fn pass(&mut self, inputs: &mut Vec<Held>, final_pass: bool) -> bool {
        let started = self.clock.elapsed();
        let output_dir = self.root.join(format!("pass-{}", self.merges.len() + 1));
        let request = ProcessRequest {
            attachments: inputs.iter().map(|h| h.attachment.clone()).collect(),
            incremental: !final_pass,
            output_dir: output_dir.clone(),
            results_dir: Some(self.results_dir.clone()),
        };
        let plugin = &self.processor.plugin;
        let mut abandoned = false;
        let answer = std::fs::create_dir_all(&output_dir)
            .map_err(|e| format!("cannot create {}: {e}", output_dir.display()))
            .and_then(|()| {
                plugin.process(&request).map_err(|e| {
                    abandoned = e.abandoned();
                    e.to_string()
                })
            });
        let (outputs, error) = match answer {
            Ok(response) => {
                let by = &self.processor.name;
                *inputs = (response.attachments.into_iter())
                    .map(|attachment| Held {
                        by: by.clone(),
                        attachment,
                    })
                    .collect();
                (inputs.len(), None)
            }
            Err(error) => (0, Some(error)),
        };
        let merged = error.is_none();
        self.merges.push(MergeRecord {
            processor: self.processor.name.clone(),
            final_pass,
            inputs: request.attachments.len(),
            outputs,
            started_ms: started.as_millis() as u64,
            finished_ms: self.clock.elapsed().as_millis() as u64,
            error,
            abandoned,
        });
        merged
    }
}

/// One processor's thread: merges as inputs arrive, then the final pass.
fn work(
    processor: Processor,
    receiver: mpsc::Receiver<Batch>,
    root: PathBuf,
    results_dir: PathBuf,
    clock: Instant,
) -> (Vec<Held>, Vec<MergeRecord>) {
    let incremental = processor.incremental;
    let mut merger = Merger {
        processor,
        root,
        results_dir,
        clock,
        merges: Vec::new(),
    };
    let mut inputs: Vec<Held> = Vec::new();
    // Finished sources (or earlier merges) the inputs come from.
    let mut parts = 0;
    let mut switched_off = false;
    // Once no source runs, merging waits for the final pass.
    let mut sources_done = false;
    while let Ok(first) = receiver.recv() {
        // What finished during the last merge is taken in together.
        let mut last = false;
        for batch in std::iter::once(first).chain(receiver.try_iter()) {
            let held = match batch {
                Batch::Source { held, last } => {
                    sources_done |= last;
                    held
                }
                Batch::Last(held) => {
                    last = true;
                    held
                }
            };
            if !held.is_empty() {
                inputs.extend(held);
                parts += 1;
            }
        }
        if last {
            if !switched_off && !inputs.is_empty() {
                merger.pass(&mut inputs, true);
            }
            break;
        }
        if incremental && !switched_off && !sources_done && parts >= 2 {
            match merger.pass(&mut inputs, false) {
                true => parts = 1,
                false => switched_off = true,
            }
        }
    }
    (inputs, merger.merges)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::time::Duration;

    use proctor_plugin_api::messages::{Owner, ProcessResponse};

    use super::*;
    use crate::plugins::CallError;

    /// Merges whatever it is given into one attachment, or fails; tells
    /// each call (inputs, incremental) as it is made.
    struct Merger {
        calls: Sender<(usize, bool)>,
        fails: bool,
    }

    impl AttachmentProcessor for Merger {
        fn label(&self) -> &str {
            "attachment processor `merge`"
        }

        fn process(&self, request: &ProcessRequest) -> Result<ProcessResponse, CallError> {
            let _ = (self.calls).send((request.attachments.len(), request.incremental));
            if self.fails {
                return Err(CallError {
                    plugin: self.label().into(),
                    operation: "process",
                    code: 1,
                    message: "it broke".into(),
                });
            }
            let merged = Attachment {
                kind: "lcov".into(),
                path: request.output_dir.join("merged.info"),
                owner: Owner::Run,
                description: format!("{} merged", request.attachments.len()),
            };
            Ok(ProcessResponse {
                attachments: vec![merged],
            })
        }
    }

    fn held(kind: &str, source: &str) -> Held {
        Held {
            by: "coverage".into(),
            attachment: Attachment {
                kind: kind.into(),
                path: format!("coverage/{source}/{kind}").into(),
                owner: Owner::Source {
                    source: source.into(),
                },
                description: String::new(),
            },
        }
    }

    fn start(incremental: bool, fails: bool) -> (Processing, Receiver<(usize, bool)>) {
        let (calls, made) = channel();
        let processor = Processor {
            name: "merge".into(),
            plugin: Box::new(Merger { calls, fails }),
            kinds: vec!["lcov".into()],
            incremental,
        };
        let dir = std::env::temp_dir().join(format!("proctor-processing-{}", std::process::id()));
        (
            Processing::start(vec![processor], dir, Instant::now()),
            made,
        )
    }

    fn next_call(made: &Receiver<(usize, bool)>) -> (usize, bool) {
        made.recv_timeout(Duration::from_secs(10)).expect("a call")
    }

    #[test]
    fn a_processor_takes_its_kinds_merges_two_finished_sources_then_makes_a_final_pass() {
        let (processing, made) = start(true, false);
        let untaken = processing.source_finished(vec![held("lcov", "a"), held("log", "a")], false);
        assert_eq!(untaken.len(), 1);
        assert_eq!(untaken[0].attachment.kind, "log", "no processor takes logs");
        processing.source_finished(vec![held("lcov", "b")], false);
        assert_eq!(
            next_call(&made),
            (2, true),
            "an incremental merge of a and b"
        );
        processing.source_finished(vec![held("lcov", "c")], true);
        let (kept, merges) = processing.finish(Vec::new());
        assert_eq!(next_call(&made), (2, false), "the merge of a and b, and c");
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (kept[0].by.as_str(), kept[0].attachment.description.as_str()),
            ("merge", "2 merged")
        );
        let passes: Vec<bool> = merges.iter().map(|m| m.final_pass).collect();
        assert_eq!(passes, [false, true]);
    }

    #[test]
    fn a_processor_that_cannot_merge_incrementally_waits_for_the_final_pass() {
        let (processing, made) = start(false, false);
        for source in ["a", "b"] {
            processing.source_finished(vec![held("lcov", source)], false);
        }
        processing.source_finished(vec![held("lcov", "c")], true);
        let (kept, merges) = processing.finish(Vec::new());
        assert_eq!(next_call(&made), (3, false), "one pass, over all three");
        assert!(made.try_recv().is_err());
        assert_eq!((kept.len(), merges.len()), (1, 1));
    }

    #[test]
    fn a_processor_that_fails_leaves_its_inputs_and_is_not_called_again() {
        let (processing, made) = start(true, true);
        processing.source_finished(vec![held("lcov", "a")], false);
        processing.source_finished(vec![held("lcov", "b")], false);
        assert_eq!(next_call(&made), (2, true));
        processing.source_finished(vec![held("lcov", "c")], true);
        let (kept, merges) = processing.finish(Vec::new());
        assert!(made.try_recv().is_err(), "no final pass once it failed");
        let sources: Vec<String> = (kept.iter())
            .map(|h| h.attachment.path.display().to_string())
            .collect();
        assert_eq!(
            sources,
            ["coverage/a/lcov", "coverage/b/lcov", "coverage/c/lcov"]
        );
        assert_eq!(merges.len(), 1);
        assert_eq!(
            merges[0].error.as_deref(),
            Some("attachment processor `merge` failed in process: it broke")
        );
    }
}
