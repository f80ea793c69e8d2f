//! `analyze --path`: the offline audit of manifest files, directories or standard input.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use jiff::Timestamp;
use kube_devops::audit::{AuditReport, Auditor, ManifestAudit, audit_cluster};
use kube_devops::checks::Severity;
use kube_devops::manifests::{self, Document, InputError, InputSink, Node, ReadOptions};
use kube_devops::policy::bundles::{BUNDLE_NAMES, bundle};
use kube_devops::policy::strict::policy_from_value;
use kube_devops::policy::{
    DevOpsPolicy, DevOpsPolicySpec, EffectivePolicy, NamespaceExclusions, PolicySet,
};
use kube_devops::report::terminal::escape;
use kube_devops::report::{OutputFormat, render_to};

use super::{ClusterTarget, EXIT_FINDINGS, EXIT_SCORE, block_on};
use crate::cluster::{gather, list_all};

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// Summary block, namespaces and findings.
    Table,
    /// The full report as JSON.
    Json,
    /// The full report as YAML.
    Yaml,
    /// SARIF 2.1.0 for code scanning.
    Sarif,
    /// JUnit XML for CI test reports.
    Junit,
    /// One self-contained HTML page.
    Html,
}

/// Severity thresholds on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    /// low and above.
    Low,
    /// medium and above.
    Medium,
    /// high and above.
    High,
    /// critical only.
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Severity {
        match s {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

/// Arguments of `analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Manifest files or directories (walked for .yaml, .yml, .json), or - for stdin;
    /// without it, the live cluster is audited.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub path: Vec<PathBuf>,
    /// Judge with a built-in bundle (baseline, restricted, permissive).
    #[arg(long, conflicts_with = "policy", value_parser = clap::builder::PossibleValuesParser::new(kube_devops::policy::bundles::BUNDLE_NAMES))]
    pub bundle: Option<String>,
    /// Judge with the DevOpsPolicy in this file.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Only this namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Exit 3 when a counted finding is at or above this severity.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,
    /// Exit 4 when the cluster score is below this (0-100).
    #[arg(long, value_name = "SCORE", value_parser = parse_score)]
    pub fail_below: Option<f64>,
    /// Namespaces to leave alone, as globs (repeatable; replaces the default
    /// `*-system`, `cert-manager`; kube-system, kube-public and kube-node-lease are always
    /// excluded).
    #[arg(long = "exclude-namespace", value_name = "GLOB")]
    pub exclude_namespace: Vec<String>,
    /// Judge as of this instant (RFC 3339) instead of now, for reproducible reports.
    #[arg(long, value_name = "TIME")]
    pub now: Option<Timestamp>,
    /// In a walked directory, warn about paths that cannot be read (unreadable,
    /// too deep, not a regular file) instead of failing with exit 1. Paths given by name
    /// are always read or reported as errors.
    #[arg(long)]
    pub skip_unreadable: bool,
}

fn parse_score(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0-100"))
    }
}

/// Resolves the policy from `--bundle`, `--policy` or the default.
pub fn resolve_policy(
    bundle_name: Option<&str>,
    file: Option<&PathBuf>,
) -> anyhow::Result<(EffectivePolicy, String)> {
    if let Some(name) = bundle_name {
        let Some(b) = bundle(name) else {
            bail!(
                "unknown bundle {name:?}; available: {}",
                BUNDLE_NAMES.join(", ")
            );
        };
        let p = EffectivePolicy::from_spec(&b.spec)?;
        return Ok((p, format!("bundle {name}")));
    }
    if let Some(file) = file {
        let spec = read_policy_file(file)?;
        let p = EffectivePolicy::from_spec(&spec)
            .with_context(|| format!("{}: invalid DevOpsPolicy", file.display()))?;
        return Ok((p, file.display().to_string()));
    }
    Ok((EffectivePolicy::default(), "default".to_owned()))
}

