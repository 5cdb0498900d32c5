//! `xksctl env new`: a new environment of the reference deployment, laid out
//! where the Terraform roots read it, every secret sealed to the one holder
//! (or operator) that uses it (docs/deploy/README.md):
//!
//! ```text
//! secrets/
//!   .sops.yaml                      creation rules for the sops CLI, one block per environment
//!   <env>/
//!     public/                       public material: any root and anybody may read it
//!       deployment.json             names, addresses, URI path, key ids, access key id, recipients
//!       keyset-g1-e0.json           the key set (2-of-3, P-256)
//!       ca.crt                      the deployment's private CA (mTLS between proxy and shares)
//!       share-2.crt, share-3.crt    the share services' server certificates
//!       proxy-client.crt            the proxy's mTLS client certificate
//!       checkpoint-2.pub, checkpoint-3.pub   the share services' checkpoint verifying keys (the proxy's witness)
//!     holder-1/                     the XKS proxy's files (terraform/envs/<env>/proxy)
//!       runtime.agekey.sops         holder 1's runtime age identity, sealed to its offline recipients only
//!       share-1-g1-e0.sops.json     the share                    } sealed to holder 1's runtime
//!       client.key.sops             the mTLS client key          } and offline recipients
//!       credentials.sops            the SigV4 credential         }
//!       xks-proxy.toml, key-stores.toml   configuration (public)
//!     holder-2/, holder-3/          a share service's files for /etc/share-service
//!       runtime.agekey.sops         sealed to the holder's offline recipients only
//!       share-N-g1-e0.sops.json, server.key.sops   sealed to the holder (runtime + offline)
//!       checkpoint.key.sops         the audit checkpoint signing key, sealed to the holder
//!       share-service.toml          configuration (public)
//!     pki/ca.key.sops               the CA key, sealed to the CA operator
//!     aws/credential.sops.json      the SigV4 credential for the AWS root, sealed to its operator
//! ```
//!
//! The machine that runs this is the dealer: it sees the shares and the runtime
//! identities while it seals them, and keeps nothing. For a ceremony in which
//! no machine ever holds the master secret, run `xksctl ceremony dkg` between
//! the holders and replace the key set and shares (docs/deploy/README.md).

use std::path::{Path, PathBuf};

use rand_core::OsRng;
use xks_audit::CheckpointSigner;
use xks_config::share::{SEALED_CHECKPOINT_KEY_FILE, checkpoint_public_key_file};
use xks_config::{SecretsConfig, SharesConfig, key_stores, proxy, share};
use xks_pki::{Ca, Validity};
use xks_sops::{Format, Identities, Recipient, Rule, SealOptions};
use xks_threshold::dealer;
use xks_wire::xks::ExternalKeyId;
use zeroize::Zeroizing;

use crate::{credentials, files, pki, sealing};

/// The holder that runs the XKS proxy.
const PROXY_HOLDER: u32 = 1;
/// The share service holders: 2 (primary) and 3 (standby).
const SHARE_HOLDERS: [u32; 2] = [2, 3];
/// The name in the proxy's client certificate, pinned by the share services.
const PROXY_CLIENT_NAME: &str = "xks-proxy";
/// Validity of the CA (years) and of the service certificates (renewed by the TLS runbook).
const CA_DAYS: i64 = 3650;
const CERT_DAYS: i64 = 397;
/// Where the share-service-host module puts things (terraform/modules/share-service-host).
const SHARE_ETC: &str = "/etc/share-service";
const SHARE_STATE: &str = "/var/lib/share-service";
const SHARE_RUN: &str = "/run/share-service";

/// `xksctl env …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Lay out a new environment under secrets/<env>: a 2-of-3 key set (dealer), the CA and
    /// certificates, a SigV4 credential, a runtime age identity per holder, the service
    /// configurations, and the .sops.yaml rules; every secret sealed to the one holder that uses it.
    ///
    /// Example:
    ///   xksctl env new secrets/prod --holder 1=age1… --holder 2=age1… --holder 3=age1… \
    ///     --pki-operator age1… --aws-operator age1… --proxy-host xks.example.eu \
    ///     --share 2=share-2.example.ch --share 3=share-3.example.de --key s3-data
    New(NewArgs),
    /// Point the proxy at its partners in another order: rewrites the [[partners]] of
    /// <env>/holder-1/xks-proxy.toml from public/deployment.json (fail-over to the standby and
    /// back; the keys stay the same). Holder 1 then re-applies its root.
    ///
    /// Example: xksctl env partners secrets/prod --order 3,2
    Partners {
        /// The environment's directory.
        dir: PathBuf,
        /// Share services in order of preference, e.g. 3,2 (share 3 first) or 3 (share 3 only).
        #[arg(long, value_delimiter = ',', required = true)]
        order: Vec<u32>,
    },
    /// Name the key sets a holder's service loads, with the holder's matching shares: both epochs
    /// during a refresh, then the new one only (docs/deploy/runbooks.md). Rewrites only [shares]
    /// of holder-1/xks-proxy.toml or holder-N/share-service.toml.
    ///
    /// Example: xksctl env shares secrets/prod --holder 2 --key-set keyset-g1-e0.json --key-set keyset-g1-e1.json
    Shares {
        /// The environment's directory.
        dir: PathBuf,
        /// The holder whose service it is (1: the proxy).
        #[arg(long)]
        holder: u32,
        /// Key sets in public/ (repeat); the share of each is holder-N/share-N-g<G>-e<E>.sops.json.
        #[arg(long = "key-set", required = true)]
        key_sets: Vec<String>,
    },
    /// Renew one party's mTLS certificate from the environment's CA: a new key, sealed to that
    /// holder's runtime and offline recipients (public/deployment.json), and its certificate in
    /// public/. Run by the CA operator; the holder then rolls it out (docs/deploy/runbooks.md).
    ///
    /// Example: xksctl env renew-certificate secrets/prod --for share-2 -i ~/xks/pki.agekey
    RenewCertificate {
        /// The environment's directory.
        dir: PathBuf,
        /// Whose certificate.
        #[arg(long = "for", value_enum)]
        target: CertificateFor,
        /// Validity in days.
        #[arg(long, default_value_t = CERT_DAYS)]
        days: i64,
        #[command(flatten)]
        identity: sealing::IdentityArg,
    },
    /// A new audit checkpoint signing key for share service N: sealed to the holder's runtime and
    /// offline recipients as holder-N/checkpoint.key.sops, its public key as public/checkpoint-N.pub,
    /// and both configurations pointed at them (the share service's audit.checkpoint_key, the
    /// proxy's partner checkpoint_key). Run by holder N; then holder N and holder 1 re-apply their
    /// roots (docs/oversight.md, "Checkpoints").
    ///
    /// Example: xksctl env checkpoint-key secrets/prod --holder 2
    CheckpointKey {
        /// The environment's directory.
        dir: PathBuf,
        /// The share service's holder (2 or 3).
        #[arg(long)]
        holder: u32,
    },
    /// The key store's SigV4 credential: rotate adds a second one, retire drops the old one
    /// (docs/deploy/runbooks.md: rotation without downtime).
    #[command(subcommand)]
    Credential(CredentialCommand),
}

