//! Reading the files named on the command line. Every error names the file, so that a
//! technician with five PEM files open knows which one is wrong.

use std::path::Path;

use chainproof::Error;

use super::UsageError;

/// Read a whole file; the error names the file and what it was meant to hold.
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| {
        UsageError(format!(
            "{}: cannot read {what}: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

/// A core input error (framing, private key, limits), as one line naming the file.
pub fn input_error(path: &Path, e: &Error) -> UsageError {
    UsageError(format!(
        "{}: {e} [{}]. {}",
        path.display(),
        e.code(),
        e.hint()
    ))
}

/// Read a file of certificates (PEM or DER, one or many) and split it into DER blobs.
pub fn certificates(path: &Path, what: &str) -> Result<Vec<Vec<u8>>, UsageError> {
    let bytes = read(path, what)?;
    chainproof::parse_certificates(&bytes).map_err(|e| input_error(path, &e))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}
