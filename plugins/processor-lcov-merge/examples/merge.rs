//! Merges tracefiles through the built plugin, as the host calls it, for the
//! benchmark against lcov: `merge OUTPUT_DIR TRACEFILE...` writes
//! `OUTPUT_DIR/coverage.info`. Build the plugin first (`cargo build --release`).

use proctor_sdk::harness::PluginLibrary;
use proctor_sdk::messages::{Attachment, Owner, ProcessRequest};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let output_dir: std::path::PathBuf = args
        .next()
        .expect("usage: merge OUTPUT_DIR TRACEFILE...")
        .into();
    // The host makes the output directory before it calls a processor.
    std::fs::create_dir_all(&output_dir).expect("the output directory can be made");
    let attachments = args
        .map(|path| Attachment {
            kind: proctor_processor_lcov_merge::KIND.into(),
            path: path.into(),
            owner: Owner::Run,
            description: String::new(),
        })
        .collect();
    let library =
        PluginLibrary::built("proctor-processor-lcov-merge").expect("the plugin is built");
    let processor = library
        .attachment_processor("lcov-merge", serde_json::Value::Null)
        .expect("the processor starts");
    let request = ProcessRequest {
        attachments,
        incremental: false,
        output_dir,
        results_dir: None,
    };
    let response = processor
        .process(&request, &|_, _| true)
        .expect("the merge succeeds");
    println!("{}", response.attachments[0].path.display());
}
