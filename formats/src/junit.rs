//! JUnit XML. There is no one schema. Reading takes what the common writers
//! produce: `<testsuites>` or a lone `<testsuite>`, suites nested in
//! suites, `<failure>`/`<error>`/`<skipped>` children, `system-out`/`system-err`
//! per case, and GoogleTest's `status="notrun"` and `result="skipped"`.
//! Writing follows the dialect of Jenkins' xUnit plugin (`junit-10.xsd`),
//! which Jenkins, GitLab and Azure DevOps read: earlier attempts of a retried
//! test are Maven Surefire's `flakyFailure`/`flakyError` (it passed in the
//! end) or `rerunFailure`/`rerunError` (it did not), which carry no time.

use std::borrow::Cow;
use std::io::Write;

use proctor_plugin_api::messages::Outcome;

use super::xml::{XmlResult, XmlWriter};
use super::{text_of, CaseResult, FormatError};

pub fn read(xml: &str) -> Result<Vec<CaseResult>, FormatError> {
    Ok(read_document(&crate::parse_document(xml)?))
}

pub(crate) fn read_document(document: &roxmltree::Document) -> Vec<CaseResult> {
    document
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(read_case)
        .collect()
}

fn child<'a, 'i>(case: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    case.children().find(|n| n.has_tag_name(tag))
}

fn read_case(case: roxmltree::Node) -> CaseResult {
    let failure = child(case, "failure").or_else(|| child(case, "error"));
    let skipped = child(case, "skipped");
    let not_run = matches!(case.attribute("status"), Some("notrun"))
        || matches!(case.attribute("result"), Some("skipped" | "suppressed"));
    let (outcome, detail_node) = match (failure, skipped) {
        (Some(node), _) => (Outcome::Failed, Some(node)),
        (None, Some(node)) => (Outcome::Skipped, Some(node)),
        (None, None) if not_run => (Outcome::Skipped, None),
        (None, None) => (Outcome::Passed, None),
    };
    let message = detail_node
        .and_then(|n| n.attribute("message"))
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let details = detail_node.and_then(text_of);
    let suite = case
        .ancestors()
        .find(|n| n.has_tag_name("testsuite"))
        .and_then(|n| n.attribute("name"))
        .unwrap_or_default();
    CaseResult {
        suite: suite.to_owned(),
        classname: case.attribute("classname").unwrap_or_default().to_owned(),
        name: case.attribute("name").unwrap_or_default().to_owned(),
        outcome,
        duration_ms: case
            .attribute("time")
            .and_then(|t| t.replace(',', "").parse::<f64>().ok())
            .map(|seconds| (seconds * 1000.0).round() as u64),
        message: message.or_else(|| {
            details
                .as_deref()
                .and_then(|d| d.lines().next())
                .map(str::to_owned)
        }),
        details,
        stdout: child(case, "system-out").and_then(text_of),
        stderr: child(case, "system-err").and_then(text_of),
    }
}

/// How a case or one of its earlier attempts did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// An assertion failed.
    Failure,
    /// It could not run to its end: a timeout, a crash, something blocking it.
    Error,
    Skipped,
}

/// A `<failure>`, `<error>` or `<skipped>` element, or an earlier attempt.
#[derive(Debug, Clone)]
pub struct Problem<'a> {
    pub kind: ProblemKind,
    /// What kind of failure, e.g. `timed_out`.
    pub type_: &'a str,
    pub message: Option<Cow<'a, str>>,
    /// The stack trace or the failure's whole text.
    pub details: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone)]
pub struct JunitCase<'a> {
    pub name: &'a str,
    pub classname: &'a str,
    pub time_ms: u64,
    /// `None` when it passed.
    pub problem: Option<Problem<'a>>,
    /// Its earlier attempts, oldest first; each failed or errored.
    pub reruns: Vec<Problem<'a>>,
}

/// A suite, its cases made as they are written: a report of many
/// thousand cases holds none of them whole. `cases` is gone through twice,
/// to count them first (the counts head the suite), then to write them.
#[derive(Debug, Clone)]
pub struct JunitSuite<'a, Cases> {
    pub name: &'a str,
    pub time_ms: u64,
    pub properties: Vec<(&'a str, &'a str)>,
    pub cases: Cases,
    pub system_err: Option<&'a str>,
}

impl Problem<'_> {
    /// Its element's attributes: its type, and its message when it has one.
    fn attributes(&self) -> Vec<(&str, &str)> {
        let mut attributes = vec![("type", self.type_)];
        attributes.extend(self.message.as_deref().map(|m| ("message", m)));
        attributes
    }
}

