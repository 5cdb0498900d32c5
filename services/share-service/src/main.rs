//! `share-service --config share-service.toml`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use share_service::{BuildInfo, Config, start};

/// Share service of the split-key XKS proxy (holds share 2 or 3).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); SHARE_SERVICE_* environment variables override it.
    #[arg(long, short, default_value = "share-service.toml")]
    config: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init(),
    }
    let build = BuildInfo::current("share-service");
    tracing::info!(version = %build.version, executable_sha256 = %build.executable_sha256, "share-service starting");
    // Before any secret is loaded: a core dump would hold shares and keys.
    if let Err(e) = xks_service::process::disable_core_dumps() {
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
    runtime.block_on(async {
        let cfg = match Config::load(&args.config) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        };
        let running = match start(cfg, &build).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("start-up failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        shutdown_signal().await;
        running.shutdown().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
