//! The partner pool: obtains a *verified* partner partial for a key path and
//! combines it with the proxy's own, within a budget below KMS's 250 ms.
//!
//! Per request:
//! - partners are tried in configured order (share 2 primary, share 3
//!   standby), those with an open circuit breaker last;
//! - when the current partner has not answered after `hedge_after_ms`, or
//!   fails (timeout, transport, error status, invalid partial), the next
//!   partner is asked within the same request; the first verified partial
//!   wins and the others are cancelled. Any two holders give the same key;
//! - a partial is used only once proven: by its DLEQ proof, or by matching the
//!   commitment of an earlier partial from the same partner whose proof
//!   verified (docs/xks-proxy.md). A failure is logged at ERROR with the
//!   partner id;
//! - a deliberate refusal (the partner operator's lock or key-path deny) is
//!   honoured: the request fails, it is not routed around.

pub mod breaker;
pub mod client;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::body::Bytes;
use tokio::task::JoinSet;
use xks_threshold::{Combiner, DataKey, HolderId, KeyPoint, Partial, PartialCommitment, VerifiedPartial};

use crate::config::{PartnerConfig, PoolConfig};
use crate::keyring::Keyring;
use crate::metrics::{AttemptOutcome, Metrics};
use breaker::Breaker;
use client::PartnerClient;

/// One partner share service.
#[derive(Debug)]
pub struct Partner {
    /// Configured id (logs, metrics, health).
    pub id: String,
    /// Holder id of its share.
    pub holder: HolderId,
    /// Free text for GetHealthStatus.
    pub model: String,
    /// Connections.
    pub client: PartnerClient,
    /// Circuit breaker.
    pub breaker: Breaker,
}

/// Why one partner attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// No answer within the attempt timeout.
    Timeout,
    /// Connection, TLS or HTTP/2 failure.
    Transport(String),
    /// An error status (with the partner's error code).
    Status(u16, String),
    /// The partner's operator refuses (lock, deny).
    Refused(String),
    /// The partial failed verification.
    Invalid(String),
}

impl AttemptError {
    fn outcome(&self) -> AttemptOutcome {
        match self {
            AttemptError::Timeout => AttemptOutcome::Timeout,
            AttemptError::Transport(_) => AttemptOutcome::Transport,
            AttemptError::Status(..) => AttemptOutcome::Status,
            AttemptError::Refused(_) => AttemptOutcome::Refused,
            AttemptError::Invalid(_) => AttemptOutcome::Invalid,
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Timeout => write!(f, "timed out"),
            AttemptError::Transport(e) => write!(f, "transport: {e}"),
            AttemptError::Status(s, c) => write!(f, "status {s} {c}"),
            AttemptError::Refused(r) => write!(f, "refused: {r}"),
            AttemptError::Invalid(e) => write!(f, "invalid partial: {e}"),
        }
    }
}

/// Why no key could be derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// The budget ran out (→ DependencyTimeoutException).
    Timeout,
    /// Every partner failed (→ InternalException).
    Failed(String),
    /// A partner's operator refused (→ InvalidStateException).
    Refused {
        /// Partner id.
        partner: String,
        /// The partner's reason.
        reason: String,
    },
    /// The request names something the proxy cannot serve (unknown generation).
    Unavailable(String),
}

/// A derived key and who helped.
pub struct Derived {
    /// The AES key (zeroized on drop).
    pub key: DataKey,
    /// Partner id whose partial was used.
    pub partner: String,
    /// Whether a partner other than the first tried answered.
    pub hedged: bool,
}

/// The partner pool.
#[derive(Debug)]
pub struct Pool {
    partners: Vec<Arc<Partner>>,
    cfg: PoolConfig,
    keyring: Arc<Keyring>,
    metrics: Arc<Metrics>,
}

