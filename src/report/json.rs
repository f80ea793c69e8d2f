//! Pretty-printed JSON written in fewer, larger pieces.
//!
//! In: any `Serialize` value and a writer. Out: exactly the bytes
//! `serde_json::to_writer_pretty` writes (two-space indentation), but each line break and
//! its indentation go out in one write instead of one write per level: a report with
//! every check on has hundreds of thousands of findings, and the per-level writes were a
//! measurable part of writing it. The small writes go into a buffer of its own, inlined,
//! and reach the writer in large pieces.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// A line break followed by enough spaces for the deepest report.
const BREAK: &[u8] = b"\n                                                                ";

/// `serde_json`'s pretty formatter with its indentation written at once.
struct Pretty {
    level: usize,
    has_value: bool,
}

impl Pretty {
    fn line<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        let width = 1 + 2 * self.level;
        match BREAK.get(..width) {
            Some(bytes) => w.write_all(bytes),
            None => {
                w.write_all(b"\n")?;
                (0..self.level).try_for_each(|_| w.write_all(b"  "))
            }
        }
    }
}

impl Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.line(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.line(w)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.line(w)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.line(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes `value` as pretty JSON, as `serde_json::to_writer_pretty` would.
pub(super) fn to_writer_pretty<W: Write, T: Serialize + ?Sized>(
    out: W,
    value: &T,
) -> serde_json::Result<()> {
    let formatter = Pretty {
        level: 0,
        has_value: false,
    };
    let mut chunks = Chunks {
        buffer: Vec::with_capacity(CHUNK),
        out,
    };
    value.serialize(&mut Serializer::with_formatter(&mut chunks, formatter))?;
    chunks.drain().map_err(serde_json::Error::io)
}

/// How many bytes [`Chunks`] gathers before handing them on.
const CHUNK: usize = 64 * 1024;

/// Gathers the serializer's many small writes (a quote, a key, a comma) in a buffer it
/// writes into directly, and hands them to the real writer, often a `&mut dyn Write`, in
/// pieces of [`CHUNK`] bytes: one call per piece instead of one per small write.
struct Chunks<W: Write> {
    buffer: Vec<u8>,
    out: W,
}

impl<W: Write> Chunks<W> {
    fn drain(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
}

impl<W: Write> Write for Chunks<W> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buffer.len() + bytes.len() > CHUNK {
            self.drain()?;
            if bytes.len() > CHUNK {
                return self.out.write_all(bytes);
            }
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_bytes_are_serde_jsons_pretty_bytes() {
        let deep = (0..40).fold(
            json!("leaf"),
            |v, i| json!({ format!("k{i}"): [v, {}, []] }),
        );
        for value in [
            json!({}),
            json!([]),
            json!({"a": [1, {"b": null, "c": [true, "x\ny"]}], "d": {}, "e": [[]]}),
            deep,
            // Larger than a chunk, with a string larger than a chunk inside.
            json!({"items": (0..20_000).map(|i| json!({"n": i, "s": "x\"y"})).collect::<Vec<_>>(),
                   "long": "z".repeat(3 * super::CHUNK)}),
        ] {
            let mut ours = Vec::new();
            super::to_writer_pretty(&mut ours, &value).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string_pretty(&value).unwrap()
            );
        }
    }
}
