//! JUnit XML. There is no one schema. Reading takes what the common writers
//! produce: `<testsuites>` or a lone `<testsuite>`, suites nested in
//! suites, `<failure>`/`<error>`/`<skipped>` children, `system-out`/`system-err`
//! per case, Surefire's runs before the last, and GoogleTest's
//! `status="notrun"` and `result="skipped"`.
//! Writing follows the dialect of Jenkins' xUnit plugin (`junit-10.xsd`),
//! which Jenkins, GitLab and Azure DevOps read: earlier attempts of a retried
//! test are Maven Surefire's `flakyFailure`/`flakyError` (it passed in the
//! end) or `rerunFailure`/`rerunError` (it did not), which carry no time.

use std::borrow::Cow;
use std::io::Write;

use proctor_plugin_api::messages::{EarlierRun, Outcome};
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::xml::{XmlResult, XmlWriter};
use super::{not_well_formed, trimmed, CaseResult, FormatError};

/// Reads every `<testcase>`, wherever it nests, in document order. The
/// document streams by once: the tree a parser built of it first was 40%
/// of reading a 500-test GoogleTest run's results. What it keeps of a
/// case is what a tree would give: the nearest `<testsuite>`'s name, its
/// first `<failure>` (else `<error>`), `<skipped>`, `<system-out>` and
/// `<system-err>` children, each with all the text within it, and each
/// of its runs before the last (Surefire's [`RERUNS`]: its message, and the
/// text of its first `<stackTrace>`, else all its text), attribute values
/// normalised as XML has them. Entities are the five XML defines
/// and character references; a document that uses any other is refused.
pub fn read(xml: &str) -> Result<Vec<CaseResult>, FormatError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    // End tags are matched here, as a tree parser matches them.
    reader.config_mut().check_end_names = false;
    let mut reading = Reading::default();
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| not_well_formed(&format!("at byte {at}: {e}")))?;
        match event {
            Event::Start(tag) => reading.open(&tag)?,
            Event::Empty(tag) => {
                reading.open(&tag)?;
                reading.close();
            }
            Event::End(tag) => {
                if !reading.ends(tag.name().as_ref()) {
                    let name = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
                    return Err(not_well_formed(&format!(
                        "at byte {at}: `</{name}>` ends no element open"
                    )));
                }
                reading.close();
            }
            Event::Text(text) => {
                reading.text(&text.xml10_content().map_err(|e| not_well_formed(&e))?)
            }
            Event::CData(text) => {
                reading.text(&text.xml10_content().map_err(|e| not_well_formed(&e))?)
            }
            Event::GeneralRef(reference) => reading.text(&resolve(&reference)?),
            Event::Eof => break,
            // The declaration, comments, processing instructions, the DTD.
            _ => {}
        }
    }
    reading.finish()
}

/// What a reference in text stands for.
fn resolve(reference: &BytesRef) -> Result<String, FormatError> {
    let name = std::str::from_utf8(reference).map_err(|e| not_well_formed(&e))?;
    referenced(name)
}

/// What `&name;` stands for: one of the five entities XML defines, or a
/// character. A reference to no character (a surrogate, past U+10FFFF)
/// is U+FFFD, as a tree parser reads it; any other name is refused.
fn referenced(name: &str) -> Result<String, FormatError> {
    let refused = || not_well_formed(&format!("an unknown entity `&{name};`"));
    let Some(digits) = name.strip_prefix('#') else {
        return quick_xml::escape::resolve_xml_entity(name)
            .map(str::to_owned)
            .ok_or_else(refused);
    };
    let code = match digits.strip_prefix('x') {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => digits.parse::<u32>(),
    };
    let code = code.map_err(|_| refused())?;
    Ok(char::from_u32(code)
        .unwrap_or(char::REPLACEMENT_CHARACTER)
        .to_string())
}

/// `raw` with its references replaced.
fn unescaped(raw: &str) -> Result<String, FormatError> {
    let mut text = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        text.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end =
            (after.find(';')).ok_or_else(|| not_well_formed(&"a reference without its `;`"))?;
        text.push_str(&referenced(&after[..end])?);
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    Ok(text)
}

/// A document read so far.
#[derive(Default)]
struct Reading {
    /// Every case begun, in document order; a case is filled in as it ends.
    cases: Vec<Option<CaseResult>>,
    /// Every open element, outermost first.
    open: Vec<Opened>,
    /// Their names, one after another, and where each begins.
    names: Vec<u8>,
    name_starts: Vec<usize>,
    /// The open cases, innermost last.
    building: Vec<Building>,
}

enum Opened {
    Suite(String),
    Case,
    /// A child of the innermost case whose text is kept.
    Kept,
    /// A run of the innermost case before its last.
    Rerun,
    /// The first `<stackTrace>` of a run before the last.
    RerunTrace,
    Other,
}

