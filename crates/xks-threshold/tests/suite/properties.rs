//! Property tests of the threshold construction and its lifecycle.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_threshold::dkg::{self, DkgParameters, Round1Package, Round1Secret, Round2Package, Round2Secret};
use xks_threshold::rotation::{Generations, rotate};
use xks_threshold::{
    Combiner, CombiningSet, DataKey, Error, HolderId, HolderKey, KeyPath, KeySet, Metadata, Partial, dealer, refresh, repair,
};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn ids(v: &[u16]) -> CombiningSet {
    CombiningSet::new(v.iter().map(|i| HolderId::new(u32::from(*i)).unwrap())).unwrap()
}

fn holders(ks: &KeySet, shares: Vec<xks_threshold::Share>) -> Vec<HolderKey> {
    shares.into_iter().map(|s| HolderKey::new(s, ks.clone()).unwrap()).collect()
}

/// All subsets of `1..=n` of size `t`.
fn subsets(n: u16, t: usize) -> Vec<Vec<u16>> {
    let mut out = vec![];
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == t {
            out.push((1..=n).filter(|i| mask & (1 << (i - 1)) != 0).collect());
        }
    }
    out
}

/// Derives the key for `path` from the holders in `set`, verifying every proof.
fn derive(hk: &[HolderKey], path: &str, set: &[u16], seed: u64) -> DataKey {
    let ks = hk[0].key_set().clone();
    let set = ids(set);
    let kp = KeyPath::new(path).unwrap().to_point().unwrap();
    let combiner = Combiner::new(ks, set.clone()).unwrap();
    let mut r = rng(seed);
    let verified: Vec<_> = hk
        .iter()
        .filter(|h| set.contains(h.holder()))
        .map(|h| combiner.verify(&kp, h.evaluate(&kp, &set, true, &mut r).unwrap()).unwrap())
        .collect();
    combiner.combine(&kp, &verified.iter().collect::<Vec<_>>()).unwrap()
}

/// Two keys are equal iff one decrypts what the other encrypted.
fn same_key(a: &DataKey, b: &DataKey) -> bool {
    let e = a.encrypt(b"probe", b"aad", &mut rng(7)).unwrap();
    b.decrypt(&e.ciphertext, &e.metadata, &e.iv, &e.tag, b"aad").is_ok()
}

