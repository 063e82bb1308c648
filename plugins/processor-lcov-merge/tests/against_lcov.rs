//! The merge checked against lcov itself: tracefiles with overlapping
//! files, lines, functions and branches (`-` among the counts) are merged by
//! `lcov --add-tracefile` and by this crate, and both read back the same.
//! Needs lcov (Debian's `lcov`; `scripts/test` installs it).

use std::fmt::Write as _;
use std::process::Command;

use proctor_processor_lcov_merge::lcov::Tracefile;

/// A small deterministic generator, so a failure can be reproduced.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn tracefile(seed: u64) -> String {
    let mut rng = Lcg(seed);
    let mut text = String::new();
    for file in 0..12 {
        // Each tracefile covers some of the files, in its own order.
        if rng.next(4) == 0 {
            continue;
        }
        let _ = writeln!(text, "TN:\nSF:/src/module_{file}.c");
        let functions: Vec<u64> = (0..rng.next(5)).map(|f| f * 20 + 1).collect();
        for line in &functions {
            let _ = writeln!(text, "FN:{line},fn_{file}_{line}");
        }
        for line in &functions {
            let _ = writeln!(text, "FNDA:{},fn_{file}_{line}", rng.next(3));
        }
        for line in (1..60).step_by(7) {
            if rng.next(3) == 0 {
                continue;
            }
            for branch in 0..2 {
                let taken = match rng.next(3) {
                    0 => "-".to_owned(),
                    _ => rng.next(4).to_string(),
                };
                let _ = writeln!(text, "BRDA:{line},0,{branch},{taken}");
            }
        }
        for line in 1..80 {
            if rng.next(2) == 0 {
                let _ = writeln!(text, "DA:{line},{}", rng.next(5));
            }
        }
        text.push_str("end_of_record\n");
    }
    text
}

#[test]
fn merges_as_lcov_add_tracefile_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut ours = Tracefile::default();
    let mut command = Command::new("lcov");
    command.args(["--quiet", "--rc", "lcov_branch_coverage=1"]);
    for seed in 1..=4 {
        let text = tracefile(seed);
        let path = dir.path().join(format!("t{seed}.info"));
        std::fs::write(&path, &text).unwrap();
        ours.add_text(&text).unwrap();
        command.arg("--add-tracefile").arg(&path);
    }
    let out = dir.path().join("lcov.info");
    let status = command
        .arg("--output-file")
        .arg(&out)
        .status()
        .expect("lcov runs (Debian's lcov; `scripts/test` installs it)");
    assert!(status.success());
    let theirs = Tracefile::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let mut ours_records = ours.records().to_vec();
    let mut their_records = theirs.records().to_vec();
    ours_records.sort_by(|a, b| a.source.cmp(&b.source));
    their_records.sort_by(|a, b| a.source.cmp(&b.source));
    assert_eq!(ours_records.len(), their_records.len());
    for (ours, theirs) in ours_records.iter().zip(&their_records) {
        assert_eq!(ours, theirs, "{}", ours.source);
    }
    // Written out, ours reads back to the same records lcov's did.
    let again = Tracefile::parse(&ours.write()).unwrap();
    assert_eq!(again.records().len(), their_records.len());
}
