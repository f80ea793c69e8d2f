//! Reads: `get` of one object and `list` of a collection (one namespace or all), with
//! label and field selectors and `limit`/`continue` pagination. A paginated list is
//! frozen at its resourceVersion: the first page keeps a snapshot and the opaque continue
//! token points into it, so later pages stay consistent. A token stays valid for the 5
//! minutes the real server's etcd keeps a revision, however many writes the watch history
//! window has seen since; after that, or after a compaction, it answers 410.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::app::{Context, present};
use crate::http::ApiRequest;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::store::{ObjectKey, Snapshot, Store};

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

    /// Whether an object passes.
    pub fn matches(&self, object: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| crate::meta::namespace(object) == ns)
            && self.labels.matches(object)
            && self.fields.matches(object)
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
pub fn list(store: &Store, request: &ApiRequest, ctx: &Context) -> ApiResult<Value> {
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
                .list(&ctx.rt.type_key(), filter.namespace.as_deref())
                .into_iter()
                .filter(|o| filter.matches(o))
                .collect();
            let rv = state.current_rv();
            if limit == 0 || items.len() <= limit {
                return Ok(list_document(
                    ctx,
                    rv,
                    items.iter().map(|o| present(o, &ctx.rt)).collect(),
                    None,
                    None,
                ));
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
    let page: Vec<Value> = snapshot
        .items
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|o| present(o, &ctx.rt))
        .collect();
    let remaining = snapshot.items.len() - end;
    let (token, count) = if remaining > 0 {
        (Some(encode_token(id, end)), Some(remaining))
    } else {
        (None, None)
    };
    Ok(list_document(ctx, snapshot.rv, page, token, count))
}

fn list_document(
    ctx: &Context,
    rv: u64,
    items: Vec<Value>,
    token: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let (Some(token), Some(map)) = (token, metadata.as_object_mut()) {
        map.insert("continue".into(), Value::String(token));
        map.insert("remainingItemCount".into(), json!(remaining.unwrap_or(0)));
    }
    json!({
        "kind": format!("{}List", ctx.rt.kind),
        "apiVersion": ctx.rt.api_version(),
        "metadata": metadata,
        "items": items,
    })
}
