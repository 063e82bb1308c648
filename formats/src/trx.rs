//! Visual Studio test results (TRX), the format `dotnet test --logger trx`
//! writes and Azure DevOps reads.
//!
//! A TRX file holds test definitions (`UnitTest`, one per test), results,
//! entries linking the two, and a summary. A test that ran more than once
//! is written as one result with its final outcome, holding each attempt as
//! an inner result (`InnerResults`, each with its own execution id and the
//! outer one as parent): a reader that looks no deeper counts the test once,
//! as the run did. Reading takes results of every kind the schema has, and
//! the tests an aggregation (an ordered test) ran.

use std::io::Write;
use std::sync::Arc;

use uuid::Uuid;

use proctor_plugin_api::messages::Outcome;

use super::xml::{XmlResult, XmlWriter};
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
    read_document(&crate::parse_document(xml)?)
}

/// The elements that hold a result under `Results` (or `InnerResults`).
const RESULT_ELEMENTS: [&str; 5] = [
    "UnitTestResult",
    "TestResultAggregation",
    "GenericTestResult",
    "TestResult",
    "ManualTestResult",
];

fn is_result(node: &roxmltree::Node) -> bool {
    node.is_element() && RESULT_ELEMENTS.contains(&node.tag_name().name())
}

/// The results a result stands for. One whose inner results run other
/// tests (an ordered test, an aggregation) stands for those; one whose
/// inner results are its own attempts or data rows stands for itself.
fn leaves<'a, 'i>(result: roxmltree::Node<'a, 'i>, out: &mut Vec<roxmltree::Node<'a, 'i>>) {
    let inner: Vec<_> = result
        .children()
        .filter(|n| n.has_tag_name("InnerResults"))
        .flat_map(|n| n.children())
        .filter(is_result)
        .collect();
    let own = |n: &roxmltree::Node| n.attribute("testId") == result.attribute("testId");
    if inner.is_empty() || inner.iter().all(own) {
        out.push(result);
    } else {
        for node in inner {
            leaves(node, out);
        }
    }
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
    let mut results = Vec::new();
    for list in document
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("Results"))
    {
        for result in list.children().filter(is_result) {
            leaves(result, &mut results);
        }
    }
    results
        .into_iter()
        .map(|result| {
            let element = result.tag_name().name();
            let name = result
                .attribute("testName")
                .ok_or_else(|| FormatError(format!("a {element} has no testName")))?;
            // The result's own output, not its inner results'.
            let output = result.children().find(|n| n.has_tag_name("Output"));
            let find = |tag: &str| output?.descendants().find(|n| n.has_tag_name(tag));
            let outcome = match result.attribute("outcome").unwrap_or("Passed") {
                "Passed" | "PassedButRunAborted" | "Warning" | "Completed" => Outcome::Passed,
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
                earlier_runs: Vec::new(),
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

/// How an execution of a test ended, in the outcomes every TRX reader
/// knows. Timeouts and crashes are `Failed`: readers that look for
/// `Failed` alone (Helix's among them) would read `Timeout` or `Aborted`
/// as a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrxOutcome {
    Passed,
    Failed,
    /// Skipped, or kept from running.
    NotExecuted,
    /// Ran, but its result does not count: a quarantined failure.
    Inconclusive,
}

impl TrxOutcome {
    fn as_str(self) -> &'static str {
        match self {
            TrxOutcome::Passed => "Passed",
            TrxOutcome::Failed => "Failed",
            TrxOutcome::NotExecuted => "NotExecuted",
            TrxOutcome::Inconclusive => "Inconclusive",
        }
    }
}

/// One execution of a test. Texts are borrowed from the records the
/// report is made from: a run's every test is held once, not twice.
#[derive(Debug, Clone)]
pub struct TrxExecution<'a> {
    pub outcome: TrxOutcome,
    pub duration_ms: u64,
    /// Shared by the executions that started together (a batch's tests).
    pub start_time: Arc<str>,
    pub end_time: String,
    pub message: Option<&'a str>,
    pub stack_trace: Option<&'a str>,
    pub stdout: Option<&'a str>,
}

