//! Negative vectors (docs/crypto.md §11): every input of
//! `tests/vectors/kat/xks-threshold-negative.json` is refused, for the reason
//! the file gives.

use serde_json::Value;
use xks_threshold::encoding::{decode_nonzero_scalar, decode_point};
use xks_threshold::{Combiner, CombiningSet, DataKey, Error, HolderId, HolderKey, KeyPath, KeySet, Partial, Share};

const NEGATIVE: &str = include_str!("../../../../tests/vectors/kat/xks-threshold-negative.json");
const KAT_V2: &str = include_str!("../../../../tests/vectors/kat/xks-threshold-v2.json");

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(s(v)).unwrap()
}

/// The context: the first case of the v2 file.
struct Context {
    key_set: KeySet,
    holders: Vec<HolderKey>,
    key_path: KeyPath,
    share_json: Value,
}

fn context(doc: &Value) -> Context {
    let v2: Value = serde_json::from_str(KAT_V2).unwrap();
    let case = &v2["cases"][0];
    assert_eq!(case["name"], doc["context"]["case"]);
    let key_set: KeySet = serde_json::from_value(case["keySet"].clone()).unwrap();
    let shares = case["shares"].as_array().unwrap();
    let holders = shares.iter().map(|j| HolderKey::new(Share::from_json(&j.to_string()).unwrap(), key_set.clone()).unwrap()).collect();
    Context { key_set, holders, key_path: KeyPath::new(s(&doc["context"]["keyPath"])).unwrap(), share_json: shares[0].clone() }
}

/// The key path's secret from holders 1 and 2, through verified partials.
fn data_key(ctx: &Context) -> DataKey {
    let point = ctx.key_path.to_point().unwrap();
    let set = CombiningSet::new([1, 2].map(|i| HolderId::new(i).unwrap())).unwrap();
    let combiner = Combiner::new(ctx.key_set.clone(), set.clone()).unwrap();
    let verified: Vec<_> = ctx.holders[..2]
        .iter()
        .map(|h| combiner.verify(&point, h.evaluate(&point, &set, true, &mut rand_core::OsRng).unwrap()).unwrap())
        .collect();
    combiner.combine(&point, &verified.iter().collect::<Vec<_>>()).unwrap()
}

/// The reason a refusal stands for, in the file's vocabulary.
fn reason(e: &Error) -> &'static str {
    match e {
        Error::InvalidMetadata => "metadata",
        Error::BadLength { what: "initializationVector", .. } => "iv-length",
        Error::BadLength { what: "authenticationTag", .. } => "tag-length",
        Error::Decryption => "authentication",
        Error::GenerationMismatch { .. } => "generation",
        Error::InvalidPartial(_) => "proof",
        Error::InvalidScalar => "scalar",
        Error::ZeroScalar => "zero-scalar",
        Error::InvalidPoint | Error::IdentityPoint => "point",
        Error::InvalidKeyPath(_) => "key-path",
        Error::InvalidThreshold { .. } => "threshold",
        Error::Malformed { detail, .. } if detail.contains("invalid threshold") => "threshold",
        _ => "other",
    }
}

/// Runs one vector through the library: the error it is refused with, if any.
fn refuse(ctx: &Context, key: &DataKey, kind: &str, input: &Value) -> Option<Error> {
    match kind {
        "decrypt" => {
            let f = |k: &str| unhex(&input[k]);
            key.decrypt(&f("ciphertext"), &f("ciphertextMetadata"), &f("iv"), &f("authenticationTag"), &f("aad")).err()
        }
        "partial" => {
            let set =
                CombiningSet::new(input["set"].as_array().unwrap().iter().map(|i| HolderId::new(i.as_u64().unwrap() as u32).unwrap()))
                    .unwrap();
            let holder = HolderId::new(input["holder"].as_u64().unwrap() as u32).unwrap();
            let point = ctx.key_path.to_point().unwrap();
            Partial::from_parts(holder, 1, 0, set.clone(), &unhex(&input["partial"]), Some(&unhex(&input["proof"])))
                .and_then(|p| Combiner::new(ctx.key_set.clone(), set)?.verify(&point, p))
                .err()
        }
        "point" => decode_point(&unhex(&input["bytes"])).err(),
        "share" => {
            // The share file is refused too, whatever its loader calls the reason.
            let mut file = ctx.share_json.clone();
            file["share"] = input["share"].clone();
            assert!(Share::from_json(&file.to_string()).is_err());
            decode_nonzero_scalar(&unhex(&input["share"])).err()
        }
        "keyPath" => KeyPath::new(s(&input["keyPath"])).err(),
        "keySet" => KeySet::from_json(&input["keySet"].to_string()).err(),
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn every_negative_vector_is_refused_for_its_reason() {
    let doc: Value = serde_json::from_str(NEGATIVE).unwrap();
    let ctx = context(&doc);
    let key = data_key(&ctx);
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 40, "the file must not be truncated: {}", vectors.len());
    let reasons = doc["reasons"].as_object().unwrap();
    for v in vectors {
        let (name, kind, want) = (s(&v["name"]), s(&v["kind"]), s(&v["reason"]));
        assert!(reasons.contains_key(want), "{name}: reason {want} is not documented");
        let got = refuse(&ctx, &key, kind, &v["input"]);
        assert_eq!(got.as_ref().map(reason), Some(want), "{kind} {name}: {got:?}");
    }
    // Positive control: the unchanged context envelope opens.
    let v2: Value = serde_json::from_str(KAT_V2).unwrap();
    let env = &v2["cases"][0]["keyPaths"][0]["envelopes"][0];
    let f = |k: &str| unhex(&env[k]);
    assert_eq!(
        *key.decrypt(&f("ciphertext"), &f("ciphertextMetadata"), &f("iv"), &f("authenticationTag"), &f("aad")).unwrap(),
        f("plaintext")
    );
}
