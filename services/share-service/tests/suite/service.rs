//! End-to-end tests of the share service over real mTLS on loopback.

use crate::common::Deployment;
use xks_config::share::LockScope;
use xks_pki::{Ca, Validity};
use xks_testkit::PartnerClient;
use xks_threshold::{Combiner, CombiningSet, HolderId, KeyPath, Partial};

fn set(ids: &[u32]) -> CombiningSet {
    CombiningSet::new(ids.iter().map(|i| HolderId::new(*i).unwrap())).unwrap()
}

#[tokio::test]
async fn partial_verifies_and_combines_with_share_1_to_the_directly_derived_key() {
    let d = Deployment::start("combine", |_| {}).await;
    let mut c = d.client();
    // The proven partial first; the proof-free one is then checked against its
    // commitment, as the proxy does.
    let mut commitment = None;
    for proof in [true, false] {
        let (status, body) = c.partial("ks1/key-0001", &[1, 2], proof).await;
        assert_eq!(status, 200, "{body}");
        let partial = Partial::from_json(&body).unwrap();
        assert_eq!(partial.holder().get(), 2);
        assert_eq!(partial.proof().is_some(), proof);
        let kp = KeyPath::new("ks1/key-0001").unwrap().to_point().unwrap();
        let combiner = Combiner::new(d.layout().key_set.clone(), set(&[1, 2])).unwrap();
        let own = d.holder_key(0).evaluate_own(&kp, &set(&[1, 2])).unwrap();
        // The core alone, with shares 1 and 3 and no service involved.
        let direct_set = set(&[1, 3]);
        let direct = Combiner::new(d.layout().key_set.clone(), direct_set.clone()).unwrap();
        let p1 = d.holder_key(0).evaluate_own(&kp, &direct_set).unwrap();
        let p3 = d.holder_key(2).evaluate_own(&kp, &direct_set).unwrap();
        let expected = direct.combine(&kp, &[&p1, &p3]).unwrap();
        let envelope = expected.encrypt(b"secret", b"aad", &mut rand_core::OsRng).unwrap();
        let verified = match &commitment {
            None => combiner.verify(&kp, partial).unwrap(),
            Some(committed) => combiner.check_commitment(&kp, partial, committed).unwrap(),
        };
        commitment = Some(combiner.commitment(&verified).unwrap());
        let key = combiner.combine(&kp, &[&own, &verified]).unwrap();
        let plaintext = key.decrypt(&envelope.ciphertext, &envelope.metadata, &envelope.iv, &envelope.tag, b"aad").unwrap();
        assert_eq!(&**plaintext, b"secret");
    }
}

#[tokio::test]
async fn clients_without_a_valid_listed_certificate_are_refused_at_the_handshake() {
    let d = Deployment::start("mtls", |c| c.tls.allowed_clients = vec!["uri:spiffe://xks/proxy".into()]).await;
    let ca_pem = d.layout().ca_pem().to_owned();
    let before = d.running().app.0.metrics.handshake_failures.load(std::sync::atomic::Ordering::Relaxed);
    // No client certificate.
    let mut none = PartnerClient::new(d.addr(), &ca_pem, None);
    assert!(none.request("GET", "/v1/health", None, vec![]).await.is_err());
    // A certificate from another CA.
    let other = Ca::new("other CA", Validity::days(2)).unwrap();
    let foreign = other.issue_client("xks-proxy", &["spiffe://xks/proxy"], Validity::days(2)).unwrap();
    assert!(PartnerClient::new(d.addr(), &ca_pem, Some(&foreign)).request("GET", "/v1/health", None, vec![]).await.is_err());
    // An expired certificate from the right CA.
    let expired = d.layout().ca.issue_client("xks-proxy", &["spiffe://xks/proxy"], Validity::expired()).unwrap();
    assert!(PartnerClient::new(d.addr(), &ca_pem, Some(&expired)).request("GET", "/v1/health", None, vec![]).await.is_err());
    // A valid certificate whose identity is not listed.
    let stranger = d.layout().ca.issue_client("intruder", &["spiffe://xks/intruder"], Validity::days(2)).unwrap();
    assert!(PartnerClient::new(d.addr(), &ca_pem, Some(&stranger)).request("GET", "/v1/health", None, vec![]).await.is_err());
    let after = d.running().app.0.metrics.handshake_failures.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 4, "each refusal is a failed handshake, not an HTTP error");
    // The listed identity is served.
    let (status, body) = d.client().request("GET", "/v1/health", None, vec![]).await.unwrap();
    assert_eq!(status, 200, "{body}");
    // Build identity (docs/auditing.md): the health answer names the version
    // and the SHA-256 of the running executable.
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"), "{health}");
    assert_eq!(health["executableSha256"].as_str().unwrap(), hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&exe)), "{health}");
    // Listing by certificate fingerprint: only that exact certificate is served.
    let mut d2 = Deployment::start("mtls-fp", |_| {}).await;
    let listed = format!("sha256:{}", d2.layout().proxy_client.fingerprint());
    d2.reconfigure(|c| c.tls.allowed_clients = vec![listed]).await;
    let ca2 = d2.layout().ca_pem().to_owned();
    assert_eq!(d2.client().request("GET", "/v1/health", None, vec![]).await.unwrap().0, 200);
    let same_name_other_cert = d2.layout().ca.issue_client("xks-proxy", &["spiffe://xks/proxy"], Validity::days(2)).unwrap();
    assert!(PartnerClient::new(d2.addr(), &ca2, Some(&same_name_other_cert)).request("GET", "/v1/health", None, vec![]).await.is_err());
}

