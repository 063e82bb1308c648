//! The pytest plugin's lines, as a real run printed them, mutated
//! (`proctor_fuzzing`): events or an error, never a panic.

use proctor_fuzzing::{bound_memory, config, mutated_text};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_pytest_live_events(text in mutated_text("pytest-output")) {
        bound_memory(4 << 30);
        let _ = crate::live_events(text.lines());
    }
}
