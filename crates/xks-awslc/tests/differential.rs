//! Differential tests: AWS-LC against the pure-Rust reference (`p256` 0.13) on
//! random and edge inputs, and AWS-LC's hash-to-curve against RFC 9380's vectors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use p256::elliptic_curve::hash2curve::{ExpandMsgXmd, GroupDigest};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::elliptic_curve::{Field, PrimeField};
use p256::{AffinePoint, EncodedPoint, NistP256, ProjectivePoint, Scalar};
use proptest::prelude::*;
use sha2::Sha256;

const RFC9380: &str = include_str!("../../../tests/vectors/rfc/rfc9380-P256_XMD-SHA-256_SSWU_RO_.json");
const N_MINUS_1: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550";
const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

fn enc(p: &ProjectivePoint) -> [u8; 65] {
    p.to_affine().to_encoded_point(false).as_bytes().try_into().unwrap()
}

fn dec(b: &[u8; 65]) -> ProjectivePoint {
    let e = EncodedPoint::from_bytes(b).unwrap();
    ProjectivePoint::from(Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&e)).unwrap())
}

fn scalar(b: &[u8; 32]) -> Option<Scalar> {
    Scalar::from_repr((*b).into()).into()
}

fn b32(h: &str) -> [u8; 32] {
    hex::decode(h).unwrap().try_into().unwrap()
}

#[test]
fn aws_lc_hash_to_curve_matches_rfc9380_vectors() {
    let d: serde_json::Value = serde_json::from_str(RFC9380).unwrap();
    let dst = d["dst"].as_str().unwrap().as_bytes();
    let vectors = d["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let p = xks_awslc::hash_to_curve(v["msg"].as_str().unwrap().as_bytes(), dst).unwrap();
        assert_eq!(hex::encode(&p[1..33]), v["P"]["x"].as_str().unwrap().trim_start_matches("0x"));
        assert_eq!(hex::encode(&p[33..]), v["P"]["y"].as_str().unwrap().trim_start_matches("0x"));
    }
}

#[test]
fn edge_scalars_agree_or_are_refused() {
    let g = enc(&ProjectivePoint::GENERATOR);
    // 1, 2, n-1 agree with the reference.
    for h in ["00".repeat(31) + "01", "00".repeat(31) + "02", N_MINUS_1.to_owned()] {
        let k = b32(&h);
        let s = scalar(&k).unwrap();
        assert_eq!(xks_awslc::mul(&g, &k).unwrap(), enc(&(ProjectivePoint::GENERATOR * s)));
        assert_eq!(xks_awslc::mul_base(&k).unwrap(), enc(&(ProjectivePoint::GENERATOR * s)));
    }
    // 0 gives the identity, n is not a valid scalar: both refused (the caller falls back).
    assert!(xks_awslc::mul(&g, &[0u8; 32]).is_none());
    assert!(xks_awslc::mul_base(&[0u8; 32]).is_none());
    assert!(xks_awslc::mul(&g, &b32(N)).is_none() || xks_awslc::mul(&g, &b32(N)) == xks_awslc::mul(&g, &[0u8; 32]));
    // a·G + b·P with a = −b·log(P) is the identity: refused.
    let one = b32(&("00".repeat(31) + "01"));
    assert!(xks_awslc::mul_base_add(&one, &b32(N_MINUS_1), &g).is_none());
    // A point off the curve is refused.
    let mut bad = g;
    bad[64] ^= 1;
    assert!(xks_awslc::mul(&bad, &one).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn mul_agrees_with_reference(k in any::<[u8; 32]>(), j in any::<[u8; 32]>()) {
        let (Some(ks), Some(js)) = (scalar(&k), scalar(&j)) else { return Ok(()) };
        prop_assume!(!bool::from(ks.is_zero()) && !bool::from(js.is_zero()));
        let p = ProjectivePoint::GENERATOR * js;
        prop_assert_eq!(xks_awslc::mul(&enc(&p), &k).unwrap(), enc(&(p * ks)));
        prop_assert_eq!(xks_awslc::mul_base(&k).unwrap(), enc(&(ProjectivePoint::GENERATOR * ks)));
        prop_assert_eq!(xks_awslc::mul_base_add(&k, &j, &enc(&p)).unwrap(), enc(&(ProjectivePoint::GENERATOR * ks + p * js)));
        prop_assert_eq!(dec(&xks_awslc::mul(&enc(&p), &k).unwrap()), p * ks);
        let q = ProjectivePoint::GENERATOR * ks;
        prop_assume!(p != q && p != -q);
        prop_assert_eq!(xks_awslc::add(&enc(&p), &enc(&q)).unwrap(), enc(&(p + q)));
    }

    #[test]
    fn hash_to_curve_agrees_with_reference(msg in proptest::collection::vec(any::<u8>(), 0..300), dst in "[ -~]{1,80}") {
        let reference = NistP256::hash_from_bytes::<ExpandMsgXmd<Sha256>>(&[&msg], &[dst.as_bytes()]).unwrap();
        prop_assert_eq!(xks_awslc::hash_to_curve(&msg, dst.as_bytes()).unwrap(), enc(&reference));
    }
}
