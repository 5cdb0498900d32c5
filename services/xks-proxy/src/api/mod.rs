//! The request path of the XKS API: body (bounded in size and time, read
//! before any answer) → route → method → SigV4 → in-flight bound → key-store
//! quota → the API handler; one log line and one metric per request. Every
//! refusal is an [`XksError`] rendered by the one table in [`xks_wire::xks::error`];
//! no framework default ever reaches KMS. Nothing is held for a request
//! before it authenticates but its connection (see [`xks_service::listener`]).

pub mod body;
pub mod handlers;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;

use xks_service::listener::AuthMarker;
use xks_wire::xks::request::{self, RequestMetadata};
use xks_wire::xks::{Api, ErrorName, Route, XksError, sigv4};

use crate::health::HealthMonitor;
use crate::metrics::Metrics;
use crate::partners::Pool;
use crate::stores::Reloadable;
use xks_config::proxy::{FleetConfig, Limits};

/// Shared state (cheap to clone).
#[derive(Clone, Debug)]
pub struct App(pub Arc<AppInner>);

/// The parts.
#[derive(Debug)]
pub struct AppInner {
    /// Reloadable key stores.
    pub stores: Arc<Reloadable>,
    /// Partners and our share.
    pub pool: Arc<Pool>,
    /// Deep health.
    pub health: Arc<HealthMonitor>,
    /// Bounds.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Requests in progress.
    pub in_flight: Semaphore,
    /// Reported by GetHealthStatus.
    pub fleet: FleetConfig,
    /// Version and executable digest (GetHealthStatus reports them).
    pub build: xks_service::BuildInfo,
    /// `front.server_names`, lower-case (empty: any Host).
    pub server_names: Vec<String>,
}

/// What the log line of a request says (filled in as the request proceeds).
#[derive(Debug, Default)]
pub struct Ctx {
    /// Key store name.
    pub key_store: Option<String>,
    /// externalKeyId.
    pub key_id: Option<String>,
    /// requestMetadata fields worth logging.
    pub kms_request_id: Option<String>,
    /// kmsOperation.
    pub kms_operation: Option<String>,
    /// awsPrincipalArn.
    pub principal: Option<String>,
    /// kmsKeyArn.
    pub kms_key_arn: Option<String>,
    /// kmsViaService.
    pub via: Option<String>,
    /// Access key id that signed.
    pub access_key_id: Option<String>,
    /// Partner whose partial was used.
    pub partner: Option<String>,
    /// Whether a hedge answered.
    pub hedged: bool,
    /// The authorization policy that denied.
    pub denied_by: Option<String>,
}

impl Ctx {
    fn set_metadata(&mut self, m: &RequestMetadata) {
        self.kms_request_id = m.kms_request_id.as_deref().map(loggable);
        self.kms_operation = m.kms_operation.as_deref().map(loggable);
        self.principal = m.aws_principal_arn.as_deref().map(loggable);
        self.kms_key_arn = m.kms_key_arn.as_deref().map(loggable);
        self.via = m.kms_via_service.as_deref().map(loggable);
    }

    /// For a body that failed validation: whatever metadata it carries.
    fn set_metadata_lenient(&mut self, body: &[u8]) {
        if let Some(m) = request::metadata_lenient(body) {
            self.set_metadata(&m);
        }
    }
}

/// Longest request-metadata value written to the log (characters).
const MAX_LOGGED: usize = 256;

/// A client-supplied string as it may be logged: printable ASCII (anything
/// else as `?`), at most [`MAX_LOGGED`] characters, a longer one cut with its
/// length noted. kmsRequestId is opaque and never refused; this bounds the log.
fn loggable(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_LOGGED).map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect();
    let n = s.chars().count();
    if n > MAX_LOGGED {
        out.push_str(&format!("…({n} characters)"));
    }
    out
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &XksError) -> Response<Full<Bytes>> {
    json(e.name.status(), e.body())
}

