//! The `sops` block of a file: age stanzas, `lastmodified`, the encrypted MAC,
//! the partial-encryption rule and anything else sops wrote (kept verbatim).

use regex::Regex;

use crate::tree::Node;
use crate::{Error, Result};

/// Key providers other than age that sops may list; we keep them but cannot use them.
const OTHER_PROVIDERS: [&str; 5] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "pgp"];

/// The sops format version our files declare (the layout they follow).
pub const SOPS_VERSION: &str = "3.9.1";

/// Which values of a document are encrypted (sops's `--encrypted-regex` and
/// friends; at most one per file). Matched against each map key on a value's
/// path, from the root: the first key that matches decides.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Encrypt only values under a key ending with this suffix.
    EncryptedSuffix(String),
    /// Encrypt everything except values under a key ending with this suffix.
    UnencryptedSuffix(String),
    /// Encrypt only values under a key matching this regex.
    EncryptedRegex(Regex),
    /// Encrypt everything except values under a key matching this regex.
    UnencryptedRegex(Regex),
}

impl Rule {
    const KEYS: [&'static str; 4] = ["encrypted_suffix", "unencrypted_suffix", "encrypted_regex", "unencrypted_regex"];

    /// Builds a rule from its sops metadata key and value.
    ///
    /// # Errors
    /// [`Error::Format`] for an unknown key or an invalid regex.
    pub fn new(key: &str, value: &str) -> Result<Self> {
        let re = || Regex::new(value).map_err(|_| Error::Format(format!("{key} is not a valid regular expression")));
        Ok(match key {
            "encrypted_suffix" => Self::EncryptedSuffix(value.to_owned()),
            "unencrypted_suffix" => Self::UnencryptedSuffix(value.to_owned()),
            "encrypted_regex" => Self::EncryptedRegex(re()?),
            "unencrypted_regex" => Self::UnencryptedRegex(re()?),
            _ => return Err(Error::Format(format!("unknown partial-encryption rule {key}"))),
        })
    }

    fn key_and_value(&self) -> (&'static str, &str) {
        match self {
            Self::EncryptedSuffix(s) => ("encrypted_suffix", s),
            Self::UnencryptedSuffix(s) => ("unencrypted_suffix", s),
            Self::EncryptedRegex(r) => ("encrypted_regex", r.as_str()),
            Self::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str()),
        }
    }

    /// Whether a value at `path` (its map keys from the root) is encrypted.
    pub fn encrypts(rule: Option<&Self>, path: &[String]) -> bool {
        let Some(rule) = rule else { return true };
        for key in path {
            let (hit, encrypt) = match rule {
                Self::EncryptedSuffix(s) => (key.ends_with(s.as_str()), true),
                Self::UnencryptedSuffix(s) => (key.ends_with(s.as_str()), false),
                Self::EncryptedRegex(r) => (r.is_match(key), true),
                Self::UnencryptedRegex(r) => (r.is_match(key), false),
            };
            if hit {
                return encrypt;
            }
        }
        matches!(rule, Self::UnencryptedSuffix(_) | Self::UnencryptedRegex(_))
    }
}

/// One age stanza: the data key wrapped to one recipient.
#[derive(Clone, Debug)]
pub struct AgeStanza {
    /// `age1…`
    pub recipient: String,
    /// The armored age file.
    pub enc: String,
}

/// The parsed `sops` block.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// Data key per age recipient.
    pub age: Vec<AgeStanza>,
    /// `lastmodified` exactly as written (it is the MAC's additional data).
    pub last_modified: String,
    /// The encrypted MAC (`ENC[...]`).
    pub mac: String,
    /// The partial-encryption rule.
    pub rule: Option<Rule>,
    /// MAC over encrypted values only.
    pub mac_only_encrypted: bool,
    /// Other entries sops wrote (empty provider lists, comment rules, version, …).
    pub other: Vec<(String, Node)>,
}

