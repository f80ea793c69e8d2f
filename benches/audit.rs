//! Benchmarks of the offline audit, stage by stage and end to end.
//!
//! In: 1,000 workloads from the corpus generator of `examples/gen_corpus.rs` (the same mix
//! the end-to-end measurement reads), as ten YAML streams of 100 documents. Out: time per
//! workload for YAML parsing, facts extraction, evaluation under the default policy and the
//! `restricted` bundle, scoring, the whole path from bytes to a finished report (reading
//! everything first, and judging each document as it is read, as `analyze --path` does),
//! and the rendering of that report; and the whole `analyze --path -o json` path with every
//! check on (`benches/every-check.yaml`): bytes to the JSON report written to a sink. Every
//! group counts workloads as its throughput elements.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use kube_devops::audit::{AuditReport, Auditor, ManifestAudit, audit_input};
use kube_devops::checks::{Finding, evaluate, pod_score};
use kube_devops::facts::{PodFacts, facts_from_json};
use kube_devops::manifests::{Input, parse_bytes, parse_into};
use kube_devops::policy::bundles::bundle;
use kube_devops::policy::strict::policy_from_value;
use kube_devops::policy::{EffectivePolicy, NamespaceExclusions};
use kube_devops::report::{OutputFormat, render, render_to};
use kube_devops::score::{PodScore, ScoreBoard};
use serde_json::Value;

#[allow(
    dead_code,
    reason = "only the generator is used; the example's `main` is not"
)]
#[path = "../examples/gen_corpus.rs"]
mod corpus;

/// Workloads judged per benchmark iteration.
const WORKLOADS: usize = 1_000;

/// The instant every evaluation is judged at, so runs are comparable.
const NOW: &str = "2026-06-01T00:00:00Z";

/// Everything the stages read, prepared once.
struct Inputs {
    /// `(file name, YAML bytes)`, 100 documents each.
    files: Vec<(String, Vec<u8>)>,
    /// The parsed documents.
    values: Vec<Value>,
    /// Their facts.
    facts: Vec<PodFacts>,
    /// Findings under the restricted bundle.
    findings: Vec<Vec<Finding>>,
    restricted: EffectivePolicy,
    now: Timestamp,
}

fn restricted() -> EffectivePolicy {
    let Some(b) = bundle("restricted") else {
        panic!("the restricted bundle exists");
    };
    match EffectivePolicy::from_spec(&b.spec) {
        Ok(p) => p,
        Err(e) => panic!("the restricted bundle resolves: {e}"),
    }
}

/// The policy that turns every check on, as `analyze --policy benches/every-check.yaml`
/// reads it.
fn every_check() -> EffectivePolicy {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/every-check.yaml");
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => panic!("{path} is readable: {e}"),
    };
    let mut input = Input::default();
    parse_bytes(&text, path, &mut input);
    let Some(document) = input.documents.first() else {
        panic!("{path} holds a policy: {:?}", input.errors);
    };
    match policy_from_value(&document.value).map(|p| EffectivePolicy::from_spec(&p.spec)) {
        Ok(Ok(p)) => p,
        other => panic!("{path} resolves: {:?}", other.err()),
    }
}

fn inputs() -> Inputs {
    let files: Vec<(String, Vec<u8>)> = (0..WORKLOADS)
        .step_by(corpus::DOCS_PER_FILE)
        .enumerate()
        .map(|(n, first)| {
            let text = corpus::corpus_file(corpus::DEFAULT_SEED, first, corpus::DOCS_PER_FILE);
            (format!("workloads-{n:03}.yaml"), text.into_bytes())
        })
        .collect();
    let input = parse_all(&files);
    // A benchmark over inputs that fail to read would measure the error path instead.
    assert!(
        input.errors.is_empty(),
        "generated manifests parse: {:?}",
        input.errors.first()
    );
    assert_eq!(input.documents.len(), WORKLOADS);
    let values: Vec<Value> = input.documents.into_iter().map(|d| d.value).collect();
    let facts: Vec<PodFacts> = values
        .iter()
        .map(|v| match facts_from_json(v.clone()) {
            Ok(Some(f)) => f,
            other => panic!("generated workloads yield facts: {other:?}"),
        })
        .collect();
    let restricted = restricted();
    let now = match NOW.parse() {
        Ok(t) => t,
        Err(e) => panic!("{NOW} is a timestamp: {e}"),
    };
    let findings = facts
        .iter()
        .map(|f| evaluate(f, &restricted, now))
        .collect();
    Inputs {
        files,
        values,
        facts,
        findings,
        restricted,
        now,
    }
}

