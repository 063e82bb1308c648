//! Text a test printed, made safe for where it goes: an XML 1.0 document,
//! or a terminal.
//!
//! Whatever a test prints ends up in names, messages and output: terminal
//! colour codes, NUL bytes, form feeds, `U+FFFF`. XML 1.0 cannot hold C0
//! control characters other than tab and line breaks, nor `U+FFFE` and
//! `U+FFFF`, and a parser refuses the whole file for one of them; a terminal
//! obeys control characters instead of showing them. So terminal escape
//! sequences are removed (they carry colour, not content), and every other
//! character that cannot go is written as a Rust-style escape, `\u{1b}`, so
//! that nothing is lost silently. Text that needs none of this is returned
//! as it is, without a copy.

use std::borrow::Cow;

/// Text for an XML 1.0 document, as element content or attribute value.
pub fn for_xml(text: &str) -> Cow<'_, str> {
    clean(text, |c| match c {
        '\t' | '\n' | '\r' => true,
        '\u{fffe}' | '\u{ffff}' => false,
        c => c >= ' ',
    })
}

/// `n` things for a person to read: `1 file`, `2 files`, `0 files`, for
/// the nouns made plural with an `s`.
pub fn counted(n: usize, singular: &str) -> String {
    match n {
        1 => format!("1 {singular}"),
        n => format!("{n} {singular}s"),
    }
}

/// Text for a terminal line: no control character reaches the terminal;
/// with `multiline`, line breaks and tabs stay.
pub fn for_terminal(text: &str, multiline: bool) -> Cow<'_, str> {
    clean(text, |c| match c {
        '\n' | '\t' => multiline,
        c => !c.is_control(),
    })
}

/// `text` with terminal escape sequences removed and the characters `keep`
/// refuses escaped.
fn clean(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if text.chars().all(&keep) {
        return Cow::Borrowed(text);
    }
    let mut cleaned = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && skip_escape_sequence(&mut chars) {
            continue;
        }
        match keep(c) {
            true => cleaned.push(c),
            false => cleaned.extend(c.escape_unicode()),
        }
    }
    Cow::Owned(cleaned)
}

/// Consumes the rest of an escape sequence after its `ESC`, as ECMA-48
/// defines them: a control sequence (`ESC [`, parameters, a final byte in
/// `@`..`~`), an operating system command (`ESC ]` up to `BEL` or `ESC \`),
/// or a two-character sequence. Answers whether there was one.
fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    match chars.peek() {
        Some('[') => {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        Some(&c) if ('@'..='_').contains(&c) => {
            chars.next();
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_not_copied() {
        assert!(matches!(
            for_xml("plain\ttext\r\n ünïcödé"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(for_terminal("a line", false), Cow::Borrowed(_)));
    }

    #[test]
    fn xml_keeps_what_it_can_hold_and_escapes_the_rest() {
        assert_eq!(
            for_xml("\u{1b}[1;31mred\u{1b}[0m bell\u{7} nul\0 \u{fffe}\u{ffff} del\u{7f}"),
            "red bell\\u{7} nul\\u{0} \\u{fffe}\\u{ffff} del\u{7f}"
        );
        assert_eq!(
            for_xml("\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\ lone \u{1b}"),
            "link lone \\u{1b}"
        );
    }

    #[test]
    fn a_terminal_gets_no_control_character() {
        assert_eq!(
            for_terminal("a\nb\u{9b}c\u{1b}[2Jd\te", false),
            "a\\u{a}b\\u{9b}cd\\u{9}e"
        );
        assert_eq!(for_terminal("a\nb\tc\u{8}", true), "a\nb\tc\\u{8}");
    }
}
