//! Operating the gateway (issue #6) against real parts: the connection limit, half-open and
//! silent connections, store-full backpressure with the upstream broker down, and reload (on
//! SIGHUP, when a file the policy names changes, and when the component file is replaced).
//!
//! Already covered elsewhere and not repeated here: a TCP connection that sends no byte is cut
//! after the handshake timeout (`gateway.rs`), and a CRL file in `trust.crls` changing without
//! SIGHUP disconnects a live session (`gateway_reload.rs`).

mod gateway_common;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chainproof_testkit::CrlSpec;
use gateway_common::*;
use rumqttc::mqttbytes::v4::{Connect, ConnectReturnCode, Packet};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_util::bytes::BytesMut;

/// Generous bound for anything the gateway should do "at once" on a slow, loaded machine.
const SOON: Duration = Duration::from_secs(30);

/// Largest MQTT packet the raw client reads.
const MAX_PACKET: usize = 1 << 16;

/// A gateway config towards `upstream` with `extra` in `[listen]`, the handshake timeout set
/// to `handshake_secs` (tests run in parallel on a loaded machine), and each `(from, to)` edit.
fn config(
    d: &Path,
    upstream: u16,
    extra: &str,
    handshake_secs: u64,
    edits: &[(&str, &str)],
) -> PathBuf {
    let path = write_config(d, upstream, extra);
    let timeout = format!("handshake_timeout_secs = {handshake_secs}");
    edit_config(&path, "handshake_timeout_secs = 2", &timeout);
    for (from, to) in edits {
        edit_config(&path, from, to);
    }
    path
}

/// Start the gateway and wait until it is connected upstream.
fn started(config: &Path) -> Gateway {
    let gw = Gateway::start(config);
    gw.wait_log("upstream: connected", SOON);
    gw
}

/// `mosquitto_pub` as `name` with its own certificate, one QoS 1 message on its telemetry topic.
fn publish_as(gw: &Gateway, pki: &Pki, name: &str, message: &str) -> std::process::Output {
    publish(
        gw.port,
        pki,
        Some((&pki.chain(name), &pki.key(name))),
        name,
        &format!("devices/{name}/messages/events/"),
        message,
    )
}

// ---------------------------------------------------------------------------------------------
// A raw device (rustls over std TCP) for what a real client will not do: stop in the middle of
// a handshake, stay silent after TLS or after CONNECT.

fn client_config(pki: &Pki, name: &str) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.dir.join("server-ca.pem")).expect("server ca") {
        roots.add(c.expect("server ca pem")).expect("add root");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.chain(name))
        .expect("chain")
        .collect::<Result<_, _>>()
        .expect("chain pem");
    let key = PrivateKeyDer::from_pem_file(pki.key(name)).expect("key");
    let cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client cert");
    Arc::new(cfg)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// TCP connect; reads wait at most `SOON` (so a missing close fails instead of hanging).
fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(SOON)).expect("read timeout");
    s
}

/// A finished TLS handshake as device `name`.
fn tls_device(port: u16, pki: &Pki, name: &str) -> Tls {
    let server = ServerName::try_from("localhost").expect("name");
    let mut conn = ClientConnection::new(client_config(pki, name), server).expect("client");
    let mut sock = tcp(port);
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("TLS handshake");
    }
    // The client's last flight (certificate, CertificateVerify, Finished) goes out now.
    while conn.wants_write() {
        conn.write_tls(&mut sock).expect("flush TLS");
    }
    StreamOwned::new(conn, sock)
}

fn send(tls: &mut Tls, p: &Packet) {
    let mut buf = BytesMut::new();
    p.write(&mut buf, MAX_PACKET).expect("encode");
    tls.write_all(&buf).expect("send");
    tls.flush().expect("flush");
}

