//! Which tests run: skip rules from the configuration, and the `--filter`
//! expression from the command line.

use std::collections::BTreeMap;

use proctor_plugin_api::messages::TestCase;
use serde::Deserialize;

use crate::matching::Glob;

/// Skips tests by id, optionally only on some machines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a skip rule: an object with `tests`")]
pub struct SkipRule {
    /// Test ids to skip.
    pub tests: Glob,
    /// Only in sources whose name matches.
    #[serde(default)]
    pub source: Option<Glob>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Only on these operating systems (`linux`, `macos`, `windows`, ...).
    #[serde(default)]
    pub os: Option<Vec<String>>,
    /// Only on these architectures (`x86_64`, `aarch64`, ...).
    #[serde(default)]
    pub arch: Option<Vec<String>>,
    /// Only where each variable is set and its value matches the glob.
    #[serde(default)]
    pub env: BTreeMap<String, Glob>,
}

/// What a skip rule's platform conditions are checked against.
pub struct Platform<'a> {
    pub os: &'a str,
    pub arch: &'a str,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Platform<'static> {
    pub fn current() -> Self {
        Platform {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            env: &|name| std::env::var(name).ok(),
        }
    }
}

impl SkipRule {
    fn applies_on(&self, platform: &Platform) -> bool {
        let listed = |list: &Option<Vec<String>>, value: &str| {
            list.as_ref()
                .is_none_or(|list| list.iter().any(|v| v.eq_ignore_ascii_case(value)))
        };
        listed(&self.os, platform.os)
            && listed(&self.arch, platform.arch)
            && self
                .env
                .iter()
                .all(|(name, glob)| (platform.env)(name).is_some_and(|v| glob.matches(&v)))
    }

    /// Whether the rule may skip tests of `source` here.
    fn reaches(&self, source: &str, platform: &Platform) -> bool {
        self.source.as_ref().is_none_or(|g| g.matches(source)) && self.applies_on(platform)
    }

    /// The reason `test` of `source` is skipped here, if this rule skips it.
    pub fn skips(&self, source: &str, test: &TestCase, platform: &Platform) -> Option<String> {
        let hit = self.tests.matches(&test.id) && self.reaches(source, platform);
        hit.then(|| {
            self.reason
                .clone()
                .unwrap_or_else(|| format!("skipped by the rule `{}`", self.tests.as_str()))
        })
    }
}

/// Which tests run here: the configuration's skip rules and the command
/// line's filter, on this machine.
pub struct Selector<'a> {
    skip: &'a [SkipRule],
    filter: Option<&'a Filter>,
    platform: Platform<'static>,
}

/// A source's tests, sorted.
#[derive(Default)]
pub struct Selection {
    pub run: Vec<TestCase>,
    pub skipped: Vec<Skipped>,
    pub filtered_out: usize,
}

/// A test that will not run, and why.
pub struct Skipped {
    pub test: TestCase,
    pub reason: String,
    /// A skip rule of the configuration skips it, whatever its framework
    /// would do: it was never selected.
    pub by_rule: bool,
}

impl<'a> Selector<'a> {
    pub fn new(skip: &'a [SkipRule], filter: Option<&'a Filter>) -> Self {
        Self {
            skip,
            filter,
            platform: Platform::current(),
        }
    }

    /// Sorts tests of `source` into those to run, those skipped and the
    /// number the filter left out. A case that expands into tests not yet
    /// known runs unless the filter rules out its whole source.
    pub fn select(&self, source: &str, mut tests: Vec<TestCase>) -> Selection {
        // Sorted where they lie: those to run stay in the list they came
        // in, which may hold many thousand, rather than fill a second one.
        let filtered_out = (tests.extract_if(.., |test| !self.wanted(source, test))).count();
        let mut reasons = Vec::new();
        let skipped: Vec<TestCase> = (tests.extract_if(.., |test| {
            match self.skip_reason(source, test) {
                Some(reason) => reasons.push(reason),
                None => return false,
            }
            true
        }))
        .collect();
        let skipped = (skipped.into_iter().zip(reasons))
            .map(|(test, (reason, by_rule))| Skipped {
                test,
                reason,
                by_rule,
            })
            .collect();
        Selection {
            run: tests,
            skipped,
            filtered_out,
        }
    }

