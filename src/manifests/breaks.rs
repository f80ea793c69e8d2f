//! The YAML 1.1 line breaks `kubectl` honours and YAML 1.2 readers do not: NEL (U+0085),
//! LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029).
//!
//! In: the text of one document. Out: the text with each of them written as the line break
//! `kubectl`'s reader sees, and where the LS and PS were. go-yaml v2 (under
//! sigs.k8s.io/yaml) treats all three as line breaks everywhere: a plain scalar ends at
//! one (`image: nginx:latest` followed by NEL is `nginx:latest`), a comment ends at one, and
//! the text after one starts a new line at column 0. Its `read_line` turns a NEL into `\n`
//! outright, so a NEL here becomes `\n` and the document reads exactly as go-yaml reads it
//! (a CR before a NEL is two breaks there, and stays two here). An LS or PS is kept as
//! itself when go-yaml copies a line break into a value (a multi-line scalar folded or
//! kept across it), where a YAML 1.2 reader would fold a `\n`; so each is made a `\n` for
//! the structure, and its position is returned for the caller to refuse a value that
//! spans one, instead of reading a value `kubectl` would not send.

use std::borrow::Cow;

const NEL: char = '\u{85}';
const LS: char = '\u{2028}';
const PS: char = '\u{2029}';

/// A document with its YAML 1.1 line breaks made `\n`.
pub(super) struct Normalized<'a> {
    /// The text.
    pub text: Cow<'a, str>,
    /// Character indexes in `text` of the `\n` written for an LS or PS.
    pub separators: Vec<usize>,
}

/// Writes NEL, LS and PS as `\n`; borrows the text when it holds none.
pub(super) fn normalize(doc: &str) -> Normalized<'_> {
    // ASCII text (nearly every manifest) is told apart a word at a time.
    if doc.is_ascii() || !doc.contains([NEL, LS, PS]) {
        return Normalized {
            text: Cow::Borrowed(doc),
            separators: Vec::new(),
        };
    }
    let mut text = String::with_capacity(doc.len());
    let mut separators = Vec::new();
    for (index, c) in doc.chars().enumerate() {
        match c {
            NEL => {
                // CR then NEL are two breaks for go-yaml; CR LF would be one here.
                if text.ends_with('\r') {
                    text.pop();
                    text.push('\n');
                }
                text.push('\n');
            }
            LS | PS => {
                separators.push(index);
                text.push('\n');
            }
            c => text.push(c),
        }
    }
    Normalized {
        text: Cow::Owned(text),
        separators,
    }
}

/// The error for a value that spans an LS or PS.
pub(super) fn spanned_separator_message() -> String {
    "a U+2028 LINE SEPARATOR or U+2029 PARAGRAPH SEPARATOR breaks a line inside a value; \
     kubectl keeps it as a character of that value, which is not reproduced here: remove \
     it, or write it as \\L or \\P in a double-quoted string"
        .to_owned()
}

#[cfg(test)]
#[path = "breaks_tests.rs"]
mod reading;

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn a_nel_is_a_newline_and_a_cr_before_it_stays_a_break_of_its_own() {
        assert_eq!(normalize("a: x\u{85}b: y").text, "a: x\nb: y");
        assert_eq!(normalize("a: x\r\u{85}b: y").text, "a: x\n\nb: y");
        assert!(normalize("a: x\u{85}").separators.is_empty());
    }

    #[test]
    fn separators_become_newlines_and_their_places_are_kept() {
        let n = normalize("é: x\u{2028}b: y\u{2029}");
        assert_eq!(n.text, "é: x\nb: y\n");
        assert_eq!(n.separators, [4, 9]);
    }

    #[test]
    fn text_without_them_is_borrowed() {
        assert!(matches!(
            normalize("a: b\n").text,
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