fn receive(tls: &mut Tls) -> Packet {
    let mut buf = BytesMut::new();
    loop {
        if let Ok(p) = Packet::read(&mut buf, MAX_PACKET) {
            return p;
        }
        let mut chunk = [0u8; 1024];
        let n = tls.read(&mut chunk).expect("read a packet");
        assert!(n > 0, "closed while a packet was expected");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// TLS, CONNECT with `keep_alive` seconds, and CONNACK "accepted".
fn mqtt_device(port: u16, pki: &Pki, name: &str, keep_alive: u16) -> Tls {
    let mut tls = tls_device(port, pki, name);
    let mut connect = Connect::new(name);
    connect.keep_alive = keep_alive;
    send(&mut tls, &Packet::Connect(connect));
    match receive(&mut tls) {
        Packet::ConnAck(a) => assert_eq!(a.code, ConnectReturnCode::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    tls
}

/// Read until the gateway closes the connection; returns how long that took. Fails if bytes
/// other than the peer's handshake arrive (`allow_data`), or nothing closes within `SOON`.
fn wait_closed(conn: &mut impl Read, allow_data: bool) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(n) => assert!(allow_data, "unexpected {n} bytes"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("still open after {:?}", started.elapsed())
            }
            // A close without close_notify, or a reset: closed all the same.
            Err(_) => return started.elapsed(),
        }
    }
}

#[test]
fn connection_limit_refuses_the_next_device_until_one_leaves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, broker) = (Pki::new(d), Broker::start(d));
    let gw = started(&config(d, broker.port, "max_connections = 2", 10, &[]));
    let _one = HeldDevice::connect(gw.port, &pki, "sensor-0001");
    let mut two = HeldDevice::connect(gw.port, &pki, "sensor-0002");
    gw.wait_metric("chainproof_sessions", 2.0, SOON);

    // A third connection (a device that would be admitted: sensor-0001's own certificate) is
    // refused before TLS.
    let out = publish_as(&gw, &pki, "sensor-0001", "over the limit");
    assert!(!out.status.success(), "third connection admitted: {out:?}");
    let line = gw.wait_log("connection limit reached", SOON);
    assert!(
        line.contains("listen.max_connections") && line.contains("2 connections"),
        "{line}"
    );
    gw.wait_metric("chainproof_connections_refused_limit_total", 1.0, SOON);
    assert_eq!(gw.metric("chainproof_sessions"), Some(2.0));
    assert_eq!(
        gw.count_log("sensor-0001: session ended"),
        0,
        "the held device was disturbed"
    );

    // One leaves; the next device is admitted.
    two.kill();
    gw.wait_log("sensor-0002: session ended", SOON);
    gw.wait_metric("chainproof_sessions", 1.0, SOON);
    let out = publish_as(&gw, &pki, "sensor-0002", "room again");
    assert!(out.status.success(), "refused after one left: {out:?}");
    assert_eq!(
        gw.metric("chainproof_connections_refused_limit_total"),
        Some(1.0)
    );
}

#[test]
fn silent_and_half_open_connections_are_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let handshake_secs = 3;
    let (pki, broker) = (Pki::new(d), Broker::start(d));
    let gw = started(&config(d, broker.port, "", handshake_secs, &[]));
    let handshake = Duration::from_secs(handshake_secs);

    // TLS started (ClientHello sent) and then stalled: closed after the handshake timeout.
    let server = ServerName::try_from("localhost").expect("name");
    let mut conn =
        ClientConnection::new(client_config(&pki, "sensor-0001"), server).expect("client");
    let mut sock = tcp(gw.port);
    while conn.wants_write() {
        conn.write_tls(&mut sock).expect("ClientHello");
    }
    let took = wait_closed(&mut sock, true);
    assert!(took >= handshake / 2, "closed before the timeout: {took:?}");
    gw.wait_log(
        &format!("handshake timeout ({handshake_secs}s): closed"),
        SOON,
    );

    // TLS finished, then no CONNECT: closed after the same timeout.
    let mut tls = tls_device(gw.port, &pki, "sensor-0001");
    let took = wait_closed(&mut tls, false);
    assert!(took >= handshake / 2, "closed before the timeout: {took:?}");
    gw.wait_log(
        "sensor-0001: no CONNECT within the handshake timeout: closed",
        SOON,
    );

    // Keep-alive 4 s: a device that pings stays, a silent one is closed after 1.5 x 4 = 6 s.
    let keep_alive = 4;
    let mut pinging = mqtt_device(gw.port, &pki, "sensor-0002", keep_alive);
    let mut silent = mqtt_device(gw.port, &pki, "sensor-0001", keep_alive);
    let pinger = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(12) {
            send(&mut pinging, &Packet::PingReq);
            match receive(&mut pinging) {
                Packet::PingResp => {}
                other => panic!("expected PINGRESP, got {other:?}"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        pinging
    });
    let took = wait_closed(&mut silent, false);
    assert!(
        took >= Duration::from_secs(u64::from(keep_alive)),
        "closed before 1.5 x keep-alive: {took:?}"
    );
    gw.wait_log(
        "sensor-0001: session ended: silent for 6s (keep-alive)",
        SOON,
    );
    let pinging = pinger.join().expect("the pinging device stayed connected");
    drop(pinging);
    assert_eq!(
        gw.count_log("sensor-0002: session ended: silent"),
        0,
        "a device that pings was closed as silent"
    );
}

