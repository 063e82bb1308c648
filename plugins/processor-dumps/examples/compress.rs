//! Compresses every `.dmp` of a directory through the built plugin, as the
//! host calls it, for the benchmark against pigz and gzip:
//! `compress DIR` (the dumps are replaced by `.dmp.gz`).

use proctor_sdk::harness::PluginLibrary;
use proctor_sdk::messages::{Attachment, Owner, ProcessRequest};

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: compress DIR"));
    let attachments = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dmp"))
        .map(|path| Attachment {
            kind: proctor_processor_dumps::MINIDUMP.into(),
            path,
            owner: Owner::Run,
            description: String::new(),
        })
        .collect();
    let library = PluginLibrary::built("proctor-processor-dumps").expect("the plugin is built");
    let processor = library
        .attachment_processor("dumps", serde_json::Value::Null)
        .expect("the processor starts");
    let output_dir = dir.join("out");
    std::fs::create_dir_all(&output_dir).unwrap();
    let request = ProcessRequest {
        attachments,
        incremental: false,
        output_dir,
        results_dir: None,
    };
    processor
        .process(&request, &|_, _| true)
        .expect("the dumps are compressed");
}
