//! Hedged DLEQ nonces (docs/crypto.md §6.1): a random generator that fails
//! cannot reveal a share, and the hook that chooses nonces for the
//! known-answer vectors is in no service binary.

use std::process::Command;

use xks_threshold::dleq::{Proof, generate_proof, generate_proof_with_nonce, verify_proof};
use xks_threshold::encoding::decode_scalar;
use xks_threshold::group::mul_base;
use xks_threshold::{AffinePoint, ProjectivePoint, Scalar, suite};

use crate::common::Stuck;

const G: AffinePoint = AffinePoint::GENERATOR;

/// `(c, s)` of a proof.
fn halves(p: &Proof) -> (Scalar, Scalar) {
    let bytes = p.to_bytes();
    (decode_scalar(&bytes[..32]).unwrap(), decode_scalar(&bytes[32..]).unwrap())
}

/// The secret an attacker computes from two proofs by one key that share
/// their nonce: `s1 - s2 = (c2 - c1)·k`.
fn extracted(p1: &Proof, p2: &Proof) -> Scalar {
    let ((c1, s1), (c2, s2)) = (halves(p1), halves(p2));
    (s1 - s2) * Option::<Scalar>::from((c2 - c1).invert()).unwrap()
}

/// Two statements by the secret `k`: the partials of two key-path points.
fn statements(k: &Scalar) -> [(AffinePoint, AffinePoint); 2] {
    let v1 = mul_base(&Scalar::from(3u64));
    let v2 = mul_base(&Scalar::from(5u64));
    [(v1, (ProjectivePoint::from(v1) * k).to_affine()), (v2, (ProjectivePoint::from(v2) * k).to_affine())]
}

#[test]
fn a_random_generator_that_repeats_itself_does_not_reveal_the_secret() {
    let ctx = suite::DLEQ_CONTEXT;
    let k = Scalar::from(0x5eed_1234_abcd_u64);
    let b = mul_base(&k);
    let [(v1, w1), (v2, w2)] = statements(&k);
    let p1 = generate_proof(ctx, &k, &G, &b, &[v1], &[w1], &mut Stuck(0)).unwrap();
    let p2 = generate_proof(ctx, &k, &G, &b, &[v2], &[w2], &mut Stuck(0)).unwrap();
    verify_proof(ctx, &G, &b, &[v1], &[w1], &p1).unwrap();
    verify_proof(ctx, &G, &b, &[v2], &[w2], &p2).unwrap();
    assert_ne!(extracted(&p1, &p2), k, "the hedged nonces differ between statements");
    // What the hedge prevents: with the generator's bytes as the nonce itself
    // (RFC 9497's RandomScalar), both proofs share it and give the secret away.
    let r = Scalar::from(0x0101_0101_u64);
    let q1 = generate_proof_with_nonce(ctx, &k, &G, &b, &[v1], &[w1], &r).unwrap();
    let q2 = generate_proof_with_nonce(ctx, &k, &G, &b, &[v2], &[w2], &r).unwrap();
    assert_eq!(extracted(&q1, &q2), k);
}

#[test]
fn the_nonce_hashes_the_fresh_bytes_the_secret_and_the_statement() {
    let ctx = suite::DLEQ_CONTEXT;
    let k = Scalar::from(77u64);
    let b = mul_base(&k);
    let [(v, w), _] = statements(&k);
    let proof = |rng_byte: u8| generate_proof(ctx, &k, &G, &b, &[v], &[w], &mut Stuck(rng_byte)).unwrap();
    assert_eq!(proof(1), proof(1), "the same inputs give the same nonce");
    assert_ne!(proof(1), proof(2), "fresh bytes change it");
    for p in [proof(1), proof(2)] {
        verify_proof(ctx, &G, &b, &[v], &[w], &p).unwrap();
    }
    // Another secret with the same statement shape and the same bytes: another nonce.
    let k2 = k + Scalar::ONE;
    let b2 = mul_base(&k2);
    let [(v2, w2), _] = statements(&k2);
    let other = generate_proof(ctx, &k2, &G, &b2, &[v2], &[w2], &mut Stuck(1)).unwrap();
    assert_ne!(halves(&other).0, halves(&proof(1)).0);
}

/// `cargo tree` over the workspace, one line per node.
fn cargo_tree(args: &[&str]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(args)
        .current_dir(root)
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo tree {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_nonce_choosing_hook_is_in_no_service_binary() {
    // What the release builds compile (images/static-binaries, nix/packages.nix):
    // the three binaries' normal and build dependencies, with their features.
    let shipped = cargo_tree(&["-e", "normal,build,features", "-p", "xks-proxy", "-p", "share-service", "-p", "xksctl"]);
    assert!(shipped.contains("xks-threshold feature \"default\""), "the graph was read:\n{shipped}");
    assert!(!shipped.contains("hazmat-test-vectors"), "a service binary enables the nonce hook:\n{shipped}");
    // The same query sees the feature where it is on: this crate's own tests.
    let tests = cargo_tree(&["-e", "all,features", "-p", "xks-threshold"]);
    assert!(tests.contains("xks-threshold feature \"hazmat-test-vectors\""), "{tests}");
}
