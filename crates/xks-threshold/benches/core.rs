//! Criterion benchmarks of the crypto core: each step of the request path and
//! the whole proxy-side and partner-side pipelines. Numbers: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_threshold::dleq;
use xks_threshold::encoding::{PointEncoding, decode_point_any, encode_point_as};
use xks_threshold::group::{mul, mul_base, random_nonzero_scalar};
use xks_threshold::{AffinePoint, Combiner, CombiningSet, HolderId, HolderKey, KeyPath, ProjectivePoint, dealer};

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let (ks, shares) = dealer::generate(2, 3, 1, &mut rng).unwrap();
    let hk: Vec<HolderKey> = shares.into_iter().map(|s| HolderKey::new(s, ks.clone()).unwrap()).collect();
    let set = CombiningSet::new([HolderId::new(1).unwrap(), HolderId::new(2).unwrap()]).unwrap();
    let combiner = Combiner::new(ks.clone(), set.clone()).unwrap();
    let path = KeyPath::new("ks1/bench-key-0001").unwrap();
    let kp = path.to_point().unwrap();
    let own = hk[0].evaluate_own(&kp, &set).unwrap();
    let partner = hk[1].evaluate(&kp, &set, true, &mut rng).unwrap();
    let partner_plain = hk[1].evaluate(&kp, &set, false, &mut rng).unwrap();
    let verified = combiner.verify(&kp, partner.clone()).unwrap();
    let commitment = combiner.commitment(&verified).unwrap();
    let key = combiner.combine(&kp, &[&own, &verified]).unwrap();
    let plaintext = [7u8; 32];
    let aad = [1u8; 64];
    let envelope = key.encrypt(&plaintext, &aad, &mut rng).unwrap();

    // The pure-Rust reference, called directly, so one run shows the backend ratio.
    let mut g = c.benchmark_group("reference_p256");
    {
        use p256::elliptic_curve::hash2curve::{ExpandMsgXmd, GroupDigest};
        let k = random_nonzero_scalar(&mut rng);
        let p = ProjectivePoint::from(*kp.point());
        let dst = xks_threshold::suite::DST_HASH_TO_CURVE;
        g.bench_function("hash_to_curve", |b| {
            b.iter(|| p256::NistP256::hash_from_bytes::<ExpandMsgXmd<sha2::Sha256>>(&[black_box(path.as_bytes())], &[dst]).unwrap())
        });
        g.bench_function("mul_variable_base", |b| b.iter(|| black_box(&p) * black_box(&k)));
        g.bench_function("mul_base", |b| b.iter(|| ProjectivePoint::GENERATOR * black_box(&k)));
    }
    g.finish();

    // Through `group`: AWS-LC when built with `--features aws-lc`, else the reference.
    let mut g = c.benchmark_group("primitives");
    let k = random_nonzero_scalar(&mut rng);
    let p = *kp.point();
    g.bench_function("hash_to_curve", |b| b.iter(|| black_box(&path).to_point().unwrap()));
    g.bench_function("mul_variable_base", |b| b.iter(|| mul(black_box(&p), black_box(&k))));
    g.bench_function("mul_base", |b| b.iter(|| mul_base(black_box(&k))));
    // Reading a partner's partial: compressed costs a square root (docs/crypto.md §6.4).
    let compressed = encode_point_as(&p, PointEncoding::Compressed).unwrap();
    let uncompressed = encode_point_as(&p, PointEncoding::Uncompressed).unwrap();
    g.bench_function("decode_point_compressed", |b| b.iter(|| decode_point_any(black_box(&compressed)).unwrap()));
    g.bench_function("decode_point_uncompressed", |b| b.iter(|| decode_point_any(black_box(&uncompressed)).unwrap()));
    let bpt = mul_base(&k);
    let w = mul(&p, &k);
    let proof = dleq::generate_proof(b"bench", &k, &AffinePoint::GENERATOR, &bpt, &[p], &[w], &mut rng).unwrap();
    g.bench_function("dleq_prove", |b| {
        b.iter(|| dleq::generate_proof(b"bench", &k, &AffinePoint::GENERATOR, &bpt, &[p], &[w], &mut rng).unwrap())
    });
    g.bench_function("dleq_verify", |b| {
        b.iter(|| dleq::verify_proof(b"bench", &AffinePoint::GENERATOR, &bpt, &[p], &[w], black_box(&proof)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("steps");
    g.bench_function("partial_without_proof", |b| b.iter(|| hk[1].evaluate(black_box(&kp), &set, false, &mut rng).unwrap()));
    g.bench_function("partial_with_proof", |b| b.iter(|| hk[1].evaluate(black_box(&kp), &set, true, &mut rng).unwrap()));
    g.bench_function("verify_partial_proof", |b| b.iter(|| combiner.verify(&kp, black_box(partner.clone())).unwrap()));
    g.bench_function("check_partial_commitment", |b| {
        b.iter(|| combiner.check_commitment(&kp, black_box(partner_plain.clone()), &commitment).unwrap())
    });
    g.bench_function("combine_and_hkdf", |b| b.iter(|| combiner.combine(&kp, &[&own, black_box(&verified)]).unwrap()));
    g.bench_function("aes_gcm_encrypt_32B", |b| b.iter(|| key.encrypt(black_box(&plaintext), &aad, &mut rng).unwrap()));
    g.bench_function("aes_gcm_decrypt_32B", |b| {
        b.iter(|| key.decrypt(&envelope.ciphertext, &envelope.metadata, &envelope.iv, &envelope.tag, black_box(&aad)).unwrap())
    });
    g.finish();

    // Whole pipelines, as the services will run them (V cached per key path,
    // own partial computed per request, as the proxy may cache neither S nor K).
    let mut g = c.benchmark_group("pipelines");
    g.bench_function("partner_partial_with_proof_incl_hash_to_curve", |b| {
        b.iter(|| {
            let kp = black_box(&path).to_point().unwrap();
            hk[1].evaluate(&kp, &set, true, &mut rng).unwrap()
        })
    });
    g.bench_function("partner_partial_no_proof_cached_v", |b| b.iter(|| hk[1].evaluate(black_box(&kp), &set, false, &mut rng).unwrap()));
    g.bench_function("proxy_encrypt_full_proof_verify", |b| {
        b.iter(|| {
            let own = hk[0].evaluate_own(&kp, &set).unwrap();
            let v = combiner.verify(&kp, black_box(partner.clone())).unwrap();
            let key = combiner.combine(&kp, &[&own, &v]).unwrap();
            let e = key.encrypt(&plaintext, &aad, &mut rng).unwrap();
            let _cdiv = e.cdiv(&aad);
            key.decrypt(&e.ciphertext, &e.metadata, &e.iv, &e.tag, &aad).unwrap()
        })
    });
    g.bench_function("proxy_encrypt_commitment_check", |b| {
        b.iter(|| {
            let own = hk[0].evaluate_own(&kp, &set).unwrap();
            let v = combiner.check_commitment(&kp, black_box(partner_plain.clone()), &commitment).unwrap();
            let key = combiner.combine(&kp, &[&own, &v]).unwrap();
            let e = key.encrypt(&plaintext, &aad, &mut rng).unwrap();
            let _cdiv = e.cdiv(&aad);
            key.decrypt(&e.ciphertext, &e.metadata, &e.iv, &e.tag, &aad).unwrap()
        })
    });
    g.bench_function("proxy_decrypt_commitment_check", |b| {
        b.iter(|| {
            let own = hk[0].evaluate_own(&kp, &set).unwrap();
            let v = combiner.check_commitment(&kp, black_box(partner_plain.clone()), &commitment).unwrap();
            let key = combiner.combine(&kp, &[&own, &v]).unwrap();
            key.decrypt(&envelope.ciphertext, &envelope.metadata, &envelope.iv, &envelope.tag, &aad).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
