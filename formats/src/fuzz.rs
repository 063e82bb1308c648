//! JUnit and TRX, as tools write them, mutated (`proctor_fuzzing`): every
//! document is results or an error, never a panic.

use proctor_fuzzing::{bound_memory, config, mutated_text};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_junit(xml in mutated_text("junit")) {
        bound_memory(4 << 30);
        let _ = crate::read_results(&xml);
    }

    #[test]
    fn fuzz_trx(xml in mutated_text("trx")) {
        bound_memory(4 << 30);
        let _ = crate::read_results(&xml);
    }
}
