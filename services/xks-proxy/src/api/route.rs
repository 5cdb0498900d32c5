//! URI routing (spec "API operations"): `[/<prefix>]/kms/xks/v1/health` and
//! `[/<prefix>]/kms/xks/v1/keys/<externalKeyId>/{metadata,encrypt,decrypt}`.

use crate::stores::check_key_id;

/// The API a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Api {
    /// GetHealthStatus.
    Health,
    /// GetKeyMetadata for a key id.
    Metadata(String),
    /// Encrypt with a key id.
    Encrypt(String),
    /// Decrypt with a key id.
    Decrypt(String),
}

/// Splits a request path into the normalised key-store prefix and the API.
/// `None` when the path is not an XKS API URI (→ InvalidUriPathException).
pub fn parse(path: &str) -> Option<(String, Api)> {
    const ROOT: &str = "/kms/xks/v1/";
    let at = path.rfind(ROOT).filter(|_| path.len() <= 2048)?;
    let (prefix, tail) = (path.get(..at)?, path.get(at + ROOT.len()..)?);
    if !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_')) {
        return None;
    }
    let segs: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    let prefix = if segs.is_empty() { String::new() } else { format!("/{}", segs.join("/")) };
    let api = match tail.split('/').collect::<Vec<_>>().as_slice() {
        ["health"] => Api::Health,
        ["keys", id, op] if check_key_id(id).is_ok() => match *op {
            "metadata" => Api::Metadata((*id).to_owned()),
            "encrypt" => Api::Encrypt((*id).to_owned()),
            "decrypt" => Api::Decrypt((*id).to_owned()),
            _ => return None,
        },
        _ => return None,
    };
    Some((prefix, api))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    /// Spec "API operations": URIs `https://<server>[/<path-prefix>]/kms/xks/v1/...`.
    #[test]
    fn spec_api_uris() {
        assert_eq!(parse("/kms/xks/v1/health"), Some((String::new(), Api::Health)));
        assert_eq!(parse("//kms/xks/v1/health"), Some((String::new(), Api::Health)));
        assert_eq!(parse("/a/b/kms/xks/v1/keys/k-1.x_y/encrypt"), Some(("/a/b".into(), Api::Encrypt("k-1.x_y".into()))));
        assert_eq!(parse("/p/kms/xks/v1/keys/k/metadata"), Some(("/p".into(), Api::Metadata("k".into()))));
        assert_eq!(parse("/p/kms/xks/v1/keys/k/decrypt"), Some(("/p".into(), Api::Decrypt("k".into()))));
        for bad in [
            "/",
            "/kms/xks/v1",
            "/kms/xks/v1/",
            "/kms/xks/v1/health/",
            "/kms/xks/v2/health",
            "/kms/xks/v1/keys/k/sign",
            "/kms/xks/v1/keys/k",
            "/kms/xks/v1/keys/a%20b/encrypt",
            "/p q/kms/xks/v1/health",
            "/kms/xks/v1/keys//encrypt",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
