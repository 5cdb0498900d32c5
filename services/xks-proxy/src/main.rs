//! `xks-proxy --config xks-proxy.toml`
//! `xks-proxy --files-from-env XKS_DEPLOY_FILES --files-dir /dev/shm/xks-proxy --config xks-proxy.toml`

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
    /// With --files-from-env, a relative path is taken inside --files-dir.
    #[arg(long, short, default_value = "xks-proxy.toml")]
    config: PathBuf,
    /// Before starting, write the files of the bundle in this environment
    /// variable (a JSON object of relative path to content, public or sealed
    /// files only) into --files-dir: for platforms that pass environment
    /// variables but no files (docs/deploy).
    #[arg(long, value_name = "VARIABLE")]
    files_from_env: Option<String>,
    /// Where --files-from-env writes (created 0700). The default is in RAM, so
    /// that even sealed files stay off disk.
    #[arg(long, value_name = "DIR", default_value = "/dev/shm/xks-proxy", requires = "files_from_env")]
    files_dir: PathBuf,
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
    let build = BuildInfo::current("xks-proxy");
    tracing::info!(version = %build.version, executable_sha256 = %build.executable_sha256, "xks-proxy starting");
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
    let config = match unpack_files(&args) {
        Ok(path) => path,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        let cfg = match Config::load(&config) {
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

/// With --files-from-env: writes the bundle into --files-dir and returns the
/// configuration's path there; else the configuration path as given.
fn unpack_files(args: &Args) -> Result<PathBuf, xks_sops::BundleError> {
    let Some(var) = &args.files_from_env else {
        return Ok(args.config.clone());
    };
    let bundle = xks_sops::Bundle::from_env(var)?;
    bundle.write_into(&args.files_dir)?;
    tracing::info!(files = bundle.files().count(), dir = %args.files_dir.display(), "files written from {var}");
    Ok(args.files_dir.join(&args.config))
}
