//! URI routing (spec "API operations"): `[/<prefix>]/kms/xks/v1/health` and
//! `[/<prefix>]/kms/xks/v1/keys/<externalKeyId>/{metadata,encrypt,decrypt}`.

use super::ids::{ExternalKeyId, PathPrefix};
use super::operation::Operation;

/// The API a path names, with the external key it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Api {
    /// GetHealthStatus.
    Health,
    /// GetKeyMetadata for a key id.
    Metadata(ExternalKeyId),
    /// Encrypt with a key id.
    Encrypt(ExternalKeyId),
    /// Decrypt with a key id.
    Decrypt(ExternalKeyId),
}

impl Api {
    /// The operation.
    pub fn operation(&self) -> Operation {
        match self {
            Api::Health => Operation::GetHealthStatus,
            Api::Metadata(_) => Operation::GetKeyMetadata,
            Api::Encrypt(_) => Operation::Encrypt,
            Api::Decrypt(_) => Operation::Decrypt,
        }
    }

    /// The external key named (none for GetHealthStatus).
    pub fn key_id(&self) -> Option<&ExternalKeyId> {
        match self {
            Api::Health => None,
            Api::Metadata(id) | Api::Encrypt(id) | Api::Decrypt(id) => Some(id),
        }
    }
}

/// A request path split into the key store's prefix and the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The key store's path prefix (normalised).
    pub prefix: PathPrefix,
    /// The API.
    pub api: Api,
}

/// The root every API URI ends in, before the operation.
const ROOT: &str = "/kms/xks/v1/";

impl Route {
    /// Splits a request path. `None` when the path is not an XKS API URI of a
    /// valid prefix (→ InvalidUriPathException).
    pub fn parse(path: &str) -> Option<Route> {
        let at = path.rfind(ROOT).filter(|_| path.len() <= 2048)?;
        let (prefix, tail) = (path.get(..at)?, path.get(at + ROOT.len()..)?);
        let prefix = PathPrefix::new(prefix).ok()?;
        let api = match tail.split('/').collect::<Vec<_>>().as_slice() {
            ["health"] => Api::Health,
            ["keys", id, op] => {
                let id = ExternalKeyId::new(*id).ok()?;
                match *op {
                    "metadata" => Api::Metadata(id),
                    "encrypt" => Api::Encrypt(id),
                    "decrypt" => Api::Decrypt(id),
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(Route { prefix, api })
    }

    /// The URI path of this route (what a client requests).
    pub fn path(&self) -> String {
        let base = self.prefix.uri_path();
        match &self.api {
            Api::Health => format!("{base}/health"),
            api => format!("{base}/keys/{}/{}", api.key_id().map(ExternalKeyId::as_str).unwrap_or(""), api.operation().uri_segment()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn route(prefix: &str, api: Api) -> Option<Route> {
        Some(Route { prefix: PathPrefix::new(prefix).unwrap(), api })
    }
    fn id(s: &str) -> ExternalKeyId {
        ExternalKeyId::new(s).unwrap()
    }

    /// Spec "API operations": URIs `https://<server>[/<path-prefix>]/kms/xks/v1/...`.
    #[test]
    fn spec_api_uris() {
        assert_eq!(Route::parse("/kms/xks/v1/health"), route("", Api::Health));
        assert_eq!(Route::parse("//kms/xks/v1/health"), route("", Api::Health));
        assert_eq!(Route::parse("/a/b/kms/xks/v1/keys/k-1.x_y/encrypt"), route("/a/b", Api::Encrypt(id("k-1.x_y"))));
        assert_eq!(Route::parse("/p/kms/xks/v1/keys/k/metadata"), route("/p", Api::Metadata(id("k"))));
        assert_eq!(Route::parse("/p/kms/xks/v1/keys/k/decrypt"), route("/p", Api::Decrypt(id("k"))));
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
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_route_prints_the_path_it_was_parsed_from() {
        for path in
            ["/kms/xks/v1/health", "/a/b/kms/xks/v1/keys/k-1/encrypt", "/p/kms/xks/v1/keys/k/metadata", "/kms/xks/v1/keys/k/decrypt"]
        {
            assert_eq!(Route::parse(path).unwrap().path(), path);
        }
    }
}
