//! The share service: holds share 2 (or 3) and answers one question over
//! mutual TLS — "the partial for key path p" — with a proof-carrying partial,
//! after writing a durable, hash-chained audit record. Its operator can lock
//! everything or deny key paths through a local admin socket, and rate
//! anomalies can lock it automatically.
//!
//! Layout: [`keys`] (shares; the configuration is `xks_config::share`), [`api`] (routes; the
//! partner protocol itself is `xks_wire::partner`), [`audit`] (group commit),
//! [`controls`] and [`admin`] (kill switch), [`anomaly`], [`metrics`],
//! [`server`] (start-up, connections, shutdown). mTLS, the build identity and
//! the listener are shared with the proxy (`xks_service`).

pub mod admin;
pub mod anomaly;
pub mod api;
pub mod audit;

pub mod controls;
pub mod keys;
pub mod metrics;
pub mod server;

pub use server::{Running, StartError, start};
pub use xks_config::share::Config;
pub use xks_service::BuildInfo;
