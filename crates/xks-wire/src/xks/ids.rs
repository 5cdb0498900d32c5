//! The identifiers and secrets of the XKS API, each a type that can only hold
//! a value its rule allows. Deserializing goes through the same constructors,
//! so a configuration file cannot carry a value the proxy would refuse later.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A value that breaks the rule of its type (the message names the rule and,
/// for non-secrets, the value).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(String);

impl From<String> for IdError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

/// Spec "API operations": an `externalKeyId` is 1 to 128 characters of
/// letters, digits, `-`, `.` and `_`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalKeyId(String);

impl ExternalKeyId {
    /// Checks the rule.
    ///
    /// # Errors
    /// [`IdError`] naming the rule.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
            Ok(Self(id))
        } else {
            Err(IdError(format!("external key id {id:?} must be 1 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_'")))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Spec "XKS proxy configuration" (`XksProxyUriPath`): the key store's URI
/// path prefix, normalised: no empty segments, a leading `/` unless empty, no
/// trailing `/`; characters `a-zA-Z0-9/_-`; with `/kms/xks/v1` at most 128
/// characters. `""`, `"/"` → `""`; `"a//b/"` → `"/a/b"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// Normalises and checks a prefix.
    ///
    /// # Errors
    /// [`IdError`] naming the rule.
    pub fn new(prefix: &str) -> Result<Self, IdError> {
        if !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_')) {
            return Err(IdError("path_prefix may only contain a-z, A-Z, 0-9, '/', '-' and '_'".into()));
        }
        let segs: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
        let p = if segs.is_empty() { String::new() } else { format!("/{}", segs.join("/")) };
        if p.len() + "/kms/xks/v1".len() > 128 {
            return Err(IdError("path_prefix makes XksProxyUriPath longer than 128 characters".into()));
        }
        Ok(Self(p))
    }

    /// The normalised prefix (`""` or `/a/b`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key store's `XksProxyUriPath` (prefix + `/kms/xks/v1`).
    pub fn uri_path(&self) -> String {
        format!("{}/kms/xks/v1", self.0)
    }
}

/// Spec Appendix A: an access key id is 20 to 30 characters of `A`–`Z` and `2`–`7`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessKeyId(String);

impl AccessKeyId {
    /// Checks the rule.
    ///
    /// # Errors
    /// [`IdError`] naming the rule.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if (20..=30).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)) {
            Ok(Self(id))
        } else {
            Err(IdError(format!("access key id {id:?} must be 20 to 30 characters of A-Z and 2-7 (XKS spec Appendix A)")))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SigV4 secret access key (zeroized on drop, never printed).
///
/// [`SecretAccessKey::new`] enforces the XKS rule (spec "XKS proxy
/// configuration": 43 to 64 characters of `a-zA-Z0-9/+=`, at least 256 bits);
/// [`SecretAccessKey::any_sigv4`] takes any secret, for signing with the
/// shorter secrets of AWS's published SigV4 examples.
#[derive(Clone)]
pub struct SecretAccessKey(Zeroizing<String>);

impl SecretAccessKey {
    /// Checks the XKS rule.
    ///
    /// # Errors
    /// [`IdError`] naming the rule (never the secret).
    pub fn new(secret: impl Into<String>) -> Result<Self, IdError> {
        let secret = Zeroizing::new(secret.into());
        if (43..=64).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'=')) {
            Ok(Self(secret))
        } else {
            Err(IdError("secret access key must be 43 to 64 characters of a-z, A-Z, 0-9, '/', '+', '=' (at least 256 bits)".into()))
        }
    }

    /// Any SigV4 secret, unchecked (AWS's own examples use 40 characters; an
    /// XKS key store would refuse them).
    pub fn any_sigv4(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself: only for signing and for writing it where it
    /// belongs (a sealed credentials file, the KMS configuration). Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretAccessKey(<redacted>)")
    }
}

