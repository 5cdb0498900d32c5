//! The share service: holds share 2 (or 3) and answers one question over
//! mutual TLS — "the partial for key path p" — with a proof-carrying partial,
//! after writing a durable, hash-chained audit record. Its operator can lock
//! everything or deny key paths through a local admin socket, and rate
//! anomalies can lock it automatically.
//!
//! Layout: [`config`] (figment), [`tls`] (mTLS and client identity),
//! [`keys`] (shares), [`api`] (routes), [`audit`] (group commit),
//! [`controls`] and [`admin`] (kill switch), [`anomaly`], [`metrics`],
//! [`server`] (start-up, connections, shutdown).

pub mod admin;
pub mod anomaly;
pub mod api;
pub mod audit;
pub mod build;
pub mod config;
pub mod controls;
pub mod keys;
pub mod metrics;
pub mod server;
pub mod tls;

pub use build::BuildInfo;
pub use config::Config;
pub use server::{Running, StartError, start};
