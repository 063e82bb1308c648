//! The patterns the configuration, the retry rules and the selection share,
//! compiled as they are read so that a bad one is reported with the file,
//! line and column it sits at.

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A shell-style glob (`*`, `?`, `[...]`, `{a,b}`), matched against a whole name.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    matcher: globset::GlobMatcher,
}

impl Glob {
    pub fn new(text: &str) -> Result<Self, String> {
        let glob = globset::GlobBuilder::new(text)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("invalid glob `{text}`: {}", e.kind()))?;
        Ok(Self {
            text: text.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        self.matcher.is_match(value)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Glob::new(&text).map_err(de::Error::custom)
    }
}

/// A condition in the Helix rule grammar, which proctor's own rules share:
/// a plain string matches exactly, `{"contains": ..}` a substring,
/// `{"wildcard": ..}` with `*` and `?`, `{"regex": ..}` a regular expression
/// found anywhere. Every comparison ignores case.
#[derive(Debug, Clone)]
pub enum Condition {
    Exact(String),
    Contains(String),
    Pattern(Regex),
}

impl Condition {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Condition::Exact(expected) => value.to_lowercase() == *expected,
            Condition::Contains(part) => value.to_lowercase().contains(part.as_str()),
            Condition::Pattern(regex) => regex.is_match(value),
        }
    }

    /// For multi-line properties such as a stack trace: any one line matches.
    pub fn matches_a_line(&self, value: &str) -> bool {
        value.lines().any(|line| self.matches(line.trim_end()))
    }

    fn regex(source: &str) -> Result<Regex, String> {
        RegexBuilder::new(source)
            .case_insensitive(true)
            .build()
            .map_err(|e| format!("invalid regex `{source}`: {e}"))
    }

    /// `*` is any run of characters, `?` any one; the rest is literal.
    fn wildcard(pattern: &str) -> Result<Regex, String> {
        let mut source = String::from("^(?s:");
        for c in pattern.chars() {
            match c {
                '*' => source.push_str(".*"),
                '?' => source.push('.'),
                c => source.push_str(&regex::escape(&c.to_string())),
            }
        }
        source.push_str(")$");
        Self::regex(&source)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConditionVisitor;

        impl<'de> Visitor<'de> for ConditionVisitor {
            type Value = Condition;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, or an object with one of `contains`, `wildcard`, `regex`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Condition, E> {
                Ok(Condition::Exact(value.to_lowercase()))
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Condition, M::Error> {
                let Some(operator) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "an empty condition; use one of `contains`, `wildcard`, `regex`",
                    ));
                };
                let value: String = map.next_value()?;
                let condition = match operator.as_str() {
                    "contains" => Condition::Contains(value.to_lowercase()),
                    "wildcard" => {
                        Condition::Pattern(Condition::wildcard(&value).map_err(de::Error::custom)?)
                    }
                    "regex" => {
                        Condition::Pattern(Condition::regex(&value).map_err(de::Error::custom)?)
                    }
                    other => {
                        return Err(de::Error::unknown_field(
                            other,
                            &["contains", "wildcard", "regex"],
                        ))
                    }
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "a condition takes one operator; `{extra}` follows `{operator}`"
                    )));
                }
                Ok(condition)
            }
        }

        deserializer.deserialize_any(ConditionVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(json: &str) -> Condition {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn conditions_ignore_case() {
        assert!(condition(r#""System.Net.Tests""#).matches("system.net.TESTS"));
        assert!(!condition(r#""System.Net""#).matches("System.Net.Tests"));
        assert!(condition(r#"{"contains": "NETWORK"}"#).matches("the network is down"));
        assert!(condition(r#"{"regex": "^sys.*tests$"}"#).matches("System.Net.Tests"));
        assert!(condition(r#"{"regex": "net"}"#).matches("System.Net.Tests"));
    }

    #[test]
    fn wildcards_cover_the_whole_value() {
        let wildcard = condition(r#"{"wildcard": "System.*.T?sts"}"#);
        assert!(wildcard.matches("system.Net.Tests"));
        assert!(wildcard.matches("System.a.b.Tosts"));
        assert!(!wildcard.matches("System.Net.Tests.More"));
        assert!(
            !condition(r#"{"wildcard": "a.b"}"#).matches("axb"),
            "dots are literal"
        );
    }

    #[test]
    fn multi_line_values_match_line_by_line() {
        let frame = condition(r#"{"wildcard": "at Foo.Bar()*"}"#);
        let stack = "at Baz.Qux() in x.cs:line 3\n   \nat Foo.Bar() in y.cs:line 9\n";
        assert!(frame.matches_a_line(&stack.replace("   ", "")));
        assert!(!frame.matches(stack));
    }

    #[test]
    fn bad_conditions_are_refused_with_the_reason() {
        let error = serde_json::from_str::<Condition>(r#"{"regex": "(unclosed"}"#).unwrap_err();
        assert!(
            error.to_string().contains("invalid regex `(unclosed`"),
            "{error}"
        );
        let error = serde_json::from_str::<Condition>(r#"{"like": "x"}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `like`"),
            "{error}"
        );
        let error = serde_json::from_str::<Glob>(r#""a[b""#).unwrap_err();
        assert!(error.to_string().contains("invalid glob `a[b`"), "{error}");
    }
}