/// One test, to write: its final result and, when it ran more than once,
/// each attempt, which become the result's `InnerResults`.
#[derive(Debug, Clone)]
pub struct TrxResult<'a> {
    /// The test's name as displayed; with its class, it names the test
    /// stably from run to run.
    pub name: &'a str,
    pub classname: &'a str,
    /// Where the test lives: its source's path.
    pub storage: &'a str,
    pub result: TrxExecution<'a>,
    /// Every attempt, oldest first, when there was more than one.
    pub attempts: Vec<TrxExecution<'a>>,
}

/// The run as a whole. Its results are made as they are written: a report
/// of many thousand tests holds none of them whole.
pub struct TrxRun<'a, Results> {
    pub name: &'a str,
    pub user: &'a str,
    pub computer: &'a str,
    pub start_time: &'a str,
    pub finish_time: &'a str,
    /// Whether the run failed: the summary says so whatever its results say.
    pub failed: bool,
    /// Every test, in report order: gone through twice, for the results
    /// and for the tests' definitions.
    pub results: Results,
    /// Run-level messages, e.g. infrastructure errors.
    pub errors: &'a [String],
}

/// Joins the names a GUID is derived from.
const UNIT_SEPARATOR: u8 = 0x1f;

/// A GUID derived from names: the same names, the same id, run after run.
#[derive(Clone, Copy)]
struct Id {
    uuid: Uuid,
    text: [u8; uuid::fmt::Hyphenated::LENGTH],
}

impl Id {
    /// The id of `parts`, joined by the unit separator into `scratch`.
    fn of(parts: &[&str], scratch: &mut Vec<u8>) -> Self {
        scratch.clear();
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                scratch.push(UNIT_SEPARATOR);
            }
            scratch.extend_from_slice(part.as_bytes());
        }
        Self::from(Uuid::new_v5(&ID_NAMESPACE, scratch))
    }

    fn from(uuid: Uuid) -> Self {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        uuid.hyphenated().encode_lower(&mut text);
        Self { uuid, text }
    }

    /// Another id, made of this one and `salt` without a hash: one salt
    /// keeps distinct ids distinct. A hash is a test's largest cost in
    /// this report, so a run's executions take their test's id salted by
    /// the run's, one hash a test.
    fn salted(self, salt: Id) -> Self {
        Self::from(Uuid::from_u128(self.uuid.as_u128() ^ salt.uuid.as_u128()))
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("a GUID is ASCII")
    }
}

/// The ids of one test's results.
struct Ids {
    test: Id,
    /// The top-level result's.
    execution: Id,
}

impl Ids {
    /// `executions` salts the test's id into its execution's in this run.
    fn of(result: &TrxResult, executions: Id, scratch: &mut Vec<u8>) -> Self {
        let test = Id::of(&["test", result.classname, result.name], scratch);
        Self::of_test(test, executions)
    }

    /// The ids of the test whose id is `test`, made without a hash.
    fn of_test(test: Id, executions: Id) -> Self {
        Self {
            test,
            execution: test.salted(executions),
        }
    }

    /// The execution id of the test's `attempt`-th attempt in run `run_id`.
    fn attempt(test: Id, attempt: usize, run_id: &str, scratch: &mut Vec<u8>) -> Id {
        test.salted(Id::of(&["attempt", &attempt.to_string(), run_id], scratch))
    }
}

/// How many results ended each way, for the summary.
#[derive(Default)]
struct Tally {
    total: usize,
    passed: usize,
    failed: usize,
    inconclusive: usize,
    not_executed: usize,
}

impl Tally {
    fn count(&mut self, outcome: TrxOutcome) {
        self.total += 1;
        *match outcome {
            TrxOutcome::Passed => &mut self.passed,
            TrxOutcome::Failed => &mut self.failed,
            TrxOutcome::Inconclusive => &mut self.inconclusive,
            TrxOutcome::NotExecuted => &mut self.not_executed,
        } += 1;
    }
}

