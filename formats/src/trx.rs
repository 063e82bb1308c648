//! Visual Studio test results (TRX), the format `dotnet test --logger trx`
//! writes and Azure DevOps reads.
//!
//! A TRX file holds test definitions (`UnitTest`, one per test), results
//! (`UnitTestResult`, one per execution: a retried test has one per attempt,
//! each with its own execution id), entries linking the two, and a summary.

use std::io::Write;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use uuid::Uuid;

use proctor_plugin_api::messages::Outcome;

use super::{text_of, CaseResult, FormatError};

const NAMESPACE: &str = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
/// The test type of unit tests, a constant of the format.
const UNIT_TEST_TYPE: &str = "13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b";
/// The list every result belongs to, a constant of the format.
const RESULTS_NOT_IN_A_LIST: &str = "8c84fa94-04c1-424b-9868-57a2d4851a1d";
const ALL_LOADED_RESULTS: &str = "19431567-8539-422a-85d7-44ee4e166bda";
/// Names ids derived from test names, so they are stable across runs.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x5a1e_07c7_9b0e_4c0f_a3f6_7c2b_1d4e_8f90);

pub fn read(xml: &str) -> Result<Vec<CaseResult>, FormatError> {
    read_document(&roxmltree::Document::parse(xml)?)
}

pub(crate) fn read_document(
    document: &roxmltree::Document,
) -> Result<Vec<CaseResult>, FormatError> {
    // The class and assembly of each test live in its definition, found by test id.
    let definitions: std::collections::HashMap<&str, (&str, &str)> = document
        .descendants()
        .filter(|n| n.has_tag_name("UnitTest"))
        .filter_map(|test| {
            let method = test.children().find(|n| n.has_tag_name("TestMethod"))?;
            let storage = test.attribute("storage").unwrap_or_default();
            let assembly = storage.rsplit(['/', '\\']).next().unwrap_or_default();
            Some((
                test.attribute("id")?,
                (method.attribute("className")?, assembly),
            ))
        })
        .collect();
    document
        .descendants()
        .filter(|n| n.has_tag_name("UnitTestResult"))
        .map(|result| {
            let name = result
                .attribute("testName")
                .ok_or_else(|| FormatError("a UnitTestResult has no testName".into()))?;
            let find = |tag: &str| result.descendants().find(|n| n.has_tag_name(tag));
            let outcome = match result.attribute("outcome").unwrap_or("Passed") {
                "Passed" | "PassedButRunAborted" | "Warning" => Outcome::Passed,
                "Failed" | "Error" => Outcome::Failed,
                "Timeout" => Outcome::TimedOut,
                "Aborted" => Outcome::Crashed,
                _ => Outcome::Skipped,
            };
            let (classname, suite) = result
                .attribute("testId")
                .and_then(|id| definitions.get(id))
                .map(|(class, assembly)| (class.to_string(), assembly.to_string()))
                .unwrap_or_default();
            // A name that already starts with the class is the full name.
            let name = name
                .strip_prefix(&format!("{classname}."))
                .unwrap_or(name)
                .to_owned();
            Ok(CaseResult {
                suite,
                classname,
                name,
                outcome,
                duration_ms: result.attribute("duration").and_then(parse_duration_ms),
                message: find("Message").and_then(text_of),
                details: find("StackTrace").and_then(text_of),
                stdout: find("StdOut").and_then(text_of),
                stderr: find("StdErr").and_then(text_of),
            })
        })
        .collect()
}

/// `hh:mm:ss.fffffff` to milliseconds.
fn parse_duration_ms(text: &str) -> Option<u64> {
    let mut parts = text.split(':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    let days_hours: f64 = match hours.split_once('.') {
        Some((days, hours)) => days.parse::<f64>().ok()? * 24.0 + hours.parse::<f64>().ok()?,
        None => hours.parse().ok()?,
    };
    let total =
        days_hours * 3600.0 + minutes.parse::<f64>().ok()? * 60.0 + seconds.parse::<f64>().ok()?;
    Some((total * 1000.0).round() as u64)
}

fn format_duration(ms: u64) -> String {
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    format!("{hours:02}:{minutes:02}:{seconds:02}.{millis:03}0000")
}

/// One attempt of one test, to write.
#[derive(Debug, Clone)]
pub struct TrxResult {
    /// Groups results into tests: every attempt of a test shares it.
    pub test_key: String,
    /// The test's name as displayed.
    pub name: String,
    pub classname: String,
    /// Where the test lives: its source's path.
    pub storage: String,
    pub attempt: u32,
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub start_time: String,
    pub end_time: String,
    pub message: Option<String>,
    pub stack_trace: Option<String>,
    pub stdout: Option<String>,
}

/// TRX's name for an outcome.
fn trx_outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "Passed",
        Outcome::Failed => "Failed",
        Outcome::Skipped | Outcome::Blocked => "NotExecuted",
        Outcome::TimedOut => "Timeout",
        Outcome::Crashed => "Aborted",
    }
}