/// The children of a case that tell a run before its last, which the
/// writer ran it again after: Maven Surefire's, written by it and by
/// proctor. The case's own outcome is its last run's.
const RERUNS: [&[u8]; 4] = [
    b"flakyFailure",
    b"flakyError",
    b"rerunFailure",
    b"rerunError",
];

/// The children of a case whose text is kept, in the order of [`Building::parts`].
const PARTS: [&[u8]; 5] = [
    b"failure",
    b"error",
    b"skipped",
    b"system-out",
    b"system-err",
];

/// A case begun and not ended.
struct Building {
    /// What its own attributes say.
    case: CaseResult,
    /// Where in [`Reading::cases`] it goes.
    at: usize,
    /// How many elements are open, itself included.
    depth: usize,
    /// Its `status` and `result` attributes: GoogleTest's "not run".
    not_run: bool,
    /// The first child of each of [`PARTS`], once begun.
    parts: [Option<Part>; 5],
    /// Its runs before the last, in document order.
    reruns: Vec<Rerun>,
}

/// A run before a case's last, begun.
struct Rerun {
    message: Option<String>,
    /// All the text within it.
    text: String,
    /// The text within its first `<stackTrace>`, once begun.
    trace: Option<String>,
    /// Still open.
    open: bool,
    /// Its trace still open.
    trace_open: bool,
}

impl Rerun {
    /// The run, its text read: a failure, with no time.
    fn finish(self) -> EarlierRun {
        let details = trimmed(self.trace.unwrap_or(self.text));
        let message = self.message.filter(|m| !m.is_empty());
        EarlierRun {
            outcome: Outcome::Failed,
            duration_ms: None,
            message: message_or_first_line(message, details.as_deref()),
            stack_trace: details,
        }
    }
}

struct Part {
    message: Option<String>,
    text: String,
    /// Still open: its text is still being read.
    open: bool,
}

/// The attributes a reader looks at, of one element, normalised.
#[derive(Default)]
struct Attributes {
    name: Option<String>,
    classname: Option<String>,
    time: Option<String>,
    status: Option<String>,
    result: Option<String>,
    message: Option<String>,
}

impl Attributes {
    /// Reads them all, so that a repeated attribute is refused as a parser
    /// refuses it.
    fn of(tag: &BytesStart) -> Result<Self, FormatError> {
        let mut attributes = Self::default();
        for attribute in tag.attributes() {
            let attribute = attribute.map_err(|e| not_well_formed(&e))?;
            let slot = match unprefixed_if_empty(attribute.key.as_ref()) {
                b"name" => &mut attributes.name,
                b"classname" => &mut attributes.classname,
                b"time" => &mut attributes.time,
                b"status" => &mut attributes.status,
                b"result" => &mut attributes.result,
                b"message" => &mut attributes.message,
                _ => continue,
            };
            *slot = Some(normalised_value(&attribute.value)?);
        }
        Ok(attributes)
    }
}

/// An attribute's value as XML gives it: each literal line end, tab or
/// newline a space (a line end of two characters one), then references
/// replaced (`&#10;` stays a newline).
fn normalised_value(raw: &[u8]) -> Result<String, FormatError> {
    let raw = std::str::from_utf8(raw).map_err(|e| not_well_formed(&e))?;
    // Nearly every value holds none of them: one copy, where the general
    // way made three (a case's five attributes were a third of reading it).
    if !raw
        .bytes()
        .any(|b| matches!(b, b'\t' | b'\n' | b'\r' | b'&'))
    {
        return Ok(raw.to_owned());
    }
    unescaped(&raw.replace("\r\n", " ").replace(['\t', '\n', '\r'], " "))
}

