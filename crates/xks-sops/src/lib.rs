//! sops files with age recipients, read and written in Rust.
//!
//! Shares, mTLS private keys and SigV4 secrets of the split-key XKS proxy are
//! born sealed in this format (docs/architecture.md §5): the sops CLI and Terraform's
//! sops provider open them with the holder's age identity, and we open files
//! the sops CLI made. The format, as implemented here (docs/secrets.md):
//! - every scalar value under the file's rule becomes
//!   `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM under a random
//!   32-byte data key with a 32-byte IV, the value's map-key path joined by `:`
//!   (plus a trailing `:`) as additional data; empty strings and nulls stay as they are;
//! - `sops.mac`: upper-case hex SHA-512 over the plaintext values in document
//!   order (booleans as `True`/`False`), encrypted the same way with
//!   `sops.lastmodified` as additional data;
//! - `sops.age[]`: the data key as an ASCII-armored age file per recipient.
//!
//! Three stores, chosen like sops by file extension: YAML, JSON, and "binary"
//! (any other file, stored as JSON `{"data": "<content>"}`).
//!
//! Not supported (clear errors): Shamir key groups, non-age key providers on
//! rekey, YAML anchors/aliases and several documents per file, encrypted YAML
//! comments (comments are dropped).

pub mod bundle;
mod document;
mod keys;
mod metadata;
mod tree;
mod value;

use std::path::Path;

use zeroize::Zeroizing;

pub use bundle::{Bundle, BundleError};
pub use document::{Plain, SealOptions};
pub use keys::{Identities, Recipient};
pub use metadata::{Rule, SOPS_VERSION};
pub use tree::Node;

/// Largest file accepted (sealed or plain).
pub const MAX_FILE: usize = 8 << 20;

/// Errors of this crate. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not valid YAML/JSON of a supported shape.
    #[error("syntax: {0}")]
    Syntax(String),
    /// Not a sops file, or a malformed part of one.
    #[error("not a valid sops file: {0}")]
    Format(String),
    /// A feature of sops this implementation does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// None of the identities is a recipient of the file.
    #[error("none of the given age identities can open this file; it is sealed to: {}", recipients.join(", "))]
    NoMatchingIdentity {
        /// The file's recipients.
        recipients: Vec<String>,
    },
    /// The file was tampered with, or a value was moved or damaged.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// An invalid age recipient.
    #[error("recipient: {0}")]
    Recipient(String),
    /// An invalid age identity.
    #[error("identity: {0}")]
    Identity(String),
    /// age failed while sealing.
    #[error("age: {0}")]
    Age(String),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Internal cryptographic failure.
    #[error("internal cryptographic error")]
    Crypto,
}

/// Result of this crate.
pub type Result<T> = core::result::Result<T, Error>;

/// How a file is stored (sops's "input/output type").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML document.
    Yaml,
    /// JSON document.
    Json,
    /// Any other file: its whole content as one value, stored as JSON.
    Binary,
}

impl Format {
    /// The store sops would use for this file name (`.yaml`/`.yml`, `.json`, else binary);
    /// a `.sops` or `.enc` infix is ignored (`share.sops.yaml` is YAML).
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("yaml" | "yml") => Self::Yaml,
            Some("json") => Self::Json,
            _ => Self::Binary,
        }
    }

    /// Parses `yaml`, `json` or `binary`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for anything else (`dotenv` and `ini` are not supported).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "yaml" => Ok(Self::Yaml),
            "json" => Ok(Self::Json),
            "binary" => Ok(Self::Binary),
            _ => Err(Error::Unsupported(format!("file type {s} (supported: yaml, json, binary)"))),
        }
    }

    fn read(self, text: &str) -> Result<Node> {
        if text.len() > MAX_FILE {
            return Err(Error::Syntax(format!("file larger than {MAX_FILE} bytes")));
        }
        match self {
            Self::Yaml => Node::from_yaml(text),
            Self::Json | Self::Binary => Node::from_json(text),
        }
    }

    fn write(self, node: &Node) -> Result<String> {
        match self {
            Self::Yaml => node.to_yaml(),
            Self::Json | Self::Binary => node.to_json(),
        }
    }

    fn plain_tree(self, plaintext: &str) -> Result<Plain> {
        match self {
            Self::Binary => {
                if plaintext.len() > MAX_FILE {
                    return Err(Error::Syntax(format!("file larger than {MAX_FILE} bytes")));
                }
                Ok(Plain(Node::Map(vec![("data".into(), Node::Str(plaintext.to_owned()))])))
            }
            _ => self.read(plaintext).map(Plain),
        }
    }

    fn plain_text(self, plain: &Plain) -> Result<Zeroizing<String>> {
        match self {
            Self::Binary => match plain.0.get("data") {
                Some(Node::Str(s)) => Ok(Zeroizing::new(s.clone())),
                _ => Err(Error::Format("a binary sops file must have exactly a data string".into())),
            },
            _ => self.write(&plain.0).map(Zeroizing::new),
        }
    }
}

/// Seals a plaintext file (given as text) to the recipients.
///
/// # Errors
/// [`Error::Syntax`] if the plaintext is not a document of `format`,
/// [`Error::Format`] if it is not a map or already sealed,
/// [`Error::Recipient`] for an empty recipient list.
pub fn seal(plaintext: &str, format: Format, recipients: &[Recipient], opts: &SealOptions) -> Result<String> {
    let plain = format.plain_tree(plaintext)?;
    seal_tree(&plain.0, format, recipients, opts)
}

