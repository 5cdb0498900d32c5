//! The partner pool: obtains a *verified* partner partial for a key path and
//! combines it with the proxy's own, within a budget below KMS's 250 ms.
//!
//! Per request (`race`):
//! - partners are tried in configured order (share 2 primary, share 3
//!   standby), those with an open circuit breaker last;
//! - when the current partner has not answered after `hedge_after_ms`, or
//!   fails (timeout, transport, error status, invalid partial), the next
//!   partner is asked within the same request. Any two holders give the same
//!   key;
//! - a partial is used only once proven: by its DLEQ proof, or by matching the
//!   commitment of an earlier partial from the same partner whose proof
//!   verified (docs/xks-proxy.md). A failure is logged at ERROR with the
//!   partner id;
//! - a deliberate refusal (the partner operator's lock, key-path deny or
//!   anomaly lock) is honoured ([`refusal`]): it is final for the request,
//!   sticky for the partner, never a breaker failure, and a partner the proxy
//!   prefers less never answers in place of one that may still refuse.

mod batch;
pub mod breaker;
pub mod client;
mod race;
pub mod refusal;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use xks_threshold::{DataKey, HolderId, KeyPoint};
use xks_wire::partner::{self, AnswerError, PartialRequest, RequestId};

use crate::keyring::Keyring;
use crate::metrics::{AttemptOutcome, Metrics};
use breaker::Breaker;
use client::{ClientError, PartnerClient};
use refusal::{Refusal, Refusals};
use xks_config::proxy::{PartnerConfig, PoolConfig};

/// One partner share service.
#[derive(Debug)]
pub struct Partner {
    /// Configured id (logs, metrics, health).
    pub id: String,
    /// Holder id of its share.
    pub holder: HolderId,
    /// Free text for GetHealthStatus.
    pub model: String,
    /// Connections (and the batching of requests over them).
    pub client: Arc<PartnerClient>,
    /// Circuit breaker.
    pub breaker: Breaker,
    /// Position in the configured order (0 = most preferred).
    pub rank: usize,
    /// Refusals in force.
    pub refusals: Refusals,
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
    /// The partner's operator refuses (lock, deny, anomaly lock).
    Refused(Refusal),
    /// The partial failed verification.
    Invalid(String),
    /// This proxy failed (its keyring), not the partner.
    Local(String),
}

