//! One request's race for a verified partner partial: launch, hedge, fail
//! over, and honour refusals (docs/xks-proxy.md, "Deriving a key").
//!
//! "Preferred" means configured earlier ([`Partner::rank`]). Each attempt's
//! outcome is handled by these rules:
//! 1. a verified partial from partner B is used once no attempt to a partner
//!    preferred over B is still in flight; until then it is *held*, because
//!    that partner may yet refuse (a hedge never beats a refusal);
//! 2. a refusal from partner X is final for the request: attempts to partners
//!    preferred less than X are cancelled (a held partial of theirs is
//!    dropped), nothing more is launched, and the request fails with the
//!    refusal once no attempt to a partner preferred over X is in flight
//!    (such a partner may still answer: it is not routed around by X);
//! 3. any other failure (timeout, transport, error status, invalid partial)
//!    starts the next candidate (failover); when none is left the request
//!    fails with every partner's error;
//! 4. while nothing is held or refused, the next candidate also starts when
//!    the last one launched has not answered after `hedge_after_ms`; the whole
//!    race is bounded by `budget_ms`.
//!
//! The attempts run inside the request's own task (no task is spawned per
//! attempt, so no wake-up crosses tasks when one ends); each is abortable,
//! and a panic in one ends that attempt only, as a local failure.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable, Aborted};
use futures_util::stream::FuturesUnordered;
use xks_threshold::{DataKey, KeyPoint};
use xks_wire::partner::RequestId;

use super::refusal::Refusal;
use super::{AttemptError, Derived, Partner, Pool, PoolError};
use crate::metrics::AttemptOutcome;

/// What a finished attempt reports.
struct Outcome {
    /// Index into the candidates.
    index: usize,
    started: Instant,
    result: Result<DataKey, AttemptError>,
}

/// An attempt still running.
struct Flight {
    index: usize,
    started: Instant,
    abort: AbortHandle,
}

/// A launched attempt: ends with its outcome, or `Aborted` once cancelled.
type Attempt = Abortable<Pin<Box<dyn Future<Output = Outcome> + Send>>>;

/// The state of one request's race.
pub(super) struct Race {
    pool: Arc<Pool>,
    /// In launch order (see [`Pool::candidates`]).
    candidates: Vec<Arc<Partner>>,
    generation: u32,
    point: KeyPoint,
    request_id: Arc<RequestId>,
    attempts: FuturesUnordered<Attempt>,
    in_flight: Vec<Flight>,
    /// Next candidate to launch.
    next: usize,
    last_launch: tokio::time::Instant,
    /// A verified key waiting for a preferred partner's verdict.
    held: Option<(usize, DataKey)>,
    /// The most preferred refusal met.
    refused: Option<(usize, Refusal)>,
    errors: Vec<(String, AttemptError)>,
}

impl Race {
    pub(super) fn new(
        pool: Arc<Pool>,
        candidates: Vec<Arc<Partner>>,
        generation: u32,
        point: KeyPoint,
        request_id: Arc<RequestId>,
    ) -> Self {
        Self {
            pool,
            candidates,
            generation,
            point,
            request_id,
            attempts: FuturesUnordered::new(),
            in_flight: Vec::new(),
            next: 0,
            last_launch: tokio::time::Instant::now(),
            held: None,
            refused: None,
            errors: Vec::new(),
        }
    }

    /// Runs the race to its end.
    pub(super) async fn run(mut self) -> Result<Derived, PoolError> {
        let start = Instant::now();
        let deadline = tokio::time::Instant::from_std(start + Duration::from_millis(self.pool.cfg.budget_ms));
        let hedge_after = Duration::from_millis(self.pool.cfg.hedge_after_ms);
        self.launch();
        loop {
            let hedge_at = self.last_launch + hedge_after;
            let may_hedge = self.may_launch();
            tokio::select! {
                ended = self.attempts.next(), if !self.attempts.is_empty() => {
                    let Some(ended) = ended else { continue };
                    if let Some(done) = self.on_ended(ended) {
                        return done;
                    }
                }
                _ = tokio::time::sleep_until(hedge_at), if may_hedge => self.launch(),
                _ = tokio::time::sleep_until(deadline) => return self.out_of_time(),
            }
            if self.in_flight.is_empty() && !self.may_launch() {
                return self.conclude();
            }
        }
    }