/// The certificates of an environment.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CertificateFor {
    /// Share service 2's server certificate.
    #[value(name = "share-2")]
    Share2,
    /// Share service 3's server certificate.
    #[value(name = "share-3")]
    Share3,
    /// The proxy's client certificate.
    #[value(name = "proxy-client")]
    ProxyClient,
}

/// `xksctl env credential …`
#[derive(clap::Subcommand)]
pub enum CredentialCommand {
    /// Add a new credential next to the current one in holder-1/credentials.sops (the proxy then
    /// accepts either), seal it to the AWS operator as aws/credential.sops.json, and name it in
    /// public/deployment.json. Run by holder 1, with its offline identity.
    ///
    /// Example: xksctl env credential rotate secrets/prod -i ~/xks/holder-1.agekey
    Rotate {
        /// The environment's directory.
        dir: PathBuf,
        #[command(flatten)]
        identity: sealing::IdentityArg,
    },
    /// Remove every credential but the one public/deployment.json names, once KMS uses it.
    ///
    /// Example: xksctl env credential retire secrets/prod -i ~/xks/holder-1.agekey
    Retire {
        /// The environment's directory.
        dir: PathBuf,
        #[command(flatten)]
        identity: sealing::IdentityArg,
    },
}

/// `xksctl env new`
#[derive(clap::Args)]
pub struct NewArgs {
    /// The environment's directory, e.g. secrets/prod (must not exist; its name, [a-z0-9-], names the environment).
    dir: PathBuf,
    /// A holder's offline recipient: N=age1… for N = 1, 2, 3 (repeat a holder for several of its
    /// own recipients). It opens that holder's runtime identity and everything of that holder.
    #[arg(long = "holder", required = true)]
    holders: Vec<String>,
    /// Recipient of the CA operator (opens pki/ca.key.sops); never one of holder 2's or 3's.
    #[arg(long, required = true)]
    pki_operator: Vec<String>,
    /// Recipient of whoever applies the AWS root (opens aws/credential.sops.json); never one of holder 2's or 3's.
    #[arg(long, required = true)]
    aws_operator: Vec<String>,
    /// The proxy's public host name, KMS's endpoint (e.g. xks.example.eu).
    #[arg(long)]
    proxy_host: String,
    /// Port the proxy listens on inside its container.
    #[arg(long, default_value_t = 8080)]
    proxy_port: u16,
    /// A share service's public name: N=host[:port] (port 9443 by default). Share 2 is required;
    /// share 3, the standby, is listed to the proxy only when given.
    #[arg(long = "share", required = true)]
    shares: Vec<String>,
    /// External key ids of the key store (repeat; default: key-1). Each key's key path is <env>/<id>.
    #[arg(long = "key")]
    keys: Vec<String>,
}

/// A share service's public address.
struct ShareHost {
    holder: u32,
    host: String,
    port: u16,
}

impl ShareHost {
    /// The proxy's `[[partners]]` entry for this share service, naming its
    /// checkpoint verifying key when the environment has one.
    fn partner(&self, checkpoint_key: bool) -> proxy::PartnerConfig {
        proxy::PartnerConfig {
            id: format!("share-{}", self.holder),
            holder: self.holder,
            address: format!("{}:{}", self.host, self.port),
            server_name: Some(self.host.clone()),
            model: None,
            checkpoint_key: checkpoint_key.then(|| checkpoint_public_key_file(self.holder).into()),
        }
    }
}

/// The checked inputs of one environment.
struct Plan {
    name: String,
    /// Offline recipients per holder, holder 1 first.
    offline: Vec<(u32, Vec<Recipient>)>,
    pki_operator: Vec<Recipient>,
    aws_operator: Vec<Recipient>,
    proxy_host: String,
    proxy_port: u16,
    shares: Vec<ShareHost>,
    keys: Vec<String>,
}

