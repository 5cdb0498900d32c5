//! Batching of the partial requests to one partner (docs/xks-proxy.md,
//! "Batches"; the wire rules are `xks_wire::partner::batch`).
//!
//! A request that finds nothing waiting starts a collector task. The collector
//! first lets every other task that is ready run (`yield_now`): the requests
//! they make meanwhile join its batch. Then it sends what has gathered as one
//! `POST /v1/partials` (one request goes alone, as `POST /v1/partial`), and
//! hands each request its own answer. At most one exchange per connection
//! kept warm is in flight: requests that arrive while all are out gather for
//! the collector whose exchange comes back first, so under load each exchange
//! (and the partner's fsync behind it) serves more requests. Nothing waits
//! for a timer, so a lone request is sent at once and batches grow only with
//! load. The collector is a task of its own, so a request that gives up (its
//! race was won elsewhere, its budget ran out) never strands the others of
//! its batch, and is not sent if it gave up before its batch left.
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
    /// Per connection: an exchange is out on it.
    busy: Vec<bool>,
}

/// The batching state of one partner.
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
    /// Batching over `connections` connections (at least one), one exchange
    /// in flight on each at most.
    pub fn new(connections: usize) -> Self {
        let gathering = Gathering { busy: vec![false; connections.max(1)], ..Gathering::default() };
        Self { gathering: Mutex::new(gathering), singles_until: Mutex::default() }
    }

    /// Adds a request; `true` when the caller must start a collector.
    fn join(&self, waiting: Waiting) -> bool {
        let mut g = self.gathering.lock().unwrap_or_else(PoisonError::into_inner);
        g.waiting.push(waiting);
        self.start_collecting(&mut g)
    }

    /// Whether a new collector starts: none is gathering yet, and a
    /// connection is free.
    fn start_collecting(&self, g: &mut Gathering) -> bool {
        if g.collecting || g.waiting.is_empty() || g.busy.iter().all(|b| *b) {
            return false;
        }
        g.collecting = true;
        true
    }

    /// Takes what has gathered, without the requests whose callers stopped
    /// waiting, and the free connection it goes out on (now busy); the next
    /// request starts a new collector. `None` when nothing is left to send.
    fn take(&self) -> Option<(usize, Vec<Waiting>)> {
        let mut g = self.gathering.lock().unwrap_or_else(PoisonError::into_inner);
        g.collecting = false;
        let taken: Vec<Waiting> = std::mem::take(&mut g.waiting).into_iter().filter(|w| !w.reply.is_closed()).collect();
        if taken.is_empty() {
            return None;
        }
        let connection = g.busy.iter().position(|b| !*b).unwrap_or(0);
        if let Some(busy) = g.busy.get_mut(connection) {
            *busy = true;
        }
        Some((connection, taken))
    }

    /// The exchange on `connection` ended (answered, failed or abandoned).
    fn exchange_ended(&self, connection: usize) {
        let mut g = self.gathering.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(busy) = g.busy.get_mut(connection) {
            *busy = false;
        }
    }

    /// `true` when requests are waiting for a collector and the caller must
    /// be it.
    fn claim(&self) -> bool {
        let mut g = self.gathering.lock().unwrap_or_else(PoisonError::into_inner);
        self.start_collecting(&mut g)
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

/// An exchange in flight on a connection, which it frees when dropped,
/// however it ended.
struct InFlight(Arc<PartnerClient>, usize);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.batcher().exchange_ended(self.1);
    }
}

/// The collector: gathers, then sends in batches of at most [`MAX_BATCH`];
/// when its exchange has ended, it sends what gathered meanwhile (unless a
/// new collector has taken that over).
async fn collect(client: Arc<PartnerClient>) {
    loop {
        tokio::task::yield_now().await;
        let Some((connection, mut waiting)) = client.batcher().take() else { return };
        let in_flight = InFlight(client.clone(), connection);
        while waiting.len() > MAX_BATCH {
            let rest = waiting.split_off(MAX_BATCH);
            tokio::spawn(send(client.clone(), None, std::mem::replace(&mut waiting, rest)));
        }
        send(client.clone(), Some(connection), waiting).await;
        drop(in_flight);
        if !client.batcher().claim() {
            return;
        }
    }
}