fn parse_all(files: &[(String, Vec<u8>)]) -> Input {
    let mut input = Input::default();
    for (name, bytes) in files {
        parse_bytes(bytes, name, &mut input);
    }
    input
}

fn audit(inputs: &Inputs, policy: &EffectivePolicy, source: &str) -> AuditReport {
    let input = parse_all(&inputs.files);
    let mut auditor = Auditor::new(
        policy.clone(),
        source.to_owned(),
        NamespaceExclusions::default(),
        None,
        inputs.now,
    );
    audit_input(&mut auditor, input);
    auditor.finish()
}

/// The path `analyze --path` takes: each document judged as soon as it is parsed.
fn audit_streamed(inputs: &Inputs, policy: &EffectivePolicy, source: &str) -> AuditReport {
    let mut auditor = Auditor::new(
        policy.clone(),
        source.to_owned(),
        NamespaceExclusions::default(),
        None,
        inputs.now,
    );
    let mut audit = ManifestAudit::new(&mut auditor);
    for (name, bytes) in &inputs.files {
        parse_into(bytes, name, &mut audit);
    }
    audit.finish();
    auditor.finish()
}

fn benches(c: &mut Criterion) {
    let inputs = inputs();
    let default = EffectivePolicy::default();
    let elements = Throughput::Elements(WORKLOADS as u64);

    let mut group = c.benchmark_group("parse");
    group.throughput(elements.clone());
    group.bench_function("yaml", |b| b.iter(|| black_box(parse_all(&inputs.files))));
    group.finish();

    let mut group = c.benchmark_group("facts");
    group.throughput(elements.clone());
    group.bench_function("from_json", |b| {
        b.iter_batched(
            || inputs.values.clone(),
            |values| {
                for v in values {
                    let _ = black_box(facts_from_json(v));
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("evaluate");
    group.throughput(elements.clone());
    for (name, policy) in [("default", &default), ("restricted", &inputs.restricted)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for f in &inputs.facts {
                    black_box(evaluate(f, policy, inputs.now));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("score");
    group.throughput(elements.clone());
    group.bench_function("pod_score", |b| {
        b.iter(|| {
            for f in &inputs.findings {
                black_box(pod_score(f));
            }
        })
    });
    let pods: Vec<(String, &str, PodScore)> = inputs
        .facts
        .iter()
        .zip(&inputs.findings)
        .enumerate()
        .map(|(i, (f, found))| {
            (
                format!("uid-{i:05}"),
                f.object.namespace.as_str(),
                pod_score(found),
            )
        })
        .collect();
    group.bench_function("scoreboard_apply_new", |b| {
        b.iter_batched(
            ScoreBoard::new,
            |mut board| {
                for (uid, ns, score) in &pods {
                    board.apply(uid, ns, *score);
                }
                board
            },
            BatchSize::SmallInput,
        )
    });
    let mut board = ScoreBoard::new();
    for (uid, ns, score) in &pods {
        board.apply(uid, ns, *score);
    }
    group.bench_function("scoreboard_apply_replace", |b| {
        b.iter(|| {
            for (uid, ns, score) in &pods {
                black_box(board.apply(uid, ns, *score));
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("end_to_end");
    group.throughput(elements.clone());
    for (name, policy) in [("default", &default), ("restricted", &inputs.restricted)] {
        group.bench_function(name, |b| b.iter(|| black_box(audit(&inputs, policy, name))));
    }
    group.bench_function("streamed", |b| {
        b.iter(|| black_box(audit_streamed(&inputs, &default, "default")))
    });
    // `analyze --path -o json --policy benches/every-check.yaml` without the file reads.
    let every_check = every_check();
    group.bench_function("every_check_json", |b| {
        b.iter(|| {
            let report = audit_streamed(&inputs, &every_check, "every-check");
            let written = render_to(&report, OutputFormat::Json, &mut std::io::sink());
            black_box(written.is_ok())
        })
    });
    group.finish();

    let mut group = c.benchmark_group("render");
    group.throughput(elements);
    let report = audit(&inputs, &default, "default");
    for (name, format) in [("json", OutputFormat::Json), ("table", OutputFormat::Table)] {
        group.bench_function(name, |b| b.iter(|| black_box(render(&report, format))));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
}

criterion_group! {
    name = audit_path;
    config = config();
    targets = benches
}
criterion_main!(audit_path);
