//! proctor: a test-run host. The binary is a thin CLI over this library.
//!
//! The modules are layered; each uses only those below it:
//!
//! | layer | modules |
//! |---|---|
//! | the command line | [`cli`] |
//! | many runs: bisecting a test's history | [`bisect`] |
//! | the engine: discovery, scheduling, supervision, attribution | [`run`] |
//! | subscribers of the run's events | [`report`] (journal, console, reports), [`collect`] (collectors, processors), [`store`] (the results history) |
//! | payloads | [`fetch`] |
//! | the run's events | [`events`] |
//! | whose fault an error is | [`error`] |
//! | the results layout's types | [`results`] |
//! | what the configuration says | [`config`], [`retry`], [`select`], [`matching`], [`redact`] |
//! | plugins and processes | [`plugins`], [`process`] |
//!
//! A test (`layering`) fails on an import cycle between them.

pub mod bisect;
pub mod cli;
pub mod collect;
pub mod config;
pub mod error;
pub mod events;
pub mod fetch;
pub mod matching;
pub mod plugins;
pub mod process;
pub mod redact;
pub mod report;
pub mod results;
pub mod retry;
pub mod run;
pub mod select;
pub mod store;
pub mod user_dirs;

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod layering {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The top-level modules each module's files name as `crate::…`.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let relative = path.strip_prefix(&src).unwrap();
                let first = relative.components().next().unwrap().as_os_str();
                let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
                if matches!(module.as_str(), "lib" | "main") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Tests may reach anywhere; the code may not.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                let used = imports.entry(module.clone()).or_default();
                for (i, _) in code.match_indices("crate::") {
                    let rest = &code[i + "crate::".len()..];
                    let name: String = (rest.chars())
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        used.insert(name);
                    }
                }
            }
        }
        imports
    }

    #[test]
    fn no_module_imports_one_that_imports_it_back() {
        let imports = imports();
        // Depth-first search for a path from each module back to itself.
        for start in imports.keys() {
            let mut stack: Vec<Vec<&str>> = vec![vec![start.as_str()]];
            while let Some(path) = stack.pop() {
                let last = *path.last().unwrap();
                for next in imports.get(last).into_iter().flatten() {
                    assert!(
                        next != start,
                        "an import cycle: {} -> {next}",
                        path.join(" -> ")
                    );
                    if !path.contains(&next.as_str()) {
                        let mut longer = path.clone();
                        longer.push(next);
                        stack.push(longer);
                    }
                }
            }
        }
    }
}