/// The run as a whole.
pub struct TrxRun<'a> {
    pub name: &'a str,
    pub user: &'a str,
    pub computer: &'a str,
    pub start_time: &'a str,
    pub finish_time: &'a str,
    /// Every attempt of every test, in report order.
    pub results: &'a [TrxResult],
    /// Run-level messages, e.g. infrastructure errors.
    pub errors: &'a [String],
}

fn id(parts: &[&str]) -> String {
    Uuid::new_v5(&ID_NAMESPACE, parts.join("\u{1f}").as_bytes()).to_string()
}

fn execution_id(result: &TrxResult, run_id: &str) -> String {
    id(&[
        "execution",
        &result.test_key,
        &result.attempt.to_string(),
        run_id,
    ])
}

struct Element<'w, W: Write> {
    writer: &'w mut Writer<W>,
}

type XmlResult = Result<(), std::io::Error>;

impl<'w, W: Write> Element<'w, W> {
    fn open(&mut self, name: &str, attributes: &[(&str, &str)]) -> XmlResult {
        let mut start = BytesStart::new(name);
        start.extend_attributes(attributes.iter().copied());
        self.writer.write_event(Event::Start(start))
    }

    fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) -> XmlResult {
        let mut start = BytesStart::new(name);
        start.extend_attributes(attributes.iter().copied());
        self.writer.write_event(Event::Empty(start))
    }

    fn close(&mut self, name: &str) -> XmlResult {
        self.writer.write_event(Event::End(BytesEnd::new(name)))
    }

    fn text(&mut self, name: &str, text: &str) -> XmlResult {
        self.open(name, &[])?;
        self.writer.write_event(Event::Text(BytesText::new(text)))?;
        self.close(name)
    }
}

