//! Known-answer tests: every derived byte of envelope formats v1 and v2 is
//! recomputed from the shares, key paths and envelope inputs in
//! `tests/vectors/kat/xks-threshold-v{1,2}.json` and must match.

use crate::common::unhex;
use serde_json::Value;
use xks_threshold::encoding::{PointEncoding, decode_point, decode_scalar, encode_point, encode_scalar};
use xks_threshold::{
    Combiner, CombiningSet, DataKey, Error, HolderId, HolderKey, KeyPath, KeySet, Metadata, Partial, ProjectivePoint, Share, gcm_aad, suite,
};

const KAT_V1: &str = include_str!("../../../../tests/vectors/kat/xks-threshold-v1.json");
const KAT_V2: &str = include_str!("../../../../tests/vectors/kat/xks-threshold-v2.json");

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn list(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap()
}

#[test]
fn kat_constants_are_the_frozen_ones() {
    for (text, version, salt, info) in [
        (KAT_V1, suite::ENVELOPE_VERSION_1, suite::HKDF_SALT, suite::HKDF_INFO_AES_KEY),
        (KAT_V2, suite::ENVELOPE_VERSION_2, suite::HKDF_SALT_V2, suite::HKDF_INFO_ENVELOPE_KEY_V2),
    ] {
        let d = doc(text);
        let c = &d["constants"];
        assert_eq!(d["format"].as_u64().unwrap(), u64::from(version));
        assert_eq!(s(&c["suite"]), suite::SUITE);
        assert_eq!(s(&c["hashToCurveDst"]).as_bytes(), suite::DST_HASH_TO_CURVE);
        assert_eq!(s(&c["dleqContextString"]).as_bytes(), suite::DLEQ_CONTEXT);
        assert_eq!(s(&c["hkdfSalt"]).as_bytes(), salt);
        assert_eq!(s(&c["hkdfInfoPrefix"]).as_bytes(), info);
        assert_eq!(s(&c["keySetIdLabel"]).as_bytes(), suite::LABEL_KEY_SET_ID);
        assert_eq!(s(&c["partialCommitmentLabel"]).as_bytes(), suite::LABEL_PARTIAL_COMMITMENT);
        assert_eq!(s(&c["refreshContributionLabel"]).as_bytes(), suite::LABEL_REFRESH_CONTRIBUTION);
        assert_eq!(c["envelopeVersion"].as_u64().unwrap(), u64::from(version));
    }
}

/// A case's key set and holder keys, each checked against the file.
fn load_case(case: &Value) -> (KeySet, Vec<HolderKey>) {
    let name = s(&case["name"]);
    let key_set: KeySet = serde_json::from_value(case["keySet"].clone()).unwrap();
    // The key set id in the file is recomputed by deserialization; check it explicitly too.
    assert_eq!(s(&case["keySet"]["keySetId"]), key_set.id().to_hex(), "{name}");
    let holders: Vec<HolderKey> =
        list(&case["shares"]).iter().map(|j| HolderKey::new(Share::from_json(&j.to_string()).unwrap(), key_set.clone()).unwrap()).collect();
    assert!(!holders.is_empty());
    (key_set, holders)
}

