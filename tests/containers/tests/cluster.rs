//! The service images on a private Docker network, with this process as KMS:
//! round trips and the spec's error paths, failover under load, partitions,
//! loss of both partners and recovery, the partner's kill switch, a Byzantine
//! partner, a restart of everything, a WAN-like partner link, and logs free of
//! plaintext (docs/architecture.md §2 and §3; spec sections named per assertion).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs, clippy::print_stdout)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn err(v: &serde_json::Value) -> &str {
    v["errorName"].as_str().unwrap_or("")
}

fn statuses(health: &serde_json::Value) -> Vec<(String, String)> {
    health["ekmFleetDetails"]
        .as_array()
        .map(|a| {
            a.iter().map(|e| (e["id"].as_str().unwrap_or("").to_owned(), e["healthStatus"].as_str().unwrap_or("").to_owned())).collect()
        })
        .unwrap_or_default()
}

/// Polls GetHealthStatus until `want` holds (deep health runs every 5 s in this deployment).
async fn wait_health(c: &mut Client, what: &str, want: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, h) = c.health().await;
        let st = statuses(&h);
        if s == 200 && want(&st) {
            return st;
        }
        assert!(Instant::now() < deadline, "health never showed {what}: {s} {h}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Spec §4 (APIs) and "Error codes", through the images: every API, every key
/// state, and a sample of every error class; the container logs never hold a
/// plaintext or an AAD that was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_round_trips_and_error_paths_through_the_containers() {
    if !docker_required() {
        return;
    }
    let mut cluster = Cluster::start("spec").await;
    let mut c = cluster.client();

    // GetHealthStatus: one entry per partner, both ACTIVE after the first deep check.
    let st = wait_health(&mut c, "both ACTIVE", |st| st.iter().filter(|(_, h)| h == "ACTIVE").count() >= 2).await;
    assert!(st.iter().any(|(id, _)| id.contains("share-2")) && st.iter().any(|(id, _)| id.contains("share-3")), "{st:?}");
    // Build identity (docs/auditing.md): the proxy names the SHA-256 of the
    // binary its image holds (the first 16 hex digits, in xksProxyModel).
    let exe = cluster.root.join("xks-proxy-from-image");
    docker(&["cp", "-L", &format!("{}:/bin/xks-proxy", cluster.container_name(PROXY)), exe.to_str().unwrap()]).unwrap();
    let sum = std::process::Command::new("sha256sum").arg(&exe).output().unwrap();
    let digest = String::from_utf8_lossy(&sum.stdout).split_whitespace().next().unwrap().to_owned();
    let (_, h) = c.health().await;
    assert!(h["xksProxyModel"].as_str().unwrap().ends_with(&format!("(sha256 {})", &digest[..16])), "{h} vs {digest}");

    // GetKeyMetadata.
    let n = 1;
    let (s, r) =
        c.call("/keys/demo-key-1/metadata", &serde_json::json!({"requestMetadata": metadata("DescribeKey", "demo-key-1", n)})).await;
    assert_eq!((s, r["keySpec"].as_str(), r["keyStatus"].as_str()), (200, Some("AES_256"), Some("ENABLED")), "{r}");

    // Encrypt / Decrypt round trips under two keys; each key is its own.
    let secret_1: &[u8] = b"e2e-plaintext-one: IBAN DE89 3704 0044 0532 0130 00";
    let secret_2: &[u8] = b"e2e-plaintext-two: patient record 4711";
    let aad: &[u8] = b"e2e-aad-tenant=blue";
    let (s, e1) = c.encrypt("demo-key-1", secret_1, aad).await;
    assert_eq!(s, 200, "{e1}");
    assert!(e1["ciphertextDataIntegrityValue"].is_string(), "CDIV (Appendix C): {e1}");
    c.assert_decrypts("demo-key-1", &e1, aad, secret_1).await;
    let (s, e2) = c.encrypt("demo-key-2", secret_2, aad).await;
    assert_eq!(s, 200, "{e2}");
    c.assert_decrypts("demo-key-2", &e2, aad, secret_2).await;
    let (s, r) = c.decrypt("demo-key-2", &e1, aad).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "another key's ciphertext");
    let (s, r) = c.decrypt("demo-key-1", &e1, b"other aad").await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "AAD is authenticated");
    let mut tampered = e1.clone();
    tampered["authenticationTag"] = "AAAAAAAAAAAAAAAAAAAAAA==".into();
    let (s, r) = c.decrypt("demo-key-1", &tampered, aad).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "tag");

    // Key state and usage (spec: KeyNotFoundException, InvalidStateException, InvalidKeyUsageException).
    let (s, r) = c.encrypt("no-such-key", b"x", b"").await;
    assert_eq!((s, err(&r)), (404, "KeyNotFoundException"));
    let (s, r) = c.encrypt("demo-disabled", b"x", b"").await;
    assert_eq!((s, err(&r)), (400, "InvalidStateException"));
    let (s, r) = c.encrypt("demo-decrypt-only", b"x", b"").await;
    assert_eq!((s, err(&r)), (400, "InvalidKeyUsageException"));

    // Serverless platforms pass environment variables, not files: a second
    // proxy started from one bundle (xks-proxy --files-from-env, as
    // terraform/modules/xks-proxy-scaleway runs it) serves the same keys.
    cluster.create_proxy_from_bundle(PROXY_FROM_BUNDLE).await;
    let mut bundled = cluster.client().at(format!("{}:{PROXY_PORT}", cluster.ip(PROXY_FROM_BUNDLE)).parse().unwrap());
    let (s, e3) = bundled.encrypt("demo-key-1", secret_2, aad).await;
    assert_eq!(s, 200, "through the proxy started from a bundle: {e3}");
    c.assert_decrypts("demo-key-1", &e3, aad, secret_2).await;
    bundled.assert_decrypts("demo-key-1", &e1, aad, secret_1).await;

    // Validation, size limit, URI path, method, authentication.
    let (s, r) = c.call("/keys/demo-key-1/encrypt", &serde_json::json!({"requestMetadata": metadata("Encrypt", "demo-key-1", 2)})).await;
    assert_eq!((s, err(&r)), (400, "ValidationException"), "missing plaintext");
    let (s, r) = c.encrypt("demo-key-1", &vec![7u8; 65_537], b"").await;
    assert_eq!((s, err(&r)), (501, "UnsupportedOperationException"), "above the size limit");
    let (s, r) = c.send("POST", "/keystores/other/kms/xks/v1/keys/demo-key-1/encrypt", b"{}".to_vec(), None).await.unwrap();
    assert_eq!((s, err(&serde_json::from_slice(&r).unwrap())), (404, "InvalidUriPathException"));
    let (s, _) = c.send("GET", &format!("{URI}/health"), Vec::new(), None).await.unwrap();
    assert_eq!(s, 405, "GET");
    let body =
        serde_json::json!({"requestMetadata": metadata("Encrypt", "demo-key-1", 3), "plaintext": "AA==", "encryptionAlgorithm": "AES_GCM"});
    let (s, r) = c
        .send(
            "POST",
            &format!("{URI}/keys/demo-key-1/encrypt"),
            body.to_string().into_bytes(),
            Some("wrongSecretwrongSecretwrongSecretwrongSecre"),
        )
        .await
        .unwrap();
    assert_eq!((s, err(&serde_json::from_slice(&r).unwrap())), (401, "AuthenticationFailedException"));

    // Secondary authorization (spec "Authorization": AccessDeniedException) and the key
    // store's quota (429 ThrottlingException), switched on by editing the key-store file and
    // sending SIGHUP to the container: a reload without a restart.
    std::fs::write(
        cluster.state.join("proxy/policy.cedar"),
        "permit(principal, action, resource);\n\
         @id(\"no-intruder\") forbid(principal, action, resource) when { context.awsPrincipalArn like \"*:role/intruder\" };\n",
    )
    .unwrap();
    let stores_path = cluster.state.join("proxy/key-stores.toml");
    let stores = std::fs::read_to_string(&stores_path).unwrap();
    let stores = stores.replacen(
        "credentials_file = \"credentials.sops\"\n",
        "credentials_file = \"credentials.sops\"\nauthorization_policy = \"policy.cedar\"\nrequests_per_second = 20\nburst = 20\n",
        1,
    );
    std::fs::write(&stores_path, stores).unwrap();
    cluster.hand_over();
    docker(&["kill", "--signal", "HUP", &cluster.container_name(PROXY)]).unwrap();
    let mut denied =
        serde_json::json!({"requestMetadata": metadata("Encrypt", "demo-key-1", 4), "plaintext": "AA==", "encryptionAlgorithm": "AES_GCM"});
    denied["requestMetadata"]["awsPrincipalArn"] = "arn:aws:iam::111122223333:role/intruder".into();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, r) = c.call("/keys/demo-key-1/encrypt", &denied).await;
        if s == 403 {
            assert_eq!(err(&r), "AccessDeniedException", "{r}");
            break;
        }
        assert!(Instant::now() < deadline, "the reloaded policy never denied: {s} {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut throttled = 0;
    for i in 0..60 {
        let (s, r) = c
            .call("/keys/demo-key-1/metadata", &serde_json::json!({"requestMetadata": metadata("DescribeKey", "demo-key-1", 100 + i)}))
            .await;
        if s == 429 {
            assert_eq!(err(&r), "ThrottlingException", "{r}");
            throttled += 1;
        }
    }
    assert!(throttled > 0, "60 requests at once exceed 20/s with a burst of 20");

    // The partner saw the uses: its audit log has records, and verifies.
    let audit = cluster.state.join("share-2/audit");
    let out = Command::new(bin_dir().join("xksctl")).args(["audit", "verify"]).arg(&audit).output().unwrap();
    assert!(out.status.success(), "audit verify: {}", String::from_utf8_lossy(&out.stderr));

    assert_logs_hold_none_of(&cluster, &[secret_1, secret_2, aad]).await;
}