impl App {
    /// Serves one request of the XKS listener (of the connection `conn`).
    pub async fn handle(&self, req: Request<Incoming>, conn: &AuthMarker) -> Response<Full<Bytes>> {
        let head = req.method() == Method::HEAD;
        let mut response = self.respond(req, conn).await;
        if head {
            // Never a body in answer to HEAD (HTTP/2 clients treat one as a protocol error).
            let len = hyper::body::Body::size_hint(response.body()).exact().unwrap_or(0);
            response.headers_mut().insert(hyper::header::CONTENT_LENGTH, hyper::header::HeaderValue::from(len));
            *response.body_mut() = Full::new(Bytes::new());
        }
        response
    }

    async fn respond(&self, req: Request<Incoming>, conn: &AuthMarker) -> Response<Full<Bytes>> {
        let start = Instant::now();
        if req.uri().path() == "/ping" {
            return if req.method() == Method::GET || req.method() == Method::HEAD {
                json(StatusCode::OK, "{\"status\":\"ok\"}".into())
            } else {
                let mut r = json(StatusCode::METHOD_NOT_ALLOWED, "{\"status\":\"use GET\"}".into());
                r.headers_mut().insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
                r
            };
        }
        let mut ctx = Ctx::default();
        let route = Route::parse(req.uri().path());
        let op = route.as_ref().map(|r| r.api.operation());
        let result = self.process(req, route, conn, &mut ctx).await;
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (response, outcome) = match result {
            Ok(body) => (json(StatusCode::OK, body), None),
            Err(Refusal::Xks(e)) => (error_response(&e), Some(e)),
            Err(Refusal::MethodNotAllowed) => {
                let mut r = json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    serde_json::json!({"errorName": "MethodNotAllowed", "errorMessage": "the XKS APIs accept POST only"}).to_string(),
                );
                r.headers_mut().insert(ALLOW, hyper::header::HeaderValue::from_static("POST"));
                (r, None)
            }
        };
        self.0.metrics.request(op, outcome.as_ref().map(|e| e.name), micros);
        let operation = op.map_or("other", |o| o.as_str());
        let outcome_str = outcome.as_ref().map(|e| e.name.as_str()).unwrap_or("ok");
        let message = outcome.as_ref().map(|e| e.message.as_str()).unwrap_or("");
        let status = response.status().as_u16();
        macro_rules! log {
            ($lvl:ident) => {
                tracing::$lvl!(
                    operation,
                    status,
                    outcome = outcome_str,
                    latency_us = micros,
                    key_store = ctx.key_store.as_deref().unwrap_or(""),
                    key_id = ctx.key_id.as_deref().unwrap_or(""),
                    kms_request_id = ctx.kms_request_id.as_deref().unwrap_or(""),
                    kms_operation = ctx.kms_operation.as_deref().unwrap_or(""),
                    principal = ctx.principal.as_deref().unwrap_or(""),
                    kms_key_arn = ctx.kms_key_arn.as_deref().unwrap_or(""),
                    kms_via_service = ctx.via.as_deref().unwrap_or(""),
                    access_key_id = ctx.access_key_id.as_deref().unwrap_or(""),
                    partner = ctx.partner.as_deref().unwrap_or(""),
                    hedged = ctx.hedged,
                    denied_by = ctx.denied_by.as_deref().unwrap_or(""),
                    message,
                    "xks request"
                )
            };
        }
        match outcome.as_ref().map(|e| e.name) {
            Some(ErrorName::InternalException | ErrorName::DependencyTimeoutException) => log!(error),
            Some(ErrorName::AccessDeniedException | ErrorName::AuthenticationFailedException) => log!(warn),
            _ => log!(info),
        }
        response
    }

    async fn process(&self, req: Request<Incoming>, route: Option<Route>, conn: &AuthMarker, ctx: &mut Ctx) -> Result<String, Refusal> {
        let s = &self.0;
        let (parts, body) = req.into_parts();
        let body = body::read(body, s.limits.max_body_bytes, Duration::from_millis(s.limits.body_timeout_ms)).await;
        let Route { prefix, api } = route.ok_or_else(|| XksError::of(ErrorName::InvalidUriPathException))?;
        let stores = s.stores.get();
        let store = stores.by_prefix(&prefix).ok_or_else(|| XksError::of(ErrorName::InvalidUriPathException))?.clone();
        ctx.key_store = Some(store.name.clone());
        ctx.key_id = api.key_id().map(|id| id.as_str().to_owned());
        if parts.method != Method::POST {
            return Err(Refusal::MethodNotAllowed);
        }
        let body = body.map_err(|e| match e {
            body::BodyError::TooLarge => XksError::new(
                ErrorName::UnsupportedOperationException,
                format!("request body exceeds {} bytes (limits.max_body_bytes)", s.limits.max_body_bytes),
            ),
            body::BodyError::Timeout => {
                XksError::validation(format!("request body not received within {} ms (limits.body_timeout_ms)", s.limits.body_timeout_ms))
            }
            body::BodyError::Unreadable => XksError::validation("request body could not be read"),
        })?;
        let authority = parts.uri.authority().map(|a| a.as_str().to_owned());
        let signed = sigv4::Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            authority: authority.as_deref(),
            body: &body,
        };
        let skew = Duration::from_secs(s.limits.max_clock_skew_seconds);
        let auth = sigv4::verify(&signed, |id| store.secret(id), sigv4::SERVICE, SystemTime::now(), skew)
            .map_err(|e| XksError::new(ErrorName::AuthenticationFailedException, format!("SigV4: {e}")))?;
        ctx.access_key_id = Some(auth.access_key_id.clone());
        conn.authenticated();
        self.check_host(&parts.headers, authority.as_deref())?;
        let _permit = s
            .in_flight
            .try_acquire()
            .map_err(|_| XksError::new(ErrorName::ThrottlingException, "the proxy is at its in-flight request limit"))?;
        if !store.region_allowed(&auth.region) {
            return Err(XksError::new(ErrorName::AuthenticationFailedException, "SigV4: region not accepted by this key store").into());
        }
        if let Some(q) = &store.quota
            && !q.take()
        {
            return Err(XksError::new(ErrorName::ThrottlingException, "request rate above this key store's quota").into());
        }
        if let Some(ct) = parts.headers.get(CONTENT_TYPE)
            && !ct.to_str().is_ok_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"))
        {
            return Err(XksError::validation("Content-Type must be application/json").into());
        }
        let out = match &api {
            Api::Health => handlers::health(self, ctx, &store, &body).await,
            Api::Metadata(id) => handlers::metadata(ctx, &store, id.as_str(), &body),
            Api::Encrypt(id) => handlers::encrypt(self, ctx, &store, id.as_str(), &body).await,
            Api::Decrypt(id) => handlers::decrypt(self, ctx, &store, id.as_str(), &body).await,
        };
        out.map_err(Refusal::Xks)
    }
}

impl App {
    /// A signed request is for one of the names this proxy serves (a request
    /// signed for another endpoint, replayed here, is refused).
    fn check_host(&self, headers: &hyper::HeaderMap, authority: Option<&str>) -> Result<(), XksError> {
        let names = &self.0.server_names;
        if names.is_empty() {
            return Ok(());
        }
        let host = headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok()).or(authority).unwrap_or("");
        // `name`, `name:port`, `[v6]` or `[v6]:port`.
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host.rsplit_once(':').map_or(host, |(n, _)| n),
        }
        .to_ascii_lowercase();
        if names.contains(&name) {
            Ok(())
        } else {
            Err(XksError::new(
                ErrorName::AuthenticationFailedException,
                "the request's Host is not a name this proxy serves (front.server_names)",
            ))
        }
    }
}

/// Why a request was not served.
#[derive(Debug)]
pub enum Refusal {
    /// An error of the spec's table.
    Xks(XksError),
    /// GET (or another method) on an API URI: 405.
    MethodNotAllowed,
}

impl From<XksError> for Refusal {
    fn from(e: XksError) -> Self {
        Refusal::Xks(e)
    }
}
