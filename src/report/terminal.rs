//! Text for a terminal: what came from manifests or a cluster (names, images, file paths,
//! parser messages) is shown with its control characters escaped.
//!
//! In: any string. Out: the same string where every character a terminal would act on
//! instead of print is written as a visible escape: C0 and C1 controls and DEL (`\x1b`,
//! `\n`, `\u{9b}`), and the bidirectional formatting characters that reorder what is
//! shown (`\u{202e}`). A name holding `ESC ] 0 ; ...` cannot retitle the window, move the
//! cursor or hide a line, and a newline in a name cannot forge a line of the report.

use std::borrow::Cow;
use std::fmt::Write;

/// True for a character a terminal acts on, or that reorders the text around it.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control and bidirectional formatting character escaped; borrowed when
/// there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[rstest::rstest]
    #[case::plain("shop/Deployment/web", "shop/Deployment/web")]
    #[case::unicode_letters("équipe/Pod/café", "équipe/Pod/café")]
    #[case::window_title("a\u{1b}]0;pwned\u{7}b", "a\\x1b]0;pwned\\x07b")]
    #[case::colour("\u{1b}[31mred", "\\x1b[31mred")]
    #[case::newline_forges_a_line("web\nshop/Pod/x  HIGH", "web\\nshop/Pod/x  HIGH")]
    #[case::carriage_return("ok\rBAD", "ok\\rBAD")]
    #[case::c1_csi("a\u{9b}2Jb", "a\\u{9b}2Jb")]
    #[case::delete("a\u{7f}", "a\\x7f")]
    #[case::right_to_left_override("file\u{202e}lmay.exe", "file\\u{202e}lmay.exe")]
    fn control_and_reordering_characters_are_shown_escaped(#[case] raw: &str, #[case] shown: &str) {
        assert_eq!(escape(raw), shown);
    }

    #[test]
    fn escaped_text_holds_no_control_character() {
        let all: String = (0u32..0x250).filter_map(char::from_u32).collect();
        assert!(!escape(&all).chars().any(char::is_control));
    }
}
