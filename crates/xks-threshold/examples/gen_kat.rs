//! Generates `tests/vectors/kat/xks-threshold-v1.json` and `-v2.json`, the
//! self-generated known-answer vectors of envelope formats v1 and v2, each
//! from its fixed seed.
//!
//! Run once when a format is defined; never to "fix" a failing test: a
//! change in any derived byte means existing ciphertext would stop decrypting.
//!
//! `cargo run -p xks-threshold --features hazmat-test-vectors --example gen_kat -- 1 > tests/vectors/kat/xks-threshold-v1.json`
//! (and `-- 2` for v2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::print_stdout, clippy::panic, missing_docs)]

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::{Value, json};
use xks_threshold::encoding::{decode_point, encode_point, encode_scalar};
use xks_threshold::group::random_nonzero_scalar;
use xks_threshold::{
    Combiner, CombiningSet, Envelope, HolderId, HolderKey, KeyPath, KeySet, Metadata, ProjectivePoint, Share, dealer, refresh, rotation,
    suite,
};

/// An envelope format, with the seed its vector file was generated from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    V1,
    V2,
}

impl Format {
    fn seed(self) -> [u8; 32] {
        match self {
            Self::V1 => *b"xks-threshold format v1 KAT seed",
            Self::V2 => *b"xks-threshold format v2 KAT seed",
        }
    }
}

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

/// One key path: its point, every listed combining set's partials, proofs and
/// combined point, then the envelopes (v1: one, under the first set's key).
fn key_path_case(
    format: Format,
    rng: &mut ChaCha20Rng,
    key_set: &KeySet,
    holders: &[HolderKey],
    path: &str,
    sets: &[&[u32]],
    envs: &[EnvelopeInput],
) -> Value {
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
        let mut combo = json!({
            "set": ids,
            "partials": partials,
            "combined": hex::encode(encode_point(&s.to_affine()).unwrap()),
            "lastPartialCommitment": hex::encode(commitment.as_bytes()),
        });
        if format == Format::V1 {
            // v1 has one key per key path; v2 has one per envelope, listed with the envelope.
            let v1 = Metadata::V1 { generation: key_set.generation() };
            combo["aesKey"] = hex::encode(*key.expose_for_test_vectors(&v1).unwrap()).into();
        }
        combos.push(combo);
        if first_key.is_none() {
            first_key = Some(key);
        }
    }
    let key = first_key.unwrap();
    let mut out = json!({
        "keyPath": path,
        "keyPathPoint": hex::encode(encode_point(point.point()).unwrap()),
        "combinations": combos,
    });
    match format {
        Format::V1 => {
            let [env] = envs else { panic!("a v1 key path has one envelope") };
            let mut iv = [0u8; 12];
            rng.fill_bytes(&mut iv);
            let e = key.encrypt_with(&Metadata::V1 { generation: key_set.generation() }, iv, &env.plaintext, &env.aad).unwrap();
            out["envelope"] = envelope_json(env, &e);
        }
        Format::V2 => {
            // The production path: salt and IV are drawn from the seeded generator.
            let list = envs
                .iter()
                .map(|env| {
                    let e = key.encrypt(&env.plaintext, &env.aad, rng).unwrap();
                    let md = Metadata::parse(&e.metadata).unwrap();
                    let Metadata::V2 { salt, .. } = md else { panic!("Encrypt writes v2") };
                    let mut j = envelope_json(env, &e);
                    j["salt"] = hex::encode(salt).into();
                    j["hkdfInfo"] = hex::encode(v2_info(&e.metadata, key_set, path)).into();
                    j["envelopeKey"] = hex::encode(*key.expose_for_test_vectors(&md).unwrap()).into();
                    j
                })
                .collect::<Vec<_>>();
            out["envelopes"] = list.into();
        }
    }
    out
}

/// docs/crypto.md §7.1, written out independently of the library for the file.
fn v2_info(metadata: &[u8], key_set: &KeySet, path: &str) -> Vec<u8> {
    let mut info = suite::HKDF_INFO_ENVELOPE_KEY_V2.to_vec();
    info.extend_from_slice(metadata);
    info.extend_from_slice(&key_set.id().0);
    info.push(u8::try_from(path.len()).unwrap());
    info.extend_from_slice(path.as_bytes());
    info
}

