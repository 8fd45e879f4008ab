//! The challenge a verifier issues and the exact bytes a device signs for it.
//!
//! Blob (all integers big-endian; see `docs/pop.md` for a worked example):
//!
//! ```text
//! offset  size  field
//! 0       18    "chainproof-pop-v1\0"  (ASCII, NUL-terminated: the domain-separation prefix)
//! 18      2     audience length N (u16), 1..=255
//! 20      N     audience, UTF-8
//! 20+N    32    nonce
//! 52+N    8     issued_at, Unix seconds (i64)
//! 60+N    4     ttl, seconds (u32), 1..=3600
//! ```
//!
//! The token is the blob in unpadded base64url, so a device can decode it and sign it as is.

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::error::Error;
use crate::time::UnixTime;

/// The domain-separation prefix every blob starts with. It can never begin a TLS 1.3
/// CertificateVerify input (64 spaces) nor a TLS 1.2 handshake transcript (a handshake type
/// byte 0x01), so a chainproof signature is useless in a TLS handshake and vice versa.
pub const BLOB_PREFIX: &[u8; 18] = b"chainproof-pop-v1\0";

/// Nonce length: 256 bits, so collisions and guesses are out of reach.
pub const NONCE_LEN: usize = 32;

/// Default challenge lifetime: a device on a slow link answers within seconds; a minute leaves
/// room without keeping a stolen challenge useful for long.
pub const DEFAULT_TTL_SECS: u32 = 60;

/// Longest lifetime accepted: replay guards remember nonces this long, so it bounds their memory
/// and the window in which an intercepted answer could be used.
pub const MAX_TTL_SECS: u32 = 3600;

/// Longest audience: a host name or URL fits; the blob stays small for constrained devices.
pub const MAX_AUDIENCE_BYTES: usize = 255;

/// Largest blob: prefix, length, audience, nonce, issue time, lifetime.
pub const MAX_BLOB_LEN: usize = BLOB_PREFIX.len() + 2 + MAX_AUDIENCE_BYTES + NONCE_LEN + 8 + 4;

/// A challenge: a nonce bound to a verifier (the audience), an issue time and a lifetime.
///
/// Construction checks every field, so a `Challenge` always encodes to a valid blob.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Challenge {
    nonce: [u8; NONCE_LEN],
    audience: String,
    issued_at: i64,
    ttl_secs: u32,
}

fn malformed(detail: impl Into<String>) -> Error {
    Error::PopMalformedChallenge {
        detail: detail.into(),
    }
}

impl Challenge {
    /// A challenge from caller-supplied randomness (the core never reads an RNG or a clock).
    ///
    /// Refuses an empty audience, one over [`MAX_AUDIENCE_BYTES`] or holding control characters,
    /// and a lifetime of 0 or over [`MAX_TTL_SECS`] (`pop-malformed-challenge`).
    pub fn new(
        nonce: [u8; NONCE_LEN],
        audience: &str,
        issued_at: UnixTime,
        ttl_secs: u32,
    ) -> Result<Self, Error> {
        check_audience(audience)?;
        if ttl_secs == 0 || ttl_secs > MAX_TTL_SECS {
            return Err(malformed(format!(
                "lifetime {ttl_secs} s is outside 1..={MAX_TTL_SECS} s"
            )));
        }
        Ok(Challenge {
            nonce,
            audience: audience.to_owned(),
            issued_at: issued_at.0,
            ttl_secs,
        })
    }