/// Runs an env subcommand.
///
/// # Errors
/// A message for the operator; nothing is half-written.
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::New(a) => {
            let plan = Plan::from_args(a)?;
            let runtime = new_environment(&plan, &a.dir)?;
            crate::say(&format!("environment {} laid out in {}", plan.name, a.dir.display()));
            for (holder, recipient) in runtime {
                crate::say(&format!("holder {holder}: runtime recipient {recipient}"));
            }
            crate::say(&format!("sops creation rules added to {}", sops_config_path(&a.dir).display()));
            Ok(())
        }
        Command::Partners { dir, order } => {
            set_partners(dir, order)?;
            crate::say(&format!(
                "{}: partners in the order {order:?}; holder 1 re-applies its root to roll it out",
                dir.join(PROXY_CONFIG).display()
            ));
            Ok(())
        }
        Command::Shares { dir, holder, key_sets } => {
            let (config, shares) = set_shares(dir, *holder, key_sets)?;
            crate::say(&format!("{}: key sets {key_sets:?}, shares {shares:?}", config.display()));
            Ok(())
        }
        Command::RenewCertificate { dir, target, days, identity } => {
            let (cert, fingerprint) = renew_certificate(dir, *target, *days, identity)?;
            crate::say(&format!("{} renewed (sha256 {fingerprint}), valid {days} days; its holder rolls it out", cert.display()));
            Ok(())
        }
        Command::CheckpointKey { dir, holder } => {
            let id = new_checkpoint_key(dir, *holder)?;
            crate::say(&format!(
                "holder-{holder}/checkpoint.key.sops and public/checkpoint-{holder}.pub (key id {id}); holder {holder} and holder 1 re-apply their roots"
            ));
            Ok(())
        }
        Command::Credential(CredentialCommand::Rotate { dir, identity }) => {
            let (new, old) = rotate_credential(dir, identity)?;
            crate::say(&format!(
                "access key id {new} added next to {old}: holder 1 re-applies its root (the proxy accepts both), \
                 the AWS operator re-applies the AWS root, and after KMS uses it (allow five minutes) \
                 `xksctl env credential retire` drops {old}"
            ));
            Ok(())
        }
        Command::Credential(CredentialCommand::Retire { dir, identity }) => {
            let (kept, retired) = retire_credentials(dir, identity)?;
            crate::say(&format!("retired {}; {kept} stays: holder 1 re-applies its root", retired.join(", ")));
            Ok(())
        }
    }
}

/// `env checkpoint-key`: a new signing key for share service `holder`, sealed
/// to the holder, and both configurations pointed at it. Returns the key id.
fn new_checkpoint_key(dir: &Path, holder: u32) -> Result<String, String> {
    if !SHARE_HOLDERS.contains(&holder) {
        return Err(format!("--holder {holder}: share services are holders 2 and 3"));
    }
    let to = holder_recipients(&read_deployment(dir)?, holder)?;
    let (private, public) = CheckpointSigner::generate().map_err(|e| e.to_string())?;
    files::replace(&dir.join(format!("holder-{holder}/{SEALED_CHECKPOINT_KEY_FILE}")), seal_binary(&private, &to)?.as_bytes())?;
    files::replace(&dir.join("public").join(checkpoint_public_key_file(holder)), public.to_pem().as_bytes())?;
    edit_config(&dir.join(format!("holder-{holder}/share-service.toml")), |table| {
        let audit = table.get_mut("audit").and_then(toml::Value::as_table_mut).ok_or("no [audit] section")?;
        audit.insert("checkpoint_key".into(), SEALED_CHECKPOINT_KEY_FILE.into());
        Ok(())
    })?;
    edit_config(&dir.join(PROXY_CONFIG), |table| {
        let partners = table.get_mut("partners").and_then(toml::Value::as_array_mut).ok_or("no [[partners]]")?;
        for p in partners.iter_mut().filter_map(toml::Value::as_table_mut) {
            if p.get("holder").and_then(toml::Value::as_integer) == Some(i64::from(holder)) {
                p.insert("checkpoint_key".into(), checkpoint_public_key_file(holder).into());
            }
        }
        Ok(())
    })?;
    Ok(public.id().to_owned())
}

/// Holder 1's files the runbooks change, and the public summary.
const PROXY_CONFIG: &str = "holder-1/xks-proxy.toml";
const PROXY_CREDENTIALS: &str = "holder-1/credentials.sops";
const AWS_CREDENTIAL: &str = "aws/credential.sops.json";
const DEPLOYMENT: &str = "public/deployment.json";

fn read_deployment(dir: &Path) -> Result<serde_json::Value, String> {
    let path = dir.join(DEPLOYMENT);
    serde_json::from_str(&files::read_text(&path)?).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_deployment(dir: &Path, v: &serde_json::Value) -> Result<(), String> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    s.push('\n');
    files::replace(&dir.join(DEPLOYMENT), s.as_bytes())
}

/// The share services of an environment, as public/deployment.json lists them.
fn deployed_shares(deployment: &serde_json::Value) -> Result<Vec<ShareHost>, String> {
    let list = deployment.get("shares").and_then(serde_json::Value::as_array).ok_or("deployment.json has no shares list")?;
    list.iter()
        .map(|s| {
            let holder = s.get("holder").and_then(serde_json::Value::as_u64).and_then(|h| u32::try_from(h).ok());
            let host = s.get("host").and_then(serde_json::Value::as_str);
            let port = s.get("port").and_then(serde_json::Value::as_u64).and_then(|p| u16::try_from(p).ok());
            match (holder, host, port) {
                (Some(holder), Some(host), Some(port)) => Ok(ShareHost { holder, host: check_host(host)?, port }),
                _ => Err(format!("deployment.json: a share entry without holder, host and port: {s}")),
            }
        })
        .collect()
}

