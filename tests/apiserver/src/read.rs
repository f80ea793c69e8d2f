//! Reads: `get` of one object and `list` of a collection (one namespace or all), with
//! label and field selectors and `limit`/`continue` pagination. A paginated list is
//! frozen at its resourceVersion: the first page keeps a snapshot and the opaque continue
//! token points into it, so later pages stay consistent. A token stays valid for the 5
//! minutes the real server's etcd keeps a revision, however many writes the watch history
//! window has seen since; after that, or after a compaction, it answers 410. A page is
//! written out from the objects' stored JSON bytes without building a tree of it.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::app::{Context, present};
use crate::http::ApiRequest;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::{ObjectKey, Snapshot, Store};
use crate::stored::Stored;

/// Answers one object.
pub fn get(store: &Store, ctx: &Context) -> ApiResult<Value> {
    let name = ctx.name.as_deref().unwrap_or("");
    let key = ObjectKey::new(&ctx.rt.type_key(), &ctx.namespace, name);
    let object = store
        .lock()
        .get(&key)
        .ok_or_else(|| ApiError::not_found(&ctx.rt.group, &ctx.rt.plural, name))?;
    Ok(present(&object, &ctx.rt))
}

/// The selectors of a list or watch request.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// The namespace a namespaced request is confined to.
    pub namespace: Option<String>,
}

impl Filter {
    /// Parses the selectors of a request.
    pub fn of(request: &ApiRequest, ctx: &Context) -> ApiResult<Self> {
        Ok(Filter {
            labels: LabelSelector::parse(request.param("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(request.param("fieldSelector").unwrap_or(""), &ctx.rt)?,
            namespace: (ctx.rt.namespaced && !ctx.all_namespaces).then(|| ctx.namespace.clone()),
        })
    }

    /// Whether a stored object passes; only a field selector parses the object.
    pub fn selects(&self, object: &Stored) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| *object.meta().namespace == *ns)
            && self.labels.matches(object)
            && (self.fields.is_empty() || self.fields.matches(&object.value()))
    }
}

/// One answer to a list request: its objects as stored, the resourceVersion it is
/// consistent at, and where the next page starts.
#[derive(Debug)]
pub struct ListPage {
    rv: u64,
    items: Vec<Arc<Stored>>,
    token: Option<String>,
    remaining: Option<usize>,
}

impl ListPage {
    /// The list's `metadata`.
    pub fn metadata(&self) -> Value {
        let mut metadata = json!({"resourceVersion": self.rv.to_string()});
        if let (Some(token), Some(map)) = (&self.token, metadata.as_object_mut()) {
            map.insert("continue".into(), Value::String(token.clone()));
            map.insert(
                "remainingItemCount".into(),
                json!(self.remaining.unwrap_or(0)),
            );
        }
        metadata
    }

    /// The items as the request's version serves them, as trees (for tables).
    pub fn values(&self, ctx: &Context) -> Vec<Value> {
        self.items
            .iter()
            .map(|o| present(&o.value(), &ctx.rt))
            .collect()
    }

    /// The list document as compact JSON, the same bytes as writing out
    /// [`list_document`]'s tree: its keys in the order that tree writes them
    /// (`apiVersion`, `items`, `kind`, `metadata`), each item's stored bytes spliced in.
    pub fn json(&self, ctx: &Context) -> Bytes {
        let items: Vec<Bytes> = self.items.iter().map(|o| o.served_json(&ctx.rt)).collect();
        let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 256);
        // Writing strings and trees into a vector cannot fail.
        out.extend_from_slice(b"{\"apiVersion\":");
        let _ = serde_json::to_writer(&mut out, &ctx.rt.api_version());
        out.extend_from_slice(b",\"items\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(item);
        }
        out.extend_from_slice(b"],\"kind\":");
        let _ = serde_json::to_writer(&mut out, &format!("{}List", ctx.rt.kind));
        out.extend_from_slice(b",\"metadata\":");
        let _ = serde_json::to_writer(&mut out, &self.metadata());
        out.push(b'}');
        Bytes::from(out)
    }
}

fn encode_token(snapshot: u64, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(json!({"s": snapshot, "o": offset}).to_string())
}

