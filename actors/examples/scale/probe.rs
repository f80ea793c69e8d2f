//! Measuring helpers of the scale harness: resident memory and CPU time from `/proc`, a minimal HTTP
//! GET to the controller's ops server, one series of a Prometheus text, and latency
//! percentiles.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `VmRSS` of a process in KiB.
pub fn resident_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// `VmHWM` (peak resident) of a process in KiB.
pub fn peak_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// User plus system CPU time a process has used, in seconds (`/proc/<pid>/stat`, at the
/// kernel's usual 100 ticks a second).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// GET `path` on 127.0.0.1:`port` (HTTP/1.1, connection closed): status and body.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The value of one series (`name{labels}` exactly as exported, or a bare name).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Latency samples.
#[derive(Default)]
pub struct Percentiles {
    samples: Vec<Duration>,
}

impl Percentiles {
    /// Records one sample.
    pub fn add(&mut self, sample: Duration) {
        self.samples.push(sample);
    }

    /// How many samples were taken.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// The `q` quantile (0..=1), nearest rank.
    pub fn quantile(&mut self, q: f64) -> Duration {
        self.samples.sort();
        let rank = ((self.samples.len() as f64 * q).ceil() as usize).max(1);
        self.samples.get(rank - 1).copied().unwrap_or_default()
    }

    /// `p50 .. ms, p90 .. ms, p99 .. ms, max .. ms (n samples)`.
    pub fn summary(&mut self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.9)),
            ms(self.quantile(0.99)),
            ms(self.quantile(1.0)),
            self.len()
        )
    }
}

/// CPU seconds used by the controller's process and by this one (the test server and the
/// harness).
#[derive(Clone, Copy)]
pub struct CpuUse {
    pub controller: f64,
    pub harness: f64,
}

impl CpuUse {
    /// What was used since `earlier`.
    pub fn since(self, earlier: CpuUse) -> CpuUse {
        CpuUse {
            controller: self.controller - earlier.controller,
            harness: self.harness - earlier.harness,
        }
    }
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "controller {:.2} s, test server and harness {:.2} s",
            self.controller, self.harness
        )
    }
}