#[tokio::test]
async fn every_malformed_request_gets_a_clear_4xx_and_the_service_keeps_serving() {
    let d = Deployment::start("malformed", |_| {}).await;
    let mut c = d.client();
    let good =
        serde_json::json!({"version": 1, "requestId": "r1", "keyPath": "ks1/k", "generation": 1, "epoch": 0, "set": [1, 2], "proof": true});
    let with = |k: &str, v: serde_json::Value| {
        let mut g = good.clone();
        g[k] = v;
        g.to_string().into_bytes()
    };
    let without = |k: &str| {
        let mut g = good.clone();
        g.as_object_mut().unwrap().remove(k);
        g.to_string().into_bytes()
    };
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        ("not JSON", Some("application/json"), b"{not json".to_vec(), 400),
        ("empty body", Some("application/json"), vec![], 400),
        ("array", Some("application/json"), b"[1,2]".to_vec(), 400),
        ("unknown field", Some("application/json"), with("extra", 1.into()), 400),
        ("missing keyPath", Some("application/json"), without("keyPath"), 400),
        ("wrong type", Some("application/json"), with("generation", "one".into()), 400),
        ("version 2", Some("application/json"), with("version", 2.into()), 400),
        ("bad key path chars", Some("application/json"), with("keyPath", "a b".into()), 400),
        ("empty key path", Some("application/json"), with("keyPath", "".into()), 400),
        ("key path too long", Some("application/json"), with("keyPath", "k".repeat(256).into()), 400),
        ("holder 0 in set", Some("application/json"), with("set", serde_json::json!([0, 2])), 400),
        ("duplicate holder", Some("application/json"), with("set", serde_json::json!([2, 2])), 400),
        ("set without this holder", Some("application/json"), with("set", serde_json::json!([1, 3])), 400),
        ("set too small", Some("application/json"), with("set", serde_json::json!([2])), 400),
        ("holder outside key set", Some("application/json"), with("set", serde_json::json!([2, 9])), 400),
        ("request id with spaces", Some("application/json"), with("requestId", "a b".into()), 400),
        ("request id too long", Some("application/json"), with("requestId", "r".repeat(129).into()), 400),
        ("negative epoch", Some("application/json"), with("epoch", (-1).into()), 400),
        ("unknown generation", Some("application/json"), with("generation", 7.into()), 404),
        ("unknown epoch", Some("application/json"), with("epoch", 3.into()), 404),
        ("no content type", None, good.to_string().into_bytes(), 415),
        ("text content type", Some("text/plain"), good.to_string().into_bytes(), 415),
        ("body too large", Some("application/json"), vec![b' '; 10_000], 413),
    ];
    for (name, ct, body, expected) in cases {
        let (status, text) = c.request("POST", "/v1/partial", ct, body).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status, expected, "{name}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"));
        assert!(v["error"].is_string() && v["message"].is_string(), "{name}: {text}");
        if status == 413 {
            c = d.client(); // the server closes a connection whose body it did not read
        }
    }
    let (status, text) = c.request("GET", "/nope", None, vec![]).await.unwrap();
    assert_eq!(status, 404, "{text}");
    let (status, text) = c.request("GET", "/v1/partial", None, vec![]).await.unwrap();
    assert!(status == 405 || status == 404, "{status} {text}");
    // Still serving.
    let (status, body) = d.client().partial("ks1/k", &[1, 2], true).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn kill_switch_takes_effect_on_the_next_request_and_survives_restart() {
    let mut d = Deployment::start("killswitch", |_| {}).await;
    let mut c = d.client();
    let (status, released) = c.partial("ks1/a", &[1, 2], true).await;
    assert_eq!(status, 200);
    let released: serde_json::Value = serde_json::from_str(&released).unwrap();
    let r = d.admin("deny ks1/a").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(c.partial("ks1/a", &[1, 2], false).await.0, 403);
    assert_eq!(c.partial("ks1/b", &[1, 2], false).await.0, 200);
    assert_eq!(d.admin("lock maintenance").await["locked"], "maintenance");
    let (status, body) = c.partial("ks1/b", &[1, 2], false).await;
    assert_eq!(status, 423, "{body}");
    assert_eq!(c.request("GET", "/v1/health", None, vec![]).await.unwrap().0, 503);
    // A restart does not undo the operator's lock.
    d.restart().await;
    let mut c = d.client();
    assert_eq!(c.partial("ks1/b", &[1, 2], false).await.0, 423);
    assert_eq!(d.admin("unlock").await["locked"], serde_json::Value::Null);
    assert_eq!(c.partial("ks1/b", &[1, 2], false).await.0, 200);
    assert_eq!(c.partial("ks1/a", &[1, 2], false).await.0, 403);
    d.admin("allow ks1/a").await;
    assert_eq!(c.partial("ks1/a", &[1, 2], false).await.0, 200);
    assert_eq!(d.admin("frobnicate").await["ok"], false);
    // Every use and every operator action is in the verified audit log.
    let files = xks_audit::log_files(&d.dir().join("audit")).unwrap();
    let report = xks_audit::verify_files(&files, Some(&d.running().app.0.audit.head().hash)).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.per_key_path["ks1/a"], 4, "ok, denied, denied, ok");
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    for action in
        ["\"outcome\":\"lock\"", "\"outcome\":\"unlock\"", "\"outcome\":\"denied\"", "\"outcome\":\"locked\"", "\"kind\":\"start\""]
    {
        assert!(text.contains(action), "{action} missing");
    }
    // The log never carries the partial or the proof that were released.
    for field in ["partial", "proof"] {
        let v = released[field].as_str().unwrap();
        assert!(!text.contains(v) && !text.contains(&v[2..40]), "{field} found in the audit log");
    }
}

