//! `xksctl share verify`: a holder checks its sealed share against the public key set.

use std::path::PathBuf;

use crate::sealing::{self, IdentityArg};

/// `xksctl share …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check a sealed share against a key set: same key set, generation and epoch, and s_i·G = Y_i.
    ///
    /// Exit code 0: the share belongs to the key set; 1: it does not, or cannot be opened.
    ///
    /// Example: xksctl share verify share-2-g1-e0.sops.json --key-set keyset-g1-e0.json -i holder-2.agekey
    Verify {
        /// The sealed share file.
        share: PathBuf,
        /// The public key set.
        #[arg(long)]
        key_set: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
    },
}

/// Runs a share subcommand.
///
/// # Errors
/// A message naming what does not match.
#[allow(clippy::print_stdout)]
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Verify { share, key_set, identity } => {
            let ids = identity.load()?;
            let ks = sealing::read_key_set(key_set)?;
            let s = sealing::open_share(share, &ids)?;
            s.verify(&ks).map_err(|e| format!("{} does not belong to key set {}: {e}", share.display(), key_set.display()))?;
            println!("ok: share of holder {} matches {}", s.holder(), sealing::describe_key_set(&ks));
            Ok(())
        }
    }
}
