//! Malformed input never panics and always gets a typed error.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_threshold::encoding::{
    PointEncoding, decode_nonzero_scalar, decode_point, decode_point_any, decode_scalar, encode_point, encode_point_as,
};
use xks_threshold::{CombiningSet, Error, HolderId, HolderKey, KeyPath, KeySet, Metadata, Partial, Share, dealer};

/// The P-256 group order n, big-endian.
const ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

fn fixture() -> (KeySet, Vec<Share>) {
    dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(11)).unwrap()
}

#[test]
fn bad_point_encodings_are_refused() {
    assert_eq!(decode_point(&[0u8]).unwrap_err(), Error::InvalidPoint, "SEC1 identity encoding");
    assert_eq!(decode_point(&[0u8; 33]).unwrap_err(), Error::InvalidPoint, "p256 reads 33 zero bytes as the identity; we do not");
    assert_eq!(decode_point(&[]).unwrap_err(), Error::InvalidPoint);
    // Uncompressed encodings are not our wire format.
    let mut unc = vec![4u8];
    unc.extend([1u8; 64]);
    assert_eq!(decode_point(&unc).unwrap_err(), Error::InvalidPoint);
    // An invalid SEC1 tag; x = p (non-canonical field element).
    let mut tag5 = vec![5u8];
    tag5.extend(hex::decode(ORDER).unwrap());
    assert!(decode_point(&tag5).is_err());
    let mut xp = vec![3u8];
    xp.extend(hex::decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff").unwrap());
    assert!(decode_point(&xp).is_err());
    // SEC1's 33-byte "compact" form (tag 0x05) of a point that exists: the
    // parser underneath reads it; ours must not (one point, one encoding).
    let g = xks_threshold::encoding::encode_point(&xks_threshold::AffinePoint::GENERATOR).unwrap();
    let compact = [&[5u8][..], &g[1..]].concat();
    assert_eq!(decode_point(&compact).unwrap_err(), Error::InvalidPoint);
    assert!(decode_point(&g).is_ok());
}

/// docs/crypto.md §6.4: a partial may travel uncompressed; its reader checks
/// it as strictly as `SerializeElement` and gets the same point, so the
/// commitment and the proof (which hash `SerializeElement`) do not change.
#[test]
fn a_partial_in_transport_form_is_the_same_partial_and_bad_ones_are_refused() {
    let g = xks_threshold::AffinePoint::GENERATOR;
    let unc = encode_point_as(&g, PointEncoding::Uncompressed).unwrap();
    assert_eq!((unc.len(), unc[0]), (65, 4));
    assert_eq!(decode_point_any(&unc).unwrap(), g);
    assert_eq!(decode_point_any(&encode_point(&g).unwrap()).unwrap(), g);
    assert_eq!(&encode_point_as(&g, PointEncoding::Compressed).unwrap()[..], &encode_point(&g).unwrap()[..]);
    // Hybrid tags (0x06/0x07), a wrong tag, y flipped (off the curve), x = p,
    // the all-zero point, one byte short or long.
    let p_hex = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = unc.to_vec();
        f(&mut b);
        b
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("hybrid tag 6", with(&|b| b[0] = 6)),
        ("hybrid tag 7", with(&|b| b[0] = 7)),
        ("compressed tag on 65 bytes", with(&|b| b[0] = 2)),
        ("y with one bit flipped", with(&|b| b[64] ^= 1)),
        ("x = p", with(&|b| b[1..33].copy_from_slice(&hex::decode(p_hex).unwrap()))),
        ("y = p", with(&|b| b[33..65].copy_from_slice(&hex::decode(p_hex).unwrap()))),
        ("all zero", with(&|b| b[1..].fill(0))),
        ("64 bytes", with(&|b| b.truncate(64))),
        ("66 bytes", with(&|b| b.push(0))),
    ];
    for (what, bytes) in bad {
        assert!(decode_point_any(&bytes).is_err(), "{what} was accepted");
    }
    // The compressed form stays as strict as before.
    assert_eq!(decode_point_any(&[0u8; 33]).unwrap_err(), Error::InvalidPoint);
    assert_eq!(decode_point_any(&[0u8]).unwrap_err(), Error::InvalidPoint);
}

