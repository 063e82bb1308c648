//! Test result formats: JUnit XML as the tools of many ecosystems write it
//! (pytest, GoogleTest, Surefire, Jest, gotestsum), and Visual Studio's TRX.
//!
//! Readers return [`CaseResult`]s, one per test case in the file; the TRX
//! writer takes [`TrxResult`]s, one per attempt.

pub mod dump;
pub mod junit;
pub mod text;
pub mod trx;
mod xml;

#[cfg(test)]
mod fuzz;

use proctor_plugin_api::messages::{EarlierRun, Outcome, TestResult};

/// One test case read from a results file.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The suite holding the case: JUnit's nearest `<testsuite>`, TRX's
    /// assembly file; may be empty.
    pub suite: String,
    /// The class (or module, or suite) the case belongs to; may be empty.
    pub classname: String,
    pub name: String,
    pub outcome: Outcome,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
    /// The body of the failure element: usually the stack trace.
    pub details: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    /// The runs before the last that the writer ran the case again after
    /// (JUnit's `flakyFailure`, `rerunFailure` and their `Error`s).
    pub earlier_runs: Vec<EarlierRun>,
}

impl CaseResult {
    /// `classname.name`, or the name alone when there is no class.
    pub fn qualified_name(&self) -> String {
        if self.classname.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.classname, self.name)
        }
    }

    /// The result of the test `id`: the failure body becomes the stack trace,
    /// and both captured streams the test's output.
    pub fn into_test_result(self, id: impl Into<String>) -> TestResult {
        let output = [self.stdout, self.stderr]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        TestResult {
            duration_ms: self.duration_ms,
            message: self.message,
            stack_trace: self.details,
            output: (!output.is_empty()).then_some(output),
            earlier_runs: self.earlier_runs,
            ..TestResult::new(id, self.outcome)
        }
    }
}

/// A results file that cannot be read.
#[derive(Debug)]
pub struct FormatError(pub String);

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

impl From<roxmltree::Error> for FormatError {
    fn from(e: roxmltree::Error) -> Self {
        not_well_formed(&e)
    }
}

/// A document that is no XML, and why.
pub(crate) fn not_well_formed(problem: &dyn std::fmt::Display) -> FormatError {
    FormatError(format!("not well-formed XML: {problem}"))
}

/// The deepest results files nest elements: JUnit's deepest real files
/// (suites in suites) stay within a few tens.
pub const MAX_DEPTH: usize = 256;

/// Parses a results file, refusing first one that nests deeper than
/// [`MAX_DEPTH`]: roxmltree recurses once per level, and a few kilobytes of
/// `<a>` would overflow the stack and abort the host.
pub(crate) fn parse_document(xml: &str) -> Result<roxmltree::Document<'_>, FormatError> {
    if let Some(at) = deeper_than(xml, MAX_DEPTH) {
        return Err(FormatError(format!(
            "elements nest deeper than {MAX_DEPTH} levels (at byte {at}); no results file does"
        )));
    }
    Ok(roxmltree::Document::parse(xml)?)
}

/// Where `xml` opens an element deeper than `limit`, counted without
/// parsing: start tags less end tags, outside comments, CDATA sections,
/// processing instructions and attribute values. Markup in a DTD's entity
/// values counts as opening elements, so the count never falls short of
/// what a parser expanding them would reach.
fn deeper_than(xml: &str, limit: usize) -> Option<usize> {
    let bytes = xml.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let at = i + offset;
        let rest = &bytes[at..];
        let skip_to = |end: &[u8]| {
            (rest.windows(end.len()).position(|w| w == end))
                .map_or(bytes.len(), |p| at + p + end.len())
        };
        i = if rest.starts_with(b"<!--") {
            skip_to(b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(b"]]>")
        } else if rest.starts_with(b"<?") {
            skip_to(b"?>")
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            at + 2
        } else if rest.starts_with(b"<!") {
            at + 2
        } else {
            let end = tag_end(rest);
            if rest[..end].ends_with(b"/>") {
                at + end
            } else {
                depth += 1;
                if depth > limit {
                    return Some(at);
                }
                at + end.max(1)
            }
        };
    }
    None
}

/// The length of the start tag `tag` begins with, to its `>` outside
/// quoted attribute values; all of it when it does not end.
fn tag_end(tag: &[u8]) -> usize {
    let mut quote = None;
    for (i, &b) in tag.iter().enumerate().skip(1) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), b) if b == q => quote = None,
            (None, b'>') => return i + 1,
            (None, b'<') => return i,
            _ => {}
        }
    }
    tag.len()
}

/// Reads a results file of either format, told apart by its root element.
pub fn read_results(xml: &str) -> Result<Vec<CaseResult>, FormatError> {
    match root_name(xml)?.as_str() {
        "TestRun" => trx::read(xml),
        "testsuites" | "testsuite" => junit::read(xml),
        other => Err(FormatError(format!(
            "the root element is <{other}>, neither JUnit's <testsuites>/<testsuite> nor TRX's <TestRun>"
        ))),
    }
}

/// The local name of a document's first element.
fn root_name(xml: &str) -> Result<String, FormatError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(tag) | Event::Empty(tag)) => {
                return Ok(String::from_utf8_lossy(tag.local_name().as_ref()).into_owned())
            }
            Ok(Event::Eof) => return Err(not_well_formed(&"there is no element")),
            Ok(_) => {}
            Err(e) => return Err(not_well_formed(&e)),
        }
    }
}

/// The trimmed text of an element, `None` when there is none.
fn text_of(node: roxmltree::Node) -> Option<String> {
    let text: String = node
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    trimmed(text)
}

/// `text` without the white space around it, if any is left.
fn trimmed(text: String) -> Option<String> {
    let kept = text.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

#[cfg(test)]
mod tests {
    /// Nesting past [`super::MAX_DEPTH`] is refused before roxmltree, which
    /// recurses a level at a time, could overflow the stack; what a parser sees
    /// as shallow is never refused.
    #[test]
    fn deep_nesting_is_refused_and_shallow_documents_are_not() {
        let nested = |n: usize| {
            format!(
                "<testsuites>{}{}</testsuites>",
                "<testsuite>".repeat(n),
                "</testsuite>".repeat(n)
            )
        };
        assert!(super::read_results(&nested(super::MAX_DEPTH - 1)).is_ok());
        for n in [super::MAX_DEPTH + 1, 100_000] {
            let error = super::read_results(&nested(n)).unwrap_err().to_string();
            assert!(
                error.starts_with("elements nest deeper than 256 levels"),
                "{error}"
            );
            let unclosed = "<testsuite>".repeat(n);
            assert!(super::trx::read(&unclosed).is_err());
        }
        let flat = format!(
            "<testsuites><!-- <a><a><a> --><![CDATA[<b><b>]]><?pi <c>?>{}</testsuites>",
            "<testsuite name=\"a>b\" x='<'/><testcase name=\"t\"></testcase>".repeat(10_000)
        );
        assert_eq!(super::deeper_than(&flat, 2), None);
    }
}