    /// The nonce.
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }
    /// The verifier this challenge is for.
    pub fn audience(&self) -> &str {
        &self.audience
    }
    /// Issue time, Unix seconds.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }
    /// Lifetime in seconds.
    pub fn ttl_secs(&self) -> u32 {
        self.ttl_secs
    }
    /// First instant at which the challenge is expired (`issued_at + ttl`), saturating.
    pub fn expires_at(&self) -> i64 {
        self.issued_at.saturating_add(i64::from(self.ttl_secs))
    }

    /// Whether the challenge may be answered at `time`: `issued_at <= time < expires_at`.
    pub fn check_time(&self, time: UnixTime) -> Result<(), Error> {
        if time.0 < self.issued_at {
            return Err(Error::PopNotYetValid {
                issued_at: self.issued_at,
                time: time.0,
            });
        }
        if time.0 >= self.expires_at() {
            return Err(Error::PopExpired {
                issued_at: self.issued_at,
                expires_at: self.expires_at(),
                time: time.0,
            });
        }
        Ok(())
    }

    /// The exact bytes the device signs (the format in the module documentation).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let aud = self.audience.as_bytes();
        let mut out = Vec::with_capacity(BLOB_PREFIX.len() + 2 + aud.len() + NONCE_LEN + 12);
        out.extend_from_slice(BLOB_PREFIX);
        // `new` and `from_signed_bytes` keep the audience at most 255 bytes.
        let len = u16::try_from(aud.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(aud);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(&self.ttl_secs.to_be_bytes());
        out
    }

    /// Decode a blob. Strict: the prefix, every length and every field are checked, and no
    /// trailing byte is allowed.
    pub fn from_signed_bytes(blob: &[u8]) -> Result<Self, Error> {
        if blob.len() > MAX_BLOB_LEN {
            return Err(malformed(format!(
                "{} bytes; a challenge is at most {MAX_BLOB_LEN}",
                blob.len()
            )));
        }
        let mut r = Reader(blob);
        if r.take(BLOB_PREFIX.len())? != BLOB_PREFIX {
            return Err(malformed(
                "it does not start with the chainproof-pop-v1 prefix",
            ));
        }
        let len = u16::from_be_bytes(r.array()?);
        let aud = r.take(usize::from(len))?;
        let audience = core::str::from_utf8(aud)
            .map_err(|_| malformed("the audience is not UTF-8"))?
            .to_owned();
        let nonce: [u8; NONCE_LEN] = r.array()?;
        let issued_at = i64::from_be_bytes(r.array()?);
        let ttl = u32::from_be_bytes(r.array()?);
        if !r.0.is_empty() {
            return Err(malformed(format!("{} trailing byte(s)", r.0.len())));
        }
        Challenge::new(nonce, &audience, UnixTime(issued_at), ttl)
    }

    /// The compact text form: the blob in unpadded base64url (RFC 4648 section 5).
    pub fn to_token(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.signed_bytes())
    }

    /// Decode a token made by [`Challenge::to_token`]. Surrounding whitespace is ignored.
    pub fn from_token(token: &str) -> Result<Self, Error> {
        let token = token.trim();
        // Bound the work before decoding: 4 characters per 3 bytes.
        if token.len() > MAX_BLOB_LEN.div_ceil(3) * 4 {
            return Err(malformed("the token is longer than any challenge"));
        }
        let blob = Base64UrlUnpadded::decode_vec(token)
            .map_err(|_| malformed("the token is not unpadded base64url"))?;
        Self::from_signed_bytes(&blob)
    }
}

fn check_audience(audience: &str) -> Result<(), Error> {
    if audience.is_empty() {
        return Err(malformed("the audience is empty"));
    }
    if audience.len() > MAX_AUDIENCE_BYTES {
        return Err(malformed(format!(
            "the audience is {} bytes; at most {MAX_AUDIENCE_BYTES}",
            audience.len()
        )));
    }
    if audience.chars().any(char::is_control) {
        return Err(malformed("the audience contains control characters"));
    }
    Ok(())
}

/// A cursor over the blob that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(malformed("it is truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| malformed("it is truncated"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn sample() -> Challenge {
        Challenge::new([7; 32], "gw.example", UnixTime(1_700_000_000), 60).unwrap()
    }

    #[test]
    fn blob_layout_and_round_trip() {
        let c = sample();
        let blob = c.signed_bytes();
        assert_eq!(blob.len(), 18 + 2 + 10 + 32 + 8 + 4);
        assert_eq!(&blob[..18], b"chainproof-pop-v1\0");
        assert_eq!(&blob[18..20], &[0, 10]);
        assert_eq!(&blob[20..30], b"gw.example");
        assert_eq!(Challenge::from_signed_bytes(&blob).unwrap(), c);
        assert_eq!(Challenge::from_token(&c.to_token()).unwrap(), c);
    }

    #[test]
    fn damaged_blobs_are_refused() {
        let blob = sample().signed_bytes();
        for bad in [
            &blob[..blob.len() - 1],
            &[blob.as_slice(), &[0]].concat()[..],
            &blob[1..],
            b"",
        ] {
            assert_eq!(
                Challenge::from_signed_bytes(bad).unwrap_err().code(),
                ErrorCode::PopMalformedChallenge
            );
        }
        assert!(Challenge::from_token("not base64!").is_err());
        assert!(Challenge::new([0; 32], "", UnixTime(0), 60).is_err());
        assert!(Challenge::new([0; 32], "a\nb", UnixTime(0), 60).is_err());
        assert!(Challenge::new([0; 32], "a", UnixTime(0), 0).is_err());
        assert!(Challenge::new([0; 32], "a", UnixTime(0), MAX_TTL_SECS + 1).is_err());
    }

    #[test]
    fn lifetime_is_half_open() {
        let c = sample();
        assert!(c.check_time(UnixTime(1_700_000_000)).is_ok());
        assert!(c.check_time(UnixTime(1_700_000_059)).is_ok());
        assert_eq!(
            c.check_time(UnixTime(1_700_000_060)).unwrap_err().code(),
            ErrorCode::PopExpired
        );
        assert_eq!(
            c.check_time(UnixTime(1_699_999_999)).unwrap_err().code(),
            ErrorCode::PopNotYetValid
        );
    }
}
