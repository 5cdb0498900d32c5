//! `xks-proxy --config xks-proxy.toml`
//! `xks-proxy --files-from-env XKS_DEPLOY_FILES --files-dir /dev/shm/xks-proxy --config xks-proxy.toml`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use xks_proxy::{Config, start};
use xks_service::startup::{self, Failure, LogFormat};

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

fn main() -> ExitCode {
    let args = Args::parse();
    startup::run("xks-proxy", args.log_format, |build| async move {
        let config = unpack_files(&args).map_err(|e| Failure::Config(e.to_string()))?;
        let cfg = Config::load(&config).map_err(|e| Failure::Config(e.to_string()))?;
        let running = start(cfg, &build).await.map_err(|e| Failure::Start(e.to_string()))?;
        running.serve_signals(|_| {}).await;
        running.shutdown().await;
        Ok(())
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
