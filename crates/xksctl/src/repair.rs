//! `xksctl repair`: re-create a lost share from t helpers without forming the
//! master secret. Every message is sealed to its addressee; the repaired share
//! is checked against the lost holder's verification share before it is written.
//!
//! 1. `deltas` on each helper: one sealed summand per helper (itself included).
//! 2. `sigma` on each helper: the sum of what it received, sealed to the lost holder.
//! 3. `finish` on the lost holder's new machine: the sigmas add up to its share.

use std::path::PathBuf;

use rand_core::OsRng;
use xks_threshold::repair::{self, RepairDelta, RepairSigma};
use xks_threshold::{CombiningSet, HolderId, HolderKey, KeySet};

use crate::refresh::json;
use crate::sealing::{self, HolderRecipient, IdentityArg};

/// Which repair this is: key set, helpers and the lost holder.
#[derive(clap::Args)]
pub struct Repair {
    /// The current key set.
    #[arg(long)]
    key_set: PathBuf,
    /// The t helpers, comma-separated (e.g. 1,2).
    #[arg(long, value_delimiter = ',', required = true)]
    helpers: Vec<u32>,
    /// The holder whose share is lost.
    #[arg(long)]
    lost: u32,
}

impl Repair {
    fn load(&self) -> Result<(KeySet, CombiningSet, HolderId), String> {
        let ks = sealing::read_key_set(&self.key_set)?;
        let ids = self.helpers.iter().map(|h| HolderId::new(*h)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        let set = CombiningSet::new(ids).map_err(|e| e.to_string())?;
        Ok((ks, set, HolderId::new(self.lost).map_err(|e| e.to_string())?))
    }
}

/// `xksctl repair …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Step 1 (each helper): split this helper's part into one sealed delta per helper.
    ///
    /// Example: xksctl repair deltas --key-set keyset-g1-e0.json --helpers 1,2 --lost 3 \
    ///   --share share-2-g1-e0.sops.json -i me.agekey --holder 1=age1… --holder 2=age1… -o repair/
    Deltas {
        #[command(flatten)]
        repair: Repair,
        /// This helper's sealed share.
        #[arg(long)]
        share: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// Each helper as ID=RECIPIENT.
        #[arg(long = "holder", required = true, value_name = "ID=age1…")]
        holders: Vec<HolderRecipient>,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
    /// Step 2 (each helper): sum the deltas addressed to it into a sigma sealed to the lost holder.
    ///
    /// Example: xksctl repair sigma --key-set keyset-g1-e0.json --helpers 1,2 --lost 3 \
    ///   --share share-2-g1-e0.sops.json -i me.agekey --delta in/repair-*-to-2.sops.json --lost-recipient age1… -o repair/
    Sigma {
        #[command(flatten)]
        repair: Repair,
        /// This helper's sealed share.
        #[arg(long)]
        share: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// The deltas addressed to this helper (others are skipped unopened).
        #[arg(long = "delta", required = true, num_args = 1..)]
        deltas: Vec<PathBuf>,
        /// The lost holder's new age recipient.
        #[arg(long)]
        lost_recipient: String,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
    /// Step 3 (lost holder): add the sigmas, check s·G = Y, write the sealed share.
    ///
    /// Example: xksctl repair finish --key-set keyset-g1-e0.json --helpers 1,2 --lost 3 \
    ///   --sigma in/repair-*-sigma-*.sops.json -i new.agekey -o keys/
    Finish {
        #[command(flatten)]
        repair: Repair,
        /// One sigma from each helper.
        #[arg(long = "sigma", required = true, num_args = 1..)]
        sigmas: Vec<PathBuf>,
        #[command(flatten)]
        identity: IdentityArg,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
}

fn helper_key(ks: &KeySet, share: &std::path::Path, ids: &xks_sops::Identities) -> Result<HolderKey, String> {
    HolderKey::new(sealing::open_share(share, ids)?, ks.clone())
        .map_err(|e| format!("{} does not belong to the key set: {e}", share.display()))
}

/// Runs a repair step.
///
/// # Errors
/// A message for the operator; nothing is half-written.
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Deltas { repair, share, identity, holders, out_dir } => {
            let (ks, set, lost) = repair.load()?;
            let key = helper_key(&ks, share, &identity.load()?)?;
            let deltas = repair::repair_step1(&key, &set, lost, &mut OsRng).map_err(|e| e.to_string())?;
            let mut outputs = Vec::new();
            for d in &deltas {
                let to = holders.iter().find(|h| h.holder == d.to()).ok_or_else(|| format!("no --holder {}=age1… given", d.to()))?;
                outputs.push((
                    out_dir.join(format!("repair-{lost}-from-{}-to-{}.sops.json", key.holder(), d.to())),
                    sealing::seal_secret_json(&json(d)?, std::slice::from_ref(&to.recipient))?,
                ));
            }
            sealing::write_outputs(out_dir, &outputs)
        }
        Command::Sigma { repair, share, identity, deltas, lost_recipient, out_dir } => {
            let ids = identity.load()?;
            let (ks, set, lost) = repair.load()?;
            let key = helper_key(&ks, share, &ids)?;
            let r = sealing::parse_recipients(std::slice::from_ref(lost_recipient))?;
            let mut mine = Vec::new();
            for p in deltas {
                if sealing::public_u32(p, "to")? != Some(u32::from(key.holder().get())) {
                    continue;
                }
                let text = sealing::open_json(p, &ids)?;
                mine.push(serde_json::from_str::<RepairDelta>(&text).map_err(|e| format!("{}: not a repair delta: {e}", p.display()))?);
            }
            let sigma = repair::repair_step2(&key, &set, lost, &mine).map_err(|e| e.to_string())?;
            let path = out_dir.join(format!("repair-{lost}-sigma-from-{}.sops.json", key.holder()));
            sealing::write_outputs(out_dir, &[(path, sealing::seal_secret_json(&json(&sigma)?, &r)?)])
        }
        Command::Finish { repair, sigmas, identity, out_dir } => {
            let ids = identity.load()?;
            let (ks, set, lost) = repair.load()?;
            let mut all = Vec::new();
            for p in sigmas {
                let text = sealing::open_json(p, &ids)?;
                all.push(serde_json::from_str::<RepairSigma>(&text).map_err(|e| format!("{}: not a repair sigma: {e}", p.display()))?);
            }
            let key = repair::repair_step3(&ks, &set, lost, &all).map_err(|e| e.to_string())?;
            let s = key.share();
            let own = ids.recipients();
            let path = out_dir.join(sealing::share_name(s.holder(), s.generation(), s.epoch()));
            sealing::write_outputs(out_dir, &[(path, sealing::seal_secret_json(&s.to_json().map_err(|e| e.to_string())?, &own)?)])?;
            crate::say(&format!("repaired the share of holder {lost}: it matches its verification share in key set {}", ks.id()));
            Ok(())
        }
    }
}
