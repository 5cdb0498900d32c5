//! `xksctl credentials`: SigV4 credentials of a key store, in the proxy's
//! credentials file and in the proxy configuration file the KMS console
//! accepts when creating an external key store.
//!
//! Rotation keeps two credentials at once: `rotate` adds one, KMS is switched
//! to it (UpdateCustomKeyStore, or the console with the new file), then
//! `retire` removes the old one. The proxy reloads the file on SIGHUP.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand_core::{OsRng, RngCore as _};
use xks_config::kms::{self, AuthenticationCredential, ProxyConfigurationFile};
use xks_wire::xks::{AccessKeyId, Credential, PathPrefix, SecretAccessKey, credentials};
use zeroize::Zeroizing;

use crate::files;
use crate::sealing::IdentityArg;
use xks_sops::{Format, Recipient, SealOptions};

/// RFC 4648 base32 alphabet: exactly the characters KMS allows in an access key id.
const ACCESS_KEY_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// 26 characters × 5 bits = 130 random bits.
const ACCESS_KEY_LEN: usize = 26;

/// `xksctl credentials …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a key store's first credential: the proxy's credentials file and KMS's proxy configuration file.
    ///
    /// Example: xksctl credentials new --uri-path /keystores/ks1/kms/xks/v1 \
    ///   --credentials-file ks1.credentials.toml --kms-config ks1.kms-proxy-config.json
    New(Files),
    /// Add a second credential for rotation; the old one keeps working until retired.
    ///
    /// Example: xksctl credentials rotate --uri-path /keystores/ks1/kms/xks/v1 \
    ///   --credentials-file ks1.credentials.toml --kms-config ks1.kms-proxy-config-2.json
    Rotate(Files),
    /// Remove a credential once KMS signs with the new one.
    ///
    /// Example: xksctl credentials retire --credentials-file ks1.credentials.toml --access-key-id ABC…
    Retire {
        /// The proxy's credentials file of the key store.
        #[arg(long)]
        credentials_file: PathBuf,
        /// The access key id to remove.
        #[arg(long)]
        access_key_id: String,
        #[command(flatten)]
        identity: IdentityArg,
    },
}

/// Where `new` and `rotate` write.
#[derive(clap::Args)]
pub struct Files {
    /// KMS's XksProxyUriPath of the key store: `[/<prefix>]/kms/xks/v1`.
    #[arg(long)]
    uri_path: String,
    /// The proxy's credentials file of the key store (TOML; secret).
    #[arg(long)]
    credentials_file: PathBuf,
    /// The proxy configuration file for the KMS console (JSON; secret). Must not exist.
    #[arg(long)]
    kms_config: PathBuf,
    /// Seal a new credentials file to these age recipients (the proxy's); a sealed
    /// file stays sealed to its recipients on rotate and retire.
    #[arg(long, value_name = "age1…")]
    seal_to: Vec<String>,
    #[command(flatten)]
    identity: IdentityArg,
}

/// Runs a credentials subcommand.
///
/// # Errors
/// A message for the operator; no file is half-written.
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::New(f) => {
            // Everything that can fail is checked before anything is written.
            check_uri_path(&f.uri_path)?;
            if f.credentials_file.exists() {
                return Err(format!("{} already exists; use `credentials rotate` to add a credential", f.credentials_file.display()));
            }
            if f.kms_config.exists() {
                return Err(format!("{} already exists; refusing to overwrite it", f.kms_config.display()));
            }
            let to = crate::sealing::parse_recipients(&f.seal_to)?;
            let credential = generate()?;
            let id = credential.access_key_id.clone();
            let kms = kms_proxy_config(&f.uri_path, &credential);
            let proxy = render(&[credential], &to)?;
            files::create(&f.credentials_file, proxy.as_bytes())?;
            if let Err(e) = files::create(&f.kms_config, kms.as_bytes()) {
                let _ = std::fs::remove_file(&f.credentials_file);
                return Err(e);
            }
            println!("access key id {id}: written to {} and {}", f.credentials_file.display(), f.kms_config.display());
            Ok(())
        }
        Command::Rotate(f) => {
            check_uri_path(&f.uri_path)?;
            let (mut creds, to) = load(&f.credentials_file, &f.identity)?;
            if creds.len() >= 2 {
                return Err(format!(
                    "{} already holds {} credentials; retire the old one before adding another",
                    f.credentials_file.display(),
                    creds.len()
                ));
            }
            let credential = generate()?;
            let id = credential.access_key_id.clone();
            files::create(&f.kms_config, kms_proxy_config(&f.uri_path, &credential).as_bytes())?;
            creds.push(credential);
            files::replace(&f.credentials_file, render(&creds, &to)?.as_bytes())?;
            println!(
                "access key id {id} added to {} (the proxy accepts both after SIGHUP); give KMS {} (UpdateCustomKeyStore), then retire {}",
                f.credentials_file.display(),
                f.kms_config.display(),
                creds.first().map_or("the old one", |old| old.access_key_id.as_str())
            );
            Ok(())
        }
        Command::Retire { credentials_file, access_key_id, identity } => {
            let (mut creds, to) = load(credentials_file, identity)?;
            let before = creds.len();
            creds.retain(|c| c.access_key_id.as_str() != access_key_id);
            if creds.len() == before {
                return Err(format!("{} holds no credential {access_key_id}", credentials_file.display()));
            }
            if creds.is_empty() {
                return Err(format!(
                    "{access_key_id} is the last credential in {}; KMS could no longer connect",
                    credentials_file.display()
                ));
            }
            files::replace(credentials_file, render(&creds, &to)?.as_bytes())?;
            println!("access key id {access_key_id} removed from {} (effective after SIGHUP to the proxy)", credentials_file.display());
            Ok(())
        }
    }
}