impl Reading {
    fn open(&mut self, tag: &BytesStart) -> Result<(), FormatError> {
        if self.open.len() >= crate::MAX_DEPTH {
            return Err(FormatError(format!(
                "elements nest deeper than {} levels; no results file does",
                crate::MAX_DEPTH
            )));
        }
        let attributes = Attributes::of(tag)?;
        self.name_starts.push(self.names.len());
        self.names
            .extend_from_slice(unprefixed_if_empty(tag.name().as_ref()));
        let depth = self.open.len() + 1;
        let name = tag.local_name();
        let opened = match name.as_ref() {
            b"testsuite" => Opened::Suite(attributes.name.unwrap_or_default()),
            b"testcase" => {
                let suite = self.open.iter().rev().find_map(|opened| match opened {
                    Opened::Suite(name) => Some(name.as_str()),
                    _ => None,
                });
                let not_run = matches!(attributes.status.as_deref(), Some("notrun"))
                    || matches!(attributes.result.as_deref(), Some("skipped" | "suppressed"));
                let case = CaseResult {
                    suite: suite.unwrap_or_default().to_owned(),
                    classname: attributes.classname.unwrap_or_default(),
                    name: attributes.name.unwrap_or_default(),
                    outcome: Outcome::Passed,
                    duration_ms: attributes.time.as_deref().and_then(milliseconds),
                    message: None,
                    details: None,
                    stdout: None,
                    stderr: None,
                    earlier_runs: Vec::new(),
                };
                self.building.push(Building {
                    case,
                    at: self.cases.len(),
                    depth,
                    not_run,
                    parts: Default::default(),
                    reruns: Vec::new(),
                });
                self.cases.push(None);
                Opened::Case
            }
            name => match (
                self.building.last_mut(),
                PARTS.iter().position(|p| *p == name),
            ) {
                (Some(case), Some(part))
                    if case.depth + 1 == depth && case.parts[part].is_none() =>
                {
                    case.parts[part] = Some(Part {
                        message: attributes.message,
                        text: String::new(),
                        open: true,
                    });
                    Opened::Kept
                }
                (Some(case), None) if case.depth + 1 == depth && RERUNS.contains(&name) => {
                    case.reruns.push(Rerun {
                        message: attributes.message,
                        text: String::new(),
                        trace: None,
                        open: true,
                        trace_open: false,
                    });
                    Opened::Rerun
                }
                _ => self.open_trace(name),
            },
        };
        self.open.push(opened);
        Ok(())
    }

    /// A `<stackTrace>` that is the first of the innermost open element, a
    /// run before the last; else any element.
    fn open_trace(&mut self, name: &[u8]) -> Opened {
        let in_rerun = matches!(self.open.last(), Some(Opened::Rerun));
        let rerun = (self.building.last_mut()).and_then(|case| case.reruns.last_mut());
        match rerun {
            Some(rerun) if in_rerun && name == b"stackTrace" && rerun.trace.is_none() => {
                rerun.trace = Some(String::new());
                rerun.trace_open = true;
                Opened::RerunTrace
            }
            _ => Opened::Other,
        }
    }

    /// Whether `name` is the innermost open element's.
    fn ends(&self, name: &[u8]) -> bool {
        let start = self.name_starts.last().copied();
        start.is_some_and(|start| self.names[start..] == *unprefixed_if_empty(name))
    }

    fn close(&mut self) {
        if let Some(start) = self.name_starts.pop() {
            self.names.truncate(start);
        }
        match self.open.pop() {
            Some(Opened::Kept) => {
                let case = self.building.last_mut().expect("a kept part is a case's");
                if let Some(part) = case.parts.iter_mut().flatten().find(|p| p.open) {
                    part.open = false;
                }
            }
            Some(opened @ (Opened::Rerun | Opened::RerunTrace)) => {
                let case = self.building.last_mut().expect("a run is a case's");
                let rerun = case.reruns.last_mut().expect("an open run is being read");
                match opened {
                    Opened::Rerun => rerun.open = false,
                    _ => rerun.trace_open = false,
                }
            }
            Some(Opened::Case) => {
                let case = self.building.pop().expect("an open case is being built");
                let at = case.at;
                self.cases[at] = Some(case.finish());
            }
            _ => {}
        }
    }

    /// Text goes to every part open, as a part's text is all the text
    /// within it.
    fn text(&mut self, text: &str) {
        for case in &mut self.building {
            for part in case.parts.iter_mut().flatten().filter(|p| p.open) {
                part.text.push_str(text);
            }
            for rerun in case.reruns.iter_mut().filter(|r| r.open) {
                rerun.text.push_str(text);
                if let Some(trace) = rerun.trace.as_mut().filter(|_| rerun.trace_open) {
                    trace.push_str(text);
                }
            }
        }
    }

    fn finish(self) -> Result<Vec<CaseResult>, FormatError> {
        if !self.open.is_empty() {
            return Err(not_well_formed(&"the document ends inside an element"));
        }
        Ok(self.cases.into_iter().flatten().collect())
    }
}

/// A `time` attribute's seconds, in milliseconds (`1,234.5` read as
/// `1234.5`).
fn milliseconds(time: &str) -> Option<u64> {
    let seconds = time.replace(',', "").parse::<f64>().ok()?;
    Some((seconds * 1000.0).round() as u64)
}

/// A problem's message: its own, else its details' first line.
fn message_or_first_line(message: Option<String>, details: Option<&str>) -> Option<String> {
    message.or_else(|| details.and_then(|d| d.lines().next()).map(str::to_owned))
}

/// `name` without an empty prefix: `<:a>` is `<a>`, and `:b="…"` is `b`, to
/// a tree parser.
fn unprefixed_if_empty(name: &[u8]) -> &[u8] {
    name.strip_prefix(b":").unwrap_or(name)
}