/// `mosquitto_pub -l` as sensor-0001 (QoS 1), its debug output read as it comes.
struct Stream {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Stream {
    fn start(gw_port: u16, pki: &Pki) -> Stream {
        // stdbuf: mosquitto_pub's stdout is block-buffered on a pipe; the PUBACKs must be seen
        // as they arrive.
        let mut stdbuf = Command::new("stdbuf");
        stdbuf.args(["-oL", "mosquitto_pub"]);
        let mut child = as_device(&mut stdbuf, gw_port, pki, "sensor-0001")
            .args(["-t", "devices/sensor-0001/messages/events/"])
            .args(["-q", "1", "-l", "-d"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("stdbuf mosquitto_pub");
        let out = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = stdout.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().expect("stdout").push(l);
            }
        });
        Stream { child, stdout }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
        stdin.flush().expect("flush");
    }

    fn pubacks(&self) -> usize {
        let out = self.stdout.lock().expect("stdout");
        out.iter().filter(|l| l.contains("received PUBACK")).count()
    }

    fn wait_pubacks(&self, n: usize, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit && self.pubacks() < n {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            self.pubacks(),
            n,
            "{:?}",
            self.stdout.lock().expect("stdout")
        );
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn store_full_backpressure_holds_pubacks_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let mut broker = Broker::start(d);
    create_reader(broker.port, "reader", "devices/#");
    broker.stop();
    let config = config(
        d,
        broker.port,
        "",
        10,
        &[("[store]\n", "[store]\nmax_messages = 5\n")],
    );
    let gw = Gateway::start(&config);
    gw.wait_metric("chainproof_queue_capacity", 5.0, SOON);
    assert_eq!(gw.metric("chainproof_upstream_connected"), Some(0.0));

    let mut device = Stream::start(gw.port, &pki);
    let lines: Vec<String> = (1..=8).map(|i| format!("b{i}")).collect();
    for l in &lines {
        device.send(l);
    }
    // The store takes five; the sixth waits without a PUBACK.
    device.wait_pubacks(5, SOON);
    gw.wait_log("store full (5 messages)", SOON);
    gw.wait_metric("chainproof_backpressure", 1.0, SOON);
    assert_eq!(gw.metric("chainproof_queue_depth"), Some(5.0));
    // Several store retries later: still five PUBACKs, and the log said it once.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        device.pubacks(),
        5,
        "acknowledged beyond the store's capacity"
    );
    assert_eq!(gw.count_log("store full"), 1, "{:?}", gw.log);
    assert_eq!(gw.metric("chainproof_queue_depth"), Some(5.0));

    // The upstream comes back: the store drains, the waiting messages are taken and
    // acknowledged, and every message arrives.
    broker.restart();
    device.wait_pubacks(lines.len(), SOON);
    let got = read_persistent(broker.port, "reader", "devices/#", lines.len(), 30);
    let want: BTreeSet<String> = lines.iter().cloned().collect();
    assert_eq!(
        payloads(&got),
        want,
        "lost messages; gateway log: {:?}",
        gw.log
    );
    gw.wait_metric("chainproof_backpressure", 0.0, SOON);
    gw.wait_metric("chainproof_queue_depth", 0.0, SOON);
}

/// A fleet policy: one group on the demo root, the demo CRL, and `deny` thumbprints.
fn policy(deny: &[String]) -> String {
    let deny: Vec<String> = deny.iter().map(|t| format!("{t:?}")).collect();
    format!(
        "version = 1\n\n[[group]]\nid = \"factory\"\nanchors_file = \"root.pem\"\n\n\
         [revocation]\ncrl_files = [\"crl.pem\"]\ndeny_thumbprints = [{}]\n",
        deny.join(", ")
    )
}

/// Replace `path` with `text` keeping its modification time, so that only SIGHUP can make the
/// gateway notice (the file watcher compares modification times).
fn replace_unnoticed(path: &Path, text: &str) {
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime");
    std::fs::rename(&tmp, path).expect("rename");
}

/// The audit line the live re-check wrote for `name`, checked to carry the same certificate
/// fields as the line that admitted it.
fn recheck_line(d: &Path, name: &str) {
    let accepted = wait_audit(d, |v| {
        is(v, "device_id", name) && is(v, "verdict", "accepted")
    });
    let recheck = wait_audit(d, |v| {
        is(v, "device_id", name) && is(v, "remote", "(live session re-check)")
    });
    assert!(is(&recheck, "verdict", "rejected"), "{recheck}");
    assert!(is(&recheck, "code", "revoked"), "{recheck}");
    for field in ["serial", "issuer", "thumbprint", "enrollment"] {
        assert!(
            accepted.get(field).is_some_and(|v| v.is_string()),
            "{field} in {accepted}"
        );
        assert_eq!(recheck.get(field), accepted.get(field), "{field}");
    }
}

