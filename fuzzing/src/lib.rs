//! Mutations of real files, for the proptest targets of every reader of
//! input proctor did not make: configuration, Helix's test configuration,
//! `--filter` expressions, JUnit and TRX, GoogleTest listings and output,
//! the pytest plugin's lines, LCOV, archives.
//!
//! Each target draws a seed from `seeds/KIND/` (files real tools wrote:
//! GoogleTest, pytest, Node's test runner, lcov, coverage.py, tar, zip,
//! proctor itself) and applies a few mutations: bytes flipped, inserted,
//! deleted, a span repeated (deep nesting, long lines), a token that means
//! something to one of the formats, a cut. A target holds when its reader
//! answers every input, a value or an error, without a panic, within the
//! memory [`bound_memory`] allows; nextest's timeout for `fuzz_` tests
//! (`.config/nextest.toml`) catches a hang.
//!
//! Cases: [`CASES`], or `PROCTOR_FUZZ_CASES`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// Cases per target unless `PROCTOR_FUZZ_CASES` says otherwise.
pub const CASES: u32 = 10_000;

/// Mutations applied to one seed, at most.
const MAX_MUTATIONS: usize = 6;

/// Pieces of the formats read: markup, escapes, numbers past every range,
/// the line prefixes of the line-based formats.
const TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"\"",
    b"'",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#xD800;",
    b"&unknown;",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY a \"aaaaaaaa\">]>",
    b"<?xml version=\"1.0\"?>",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\0",
    b"\n",
    b"\r\n",
    b"\\u0000",
    b"\\ud800",
    b"\\",
    b"1e400",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"NaN",
    b"null",
    b"(",
    b")",
    b"*",
    b"?",
    b"not ",
    b" and ",
    b" or ",
    b"!",
    b"|",
    b"=",
    b"SF:",
    b"DA:",
    b"BRDA:",
    b"FN:",
    b"FNDA:",
    b"LF:",
    b"end_of_record",
    b"##proctor ",
    b"[ RUN      ] ",
    b"[       OK ] ",
    b"[  FAILED  ] ",
    b"[  SKIPPED ] ",
    b"\xc3\xa9",
    b"\xff\xfe",
    b"\xed\xa0\x80",
];

/// One change to a seed, placed relative to its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Token(Index, Index),
    Delete(Index, usize),
    /// A span repeated: nesting and long lines.
    Repeat(Index, usize, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Mutation::Token(at, token)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        1 => (any::<Index>(), 1usize..32, 2usize..2000)
            .prop_map(|(at, len, times)| Mutation::Repeat(at, len, times)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |index: &Index| match bytes.len() {
            0 => 0,
            len => index.index(len + 1),
        };
        match self {
            Mutation::Flip(index, bits) => {
                if !bytes.is_empty() {
                    let i = index.index(bytes.len());
                    bytes[i] ^= bits;
                }
            }
            Mutation::Insert(index, new) => {
                let i = at(index);
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Token(index, token) => {
                let i = at(index);
                let token = TOKENS[token.index(TOKENS.len())];
                bytes.splice(i..i, token.iter().copied());
            }
            Mutation::Delete(index, len) => {
                let i = at(index).min(bytes.len());
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Repeat(index, len, times) => {
                let i = at(index).min(bytes.len());
                let end = (i + len).min(bytes.len());
                let span = bytes[i..end].to_vec();
                let repeated = span.repeat(*times);
                bytes.splice(end..end, repeated);
            }
            Mutation::Truncate(index) => {
                let i = at(index).min(bytes.len());
                bytes.truncate(i);
            }
        }
    }
}

/// Where the seeds of `kind` are.
pub fn seed_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(kind)
}

/// The seed files of `kind`, in name order.
pub fn seeds(kind: &str) -> Vec<Vec<u8>> {
    let dir = seed_dir(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no seeds in {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable seed directory").path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    paths
        .iter()
        .map(|path| std::fs::read(path).expect("a readable seed"))
        .collect()
}

/// Seeds of `kind`, each as it is or mutated.
pub fn mutated(kind: &str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds(kind);
    (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..=MAX_MUTATIONS),
    )
        .prop_map(|(mut bytes, mutations)| {
            for mutation in &mutations {
                mutation.apply(&mut bytes);
            }
            bytes
        })
}

/// [`mutated`], as text the way proctor reads files: invalid UTF-8 replaced.
pub fn mutated_text(kind: &str) -> impl Strategy<Value = String> {
    mutated(kind).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// The runner's configuration: [`CASES`] cases, no regression files
/// written into the sources (a failure prints its smallest case).
pub fn config() -> Config {
    let cases = std::env::var("PROCTOR_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Caps this process's address space at `bytes`, so that a reader
/// allocating without bound fails its test instead of exhausting the
/// machine. nextest runs each test in a process of its own.
pub fn bound_memory(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct it is given; lowering a limit is
    // always allowed.
    let status = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(status, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn every_kind_has_seeds_and_mutations_change_them() {
        let mut runner = TestRunner::deterministic();
        let kinds = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")).unwrap();
        for kind in kinds.flatten().filter(|entry| entry.path().is_dir()) {
            let kind = kind.file_name().into_string().unwrap();
            let seeds = seeds(&kind);
            let strategy = mutated(&kind);
            let changed = (0..200)
                .map(|_| strategy.new_tree(&mut runner).unwrap().current())
                .filter(|bytes| !seeds.contains(bytes))
                .count();
            assert!(changed > 100, "{kind}: only {changed} of 200 changed");
        }
    }

    #[test]
    fn a_repeated_span_nests_deeply() {
        let mut bytes = b"((x))".to_vec();
        let index = |i| {
            let mut runner = TestRunner::deterministic();
            (0..1000)
                .map(|_| any::<Index>().new_tree(&mut runner).unwrap().current())
                .find(|index| index.index(6) == i)
                .unwrap()
        };
        Mutation::Repeat(index(0), 1, 1000).apply(&mut bytes);
        assert!(bytes.starts_with(&[b'('; 1001]));
    }
}
