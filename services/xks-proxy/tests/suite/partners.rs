//! The partner pool: failover when the primary stops, hedging around a slow
//! primary, a Byzantine partner, and the kill switch (docs/architecture.md §2).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_proxy::metrics::AttemptOutcome;

/// docs/architecture.md §2: the partner's kill switch takes effect on the very next
/// request: Encrypt and Decrypt fail cleanly, then work again after unlock.
/// Also a key-path deny blocks that key path only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_stops_the_very_next_request() {
    let mut d = Deployment::start("killswitch", Options { partners: vec![2], ..Options::default() }).await;
    let mut c = d.client();
    let (s, enc) = c.encrypt(KEY, b"before the lock", None, false).await;
    assert_eq!(s, 200);
    assert_eq!(c.decrypt(KEY, &enc, None).await.0, 200);
    let r = d.admin(2, "lock incident-42").await;
    assert_eq!(r["ok"], true, "{r}");
    let (s, r) = c.encrypt(KEY, b"after the lock", None, false).await;
    assert_eq!((s, r["errorName"].as_str()), (400, Some("InvalidStateException")), "{r}");
    let (s, r) = c.decrypt(KEY, &enc, None).await;
    assert_eq!((s, r["errorName"].as_str()), (400, Some("InvalidStateException")), "{r}");
    d.admin(2, "unlock").await;
    assert_eq!(c.decrypt(KEY, &enc, None).await.0, 200);
    d.admin(2, "deny tenant-a/key-1").await;
    assert_eq!(c.decrypt(KEY, &enc, None).await.0, 400);
    assert_eq!(c.encrypt("decrypt-only", b"", None, false).await.0, 400, "usage error first");
    let (s, _) = c.encrypt("encrypt-only", b"other key path", None, false).await;
    assert_eq!(s, 200, "other key paths unaffected");
    // The proxy keeps nothing that derives the key without the partner: with
    // the partner stopped, the very next request fails.
    d.admin(2, "allow tenant-a/key-1").await;
    assert_eq!(c.decrypt(KEY, &enc, None).await.0, 200);
    d.stop_share(2).await;
    let t0 = Instant::now();
    let (s, r) = c.decrypt(KEY, &enc, None).await;
    assert!(s == 500 || s == 503, "{s} {r}");
    assert!(t0.elapsed() < Duration::from_millis(250), "fails inside the KMS timeout: {:?}", t0.elapsed());
}

/// Stopping the primary partner mid-load loses no request beyond those in
/// flight at that instant; later requests succeed via share-3 with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_when_the_primary_stops_under_load() {
    let mut d = Deployment::start("failover", Options::default()).await;
    let mut c = d.client();
    let (_, enc) = c.encrypt(KEY, b"made via share-2", None, false).await;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let mut c = d.client();
        let (ok, failed, stop, enc) = (ok.clone(), failed.clone(), stop.clone(), enc.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (s, r) = c.decrypt(KEY, &enc, None).await;
                if s == 200 && b64(&r["plaintext"]) == b"made via share-2" {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = ok.load(Ordering::Relaxed);
    d.stop_share(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(before > 0 && ok > before + 50, "requests kept succeeding: {before} then {ok}");
    assert!(failed <= 8, "at most the requests in flight at the stop fail: {failed}");
    let m = d.proxy().app.0.metrics.partner("share-3").unwrap();
    assert!(m.count(AttemptOutcome::Ok) > 0);
    // Encrypt via share-3 decrypts the same.
    let (s, enc3) = c.encrypt(KEY, b"made via share-3", None, false).await;
    assert_eq!(s, 200);
    d.start_share(2).await;
    d.stop_share(3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, r) = c.decrypt(KEY, &enc3, None).await;
    assert_eq!((s, b64(&r["plaintext"])), (200, b"made via share-3".to_vec()), "{r}");
}

/// A relay that delays every chunk in both directions (a slow or far partner).
async fn delaying_relay(upstream: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((down, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(upstream).await else { return };
                let (dr, dw) = down.into_split();
                let (ur, uw) = up.into_split();
                let pipe = |mut r: tokio::net::tcp::OwnedReadHalf, mut w: tokio::net::tcp::OwnedWriteHalf| async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = vec![0u8; 16384];
                    loop {
                        let n = match r.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        tokio::time::sleep(delay).await;
                        if w.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let _ = tokio::join!(pipe(dr, uw), pipe(ur, dw));
            });
        }
    });
    addr
}