/// §4-§6: every combination's partials, proofs, combined point and commitment;
/// returns the key path's secret from each combination.
fn combinations(name: &str, key_set: &KeySet, holders: &[HolderKey], kp_case: &Value) -> Vec<DataKey> {
    let path = KeyPath::new(s(&kp_case["keyPath"])).unwrap();
    let point = path.to_point().unwrap();
    assert_eq!(hex::encode(encode_point(point.point()).unwrap()), s(&kp_case["keyPathPoint"]), "{name}: V");
    let mut keys = vec![];
    for combo in list(&kp_case["combinations"]) {
        let ids: Vec<HolderId> = list(&combo["set"]).iter().map(|v| HolderId::new(v.as_u64().unwrap() as u32).unwrap()).collect();
        let set = CombiningSet::new(ids).unwrap();
        let combiner = Combiner::new(key_set.clone(), set.clone()).unwrap();
        let mut verified = vec![];
        let mut sum = ProjectivePoint::IDENTITY;
        for pj in list(&combo["partials"]) {
            let holder = HolderId::new(pj["holder"].as_u64().unwrap() as u32).unwrap();
            let hk = holders.iter().find(|h| h.holder() == holder).unwrap();
            assert_eq!(hex::encode(encode_scalar(&set.lagrange_at_zero(holder).unwrap())), s(&pj["lambda"]), "{name}: lambda");
            let nonce = decode_scalar(&unhex(s(&pj["proofNonce"]))).unwrap();
            let p = hk.evaluate_with_proof_nonce(&point, &set, &nonce).unwrap();
            assert_eq!(hex::encode(p.point_bytes().unwrap()), s(&pj["partial"]), "{name}: partial");
            assert_eq!(hex::encode(p.proof().unwrap().to_bytes()), s(&pj["proof"]), "{name}: proof");
            sum += decode_point(&p.point_bytes().unwrap()).unwrap();
            // The wire form round-trips and the recorded proof verifies; so
            // does the uncompressed transport form (§6.4), with the same commitment.
            let wire = Partial::from_json(&p.to_json().unwrap()).unwrap();
            let uncompressed = Partial::from_json(&p.to_json_as(PointEncoding::Uncompressed).unwrap()).unwrap();
            let uncompressed = combiner.verify(&point, uncompressed).unwrap();
            verified.push(combiner.verify(&point, wire).unwrap());
            assert_eq!(combiner.commitment(&uncompressed).unwrap(), combiner.commitment(verified.last().unwrap()).unwrap());
        }
        assert_eq!(hex::encode(encode_point(&sum.to_affine()).unwrap()), s(&combo["combined"]), "{name}: S");
        let refs: Vec<_> = verified.iter().collect();
        let key = combiner.combine(&point, &refs).unwrap();
        let c = combiner.commitment(verified.last().unwrap()).unwrap();
        assert_eq!(hex::encode(c.as_bytes()), s(&combo["lastPartialCommitment"]), "{name}: commitment");
        if let Some(k) = combo.get("aesKey") {
            let v1 = Metadata::V1 { generation: key_set.generation() };
            assert_eq!(hex::encode(*key.expose_for_test_vectors(&v1).unwrap()), s(k), "{name}: v1 K");
        }
        keys.push(key);
    }
    keys
}

/// §8: re-encrypts the envelope's inputs under its metadata and IV, checks each
/// derived field, and opens it with every combination's key.
fn check_envelope(name: &str, keys: &[DataKey], e: &Value) {
    let (pt, aad, iv) = (unhex(s(&e["plaintext"])), unhex(s(&e["aad"])), unhex(s(&e["iv"])));
    let md_bytes = unhex(s(&e["ciphertextMetadata"]));
    let md = Metadata::parse(&md_bytes).unwrap();
    assert_eq!(md.generation(), keys[0].generation(), "{name}: metadata names the key set's generation");
    if let Metadata::V2 { salt, .. } = md {
        assert_eq!(hex::encode(salt), s(&e["salt"]), "{name}: salt");
        assert_eq!(hex::encode(*keys[0].expose_for_test_vectors(&md).unwrap()), s(&e["envelopeKey"]), "{name}: envelope key");
    }
    let env = keys[0].encrypt_with(&md, iv.clone().try_into().unwrap(), &pt, &aad).unwrap();
    assert_eq!(env.metadata, md_bytes, "{name}: metadata");
    assert_eq!(hex::encode(gcm_aad(&aad, &env.metadata).unwrap()), s(&e["gcmAad"]), "{name}: gcm aad");
    assert_eq!(hex::encode(&env.ciphertext), s(&e["ciphertext"]), "{name}: ciphertext");
    assert_eq!(hex::encode(env.tag), s(&e["authenticationTag"]), "{name}: tag");
    assert_eq!(hex::encode(env.cdiv(&aad)), s(&e["cdiv"]), "{name}: cdiv");
    for key in keys {
        assert_eq!(*key.decrypt(&env.ciphertext, &env.metadata, &iv, &env.tag, &aad).unwrap(), pt, "{name}: every set opens it");
    }
}

