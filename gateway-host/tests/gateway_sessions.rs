//! Persistent sessions (issue #6): a device that connects with clean session = false keeps its
//! subscription while offline; cloud-to-device messages published upstream meanwhile are held
//! (bounded, oldest dropped), survive a gateway restart, and arrive when it reconnects. A clean
//! session discards them. Real parts: mosquitto upstream, mosquitto_sub as the device.

mod gateway_common;

use std::process::Command;
use std::time::{Duration, Instant};

use gateway_common::*;

const DEVICE: &str = "sensor-0001";
const C2D_FILTER: &str = "devices/sensor-0001/messages/devicebound/#";
const C2D_TOPIC: &str = "devices/sensor-0001/messages/devicebound/cmd";

/// `mosquitto_sub` as the device on its cloud-to-device topics: `persistent` is `-c` (clean
/// session = false). Reads up to `count` messages (`topic payload` lines) for at most
/// `secs` seconds; `count` 0 subscribes and disconnects at once (`-E`).
fn device(gw: &Gateway, pki: &Pki, persistent: bool, count: usize, secs: u64) -> Vec<String> {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-h", "127.0.0.1", "-p", &gw.port.to_string()])
        .arg("--cafile")
        .arg(pki.dir.join("server-ca.pem"))
        .arg("--cert")
        .arg(pki.chain(DEVICE))
        .arg("--key")
        .arg(pki.key(DEVICE))
        .args(["-i", DEVICE, "-q", "1", "-t", C2D_FILTER, "-v"]);
    if persistent {
        cmd.arg("-c");
    }
    if count == 0 {
        cmd.arg("-E");
    } else {
        cmd.args(["-C", &count.to_string(), "-W", &secs.to_string()]);
    }
    let out = run_bounded(cmd, Duration::from_secs(secs + 10));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The cloud sends a QoS 1 message to the device through the upstream broker.
fn cloud_sends(broker: u16, payload: &str) {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &broker.to_string(), "-q", "1"])
        .args(["-t", C2D_TOPIC, "-m", payload]);
    let out = run_bounded(cmd, Duration::from_secs(10));
    assert!(out.status.success(), "mosquitto_pub upstream: {out:?}");
}

/// An unlabelled sample from `/metrics`.
fn sample(gw: &Gateway, name: &str) -> Option<u64> {
    gw.http_get("/metrics").lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Wait until `pred` holds for the sample `name` (at most 15 s).
fn wait_sample(gw: &Gateway, name: &str, pred: impl Fn(u64) -> bool) -> u64 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Some(v) = sample(gw, name).filter(|v| pred(*v)) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name}: {:?}", gw.http_get("/metrics"));
}

/// How many of the gateway's log lines contain `needle`.
fn count_lines(gw: &Gateway, needle: &str) -> usize {
    let log = gw.log.lock().expect("log");
    log.iter().filter(|l| l.contains(needle)).count()
}

/// Wait until the device's connection number `n` (counting from 1) has ended at the gateway.
fn wait_offline(gw: &Gateway, n: usize) {
    let needle = format!("{DEVICE}: session ended");
    let start = Instant::now();
    while count_lines(gw, &needle) < n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "connection {n} of {DEVICE} did not end: {:?}",
            gw.log.lock().expect("log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn persistent_session_holds_cloud_to_device_messages_for_an_offline_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let broker = Broker::start(d);
    // At most 3 held for the device, so the bound is reached quickly.
    let config = write_config(d, broker.port, "\n[sessions]\nmax_held_per_device = 3\n");
    let mut gw = Gateway::start(&config);
    gw.wait_log("upstream: subscribed to", Duration::from_secs(15));

    // The device subscribes with clean session = false and goes away.
    assert!(device(&gw, &pki, true, 0, 5).is_empty());
    wait_offline(&gw, 1);

    // The cloud sends four while it is offline: the oldest is dropped at the bound of 3.
    for m in ["m0", "m1", "m2", "m3"] {
        cloud_sends(broker.port, m);
    }
    wait_sample(&gw, "chainproof_c2d_dropped_total", |v| v == 1);
    assert_eq!(sample(&gw, "chainproof_c2d_held"), Some(3));
    gw.wait_log(
        "sensor-0001: dropped its oldest held cloud-to-device message",
        Duration::from_secs(5),
    );
    cloud_sends(broker.port, "m4");
    wait_sample(&gw, "chainproof_c2d_dropped_total", |v| v == 2);
    assert_eq!(
        count_lines(&gw, "dropped its oldest held"),
        1,
        "drops are logged once"
    );

    // It reconnects with clean session = false: session present, the held messages in order.
    let got = device(&gw, &pki, true, 3, 15);
    let want: Vec<String> = ["m2", "m3", "m4"]
        .iter()
        .map(|m| format!("{C2D_TOPIC} {m}"))
        .collect();
    assert_eq!(got, want);
    gw.wait_log(
        "sensor-0001: persistent session resumed (session present)",
        Duration::from_secs(5),
    );
    wait_offline(&gw, 2);
    // Acknowledged messages are released.
    wait_sample(&gw, "chainproof_c2d_held", |v| v == 0);

    // Held messages are on disk: a message held while offline survives kill -9 and restart.
    cloud_sends(broker.port, "after-restart");
    wait_sample(&gw, "chainproof_c2d_held", |v| v == 1);
    gw.kill9();
    let gw = Gateway::start(&config);
    gw.wait_log("upstream: subscribed to", Duration::from_secs(15));
    assert_eq!(sample(&gw, "chainproof_c2d_held"), Some(1));
    let got = device(&gw, &pki, true, 1, 15);
    assert_eq!(got, vec![format!("{C2D_TOPIC} after-restart")]);
    wait_offline(&gw, 1);

    // Held again while offline, then a clean-session connect discards it: nothing arrives.
    cloud_sends(broker.port, "discarded");
    wait_sample(&gw, "chainproof_c2d_held", |v| v == 1);
    let got = device(&gw, &pki, false, 1, 3);
    assert!(got.is_empty(), "clean session received {got:?}");
    assert_eq!(sample(&gw, "chainproof_c2d_held"), Some(0));
    wait_offline(&gw, 2);
    // The clean session ended with its connection: nothing is held for the device any more,
    // and its next persistent connect starts a new session (no "session present").
    cloud_sends(broker.port, "nobody-listens");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sample(&gw, "chainproof_c2d_held"), Some(0));
    let got = device(&gw, &pki, true, 1, 3);
    assert!(got.is_empty(), "a new session received {got:?}");
    assert_eq!(count_lines(&gw, "persistent session resumed"), 1);
}
