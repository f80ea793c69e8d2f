//! A fast reader for the plain block style that nearly every Kubernetes manifest is
//! written in, giving exactly the value the full YAML parser would.
//!
//! In: the text of one YAML document (as split by the caller). Out: `Some(value)` when the
//! document stays inside the subset below, `None` otherwise, and then the caller parses it
//! with the full parser, which also produces every error message. The subset: block
//! mappings with plain keys, block sequences (compact `- key: value` items too), plain
//! scalars on one line, single- and double-quoted scalars on one line, literal block
//! scalars (`|`, `|-`), empty flow collections and one-line flow sequences of simple
//! scalars, and comments. Anything else (anchors, aliases, tags, folded or multi-line
//! scalars, complex keys, tabs, non-ASCII text, duplicate keys, infinities and NaN, keys
//! that resolve to anything but a string, such as `yes` or `null`, and every malformed
//! input) answers `None`. Plain scalars resolve exactly as the general reader resolves
//! them, with the same function: `kubectl`'s YAML 1.1 rules (`yes` and `on` are booleans,
//! `0644` is octal 420), see `yaml11`.

use std::borrow::Cow;

use super::node::Node;
use super::yaml11;

/// The entries of a mapping as they are read.
type Entries<'a> = Vec<(&'a str, Node<'a>)>;

/// Mappings up to this many entries look for a duplicate key as each is added; larger
/// ones sort their keys once at the end (a linear search per key would be quadratic).
const SEARCHED_KEYS: usize = 32;

/// Deepest nesting read here; deeper documents go to the full parser and its limit.
const MAX_DEPTH: usize = 64;

/// Longest plain key read here (the full parser refuses keys over 1,024 characters).
const MAX_KEY: usize = 256;

/// Reads `doc` into a `Value` if it stays inside the subset.
#[cfg(test)]
pub(super) fn parse(doc: &str) -> Option<serde_json::Value> {
    read(doc).map(Node::into_value)
}

/// Reads `doc` if it stays inside the subset; strings without escapes borrow from it.
pub(super) fn read(doc: &str) -> Option<Node<'_>> {
    if !doc.is_ascii() || memchr::memchr2(b'\t', b'\r', doc.as_bytes()).is_some() {
        return None;
    }
    let lines = Line::all(doc);
    let mut reader = Reader {
        lines,
        next: 0,
        entries: Entries::new(),
        items: Vec::new(),
    };
    let (indent, first) = reader.peek()?;
    if first.starts_with(['-', '{', '[']) {
        return None;
    }
    let value = reader.mapping(indent, 0)?;
    // Anything left over (a less indented line, a second root) is for the full parser.
    match reader.peek() {
        None => Some(value),
        Some(_) => None,
    }
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    next: usize,
    /// The entries of the mappings being read, innermost last: each mapping is moved
    /// out into a list of its exact size when it ends, so no list grows by doubling.
    entries: Entries<'a>,
    /// The same for the items of the sequences being read.
    items: Vec<Node<'a>>,
}

/// A line, with its indentation measured once (lines are looked at several times).
#[derive(Clone, Copy)]
struct Line<'a> {
    /// The whole line.
    text: &'a str,
    /// Its indentation: the spaces it starts with.
    indent: usize,
}

