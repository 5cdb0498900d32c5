//! `nix-fmt --check FILE…` exits 1 when alejandra would change a file (and
//! names it); `nix-fmt --write FILE…` formats the files in place. A file that
//! does not parse is an error either way. tests/nix/check runs it in CI.

use std::process::ExitCode;

use alejandra::format::{Status, in_memory};

enum Mode {
    Check,
    Write,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("--check") => Mode::Check,
        Some("--write") => Mode::Write,
        _ => {
            eprintln!("usage: nix-fmt --check|--write FILE…");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for path in args {
        match format_one(&path, &mode) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("{path}: not formatted as alejandra formats it (run tests/nix/fmt with --write, or nix fmt)");
                failed = true;
            }
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Whether `path` is formatted (after writing it, in write mode).
fn format_one(path: &str, mode: &Mode) -> Result<bool, String> {
    let before = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (status, after) = in_memory(path.to_owned(), before);
    match (status, mode) {
        (Status::Error(e), _) => Err(e),
        (Status::Changed(false), _) => Ok(true),
        (Status::Changed(true), Mode::Check) => Ok(false),
        (Status::Changed(true), Mode::Write) => std::fs::write(path, after).map(|()| true).map_err(|e| e.to_string()),
    }
}
