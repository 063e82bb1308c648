//! The host's readers of input it did not make, fuzzed from real files
//! (`proctor_fuzzing`): configuration (and locating a key path in it),
//! Helix's test configuration, `--filter` expressions, payload archives.
//! Each answers every input with a value or an error, never a panic.

use proctor_fuzzing::{bound_memory, config, mutated, mutated_text};
use proptest::prelude::*;

/// Far past what any of these readers needs for its largest input.
const MEMORY: u64 = 4 << 30;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_configuration(text in mutated_text("config")) {
        bound_memory(MEMORY);
        let dir = tempfile::tempdir().unwrap();
        let _ = crate::config::load_text(&text, &dir.path().join("proctor.json"));
    }

    /// A settings error is located in the file as it is then: whatever it
    /// became since it was read.
    #[test]
    fn fuzz_locating_a_key_path(
        text in mutated_text("config"),
        path in "[a-z_]{1,8}(\\[[0-9]{1,2}\\])?(\\.[a-z_]{1,8}(\\[[0-9]\\])?){0,3}",
    ) {
        bound_memory(MEMORY);
        if let Some((line, column)) = crate::config::json::position_of(&text, &path) {
            prop_assert!(line >= 1 && line <= text.lines().count().max(1));
            prop_assert!(column >= 1);
        }
    }

    #[test]
    fn fuzz_helix_test_configuration(text in mutated_text("helix")) {
        bound_memory(MEMORY);
        let _ = crate::config::helix::parse(&text, std::path::Path::new("test-configuration.json"));
    }

    #[test]
    fn fuzz_filter_expressions(text in mutated_text("filter")) {
        bound_memory(MEMORY);
        let _ = crate::select::Filter::parse(&text);
    }

    /// Small limits: what a mutated archive may unpack to stays small.
    #[test]
    fn fuzz_archive_unpacking(bytes in mutated("archive"), kind in 0..3usize) {
        bound_memory(MEMORY);
        let dir = tempfile::tempdir().unwrap();
        let name = ["payload.tar.gz", "payload.tar", "payload.zip"][kind];
        let archive = dir.path().join(name);
        std::fs::write(&archive, &bytes).unwrap();
        let into = dir.path().join("into");
        std::fs::create_dir(&into).unwrap();
        let limits = crate::config::UnpackLimits {
            bytes: 1 << 20,
            entries: 1000,
            ratio: 200.0,
            ratio_floor: 1 << 16,
        };
        if crate::fetch::archive::unpack(&archive, &into, limits).is_ok() {
            // Nothing lands outside the destination.
            let outside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten()
                .map(|e| e.file_name())
                .filter(|name| name != "into" && name.to_str() != Some(archive.file_name().unwrap().to_str().unwrap()))
                .collect();
            prop_assert!(outside.is_empty(), "{outside:?}");
        }
    }
}