impl Metadata {
    /// Reads the `sops` block.
    ///
    /// # Errors
    /// [`Error::Format`] when it is missing parts, and [`Error::Unsupported`] for
    /// Shamir key groups.
    pub fn parse(node: &Node) -> Result<Self> {
        let Node::Map(entries) = node else { return Err(Error::Format("the sops block is not a map".into())) };
        let (mut age, mut last_modified, mut mac, mut rule, mut mac_only_encrypted, mut other) =
            (Vec::new(), None, None, None, false, Vec::new());
        for (k, v) in entries {
            match k.as_str() {
                "age" => age = parse_age(v)?,
                "lastmodified" => last_modified = Some(v.as_str().ok_or_else(|| Error::Format("lastmodified is not a string".into()))?),
                "mac" => mac = Some(v.as_str().ok_or_else(|| Error::Format("mac is not a string".into()))?),
                "mac_only_encrypted" => mac_only_encrypted = matches!(v, Node::Bool(true)),
                key if Rule::KEYS.contains(&key) => {
                    let Node::Str(value) = v else { return Err(Error::Format(format!("{key} is not a string"))) };
                    if value.is_empty() {
                        continue;
                    }
                    if rule.is_some() {
                        return Err(Error::Format("more than one partial-encryption rule".into()));
                    }
                    rule = Some(Rule::new(key, value)?);
                }
                "key_groups" if !matches!(v, Node::Null) && !matches!(v, Node::Seq(s) if s.is_empty()) => {
                    return Err(Error::Unsupported("sops key groups (Shamir) are not supported".into()));
                }
                _ => other.push((k.clone(), v.clone())),
            }
        }
        Ok(Self {
            age,
            last_modified: last_modified.ok_or_else(|| Error::Format("the sops block has no lastmodified".into()))?.to_owned(),
            mac: mac.ok_or_else(|| Error::Format("the sops block has no mac".into()))?.to_owned(),
            rule,
            mac_only_encrypted,
            other,
        })
    }

    /// Whether the file also lists key providers other than age (which a rekey would drop).
    pub fn has_other_providers(&self) -> bool {
        self.other.iter().any(|(k, v)| OTHER_PROVIDERS.contains(&k.as_str()) && matches!(v, Node::Seq(s) if !s.is_empty()))
    }

    /// Renders the block in sops's key order.
    pub fn to_node(&self) -> Node {
        let mut e = Vec::new();
        let stanzas = self
            .age
            .iter()
            .map(|s| Node::Map(vec![("recipient".into(), Node::Str(s.recipient.clone())), ("enc".into(), Node::Str(s.enc.clone()))]))
            .collect();
        e.push(("age".to_owned(), Node::Seq(stanzas)));
        e.push(("lastmodified".to_owned(), Node::Str(self.last_modified.clone())));
        e.push(("mac".to_owned(), Node::Str(self.mac.clone())));
        if let Some(rule) = &self.rule {
            let (k, v) = rule.key_and_value();
            e.push((k.to_owned(), Node::Str(v.to_owned())));
        }
        if self.mac_only_encrypted {
            e.push(("mac_only_encrypted".to_owned(), Node::Bool(true)));
        }
        e.extend(self.other.iter().filter(|(k, _)| k != "version").cloned());
        e.push(("version".to_owned(), Node::Str(SOPS_VERSION.to_owned())));
        Node::Map(e)
    }
}

fn parse_age(v: &Node) -> Result<Vec<AgeStanza>> {
    let bad = || Error::Format("sops.age must be a list of {recipient, enc}".into());
    match v {
        Node::Null => Ok(Vec::new()),
        Node::Seq(items) => items
            .iter()
            .map(|i| {
                let recipient = i.get("recipient").and_then(Node::as_str).ok_or_else(bad)?;
                let enc = i.get("enc").and_then(Node::as_str).ok_or_else(bad)?;
                Ok(AgeStanza { recipient: recipient.to_owned(), enc: enc.to_owned() })
            })
            .collect(),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn first_matching_key_decides() -> Result<()> {
        let r = Rule::new("encrypted_regex", "^encrypted")?;
        assert!(Rule::encrypts(Some(&r), &p(&["a", "encrypted_1", "a"])));
        assert!(!Rule::encrypts(Some(&r), &p(&["a", "not_encrypted"])));
        let u = Rule::new("unencrypted_suffix", "_unencrypted")?;
        assert!(!Rule::encrypts(Some(&u), &p(&["b_unencrypted", "a"])));
        assert!(Rule::encrypts(Some(&u), &p(&["a_encrypted"])));
        assert!(Rule::encrypts(None, &p(&["anything"])));
        assert!(Rule::new("encrypted_regex", "(").is_err());
        Ok(())
    }
}
