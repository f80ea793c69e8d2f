//! Pretty-printed JSON written in fewer, larger pieces.
//!
//! In: any `Serialize` value, or an audit report, and a writer. Out: exactly the bytes
//! `serde_json::to_writer_pretty` writes (two-space indentation), but each line break and
//! its indentation go out in one write instead of one write per level: a report with
//! every check on has hundreds of thousands of findings, and the per-level writes were a
//! measurable part of writing it. The small writes go into a buffer of its own, inlined,
//! and reach the writer in large pieces. The report's workloads and findings, nearly all
//! of its bytes, are written by [`write_report`] itself: `serde_json` looks at every byte
//! of every string through a table to find what to escape, where the findings' strings
//! (their keys, check ids, severities and messages, the same few hundred over and over)
//! need at most their quotes escaped; everything else still goes through `serde_json`.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

use crate::audit::{AuditReport, WorkloadResult};
use crate::checks::{CHECK_COUNT, Finding, FindingStatus, Severity};
use crate::score::Penalty;

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

/// Writes `report` as pretty JSON: the bytes `to_writer_pretty` writes for it.
pub(super) fn write_report<W: Write>(out: W, report: &AuditReport) -> serde_json::Result<()> {
    // Every field, so a field added to the report cannot be left out here unnoticed.
    let AuditReport {
        generated_at,
        policy_source,
        policy,
        workloads_analyzed,
        total_findings,
        workloads,
        namespaces,
        cluster_score,
        cluster_status,
        counts,
        severities,
        exempted,
        skipped,
        warnings,
        errors,
    } = report;
    let mut w = ReportWriter {
        out: Chunks {
            buffer: Vec::with_capacity(CHUNK),
            out,
        },
        checks: vec![None; CHECK_COUNT],
        severities: Vec::new(),
        penalties: Vec::new(),
        keys: FindingKeys::at(5).map_err(serde_json::Error::io)?,
    };
    let io = serde_json::Error::io;
    w.out.write_all(b"{").map_err(io)?;
    w.field(true, "generatedAt", generated_at)?;
    w.field(false, "policySource", policy_source)?;
    w.field(false, "policy", policy)?;
    w.field(false, "workloadsAnalyzed", workloads_analyzed)?;
    w.field(false, "totalFindings", total_findings)?;
    w.key(false, 1, "workloads").map_err(io)?;
    w.workloads(workloads)?;
    w.field(false, "namespaces", namespaces)?;
    w.field(false, "clusterScore", cluster_score)?;
    w.field(false, "clusterStatus", cluster_status)?;
    w.field(false, "counts", counts)?;
    w.field(false, "severities", severities)?;
    w.field(false, "exempted", exempted)?;
    w.field(false, "skipped", skipped)?;
    w.field(false, "warnings", warnings)?;
    w.field(false, "errors", errors)?;
    w.out.write_all(b"\n}").map_err(io)?;
    w.out.drain().map_err(io)
}

/// The state of [`write_report`]: the output, the JSON of the check ids, severities and
/// penalties met so far (each written by `serde_json` once), and the keys of a finding
/// with what comes before them.
struct ReportWriter<W: Write> {
    out: Chunks<W>,
    checks: Vec<Option<Box<[u8]>>>,
    severities: Vec<(Severity, Box<[u8]>)>,
    penalties: Vec<(Penalty, Box<[u8]>)>,
    keys: FindingKeys,
}

/// Penalties kept written; a finding with another one is written by `serde_json` then.
const KEPT_PENALTIES: usize = 32;

/// A finding's keys at its level, each after its comma and line break.
struct FindingKeys {
    check: Box<[u8]>,
    severity: Box<[u8]>,
    container: Box<[u8]>,
    message: Box<[u8]>,
    penalty: Box<[u8]>,
    state: Box<[u8]>,
    reason: Box<[u8]>,
}