/// Issue 15 §1: a refusal comes before every other check. A locked service
/// under load answers 423 (never 429 or 503, which a proxy would fail over
/// on), even to requests that are malformed, oversized or of the wrong
/// Content-Type; a denied key path answers 403 before the rate bound. The
/// refusals are audited without the answer waiting for the record.
#[tokio::test]
async fn refusals_come_before_rate_overload_and_parse_checks() {
    let d = Deployment::start("refuse-first", |c| c.limits.max_requests_per_second = 2).await;
    let mut c = d.client();
    d.admin("deny ks1/denied").await;
    let mut statuses = vec![];
    for _ in 0..10 {
        statuses.push(c.partial("ks1/denied", &[1, 2], false).await.0);
    }
    assert_eq!(statuses, [403; 10], "a deny is not turned into 429");
    let mut others = vec![];
    for _ in 0..5 {
        others.push(c.partial("ks1/other", &[1, 2], false).await.0);
    }
    assert!(others.contains(&429), "the rate bound holds for everything else: {others:?}");
    d.admin("lock incident").await;
    let mut statuses = vec![];
    for _ in 0..20 {
        statuses.push(c.partial("ks1/other", &[1, 2], false).await.0);
    }
    let wrong_type = c.request("POST", "/v1/partial", Some("text/plain"), b"{}".to_vec()).await.unwrap().0;
    let oversized = c.request("POST", "/v1/partial", Some("application/json"), vec![b' '; 5000]).await.unwrap().0;
    let malformed = c.request("POST", "/v1/partial", Some("application/json"), b"{not json".to_vec()).await.unwrap().0;
    statuses.extend([wrong_type, oversized, malformed]);
    assert_eq!(statuses, [423; 23], "a locked service answers every request with its refusal");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let files = xks_audit::log_files(&d.dir().join("audit")).unwrap();
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert_eq!(text.matches("\"outcome\":\"denied\"").count(), 10, "every denied request is audited");
    assert_eq!(text.matches("\"outcome\":\"locked\"").count(), 23, "every locked request is audited");
}