/// Sends one batch (over `connection`, or the next in turn) and hands out the
/// answers. The exchange is abandoned when the last of its requests stops
/// waiting.
async fn send(client: Arc<PartnerClient>, connection: Option<usize>, batch: Vec<Waiting>) {
    if batch.len() <= 1 || client.batcher().singles_only() {
        send_singles(client, batch).await;
        return;
    }
    let deadline = batch.iter().map(|w| w.deadline).max().unwrap_or_else(tokio::time::Instant::now);
    let body = Bytes::from(partner::encode_batch(batch.iter().map(|w| &w.request)));
    let exchange = client.post(connection, partner::PARTIALS_PATH, body, client::MAX_RESPONSE.saturating_mul(batch.len()));
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
    let exchange = client.post(None, partner::PARTIAL_PATH, Bytes::from(waiting.request.to_json()), client::MAX_RESPONSE);
    let answer = tokio::time::timeout_at(waiting.deadline, exchange).await.unwrap_or(Err(ClientError::TimedOut));
    waiting.answer(answer);
}

/// Whether a 404 says the route is unknown (a service without batches), not
/// that a key set is.
fn is_unknown_route(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body).is_ok_and(|b| ErrorCode::from_wire(&b.error) == Some(ErrorCode::NotFound))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use xks_threshold::{CombiningSet, HolderId, KeyPath};
    use xks_wire::partner::RequestId;

    use super::*;

    fn waiting() -> (Waiting, oneshot::Receiver<Answer>) {
        let set = CombiningSet::new([1, 2].map(|h| HolderId::new(h).unwrap())).unwrap();
        let request = PartialRequest {
            request_id: RequestId::new("r").unwrap(),
            key_path: KeyPath::new("ks/a").unwrap(),
            generation: 1,
            epoch: 0,
            set,
            proof: false,
        };
        let (reply, answer) = oneshot::channel();
        (Waiting { request, deadline: tokio::time::Instant::now(), reply }, answer)
    }

    /// Issue 19, docs/xks-proxy.md "Batches": at most one exchange per
    /// connection is in flight; requests that arrive meanwhile gather, and the
    /// collector whose exchange ends sends them, without those whose callers
    /// stopped waiting.
    #[test]
    fn exchanges_in_flight_are_bounded_and_the_rest_gather() {
        let b = Batcher::new(1);
        let (first, _a) = waiting();
        assert!(b.join(first), "the first request starts a collector");
        let (second, _b) = waiting();
        assert!(!b.join(second), "one collector gathers");
        assert_eq!(b.take().map(|(c, w)| (c, w.len())), Some((0, 2)));
        let (third, _c) = waiting();
        assert!(!b.join(third), "the one exchange allowed is out: the request waits for it");
        let (fourth, gave_up) = waiting();
        assert!(!b.join(fourth));
        drop(gave_up);
        assert!(!b.claim(), "nothing may leave while the exchange is out");
        b.exchange_ended(0);
        assert!(b.claim(), "the ended exchange's collector sends what gathered");
        assert!(!b.claim(), "one collector at a time");
        assert_eq!(b.take().map(|(c, w)| (c, w.len())), Some((0, 1)), "a request whose caller stopped waiting is not sent");
        b.exchange_ended(0);
        assert!(!b.claim(), "nothing waits");
    }

    /// Two connections: an exchange on each, never two on one, so a
    /// connection that stalls holds up only its own exchange.
    #[test]
    fn each_connection_carries_one_exchange() {
        let b = Batcher::new(2);
        let (first, _a) = waiting();
        assert!(b.join(first));
        assert_eq!(b.take().map(|(c, _)| c), Some(0));
        let (second, _b) = waiting();
        assert!(b.join(second), "the second connection is free");
        assert_eq!(b.take().map(|(c, _)| c), Some(1));
        let (third, _c) = waiting();
        assert!(!b.join(third), "both are out");
        b.exchange_ended(1);
        assert!(b.claim());
        assert_eq!(b.take().map(|(c, _)| c), Some(1), "the next exchange goes out on the connection that is free");
        let (gave_up, r) = waiting();
        drop(r);
        assert!(!b.join(gave_up), "both are out again");
        b.exchange_ended(0);
        assert!(b.claim());
        assert_eq!(b.take().map(|(c, _)| c), None, "nothing left that anyone waits for");
    }
}
