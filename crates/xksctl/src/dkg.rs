//! `xksctl ceremony dkg`: distributed key generation as file-exchange rounds.
//! Each holder runs every step on its own machine; no machine ever holds the
//! master secret. Round-1 packages are public; round-2 packages are sealed to
//! their addressee; each holder's state between rounds is sealed to itself.

use std::path::{Path, PathBuf};

use rand_core::OsRng;
use xks_sops::{Identities, Recipient};
use xks_threshold::HolderId;
use xks_threshold::dkg::{self, DkgParameters, Round1Package, Round1Secret, Round2Package, Round2Secret};

use crate::sealing::{self, HolderRecipient, IdentityArg};

/// `xksctl ceremony dkg …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Round 1 (every holder): a public package for everyone, and this holder's sealed state.
    ///
    /// Example: xksctl ceremony dkg round1 --holder 2 --threshold 2 --holders 3 --recipient age1me… -o dkg/
    Round1 {
        /// This holder's id.
        #[arg(long)]
        holder: u32,
        /// Threshold t (>= 2).
        #[arg(long, short = 't', default_value_t = 2)]
        threshold: u16,
        /// Number of holders n (ids 1..=n).
        #[arg(long, default_value_t = 3)]
        holders: u16,
        /// Generation of the key set being made.
        #[arg(long, default_value_t = 1)]
        generation: u32,
        /// This holder's own age recipient (its state and final share are sealed to it).
        #[arg(long)]
        recipient: String,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
    /// Round 2 (every holder): with all round-1 packages, one sealed package per other holder.
    ///
    /// Example: xksctl ceremony dkg round2 --state dkg/dkg-g1-state1-2.sops.json -i me.agekey \
    ///   --round1 in/dkg-g1-round1-from-*.json --holder 1=age1… --holder 3=age1… -o dkg/
    Round2 {
        /// This holder's round-1 state.
        #[arg(long)]
        state: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// Every holder's round-1 package (own included or not).
        #[arg(long, required = true, num_args = 1..)]
        round1: Vec<PathBuf>,
        /// Each other holder as ID=RECIPIENT: its round-2 package is sealed to it.
        #[arg(long = "holder", required = true, value_name = "ID=age1…")]
        holders: Vec<HolderRecipient>,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
    /// Finalize (every holder): the key set (identical everywhere; compare its id) and this holder's sealed share.
    ///
    /// Example: xksctl ceremony dkg finalize --state dkg/dkg-state2-2.sops.json -i me.agekey \
    ///   --round1 in/dkg-g1-round1-from-*.json --round2 in/dkg-round2-*-to-2.sops.json -o keys/
    Finalize {
        /// This holder's round-2 state.
        #[arg(long)]
        state: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// Every holder's round-1 package.
        #[arg(long, required = true, num_args = 1..)]
        round1: Vec<PathBuf>,
        /// The round-2 packages addressed to this holder (others are skipped unopened).
        #[arg(long, required = true, num_args = 1..)]
        round2: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
    },
}

fn read_round1(paths: &[PathBuf]) -> Result<Vec<Round1Package>, String> {
    paths.iter().map(|p| Round1Package::from_json(&crate::files::read_text(p)?).map_err(|e| format!("{}: {e}", p.display()))).collect()
}

/// Runs a DKG step.
///
/// # Errors
/// A message for the operator; nothing is half-written.
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Round1 { holder, threshold, holders, generation, recipient, out_dir } => {
            let params = DkgParameters { generation: *generation, threshold: *threshold, holders: *holders };
            round1(*holder, params, recipient, out_dir)
        }
        Command::Round2 { state, identity, round1, holders, out_dir } => round2(state, identity, round1, holders, out_dir),
        Command::Finalize { state, identity, round1, round2, out_dir } => finalize(state, identity, round1, round2, out_dir),
    }
}