/// The counts a suite's attributes declare: tests, failures, errors, skipped.
fn counts<'a>(cases: impl Iterator<Item = JunitCase<'a>>) -> [usize; 4] {
    let mut counts = [0; 4];
    for case in cases {
        counts[0] += 1;
        match case.problem.map(|p| p.kind) {
            Some(ProblemKind::Failure) => counts[1] += 1,
            Some(ProblemKind::Error) => counts[2] += 1,
            Some(ProblemKind::Skipped) => counts[3] += 1,
            None => {}
        }
    }
    counts
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Writes a JUnit report of `suites`.
pub fn write<'a, Cases>(
    name: &str,
    time_ms: u64,
    suites: &[JunitSuite<'a, Cases>],
    out: impl Write,
) -> XmlResult
where
    Cases: Iterator<Item = JunitCase<'a>> + Clone,
{
    let mut xml = XmlWriter::new(out)?;
    let counts: Vec<[usize; 4]> = (suites.iter())
        .map(|suite| counts(suite.cases.clone()))
        .collect();
    let mut total = [0usize; 4];
    for suite in &counts {
        for (sum, count) in total.iter_mut().zip(suite) {
            *sum += count;
        }
    }
    let [tests, failures, errors, _] = total.map(|n| n.to_string());
    let time = seconds(time_ms);
    xml.open(
        "testsuites",
        &[
            ("name", name),
            ("tests", &tests),
            ("failures", &failures),
            ("errors", &errors),
            ("time", &time),
        ],
    )?;
    for (suite, counts) in suites.iter().zip(counts) {
        write_suite(&mut xml, suite, counts)?;
    }
    xml.close("testsuites")?;
    xml.finish()?;
    Ok(())
}

fn write_suite<'a>(
    xml: &mut XmlWriter<impl Write>,
    suite: &JunitSuite<'a, impl Iterator<Item = JunitCase<'a>> + Clone>,
    counts: [usize; 4],
) -> XmlResult {
    let [tests, failures, errors, skipped] = counts.map(|n| n.to_string());
    let time = seconds(suite.time_ms);
    xml.open(
        "testsuite",
        &[
            ("name", suite.name),
            ("tests", &tests),
            ("failures", &failures),
            ("errors", &errors),
            ("skipped", &skipped),
            ("time", &time),
        ],
    )?;
    if !suite.properties.is_empty() {
        xml.open("properties", &[])?;
        for (name, value) in &suite.properties {
            xml.empty("property", &[("name", name), ("value", value)])?;
        }
        xml.close("properties")?;
    }
    for case in suite.cases.clone() {
        write_case(xml, &case)?;
    }
    if let Some(text) = suite.system_err {
        xml.text_element("system-err", &[], text)?;
    }
    xml.close("testsuite")
}

fn write_case(xml: &mut XmlWriter<impl Write>, case: &JunitCase) -> XmlResult {
    let time = seconds(case.time_ms);
    let attributes = [
        ("name", case.name),
        ("classname", case.classname),
        ("time", time.as_str()),
    ];
    if case.problem.is_none() && case.reruns.is_empty() {
        return xml.empty("testcase", &attributes);
    }
    xml.open("testcase", &attributes)?;
    if let Some(problem) = &case.problem {
        let tag = match problem.kind {
            ProblemKind::Failure => "failure",
            ProblemKind::Error => "error",
            ProblemKind::Skipped => "skipped",
        };
        xml.element(tag, &problem.attributes(), problem.details.as_deref())?;
    }
    // Earlier attempts of a test that passed in the end were flaky.
    let flaky = case.problem.is_none();
    for rerun in &case.reruns {
        let tag = match (flaky, rerun.kind) {
            (true, ProblemKind::Failure) => "flakyFailure",
            (true, _) => "flakyError",
            (false, ProblemKind::Failure) => "rerunFailure",
            (false, _) => "rerunError",
        };
        let attributes = rerun.attributes();
        match rerun.details.as_deref() {
            Some(details) => {
                xml.open(tag, &attributes)?;
                xml.text_element("stackTrace", &[], details)?;
                xml.close(tag)?;
            }
            None => xml.empty(tag, &attributes)?,
        }
    }
    xml.close("testcase")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pytest_output() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="0.05"><testcase classname="tests.test_a" name="test_ok[1]" time="0.001" /><testcase classname="tests.test_a.TestC" name="test_bad" time="0.012"><failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2
E       assert 1 == 2</failure><system-out>printed</system-out></testcase><testcase classname="tests.test_a" name="test_skip" time="0.000"><skipped type="pytest.skip" message="not today">tests/test_a.py:9: not today</skipped></testcase></testsuite></testsuites>"#;
        let cases = read(xml).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].outcome, Outcome::Passed);
        assert_eq!(cases[0].qualified_name(), "tests.test_a.test_ok[1]");
        assert_eq!(cases[1].outcome, Outcome::Failed);
        assert_eq!(cases[1].message.as_deref(), Some("assert 1 == 2"));
        assert!(cases[1]
            .details
            .as_deref()
            .unwrap()
            .contains(">       assert 1 == 2"));
        assert_eq!(cases[1].stdout.as_deref(), Some("printed"));
        assert_eq!(cases[1].duration_ms, Some(12));
        assert_eq!(cases[2].outcome, Outcome::Skipped);
        assert_eq!(cases[2].message.as_deref(), Some("not today"));
    }

    #[test]
    fn reads_googletest_output() {
        let xml = r#"<testsuites tests="3"><testsuite name="Math" tests="3"><testcase name="Adds" file="m.cc" line="3" status="run" result="completed" time="0." timestamp="2026-01-01T00:00:00" classname="Math" /><testcase name="DISABLED_Later" status="notrun" result="suppressed" time="0" classname="Math" /><testcase name="Fails" status="run" result="completed" time="0.001" classname="Math"><failure message="m.cc:9&#x0A;Expected equality" type=""><![CDATA[m.cc:9
Expected equality]]></failure></testcase></testsuite></testsuites>"#;
        let cases = read(xml).unwrap();
        assert_eq!(cases[0].qualified_name(), "Math.Adds");
        assert_eq!(cases[0].suite, "Math");
        assert_eq!(cases[0].duration_ms, Some(0));
        assert_eq!(cases[1].outcome, Outcome::Skipped);
        assert_eq!(cases[2].outcome, Outcome::Failed);
        assert_eq!(
            cases[2].details.as_deref(),
            Some("m.cc:9\nExpected equality")
        );
    }

    #[test]
    fn a_lone_suite_and_errors_read_too() {
        let xml = r#"<testsuite name="s"><testcase name="t"><error message="boom"/></testcase></testsuite>"#;
        let cases = read(xml).unwrap();
        assert_eq!(cases[0].outcome, Outcome::Failed);
        assert_eq!(cases[0].message.as_deref(), Some("boom"));
        assert!(read("<testsuite>").is_err());
    }
}
