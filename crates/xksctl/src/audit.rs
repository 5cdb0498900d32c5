//! `xksctl audit verify`: offline verification of a share service's audit log.

use std::path::PathBuf;
use std::process::ExitCode;

/// `xksctl audit …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Verify the hash chain of audit files and print a summary (JSON).
    ///
    /// Exit code 0: intact; 1: broken (the summary names the first broken record); 2: unreadable.
    ///
    /// Example: xksctl audit verify /var/lib/share-service/audit --head 3f7742c2…
    Verify {
        /// An audit directory (all audit-NNNNNN.jsonl files in order) or files in order.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The chain head the service reported last (its `audit checkpoint` log line);
        /// detects records removed from the end.
        #[arg(long)]
        head: Option<String>,
    },
}

/// Runs an audit subcommand.
pub fn run(cmd: &Command) -> ExitCode {
    match cmd {
        Command::Verify { paths, head } => {
            let mut files = Vec::new();
            for p in paths {
                if p.is_dir() {
                    match xks_audit::log_files(p) {
                        Ok(f) => files.extend(f),
                        Err(e) => {
                            eprintln!("error: cannot list {}: {e}", p.display());
                            return ExitCode::from(2);
                        }
                    }
                } else {
                    files.push(p.clone());
                }
            }
            if files.is_empty() {
                eprintln!("error: no audit files found");
                return ExitCode::from(2);
            }
            let report = match xks_audit::verify_files(&files, head.as_deref()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match serde_json::to_string_pretty(&report) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
            if report.is_intact() {
                eprintln!("intact: {} records, head {}", report.records, report.head);
                ExitCode::SUCCESS
            } else {
                eprintln!("BROKEN: {:?}", report.broken);
                ExitCode::from(1)
            }
        }
    }
}
