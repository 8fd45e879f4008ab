//! `chainproof ca`: proof of possession of a CA key for cloud registration. `verification-code`
//! makes a one-time code; `verify-pop` checks the verification certificate signed for it.

use std::path::PathBuf;

use chainproof::pop::VERIFICATION_CODE_BYTES;
use chainproof::{UnixTime, verification_code, verify_verification_certificate};
use clap::{Args, Subcommand};

use super::pop::os_random;
use super::{Outcome, UsageError, emit, files, output, verify::now};

/// Arguments of `chainproof ca`.
#[derive(Args, Debug)]
pub struct CaArgs {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Subcommand, Debug)]
enum CaCommand {
    /// Print a fresh one-time verification code (40 upper-case hex characters).
    VerificationCode(CodeArgs),
    /// Check a verification certificate: CN = code, issued and signed by the CA, valid now.
    VerifyPop(VerifyPopArgs),
}

/// Arguments of `chainproof ca verification-code`.
#[derive(Args, Debug)]
#[command(after_long_help = "Then, with the CA's key:
  openssl req -new -key ca.key -subj \"/CN=$CODE\" -out v.csr
  openssl x509 -req -in v.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out v.pem -days 1
  chainproof ca verify-pop --ca ca.pem --code $CODE v.pem")]
pub struct CodeArgs {
    /// Print {"code": ...} instead of the bare code.
    #[arg(long)]
    json: bool,
}

/// Arguments of `chainproof ca verify-pop`.
#[derive(Args, Debug)]
#[command(
    after_long_help = "Exit status: 0 = the verification certificate proves possession of the \
CA key, 1 = rejected (reason and what to do on stdout), 2 = usage error or unreadable file."
)]
pub struct VerifyPopArgs {
    /// The CA certificate being registered, PEM or DER.
    #[arg(long, value_name = "CA.pem")]
    ca: PathBuf,
    /// The verification code the verification certificate's CN must carry.
    #[arg(long, value_name = "CODE")]
    code: String,
    /// Check time: Unix seconds or RFC 3339. Default: now.
    #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
    at: Option<UnixTime>,
    /// Print one JSON object: {"valid", "reason", "report", "error"}.
    #[arg(long)]
    json: bool,
    /// The verification certificate, PEM or DER.
    #[arg(value_name = "VERIFICATION_CERT.pem")]
    cert: PathBuf,
}

/// Run `chainproof ca ...`.
pub fn run(args: &CaArgs) -> Result<Outcome, UsageError> {
    match &args.command {
        CaCommand::VerificationCode(a) => code(a),
        CaCommand::VerifyPop(a) => verify_pop(a),
    }
}

fn code(args: &CodeArgs) -> Result<Outcome, UsageError> {
    let code = verification_code(&os_random::<VERIFICATION_CODE_BYTES>()?);
    if args.json {
        emit(&format!("{}\n", serde_json::json!({ "code": code })));
    } else {
        emit(&format!("{code}\n"));
    }
    Ok(Outcome::Ok)
}

fn verify_pop(args: &VerifyPopArgs) -> Result<Outcome, UsageError> {
    let ca = files::read(&args.ca, "the CA certificate")?;
    let cert = files::read(&args.cert, "the verification certificate")?;
    let at = match args.at {
        Some(t) => t,
        None => now()?,
    };
    let verdict = verify_verification_certificate(&ca, &args.code, &cert, at);
    if args.json {
        emit(&output::json_verdict(&verdict)?);
    } else {
        match &verdict {
            Ok(r) => emit(&format!(
                "ACCEPTED: the owner of {} holds its private key\nverification certificate: {} (code {})\nCA sha-256: {}\n",
                r.ca.subject, r.verification_certificate.subject, r.code, r.ca.sha256
            )),
            Err(f) => emit(&output::rejected(f)),
        }
    }
    Ok(if verdict.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}