/// Issue 15 §6: an operator action whose state file cannot be written still
/// takes effect and is still audited (the record says it was not persisted).
#[tokio::test]
async fn an_admin_action_that_cannot_be_persisted_is_in_effect_and_audited() {
    let d = Deployment::start("unpersisted", |_| {}).await;
    let mut c = d.client();
    assert_eq!(c.partial("ks1/a", &[1, 2], false).await.0, 200);
    // The state file's place is taken by a non-empty directory: the atomic rename fails.
    std::fs::create_dir_all(d.dir().join("controls.json/in-the-way")).unwrap();
    let r = d.admin("lock drill").await;
    assert_eq!(r["ok"], false, "{r}");
    assert!(r["error"].as_str().unwrap().contains("in effect, but not persisted"), "{r}");
    assert_eq!(c.partial("ks1/a", &[1, 2], false).await.0, 423, "the lock is in effect");
    let files = xks_audit::log_files(&d.dir().join("audit")).unwrap();
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert!(text.contains("\"outcome\":\"lock (not persisted)\""), "{text}");
}

/// A KMS quota of one request per second, over a minute: a flood is easy to make.
fn flood_rules(c: &mut share_service::Config) {
    let a = &mut c.anomaly;
    (a.window_seconds, a.kms_quota_per_second, a.quota_headroom, a.key_stores) = (60, 1.0, 1.0, 1000);
}

/// Issue 15 §5, at the service: a flood above the (here tiny) KMS quota on one
/// key path locks that key path only (423 `key_path_locked`), the other key
/// paths keep being served; `unlock <key path>` re-arms the rule, so a flood
/// that is still running is locked again at once; the health key path is
/// never counted. With `lock_scope = "service"` the same flood locks all.
#[tokio::test]
async fn a_flood_above_the_quota_locks_what_tripped_and_rearms_after_unlock() {
    let d = Deployment::start("flood", flood_rules).await;
    let mut c = d.client();
    // The health key path at any rate, and normal traffic: a handful per key path.
    for _ in 0..30 {
        assert_eq!(c.partial("xks-proxy/health-check", &[1, 2], false).await.0, 200);
    }
    for i in 0..12 {
        assert_eq!(c.partial(&format!("ks1/normal-{}", i % 4), &[1, 2], false).await.0, 200);
    }
    // A flood on one key path: above 60 per minute (projected over at least 5 s).
    let mut statuses = vec![];
    for _ in 0..12 {
        statuses.push(c.partial("ks1/hot", &[1, 2], false).await.0);
    }
    let first_refusal = statuses.iter().position(|s| *s == 423).expect("the flood is locked");
    assert!(first_refusal > 3 && statuses[first_refusal..].iter().all(|s| *s == 423), "{statuses:?}");
    let (status, body) = c.partial("ks1/hot", &[1, 2], false).await;
    assert_eq!(status, 423);
    assert!(body.contains("key_path_locked"), "{body}");
    assert!(!d.running().app.0.controls.is_locked(), "the lock is scoped to the key path");
    assert_eq!(c.partial("ks1/normal-1", &[1, 2], false).await.0, 200, "other key paths are served");
    let m = c.request("GET", "/metrics", None, vec![]).await.unwrap().1;
    assert!(m.contains("share_anomalies_total 1") && m.contains("share_locked_key_paths 1"), "{m}");
    let status = d.admin("status").await;
    assert!(status["lockedKeyPaths"]["ks1/hot"].as_str().unwrap().starts_with("anomaly (quota rule)"), "{status}");
    // Unlock while the flood goes on: locked again within the flood's next requests.
    assert_eq!(d.admin("unlock ks1/hot").await["ok"], true);
    let mut statuses = vec![];
    for _ in 0..12 {
        statuses.push(c.partial("ks1/hot", &[1, 2], false).await.0);
    }
    assert!(statuses.contains(&200) && statuses.ends_with(&[423, 423]), "re-armed: {statuses:?}");
    // Everything recorded: both automatic locks and the unlock.
    let files = xks_audit::log_files(&d.dir().join("audit")).unwrap();
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert_eq!(text.matches("\"outcome\":\"lock-key-path\"").count(), 2, "{text}");
    assert_eq!(text.matches("\"outcome\":\"unlock-key-path\"").count(), 1);

    let d = Deployment::start("flood-service", |c| {
        flood_rules(c);
        c.anomaly.lock_scope = LockScope::Service;
    })
    .await;
    let mut c = d.client();
    let mut statuses = vec![];
    for _ in 0..12 {
        statuses.push(c.partial("ks1/hot", &[1, 2], false).await.0);
    }
    assert!(statuses.contains(&423), "{statuses:?}");
    assert!(d.running().app.0.controls.is_locked());
    assert_eq!(c.partial("ks1/normal-1", &[1, 2], false).await.0, 423, "the lock is global");
    assert!(d.admin("status").await["locked"].as_str().unwrap().starts_with("anomaly"));
    d.admin("unlock").await;
    assert_eq!(c.partial("ks1/normal-1", &[1, 2], false).await.0, 200);
}