    /// Whether the filter keeps `test`.
    fn wanted(&self, source: &str, test: &TestCase) -> bool {
        match self.filter {
            None => true,
            Some(filter) if test.expands => filter.for_source(source) != Some(false),
            Some(filter) => filter.matches(source, test),
        }
    }

    /// Why `test` is skipped, and whether a skip rule of the configuration
    /// says so (rather than its framework).
    fn skip_reason(&self, source: &str, test: &TestCase) -> Option<(String, bool)> {
        let rule = (self.skip.iter()).find_map(|rule| rule.skips(source, test, &self.platform));
        let by_rule = rule.is_some();
        rule.or_else(|| test.skip.clone())
            .map(|reason| (reason, by_rule))
    }

    /// Whether every test of `source` runs, whatever its tests are: neither
    /// the filter nor a skip rule can tell them apart here.
    pub fn takes_whole(&self, source: &str) -> bool {
        self.filter
            .is_none_or(|f| f.for_source(source) == Some(true))
            && !self.skip.iter().any(|r| r.reaches(source, &self.platform))
    }
}

/// A `--filter` expression:
///
/// ```text
/// expr    := and ( ("or" | "|") and )*
/// and     := unary ( ("and" | "&") unary )*
/// unary   := ("not" | "!") unary | "(" expr ")" | matcher
/// matcher := "test(" GLOB ")" | "name(" GLOB ")" | "source(" GLOB ")"
///          | "attr(" KEY ")" | "attr(" KEY "=" GLOB ")"
/// ```
///
/// `test` matches the test id, `name` the runner's display name.
#[derive(Debug, Clone)]
pub enum Filter {
    Test(Glob),
    Name(Glob),
    Source(Glob),
    Attribute(String, Option<Glob>),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

impl Filter {
    pub fn matches(&self, source: &str, test: &TestCase) -> bool {
        match self {
            Filter::Test(glob) => glob.matches(&test.id),
            Filter::Name(glob) => glob.matches(&test.name),
            Filter::Source(glob) => glob.matches(source),
            Filter::Attribute(key, value) => test
                .attributes
                .get(key)
                .is_some_and(|v| value.as_ref().is_none_or(|glob| glob.matches(v))),
            Filter::Not(inner) => !inner.matches(source, test),
            Filter::And(a, b) => a.matches(source, test) && b.matches(source, test),
            Filter::Or(a, b) => a.matches(source, test) || b.matches(source, test),
        }
    }