/// Reads exactly one DevOpsPolicy from a file, refusing unknown spec fields: a typo must
/// not silently turn a check off.
pub fn read_policy_file(file: &PathBuf) -> anyhow::Result<DevOpsPolicySpec> {
    let input = manifests::load(std::slice::from_ref(file), &mut std::io::empty());
    if let Some(e) = input.errors.first() {
        bail!("{e}");
    }
    let mut policies: Vec<_> = input
        .documents
        .into_iter()
        .filter(|d| d.value.get("kind").and_then(|k| k.as_str()) == Some("DevOpsPolicy"))
        .collect();
    let doc = match policies.len() {
        1 => policies.remove(0),
        0 => bail!("{}: no DevOpsPolicy object found", file.display()),
        n => bail!(
            "{}: {n} DevOpsPolicy objects found; give a file with one",
            file.display()
        ),
    };
    let policy = policy_from_value(&doc.value)
        .map_err(|e| anyhow::anyhow!("{}: invalid DevOpsPolicy: {e}", doc.source))?;
    Ok(policy.spec)
}

/// The exit code a report earns under the thresholds: errors 1, then findings 3, then
/// score 4.
pub fn exit_code(report: &AuditReport, fail_on: Option<Severity>, fail_below: Option<f64>) -> u8 {
    if !report.errors.is_empty() {
        return 1;
    }
    if let (Some(threshold), Some(worst)) = (fail_on, report.worst_severity())
        && worst >= threshold
    {
        return EXIT_FINDINGS;
    }
    if let (Some(min), Some(score)) = (fail_below, report.cluster_score)
        && score.value() < min
    {
        return EXIT_SCORE;
    }
    0
}

