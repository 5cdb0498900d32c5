//! `xksctl ceremony`: making a key set and its shares, each share born sealed
//! to its holder's age recipient.

use std::path::PathBuf;

use rand_core::OsRng;
use xks_threshold::{KeySet, Share, dealer};

use crate::sealing::{self, HolderRecipient};

/// `xksctl ceremony …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Trusted-dealer ceremony: this machine makes the master secret, splits it and forgets it.
    ///
    /// Writes the public key set and one share file per holder, each a sops file sealed
    /// with age to that holder only; no plaintext share touches the disk. Holder 1 is the
    /// proxy. Use `ceremony dkg` where no machine may ever hold the master secret.
    ///
    /// Example:
    ///   xksctl ceremony dealer --threshold 2 --out-dir ceremony/ \
    ///     --holder 1=age1proxy… --holder 2=age1exoscale… --holder 3=age1standby…
    Dealer(DealerArgs),
    /// Distributed key generation in file-exchange rounds: no machine ever holds the master secret.
    ///
    /// Every holder runs round1, then round2 with everyone's round-1 packages, then finalize
    /// with the round-2 packages addressed to it. The result works exactly like a dealer key set.
    #[command(subcommand)]
    Dkg(crate::dkg::Command),
}

/// Options of `rotate`.
#[derive(clap::Args)]
pub struct RotateArgs {
    /// The newest key set now in use.
    #[arg(long)]
    key_set: PathBuf,
    /// Each holder as ID=RECIPIENT (same holders as the current key set).
    #[arg(long = "holder", required = true, value_name = "ID=age1…")]
    holders: Vec<HolderRecipient>,
    /// Directory for the new key set and sealed shares.
    #[arg(long, short = 'o')]
    out_dir: PathBuf,
}

/// Deals generation + 1 for the same holders and threshold (trusted dealer;
/// `ceremony dkg --generation N+1` is the distributed alternative).
///
/// # Errors
/// A message for the operator; nothing is half-written.
pub fn rotate(a: &RotateArgs) -> Result<(), String> {
    let current = sealing::read_key_set(&a.key_set)?;
    sealing::check_holders_of(&current, &a.holders)?;
    // The core's rule for the next generation: same threshold and holders, generation + 1.
    let (key_set, shares) = xks_threshold::rotation::rotate(&current, &mut OsRng).map_err(|e| e.to_string())?;
    let next = key_set.generation();
    let dealt = seal_all(key_set, &shares, &a.holders, &a.out_dir)?;
    write(&dealt, &a.out_dir)?;
    crate::say(&format!(
        "generation {} → {next}: deploy the new key set and shares next to the old ones; new encryptions use generation {next}, \
         ciphertext of generation {} keeps decrypting while its key set and shares stay loaded",
        current.generation(),
        current.generation()
    ));
    Ok(())
}

fn write(dealt: &Dealt, out_dir: &std::path::Path) -> Result<(), String> {
    sealing::write_outputs(out_dir, &dealt.outputs)?;
    crate::say(&sealing::describe_key_set(&dealt.key_set));
    Ok(())
}

/// Options of `ceremony dealer`.
#[derive(clap::Args)]
pub struct DealerArgs {
    /// Shares needed to derive a key (the proxy combines its own with one partner: 2).
    #[arg(long, short = 't', default_value_t = 2)]
    threshold: u16,
    /// Each holder as ID=RECIPIENT (ids exactly 1..=n, each once).
    #[arg(long = "holder", required = true, value_name = "ID=age1…")]
    holders: Vec<HolderRecipient>,
    /// Generation of the new key set (1 for the first; `rotate` makes the next).
    #[arg(long, default_value_t = 1)]
    generation: u32,
    /// Directory for the key set and the sealed shares (created if missing).
    #[arg(long, short = 'o')]
    out_dir: PathBuf,
}

/// The files of one dealt key set, not yet written.
pub struct Dealt {
    /// The public key set.
    pub key_set: KeySet,
    /// (path, content) of the key set and each sealed share.
    pub outputs: Vec<(PathBuf, String)>,
}

/// Deals a key set and seals each share to its holder (in memory).
///
/// # Errors
/// Invalid holders or threshold.
pub fn deal(threshold: u16, holders: &[HolderRecipient], generation: u32, out_dir: &std::path::Path) -> Result<Dealt, String> {
    sealing::check_holders(holders)?;
    let n = u16::try_from(holders.len()).map_err(|_| "too many holders".to_owned())?;
    if threshold > n {
        return Err(format!("threshold {threshold} is larger than the number of holders {n}"));
    }
    let (key_set, shares) = dealer::generate(threshold, n, generation, &mut OsRng).map_err(|e| e.to_string())?;
    seal_all(key_set, &shares, holders, out_dir)
}

/// Seals shares (one per holder) and the key set into output files.
///
/// # Errors
/// A share without a recipient, or sealing failures.
pub fn seal_all(key_set: KeySet, shares: &[Share], holders: &[HolderRecipient], out_dir: &std::path::Path) -> Result<Dealt, String> {
    let mut outputs = vec![(out_dir.join(sealing::key_set_name(&key_set)), key_set.to_json().map_err(|e| e.to_string())?)];
    for share in shares {
        let h = holders.iter().find(|h| h.holder == share.holder()).ok_or_else(|| format!("no recipient for holder {}", share.holder()))?;
        outputs.push((
            out_dir.join(sealing::share_name(share.holder(), share.generation(), share.epoch())),
            sealing::seal_share(share, &h.recipient)?,
        ));
    }
    Ok(Dealt { key_set, outputs })
}

/// Runs a ceremony subcommand.
///
/// # Errors
/// A message for the operator; nothing is half-written.
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Dkg(c) => crate::dkg::run(c),
        Command::Dealer(a) => {
            let dealt = deal(a.threshold, &a.holders, a.generation, &a.out_dir)?;
            write(&dealt, &a.out_dir)?;
            for h in &a.holders {
                crate::say(&format!("  holder {} sealed to {}", h.holder, h.recipient));
            }
            crate::say("Hand each holder its share file; every holder checks it with `xksctl share verify`.");
            Ok(())
        }
    }
}