macro_rules! text_id {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
text_id!(ExternalKeyId);
text_id!(PathPrefix);
text_id!(AccessKeyId);

impl std::borrow::Borrow<str> for ExternalKeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for AccessKeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ExternalKeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for PathPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for AccessKeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SecretAccessKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SecretAccessKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(Zeroizing::new(String::deserialize(d)?).to_string()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    /// Spec Appendix A: access key ids are 20–30 characters of A–Z and 2–7.
    #[test]
    fn spec_appendix_a_access_key_id_rule() {
        assert!(AccessKeyId::new("A".repeat(20)).is_ok());
        assert!(AccessKeyId::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ2345").is_ok());
        assert!(AccessKeyId::new("AKIAI2SFODNN7EXAMPLE").is_ok());
        assert!(AccessKeyId::new("AKIAI2SFODNN7EXAMPL").is_err());
        assert!(AccessKeyId::new("AKIAI2SFODNN7EXAMPLE1").is_err());
        for bad in ["A".repeat(19), "A".repeat(31), format!("{}1", "A".repeat(20)), format!("{}a", "A".repeat(20))] {
            assert!(AccessKeyId::new(bad.clone()).is_err(), "{bad}");
        }
    }

    /// Spec "XKS proxy configuration": secrets are 43–64 characters of a-zA-Z0-9/+=.
    #[test]
    fn spec_secret_access_key_rule_and_no_leak() {
        assert!(SecretAccessKey::new("a".repeat(43)).is_ok());
        assert!(SecretAccessKey::new("a/+=".repeat(16)).is_ok());
        assert!(SecretAccessKey::new("FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE").is_ok());
        assert!(SecretAccessKey::new("short").is_err());
        for bad in ["a".repeat(42), "a".repeat(65), format!("{}-", "a".repeat(43))] {
            let e = SecretAccessKey::new(bad.clone()).err().unwrap();
            assert!(!e.to_string().contains(&bad), "the message must not echo the secret");
        }
        assert_eq!(format!("{:?}", SecretAccessKey::any_sigv4("x")), "SecretAccessKey(<redacted>)");
    }

    /// Spec "API operations": externalKeyId is at most 128 characters of letters, digits, `-._`.
    #[test]
    fn spec_external_key_id_rule() {
        assert!(ExternalKeyId::new("k-1.x_Y").is_ok());
        assert!(ExternalKeyId::new("k".repeat(128)).is_ok());
        assert!(ExternalKeyId::new("b42c7fbf-de61-441c-ae24-123456789012").is_ok());
        assert!(ExternalKeyId::new("non_existing_key.v2").is_ok());
        for bad in ["", "a b", "a/b", &"k".repeat(129)] {
            assert!(ExternalKeyId::new(bad).is_err(), "{bad}");
        }
    }

    /// Spec "XKS proxy configuration": XksProxyUriPath is at most 128
    /// characters of `a-zA-Z0-9/_-` ending in `/kms/xks/v1`.
    #[test]
    fn spec_path_prefix_is_normalised_and_bounded() {
        for (raw, want) in [("", ""), ("/", ""), ("a/b/", "/a/b"), ("//a//b", "/a/b"), ("/x-y_z", "/x-y_z")] {
            assert_eq!(PathPrefix::new(raw).unwrap().as_str(), want);
        }
        assert_eq!(PathPrefix::new("p").unwrap().uri_path(), "/p/kms/xks/v1");
        assert!(PathPrefix::new(&"a".repeat(116)).is_ok());
        assert!(PathPrefix::new(&"a".repeat(117)).is_err());
        assert!(PathPrefix::new("a b").is_err());
        assert!(PathPrefix::new("a.b").is_err());
    }

    #[test]
    fn deserializing_goes_through_the_rules() {
        #[derive(Deserialize)]
        struct T {
            id: AccessKeyId,
        }
        assert_eq!(serde_json::from_str::<T>(r#"{"id":"AAAAAAAAAAAAAAAAAAAA"}"#).unwrap().id.as_str(), "AAAAAAAAAAAAAAAAAAAA");
        assert!(serde_json::from_str::<T>(r#"{"id":"short"}"#).is_err());
    }
}
