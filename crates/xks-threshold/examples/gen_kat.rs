//! Generates `tests/vectors/kat/xks-threshold-v1.json`, the self-generated
//! known-answer vectors of format v1, from a fixed seed.
//!
//! Run once when the format is defined; never to "fix" a failing test: a
//! change in any derived byte means existing ciphertext would stop decrypting.
//!
//! `cargo run -p xks-threshold --features hazmat-test-vectors --example gen_kat > tests/vectors/kat/xks-threshold-v1.json`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::print_stdout, missing_docs)]

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::{Value, json};
use xks_threshold::encoding::{decode_point, encode_point, encode_scalar};
use xks_threshold::group::random_nonzero_scalar;
use xks_threshold::{
    Combiner, CombiningSet, HolderId, HolderKey, KeyPath, KeySet, ProjectivePoint, Share, dealer, refresh, rotation, suite,
};

const SEED: [u8; 32] = *b"xks-threshold format v1 KAT seed";

fn set(ids: &[u32]) -> CombiningSet {
    CombiningSet::new(ids.iter().map(|i| HolderId::new(*i).unwrap())).unwrap()
}

fn share_json(s: &Share) -> Value {
    serde_json::from_str(&s.to_json().unwrap()).unwrap()
}

struct EnvelopeInput {
    plaintext: Vec<u8>,
    aad: Vec<u8>,
}

fn key_path_case(rng: &mut ChaCha20Rng, key_set: &KeySet, holders: &[HolderKey], path: &str, sets: &[&[u32]], env: EnvelopeInput) -> Value {
    let kp = KeyPath::new(path).unwrap();
    let point = kp.to_point().unwrap();
    let mut combos = vec![];
    let mut first_key = None;
    for ids in sets {
        let cs = set(ids);
        let combiner = Combiner::new(key_set.clone(), cs.clone()).unwrap();
        let mut partials = vec![];
        let mut verified = vec![];
        let mut s = ProjectivePoint::IDENTITY;
        for h in holders.iter().filter(|h| cs.contains(h.holder())) {
            let r = random_nonzero_scalar(rng);
            let p = h.evaluate_with_proof_nonce(&point, &cs, &r).unwrap();
            let w = p.point_bytes().unwrap();
            s += decode_point(&w).unwrap();
            partials.push(json!({
                "holder": h.holder().get(),
                "lambda": hex::encode(encode_scalar(&cs.lagrange_at_zero(h.holder()).unwrap())),
                "partial": hex::encode(w),
                "proofNonce": hex::encode(encode_scalar(&r)),
                "proof": hex::encode(p.proof().unwrap().to_bytes()),
            }));
            verified.push(combiner.verify(&point, p).unwrap());
        }
        let refs: Vec<_> = verified.iter().collect();
        let key = combiner.combine(&point, &refs).unwrap();
        let commitment = combiner.commitment(verified.last().unwrap()).unwrap();
        combos.push(json!({
            "set": ids,
            "partials": partials,
            "combined": hex::encode(encode_point(&s.to_affine()).unwrap()),
            "aesKey": hex::encode(key.expose_for_test_vectors()),
            "lastPartialCommitment": hex::encode(commitment.as_bytes()),
        }));
        if first_key.is_none() {
            first_key = Some(key);
        }
    }
    let key = first_key.unwrap();
    let mut iv = [0u8; 12];
    rng.fill_bytes(&mut iv);
    let e = key.encrypt_with_iv(&env.plaintext, &env.aad, iv).unwrap();
    json!({
        "keyPath": path,
        "keyPathPoint": hex::encode(encode_point(point.point()).unwrap()),
        "combinations": combos,
        "envelope": {
            "plaintext": hex::encode(&env.plaintext),
            "aad": hex::encode(&env.aad),
            "iv": hex::encode(e.iv.clone()),
            "ciphertextMetadata": hex::encode(&e.metadata),
            "gcmAad": hex::encode(xks_threshold::gcm_aad(&env.aad, &e.metadata).unwrap()),
            "ciphertext": hex::encode(&e.ciphertext),
            "authenticationTag": hex::encode(e.tag),
            "cdiv": hex::encode(e.cdiv(&env.aad)),
        }
    })
}

fn holder_keys(key_set: &KeySet, shares: Vec<Share>) -> Vec<HolderKey> {
    shares.into_iter().map(|s| HolderKey::new(s, key_set.clone()).unwrap()).collect()
}

fn case(name: &str, note: &str, key_set: &KeySet, holders: &[HolderKey], paths: Vec<Value>) -> Value {
    json!({
        "name": name,
        "note": note,
        "keySet": serde_json::to_value(key_set).unwrap(),
        "shares": holders.iter().map(|h| share_json(h.share())).collect::<Vec<_>>(),
        "keyPaths": paths,
    })
}

