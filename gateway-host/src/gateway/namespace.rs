//! A device's MQTT namespace: what its CONNECT may claim and where it may publish and
//! subscribe. Follows Azure IoT Hub's device topics, so its SDKs work unchanged:
//! telemetry on `devices/{id}/messages/events/...`, cloud-to-device messages on
//! `devices/{id}/messages/devicebound/#`.

/// Why a CONNECT's client ID or user name does not belong to the certificate's device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMismatch {
    /// What the CONNECT claimed.
    pub claimed: String,
    /// Which field claimed it.
    pub by: Claim,
}

/// The CONNECT field that names a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The client ID.
    ClientId,
    /// An Azure-style user name.
    UserName,
}

/// Check a CONNECT against the device ID from the certificate: the client ID must equal it,
/// and an Azure-style user name (`{hub}/{deviceId}/?api-version=...`) must name it too.
pub fn check_connect(
    device_id: &str,
    client_id: &str,
    username: Option<&str>,
) -> Result<(), ClaimMismatch> {
    if client_id != device_id {
        return Err(ClaimMismatch {
            claimed: client_id.to_owned(),
            by: Claim::ClientId,
        });
    }
    if let Some(user) = username.filter(|u| u.contains('/')) {
        let named = user.split('/').nth(1).unwrap_or_default();
        if named != device_id {
            return Err(ClaimMismatch {
                claimed: named.to_owned(),
                by: Claim::UserName,
            });
        }
    }
    Ok(())
}

/// The device's own topic prefix, `devices/{id}/`.
pub fn prefix(device_id: &str) -> String {
    format!("devices/{device_id}/")
}

/// Cloud-to-device topics of a device: `devices/{id}/messages/devicebound/`.
pub fn c2d_prefix(device_id: &str) -> String {
    format!("devices/{device_id}/messages/devicebound/")
}

/// Whether the device may publish on `topic`: under its own prefix, no wildcards, and not on
/// its cloud-to-device topics (only the cloud writes there).
pub fn may_publish(device_id: &str, topic: &str) -> bool {
    !topic.contains(['+', '#', '\0'])
        && topic.starts_with(&prefix(device_id))
        && !topic.starts_with(&c2d_prefix(device_id))
}

/// Whether the device may subscribe to `filter`: only its cloud-to-device topics (a filter
/// whose wildcards stay inside `devices/{id}/messages/devicebound/`).
pub fn may_subscribe(device_id: &str, filter: &str) -> bool {
    let base = c2d_prefix(device_id);
    let Some(rest) = filter.strip_prefix(&base) else {
        return false;
    };
    // Wildcards only in the part after the prefix, and `#` only as the last level.
    let levels: Vec<&str> = rest.split('/').collect();
    let last = levels.len().saturating_sub(1);
    levels.iter().enumerate().all(|(i, l)| {
        !l.contains('\0') && (*l == "+" || (*l == "#" && i == last) || !l.contains(['+', '#']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_claims() {
        assert!(check_connect("s1", "s1", None).is_ok());
        assert!(check_connect("s1", "s1", Some("hub.example/s1/?api-version=2021-04-12")).is_ok());
        assert!(check_connect("s1", "s1", Some("plain-user")).is_ok());
        assert_eq!(
            check_connect("s1", "s2", None),
            Err(ClaimMismatch {
                claimed: "s2".into(),
                by: Claim::ClientId,
            })
        );
        assert_eq!(
            check_connect("s1", "s1", Some("hub/s2/?api-version=x")),
            Err(ClaimMismatch {
                claimed: "s2".into(),
                by: Claim::UserName,
            })
        );
    }

    #[test]
    fn publish_namespace() {
        assert!(may_publish("s1", "devices/s1/messages/events/"));
        assert!(may_publish("s1", "devices/s1/messages/events/a=b"));
        assert!(may_publish("s1", "devices/s1/telemetry"));
        assert!(!may_publish("s1", "devices/s2/messages/events/"));
        assert!(!may_publish("s1", "devices/s10/x"));
        assert!(!may_publish("s1", "devices/s1"));
        assert!(!may_publish("s1", "devices/s1/+"));
        assert!(!may_publish("s1", "devices/s1/messages/devicebound/x"));
        assert!(!may_publish("s1", "$SYS/x"));
    }

    #[test]
    fn subscribe_namespace() {
        assert!(may_subscribe("s1", "devices/s1/messages/devicebound/#"));
        assert!(may_subscribe("s1", "devices/s1/messages/devicebound/+/x"));
        assert!(!may_subscribe("s1", "devices/s2/messages/devicebound/#"));
        assert!(!may_subscribe("s1", "devices/+/messages/devicebound/#"));
        assert!(!may_subscribe("s1", "#"));
        assert!(!may_subscribe("s1", "devices/s1/messages/devicebound/#/x"));
        assert!(!may_subscribe("s1", "devices/s1/messages/events/#"));
    }
}
