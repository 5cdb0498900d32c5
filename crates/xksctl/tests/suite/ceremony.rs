//! Dealer ceremony → sealed material → a real share service and a real proxy
//! run on it and round-trip data; every bad input of the ceremony is refused
//! with a message, a non-zero exit and nothing written.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dealer_material_runs_the_share_services_and_the_proxy() {
    let dir = test_dir("dealer");
    let (ids, holders) = holders(&dir, 3);
    let out = dir.join("ceremony");
    let mut args = vec!["ceremony", "dealer", "--threshold", "2", "--out-dir"];
    let out_s = p(&out);
    args.push(&out_s);
    for h in &holders {
        args.extend(["--holder", h.as_str()]);
    }
    ok(&args);
    let ks = vec![out.join("keyset-g1-e0.json")];
    let share = |i: u32| vec![out.join(format!("share-{i}-g1-e0.sops.json"))];
    // Born sealed: the share scalar is nowhere in plaintext.
    for i in 1..=3u32 {
        let text = std::fs::read_to_string(&share(i)[0]).unwrap();
        assert!(text.contains("\"share\": \"ENC[AES256_GCM,") && text.contains("\"sops\""), "{text}");
        ok(&["share", "verify", &p(&share(i)[0]), "--key-set", &p(&ks[0]), "--identity", &p(&ids[i as usize - 1])]);
    }

    let pki = Pki::new(&dir);
    let s2 = share_service(&dir, &pki, 2, &ks, &share(2), &ids[1]).await;
    let s3 = share_service(&dir, &pki, 3, &ks, &share(3), &ids[2]).await;
    let via2 = proxy(&dir, &pki, &ks, &share(1), &ids[0], &[(2, s2.addr)]).await;
    let sealed = encrypt(via2.addr, "key-1", b"dealt and sealed").await;
    assert_eq!(decrypt(via2.addr, "key-1", &sealed).await.unwrap(), b"dealt and sealed");
    // Any two holders derive the same key: a proxy that only knows share 3 decrypts it.
    let via3 = proxy(&dir, &pki, &ks, &share(1), &ids[0], &[(3, s3.addr)]).await;
    assert_eq!(decrypt(via3.addr, "key-1", &sealed).await.unwrap(), b"dealt and sealed");
    // The proxy cannot open share 1 with holder 2's identity: start-up fails, naming the file.
    let err = try_proxy(&dir, &pki, &ks, &share(1), &ids[1], &[(2, s2.addr)]).await.err().unwrap();
    assert!(err.contains("share-1-g1-e0.sops.json") && err.contains("none of the given age identities"), "{err}");
    via2.shutdown().await;
    via3.shutdown().await;
    s2.shutdown().await;
    s3.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_ceremony_inputs_are_refused_and_nothing_is_written() {
    let dir = test_dir("dealer-bad");
    let (ids, h) = holders(&dir, 3);
    let dealer = |out: &str, t: &str, hs: &[&str]| {
        let mut a = vec!["ceremony", "dealer", "-t", t, "-o", out];
        for x in hs {
            a.extend(["--holder", x]);
        }
        cli(&a)
    };
    let out = p(&dir.join("out"));
    let cases: [(&str, Vec<&str>, &str); 4] = [
        ("4", vec![&h[0], &h[1], &h[2]], "larger than the number of holders"),
        ("2", vec![&h[0], &h[1], &h[1]], "holder 2 is given twice"),
        ("2", vec![&h[0], &h[2]], "holder ids must be exactly 1..=2"),
        ("0", vec![&h[0], &h[1]], "threshold"),
    ];
    for (t, hs, msg) in cases {
        let (code, _, err) = dealer(&out, t, &hs);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(msg), "{msg}: {err}");
        assert!(!dir.join("out").exists(), "{msg}: something was written");
    }
    let (code, _, err) = dealer(&out, "2", &["1=age1notarecipient"]);
    assert_eq!(code, 2, "{err}"); // a malformed argument is a usage error
    assert!(err.contains("not an age X25519 recipient"), "{err}");

    // Existing outputs: refused, the existing files untouched, no new file added.
    let (code, ..) = dealer(&out, "2", &[&h[0], &h[1], &h[2]]);
    assert_eq!(code, 0);
    let before: Vec<_> = std::fs::read_dir(dir.join("out")).unwrap().map(|e| e.unwrap().path()).collect();
    let ks_text = std::fs::read_to_string(dir.join("out/keyset-g1-e0.json")).unwrap();
    let (code, _, err) = dealer(&out, "2", &[&h[0], &h[1], &h[2]]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists") && err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("out/keyset-g1-e0.json")).unwrap(), ks_text);
    assert_eq!(std::fs::read_dir(dir.join("out")).unwrap().count(), before.len());

    let ks = p(&dir.join("out/keyset-g1-e0.json"));
    let s2 = dir.join("out/share-2-g1-e0.sops.json");
    // Wrong identity.
    let (code, _, err) = cli(&["share", "verify", &p(&s2), "--key-set", &ks, "-i", &p(&ids[0])]);
    assert_eq!(code, 1);
    assert!(err.contains("none of the given age identities") && err.contains("sealed to"), "{err}");
    // Missing identity.
    let (code, _, err) = cli(&["share", "verify", &p(&s2), "--key-set", &ks]);
    assert_eq!(code, 1);
    assert!(err.contains("no age identity"), "{err}");
    // A share from another key set.
    let other = p(&dir.join("other"));
    assert_eq!(dealer(&other, "2", &[&h[0], &h[1], &h[2]]).0, 0);
    let (code, _, err) = cli(&["share", "verify", &p(&dir.join("other/share-2-g1-e0.sops.json")), "--key-set", &ks, "-i", &p(&ids[1])]);
    assert_eq!(code, 1);
    assert!(err.contains("does not belong to key set"), "{err}");
    // Corrupted: a changed public field (MAC), a changed encrypted byte (GCM tag), truncated.
    let text = std::fs::read_to_string(&s2).unwrap();
    let corrupt = [
        ("epoch", text.replace("\"epoch\": 0", "\"epoch\": 1"), "integrity check failed"),
        (
            "share",
            {
                let i = text.find("data:").unwrap() + 5;
                let mut b = text.clone().into_bytes();
                b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                String::from_utf8(b).unwrap()
            },
            "integrity check failed",
        ),
        ("truncated", text[..text.len() / 2].to_owned(), "syntax"),
    ];
    for (what, bad, msg) in corrupt {
        let f = dir.join(format!("corrupt-{what}.sops.json"));
        std::fs::write(&f, bad).unwrap();
        let (code, _, err) = cli(&["share", "verify", &p(&f), "--key-set", &ks, "-i", &p(&ids[1])]);
        assert_eq!(code, 1, "{what}");
        assert!(err.contains(msg), "{what}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
