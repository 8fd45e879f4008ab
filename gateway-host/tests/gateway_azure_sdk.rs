//! An unmodified Azure IoT device SDK (Python `azure-iot-device`, installed by `cargo xtask
//! setup` into target/py-venv) uses the gateway as a transparent gateway: X.509 authentication
//! in the handshake, Azure's user name and telemetry topic, telemetry arriving upstream.
//! The SDK always connects to port 8883, so this test binary holds 127.0.0.1:8883 alone.

mod gateway_common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gateway_common::*;

const SCRIPT: &str = r#"
import sys
from azure.iot.device import IoTHubDeviceClient, X509, Message
cert, key, ca, device_id = sys.argv[1:5]
x509 = X509(cert_file=cert, key_file=key)
client = IoTHubDeviceClient.create_from_x509_certificate(
    x509, hostname="demo-hub.azure-devices.net", device_id=device_id,
    server_verification_cert=open(ca).read(), gateway_hostname="127.0.0.1",
    connection_retry=False)
client.connect()
m = Message("from-azure-sdk")
m.custom_properties["kind"] = "telemetry"
client.send_message(m)
client.shutdown()
print("sent")
"#;

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/py-venv/bin/python")
}

#[test]
fn azure_iot_device_sdk_telemetry_arrives_upstream() {
    let py = python();
    assert!(
        py.is_file(),
        "{} is missing: run `cargo xtask setup` (it makes the venv with azure-iot-device)",
        py.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let broker = Broker::start(d);
    create_reader(broker.port, "reader", "devices/#");
    let config = write_config(d, broker.port, "");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("127.0.0.1:0\"\ncert", "127.0.0.1:8883\"\ncert");
    std::fs::write(&config, text).expect("config");
    let gw = Gateway::start(&config);
    assert_eq!(gw.port, 8883);
    gw.wait_log("upstream: connected", Duration::from_secs(15));
    std::fs::write(d.join("send.py"), SCRIPT).expect("script");

    let mut cmd = Command::new(&py);
    cmd.arg(d.join("send.py"))
        .arg(pki.chain("sensor-0001"))
        .arg(pki.key("sensor-0001"))
        .arg(d.join("server-ca.pem"))
        .arg("sensor-0001");
    let out = run_bounded(cmd, Duration::from_secs(60));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("sent"),
        "SDK failed: {}\ngateway: {:?}",
        String::from_utf8_lossy(&out.stderr),
        gw.log.lock().expect("log")
    );
    let got = read_persistent(broker.port, "reader", "devices/#", 1, 15);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("devices/sensor-0001/messages/events/")
            && got[0].ends_with(" from-azure-sdk"),
        "{got:?}"
    );
    assert!(
        got[0].contains("kind=telemetry"),
        "properties travel in the topic: {got:?}"
    );

    // The SDK with a revoked device is refused in the handshake.
    let mut cmd = Command::new(&py);
    cmd.arg(d.join("send.py"))
        .arg(pki.chain("sensor-0003"))
        .arg(pki.key("sensor-0003"))
        .arg(d.join("server-ca.pem"))
        .arg("sensor-0003");
    let out = run_bounded(cmd, Duration::from_secs(60));
    assert!(!out.status.success(), "revoked device sent through the SDK");
    gw.wait_log("rejected sensor-0003", Duration::from_secs(5));
}
