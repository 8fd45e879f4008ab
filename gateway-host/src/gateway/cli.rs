//! The gateway's subcommands: `chainproof gateway --config FILE` and
//! `chainproof audit verify LOG`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::config::Config;
use super::{audit, run};

/// `chainproof gateway`.
#[derive(Args, Debug)]
pub struct GatewayArgs {
    /// The configuration file (TOML, see docs/gateway.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// `chainproof audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain of a gateway audit log (exit 1 at the first broken line).
    Verify {
        /// The audit log (JSON lines).
        log: PathBuf,
    },
}

/// Run the gateway; returns only on a startup error.
pub fn gateway(args: &GatewayArgs) -> Result<(), String> {
    let cfg = Config::load(&args.config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(run(cfg))
}

/// `audit verify`: `Ok(true)` when the chain holds.
pub fn audit(args: &AuditArgs) -> Result<bool, String> {
    match &args.command {
        AuditCommand::Verify { log } => {
            let text =
                std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
            match audit::verify(&text) {
                Ok(n) => {
                    println!("{}: {n} decisions, hash chain intact", log.display());
                    Ok(true)
                }
                Err((line, why)) => {
                    println!("{}: line {line}: {why}", log.display());
                    Ok(false)
                }
            }
        }
    }
}

/// `chainproof demo`: the gateway on a throwaway PKI with simulated devices.
pub fn demo() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(super::demo::run())
}
