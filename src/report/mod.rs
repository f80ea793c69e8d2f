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
}

/// Renders a report.
pub fn render(report: &AuditReport, format: OutputFormat) -> Result<String, RenderError> {
    Ok(match format {
        OutputFormat::Table => table::render(report),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(report)?;
            s.push('\n');
            s
        }
        OutputFormat::Yaml => serde_yaml_ng::to_string(report)?,
        OutputFormat::Sarif => {
            let mut s = serde_json::to_string_pretty(&sarif::sarif(report))?;
            s.push('\n');
            s
        }
        OutputFormat::Junit => junit::render(report),
    })
}
