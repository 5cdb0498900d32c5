//! age X25519 recipients and identities, and the data key wrapped to each
//! recipient (an ASCII-armored age file per recipient, as sops stores it).

use core::fmt;
use core::str::FromStr;
use std::io::{Read as _, Write as _};

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use age::secrecy::ExposeSecret as _;
use zeroize::Zeroizing;

use crate::value::DataKey;
use crate::{Error, Result};

/// An age X25519 recipient (`age1…`): who a file is sealed to.
#[derive(Clone)]
pub struct Recipient(age::x25519::Recipient);

impl FromStr for Recipient {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        age::x25519::Recipient::from_str(s).map(Self).map_err(|_| Error::Recipient(describe_non_recipient(s)))
    }
}

/// What an error may say about a string that is not a recipient: never the
/// string itself when it looks like a secret (an age identity pasted where
/// its recipient belongs), otherwise a bounded prefix of it.
fn describe_non_recipient(s: &str) -> String {
    if s.to_ascii_uppercase().contains("AGE-SECRET-KEY-") {
        return "an age SECRET key (AGE-SECRET-KEY-…) was given where a recipient (age1…) is expected; it is not repeated here. \
                Give its recipient instead (age-keygen -y), and treat that secret key as exposed if it was pasted anywhere shared"
            .to_owned();
    }
    format!("not an age X25519 recipient (age1…): {}", s.chars().take(12).collect::<String>())
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.0)
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// The age X25519 identities (`AGE-SECRET-KEY-1…`) a holder opens files with.
/// `Debug` shows only their recipients.
pub struct Identities(Vec<age::x25519::Identity>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.recipients().iter().map(ToString::to_string)).finish()
    }
}

impl Identities {
    /// Parses an age identity file: one `AGE-SECRET-KEY-1…` per line, `#` comments
    /// and blank lines allowed (the format `age-keygen` writes).
    ///
    /// # Errors
    /// [`Error::Identity`] naming the line number (never its content), or when the
    /// text holds no identity.
    pub fn parse(text: &str) -> Result<Self> {
        let mut ids = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line)
                .map_err(|_| Error::Identity(format!("line {} is not an age X25519 identity (AGE-SECRET-KEY-1…)", n + 1)))?;
            ids.push(id);
        }
        if ids.is_empty() {
            return Err(Error::Identity("no age identity found".into()));
        }
        Ok(Self(ids))
    }

    /// The identities for opening sealed files: `file` if given, else the file named by
    /// `SOPS_AGE_KEY_FILE`, else the identity text in `SOPS_AGE_KEY` (the variables the
    /// sops CLI reads); `None` when none is set.
    ///
    /// # Errors
    /// [`Error::Io`] for an unreadable file, [`Error::Identity`] for invalid content.
    pub fn load(file: Option<&std::path::Path>) -> Result<Option<Self>> {
        let from_env = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
        if let Some(path) = file.map(std::path::Path::to_path_buf).or(from_env) {
            let text = Zeroizing::new(
                std::fs::read_to_string(&path).map_err(|e| Error::Io { path: path.display().to_string(), reason: e.to_string() })?,
            );
            return Self::parse(&text).map(Some).map_err(|e| Error::Identity(format!("{}: {e}", path.display())));
        }
        match std::env::var("SOPS_AGE_KEY") {
            Ok(text) if !text.is_empty() => {
                let text = Zeroizing::new(text);
                Self::parse(&text).map(Some).map_err(|e| Error::Identity(format!("SOPS_AGE_KEY: {e}")))
            }
            _ => Ok(None),
        }
    }

    /// A fresh identity, and its identity-file text (zeroized on drop).
    pub fn generate() -> (Self, Zeroizing<String>) {
        let id = age::x25519::Identity::generate();
        let text = Zeroizing::new(format!("# created by xksctl\n# public key: {}\n{}\n", id.to_public(), id.to_string().expose_secret()));
        (Self(vec![id]), text)
    }

    /// The recipients matching these identities.
    pub fn recipients(&self) -> Vec<Recipient> {
        self.0.iter().map(|i| Recipient(i.to_public())).collect()
    }
}

/// Wraps the data key to one recipient: an armored age file.
pub(crate) fn wrap(key: &DataKey, recipient: &Recipient) -> Result<String> {
    let age_err = |e: &dyn fmt::Display| Error::Age(e.to_string());
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient.0 as &dyn age::Recipient)).map_err(|e| age_err(&e))?;
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor).map_err(|e| age_err(&e))?;
    let mut w = encryptor.wrap_output(armor).map_err(|e| age_err(&e))?;
    w.write_all(key.as_slice()).map_err(|e| age_err(&e))?;
    w.finish().and_then(ArmoredWriter::finish).map_err(|e| age_err(&e))?;
    let mut s = String::from_utf8(out).map_err(|_| Error::Age("armor is not UTF-8".into()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Unwraps an armored data key with any of the identities; `None` when none of
/// them is a recipient of this stanza.
pub(crate) fn unwrap(enc: &str, ids: &Identities) -> Result<Option<DataKey>> {
    let decryptor = age::Decryptor::new(ArmoredReader::new(enc.as_bytes()))
        .map_err(|e| Error::Format(format!("a sops age stanza is not an age file: {e}")))?;
    let mut reader = match decryptor.decrypt(ids.0.iter().map(|i| i as &dyn age::Identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
        Err(e) => return Err(Error::Integrity(format!("the age data key does not decrypt: {e}"))),
    };
    let mut buf = Zeroizing::new(Vec::with_capacity(33));
    reader
        .by_ref()
        .take(33)
        .read_to_end(&mut buf)
        .map_err(|_| Error::Integrity("the age data key does not decrypt (damaged payload)".into()))?;
    let key: [u8; 32] = buf.as_slice().try_into().map_err(|_| Error::Format("the sops data key is not 32 bytes".into()))?;
    Ok(Some(Zeroizing::new(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 §6: an age secret key given as a recipient is never echoed.
    #[test]
    fn a_secret_key_given_as_recipient_is_not_echoed() {
        let (_, text) = Identities::generate();
        let secret = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap_or_default().to_owned();
        assert!(!secret.is_empty());
        for given in [secret.trim().to_owned(), secret.trim().to_lowercase(), format!("  {}  ", secret.trim())] {
            let e = given.parse::<Recipient>().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("SECRET key"), "{e}");
            let body = secret.trim().trim_start_matches("AGE-SECRET-KEY-");
            assert!(!e.contains(&body[..20]) && !e.to_uppercase().contains(&body[..20].to_uppercase()), "{e}");
        }
    }

    #[test]
    fn wrap_unwrap_and_foreign_identity() -> Result<()> {
        let (ids, text) = Identities::generate();
        let (other, _) = Identities::generate();
        let again = Identities::parse(&text)?;
        let r = ids.recipients().remove(0);
        assert_eq!(again.recipients(), ids.recipients());
        let key = Zeroizing::new([9u8; 32]);
        let enc = wrap(&key, &r)?;
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert_eq!(unwrap(&enc, &again)?.map(|k| *k), Some([9u8; 32]));
        assert!(unwrap(&enc, &other)?.is_none());
        Ok(())
    }

    #[test]
    fn identity_errors_do_not_quote_the_secret() {
        let Err(e) = Identities::parse("# c\nAGE-SECRET-KEY-1NOTVALIDATALLXXXXXXXX\n") else { return };
        let msg = e.to_string();
        assert!(msg.contains("line 2") && !msg.contains("NOTVALID"), "{msg}");
        assert!(Identities::parse("# only comments\n").is_err());
    }
}
