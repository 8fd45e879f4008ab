//! `chainproof gateway` against real parts: mosquitto upstream, mosquitto_pub devices,
//! mosquitto_sub reading back, the validator component deciding.

mod gateway_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use gateway_common::*;

#[test]
fn accepted_device_telemetry_arrives_upstream_and_rejections_are_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let broker = Broker::start(d);
    create_reader(broker.port, "reader", "devices/#");
    let gw = Gateway::start(&write_config(d, broker.port, ""));
    gw.wait_log("upstream: connected", Duration::from_secs(15));

    // A valid device, QoS 1, Azure's telemetry topic.
    let ok = publish(
        gw.port,
        &pki,
        Some((&pki.chain("sensor-0001"), &pki.key("sensor-0001"))),
        "sensor-0001",
        "devices/sensor-0001/messages/events/",
        "temp=21.5",
    );
    assert!(ok.status.success(), "valid device refused: {ok:?}");
    let got = read_persistent(broker.port, "reader", "devices/#", 1, 15);
    assert_eq!(
        got,
        vec!["devices/sensor-0001/messages/events/ temp=21.5".to_owned()]
    );
    let line = wait_audit(d, |v| is(v, "verdict", "accepted"));
    assert!(is(&line, "device_id", "sensor-0001"));
    assert!(
        line.get("thumbprint")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.len() == 64)
    );

    // Refused by the validator, with the core's codes in the audit log.
    for (name, code) in [
        ("sensor-0003", "revoked"),
        ("sensor-0004", "expired"),
        ("sensor-0005", "unknown-issuer"),
    ] {
        let out = publish(
            gw.port,
            &pki,
            Some((&pki.chain(name), &pki.key(name))),
            name,
            &format!("devices/{name}/messages/events/"),
            "x",
        );
        assert!(!out.status.success(), "{name} was accepted");
        wait_audit(d, |v| is(v, "device_id", name) && is(v, "code", code));
    }
    // A chain to a root the gateway does not trust.
    let stranger = d.join("stranger");
    let out = publish(
        gw.port,
        &pki,
        Some((&stranger.join("chain.pem"), &stranger.join("leaf.key"))),
        "sensor-0001",
        "devices/sensor-0001/messages/events/",
        "x",
    );
    assert!(!out.status.success(), "untrusted chain accepted");
    wait_audit(d, |v| {
        is(v, "code", "unknown-issuer")
            && v.get("issuer")
                .and_then(|i| i.as_str())
                .is_some_and(|i| i.contains("Other Root"))
    });
    // No certificate at all.
    let out = publish(
        gw.port,
        &pki,
        None,
        "sensor-0001",
        "devices/sensor-0001/x",
        "x",
    );
    assert!(!out.status.success(), "no certificate accepted");
    wait_audit(d, |v| is(v, "code", "no-certificate"));
    // A valid certificate, but the client ID names another device.
    let out = publish(
        gw.port,
        &pki,
        Some((&pki.chain("sensor-0002"), &pki.key("sensor-0002"))),
        "sensor-0001",
        "devices/sensor-0001/messages/events/",
        "x",
    );
    assert!(!out.status.success(), "client ID mismatch accepted");
    wait_audit(d, |v| {
        is(v, "device_id", "sensor-0002") && is(v, "code", "device-id-mismatch")
    });
    // A valid device publishing outside its namespace is disconnected, nothing forwarded.
    let out = publish(
        gw.port,
        &pki,
        Some((&pki.chain("sensor-0002"), &pki.key("sensor-0002"))),
        "sensor-0002",
        "devices/sensor-0001/messages/events/",
        "spoof",
    );
    assert!(
        !out.status.success(),
        "publish outside the namespace acknowledged: {out:?}"
    );
    gw.wait_log("topic-not-allowed", Duration::from_secs(5));
    // Garbage instead of TLS: closed, the gateway keeps serving.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x10\x20garbage")
        .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    gw.wait_log("TLS handshake failed", Duration::from_secs(5));
    // A handshake that stalls is cut after the handshake timeout (2 s here).
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let n = s.read(&mut [0u8; 16]).unwrap_or(0);
    assert_eq!(n, 0, "a stalled peer got bytes");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stalled handshake held {:?}",
        started.elapsed()
    );
    gw.wait_log("handshake timeout", Duration::from_secs(5));

    // The valid device still works, and only its message ever reached upstream.
    let ok = publish(
        gw.port,
        &pki,
        Some((&pki.chain("sensor-0002"), &pki.key("sensor-0002"))),
        "sensor-0002",
        "devices/sensor-0002/messages/events/",
        "second",
    );
    assert!(ok.status.success(), "{ok:?}");
    let got = read_persistent(broker.port, "reader", "devices/#", 1, 15);
    assert_eq!(
        got,
        vec!["devices/sensor-0002/messages/events/ second".to_owned()]
    );

    // The audit log's chain holds, and a tampered copy is caught.
    let verify = Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .args(["audit", "verify"])
        .arg(d.join("audit.jsonl"))
        .output()
        .expect("audit verify");
    assert!(verify.status.success(), "{verify:?}");
    let text = std::fs::read_to_string(d.join("audit.jsonl")).expect("audit");
    std::fs::write(
        d.join("tampered.jsonl"),
        text.replacen("revoked", "accepted", 1),
    )
    .expect("write");
    let verify = Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .args(["audit", "verify"])
        .arg(d.join("tampered.jsonl"))
        .output()
        .expect("audit verify");
    assert_eq!(verify.status.code(), Some(1), "{verify:?}");

    let metrics = gw.http_get("/metrics");
    assert!(
        metrics
            .contains("chainproof_authentications_total{verdict=\"rejected\",code=\"revoked\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chainproof_upstream_connected 1"),
        "{metrics}"
    );
    assert!(gw.http_get("/healthz").contains("ok"));
}