fn params() -> impl Strategy<Value = (u16, u16)> {
    (2u16..=5).prop_flat_map(|n| (2u16..=n, Just(n)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Every t-subset of the n holders derives the same key (t-of-n up to 5).
    #[test]
    fn every_t_subset_derives_the_same_key((t, n) in params(), seed in any::<u64>(), path in "[a-z0-9/_-]{1,40}") {
        let (ks, shares) = dealer::generate(t, n, 1, &mut rng(seed)).unwrap();
        let hk = holders(&ks, shares);
        let all = subsets(n, usize::from(t));
        let first = derive(&hk, &path, &all[0], seed);
        for s in &all[1..] {
            prop_assert!(same_key(&first, &derive(&hk, &path, s, seed)));
        }
        // A different key path gives a different key.
        let other_path = path.clone() + "x";
        prop_assert!(!same_key(&first, &derive(&hk, &other_path, &all[0], seed)));
    }

    /// Refresh keeps every key, moves to epoch + 1, and old shares no longer fit.
    #[test]
    fn refresh_keeps_keys_and_retires_old_shares((t, n) in params(), seed in any::<u64>(), contributors in 1usize..=3) {
        let mut r = rng(seed);
        let (ks, shares) = dealer::generate(t, n, 1, &mut r).unwrap();
        let hk = holders(&ks, shares);
        let (mut cs, mut ds) = (vec![], vec![]);
        for _ in 0..contributors {
            let (c, d) = refresh::contribute(&ks, &mut r).unwrap();
            cs.push(c);
            ds.extend(d);
        }
        let new: Vec<HolderKey> = hk.iter().map(|h| refresh::refresh_share(h, &cs, &ds).unwrap()).collect();
        let ks1 = new[0].key_set().clone();
        prop_assert_eq!(ks1.epoch(), 1);
        prop_assert_eq!(ks1.id(), ks.id());
        let set: Vec<u16> = (1..=t).collect();
        prop_assert!(same_key(&derive(&hk, "p", &set, seed), &derive(&new, "p", &set, seed)));
        if t > 1 {
            // Old share against the new key set: refused (the shares changed).
            prop_assert!(matches!(HolderKey::new(hk[0].share().clone(), ks1.clone()), Err(Error::EpochMismatch { .. })), "unexpected result");
            // An old-epoch partial cannot be combined with new-epoch ones.
            let kp = KeyPath::new("p").unwrap().to_point().unwrap();
            let s = ids(&set);
            let combiner = Combiner::new(ks1.clone(), s.clone()).unwrap();
            let stale = hk[0].evaluate(&kp, &s, true, &mut r).unwrap();
            prop_assert!(matches!(combiner.verify(&kp, stale), Err(Error::EpochMismatch { .. })), "unexpected result");
        }
    }

    /// A repaired share verifies against the key set and derives the same keys.
    #[test]
    fn repaired_share_verifies_and_derives_same_keys((t, n) in (2u16..=4).prop_flat_map(|t| (Just(t), (t + 1)..=5)), seed in any::<u64>(), lost in 1u16..=5) {
        prop_assume!(lost <= n);
        let mut r = rng(seed);
        let (ks, shares) = dealer::generate(t, n, 1, &mut r).unwrap();
        let hk = holders(&ks, shares);
        let lost_id = HolderId::new(u32::from(lost)).unwrap();
        let helpers_v: Vec<u16> = (1..=n).filter(|i| *i != lost).take(usize::from(t)).collect();
        let helpers = ids(&helpers_v);
        let hh: Vec<&HolderKey> = hk.iter().filter(|h| helpers.contains(h.holder())).collect();
        let deltas: Vec<_> = hh.iter().flat_map(|h| repair::repair_step1(h, &helpers, lost_id, &mut r).unwrap()).collect();
        let sigmas: Vec<_> = hh.iter().map(|h| repair::repair_step2(h, &helpers, lost_id, &deltas).unwrap()).collect();
        let repaired = repair::repair_step3(&ks, &helpers, lost_id, &sigmas).unwrap();
        repaired.share().verify(&ks).unwrap();
        let mut with_repaired: Vec<HolderKey> = hk.iter().filter(|h| h.holder() != lost_id).cloned().collect();
        with_repaired.push(repaired);
        let set: Vec<u16> = std::iter::once(lost).chain((1..=n).filter(|i| *i != lost)).take(usize::from(t)).collect();
        prop_assert!(same_key(&derive(&hk, "k", &set, seed), &derive(&with_repaired, "k", &set, seed)));
    }

    /// Rotation changes every key; old generations stay derivable and decryptable.
    #[test]
    fn rotation_changes_keys_and_keeps_old_ones(seed in any::<u64>()) {
        let mut r = rng(seed);
        let (ks1, s1) = dealer::generate(2, 3, 1, &mut r).unwrap();
        let (ks2, s2) = rotate(&ks1, &mut r).unwrap();
        prop_assert_eq!(ks2.generation(), 2);
        let (h1, h2) = (holders(&ks1, s1), holders(&ks2, s2));
        let (k1, k2) = (derive(&h1, "p", &[1, 2], seed), derive(&h2, "p", &[1, 2], seed));
        prop_assert!(!same_key(&k1, &k2));
        let old = k1.encrypt(b"old data", b"", &mut r).unwrap();
        let gens = Generations::new([ks1.clone(), ks2.clone()]).unwrap();
        prop_assert_eq!(gens.current().unwrap().generation(), 2);
        let md = Metadata::parse(&old.metadata).unwrap();
        prop_assert_eq!(gens.for_decrypt(&md).unwrap().generation(), 1);
        let again = derive(&h1, "p", &[2, 3], seed);
        prop_assert_eq!(&**again.decrypt(&old.ciphertext, &old.metadata, &old.iv, &old.tag, b"").unwrap(), b"old data");
        // A generation-2 key refuses generation-1 metadata instead of failing obscurely.
        prop_assert!(matches!(k2.decrypt(&old.ciphertext, &old.metadata, &old.iv, &old.tag, b""), Err(Error::GenerationMismatch { .. })), "unexpected result");
    }

    /// Any change to a partial's point or proof is rejected by verification,
    /// and a partial other than the committed one fails the commitment check.
    #[test]
    fn tampered_partials_and_proofs_are_rejected(seed in any::<u64>(), byte in 0usize..97, bit in 0u8..8) {
        let mut r = rng(seed);
        let (ks, shares) = dealer::generate(2, 3, 1, &mut r).unwrap();
        let hk = holders(&ks, shares);
        let kp = KeyPath::new("ks/key").unwrap().to_point().unwrap();
        let set = ids(&[1, 2]);
        let combiner = Combiner::new(ks.clone(), set.clone()).unwrap();
        let p = hk[1].evaluate(&kp, &set, true, &mut r).unwrap();
        let mut wire = [p.point_bytes().unwrap().to_vec(), p.proof().unwrap().to_bytes().to_vec()].concat();
        wire[byte] ^= 1 << bit;
        let (point, proof) = wire.split_at(33);
        if let Ok(bad) = Partial::from_parts(p.holder(), 1, 0, set.clone(), point, Some(proof)) {
            prop_assert!(matches!(combiner.verify(&kp, bad.clone()), Err(Error::InvalidPartial(_))), "unexpected result");
            if byte < 33 {
                let good = combiner.verify(&kp, p.clone()).unwrap();
                let c = combiner.commitment(&good).unwrap();
                prop_assert!(combiner.check_commitment(&kp, bad, &c).is_err());
                prop_assert!(combiner.check_commitment(&kp, p.clone(), &c).is_ok());
            }
        }
        // The right partial presented for another key path fails too.
        let other = KeyPath::new("ks/other").unwrap().to_point().unwrap();
        prop_assert!(combiner.verify(&other, p).is_err());
    }
}

#[test]
fn fewer_than_t_partials_are_refused() {
    let mut r = rng(1);
    let (ks, shares) = dealer::generate(3, 5, 1, &mut r).unwrap();
    let hk = holders(&ks, shares);
    let kp = KeyPath::new("x").unwrap().to_point().unwrap();
    assert!(matches!(Combiner::new(ks.clone(), ids(&[1, 2])), Err(Error::WrongHolderCount { expected: 3, got: 2 })));
    assert!(matches!(hk[0].evaluate(&kp, &ids(&[1, 2]), false, &mut r), Err(Error::WrongHolderCount { .. })));
    let set = ids(&[1, 2, 3]);
    let c = Combiner::new(ks, set.clone()).unwrap();
    let v: Vec<_> = hk[..2].iter().map(|h| c.verify(&kp, h.evaluate(&kp, &set, true, &mut r).unwrap()).unwrap()).collect();
    assert!(matches!(c.combine(&kp, &v.iter().collect::<Vec<_>>()), Err(Error::WrongHolderCount { expected: 3, got: 2 })));
    // The same partial twice does not count as two holders.
    assert!(matches!(c.combine(&kp, &[&v[0], &v[0], &v[1]]), Err(Error::DuplicateHolder(_))));
    // A holder outside the set cannot evaluate for it.
    assert!(matches!(hk[4].evaluate(&kp, &set, false, &mut r), Err(Error::UnknownHolder(_))));
}

/// A Byzantine partner (a valid point with the honest proof, but the wrong
/// value) is caught by verification, and a partial without a proof can never
/// become a verified one: the only way to a key.
#[test]
fn a_forged_or_unproven_partner_partial_never_verifies() {
    let mut r = rng(2);
    let (ks, shares) = dealer::generate(2, 3, 1, &mut r).unwrap();
    let hk = holders(&ks, shares);
    let kp = KeyPath::new("ks/key").unwrap().to_point().unwrap();
    let set = ids(&[1, 2]);
    let c = Combiner::new(ks, set.clone()).unwrap();
    let own = hk[0].evaluate_own(&kp, &set).unwrap();
    let partner = hk[1].evaluate(&kp, &set, true, &mut r).unwrap();
    let key = c.combine(&kp, &[&own, &c.verify(&kp, partner.clone()).unwrap()]).unwrap();
    let e = key.encrypt(b"secret", b"ctx", &mut r).unwrap();
    assert_eq!(&**key.decrypt(&e.ciphertext, &e.metadata, &e.iv, &e.tag, b"ctx").unwrap(), b"secret");
    let wrong = hk[2].evaluate(&kp, &ids(&[1, 3]), true, &mut r).unwrap();
    let forged =
        Partial::from_parts(partner.holder(), 1, 0, set.clone(), &wrong.point_bytes().unwrap(), Some(&partner.proof().unwrap().to_bytes()))
            .unwrap();
    assert_eq!(c.verify(&kp, forged).unwrap_err(), Error::InvalidPartial(HolderId::new(2).unwrap()));
    // And a partial without a proof can never become a verified one.
    let no_proof = hk[1].evaluate(&kp, &set, false, &mut r).unwrap();
    assert!(c.verify(&kp, no_proof).is_err());
}

#[test]
fn envelope_detects_any_tampering() {
    let mut r = rng(3);
    let (ks, shares) = dealer::generate(2, 3, 1, &mut r).unwrap();
    let hk = holders(&ks, shares);
    let key = derive(&hk, "ks/key", &[1, 3], 3);
    let aad = b"project=nile".to_vec();
    let e = key.encrypt(b"Hello World!", &aad, &mut r).unwrap();
    assert_eq!(e.ciphertext.len(), 12);
    assert_eq!(e.iv.len(), 12);
    let ok = |ct: &[u8], md: &[u8], iv: &[u8], tag: &[u8], aad: &[u8]| key.decrypt(ct, md, iv, tag, aad);
    assert!(ok(&e.ciphertext, &e.metadata, &e.iv, &e.tag, &aad).is_ok());
    let flip = |v: &[u8], i: usize| {
        let mut v = v.to_vec();
        v[i] ^= 0x80;
        v
    };
    for i in 0..e.ciphertext.len() {
        assert_eq!(ok(&flip(&e.ciphertext, i), &e.metadata, &e.iv, &e.tag, &aad).unwrap_err(), Error::Decryption);
    }
    for i in 0..12 {
        assert_eq!(ok(&e.ciphertext, &e.metadata, &flip(&e.iv, i), &e.tag, &aad).unwrap_err(), Error::Decryption);
    }
    for i in 0..16 {
        assert_eq!(ok(&e.ciphertext, &e.metadata, &e.iv, &flip(&e.tag, i), &aad).unwrap_err(), Error::Decryption);
    }
    assert_eq!(ok(&e.ciphertext, &e.metadata, &e.iv, &e.tag, b"project=nilf").unwrap_err(), Error::Decryption);
    assert_eq!(ok(&e.ciphertext, &e.metadata, &e.iv, &e.tag, b"").unwrap_err(), Error::Decryption);
    // Metadata: version byte, or any change that keeps the generation, is caught.
    assert_eq!(e.metadata.len(), 20, "Encrypt writes v2 metadata");
    assert_eq!(ok(&e.ciphertext, &flip(&e.metadata, 0), &e.iv, &e.tag, &aad).unwrap_err(), Error::InvalidMetadata);
    assert_eq!(ok(&e.ciphertext, &[], &e.iv, &e.tag, &aad).unwrap_err(), Error::InvalidMetadata);
    assert_eq!(ok(&e.ciphertext, &e.metadata[..5], &e.iv, &e.tag, &aad).unwrap_err(), Error::InvalidMetadata);
    assert!(ok(&e.ciphertext, &flip(&e.metadata, 4), &e.iv, &e.tag, &aad).is_err());
    // Every salt byte is bound: another salt is another key.
    for i in 5..20 {
        assert_eq!(ok(&e.ciphertext, &flip(&e.metadata, i), &e.iv, &e.tag, &aad).unwrap_err(), Error::Decryption);
    }
    // Wrong lengths are typed errors, not panics.
    assert!(matches!(ok(&e.ciphertext, &e.metadata, &e.iv[..11], &e.tag, &aad), Err(Error::BadLength { .. })));
    assert!(matches!(ok(&e.ciphertext, &e.metadata, &e.iv, &e.tag[..15], &aad), Err(Error::BadLength { .. })));
    // A 16-byte IV is allowed by the spec; we never produce one, so it is refused unread.
    assert!(matches!(ok(&e.ciphertext, &e.metadata, &[0u8; 16], &e.tag, &aad), Err(Error::BadLength { .. })));
}

/// XKS spec, Encrypt, ciphertextMetadata NOTE: moving the metadata into the AAD
/// (no metadata, AAD = metadata) must not decrypt; the length prefixes ensure it.
#[test]
fn xks_spec_aad_rule_separates_aad_and_metadata() {
    let md = Metadata::V1 { generation: 1 }.to_bytes();
    assert_ne!(xks_threshold::gcm_aad(&[], &md).unwrap(), xks_threshold::gcm_aad(&md, &[]).unwrap());
    assert_eq!(xks_threshold::gcm_aad(b"ab", b"c").unwrap(), vec![0, 2, b'a', b'b', 1, b'c']);
    assert_eq!(xks_threshold::gcm_aad(&[], &[]).unwrap(), vec![0, 0, 0]);
    assert!(xks_threshold::gcm_aad(&vec![0; 65536], &[]).is_err());
    assert!(xks_threshold::gcm_aad(&[], &[0; 21]).is_err());
}

/// XKS spec Appendix C: the spec's own CDIV example.
#[test]
fn xks_spec_appendix_c_cdiv_example() {
    let aad = b"project=nile,department=marketing";
    let md = b"key_version=1";
    let iv = hex::decode("1ccae5470f39700254779031").unwrap();
    let ct = hex::decode("821c642b5b71783367deaf18").unwrap();
    let tag = hex::decode("bc1c4dda7707d6812447c5955e99b261").unwrap();
    let v = xks_threshold::cdiv(aad, md, &iv, &ct, &tag);
    assert_eq!(hex::encode(v), "a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7");
}

fn run_dkg(t: u16, n: u16, seed: u64) -> Vec<HolderKey> {
    let mut r = rng(seed);
    let params = DkgParameters { generation: 1, threshold: t, holders: n };
    // Every message goes through its JSON file form, as between machines.
    let mut secrets1 = vec![];
    let mut round1 = vec![];
    for i in 1..=n {
        let (s, p) = dkg::part1(HolderId::new(u32::from(i)).unwrap(), params, &mut r).unwrap();
        secrets1.push(Round1Secret::from_json(&s.to_json().unwrap()).unwrap());
        round1.push(Round1Package::from_json(&p.to_json().unwrap()).unwrap());
    }
    let mut secrets2 = vec![];
    let mut round2 = vec![];
    for s in secrets1 {
        let (s2, pk) = dkg::part2(s, &round1).unwrap();
        secrets2.push(Round2Secret::from_json(&s2.to_json().unwrap()).unwrap());
        round2.extend(pk.iter().map(|p| Round2Package::from_json(&p.to_json().unwrap()).unwrap()));
    }
    secrets2.iter().map(|s| dkg::part3(s, &round1, &round2).unwrap()).collect()
}

#[test]
fn dkg_2_of_3_and_3_of_5_work_like_a_dealer_key_set() {
    for (t, n) in [(2u16, 3u16), (3, 5)] {
        let hk = run_dkg(t, n, u64::from(t));
        let ks = hk[0].key_set().clone();
        assert!(hk.iter().all(|h| h.key_set() == &ks), "every holder computes the same key set");
        let all = subsets(n, usize::from(t));
        let first = derive(&hk, "dkg/key", &all[0], 9);
        for s in &all[1..] {
            assert!(same_key(&first, &derive(&hk, "dkg/key", s, 9)));
        }
        // The key set survives its JSON form.
        assert_eq!(KeySet::from_json(&ks.to_json().unwrap()).unwrap(), ks);
    }
}

#[test]
fn dkg_refuses_tampered_and_incomplete_rounds() {
    let mut r = rng(5);
    let params = DkgParameters { generation: 1, threshold: 2, holders: 3 };
    let mut s1 = vec![];
    let mut p1 = vec![];
    for i in 1..=3 {
        let (s, p) = dkg::part1(HolderId::new(i).unwrap(), params, &mut r).unwrap();
        s1.push(s);
        p1.push(p);
    }
    // Missing a round-1 package.
    assert!(dkg::part2(s1[0].clone(), &p1[..2]).is_err());
    // Complete rounds, then one round-2 package altered in transit: its recipient refuses it,
    // because the value no longer matches the sender's round-1 commitment.
    let mut s2 = vec![];
    let mut p2 = vec![];
    for s in &s1 {
        let (a, b) = dkg::part2(s.clone(), &p1).unwrap();
        s2.push(a);
        p2.extend(b);
    }
    assert!(dkg::part3(&s2[1], &p1, &p2).is_ok());
    let idx = p2.iter().position(|p| p.to() == HolderId::new(2).unwrap()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&p2[idx].to_json().unwrap()).unwrap();
    let share = v["package"]["signing_share"].as_str().unwrap().to_owned();
    let last = if share.ends_with('0') { '1' } else { '0' };
    v["package"]["signing_share"] = format!("{}{last}", &share[..share.len() - 1]).into();
    let mut tampered = p2.clone();
    tampered[idx] = Round2Package::from_json(&v.to_string()).unwrap();
    assert!(matches!(dkg::part3(&s2[1], &p1, &tampered), Err(Error::Protocol(_))));
    // A package missing: refused.
    let missing: Vec<_> =
        p2.iter().filter(|p| !(p.to() == HolderId::new(2).unwrap() && p.from() == HolderId::new(1).unwrap())).cloned().collect();
    assert!(dkg::part3(&s2[1], &p1, &missing).is_err());
    // Parameters: t = 1 and t > n are refused.
    assert!(dkg::part1(HolderId::new(1).unwrap(), DkgParameters { generation: 1, threshold: 1, holders: 3 }, &mut r).is_err());
    assert!(dkg::part1(HolderId::new(1).unwrap(), DkgParameters { generation: 1, threshold: 4, holders: 3 }, &mut r).is_err());
}