    /// Whether the filter takes every test of `source` (`Some(true)`), none
    /// (`Some(false)`), or it depends on the test (`None`).
    pub fn for_source(&self, source: &str) -> Option<bool> {
        match self {
            Filter::Source(glob) => Some(glob.matches(source)),
            Filter::Test(_) | Filter::Name(_) | Filter::Attribute(..) => None,
            Filter::Not(inner) => inner.for_source(source).map(|v| !v),
            Filter::And(a, b) => match (a.for_source(source), b.for_source(source)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Filter::Or(a, b) => match (a.for_source(source), b.for_source(source)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }

    /// Parses an expression; an error names the column (1-based) and what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser {
            text,
            at: 0,
            depth: 0,
        };
        let filter = parser.or()?;
        parser.skip_space();
        if parser.at < text.len() {
            return Err(parser.error("`and`, `or` or the end of the expression"));
        }
        Ok(filter)
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    /// How many `not` and `(` enclose the parser's place.
    depth: usize,
}

/// The deepest an expression nests; far past what anyone writes.
const MAX_DEPTH: usize = 100;

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn error(&self, expected: &str) -> String {
        let column = self.text[..self.at].chars().count() + 1;
        match self.rest().chars().next() {
            Some(found) => format!("column {column}: expected {expected}, found `{found}`"),
            None => format!("column {column}: expected {expected}, found the end"),
        }
    }

    /// Consumes `symbol`, or `word` when it stands alone.
    fn operator(&mut self, symbol: &str, word: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(symbol) {
            self.at += symbol.len();
            return true;
        }
        let Some(after) = self.rest().strip_prefix(word) else {
            return false;
        };
        let ends = (after.chars().next()).is_none_or(|c| !c.is_alphanumeric() && c != '_');
        if ends {
            self.at += word.len();
            return true;
        }
        false
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.operator("|", "or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.operator("&", "and") {
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.operator("!", "not") {
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.skip_space();
        if self.rest().starts_with('(') {
            self.nest()?;
            self.at += 1;
            let inner = self.or()?;
            self.depth -= 1;
            self.skip_space();
            if !self.rest().starts_with(')') {
                return Err(self.error("`)`"));
            }
            self.at += 1;
            return Ok(inner);
        }
        self.matcher()
    }

    /// One level deeper, within [`MAX_DEPTH`]: the parser recurses, and
    /// an expression of a million `(` must not exhaust its stack.
    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        match self.depth > MAX_DEPTH {
            true => Err(self.error(&format!("at most {MAX_DEPTH} nested `not` and `(`"))),
            false => Ok(()),
        }
    }

    fn matcher(&mut self) -> Result<Filter, String> {
        const MATCHERS: &str = "`test(..)`, `name(..)`, `source(..)`, `attr(..)`, `not` or `(`";
        let word_len = self
            .rest()
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(self.rest().len());
        let word = &self.rest()[..word_len];
        if !matches!(word, "test" | "name" | "source" | "attr") {
            return Err(self.error(MATCHERS));
        }
        let word = word.to_owned();
        self.at += word_len;
        if !self.rest().starts_with('(') {
            return Err(self.error(&format!("`(` after `{word}`")));
        }
        self.at += 1;
        let argument_at = self.at;
        let Some(length) = self.rest().find(')') else {
            return Err(self.error("an argument closed by `)`"));
        };
        let argument = self.rest()[..length].trim().to_owned();
        self.at += length + 1;
        let glob = |text: &str| {
            Glob::new(text).map_err(|e| {
                let column = self.text[..argument_at].chars().count() + 1;
                format!("column {column}: {e}")
            })
        };
        Ok(match word.as_str() {
            "test" => Filter::Test(glob(&argument)?),
            "name" => Filter::Name(glob(&argument)?),
            "source" => Filter::Source(glob(&argument)?),
            _ => match argument.split_once('=') {
                Some((key, value)) => {
                    Filter::Attribute(key.trim().to_owned(), Some(glob(value.trim())?))
                }
                None => Filter::Attribute(argument, None),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(id: &str, attributes: &[(&str, &str)]) -> TestCase {
        TestCase {
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..TestCase::new(id)
        }
    }

    fn selects(expression: &str, id: &str) -> bool {
        let filter = Filter::parse(expression).unwrap();
        filter.matches("unit", &test(id, &[("kind", "slow"), ("tier", "1")]))
    }

    #[test]
    fn expressions_combine_with_precedence() {
        assert!(selects("test(net::*)", "net::connect"));
        assert!(!selects("test(net::*)", "fs::read"));
        assert!(selects(
            "test(fs::*) or test(net::*) and attr(kind=slow)",
            "fs::read"
        ));
        assert!(!selects(
            "(test(fs::*) or test(net::*)) and not attr(kind)",
            "fs::read"
        ));
        assert!(selects("!source(integration) & attr(tier = 1)", "x"));
        assert!(
            Filter::parse("notest(x)").is_err(),
            "`not` is a word, not a prefix"
        );
    }

    #[test]
    fn a_source_is_taken_whole_only_when_no_test_matters() {
        let for_source = |expression: &str| Filter::parse(expression).unwrap().for_source("py");
        assert_eq!(for_source("source(py*)"), Some(true));
        assert_eq!(for_source("source(go)"), Some(false));
        assert_eq!(for_source("source(py) and test(a*)"), None);
        assert_eq!(for_source("source(go) and test(a*)"), Some(false));
        assert_eq!(for_source("source(py) or test(a*)"), Some(true));
        assert_eq!(for_source("not source(py) or test(a*)"), None);

        let rules: Vec<SkipRule> =
            serde_json::from_str(r#"[{"tests": "slow_*", "source": "go"}]"#).unwrap();
        let filter = Filter::parse("source(py) or source(go)").unwrap();
        let selector = Selector::new(&rules, Some(&filter));
        assert!(selector.takes_whole("py"));
        assert!(!selector.takes_whole("go"), "a skip rule reaches it");
        let expanding = TestCase {
            expands: true,
            ..test("whole", &[])
        };
        let filter = Filter::parse("source(py) and test(a*)").unwrap();
        let selector = Selector::new(&[], Some(&filter));
        assert_eq!(selector.select("py", vec![expanding.clone()]).run.len(), 1);
        assert_eq!(selector.select("go", vec![expanding]).filtered_out, 1);
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_not_an_overflow() {
        let deep = |n| format!("{}test(a){}", "(".repeat(n), ")".repeat(n));
        assert!(Filter::parse(&deep(MAX_DEPTH)).is_ok());
        let error = Filter::parse(&deep(1_000_000)).unwrap_err();
        assert_eq!(
            error,
            "column 101: expected at most 100 nested `not` and `(`, found `(`"
        );
        let nots = format!("{}test(a)", "not ".repeat(1_000_000));
        assert!(Filter::parse(&nots)
            .unwrap_err()
            .contains("at most 100 nested"));
        let siblings = vec!["test(a)"; 10_000].join(" or ");
        assert!(Filter::parse(&siblings).is_ok(), "only nesting is limited");
    }

    #[test]
    fn a_word_followed_by_a_wide_character_is_read_without_a_panic() {
        let error = Filter::parse("n\u{fffd}ot (source(x))").unwrap_err();
        assert!(error.starts_with("column 1: expected"), "{error}");
        assert!(Filter::parse("test(é) or notè").is_err());
    }

    #[test]
    fn parse_errors_name_the_column_and_the_expectation() {
        let error = Filter::parse("test(a) and").unwrap_err();
        assert!(error.starts_with("column 12: expected"), "{error}");
        let error = Filter::parse("tests(a)").unwrap_err();
        assert!(error.contains("column 1: expected `test(..)`"), "{error}");
        let error = Filter::parse("test(a) test(b)").unwrap_err();
        assert!(error.contains("column 9"), "{error}");
        let error = Filter::parse("(test(a)").unwrap_err();
        assert!(error.contains("expected `)`"), "{error}");
        let error = Filter::parse("test([a)").unwrap_err();
        assert!(error.contains("column 6: invalid glob"), "{error}");
    }

    #[test]
    fn skip_rules_apply_only_on_their_platforms() {
        let rule: SkipRule = serde_json::from_str(
            r#"{"tests": "net::*", "os": ["linux"], "env": {"MACHINE_CLASS": "arm-*"}}"#,
        )
        .unwrap();
        let arm = |name: &str| (name == "MACHINE_CLASS").then(|| "arm-small".to_owned());
        let x86 = |name: &str| (name == "MACHINE_CLASS").then(|| "x86".to_owned());
        fn on<'a>(os: &'a str, env: &'a dyn Fn(&str) -> Option<String>) -> Platform<'a> {
            Platform {
                os,
                arch: "aarch64",
                env,
            }
        }
        let case = test("net::connect", &[]);
        assert!(rule.skips("unit", &case, &on("linux", &arm)).is_some());
        assert!(rule.skips("unit", &case, &on("linux", &x86)).is_none());
        assert!(rule.skips("unit", &case, &on("windows", &arm)).is_none());
        assert!(rule
            .skips("unit", &test("fs::read", &[]), &on("linux", &arm))
            .is_none());
    }
}