/// Round 1: the public package and this holder's state, sealed to itself.
#[allow(clippy::print_stdout)]
fn round1(holder: u32, params: DkgParameters, recipient: &str, out_dir: &Path) -> Result<(), String> {
    let me = HolderId::new(holder).map_err(|e| e.to_string())?;
    let own = sealing::parse_recipients(&[recipient.to_owned()])?;
    let generation = params.generation;
    let (secret, package) = dkg::part1(me, params, &mut OsRng).map_err(|e| e.to_string())?;
    let outputs = vec![
        (out_dir.join(format!("dkg-g{generation}-round1-from-{me}.json")), package.to_json().map_err(|e| e.to_string())?.to_string()),
        (
            out_dir.join(format!("dkg-g{generation}-state1-{me}.sops.json")),
            sealing::seal_secret_json(&secret.to_json().map_err(|e| e.to_string())?, &own)?,
        ),
    ];
    sealing::write_outputs(out_dir, &outputs)?;
    println!("Send the round-1 package to every other holder; keep the state file.");
    Ok(())
}

/// Round 2: one package per other holder, each sealed to its addressee, and
/// this holder's next state.
#[allow(clippy::print_stdout)]
fn round2(state: &Path, identity: &IdentityArg, round1: &[PathBuf], holders: &[HolderRecipient], out_dir: &Path) -> Result<(), String> {
    let (secret, own) = open_state(state, &identity.load()?, Round1Secret::from_json)?;
    let (secret2, packages) = dkg::part2(secret, &read_round1(round1)?).map_err(|e| e.to_string())?;
    let mut outputs = Vec::new();
    let mut me = None;
    for p in &packages {
        let to = holders
            .iter()
            .find(|h| h.holder == p.to())
            .ok_or_else(|| format!("no --holder {}=age1… given: its round-2 package must be sealed to it", p.to()))?;
        me = Some(p.from());
        outputs.push((
            out_dir.join(format!("dkg-round2-from-{}-to-{}.sops.json", p.from(), p.to())),
            sealing::seal_secret_json(&p.to_json().map_err(|e| e.to_string())?, std::slice::from_ref(&to.recipient))?,
        ));
    }
    let me = me.ok_or("no other holders")?;
    outputs.push((
        out_dir.join(format!("dkg-state2-{me}.sops.json")),
        sealing::seal_secret_json(&secret2.to_json().map_err(|e| e.to_string())?, &own)?,
    ));
    sealing::write_outputs(out_dir, &outputs)?;
    println!("Send each round-2 package to its addressee only; delete the round-1 state file.");
    Ok(())
}

/// Finalize: the key set and this holder's share, sealed to itself.
#[allow(clippy::print_stdout)]
fn finalize(state: &Path, identity: &IdentityArg, round1: &[PathBuf], round2: &[PathBuf], out_dir: &Path) -> Result<(), String> {
    let ids = identity.load()?;
    let (secret, own) = open_state(state, &ids, Round2Secret::from_json)?;
    let me = secret_holder(state)?;
    let mut packages = Vec::new();
    for p in round2 {
        if sealing::public_u32(p, "to")? != Some(u32::from(me.get())) {
            continue; // addressed to someone else: not ours to open
        }
        packages.push(Round2Package::from_json(&sealing::open_json(p, &ids)?).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    let key = dkg::part3(&secret, &read_round1(round1)?, &packages).map_err(|e| e.to_string())?;
    let ks = key.key_set();
    let share = key.share();
    let outputs = vec![
        (out_dir.join(sealing::key_set_name(ks)), ks.to_json().map_err(|e| e.to_string())?),
        (
            out_dir.join(sealing::share_name(share.holder(), share.generation(), share.epoch())),
            sealing::seal_secret_json(&share.to_json().map_err(|e| e.to_string())?, &own)?,
        ),
    ];
    sealing::write_outputs(out_dir, &outputs)?;
    println!("{}", sealing::describe_key_set(ks));
    println!("Compare this key set id with every other holder out of band; delete the state file.");
    Ok(())
}

/// Opens a holder's sealed state between rounds: the state and the
/// recipients it was sealed to (the next state is sealed to them again).
fn open_state<T, E: std::fmt::Display>(
    state: &Path,
    ids: &Identities,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<(T, Vec<Recipient>), String> {
    let opened = sealing::open(state, ids)?;
    let secret = parse(&opened.json).map_err(|e| format!("{}: {e}", state.display()))?;
    Ok((secret, opened.recipients))
}

/// The holder a state file belongs to (its readable `holder` field).
fn secret_holder(state: &Path) -> Result<HolderId, String> {
    let h = sealing::public_u32(state, "holder")?.ok_or_else(|| format!("{}: no holder field", state.display()))?;
    HolderId::new(h).map_err(|e| e.to_string())
}
