//! MQTT 5 devices (issue #6): the same listener takes MQTT 5 and 3.1.1 devices. Real clients
//! (`mosquitto_pub -V 5`, `mosquitto_sub -V 5`) and a real mosquitto upstream speaking MQTT 5:
//! telemetry arrives with the gateway's identity properties (a device's own `device-id`
//! property cannot replace them), a client ID mismatch gets CONNACK 0x85, a topic outside the
//! namespace is refused, and a persistent session (clean start = false, session expiry above
//! 0) holds a cloud-to-device message while the device is offline.

mod gateway_common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use gateway_common::*;

const DEVICE: &str = "sensor-0002";

/// A broker, a gateway with `upstream.protocol = "5"`, and the PKI.
fn setup(d: &Path) -> (Pki, Broker, Gateway) {
    let pki = Pki::new(d);
    let broker = Broker::start(d);
    let config = write_config(d, broker.port, "");
    edit_config(
        &config,
        "keep_alive_secs = 5\n",
        "keep_alive_secs = 5\nprotocol = \"5\"\n",
    );
    let gw = Gateway::start(&config);
    gw.wait_log("upstream: subscribed to", Duration::from_secs(15));
    (pki, broker, gw)
}

/// `mosquitto_pub -V 5` with `DEVICE`'s certificate, client ID `client_id`, QoS 1 and the
/// extra arguments.
fn publish5(gw: &Gateway, pki: &Pki, client_id: &str, topic: &str, extra: &[&str]) -> Output {
    let mut cmd = Command::new("mosquitto_pub");
    as_device(&mut cmd, gw.port, pki, DEVICE)
        .args([
            "-V", "5", "-i", client_id, "-q", "1", "-d", "-t", topic, "-m", "temp=21",
        ])
        .args(extra);
    run_bounded(cmd, Duration::from_secs(20))
}

#[test]
fn mqtt5_device_telemetry_identity_and_refusals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, broker, gw) = setup(d);
    assert!(reader5(broker.port, &["-E"]).status.success());

    // Telemetry from an MQTT 5 device that claims another device-id in its user properties.
    let out = publish5(
        &gw,
        &pki,
        DEVICE,
        "devices/sensor-0002/messages/events/",
        &[
            "-D",
            "publish",
            "user-property",
            "device-id",
            "sensor-0001",
            "-D",
            "publish",
            "user-property",
            "thumbprint-sha256",
            "00",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let out = reader5(broker.port, &["-F", "%t|%p|%P", "-C", "1", "-W", "20"]);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut parts = line.splitn(3, '|');
    assert_eq!(
        parts.next(),
        Some("devices/sensor-0002/messages/events/"),
        "{line}"
    );
    assert_eq!(parts.next(), Some("temp=21"), "{line}");
    let props: Vec<&str> = parts.next().unwrap_or_default().split(' ').collect();
    let ids: Vec<&&str> = props
        .iter()
        .filter(|p| p.starts_with("device-id:"))
        .collect();
    assert_eq!(ids, [&"device-id:sensor-0002"], "{line}");
    let thumbs: Vec<&&str> = props
        .iter()
        .filter(|p| p.starts_with("thumbprint-sha256:"))
        .collect();
    assert_eq!(thumbs.len(), 1, "{line}");
    assert_ne!(thumbs[0], &"thumbprint-sha256:00", "{line}");

    // Client ID mismatch: CONNACK 0x85 (Client Identifier not valid), audit line.
    let out = publish5(
        &gw,
        &pki,
        "sensor-0001",
        "devices/sensor-0001/messages/events/",
        &[],
    );
    assert!(
        !out.status.success(),
        "client ID mismatch accepted: {out:?}"
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Client identifier not valid") || text.contains("CONNACK (133)"),
        "{text}"
    );
    wait_audit(d, |v| {
        is(v, "device_id", DEVICE) && is(v, "code", "device-id-mismatch")
    });

    // A topic outside the namespace: not acknowledged, DISCONNECT, logged, not forwarded.
    let before = gw.count_log("topic-not-allowed");
    let out = publish5(
        &gw,
        &pki,
        DEVICE,
        "devices/sensor-0001/messages/events/",
        &[],
    );
    assert!(
        !out.status.success(),
        "publish outside the namespace acknowledged: {out:?}"
    );
    // 0x87: not authorized.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Received DISCONNECT (135)"),
        "{out:?}"
    );
    gw.wait_log("topic-not-allowed", Duration::from_secs(5));
    assert_eq!(gw.count_log("topic-not-allowed"), before + 1);
    let out = reader5(broker.port, &["-v", "-W", "3"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");

    // 3.1.1 devices still work on the same listener.
    let out = publish(
        gw.port,
        &pki,
        Some((&pki.chain(DEVICE), &pki.key(DEVICE))),
        DEVICE,
        "devices/sensor-0002/messages/events/",
        "v311",
    );
    assert!(out.status.success(), "{out:?}");
    let out = reader5(broker.port, &["-F", "%p", "-C", "1", "-W", "20"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v311");
}

#[test]
fn mqtt5_persistent_session_holds_cloud_to_device_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, broker, gw) = setup(d);
    // `-c -x 300`: clean start = false, session expiry 300 s.
    let device = |count| c2d_device(gw.port, &pki, DEVICE, &["-V", "5", "-x", "300"], count);
    assert_eq!(device(0), "");
    gw.wait_log("sensor-0002: session ended", Duration::from_secs(10));
    let topic = "devices/sensor-0002/messages/devicebound/cmd";
    cloud_publish(broker.port, topic, "reboot", &["-V", "5"]);
    gw.wait_metric("chainproof_c2d_held", 1.0, Duration::from_secs(10));
    assert_eq!(
        device(1),
        "devices/sensor-0002/messages/devicebound/cmd reboot"
    );
    gw.wait_log("persistent session resumed", Duration::from_secs(5));
}
