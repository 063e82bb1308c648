//! GoogleTest's listings (text and JSON) and its output read live, mutated
//! (`proctor_fuzzing`): each reads every input without a panic.

use proctor_fuzzing::{bound_memory, config, mutated_text};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_gtest_listing(text in mutated_text("gtest-listing")) {
        bound_memory(4 << 30);
        let _ = crate::listing::from_text(&text);
        let _ = crate::listing::from_json(&text);
    }

    #[test]
    fn fuzz_gtest_live_output(text in mutated_text("gtest-output")) {
        bound_memory(4 << 30);
        for (index, line) in text.lines().enumerate() {
            let _ = crate::output::parse_line(index, line);
        }
        let _ = crate::output::read(&text);
    }
}
