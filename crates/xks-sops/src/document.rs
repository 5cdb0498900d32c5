//! Sealing and unsealing a whole document: every value under the rule
//! encrypted at its path, the MAC over the plaintext values in document order,
//! the data key wrapped to each recipient.

use rand_core::{CryptoRng, OsRng, RngCore};
use sha2::{Digest as _, Sha512};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::keys::{self, Identities, Recipient};
use crate::metadata::{AgeStanza, Metadata, Rule};
use crate::tree::Node;
use crate::value::{self, DataKey};
use crate::{Error, Result};

/// Prefix of the MAC when it covers encrypted values only (`mac_only_encrypted`):
/// sops's fixed initialization bytes (sops `tree.go`), pinned by the reference files.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f,
    0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// A plaintext document tree, zeroized on drop.
pub struct Plain(pub Node);

impl Drop for Plain {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for Plain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Plain(<redacted>)")
    }
}

struct Walk<'a> {
    rule: Option<&'a Rule>,
    mac_only_encrypted: bool,
    mac: Sha512,
    path: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(rule: Option<&'a Rule>, mac_only_encrypted: bool) -> Self {
        let mut mac = Sha512::new();
        if mac_only_encrypted {
            mac.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Self { rule, mac_only_encrypted, mac, path: Vec::new() }
    }

    fn aad(&self) -> Vec<u8> {
        let mut a = self.path.join(":").into_bytes();
        a.push(b':');
        a
    }

    /// Hashes a plaintext value into the MAC (all values, or only encrypted ones).
    fn hash(&mut self, bytes: &[u8], encrypted: bool) {
        if !self.mac_only_encrypted || encrypted {
            self.mac.update(bytes);
        }
    }

    /// Uppercase hex of the MAC, as sops stores it.
    fn finish(self) -> Zeroizing<String> {
        let digest = self.mac.finalize();
        let mut s = Zeroizing::new(String::with_capacity(128));
        for b in digest {
            s.push_str(&format!("{b:02X}"));
        }
        s
    }

    fn children<F>(&mut self, node: &mut Node, f: &mut F) -> Result<()>
    where
        F: FnMut(&mut Self, &mut Node) -> Result<()>,
    {
        match node {
            Node::Map(entries) => {
                for (k, v) in entries {
                    self.path.push(k.clone());
                    let r = self.children(v, f);
                    self.path.pop();
                    r?;
                }
                Ok(())
            }
            Node::Seq(items) => items.iter_mut().try_for_each(|v| self.children(v, f)),
            leaf => f(self, leaf),
        }
    }

    fn encrypt<R: RngCore + CryptoRng>(&mut self, tree: &mut Node, key: &DataKey, rng: &mut R) -> Result<()> {
        self.children(tree, &mut |w, leaf| {
            let Some((bytes, t)) = value::scalar_bytes(leaf) else { return Ok(()) };
            let encrypted = Rule::encrypts(w.rule, &w.path);
            w.hash(&bytes, encrypted);
            if encrypted && !bytes.is_empty() {
                let enc = value::encrypt(key, &bytes, t, &w.aad(), rng)?;
                leaf.zeroize();
                *leaf = Node::Str(enc);
            }
            Ok(())
        })
    }

    fn decrypt(&mut self, tree: &mut Node, key: &DataKey) -> Result<()> {
        self.children(tree, &mut |w, leaf| {
            let encrypted = Rule::encrypts(w.rule, &w.path);
            if encrypted {
                match leaf {
                    Node::Str(s) if s.is_empty() => {}
                    Node::Str(s) if value::is_encrypted(s) => {
                        let (bytes, t) = value::decrypt(key, s, &w.aad())?;
                        *leaf = value::to_node(&bytes, t)?;
                    }
                    Node::Null => {}
                    _ => return Err(Error::Integrity(format!("the value at {} should be encrypted but is not", w.path.join(".")))),
                }
            }
            if let Some((bytes, _)) = value::scalar_bytes(leaf) {
                w.hash(&bytes, encrypted);
            }
            Ok(())
        })
    }
}