/// Access key ids with their secrets, as in the credentials file.
pub(crate) type Credentials = Vec<Credential>;

/// Reads a credentials file, opening it if sealed; also returns its recipients (empty when plain).
pub(crate) fn load(path: &Path, identity: &IdentityArg) -> Result<(Credentials, Vec<Recipient>), String> {
    let text = Zeroizing::new(files::read_text(path)?);
    if !xks_sops::is_sealed(&text, Format::Json) {
        return Ok((credentials::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?, Vec::new()));
    }
    let ids = identity.load()?;
    let opened = xks_sops::unseal_tree(&text, Format::Binary, &ids).map_err(|e| format!("{}: {e}", path.display()))?;
    let plain = opened.plaintext(Format::Binary).map_err(|e| format!("{}: {e}", path.display()))?;
    let to = crate::sealing::parse_recipients(&opened.recipients)?;
    Ok((credentials::parse(&plain).map_err(|e| format!("{}: {e}", path.display()))?, to))
}

/// The credentials file, sealed to `to` unless it is empty.
pub(crate) fn render(creds: &[Credential], to: &[Recipient]) -> Result<Zeroizing<String>, String> {
    let text = credentials::render(creds);
    if to.is_empty() {
        return Ok(text);
    }
    xks_sops::seal(&text, Format::Binary, to, &SealOptions::default()).map(Zeroizing::new).map_err(|e| e.to_string())
}

/// A fresh credential: 26 characters of A–Z2–7 (130 bits) and a 256-bit secret in Base64 (44 characters).
///
/// # Errors
/// Never in practice: both values meet the rules by construction, and are checked.
pub(crate) fn generate() -> Result<Credential, String> {
    let mut raw = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut *raw);
    let secret = SecretAccessKey::new(B64.encode(*raw)).map_err(|e| e.to_string())?;
    let mut id_bytes = [0u8; ACCESS_KEY_LEN];
    OsRng.fill_bytes(&mut id_bytes);
    // 256 is a multiple of 32, so the low five bits are uniform.
    let id: String = id_bytes.iter().map(|b| char::from(ACCESS_KEY_ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'A'))).collect();
    Ok(Credential { access_key_id: AccessKeyId::new(id).map_err(|e| e.to_string())?, secret_access_key: secret })
}

/// KMS's XksProxyUriPath rule: `/kms/xks/v1` or `/<prefix>/kms/xks/v1` with `a-zA-Z0-9/_-`, at most 128 characters.
fn check_uri_path(p: &str) -> Result<(), String> {
    let prefix = p.strip_suffix("/kms/xks/v1").ok_or_else(|| format!("--uri-path {p:?} must end with /kms/xks/v1"))?;
    // The proxy's own rule, and the path written in its normal form.
    if PathPrefix::new(prefix).map_or(true, |normal| normal.as_str() != prefix) {
        return Err(format!("--uri-path {p:?}: the prefix must be empty or /<a-zA-Z0-9/_-> and the whole path at most 128 characters"));
    }
    Ok(())
}

/// The JSON file the KMS console takes as "proxy configuration file".
pub(crate) fn kms_proxy_config(uri_path: &str, credential: &Credential) -> Zeroizing<String> {
    kms::to_json(&ProxyConfigurationFile {
        xks_proxy_uri_path: uri_path.to_owned(),
        xks_proxy_authentication_credential: AuthenticationCredential {
            access_key_id: credential.access_key_id.clone(),
            raw_secret_access_key: credential.secret_access_key.clone(),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_meet_the_kms_rules() {
        for _ in 0..200 {
            let c = generate().unwrap();
            AccessKeyId::new(c.access_key_id.as_str()).unwrap();
            SecretAccessKey::new(c.secret_access_key.expose()).unwrap();
            assert_eq!(B64.decode(c.secret_access_key.expose()).unwrap().len(), 32);
        }
        assert_ne!(generate().unwrap().access_key_id, generate().unwrap().access_key_id);
    }

    #[test]
    fn uri_paths() {
        for ok in ["/kms/xks/v1", "/keystores/ks1/kms/xks/v1", "/a_b-c/kms/xks/v1"] {
            check_uri_path(ok).unwrap();
        }
        for bad in ["/kms/xks/v2", "keystores/kms/xks/v1", "/a b/kms/xks/v1", "//kms/xks/v1"] {
            assert!(check_uri_path(bad).is_err(), "{bad}");
        }
        assert!(check_uri_path(&format!("/{}/kms/xks/v1", "a".repeat(120))).is_err());
    }
}