/// Seals a document tree (a map without a `sops` key).
///
/// # Errors
/// As [`seal`].
pub fn seal_tree(plain: &Node, format: Format, recipients: &[Recipient], opts: &SealOptions) -> Result<String> {
    let sealed = document::seal(plain, recipients, opts)?;
    format.write(&sealed)
}

/// A file opened with an identity: the plaintext tree and how it was sealed.
#[derive(Debug)]
pub struct Unsealed {
    /// The plaintext tree (for binary files, `{data: …}`), zeroized on drop.
    pub plain: Plain,
    /// The file's age recipients.
    pub recipients: Vec<String>,
    /// The rule and MAC mode it was sealed with.
    pub options: SealOptions,
}

/// Opens a sealed file: finds an age stanza the identities open, decrypts every
/// value and verifies the MAC.
///
/// # Errors
/// [`Error::NoMatchingIdentity`] when the identities are not recipients,
/// [`Error::Integrity`] for any tampering, [`Error::Format`] / [`Error::Syntax`]
/// for a file that is not sops.
pub fn unseal_tree(sealed: &str, format: Format, ids: &Identities) -> Result<Unsealed> {
    unseal_node(format.read(sealed)?, ids).map(|(u, _)| u)
}

/// Opens an already parsed sealed document; also returns its metadata.
fn unseal_node(sealed: Node, ids: &Identities) -> Result<(Unsealed, metadata::Metadata)> {
    let (tree, meta) = document::split(sealed)?;
    let key = document::data_key(&meta, ids)?;
    let plain = document::unseal(tree, &meta, &key)?;
    let u = Unsealed {
        plain,
        recipients: meta.age.iter().map(|s| s.recipient.clone()).collect(),
        options: SealOptions { rule: meta.rule.clone(), mac_only_encrypted: meta.mac_only_encrypted },
    };
    Ok((u, meta))
}

impl Unsealed {
    /// The plaintext rendered in `format` (for binary files, the content itself).
    ///
    /// # Errors
    /// [`Error::Format`] for a binary file without a `data` string.
    pub fn plaintext(&self, format: Format) -> Result<Zeroizing<String>> {
        format.plain_text(&self.plain)
    }
}

/// Opens a sealed file and renders its plaintext in the same format (what `sops -d` prints).
///
/// # Errors
/// As [`unseal_tree`].
pub fn unseal(sealed: &str, format: Format, ids: &Identities) -> Result<Zeroizing<String>> {
    unseal_tree(sealed, format, ids)?.plaintext(format)
}

/// Re-seals a file to a new set of recipients under a **new** data key (so a removed
/// recipient's old copy of the key opens nothing new), keeping its rule and MAC mode.
///
/// # Errors
/// As [`unseal_tree`]; [`Error::Unsupported`] when the file also lists non-age key
/// providers (they would silently lose access).
pub fn rekey(sealed: &str, format: Format, ids: &Identities, recipients: &[Recipient]) -> Result<String> {
    let (u, meta) = unseal_node(format.read(sealed)?, ids)?;
    if meta.has_other_providers() {
        return Err(Error::Unsupported("the file also lists non-age key providers (kms, pgp, …); rekey it with the sops CLI".into()));
    }
    seal_tree(&u.plain.0, format, recipients, &u.options)
}

/// The recipients a sealed file names, without opening it.
///
/// # Errors
/// [`Error::Format`] / [`Error::Syntax`] for a file that is not sops.
pub fn recipients(sealed: &str, format: Format) -> Result<Vec<String>> {
    let (_, meta) = document::split(format.read(sealed)?)?;
    Ok(meta.age.into_iter().map(|s| s.recipient).collect())
}

/// Whether a text looks like a sealed sops file of this format (has a `sops` block).
pub fn is_sealed(text: &str, format: Format) -> bool {
    format.read(text).is_ok_and(|n| n.get("sops").is_some())
}

/// Reads a file that may be sealed: a sealed file is opened with the identities
/// and its plaintext returned; any other text is returned unchanged (so services
/// accept both sealed share files and plaintext ones handed over by a secret store).
///
/// # Errors
/// [`Error::Identity`] when the file is sealed and no identity was given; otherwise
/// as [`unseal`].
pub fn open_maybe_sealed(text: &str, format: Format, ids: Option<&Identities>) -> Result<Zeroizing<String>> {
    // A binary store is JSON on disk; its plaintext is the `data` value.
    // The document is parsed once: to tell sealed from plain, then to open it.
    let container = if format == Format::Binary { Format::Json } else { format };
    let node = match container.read(text) {
        Ok(n) if n.get("sops").is_some() => n,
        _ => return Ok(Zeroizing::new(text.to_owned())),
    };
    let ids = ids.ok_or_else(|| Error::Identity("the file is sealed (sops) and no age identity was configured".into()))?;
    unseal_node(node, ids)?.0.plaintext(format)
}

/// Reads a file that may be sealed ([`open_maybe_sealed`]); the store is chosen
/// by its name (`*.json`, `*.yaml`; anything else, e.g. a PEM key, is binary).
///
/// # Errors
/// [`Error::Io`] naming the file, else as [`open_maybe_sealed`].
pub fn read_file(path: &Path, ids: Option<&Identities>) -> Result<Zeroizing<String>> {
    let io = |e: std::io::Error| Error::Io { path: path.display().to_string(), reason: e.to_string() };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE as u64 {
        return Err(Error::Io { path: path.display().to_string(), reason: format!("larger than {MAX_FILE} bytes") });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    open_maybe_sealed(&text, Format::from_path(path), ids)
}
