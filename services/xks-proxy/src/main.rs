//! `xks-proxy --config xks-proxy.toml`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use xks_proxy::{BuildInfo, Config, start};

/// XKS proxy of the split-key external key store (holds share 1).
///
/// SIGHUP re-reads the key-store file (credentials, keys, policies, quotas)
/// without dropping connections; SIGTERM or Ctrl-C stops gracefully.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); XKS_PROXY_* environment variables override it.
    #[arg(long, short, default_value = "xks-proxy.toml")]
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
    let build = BuildInfo::current();
    tracing::info!(version = %build.version, executable_sha256 = %build.executable_sha256, "xks-proxy starting");
    // Before any secret is loaded: a core dump would hold shares and keys.
    if let Err(e) = xks_listener::process::disable_core_dumps() {
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
        running.serve_signals(|_| {}).await;
        running.shutdown().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}
