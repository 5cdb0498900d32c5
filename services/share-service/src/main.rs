//! `share-service --config share-service.toml`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use share_service::{Config, start};
use xks_service::startup::{self, Failure, LogFormat};

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

fn main() -> ExitCode {
    let args = Args::parse();
    startup::run("share-service", args.log_format, |build| async move {
        let cfg = Config::load(&args.config).map_err(|e| Failure::Config(e.to_string()))?;
        let running = start(cfg, &build).await.map_err(|e| Failure::Start(e.to_string()))?;
        startup::shutdown_signal().await;
        running.shutdown().await;
        Ok(())
    })
}
