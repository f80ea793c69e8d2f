//! Scalars, keys and merges as `kubectl` reads them (sigs.k8s.io/yaml on go-yaml v2, YAML
//! 1.1), and the general YAML reader that builds a document's value from parser events.
//!
//! In: the text of one YAML document (as split by the caller), or one plain scalar. Out:
//! the `serde_json::Value` that `kubectl` would send for it, or an error with its
//! document-relative line. Resolution of a plain (unquoted, untagged) scalar follows
//! go-yaml v2's `resolve`:
//!
//! * null: empty, `~`, `null`, `Null`, `NULL`;
//! * booleans: `y Y yes Yes YES true True TRUE on On ON`, `n N no No NO false False FALSE
//!   off Off OFF`;
//! * integers: a scalar starting with a digit, `+` or `-`, read with `_` removed as Go's
//!   `strconv.ParseInt(s, 0, 64)` reads it (`0644` is octal 420, `0o17`, `0x1F`, `0b101`,
//!   a leading `+` or `-`), then as an unsigned 64-bit integer;
//! * floats: `.inf`, `+.inf`, `-.inf`, `.nan` (three casings each), and the same scalars
//!   when they match `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (so `08` and
//!   `1e3` are floats); no sexagesimal numbers (`1:20` is a string);
//! * everything else, and every quoted or block scalar, is a string.
//!
//! The value is then the JSON that sigs.k8s.io/yaml produces: a float with no fraction
//! below 1e21 is written as an integer (`1e3` is `1000`), infinities and NaN have no JSON
//! form and make the document an error, and mapping keys become strings (`yes` becomes
//! `"true"`, `1.5` stays `"1.5"`; a null key, an unsigned key over 2^63 and a collection
//! key are refused). Tags: `!!str`, `!!int`, `!!float`, `!!bool`, `!!null` are honoured
//! on any scalar and refuse a scalar they cannot hold; `!!timestamp`, `!!binary` and
//! unknown tags keep the scalar as a string; tags on collections are ignored. `<<` merges
//! a mapping, an alias of one, or a sequence of them into its mapping the way go-yaml v2
//! does (entries are set in order, so an entry after `<<` wins over a merged one, and an
//! earlier mapping of a merged sequence over a later one). A key written twice in one
//! mapping is an error, as the API server's decoder has it.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

/// Deepest nesting read; deeper documents are refused at once (no manifest comes near).
const MAX_DEPTH: usize = 128;

/// Most nodes that aliases may copy into one document, against alias bombs.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// A problem with a document, on its document-relative line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Error {
    pub message: String,
    pub line: usize,
}

/// What a plain scalar resolves to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Plain {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str,
}

/// Resolves a plain scalar as go-yaml v2 does.
pub(super) fn resolve(s: &str) -> Plain {
    let Some(&first) = s.as_bytes().first() else {
        return Plain::Null;
    };
    let hint = match first {
        b'+' | b'-' | b'0'..=b'9' => b'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => b'M',
        b'.' => b'.',
        _ => return Plain::Str,
    };
    if let Some(known) = known_word(s) {
        return known;
    }
    match hint {
        b'.' => {
            let plain = match s.contains('_') {
                true if !underscore_ok(s) => return Plain::Str,
                true => Cow::Owned(s.replace('_', "")),
                false => Cow::Borrowed(s),
            };
            float(&plain)
        }
        b'D' => {
            let plain = match s.contains('_') {
                true => Cow::Owned(s.replace('_', "")),
                false => Cow::Borrowed(s),
            };
            if let Some(int) = parse_int(&plain) {
                return int;
            }
            float(&plain)
        }
        _ => Plain::Str,
    }
}

fn known_word(s: &str) -> Option<Plain> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Plain::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Plain::Bool(false)
        }
        "~" | "null" | "Null" | "NULL" => Plain::Null,
        ".nan" | ".NaN" | ".NAN" => Plain::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Plain::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Plain::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `strconv.ParseUint(s, 0, 64)`.