#[test]
fn sighup_and_policy_file_changes_disconnect_revoked_live_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let broker = Broker::start(d);
    std::fs::write(d.join("policy.toml"), policy(&[])).expect("policy");
    let trust = (
        "anchors = [\"root.pem\"]\ncrls = [\"crl.pem\"]",
        "policy = \"policy.toml\"",
    );
    let gw = started(&config(d, broker.port, "", 10, &[trust]));
    let _one = HeldDevice::connect(gw.port, &pki, "sensor-0001");
    let _two = HeldDevice::connect(gw.port, &pki, "sensor-0002");
    gw.wait_metric("chainproof_sessions", 2.0, SOON);
    let fixture = |name: &str| {
        pki.demo
            .devices
            .iter()
            .find(|f| f.name == name)
            .expect("fixture")
    };

    // SIGHUP after the policy was rewritten to deny sensor-0002's certificate (unnoticed by the
    // file watcher): the live session is closed, sensor-0001 stays.
    let thumbprint = fixture("sensor-0002").leaf.sha256_hex();
    replace_unnoticed(&d.join("policy.toml"), &policy(&[thumbprint]));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        gw.count_log("reloading"),
        0,
        "reloaded without a signal: the test cannot tell SIGHUP did it"
    );
    let hup = Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    gw.wait_log("SIGHUP: reloading", SOON);
    gw.wait_log(
        "sensor-0002: session ended: disconnected by the gateway: revoked",
        Duration::from_secs(60),
    );
    recheck_line(d, "sensor-0002");
    assert!(
        is(
            &wait_audit(d, |v| is(v, "remote", "(live session re-check)")),
            "enrollment",
            "group:factory"
        ),
        "the enrollment that admitted the session"
    );
    assert_eq!(gw.count_log("sensor-0001: session ended"), 0);
    gw.wait_metric("chainproof_sessions_revoked_total", 1.0, SOON);

    // The CRL file the policy names is replaced with one that also revokes sensor-0001, without
    // a signal: the watcher sees it and the live session is closed.
    let t = now();
    let crl = CrlSpec::new(t - 60, t + 86_400)
        .revoke(&fixture("sensor-0003").leaf, t - 120)
        .revoke(&fixture("sensor-0001").leaf, t - 30)
        .sign(&pki.demo.manufacturing_ca);
    std::fs::write(d.join("crl.pem"), crl.pem()).expect("new CRL");
    gw.wait_log("a trust or component file changed: reloading", SOON);
    gw.wait_log(
        "sensor-0001: session ended: disconnected by the gateway: revoked",
        SOON,
    );
    recheck_line(d, "sensor-0001");
    gw.wait_metric("chainproof_sessions_revoked_total", 2.0, SOON);
}

/// Write `bytes` to `path` through a temporary file and a rename, so the watcher never sees a
/// half-written file.
fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[test]
fn a_corrupt_component_is_refused_and_the_old_one_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, broker) = (Pki::new(d), Broker::start(d));
    let built = chainproof_gateway::engine::find_component(None)
        .unwrap_or_else(|tried| panic!("the validator component is not built: {tried:?}"));
    let valid = std::fs::read(&built).expect("component");
    let component = d.join("component.wasm");
    std::fs::write(&component, &valid).expect("copy the component");
    let validator = (
        "[upstream]",
        "[validator]\ncomponent = \"component.wasm\"\n\n[upstream]",
    );
    let gw = started(&config(d, broker.port, "", 10, &[validator]));
    let ok = publish_as(&gw, &pki, "sensor-0001", "before");
    assert!(ok.status.success(), "{ok:?}");

    // Garbage in place of the component: refused, counted, and the old one keeps serving.
    replace_file(&component, b"\0asm this is not a component");
    gw.wait_log("reload refused", SOON);
    gw.wait_metric("chainproof_reload_failures_total", 1.0, SOON);
    assert_eq!(gw.metric("chainproof_reloads_total"), Some(0.0));
    let ok = publish_as(&gw, &pki, "sensor-0002", "while refused");
    assert!(
        ok.status.success(),
        "not admitted after a refused swap: {ok:?}"
    );
    wait_audit(d, |v| {
        is(v, "device_id", "sensor-0002") && is(v, "verdict", "accepted")
    });
    let revoked = publish_as(&gw, &pki, "sensor-0003", "x");
    assert!(!revoked.status.success(), "still deciding: {revoked:?}");

    // The valid component back: reloaded.
    replace_file(&component, &valid);
    gw.wait_metric("chainproof_reloads_total", 1.0, Duration::from_secs(60));
    let ok = publish_as(&gw, &pki, "sensor-0001", "after");
    assert!(ok.status.success(), "{ok:?}");
}