    /// More candidates may start: some are left and nothing is held or refused.
    fn may_launch(&self) -> bool {
        self.held.is_none() && self.refused.is_none() && self.next < self.candidates.len()
    }

    /// Starts the next candidate.
    fn launch(&mut self) {
        let index = self.next;
        let Some(p) = self.candidates.get(index).cloned() else { return };
        self.next += 1;
        let (pool, point, rid, generation) = (self.pool.clone(), self.point.clone(), self.request_id.clone(), self.generation);
        let started = Instant::now();
        let attempt = async move { pool.attempt(&p, generation, &point, &rid, false, pool.attempt_timeout()).await };
        let attempt = AssertUnwindSafe(attempt).catch_unwind().map(move |result| Outcome {
            index,
            started,
            result: result.unwrap_or_else(|_| Err(AttemptError::Local("attempt panicked".into()))),
        });
        let (abort, registration) = AbortHandle::new_pair();
        self.attempts.push(Abortable::new(Box::pin(attempt), registration));
        self.in_flight.push(Flight { index, started, abort });
        self.last_launch = tokio::time::Instant::now();
    }

    fn rank(&self, index: usize) -> usize {
        self.candidates.get(index).map_or(usize::MAX, |p| p.rank)
    }

    /// Whether an attempt to a partner preferred over `rank` is in flight.
    fn preferred_in_flight(&self, rank: usize) -> bool {
        self.in_flight.iter().any(|f| self.rank(f.index) < rank)
    }

