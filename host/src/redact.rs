//! Secrets kept out of everything proctor prints or writes.
//!
//! A payload's URI may carry credentials: userinfo (`https://user:key@…`),
//! or a signature or token in its query (a presigned S3, GCS or Azure
//! URL). Downloader settings may hold header values (`Authorization`). The
//! request needs them; nothing else does. A [`Redactor`] is built with the
//! configuration, learns every secret the configuration holds, and is
//! applied where a string first enters the run's records: a download's URI
//! as shown, a plugin's error, a configuration error. Whatever is later
//! built from those records (console, journal, summary, Helix's report,
//! history) then has nothing to leak.
//!
//! Two rules, since a plugin may quote a URI it was sent to by a redirect,
//! or a secret outside any URI:
//! - **URIs in text**: their userinfo, and the values of query parameters
//!   whose names are secret (case-insensitive), are replaced.
//! - **Known values**: each secret learnt from the configuration is
//!   replaced wherever it appears, as written and percent-decoded; values
//!   shorter than [`MIN_VALUE_LEN`] are replaced only inside URIs, where
//!   their place is known, since a short one would blot out ordinary words.

use std::borrow::Cow;
use std::collections::BTreeSet;

use percent_encoding::percent_decode_str;

/// What a secret is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose values are secret unless the configuration adds
/// more: signatures and tokens of presigned URLs and OAuth.
pub const SECRET_PARAMETERS: [&str; 8] = [
    "sig",
    "signature",
    "token",
    "access_token",
    "code",
    "x-amz-signature",
    "x-amz-credential",
    "x-goog-signature",
];

/// The shortest known value replaced in free text.
pub const MIN_VALUE_LEN: usize = 4;

/// Replaces secrets in text; see the module's documentation.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Lower-case names of the query parameters whose values are secret.
    parameters: BTreeSet<String>,
    /// Known secret values, longest first, so that one holding another is
    /// replaced whole.
    values: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(std::iter::empty::<&str>())
    }
}

impl Redactor {
    /// A redactor for the built-in parameter names and `added` ones.
    pub fn new<S: AsRef<str>>(added: impl IntoIterator<Item = S>) -> Self {
        let built_in = SECRET_PARAMETERS.iter().map(|name| name.to_string());
        let added = added.into_iter().map(|name| name.as_ref().to_lowercase());
        Self {
            parameters: built_in.chain(added).collect(),
            values: Vec::new(),
        }
    }

    /// Learns the secrets `uri` carries, and answers it as it may be shown.
    pub fn learn_uri(&mut self, uri: &str) -> String {
        let mut found = Vec::new();
        let shown = redact_uri(uri, &self.parameters, &mut |secret| {
            found.push(secret.to_owned())
        });
        for secret in found {
            self.learn_value(&secret);
        }
        shown
    }

    /// Learns a secret value (a header's, a password), to be replaced
    /// wherever it appears.
    pub fn learn_value(&mut self, value: &str) {
        let decoded = percent_decode_str(value).decode_utf8_lossy().into_owned();
        for form in [value.to_owned(), decoded] {
            if form.len() >= MIN_VALUE_LEN && !self.values.contains(&form) {
                self.values.push(form);
            }
        }
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// `text` without the secrets it holds.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        if text.contains("://") {
            text = Cow::Owned(redact_uris(&text, &self.parameters));
        }
        for value in &self.values {
            if text.contains(value.as_str()) {
                text = Cow::Owned(text.replace(value.as_str(), REDACTED));
            }
        }
        text
    }

    /// [`Self::redact`], owned.
    pub fn redacted(&self, text: &str) -> String {
        self.redact(text).into_owned()
    }
}

