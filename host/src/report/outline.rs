//! JSON laid out for both people and size: indented down to a depth, each
//! value below it on one line. `summary.json` is read by people and by
//! `grep` as often as by programs; indenting every field of every test made
//! it twice its size for a run of many tests, where one test a line reads
//! as well and greps better.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// Writes `value` indented by two spaces down to `depth` levels of
/// nesting; arrays and objects deeper than that are written compact, one
/// on a line.
pub fn to_writer_outlined(out: impl Write, value: &impl Serialize, depth: usize) -> io::Result<()> {
    let formatter = Outline {
        pretty: PrettyFormatter::new(),
        depth: 0,
        indented: depth,
    };
    let mut serializer = serde_json::Serializer::with_formatter(out, formatter);
    value.serialize(&mut serializer).map_err(io::Error::other)
}

struct Outline<'a> {
    pretty: PrettyFormatter<'a>,
    /// How deep the value being written is nested.
    depth: usize,
    /// Containers opened above this depth are indented.
    indented: usize,
}

impl Outline<'_> {
    /// Opens a container one level deeper; answers whether it is indented.
    fn enter(&mut self) -> bool {
        self.depth += 1;
        self.depth <= self.indented
    }

    /// Closes the innermost container; answers whether it was indented.
    fn leave(&mut self) -> bool {
        self.depth -= 1;
        self.depth < self.indented
    }

    /// Whether the items of the innermost open container are indented.
    fn inside_indented(&self) -> bool {
        self.depth <= self.indented
    }
}

/// Calls the pretty formatter's method when `$indented`, the compact one's otherwise.
macro_rules! either {
    ($self:ident, $indented:expr, $method:ident($($arg:expr),*)) => {
        if $indented {
            $self.pretty.$method($($arg),*)
        } else {
            CompactFormatter.$method($($arg),*)
        }
    };
}

impl Formatter for Outline<'_> {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let indented = self.enter();
        either!(self, indented, begin_array(writer))
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let indented = self.leave();
        either!(self, indented, end_array(writer))
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        either!(
            self,
            self.inside_indented(),
            begin_array_value(writer, first)
        )
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        either!(self, self.inside_indented(), end_array_value(writer))
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let indented = self.enter();
        either!(self, indented, begin_object(writer))
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let indented = self.leave();
        either!(self, indented, end_object(writer))
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        either!(
            self,
            self.inside_indented(),
            begin_object_key(writer, first)
        )
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        either!(self, self.inside_indented(), begin_object_value(writer))
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        either!(self, self.inside_indented(), end_object_value(writer))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn outlined(value: &serde_json::Value, depth: usize) -> String {
        let mut out = Vec::new();
        to_writer_outlined(&mut out, value, depth).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_below_the_depth_are_one_a_line() {
        let value = json!({
            "outcome": "passed",
            "counts": {"total": 2},
            "tests": [{"id": "a", "attempts": [{"attempt": 1}]}, {"id": "b", "attempts": []}],
            "errors": [],
        });
        // serde_json's maps sort their keys.
        let expected = r#"{
  "counts": {
    "total": 2
  },
  "errors": [],
  "outcome": "passed",
  "tests": [
    {"attempts":[{"attempt":1}],"id":"a"},
    {"attempts":[],"id":"b"}
  ]
}"#;
        assert_eq!(outlined(&value, 2), expected);
    }

    #[test]
    fn any_depth_reads_back_as_the_same_value() {
        let value = json!({"a": [[1, {"b": [2, {}]}], []], "c": {"d": {"e": null}}});
        for depth in 0..5 {
            let text = outlined(&value, depth);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                value
            );
        }
        assert!(!outlined(&value, 0).contains('\n'));
        assert_eq!(
            outlined(&value, 9),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }
}
