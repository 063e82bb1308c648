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
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = (inner.line(), inner.column());
        let (path, message) = suggested(&path, strip_position(&inner.to_string()), ".");
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
pub fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The object an error names and the error, for an unknown key at `path`
/// with the nearest valid key suggested: the path ends with the unknown
/// key itself, so the object holding it is named (`root` at the top).
/// Any other error is as given.
pub fn suggested(path: &str, mut problem: String, root: &str) -> (String, String) {
    match suggestion(&problem) {
        Some(hint) => {
            problem.push_str(&hint);
            let holder = path.rsplit_once('.').map_or(root, |(parent, _)| parent);
            (holder.to_owned(), problem)
        }
        None => (path.to_owned(), problem),
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
                i = string_end(bytes, i);
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

/// The index just past the string that starts (at its quote) at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index just past the value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        Some(b'"') => string_end(bytes, start),
        Some(b'{' | b'[') => {
            let (mut i, mut depth) = (start, 0usize);
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i = string_end(bytes, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        // A number, `true`, `false` or `null`.
        _ => (start..bytes.len())
            .find(|&i| matches!(bytes[i], b',' | b'}' | b']') || bytes[i].is_ascii_whitespace())
            .unwrap_or(bytes.len()),
    }
}

/// One step of a key path: an object's key or an array's index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `sources[0].settings.args[2]` as steps; `None` for a path it cannot read.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        while let Some(rest) = indices.strip_prefix('[') {
            let (index, after) = rest.split_once(']')?;
            steps.push(Step::Index(index.parse().ok()?));
            indices = after;
        }
    }
    Some(steps)
}

/// Where `path` (as error messages write it: `a.b[2].c`) is in the JSON
/// `text`, as a 1-based line and column: a key's name, an element's value.
/// `None` when the text has no such path. For errors found after parsing
/// (a plugin's settings are read by the plugin), to point into the file.
pub fn position_of(text: &str, path: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    let mut found = at;
    for step in steps(path)? {
        match step {
            Step::Key(wanted) => {
                (bytes.get(at) == Some(&b'{')).then_some(())?;
                at += 1;
                loop {
                    at = skip_whitespace(bytes, at);
                    (bytes.get(at) == Some(&b'"')).then_some(())?;
                    let key_end = string_end(bytes, at);
                    let key: String = serde_json::from_str(text.get(at..key_end)?).ok()?;
                    let colon = skip_whitespace(bytes, key_end);
                    (bytes.get(colon) == Some(&b':')).then_some(())?;
                    let value = skip_whitespace(bytes, colon + 1);
                    if key == wanted {
                        (found, at) = (at, value);
                        break;
                    }
                    at = skip_whitespace(bytes, value_end(bytes, value));
                    (bytes.get(at) == Some(&b',')).then_some(())?;
                    at += 1;
                }
            }
            Step::Index(wanted) => {
                (bytes.get(at) == Some(&b'[')).then_some(())?;
                at = skip_whitespace(bytes, at + 1);
                for _ in 0..wanted {
                    at = skip_whitespace(bytes, value_end(bytes, at));
                    (bytes.get(at) == Some(&b',')).then_some(())?;
                    at = skip_whitespace(bytes, at + 1);
                }
                (!matches!(bytes.get(at), None | Some(b']'))).then_some(())?;
                found = at;
            }
        }
    }
    let before = text.get(..found)?;
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    Some((line, column))
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

    #[test]
    fn a_path_is_found_where_the_file_has_it() {
        let text = "{\n  \"sources\": [\n    { \"name\": \"a,]}\", \"x\": [1, {\"y\": 2}] },\n    {\n      \"settings\": { \"pyhton\": \"3\" }\n    }\n  ],\n  \"k\\u0065y\": true\n}";
        assert_eq!(position_of(text, "sources[1].settings"), Some((5, 7)));
        assert_eq!(
            position_of(text, "sources[1].settings.pyhton"),
            Some((5, 21))
        );
        assert_eq!(position_of(text, "sources[0].x[1].y"), Some((3, 33)));
        assert_eq!(position_of(text, "sources[0]"), Some((3, 5)));
        // An escaped key is matched as it reads.
        assert_eq!(position_of(text, "key"), Some((8, 3)));
    }

    #[test]
    fn a_path_the_file_lacks_has_no_position() {
        let text = r#"{ "a": { "b": [1, 2] } }"#;
        for missing in ["c", "a.c", "a.b[2]", "a.b.c", "a[0]", "a.b[x]"] {
            assert_eq!(position_of(text, missing), None, "{missing}");
        }
    }
}