    /// Handles one ended attempt; `Some` ends the race.
    fn on_ended(&mut self, ended: Result<Outcome, Aborted>) -> Option<Result<Derived, PoolError>> {
        // Aborted by this race: already accounted for.
        let outcome = ended.ok()?;
        // An attempt this race already abandoned (a refusal cancelled it).
        let pos = self.in_flight.iter().position(|f| f.index == outcome.index)?;
        self.in_flight.remove(pos);
        let p = self.candidates.get(outcome.index)?.clone();
        let micros = u64::try_from(outcome.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.pool.settle(&p, self.point.path().as_str(), &outcome.result, micros);
        match outcome.result {
            Ok(key) => self.on_partial(outcome.index, key),
            Err(AttemptError::Refused(r)) => self.on_refusal(outcome.index, r),
            Err(e) => {
                self.errors.push((p.id.clone(), e));
                self.after_failure()
            }
        }
    }

    /// Rule 1.
    fn on_partial(&mut self, index: usize, key: DataKey) -> Option<Result<Derived, PoolError>> {
        let rank = self.rank(index);
        if !self.preferred_in_flight(rank) {
            return Some(Ok(self.finish(index, key)));
        }
        if self.held.as_ref().is_none_or(|(h, _)| self.rank(*h) > rank) {
            self.held = Some((index, key));
        }
        None
    }

    /// Rule 2.
    fn on_refusal(&mut self, index: usize, refusal: Refusal) -> Option<Result<Derived, PoolError>> {
        let rank = self.rank(index);
        let less_preferred: Vec<usize> = self.in_flight.iter().filter(|f| self.rank(f.index) > rank).map(|f| f.index).collect();
        self.cancel(&less_preferred);
        if self.held.as_ref().is_some_and(|(h, _)| self.rank(*h) > rank) {
            self.held = None;
        }
        if self.refused.as_ref().is_none_or(|(r, _)| self.rank(*r) > rank) {
            self.refused = Some((index, refusal));
        }
        if self.preferred_in_flight(rank) { None } else { Some(self.refusal_error()) }
    }

    /// Rule 3, and what a finished preferred attempt releases.
    fn after_failure(&mut self) -> Option<Result<Derived, PoolError>> {
        if let Some((h, _)) = &self.held {
            if self.preferred_in_flight(self.rank(*h)) {
                return None;
            }
            let (h, key) = self.held.take()?;
            return Some(Ok(self.finish(h, key)));
        }
        if let Some((r, _)) = &self.refused {
            return if self.preferred_in_flight(self.rank(*r)) { None } else { Some(self.refusal_error()) };
        }
        if self.may_launch() {
            self.launch();
        }
        None
    }

    /// The race is over without a winner: nothing runs, nothing may start.
    fn conclude(&mut self) -> Result<Derived, PoolError> {
        if self.refused.is_some() {
            return self.refusal_error();
        }
        if let Some((h, key)) = self.held.take() {
            return Ok(self.finish(h, key));
        }
        Err(summarize(&self.errors))
    }

    fn refusal_error(&mut self) -> Result<Derived, PoolError> {
        let all: Vec<usize> = self.in_flight.iter().map(|f| f.index).collect();
        self.cancel(&all);
        let (index, refusal) = self.refused.as_ref().map_or((usize::MAX, String::new()), |(i, r)| (*i, r.reason.clone()));
        let partner = self.candidates.get(index).map_or_else(|| "?".to_owned(), |p| p.id.clone());
        Err(PoolError::Refused { partner, reason: refusal })
    }

    /// The winner: every other attempt is cancelled.
    fn finish(&mut self, index: usize, key: DataKey) -> Derived {
        let others: Vec<usize> = self.in_flight.iter().map(|f| f.index).collect();
        self.cancel(&others);
        let hedged = index != 0;
        if hedged {
            self.pool.metrics.hedged.fetch_add(1, Ordering::Relaxed);
        }
        let partner = self.candidates.get(index).map_or_else(|| "?".to_owned(), |p| p.id.clone());
        Derived { key, partner, hedged }
    }

    /// Aborts the attempts of these candidates and counts them as cancelled.
    fn cancel(&mut self, indices: &[usize]) {
        for index in indices {
            if let Some(pos) = self.in_flight.iter().position(|f| f.index == *index) {
                let f = self.in_flight.remove(pos);
                f.abort.abort();
                if let Some(m) = self.candidates.get(f.index).and_then(|p| self.pool.metrics.partner(&p.id)) {
                    m.attempt(AttemptOutcome::Cancelled, 0);
                }
            }
        }
    }

    /// The budget ran out: every attempt still running timed out.
    fn out_of_time(&mut self) -> Result<Derived, PoolError> {
        let running: Vec<Flight> = std::mem::take(&mut self.in_flight);
        for f in &running {
            f.abort.abort();
            if let Some(p) = self.candidates.get(f.index) {
                let micros = u64::try_from(f.started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.pool.settle(p, self.point.path().as_str(), &Err(AttemptError::Timeout), micros);
            }
        }
        if self.refused.is_some() {
            return self.refusal_error();
        }
        tracing::warn!(
            budget_ms = self.pool.cfg.budget_ms,
            held = self.held.is_some(),
            errors = ?self.errors.iter().map(|(p, e)| format!("{p}: {e}")).collect::<Vec<_>>(),
            "no usable verified partial within the budget"
        );
        Err(PoolError::Timeout)
    }
}

fn summarize(errors: &[(String, AttemptError)]) -> PoolError {
    if !errors.is_empty() && errors.iter().all(|(_, e)| *e == AttemptError::Timeout) {
        return PoolError::Timeout;
    }
    PoolError::Failed(errors.iter().map(|(p, e)| format!("{p}: {e}")).collect::<Vec<_>>().join("; "))
}
