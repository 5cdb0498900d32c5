//! The SigV4 credentials of one key store, and the file that holds them: one
//! `[[credential]]` table per credential (two during a rotation), each with
//! `access_key_id` and `secret_access_key`. The proxy reads these files; the
//! operator CLI writes and rewrites them; both through [`parse`] and
//! [`render`], so the format has one definition. The file is secret: it is
//! kept sealed (sops/age) at rest.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::ids::{AccessKeyId, IdError, SecretAccessKey};

/// One credential: an access key id and its secret, both checked by the XKS rules.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The id KMS names in its signatures.
    pub access_key_id: AccessKeyId,
    /// The shared secret (never logged).
    pub secret_access_key: SecretAccessKey,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    credential: Vec<Credential>,
}

/// Parses a credentials file, checking every entry by the XKS rules and that
/// no access key id appears twice. An empty list is returned as such (a key
/// store refuses it; a retirement step may want to see it).
///
/// # Errors
/// [`IdError`] naming the broken rule or the duplicated id (never a secret).
pub fn parse(text: &str) -> Result<Vec<Credential>, IdError> {
    // `message()` leaves out the quoted source line, which could hold a secret.
    let file: File = toml::from_str(text).map_err(|e| IdError::from(format!("not a credentials file: {}", e.message())))?;
    let mut seen: Vec<&AccessKeyId> = Vec::new();
    for c in &file.credential {
        if seen.contains(&&c.access_key_id) {
            return Err(IdError::from(format!("access key id {} appears twice (it must identify one secret)", c.access_key_id)));
        }
        seen.push(&c.access_key_id);
    }
    Ok(file.credential)
}

/// Writes credentials in the format [`parse`] reads, under a comment saying
/// what the file is.
pub fn render(credentials: &[Credential]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::from(
        "# SigV4 credentials of one key store (XKS proxy). Secret: keep sealed (sops/age) at rest.\n\
         # Two entries are normal during a rotation; the proxy accepts either.\n",
    ));
    for c in credentials {
        out.push_str(&format!(
            "\n[[credential]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            c.access_key_id,
            c.secret_access_key.expose()
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    const ID: &str = "AAAAAAAAAAAAAAAAAAAA";
    const SECRET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

    fn credential(id: &str) -> Credential {
        Credential { access_key_id: AccessKeyId::new(id).unwrap(), secret_access_key: SecretAccessKey::new(SECRET).unwrap() }
    }

    #[test]
    fn render_then_parse_is_the_identity() {
        let two = [credential(ID), credential("BBBBBBBBBBBBBBBBBBBB")];
        let back = parse(&render(&two)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].access_key_id.as_str(), "BBBBBBBBBBBBBBBBBBBB");
        assert_eq!(back[0].secret_access_key.expose(), SECRET);
    }

    #[test]
    fn bad_entries_are_refused_without_quoting_the_secret() {
        let dup = render(&[credential(ID), credential(ID)]);
        assert!(parse(&dup).unwrap_err().to_string().contains("appears twice"));
        let short = format!("[[credential]]\naccess_key_id = \"{ID}\"\nsecret_access_key = \"tooshort-secret-value\"\n");
        let e = parse(&short).unwrap_err().to_string();
        assert!(e.contains("43 to 64") && !e.contains("tooshort-secret-value"), "{e}");
        let unknown = format!("[[credential]]\naccess_key_id = \"{ID}\"\nsecret_access_key = \"{SECRET}\"\nextra = 1\n");
        assert!(parse(&unknown).is_err());
        assert!(parse("").unwrap().is_empty());
    }
}
