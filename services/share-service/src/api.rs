//! The HTTP API behind mTLS: `POST /v1/partial`, `POST /v1/partials` (a
//! batch), `GET /v1/health`, `POST /v1/self-test`, `GET /v1/audit/checkpoint`
//! (the latest signed audit checkpoint), `GET /metrics`. Every error is a JSON body
//! `{"error": <code>, "message": <text>}`; no framework default reaches a client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Extension, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use xks_audit::{Entry, RecordKind};
use xks_threshold::encoding::PointEncoding;
use xks_threshold::{Combiner, CombiningSet, KeyPath};
use xks_wire::partner::{self, ErrorBody, ErrorCode, PartialRequest};
use zeroize::Zeroizing;

use crate::anomaly::{Detector, LockScope, Scope};
use crate::audit::Audit;
use crate::controls::{Controls, KeyPathRefusal};
use crate::keys::ShareStore;
use crate::metrics::{Metrics, Outcome};
use xks_config::share::Limits;
use xks_service::tls::ClientIdentity;

/// Key path of the self-test route (never a customer key path: customers' key
/// paths come from the proxy's configuration).
pub const SELF_TEST_KEY_PATH: &str = "xks-share-service/self-test";

/// Shared state of all handlers (cheap to clone).
#[derive(Clone)]
pub struct App(pub Arc<AppInner>);

/// The parts.
pub struct AppInner {
    /// Shares.
    pub store: ShareStore,
    /// Kill switch.
    pub controls: Controls,
    /// Rate anomalies.
    pub anomaly: Detector,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Audit log.
    pub audit: Audit,
    /// Bounds.
    pub limits: Limits,
    /// In-flight bound.
    pub in_flight: Semaphore,
    /// `limits.max_requests_per_second`.
    pub bucket: xks_service::rate::TokenBucket,
    /// Version and executable digest (the health answer reports them).
    pub build: xks_service::BuildInfo,
}

/// A refused request: its code (which fixes the HTTP status), a message, and
/// how it is counted.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    outcome: Outcome,
}

impl ApiError {
    fn new(code: ErrorCode, message: impl Into<String>, outcome: Outcome) -> Self {
        Self { code, message: message.into(), outcome }
    }
    fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message, Outcome::Invalid)
    }
    fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error", Outcome::Internal)
    }
}

impl IntoResponse for ApiError {
    /// The error body; the outcome rides along in the response's extensions
    /// for the `measured` middleware to count.
    fn into_response(self) -> Response {
        let mut response =
            (self.code.status(), [(header::CONTENT_TYPE, "application/json")], ErrorBody::render(self.code, &self.message)).into_response();
        response.extensions_mut().insert(self.outcome);
        response
    }
}

/// The router.
pub fn router(app: App) -> Router {
    Router::new()
        .route(partner::PARTIAL_PATH, post(partial).layer(middleware::from_fn_with_state(app.clone(), measured)))
        .route(partner::PARTIALS_PATH, post(partials).layer(middleware::from_fn_with_state(app.clone(), measured)))
        .route(partner::HEALTH_PATH, get(health))
        .route(partner::SELF_TEST_PATH, post(self_test))
        .route(partner::METRICS_PATH, get(metrics))
        .route(partner::CHECKPOINT_PATH, get(checkpoint))
        .fallback(not_found)
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route", Outcome::Invalid)
}

/// When a request arrived (set by [`measured`], read by the handler for the
/// audit record's latency).
#[derive(Clone, Copy)]
struct Arrived(Instant);

/// Set on a response whose requests the handler counted itself (a batch).
#[derive(Clone, Copy)]
struct Counted;

/// `POST /v1/partial` and `POST /v1/partials` under their time bound
/// (`limits.request_timeout_ms`, the body read included), counted by outcome
/// and latency (a batch that was answered counts its requests itself).
async fn measured(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let arrived = Instant::now();
    request.extensions_mut().insert(Arrived(arrived));
    let timeout = Duration::from_millis(app.0.limits.request_timeout_ms);
    let response = tokio::time::timeout(timeout, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::new(ErrorCode::Timeout, "request timed out", Outcome::Overloaded).into_response());
    if response.extensions().get::<Counted>().is_some() {
        return response;
    }
    let outcome = response.extensions().get::<Outcome>().copied().unwrap_or(Outcome::Ok);
    app.0.metrics.request(outcome, u64::try_from(arrived.elapsed().as_micros()).unwrap_or(u64::MAX));
    response
}

