//! The results layout's published contract: JSON Schemas of `summary.json`
//! and of a journal line, generated from the types that write them, and
//! kept in `docs/schemas/`, where a test holds them to the code.

use schemars::{schema_for, Schema};

use super::journal::{Event2, Line};
use crate::events::RunEvent;
use crate::results::{layout2, RunSummary};

/// The schemas, each with the name of its file in `docs/schemas/`: layout
/// 1's at the top, layout 2's under `v2/`.
pub fn all() -> [(&'static str, Schema); 4] {
    let mut events2 = schema_for!(Line<'static, Event2<'static>>);
    events2.insert(
        "title".into(),
        "A line of events.jsonl, proctor's journal (results layout 2)".into(),
    );
    [
        ("summary.schema.json", schema_for!(RunSummary)),
        (
            "events.schema.json",
            schema_for!(Line<'static, &'static RunEvent<'static>>),
        ),
        (
            "v2/summary.schema.json",
            schema_for!(layout2::Summary<'static>),
        ),
        ("v2/events.schema.json", events2),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn docs() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas")
    }

    /// `PROCTOR_WRITE_SCHEMAS=1 cargo test -p proctor schemas` writes them anew.
    #[test]
    fn the_published_schemas_are_those_of_the_types_that_write_the_results() {
        let write = std::env::var_os("PROCTOR_WRITE_SCHEMAS").is_some();
        for (file, schema) in all() {
            let path = docs().join(file);
            let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &generated).unwrap();
                continue;
            }
            let published = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                published == generated,
                "docs/schemas/{file} is not the schema of the code; if the change is additive \
                 (layout version 1 allows no other), run PROCTOR_WRITE_SCHEMAS=1 cargo test -p \
                 proctor schemas and document it in docs/results-layout.md"
            );
        }
    }
}