impl FindingKeys {
    /// The keys of a finding whose entries sit at `level`.
    fn at(level: usize) -> io::Result<Self> {
        let key = |first, key| -> io::Result<Box<[u8]>> {
            let mut bytes = Vec::new();
            write_key(&mut bytes, first, level, key)?;
            Ok(bytes.into_boxed_slice())
        };
        Ok(FindingKeys {
            check: key(true, "check")?,
            severity: key(false, "severity")?,
            container: key(false, "container")?,
            message: key(false, "message")?,
            penalty: key(false, "penalty")?,
            state: key(false, "state")?,
            reason: key(false, "reason")?,
        })
    }
}

/// `"key": ` of an object's entry at `level`, after a comma unless it is the first. Keys
/// are the report's own field names, plain words with nothing to escape.
fn write_key<W: Write>(w: &mut W, first: bool, level: usize, key: &str) -> io::Result<()> {
    if !first {
        w.write_all(b",")?;
    }
    Pretty {
        level,
        has_value: false,
    }
    .line(w)?;
    w.write_all(b"\"")?;
    w.write_all(key.as_bytes())?;
    w.write_all(b"\": ")
}

impl<W: Write> ReportWriter<W> {
    /// A line break and the indentation of `level`.
    fn line(&mut self, level: usize) -> io::Result<()> {
        Pretty {
            level,
            has_value: false,
        }
        .line(&mut self.out)
    }

    /// `"key": ` of an object's entry at `level`, after a comma unless it is the first.
    fn key(&mut self, first: bool, level: usize, key: &str) -> io::Result<()> {
        write_key(&mut self.out, first, level, key)
    }

    /// A field of the report itself, its value written by `serde_json`.
    fn field<T: Serialize + ?Sized>(
        &mut self,
        first: bool,
        key: &str,
        value: &T,
    ) -> serde_json::Result<()> {
        self.key(first, 1, key).map_err(serde_json::Error::io)?;
        self.value(1, value)
    }

    /// A value at `level`, written by `serde_json` as it would write it there.
    fn value<T: Serialize + ?Sized>(&mut self, level: usize, value: &T) -> serde_json::Result<()> {
        let formatter = Pretty {
            level,
            has_value: false,
        };
        value.serialize(&mut Serializer::with_formatter(&mut self.out, formatter))
    }

    /// A JSON string: quotes escaped here, anything else that needs escaping (a control
    /// character, a backslash: never in a check's own words) left to `serde_json`.
    fn string(&mut self, s: &str) -> io::Result<()> {
        let bytes = s.as_bytes();
        let (quotes, others) = escapes(bytes);
        if others {
            return serde_json::to_writer(&mut self.out, s).map_err(io::Error::from);
        }
        self.out.write_all(b"\"")?;
        let mut from = 0;
        if quotes {
            for quote in memchr::memchr_iter(b'"', bytes) {
                self.out.write_all(&bytes[from..quote])?;
                self.out.write_all(b"\\\"")?;
                from = quote + 1;
            }
        }
        self.out.write_all(&bytes[from..])?;
        self.out.write_all(b"\"")
    }