/// Rewrites the proxy's `[[partners]]` in the given order; every other setting
/// of the file stays as it is.
fn set_partners(dir: &Path, order: &[u32]) -> Result<(), String> {
    let shares = deployed_shares(&read_deployment(dir)?)?;
    let mut seen = Vec::new();
    let mut partners = Vec::new();
    for h in order {
        if seen.contains(h) {
            return Err(format!("--order names share {h} twice"));
        }
        seen.push(*h);
        let s = shares
            .iter()
            .find(|s| s.holder == *h)
            .ok_or_else(|| format!("share {h} is not in this environment's public/deployment.json"))?;
        partners.push(s.partner(dir.join("public").join(checkpoint_public_key_file(s.holder)).is_file()));
    }
    let partners = toml::Value::try_from(&partners).map_err(|e| e.to_string())?;
    edit_config(&dir.join(PROXY_CONFIG), |table| {
        table.insert("partners".into(), partners);
        Ok(())
    })
}

/// Rewrites one section of a service configuration; the header comment and
/// every other setting stay.
fn edit_config(path: &Path, edit: impl FnOnce(&mut toml::Table) -> Result<(), String>) -> Result<(), String> {
    let text = files::read_text(path)?;
    let header: String = text.lines().take_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let mut table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    edit(&mut table).map_err(|e| format!("{}: {e}", path.display()))?;
    let body = toml::to_string(&table).map_err(|e| e.to_string())?;
    files::replace(path, format!("{header}\n{body}").as_bytes())
}

/// Points a holder's service at the given key sets and the holder's shares of
/// them (each must exist). Returns the configuration's path and the share files.
fn set_shares(dir: &Path, holder: u32, key_sets: &[String]) -> Result<(PathBuf, Vec<String>), String> {
    let config = match holder {
        PROXY_HOLDER => dir.join(PROXY_CONFIG),
        2 | 3 => dir.join(format!("holder-{holder}/share-service.toml")),
        _ => return Err(format!("--holder {holder}: holders are 1, 2 and 3")),
    };
    let mut shares = Vec::new();
    for ks in key_sets {
        let epoch = ks
            .strip_prefix("keyset-")
            .and_then(|s| s.strip_suffix(".json"))
            .filter(|s| {
                let mut parts = s.split('-');
                let ok = |p: Option<&str>, c: char| {
                    p.and_then(|p| p.strip_prefix(c)).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                };
                ok(parts.next(), 'g') && ok(parts.next(), 'e') && parts.next().is_none()
            })
            .ok_or_else(|| format!("--key-set {ks}: expected keyset-g<G>-e<E>.json"))?;
        if !dir.join("public").join(ks).is_file() {
            return Err(format!("public/{ks} does not exist"));
        }
        let share = format!("share-{holder}-{epoch}.sops.json");
        if !dir.join(format!("holder-{holder}")).join(&share).is_file() {
            return Err(format!("holder-{holder}/{share} does not exist"));
        }
        if shares.contains(&share) {
            return Err(format!("--key-set {ks} is given twice"));
        }
        shares.push(share);
    }
    let (sets, files_) =
        (toml::Value::try_from(key_sets).map_err(|e| e.to_string())?, toml::Value::try_from(&shares).map_err(|e| e.to_string())?);
    edit_config(&config, |table| {
        let section = table.get_mut("shares").and_then(toml::Value::as_table_mut).ok_or("no [shares] section")?;
        section.insert("key_sets".into(), sets);
        section.insert("share_files".into(), files_);
        Ok(())
    })?;
    Ok((config, shares))
}

/// A holder's runtime and offline recipients, as public/deployment.json lists them.
fn holder_recipients(deployment: &serde_json::Value, holder: u32) -> Result<Vec<Recipient>, String> {
    let mut list = Vec::new();
    for kind in ["runtime", "offline"] {
        let found = deployment
            .pointer(&format!("/recipients/holder-{holder}/{kind}"))
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| format!("deployment.json lists no {kind} recipient of holder {holder}"))?;
        list.extend(found.iter().filter_map(|r| r.as_str().map(str::to_owned)));
    }
    sealing::parse_recipients(&list)
}

/// Issues a new key and certificate for one party from the environment's CA
/// (opened with the CA operator's identity). Returns the certificate's path and
/// SHA-256 fingerprint.
fn renew_certificate(dir: &Path, target: CertificateFor, days: i64, identity: &sealing::IdentityArg) -> Result<(PathBuf, String), String> {
    if days <= 0 {
        return Err("--days must be positive".into());
    }
    let deployment = read_deployment(dir)?;
    let (holder, cert_file, key_file) = match target {
        CertificateFor::Share2 => (2, "public/share-2.crt", "holder-2/server.key.sops"),
        CertificateFor::Share3 => (3, "public/share-3.crt", "holder-3/server.key.sops"),
        CertificateFor::ProxyClient => (PROXY_HOLDER, "public/proxy-client.crt", "holder-1/client.key.sops"),
    };
    let to = holder_recipients(&deployment, holder)?;
    let ids = identity.load()?;
    let ca_key_path = dir.join("pki/ca.key.sops");
    let ca_key = xks_sops::read_file(&ca_key_path, Some(&ids)).map_err(|e| format!("{}: {e}", ca_key_path.display()))?;
    let ca = Ca::from_pem(&files::read_text(&dir.join("public/ca.crt"))?, &ca_key).map_err(|e| e.to_string())?;
    let cert = if holder == PROXY_HOLDER {
        ca.issue_client(PROXY_CLIENT_NAME, &[PROXY_CLIENT_NAME], Validity::days(days))
    } else {
        let shares = deployed_shares(&deployment)?;
        let host = shares
            .iter()
            .find(|s| s.holder == holder)
            .map(|s| s.host.clone())
            .ok_or_else(|| format!("share {holder} is not in this environment's public/deployment.json"))?;
        ca.issue_server(&host, &[host.as_str()], Validity::days(days))
    }
    .map_err(|e| e.to_string())?;
    // Key first: whoever reads the new certificate also finds its key.
    files::replace(&dir.join(key_file), pki::seal_key(&cert, &to)?.as_bytes())?;
    files::replace(&dir.join(cert_file), cert.cert_pem.as_bytes())?;
    Ok((dir.join(cert_file), cert.fingerprint()))
}