#[tokio::test]
async fn a_failing_audit_disk_makes_the_service_refuse_and_release_nothing() {
    // Small files: the writer must rotate (create a new file) every few records.
    let mut d = Deployment::start("auditfail", |_| {}).await;
    d.reconfigure(|c| c.audit.max_file_bytes = 4096).await;
    let mut c = d.client();
    assert_eq!(c.partial("ks1/x", &[1, 2], true).await.0, 200);
    // The disk "fails": the audit directory is replaced by a file, so the next rotation cannot
    // create its file.
    let audit_dir = d.dir().join("audit");
    std::fs::remove_dir_all(&audit_dir).unwrap();
    std::fs::write(&audit_dir, b"not a directory").unwrap();
    let mut statuses = vec![];
    for _ in 0..40 {
        let (status, body) = c.partial("ks1/x", &[1, 2], true).await;
        if status != 200 {
            assert_eq!(status, 503, "{body}");
            assert!(body.contains("audit_unavailable") && !body.contains("\"partial\""), "{body}");
        }
        statuses.push(status);
    }
    let first_refusal = statuses.iter().position(|s| *s == 503).expect("rotation within 40 records must fail");
    assert!(statuses[first_refusal..].iter().all(|s| *s == 503), "fail closed stays closed: {statuses:?}");
    let (status, body) = c.request("GET", "/v1/health", None, vec![]).await.unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("audit_failed"), "{body}");
    let m = c.request("GET", "/metrics", None, vec![]).await.unwrap().1;
    assert!(m.contains("share_audit_healthy 0"), "{m}");
}

#[tokio::test]
async fn self_test_verifies_every_held_share_and_is_audited() {
    let d = Deployment::start("selftest", |_| {}).await;
    let (status, body) = d.client().request("POST", "/v1/self-test", None, vec![]).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["keySets"][0]["generation"], 1);
    assert!(!body.contains("partial"), "the self-test never returns the partial");
    let files = xks_audit::log_files(&d.dir().join("audit")).unwrap();
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert!(text.contains("\"kind\":\"self_test\""));
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn_and_serves_concurrent_streams() {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let d = Deployment::start("h2", |_| {}).await;
    let mut cfg = crate::common::tls_config(d.layout().ca_pem().as_bytes(), Some(&d.layout().proxy_client));
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(d.addr()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let mut tasks = vec![];
    for i in 0..20 {
        let mut s = sender.clone();
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"version": 1, "requestId": format!("h2-{i}"), "keyPath": format!("ks1/k{i}"), "generation": 1, "epoch": 0, "set": [2, 3], "proof": true});
            let req = hyper::Request::post("https://localhost/v1/partial").header("content-type", "application/json").body(Full::new(Bytes::from(body.to_string()))).unwrap();
            let resp = s.send_request(req).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(Partial::from_json(&body).unwrap().holder().get(), 2);
    }
}