/// The body of `POST /v1/partial`, read (at most `limits.max_body_bytes`)
/// and parsed strictly. The handler takes it as a `Result`: a body that does
/// not parse is still answered by a lock first.
struct PartialBody(PartialRequest);

impl FromRequest<App> for PartialBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &App) -> Result<Self, ApiError> {
        let max = app.0.limits.max_body_bytes;
        let bytes = to_bytes(request.into_body(), max)
            .await
            .map_err(|_| ApiError::new(ErrorCode::BodyTooLarge, format!("body exceeds {max} bytes"), Outcome::Invalid))?;
        PartialRequest::parse(&bytes).map(Self).map_err(ApiError::invalid)
    }
}

/// What an exchange's headers say, read once for the exchange (a batch's
/// requests share them).
#[derive(Clone, Copy)]
struct ExchangeHeaders {
    /// The body is declared `application/json`.
    json: bool,
    /// The form the caller reads partials in (`xks-point-encoding`).
    encoding: PointEncoding,
}

impl<S: Sync> FromRequestParts<S> for ExchangeHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        Ok(Self {
            json: headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json")),
            encoding: partner::requested_point_encoding(headers.get(partner::POINT_ENCODING_HEADER).map(|v| v.as_bytes())),
        })
    }
}

/// The body of `POST /v1/partials`: at most `limits.max_body_bytes` per
/// request it may carry, parsed strictly as a whole.
struct BatchBody(Vec<PartialRequest>);

impl FromRequest<App> for BatchBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, app: &App) -> Result<Self, ApiError> {
        let max = app.0.limits.max_body_bytes.saturating_mul(partner::MAX_BATCH);
        let bytes = to_bytes(request.into_body(), max)
            .await
            .map_err(|_| ApiError::new(ErrorCode::BodyTooLarge, format!("batch body exceeds {max} bytes"), Outcome::Invalid))?;
        partner::parse_batch(&bytes).map(Self).map_err(ApiError::invalid)
    }
}

/// `POST /v1/partials`: every request of the batch as if it had come alone
/// ([`App::partial`]), served together so that their audit records share a
/// group commit; one answer per request, in order.
async fn partials(
    State(app): State<App>,
    Extension(client): Extension<Arc<ClientIdentity>>,
    Extension(Arrived(arrived)): Extension<Arrived>,
    headers: ExchangeHeaders,
    body: Result<BatchBody, ApiError>,
) -> Response {
    let requests = match body {
        Ok(BatchBody(requests)) => requests,
        // Unreadable as a whole: answered as a single unreadable request is (a lock first).
        Err(e) => return app.check(&client, headers, Err(e), arrived).await.err().unwrap_or_else(ApiError::internal).into_response(),
    };
    let s = &app.0;
    s.metrics.partial_batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let checked = futures_util::future::join_all(requests.into_iter().map(|r| app.check(&client, headers, Ok(r), arrived))).await;
    let served = app.release(checked, headers, &client).await;
    let micros = u64::try_from(arrived.elapsed().as_micros()).unwrap_or(u64::MAX);
    let answers: Vec<(StatusCode, Zeroizing<String>)> = served
        .into_iter()
        .map(|result| match result {
            Ok(json) => {
                s.metrics.request(Outcome::Ok, micros);
                (StatusCode::OK, json)
            }
            Err(e) => {
                s.metrics.request(e.outcome, micros);
                (e.code.status(), Zeroizing::new(ErrorBody::render(e.code, &e.message)))
            }
        })
        .collect();
    let rendered = partner::render_answers(answers.iter().map(|(status, body)| (*status, body.as_str())));
    // Our copies of the partials go now; the answer's own goes with the response.
    drop(answers);
    let mut response = match rendered {
        Ok(mut json) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], std::mem::take(&mut *json)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "batch answer not encodable");
            ApiError::internal().into_response()
        }
    };
    response.extensions_mut().insert(Counted);
    response
}

