//! Rendering an [`AuditReport`] for people and for machines.
//!
//! In: an audit report and an output format. Out: text for stdout: the table of the
//! earlier release (summary block plus per-namespace and per-workload detail), JSON, YAML,
//! SARIF 2.1.0 for code-scanning tools, or JUnit XML for CI systems.

mod junit;
mod sarif;
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
    /// The output could not be written.
    #[error("cannot write the report: {0}")]
    Write(#[from] std::io::Error),
}

/// Renders a report.
pub fn render(report: &AuditReport, format: OutputFormat) -> Result<String, RenderError> {
    let mut out = Vec::new();
    render_to(report, format, &mut out)?;
    String::from_utf8(out).map_err(|e| RenderError::Write(std::io::Error::other(e)))
}

/// Writes a report to `out`; JSON and SARIF are written as they are encoded, so their
/// size in memory does not grow with the number of findings.
pub fn render_to(
    report: &AuditReport,
    format: OutputFormat,
    out: &mut dyn std::io::Write,
) -> Result<(), RenderError> {
    match format {
        OutputFormat::Table => out.write_all(table::render(report).as_bytes())?,
        OutputFormat::Json => serde_json::to_writer_pretty(&mut *out, report)?,
        OutputFormat::Yaml => out.write_all(serde_yaml_ng::to_string(report)?.as_bytes())?,
        OutputFormat::Sarif => sarif::write(report, &mut *out)?,
        OutputFormat::Junit => out.write_all(junit::render(report).as_bytes())?,
    }
    if matches!(format, OutputFormat::Json | OutputFormat::Sarif) {
        out.write_all(b"\n")?;
    }
    Ok(())
}
