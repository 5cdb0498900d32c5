//! Key material is born sealed: shares and secret ceremony state are written
//! only as sops files (JSON store) encrypted with age to their holder, never as
//! plaintext on disk. A share file keeps its public fields (holder, key set id,
//! generation, epoch) readable and authenticated by the sops MAC; only the
//! `share` scalar is encrypted (`encrypted_regex: ^share$`).

use std::path::{Path, PathBuf};

use xks_sops::{Format, Identities, Node, Recipient, Rule, SealOptions};
use xks_threshold::{HolderId, KeySet, Share};
use zeroize::Zeroizing;

use crate::files;

/// `--identity`: the age identity file that opens sealed inputs.
#[derive(clap::Args, Clone, Debug)]
pub struct IdentityArg {
    /// age identity file (age-keygen format). Default: $SOPS_AGE_KEY_FILE, else $SOPS_AGE_KEY.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

impl IdentityArg {
    /// Loads the identities; missing is an error.
    ///
    /// # Errors
    /// Unreadable or invalid identity, or none given.
    pub fn load(&self) -> Result<Identities, String> {
        Identities::load(self.identity.as_deref())
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no age identity: pass --identity FILE or set SOPS_AGE_KEY_FILE".to_owned())
    }
}

/// `ID=age1…`: a holder and the age recipient its material is sealed to.
#[derive(Clone, Debug)]
pub struct HolderRecipient {
    /// Holder id (1..=255).
    pub holder: HolderId,
    /// Its age recipient.
    pub recipient: Recipient,
}

impl core::str::FromStr for HolderRecipient {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (id, r) = s.split_once('=').ok_or("expected HOLDER=age1… (e.g. 2=age1qyq…)")?;
        let id: u32 = id.trim().parse().map_err(|_| format!("holder id {id:?} is not a number"))?;
        Ok(Self {
            holder: HolderId::new(id).map_err(|e| e.to_string())?,
            recipient: r.parse().map_err(|e: xks_sops::Error| e.to_string())?,
        })
    }
}

/// Checks that the holders are exactly 1..=n, each once.
///
/// # Errors
/// Duplicate or missing holder ids.
pub fn check_holders(holders: &[HolderRecipient]) -> Result<(), String> {
    let mut ids: Vec<u16> = holders.iter().map(|h| h.holder.get()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w.first() == w.get(1)) {
        return Err(format!("holder {} is given twice", w.first().copied().unwrap_or_default()));
    }
    let n = u16::try_from(ids.len()).map_err(|_| "too many holders".to_owned())?;
    if ids.iter().copied().ne(1..=n) {
        return Err(format!("holder ids must be exactly 1..={n} (got {ids:?})"));
    }
    Ok(())
}

/// The fields that carry secrets in our ceremony files: a share, a refresh or
/// repair delta, a repair sigma, a DKG package. Everything else (holder ids,
/// key set id, generation, epoch, addressee) stays readable, and the sops MAC
/// authenticates all of it.
const SECRET_FIELDS: &str = "^(share|delta|sigma|package)$";

/// Seals one of our JSON documents (share, delta, sigma, DKG state or package):
/// JSON sops, only the secret fields encrypted.
///
/// # Errors
/// Sealing failures (none expected).
pub fn seal_secret_json(json: &str, recipients: &[Recipient]) -> Result<String, String> {
    let rule = Rule::new("encrypted_regex", SECRET_FIELDS).map_err(|e| e.to_string())?;
    let tree = xks_sops::Plain(Node::from_json(json).map_err(|e| e.to_string())?);
    xks_sops::seal_tree(&tree.0, Format::Json, recipients, &SealOptions { rule: Some(rule), mac_only_encrypted: false })
        .map_err(|e| e.to_string())
}

/// The sealed share file of a share, to one recipient.
///
/// # Errors
/// Sealing failures (none expected).
pub fn seal_share(share: &Share, recipient: &Recipient) -> Result<String, String> {
    seal_share_to(share, std::slice::from_ref(recipient))
}

/// The sealed share file of a share, to its holder's recipients (e.g. its
/// runtime identity and its offline backup).
///
/// # Errors
/// Sealing failures (none expected).
pub fn seal_share_to(share: &Share, recipients: &[Recipient]) -> Result<String, String> {
    seal_secret_json(&share.to_json().map_err(|e| e.to_string())?, recipients)
}

