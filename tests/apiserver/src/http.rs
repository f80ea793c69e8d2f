//! The HTTP edge: accepts loopback connections with hyper 1 (HTTP/1.1, which is what
//! both the kube client and kubectl speak to a plain-HTTP server), turns each request into
//! an [`ApiRequest`] and each [`Reply`] into a response, streaming watch bodies chunk by
//! chunk. hyper runs inside the caller's tokio runtime, so a `#[tokio::test]` can start
//! the server without a second async system, and kube already brings it into the graph.
//! One port serves plain HTTP and, for connections that open with a TLS handshake, HTTPS
//! (kubectl sends bearer tokens only over TLS).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;

use crate::app::App;
use crate::status::ApiError;

/// Largest accepted request body.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// One request, with its body read.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Decoded path.
    pub path: String,
    /// Query parameters (last value wins).
    pub query: HashMap<String, String>,
    /// `Content-Type`, lowercased, parameters dropped.
    pub content_type: String,
    /// `Accept` as sent.
    pub accept: String,
    /// `User-Agent` as sent.
    pub user_agent: String,
    /// `Authorization` as sent (empty when absent).
    pub authorization: String,
    /// Whether the request came over TLS.
    pub secure: bool,
    /// The body.
    pub body: Bytes,
}

impl ApiRequest {
    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A boolean query parameter (`true` or `1`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }
}

/// What a handler answers.
pub enum Reply {
    /// A JSON document with a status code.
    Json(u16, Value),
    /// A JSON document already written out, with a status code.
    Raw(u16, Bytes),
    /// A newline-delimited JSON stream (watch).
    Stream(mpsc::Receiver<Bytes>),
    /// A JSON document with `Warning` headers (admission webhook warnings).
    Warned(u16, Value, Vec<String>),
}

/// A `Warning` header value as kube-apiserver writes it: code 299, no agent, the text
/// quoted with `"` and `\` escaped and control characters replaced by spaces.
pub fn warning_header(text: &str) -> hyper::header::HeaderValue {
    let mut quoted = String::with_capacity(text.len() + 10);
    quoted.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => quoted.push(' '),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    hyper::header::HeaderValue::from_bytes(quoted.as_bytes()).unwrap_or_else(|_| {
        hyper::header::HeaderValue::from_static("299 - \"unprintable warning\"")
    })
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        Reply::Json(error.code, error.to_status())
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn into_response(reply: Reply) -> Response<Body> {
    let mut warnings = Vec::new();
    let (status, body) = match reply {
        Reply::Json(code, value) => {
            let bytes = serde_json::to_vec(&value).unwrap_or_default();
            (code, BodyExt::boxed(Full::new(Bytes::from(bytes))))
        }
        Reply::Warned(code, value, texts) => {
            warnings = texts;
            let bytes = serde_json::to_vec(&value).unwrap_or_default();
            (code, BodyExt::boxed(Full::new(Bytes::from(bytes))))
        }
        Reply::Raw(code, bytes) => (code, BodyExt::boxed(Full::new(bytes))),
        Reply::Stream(rx) => {
            let stream =
                ReceiverStream::new(rx).map(|chunk| Ok::<_, Infallible>(Frame::data(chunk)));
            (200, BodyExt::boxed(StreamBody::new(stream)))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    for text in &warnings {
        response
            .headers_mut()
            .append(hyper::header::WARNING, warning_header(text));
    }
    response
}

fn header(request: &Request<Incoming>, name: hyper::header::HeaderName) -> String {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

async fn read(request: Request<Incoming>, secure: bool) -> Result<ApiRequest, ApiError> {
    let content_type = header(&request, hyper::header::CONTENT_TYPE);
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let accept = header(&request, hyper::header::ACCEPT);
    let user_agent = header(&request, hyper::header::USER_AGENT);
    let authorization = header(&request, hyper::header::AUTHORIZATION);
    let method = request.method().clone();
    let path = percent_encoding::percent_decode_str(request.uri().path())
        .decode_utf8_lossy()
        .to_string();
    let query = parse_query(request.uri().query());
    let body = Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| {
            ApiError::new(
                crate::status::Reason::RequestEntityTooLarge,
                format!("cannot read the request body: {e}"),
            )
        })?
        .to_bytes();
    Ok(ApiRequest {
        method,
        path,
        query,
        content_type,
        accept,
        user_agent,
        authorization,
        secure,
        body,
    })
}

/// Serves connections until `shutdown` turns true; open connections are dropped then.
/// A connection whose first byte opens a TLS handshake is served over TLS, any other as
/// plain HTTP, so one port answers both `http://` and `https://` URLs.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    acceptor: tokio_rustls::TlsAcceptor,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let app = app.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let mut first = [0u8; 1];
                    let tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == TLS_HANDSHAKE);
                    if !tls {
                        return serve_connection(app, TokioIo::new(stream), false).await;
                    }
                    match acceptor.accept(stream).await {
                        Ok(stream) => serve_connection(app, TokioIo::new(stream), true).await,
                        Err(error) => tracing::debug!(?error, "TLS handshake failed"),
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
    connections.shutdown().await;
}

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

async fn serve_connection<I>(app: Arc<App>, io: I, secure: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        async move {
            let reply = match read(request, secure).await {
                Ok(request) => app.handle(request).await,
                Err(error) => error.into(),
            };
            Ok::<_, Infallible>(into_response(reply))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    if let Err(error) = connection.await {
        tracing::debug!(?error, "connection ended with an error");
    }
}
