//! LCOV tracefiles as lcov and coverage.py wrote them, mutated
//! (`proctor_fuzzing`): a tracefile or an error naming the line, never a
//! panic, and a tracefile read merges and writes.

use proctor_fuzzing::{bound_memory, config, mutated_text};
use proptest::prelude::*;

use crate::lcov::Tracefile;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_lcov(text in mutated_text("lcov")) {
        bound_memory(4 << 30);
        if let Ok(tracefile) = Tracefile::parse(&text) {
            let mut merged = Tracefile::parse(&text).unwrap();
            merged.merge(tracefile);
            let _ = merged.write();
        }
    }
}