pub fn write(run: &TrxRun, out: impl Write) -> XmlResult {
    let mut writer = Writer::new_with_indent(out, b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut xml = Element {
        writer: &mut writer,
    };
    let run_id = id(&["run", run.name, run.start_time]);
    xml.open(
        "TestRun",
        &[
            ("id", run_id.as_str()),
            ("name", run.name),
            ("runUser", run.user),
            ("xmlns", NAMESPACE),
        ],
    )?;
    xml.empty(
        "Times",
        &[
            ("creation", run.start_time),
            ("queuing", run.start_time),
            ("start", run.start_time),
            ("finish", run.finish_time),
        ],
    )?;

    xml.open("Results", &[])?;
    for result in run.results {
        let test_id = id(&["test", &result.test_key]);
        let execution_id = execution_id(result, &run_id);
        let duration = format_duration(result.duration_ms);
        let attempt_dir = format!("attempt-{}", result.attempt);
        xml.open(
            "UnitTestResult",
            &[
                ("executionId", execution_id.as_str()),
                ("testId", test_id.as_str()),
                ("testName", result.name.as_str()),
                ("computerName", run.computer),
                ("duration", duration.as_str()),
                ("startTime", result.start_time.as_str()),
                ("endTime", result.end_time.as_str()),
                ("testType", UNIT_TEST_TYPE),
                ("outcome", trx_outcome(result.outcome)),
                ("testListId", RESULTS_NOT_IN_A_LIST),
                ("relativeResultsDirectory", attempt_dir.as_str()),
            ],
        )?;
        let has_error = result.message.is_some() || result.stack_trace.is_some();
        if has_error || result.stdout.is_some() {
            xml.open("Output", &[])?;
            if let Some(stdout) = &result.stdout {
                xml.text("StdOut", stdout)?;
            }
            if has_error {
                xml.open("ErrorInfo", &[])?;
                if let Some(message) = &result.message {
                    xml.text("Message", message)?;
                }
                if let Some(trace) = &result.stack_trace {
                    xml.text("StackTrace", trace)?;
                }
                xml.close("ErrorInfo")?;
            }
            xml.close("Output")?;
        }
        xml.close("UnitTestResult")?;
    }
    xml.close("Results")?;

    // One definition per test, however many attempts it had.
    let mut defined = std::collections::HashSet::new();
    xml.open("TestDefinitions", &[])?;
    for result in run.results.iter().filter(|r| defined.insert(&r.test_key)) {
        let test_id = id(&["test", &result.test_key]);
        let execution_id = execution_id(result, &run_id);
        xml.open(
            "UnitTest",
            &[
                ("name", result.name.as_str()),
                ("storage", result.storage.as_str()),
                ("id", test_id.as_str()),
            ],
        )?;
        xml.empty("Execution", &[("id", execution_id.as_str())])?;
        xml.empty(
            "TestMethod",
            &[
                ("codeBase", result.storage.as_str()),
                ("adapterTypeName", "executor://proctor/"),
                ("className", result.classname.as_str()),
                ("name", result.name.as_str()),
            ],
        )?;
        xml.close("UnitTest")?;
    }
    xml.close("TestDefinitions")?;

    xml.open("TestEntries", &[])?;
    for result in run.results {
        let test_id = id(&["test", &result.test_key]);
        let execution_id = execution_id(result, &run_id);
        xml.empty(
            "TestEntry",
            &[
                ("testId", test_id.as_str()),
                ("executionId", execution_id.as_str()),
                ("testListId", RESULTS_NOT_IN_A_LIST),
            ],
        )?;
    }
    xml.close("TestEntries")?;

    xml.open("TestLists", &[])?;
    xml.empty(
        "TestList",
        &[
            ("name", "Results Not in a List"),
            ("id", RESULTS_NOT_IN_A_LIST),
        ],
    )?;
    xml.empty(
        "TestList",
        &[("name", "All Loaded Results"), ("id", ALL_LOADED_RESULTS)],
    )?;
    xml.close("TestLists")?;

    let count = |outcomes: &[Outcome]| {
        run.results
            .iter()
            .filter(|r| outcomes.contains(&r.outcome))
            .count()
            .to_string()
    };
    let not_executed = count(&[Outcome::Skipped, Outcome::Blocked]);
    let executed = (run.results.len() - not_executed.parse::<usize>().unwrap_or(0)).to_string();
    let total = run.results.len().to_string();
    let failed = run.results.iter().any(|r| r.outcome.is_failure());
    let outcome = if failed || !run.errors.is_empty() {
        "Failed"
    } else {
        "Completed"
    };
    let (passed, failures, timeouts, aborted) = (
        count(&[Outcome::Passed]),
        count(&[Outcome::Failed]),
        count(&[Outcome::TimedOut]),
        count(&[Outcome::Crashed]),
    );
    xml.open("ResultSummary", &[("outcome", outcome)])?;
    xml.empty(
        "Counters",
        &[
            ("total", total.as_str()),
            ("executed", executed.as_str()),
            ("passed", passed.as_str()),
            ("failed", failures.as_str()),
            ("error", "0"),
            ("timeout", timeouts.as_str()),
            ("aborted", aborted.as_str()),
            ("inconclusive", "0"),
            ("passedButRunAborted", "0"),
            ("notRunnable", "0"),
            ("notExecuted", not_executed.as_str()),
            ("disconnected", "0"),
            ("warning", "0"),
            ("completed", "0"),
            ("inProgress", "0"),
            ("pending", "0"),
        ],
    )?;
    if !run.errors.is_empty() {
        xml.open("RunInfos", &[])?;
        for error in run.errors {
            xml.open(
                "RunInfo",
                &[
                    ("computerName", run.computer),
                    ("outcome", "Error"),
                    ("timestamp", run.finish_time),
                ],
            )?;
            xml.text("Text", error)?;
            xml.close("RunInfo")?;
        }
        xml.close("RunInfos")?;
    }
    xml.close("ResultSummary")?;
    xml.close("TestRun")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(n: u32, outcome: Outcome) -> TrxResult {
        TrxResult {
            test_key: "unit/net::connect".into(),
            name: "net::connect".into(),
            classname: "unit".into(),
            storage: "/suite/unit".into(),
            attempt: n,
            outcome,
            duration_ms: 1_234,
            start_time: "2026-11-22T10:00:00.000Z".into(),
            end_time: "2026-11-22T10:00:01.234Z".into(),
            message: (outcome == Outcome::Failed).then(|| "connection reset <&>".into()),
            stack_trace: (outcome == Outcome::Failed).then(|| "at net.rs:3".into()),
            stdout: None,
        }
    }

    #[test]
    fn every_attempt_is_a_result_of_one_test_and_reads_back() {
        let results = [attempt(1, Outcome::Failed), attempt(2, Outcome::Passed)];
        let run = TrxRun {
            name: "proctor run",
            user: "ci",
            computer: "box",
            start_time: "2026-11-22T10:00:00.000Z",
            finish_time: "2026-11-22T10:00:03.000Z",
            results: &results,
            errors: &[],
        };
        let mut out = Vec::new();
        write(&run, &mut out).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert_eq!(xml.matches("<UnitTestResult ").count(), 2);
        assert_eq!(xml.matches("<UnitTest ").count(), 1);
        assert!(xml.contains(r#"duration="00:00:01.2340000""#), "{xml}");
        assert!(xml.contains("connection reset &lt;&amp;&gt;"));
        assert!(xml.contains(r#"<ResultSummary outcome="Failed">"#));

        let read_back = read(&xml).unwrap();
        assert_eq!(read_back.len(), 2);
        assert_eq!(read_back[0].outcome, Outcome::Failed);
        assert_eq!(
            read_back[0].message.as_deref(),
            Some("connection reset <&>")
        );
        assert_eq!(read_back[0].details.as_deref(), Some("at net.rs:3"));
        assert_eq!(read_back[1].outcome, Outcome::Passed);
        assert_eq!(read_back[1].qualified_name(), "unit.net::connect");
        assert_eq!(read_back[1].duration_ms, Some(1234));
    }

    #[test]
    fn durations_convert_both_ways() {
        assert_eq!(parse_duration_ms("00:01:02.5000000"), Some(62_500));
        assert_eq!(parse_duration_ms("1.02:00:00"), Some(26 * 3_600_000));
        assert_eq!(format_duration(62_500), "00:01:02.5000000");
    }
}