impl<'a> Line<'a> {
    /// The lines of `doc` as `str::split('\n')` gives them (after a final line break, an
    /// empty last line), each measured in the same pass.
    fn all(doc: &'a str) -> Vec<Line<'a>> {
        let bytes = doc.as_bytes();
        let mut lines = Vec::with_capacity(bytes.len() / 16 + 1);
        let mut start = 0;
        while start <= bytes.len() {
            let content = bytes[start..]
                .iter()
                .position(|&b| b != b' ')
                .map_or(bytes.len(), |p| start + p);
            let end = memchr::memchr(b'\n', &bytes[content..]).map_or(bytes.len(), |p| content + p);
            // `start` follows a line break and `end` is one (or the end): both are
            // character boundaries.
            lines.push(Line {
                text: &doc[start..end],
                indent: content - start,
            });
            start = end + 1;
        }
        lines
    }

    /// Its indentation and its content without the indentation.
    fn split_indent(self) -> (usize, &'a str) {
        // The indentation is spaces, so it ends on a character boundary.
        (self.indent, &self.text[self.indent..])
    }
}

fn is_sequence_item(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

impl<'a> Reader<'a> {
    /// The next line with content (not blank, not a comment), without consuming it.
    fn peek(&mut self) -> Option<(usize, &'a str)> {
        while let Some(line) = self.lines.get(self.next) {
            let (indent, content) = line.split_indent();
            if content.is_empty() || content.starts_with('#') {
                self.next += 1;
                continue;
            }
            return Some((indent, content));
        }
        None
    }

    /// A node that starts on the next content line, more indented than `parent`.
    fn nested(&mut self, parent: usize, depth: usize) -> Option<Node<'a>> {
        match self.peek() {
            Some((indent, content)) if indent > parent => {
                if is_sequence_item(content) {
                    self.sequence(indent, depth)
                } else if content.starts_with(['{', '[']) {
                    None
                } else {
                    self.mapping(indent, depth)
                }
            }
            _ => Some(Node::Null),
        }
    }

    /// A block mapping whose keys sit at `indent`.
    fn mapping(&mut self, indent: usize, depth: usize) -> Option<Node<'a>> {
        let start = self.entries.len();
        self.mapping_entries(start, indent, depth)
    }

    /// The entries of a block mapping whose keys sit at `indent`, after those on the stack
    /// from `start` (a compact mapping's first entry); `None` for a key already there.
    fn mapping_entries(&mut self, start: usize, indent: usize, depth: usize) -> Option<Node<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        while let Some((at, content)) = self.peek() {
            if at < indent {
                break;
            }
            if at > indent || is_sequence_item(content) {
                return None;
            }
            self.next += 1;
            let (key, rest) = key(content)?;
            let value = self.value(indent, rest, depth)?;
            let map = &self.entries[start..];
            if map.len() < SEARCHED_KEYS && map.iter().any(|(k, _)| *k == key) {
                return None;
            }
            self.entries.push((key, value));
        }
        let map = self.entries.split_off(start);
        if map.len() > SEARCHED_KEYS {
            let mut keys: Vec<&str> = map.iter().map(|(k, _)| *k).collect();
            keys.sort_unstable();
            if keys.windows(2).any(|pair| pair[0] == pair[1]) {
                return None;
            }
        }
        Some(Node::Map(map))
    }

    /// A block sequence whose `-` indicators sit at `indent`.
    fn sequence(&mut self, indent: usize, depth: usize) -> Option<Node<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.items.len();
        while let Some((at, content)) = self.peek() {
            if at != indent || !is_sequence_item(content) {
                if at > indent {
                    return None;
                }
                break;
            }
            self.next += 1;
            let after_dash = &content[1..];
            let rest = after_dash.trim_start_matches(' ');
            if rest.is_empty() || rest.starts_with('#') {
                let item = self.nested(indent, depth + 1)?;
                self.items.push(item);
                continue;
            }
            if rest.starts_with('-') && is_sequence_item(rest) {
                return None;
            }
            // The column of the item's content: a compact mapping's keys line up there.
            let column = indent + 1 + (after_dash.len() - rest.len());
            match key(rest) {
                Some((first, value_text)) => {
                    let value = self.value(column, value_text, depth + 1)?;
                    let start = self.entries.len();
                    self.entries.push((first, value));
                    let map = self.mapping_entries(start, column, depth + 1)?;
                    self.items.push(map);
                }
                None => {
                    let item = self.inline(indent, rest)?;
                    self.items.push(item);
                }
            }
        }
        Some(Node::Seq(self.items.split_off(start)))
    }

    /// The value of a mapping entry whose key sits at `indent`; `rest` follows the colon.
    fn value(&mut self, indent: usize, rest: &'a str, depth: usize) -> Option<Node<'a>> {
        let rest = rest.trim_start_matches(' ');
        if !rest.is_empty() && !rest.starts_with('#') {
            return self.inline(indent, rest);
        }
        match self.peek() {
            // A sequence may sit at its key's own indentation.
            Some((at, content)) if at == indent && is_sequence_item(content) => {
                self.sequence(indent, depth + 1)
            }
            _ => self.nested(indent, depth + 1),
        }
    }

    /// A value written on its entry's line; the following lines must not continue it.
    fn inline(&mut self, indent: usize, text: &'a str) -> Option<Node<'a>> {
        let value = match text.as_bytes()[0] {
            b'|' => return self.literal(indent, text),
            b'"' => scalar_end(double_quoted(text)?)?,
            b'\'' => scalar_end(single_quoted(text)?)?,
            b'[' => flow_sequence(text)?,
            b'{' => match without_comment(text) {
                "{}" => Node::Map(Entries::new()),
                _ => return None,
            },
            _ => plain(text)?,
        };
        match self.peek() {
            // A more indented line would continue a multi-line scalar (or be an error).
            Some((at, _)) if at > indent => None,
            _ => Some(value),
        }
    }

    /// A literal block scalar (`|` or `|-`) under an entry at `indent`.
    fn literal(&mut self, indent: usize, header: &str) -> Option<Node<'a>> {
        let strip = match without_comment(header) {
            "|" => false,
            "|-" => true,
            _ => return None,
        };
        let start = self.next;
        let mut leading_spaces = 0;
        let mut content_indent = None;
        for line in &self.lines[start..] {
            let (at, content) = line.split_indent();
            if content.is_empty() {
                leading_spaces = leading_spaces.max(at);
                continue;
            }
            content_indent = Some(at);
            break;
        }
        let content_indent = content_indent.filter(|&m| m > indent && m >= leading_spaces)?;
        let mut text = String::new();
        let mut pending_breaks = 0;
        let mut end = start;
        for line in &self.lines[start..] {
            let (at, content) = line.split_indent();
            if content.is_empty() {
                if at > content_indent {
                    return None;
                }
                pending_breaks += 1;
                end += 1;
                continue;
            }
            if at < content_indent {
                break;
            }
            // Line breaks are written only once the next content line shows they are
            // inside the scalar; trailing ones are chomped below.
            text.extend(std::iter::repeat_n('\n', pending_breaks));
            pending_breaks = 1;
            text.push_str(&line.text[content_indent..]);
            end += 1;
        }
        // Clip keeps one final line break (every document here ends with one), strip none.
        if !strip && !text.is_empty() {
            text.push('\n');
        }
        self.next = end;
        match self.peek() {
            Some((at, _)) if at > indent => None,
            _ => Some(Node::Str(Cow::Owned(text))),
        }
    }
}