/// Characters that end a URI quoted in text: whitespace, quotes, brackets.
fn ends_uri(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// Every URI in `text` redacted.
fn redact_uris(text: &str, parameters: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: letters, digits, `+`, `-`, `.` before the `://`.
        let scheme_start = (rest[..at].char_indices().rev())
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = rest[at..].find(ends_uri).map_or(rest.len(), |i| at + i);
        // Punctuation after a URI ends the sentence, not the URI.
        let end = at
            + rest[at..end]
                .trim_end_matches(['.', ',', ':', ';', '!', '?', ')'])
                .len();
        out.push_str(&rest[..scheme_start]);
        out.push_str(&redact_uri(
            &rest[scheme_start..end],
            parameters,
            &mut |_| {},
        ));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// One URI with its userinfo and secret parameters' values replaced;
/// `found` is told each secret replaced.
fn redact_uri(uri: &str, parameters: &BTreeSet<String>, found: &mut dyn FnMut(&str)) -> String {
    let Some(after_scheme) = uri.find("://").map(|i| i + 3) else {
        return uri.to_owned();
    };
    let mut out = String::from(&uri[..after_scheme]);
    let rest = &uri[after_scheme..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if !userinfo.is_empty() => {
            found(userinfo);
            if let Some((_, password)) = userinfo.split_once(':') {
                found(password);
            }
            out.push_str(REDACTED);
            out.push('@');
            out.push_str(host);
        }
        _ => out.push_str(authority),
    }
    let Some(query_start) = rest.find('?') else {
        out.push_str(rest);
        return out;
    };
    let query_end = rest
        .find('#')
        .filter(|&i| i > query_start)
        .unwrap_or(rest.len());
    out.push_str(&rest[..=query_start]);
    let query = &rest[query_start + 1..query_end];
    for (index, pair) in query.split('&').enumerate() {
        if index > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, value)) if is_secret(name, parameters) => {
                found(value);
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out.push_str(&rest[query_end..]);
    out
}

fn is_secret(name: &str, parameters: &BTreeSet<String>) -> bool {
    let name = percent_decode_str(name).decode_utf8_lossy().to_lowercase();
    parameters.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_and_secret_parameters_are_replaced_and_the_rest_kept() {
        let mut redactor = Redactor::default();
        let shown = redactor.learn_uri(
            "https://alice:s3cr%2Ft@store.example/payload.zip?X-Amz-Credential=AKIA%2F20261204&x-amz-date=20261204&X-Amz-Signature=abcdef0123#frag",
        );
        assert_eq!(
            shown,
            "https://REDACTED@store.example/payload.zip?X-Amz-Credential=REDACTED&x-amz-date=20261204&X-Amz-Signature=REDACTED#frag"
        );
        // What the URI carried is now known wherever it appears, in both
        // its written and its decoded form.
        let said = "GET failed: signature abcdef0123 rejected for s3cr/t (AKIA/20261204)";
        assert_eq!(
            redactor.redact(said),
            "GET failed: signature REDACTED rejected for REDACTED (REDACTED)"
        );
    }

    #[test]
    fn a_uri_quoted_in_text_is_redacted_without_having_been_learnt() {
        let redactor = Redactor::new(["api_key"]);
        let text = "redirected to `https://cdn.example/x?sig=zzz&API_KEY=k&keep=1`, then \"ftp://u@h/f\" failed; \
                    GET https://h/y?token=t: 404 (see https://h/z?code=c).";
        assert_eq!(
            redactor.redact(text),
            "redirected to `https://cdn.example/x?sig=REDACTED&API_KEY=REDACTED&keep=1`, then \"ftp://REDACTED@h/f\" failed; \
             GET https://h/y?token=REDACTED: 404 (see https://h/z?code=REDACTED)."
        );
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        let redactor = Redactor::default();
        for text in [
            "plain words",
            "é://x",
            "aé://y/z?a=b",
            "https://example.com/a?b=c",
            "://",
            "x://@",
            "a://b?",
        ] {
            assert_eq!(redactor.redact(text), text);
        }
        assert!(matches!(redactor.redact("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_are_replaced_only_inside_uris() {
        let mut redactor = Redactor::default();
        assert_eq!(
            redactor.learn_uri("https://a:b@h/?code=x"),
            "https://REDACTED@h/?code=REDACTED"
        );
        assert_eq!(redactor.redact("a b x"), "a b x");
    }

    #[test]
    fn a_value_holding_another_is_replaced_whole() {
        let mut redactor = Redactor::default();
        redactor.learn_value("Bearer tok-123");
        redactor.learn_value("tok-123");
        redactor.learn_value("Bearer tok-123456");
        assert_eq!(
            redactor.redact("Authorization: Bearer tok-123456"),
            "Authorization: REDACTED"
        );
    }
}
