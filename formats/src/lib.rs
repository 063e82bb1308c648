//! Test result formats: JUnit XML as the tools of many ecosystems write it
//! (pytest, GoogleTest, Surefire, Jest, gotestsum), and Visual Studio's TRX.
//!
//! Readers return [`CaseResult`]s, one per test case in the file; the TRX
//! writer takes [`TrxResult`]s, one per attempt.

pub mod junit;
pub mod text;
pub mod trx;
mod xml;

use proctor_plugin_api::messages::{Outcome, TestResult};

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
        FormatError(format!("not well-formed XML: {e}"))
    }
}

/// Reads a results file of either format, told apart by its root element.
pub fn read_results(xml: &str) -> Result<Vec<CaseResult>, FormatError> {
    let document = roxmltree::Document::parse(xml)?;
    match document.root_element().tag_name().name() {
        "TestRun" => trx::read_document(&document),
        "testsuites" | "testsuite" => Ok(junit::read_document(&document)),
        other => Err(FormatError(format!(
            "the root element is <{other}>, neither JUnit's <testsuites>/<testsuite> nor TRX's <TestRun>"
        ))),
    }
}

/// The trimmed text of an element, `None` when there is none.
fn text_of(node: roxmltree::Node) -> Option<String> {
    let text: String = node
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
