//! Manifest input: files, directories and standard input to Kubernetes objects.
//!
//! In: paths (files, directories walked recursively for `.yaml`, `.yml` and `.json`, or `-`
//! for standard input). Out: every object found, with where it came from (file, document,
//! list item, line), and every problem, each naming its file. One bad document never stops
//! the others: a multi-document YAML stream is split on its `---` markers first and each
//! document is parsed alone. Binary, oversized and unreadable files, and anything that is
//! not a regular file (a device, a FIFO, a socket), are refused with a clear error, every
//! read is bounded by the bytes read (`files` holds the file-system side); nothing here
//! panics on any input. [`read`] hands each object on as soon as it is parsed, so an audit
//! never holds more than one file's bytes and one document.
//!
//! # Reading YAML
//!
//! Manifests are read the way `kubectl` reads them: sigs.k8s.io/yaml on a go-yaml v2 fork,
//! which resolves plain (unquoted) scalars by YAML 1.1 rules. `yes`, `on` and `y` are
//! booleans, `0644` is octal (420, the usual `defaultMode`), `0o17`, `0x1F` and `0b101`
//! are integers, `1e3` is 1000, `<<` merges mappings, and mapping keys are turned into
//! strings (`yes:` is the key `"true"`); quoted scalars are always strings. A typed field
//! written that way therefore gets the value `kubectl` would send, not a false "invalid"
//! report. `yaml11` holds the rules, with the details.
//!
//! Nearly every manifest is written in plain block style: nested mappings and sequences,
//! one-line scalars, the odd `|` block and `["ALL"]`. `block_yaml` reads exactly that
//! subset into a tree of [`Node`]s (keys and unescaped strings borrowed from the text) and
//! declines anything else; a sink that decodes typed objects (the audit) reads them from
//! the nodes with no `serde_json::Value` between, the others get the same `Value` the
//! general reader would give (see `node`). A declined
//! document goes to `yaml11`, which builds its value from the events of `saphyr-parser`:
//! unlike a serde interface, they say whether each scalar was plain or quoted, what tag it
//! carries and where it is, so errors (syntax, a duplicate key, a merge of a scalar) name
//! their line. Both readers resolve plain scalars with the same function, and tests hold
//! them to agreement. The YAML 1.1 line breaks (NEL, LS, PS) are made `\n` first, as
//! `breaks` explains.
//!
//! Those two are the only code that reads untrusted YAML: no C parser, no `unsafe`.
//! (`serde_yaml_ng`, libyaml translated to Rust, is used only to write YAML output.)
//! `saphyr-parser` 0.3.3 (MIT or Apache-2.0) is the maintained successor of `yaml-rust`'s
//! parser (the saphyr-rs project, Rust 2024), passes the YAML test suite, has no unsafe
//! code and adds one small crate (`arraydeque`); its parser keeps its own stack, so deep
//! nesting costs no recursion, and `yaml11` stops at 128 levels and at a million nodes
//! copied by aliases. On 1,000 corpus documents (3.85 KB each, one core), to a `Value`
//! per document: `serde_yaml_ng` 92 µs, `serde-saphyr` 2.1 170 µs, `saphyr-parser` 0.3
//! 68 µs (55 µs for its events alone), the block reader 30 µs. So the block reader stays
//! the path nearly every document takes (every document of the benchmark corpus does).

mod block_yaml;
mod breaks;
mod files;
mod node;
mod split;
mod yaml11;

use files::read_paths;
pub use files::{MAX_FILE_BYTES, ReadOptions};
pub use node::{Node, Tree};
use split::{YamlDocument, split_yaml};

use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// File path as given (or `-` for standard input).
    pub file: String,
    /// 1-based document index within the file.
    pub document: usize,
    /// 0-based index in the `items` of a `List` document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if let Some(i) = self.item {
            write!(f, ", item {i}")?;
        }
        write!(f, " (line {})", self.line)
    }
}

/// One object read from the input: a `Value`, or the block reader's [`Node`]s.
#[derive(Debug, Clone)]
pub struct Document<V = Value> {
    /// Where it came from.
    pub source: Source,
    /// The object.
    pub value: V,
}

/// A problem with the input, always naming the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{file}{}: {message}", location(*document, *line))]
pub struct InputError {
    /// The file.
    pub file: String,
    /// The document, when the problem is inside one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// The line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn location(document: Option<usize>, line: Option<usize>) -> String {
    match (document, line) {
        (Some(d), Some(l)) => format!(": document {d} (line {l})"),
        (Some(d), None) => format!(": document {d}"),
        (None, Some(l)) => format!(": line {l}"),
        (None, None) => String::new(),
    }
}

