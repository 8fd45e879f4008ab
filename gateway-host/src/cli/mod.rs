//! The subcommands, their shared file reading and their exit codes.

pub mod ca;
pub mod device;
pub mod files;
pub mod fixtures;
pub mod inspect;
pub mod output;
pub mod policy;
pub mod pop;
pub mod verify;

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// Exit status of a valid chain or a successful command.
pub const EXIT_OK: u8 = 0;
/// Exit status of a rejected chain.
pub const EXIT_REJECTED: u8 = 1;
/// Exit status of a usage error or of input that cannot be read or is not supported
/// (clap uses the same status for its own usage errors).
pub const EXIT_USAGE: u8 = 2;

/// What a subcommand concluded, when it could run at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The chain is valid, or the command did what it was asked.
    Ok,
    /// The chain was rejected (the reason has been printed on stdout).
    Rejected,
}

/// Why a subcommand could not run: bad arguments or unreadable input. Printed as one line on
/// stderr; exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Turn a subcommand's result into the process exit status, printing a usage error on stderr.
pub fn finish(outcome: Result<Outcome, UsageError>) -> ExitCode {
    match outcome {
        Ok(Outcome::Ok) => ExitCode::from(EXIT_OK),
        Ok(Outcome::Rejected) => ExitCode::from(EXIT_REJECTED),
        Err(e) => {
            // Nothing sensible is left to do if stderr itself is gone.
            let _ = writeln!(std::io::stderr(), "chainproof: error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Write `text` to stdout. A closed pipe (`chainproof ... | head`) is not an error worth a
/// panic, so write errors are ignored.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
