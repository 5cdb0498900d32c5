//! The proxy's reading of a partner's answer (`partners::read_response`):
//! arbitrary status and body, checked by DLEQ proof or against a commitment
//! established from a verified partial. Never a panic, and the property that
//! makes the product safe: whatever a partner sends, an accepted partial gives
//! exactly the right key (a wrong key would encrypt data nobody can decrypt).
//!
//! Input: byte 0 picks the status, whether a commitment is known, and whether
//! the rest is the answer to one request or to a batch of 1 to 8
//! (`parse_answers`, each answer then read as a single one); the rest is the
//! body.
#![no_main]

use std::sync::OnceLock;

use http::StatusCode;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_wire::partner::{parse_answers, read_answer};
use xks_threshold::{Combiner, CombiningSet, HolderId, HolderKey, KeyPath, KeyPoint, PartialCommitment, VerifiedPartial, dealer};

struct Fixture {
    combiner: Combiner,
    point: KeyPoint,
    own: VerifiedPartial,
    commitment: PartialCommitment,
    /// An envelope sealed under the right key.
    sealed: xks_threshold::Envelope,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let (ks, shares) = dealer::generate(2, 3, 1, &mut rng).expect("dealer");
        let set = CombiningSet::new(vec![HolderId::new(1).expect("1"), HolderId::new(2).expect("2")]).expect("set");
        let combiner = Combiner::new(ks.clone(), set.clone()).expect("combiner");
        let point = KeyPath::new("fuzz/key-1").expect("path").to_point().expect("point");
        let holders: Vec<HolderKey> = shares.into_iter().map(|s| HolderKey::new(s, ks.clone()).expect("holder")).collect();
        let own = combiner.verify(&point, holders[0].evaluate(&point, &set, true, &mut rng).expect("p1")).expect("v1");
        let partner = combiner.verify(&point, holders[1].evaluate(&point, &set, true, &mut rng).expect("p2")).expect("v2");
        let commitment = combiner.commitment(&partner).expect("commitment");
        let key = combiner.combine(&point, &[&own, &partner]).expect("key");
        let sealed = key.encrypt(b"fuzz plaintext", b"aad", &mut rng).expect("encrypt");
        Fixture { combiner, point, own, commitment, sealed }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let (selector, body) = data.split_first().unwrap_or((&0, &[]));
    let status = match selector & 0x7 {
        0..=3 => StatusCode::OK,
        4 => StatusCode::LOCKED,
        5 => StatusCode::FORBIDDEN,
        6 => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let commitment = (selector & 0x8 != 0).then_some(&f.commitment);
    let holder = HolderId::new(2).expect("2");
    let answers = if selector & 0x10 != 0 {
        parse_answers(body, usize::from(selector >> 5) + 1).unwrap_or_default()
    } else {
        vec![(status, body)]
    };
    for (status, body) in answers {
        if let Ok(accepted) = read_answer(status, body, holder, &f.combiner, &f.point, commitment) {
            let key = f.combiner.combine(&f.point, &[&f.own, &accepted]).expect("combine");
            let s = &f.sealed;
            assert!(key.decrypt(&s.ciphertext, &s.metadata, &s.iv, &s.tag, b"aad").is_ok(), "an accepted partial gave a wrong key");
        }
    }
});
