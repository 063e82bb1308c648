//! Reading JUnit XML. There is no one schema; this reads what the common
//! writers produce: `<testsuites>` or a lone `<testsuite>`, suites nested in
//! suites, `<failure>`/`<error>`/`<skipped>` children, `system-out`/`system-err`
//! per case, and GoogleTest's `status="notrun"` and `result="skipped"`.

use proctor_plugin_api::messages::Outcome;

use super::{text_of, CaseResult, FormatError};

pub fn read(xml: &str) -> Result<Vec<CaseResult>, FormatError> {
    Ok(read_document(&roxmltree::Document::parse(xml)?))
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