pub fn write<'a, Results>(run: &TrxRun<'a, Results>, out: impl Write) -> XmlResult
where
    Results: Iterator<Item = TrxResult<'a>> + Clone,
{
    let mut xml = XmlWriter::new(out)?;
    let mut scratch = Vec::new();
    let run_id = Id::of(&["run", run.name, run.start_time], &mut scratch);
    let run_id = run_id.as_str();
    xml.open(
        "TestRun",
        &[
            ("id", run_id),
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

    // A test's id is hashed once for the three places it goes, and kept
    // as its number alone; its execution's is made from it without a hash.
    let executions = Id::of(&["execution", run_id], &mut scratch);
    let mut tests = Vec::new();
    let mut tally = Tally::default();
    xml.open("Results", &[])?;
    for result in run.results.clone() {
        let ids = Ids::of(&result, executions, &mut scratch);
        tests.push(ids.test.uuid);
        tally.count(result.result.outcome);
        let attributes = ResultAttributes {
            computer: run.computer,
            result: &result,
            test_id: ids.test.as_str(),
        };
        // A test that ran more than once is its final result holding each
        // attempt: readers that do not look inside count it once, as the run did.
        attributes.open(&mut xml, &result.result, ids.execution.as_str(), None)?;
        if !result.attempts.is_empty() {
            xml.open("InnerResults", &[])?;
            for (index, attempt) in result.attempts.iter().enumerate() {
                let execution = Ids::attempt(ids.test, index + 1, run_id, &mut scratch);
                let directory = format!("attempt-{}", index + 1);
                let inner = (ids.execution.as_str(), directory.as_str());
                attributes.open(&mut xml, attempt, execution.as_str(), Some(inner))?;
                xml.close("UnitTestResult")?;
            }
            xml.close("InnerResults")?;
        }
        xml.close("UnitTestResult")?;
    }
    xml.close("Results")?;
    let ids = |test: &Uuid| Ids::of_test(Id::from(*test), executions);

    // One definition per test.
    xml.open("TestDefinitions", &[])?;
    for (result, test) in run.results.clone().zip(&tests) {
        let Ids { test, execution } = ids(test);
        xml.open(
            "UnitTest",
            &[
                ("name", result.name),
                ("storage", result.storage),
                ("id", test.as_str()),
            ],
        )?;
        xml.empty("Execution", &[("id", execution.as_str())])?;
        xml.empty(
            "TestMethod",
            &[
                ("codeBase", result.storage),
                ("adapterTypeName", "executor://proctor/"),
                ("className", result.classname),
                ("name", result.name),
            ],
        )?;
        xml.close("UnitTest")?;
    }
    xml.close("TestDefinitions")?;

    xml.open("TestEntries", &[])?;
    for test in &tests {
        let Ids { test, execution } = ids(test);
        xml.empty(
            "TestEntry",
            &[
                ("testId", test.as_str()),
                ("executionId", execution.as_str()),
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
    write_summary(&mut xml, run, &tally)?;
    xml.close("TestRun")?;
    xml.finish()?;
    Ok(())
}

/// What the `UnitTestResult`s of one test share.
struct ResultAttributes<'a> {
    computer: &'a str,
    result: &'a TrxResult<'a>,
    test_id: &'a str,
}

impl ResultAttributes<'_> {
    /// A result's element and its output, left open. `inner` is the id of
    /// the result holding it and its directory, for an attempt.
    fn open(
        &self,
        xml: &mut XmlWriter<impl Write>,
        execution: &TrxExecution,
        execution_id: &str,
        inner: Option<(&str, &str)>,
    ) -> XmlResult {
        let duration = format_duration(execution.duration_ms);
        let (parent, directory) = inner.unwrap_or_default();
        let attributes = [
            ("executionId", execution_id),
            ("testId", self.test_id),
            ("testName", self.result.name),
            ("computerName", self.computer),
            ("duration", duration.as_str()),
            ("startTime", &execution.start_time),
            ("endTime", execution.end_time.as_str()),
            ("testType", UNIT_TEST_TYPE),
            ("outcome", execution.outcome.as_str()),
            ("testListId", RESULTS_NOT_IN_A_LIST),
            ("parentExecutionId", parent),
            ("relativeResultsDirectory", directory),
        ];
        let own = match inner {
            Some(_) => &attributes[..],
            None => &attributes[..attributes.len() - 2],
        };
        xml.open("UnitTestResult", own)?;
        let has_error = execution.message.is_some() || execution.stack_trace.is_some();
        if !(has_error || execution.stdout.is_some()) {
            return Ok(());
        }
        xml.open("Output", &[])?;
        if let Some(stdout) = execution.stdout {
            xml.text_element("StdOut", &[], stdout)?;
        }
        if has_error {
            xml.open("ErrorInfo", &[])?;
            if let Some(message) = execution.message {
                xml.text_element("Message", &[], message)?;
            }
            if let Some(trace) = execution.stack_trace {
                xml.text_element("StackTrace", &[], trace)?;
            }
            xml.close("ErrorInfo")?;
        }
        xml.close("Output")
    }
}

fn write_summary<Results>(
    xml: &mut XmlWriter<impl Write>,
    run: &TrxRun<Results>,
    tally: &Tally,
) -> XmlResult {
    let [total, executed, passed, failed, inconclusive, not_executed] = [
        tally.total,
        tally.total - tally.not_executed,
        tally.passed,
        tally.failed,
        tally.inconclusive,
        tally.not_executed,
    ]
    .map(|n| n.to_string());
    let outcome = match run.failed {
        true => "Failed",
        false => "Completed",
    };
    xml.open("ResultSummary", &[("outcome", outcome)])?;
    xml.empty(
        "Counters",
        &[
            ("total", total.as_str()),
            ("executed", executed.as_str()),
            ("passed", passed.as_str()),
            ("failed", failed.as_str()),
            ("error", "0"),
            ("timeout", "0"),
            ("aborted", "0"),
            ("inconclusive", inconclusive.as_str()),
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
            xml.text_element("Text", &[], error)?;
            xml.close("RunInfo")?;
        }
        xml.close("RunInfos")?;
    }
    xml.close("ResultSummary")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(outcome: TrxOutcome, second: u32) -> TrxExecution<'static> {
        TrxExecution {
            outcome,
            duration_ms: 1_234,
            start_time: format!("2026-11-22T10:00:0{second}.000Z").into(),
            end_time: format!("2026-11-22T10:00:0{second}.234Z"),
            message: (outcome == TrxOutcome::Failed).then_some("connection reset <&>\u{0}"),
            stack_trace: (outcome == TrxOutcome::Failed).then_some("at net.rs:3"),
            stdout: None,
        }
    }

    type Listed<'a> = std::iter::Cloned<std::slice::Iter<'a, TrxResult<'a>>>;

    fn run<'a>(results: &'a [TrxResult<'a>], failed: bool) -> TrxRun<'a, Listed<'a>> {
        TrxRun {
            name: "proctor run",
            user: "ci",
            computer: "box",
            start_time: "2026-11-22T10:00:00.000Z",
            finish_time: "2026-11-22T10:00:03.000Z",
            failed,
            results: results.iter().cloned(),
            errors: &[],
        }
    }

    fn written(run: &TrxRun<Listed>) -> String {
        let mut out = Vec::new();
        write(run, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// A test that failed, then passed.
    fn flaky(name: &str) -> TrxResult<'_> {
        TrxResult {
            name,
            classname: "unit",
            storage: "/suite/unit",
            result: execution(TrxOutcome::Passed, 1),
            attempts: vec![
                execution(TrxOutcome::Failed, 0),
                execution(TrxOutcome::Passed, 1),
            ],
        }
    }

    #[test]
    fn a_retried_test_is_one_result_holding_each_attempt_and_reads_back_as_one() {
        let flaky = flaky("net::connect");
        let xml = written(&run(std::slice::from_ref(&flaky), false));
        assert_eq!(xml.matches("<UnitTestResult ").count(), 3, "{xml}");
        assert_eq!(xml.matches("parentExecutionId=").count(), 2, "{xml}");
        assert_eq!(xml.matches("<UnitTest ").count(), 1);
        assert_eq!(xml.matches("<TestEntry ").count(), 1);
        assert!(xml.contains(r#"duration="00:00:01.2340000""#), "{xml}");
        assert!(
            xml.contains("connection reset &lt;&amp;&gt;\\u{0}"),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<ResultSummary outcome="Completed">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"total="1" executed="1" passed="1" failed="0""#),
            "{xml}"
        );

        let read_back = read(&xml).unwrap();
        assert_eq!(read_back.len(), 1);
        assert_eq!(read_back[0].outcome, Outcome::Passed);
        assert_eq!(read_back[0].message, None, "the final result's own");
        assert_eq!(read_back[0].qualified_name(), "unit.net::connect");
        assert_eq!(read_back[0].duration_ms, Some(1234));
    }

    /// The values of `attribute` of each result (`UnitTestResult`) in `xml`, in order.
    fn values<'x>(xml: &'x str, attribute: &str) -> Vec<&'x str> {
        let key = format!("{attribute}=\"");
        (xml.split("<UnitTestResult ").skip(1))
            .map(|element| {
                let at = element.find(&key).unwrap() + key.len();
                element[at..].split('"').next().unwrap()
            })
            .collect()
    }

    #[test]
    fn a_test_keeps_its_id_from_run_to_run_and_every_execution_has_its_own() {
        let results = [flaky("a"), flaky("b"), flaky("c")];
        let first = written(&run(&results, false));
        let later = TrxRun {
            start_time: "2026-11-23T10:00:00.000Z",
            ..run(&results, false)
        };
        let second = written(&later);

        let test_ids = values(&first, "testId");
        assert_eq!(
            test_ids.len(),
            9,
            "a result and two attempts a test: {first}"
        );
        assert_eq!(
            test_ids,
            values(&second, "testId"),
            "the same from run to run"
        );
        let mut executions: Vec<&str> = values(&first, "executionId");
        executions.extend(values(&second, "executionId"));
        let count = executions.len();
        executions.sort_unstable();
        executions.dedup();
        assert_eq!(
            executions.len(),
            count,
            "each execution its own id: {executions:?}"
        );
        for id in &executions {
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id} is a GUID");
            assert!(!test_ids.contains(id), "{id} names a test too");
        }
    }

    #[test]
    fn a_failed_run_says_so_and_a_failure_reads_back_with_its_details() {
        let failed = TrxResult {
            name: "x",
            classname: "unit",
            storage: "/suite/unit",
            result: execution(TrxOutcome::Failed, 0),
            attempts: Vec::new(),
        };
        let xml = written(&run(std::slice::from_ref(&failed), true));
        assert!(xml.contains(r#"<ResultSummary outcome="Failed">"#), "{xml}");
        let read_back = read(&xml).unwrap();
        assert_eq!(read_back[0].outcome, Outcome::Failed);
        assert_eq!(
            read_back[0].message.as_deref(),
            Some("connection reset <&>\\u{0}")
        );
        assert_eq!(read_back[0].details.as_deref(), Some("at net.rs:3"));
    }

    #[test]
    fn aggregations_are_read_for_the_tests_they_ran() {
        let xml = r#"<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <Results>
    <TestResultAggregation testId="o" testName="ordered" outcome="Failed" testType="t" testListId="l" computerName="c">
      <InnerResults>
        <UnitTestResult testId="a" testName="first" outcome="Passed" testType="t" testListId="l" computerName="c"/>
        <UnitTestResult testId="b" testName="second" outcome="Failed" testType="t" testListId="l" computerName="c">
          <Output><ErrorInfo><Message>no</Message></ErrorInfo></Output>
        </UnitTestResult>
      </InnerResults>
    </TestResultAggregation>
    <GenericTestResult testId="g" testName="generic" outcome="Passed" testType="t" testListId="l" computerName="c"/>
  </Results>
</TestRun>"#;
        let cases = read(xml).unwrap();
        let names: Vec<_> = cases.iter().map(|c| (c.name.as_str(), c.outcome)).collect();
        assert_eq!(
            names,
            [
                ("first", Outcome::Passed),
                ("second", Outcome::Failed),
                ("generic", Outcome::Passed)
            ]
        );
        assert_eq!(cases[1].message.as_deref(), Some("no"));
        let empty = r#"<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results/></TestRun>"#;
        assert!(read(empty).unwrap().is_empty());
    }

    #[test]
    fn durations_convert_both_ways() {
        assert_eq!(parse_duration_ms("00:01:02.5000000"), Some(62_500));
        assert_eq!(parse_duration_ms("1.02:00:00"), Some(26 * 3_600_000));
        assert_eq!(format_duration(62_500), "00:01:02.5000000");
    }
}
