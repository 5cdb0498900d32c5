//! The `main` of both services, written once: logging to stderr (text or
//! JSON, through the log writer thread), the start-up line with the build
//! identity, no core dumps before any secret is loaded, the async runtime,
//! and the exit status. What a service does between start and stop is its
//! `serve` future.

use std::future::Future;
use std::process::ExitCode;

use crate::build::BuildInfo;
use crate::log_writer::{self, LogGuard};

/// How a service logs (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (ANSI colours on a terminal).
    Text,
    /// One JSON object per line, for a log shipper.
    Json,
}

/// Why a service did not run.
#[derive(Debug)]
pub enum Failure {
    /// The configuration is unreadable or invalid: exit status 2.
    Config(String),
    /// Start-up failed (files, sockets, partners): exit status 1.
    Start(String),
}

/// A start-up step that failed on I/O, named (`bind 0.0.0.0:9443: address in use`).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct IoFailure {
    /// What failed.
    pub what: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// `map_err(io("bind …"))`: names an I/O error by the step that failed.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> IoFailure {
    let what = what.into();
    move |source| IoFailure { what, source }
}

/// Runs a service process: initialises logging, logs `<service> starting`
/// with the version and the executable's SHA-256, disables core dumps
/// (refusing to start if the kernel refuses), starts the multi-threaded
/// runtime and runs `serve` on it. `serve` returns when the service has
/// stopped.
pub fn run<F, Fut>(service: &'static str, log: LogFormat, serve: F) -> ExitCode
where
    F: FnOnce(BuildInfo) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let _log = init_logging(log);
    let build = BuildInfo::current(service);
    tracing::info!(version = %build.version, executable_sha256 = %build.executable_sha256, "{service} starting");
    // Before any secret is loaded: a core dump would hold shares and keys.
    if let Err(e) = crate::process::disable_core_dumps() {
        tracing::error!(error = %e, "cannot disable core dumps; refusing to start");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(build)) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(Failure::Config(e)) => {
            tracing::error!("{e}");
            ExitCode::from(2)
        }
        Err(Failure::Start(e)) => {
            tracing::error!("start-up failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr through the log writer thread ([`crate::log_writer`]); the
/// guard keeps it until the process ends.
fn init_logging(format: LogFormat) -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = log_writer::spawn(std::io::stderr());
    match format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(writer).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(writer).init(),
    }
    guard
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
