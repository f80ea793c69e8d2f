//! Splitting a YAML stream into its documents.
//!
//! In: the text of one file or standard input. Out: its documents, each with the line it
//! starts on and whether it holds anything but blank lines and comments, split on `---`
//! and `...` markers as a YAML parser splits them; a marker inside a more indented block
//! scalar does not split. Text is borrowed from the stream where it can be.

use std::borrow::Cow;

/// One document of a YAML stream.
pub(super) struct YamlDocument<'a> {
    /// 1-based file line where it starts.
    pub(super) line: usize,
    /// Its text, from its first content line; every line ends with a line break.
    pub(super) text: Cow<'a, str>,
    /// Whether it holds anything but blank lines and comments.
    pub(super) has_content: bool,
}

/// Splits a YAML stream on document markers, keeping each document's first line. A
/// document's text is borrowed from the stream when it can be (no carriage returns, a
/// final line break), so most documents are never copied. Inside a document only a line
/// that starts with `---` or `...` can end it, so the lines between are skipped in one
/// search (and counted, for line numbers) instead of being looked at one by one.
pub(super) fn split_yaml(text: &str) -> Vec<YamlDocument<'_>> {
    let bytes = text.as_bytes();
    let mut docs = Vec::new();
    let mut start = 1;
    let mut has_content = false;
    // The current document's bytes in `text`, from its first content to its last line.
    let (mut from, mut to) = (0, 0);
    // The start of the next line, and its 0-based index.
    let (mut offset, mut next_index) = (0, 0);
    let mut markers = MarkerLines::new(bytes);
    while offset < bytes.len() {
        if has_content {
            let next = markers.next_from(offset);
            let skip_to = next.unwrap_or(bytes.len());
            if skip_to > offset {
                next_index += count_line_breaks(&bytes[offset..skip_to]);
                (offset, to) = (skip_to, skip_to);
            }
            if next.is_none() {
                break;
            }
        }
        // The line at `offset` with its line break, as `str::split_inclusive('\n')` gives it.
        let line_start = offset;
        offset = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |p| offset + p + 1);
        let piece = &text[line_start..offset];
        let i = next_index;
        next_index += 1;
        let line = match piece.strip_suffix('\n') {
            Some(l) => l.strip_suffix('\r').unwrap_or(l),
            None => piece,
        };
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker {
            docs.push(yaml_document(text, start, from..to, has_content));
            start = i + 1;
            has_content = false;
            (from, to) = (offset, offset);
            // Content after the marker on the same line belongs to the new document.
            let rest = line[3..].trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                has_content = true;
                from = line_start + (line.len() - rest.len());
            }
            continue;
        }
        if line == "..." {
            docs.push(yaml_document(text, start, from..to, has_content));
            has_content = false;
            (from, to) = (offset, offset);
            continue;
        }
        if !has_content {
            if line.starts_with('%') {
                continue;
            }
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            // The blank and comment lines before the first content are left out, so the
            // parser's line numbers count from `start` and errors point at the right line.
            start = i + 1;
            has_content = true;
            from = line_start;
        }
        to = offset;
    }
    docs.push(yaml_document(text, start, from..to, has_content));
    docs
}

/// The line breaks in `bytes` (counted many bytes at a time).
fn count_line_breaks(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Finds the lines that could be document markers: those starting with `---` or `...`.
struct MarkerLines<'a> {
    bytes: &'a [u8],
    dashes: NextMatch,
    dots: NextMatch,
}

/// The next match of one needle, searched once and kept until it is passed.
struct NextMatch {
    finder: memchr::memmem::Finder<'static>,
    /// The line start the last search found (`Some(None)`: there are no more).
    found: Option<Option<usize>>,
}

impl NextMatch {
    fn new(needle: &'static [u8]) -> Self {
        NextMatch {
            finder: memchr::memmem::Finder::new(needle),
            found: None,
        }
    }

    /// The first line after `offset` (a line start) that starts with what follows the
    /// needle's leading line break.
    fn next_from(&mut self, bytes: &[u8], offset: usize) -> Option<usize> {
        match self.found {
            Some(None) => return None,
            Some(Some(line)) if line >= offset => return Some(line),
            _ => {}
        }
        let line = self.finder.find(&bytes[offset..]).map(|m| offset + m + 1);
        self.found = Some(line);
        line
    }
}

impl<'a> MarkerLines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        MarkerLines {
            bytes,
            dashes: NextMatch::new(b"\n---"),
            dots: NextMatch::new(b"\n..."),
        }
    }

    /// The first line at or after `offset` (a line start) that starts with `---` or `...`.
    fn next_from(&mut self, offset: usize) -> Option<usize> {
        let rest = &self.bytes[offset..];
        if rest.starts_with(b"---") || rest.starts_with(b"...") {
            return Some(offset);
        }
        let dashes = self.dashes.next_from(self.bytes, offset);
        let dots = self.dots.next_from(self.bytes, offset);
        match (dashes, dots) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn yaml_document(
    text: &str,
    line: usize,
    range: std::ops::Range<usize>,
    has_content: bool,
) -> YamlDocument<'_> {
    let slice = if has_content { &text[range] } else { "" };
    let text = if memchr::memchr(b'\r', slice.as_bytes()).is_none()
        && (slice.is_empty() || slice.ends_with('\n'))
    {
        Cow::Borrowed(slice)
    } else {
        Cow::Owned(slice.lines().flat_map(|l| [l, "\n"]).collect())
    };
    YamlDocument {
        line,
        text,
        has_content,
    }
}