impl InputError {
    fn file(file: &str, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_owned(),
            document: None,
            line: None,
            message: message.into(),
        }
    }
}

/// Everything read from the input.
#[derive(Debug, Default)]
pub struct Input {
    /// Objects, in input order.
    pub documents: Vec<Document>,
    /// Problems, in input order.
    pub errors: Vec<InputError>,
    /// Files read that held no object at all.
    pub empty_files: Vec<String>,
    /// Files read.
    pub files: usize,
    /// Paths a directory walk skipped ([`ReadOptions::skip_unreadable`]).
    pub skipped: Vec<InputError>,
}

/// Receives what the input holds, in input order, as soon as each piece is read, so a
/// caller can judge one document and drop it before the next is parsed.
pub trait InputSink {
    /// An object.
    fn document(&mut self, document: Document);
    /// An object read by the block reader; a sink that decodes it into typed objects can
    /// do so without building a `Value` (see [`Node`]). By default, as a `Value`.
    fn node(&mut self, document: Document<Node<'_>>) {
        self.document(Document {
            source: document.source,
            value: document.value.into_value(),
        });
    }
    /// A problem.
    fn error(&mut self, error: InputError);
    /// A file was read (whatever it held).
    fn file_read(&mut self, file: &str);
    /// A file read held no object and no error.
    fn empty_file(&mut self, file: &str);
    /// A path a directory walk could not read, when told to skip those
    /// ([`ReadOptions::skip_unreadable`]); ignored unless a sink keeps it.
    fn skipped(&mut self, path: InputError) {
        let _ = path;
    }
}

impl InputSink for Input {
    fn document(&mut self, document: Document) {
        self.documents.push(document);
    }
    fn error(&mut self, error: InputError) {
        self.errors.push(error);
    }
    fn file_read(&mut self, _: &str) {
        self.files += 1;
    }
    fn empty_file(&mut self, file: &str) {
        self.empty_files.push(file.to_owned());
    }
    fn skipped(&mut self, path: InputError) {
        self.skipped.push(path);
    }
}

/// Reads every path; `-` reads `stdin`.
pub fn load(paths: &[PathBuf], stdin: &mut dyn Read) -> Input {
    let mut input = Input::default();
    read(paths, stdin, &mut input);
    input
}

/// Reads every path (`-` reads `stdin`), handing each object and problem to `sink` as
/// soon as it is read: one file's bytes are held at a time, one document's value at a
/// time. Every path that cannot be read is an error.
pub fn read(paths: &[PathBuf], stdin: &mut dyn Read, sink: &mut dyn InputSink) {
    read_paths(paths, stdin, sink, ReadOptions::default());
}

/// [`read`] with options: see [`ReadOptions`].
pub fn read_with(
    paths: &[PathBuf],
    stdin: &mut dyn Read,
    sink: &mut dyn InputSink,
    options: ReadOptions,
) {
    read_paths(paths, stdin, sink, options);
}

/// Parses one file's bytes into `input`.
pub fn parse_bytes(bytes: &[u8], file: &str, input: &mut Input) {
    parse_into(bytes, file, input);
}

/// Counts what passes through, to tell a file that held nothing.
struct Counting<'a> {
    sink: &'a mut dyn InputSink,
    seen: bool,
}

impl InputSink for Counting<'_> {
    fn document(&mut self, document: Document) {
        self.seen = true;
        self.sink.document(document);
    }
    fn node(&mut self, document: Document<Node<'_>>) {
        self.seen = true;
        self.sink.node(document);
    }
    fn error(&mut self, error: InputError) {
        self.seen = true;
        self.sink.error(error);
    }
    fn file_read(&mut self, file: &str) {
        self.sink.file_read(file);
    }
    fn empty_file(&mut self, file: &str) {
        self.sink.empty_file(file);
    }
    fn skipped(&mut self, path: InputError) {
        self.sink.skipped(path);
    }
}

/// Parses one file's bytes, handing what it holds to `sink`.
pub fn parse_into(bytes: &[u8], file: &str, sink: &mut dyn InputSink) {
    sink.file_read(file);
    if bytes.len() as u64 > MAX_FILE_BYTES {
        sink.error(InputError::file(
            file,
            format!(
                "input is larger than the {} MiB limit",
                MAX_FILE_BYTES / 1048576
            ),
        ));
        return;
    }
    if memchr::memchr(0, bytes).is_some() {
        sink.error(InputError::file(
            file,
            "binary file (contains NUL bytes), not YAML or JSON",
        ));
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.strip_prefix('\u{feff}').unwrap_or(t),
        Err(e) => {
            sink.error(InputError::file(
                file,
                format!(
                    "not UTF-8 text (invalid byte at offset {}), not YAML or JSON",
                    e.valid_up_to()
                ),
            ));
            return;
        }
    };
    let mut counting = Counting { sink, seen: false };
    let first = text.trim_start().chars().next();
    if matches!(first, Some('{') | Some('[')) {
        parse_json(text, file, &mut counting);
    } else {
        parse_yaml(text, file, &mut counting);
    }
    if !counting.seen {
        sink.empty_file(file);
    }
}