/// A readable (unencrypted, MAC-covered) integer field of a sealed file, e.g. the
/// addressee of a package; `None` when absent. Only for routing files: the value
/// is authenticated when the file is opened.
///
/// # Errors
/// Unreadable or not JSON.
pub fn public_u32(path: &Path, field: &str) -> Result<Option<u32>, String> {
    let node = Node::from_json(&files::read_text(path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(match node.get(field) {
        Some(Node::Int(i)) => u32::try_from(*i).ok(),
        _ => None,
    })
}

/// Parses age recipients (`age1…`).
///
/// # Errors
/// The first invalid one.
pub fn parse_recipients(list: &[String]) -> Result<Vec<Recipient>, String> {
    list.iter().map(|r| r.parse().map_err(|e: xks_sops::Error| e.to_string())).collect()
}

/// A sealed JSON file, opened: its plaintext JSON and whom it was sealed to
/// (so its successor can be sealed to the same recipients).
pub struct Opened {
    /// The plaintext JSON text.
    pub json: Zeroizing<String>,
    /// The file's recipients.
    pub recipients: Vec<Recipient>,
}

/// Opens a sealed JSON file (read and parsed once).
///
/// # Errors
/// Unreadable, not sealed to these identities, tampered.
pub fn open(path: &Path, ids: &Identities) -> Result<Opened, String> {
    let at = |e: &dyn core::fmt::Display| format!("{}: {e}", path.display());
    let text = Zeroizing::new(files::read_text(path)?);
    let u = xks_sops::unseal_tree(&text, Format::Json, ids).map_err(|e| at(&e))?;
    let json = u.plain.0.to_json().map(Zeroizing::new).map_err(|e| at(&e))?;
    Ok(Opened { json, recipients: parse_recipients(&u.recipients).map_err(|e| at(&e))? })
}

/// Opens a sealed JSON file and returns its plaintext JSON text.
///
/// # Errors
/// As [`open`].
pub fn open_json(path: &Path, ids: &Identities) -> Result<Zeroizing<String>, String> {
    open(path, ids).map(|o| o.json)
}

/// Parses an opened share file.
///
/// # Errors
/// Not a share.
pub fn share_from(json: &str, path: &Path) -> Result<Share, String> {
    Share::from_json(json).map_err(|e| format!("{}: not a share file: {e}", path.display()))
}

/// Opens a sealed share file.
///
/// # Errors
/// As [`open`], or not a share.
pub fn open_share(path: &Path, ids: &Identities) -> Result<Share, String> {
    share_from(&open_json(path, ids)?, path)
}

/// Reads a public key set file.
///
/// # Errors
/// Unreadable or invalid.
pub fn read_key_set(path: &Path) -> Result<KeySet, String> {
    KeySet::from_json(&files::read_text(path)?).map_err(|e| format!("{}: not a key set: {e}", path.display()))
}

/// A key set as the operator reads it: id, generation, epoch, t-of-n.
pub fn describe_key_set(ks: &KeySet) -> String {
    format!(
        "key set {} (generation {}, epoch {}, {}-of-{})",
        ks.id(),
        ks.generation(),
        ks.epoch(),
        ks.threshold(),
        ks.verification_shares().len()
    )
}

/// File name of a key set.
pub fn key_set_name(ks: &KeySet) -> String {
    format!("keyset-g{}-e{}.json", ks.generation(), ks.epoch())
}

/// File name of a sealed share.
pub fn share_name(holder: HolderId, generation: u32, epoch: u32) -> String {
    format!("share-{holder}-g{generation}-e{epoch}.sops.json")
}

/// Checks the holders (as [`check_holders`]) and that they are the key set's.
///
/// # Errors
/// Duplicate or missing ids, or another number of holders than the key set has.
pub fn check_holders_of(ks: &KeySet, holders: &[HolderRecipient]) -> Result<(), String> {
    check_holders(holders)?;
    let n = ks.verification_shares().len();
    if holders.len() != n {
        return Err(format!("the key set has {n} holders, {} given", holders.len()));
    }
    Ok(())
}

/// Creates `out_dir` if needed, writes the outputs with [`create_all`] and reports each file.
///
/// # Errors
/// As [`create_all`], or the directory cannot be created.
pub fn write_outputs(out_dir: &Path, outputs: &[(PathBuf, String)]) -> Result<(), String> {
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    create_all(outputs)?;
    for (p, _) in outputs {
        crate::say(&format!("wrote {}", p.display()));
    }
    Ok(())
}

/// Writes a set of new files all or nothing: none may exist; on any failure
/// the ones already written are removed.
///
/// # Errors
/// An existing file (nothing written) or a write failure (nothing left).
pub fn create_all(outputs: &[(PathBuf, String)]) -> Result<(), String> {
    if let Some((p, _)) = outputs.iter().find(|(p, _)| p.exists()) {
        return Err(format!("{} already exists; refusing to overwrite it (nothing was written)", p.display()));
    }
    let mut done: Vec<&Path> = Vec::new();
    for (p, data) in outputs {
        if let Err(e) = files::create(p, data.as_bytes()) {
            for d in done {
                let _ = std::fs::remove_file(d);
            }
            return Err(format!("{e} (nothing was written)"));
        }
        done.push(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hr(s: &str) -> Result<HolderRecipient, String> {
        s.parse()
    }

    #[test]
    fn holders_must_be_one_to_n_once() -> Result<(), String> {
        let (ids, _) = Identities::generate();
        let r = ids.recipients().remove(0);
        let h = |i: u32| hr(&format!("{i}={r}"));
        check_holders(&[h(1)?, h(2)?, h(3)?])?;
        assert!(check_holders(&[h(1)?, h(2)?, h(2)?]).is_err_and(|e| e.contains("twice")));
        assert!(check_holders(&[h(1)?, h(3)?]).is_err_and(|e| e.contains("1..=2")));
        assert!(hr("0=x").is_err() && hr("2").is_err() && hr("2=age1bogus").is_err());
        Ok(())
    }
}