fn parse_int(s: &str) -> Option<Plain> {
    let (sign, body) = match s.as_bytes().first()? {
        b'+' => (Some(false), &s[1..]),
        b'-' => (Some(true), &s[1..]),
        _ => (None, s),
    };
    let magnitude = parse_uint(body)?;
    match sign {
        Some(true) if magnitude <= 1 << 63 => Some(Plain::Int((magnitude as i64).wrapping_neg())),
        Some(true) => None,
        _ if magnitude <= i64::MAX as u64 => Some(Plain::Int(magnitude as i64)),
        Some(false) => None,
        None => Some(Plain::Uint(magnitude)),
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)` without a sign or underscores.
fn parse_uint(s: &str) -> Option<u64> {
    let bytes = s.as_bytes();
    let (radix, digits) = match bytes {
        [] => return None,
        [b'0', b'b' | b'B', _, ..] => (2, &s[2..]),
        [b'0', b'o' | b'O', _, ..] => (8, &s[2..]),
        [b'0', b'x' | b'X', _, ..] => (16, &s[2..]),
        [b'0', ..] => (8, &s[1..]),
        _ => (10, s),
    };
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        n = n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// A float in go-yaml v2's YAML style that Go's `strconv.ParseFloat` reads in range.
fn float(s: &str) -> Plain {
    if !yaml_style_float(s) {
        return Plain::Str;
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() => Plain::Float(f),
        _ => Plain::Str,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's rule for underscores in a number: only between digits.
fn underscore_ok(s: &str) -> bool {
    let mut saw = b'^';
    for &c in s.trim_start_matches(['+', '-']).as_bytes() {
        if c.is_ascii_digit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

const I64_MIN: f64 = i64::MIN as f64;
const U64_END: f64 = 2.0 * -I64_MIN;

/// The JSON value of a resolved scalar (`text` is the scalar), as sigs.k8s.io/yaml writes
/// it; `None` for an infinity or NaN, which JSON cannot hold.
pub(super) fn json(plain: Plain, text: &str) -> Option<Value> {
    Some(match plain {
        Plain::Null => Value::Null,
        Plain::Bool(b) => Value::Bool(b),
        Plain::Int(i) => Value::from(i),
        Plain::Uint(u) => Value::from(u),
        Plain::Float(f) if !f.is_finite() => return None,
        // Go writes a float without a fraction below 1e21 as an integer; those that fit
        // 64 bits are integers here (2^63 and 2^64 are exact as floats).
        Plain::Float(f) if f.fract() == 0.0 && (I64_MIN..-I64_MIN).contains(&f) => {
            Value::from(f as i64)
        }
        Plain::Float(f) if f.fract() == 0.0 && (0.0..U64_END).contains(&f) => Value::from(f as u64),
        Plain::Float(f) => Value::Number(Number::from_f64(f)?),
        Plain::Str => Value::String(text.to_owned()),
    })
}

/// A mapping key as sigs.k8s.io/yaml turns it into a string; `None` when it refuses it.
pub(super) fn key(plain: Plain, text: &str) -> Option<String> {
    Some(match plain {
        Plain::Str => text.to_owned(),
        Plain::Bool(b) => b.to_string(),
        Plain::Int(i) => i.to_string(),
        Plain::Float(f) => format_float_key(f),
        Plain::Null | Plain::Uint(_) => return None,
    })
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`, with YAML's names for the specials.
fn format_float_key(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.unsigned_abs());
    }
    f.to_string()
}

/// A value being built.
enum Frame {
    Sequence {
        anchor: usize,
        items: Vec<Value>,
    },
    Mapping {
        anchor: usize,
        map: Map<String, Value>,
        /// Keys that only a merge has set so far (an explicit one may still follow).
        merged: HashSet<String>,
        key: Option<(PendingKey, usize)>,
    },
}

enum PendingKey {
    Key(String),
    Merge,
}

/// A finished node: its value and whether it was an alias.
struct Node {
    value: Value,
    alias: bool,
    /// The key string when the node is a scalar (or an alias of one) usable as a key.
    key: Option<String>,
}

fn err(message: impl Into<String>, line: usize) -> Error {
    Error {
        message: message.into(),
        line,
    }
}