/// Issue 19: a proof-free partial is memoized per (share, set, key path). The
/// memoized answer equals the first, a proven answer for the same path has
/// the same point and verifies, another set gets another partial, and a lock
/// still refuses a memoized path; every request is in the audit log.
#[tokio::test]
async fn memoized_partials_equal_fresh_ones_and_never_pass_a_lock() {
    let d = Deployment::start("memo", |_| {}).await;
    let mut c = d.client();
    let mut ask = async |set: &[u32], proof: bool| {
        let (status, body) = c.partial("ks1/memo", set, proof).await;
        assert_eq!(status, 200, "{body}");
        Partial::from_json(&body).unwrap()
    };
    let first = ask(&[1, 2], false).await;
    let again = ask(&[1, 2], false).await;
    let proven = ask(&[1, 2], true).await;
    let other_set = ask(&[2, 3], false).await;
    assert_eq!(first.point_bytes().unwrap(), again.point_bytes().unwrap());
    assert_eq!(first.point_bytes().unwrap(), proven.point_bytes().unwrap());
    assert_ne!(first.point_bytes().unwrap(), other_set.point_bytes().unwrap());
    let kp = KeyPath::new("ks1/memo").unwrap().to_point().unwrap();
    assert!(Combiner::new(d.layout().key_set.clone(), set(&[1, 2])).unwrap().verify(&kp, proven).is_ok());
    d.admin("lock memo-test").await;
    assert_eq!(d.client().partial("ks1/memo", &[1, 2], false).await.0, 423, "a memoized path is locked like any other");
    // The refusal's record is written without the answer waiting for it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let files = xks_audit::log_files(&d.dir().join("audit")).unwrap();
    let report = xks_audit::verify_files(&files, None).unwrap();
    assert_eq!(report.per_key_path["ks1/memo"], 5, "four answers and one refusal, each audited");
}

/// docs/share-service.md, "Batches": every request of a batch is answered as
/// if it had come alone (its own refusal, its own audit record), in order; a
/// locked service refuses each request of a readable batch and an unreadable
/// batch as a whole; malformed batches are refused as a whole.
/// docs/share-service.md "The point's form": a request with the point-encoding
/// header `uncompressed` gets its partial as the SEC1 uncompressed point (in a
/// batch too), the same partial as `SerializeElement`; without the header, or
/// with another value, it gets `SerializeElement`, as a proxy that predates
/// the header expects.
#[tokio::test]
async fn partials_travel_uncompressed_when_the_proxy_asks() {
    use xks_wire::partner::{PARTIALS_PATH, POINT_ENCODING_HEADER, encode_batch, parse_answers};
    let d = Deployment::start("point-encoding", |_| {}).await;
    let mut c = d.client();
    let point_hex =
        |body: &str| -> String { serde_json::from_str::<serde_json::Value>(body).unwrap()["partial"].as_str().unwrap().to_owned() };
    let (status, compressed) = c.partial("ks1/key-0001", &[1, 2], true).await;
    assert_eq!(status, 200, "{compressed}");
    let (status, uncompressed) = c.partial_with_encoding("ks1/key-0001", &[1, 2], true, "uncompressed").await;
    assert_eq!(status, 200, "{uncompressed}");
    let (_, other) = c.partial_with_encoding("ks1/key-0001", &[1, 2], false, "hybrid").await;
    assert_eq!((point_hex(&compressed).len(), point_hex(&other).len()), (66, 66));
    assert_eq!(point_hex(&uncompressed).len(), 130);
    assert!(point_hex(&uncompressed).starts_with("04"));
    let kp = KeyPath::new("ks1/key-0001").unwrap().to_point().unwrap();
    let combiner = Combiner::new(d.layout().key_set.clone(), set(&[1, 2])).unwrap();
    let a = combiner.verify(&kp, Partial::from_json(&compressed).unwrap()).unwrap();
    let b = combiner.verify(&kp, Partial::from_json(&uncompressed).unwrap()).unwrap();
    assert_eq!(combiner.commitment(&a).unwrap(), combiner.commitment(&b).unwrap(), "one partial, two forms");

    let requests: Vec<_> = ["ks1/a", "ks1/b"]
        .iter()
        .map(|p| xks_wire::partner::PartialRequest {
            request_id: xks_wire::partner::RequestId::new(format!("enc-{p}").replace('/', "-")).unwrap(),
            key_path: KeyPath::new(*p).unwrap(),
            generation: 1,
            epoch: 0,
            set: set(&[1, 2]),
            proof: false,
        })
        .collect();
    let header = [(POINT_ENCODING_HEADER, "uncompressed")];
    let (status, body) =
        c.request_with("POST", PARTIALS_PATH, Some("application/json"), &header, encode_batch(&requests).into_bytes()).await.unwrap();
    assert_eq!(status, 200, "{body}");
    for (_, answer) in parse_answers(body.as_bytes(), 2).unwrap() {
        assert_eq!(point_hex(std::str::from_utf8(answer).unwrap()).len(), 130, "a batch's partials travel uncompressed too");
    }
}

