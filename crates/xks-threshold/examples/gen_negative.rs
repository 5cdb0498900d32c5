//! Generates `tests/vectors/kat/xks-threshold-negative.json`: inputs that every
//! implementation of docs/crypto.md must refuse, each with its reason
//! (docs/crypto.md §11). The context (key set, shares, key path, a valid
//! envelope and partial) is the first case of `xks-threshold-v2.json`; each
//! vector changes one thing.
//!
//! `cargo run -p xks-threshold --example gen_negative > tests/vectors/kat/xks-threshold-negative.json`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::print_stdout, clippy::panic, missing_docs)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use xks_threshold::encoding::{decode_point, encode_point};
use xks_threshold::group::{mul_base, random_nonzero_scalar};
use xks_threshold::{AffinePoint, ProjectivePoint, Scalar, suite};

const SEED: [u8; 32] = *b"xks-threshold negative KAT seed.";
/// The P-256 group order n and field prime p, big-endian.
const ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const PRIME: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(s(v)).unwrap()
}

/// A copy of `bytes` with bit 0 of byte `i` flipped.
fn flip(bytes: &[u8], i: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[i] ^= 1;
    out
}

fn vector(name: &str, kind: &str, reason: &str, input: Value) -> Value {
    json!({ "name": name, "kind": kind, "reason": reason, "input": input })
}

/// A key set JSON with the given polynomial coefficients, for holders 1..=n,
/// built without the library's checks (it refuses these on purpose).
fn raw_key_set(coefficients: &[Scalar], n: u32, generation: u32) -> Value {
    let commitments: Vec<AffinePoint> = coefficients.iter().map(mul_base).collect();
    let point_hex = |p: &AffinePoint| hex::encode(encode_point(p).unwrap());
    let shares = (1..=n).map(|i| {
        let x = Scalar::from(u64::from(i));
        let (mut acc, mut power) = (ProjectivePoint::IDENTITY, Scalar::ONE);
        for c in &commitments {
            acc += ProjectivePoint::from(*c) * power;
            power *= x;
        }
        json!({ "holder": i, "key": point_hex(&acc.into()) })
    });
    let mut id = Sha256::new();
    id.update(suite::LABEL_KEY_SET_ID);
    id.update(generation.to_be_bytes());
    id.update(encode_point(&commitments[0]).unwrap());
    json!({
        "version": 1,
        "suite": suite::SUITE,
        "keySetId": hex::encode(id.finalize()),
        "generation": generation,
        "epoch": 0,
        "threshold": coefficients.len(),
        "groupKey": point_hex(&commitments[0]),
        "commitments": commitments.iter().map(point_hex).collect::<Vec<_>>(),
        "verificationShares": shares.collect::<Vec<_>>(),
    })
}

/// The first x for which `0x02 ‖ x` is not on the curve.
fn off_curve_x() -> Vec<u8> {
    (1u8..).map(|x| [vec![2u8], vec![0u8; 31], vec![x]].concat()).find(|b| decode_point(b).is_err()).unwrap()
}