/// A very slow primary (+150 ms each way): hedging to share-3 keeps every
/// request well inside the budget, with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedging_around_a_slow_primary() {
    let mut d = Deployment::start("hedge", Options::default()).await;
    let mut c = d.client();
    let (_, enc) = c.encrypt(KEY, b"fast path", None, false).await;
    let slow = delaying_relay(d.node(2).addr, Duration::from_millis(150)).await;
    d.node(2).addr = slow;
    d.restart_proxy().await;
    let mut c = d.client();
    let mut worst = Duration::ZERO;
    for _ in 0..30 {
        let t0 = Instant::now();
        let (s, r) = c.decrypt(KEY, &enc, None).await;
        worst = worst.max(t0.elapsed());
        assert_eq!((s, b64(&r["plaintext"])), (200, b"fast path".to_vec()), "{r}");
    }
    assert!(worst < Duration::from_millis(200), "worst {worst:?}");
    assert!(d.proxy().app.0.metrics.hedged.load(Ordering::Relaxed) > 0);
}

/// Counts the share service's audit records with this outcome.
fn audited(d: &mut Deployment, holder: u32, outcome: &str) -> usize {
    let files = xks_audit::log_files(&d.layout.share_dir(holder).join("audit")).unwrap();
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    text.matches(&format!("\"outcome\":\"{outcome}\"")).count()
}