/// Adds a credential (holder 1's file keeps its recipients; the AWS operator's
/// file is re-sealed to the recipients deployment.json lists). Returns (new, old) ids.
fn rotate_credential(dir: &Path, identity: &sealing::IdentityArg) -> Result<(String, String), String> {
    let mut deployment = read_deployment(dir)?;
    let aws_to: Vec<String> = deployment
        .pointer("/recipients/aws")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let aws_to = sealing::parse_recipients(&aws_to)?;
    if aws_to.is_empty() {
        return Err("deployment.json names no AWS operator recipient".into());
    }
    let (mut creds, to) = credentials::load(&dir.join(PROXY_CREDENTIALS), identity)?;
    if creds.len() >= 2 {
        return Err(format!("{} already holds two credentials: retire the old one first", dir.join(PROXY_CREDENTIALS).display()));
    }
    let old = creds.first().map(|c| c.access_key_id.to_string()).unwrap_or_default();
    let credential = credentials::generate()?;
    let id = credential.access_key_id.to_string();
    let aws = seal_aws_credential(&id, credential.secret_access_key.expose(), &aws_to)?;
    creds.push(credential);
    let proxy = credentials::render(&creds, &to)?;
    files::replace(&dir.join(PROXY_CREDENTIALS), proxy.as_bytes())?;
    files::replace(&dir.join(AWS_CREDENTIAL), aws.as_bytes())?;
    if let Some(p) = deployment.get_mut("proxy").and_then(serde_json::Value::as_object_mut) {
        p.insert("access_key_id".into(), id.clone().into());
    }
    write_deployment(dir, &deployment)?;
    Ok((id, old))
}

/// Keeps only the credential deployment.json names. Returns (kept, retired).
fn retire_credentials(dir: &Path, identity: &sealing::IdentityArg) -> Result<(String, Vec<String>), String> {
    let current = read_deployment(dir)?
        .pointer("/proxy/access_key_id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or("deployment.json names no access key id")?;
    let path = dir.join(PROXY_CREDENTIALS);
    let (creds, to) = credentials::load(&path, identity)?;
    if !creds.iter().any(|c| c.access_key_id.as_str() == current) {
        return Err(format!("{} does not hold {current}, the credential deployment.json names", path.display()));
    }
    let retired: Vec<String> = creds.iter().filter(|c| c.access_key_id.as_str() != current).map(|c| c.access_key_id.to_string()).collect();
    if retired.is_empty() {
        return Err(format!("{} holds only {current}: nothing to retire", path.display()));
    }
    let kept: Vec<_> = creds.into_iter().filter(|c| c.access_key_id.as_str() == current).collect();
    files::replace(&path, credentials::render(&kept, &to)?.as_bytes())?;
    Ok((current, retired))
}

impl Plan {
    fn from_args(a: &NewArgs) -> Result<Self, String> {
        let name = a.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        check_name("environment name (the directory's name)", &name)?;
        let mut offline: Vec<(u32, Vec<Recipient>)> = (1..=3).map(|h| (h, Vec::new())).collect();
        for h in &a.holders {
            let hr: sealing::HolderRecipient = h.parse()?;
            let id = u32::from(hr.holder.get());
            let slot = offline.iter_mut().find(|(h, _)| *h == id).ok_or_else(|| format!("--holder {h}: holders are 1, 2 and 3"))?;
            slot.1.push(hr.recipient);
        }
        if let Some((h, _)) = offline.iter().find(|(_, r)| r.is_empty()) {
            return Err(format!("--holder {h}=age1… is missing: every holder gives its offline recipient"));
        }
        let plan = Self {
            name,
            offline,
            pki_operator: sealing::parse_recipients(&a.pki_operator)?,
            aws_operator: sealing::parse_recipients(&a.aws_operator)?,
            proxy_host: check_host(&a.proxy_host)?,
            proxy_port: a.proxy_port,
            shares: a.shares.iter().map(|s| parse_share(s)).collect::<Result<_, _>>()?,
            keys: if a.keys.is_empty() { vec!["key-1".to_owned()] } else { a.keys.clone() },
        };
        plan.check()?;
        Ok(plan)
    }

    /// The separation rules: no recipient of one holder is another's, and
    /// neither the CA operator nor the AWS operator is holder 2 or 3 (a share
    /// holder with the CA could pose as the proxy to the other share service;
    /// with the SigV4 secret it could pose as KMS).
    fn check(&self) -> Result<(), String> {
        for (i, (a, ra)) in self.offline.iter().enumerate() {
            for (b, rb) in self.offline.iter().skip(i + 1) {
                if ra.iter().any(|r| rb.contains(r)) {
                    return Err(format!("holders {a} and {b} share a recipient: each holder's files must open for that holder only"));
                }
            }
        }
        for (role, list) in [("--pki-operator", &self.pki_operator), ("--aws-operator", &self.aws_operator)] {
            for (h, rs) in self.offline.iter().filter(|(h, _)| SHARE_HOLDERS.contains(h)) {
                if list.iter().any(|r| rs.contains(r)) {
                    return Err(format!(
                        "{role} is a recipient of holder {h}: a share holder must not also hold this (docs/deploy/README.md)"
                    ));
                }
            }
        }
        if !self.shares.iter().any(|s| s.holder == SHARE_HOLDERS[0]) {
            return Err("--share 2=host is required: the proxy's primary partner".into());
        }
        let mut holders: Vec<u32> = self.shares.iter().map(|s| s.holder).collect();
        holders.dedup();
        if holders.len() != self.shares.len() {
            return Err("--share: each share service once".into());
        }
        for k in &self.keys {
            check_name("--key", k)?;
        }
        let mut keys = self.keys.clone();
        keys.sort();
        keys.dedup();
        if keys.len() != self.keys.len() {
            return Err("--key: each key id once".into());
        }
        Ok(())
    }

    fn offline(&self, holder: u32) -> &[Recipient] {
        self.offline.iter().find(|(h, _)| *h == holder).map_or(&[], |(_, r)| r.as_slice())
    }

    fn path_prefix(&self) -> String {
        format!("/keystores/{}", self.name)
    }

    fn share(&self, holder: u32) -> Option<&ShareHost> {
        self.shares.iter().find(|s| s.holder == holder)
    }
}

fn check_name(what: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-');
    if ok { Ok(()) } else { Err(format!("{what} {s:?}: 1 to 32 of a-z, 0-9 and '-', not starting with '-'")) }
}

fn check_host(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok { Ok(s.to_ascii_lowercase()) } else { Err(format!("{s:?} is not a DNS host name")) }
}

fn parse_share(s: &str) -> Result<ShareHost, String> {
    let (h, addr) = s.split_once('=').ok_or_else(|| format!("--share {s:?}: expected N=host[:port]"))?;
    let holder: u32 = h.trim().parse().map_err(|_| format!("--share {s:?}: {h:?} is not a holder"))?;
    if !SHARE_HOLDERS.contains(&holder) {
        return Err(format!("--share {s:?}: share services are holders 2 and 3"));
    }
    let (host, port) = match addr.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| format!("--share {s:?}: bad port"))?),
        None => (addr, 9443),
    };
    Ok(ShareHost { holder, host: check_host(host)?, port })
}

