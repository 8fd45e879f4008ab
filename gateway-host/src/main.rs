//! `chainproof`: validate and inspect X.509 device chains from the command line.
//!
//! This file only parses arguments and dispatches; every decision about a certificate is made
//! by `chainproof-core`, and the subcommands in [`cli`] translate its answers into text, JSON
//! and exit codes.

mod cli;
mod gateway;
mod loadtest;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Validate X.509 device certificate chains for IoT fleets.
///
/// Exit status: 0 = the chain is valid (or the command succeeded), 1 = the chain was rejected,
/// 2 = usage error or unreadable/unsupported input (the error is printed on stderr).
#[derive(Parser, Debug)]
#[command(name = "chainproof", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a device certificate chain against trust anchors (and CRLs).
    Verify(cli::verify::VerifyArgs),
    /// Show every certificate and CRL in PEM or DER files.
    Inspect(cli::inspect::InspectArgs),
    /// Write generated example PKIs (good and broken device chains) to try the CLI on.
    Fixtures(cli::fixtures::FixturesArgs),
    /// Proof of possession for devices: issue a challenge, answer it (simulator), verify it.
    Pop(cli::pop::PopArgs),
    /// Proof of possession of a CA key: verification codes and verification certificates.
    Ca(cli::ca::CaArgs),
    /// Fleet trust policies (enrollment groups, individual enrollments, deny lists).
    Policy(cli::policy::PolicyArgs),
    /// A simulated device on local HTTP (serves its chain, signs challenges) for the web page.
    Device(cli::device::DeviceArgs),
    /// Run the edge gateway: devices over MQTT/TLS, forwarded upstream (docs/gateway.md).
    Gateway(gateway::cli::GatewayArgs),
    /// The gateway's audit log.
    Audit(gateway::cli::AuditArgs),
    /// The one-command demo: a throwaway PKI, the gateway, simulated devices, who got in and why.
    Demo,
    /// Load test: many devices (honest ones and bad actors) over MQTT/TLS against the gateway
    /// or a broker; who got in against who should have, handshake latency, rates.
    Loadtest(loadtest::LoadtestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Verify(args) => cli::verify::run(&args),
        Command::Inspect(args) => cli::inspect::run(&args),
        Command::Fixtures(args) => cli::fixtures::run(&args),
        Command::Pop(args) => cli::pop::run(&args),
        Command::Ca(args) => cli::ca::run(&args),
        Command::Policy(args) => cli::policy::run(&args),
        Command::Device(args) => cli::device::run(&args),
        Command::Loadtest(args) => loadtest::run(&args),
        Command::Gateway(args) => gateway::cli::gateway(&args)
            .map(|()| cli::Outcome::Ok)
            .map_err(cli::UsageError),
        Command::Demo => gateway::cli::demo()
            .map(|()| cli::Outcome::Ok)
            .map_err(cli::UsageError),
        Command::Audit(args) => gateway::cli::audit(&args)
            .map(|ok| {
                if ok {
                    cli::Outcome::Ok
                } else {
                    cli::Outcome::Rejected
                }
            })
            .map_err(cli::UsageError),
    };
    cli::finish(outcome)
}