/// Issue 15 §1, first path: deep health checks meet share-2's lock. A refusal
/// is not a circuit-breaker failure, so share-3 is never put first; and it is
/// sticky, so while share-2 refuses no request is served by share-3. With
/// share-3 live, zero uses succeed; every attempt is in share-2's audit log;
/// the unlock takes effect on the very next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_meeting_a_lock_never_route_around_it() {
    let opts = Options { proxy: |c| c.pool.breaker_failures = 1, ..Options::default() };
    let mut d = Deployment::start("refuse-health", opts).await;
    let mut c = d.client();
    let (s, enc) = c.encrypt(KEY, b"sealed before the lock", None, false).await;
    assert_eq!(s, 200, "{enc}");
    d.admin(2, "lock incident-7").await;
    // Two health checks (1 s interval) meet the lock; one failure would open the breaker.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let share3_before = d.proxy().app.0.metrics.partner("share-3").unwrap().count(AttemptOutcome::Ok);
    let mut served = 0;
    for _ in 0..60 {
        let (s, r) = c.decrypt(KEY, &enc, None).await;
        if s == 200 {
            served += 1;
        } else {
            assert_eq!((s, r["errorName"].as_str()), (400, Some("InvalidStateException")), "{r}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(served, 0, "uses served while share-2 refused");
    assert_eq!(d.proxy().app.0.metrics.partner("share-3").unwrap().count(AttemptOutcome::Ok), share3_before, "share-3 was not chosen");
    let share2 = d.proxy().app.0.pool.partners()[0].clone();
    assert!(!share2.breaker.is_open(), "a refusal is not a breaker failure");
    assert!(d.proxy().app.0.metrics.render(&d.proxy().app.0.stores.get(), 0).contains("xks_partner_refusing{partner=\"share-2\"} 1"));
    d.admin(2, "unlock").await;
    let (s, r) = c.decrypt(KEY, &enc, None).await;
    assert_eq!((s, b64(&r["plaintext"])), (200, b"sealed before the lock".to_vec()), "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(audited(&mut d, 2, "locked") >= 60, "every refused use is in share-2's audit log");
}

/// Issue 15 §1, second path: share-2's refusal arrives after `hedge_after_ms`
/// (a far partner) and share-3's partial arrived first: the hedge does not
/// win. Each key path is met for the first time (nothing sticky yet), so every
/// request exercises the race itself; then a lock, also first met in a race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hedge_never_beats_a_refusal() {
    let keys = (0..8).map(|i| key(&format!("far-{i}"), &format!("tenant-a/far-{i}"))).collect();
    // Budget and attempt timeout well above the slow link (25 ms per chunk each
    // way), so that the refusal arrives in time on a loaded machine.
    let opts = Options {
        proxy: |c| (c.pool.budget_ms, c.pool.attempt_timeout_ms, c.pool.hedge_after_ms) = (245, 240, 5),
        keys,
        ..Options::default()
    };
    let mut d = Deployment::start("refuse-hedge", opts).await;
    let far = delaying_relay(d.node(2).addr, Duration::from_millis(25)).await;
    d.node(2).addr = far;
    d.restart_proxy().await;
    let mut c = d.client();
    let (s, r) = c.encrypt("far-0", b"hedged", None, false).await;
    assert_eq!(s, 200, "{r}");
    for i in 0..8 {
        d.admin(2, &format!("deny tenant-a/far-{i}")).await;
    }
    for i in 0..8 {
        let (s, r) = c.encrypt(&format!("far-{i}"), b"must not be sealed", None, false).await;
        assert_eq!((s, r["errorName"].as_str()), (400, Some("InvalidStateException")), "far-{i}: {r}");
    }
    d.admin(2, "lock incident-8").await;
    let (s, enc) = c.encrypt(KEY, b"must not be sealed", None, false).await;
    assert_eq!((s, enc["errorName"].as_str()), (400, Some("InvalidStateException")), "{enc}");
    for _ in 0..5 {
        assert_eq!(c.encrypt(KEY, b"must not be sealed", None, false).await.0, 400);
    }
    d.admin(2, "unlock").await;
    for i in 0..8 {
        d.admin(2, &format!("allow tenant-a/far-{i}")).await;
        let (s, r) = c.encrypt(&format!("far-{i}"), b"sealed after the allow", None, false).await;
        assert_eq!(s, 200, "far-{i}: {r}");
    }
}

/// Issue 15 §1, third path: a locked share-2 under more load than its rate
/// bound answers its refusal, never 429; nothing fails over to share-3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_partner_under_load_is_not_failed_over() {
    let mut d = Deployment::start("refuse-load", Options::default()).await;
    let mut c = d.client();
    let (s, enc) = c.encrypt(KEY, b"sealed before the lock", None, false).await;
    assert_eq!(s, 200, "{enc}");
    d.reconfigure_share(2, |c| c.limits.max_requests_per_second = 5).await;
    d.admin(2, "lock incident-9").await;
    let served = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (mut c, served, enc) = (d.client(), served.clone(), enc.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..25 {
                if c.decrypt(KEY, &enc, None).await.0 == 200 {
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(served.load(Ordering::Relaxed), 0, "uses served while share-2 refused");
    let m = d.proxy().app.0.metrics.partner("share-2").unwrap();
    assert_eq!(m.count(AttemptOutcome::Status), 0, "share-2 never answered 429/503");
}

/// A Byzantine partner (a real share service holding a share of a *different*
/// key set under the same holder id, generation and epoch) never produces a
/// wrong ciphertext: its partials fail verification, the request is served by
/// the honest partner, and the failure is logged and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_partner_never_causes_a_wrong_ciphertext() {
    let mut d = Deployment::start("byzantine", Options::default()).await;
    let (evil_set, evil_shares) = xks_threshold::dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(666)).unwrap();
    let nd = d.layout.share_dir(2);
    std::fs::write(nd.join("keyset.json"), evil_set.to_json().unwrap()).unwrap();
    std::fs::write(nd.join("share.json"), evil_shares[1].to_json().unwrap().as_bytes()).unwrap();
    d.stop_share(2).await;
    d.start_share(2).await;
    let mut c = d.client();
    for i in 0..20u8 {
        let (s, enc) = c.encrypt(KEY, &[i; 32], Some(b"aad"), true).await;
        assert_eq!(s, 200, "{enc}");
        let (s, dec) = c.decrypt(KEY, &enc, Some(b"aad")).await;
        assert_eq!((s, b64(&dec["plaintext"])), (200, vec![i; 32]));
    }
    let m = d.proxy().app.0.metrics.partner("share-2").unwrap();
    assert!(m.count(AttemptOutcome::Invalid) > 0, "invalid partials counted");
    // Byzantine and alone: clean failure, never a wrong ciphertext.
    d.stop_share(3).await;
    let (s, r) = c.encrypt(KEY, b"x", None, false).await;
    assert!(s == 500 || s == 503, "{s} {r}");
}

/// `workers` clients at once, each encrypting and decrypting `rounds` times;
/// every answer must be right.
async fn encrypt_and_decrypt_at_once(d: &Deployment, workers: u8, rounds: u8) {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut c = d.client();
        tasks.push(tokio::spawn(async move {
            for i in 0..rounds {
                let (s, enc) = c.encrypt(KEY, &[w, i], None, false).await;
                assert_eq!(s, 200, "{enc}");
                let (s, dec) = c.decrypt(KEY, &enc, None).await;
                assert_eq!((s, b64(&dec["plaintext"])), (200, vec![w, i]));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Issue 19, docs/xks-proxy.md "Batches": requests to a partner made at the
/// same time travel together as batches, and each still gets its own verified
/// partial (every ciphertext decrypts) and its own record at the partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_travel_in_batches_and_each_is_served() {
    let mut d = Deployment::start("batches", Options { partners: vec![2], ..Options::default() }).await;
    encrypt_and_decrypt_at_once(&d, 32, 8).await;
    let share = d.node(2).running.as_ref().unwrap();
    let m = &share.app.0.metrics;
    assert!(m.partial_batches.load(Ordering::Relaxed) > 0, "no batch was sent");
    assert!(m.count(share_service::metrics::Outcome::Ok) >= 512, "every Encrypt and Decrypt asked share 2");
}

/// A share service as it was before batches (and before the point-encoding
/// header: its partials travel compressed), in front of a real one at
/// `upstream`: `POST /v1/partials` is an unknown route (404 `not_found`),
/// every other request is relayed. Returns its address and how many batches
/// it refused.
async fn older_partner(d: &Deployment, holder: u32, upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use xks_wire::partner::{ErrorBody, ErrorCode, PARTIALS_PATH};
    let dir = d.layout.share_dir(holder);
    let tls = xks_service::tls::server_config(
        &dir.join("server.crt"),
        &dir.join("server.key"),
        None,
        &[&rustls::version::TLS13],
        xks_service::tls::ClientAuth::None,
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let refused = Arc::new(AtomicU64::new(0));
    // A few connections upstream, taken in turn: relayed one at a time over a
    // single connection, 32 requests in flight queue past the proxy's budget.
    let relays: Arc<Vec<_>> = Arc::new(
        (0..16)
            .map(|_| tokio::sync::Mutex::new(xks_testkit::PartnerClient::new(upstream, d.layout.ca_pem(), Some(&d.layout.proxy_client))))
            .collect(),
    );
    let turn = Arc::new(AtomicU64::new(0));
    let counter = refused.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counter, relays, turn) = (acceptor.clone(), counter.clone(), relays.clone(), turn.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (relays, turn, counter) = (relays.clone(), turn.clone(), counter.clone());
                    async move {
                        let (method, path) = (req.method().as_str().to_owned(), req.uri().path().to_owned());
                        let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                        let body = req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        let (status, text) = if path == PARTIALS_PATH {
                            counter.fetch_add(1, Ordering::Relaxed);
                            (404, ErrorBody::render(ErrorCode::NotFound, "no such route"))
                        } else {
                            let relay = &relays[turn.fetch_add(1, Ordering::Relaxed) as usize % relays.len()];
                            relay.lock().await.request(&method, &path, content_type.as_deref(), body).await.unwrap_or((502, String::new()))
                        };
                        let response = hyper::Response::builder().status(status).header("content-type", "application/json");
                        Ok::<_, std::convert::Infallible>(response.body(Full::new(Bytes::from(text))).unwrap())
                    }
                });
                let _ =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    (addr, refused)
}

/// docs/xks-proxy.md "Batches": a partner that predates batches answers a
/// batch `404 not_found`; the proxy then sends it single requests, and every
/// request is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_without_batches_is_sent_single_requests() {
    // The relay below is the slow part: the budget is the widest the
    // configuration allows, so a loaded test machine does not time out the
    // fallback this test is about.
    let opts = Options { partners: vec![2], proxy: |c| (c.pool.budget_ms, c.pool.attempt_timeout_ms) = (245, 240), ..Options::default() };
    let mut d = Deployment::start("older-partner", opts).await;
    let upstream = d.node(2).addr;
    let (older, refused) = older_partner(&d, 2, upstream).await;
    d.node(2).addr = older;
    d.restart_proxy().await;
    encrypt_and_decrypt_at_once(&d, 32, 4).await;
    let tried = refused.load(Ordering::Relaxed);
    assert!(tried >= 1, "the proxy never tried a batch: the fallback was not exercised");
    assert!(tried <= 8, "{tried} batches refused: the proxy kept trying instead of sending single requests");
    let share = d.node(2).running.as_ref().unwrap();
    assert_eq!(share.app.0.metrics.partial_batches.load(Ordering::Relaxed), 0);
    assert!(share.app.0.metrics.count(share_service::metrics::Outcome::Ok) >= 256, "every request was served by share 2");
}
