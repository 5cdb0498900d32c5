//! What both services of the split-key external key store share, so that
//! each is written once:
//!
//! - [`listener`]: connection admission and lifetimes (unauthenticated
//!   connections evictable and timed out, idle timeout, graceful shutdown,
//!   the HTTP/1.1 and HTTP/2 settings);
//! - [`process`]: process hardening (no core dumps);
//! - [`build`]: the build identity (version, executable digest);
//! - [`keys`]: a holder's shares, verified against their key sets, at start-up;
//! - [`tls`]: PEM and sealed-key loading, the one client-certificate
//!   verifier, the server and client configurations;
//! - [`startup`]: the `main` skeleton (logging, hardening, runtime, the
//!   shutdown signal);
//! - [`log_writer`]: the thread that writes the log lines, so that a stalled
//!   reader of stderr does not stall requests;
//! - [`rate`]: the token bucket behind every request-rate bound;
//! - [`metrics`]: the Prometheus exposition (latency histogram, counters, gauges).
#![forbid(unsafe_code)]

pub mod build;
pub mod keys;
pub mod listener;
pub mod log_writer;
pub mod metrics;
pub mod process;
pub mod rate;
pub mod startup;
pub mod tls;

pub use build::BuildInfo;