impl Building {
    /// The case, its parts read.
    fn finish(self) -> CaseResult {
        let [failure, error, skipped, stdout, stderr] = self.parts;
        let text_of = |part: Option<Part>| part.and_then(|p| trimmed(p.text));
        let (outcome, detail) = match (failure.or(error), skipped) {
            (Some(part), _) => (Outcome::Failed, Some(part)),
            (None, Some(part)) => (Outcome::Skipped, Some(part)),
            (None, None) if self.not_run => (Outcome::Skipped, None),
            (None, None) => (Outcome::Passed, None),
        };
        let message = detail
            .as_ref()
            .and_then(|p| p.message.clone())
            .filter(|m| !m.is_empty());
        let details = text_of(detail);
        CaseResult {
            outcome,
            message: message_or_first_line(message, details.as_deref()),
            details,
            stdout: text_of(stdout),
            stderr: text_of(stderr),
            earlier_runs: self.reruns.into_iter().map(Rerun::finish).collect(),
            ..self.case
        }
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
pub(crate) mod tests {
    use super::*;

    /// The documents read as a tree, as this module read them before it
    /// streamed: what a streamed reading must agree with. `None` when the
    /// tree parser refuses the document.
    pub(crate) fn read_as_tree(xml: &str) -> Option<Vec<CaseResult>> {
        let document = crate::parse_document(xml).ok()?;
        fn child<'a, 'i>(
            case: roxmltree::Node<'a, 'i>,
            tag: &str,
        ) -> Option<roxmltree::Node<'a, 'i>> {
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
            let details = detail_node.and_then(crate::text_of);
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
                duration_ms: case.attribute("time").and_then(milliseconds),
                message: message_or_first_line(message, details.as_deref()),
                details,
                stdout: child(case, "system-out").and_then(crate::text_of),
                stderr: child(case, "system-err").and_then(crate::text_of),
                earlier_runs: (case.children())
                    .filter(|n| n.is_element() && RERUNS.contains(&n.tag_name().name().as_bytes()))
                    .map(read_rerun)
                    .collect(),
            }
        }
        fn read_rerun(rerun: roxmltree::Node) -> EarlierRun {
            let details = match child(rerun, "stackTrace") {
                Some(trace) => crate::text_of(trace),
                None => crate::text_of(rerun),
            };
            let message = (rerun.attribute("message"))
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
            EarlierRun {
                outcome: Outcome::Failed,
                duration_ms: None,
                message: message_or_first_line(message, details.as_deref()),
                stack_trace: details,
            }
        }
        let cases = document
            .descendants()
            .filter(|n| n.has_tag_name("testcase"));
        Some(cases.map(read_case).collect())
    }

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
    fn reads_a_cases_runs_before_its_last_as_surefire_writes_them() {
        let xml = "<testsuite name=\"com.example.ATest\" tests=\"2\">
  <testcase name=\"flaky\" classname=\"com.example.ATest\" time=\"0.010\">
    <flakyFailure message=\"expected:&lt;1&gt;\" type=\"java.lang.AssertionError\">
      <stackTrace>java.lang.AssertionError: expected:&lt;1&gt;
\tat com.example.ATest.flaky(ATest.java:9)</stackTrace>
      <system-out>printed by the first run</system-out>
    </flakyFailure>
  </testcase>
  <testcase name=\"broken\" classname=\"com.example.ATest\" time=\"0.020\">
    <failure message=\"always\" type=\"java.lang.AssertionError\">trace of the last run</failure>
    <rerunFailure message=\"always\" type=\"java.lang.AssertionError\">trace of the first run</rerunFailure>
    <rerunError type=\"java.lang.IllegalStateException\">
state broke
\tat com.example.ATest.broken(ATest.java:14)
    </rerunError>
  </testcase>
</testsuite>";
        let cases = read(xml).unwrap();
        assert_eq!(Some(cases.clone()), read_as_tree(xml));
        let run = |outcome, message: &str, trace: &str| EarlierRun {
            outcome,
            duration_ms: None,
            message: Some(message.into()),
            stack_trace: Some(trace.into()),
        };
        assert_eq!(cases[0].outcome, Outcome::Passed);
        assert_eq!(
            cases[0].earlier_runs,
            [run(
                Outcome::Failed,
                "expected:<1>",
                "java.lang.AssertionError: expected:<1>\n\tat com.example.ATest.flaky(ATest.java:9)"
            )]
        );
        assert_eq!(
            cases[0].stdout, None,
            "the first run's output is not the case's"
        );
        assert_eq!(cases[1].outcome, Outcome::Failed);
        assert_eq!(cases[1].details.as_deref(), Some("trace of the last run"));
        assert_eq!(
            cases[1].earlier_runs,
            [
                run(Outcome::Failed, "always", "trace of the first run"),
                run(
                    Outcome::Failed,
                    "state broke",
                    "state broke\n\tat com.example.ATest.broken(ATest.java:14)"
                ),
            ]
        );
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
