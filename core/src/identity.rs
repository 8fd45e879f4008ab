//! Device identity: which name in the leaf is the device ID, and whether it is well formed.

use crate::cert::Cert;
use crate::error::Error;

/// Where the device ID comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum IdentitySource {
    /// The subject's commonName, exact bytes (Azure IoT / AWS IoT convention).
    #[default]
    SubjectCn,
    /// The first subjectAltName URI (e.g. SPIFFE-style `urn:dev:sensor-0001`).
    SanUri,
    /// The first subjectAltName dNSName.
    SanDns,
    /// No device identity: validate the chain only.
    None,
}

impl IdentitySource {
    /// Parse `cn`, `san-uri`, `san-dns` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cn" | "subject-cn" => Some(Self::SubjectCn),
            "san-uri" | "uri" => Some(Self::SanUri),
            "san-dns" | "dns" => Some(Self::SanDns),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Longest device ID accepted; Azure IoT Hub allows 128 characters, AWS IoT thing names 128.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// Extract the device ID from the leaf. Exact bytes: nothing is trimmed, and an ID with control
/// characters, surrounding whitespace or invalid text is an error that says so.
pub fn device_id(leaf: &Cert, source: IdentitySource) -> Result<Option<String>, Error> {
    let (raw, what): (Option<String>, &'static str) = match source {
        IdentitySource::None => return Ok(None),
        IdentitySource::SubjectCn => (leaf.common_name()?, "subject commonName"),
        IdentitySource::SanUri => (leaf.san_uris().into_iter().next(), "subjectAltName URI"),
        IdentitySource::SanDns => (
            leaf.san_dns_names().into_iter().next(),
            "subjectAltName dNSName",
        ),
    };
    let id = raw.ok_or(Error::MissingDeviceId { source: what })?;
    check_device_id(&id)?;
    Ok(Some(id))
}

/// The rules a device ID must follow (shared with the fleet policy).
pub fn check_device_id(id: &str) -> Result<(), Error> {
    let bad = |detail: &'static str| {
        Err(Error::InvalidDeviceId {
            id: id.to_owned(),
            detail,
        })
    };
    if id.is_empty() {
        return bad("is empty");
    }
    if id.len() > MAX_DEVICE_ID_LEN {
        return bad("is longer than 128 bytes");
    }
    if id.ends_with('\n') || id.ends_with('\r') {
        return bad("has a trailing newline");
    }
    if id.contains('\0') {
        return bad("contains a NUL byte");
    }
    if id.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    if id.starts_with(char::is_whitespace) || id.ends_with(char::is_whitespace) {
        return bad("has leading or trailing whitespace");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn device_id_rules_name_the_problem() {
        assert!(check_device_id("sensor-0001").is_ok());
        let e = check_device_id("sensor-0001\n").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidDeviceId);
        assert!(e.to_string().contains("trailing newline"));
        assert!(
            check_device_id("a\0b")
                .unwrap_err()
                .to_string()
                .contains("NUL")
        );
        assert!(
            check_device_id(" x")
                .unwrap_err()
                .to_string()
                .contains("whitespace")
        );
        assert!(check_device_id("").is_err());
    }
}