async fn partial(
    State(app): State<App>,
    Extension(client): Extension<Arc<ClientIdentity>>,
    Extension(Arrived(arrived)): Extension<Arrived>,
    headers: ExchangeHeaders,
    body: Result<PartialBody, ApiError>,
) -> Result<([(header::HeaderName, &'static str); 1], String), ApiError> {
    let checked = app.check(&client, headers, body.map(|b| b.0), arrived).await;
    let mut json = app.release(vec![checked], headers, &client).await.pop().unwrap_or_else(|| Err(ApiError::internal()))?;
    // Moved into the response, not copied: no second copy of the partial is left behind.
    Ok(([(header::CONTENT_TYPE, "application/json")], std::mem::take(&mut *json)))
}

/// A partial request that passed every check and was evaluated: answered
/// once its audit record is durable ([`App::release`]).
struct Admitted<'a> {
    entry: Entry,
    evaluated: Result<xks_threshold::Partial, ApiError>,
    /// Its place among the requests in flight, held until it is answered.
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl App {
    /// A partial request up to its audit record, in named steps. Refusals
    /// come first: a locked service, or a denied key path, is answered before
    /// the rate, in-flight, content-type and parse checks and without waiting
    /// for the refusal's audit record to be durable (nothing is released), so
    /// a refusal is never turned into an overload answer that a proxy could
    /// fail over on.
    async fn check(
        &self,
        client: &ClientIdentity,
        headers: ExchangeHeaders,
        parsed: Result<PartialRequest, ApiError>,
        start: Instant,
    ) -> Result<Admitted<'_>, ApiError> {
        let request = parsed.as_ref().ok();
        let key_path = request.map(|r| &r.key_path);
        if let Some(refusal) = self.refusal(key_path).await {
            let mut entry = self.audit_entry(client, request);
            entry.latency_us = Some(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
            entry.outcome = refusal.outcome.as_str().to_owned();
            self.0.audit.record_detached(entry);
            return Err(refusal);
        }
        let permit = self.admit(headers)?;
        let req = parsed?;
        let evaluated = self.evaluate(&req);
        let mut entry = self.audit_entry(client, Some(&req));
        entry.latency_us = Some(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
        entry.outcome = match &evaluated {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.outcome.as_str().to_owned(),
        };
        Ok(Admitted { entry, evaluated, _permit: permit })
    }

    /// Answers checked requests, in order: the admitted ones' records are
    /// made durable first, all in one commit (an exchange costs one fsync),
    /// and only then does a partial (or any other answer of theirs) leave,
    /// in the form the exchange's headers ask for. If the commit fails, none of them is released.
    async fn release(
        &self,
        checked: Vec<Result<Admitted<'_>, ApiError>>,
        headers: ExchangeHeaders,
        client: &ClientIdentity,
    ) -> Vec<Result<Zeroizing<String>, ApiError>> {
        let mut entries = Vec::with_capacity(checked.len());
        let mut request_ids = Vec::with_capacity(checked.len());
        let evaluated: Vec<_> = checked
            .into_iter()
            .map(|c| {
                c.map(|Admitted { entry, evaluated, _permit }| {
                    request_ids.push(entry.request_id.clone().unwrap_or_default());
                    entries.push(entry);
                    (evaluated, _permit)
                })
            })
            .collect();
        let durable = self.0.audit.record_all(entries).await;
        match &durable {
            Err(e) => tracing::error!(request_ids = ?request_ids, error = %e, "audit records not durable: requests refused"),
            Ok(()) => tracing::debug!(request_ids = ?request_ids, client = %client.name, "partials released"),
        }
        evaluated
            .into_iter()
            .map(|c| {
                let (evaluated, _permit) = c?;
                if durable.is_err() {
                    return Err(ApiError::new(
                        ErrorCode::AuditUnavailable,
                        "audit log unavailable; nothing was released",
                        Outcome::AuditFailed,
                    ));
                }
                evaluated?.to_json_as(headers.encoding).map_err(|_| ApiError::internal())
            })
            .collect()
    }

    /// The operator's refusal of this request, if any: the lock covers every
    /// request (even one that does not parse), a deny or an automatic lock
    /// its key path. A well-formed request is counted by the anomaly detector
    /// first, so the request that trips a lock is refused by it.
    async fn refusal(&self, key_path: Option<&KeyPath>) -> Option<ApiError> {
        let c = &self.0.controls;
        let path_refusal = match key_path {
            Some(key_path) => {
                let path = key_path.as_str();
                let before = c.key_path_refusal(path);
                if self.watch_rate(path, before.is_some()).await { c.key_path_refusal(path) } else { before }
            }
            None => None,
        };
        if c.is_locked() {
            return Some(ApiError::new(ErrorCode::Locked, "the share service is locked by its operator", Outcome::Locked));
        }
        match path_refusal? {
            KeyPathRefusal::Denied => {
                Some(ApiError::new(ErrorCode::KeyPathDenied, "this key path is denied by the share service operator", Outcome::Denied))
            }
            KeyPathRefusal::Locked => Some(ApiError::new(
                ErrorCode::KeyPathLocked,
                "this key path is locked (anomaly); the share service operator unlocks it",
                Outcome::Locked,
            )),
        }
    }

    /// The rate, in-flight and content-type bounds, in that order.
    fn admit(&self, headers: ExchangeHeaders) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        if !self.0.bucket.take() {
            return Err(ApiError::new(ErrorCode::RateLimited, "request rate above limits.max_requests_per_second", Outcome::RateLimited));
        }
        let permit = self
            .0
            .in_flight
            .try_acquire()
            .map_err(|_| ApiError::new(ErrorCode::Overloaded, "too many requests in flight", Outcome::Overloaded))?;
        if !headers.json {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "Content-Type must be application/json", Outcome::Invalid));
        }
        Ok(permit)
    }

    /// Anomaly detection counts every well-formed request, refused or not,
    /// and may lock the service or the key path (docs/share-service.md).
    /// `refused_here`: the key path is already denied or locked on its own.
    /// Returns whether it locked anything.
    async fn watch_rate(&self, path: &str, refused_here: bool) -> bool {
        let s = &self.0;
        let mut locked_any = false;
        for a in s.anomaly.observe(path, refused_here) {
            s.metrics.anomalies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(scope = %a.scope, rule = a.rule.as_str(), rate_per_window = a.rate_per_window, limit = a.limit, window_seconds = a.window_seconds, lock = a.lock, "request rate anomaly");
            if !a.lock {
                continue;
            }
            let reason = format!(
                "anomaly ({} rule): {} requests per {} s for {} (limit {})",
                a.rule.as_str(),
                a.rate_per_window,
                a.window_seconds,
                a.scope,
                a.limit
            );
            let scoped = matches!(a.scope, Scope::KeyPath(_)) && s.anomaly.config().lock_scope == LockScope::Tripped;
            let (applied, what) = if scoped {
                (s.controls.lock_key_path(path, &reason), "lock-key-path")
            } else if s.controls.is_locked() {
                continue;
            } else {
                (s.controls.lock(&reason), "lock")
            };
            locked_any = true;
            if let Err(e) = applied {
                tracing::error!(error = %e, "persisting the automatic lock failed (the lock is in effect)");
            }
            let mut entry = Entry::new(RecordKind::Admin, "anomaly-detector", what);
            entry.key_path = Some(path.to_owned());
            if let Err(e) = s.audit.record(entry).await {
                tracing::error!(error = %e, "automatic lock not audited");
            }
            tracing::error!(%reason, scoped, "locked automatically; unlock through the admin socket");
        }
        locked_any
    }

    /// The share's weighted partial for the request (with a proof if asked).
    fn evaluate(&self, req: &PartialRequest) -> Result<xks_threshold::Partial, ApiError> {
        let s = &self.0;
        let key = s.store.key(req.generation, req.epoch).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownKeySet,
                format!("no share for generation {} epoch {}", req.generation, req.epoch),
                Outcome::UnknownKeySet,
            )
        })?;
        let point = s.store.point(&req.key_path).map_err(|_| ApiError::internal())?;
        s.store.partial(key, &point, &req.set, req.proof).map_err(|e| ApiError::invalid(e.to_string()))
    }

    /// The audit record of a partial request (outcome and latency filled in by the caller).
    fn audit_entry(&self, client: &ClientIdentity, request: Option<&PartialRequest>) -> Entry {
        let mut entry = Entry::new(RecordKind::Partial, client.name.clone(), "");
        if let Some(req) = request {
            entry.request_id = Some(req.request_id.as_str().to_owned());
            entry.key_path = Some(req.key_path.as_str().to_owned());
            entry.generation = Some(req.generation);
            entry.epoch = Some(req.epoch);
            entry.set = Some(req.set.to_label());
            entry.proof = Some(req.proof);
        }
        entry
    }
}

