//! `xksctl`: the operator CLI of the split-key XKS proxy.
//!
//! Today it has one command, `up`, which runs the threshold core end to end in
//! one process on an embedded default (2-of-3). It grows into the full local
//! cluster (ceremony, certificates, share services, proxy) as those land.
#![allow(clippy::print_stdout)]

mod audit;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(&args).map_err(|e| e.to_string()),
        Command::Audit(cmd) => return audit::run(&cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