/// docs/xks-proxy.md, the partner pool: share-2 stopped under load → share-3 answers
/// with the same key; share-2 cut off the network → the same; both partners
/// gone → DependencyTimeoutException/InternalException inside KMS's budget, and
/// GetHealthStatus answers the same error (no 200 while nothing can be served);
/// partners back → recovery without restarting the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_partition_and_loss_of_both_partners_recover_without_restart() {
    if !docker_required() {
        return;
    }
    let cluster = Cluster::start("failover").await;
    let mut c = cluster.client();
    let (s, before) = c.encrypt("demo-key-1", b"made with share-2", b"").await;
    assert_eq!(s, 200, "{before}");

    // Stop share-2 while the load runs.
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.stop(SHARE_2).await;
    };
    let (l, ()) = tokio::join!(load(&cluster, 4, Duration::from_secs(6), "demo-key-1"), stopper);
    println!("share-2 stopped under load: {}", l.summary());
    assert_eq!(l.wrong, 0);
    assert_eq!(l.failed(), 0, "every request succeeds via share-3: {}", l.summary());
    assert!(l.ok() > 50, "{}", l.summary());
    // Same key: what share-2 helped encrypt decrypts with share-3.
    c.assert_decrypts("demo-key-1", &before, b"", b"made with share-2").await;

    // share-2 back; then a partition: share-2 cut off the network while running.
    cluster.restart(SHARE_2).await;
    let cut = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.disconnect(SHARE_2);
    };
    let (l, ()) = tokio::join!(load(&cluster, 4, Duration::from_secs(5), "demo-key-1"), cut);
    println!("share-2 partitioned under load: {}", l.summary());
    assert_eq!((l.wrong, l.failed()), (0, 0), "{}", l.summary());
    assert!(l.max() < KMS_BUDGET, "every answer inside KMS's budget: {}", l.summary());
    cluster.connect(SHARE_2);

    // Both partners gone: clean, fast errors, and health says so.
    cluster.stop(SHARE_2).await;
    cluster.stop(SHARE_3).await;
    for i in 0..10u8 {
        let t0 = Instant::now();
        let (s, r) = c.encrypt("demo-key-1", &[i; 8], b"").await;
        let took = t0.elapsed();
        assert!(
            (s, err(&r)) == (503, "DependencyTimeoutException") || (s, err(&r)) == (500, "InternalException"),
            "both partners down: {s} {r}"
        );
        assert!(took < KMS_BUDGET, "answered in {took:?}, inside KMS's 250 ms");
    }
    // Spec GetHealthStatus: no 200 while nothing can be served (issue 15 §4).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, h) = c.health().await;
        if s == 503 || s == 500 {
            assert!(["DependencyTimeoutException", "InternalException"].contains(&err(&h)), "{h}");
            println!("health with both partners down: {s} {h}");
            break;
        }
        assert!(Instant::now() < deadline, "health never reported that nothing can be served: {s} {h}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Back: the same proxy process serves again.
    cluster.restart(SHARE_3).await;
    cluster.restart(SHARE_2).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, r) = c.encrypt("demo-key-1", b"after recovery", b"").await;
        if s == 200 {
            c.assert_decrypts("demo-key-1", &r, b"", b"after recovery").await;
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {s} {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_health(&mut c, "both ACTIVE again", |st| st.iter().filter(|(_, h)| h == "ACTIVE").count() >= 2).await;
    c.assert_decrypts("demo-key-1", &before, b"", b"made with share-2").await;
    assert_logs_hold_none_of(&cluster, &[b"made with share-2", b"after recovery"]).await;
}

/// docs/architecture.md §2: the partner's kill switch takes effect on the
/// very next request (share-3 as the cold standby it is in the reference
/// deployment: not running); a Byzantine partner never yields a wrong
/// ciphertext or plaintext; restarting every container keeps old ciphertext
/// decryptable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_byzantine_partner_and_restart_of_everything() {
    if !docker_required() {
        return;
    }
    let cluster = Cluster::start("killswitch").await;
    let mut c = cluster.client();
    let mut sealed = Vec::new();
    for i in 0..5u8 {
        let p = format!("kept-secret-{i}");
        let (s, r) = c.encrypt("demo-key-1", p.as_bytes(), b"k").await;
        assert_eq!(s, 200, "{r}");
        sealed.push((p, r));
    }

    // Kill switch: share-3 is the cold standby (stopped); share-2's operator acts alone.
    cluster.stop(SHARE_3).await;
    let r = cluster.admin(SHARE_2, "deny local/demo-key-1").await;
    assert!(r.contains("true") || r.contains("ok"), "{r}");
    let (s, r) = c.encrypt("demo-key-1", b"denied", b"").await;
    assert_ne!(s, 200, "a denied key path fails closed on the next request: {r}");
    let (s, r) = c.decrypt("demo-key-1", &sealed[0].1, b"k").await;
    assert_ne!(s, 200, "and cannot be decrypted either: {r}");
    let (s, r) = c.encrypt("demo-key-2", b"other key", b"").await;
    assert_eq!(s, 200, "other key paths keep working: {r}");
    cluster.admin(SHARE_2, "allow local/demo-key-1").await;
    cluster.admin(SHARE_2, "lock e2e drill").await;
    let (s, r) = c.encrypt("demo-key-2", b"locked", b"").await;
    assert_ne!(s, 200, "lock: every key fails closed on the next request: {r}");
    cluster.admin(SHARE_2, "unlock").await;
    let (s, r) = c.encrypt("demo-key-1", b"unlocked", b"").await;
    assert_eq!(s, 200, "unlocked: {r}");
    cluster.restart(SHARE_3).await;

    // Byzantine share-2: a share of another key set under the same holder id,
    // generation and epoch: valid-looking partials with proofs that fail against our key set.
    let evil = cluster.root.join("evil");
    let recipient = std::fs::read_to_string(cluster.state.join("identities/holder-2.agekey"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap();
    let mut args = vec!["ceremony".to_owned(), "dealer".into(), "-o".into(), evil.display().to_string()];
    for i in 1..=3 {
        args.push("--holder".into());
        args.push(format!("{i}={recipient}"));
    }
    let out = Command::new(bin_dir().join("xksctl")).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let share_2_dir = cluster.state.join(SHARE_2);
    std::fs::create_dir_all(share_2_dir.join("evil")).unwrap();
    std::fs::copy(evil.join("keyset-g1-e0.json"), share_2_dir.join("evil/keyset.json")).unwrap();
    std::fs::copy(evil.join("share-2-g1-e0.sops.json"), share_2_dir.join("evil/share.sops.json")).unwrap();
    let cfg_path = share_2_dir.join("share-service.toml");
    let honest = std::fs::read_to_string(&cfg_path).unwrap();
    let byzantine = honest
        .replace("\"../keys/keyset-g1-e0.json\"", "\"evil/keyset.json\"")
        .replace("\"../keys/share-2-g1-e0.sops.json\"", "\"evil/share.sops.json\"");
    assert_ne!(honest, byzantine);
    cluster.stop(SHARE_2).await;
    std::fs::write(&cfg_path, &byzantine).unwrap();
    cluster.hand_over();
    cluster.restart(SHARE_2).await;
    let l = load(&cluster, 2, Duration::from_secs(3), "demo-key-1").await;
    println!("Byzantine share-2 with honest share-3: {}", l.summary());
    assert_eq!((l.wrong, l.failed()), (0, 0), "the honest partner serves every request: {}", l.summary());
    for (p, r) in &sealed {
        c.assert_decrypts("demo-key-1", r, b"k", p.as_bytes()).await;
    }
    cluster.stop(SHARE_3).await;
    for _ in 0..5 {
        let (s, r) = c.encrypt("demo-key-1", b"never under a wrong key", b"").await;
        assert!(s == 500 || s == 503, "Byzantine partner alone: a clean error, never a ciphertext: {s} {r}");
        let (s, r) = c.decrypt("demo-key-1", &sealed[1].1, b"k").await;
        assert!(s != 200 || r["plaintext"].as_str() == Some("a2VwdC1zZWNyZXQtMQ=="), "never a wrong plaintext: {r}");
    }
    cluster.stop(SHARE_2).await;
    std::fs::write(&cfg_path, &honest).unwrap();
    cluster.hand_over();

    // Restart everything: the proxy too. Old ciphertext still decrypts.
    cluster.stop(PROXY).await;
    cluster.restart(SHARE_2).await;
    cluster.restart(SHARE_3).await;
    cluster.restart(PROXY).await;
    let mut c = cluster.client();
    for (p, r) in &sealed {
        c.assert_decrypts("demo-key-1", r, b"k", p.as_bytes()).await;
    }
    let secrets: Vec<&[u8]> = sealed.iter().map(|(p, _)| p.as_bytes()).collect();
    assert_logs_hold_none_of(&cluster, &secrets).await;

    // The checkpoints the proxy witnessed from share-2 across these restarts, and share-2's
    // own (its shutdown checkpoint last), verify under its key, and its audit log reproduces
    // every one of them (docs/oversight.md, "Checkpoints").
    cluster.stop(SHARE_2).await;
    let witness = cluster.state.join("proxy/witness/share-2.checkpoints.jsonl");
    let held = std::fs::read_to_string(&witness).unwrap_or_default();
    assert!(held.lines().count() >= 2, "the proxy witnessed share-2's start checkpoints: {held:?}");
    let out = Command::new(bin_dir().join("xksctl"))
        .args(["audit", "verify"])
        .arg(cluster.state.join("share-2/audit"))
        .arg("--checkpoints")
        .arg(&witness)
        .arg("--checkpoints")
        .arg(cluster.state.join("share-2/audit/checkpoints.jsonl"))
        .arg("--checkpoint-key")
        .arg(cluster.state.join("keys/checkpoint-2.pub"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("\"checkpoints\"") && report.contains("\"findings\": []"), "{report}");
}

/// A WAN-like link to share-2 (the reference deployment: Paris ↔ Geneva,
/// 5–15 ms round trips): a delaying relay the test controls between the proxy
/// and share-2 (this machine's kernel has no `sch_netem`), adding 10 ms ± 5 ms
/// per round trip and 0.5 % loss-like 200 ms stalls, under load: p99.9 inside
/// the proxy's 200 ms budget. Then share-2 made very slow (+150 ms): share-3's
/// partial, used once share-2's attempt times out, keeps every request inside
/// KMS's 250 ms. The figures go to docs/benchmarks.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wan_link_to_the_partner_and_a_very_slow_primary() {
    if !docker_required() {
        return;
    }
    let cluster = Cluster::start("wan").await;
    let upstream = format!("{}:9442", cluster.ip(SHARE_2)).parse().unwrap();
    let relay = relay::Relay::start(&cluster.gateway(), upstream).await;
    cluster.reroute_partner(SHARE_2, &relay.addr.to_string()).await;
    let mut c = cluster.client();
    let (s, r) = c.encrypt("demo-key-1", b"through the relay", b"").await;
    assert_eq!(s, 200, "{r}");

    let base = load(&cluster, 8, Duration::from_secs(8), "demo-key-1").await;
    println!("FIGURE baseline (container bridge, relay without delay): {}", base.summary());
    assert_eq!((base.wrong, base.failed()), (0, 0), "{}", base.summary());

    relay.link.set(Duration::from_millis(10), Duration::from_millis(5), 0.5);
    let wan = load(&cluster, 8, Duration::from_secs(10), "demo-key-1").await;
    println!("FIGURE WAN link to share-2 (+10 ms ± 5 ms RTT, 0.5 % stalls of 200 ms): {}", wan.summary());
    assert_eq!((wan.wrong, wan.failed()), (0, 0), "{}", wan.summary());
    // A stalled segment now costs share-2's attempt timeout (150 ms), not the
    // hedge delay: share-3's partial is held while share-2, preferred, may still
    // refuse (issue 15 §1). Inside the proxy's 200 ms budget, so inside KMS's 250 ms.
    assert!(wan.quantile(0.999) < Duration::from_millis(200), "p99.9 inside the 200 ms budget: {}", wan.summary());

    relay.link.set(Duration::from_millis(150), Duration::ZERO, 0.0);
    let slow = load(&cluster, 8, Duration::from_secs(10), "demo-key-1").await;
    println!("FIGURE share-2 +150 ms, hedging to share-3: {}", slow.summary());
    assert_eq!((slow.wrong, slow.failed()), (0, 0), "{}", slow.summary());
    assert!(slow.max() < KMS_BUDGET, "every request inside the budget: {}", slow.summary());
    let m = cluster.log_of(PROXY).await;
    assert!(m.contains("\"hedged\":true") || m.contains("hedged=true"), "hedged requests are logged as such");
}
