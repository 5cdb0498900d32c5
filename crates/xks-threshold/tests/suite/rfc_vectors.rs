//! The standards our construction stands on, proven with the RFCs' own vectors:
//! RFC 9380 hash-to-curve (`P256_XMD:SHA-256_SSWU_RO_`, `expand_message_xmd`) and
//! RFC 9497 §2.2 DLEQ proofs (P256-SHA256, VOPRF and POPRF modes).

use crate::common::unhex;
use p256::elliptic_curve::hash2curve::{ExpandMsg, ExpandMsgXmd, Expander};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::Value;
use sha2::Sha256;
use xks_threshold::dleq::{Proof, generate_proof_with_nonce, verify_proof};
use xks_threshold::encoding::{decode_nonzero_scalar, decode_point, decode_scalar, encode_point};
use xks_threshold::group::{hash_to_curve, hash_to_scalar, mul, mul_base};
use xks_threshold::{AffinePoint, ProjectivePoint, Scalar};

const H2C: &str = include_str!("../../../../tests/vectors/rfc/rfc9380-P256_XMD-SHA-256_SSWU_RO_.json");
const XMD: &str = include_str!("../../../../tests/vectors/rfc/rfc9380-expand_message_xmd_SHA256_38.json");
const OPRF: &str = include_str!("../../../../tests/vectors/rfc/rfc9497-allVectors.json");

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// RFC 9380 Appendix J.1.1: `P256_XMD:SHA-256_SSWU_RO_` with the RFC's DST.
#[test]
fn rfc9380_hash_to_curve_p256_ro() {
    let d: Value = serde_json::from_str(H2C).unwrap();
    assert_eq!(s(&d["ciphersuite"]), "P256_XMD:SHA-256_SSWU_RO_");
    let dst = s(&d["dst"]).as_bytes();
    let vectors = d["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 5, "RFC 9380 J.1.1 has five vectors");
    for v in vectors {
        let p = hash_to_curve(s(&v["msg"]).as_bytes(), dst).unwrap();
        let enc = p.to_encoded_point(false);
        assert_eq!(hex::encode(enc.x().unwrap()), s(&v["P"]["x"]).trim_start_matches("0x"), "msg {:?}", v["msg"]);
        assert_eq!(hex::encode(enc.y().unwrap()), s(&v["P"]["y"]).trim_start_matches("0x"), "msg {:?}", v["msg"]);
    }
}

/// RFC 9380 Appendix K.1: `expand_message_xmd` with SHA-256.
#[test]
fn rfc9380_expand_message_xmd_sha256() {
    let d: Value = serde_json::from_str(XMD).unwrap();
    let dst = s(&d["DST"]).as_bytes();
    let tests = d["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 10);
    for t in tests {
        let len = usize::from_str_radix(s(&t["len_in_bytes"]).trim_start_matches("0x"), 16).unwrap();
        let mut out = vec![0u8; len];
        let msg = s(&t["msg"]).as_bytes();
        let dsts = [dst];
        let mut e = <ExpandMsgXmd<Sha256> as ExpandMsg>::expand_message(&[msg], &dsts, len).unwrap();
        e.fill_bytes(&mut out);
        assert_eq!(hex::encode(out), s(&t["uniform_bytes"]));
    }
}

fn context(mode: u8) -> Vec<u8> {
    [b"OPRFV1-".as_slice(), &[mode], b"-P256-SHA256"].concat()
}

fn points(csv: &str) -> Vec<AffinePoint> {
    csv.split(',').map(|h| decode_point(&unhex(h)).unwrap()).collect()
}

fn p256_suites(mode: u64) -> Vec<Value> {
    let all: Vec<Value> = serde_json::from_str(OPRF).unwrap();
    let found: Vec<Value> = all.into_iter().filter(|e| e["identifier"] == "P256-SHA256" && e["mode"] == mode).collect();
    assert_eq!(found.len(), 1);
    found
}

/// Checks GenerateProof (with the RFC's nonce) and VerifyProof on one statement,
/// and that any change to the proof or statement is rejected.
fn check_proof(ctx: &[u8], k: &Scalar, b: &AffinePoint, c: &[AffinePoint], d: &[AffinePoint], v: &Value) {
    let r = decode_scalar(&unhex(s(&v["Proof"]["r"]))).unwrap();
    let proof = generate_proof_with_nonce(ctx, k, &AffinePoint::GENERATOR, b, c, d, &r).unwrap();
    assert_eq!(hex::encode(proof.to_bytes()), s(&v["Proof"]["proof"]));
    let parsed = Proof::from_bytes(&unhex(s(&v["Proof"]["proof"]))).unwrap();
    verify_proof(ctx, &AffinePoint::GENERATOR, b, c, d, &parsed).unwrap();
    // Tampering: a flipped proof bit, another key, a swapped element.
    let mut bad = parsed.to_bytes();
    bad[63] ^= 1;
    assert!(verify_proof(ctx, &AffinePoint::GENERATOR, b, c, d, &Proof::from_bytes(&bad).unwrap()).is_err());
    assert!(
        verify_proof(ctx, &AffinePoint::GENERATOR, &(ProjectivePoint::from(*b) + ProjectivePoint::GENERATOR).to_affine(), c, d, &parsed)
            .is_err()
    );
    let mut d2 = d.to_vec();
    d2[0] = (ProjectivePoint::from(d2[0]) + ProjectivePoint::GENERATOR).to_affine();
    assert!(verify_proof(ctx, &AffinePoint::GENERATOR, b, c, &d2, &parsed).is_err());
}

/// RFC 9497 Appendix A.3.2 (P256-SHA256, VOPRF): proof of `log_G(pkS) == log_{Blinded}(Evaluated)`.
#[test]
fn rfc9497_voprf_p256_dleq_proofs() {
    let suite = &p256_suites(1)[0];
    let sk = decode_nonzero_scalar(&unhex(s(&suite["skSm"]))).unwrap();
    let pk = mul_base(&sk);
    assert_eq!(hex::encode(encode_point(&pk).unwrap()), s(&suite["pkSm"]));
    let vectors = suite["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let c = points(s(&v["BlindedElement"]));
        let d = points(s(&v["EvaluationElement"]));
        for (ci, di) in c.iter().zip(&d) {
            assert_eq!(mul(ci, &sk), *di, "BlindEvaluate");
        }
        check_proof(&context(1), &sk, &pk, &c, &d, v);
    }
}

/// RFC 9497 Appendix A.3.3 (P256-SHA256, POPRF): the proof is over the tweaked key
/// `t = skS + HashToScalar("Info" || len || info)` with C, D swapped.
#[test]
fn rfc9497_poprf_p256_dleq_proofs() {
    let suite = &p256_suites(2)[0];
    let ctx = context(2);
    let sk = decode_nonzero_scalar(&unhex(s(&suite["skSm"]))).unwrap();
    assert_eq!(hex::encode(encode_point(&mul_base(&sk)).unwrap()), s(&suite["pkSm"]));
    let vectors = suite["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let info = unhex(s(&v["Info"]));
        let framed = [b"Info".as_slice(), &(info.len() as u16).to_be_bytes(), &info].concat();
        let dst = [b"HashToScalar-".as_slice(), &ctx].concat();
        let t = sk + hash_to_scalar(&[&framed], &dst).unwrap();
        let tweaked = mul_base(&t);
        let blinded = points(s(&v["BlindedElement"]));
        let evaluated = points(s(&v["EvaluationElement"]));
        let t_inv: Scalar = Option::from(t.invert()).unwrap();
        for (b, e) in blinded.iter().zip(&evaluated) {
            assert_eq!(mul(b, &t_inv), *e, "BlindEvaluate");
        }
        check_proof(&ctx, &t, &tweaked, &evaluated, &blinded, v);
    }
}
