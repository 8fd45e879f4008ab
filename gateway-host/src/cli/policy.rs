//! `chainproof policy`: load and check a fleet trust policy (docs/policy.md). The file reading
//! happens here; parsing and every decision are the core's (`FleetPolicy::from_toml`).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use chainproof::FleetPolicy;
use clap::{Args, Subcommand};

use super::{Outcome, UsageError, emit, files};

/// Arguments of `chainproof policy`.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` subcommands.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Load a policy file (and the anchors and CRL files it names) and summarise it.
    /// Exit status: 0 = valid, 1 = invalid (reason with line and column on stdout),
    /// 2 = the policy file cannot be read.
    Check {
        /// The policy file (TOML, `version = 1`).
        #[arg(value_name = "POLICY.toml")]
        file: PathBuf,
    },
}

/// Read and parse `path`. Files the policy names are read relative to the policy's directory.
/// Returns the core's error (`policy-invalid`, ...) separately from unreadable input.
pub fn load(path: &Path) -> Result<Result<FleetPolicy, chainproof::Error>, UsageError> {
    let bytes = files::read(path, "the fleet policy")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| UsageError(format!("{}: the policy is not UTF-8 text", path.display())))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    Ok(FleetPolicy::from_toml(&text, &resolve))
}

/// The summary `policy check` prints for a valid policy.
pub fn summary(p: &FleetPolicy) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "policy OK: {} group(s), {} individual enrollment(s)",
        p.groups().len(),
        p.device_count()
    );
    for g in p.groups() {
        let _ = writeln!(
            s,
            "  group {:?}: {} anchor(s), {}, route {:?}{}",
            g.id,
            g.anchor_count(),
            if g.enabled { "enabled" } else { "DISABLED" },
            g.route,
            if g.tags.is_empty() {
                String::new()
            } else {
                format!(", tags [{}]", g.tags.join(", "))
            }
        );
    }
    s
}

/// Run `chainproof policy ...`.
pub fn run(args: &PolicyArgs) -> Result<Outcome, UsageError> {
    match &args.command {
        PolicyCommand::Check { file } => match load(file)? {
            Ok(p) => {
                emit(&summary(&p));
                Ok(Outcome::Ok)
            }
            Err(e) => {
                emit(&format!(
                    "INVALID\n{}: {}: {e}\nhint: {}\n",
                    e.code(),
                    file.display(),
                    e.hint()
                ));
                Ok(Outcome::Rejected)
            }
        },
    }
}