    fn workloads(&mut self, workloads: &[WorkloadResult]) -> serde_json::Result<()> {
        self.out.write_all(b"[").map_err(serde_json::Error::io)?;
        for (i, w) in workloads.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",").map_err(serde_json::Error::io)?;
            }
            self.line(2).map_err(serde_json::Error::io)?;
            self.workload(w)?;
        }
        if !workloads.is_empty() {
            self.line(1).map_err(serde_json::Error::io)?;
        }
        self.out.write_all(b"]").map_err(serde_json::Error::io)
    }

    fn workload(&mut self, w: &WorkloadResult) -> serde_json::Result<()> {
        let WorkloadResult {
            object,
            source,
            findings,
        } = w;
        let io = serde_json::Error::io;
        self.out.write_all(b"{").map_err(io)?;
        // The object's fields, flattened into the workload's.
        self.key(true, 3, "kind").map_err(io)?;
        self.string(object.kind.as_str()).map_err(io)?;
        if !object.namespace.is_empty() {
            self.key(false, 3, "namespace").map_err(io)?;
            self.string(&object.namespace).map_err(io)?;
        }
        self.key(false, 3, "name").map_err(io)?;
        self.string(&object.name).map_err(io)?;
        if let Some(source) = source {
            self.key(false, 3, "source").map_err(io)?;
            self.value(3, source)?;
        }
        self.key(false, 3, "findings").map_err(io)?;
        self.out.write_all(b"[").map_err(io)?;
        for (i, f) in findings.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",").map_err(io)?;
            }
            self.line(4).map_err(io)?;
            self.finding(f)?;
        }
        if !findings.is_empty() {
            self.line(3).map_err(io)?;
        }
        self.out.write_all(b"]").map_err(io)?;
        self.line(2).map_err(io)?;
        self.out.write_all(b"}").map_err(io)
    }

    /// A finding, as its `Serialize` writes it.
    fn finding(&mut self, f: &Finding) -> serde_json::Result<()> {
        let io = serde_json::Error::io;
        self.out.write_all(b"{").map_err(io)?;
        self.out.write_all(&self.keys.check).map_err(io)?;
        let check = match &mut self.checks[f.check.index()] {
            Some(json) => json,
            slot => slot.insert(serde_json::to_vec(&f.check)?.into_boxed_slice()),
        };
        self.out.write_all(check).map_err(io)?;
        self.out.write_all(&self.keys.severity).map_err(io)?;
        let severity = match self.severities.iter().position(|(s, _)| *s == f.severity) {
            Some(i) => i,
            None => {
                let json = serde_json::to_vec(&f.severity)?.into_boxed_slice();
                self.severities.push((f.severity, json));
                self.severities.len() - 1
            }
        };
        self.out
            .write_all(&self.severities[severity].1)
            .map_err(io)?;
        if let Some(container) = &f.container {
            self.out.write_all(&self.keys.container).map_err(io)?;
            self.string(container).map_err(io)?;
        }
        self.out.write_all(&self.keys.message).map_err(io)?;
        self.string(&f.message).map_err(io)?;
        self.out.write_all(&self.keys.penalty).map_err(io)?;
        match self.penalties.iter().position(|(p, _)| *p == f.penalty) {
            Some(i) => self.out.write_all(&self.penalties[i].1).map_err(io)?,
            None if self.penalties.len() < KEPT_PENALTIES => {
                let json = serde_json::to_vec(&f.penalty)?.into_boxed_slice();
                self.out.write_all(&json).map_err(io)?;
                self.penalties.push((f.penalty, json));
            }
            None => serde_json::to_writer(&mut self.out, &f.penalty)?,
        }
        self.out.write_all(&self.keys.state).map_err(io)?;
        match &f.status {
            FindingStatus::Counted => self.string("counted").map_err(io)?,
            FindingStatus::Skipped { reason } => {
                self.string("skipped").map_err(io)?;
                self.out.write_all(&self.keys.reason).map_err(io)?;
                self.string(reason).map_err(io)?;
            }
        }
        self.line(4).map_err(io)?;
        self.out.write_all(b"}").map_err(io)
    }
}

/// Whether `bytes` hold a quote, and whether they hold any other byte JSON escapes (a
/// control character or a backslash), eight bytes at a time.
fn escapes(bytes: &[u8]) -> (bool, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether any byte of `v` is below `n` (n <= 128), or equal to `b`: exact as a whole.
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS != 0;
    let equal = |v: u64, b: u8| below(v ^ (ONES * u64::from(b)), 1);
    let (mut quotes, mut others) = (false, false);
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        quotes |= equal(v, b'"');
        others |= below(v, 0x20) || equal(v, b'\\');
    }
    for &b in words.remainder() {
        quotes |= b == b'"';
        others |= b < 0x20 || b == b'\\';
    }
    (quotes, others)
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
#[path = "json_tests.rs"]
mod tests;