fn main() {
    let v2: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/kat/xks-threshold-v2.json")).unwrap(),
    )
    .unwrap();
    let case = &v2["cases"][0];
    let kp = &case["keyPaths"][0];
    let env = &kp["envelopes"][0];
    let combo = &kp["combinations"][0];
    let partial = &combo["partials"][1];
    assert_eq!((combo["set"].clone(), partial["holder"].as_u64()), (json!([1, 2]), Some(2)));
    let mut rng = ChaCha20Rng::from_seed(SEED);
    let mut vectors = vec![];

    // Decrypt: the envelope's fields with one changed.
    let fields = ["ciphertext", "ciphertextMetadata", "iv", "authenticationTag", "aad"];
    let decrypt = |name: &str, reason: &str, field: &str, value: Vec<u8>| {
        let mut input = json!({});
        for f in fields {
            input[f] = env[f].clone();
        }
        input[field] = hex::encode(value).into();
        vector(name, "decrypt", reason, input)
    };
    let md = unhex(&env["ciphertextMetadata"]);
    let (iv, tag, aad) = (unhex(&env["iv"]), unhex(&env["authenticationTag"]), unhex(&env["aad"]));
    let with_byte = |i: usize, b: u8| {
        let mut m = md.clone();
        m[i] = b;
        m
    };
    vectors.extend([
        decrypt("metadata: unknown version 0x03", "metadata", "ciphertextMetadata", with_byte(0, 3)),
        decrypt("metadata: version 0x00", "metadata", "ciphertextMetadata", with_byte(0, 0)),
        decrypt("metadata: v2 byte with v1's length (5 bytes)", "metadata", "ciphertextMetadata", md[..5].to_vec()),
        decrypt("metadata: v1 byte with v2's length (20 bytes)", "metadata", "ciphertextMetadata", with_byte(0, 1)),
        decrypt("metadata: 21 bytes", "metadata", "ciphertextMetadata", [md.clone(), vec![0]].concat()),
        decrypt("metadata: absent (empty)", "metadata", "ciphertextMetadata", vec![]),
        decrypt("IV of 16 bytes (the XKS spec allows it; we never produce one)", "iv-length", "iv", [iv.clone(), vec![0; 4]].concat()),
        decrypt("IV of 11 bytes", "iv-length", "iv", iv[..11].to_vec()),
        decrypt("tag of 15 bytes", "tag-length", "authenticationTag", tag[..15].to_vec()),
        decrypt("tag with one bit flipped", "authentication", "authenticationTag", flip(&tag, 15)),
        decrypt("ciphertext with one bit flipped", "authentication", "ciphertext", flip(&unhex(&env["ciphertext"]), 0)),
        decrypt("salt with one bit flipped (another envelope key)", "authentication", "ciphertextMetadata", flip(&md, 19)),
        decrypt("AAD with one bit flipped", "authentication", "aad", flip(&aad, 0)),
        decrypt("v2 envelope relabelled as v1 (its first 5 bytes, version 0x01)", "authentication", "ciphertextMetadata", {
            let mut m = md[..5].to_vec();
            m[0] = 1;
            m
        }),
        decrypt("metadata names generation 2; the key set is generation 1", "generation", "ciphertextMetadata", with_byte(4, 2)),
    ]);

    // Partials: holder 2's partial for set [1, 2] with one thing changed.
    let (point, proof) = (unhex(&partial["partial"]), unhex(&partial["proof"]));
    let order = hex::decode(ORDER).unwrap();
    let partial_vector = |name: &str, reason: &str, set: &[u32], point: &[u8], proof: &[u8]| {
        vector(name, "partial", reason, json!({"holder": 2, "set": set, "partial": hex::encode(point), "proof": hex::encode(proof)}))
    };
    let negated = {
        let mut p = point.clone();
        p[0] ^= 1; // 0x02 <-> 0x03: the same x, the other y, i.e. -W
        p
    };
    vectors.extend([
        partial_vector("proof: s with one bit flipped", "proof", &[1, 2], &point, &flip(&proof, 63)),
        partial_vector("proof: c with one bit flipped", "proof", &[1, 2], &point, &flip(&proof, 31)),
        partial_vector("proof for set [1, 2] presented for set [2, 3]", "proof", &[2, 3], &point, &proof),
        partial_vector("partial negated (-W, a valid point) with W's proof", "proof", &[1, 2], &negated, &proof),
        partial_vector(
            "proof: c = n (scalar not below the group order)",
            "scalar",
            &[1, 2],
            &point,
            &[order.clone(), proof[32..].to_vec()].concat(),
        ),
        partial_vector("proof: s = 2^256 - 1", "scalar", &[1, 2], &point, &[proof[..32].to_vec(), vec![0xff; 32]].concat()),
        partial_vector(
            "partial: x = p (non-canonical field element)",
            "point",
            &[1, 2],
            &[vec![2u8], hex::decode(PRIME).unwrap()].concat(),
            &proof,
        ),
    ]);

    // Point encodings that are not SerializeElement of a non-identity point.
    let point_vector = |name: &str, bytes: Vec<u8>| vector(name, "point", "point", json!({ "bytes": hex::encode(bytes) }));
    let uncompressed = encode_uncompressed(&decode_point(&point).unwrap());
    vectors.extend([
        point_vector("the SEC1 encoding of the identity (one byte 0x00)", vec![0]),
        point_vector("33 zero bytes", vec![0; 33]),
        point_vector("x = p (non-canonical field element)", [vec![3u8], hex::decode(PRIME).unwrap()].concat()),
        point_vector("x = 2^256 - 1 (above p)", [vec![2u8], vec![0xff; 32]].concat()),
        point_vector("x with no point on the curve", off_curve_x()),
        point_vector("uncompressed encoding (65 bytes) of a valid point", uncompressed),
        point_vector("tag 0x05", [vec![5u8], point[1..].to_vec()].concat()),
        point_vector("32 bytes (tag missing)", point[1..].to_vec()),
    ]);

    // Share values (in holder 1's share file).
    let share_vector = |name: &str, reason: &str, bytes: Vec<u8>| vector(name, "share", reason, json!({ "share": hex::encode(bytes) }));
    vectors.extend([
        share_vector("share = n", "scalar", order.clone()),
        share_vector("share = 2^256 - 1", "scalar", vec![0xff; 32]),
        share_vector("share = 0", "zero-scalar", vec![0; 32]),
        share_vector("share of 31 bytes", "scalar", vec![1; 31]),
    ]);

    // Key paths.
    let path_vector = |name: &str, path: String| vector(name, "keyPath", "key-path", json!({ "keyPath": path }));
    vectors.extend([
        path_vector("256 bytes (one over the bound)", "k".repeat(256)),
        path_vector("empty", String::new()),
        path_vector("a space", "ks1/key 0001".to_owned()),
        path_vector("non-ASCII (UTF-8 é)", "ks1/cl\u{e9}".to_owned()),
    ]);

    // Key sets whose threshold is out of bounds (every other field consistent).
    let coefficients = |t: usize, rng: &mut ChaCha20Rng| (0..t).map(|_| random_nonzero_scalar(rng)).collect::<Vec<_>>();
    vectors.extend([
        vector(
            "t = 1: every share equals the master secret",
            "keySet",
            "threshold",
            json!({ "keySet": raw_key_set(&coefficients(1, &mut rng), 3, 1) }),
        ),
        vector("t = 4 > n = 3", "keySet", "threshold", json!({ "keySet": raw_key_set(&coefficients(4, &mut rng), 3, 1) })),
    ]);

    let doc = json!({
        "provenance": "Negative vectors for xks-threshold (docs/crypto.md §11): inputs every implementation must refuse, each with its reason. Produced once by crates/xks-threshold/examples/gen_negative.rs (`cargo run -p xks-threshold --example gen_negative`). The context is the first case of xks-threshold-v2.json; each vector changes one thing. Test values: never use them for real data.",
        "seed": hex::encode(SEED),
        "context": {
            "vectorFile": "xks-threshold-v2.json",
            "case": case["name"],
            "keyPath": kp["keyPath"],
            "envelope": 0,
            "partial": { "set": [1, 2], "holder": 2 },
        },
        "reasons": {
            "metadata": "ciphertextMetadata absent, of an unknown version, or of another length than its version's (§8, §8.1)",
            "iv-length": "IV not 12 bytes (§8)",
            "tag-length": "authentication tag not 16 bytes (§8)",
            "authentication": "the GCM tag does not verify under the key the metadata selects (§8.2)",
            "generation": "the metadata names a generation other than the key set's (§8.2)",
            "proof": "the DLEQ proof does not verify (§6.1)",
            "scalar": "a scalar that is not 32 bytes below n (§1)",
            "zero-scalar": "a share of zero (§3)",
            "point": "not SerializeElement of a non-identity point (§1)",
            "key-path": "not 1 to 255 bytes of [A-Za-z0-9._:/=@+-] (§4)",
            "threshold": "not 2 <= t <= n <= 255 (§3)",
        },
        "vectors": vectors,
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}

fn encode_uncompressed(p: &AffinePoint) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    p.to_encoded_point(false).as_bytes().to_vec()
}
