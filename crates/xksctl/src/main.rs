//! `xksctl`: the operator CLI of the split-key XKS proxy.
//!
//! Everything an operator does outside the request path: key ceremonies, share
//! checks, sealed secrets (sops + age), SigV4 credentials, audit verification,
//! load tests and shell completions.
//!
//! Exit codes: 0 success; 1 failure (message on standard error; nothing
//! half-written); 2 invalid arguments; 3 `bench` ran but the verdict is FAIL.
#![allow(clippy::print_stdout)]
// The doc comments of the clap types are the CLI's help text, written for a
// terminal (`[[partners]]`, `host[:port]`, `<env>`, bare URLs), not rustdoc.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, rustdoc::bare_urls)]

mod audit;
mod bench;
mod ceremony;
mod credentials;
mod deploy;
mod dkg;
mod env;
mod files;
mod pki;
mod refresh;
mod repair;
mod sealing;
mod secrets;
mod share;
mod up;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// Operator CLI of the split-key external key store for AWS KMS.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system locally: share services 2 and 3 and the XKS proxy on loopback.
    ///
    /// The first run makes a state directory (2-of-3 ceremony, CA and certificates, a SigV4
    /// credential, every secret sealed to its holder); later runs reuse it, so earlier
    /// ciphertext keeps decrypting. When ready it prints the KMS configuration and a
    /// `curl --aws-sigv4` example, writes <state>/kms-config.json, and serves until Ctrl-C.
    ///
    /// Examples:
    ///   xksctl up
    ///   xksctl up --state-dir /tmp/xks --proxy-port 18443 --share-ports 19442,19443
    ///   xksctl up --init-only --network containers --state-dir deploy/   (for the service images)
    Up(up::Args),
    /// Environments of the reference deployment: `env new` lays one out under secrets/<env>.
    #[command(subcommand)]
    Env(env::Command),
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
    /// Key ceremonies: a new key set with each share sealed to its holder.
    #[command(subcommand)]
    Ceremony(ceremony::Command),
    /// Check a sealed share against its key set.
    #[command(subcommand)]
    Share(share::Command),
    /// Sealed secrets: sops files with age recipients (compatible with the sops CLI).
    #[command(subcommand)]
    Secrets(secrets::Command),
    /// Refresh: new shares of the same master secret (epoch + 1); every key stays the same.
    #[command(subcommand)]
    Refresh(refresh::Command),
    /// Repair: re-create a lost share from t helpers without forming the master secret.
    #[command(subcommand)]
    Repair(repair::Command),
    /// Rotation: a new master secret (generation + 1); old generations stay decrypt-only.
    ///
    /// Example: xksctl rotate --key-set keyset-g1-e0.json --holder 1=age1… --holder 2=age1… --holder 3=age1… -o gen2/
    Rotate(ceremony::RotateArgs),
    /// The deployment's private PKI: CA, share service server certificates, proxy client certificates.
    #[command(subcommand)]
    Pki(pki::Command),
    /// Print a shell completion script.
    ///
    /// Example: xksctl completions bash > /etc/bash_completion.d/xksctl
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Prints a line of a command's report on standard output (a closed pipe is not an error).
pub(crate) fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(&args),
        Command::Env(cmd) => env::run(&cmd),
        Command::Audit(cmd) => return audit::run(&cmd),
        Command::Bench(args) => return bench::run(&args),
        Command::Credentials(cmd) => credentials::run(&cmd),
        Command::Ceremony(cmd) => ceremony::run(&cmd),
        Command::Share(cmd) => share::run(&cmd),
        Command::Secrets(cmd) => secrets::run(&cmd),
        Command::Refresh(cmd) => refresh::run(&cmd),
        Command::Repair(cmd) => repair::run(&cmd),
        Command::Rotate(args) => ceremony::rotate(&args),
        Command::Pki(cmd) => pki::run(&cmd),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "xksctl", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
