//! The XKS proxy of the split-key external key store (holder 1).
//!
//! AWS KMS calls it (SigV4) for every cryptographic operation on an external
//! key. It derives the key with one verified partial from a partner share
//! service (mutual TLS) and its own share, and runs AES-256-GCM by the AWS XKS
//! Proxy API v1. The layout follows the request:
//!
//! - [`server`]: listeners, connections, reloads;
//! - [`api`]: the request path ([`api::App::handle`]), the four APIs ([`api::handlers`]);
//! - [`authz`]: optional Cedar policies (SigV4, the request bodies and the
//!   error table are wire contracts: `xks_wire::xks`);
//! - [`stores`]: key stores, credentials and external keys (reloadable);
//! - [`partners`]: the partner pool (hedging, circuit breaking, verification);
//! - [`keyring`]: own shares, combiners, verified-partial commitments;
//! - [`health`]: deep health; [`metrics`]: Prometheus.
#![forbid(unsafe_code)]

pub mod api;
pub mod authz;

pub mod health;
pub mod keyring;
pub mod metrics;
pub mod partners;
pub mod server;
pub mod stores;
pub mod witness;

pub use server::{Running, StartError, start};
pub use xks_config::proxy::Config;
pub use xks_service::BuildInfo;
