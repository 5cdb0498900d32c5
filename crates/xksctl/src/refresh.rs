//! `xksctl refresh`: new shares of the same master secret (epoch + 1). Keys do
//! not change; old shares stop matching the new key set.
//!
//! Each contributor (every holder, or one operator machine as a dealer) runs
//! `contribute`: a public contribution and one sealed delta per holder. Each
//! holder then runs `apply` with all contributions and its deltas. Rollout
//! (docs/xksctl.md): share services load both epochs, then the proxy switches
//! to the new epoch, then services drop the old one.

use std::path::PathBuf;

use rand_core::OsRng;
use xks_threshold::HolderKey;
use xks_threshold::refresh::{self, RefreshContribution, RefreshDelta};

use crate::sealing::{self, HolderRecipient, IdentityArg};

/// `xksctl refresh …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Make one refresh contribution: public commitments, and a delta sealed to each holder.
    ///
    /// Example: xksctl refresh contribute --key-set keyset-g1-e0.json --from 2 \
    ///   --holder 1=age1… --holder 2=age1… --holder 3=age1… -o refresh/
    Contribute {
        /// The current key set.
        #[arg(long)]
        key_set: PathBuf,
        /// Name of this contribution (the contributing holder's id, or any number for an operator).
        #[arg(long)]
        from: u32,
        /// Every holder as ID=RECIPIENT.
        #[arg(long = "holder", required = true, value_name = "ID=age1…")]
        holders: Vec<HolderRecipient>,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
    /// Apply all contributions to this holder's share: the next epoch's key set and share.
    ///
    /// Example: xksctl refresh apply --key-set keyset-g1-e0.json --share share-2-g1-e0.sops.json -i me.agekey \
    ///   --contribution refresh/refresh-g1-e0-from-*.json --delta refresh/refresh-g1-e0-from-*-to-2.sops.json -o keys/
    Apply {
        /// The current key set.
        #[arg(long)]
        key_set: PathBuf,
        /// This holder's current sealed share.
        #[arg(long)]
        share: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// Every contribution (all must be applied by every holder).
        #[arg(long = "contribution", required = true, num_args = 1..)]
        contributions: Vec<PathBuf>,
        /// The deltas addressed to this holder (others are skipped unopened).
        #[arg(long = "delta", required = true, num_args = 1..)]
        deltas: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
}

/// Runs a refresh step.
///
/// # Errors
/// A message for the operator; nothing is half-written.
#[allow(clippy::print_stdout)]
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Contribute { key_set, from, holders, out_dir } => {
            let ks = sealing::read_key_set(key_set)?;
            sealing::check_holders_of(&ks, holders)?;
            let (contribution, deltas) = refresh::contribute(&ks, &mut OsRng).map_err(|e| e.to_string())?;
            let stem = format!("refresh-g{}-e{}-from-{from}", ks.generation(), ks.epoch());
            let mut outputs = vec![(out_dir.join(format!("{stem}.json")), json(&contribution)?.to_string())];
            for d in &deltas {
                let to = holders
                    .iter()
                    .find(|h| h.holder == d.recipient())
                    .ok_or_else(|| format!("no recipient for holder {}", d.recipient()))?;
                outputs.push((
                    out_dir.join(format!("{stem}-to-{}.sops.json", d.recipient())),
                    sealing::seal_secret_json(&json(d)?, std::slice::from_ref(&to.recipient))?,
                ));
            }
            sealing::write_outputs(out_dir, &outputs)?;
            println!("Publish the contribution to every holder; send each delta to its holder only.");
            Ok(())
        }
        Command::Apply { key_set, share, identity, contributions, deltas, out_dir } => {
            let ids = identity.load()?;
            let ks = sealing::read_key_set(key_set)?;
            let opened = sealing::open(share, &ids)?;
            let own = opened.recipients;
            let current = HolderKey::new(sealing::share_from(&opened.json, share)?, ks.clone())
                .map_err(|e| format!("{} does not belong to {}: {e}", share.display(), key_set.display()))?;
            let contributions = contributions
                .iter()
                .map(|p| {
                    serde_json::from_str::<RefreshContribution>(&crate::files::read_text(p)?).map_err(|e| format!("{}: {e}", p.display()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let me = u32::from(current.holder().get());
            let mut mine = Vec::new();
            for p in deltas {
                if sealing::public_u32(p, "recipient")? != Some(me) {
                    continue;
                }
                let text = sealing::open_json(p, &ids)?;
                mine.push(serde_json::from_str::<RefreshDelta>(&text).map_err(|e| format!("{}: not a refresh delta: {e}", p.display()))?);
            }
            let next = refresh::refresh_share(&current, &contributions, &mine).map_err(|e| e.to_string())?;
            let (nks, ns) = (next.key_set(), next.share());
            let outputs = vec![
                (out_dir.join(sealing::key_set_name(nks)), nks.to_json().map_err(|e| e.to_string())?),
                (
                    out_dir.join(sealing::share_name(ns.holder(), ns.generation(), ns.epoch())),
                    sealing::seal_secret_json(&ns.to_json().map_err(|e| e.to_string())?, &own)?,
                ),
            ];
            sealing::write_outputs(out_dir, &outputs)?;
            println!("epoch {} → {}: key set {} (same group key, so every key is unchanged)", ks.epoch(), nks.epoch(), nks.id());
            // The id is the same for every epoch and every set of contributions:
            // only the digest tells whether all holders applied the same refresh.
            println!(
                "key set digest {}: compare it with every other holder's before rolling out (a different digest means a different set of contributions was applied)",
                hex::encode(nks.digest())
            );
            Ok(())
        }
    }
}

/// JSON of a (possibly secret) message, in a buffer zeroized on drop.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<zeroize::Zeroizing<String>, String> {
    serde_json::to_string_pretty(v).map(zeroize::Zeroizing::new).map_err(|e| e.to_string())
}
