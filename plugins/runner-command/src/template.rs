//! `{placeholder}` templates: the command's arguments, result globs, test
//! ids and the filter that picks tests to run again.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Replaces each `{key}` of `template` with its value; other braces stay.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (key, value) in values {
        text = text.replace(&format!("{{{key}}}"), value);
    }
    text
}

/// How the command runs chosen tests: the failed ones of an earlier attempt,
/// or those a crash kept from running.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterTemplate {
    /// Arguments appended to the command. An argument that is `{tests}`
    /// alone becomes one argument per test, unless `separator` is set;
    /// `{tests}` inside a longer argument becomes the tests joined by `separator`.
    pub args: Vec<String>,
    /// One test, from `{id}`, `{name}`, `{classname}` and `{suite}`.
    #[serde(default = "FilterTemplate::default_test")]
    pub test: String,
    #[serde(default)]
    pub separator: Option<String>,
    /// `regex`: each test's values are escaped as a regular expression, for
    /// tools that select by pattern (`go test -run`, `--testNamePattern`).
    #[serde(default)]
    pub escape: Option<Escape>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escape {
    Regex,
}

/// What a results file told of a test, kept to fill templates later.
pub type TestValues = BTreeMap<String, String>;

impl FilterTemplate {
    fn default_test() -> String {
        "{id}".to_owned()
    }

    /// Settings that cannot work, said before anything runs.
    pub fn check(&self) -> Result<(), String> {
        if !self.args.iter().any(|a| a.contains("{tests}")) {
            return Err("filter.args: no argument holds `{tests}`".to_owned());
        }
        let embedded = self
            .args
            .iter()
            .any(|a| a.contains("{tests}") && a != "{tests}");
        if embedded && self.separator.is_none() {
            return Err(
                "filter.separator: needed, since `{tests}` is part of a longer argument".to_owned(),
            );
        }
        Ok(())
    }

    /// The arguments that run `tests`.
    pub fn args(&self, tests: &[&TestValues]) -> Vec<String> {
        let each: Vec<String> = tests.iter().map(|t| self.one(t)).collect();
        let mut args = Vec::new();
        for arg in &self.args {
            match (&self.separator, arg.as_str()) {
                (None, "{tests}") => args.extend(each.iter().cloned()),
                (separator, _) => {
                    let joined = each.join(separator.as_deref().unwrap_or(" "));
                    args.push(arg.replace("{tests}", &joined));
                }
            }
        }
        args
    }

    fn one(&self, test: &TestValues) -> String {
        let escaped: Vec<(&str, String)> = test
            .iter()
            .map(|(key, value)| {
                let value = match self.escape {
                    Some(Escape::Regex) => regex::escape(value),
                    None => value.clone(),
                };
                (key.as_str(), value)
            })
            .collect();
        let values: Vec<(&str, &str)> = escaped.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fill(&self.test, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &str, classname: &str) -> TestValues {
        BTreeMap::from([
            ("id".to_owned(), format!("{classname}.{name}")),
            ("name".to_owned(), name.to_owned()),
            ("classname".to_owned(), classname.to_owned()),
            ("suite".to_owned(), String::new()),
        ])
    }

    fn template(json: &str) -> FilterTemplate {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn tests_join_into_one_argument_or_spread_over_many() {
        let (a, b) = (values("Adds", "Math"), values("Holds/1", "Squares"));
        let gtest = template(
            r#"{"args": ["--gtest_filter={tests}"], "test": "{classname}.{name}", "separator": ":"}"#,
        );
        assert_eq!(
            gtest.args(&[&a, &b]),
            ["--gtest_filter=Math.Adds:Squares.Holds/1"]
        );
        let spread = template(r#"{"args": ["--only", "{tests}"]}"#);
        assert_eq!(
            spread.args(&[&a, &b]),
            ["--only", "Math.Adds", "Squares.Holds/1"]
        );
    }

    #[test]
    fn regex_escaping_applies_to_values_not_to_the_template() {
        let go = template(
            r#"{"args": ["-run", "{tests}"], "test": "^{name}$", "separator": "|", "escape": "regex"}"#,
        );
        let (a, b) = (values("TestA", "pkg"), values("TestB/case.1", "pkg"));
        assert_eq!(go.args(&[&a, &b]), ["-run", r"^TestA$|^TestB/case\.1$"]);
    }

    #[test]
    fn unusable_templates_are_refused() {
        assert!(template(r#"{"args": ["-k"]}"#).check().is_err());
        let error = template(r#"{"args": ["--filter={tests}"]}"#)
            .check()
            .unwrap_err();
        assert!(error.starts_with("filter.separator"), "{error}");
        assert!(template(r#"{"args": ["{tests}"]}"#).check().is_ok());
    }

    #[test]
    fn placeholders_fill_and_strangers_stay() {
        assert_eq!(
            fill("{results_dir}/out-{x}.xml", &[("results_dir", "/r")]),
            "/r/out-{x}.xml"
        );
    }
}
