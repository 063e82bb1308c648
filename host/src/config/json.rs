//! Reading JSON configuration files with errors that say where and what:
//! `LINE:COLUMN: PATH: PROBLEM`, with the nearest key for a misspelt one.

use serde::de::DeserializeOwned;

/// How forgiving the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// RFC 8259 JSON.
    Strict,
    /// JSON with `//` and `/* */` comments and trailing commas, as files
    /// written for .NET tooling (Helix's among them) often are.
    Lenient,
}

pub fn parse<T: DeserializeOwned>(text: &str, dialect: Dialect) -> Result<T, String> {
    let text = match dialect {
        Dialect::Strict => std::borrow::Cow::Borrowed(text),
        Dialect::Lenient => std::borrow::Cow::Owned(blank_comments_and_trailing_commas(text)),
    };
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let mut path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = (inner.line(), inner.column());
        let mut message = strip_position(&inner.to_string());
        if let Some(hint) = suggestion(&message) {
            message.push_str(&hint);
            // The path ends with the unknown key itself; name the object holding it.
            path = path
                .rsplit_once('.')
                .map_or(".".to_owned(), |(parent, _)| parent.to_owned());
        }
        if path == "." || inner.is_syntax() || inner.is_eof() {
            format!("{line}:{column}: {message}")
        } else {
            format!("{line}:{column}: {path}: {message}")
        }
    })?;
    deserializer.end().map_err(|e| {
        format!(
            "{}:{}: {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        )
    })?;
    Ok(parsed)
}

/// serde_json appends " at line L column C"; the position is printed up front instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// For "unknown field `x`, expected one of `a`, `b`": the nearest valid key.
fn suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let nearest = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|key| (strsim::jaro_winkler(unknown, key), key))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some(format!(" (did you mean `{}`?)", nearest.1))
}

/// Replaces comments and trailing commas with spaces (newlines kept), so the
/// result is JSON and every line and column still points into the original.
fn blank_comments_and_trailing_commas(text: &str) -> String {
    let mut out: Vec<u8> = text.as_bytes().to_vec();
    let bytes = text.as_bytes();
    let blank = |out: &mut Vec<u8>, range: std::ops::Range<usize>| {
        for b in &mut out[range] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    let mut pending_comma: Option<usize> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                pending_comma = None;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |n| i + n);
                blank(&mut out, i..end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                blank(&mut out, i..end);
                i = end;
            }
            b',' => {
                pending_comma = Some(i);
                i += 1;
            }
            b']' | b'}' => {
                if let Some(comma) = pending_comma.take() {
                    out[comma] = b' ';
                }
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                pending_comma = None;
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced, by ASCII spaces")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_keeps_positions() {
        let text = "{\n  // a comment\n  \"a\": [1, 2,],  /* more */\n  \"b\": \"x // y, ]\",\n}";
        let value: serde_json::Value = parse(text, Dialect::Lenient).unwrap();
        assert_eq!(value["a"], serde_json::json!([1, 2]));
        assert_eq!(value["b"], "x // y, ]");
        let error =
            parse::<serde_json::Value>("{\n  // c\n  \"a\": tru, \"b\": 1\n}", Dialect::Lenient)
                .unwrap_err();
        assert!(error.starts_with("3:"), "{error}");
        assert!(parse::<serde_json::Value>("[1,]", Dialect::Strict).is_err());
    }
}
