//! MQTT 5 upstream (issue #6): with `upstream.protocol = "5"` every forwarded PUBLISH carries
//! the device's identity as user properties, read back by an MQTT 5 `mosquitto_sub`, and
//! cloud-to-device messages still reach the device. The expected thumbprint comes from the
//! OpenSSL CLI, not from chainproof.

mod gateway_common;

use std::process::Command;
use std::time::Duration;

use gateway_common::*;

/// SHA-256 of the first certificate in `pem` as `openssl x509 -fingerprint` prints it, without
/// the colons.
fn openssl_sha256(pem: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .trim()
        .split_once('=')
        .map(|(_, h)| h.replace(':', ""))
        .expect("Fingerprint=...");
    assert_eq!(hex.len(), 64, "{text}");
    hex
}

#[test]
fn mqtt5_upstream_carries_the_device_identity_as_user_properties() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let broker = Broker::start(d);
    let config = write_config(d, broker.port, "");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replacen(
        "keep_alive_secs = 5\n",
        "keep_alive_secs = 5\nprotocol = \"5\"\n",
        1,
    );
    assert!(text.contains("protocol = \"5\""), "{text}");
    std::fs::write(&config, text).expect("config");
    let gw = Gateway::start(&config);
    gw.wait_log("upstream: subscribed to", Duration::from_secs(15));

    // An MQTT 5 reader upstream, printing topic, payload and user properties.
    let reader = |extra: &[&str]| reader5(broker.port, extra);
    assert!(reader(&["-E"]).status.success());

    let name = "sensor-0002";
    let out = publish(
        gw.port,
        &pki,
        Some((&pki.chain(name), &pki.key(name))),
        name,
        "devices/sensor-0002/messages/events/",
        "temp=20.5",
    );
    assert!(out.status.success(), "{out:?}");
    let out = reader(&["-F", "%t|%p|%P", "-C", "1", "-W", "20"]);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut parts = line.splitn(3, '|');
    assert_eq!(parts.next(), Some("devices/sensor-0002/messages/events/"));
    assert_eq!(parts.next(), Some("temp=20.5"));
    let props: Vec<String> = parts
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(str::to_owned)
        .collect();
    let thumbprint = openssl_sha256(&pki.chain(name));
    assert_eq!(
        props,
        vec![
            "device-id:sensor-0002".to_owned(),
            format!("thumbprint-sha256:{thumbprint}")
        ],
        "no enrollment property without a fleet policy"
    );

    // Cloud-to-device over MQTT 5: the device subscribes (persistent session) and disconnects,
    // the cloud sends, the device reconnects and receives it.
    let device = |count| c2d_device(gw.port, &pki, name, &[], count);
    assert_eq!(device(0), "");
    gw.wait_log("sensor-0002: session ended", Duration::from_secs(10));
    let topic = "devices/sensor-0002/messages/devicebound/cmd";
    cloud_publish(broker.port, topic, "reboot", &["-V", "5"]);
    assert_eq!(
        device(1),
        "devices/sensor-0002/messages/devicebound/cmd reboot"
    );
}