/// Checks one vector file; returns (combinations, envelopes) checked.
fn check_file(text: &str, version: u8) -> (usize, usize) {
    let d = doc(text);
    let cases = list(&d["cases"]);
    assert_eq!(cases.len(), 4, "the vector file must not be empty or truncated");
    let (mut combos, mut envelopes) = (0, 0);
    for case in cases {
        let name = s(&case["name"]);
        let (key_set, holders) = load_case(case);
        for kp_case in list(&case["keyPaths"]) {
            let keys = combinations(name, &key_set, &holders, kp_case);
            combos += keys.len();
            let envs = match version {
                1 => vec![kp_case["envelope"].clone()],
                _ => list(&kp_case["envelopes"]).clone(),
            };
            for e in &envs {
                assert_eq!(unhex(s(&e["ciphertextMetadata"]))[0], version, "{name}: format");
                check_envelope(name, &keys, e);
                envelopes += 1;
            }
        }
    }
    (combos, envelopes)
}

#[test]
fn kat_v1_every_derived_byte_matches() {
    assert_eq!(check_file(KAT_V1, 1), (12, 6));
}

#[test]
fn kat_v2_every_derived_byte_matches() {
    assert_eq!(check_file(KAT_V2, 2), (12, 7));
}

#[test]
fn kat_refresh_and_rotation_relations_hold() {
    let d = doc(KAT_V1);
    let key = |case: usize, path: usize, combo: usize| s(&d["cases"][case]["keyPaths"][path]["combinations"][combo]["aesKey"]).to_owned();
    // Refresh keeps the key of ks1/key-0001; rotation changes it.
    assert_eq!(key(0, 0, 0), key(1, 0, 0));
    assert_ne!(key(0, 0, 0), key(2, 0, 0));
    // Same group key across the refresh, different across the rotation.
    assert_eq!(d["cases"][0]["keySet"]["groupKey"], d["cases"][1]["keySet"]["groupKey"]);
    assert_ne!(d["cases"][0]["keySet"]["groupKey"], d["cases"][2]["keySet"]["groupKey"]);
}

/// docs/crypto.md §7.1: a v2 key is fresh per envelope, survives a refresh, and
/// is bound to its key set, not only to the master secret's value.
#[test]
fn kat_v2_keys_are_per_envelope_and_bound_to_their_key_set() {
    let d = doc(KAT_V2);
    let first = &d["cases"][0]["keyPaths"][0];
    let (a, b) = (&first["envelopes"][0], &first["envelopes"][1]);
    // Equal inputs, different salts: different keys and ciphertext.
    assert_eq!((&a["plaintext"], &a["aad"]), (&b["plaintext"], &b["aad"]));
    assert_ne!(a["salt"], b["salt"]);
    assert_ne!(a["envelopeKey"], b["envelopeKey"]);
    assert_ne!(a["ciphertext"], b["ciphertext"]);
    let open_with = |case: usize, e: &Value| {
        let (key_set, holders) = load_case(&d["cases"][case]);
        let key = keys_for(&key_set, &holders, s(&first["keyPath"]));
        let f = |k: &str| unhex(s(&e[k]));
        key.decrypt(&f("ciphertext"), &f("ciphertextMetadata"), &f("iv"), &f("authenticationTag"), &f("aad"))
    };
    // After the refresh (same key set id, new shares): it still opens.
    assert_eq!(*open_with(1, a).unwrap(), unhex(s(&a["plaintext"])));
    // Another key set of the same generation (the 3-of-5 case, generation 1) does not.
    assert_eq!(open_with(3, a).unwrap_err(), Error::Decryption);
    // Generation 2 is refused before any key is derived.
    assert!(matches!(open_with(2, a).unwrap_err(), Error::GenerationMismatch { .. }));
}

/// The key path's secret from the first `t` holders of a case.
fn keys_for(key_set: &KeySet, holders: &[HolderKey], path: &str) -> DataKey {
    let point = KeyPath::new(path).unwrap().to_point().unwrap();
    let set = CombiningSet::new(holders.iter().take(key_set.threshold()).map(HolderKey::holder)).unwrap();
    let combiner = Combiner::new(key_set.clone(), set.clone()).unwrap();
    let verified: Vec<_> = holders
        .iter()
        .take(key_set.threshold())
        .map(|h| combiner.verify(&point, h.evaluate(&point, &set, true, &mut rand_core::OsRng).unwrap()).unwrap())
        .collect();
    combiner.combine(&point, &verified.iter().collect::<Vec<_>>()).unwrap()
}