fn decode_token(token: &str) -> ApiResult<(u64, usize)> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let snapshot = value.get("s").and_then(Value::as_u64).ok_or_else(bad)?;
    let offset = value.get("o").and_then(Value::as_u64).ok_or_else(bad)?;
    Ok((snapshot, usize::try_from(offset).map_err(|_| bad())?))
}

fn expired_token() -> ApiError {
    ApiError::expired(
        "The provided continue parameter is too old to display a consistent list result. \
         You can start a new list without the continue parameter.",
    )
}

/// Answers a list, one page at a time when `limit` is set.
pub fn list(store: &Store, request: &ApiRequest, ctx: &Context) -> ApiResult<ListPage> {
    let filter = Filter::of(request, ctx)?;
    let limit = match request.param("limit") {
        None | Some("") => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {text}")))?,
    };
    if request.param("resourceVersionMatch") == Some("Exact") {
        return Err(ApiError::bad_request(
            "resourceVersionMatch=Exact is not supported by this server; it lists at the latest resourceVersion only",
        ));
    }
    let mut state = store.lock();
    let snapshot = match request.param("continue").filter(|t| !t.is_empty()) {
        Some(token) => {
            let (id, offset) = decode_token(token)?;
            let snapshot = state.snapshot(id).ok_or_else(expired_token)?;
            (snapshot, id, offset)
        }
        None => {
            let items: Vec<_> = state
                .list_stored(&ctx.rt.type_key(), filter.namespace.as_deref())
                .into_iter()
                .filter(|o| filter.selects(o))
                .collect();
            let rv = state.current_rv();
            if limit == 0 || items.len() <= limit {
                return Ok(ListPage {
                    rv,
                    items,
                    token: None,
                    remaining: None,
                });
            }
            let taken = std::time::Instant::now();
            let snapshot = Snapshot { rv, items, taken };
            let id = state.keep_snapshot(snapshot);
            let snapshot = state.snapshot(id).ok_or_else(expired_token)?;
            (snapshot, id, 0)
        }
    };
    drop(state);
    let (snapshot, id, offset) = snapshot;
    let end = if limit == 0 {
        snapshot.items.len()
    } else {
        offset.saturating_add(limit).min(snapshot.items.len())
    };
    let items = snapshot
        .items
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .to_vec();
    let remaining = snapshot.items.len() - end;
    let (token, remaining) = if remaining > 0 {
        (Some(encode_token(id, end)), Some(remaining))
    } else {
        (None, None)
    };
    Ok(ListPage {
        rv: snapshot.rv,
        items,
        token,
        remaining,
    })
}

/// A list document as a tree: `kind`, `apiVersion`, `metadata` and `items`.
pub fn list_document(ctx: &Context, metadata: Value, items: Vec<Value>) -> Value {
    json!({
        "kind": format!("{}List", ctx.rt.kind),
        "apiVersion": ctx.rt.api_version(),
        "metadata": metadata,
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_types;

    fn context(plural: &str) -> Context {
        let rt = builtin_types()
            .into_iter()
            .find(|t| t.plural == plural)
            .unwrap_or_else(|| panic!("no type {plural}"));
        Context {
            rt,
            namespace: String::new(),
            all_namespaces: true,
            name: None,
            status: false,
            scale: false,
            user: crate::authn::admin(),
        }
    }

    fn pod(name: &str, api_version: Option<&str>) -> Arc<Stored> {
        let mut object = json!({
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop", "resourceVersion": "3",
                         "labels": {"app": "w\u{e9}b \"quoted\""}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        });
        if let Some(v) = api_version {
            object["apiVersion"] = json!(v);
        }
        Arc::new(Stored::new(&object))
    }

    #[test]
    fn a_page_is_the_bytes_of_its_list_document() {
        let ctx = context("pods");
        let pages = [
            ListPage {
                rv: 9,
                items: vec![pod("a", Some("v1")), pod("b", None), pod("c", Some("v1"))],
                token: Some("next".into()),
                remaining: Some(4),
            },
            ListPage {
                rv: 10,
                items: vec![pod("a", Some("v1"))],
                token: None,
                remaining: None,
            },
            ListPage {
                rv: 11,
                items: Vec::new(),
                token: None,
                remaining: None,
            },
        ];
        for page in pages {
            let tree = list_document(&ctx, page.metadata(), page.values(&ctx));
            let expected = serde_json::to_vec(&tree).unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&page.json(&ctx)),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