async fn health(State(app): State<App>) -> Response {
    let s = &app.0;
    let status = if !s.audit.is_healthy() {
        "audit_failed"
    } else if s.controls.is_locked() {
        "locked"
    } else {
        "ok"
    };
    let body = serde_json::json!({
        "status": status,
        "holder": s.store.holder().get(),
        "keyCount": s.store.key_count(),
        "version": s.build.version,
        "executableSha256": s.build.executable_sha256,
    });
    let code = if status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The latest signed checkpoint of the audit chain head: public (a sequence
/// number, a hash, a time, names and a signature), served to the proxy's witness.
async fn checkpoint(State(app): State<App>) -> Response {
    match app.0.audit.latest_checkpoint().map(|c| c.to_json()) {
        Some(Ok(json)) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Some(Err(e)) => {
            tracing::error!(error = %e, "checkpoint not encodable");
            ApiError::internal().into_response()
        }
        None => ApiError::new(
            ErrorCode::NotFound,
            "no signed checkpoint: audit.checkpoint_key is not set, or none is signed yet",
            Outcome::Invalid,
        )
        .into_response(),
    }
}

/// Evaluates and verifies a proven partial on the self-test key path for every
/// held share; reports success only (never the partial). Audited.
async fn self_test(State(app): State<App>, Extension(client): Extension<Arc<ClientIdentity>>) -> Response {
    let s = &app.0;
    let mut results = Vec::new();
    let mut all_ok = true;
    for key in s.store.keys() {
        let ks = key.key_set();
        let me = key.holder();
        let others = ks.holders().filter(|h| *h != me).take(ks.threshold().saturating_sub(1));
        let ok = (|| -> xks_threshold::Result<()> {
            let set = CombiningSet::new(std::iter::once(me).chain(others))?;
            let point = KeyPath::new(SELF_TEST_KEY_PATH)?.to_point()?;
            let partial = key.evaluate(&point, &set, true, &mut rand_core::OsRng)?;
            Combiner::new(ks.clone(), set)?.verify(&point, partial)?;
            Ok(())
        })()
        .is_ok();
        all_ok &= ok;
        results.push(serde_json::json!({ "generation": ks.generation(), "epoch": ks.epoch(), "ok": ok }));
    }
    let mut entry = Entry::new(RecordKind::SelfTest, client.name.clone(), if all_ok { "ok" } else { "failed" });
    entry.key_path = Some(SELF_TEST_KEY_PATH.to_owned());
    if s.audit.record(entry).await.is_err() {
        return ApiError::new(ErrorCode::AuditUnavailable, "audit log unavailable", Outcome::AuditFailed).into_response();
    }
    let code = if all_ok { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
    (code, [(header::CONTENT_TYPE, "application/json")], serde_json::json!({ "ok": all_ok, "keySets": results }).to_string())
        .into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    let s = &app.0;
    let controls = s.controls.snapshot();
    let text = s.metrics.render(
        s.controls.is_locked(),
        controls.denied.len(),
        controls.locked_key_paths.len(),
        s.audit.head().seq,
        s.audit.is_healthy(),
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
