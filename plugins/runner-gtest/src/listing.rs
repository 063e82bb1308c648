//! The tests a GoogleTest binary lists. `--gtest_list_tests` with
//! `--gtest_output=json:FILE` writes the listing to a file (GoogleTest 1.10
//! and later), where nothing else the binary prints can pass for a test;
//! older versions only print it, and the printed listing is read strictly:
//! names are what GoogleTest accepts, identifiers and `/`.

use std::collections::BTreeMap;

use proctor_sdk::messages::TestCase;
use serde::Deserialize;

/// The listing file's shape (the fields used).
#[derive(Deserialize)]
struct Listing {
    testsuites: Vec<ListedSuite>,
}

#[derive(Deserialize)]
struct ListedSuite {
    name: String,
    testsuite: Vec<ListedTest>,
}

#[derive(Deserialize)]
struct ListedTest {
    name: String,
    #[serde(default)]
    value_param: Option<String>,
    #[serde(default)]
    type_param: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    line: Option<u64>,
}

/// Whether GoogleTest disables a suite or a test of this name: it begins
/// with `DISABLED_`, or a part of it after a `/` does (an instantiation
/// of a disabled parameterized suite, `My/DISABLED_Suite/0`).
fn disabled(name: &str) -> bool {
    name.starts_with("DISABLED_") || name.contains("/DISABLED_")
}

/// A listed test as a case; disabled tests and suites are skipped, as
/// GoogleTest skips them.
fn test_case(suite: &str, test: &str, attributes: BTreeMap<String, String>) -> TestCase {
    let disabled = disabled(suite) || disabled(test);
    let mut attributes = attributes;
    attributes.insert("suite".to_owned(), suite.to_owned());
    TestCase {
        attributes,
        skip: disabled.then(|| "DISABLED_ in GoogleTest".to_owned()),
        ..TestCase::new(format!("{suite}.{test}"))
    }
}

/// Reads the listing file.
pub fn from_json(text: &str) -> Result<Vec<TestCase>, serde_json::Error> {
    let listing: Listing = serde_json::from_str(text)?;
    Ok(listing
        .testsuites
        .iter()
        .flat_map(|suite| {
            suite.testsuite.iter().map(|test| {
                let mut attributes = BTreeMap::new();
                let parameter = match (&test.value_param, &test.type_param) {
                    (Some(value), _) => Some(format!("GetParam() = {value}")),
                    (None, Some(ty)) => Some(format!("TypeParam = {ty}")),
                    (None, None) => None,
                };
                attributes.extend(parameter.map(|p| ("parameter".to_owned(), p)));
                attributes.extend(test.file.clone().map(|f| ("file".to_owned(), f)));
                attributes.extend(test.line.map(|l| ("line".to_owned(), l.to_string())));
                test_case(&suite.name, &test.name, attributes)
            })
        })
        .collect())
}

/// Whether `name` is a name GoogleTest gives a suite or test: letters,
/// digits, `_`, and `/` between an instantiation's parts.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
}

/// Reads the printed listing: a suite line `Suite.` (maybe followed by
/// `  # TypeParam = ..`), then its tests indented by two spaces (maybe
/// followed by `  # GetParam() = ..`). Any other line ends the suite, so
/// that what the binary printed before or between never becomes a test.
pub fn from_text(listing: &str) -> Vec<TestCase> {
    let mut tests = Vec::new();
    let mut suite: Option<&str> = None;
    for line in listing.lines() {
        let (name, comment) = match line.split_once("  # ") {
            Some((name, comment)) => (name, Some(comment.trim())),
            None => (line, None),
        };
        if let Some(test) = name.strip_prefix("  ").filter(|t| is_name(t)) {
            if let Some(suite) = suite {
                let attributes = comment
                    .map(|c| BTreeMap::from([("parameter".to_owned(), c.to_owned())]))
                    .unwrap_or_default();
                tests.push(test_case(suite, test, attributes));
            }
            continue;
        }
        suite = name.strip_suffix('.').filter(|s| is_name(s));
    }
    tests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(tests: &[TestCase]) -> Vec<&str> {
        tests.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn printed_listings_with_parameters_and_disabled_tests() {
        let listing = "Running main() from gtest_main.cc\nMath.\n  Adds\n  DISABLED_Later\nDISABLED_Old.\n  Works\nSquares/Param.\n  Holds/0  # GetParam() = 1\n  Holds/1  # GetParam() = 2\nTyped/0.  # TypeParam = int\n  Zero\nMy/DISABLED_Typed/0.  # TypeParam = int\n  NotRun\n";
        let tests = from_text(listing);
        assert_eq!(
            ids(&tests),
            [
                "Math.Adds",
                "Math.DISABLED_Later",
                "DISABLED_Old.Works",
                "Squares/Param.Holds/0",
                "Squares/Param.Holds/1",
                "Typed/0.Zero",
                "My/DISABLED_Typed/0.NotRun"
            ]
        );
        assert!(tests[0].skip.is_none() && tests[5].skip.is_none());
        assert!(tests[1].skip.is_some() && tests[2].skip.is_some() && tests[6].skip.is_some());
        assert_eq!(tests[3].attributes["parameter"], "GetParam() = 1");
    }

    #[test]
    fn what_a_binary_prints_around_its_listing_is_no_test() {
        let listing = "Loading fixtures...\n  done, 3 of them\nInit.\nMath.\n  Adds\nready: 2 workers.\n  not a test either\n";
        assert_eq!(ids(&from_text(listing)), ["Math.Adds"]);
    }

    #[test]
    fn the_listing_file_names_parameters_and_places() {
        let json = r#"{"tests": 3, "name": "AllTests", "testsuites": [
            {"name": "Ty/0", "tests": 1, "testsuite": [{"name": "Zero", "type_param": "int", "file": "p.cc", "line": 8}]},
            {"name": "Same/P", "tests": 1, "testsuite": [{"name": "Holds/0", "value_param": "1", "file": "p.cc", "line": 3}]},
            {"name": "DISABLED_Old", "tests": 1, "testsuite": [{"name": "Works", "file": "p.cc", "line": 9}]}]}"#;
        let tests = from_json(json).unwrap();
        assert_eq!(
            ids(&tests),
            ["Ty/0.Zero", "Same/P.Holds/0", "DISABLED_Old.Works"]
        );
        assert_eq!(tests[0].attributes["parameter"], "TypeParam = int");
        assert_eq!(tests[1].attributes["parameter"], "GetParam() = 1");
        assert_eq!(tests[1].attributes["line"], "3");
        assert!(tests[2].skip.is_some());
    }
}