/// Splits `key: rest` (or `key:` at the end of the line) when the key is a plain word.
fn key(content: &str) -> Option<(&str, &str)> {
    let bytes = content.as_bytes();
    if !(bytes[0].is_ascii_alphabetic() || bytes[0] == b'_') {
        return None;
    }
    let end = bytes.iter().position(|&b| !KEY_BYTES[usize::from(b)])?;
    if bytes[end] != b':' || end > MAX_KEY {
        return None;
    }
    let rest = &content[end + 1..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let key = &content[..end];
    if resolves_to_non_string(key) {
        return None;
    }
    Some((key, rest))
}

/// The bytes of a plain key: ASCII letters and digits, `_`, `.`, `/` and `-` (a table,
/// since every key of every document is scanned).
const KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-');
        b += 1;
    }
    table
};

fn resolves_to_non_string(word: &str) -> bool {
    yaml11::resolve(word) != yaml11::Plain::Str
}

/// `text` without a trailing comment and spaces.
fn without_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    // A comment starts at a `#` after a space; `#` is rare, so it is searched for first.
    let comment = memchr::memchr_iter(b'#', bytes)
        .find(|&i| i > 0 && bytes[i - 1] == b' ')
        .map(|i| i - 1);
    let text = match comment {
        Some(i) => &text[..i],
        None => text,
    };
    text.trim_end_matches(' ')
}

/// Whether `text` holds `: `, which would make a plain scalar a mapping key.
fn has_mapping_indicator(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b':', bytes).any(|i| bytes.get(i + 1) == Some(&b' '))
}

/// What may follow a quoted scalar on its line: spaces and a comment.
fn scalar_end<'a>((value, after): (Cow<'a, str>, &str)) -> Option<Node<'a>> {
    let after_trimmed = after.trim_start_matches(' ');
    let ok = after_trimmed.is_empty()
        || (after_trimmed.starts_with('#') && after_trimmed.len() < after.len());
    ok.then_some(Node::Str(value))
}

