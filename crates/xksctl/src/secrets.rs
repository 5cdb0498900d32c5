//! `xksctl secrets`: sops files with age recipients for any file, compatible
//! with the sops CLI and Terraform's sops provider (docs/secrets.md).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use xks_sops::{Format, Identities, Rule, SealOptions};
use zeroize::Zeroizing;

use crate::files;
use crate::sealing::IdentityArg;

/// `xksctl secrets …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create an age identity (private, 0600) and print its recipient (public).
    ///
    /// Example: xksctl secrets keygen --output ~/.config/xks/holder-2.agekey
    Keygen {
        /// Where to write the identity. Must not exist.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Seal a file to age recipients (sops format; YAML, JSON or any file as binary).
    ///
    /// Example: xksctl secrets seal client.key --recipient age1… --output client.key.sops
    ///          xksctl secrets seal app.yaml --recipient age1… --encrypted-regex '^(password|token)$' --in-place
    Seal {
        /// The plaintext file.
        file: PathBuf,
        /// Recipients (age1…); repeat for several holders.
        #[arg(long, short = 'r', required = true)]
        recipient: Vec<String>,
        #[command(flatten)]
        rule: RuleArgs,
        #[command(flatten)]
        io: IoArgs,
    },
    /// Open a sealed file and print (or write, 0600) its plaintext; the MAC is verified.
    ///
    /// Example: xksctl secrets unseal share-2-g1-e0.sops.json --identity holder-2.agekey
    Unseal {
        /// The sealed file.
        file: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// Write the plaintext here (must not exist) instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// File type: yaml, json or binary (default: from the file name, like sops).
        #[arg(long)]
        input_type: Option<String>,
    },
    /// Re-seal a file to a new set of recipients under a fresh data key.
    ///
    /// Example: xksctl secrets rekey proxy.sops.yaml -i me.agekey -r age1new… -r age1other… --in-place
    Rekey {
        /// The sealed file.
        file: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// The new recipients (the whole set; default: the file's current recipients).
        #[arg(long, short = 'r')]
        recipient: Vec<String>,
        #[command(flatten)]
        io: IoArgs,
    },
    /// Show who a sealed file is sealed to, without opening it.
    Recipients {
        /// The sealed file.
        file: PathBuf,
    },
}

/// Which values are encrypted (at most one rule, as in sops).
#[derive(clap::Args)]
#[group(multiple = false)]
pub struct RuleArgs {
    /// Encrypt only values under keys matching this regex.
    #[arg(long)]
    encrypted_regex: Option<String>,
    /// Encrypt only values under keys ending with this suffix.
    #[arg(long)]
    encrypted_suffix: Option<String>,
    /// Encrypt all values except under keys matching this regex.
    #[arg(long)]
    unencrypted_regex: Option<String>,
    /// Encrypt all values except under keys ending with this suffix.
    #[arg(long)]
    unencrypted_suffix: Option<String>,
    /// Let the MAC cover only the encrypted values (sops --mac-only-encrypted).
    #[arg(long)]
    mac_only_encrypted: bool,
}

impl RuleArgs {
    fn options(&self) -> Result<SealOptions, String> {
        let pick = [
            ("encrypted_regex", &self.encrypted_regex),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("unencrypted_suffix", &self.unencrypted_suffix),
        ];
        let rule = match pick.iter().find_map(|(k, v)| v.as_ref().map(|v| (*k, v))) {
            Some((k, v)) => Some(Rule::new(k, v).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(SealOptions { rule, mac_only_encrypted: self.mac_only_encrypted })
    }
}

/// Where a sealed result goes.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct IoArgs {
    /// Write here (must not exist).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Replace the input file in one step.
    #[arg(long)]
    in_place: bool,
}

impl IoArgs {
    fn write(&self, input: &Path, data: &str) -> Result<PathBuf, String> {
        match (&self.output, self.in_place) {
            (Some(o), _) => files::create(o, data.as_bytes()).map(|()| o.clone()),
            (None, true) => files::replace(input, data.as_bytes()).map(|()| input.to_path_buf()),
            (None, false) => Err("--output or --in-place is required".into()),
        }
    }
}

fn format_of(path: &Path, explicit: Option<&str>) -> Result<Format, String> {
    explicit.map_or(Ok(Format::from_path(path)), |t| Format::parse(t).map_err(|e| e.to_string()))
}

/// Runs a secrets subcommand.
///
/// # Errors
/// A message for the operator; nothing is half-written.
#[allow(clippy::print_stdout)]
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Keygen { output } => {
            let (ids, text) = Identities::generate();
            files::create(output, text.as_bytes())?;
            for r in ids.recipients() {
                println!("{r}");
            }
            eprintln!("age identity written to {} (0600); the line above is its public recipient", output.display());
            Ok(())
        }
        Command::Seal { file, recipient, rule, io } => {
            let text = Zeroizing::new(files::read_text(file)?);
            let format = Format::from_path(file);
            let sealed = xks_sops::seal(&text, format, &crate::sealing::parse_recipients(recipient)?, &rule.options()?)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let out = io.write(file, &sealed)?;
            eprintln!("sealed {} to {} recipient(s) as {:?} → {}", file.display(), recipient.len(), format, out.display());
            Ok(())
        }
        Command::Unseal { file, identity, output, input_type } => {
            let ids = identity.load()?;
            let text = files::read_text(file)?;
            let plain =
                xks_sops::unseal(&text, format_of(file, input_type.as_deref())?, &ids).map_err(|e| format!("{}: {e}", file.display()))?;
            match output {
                Some(o) => files::create(o, plain.as_bytes()),
                None => std::io::stdout().write_all(plain.as_bytes()).map_err(|e| e.to_string()),
            }
        }
        Command::Rekey { file, identity, recipient, io } => {
            let ids = identity.load()?;
            let text = files::read_text(file)?;
            let format = Format::from_path(file);
            let new = if recipient.is_empty() {
                crate::sealing::parse_recipients(&xks_sops::recipients(&text, format).map_err(|e| e.to_string())?)?
            } else {
                crate::sealing::parse_recipients(recipient)?
            };
            let sealed = xks_sops::rekey(&text, format, &ids, &new).map_err(|e| format!("{}: {e}", file.display()))?;
            let out = io.write(file, &sealed)?;
            eprintln!("re-sealed {} under a new data key to {} recipient(s) → {}", file.display(), new.len(), out.display());
            Ok(())
        }
        Command::Recipients { file } => {
            let text = files::read_text(file)?;
            for r in xks_sops::recipients(&text, Format::from_path(file)).map_err(|e| format!("{}: {e}", file.display()))? {
                println!("{r}");
            }
            Ok(())
        }
    }
}
