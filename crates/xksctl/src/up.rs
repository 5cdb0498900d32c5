//! `xksctl up`: the threshold core end to end on an embedded default.

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand_core::OsRng;
use xks_threshold::rotation::{Generations, rotate};
use xks_threshold::{
    Combiner, CombiningSet, DataKey, Error, HolderId, HolderKey, KeyPath, KeySet, Metadata, Partial, Result, Share, dealer, refresh,
};

/// Options of `xksctl up`.
#[derive(clap::Args)]
pub struct Args {
    /// Shares needed to derive a key.
    #[arg(long, default_value_t = 2)]
    threshold: u16,
    /// Number of shares (holders 1..=n; 1 is the proxy).
    #[arg(long, default_value_t = 3)]
    holders: u16,
    /// Key path of the demo key.
    #[arg(long, default_value = "demo/key-0001")]
    key_path: String,
}

fn holder_keys(ks: &KeySet, shares: Vec<Share>) -> Result<Vec<HolderKey>> {
    shares.into_iter().map(|s| HolderKey::new(s, ks.clone())).collect()
}

/// Derives the key the way the proxy will: its own partial plus proven partner partials.
fn derive(hk: &[HolderKey], set: &CombiningSet, path: &KeyPath) -> Result<DataKey> {
    let kp = path.to_point()?;
    let combiner = Combiner::new(hk.first().ok_or(Error::UnknownGeneration(0))?.key_set().clone(), set.clone())?;
    let mut verified = Vec::new();
    for h in hk.iter().filter(|h| set.contains(h.holder())) {
        let wire = h.evaluate(&kp, set, true, &mut OsRng)?.to_json()?; // as sent over mTLS
        verified.push(combiner.verify(&kp, Partial::from_json(&wire)?)?);
    }
    combiner.combine(&kp, &verified.iter().collect::<Vec<_>>())
}

fn sets(n: u16, t: u16) -> Result<Vec<CombiningSet>> {
    let mut out = Vec::new();
    for mask in 0u32..(1u32 << n) {
        if mask.count_ones() == u32::from(t) {
            let ids = (1..=n).filter(|i| mask & (1 << (i - 1)) != 0).map(|i| HolderId::new(u32::from(i)));
            out.push(CombiningSet::new(ids.collect::<Result<Vec<_>>>()?)?);
        }
    }
    Ok(out)
}

/// Runs the demo.
///
/// # Errors
/// Any core error, e.g. invalid parameters.
pub fn run(args: &Args) -> Result<()> {
    if args.holders > 10 {
        return Err(Error::InvalidThreshold { t: args.threshold.into(), n: args.holders.into() });
    }
    let path = KeyPath::new(args.key_path.clone())?;
    let t0 = Instant::now();
    let (ks, shares) = dealer::generate(args.threshold, args.holders, 1, &mut OsRng)?;
    let hk = holder_keys(&ks, shares)?;
    println!("== split-key XKS: threshold core, {}-of-{} on P-256 (in one process) ==", args.threshold, args.holders);
    println!(
        "dealer ceremony      key set {} generation {} epoch {} ({:.1} ms)",
        ks.id(),
        ks.generation(),
        ks.epoch(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    println!("group key            {}", hex::encode(xks_threshold::encoding::encode_point(ks.group_key())?));

    let all = sets(args.holders, args.threshold)?;
    let first = all.first().ok_or(Error::WrongHolderCount { expected: 1, got: 0 })?;
    let plaintext = b"Hello World!";
    let aad = b"project=nile,department=marketing";
    let t1 = Instant::now();
    let key = derive(&hk, first, &path)?;
    let env = key.encrypt(plaintext, aad, &mut OsRng)?;
    let cdiv = env.cdiv(aad);
    key.decrypt(&env.ciphertext, &env.metadata, &env.iv, &env.tag, aad)?; // Appendix C: verify before answering
    println!(
        "encrypt via {{{}}}      {:.2} ms (partials proven, CDIV computed, verifying decrypt done)",
        first.to_label(),
        t1.elapsed().as_secs_f64() * 1e3
    );
    println!("  ciphertext          {}", B64.encode(&env.ciphertext));
    println!(
        "  ciphertextMetadata  {} (version 1, generation {})",
        B64.encode(&env.metadata),
        Metadata::parse(&env.metadata)?.generation()
    );
    println!("  initializationVector {}", B64.encode(&env.iv));
    println!("  authenticationTag   {}", B64.encode(env.tag));
    println!("  ciphertextDataIntegrityValue {}", B64.encode(cdiv));
    for set in &all {
        let k = derive(&hk, set, &path)?;
        let pt = k.decrypt(&env.ciphertext, &env.metadata, &env.iv, &env.tag, aad)?;
        println!("decrypt via {{{}}}      {}", set.to_label(), if pt.as_slice() == plaintext { "ok, same key" } else { "MISMATCH" });
    }

    // Refresh: new shares, same keys; old shares retired.
    let (c, d) = refresh::contribute(&ks, &mut OsRng)?;
    let hk1 = hk.iter().map(|h| refresh::refresh_share(h, std::slice::from_ref(&c), &d)).collect::<Result<Vec<_>>>()?;
    let k1 = derive(&hk1, first, &path)?;
    let ok = k1.decrypt(&env.ciphertext, &env.metadata, &env.iv, &env.tag, aad).is_ok();
    let stale = hk.first().map(|h| HolderKey::new(h.share().clone(), hk1.first().map(|x| x.key_set().clone()).unwrap_or(ks.clone())));
    println!("refresh to epoch 1   old ciphertext decrypts: {ok}; epoch-0 share refused: {}", matches!(stale, Some(Err(_))));

    // Rotation: generation 2 encrypts, generation 1 still decrypts.
    let (ks2, shares2) = rotate(&ks, &mut OsRng)?;
    let hk2 = holder_keys(&ks2, shares2)?;
    let gens = Generations::new([ks.clone(), ks2.clone()])?;
    let env2 = derive(&hk2, first, &path)?.encrypt(plaintext, aad, &mut OsRng)?;
    let old_set = gens.for_decrypt(&Metadata::parse(&env.metadata)?)?;
    let old_holders = if old_set.generation() == ks2.generation() { &hk2 } else { &hk1 };
    let old_ok = derive(old_holders, first, &path)?.decrypt(&env.ciphertext, &env.metadata, &env.iv, &env.tag, aad).is_ok();
    println!(
        "rotation             new encryptions use generation {}; old ciphertext names generation {} and still decrypts: {old_ok}",
        Metadata::parse(&env2.metadata)?.generation(),
        old_set.generation()
    );

    // A Byzantine partner: its partial is rejected before it can touch a ciphertext.
    let kp = path.to_point()?;
    let combiner = Combiner::new(ks.clone(), first.clone())?;
    if let Some(partner) = hk.iter().rev().find(|h| first.contains(h.holder())) {
        let other = KeyPath::new(format!("{}-other", path.as_str()))?.to_point()?;
        let wrong = partner.evaluate(&other, first, true, &mut OsRng)?; // valid proof, for another key path
        let verdict = combiner.verify(&kp, wrong);
        println!(
            "byzantine partner    holder {} sends a partial for another key path: {}",
            partner.holder(),
            match verdict {
                Err(e) => format!("rejected ({e})"),
                Ok(_) => "ACCEPTED (bug)".to_owned(),
            }
        );
    }
    println!("total                {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    println!("Next: the share service, the XKS proxy and the local cluster replace this in-process run.");
    Ok(())
}
