//! A write over HTTP, prepared but not yet stored: the [`PendingWrite`] the lifecycle
//! computed, the admission operation it amounts to, the options the client sent, and how
//! to answer once it is committed (the object, or its Scale view). Admission webhooks see
//! what [`Planned::review_objects`] answers; [`Planned::finish`] performs the cascades of
//! a delete, commits, and renders the reply.

use std::sync::Arc;

use serde_json::Value;

use crate::app::present;
use crate::lifecycle::{self, PendingWrite, Stale};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::State;

/// The admission operation of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A replacement or patch, of the object or one of its subresources.
    Update,
    /// A deletion.
    Delete,
}

impl Operation {
    /// As AdmissionReview and webhook rules spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }

    /// The kind of the options object sent along in an AdmissionReview.
    pub fn options_kind(self) -> &'static str {
        match self {
            Operation::Create => "CreateOptions",
            Operation::Update => "UpdateOptions",
            Operation::Delete => "DeleteOptions",
        }
    }
}

/// What the client gets back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The object at the requested version.
    Object,
    /// The `autoscaling/v1 Scale` of the object.
    Scale,
}

/// The cascades a delete performs at once, as the real control plane does eventually.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cascade {
    /// Free the dependents (`propagationPolicy: Orphan`).
    pub orphan: bool,
    /// The object is a namespace: delete what lives in it.
    pub namespace: bool,
    /// The object is a CRD: delete its custom objects once it is gone.
    pub crd: bool,
}

/// A write ready to be admitted and committed.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The computed change.
    pub pending: PendingWrite,
    /// What admission sees it as.
    pub operation: Operation,
    /// Whether nothing is to be stored.
    pub dry_run: bool,
    /// The HTTP code of success.
    pub code: u16,
    /// How the answer is rendered.
    pub view: View,
    /// The field manager, for the options object of the review.
    pub manager: String,
    /// Cascades of a delete.
    pub cascade: Cascade,
}

/// A finished request: code, body and the warnings to send as headers.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// HTTP status code.
    pub code: u16,
    /// JSON body.
    pub body: Value,
    /// `Warning` header texts.
    pub warnings: Vec<String>,
}

impl From<crate::status::ApiError> for Answer {
    fn from(error: crate::status::ApiError) -> Self {
        Answer {
            code: error.code,
            body: error.to_status(),
            warnings: Vec::new(),
        }
    }
}

impl From<Answer> for crate::http::Reply {
    fn from(answer: Answer) -> Self {
        if answer.warnings.is_empty() {
            crate::http::Reply::Json(answer.code, answer.body)
        } else {
            crate::http::Reply::Warned(answer.code, answer.body, answer.warnings)
        }
    }
}

impl Planned {
    /// `object` and `oldObject` as an AdmissionReview carries them.
    pub fn review_objects(&self, rt: &ResourceType) -> (Option<Value>, Option<Value>) {
        let render = |object: &Value| self.render(object, rt);
        match self.operation {
            Operation::Create => (Some(render(&self.pending.new)), None),
            Operation::Update => (
                Some(render(&self.pending.new)),
                self.pending.old.as_deref().map(render),
            ),
            Operation::Delete => (None, self.pending.old.as_deref().map(render)),
        }
    }

    fn render(&self, object: &Value, rt: &ResourceType) -> Value {
        match self.view {
            View::Object => present(object, rt),
            View::Scale => crate::scale::scale_of(object),
        }
    }

    /// Commits the write (cascades first) and renders the answer; [`Stale`] when the store
    /// moved past the write since it was prepared.
    pub fn finish(self, state: &mut State, rt: &ResourceType) -> Result<Answer, Stale> {
        if !lifecycle::is_fresh(state, &self.pending) {
            return Err(Stale);
        }
        let cascade = if self.dry_run {
            Cascade::default()
        } else {
            self.cascade
        };
        if let Some(old) = self.pending.old.as_deref() {
            if cascade.orphan {
                crate::write::orphan_dependents(state, meta::uid(old));
            }
            if cascade.namespace {
                crate::write::empty_namespace(state, meta::name(old));
            }
        }
        let key = self.pending.key.clone();
        let stored: Arc<Value> = lifecycle::commit(state, self.pending.clone(), self.dry_run)?;
        if cascade.crd && state.get(&key).is_none() {
            crate::crd::remove_instances(state, &stored);
        }
        Ok(Answer {
            code: self.code,
            body: self.render(&stored, rt),
            warnings: Vec::new(),
        })
    }
}