/// How a new file is sealed.
#[derive(Clone, Debug, Default)]
pub struct SealOptions {
    /// Which values are encrypted (all when `None`).
    pub rule: Option<Rule>,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

fn now() -> Result<String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc().format(fmt).map_err(|_| Error::Crypto)
}

/// Seals a plaintext tree (a map, without a `sops` key) to the recipients.
pub(crate) fn seal(plain: &Node, recipients: &[Recipient], opts: &SealOptions) -> Result<Node> {
    let Node::Map(entries) = plain else { return Err(Error::Format("a sops document must be a map at the top".into())) };
    if entries.iter().any(|(k, _)| k == "sops") {
        return Err(Error::Format("the document already has a sops block (is it sealed already?)".into()));
    }
    if recipients.is_empty() {
        return Err(Error::Recipient("at least one age recipient is needed".into()));
    }
    let mut key: DataKey = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(key.as_mut_slice());
    let mut tree = Plain(plain.clone());
    let mut walk = Walk::new(opts.rule.as_ref(), opts.mac_only_encrypted);
    walk.encrypt(&mut tree.0, &key, &mut OsRng)?;
    let mac = walk.finish();
    let last_modified = now()?;
    let mac = value::encrypt(&key, mac.as_bytes(), value::ValueType::Str, last_modified.as_bytes(), &mut OsRng)?;
    let age =
        recipients.iter().map(|r| Ok(AgeStanza { recipient: r.to_string(), enc: keys::wrap(&key, r)? })).collect::<Result<Vec<_>>>()?;
    let meta =
        Metadata { age, last_modified, mac, rule: opts.rule.clone(), mac_only_encrypted: opts.mac_only_encrypted, other: Vec::new() };
    let Node::Map(mut out) = core::mem::replace(&mut tree.0, Node::Null) else { return Err(Error::Crypto) };
    out.push(("sops".to_owned(), meta.to_node()));
    Ok(Node::Map(out))
}

/// A sealed document split into its tree and its metadata.
pub(crate) fn split(sealed: Node) -> Result<(Node, Metadata)> {
    let Node::Map(mut entries) = sealed else { return Err(Error::Format("not a sops file: the document is not a map".into())) };
    let pos = entries.iter().position(|(k, _)| k == "sops").ok_or_else(|| Error::Format("not a sops file: no sops block".into()))?;
    let (_, block) = entries.remove(pos);
    Ok((Node::Map(entries), Metadata::parse(&block)?))
}

/// The data key, from the first age stanza one of the identities opens.
pub(crate) fn data_key(meta: &Metadata, ids: &Identities) -> Result<DataKey> {
    for stanza in &meta.age {
        if let Some(k) = keys::unwrap(&stanza.enc, ids)? {
            return Ok(k);
        }
    }
    Err(Error::NoMatchingIdentity { recipients: meta.age.iter().map(|s| s.recipient.clone()).collect() })
}

/// Decrypts every value and checks the MAC.
pub(crate) fn unseal(tree: Node, meta: &Metadata, key: &DataKey) -> Result<Plain> {
    let mut tree = Plain(tree);
    let mut walk = Walk::new(meta.rule.as_ref(), meta.mac_only_encrypted);
    walk.decrypt(&mut tree.0, key)?;
    let computed = walk.finish();
    let (stored, _) = value::decrypt(key, &meta.mac, meta.last_modified.as_bytes())
        .map_err(|_| Error::Integrity("the MAC does not decrypt (lastmodified or MAC changed)".into()))?;
    let stored = Zeroizing::new(stored.to_ascii_uppercase());
    if !bool::from(stored.as_slice().ct_eq(computed.as_bytes())) {
        return Err(Error::Integrity("MAC mismatch: the file was changed after it was sealed".into()));
    }
    Ok(tree)
}