fn main() {
    let mut rng = ChaCha20Rng::from_seed(SEED);
    let mut data_key = vec![0u8; 32];
    rng.fill_bytes(&mut data_key);
    let long_path: String = "k".repeat(194) + "/" + &"0123456789".repeat(5) + "-x.y_z:=@+";
    assert_eq!(long_path.len(), 255);

    // 2-of-3, generation 1.
    let (ks, shares) = dealer::generate(2, 3, 1, &mut rng).unwrap();
    let hk = holder_keys(&ks, shares);
    let pairs: &[&[u32]] = &[&[1, 2], &[1, 3], &[2, 3]];
    let c1 = case(
        "dealer-2of3-gen1-epoch0",
        "2-of-3 dealer key set; every pair of holders derives the same key",
        &ks,
        &hk,
        vec![
            key_path_case(
                &mut rng,
                &ks,
                &hk,
                "ks1/key-0001",
                pairs,
                EnvelopeInput { plaintext: b"Hello World!".to_vec(), aad: b"project=nile,department=marketing".to_vec() },
            ),
            key_path_case(&mut rng, &ks, &hk, "a", pairs, EnvelopeInput { plaintext: data_key.clone(), aad: vec![] }),
            key_path_case(&mut rng, &ks, &hk, &long_path, &[&[2, 3]], EnvelopeInput { plaintext: vec![], aad: vec![0u8; 300] }),
        ],
    );

    // The same secret after one refresh (epoch 1): same keys, new shares.
    let (contribution, deltas) = refresh::contribute(&ks, &mut rng).unwrap();
    let hk1: Vec<HolderKey> = hk.iter().map(|h| refresh::refresh_share(h, std::slice::from_ref(&contribution), &deltas).unwrap()).collect();
    let ks1 = hk1[0].key_set().clone();
    let c2 = case(
        "refresh-2of3-gen1-epoch1",
        "case dealer-2of3-gen1-epoch0 after one refresh: new shares and verification shares, identical keys",
        &ks1,
        &hk1,
        vec![key_path_case(
            &mut rng,
            &ks1,
            &hk1,
            "ks1/key-0001",
            &[&[1, 3]],
            EnvelopeInput { plaintext: b"refreshed".to_vec(), aad: b"epoch=1".to_vec() },
        )],
    );

    // Rotation: generation 2 is a new secret.
    let (ks2, shares2) = rotation::rotate(&ks, &mut rng).unwrap();
    let hk2 = holder_keys(&ks2, shares2);
    let c3 = case(
        "rotation-2of3-gen2-epoch0",
        "generation 2 (new master secret): different keys for the same key path; metadata names generation 2",
        &ks2,
        &hk2,
        vec![key_path_case(
            &mut rng,
            &ks2,
            &hk2,
            "ks1/key-0001",
            &[&[1, 2]],
            EnvelopeInput { plaintext: b"Hello World!".to_vec(), aad: b"project=nile,department=marketing".to_vec() },
        )],
    );

    // 3-of-5.
    let (ks5, shares5) = dealer::generate(3, 5, 1, &mut rng).unwrap();
    let hk5 = holder_keys(&ks5, shares5);
    let c4 = case(
        "dealer-3of5-gen1-epoch0",
        "3-of-5 dealer key set",
        &ks5,
        &hk5,
        vec![key_path_case(
            &mut rng,
            &ks5,
            &hk5,
            "tenant-b/orders_2026",
            &[&[1, 2, 3], &[2, 4, 5], &[1, 3, 5]],
            EnvelopeInput { plaintext: (0u8..=255).collect(), aad: b"x".to_vec() },
        )],
    );

    let doc = json!({
        "provenance": "Self-generated known-answer vectors for xks-threshold format v1 (docs/crypto.md). Produced once by crates/xks-threshold/examples/gen_kat.rs from the fixed ChaCha20 seed below with `cargo run -p xks-threshold --features hazmat-test-vectors --example gen_kat`. Not RFC vectors (those are in ../rfc/). Shares and keys here are test values: never use them for real data. A test fails if any derived byte changes.",
        "format": 1,
        "seed": hex::encode(SEED),
        "constants": {
            "suite": suite::SUITE,
            "hashToCurveDst": String::from_utf8(suite::DST_HASH_TO_CURVE.to_vec()).unwrap(),
            "dleqContextString": String::from_utf8(suite::DLEQ_CONTEXT.to_vec()).unwrap(),
            "hkdfSalt": String::from_utf8(suite::HKDF_SALT.to_vec()).unwrap(),
            "hkdfInfoPrefix": String::from_utf8(suite::HKDF_INFO_AES_KEY.to_vec()).unwrap(),
            "keySetIdLabel": String::from_utf8(suite::LABEL_KEY_SET_ID.to_vec()).unwrap(),
            "partialCommitmentLabel": String::from_utf8(suite::LABEL_PARTIAL_COMMITMENT.to_vec()).unwrap(),
            "envelopeVersion": suite::ENVELOPE_VERSION,
        },
        "cases": [c1, c2, c3, c4],
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}
