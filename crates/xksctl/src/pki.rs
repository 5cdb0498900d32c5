//! `xksctl pki`: the deployment's private CA, a server certificate per share
//! service and client certificates for the proxy (ECDSA P-256, SANs, expiry),
//! and their rotation. Every private key is written only sealed (sops, age) to
//! the holder that uses it; the services open it with their age identity.

use std::path::{Path, PathBuf};

use xks_pki::{Ca, CertifiedKey, Validity};
use xks_sops::{Format, Recipient, SealOptions};

use crate::files;
use crate::sealing::IdentityArg;

/// `xksctl pki …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create the deployment's CA: ca.crt (public) and ca.key.sops (sealed to the CA operator).
    ///
    /// Example: xksctl pki init --out-dir pki/ --recipient age1operator… --days 3650
    Init {
        /// Directory for ca.crt and ca.key.sops.
        #[arg(long, short = 'o')]
        out_dir: PathBuf,
        /// Who may open the CA key (age1…); repeat for several operators.
        #[arg(long, short = 'r', required = true)]
        recipient: Vec<String>,
        /// Common name.
        #[arg(long, default_value = "split-key XKS CA")]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue a TLS server certificate (a share service): NAME.crt and NAME.key.sops.
    ///
    /// Example: xksctl pki server --ca-dir pki/ -i operator.agekey --name share-2 \
    ///   --san share-2.xks.example.ch --recipient age1holder2… -o share-2/
    Server(Issue),
    /// Issue a TLS client certificate (the proxy towards the share services).
    ///
    /// Example: xksctl pki client --ca-dir pki/ -i operator.agekey --name xks-proxy --san xks-proxy \
    ///   --recipient age1holder1… -o proxy/
    Client(Issue),
    /// Show a certificate: subject, SANs, validity, days left, SHA-256 fingerprint.
    ///
    /// Exit code 0: valid for more than --warn-days; 1: expires sooner or has expired.
    Show {
        /// PEM certificate.
        cert: PathBuf,
        /// Warn (exit 1) when fewer days are left.
        #[arg(long, default_value_t = 30)]
        warn_days: i64,
    },
}

/// Options of `pki server` / `pki client`.
#[derive(clap::Args)]
pub struct Issue {
    /// Directory with ca.crt and ca.key.sops.
    #[arg(long)]
    ca_dir: PathBuf,
    #[command(flatten)]
    identity: IdentityArg,
    /// Common name; also the output file stem.
    #[arg(long)]
    name: String,
    /// Subject alternative names: DNS names, IP addresses or URIs (repeat).
    #[arg(long = "san", required = true)]
    sans: Vec<String>,
    /// Who may open the private key (age1…): the holder that runs with it.
    #[arg(long, short = 'r', required = true)]
    recipient: Vec<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// Output directory.
    #[arg(long, short = 'o')]
    out_dir: PathBuf,
    /// Rotation: replace an existing certificate and key of this name (each file in one step).
    #[arg(long)]
    replace: bool,
}

pub(crate) fn seal_key(key: &CertifiedKey, to: &[Recipient]) -> Result<String, String> {
    xks_sops::seal(&key.key_pem, Format::Binary, to, &SealOptions::default()).map_err(|e| e.to_string())
}

fn load_ca(dir: &Path, identity: &IdentityArg) -> Result<Ca, String> {
    let ids = identity.load()?;
    let cert = files::read_text(&dir.join("ca.crt"))?;
    let key = xks_sops::read_file(&dir.join("ca.key.sops"), Some(&ids)).map_err(|e| e.to_string())?;
    Ca::from_pem(&cert, &key).map_err(|e| format!("{}: {e}", dir.display()))
}

fn issue(a: &Issue, server: bool) -> Result<(), String> {
    if a.days <= 0 {
        return Err("--days must be positive".into());
    }
    let ca = load_ca(&a.ca_dir, &a.identity)?;
    let to = crate::sealing::parse_recipients(&a.recipient)?;
    let sans: Vec<&str> = a.sans.iter().map(String::as_str).collect();
    let cert = if server {
        ca.issue_server(&a.name, &sans, Validity::days(a.days))
    } else {
        ca.issue_client(&a.name, &sans, Validity::days(a.days))
    }
    .map_err(|e| e.to_string())?;
    let outputs = vec![
        (a.out_dir.join(format!("{}.crt", a.name)), cert.cert_pem.clone()),
        (a.out_dir.join(format!("{}.key.sops", a.name)), seal_key(&cert, &to)?),
    ];
    if a.replace {
        // Key first: a reader that sees the new certificate also finds its key.
        for (p, data) in outputs.iter().rev() {
            files::replace(p, data.as_bytes())?;
            crate::say(&format!("replaced {}", p.display()));
        }
    } else {
        crate::sealing::write_outputs(&a.out_dir, &outputs)?;
    }
    crate::say(&format!(
        "{} certificate {} (sha256 {}), valid {} days",
        if server { "server" } else { "client" },
        a.name,
        cert.fingerprint(),
        a.days
    ));
    Ok(())
}

/// Runs a pki subcommand.
///
/// # Errors
/// A message for the operator; nothing is half-written.
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Init { out_dir, recipient, name, days } => {
            if *days <= 0 {
                return Err("--days must be positive".into());
            }
            let to = crate::sealing::parse_recipients(recipient)?;
            let ca = Ca::new(name, Validity::days(*days)).map_err(|e| e.to_string())?;
            let outputs = vec![
                (out_dir.join("ca.crt"), ca.certificate().cert_pem.clone()),
                (out_dir.join("ca.key.sops"), seal_key(ca.certificate(), &to)?),
            ];
            crate::sealing::write_outputs(out_dir, &outputs)?;
            crate::say(&format!("CA {name} (sha256 {}), valid {days} days", ca.certificate().fingerprint()));
            Ok(())
        }
        Command::Server(a) => issue(a, true),
        Command::Client(a) => issue(a, false),
        Command::Show { cert, warn_days } => {
            let s = xks_pki::describe(&files::read_text(cert)?).map_err(|e| format!("{}: {e}", cert.display()))?;
            let left = (s.not_after - time::OffsetDateTime::now_utc()).whole_days();
            crate::say(&format!("subject CN   {}{}", s.common_name, if s.is_ca { " (CA)" } else { "" }));
            crate::say(&format!("SANs         {}", s.sans.join(", ")));
            crate::say(&format!("valid        {} → {} ({left} days left)", s.not_before.date(), s.not_after.date()));
            crate::say(&format!("sha256       {}", s.fingerprint));
            if left < *warn_days {
                return Err(format!("{} expires in {left} days (rotate with `xksctl pki server|client --replace`)", cert.display()));
            }
            Ok(())
        }
    }
}
