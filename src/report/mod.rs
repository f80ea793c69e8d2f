//! Rendering an [`AuditReport`] for people and for machines.
//!
//! In: an audit report and an output format. Out: text for stdout, as a string or written
//! straight to a writer: the table of the earlier release (summary block plus
//! per-namespace and per-workload detail), JSON, YAML, SARIF 2.1.0 for code-scanning
//! tools, JUnit XML for CI systems, or one self-contained HTML page. JSON and SARIF are
//! serialised into the writer as they are produced, so a large report is never held twice
//! in memory.

mod html;
mod json;
mod junit;
mod sarif;

pub use html::STYLESHEET;
pub use sarif::{CHECK_DOCS, help_uri};
mod table;
pub mod terminal;

use crate::audit::AuditReport;

/// Output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Human-readable table.
    Table,
    /// The report as JSON.
    Json,
    /// The report as YAML.
    Yaml,
    /// SARIF 2.1.0.
    Sarif,
    /// JUnit XML.
    Junit,
    /// One self-contained HTML page.
    Html,
}

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// JSON encoding failed.
    #[error("cannot encode report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML encoding failed.
    #[error("cannot encode report as YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// The writer refused the output.
    #[error("cannot write the report: {0}")]
    Write(#[from] std::io::Error),
}

impl RenderError {
    /// The reader of the output went away (a closed pipe): not an error worth reporting.
    pub fn is_broken_pipe(&self) -> bool {
        let kind = match self {
            RenderError::Json(e) => e.io_error_kind(),
            RenderError::Write(e) => Some(e.kind()),
            RenderError::Yaml(_) => None,
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    }
}

/// Renders a report into `out`.
pub fn render_to(
    report: &AuditReport,
    format: OutputFormat,
    out: &mut dyn std::io::Write,
) -> Result<(), RenderError> {
    match format {
        OutputFormat::Json => {
            json::write_report(&mut *out, report)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Sarif => {
            sarif::write(report, &mut *out)?;
            out.write_all(b"\n")?;
        }
        other => out.write_all(render(report, other)?.as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

/// Renders a report.
pub fn render(report: &AuditReport, format: OutputFormat) -> Result<String, RenderError> {
    Ok(match format {
        OutputFormat::Table => table::render(report),
        OutputFormat::Json => {
            let mut out = Vec::new();
            json::write_report(&mut out, report)?;
            out.push(b'\n');
            String::from_utf8(out).map_err(|e| RenderError::Write(std::io::Error::other(e)))?
        }
        OutputFormat::Yaml => serde_yaml_ng::to_string(report)?,
        OutputFormat::Sarif => {
            let mut out = Vec::new();
            sarif::write(report, &mut out)?;
            out.push(b'\n');
            String::from_utf8(out).map_err(|e| RenderError::Write(std::io::Error::other(e)))?
        }
        OutputFormat::Junit => junit::render(report),
        OutputFormat::Html => html::render(report),
    })
}