/// The tag's full name (`tag:yaml.org,2002:int`, `!foo`, `!`).
fn tag_name(tag: &Tag) -> String {
    if tag.handle == "!" {
        format!("!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

const CORE: &str = "tag:yaml.org,2002:";

/// A scalar event's value, and its string as a key.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
    as_key: bool,
) -> Result<(Value, Option<String>), Error> {
    let tag = tag.map(tag_name);
    let plain = match tag.as_deref() {
        None if style == ScalarStyle::Plain => resolve(text),
        None => Plain::Str,
        Some(t) => match t.strip_prefix(CORE) {
            Some(wanted @ ("int" | "float" | "bool" | "null")) => {
                let got = resolve(text);
                let name = match got {
                    Plain::Null => "null",
                    Plain::Bool(_) => "bool",
                    Plain::Int(_) | Plain::Uint(_) => "int",
                    Plain::Float(_) => "float",
                    Plain::Str => "str",
                };
                match (wanted, got) {
                    ("float", Plain::Int(i)) => Plain::Float(i as f64),
                    ("float", Plain::Uint(u)) => Plain::Float(u as f64),
                    _ if wanted == name => got,
                    _ => {
                        return Err(err(
                            format!("cannot decode !!{name} `{text}` as a !!{wanted}"),
                            line,
                        ));
                    }
                }
            }
            _ => Plain::Str,
        },
    };
    let key = key(plain, text);
    if as_key {
        // The key's string is what counts; an infinite key has one.
        return Ok((json(plain, text).unwrap_or(Value::Null), key));
    }
    let value = json(plain, text).ok_or_else(|| {
        err(
            format!("unsupported value `{text}`: JSON has no infinity or NaN"),
            line,
        )
    })?;
    Ok((value, key))
}

/// Reads one document with the general parser, syntax errors included. A scalar
/// whose source spans one of `separators` (character indexes of line breaks that were an
/// LS or PS) is refused.
pub(super) fn parse(doc: &str, separators: &[usize]) -> Result<Value, Error> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Value, Option<String>)> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    let mut copied = 0usize;
    for event in Parser::new_from_str(doc) {
        let (event, span) = event.map_err(|e| err(e.info(), e.marker().line().max(1)))?;
        let line = span.start.line().max(1);
        let (node, anchor) = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(err(
                        "deserializing from YAML containing more than one document is not supported",
                        line,
                    ));
                }
                continue;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err("recursion limit exceeded", line));
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Frame::Sequence {
                        anchor,
                        items: Vec::new(),
                    },
                    _ => Frame::Mapping {
                        anchor,
                        map: Map::new(),
                        merged: HashSet::new(),
                        key: None,
                    },
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Sequence { anchor, items }) => (
                    Node {
                        value: Value::Array(items),
                        alias: false,
                        key: None,
                    },
                    anchor,
                ),
                Some(Frame::Mapping { anchor, map, .. }) => (
                    Node {
                        value: Value::Object(map),
                        alias: false,
                        key: None,
                    },
                    anchor,
                ),
                None => return Err(err("unexpected end of a collection", line)),
            },
            Event::Scalar(..)
                if separators
                    .iter()
                    .any(|&at| (span.start.index()..span.end.index()).contains(&at)) =>
            {
                return Err(err(super::breaks::spanned_separator_message(), line));
            }
            Event::Scalar(text, style, anchor, tag) => {
                // A plain `<<` (or one tagged `!!merge`) in key position merges.
                let merge = text == "<<"
                    && match tag.as_deref() {
                        None => style == ScalarStyle::Plain,
                        Some(t) => {
                            let name = tag_name(t);
                            name == "!" && style == ScalarStyle::Plain
                                || name == "tag:yaml.org,2002:merge"
                        }
                    };
                let as_key = matches!(stack.last(), Some(Frame::Mapping { key: None, .. }));
                if let Some(Frame::Mapping { key: k @ None, .. }) = stack.last_mut()
                    && merge
                {
                    *k = Some((PendingKey::Merge, line));
                    continue;
                }
                let (value, key) = scalar(&text, style, tag.as_deref(), line, as_key)?;
                (
                    Node {
                        value,
                        alias: false,
                        key,
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let Some((value, key)) = anchors.get(&id) else {
                    return Err(err("unknown anchor", line));
                };
                copied = copied.saturating_add(size(value));
                if copied > MAX_ALIAS_NODES {
                    return Err(err("repetition limit exceeded", line));
                }
                (
                    Node {
                        value: value.clone(),
                        alias: true,
                        key: key.clone(),
                    },
                    0,
                )
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {
                continue;
            }
        };
        if anchor != 0 {
            copied = copied.saturating_add(size(&node.value));
            if copied > MAX_ALIAS_NODES {
                return Err(err("repetition limit exceeded", line));
            }
            anchors.insert(anchor, (node.value.clone(), node.key.clone()));
        }
        attach(&mut stack, &mut root, node, line)?;
    }
    Ok(root.unwrap_or(Value::Null))
}

/// How many values `value` holds, itself included.
fn size(value: &Value) -> usize {
    let mut n = 0;
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        n += 1;
        match v {
            Value::Array(items) => todo.extend(items),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    n
}

/// Puts a finished node into its parent.
fn attach(
    stack: &mut [Frame],
    root: &mut Option<Value>,
    node: Node,
    line: usize,
) -> Result<(), Error> {
    match stack.last_mut() {
        None => *root = Some(node.value),
        Some(Frame::Sequence { items, .. }) => items.push(node.value),
        Some(Frame::Mapping {
            map, merged, key, ..
        }) => match key.take() {
            None => {
                let Some(k) = node.key else {
                    return Err(err(
                        format!("unsupported map key {}", describe(&node.value)),
                        line,
                    ));
                };
                *key = Some((PendingKey::Key(k), line));
            }
            Some((PendingKey::Key(k), key_line)) => {
                if map.contains_key(&k) && !merged.remove(&k) {
                    return Err(err(format!("duplicate key {k:?}"), key_line));
                }
                map.insert(k, node.value);
            }
            Some((PendingKey::Merge, key_line)) => {
                let want_map = || {
                    err(
                        "map merge requires map or sequence of maps as the value",
                        key_line,
                    )
                };
                let sources = match node.value {
                    Value::Object(m) => vec![m],
                    Value::Array(items) if !node.alias => {
                        // Earlier mappings take precedence: they are set last.
                        let mut maps = Vec::with_capacity(items.len());
                        for item in items.into_iter().rev() {
                            match item {
                                Value::Object(m) => maps.push(m),
                                _ => return Err(want_map()),
                            }
                        }
                        maps
                    }
                    _ => return Err(want_map()),
                };
                for source in sources {
                    for (k, v) in source {
                        if map.insert(k.clone(), v).is_none() {
                            merged.insert(k);
                        }
                    }
                }
            }
        },
    }
    Ok(())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Number(_) => "(an integer over 2^63)",
        Value::Array(_) => "(a sequence)",
        Value::Object(_) => "(a mapping)",
        Value::Bool(_) | Value::String(_) => "",
    }
}
