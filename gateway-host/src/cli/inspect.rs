//! `chainproof inspect`: a readable dump of every certificate and CRL in PEM or DER files.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use chainproof::cert::Cert;
use chainproof::revocation::{Crl, CrlSummary};
use chainproof::{CertSummary, Error, UnixTime};
use clap::Args;
use serde::Serialize;

use super::output::{self, Detail};
use super::{Outcome, UsageError, emit, files};

/// Arguments of `chainproof inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Files holding certificates or CRLs: PEM (any number of blocks) or DER (one or
    /// concatenated). A PEM file should hold either certificates or CRLs, not both.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Print one JSON object: {"files": [{"file", "certificates", "crls", "errors"}]}.
    #[arg(long)]
    pub json: bool,
}

/// An object in a file that could not be decoded.
#[derive(Serialize, Debug)]
struct ObjectError {
    /// Position in the file, from 0 (absent when the file as a whole could not be split).
    index: Option<usize>,
    code: &'static str,
    message: String,
}

/// Everything found in one file.
#[derive(Serialize, Debug)]
struct FileDump {
    file: String,
    certificates: Vec<CertSummary>,
    crls: Vec<CrlSummary>,
    errors: Vec<ObjectError>,
}

fn object_error(index: Option<usize>, e: &Error) -> ObjectError {
    ObjectError {
        index,
        code: e.code().as_str(),
        message: e.to_string(),
    }
}

/// Split a file into DER objects: as certificates first (PEM certificates, or any DER), then as
/// CRLs (PEM CRLs). The core does the framing; this only picks which kind of bag to ask for.
fn split(bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    match chainproof::parse_certificates(bytes) {
        Ok(objects) => Ok(objects),
        Err(cert_err) => chainproof::parse_crls(bytes).map_err(|_| cert_err),
    }
}

fn dump(path: &Path) -> Result<FileDump, UsageError> {
    let bytes = files::read(path, "certificates or CRLs")?;
    let mut out = FileDump {
        file: path.display().to_string(),
        certificates: Vec::new(),
        crls: Vec::new(),
        errors: Vec::new(),
    };
    let objects = match split(&bytes) {
        Ok(objects) => objects,
        Err(e) => {
            out.errors.push(object_error(None, &e));
            return Ok(out);
        }
    };
    for (index, der) in objects.iter().enumerate() {
        match Cert::from_der(der) {
            Ok(cert) => out.certificates.push(cert.summary(index, false)),
            Err(cert_err) => match Crl::from_der(der) {
                Ok(crl) => out.crls.push(crl.summary()),
                // Neither: report it as the certificate it most likely was meant to be.
                Err(_) => out.errors.push(object_error(Some(index), &cert_err)),
            },
        }
    }
    Ok(out)
}

fn crl_text(c: &CrlSummary) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  CRL issued by {}", c.issuer);
    let _ = writeln!(s, "      {:<11}{}", "thisUpdate", UnixTime(c.this_update));
    let next = c
        .next_update
        .map_or_else(|| "(none)".to_owned(), |t| UnixTime(t).to_string());
    let _ = writeln!(s, "      {:<11}{next}", "nextUpdate");
    let _ = writeln!(
        s,
        "      {:<11}{}",
        "number",
        c.number.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(s, "      {:<11}{} serial(s)", "revoked", c.revoked);
    if let Some(p) = &c.problem {
        let _ = writeln!(s, "      {:<11}{p}", "unusable");
    }
    s
}

fn file_text(d: &FileDump) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} certificate(s), {} CRL(s)",
        d.file,
        d.certificates.len(),
        d.crls.len()
    );
    for c in &d.certificates {
        s.push_str(&output::certificate(c, Detail::Full));
    }
    for c in &d.crls {
        s.push_str(&crl_text(c));
    }
    for e in &d.errors {
        match e.index {
            Some(i) => {
                let _ = writeln!(s, "  [{i}] cannot decode: {} [{}]", e.message, e.code);
            }
            None => {
                let _ = writeln!(s, "  cannot read: {} [{}]", e.message, e.code);
            }
        }
    }
    s
}

/// Run `chainproof inspect`. Every file is shown even when one is broken; the exit status is 2
/// when anything could not be decoded.
pub fn run(args: &InspectArgs) -> Result<Outcome, UsageError> {
    let mut dumps = Vec::new();
    for path in &args.files {
        dumps.push(dump(path)?);
    }
    if args.json {
        #[derive(Serialize)]
        struct All<'a> {
            files: &'a [FileDump],
        }
        let text = serde_json::to_string_pretty(&All { files: &dumps })
            .map_err(|e| UsageError(format!("cannot encode as JSON: {e}")))?;
        emit(&format!("{text}\n"));
    } else {
        let text: Vec<String> = dumps.iter().map(file_text).collect();
        emit(&text.join("\n"));
    }
    let broken: Vec<&str> = dumps
        .iter()
        .filter(|d| !d.errors.is_empty())
        .map(|d| d.file.as_str())
        .collect();
    if broken.is_empty() {
        Ok(Outcome::Ok)
    } else {
        Err(UsageError(format!(
            "could not decode everything in: {}",
            broken.join(", ")
        )))
    }
}