#[tokio::test]
async fn a_batch_answers_each_request_as_if_it_came_alone() {
    use share_service::metrics::Outcome;
    use xks_wire::partner::{MAX_BATCH, PARTIALS_PATH, parse_answers};
    let d = Deployment::start("batch", |_| {}).await;
    let mut c = d.client();
    d.admin("deny ks1/denied").await;
    let (status, body) = c.batch(&[("ks1/a", true), ("ks1/denied", false), ("ks1/b", false)], &[1, 2]).await;
    assert_eq!(status, 200, "{body}");
    let answers = parse_answers(body.as_bytes(), 3).unwrap();
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(statuses, [200, 403, 200]);
    let combiner = Combiner::new(d.layout().key_set.clone(), set(&[1, 2])).unwrap();
    let point = KeyPath::new("ks1/a").unwrap().to_point().unwrap();
    let proven = Partial::from_json(std::str::from_utf8(answers[0].1).unwrap()).unwrap();
    combiner.verify(&point, proven).expect("the batch's proven partial verifies");
    let denied: serde_json::Value = serde_json::from_slice(answers[1].1).unwrap();
    assert_eq!(denied["error"], "key_path_denied");
    // The batch's partial is the one a single request gets.
    let (_, single) = c.partial("ks1/b", &[1, 2], false).await;
    assert_eq!(std::str::from_utf8(answers[2].1).unwrap(), single);
    let m = &d.running().app.0.metrics;
    assert_eq!((m.count(Outcome::Ok), m.count(Outcome::Denied)), (3, 1), "each request counted");

    d.admin("lock incident").await;
    let (status, body) = c.batch(&[("ks1/a", false), ("ks1/b", false)], &[1, 2]).await;
    assert_eq!(status, 200, "{body}");
    assert!(parse_answers(body.as_bytes(), 2).unwrap().iter().all(|(s, _)| s.as_u16() == 423), "{body}");
    let unreadable = c.request("POST", PARTIALS_PATH, Some("application/json"), b"{not json".to_vec()).await.unwrap().0;
    assert_eq!(unreadable, 423, "a lock answers before the parse");
    d.admin("unlock").await;

    let too_many: Vec<(&str, bool)> = vec![("ks1/a", false); MAX_BATCH + 1];
    for (what, status) in [
        ("not JSON", c.request("POST", PARTIALS_PATH, Some("application/json"), b"{not json".to_vec()).await.unwrap().0),
        ("empty", c.request("POST", PARTIALS_PATH, Some("application/json"), br#"{"version":1,"requests":[]}"#.to_vec()).await.unwrap().0),
        ("too many", c.batch(&too_many, &[1, 2]).await.0),
    ] {
        assert_eq!(status, 400, "{what}");
    }
    // Issue 19: the records of one exchange are made durable together, in one commit.
    let value = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let commits = || value(&m.render(false, 0, 0, 0, true), "share_audit_fsync_batches_total");
    let before = commits();
    let full: Vec<(&str, bool)> = vec![("ks1/a", false); MAX_BATCH];
    let (status, body) = c.batch(&full, &[1, 2]).await;
    assert_eq!(status, 200);
    assert!(parse_answers(body.as_bytes(), MAX_BATCH).unwrap().iter().all(|(s, _)| s.as_u16() == 200));
    assert_eq!(commits() - before, 1, "{MAX_BATCH} requests of one batch, one audit commit");

    // Every request of every batch is in the verified audit log.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let files = xks_audit::log_files(&d.dir().join("audit")).unwrap();
    let report = xks_audit::verify_files(&files, None).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.per_key_path["ks1/a"], 2 + MAX_BATCH as u64, "ok, locked, and the full batch");
    assert_eq!(report.per_key_path["ks1/denied"], 1);
    assert_eq!(report.per_key_path["ks1/b"], 3, "ok (batch), ok (single), locked");
    let text = m.render(false, 0, 0, 0, true);
    assert!(text.contains("share_partial_batches_total 3"), "two readable batches and the full one");
    // Every group commit is timed: the histogram counts as many as the fsync counter.
    let commits = value(&text, "share_audit_fsync_batches_total");
    assert!(commits > 0);
    assert_eq!(value(&text, "share_audit_commit_duration_seconds_count"), commits);
    assert_eq!(value(&text, "share_audit_commit_duration_seconds_bucket{le=\"+Inf\"}"), commits);
}
