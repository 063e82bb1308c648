//! Writing XML a streamed element at a time, every text and attribute
//! value made fit for XML 1.0 on the way ([`crate::text::for_xml`]), then
//! escaped by quick-xml.
//!
//! Tags go straight to the output, indented by two spaces as quick-xml's
//! own writer indents them (a line for each tag; a closing tag after text
//! on the text's line). Building each element as quick-xml's owned
//! `BytesStart` first, attribute by attribute, cost more than anything
//! else in the reports of a run of many small tests.

use std::io::Write;

use quick_xml::escape::escape;

use crate::text::for_xml;

pub type XmlResult = Result<(), std::io::Error>;

/// Whether `text` is written as it is: printable ASCII that XML does not
/// escape. Every byte is looked at, with no early exit, so that the loop
/// runs a vector's width of bytes at a time: most values are plain, and
/// the scan of them was the largest part of writing a TRX file.
fn is_plain(text: &str) -> bool {
    let escaped_or_unprintable = |byte: u8| {
        !(b' '..=b'~').contains(&byte) | matches!(byte, b'<' | b'>' | b'&' | b'\'' | b'"')
    };
    !(text.bytes()).fold(false, |found, byte| found | escaped_or_unprintable(byte))
}

pub struct XmlWriter<W: Write> {
    out: W,
    /// How many elements are open.
    depth: usize,
    /// What was written last was text: a closing tag stays on its line.
    after_text: bool,
}

impl<W: Write> XmlWriter<W> {
    /// A document with its declaration written, indented by two spaces.
    pub fn new(mut out: W) -> Result<Self, std::io::Error> {
        out.write_all(br#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        Ok(Self {
            out,
            depth: 0,
            after_text: false,
        })
    }

    /// A line break and the indentation of the current depth.
    fn new_line(&mut self) -> XmlResult {
        const SPACES: &[u8; 64] = &[b' '; 64];
        self.out.write_all(b"\n")?;
        let mut left = self.depth * 2;
        while left > 0 {
            let step = left.min(SPACES.len());
            self.out.write_all(&SPACES[..step])?;
            left -= step;
        }
        Ok(())
    }

    fn escaped(&mut self, text: &str) -> XmlResult {
        // Most values are plain ASCII: one pass over the bytes tells, where
        // cleaning then escaping takes two over the characters.
        if is_plain(text) {
            return self.out.write_all(text.as_bytes());
        }
        self.out.write_all(escape(for_xml(text)).as_bytes())
    }

    /// A start tag on a line of its own, ending with `end`.
    fn tag(&mut self, name: &str, attributes: &[(&str, &str)], end: &[u8]) -> XmlResult {
        self.new_line()?;
        self.out.write_all(b"<")?;
        self.out.write_all(name.as_bytes())?;
        for (key, value) in attributes {
            self.out.write_all(b" ")?;
            self.out.write_all(key.as_bytes())?;
            self.out.write_all(b"=\"")?;
            self.escaped(value)?;
            self.out.write_all(b"\"")?;
        }
        self.after_text = false;
        self.out.write_all(end)
    }

    pub fn open(&mut self, name: &str, attributes: &[(&str, &str)]) -> XmlResult {
        self.tag(name, attributes, b">")?;
        self.depth += 1;
        Ok(())
    }

    pub fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) -> XmlResult {
        self.tag(name, attributes, b"/>")
    }

    pub fn close(&mut self, name: &str) -> XmlResult {
        self.depth = self.depth.saturating_sub(1);
        if !self.after_text {
            self.new_line()?;
        }
        self.after_text = false;
        self.out.write_all(b"</")?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(b">")
    }

    /// An element holding `text`, with `attributes`.
    pub fn text_element(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
        text: &str,
    ) -> XmlResult {
        self.open(name, attributes)?;
        self.escaped(text)?;
        self.after_text = true;
        self.close(name)
    }

    /// An element holding `text`, or an empty one without it.
    pub fn element(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
        text: Option<&str>,
    ) -> XmlResult {
        match text {
            Some(text) => self.text_element(name, attributes, text),
            None => self.empty(name, attributes),
        }
    }

    /// Ends the document with a line break and hands back the output.
    pub fn finish(self) -> Result<W, std::io::Error> {
        let mut out = self.out;
        out.write_all(b"\n")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(build: impl FnOnce(&mut XmlWriter<Vec<u8>>) -> XmlResult) -> String {
        let mut xml = XmlWriter::new(Vec::new()).unwrap();
        build(&mut xml).unwrap();
        String::from_utf8(xml.finish().unwrap()).unwrap()
    }

    #[test]
    fn each_tag_has_a_line_indented_by_depth_and_text_keeps_its_closing_tag() {
        let document = written(|xml| {
            xml.open("run", &[("id", "1")])?;
            xml.open("results", &[])?;
            xml.empty("result", &[("outcome", "Passed")])?;
            xml.text_element("message", &[], "it broke")?;
            xml.close("results")?;
            xml.close("run")
        });
        let expected = [
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<run id="1">"#,
            r#"  <results>"#,
            r#"    <result outcome="Passed"/>"#,
            r#"    <message>it broke</message>"#,
            r#"  </results>"#,
            r#"</run>"#,
            "",
        ];
        assert_eq!(document, expected.join("\n"));
    }

    #[test]
    fn values_of_any_kind_read_back_as_xml_can_hold_them() {
        let values = [
            "plain",
            "markup <a href='x'>&amp;\"</a>",
            "naïve ünïcode, 日本",
            "a NUL \0, a bell \u{7} and \u{1b}[31mcolour\u{1b}[0m",
            "not a character: \u{ffff}",
        ];
        for value in values {
            let document = written(|xml| xml.text_element("m", &[("v", value)], value));
            let parsed = roxmltree::Document::parse(&document)
                .unwrap_or_else(|e| panic!("{value:?} made unreadable XML ({e}): {document}"));
            let element = parsed.root_element();
            let kept = for_xml(value);
            assert_eq!(element.attribute("v"), Some(kept.as_ref()), "{value:?}");
            assert_eq!(element.text(), Some(kept.as_ref()), "{value:?}");
        }
    }
}
