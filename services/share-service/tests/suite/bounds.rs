//! Refresh (two epochs at once), resource bounds and configuration overlay.

use crate::common::Deployment;
use xks_threshold::{Combiner, CombiningSet, HolderId, HolderKey, KeyPath, Partial, refresh};

fn set(ids: &[u32]) -> CombiningSet {
    CombiningSet::new(ids.iter().map(|i| HolderId::new(*i).unwrap())).unwrap()
}

#[tokio::test]
async fn during_a_refresh_both_epochs_are_answered_as_asked() {
    let mut d = Deployment::start("epochs", |_| {}).await;
    let hk: Vec<HolderKey> = (0..3).map(|i| d.holder_key(i)).collect();
    let (c, deltas) = refresh::contribute(&d.layout().key_set, &mut rand_core::OsRng).unwrap();
    let next: Vec<HolderKey> = hk.iter().map(|h| refresh::refresh_share(h, std::slice::from_ref(&c), &deltas).unwrap()).collect();
    let ks1 = next[1].key_set().clone();
    std::fs::write(d.dir().join("keyset-e1.json"), ks1.to_json().unwrap()).unwrap();
    std::fs::write(d.dir().join("share-e1.json"), next[1].share().to_json().unwrap().as_bytes()).unwrap();
    d.reconfigure(|c| {
        c.shares.key_sets.push("keyset-e1.json".into());
        c.shares.share_files.push("share-e1.json".into());
    })
    .await;
    let mut client = d.client();
    let kp = KeyPath::new("ks1/k").unwrap().to_point().unwrap();
    let mut keys = vec![];
    for (epoch, ks, own) in [(0u32, d.layout().key_set.clone(), &hk[0]), (1, ks1.clone(), &next[0])] {
        let body = serde_json::json!({"version": 1, "requestId": "r", "keyPath": "ks1/k", "generation": 1, "epoch": epoch, "set": [1, 2], "proof": true});
        let (status, text) = client.request("POST", "/v1/partial", Some("application/json"), body.to_string().into_bytes()).await.unwrap();
        assert_eq!(status, 200, "{text}");
        let p = Partial::from_json(&text).unwrap();
        assert_eq!(p.epoch(), epoch);
        let combiner = Combiner::new(ks, set(&[1, 2])).unwrap();
        let v = combiner.verify(&kp, p).unwrap();
        let mine = own.evaluate_own(&kp, &set(&[1, 2])).unwrap();
        keys.push(combiner.combine(&kp, &[&mine, &v]).unwrap());
    }
    let e = keys[0].encrypt(b"x", b"", &mut rand_core::OsRng).unwrap();
    assert!(keys[1].decrypt(&e.ciphertext, &e.metadata, &e.iv, &e.tag, b"").is_ok(), "refresh keeps the key");
}

/// Issue 15 §2 at the share service: connections that never complete the
/// mutual TLS handshake cannot keep the proxy out (the oldest is evicted);
/// only when every open connection is authenticated is a new one refused.
#[tokio::test]
async fn connection_and_request_rate_bounds_hold() {
    let d = Deployment::start("bounds", |c| {
        (c.limits.max_connections, c.limits.max_handshaking_connections, c.limits.max_requests_per_second) = (3, 1, 5);
    })
    .await;
    let mut strangers = vec![];
    for _ in 0..10 {
        strangers.push(tokio::net::TcpStream::connect(d.addr()).await.unwrap());
    }
    let mut a = d.client();
    let mut b = d.client();
    let mut c = d.client();
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.request("GET", "/v1/health", None, vec![]).await.unwrap().0, 200);
    }
    // Three authenticated connections: the fourth is closed at accept.
    assert!(d.client().request("GET", "/v1/health", None, vec![]).await.is_err());
    let counters = d.running().app.0.metrics.connections().counters();
    assert!(counters.refused.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(counters.evicted.load(std::sync::atomic::Ordering::Relaxed) >= 10, "every stranger made room");
    // A burst over 5 requests/s gets 429 with a JSON body.
    let mut statuses = vec![];
    for _ in 0..12 {
        statuses.push(a.partial("ks1/k", &[1, 2], false).await);
    }
    assert!(statuses.iter().any(|(s, _)| *s == 200));
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert!(!limited.is_empty(), "{statuses:?}");
    assert!(limited[0].1.contains("rate_limited"));
    // After the bucket refills, requests pass again.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(a.partial("ks1/k", &[1, 2], false).await.0, 200);
}

#[test]
fn environment_overrides_the_file_and_invalid_values_are_refused_at_start() {
    let path = crate::common::write_files("config", |_| {});
    // figment's Jail sets environment variables for the closure only.
    figment::Jail::expect_with(|jail| {
        jail.set_env("SHARE_SERVICE_LIMITS__MAX_BODY_BYTES", "300");
        let cfg = share_service::Config::load(&path).unwrap();
        assert_eq!(cfg.limits.max_body_bytes, 300);
        assert!(cfg.shares.key_sets[0].is_absolute(), "relative paths resolve against the file");
        jail.set_env("SHARE_SERVICE_LIMITS__MAX_BODY_BYTES", "10");
        let err = share_service::Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("max_body_bytes"), "{err}");
        Ok(())
    });
    // Issue 15 §6: no pinned client identity, and not explicitly allowed: refused.
    let unpinned = crate::common::write_files("config-unpinned", |c| c.tls.allowed_clients.clear());
    let err = share_service::Config::load(&unpinned).unwrap_err().to_string();
    assert!(err.contains("allowed_clients is empty") && err.contains("allow_any_client"), "{err}");
    let any = crate::common::write_files("config-any", |c| {
        c.tls.allowed_clients.clear();
        c.tls.allow_any_client = true;
    });
    assert!(share_service::Config::load(&any).is_ok());
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + "\nunknown_key = 1\n").unwrap();
    let err = share_service::Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("unknown_key"), "{err}");
}