/// A one-line double-quoted scalar with the common escapes; returns it (borrowed when it
/// has no escapes) and what follows.
fn double_quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = &text[1..];
    if let Some(end) = memchr::memchr2(b'"', b'\\', body.as_bytes())
        && body.as_bytes()[end] == b'"'
    {
        return Some((Cow::Borrowed(&body[..end]), &body[end + 1..]));
    }
    let mut out = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(out), &text[i + 2..])),
            '\\' => out.push(match chars.next()?.1 {
                '\\' => '\\',
                '"' => '"',
                '/' => '/',
                'n' => '\n',
                't' => '\t',
                _ => return None,
            }),
            c => out.push(c),
        }
    }
    None
}

/// A one-line single-quoted scalar; returns it and what follows.
fn single_quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut out = String::new();
    let body = &text[1..];
    let mut from = 0;
    loop {
        let i = from + body[from..].find('\'')?;
        out.push_str(&body[from..i]);
        if body[i + 1..].starts_with('\'') {
            out.push('\'');
            from = i + 2;
        } else {
            return Some((Cow::Owned(out), &body[i + 1..]));
        }
    }
}

/// `[]`, or a one-line flow sequence of quoted scalars and plain words.
fn flow_sequence(text: &str) -> Option<Node<'_>> {
    let mut items = Vec::new();
    let mut rest = text[1..].trim_start_matches(' ');
    if let Some(after) = rest.strip_prefix(']') {
        return scalar_end((Cow::Borrowed(""), after)).map(|_| Node::Seq(items));
    }
    loop {
        let (item, after) = match rest.as_bytes().first()? {
            b'"' => {
                let (s, after) = double_quoted(rest)?;
                (Node::Str(s), after)
            }
            b'\'' => {
                let (s, after) = single_quoted(rest)?;
                (Node::Str(s), after)
            }
            _ => {
                let end = rest
                    .bytes()
                    .position(|b| matches!(b, b',' | b']' | b' '))
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                let simple = !word.is_empty()
                    && word.as_bytes()[0].is_ascii_alphanumeric()
                    && word.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
                    });
                if !simple {
                    return None;
                }
                (resolve(word)?, &rest[end..])
            }
        };
        items.push(item);
        let after = after.trim_start_matches(' ');
        if let Some(next) = after.strip_prefix(',') {
            rest = next.trim_start_matches(' ');
            if rest.starts_with(']') {
                // A trailing comma: valid YAML, but left to the full parser.
                return None;
            }
        } else if let Some(end) = after.strip_prefix(']') {
            return scalar_end((Cow::Borrowed(""), end)).map(|_| Node::Seq(items));
        } else {
            return None;
        }
    }
}

/// A one-line plain scalar in block context.
fn plain(text: &str) -> Option<Node<'_>> {
    let first = text.as_bytes()[0];
    let starts_well = first.is_ascii_alphanumeric()
        || matches!(
            first,
            b'/' | b'.' | b'_' | b'$' | b'(' | b'=' | b'^' | b';' | b'\\' | b'~' | b'+'
        )
        || (first == b'-' && text.len() > 1 && text.as_bytes()[1] != b' ');
    if !starts_well {
        return None;
    }
    let value = without_comment(text);
    if has_mapping_indicator(value) || value.ends_with(':') {
        return None;
    }
    resolve(value)
}

/// Resolves a plain scalar as the general reader does (go-yaml v2's YAML 1.1 rules, see
/// `yaml11`); `None` for an infinity or NaN, whose error the general reader words.
fn resolve(word: &str) -> Option<Node<'_>> {
    Some(match yaml11::resolve(word) {
        yaml11::Plain::Str => Node::Str(Cow::Borrowed(word)),
        plain => match yaml11::json(plain, word)? {
            serde_json::Value::Null => Node::Null,
            serde_json::Value::Bool(b) => Node::Bool(b),
            serde_json::Value::Number(n) => Node::Number(n),
            // Only a plain string resolves to a string, and that was read above.
            _ => return None,
        },
    })
}

#[cfg(test)]
#[path = "block_yaml_tests.rs"]
mod tests;
