//! Writing XML a streamed element at a time, every text and attribute
//! value made fit for XML 1.0 on the way ([`crate::text::for_xml`]).

use std::io::Write;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::text::for_xml;

pub type XmlResult = Result<(), std::io::Error>;

pub struct XmlWriter<W: Write> {
    writer: quick_xml::Writer<W>,
}

impl<W: Write> XmlWriter<W> {
    /// A document with its declaration written, indented by two spaces.
    pub fn new(out: W) -> Result<Self, std::io::Error> {
        let mut writer = quick_xml::Writer::new_with_indent(out, b' ', 2);
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        Ok(Self { writer })
    }

    fn start<'a>(name: &'a str, attributes: &[(&str, &str)]) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for (key, value) in attributes {
            start.push_attribute((*key, for_xml(value).as_ref()));
        }
        start
    }

    pub fn open(&mut self, name: &str, attributes: &[(&str, &str)]) -> XmlResult {
        self.writer
            .write_event(Event::Start(Self::start(name, attributes)))
    }

    pub fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) -> XmlResult {
        self.writer
            .write_event(Event::Empty(Self::start(name, attributes)))
    }

    pub fn close(&mut self, name: &str) -> XmlResult {
        self.writer.write_event(Event::End(BytesEnd::new(name)))
    }

    /// An element holding `text`, with `attributes`.
    pub fn text_element(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
        text: &str,
    ) -> XmlResult {
        self.open(name, attributes)?;
        self.writer
            .write_event(Event::Text(BytesText::new(&for_xml(text))))?;
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
        let mut out = self.writer.into_inner();
        out.write_all(b"\n")?;
        Ok(out)
    }
}
