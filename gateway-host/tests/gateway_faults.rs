//! Faults against real parts: the upstream broker stops during a QoS 1 stream and comes back;
//! the gateway is killed with `kill -9` while messages are queued and restarts. Every message
//! the gateway acknowledged arrives upstream.

mod gateway_common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway_common::*;

/// Stream `lines` as QoS 1 messages over one device connection (`mosquitto_pub -l`), calling
/// `between(i)` after line `i`. Returns the number of PUBACKs the device received.
fn stream(gw_port: u16, pki: &Pki, lines: &[String], mut between: impl FnMut(usize)) -> usize {
    let mut child = as_device(
        &mut Command::new("mosquitto_pub"),
        gw_port,
        pki,
        "sensor-0001",
    )
    .args([
        "-t",
        "devices/sensor-0001/messages/events/",
        "-q",
        "1",
        "-l",
        "-d",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("mosquitto_pub");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (i, l) in lines.iter().enumerate() {
            stdin.write_all(format!("{l}\n").as_bytes()).expect("write");
            stdin.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(30));
            between(i + 1);
        }
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("received PUBACK"))
        .count()
}

#[test]
fn upstream_outage_during_a_qos1_stream_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let mut broker = Broker::start(d);
    create_reader(broker.port, "reader", "devices/#");
    let gw = Gateway::start(&write_config(d, broker.port, ""));
    gw.wait_log("upstream: connected", Duration::from_secs(15));
    let lines: Vec<String> = (1..=30).map(|i| format!("m{i}")).collect();
    let acked = stream(gw.port, &pki, &lines, |i| match i {
        10 => broker.stop(),
        20 => broker.restart(),
        _ => {}
    });
    assert_eq!(acked, 30, "every QoS 1 message is acknowledged once stored");
    let got = read_persistent(broker.port, "reader", "devices/#", 30, 30);
    let want: BTreeSet<String> = lines.iter().cloned().collect();
    assert_eq!(
        payloads(&got),
        want,
        "lost messages; gateway log: {:?}",
        gw.log.lock().expect("log")
    );
}

#[test]
fn gateway_kill9_with_queued_messages_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let mut broker = Broker::start(d);
    create_reader(broker.port, "reader", "devices/#");
    let config = write_config(d, broker.port, "");
    let mut gw = Gateway::start(&config);
    gw.wait_log("upstream: connected", Duration::from_secs(15));
    broker.stop();
    let lines: Vec<String> = (1..=15).map(|i| format!("k{i}")).collect();
    let acked = stream(gw.port, &pki, &lines, |_| {});
    assert_eq!(acked, 15);
    gw.kill9();
    let gw = Gateway::start(&config);
    gw.wait_log("15 message(s) queued from before", Duration::from_secs(5));
    broker.restart();
    let got = read_persistent(broker.port, "reader", "devices/#", 15, 30);
    let want: BTreeSet<String> = lines.iter().cloned().collect();
    assert_eq!(
        payloads(&got),
        want,
        "lost messages; gateway log: {:?}",
        gw.log.lock().expect("log")
    );
}
