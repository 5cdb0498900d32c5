//! Batching of the partial requests to one partner (docs/xks-proxy.md,
//! "Batches"; the wire rules are `xks_wire::partner::batch`).
//!
//! A request that finds nothing waiting starts a collector task. The collector
//! first lets every other task that is ready run (`yield_now`): the requests
//! they make meanwhile join its batch. Then it sends what has gathered as one
//! `POST /v1/partials` (one request goes alone, as `POST /v1/partial`), and
//! hands each request its own answer. Nothing waits for a timer, so a lone
//! request is sent at once and batches grow only with load. The collector is
//! a task of its own, so a request that gives up (its race was won elsewhere,
//! its budget ran out) never strands the others of its batch.
//!
//! A partner that predates batches answers a batch `404 not_found`: its
//! requests are then sent one by one, and batches are tried again after
//! [`SINGLES_FOR`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::body::Bytes;
use tokio::sync::oneshot;
use xks_wire::partner::{self, ErrorBody, ErrorCode, MAX_BATCH, PartialRequest};

use super::client::{self, ClientError, PartnerClient, wipe};

/// How long a partner that refused a batch as an unknown route is sent
/// single requests before a batch is tried again.
pub const SINGLES_FOR: Duration = Duration::from_secs(300);

/// A partner's answer to one request, as the transport delivers it.
pub type Answer = Result<(StatusCode, Bytes), ClientError>;

/// One request waiting for its answer.
struct Waiting {
    request: PartialRequest,
    /// When its caller stops waiting.
    deadline: tokio::time::Instant,
    reply: oneshot::Sender<Answer>,
}

impl Waiting {
    /// Hands the answer over (a caller that stopped waiting does not take it).
    fn answer(self, answer: Answer) {
        drop(self.reply.send(answer));
    }
}

/// Requests waiting for the collector.
#[derive(Default)]
struct Gathering {
    waiting: Vec<Waiting>,
    /// A collector has been started and has not yet taken `waiting`.
    collecting: bool,
}

/// The batching state of one partner.
#[derive(Default)]
pub struct Batcher {
    gathering: Mutex<Gathering>,
    /// Until when this partner is sent single requests only.
    singles_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl Batcher {
    /// Adds a request; `true` when the caller must start a collector.
    fn join(&self, waiting: Waiting) -> bool {
        let mut g = self.gathering.lock().unwrap_or_else(PoisonError::into_inner);
        g.waiting.push(waiting);
        !std::mem::replace(&mut g.collecting, true)
    }

    /// Takes everything gathered; the next request starts a new collector.
    fn take(&self) -> Vec<Waiting> {
        let mut g = self.gathering.lock().unwrap_or_else(PoisonError::into_inner);
        g.collecting = false;
        std::mem::take(&mut g.waiting)
    }

    fn singles_only(&self) -> bool {
        self.singles_until.lock().map(|u| u.is_some_and(|until| Instant::now() < until)).unwrap_or(false)
    }

    fn send_singles_for(&self, span: Duration) {
        if let Ok(mut u) = self.singles_until.lock() {
            *u = Some(Instant::now() + span);
        }
    }
}

impl PartnerClient {
    /// Asks the partner for one partial, batched with the other requests made
    /// at the same time (module docs), waiting at most `timeout`. The answer
    /// is the status and body the partner gave this request. The exchange is
    /// abandoned once every request of its batch has stopped waiting.
    ///
    /// # Errors
    /// [`ClientError`] on transport failures (of this request's batch);
    /// [`ClientError::TimedOut`] after `timeout`.
    pub async fn partial(self: &Arc<Self>, request: PartialRequest, timeout: Duration) -> Answer {
        let deadline = tokio::time::Instant::now() + timeout;
        let (reply, answer) = oneshot::channel();
        if self.batcher().join(Waiting { request, deadline, reply }) {
            tokio::spawn(collect(self.clone()));
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(answer) => answer.unwrap_or_else(|_| Err(ClientError::Http("batch abandoned".into()))),
            Err(_) => Err(ClientError::TimedOut),
        }
    }
}

/// The collector: gathers, then sends in batches of at most [`MAX_BATCH`].
async fn collect(client: Arc<PartnerClient>) {
    tokio::task::yield_now().await;
    let mut waiting = client.batcher().take();
    while waiting.len() > MAX_BATCH {
        let rest = waiting.split_off(MAX_BATCH);
        tokio::spawn(send(client.clone(), std::mem::replace(&mut waiting, rest)));
    }
    send(client, waiting).await;
}

/// Sends one batch and hands out the answers. The exchange is abandoned when
/// the last of its requests stops waiting.
async fn send(client: Arc<PartnerClient>, batch: Vec<Waiting>) {
    if batch.len() <= 1 || client.batcher().singles_only() {
        send_singles(client, batch).await;
        return;
    }
    let deadline = batch.iter().map(|w| w.deadline).max().unwrap_or_else(tokio::time::Instant::now);
    let body = Bytes::from(partner::encode_batch(batch.iter().map(|w| &w.request)));
    let exchange = client.post(partner::PARTIALS_PATH, body, client::MAX_RESPONSE.saturating_mul(batch.len()));
    let answered = tokio::time::timeout_at(deadline, exchange).await.unwrap_or(Err(ClientError::TimedOut));
    match answered {
        Err(e) => batch.into_iter().for_each(|w| w.answer(Err(e.clone()))),
        Ok((status, bytes)) if status == StatusCode::OK => {
            match partner::parse_answers(&bytes, batch.len()) {
                Ok(answers) => {
                    for (w, (status, body)) in batch.into_iter().zip(answers) {
                        w.answer(Ok((status, Bytes::copy_from_slice(body))));
                    }
                }
                Err(e) => batch.into_iter().for_each(|w| w.answer(Err(ClientError::Body(format!("batch answer: {e}"))))),
            }
            // The answer carries the partner's partials: each request holds its own copy now.
            wipe(bytes);
        }
        Ok((status, bytes)) if status == StatusCode::NOT_FOUND && is_unknown_route(&bytes) => {
            tracing::info!(partner = %client.address(), "partner does not take batches (an older share service): single requests for a while");
            client.batcher().send_singles_for(SINGLES_FOR);
            send_singles(client, batch).await;
        }
        // Answered as a whole (a lock, an unreadable batch, a timeout): every request gets that answer.
        Ok((status, bytes)) => batch.into_iter().for_each(|w| w.answer(Ok((status, bytes.clone())))),
    }
}

/// Sends each request alone, at the same time (the last from this task).
async fn send_singles(client: Arc<PartnerClient>, mut batch: Vec<Waiting>) {
    let Some(last) = batch.pop() else { return };
    for waiting in batch {
        tokio::spawn(send_single(client.clone(), waiting));
    }
    send_single(client, last).await;
}

async fn send_single(client: Arc<PartnerClient>, waiting: Waiting) {
    let exchange = client.post(partner::PARTIAL_PATH, Bytes::from(waiting.request.to_json()), client::MAX_RESPONSE);
    let answer = tokio::time::timeout_at(waiting.deadline, exchange).await.unwrap_or(Err(ClientError::TimedOut));
    waiting.answer(answer);
}

/// Whether a 404 says the route is unknown (a service without batches), not
/// that a key set is.
fn is_unknown_route(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body).is_ok_and(|b| ErrorCode::from_wire(&b.error) == Some(ErrorCode::NotFound))
}