impl Pool {
    /// Builds clients for the configured partners.
    ///
    /// # Errors
    /// A message for a partner whose holder id or server name is invalid.
    pub fn new(
        partners: &[PartnerConfig],
        tls: Arc<rustls::ClientConfig>,
        cfg: PoolConfig,
        keyring: Arc<Keyring>,
        metrics: Arc<Metrics>,
        version: &str,
    ) -> Result<Self, String> {
        let mut out = Vec::new();
        for p in partners {
            let holder = HolderId::new(p.holder).map_err(|e| format!("partner {}: {e}", p.id))?;
            if holder == keyring.holder() {
                return Err(format!("partner {} has the proxy's own holder id {holder}", p.id));
            }
            for g in keyring.generations() {
                g.key_set().verification_share(holder).map_err(|_| {
                    format!("partner {}: holder {holder} is not in the key set of generation {}", p.id, g.key_set().generation())
                })?;
            }
            let host = p.address.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']'])).unwrap_or(&p.address);
            let server_name = p.server_name.clone().unwrap_or_else(|| host.to_owned());
            let client = PartnerClient::new(
                p.address.clone(),
                &server_name,
                tls.clone(),
                cfg.connections_per_partner,
                Duration::from_millis(cfg.connect_timeout_ms),
            )
            .map_err(|e| format!("partner {}: {e}", p.id))?;
            out.push(Arc::new(Partner {
                id: p.id.clone(),
                holder,
                model: p.model.clone().unwrap_or_else(|| format!("split-key-xks share-service {version}, holder {holder}")),
                client,
                breaker: Breaker::new(cfg.breaker_failures, Duration::from_millis(cfg.breaker_open_ms)),
            }));
        }
        Ok(Self { partners: out, cfg, keyring, metrics })
    }

    /// The partners in configured order.
    pub fn partners(&self) -> &[Arc<Partner>] {
        &self.partners
    }

    /// The keyring.
    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    /// Opens the connections to every partner, all at once, and waits for them
    /// for at most `wait`, so the first requests find them warm instead of
    /// paying for the handshakes inside their budget. A partner that is down
    /// or slower than `wait` does not hold the start-up: its connections go on
    /// opening in the background (and on demand later).
    pub async fn warm_up(&self, wait: Duration) {
        let mut tasks = tokio::task::JoinSet::new();
        for p in &self.partners {
            let p = p.clone();
            tasks.spawn(async move {
                match p.client.warm_up().await {
                    Ok(()) => tracing::info!(partner = %p.id, "partner connections ready"),
                    Err(e) => tracing::warn!(partner = %p.id, error = %e, "partner not reachable yet (will retry on demand)"),
                }
            });
        }
        if tokio::time::timeout(wait, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tracing::info!(?wait, "not every partner connection is open yet; serving anyway");
        }
        tasks.detach_all();
    }

    /// Partners in the order to try: closed breakers first, in configured order.
    fn order(&self) -> Vec<Arc<Partner>> {
        let (mut closed, open): (Vec<_>, Vec<_>) = self.partners.iter().cloned().partition(|p| !p.breaker.is_open());
        closed.extend(open);
        closed
    }

    /// Derives the data key of `point` for `generation` with one verified
    /// partner partial. `request_id` goes to the partner's audit log.
    ///
    /// # Errors
    /// [`PoolError`].
    pub async fn derive(self: &Arc<Self>, generation: u32, point: &KeyPoint, request_id: &str) -> Result<Derived, PoolError> {
        if self.keyring.generation(generation).is_none() {
            return Err(PoolError::Unavailable(format!("no share for key generation {generation}")));
        }
        let start = Instant::now();
        let deadline = tokio::time::Instant::from_std(start + Duration::from_millis(self.cfg.budget_ms));
        let hedge_after = Duration::from_millis(self.cfg.hedge_after_ms);
        let order = self.order();
        let request_id: Arc<str> = Arc::from(request_id);
        let mut tasks: JoinSet<(usize, Instant, Result<DataKey, AttemptError>)> = JoinSet::new();
        // Indices into `order` of attempts started and not finished.
        let mut in_flight: Vec<usize> = Vec::new();
        let mut next = 0usize;
        let mut last_launch = tokio::time::Instant::now();
        let mut errors: Vec<(String, AttemptError)> = Vec::new();

        // Starts the next partner in `order`, if any is left.
        let mut launch_next = |tasks: &mut JoinSet<_>, in_flight: &mut Vec<usize>, last_launch: &mut tokio::time::Instant| {
            let i = next;
            let Some(p) = order.get(i) else { return };
            next += 1;
            let (pool, p, point, rid) = (self.clone(), p.clone(), point.clone(), request_id.clone());
            tasks.spawn(async move {
                let t0 = Instant::now();
                (i, t0, pool.attempt(&p, generation, &point, &rid, false, pool.attempt_timeout()).await)
            });
            in_flight.push(i);
            *last_launch = tokio::time::Instant::now();
        };
        launch_next(&mut tasks, &mut in_flight, &mut last_launch);

        loop {
            let hedge_at = last_launch + hedge_after;
            let more = in_flight.len() + errors.len() < order.len();
            tokio::select! {
                joined = tasks.join_next(), if !tasks.is_empty() => {
                    let Some(joined) = joined else { continue };
                    let Ok((i, t0, result)) = joined else {
                        errors.push(("?".into(), AttemptError::Transport("attempt task failed".into())));
                        continue;
                    };
                    in_flight.retain(|j| *j != i);
                    let Some(p) = order.get(i) else { continue };
                    let micros = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                    let pm = self.metrics.partner(&p.id);
                    match result {
                        Ok(key) => {
                            p.breaker.success();
                            if let Some(m) = pm {
                                m.attempt(AttemptOutcome::Ok, micros);
                                m.breaker_open.store(0, Ordering::Relaxed);
                            }
                            // Hedges still running are cancelled (dropping `tasks`); they count as attempts.
                            for q in in_flight.iter().filter_map(|j| order.get(*j)) {
                                if let Some(m) = self.metrics.partner(&q.id) {
                                    m.attempt(AttemptOutcome::Cancelled, 0);
                                }
                            }
                            let hedged = i != 0;
                            if hedged {
                                self.metrics.hedged.fetch_add(1, Ordering::Relaxed);
                            }
                            return Ok(Derived { key, partner: p.id.clone(), hedged });
                        }
                        Err(e) => {
                            if let Some(m) = pm {
                                m.attempt(e.outcome(), micros);
                            }
                            if let AttemptError::Refused(reason) = &e {
                                tracing::warn!(partner = %p.id, %reason, "partner refused (operator lock or deny): request fails, not routed around");
                                return Err(PoolError::Refused { partner: p.id.clone(), reason: reason.clone() });
                            }
                            if matches!(e, AttemptError::Invalid(_)) {
                                tracing::error!(partner = %p.id, error = %e, "partner returned a partial that failed verification; not used");
                            } else {
                                tracing::warn!(partner = %p.id, error = %e, "partner attempt failed");
                            }
                            self.record_failure(p);
                            errors.push((p.id.clone(), e));
                            launch_next(&mut tasks, &mut in_flight, &mut last_launch);
                            if tasks.is_empty() {
                                return Err(summarize(&errors));
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(hedge_at), if more => {
                    launch_next(&mut tasks, &mut in_flight, &mut last_launch);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                    for q in in_flight.iter().filter_map(|j| order.get(*j)) {
                        if let Some(m) = self.metrics.partner(&q.id) {
                            m.attempt(AttemptOutcome::Timeout, micros);
                        }
                        self.record_failure(q);
                    }
                    tracing::warn!(budget_ms = self.cfg.budget_ms, errors = ?errors.iter().map(|(p, e)| format!("{p}: {e}")).collect::<Vec<_>>(), "no verified partial within the budget");
                    return Err(PoolError::Timeout);
                }
            }
        }
    }

    /// Counts a failure against the partner's breaker (and its gauge).
    fn record_failure(&self, p: &Partner) {
        if p.breaker.failure() {
            tracing::warn!(partner = %p.id, failures = p.breaker.failures(), "circuit breaker opened");
            if let Some(m) = self.metrics.partner(&p.id) {
                m.breaker_open.store(1, Ordering::Relaxed);
            }
        }
    }

    fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.attempt_timeout_ms)
    }

    /// One partner, one partial (with a proof if `force_proof` or no
    /// commitment is known), verified, combined with our own partial.
    ///
    /// # Errors
    /// [`AttemptError`].
    pub async fn attempt(
        &self,
        p: &Partner,
        generation: u32,
        point: &KeyPoint,
        request_id: &str,
        force_proof: bool,
        timeout: Duration,
    ) -> Result<DataKey, AttemptError> {
        let internal = |e: xks_threshold::Error| AttemptError::Transport(format!("local: {e}"));
        let g = self.keyring.generation(generation).ok_or_else(|| AttemptError::Transport("unknown generation".into()))?;
        let set = self.keyring.set_with(p.holder).map_err(internal)?;
        let combiner = self.keyring.combiner(g, &set).map_err(internal)?;
        let commitment = if force_proof { None } else { self.keyring.commitment(p.holder, g, &set, point) };
        let body = serde_json::json!({
            "version": 1,
            "requestId": request_id,
            "keyPath": point.path().as_str(),
            "generation": g.key_set().generation(),
            "epoch": g.key_set().epoch(),
            "set": set.holders().iter().map(|h| h.get()).collect::<Vec<_>>(),
            "proof": commitment.is_none(),
        });
        let (status, bytes) = tokio::time::timeout(timeout, p.client.post("/v1/partial", Bytes::from(body.to_string())))
            .await
            .map_err(|_| AttemptError::Timeout)?
            .map_err(|e| AttemptError::Transport(e.to_string()))?;
        let verified = read_response(status, &bytes, p.holder, &combiner, point, commitment.as_ref())?;
        if commitment.is_none() {
            let c = combiner.commitment(&verified).map_err(internal)?;
            self.keyring.remember(p.holder, g, &set, point, c);
        }
        let own = self.keyring.own_partial(g, point, &set).map_err(internal)?;
        combiner.combine(point, &[&own, &verified]).map_err(internal)
    }
}

/// Reads a partner's answer and accepts its partial only once it is proven:
/// by its DLEQ proof, or (when `commitment` is given) by matching a commitment
/// to a partial whose proof was verified earlier. A refusal (423 locked,
/// 403 denied) is reported as such so the caller does not route around it.
/// Pure (no I/O), so the fuzzer drives it with arbitrary answers.
///
/// # Errors
/// [`AttemptError::Refused`], [`AttemptError::Status`] or [`AttemptError::Invalid`].
pub fn read_response(
    status: StatusCode,
    bytes: &[u8],
    holder: HolderId,
    combiner: &Combiner,
    point: &KeyPoint,
    commitment: Option<&PartialCommitment>,
) -> Result<VerifiedPartial, AttemptError> {
    if status != StatusCode::OK {
        let code = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(|e| e.chars().take(64).collect::<String>()))
            .unwrap_or_default();
        return Err(match status {
            StatusCode::LOCKED | StatusCode::FORBIDDEN => AttemptError::Refused(format!("{} {code}", status.as_u16())),
            s => AttemptError::Status(s.as_u16(), code),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| AttemptError::Invalid("response is not UTF-8".into()))?;
    let partial = Partial::from_json(text).map_err(|e| AttemptError::Invalid(e.to_string()))?;
    if partial.holder() != holder {
        return Err(AttemptError::Invalid(format!("partial from holder {} instead of {}", partial.holder(), holder)));
    }
    match commitment {
        Some(c) => combiner.check_commitment(point, partial, c).map_err(|e| AttemptError::Invalid(format!("commitment check: {e}"))),
        None => combiner.verify(point, partial).map_err(|e| AttemptError::Invalid(format!("DLEQ proof: {e}"))),
    }
}

fn summarize(errors: &[(String, AttemptError)]) -> PoolError {
    if !errors.is_empty() && errors.iter().all(|(_, e)| *e == AttemptError::Timeout) {
        return PoolError::Timeout;
    }
    PoolError::Failed(errors.iter().map(|(p, e)| format!("{p}: {e}")).collect::<Vec<_>>().join("; "))
}
