//! Key lifecycle through the CLI, each result run by a real share service and
//! a real proxy: DKG works like a dealer key set; refresh keeps every key and
//! retires old shares (with the two-epoch rollout); repair restores a lost
//! share; rotation keeps old ciphertext decrypting while new ciphertext uses
//! the new generation.

use std::path::{Path, PathBuf};

use crate::common::*;

fn dealer(out: &Path, holders: &[String]) {
    let out = p(out);
    let mut a = vec!["ceremony", "dealer", "-t", "2", "-o", &out];
    for h in holders {
        a.extend(["--holder", h.as_str()]);
    }
    ok(&a);
}

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .map(|f| p(&f))
        .collect();
    v.sort();
    v
}

fn with(args: &[&str], flag: &str, values: &[String]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    for x in values {
        v.push(flag.to_owned());
        v.push(x.clone());
    }
    v
}

fn run(args: Vec<String>) -> String {
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkg_in_file_rounds_works_like_a_dealer_key_set() {
    let dir = test_dir("dkg");
    let (ids, holders) = holders(&dir, 3);
    let recipient = |i: usize| holders[i].split_once('=').unwrap().1.to_owned();
    let home = |i: usize| dir.join(format!("holder-{}", i + 1));
    for i in 0..3 {
        let id = (i + 1).to_string();
        ok(&["ceremony", "dkg", "round1", "--holder", &id, "-t", "2", "--holders", "3", "--recipient", &recipient(i), "-o", &p(&home(i))]);
    }
    let round1: Vec<String> = (0..3).flat_map(|i| files(&home(i), "dkg-g1-round1-")).collect();
    assert_eq!(round1.len(), 3);
    for i in 0..3 {
        let others: Vec<String> = (0..3).filter(|j| *j != i).map(|j| holders[j].clone()).collect();
        let state = p(&home(i).join(format!("dkg-g1-state1-{}.sops.json", i + 1)));
        let args = with(&["ceremony", "dkg", "round2", "--state", &state, "-i", &p(&ids[i]), "-o", &p(&home(i))], "--holder", &others);
        run(with(&args.iter().map(String::as_str).collect::<Vec<_>>(), "--round1", &round1));
    }
    let round2: Vec<String> = (0..3).flat_map(|i| files(&home(i), "dkg-round2-")).collect();
    assert_eq!(round2.len(), 6);
    for i in 0..3 {
        let state = p(&home(i).join(format!("dkg-state2-{}.sops.json", i + 1)));
        let args = with(
            &["ceremony", "dkg", "finalize", "--state", &state, "-i", &p(&ids[i]), "-o", &p(&home(i).join("keys"))],
            "--round1",
            &round1,
        );
        run(with(&args.iter().map(String::as_str).collect::<Vec<_>>(), "--round2", &round2));
    }
    // Every holder computed the same public key set.
    let ks: Vec<String> = (0..3).map(|i| std::fs::read_to_string(home(i).join("keys/keyset-g1-e0.json")).unwrap()).collect();
    assert!(ks[0] == ks[1] && ks[1] == ks[2]);
    let ks = vec![home(0).join("keys/keyset-g1-e0.json")];
    let share = |i: usize| vec![home(i).join(format!("keys/share-{}-g1-e0.sops.json", i + 1))];
    for i in 0..3 {
        ok(&["share", "verify", &p(&share(i)[0]), "--key-set", &p(&ks[0]), "-i", &p(&ids[i])]);
    }
    let pki = Pki::new(&dir);
    let s2 = share_service(&dir, &pki, 2, &ks, &share(1), &ids[1]).await;
    let s3 = share_service(&dir, &pki, 3, &ks, &share(2), &ids[2]).await;
    let via2 = proxy(&dir, &pki, &ks, &share(0), &ids[0], &[(2, s2.addr)]).await;
    let via3 = proxy(&dir, &pki, &ks, &share(0), &ids[0], &[(3, s3.addr)]).await;
    let sealed = encrypt(via2.addr, "key-2", b"no machine held the secret").await;
    assert_eq!(decrypt(via3.addr, "key-2", &sealed).await.unwrap(), b"no machine held the secret");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_keeps_every_key_retires_old_shares_and_rolls_out_in_two_epochs() {
    let dir = test_dir("refresh");
    let (ids, holders) = holders(&dir, 3);
    let e0 = dir.join("e0");
    dealer(&e0, &holders);
    let ks0 = e0.join("keyset-g1-e0.json");
    let share0 = |i: usize| e0.join(format!("share-{}-g1-e0.sops.json", i + 1));
    // Every holder contributes.
    let rdir = dir.join("refresh");
    for i in 1..=3 {
        let args = with(&["refresh", "contribute", "--key-set", &p(&ks0), "--from", &i.to_string(), "-o", &p(&rdir)], "--holder", &holders);
        run(args);
    }
    let contributions: Vec<String> = files(&rdir, "refresh-").into_iter().filter(|f| !f.ends_with(".sops.json")).collect();
    let deltas: Vec<String> = files(&rdir, "refresh-").into_iter().filter(|f| f.ends_with(".sops.json")).collect();
    assert_eq!((contributions.len(), deltas.len()), (3, 9));
    let e1 = |i: usize| dir.join(format!("e1-holder-{}", i + 1));
    let apply = |i: usize, out: &Path, contributions: &[String], deltas: &[String]| {
        let args = with(
            &["refresh", "apply", "--key-set", &p(&ks0), "--share", &p(&share0(i)), "-i", &p(&ids[i]), "-o", &p(out)],
            "--contribution",
            contributions,
        );
        let printed = run(with(&args.iter().map(String::as_str).collect::<Vec<_>>(), "--delta", deltas));
        let digest = printed.split("key set digest ").nth(1).and_then(|r| r.get(..64)).map(str::to_owned);
        digest.unwrap_or_else(|| panic!("no digest printed: {printed}"))
    };
    let digests: Vec<String> = (0..3).map(|i| apply(i, &e1(i), &contributions, &deltas)).collect();
    assert!(digests.iter().all(|d| *d == digests[0]), "every holder prints the same digest: {digests:?}");
    // Issue 15 §6: a holder that applied another set of contributions gets a key
    // set with the same id; the digest shows the divergence.
    let partial_c: Vec<String> = contributions.iter().filter(|c| !c.contains("from-3")).cloned().collect();
    let partial_d: Vec<String> = deltas.iter().filter(|d| !d.contains("from-3")).cloned().collect();
    let diverged = dir.join("e1-diverged");
    assert_ne!(apply(2, &diverged, &partial_c, &partial_d), digests[0], "a divergent refresh has another digest");
    let id = |f: &Path| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(f).unwrap()).unwrap()["keySetId"].clone();
    assert_eq!(id(&diverged.join("keyset-g1-e1.json")), id(&e1(0).join("keyset-g1-e1.json")), "the id alone cannot tell");
    let ks1 = e1(0).join("keyset-g1-e1.json");
    for i in 1..3 {
        assert_eq!(std::fs::read_to_string(e1(i).join("keyset-g1-e1.json")).unwrap(), std::fs::read_to_string(&ks1).unwrap());
    }
    let share1 = |i: usize| e1(i).join(format!("share-{}-g1-e1.sops.json", i + 1));
    // Old shares are refused by the new key set; the new ones verify.
    for i in 0..3 {
        let (code, _, err) = cli(&["share", "verify", &p(&share0(i)), "--key-set", &p(&ks1), "-i", &p(&ids[i])]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("epoch"), "{err}");
        ok(&["share", "verify", &p(&share1(i)), "--key-set", &p(&ks1), "-i", &p(&ids[i])]);
    }

    // Rollout: share service 2 holds both epochs; the proxy moves from epoch 0 to 1.
    let pki = Pki::new(&dir);
    let both = share_service(&dir, &pki, 2, &[ks0.clone(), ks1.clone()], &[share0(1), share1(1)], &ids[1]).await;
    let old_proxy = proxy(&dir, &pki, &[ks0.clone()], &[share0(0)], &ids[0], &[(2, both.addr)]).await;
    let new_proxy = proxy(&dir, &pki, &[ks1.clone()], &[share1(0)], &ids[0], &[(2, both.addr)]).await;
    let before = encrypt(old_proxy.addr, "key-1", b"made before the refresh").await;
    assert_eq!(decrypt(new_proxy.addr, "key-1", &before).await.unwrap(), b"made before the refresh");
    let after = encrypt(new_proxy.addr, "key-1", b"made after the refresh").await;
    assert_eq!(decrypt(old_proxy.addr, "key-1", &after).await.unwrap(), b"made after the refresh");
    // Last step: the service drops epoch 0. A proxy still on old shares is refused; keys are unchanged.
    let only_new = share_service(&dir, &pki, 3, &[ks1.clone()], &[share1(2)], &ids[2]).await;
    let stale = proxy(&dir, &pki, &[ks0.clone()], &[share0(0)], &ids[0], &[(3, only_new.addr)]).await;
    assert!(decrypt(stale.addr, "key-1", &before).await.is_err());
    let fresh = proxy(&dir, &pki, &[ks1.clone()], &[share1(0)], &ids[0], &[(3, only_new.addr)]).await;
    assert_eq!(decrypt(fresh.addr, "key-1", &before).await.unwrap(), b"made before the refresh");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_restores_a_lost_share_that_then_works() {
    let dir = test_dir("repair");
    let (ids, holders) = holders(&dir, 3);
    let out = dir.join("keys");
    dealer(&out, &holders);
    let ks = out.join("keyset-g1-e0.json");
    let share = |i: usize| out.join(format!("share-{}-g1-e0.sops.json", i + 1));
    let pki = Pki::new(&dir);
    let s2 = share_service(&dir, &pki, 2, &[ks.clone()], &[share(1)], &ids[1]).await;
    let via2 = proxy(&dir, &pki, &[ks.clone()], &[share(0)], &ids[0], &[(2, s2.addr)]).await;
    let sealed = encrypt(via2.addr, "key-1", b"before holder 3 lost its share").await;

    // Holder 3 lost its share and its identity; it makes a new identity.
    std::fs::remove_file(share(2)).unwrap();
    let new3 = dir.join("holder-3-new.agekey");
    let new3_recipient = ok(&["secrets", "keygen", "-o", &p(&new3)]).trim().to_owned();
    let rdir = dir.join("repair");
    let helpers = [holders[0].clone(), holders[1].clone()];
    for i in 0..2 {
        let args = with(
            &[
                "repair",
                "deltas",
                "--key-set",
                &p(&ks),
                "--helpers",
                "1,2",
                "--lost",
                "3",
                "--share",
                &p(&share(i)),
                "-i",
                &p(&ids[i]),
                "-o",
                &p(&rdir),
            ],
            "--holder",
            &helpers,
        );
        run(args);
    }
    let deltas = files(&rdir, "repair-3-from-");
    assert_eq!(deltas.len(), 4);
    for i in 0..2 {
        let args = with(
            &[
                "repair",
                "sigma",
                "--key-set",
                &p(&ks),
                "--helpers",
                "1,2",
                "--lost",
                "3",
                "--share",
                &p(&share(i)),
                "-i",
                &p(&ids[i]),
                "--lost-recipient",
                &new3_recipient,
                "-o",
                &p(&rdir),
            ],
            "--delta",
            &deltas,
        );
        run(args);
    }
    let sigmas = files(&rdir, "repair-3-sigma-");
    let repaired = dir.join("holder-3");
    run(with(
        &["repair", "finish", "--key-set", &p(&ks), "--helpers", "1,2", "--lost", "3", "-i", &p(&new3), "-o", &p(&repaired)],
        "--sigma",
        &sigmas,
    ));
    let share3 = repaired.join("share-3-g1-e0.sops.json");
    ok(&["share", "verify", &p(&share3), "--key-set", &p(&ks), "-i", &p(&new3)]);
    // A sigma from only one helper cannot repair anything.
    let (code, _, err) = cli(&[
        "repair",
        "finish",
        "--key-set",
        &p(&ks),
        "--helpers",
        "1,2",
        "--lost",
        "3",
        "-i",
        &p(&new3),
        "-o",
        &p(&dir.join("x")),
        "--sigma",
        &sigmas[0],
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(!dir.join("x").exists());

    let s3 = share_service(&dir, &pki, 3, &[ks.clone()], &[share3], &new3).await;
    let via3 = proxy(&dir, &pki, &[ks.clone()], &[share(0)], &ids[0], &[(3, s3.addr)]).await;
    assert_eq!(decrypt(via3.addr, "key-1", &sealed).await.unwrap(), b"before holder 3 lost its share");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_old_ciphertext_and_encrypts_under_the_new_generation() {
    let dir = test_dir("rotate");
    let (ids, holders) = holders(&dir, 3);
    let g1 = dir.join("g1");
    dealer(&g1, &holders);
    let g2 = dir.join("g2");
    run(with(&["rotate", "--key-set", &p(&g1.join("keyset-g1-e0.json")), "-o", &p(&g2)], "--holder", &holders));
    let ks: Vec<PathBuf> = vec![g1.join("keyset-g1-e0.json"), g2.join("keyset-g2-e0.json")];
    let sh = |g: &Path, generation: u32, i: usize| g.join(format!("share-{}-g{generation}-e0.sops.json", i + 1));
    let pki = Pki::new(&dir);
    let s2 = share_service(&dir, &pki, 2, &ks, &[sh(&g1, 1, 1), sh(&g2, 2, 1)], &ids[1]).await;
    let gen1_proxy = proxy(&dir, &pki, &ks[..1], &[sh(&g1, 1, 0)], &ids[0], &[(2, s2.addr)]).await;
    let old = encrypt(gen1_proxy.addr, "key-1", b"generation one").await;
    assert_eq!(generation_of(&old), 1);
    let rotated = proxy(&dir, &pki, &ks, &[sh(&g1, 1, 0), sh(&g2, 2, 0)], &ids[0], &[(2, s2.addr)]).await;
    let new = encrypt(rotated.addr, "key-1", b"generation two").await;
    assert_eq!(generation_of(&new), 2);
    assert_eq!(decrypt(rotated.addr, "key-1", &old).await.unwrap(), b"generation one");
    assert_eq!(decrypt(rotated.addr, "key-1", &new).await.unwrap(), b"generation two");
    // Different master secrets: the generation-1-only proxy cannot decrypt generation 2.
    assert!(decrypt(gen1_proxy.addr, "key-1", &new).await.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