/// The cluster's DevOpsPolicies; none when their CRD is not installed, and none with a
/// warning when they may not be read (the audit then judges every namespace by the flags).
async fn cluster_policies(
    client: &kube::Client,
) -> anyhow::Result<(Vec<DevOpsPolicy>, Option<String>)> {
    let api: kube::Api<DevOpsPolicy> = kube::Api::all(client.clone());
    match list_all(&api).await {
        Ok(policies) => Ok((policies, None)),
        Err(e) if matches!(&e.source, kube::Error::Api(s) if s.code == 404) => {
            Ok((Vec::new(), None))
        }
        Err(e) if matches!(&e.source, kube::Error::Api(s) if s.code == 403) => Ok((
            Vec::new(),
            Some(format!(
                "cannot list DevOpsPolicies ({}); every namespace was judged by the policy of the flags",
                e.source
            )),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Audits a live cluster: paginated lists of every workload kind, of pods, and of the
/// related objects the enabled cross-resource checks read. Each
/// namespace is judged as the controller judges it (`PolicySet::resolve`): by the union
/// of its DevOpsPolicies, else by `policy`.
pub async fn cluster_report(
    client: &kube::Client,
    policy: EffectivePolicy,
    policy_source: String,
    exclusions: NamespaceExclusions,
    namespace: Option<String>,
    now: Timestamp,
) -> anyhow::Result<AuditReport> {
    let (policies, unreadable) = cluster_policies(client).await?;
    // Related objects are gathered for every cross-resource check any policy turns on.
    let mut enabled = vec![policy.clone()];
    enabled.extend(
        policies
            .iter()
            .filter_map(|p| EffectivePolicy::from_spec(&p.spec).ok()),
    );
    let kinds = EffectivePolicy::union(&enabled)
        .map(|union| kube_devops::cross::kinds_needed(&union))
        .unwrap_or_default();
    let facts = gather(client, namespace.as_deref(), &kinds).await?;
    let set = PolicySet::new(policy.clone(), &policy_source, exclusions.clone()).with_policies(
        policies.iter().filter_map(|p| {
            Some((
                p.metadata.namespace.as_deref()?,
                p.metadata.name.as_deref()?,
                &p.spec,
            ))
        }),
    );
    let source = if policies.is_empty() {
        policy_source
    } else {
        format!("DevOpsPolicies of each namespace, else {policy_source}")
    };
    let mut auditor =
        Auditor::new(policy, source, exclusions, namespace, now).with_policies(set.clone());
    for (object, why) in &facts.skipped {
        auditor.skip(object.clone(), None, why);
    }
    audit_cluster(&mut auditor, &facts.workloads, &facts.pods, facts.related);
    let mut report = auditor.finish();
    report.warnings.extend(unreadable);
    let mut namespaces: Vec<&str> = set.namespaces().collect();
    namespaces.sort_unstable();
    for ns in namespaces {
        for ignored in set.namespace(ns).map(|p| p.ignored()).unwrap_or_default() {
            report.warnings.push(format!(
                "DevOpsPolicy {ns}/{} ignored: {}",
                ignored.name, ignored.error
            ));
        }
    }
    Ok(report)
}

fn offline_report(
    args: &AnalyzeArgs,
    policy: EffectivePolicy,
    source: String,
    exclusions: NamespaceExclusions,
    now: Timestamp,
) -> anyhow::Result<AuditReport> {
    let mut auditor = Auditor::new(policy, source, exclusions, args.namespace.clone(), now);
    // Each document is judged as soon as it is parsed; the input is never held whole.
    let mut audit = ManifestAudit::new(&mut auditor);
    let mut sink = WarnSkipped(&mut audit);
    let options = ReadOptions {
        skip_unreadable: args.skip_unreadable,
    };
    manifests::read_with(&args.path, &mut std::io::stdin().lock(), &mut sink, options);
    let read = audit.finish();
    for f in &read.empty_files {
        tracing::warn!(file = %f, "file holds no Kubernetes objects");
    }
    if read.documents == 0 && read.read_errors == 0 {
        let names: Vec<String> = args.path.iter().map(|p| p.display().to_string()).collect();
        bail!("no Kubernetes objects found in {}", names.join(", "));
    }
    Ok(auditor.finish())
}

/// Passes everything on, and says on stderr which paths a walk skipped.
struct WarnSkipped<'a, 'b>(&'a mut ManifestAudit<'b>);

impl InputSink for WarnSkipped<'_, '_> {
    fn document(&mut self, document: Document) {
        self.0.document(document);
    }
    fn node(&mut self, document: Document<Node<'_>>) {
        self.0.node(document);
    }
    fn error(&mut self, error: InputError) {
        self.0.error(error);
    }
    fn file_read(&mut self, file: &str) {
        self.0.file_read(file);
    }
    fn empty_file(&mut self, file: &str) {
        self.0.empty_file(file);
    }
    fn skipped(&mut self, path: InputError) {
        eprintln!(
            "warning: skipped {} (--skip-unreadable)",
            escape(&path.to_string())
        );
    }
}

pub(super) fn run(args: AnalyzeArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    let (policy, source) = resolve_policy(args.bundle.as_deref(), args.policy.as_ref())?;
    let exclusions = NamespaceExclusions::from_flags(None, &args.exclude_namespace)?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    let report = if args.path.is_empty() {
        block_on(async {
            let client = target.connect().await?;
            cluster_report(
                &client,
                policy,
                source,
                exclusions,
                args.namespace.clone(),
                now,
            )
            .await
        })??
    } else {
        offline_report(&args, policy, source, exclusions, now)?
    };
    // Large blocks: a report with every check on runs to tens of megabytes.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    if let Err(e) = render_to(&report, args.output.into(), &mut stdout) {
        if e.is_broken_pipe() {
            return Ok(0);
        }
        return Err(e.into());
    }
    drop(stdout);
    for e in &report.errors {
        eprintln!("error: {}", escape(&e.to_string()));
    }
    Ok(exit_code(
        &report,
        args.fail_on.map(Into::into),
        args.fail_below,
    ))
}

impl From<Output> for OutputFormat {
    fn from(o: Output) -> Self {
        match o {
            Output::Table => OutputFormat::Table,
            Output::Json => OutputFormat::Json,
            Output::Yaml => OutputFormat::Yaml,
            Output::Sarif => OutputFormat::Sarif,
            Output::Junit => OutputFormat::Junit,
            Output::Html => OutputFormat::Html,
        }
    }
}