fn envelope_json(env: &EnvelopeInput, e: &Envelope) -> Value {
    json!({
        "plaintext": hex::encode(&env.plaintext),
        "aad": hex::encode(&env.aad),
        "iv": hex::encode(e.iv.clone()),
        "ciphertextMetadata": hex::encode(&e.metadata),
        "gcmAad": hex::encode(xks_threshold::gcm_aad(&env.aad, &e.metadata).unwrap()),
        "ciphertext": hex::encode(&e.ciphertext),
        "authenticationTag": hex::encode(e.tag),
        "cdiv": hex::encode(e.cdiv(&env.aad)),
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
    let format = match std::env::args().nth(1).as_deref() {
        Some("1") => Format::V1,
        Some("2") => Format::V2,
        _ => panic!("usage: gen_kat 1|2 (the envelope format)"),
    };
    // v1 has one envelope per key path; v2 lists the first one twice, to show
    // that equal inputs get different salts, keys and ciphertext.
    let envs = |e: EnvelopeInput| match format {
        Format::V1 => vec![e],
        Format::V2 => vec![EnvelopeInput { plaintext: e.plaintext.clone(), aad: e.aad.clone() }, e],
    };
    let once = |e: EnvelopeInput| vec![e];
    let seed = format.seed();
    let mut rng = ChaCha20Rng::from_seed(seed);
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
                format,
                &mut rng,
                &ks,
                &hk,
                "ks1/key-0001",
                pairs,
                &envs(EnvelopeInput { plaintext: b"Hello World!".to_vec(), aad: b"project=nile,department=marketing".to_vec() }),
            ),
            key_path_case(format, &mut rng, &ks, &hk, "a", pairs, &once(EnvelopeInput { plaintext: data_key.clone(), aad: vec![] })),
            key_path_case(
                format,
                &mut rng,
                &ks,
                &hk,
                &long_path,
                &[&[2, 3]],
                &once(EnvelopeInput { plaintext: vec![], aad: vec![0u8; 300] }),
            ),
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
            format,
            &mut rng,
            &ks1,
            &hk1,
            "ks1/key-0001",
            &[&[1, 3]],
            &once(EnvelopeInput { plaintext: b"refreshed".to_vec(), aad: b"epoch=1".to_vec() }),
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
            format,
            &mut rng,
            &ks2,
            &hk2,
            "ks1/key-0001",
            &[&[1, 2]],
            &once(EnvelopeInput { plaintext: b"Hello World!".to_vec(), aad: b"project=nile,department=marketing".to_vec() }),
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
            format,
            &mut rng,
            &ks5,
            &hk5,
            "tenant-b/orders_2026",
            &[&[1, 2, 3], &[2, 4, 5], &[1, 3, 5]],
            &once(EnvelopeInput { plaintext: (0u8..=255).collect(), aad: b"x".to_vec() }),
        )],
    );

    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let mut constants = json!({
        "suite": suite::SUITE,
        "hashToCurveDst": text(suite::DST_HASH_TO_CURVE),
        "dleqContextString": text(suite::DLEQ_CONTEXT),
        "keySetIdLabel": text(suite::LABEL_KEY_SET_ID),
        "partialCommitmentLabel": text(suite::LABEL_PARTIAL_COMMITMENT),
        "refreshContributionLabel": text(suite::LABEL_REFRESH_CONTRIBUTION),
    });
    let (provenance, version) = match format {
        Format::V1 => {
            constants["hkdfSalt"] = text(suite::HKDF_SALT).into();
            constants["hkdfInfoPrefix"] = text(suite::HKDF_INFO_AES_KEY).into();
            (PROVENANCE_V1, suite::ENVELOPE_VERSION_1)
        }
        Format::V2 => {
            constants["hkdfSalt"] = text(suite::HKDF_SALT_V2).into();
            constants["hkdfInfoPrefix"] = text(suite::HKDF_INFO_ENVELOPE_KEY_V2).into();
            (PROVENANCE_V2, suite::ENVELOPE_VERSION_2)
        }
    };
    constants["envelopeVersion"] = version.into();
    let doc = json!({
        "provenance": provenance,
        "format": version,
        "seed": hex::encode(seed),
        "constants": constants,
        "cases": [c1, c2, c3, c4],
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}

const PROVENANCE_V1: &str = "Self-generated known-answer vectors for xks-threshold format v1 (docs/crypto.md). Produced once by crates/xks-threshold/examples/gen_kat.rs from the fixed ChaCha20 seed below with `cargo run -p xks-threshold --features hazmat-test-vectors --example gen_kat`. Not RFC vectors (those are in ../rfc/). Shares and keys here are test values: never use them for real data. A test fails if any derived byte changes.";

const PROVENANCE_V2: &str = "Self-generated known-answer vectors for xks-threshold envelope format v2 (docs/crypto.md). Produced once by crates/xks-threshold/examples/gen_kat.rs from the fixed ChaCha20 seed below with `cargo run -p xks-threshold --features hazmat-test-vectors --example gen_kat -- 2`. Shares, salts, IVs, proof nonces, plaintexts and AADs are inputs (docs/crypto.md §10 says which values are derived). Not RFC vectors (those are in ../rfc/). Shares and keys here are test values: never use them for real data. A test fails if any derived byte changes.";