#[test]
fn zero_and_out_of_range_scalars_are_refused() {
    assert_eq!(decode_nonzero_scalar(&[0u8; 32]).unwrap_err(), Error::ZeroScalar);
    assert!(decode_scalar(&[0u8; 32]).is_ok());
    assert_eq!(decode_scalar(&hex::decode(ORDER).unwrap()).unwrap_err(), Error::InvalidScalar);
    assert_eq!(decode_scalar(&[0xff; 32]).unwrap_err(), Error::InvalidScalar);
    assert_eq!(decode_scalar(&[1u8; 31]).unwrap_err(), Error::InvalidScalar);
}

#[test]
fn holder_ids_and_thresholds_are_validated() {
    assert_eq!(HolderId::new(0).unwrap_err(), Error::InvalidHolderId(0));
    assert_eq!(HolderId::new(256).unwrap_err(), Error::InvalidHolderId(256));
    assert!(HolderId::new(255).is_ok());
    assert!(serde_json::from_str::<HolderId>("0").is_err());
    let h = |i| HolderId::new(i).unwrap();
    assert_eq!(CombiningSet::new([h(1), h(2), h(1)]).unwrap_err(), Error::DuplicateHolder(h(1)));
    assert!(CombiningSet::new([]).is_err());
    assert!(serde_json::from_str::<CombiningSet>("[2,2]").is_err());
    let mut r = ChaCha20Rng::seed_from_u64(1);
    for (t, n) in [(0u16, 3u16), (1, 3), (1, 1), (4, 3), (0, 0), (2, 256)] {
        assert!(matches!(dealer::generate(t, n, 1, &mut r), Err(Error::InvalidThreshold { .. })), "t={t} n={n}");
    }
    assert!(dealer::generate(2, 3, 0, &mut r).is_err(), "generation 0");
}

#[test]
fn key_paths_are_validated() {
    assert!(KeyPath::new("").is_err());
    assert!(KeyPath::new("a".repeat(256)).is_err());
    assert!(KeyPath::new("a".repeat(255)).is_ok());
    for bad in ["with space", "tab\t", "ü", "a\"b", "new\nline", "semi;colon"] {
        assert!(KeyPath::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn key_set_json_is_validated() {
    let (ks, _) = fixture();
    let good: serde_json::Value = serde_json::from_str(&ks.to_json().unwrap()).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        KeySet::from_json(&v.to_string())
    };
    assert!(edit(&|_| {}).is_ok());
    assert!(matches!(edit(&|v| v["version"] = 2.into()), Err(Error::Malformed { .. } | Error::UnsupportedVersion { .. })));
    assert!(edit(&|v| v["suite"] = "P384-SHA384".into()).is_err());
    assert!(edit(&|v| v["extra"] = 1.into()).is_err(), "unknown fields are rejected");
    assert!(edit(&|v| v["threshold"] = 4.into()).is_err(), "t > n");
    assert!(edit(&|v| v["threshold"] = 0.into()).is_err(), "t = 0");
    // t = 1: every share would be the master secret. Refused before anything else is checked.
    let t1 = edit(&|v| {
        v["threshold"] = 1.into();
        v["commitments"] = serde_json::json!([v["commitments"][0].clone()]);
    });
    assert!(matches!(&t1, Err(Error::Malformed { detail, .. }) if detail.contains("invalid threshold: t=1")), "t = 1: {t1:?}");
    assert!(edit(&|v| v["verificationShares"][1]["key"] = v["verificationShares"][0]["key"].clone()).is_err(), "Y_2 != commitments(2)");
    assert!(edit(&|v| v["verificationShares"][1]["holder"] = 1.into()).is_err(), "duplicate holder");
    assert!(edit(&|v| v["keySetId"] = "00".repeat(32).into()).is_err(), "wrong key set id");
    assert!(edit(&|v| v["groupKey"] = v["commitments"][1].clone()).is_err(), "X != C_0");
    assert!(edit(&|v| v["commitments"][1] = "00".into()).is_err(), "identity commitment");
}

#[test]
fn share_json_is_validated_and_errors_never_echo_secrets() {
    let (ks, shares) = fixture();
    let good: serde_json::Value = serde_json::from_str(&shares[0].to_json().unwrap()).unwrap();
    let secret_hex = good["share"].as_str().unwrap().to_owned();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        Share::from_json(&v.to_string())
    };
    assert!(edit(&|_| {}).is_ok());
    assert_eq!(edit(&|v| v["version"] = 9.into()).unwrap_err(), Error::UnsupportedVersion { what: "share", version: 9 });
    assert_eq!(edit(&|v| v["share"] = "00".repeat(32).into()).unwrap_err(), Error::ZeroScalar);
    assert!(edit(&|v| v["share"] = ORDER.into()).is_err());
    assert!(edit(&|v| v["holder"] = 0.into()).is_err());
    // A truncated file: the error names the position, never the content.
    let text = shares[0].to_json().unwrap();
    let cut = &text[..text.find(&secret_hex).unwrap() + 20];
    let err = Share::from_json(cut).unwrap_err().to_string();
    assert!(!err.contains(&secret_hex[..20]), "error echoes secret material: {err}");
    let err = edit(&|v| v["share"] = format!("{}zz", &secret_hex[..62]).into()).unwrap_err().to_string();
    assert!(!err.contains(&secret_hex[..20]), "error echoes secret material: {err}");
    // Debug never prints the secret.
    assert!(!format!("{:?}", shares[0]).contains(&secret_hex));
    // A share of another key set (or another holder's position) does not verify.
    let (other_ks, other_shares) = dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(12)).unwrap();
    assert_eq!(HolderKey::new(other_shares[0].clone(), ks.clone()).unwrap_err(), Error::ShareMismatch(HolderId::new(1).unwrap()));
    let moved = edit(&|v| v["holder"] = 2.into()).unwrap();
    assert_eq!(HolderKey::new(moved, ks.clone()).unwrap_err(), Error::ShareMismatch(HolderId::new(2).unwrap()));
    let relabelled = edit(&|v| v["keySetId"] = other_ks.id().to_hex().into()).unwrap();
    assert!(HolderKey::new(relabelled, other_ks).is_err());
}