/// The `.sops.yaml` next to the environment's directory.
fn sops_config_path(dir: &Path) -> PathBuf {
    dir.parent().unwrap_or(Path::new(".")).join(".sops.yaml")
}

/// Each holder's runtime recipient, holder 1 first.
type RuntimeRecipients = Vec<(u32, Recipient)>;

/// One file of the environment, by path relative to its directory.
struct Output {
    path: String,
    content: Zeroizing<String>,
}

/// Makes the environment in a staging directory and moves it into place, then
/// adds its creation rules to `.sops.yaml`. Returns each holder's runtime recipient.
fn new_environment(plan: &Plan, dir: &Path) -> Result<RuntimeRecipients, String> {
    if dir.exists() {
        return Err(format!("{} exists; an environment is made once (nothing was written)", dir.display()));
    }
    let sops_config = sops_config_path(dir);
    let mut rules = existing_sops_rules(&sops_config, plan)?;
    let (outputs, runtime) = environment_files(plan)?;
    rules.push_str(&sops_rules(plan, &runtime));
    let staging = dir.with_file_name(format!(".{}.partial-{}", plan.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let written = write_tree(&staging, &outputs)
        .and_then(|()| std::fs::rename(&staging, dir).map_err(|e| format!("cannot move {} into place: {e}", dir.display())));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    files::replace(&sops_config, rules.as_bytes())?;
    Ok(runtime)
}

fn write_tree(root: &Path, outputs: &[Output]) -> Result<(), String> {
    for o in outputs {
        let path = root.join(&o.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        files::create(&path, o.content.as_bytes())?;
    }
    Ok(())
}

/// Every file of the environment, in memory, and the runtime recipients.
fn environment_files(plan: &Plan) -> Result<(Vec<Output>, RuntimeRecipients), String> {
    let mut out = Vec::new();
    let mut put = |path: String, content: Zeroizing<String>| out.push(Output { path, content });

    // A runtime identity per holder, sealed to that holder's offline recipients only.
    let mut runtime = Vec::new();
    for holder in 1..=3u32 {
        let (ids, text) = Identities::generate();
        let recipient = ids.recipients().into_iter().next().ok_or("no recipient generated")?;
        put(format!("holder-{holder}/runtime.agekey.sops"), seal_binary(&text, plan.offline(holder))?);
        runtime.push((holder, recipient));
    }
    let holder_recipients = |holder: u32| -> Vec<Recipient> {
        runtime.iter().filter(|(h, _)| *h == holder).map(|(_, r)| r.clone()).chain(plan.offline(holder).iter().cloned()).collect()
    };

    // The key set (dealer, 2-of-3), each share sealed to its holder.
    let (key_set, shares) = dealer::generate(2, 3, 1, &mut OsRng).map_err(|e| e.to_string())?;
    let key_set_name = sealing::key_set_name(&key_set);
    put(format!("public/{key_set_name}"), Zeroizing::new(key_set.to_json().map_err(|e| e.to_string())?));
    let mut share_names = Vec::new();
    for share in &shares {
        let holder = u32::from(share.holder().get());
        let name = sealing::share_name(share.holder(), share.generation(), share.epoch());
        put(format!("holder-{holder}/{name}"), Zeroizing::new(sealing::seal_share_to(share, &holder_recipients(holder))?));
        share_names.push((holder, name));
    }
    let share_name = |holder: u32| share_names.iter().find(|(h, _)| *h == holder).map(|(_, n)| n.clone()).unwrap_or_default();

    // The CA, the share services' server certificates, the proxy's client certificate.
    let ca = Ca::new(&format!("split-key XKS {} CA", plan.name), Validity::days(CA_DAYS)).map_err(|e| e.to_string())?;
    put("public/ca.crt".into(), Zeroizing::new(ca.certificate().cert_pem.clone()));
    put("pki/ca.key.sops".into(), Zeroizing::new(pki::seal_key(ca.certificate(), &plan.pki_operator)?));
    for holder in SHARE_HOLDERS {
        let host = plan.share(holder).map_or_else(|| format!("share-{holder}.invalid"), |s| s.host.clone());
        let cert = ca.issue_server(&host, &[host.as_str()], Validity::days(CERT_DAYS)).map_err(|e| e.to_string())?;
        put(format!("public/share-{holder}.crt"), Zeroizing::new(cert.cert_pem.clone()));
        put(format!("holder-{holder}/server.key.sops"), Zeroizing::new(pki::seal_key(&cert, &holder_recipients(holder))?));
    }
    // Each share service's audit checkpoint signing key, sealed to its holder; the public key for the witness.
    for holder in SHARE_HOLDERS {
        let (private, public) = CheckpointSigner::generate().map_err(|e| e.to_string())?;
        put(format!("holder-{holder}/{SEALED_CHECKPOINT_KEY_FILE}"), seal_binary(&private, &holder_recipients(holder))?);
        put(format!("public/{}", checkpoint_public_key_file(holder)), Zeroizing::new(public.to_pem()));
    }
    let client = ca.issue_client(PROXY_CLIENT_NAME, &[PROXY_CLIENT_NAME], Validity::days(CERT_DAYS)).map_err(|e| e.to_string())?;
    put("public/proxy-client.crt".into(), Zeroizing::new(client.cert_pem.clone()));
    put("holder-1/client.key.sops".into(), Zeroizing::new(pki::seal_key(&client, &holder_recipients(PROXY_HOLDER))?));

    // The SigV4 credential: for the proxy, and for the AWS root.
    let credential = credentials::generate()?;
    let access_key_id = credential.access_key_id.to_string();
    put("aws/credential.sops.json".into(), seal_aws_credential(&access_key_id, credential.secret_access_key.expose(), &plan.aws_operator)?);
    put("holder-1/credentials.sops".into(), credentials::render(&[credential], &holder_recipients(PROXY_HOLDER))?);

    // The configurations, and the public summary the Terraform roots read.
    put("holder-1/xks-proxy.toml".into(), Zeroizing::new(proxy_config(plan, &key_set_name, &share_name(PROXY_HOLDER))?));
    put("holder-1/key-stores.toml".into(), Zeroizing::new(key_stores(plan)?));
    for holder in SHARE_HOLDERS {
        put(format!("holder-{holder}/share-service.toml"), Zeroizing::new(share_config(plan, holder, &key_set_name, &share_name(holder))?));
    }
    put("public/deployment.json".into(), Zeroizing::new(deployment_json(plan, &key_set_name, &access_key_id, &runtime)));
    Ok((out, runtime))
}

fn seal_binary(text: &str, to: &[Recipient]) -> Result<Zeroizing<String>, String> {
    xks_sops::seal(text, Format::Binary, to, &SealOptions::default()).map(Zeroizing::new).map_err(|e| e.to_string())
}

/// `{"access_key_id": …, "secret_access_key": …}` with only the secret encrypted
/// (what Terraform's sops provider reads in the AWS root).
fn seal_aws_credential(access_key_id: &str, secret: &str, to: &[Recipient]) -> Result<Zeroizing<String>, String> {
    let plain = Zeroizing::new(serde_json::json!({"access_key_id": access_key_id, "secret_access_key": secret}).to_string());
    let rule = Rule::new("encrypted_regex", "^secret_access_key$").map_err(|e| e.to_string())?;
    xks_sops::seal(&plain, Format::Json, to, &SealOptions { rule: Some(rule), mac_only_encrypted: false })
        .map(Zeroizing::new)
        .map_err(|e| e.to_string())
}

/// The proxy's configuration inside its bundle: every path relative (the
/// bundle's directory), plain HTTP behind Scaleway's TLS, the identity from
/// `SOPS_AGE_KEY`, partners by DNS name.
fn proxy_config(plan: &Plan, key_set: &str, share: &str) -> Result<String, String> {
    let shares = SharesConfig { key_sets: vec![key_set.into()], share_files: vec![share.into()], holder: Some(PROXY_HOLDER) };
    let partner_tls =
        proxy::PartnerTlsConfig { ca: "ca.crt".into(), client_cert: "proxy-client.crt".into(), client_key: "client.key.sops".into() };
    let partners = plan.shares.iter().map(|s| s.partner(true)).collect();
    let front = proxy::FrontConfig::plain(vec![plan.proxy_host.clone()]);
    let mut cfg = proxy::Config::new(std::net::SocketAddr::from(([0, 0, 0, 0], plan.proxy_port)), front, shares, partner_tls, partners);
    cfg.health.interval_seconds = 5;
    xks_config::render(
        &format!(
            "XKS proxy (holder 1) of environment {}, written by `xksctl env new`. Paths are relative to the\n\
             bundle the proxy unpacks (--files-from-env); the age identity comes from SOPS_AGE_KEY.",
            plan.name
        ),
        &cfg,
    )
}

fn key_stores(plan: &Plan) -> Result<String, String> {
    let keys = plan
        .keys
        .iter()
        .map(|id| {
            Ok(key_stores::KeyConfig {
                id: ExternalKeyId::new(id.as_str()).map_err(|e| e.to_string())?,
                key_path: format!("{}/{id}", plan.name),
                status: key_stores::KeyStatus::Enabled,
                usage: vec![key_stores::Usage::Encrypt, key_stores::Usage::Decrypt],
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let store = key_stores::KeyStoreConfig::new(plan.name.clone(), &plan.path_prefix(), "credentials.sops").map_err(|e| e.to_string())?;
    let stores = key_stores::KeyStoresFile { key_store: vec![key_stores::KeyStoreConfig { key: keys, ..store }] };
    xks_config::render("The key store of this environment (reloaded on SIGHUP). A key path IS a key: never change or reuse one.", &stores)
}

/// A share service's configuration as the share-service-host module installs
/// it: files in /etc/share-service, state on the volume, the socket in /run.
fn share_config(plan: &Plan, holder: u32, key_set: &str, share: &str) -> Result<String, String> {
    let port = plan.share(holder).map_or(9443, |s| s.port);
    let cfg = share::Config {
        secrets: SecretsConfig { age_identity_file: Some(format!("{SHARE_ETC}/runtime.agekey").into()) },
        ..share::Config::new(
            std::net::SocketAddr::from(([0, 0, 0, 0], port)),
            share::TlsConfig::pinned(
                format!("share-{holder}.crt").into(),
                "server.key.sops".into(),
                "ca.crt".into(),
                vec![format!("dns:{PROXY_CLIENT_NAME}")],
            ),
            SharesConfig { key_sets: vec![key_set.into()], share_files: vec![share.into()], holder: Some(holder) },
            share::AuditConfig {
                checkpoint_key: Some(SEALED_CHECKPOINT_KEY_FILE.into()),
                ..share::AuditConfig::in_dir(format!("{SHARE_STATE}/audit").into())
            },
            share::AdminConfig {
                socket: format!("{SHARE_RUN}/admin.sock").into(),
                state_file: format!("{SHARE_STATE}/controls.json").into(),
            },
        )
    };
    xks_config::render(
        &format!(
            "Share service {holder} of environment {}, written by `xksctl env new`, installed in {SHARE_ETC}.\n\
             The runtime identity is installed by the holder (install-identity), never by Terraform.",
            plan.name
        ),
        &cfg,
    )
}

/// `public/deployment.json`: what the Terraform roots and the runbooks read.
fn deployment_json(plan: &Plan, key_set: &str, access_key_id: &str, runtime: &[(u32, Recipient)]) -> String {
    let recipients = |h: u32| -> serde_json::Value {
        serde_json::json!({
            "runtime": runtime.iter().filter(|(x, _)| *x == h).map(|(_, r)| r.to_string()).collect::<Vec<_>>(),
            "offline": plan.offline(h).iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    };
    let v = serde_json::json!({
        "environment": plan.name,
        "proxy": {
            "host": plan.proxy_host,
            "port": plan.proxy_port,
            "uri_path": format!("{}/kms/xks/v1", plan.path_prefix()),
            "access_key_id": access_key_id,
        },
        "shares": plan.shares.iter().map(|s| serde_json::json!({"holder": s.holder, "host": s.host, "port": s.port})).collect::<Vec<_>>(),
        "keys": plan.keys.iter().map(|id| serde_json::json!({"id": id, "key_path": format!("{}/{id}", plan.name)})).collect::<Vec<_>>(),
        "key_set": key_set,
        "recipients": {
            "holder-1": recipients(1),
            "holder-2": recipients(2),
            "holder-3": recipients(3),
            "pki": plan.pki_operator.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "aws": plan.aws_operator.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// The creation rules of one environment: a holder's runtime identity opens
/// for its offline recipients only; everything else of a holder for its runtime
/// and offline recipients; the CA key for the CA operator; the AWS credential
/// for the AWS operator. First match wins, so the runtime rule comes first.
fn sops_rules(plan: &Plan, runtime: &[(u32, Recipient)]) -> String {
    // Environment names are [a-z0-9-]: literal in a regex as they are.
    let env = &plan.name;
    let join = |rs: &[Recipient]| rs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let mut out = format!("  # environment {}, written by `xksctl env new`\n", plan.name);
    let mut rule = |path: String, recipients: String| {
        out.push_str(&format!("  - path_regex: '(^|/){env}/{path}'\n    age: '{recipients}'\n"));
    };
    for holder in 1..=3u32 {
        rule(format!("holder-{holder}/runtime\\.agekey(\\.sops)?$"), join(plan.offline(holder)));
        let mut all: Vec<Recipient> = runtime.iter().filter(|(h, _)| *h == holder).map(|(_, r)| r.clone()).collect();
        all.extend(plan.offline(holder).iter().cloned());
        rule(format!("holder-{holder}/"), join(&all));
    }
    rule("pki/".into(), join(&plan.pki_operator));
    rule("aws/".into(), join(&plan.aws_operator));
    out
}

const SOPS_HEADER: &str = "# Creation rules for the sops CLI (run it from inside secrets/). Each holder's files are sealed\n\
# to that holder's own recipients only (its runtime identity and its offline backup), never to\n\
# another holder's; a holder's runtime identity only to its offline recipients. First match wins.\n\
# One block per environment, added by `xksctl env new`.\n\
creation_rules:\n";

/// The `.sops.yaml` this environment's block is added to (a new one if
/// missing); an environment already there is refused.
fn existing_sops_rules(path: &Path, plan: &Plan) -> Result<String, String> {
    let mut existing = if path.exists() { files::read_text(path)? } else { SOPS_HEADER.to_owned() };
    if !existing.contains("creation_rules:") {
        return Err(format!("{} has no creation_rules list; add `creation_rules:` or move the file away", path.display()));
    }
    if existing.contains(&format!("# environment {},", plan.name)) {
        return Err(format!("{} already has rules for environment {}", path.display(), plan.name));
    }
    if !existing.ends_with('\n') {
        existing.push('\n');
    }
    Ok(existing)
}
