//! Judging manifests: documents read from files or standard input, one at a time.
//!
//! In: parsed documents with their source locations. Out: workloads judged into an
//! [`Auditor`], related objects (PodDisruptionBudgets, Services, RBAC, ...) read into its
//! cross-resource index, other kinds listed as not judged, and undecodable objects as
//! errors naming their source.

use super::Auditor;
use crate::cross::{related_from_json, related_kind};
use crate::facts::{WorkloadKind, at, facts_from_tree};
use crate::manifests::{Document, Input, InputError, InputSink, Node, Tree};

/// Why an object of a kind without pods is listed as not judged.
const NO_POD_TEMPLATE: &str = "kind has no pod template";

/// Judges everything read from manifests: workloads are judged, objects of other kinds
/// are listed as skipped, and undecodable objects become errors naming their source.
pub fn audit_input(auditor: &mut Auditor, input: Input) {
    for e in input.errors {
        auditor.error(e);
    }
    for doc in input.documents {
        if let Some(e) = audit_document(auditor, doc) {
            auditor.error(e);
        }
    }
}

/// Judges manifests while they are read: each document is turned into facts and findings
/// as soon as it is parsed and then dropped, so memory follows the report, not the input.
/// The report is the one [`audit_input`] makes of the same input: read errors come first
/// and decoding errors after them, each in input order.
#[derive(Debug)]
pub struct ManifestAudit<'a> {
    auditor: &'a mut Auditor,
    decode_errors: Vec<InputError>,
    read: ManifestsRead,
}

/// What a [`ManifestAudit`] saw of its input.
#[derive(Debug, Default)]
pub struct ManifestsRead {
    /// Objects read.
    pub documents: usize,
    /// Problems reading the input.
    pub read_errors: usize,
    /// Files read that held no object at all.
    pub empty_files: Vec<String>,
}

impl<'a> ManifestAudit<'a> {
    /// Judges into `auditor`.
    pub fn new(auditor: &'a mut Auditor) -> Self {
        ManifestAudit {
            auditor,
            decode_errors: Vec::new(),
            read: ManifestsRead::default(),
        }
    }

    /// Records the decoding errors after the read errors; call once everything is read.
    pub fn finish(self) -> ManifestsRead {
        for e in self.decode_errors {
            self.auditor.error(e);
        }
        self.read
    }
}

impl InputSink for ManifestAudit<'_> {
    fn document(&mut self, document: Document) {
        self.read.documents += 1;
        if let Some(e) = audit_document(self.auditor, document) {
            self.decode_errors.push(e);
        }
    }
    fn node(&mut self, document: Document<Node<'_>>) {
        self.read.documents += 1;
        if let Some(e) = audit_document(self.auditor, document) {
            self.decode_errors.push(e);
        }
    }
    fn error(&mut self, error: InputError) {
        self.read.read_errors += 1;
        self.auditor.error(error);
    }
    fn file_read(&mut self, _: &str) {}
    fn empty_file(&mut self, file: &str) {
        self.read.empty_files.push(file.to_owned());
    }
}

/// Judges one document; an object that cannot be decoded comes back as an error.
fn audit_document<V: Tree>(auditor: &mut Auditor, doc: Document<V>) -> Option<InputError> {
    let text = |path: &[&str]| {
        at(&doc.value, path)
            .and_then(Tree::text)
            .unwrap_or("")
            .to_owned()
    };
    let (kind, name) = (text(&["kind"]), text(&["metadata", "name"]));
    let namespace = text(&["metadata", "namespace"]);
    let api_version = text(&["apiVersion"]);
    let cluster_scoped = related_kind(&api_version, &kind).is_some_and(|k| k.is_cluster_scoped());
    let outside_filter = !cluster_scoped
        && auditor.namespace.as_ref().is_some_and(|want| {
            *want
                != if namespace.is_empty() {
                    "default"
                } else {
                    namespace.as_str()
                }
        });
    if outside_filter {
        return None;
    }
    if kind.is_empty() && api_version.is_empty() {
        // Helm values, kustomize patches and other YAML that lives next to manifests.
        auditor.skip(
            doc.source.to_string(),
            Some(doc.source),
            "not a Kubernetes object (no apiVersion or kind)",
        );
        return None;
    }
    let error = |message: String, source: crate::manifests::Source| InputError {
        file: source.file,
        document: Some(source.document),
        line: Some(source.line),
        message,
    };
    let not_judged = |auditor: &mut Auditor, source, why: &'static str| {
        let ns = if namespace.is_empty() {
            "-"
        } else {
            namespace.as_str()
        };
        auditor.skip(format!("{ns}/{kind}/{name}"), Some(source), why);
    };
    if WorkloadKind::from_kind(&kind).is_some() {
        match facts_from_tree(doc.value) {
            Ok(Some(facts)) => auditor.add(&facts, Some(doc.source)),
            // A kind of another API group that shares one of our names (a Volcano Job).
            Ok(None) => not_judged(auditor, doc.source, "kind of another API group"),
            Err(e) => return Some(error(e.to_string(), doc.source)),
        }
        return None;
    }
    if auditor.cross.is_some() && related_kind(&api_version, &kind).is_some() {
        match related_from_json(doc.value.into_json()) {
            Ok(Some(object)) => {
                if !auditor.add_related(object, Some(doc.source.clone())) {
                    not_judged(auditor, doc.source, NO_POD_TEMPLATE);
                }
            }
            Ok(None) => not_judged(auditor, doc.source, NO_POD_TEMPLATE),
            Err(e) => return Some(error(e.to_string(), doc.source)),
        }
        return None;
    }
    if kind.is_empty() {
        // An apiVersion without a kind is a broken object, not another tool's file.
        return Some(error(
            crate::facts::FactsError::MissingKind.to_string(),
            doc.source,
        ));
    }
    not_judged(auditor, doc.source, NO_POD_TEMPLATE);
    None
}