#[test]
fn metadata_of_unknown_versions_is_refused() {
    assert_eq!(Metadata::parse(&[2, 0, 0, 0, 1]).unwrap_err(), Error::InvalidMetadata, "v2 is 20 bytes");
    assert_eq!(Metadata::parse(&[3; 20]).unwrap_err(), Error::InvalidMetadata);
    assert_eq!(Metadata::parse(&[0, 0, 0, 0, 1]).unwrap_err(), Error::InvalidMetadata);
    assert_eq!(Metadata::parse(&[]).unwrap_err(), Error::InvalidMetadata);
    assert_eq!(Metadata::parse(&[1, 0, 0, 0]).unwrap_err(), Error::InvalidMetadata);
    assert_eq!(Metadata::parse(b"key_version=1").unwrap_err(), Error::InvalidMetadata);
    assert_eq!(Metadata::parse(&[1, 0, 0, 0, 7]).unwrap().generation(), 7);
    let mut v2 = [9u8; 20];
    v2[..5].copy_from_slice(&[2, 0, 0, 1, 0]);
    assert_eq!(Metadata::parse(&v2).unwrap(), Metadata::V2 { generation: 256, salt: [9; 15] });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode_point(&bytes);
        let _ = decode_point_any(&bytes);
        let _ = decode_scalar(&bytes);
        let _ = Metadata::parse(&bytes);
        let _ = xks_threshold::dleq::Proof::from_bytes(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics_the_parsers(text in ".{0,200}") {
        let _ = KeySet::from_json(&text);
        let _ = Share::from_json(&text);
        let _ = Partial::from_json(&text);
        let _ = KeyPath::new(text.clone());
    }

    #[test]
    fn partial_json_with_arbitrary_fields_never_panics(holder in 0u32..300, generation in any::<u32>(), set in proptest::collection::vec(0u32..300, 0..5), point in "[0-9a-f]{0,70}", proof in proptest::option::of("[0-9a-f]{0,130}")) {
        let v = serde_json::json!({"version": 1, "holder": holder, "generation": generation, "epoch": 0, "set": set, "partial": point, "proof": proof});
        let _ = Partial::from_json(&v.to_string());
    }
}