fn parse_json(text: &str, file: &str, sink: &mut dyn InputSink) {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Strict>();
    let mut index = 0;
    loop {
        // The value starts after whitespace following the previous one.
        let offset = stream.byte_offset();
        let skipped = text[offset..].len() - text[offset..].trim_start().len();
        let line = 1 + text[..offset + skipped].matches('\n').count();
        let Some(item) = stream.next() else {
            return;
        };
        index += 1;
        match item {
            Ok(Strict(value)) => push_value(value, file, index, line, sink),
            Err(e) if index == 1 && text.trim_start().starts_with('{') && e.is_syntax() => {
                // A YAML flow mapping (`{kind: Pod, ...}`) is not JSON; read it as YAML.
                parse_yaml(text, file, sink);
                return;
            }
            Err(e) => {
                sink.error(InputError {
                    file: file.to_owned(),
                    document: Some(index),
                    line: Some(e.line()),
                    message: format!("invalid JSON: {e}"),
                });
                return;
            }
        }
    }
}

/// A JSON value that refuses duplicate mapping keys, as the API server's decoder does (a
/// silent last-one-wins could change the kind of an object).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML or JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d).map(|Strict(v)| v)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if obj.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            obj.insert(key, v);
        }
        Ok(Value::Object(obj))
    }
}

fn parse_yaml(text: &str, file: &str, sink: &mut dyn InputSink) {
    let mut index = 0;
    for YamlDocument {
        line,
        text: doc,
        has_content,
    } in split_yaml(text)
    {
        if !has_content {
            continue;
        }
        index += 1;
        let doc = breaks::normalize(&doc);
        // A document with an LS or PS takes the general reader, whose events have spans.
        let block = match doc.separators.is_empty() {
            true => block_yaml::read(&doc.text),
            false => None,
        };
        if let Some(node) = block {
            // The block reader's root is always a mapping.
            push_value(node, file, index, line, sink);
            continue;
        }
        match parse_full_with(&doc.text, &doc.separators) {
            Ok(Value::Null) => {}
            Ok(value) => push_value(value, file, index, line, sink),
            Err(e) => sink.error(InputError {
                file: file.to_owned(),
                document: Some(index),
                line: Some(line + e.line.saturating_sub(1)),
                message: format!("invalid YAML: {}", e.message),
            }),
        }
    }
}

/// Reads a document the block reader declined: libyaml checks its syntax and words any
/// syntax error, as it always has, then the general reader builds its value.
#[cfg(test)]
fn parse_full(doc: &str) -> Result<Value, yaml11::Error> {
    parse_full_with(doc, &[])
}

/// [`parse_full`] of a document whose LS and PS line breaks were at `separators`
/// (character indexes): a value that spans one is refused (see `breaks`).
fn parse_full_with(doc: &str, separators: &[usize]) -> Result<Value, yaml11::Error> {
    yaml11::parse(doc, separators)
}

fn push_value<V: Tree>(
    value: V,
    file: &str,
    document: usize,
    line: usize,
    sink: &mut dyn InputSink,
) {
    let is_list = value
        .get_key("kind")
        .and_then(Tree::text)
        .is_some_and(|k| k.ends_with("List"))
        && value
            .get_key("items")
            .is_some_and(|i| i.seq_len().is_some());
    let source = |item| Source {
        file: file.to_owned(),
        document,
        item,
        line,
    };
    if !value.is_map() {
        sink.error(InputError {
            file: file.to_owned(),
            document: Some(document),
            line: Some(line),
            message:
                "document is not a Kubernetes object (expected a mapping with apiVersion and kind)"
                    .into(),
        });
        return;
    }
    if is_list {
        for (i, item) in value.into_items("items").into_iter().flatten().enumerate() {
            let document = Document {
                source: source(Some(i)),
                value: item,
            };
            V::hand_to(document, sink);
        }
        return;
    }
    let document = Document {
        source: source(None),
        value,
    };
    V::hand_to(document, sink);
}

#[cfg(test)]
#[path = "manifests_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "manifests/json_tests.rs"]
mod json_tests;