impl AttemptError {
    fn outcome(&self) -> AttemptOutcome {
        match self {
            AttemptError::Timeout => AttemptOutcome::Timeout,
            AttemptError::Transport(_) => AttemptOutcome::Transport,
            AttemptError::Status(..) => AttemptOutcome::Status,
            AttemptError::Refused(_) => AttemptOutcome::Refused,
            AttemptError::Invalid(_) => AttemptOutcome::Invalid,
            AttemptError::Local(_) => AttemptOutcome::Local,
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
            AttemptError::Local(e) => write!(f, "local: {e}"),
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
        for (rank, p) in partners.iter().enumerate() {
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
            .map(Arc::new)
            .map_err(|e| format!("partner {}: {e}", p.id))?;
            out.push(Arc::new(Partner {
                id: p.id.clone(),
                holder,
                model: p.model.clone().unwrap_or_else(|| format!("split-key-xks share-service {version}, holder {holder}")),
                client,
                breaker: Breaker::new(cfg.breaker_failures, Duration::from_millis(cfg.breaker_open_ms)),
                rank,
                refusals: Refusals::default(),
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

    /// The partners this request may use, in launch order: configured order
    /// cut after the first partner that refuses `key_path` (a partner the
    /// proxy prefers less is never chosen over a refusal; that partner stays
    /// in, so its answer can lift the refusal), closed breakers first.
    fn candidates(&self, key_path: &str) -> Vec<Arc<Partner>> {
        let cut = self.partners.iter().position(|p| p.refusals.covering(key_path).is_some()).map_or(self.partners.len(), |i| i + 1);
        let allowed = self.partners.get(..cut).unwrap_or(&self.partners);
        let (mut closed, open): (Vec<_>, Vec<_>) = allowed.iter().cloned().partition(|p| !p.breaker.is_open());
        closed.extend(open);
        closed
    }

    /// Derives the data key of `point` for `generation` with one verified
    /// partner partial. `request_id` goes to the partner's audit log.
    ///
    /// # Errors
    /// [`PoolError`].
    pub async fn derive(self: &Arc<Self>, generation: u32, point: &KeyPoint, request_id: &RequestId) -> Result<Derived, PoolError> {
        if self.keyring.generation(generation).is_none() {
            return Err(PoolError::Unavailable(format!("no share for key generation {generation}")));
        }
        let candidates = self.candidates(point.path().as_str());
        race::Race::new(self.clone(), candidates, generation, point.clone(), Arc::new(request_id.clone())).run().await
    }

    /// Counts one request attempt in the partner's metrics and records its
    /// outcome ([`Pool::observe`]).
    fn settle(&self, p: &Partner, key_path: &str, result: &Result<DataKey, AttemptError>, micros: u64) {
        if let Some(m) = self.metrics.partner(&p.id) {
            m.attempt(result.as_ref().map_or_else(AttemptError::outcome, |_| AttemptOutcome::Ok), micros);
        }
        self.observe(p, key_path, result);
    }

    /// Records what an answer (of a request or of a health check) says about
    /// the partner: its breaker, its refusals, a log line for failures. A
    /// refusal is never a breaker failure; a local error is not the partner's.
    pub fn observe(&self, p: &Partner, key_path: &str, result: &Result<DataKey, AttemptError>) {
        match result {
            Ok(_) => {
                p.breaker.success();
                p.refusals.answered(key_path);
                if let Some(m) = self.metrics.partner(&p.id) {
                    m.breaker_open.store(0, Ordering::Relaxed);
                }
            }
            Err(e) => match e {
                AttemptError::Refused(r) => {
                    p.refusals.record(key_path, r);
                    tracing::warn!(partner = %p.id, reason = %r, "partner refused (operator lock, deny or anomaly lock): honoured, not routed around");
                }
                AttemptError::Local(_) => tracing::error!(partner = %p.id, error = %e, "local failure while asking a partner"),
                AttemptError::Invalid(_) => {
                    tracing::error!(partner = %p.id, error = %e, "partner returned a partial that failed verification; not used");
                    self.record_failure(p);
                }
                AttemptError::Timeout | AttemptError::Transport(_) | AttemptError::Status(..) => {
                    tracing::warn!(partner = %p.id, error = %e, "partner attempt failed");
                    self.record_failure(p);
                }
            },
        }
        if let Some(m) = self.metrics.partner(&p.id) {
            m.refusing.store(u64::from(p.refusals.any()), Ordering::Relaxed);
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
        request_id: &RequestId,
        force_proof: bool,
        timeout: Duration,
    ) -> Result<DataKey, AttemptError> {
        let internal = |e: xks_threshold::Error| AttemptError::Local(e.to_string());
        let g = self.keyring.generation(generation).ok_or_else(|| AttemptError::Local("unknown generation".into()))?;
        let set = self.keyring.set_with(p.holder).map_err(internal)?;
        let combiner = self.keyring.combiner(g, &set).map_err(internal)?;
        let commitment = if force_proof { None } else { self.keyring.commitment(p.holder, g, &set, point) };
        let request = PartialRequest {
            request_id: request_id.clone(),
            key_path: point.path().clone(),
            generation: g.key_set().generation(),
            epoch: g.key_set().epoch(),
            set: set.clone(),
            proof: commitment.is_none(),
        };
        let (status, bytes) = p.client.partial(request, timeout).await.map_err(|e| match e {
            ClientError::TimedOut => AttemptError::Timeout,
            e => AttemptError::Transport(e.to_string()),
        })?;
        let verified = partner::read_answer(status, &bytes, p.holder, &combiner, point, commitment.as_ref()).map_err(AttemptError::from);
        // The answer carries the partner's partial: wipe our copy of it.
        client::wipe(bytes);
        let verified = verified?;
        if commitment.is_none() {
            let c = combiner.commitment(&verified).map_err(internal)?;
            self.keyring.remember(p.holder, g, &set, point, c);
        }
        let own = self.keyring.own_partial(g, point, &set).map_err(internal)?;
        combiner.combine(point, &[&own, &verified]).map_err(internal)
    }
}

impl From<AnswerError> for AttemptError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Refused { scope, status, code } => AttemptError::Refused(Refusal::new(scope, status, &code)),
            AnswerError::Status(status, code) => AttemptError::Status(status, code),
            AnswerError::Invalid(why) => AttemptError::Invalid(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 §6: a partner's sanitised error code reaches the refusal's reason as it is.
    #[test]
    fn a_refusal_keeps_the_sanitised_code() {
        let answer =
            AnswerError::Refused { scope: partner::RefusalScope::Partner, status: 423, code: partner::loggable_code("locked\r\nforged") };
        let reason = match AttemptError::from(answer) {
            AttemptError::Refused(r) => r.reason,
            other => other.to_string(),
        };
        assert_eq!(reason, "423 locked??forged");
    }
}
