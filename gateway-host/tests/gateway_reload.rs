//! Reload: a connected device receives cloud-to-device messages; when a new CRL revoking it
//! is written, the gateway reloads and disconnects the live session at once.

mod gateway_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use chainproof_testkit::CrlSpec;
use gateway_common::*;

#[test]
fn cloud_to_device_then_a_new_crl_disconnects_the_live_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let broker = Broker::start(d);
    let gw = Gateway::start(&write_config(d, broker.port, ""));
    gw.wait_log("upstream: connected", Duration::from_secs(15));
    // The device stays connected, subscribed to its cloud-to-device topic.
    let mut device = as_device(
        &mut Command::new("mosquitto_sub"),
        gw.port,
        &pki,
        "sensor-0002",
    )
    .args([
        "-q",
        "1",
        "-t",
        "devices/sensor-0002/messages/devicebound/#",
        "-v",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("mosquitto_sub as a device");
    let stdout = device.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    gw.wait_log("accepted sensor-0002", Duration::from_secs(10));
    // The cloud sends it a message through the upstream broker (retried: the subscription
    // reaches the device a moment after it connects).
    let mut got = None;
    for _ in 0..20 {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1"])
            .args([
                "-t",
                "devices/sensor-0002/messages/devicebound/cmd",
                "-m",
                "reboot",
            ]);
        run_bounded(cmd, Duration::from_secs(5));
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            got = Some(l);
            break;
        }
    }
    assert_eq!(
        got.as_deref(),
        Some("devices/sensor-0002/messages/devicebound/cmd reboot")
    );

    // A new CRL that also revokes sensor-0002: the file change reloads the trust.
    let t = now();
    let dev = pki
        .demo
        .devices
        .iter()
        .find(|f| f.name == "sensor-0002")
        .expect("sensor-0002");
    let revoked = pki
        .demo
        .devices
        .iter()
        .find(|f| f.name == "sensor-0003")
        .expect("sensor-0003");
    let crl = CrlSpec::new(t - 60, t + 86_400)
        .revoke(&revoked.leaf, t - 120)
        .revoke(&dev.leaf, t - 30)
        .sign(&pki.demo.manufacturing_ca);
    std::fs::write(d.join("crl.pem"), crl.pem()).expect("new CRL");
    gw.wait_log("reloaded", Duration::from_secs(10));
    gw.wait_log(
        "disconnected by the gateway: revoked",
        Duration::from_secs(10),
    );
    let _ = device.kill();
    let _ = device.wait();
    let metrics = gw.http_get("/metrics");
    assert!(
        metrics.contains("chainproof_sessions_revoked_total 1"),
        "{metrics}"
    );
}
