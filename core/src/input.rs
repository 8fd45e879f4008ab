//! Reading certificate and CRL bags: PEM (one or many blocks) or DER (one or concatenated).
//!
//! Only framing happens here (PEM armour, DER TLV boundaries through `der`); the contents are
//! decoded by `cert` and `revocation`. Limits are enforced before any decoding work.

use crate::error::Error;

/// Largest input file accepted. A device chain is a few KiB; a CRL for a large fleet can reach a
/// few MiB (100,000 entries at ~40 bytes each), so 16 MiB leaves room without letting a hostile
/// input exhaust memory.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Largest single certificate. Real certificates are under 4 KiB; public web chains under 8 KiB.
pub const MAX_CERT_BYTES: usize = 64 * 1024;

/// Most certificates in one bag. limbo's denial-of-service cases use up to 100; a device sends 1-4.
pub const MAX_CERTS: usize = 256;

/// Errors from reading input. Alias of the core error: input problems have their own codes.
pub type InputError = Error;

/// What kind of object a bag should hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Certificate,
    Crl,
}

impl Kind {
    fn labels(self) -> &'static [&'static str] {
        match self {
            Kind::Certificate => &["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"],
            Kind::Crl => &["X509 CRL"],
        }
    }
}

/// Split PEM or DER input into DER certificates, in input order.
///
/// Refuses private keys (`private-key-in-input`), oversize input (`input-too-large`), blocks of
/// other types and input holding no certificate (`no-certificate`).
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    split(input, Kind::Certificate)
}

/// Split PEM or DER input into DER CRLs, in input order.
pub fn parse_crls(input: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    split(input, Kind::Crl)
}

fn split(input: &[u8], kind: Kind) -> Result<Vec<Vec<u8>>, Error> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(Error::InputTooLarge {
            what: "input bytes",
            limit: MAX_INPUT_BYTES,
        });
    }
    let trimmed = trim_ascii_start(input);
    let out = if trimmed.first() == Some(&0x30) {
        split_der(trimmed)?
    } else {
        split_pem(input, kind)?
    };
    if out.is_empty() {
        return Err(match kind {
            Kind::Certificate => Error::NoCertificate,
            Kind::Crl => Error::MalformedCrl {
                detail: "no CRL found in the input".into(),
            },
        });
    }
    Ok(out)
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// Concatenated DER objects: split at TLV boundaries with `der`'s header reader.
fn split_der(mut input: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let total = der_object_len(input).map_err(|e| Error::MalformedInput {
            detail: format!("bad DER framing: {e}"),
        })?;
        let object = input.get(..total).ok_or_else(|| Error::MalformedInput {
            detail: "DER object is truncated".into(),
        })?;
        push_limited(&mut out, object.to_vec())?;
        input = &input[total..];
        // Trailing whitespace or NULs after the last object are a common artefact of transfers.
        if input.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
            break;
        }
    }
    Ok(out)
}

/// Length of the first TLV in `input` (header plus body), read with `der`.
fn der_object_len(input: &[u8]) -> der::Result<usize> {
    use der::{Decode, Reader, SliceReader};
    let mut r = SliceReader::new(input)?;
    let header = der::Header::decode(&mut r)?;
    let total = (r.position() + header.length())?;
    usize::try_from(total)
}

fn push_limited(out: &mut Vec<Vec<u8>>, der: Vec<u8>) -> Result<(), Error> {
    if out.len() >= MAX_CERTS {
        return Err(Error::InputTooLarge {
            what: "objects in one input",
            limit: MAX_CERTS,
        });
    }
    out.push(der);
    Ok(())
}

/// PEM: every `-----BEGIN X-----` ... `-----END X-----` block; text between blocks is ignored
/// (OpenSSL writes `subject=` lines there). Each block is decoded by `pem-rfc7468`.
fn split_pem(input: &[u8], kind: Kind) -> Result<Vec<Vec<u8>>, Error> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = input;
    let mut saw_block = false;
    while let Some(start) = find(rest, BEGIN) {
        saw_block = true;
        let block = &rest[start..];
        let label_end =
            find(&block[BEGIN.len()..], b"-----").ok_or_else(|| Error::MalformedInput {
                detail: "unterminated PEM header".into(),
            })?;
        let label =
            String::from_utf8_lossy(&block[BEGIN.len()..BEGIN.len() + label_end]).into_owned();
        if label.contains("PRIVATE KEY") {
            return Err(Error::PrivateKeyInInput { label });
        }
        let end_marker = format!("-----END {label}-----");
        let end = find(block, end_marker.as_bytes()).ok_or_else(|| Error::MalformedInput {
            detail: format!("PEM block {label} has no END line"),
        })? + end_marker.len();
        let pem = &block[..end];
        if !kind.labels().contains(&label.as_str()) {
            return Err(Error::MalformedInput {
                detail: format!(
                    "unexpected PEM block \"{label}\" (expected {})",
                    kind.labels()[0]
                ),
            });
        }
        let (_, der) = der::pem::decode_vec(pem).map_err(|e| Error::MalformedInput {
            detail: format!("PEM block {label}: {e}"),
        })?;
        push_limited(&mut out, der)?;
        rest = &block[end..];
    }
    if !saw_block && !input.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::MalformedInput {
            detail: "no PEM block and not DER".into(),
        });
    }
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn refuses_private_keys_and_garbage() {
        let pem = b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            parse_certificates(pem).unwrap_err().code(),
            ErrorCode::PrivateKeyInInput
        );
        let pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            parse_certificates(pem).unwrap_err().code(),
            ErrorCode::PrivateKeyInInput
        );
        assert_eq!(
            parse_certificates(b"hello").unwrap_err().code(),
            ErrorCode::MalformedInput
        );
        assert_eq!(
            parse_certificates(b"").unwrap_err().code(),
            ErrorCode::NoCertificate
        );
        assert_eq!(
            parse_certificates(&[0x30, 0x82, 0xff]).unwrap_err().code(),
            ErrorCode::MalformedInput
        );
        assert_eq!(
            parse_certificates(&[0x30, 0x05, 0x01]).unwrap_err().code(),
            ErrorCode::MalformedInput
        );
    }

    #[test]
    fn splits_concatenated_der_and_pem() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x01, 0x30, 0x00];
        let v = parse_certificates(&der).unwrap();
        assert_eq!(
            v,
            vec![vec![0x30, 0x03, 0x02, 0x01, 0x01], vec![0x30, 0x00]]
        );
        let pem = "subject=CN=x\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
        let v = parse_certificates(pem.as_bytes()).unwrap();
        assert_eq!(
            v,
            vec![vec![0x30, 0x00], vec![0x30, 0x03, 0x02, 0x01, 0x01]]
        );
        let crl = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse_crls(crl.as_bytes()).unwrap_err().code(),
            ErrorCode::MalformedInput
        );
    }
}
