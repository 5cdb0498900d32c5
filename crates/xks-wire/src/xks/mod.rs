//! The AWS XKS Proxy API v1 (the spec's sections are named in each module):
//! what KMS sends to the proxy and what the proxy answers.
//!
//! - [`operation`]: the four operations; [`route`]: the URIs that name them;
//! - [`ids`]: external key ids, path prefixes, access key ids and secrets;
//! - [`request`]: the request bodies, validated as the spec says;
//! - [`error`]: the error table; [`sigv4`]: request signing and verification;
//! - [`credentials`]: the credentials file of one key store.

pub mod credentials;
pub mod error;
pub mod ids;
pub mod operation;
pub mod request;
pub mod route;
pub mod sigv4;

pub use credentials::Credential;
pub use error::{ErrorName, XksError};
pub use ids::{AccessKeyId, ExternalKeyId, IdError, PathPrefix, SecretAccessKey};
pub use operation::Operation;
pub use route::{Api, Route};
