//! `xksctl`: the operator CLI of the split-key XKS proxy.
//!
//! Today it has one command, `up`, which runs the threshold core end to end in
//! one process on an embedded default (2-of-3). It grows into the full local
//! cluster (ceremony, certificates, share services, proxy) as those land.
#![allow(clippy::print_stdout)]

mod audit;
mod bench;
mod credentials;
mod files;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operator CLI of the split-key external key store for AWS KMS.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the system on an embedded default.
    ///
    /// Currently: a 2-of-3 dealer ceremony in memory, partials with proofs from every
    /// pair of holders, an XKS Encrypt/Decrypt round trip (metadata, AAD rule, CDIV),
    /// a refresh, a rotation and a Byzantine partner, all with the real core.
    ///
    /// Example: xksctl up --threshold 3 --holders 5
    Up(up::Args),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(audit::Command),
    /// SigV4 credentials of a key store: create, rotate, retire.
    ///
    /// Writes the proxy's credentials file and the proxy configuration file that the KMS
    /// console accepts (XksProxyUriPath, XksProxyAuthenticationCredential), both readable
    /// by their owner only. Existing files are never overwritten.
    #[command(subcommand)]
    Credentials(credentials::Command),
    /// Load-test an XKS endpoint with SigV4-signed Encrypt, Decrypt or GetHealthStatus.
    ///
    /// Every answer is checked (Decrypt must return the plaintext that was encrypted).
    /// Prints throughput, p50/p90/p99/p99.9 latency and a verdict against KMS's limits
    /// (1,800 requests/s per key store, 250 ms timeout). Exit code 0: PASS; 3: FAIL; 1: could not run.
    ///
    /// Examples:
    ///   XKS_SECRET_ACCESS_KEY=… xksctl bench --endpoint https://xks.example.com --ca-cert ca.crt \
    ///     --uri-path /keystores/ks1/kms/xks/v1 --access-key-id AKIA… --key-id key-1 -c 64 -d 30
    ///   xksctl bench --config state/kms-config.json --operation decrypt --rate 1800 --json
    Bench(Box<bench::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(&args).map_err(|e| e.to_string()),
        Command::Audit(cmd) => return audit::run(&cmd),
        Command::Bench(args) => return bench::run(&args),
        Command::Credentials(cmd) => credentials::run(&cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
