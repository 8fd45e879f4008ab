//! Real parts for the gateway tests: a mosquitto broker upstream, the `chainproof gateway`
//! binary, mosquitto_pub/mosquitto_sub as devices and reader, and a PKI from the testkit.
//! Every wait is bounded in time; everything listens on 127.0.0.1 only.

#![allow(dead_code)] // each test binary uses part of this

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chainproof_testkit::{CertSpec, DemoPki, Dn, KeyKind, KeyPair, San, demo_pki};

/// Seconds since 1970.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Wait until something accepts TCP connections on `port` (at most `limit`).
pub fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {limit:?}");
}

/// A mosquitto broker on 127.0.0.1.
pub struct Broker {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    conf: PathBuf,
}

impl Broker {
    /// Start mosquitto on a free port, with persistence in `dir` (so a persistent reader
    /// session survives a restart).
    pub fn start(dir: &Path) -> Broker {
        Broker::start_with(dir, "allow_anonymous true\n")
    }

    /// [`Broker::start`] with `listener` (mosquitto.conf lines: authentication, TLS files)
    /// in place of `allow_anonymous true`.
    pub fn start_with(dir: &Path, listener: &str) -> Broker {
        let port = free_port();
        // mosquitto started as root drops to its own user, which must be able to write its
        // persistence file here.
        let store = dir.join("mosquitto");
        std::fs::create_dir_all(&store).expect("mosquitto dir");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
            for p in [dir, dir.parent().unwrap_or(dir)] {
                let mode = std::fs::metadata(p)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0o755);
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o711));
            }
        }
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{listener}persistence true\npersistence_location {}/\nautosave_interval 1\nmax_queued_messages 100000\n",
                store.display()
            ),
        )
        .expect("write mosquitto.conf");
        let mut b = Broker {
            child: None,
            port,
            conf,
        };
        b.restart();
        b
    }

    /// Start again on the same port after [`Broker::stop`].
    pub fn restart(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (cargo xtask setup installs it)");
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10));
    }

    /// Stop it cleanly (SIGTERM: it saves its persistent sessions).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The gateway's PKI and device files.
pub struct Pki {
    /// The demo fleet (valid, revoked, expired, missing intermediate devices).
    pub demo: DemoPki,
    /// Where the files are.
    pub dir: PathBuf,
}

impl Pki {
    /// Write the demo fleet, a server certificate for 127.0.0.1, and one device from an
    /// unrelated root (untrusted).
    pub fn new(dir: &Path) -> Pki {
        let t = now();
        let demo = demo_pki(t);
        for fx in &demo.devices {
            fx.write_to(&dir.join(fx.name)).expect("write fixture");
        }
        let root = &demo.root;
        std::fs::write(dir.join("root.pem"), root.pem()).expect("root");
        std::fs::write(dir.join("crl.pem"), demo.crl.pem()).expect("crl");
        // The gateway's own TLS certificate, from a separate server CA.
        let ca_key = KeyPair::generate(KeyKind::P256, 7, "gateway-test/server-ca");
        let ca = CertSpec::ca(
            Dn::new().o("Gateway Test").cn("Gateway Test Server CA"),
            ca_key,
            t - 3600,
            t + 86_400 * 30,
            None,
        )
        .self_signed();
        let key = KeyPair::generate(KeyKind::P256, 7, "gateway-test/server");
        let server = CertSpec::new(
            Dn::new().cn("localhost"),
            key.clone(),
            t - 3600,
            t + 86_400 * 30,
        )
        .with_san(San::Dns("localhost".into()))
        .with_san(San::Ip("127.0.0.1".parse().expect("ip")))
        .with_eku(&[const_oid::db::rfc5280::ID_KP_SERVER_AUTH])
        .issued_by(&ca);
        std::fs::write(dir.join("server-ca.pem"), ca.pem()).expect("server ca");
        std::fs::write(dir.join("server.pem"), server.pem()).expect("server cert");
        std::fs::write(dir.join("server.key"), key.private_pkcs8_pem()).expect("server key");
        // A device with a valid-looking chain to a root the gateway does not trust.
        let other_key = KeyPair::generate(KeyKind::P256, 7, "gateway-test/other-root");
        let other = CertSpec::ca(
            Dn::new().cn("Other Root"),
            other_key,
            t - 3600,
            t + 86_400,
            None,
        )
        .self_signed();
        let dev_key = KeyPair::generate(KeyKind::P256, 7, "gateway-test/stranger");
        let stranger = CertSpec::device(
            "sensor-0001",
            "Other",
            "Devices",
            dev_key.clone(),
            t - 3600,
            t + 86_400,
        )
        .issued_by(&other);
        let sdir = dir.join("stranger");
        std::fs::create_dir_all(&sdir).expect("dir");
        std::fs::write(sdir.join("chain.pem"), stranger.pem() + &other.pem()).expect("chain");
        std::fs::write(sdir.join("leaf.key"), dev_key.private_pkcs8_pem()).expect("key");
        Pki {
            demo,
            dir: dir.to_path_buf(),
        }
    }

    /// A device's certificate chain file (leaf and the intermediates it sends).
    pub fn chain(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("chain.pem")
    }

    /// A device's key file.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("leaf.key")
    }
}

/// A running `chainproof gateway`.
pub struct Gateway {
    child: Option<Child>,
    /// Where devices connect.
    pub port: u16,
    /// `/metrics` address.
    pub metrics: SocketAddr,
    /// Every stderr line so far.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The config file.
    pub config: PathBuf,
}

/// Write a gateway config for `pki` towards `upstream_port`.
pub fn write_config(dir: &Path, upstream_port: u16, extra: &str) -> PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        format!(
            "[listen]\naddress = \"127.0.0.1:0\"\ncert = \"server.pem\"\nkey = \"server.key\"\nhandshake_timeout_secs = 2\n{extra}\n\
             [trust]\nanchors = [\"root.pem\"]\ncrls = [\"crl.pem\"]\n\n\
             [upstream]\nhost = \"127.0.0.1\"\nport = {upstream_port}\nkeep_alive_secs = 5\n\n\
             [store]\npath = \"queue.redb\"\n\n[audit]\npath = \"audit.jsonl\"\n\n\
             [metrics]\naddress = \"127.0.0.1:0\"\n"
        ),
    )
    .expect("write gateway.toml");
    path
}

impl Gateway {
    /// Start the gateway and wait for its "listening on" line (at most 60 s: the first start
    /// compiles the component).
    pub fn start(config: &Path) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chainproof"))
            .arg("gateway")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the gateway");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.to_owned());
                }
                sink.lock().expect("log").push(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("the gateway did not start: {:?}", log.lock().expect("log"));
            }
        };
        let addr: SocketAddr = line
            .split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .expect("listening address");
        let metrics: SocketAddr = line
            .split("http://")
            .nth(1)
            .and_then(|m| m.split('/').next())
            .and_then(|a| a.parse().ok())
            .expect("metrics address");
        Gateway {
            child: Some(child),
            port: addr.port(),
            metrics,
            log,
            config: config.to_path_buf(),
        }
    }

    /// The gateway's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the gateway runs")
    }

    /// The value of an unlabelled `/metrics` sample (`name value`), if present.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.http_get("/metrics").lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// Wait until the metric `name` equals `want` (at most `limit`).
    pub fn wait_metric(&self, name: &str, want: f64, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.metric(name) == Some(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{name} is {:?}, not {want}, after {limit:?}: {}",
            self.metric(name),
            self.http_get("/metrics")
        );
    }

    /// How many log lines so far contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        let log = self.log.lock().expect("log");
        log.iter().filter(|l| l.contains(needle)).count()
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait until a log line contains `needle` (at most `limit`).
    pub fn wait_log(&self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(l) = self
                .log
                .lock()
                .expect("log")
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no log line with {needle:?} within {limit:?}: {:?}",
            self.log.lock().expect("log")
        );
    }

    /// GET a path from the metrics server.
    pub fn http_get(&self, path: &str) -> String {
        use std::io::Write;
        let mut s = TcpStream::connect(self.metrics).expect("metrics");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Replace `from` (which must be there) with `to` in a written config file.
pub fn edit_config(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read config");
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(path, text.replacen(from, to, 1)).expect("write config");
}

/// The audit log's lines in `dir` (`audit.jsonl`), parsed.
pub fn audit_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Wait until the audit log has a line for which `pred` holds (at most 10 s).
pub fn wait_audit(dir: &Path, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(v) = audit_lines(dir).into_iter().find(|v| pred(v)) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no such audit line in {:?}", audit_lines(dir));
}

/// Whether a JSON object's string field `key` is `want`.
pub fn is(v: &serde_json::Value, key: &str, want: &str) -> bool {
    v.get(key).and_then(|x| x.as_str()) == Some(want)
}

/// A device holding a connection (`mosquitto_sub` on its cloud-to-device topic); killed when
/// dropped.
pub struct HeldDevice(Child);

/// Make `cmd` (mosquitto_pub or mosquitto_sub) connect to the gateway as device `name`: its
/// own certificate chain and key from `pki`, its device ID as the client ID.
pub fn as_device<'a>(cmd: &'a mut Command, gw_port: u16, pki: &Pki, name: &str) -> &'a mut Command {
    cmd.args(["-h", "127.0.0.1", "-p", &gw_port.to_string()])
        .arg("--cafile")
        .arg(pki.dir.join("server-ca.pem"))
        .arg("--cert")
        .arg(pki.chain(name))
        .arg("--key")
        .arg(pki.key(name))
        .args(["-i", name])
}

impl HeldDevice {
    /// Connect `name` (its chain and key from `pki`) and stay connected.
    pub fn connect(gw_port: u16, pki: &Pki, name: &str) -> HeldDevice {
        let child = as_device(&mut Command::new("mosquitto_sub"), gw_port, pki, name)
            .args(["-q", "1", "-t"])
            .arg(format!("devices/{name}/messages/devicebound/#"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub as a device");
        HeldDevice(child)
    }

    /// Disconnect (the process is killed, so the TCP connection closes).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for HeldDevice {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `mosquitto_pub` as a device: returns its output (status, stdout, stderr).
pub fn publish(
    gw_port: u16,
    pki: &Pki,
    cert_key: Option<(&Path, &Path)>,
    client_id: &str,
    topic: &str,
    message: &str,
) -> Output {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &gw_port.to_string()])
        .arg("--cafile")
        .arg(pki.dir.join("server-ca.pem"))
        .args(["-i", client_id, "-t", topic, "-m", message, "-q", "1", "-d"]);
    if let Some((cert, key)) = cert_key {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    run_bounded(cmd, Duration::from_secs(20))
}

/// Run a command with a time limit (killed after it).
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A persistent QoS 1 reader session on the broker (`mosquitto_sub -c`): create it once, then
/// [`read_persistent`] collects what arrived meanwhile.
pub fn create_reader(broker: u16, id: &str, filter: &str) {
    create_reader_with(broker, id, filter, &[]);
}

/// [`create_reader`] with `extra` arguments (TLS files, credentials).
pub fn create_reader_with(broker: u16, id: &str, filter: &str, extra: &[&str]) {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &broker.to_string(),
        "-c",
        "-i",
        id,
        "-q",
        "1",
        "-t",
        filter,
        "-E",
    ])
    .args(extra);
    let out = run_bounded(cmd, Duration::from_secs(10));
    assert!(out.status.success(), "mosquitto_sub -E: {out:?}");
}

/// Read `count` messages (`topic payload` lines) from a persistent reader session, waiting
/// at most `limit` seconds.
pub fn read_persistent(
    broker: u16,
    id: &str,
    filter: &str,
    count: usize,
    limit: u64,
) -> Vec<String> {
    read_persistent_with(broker, id, filter, count, limit, &[])
}

/// [`read_persistent`] with `extra` arguments (TLS files, credentials).
pub fn read_persistent_with(
    broker: u16,
    id: &str,
    filter: &str,
    count: usize,
    limit: u64,
    extra: &[&str],
) -> Vec<String> {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &broker.to_string(),
        "-c",
        "-i",
        id,
        "-q",
        "1",
        "-t",
        filter,
        "-v",
    ])
    .args(["-C", &count.to_string(), "-W", &limit.to_string()])
    .args(extra);
    let out = run_bounded(cmd, Duration::from_secs(limit + 5));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The payloads of `topic payload` lines (as [`read_persistent`] returns them).
pub fn payloads(got: &[String]) -> std::collections::BTreeSet<String> {
    got.iter()
        .filter_map(|l| l.split_once(' ').map(|(_, p)| p.to_owned()))
        .collect()
}

/// `mosquitto_sub` as device `name` on its cloud-to-device topics with a persistent session,
/// `extra` choosing the protocol (`-V 5 -x 300`) or nothing for 3.1.1. `count` 0 subscribes and
/// disconnects at once (`-E`); otherwise reads up to `count` messages (`topic payload` lines,
/// trimmed) for at most 15 s.
pub fn c2d_device(gw_port: u16, pki: &Pki, name: &str, extra: &[&str], count: usize) -> String {
    let mut cmd = Command::new("mosquitto_sub");
    as_device(&mut cmd, gw_port, pki, name)
        .args(["-c", "-q", "1", "-v", "-t"])
        .arg(format!("devices/{name}/messages/devicebound/#"))
        .args(extra);
    if count == 0 {
        cmd.arg("-E");
    } else {
        cmd.args(["-C", &count.to_string(), "-W", "15"]);
    }
    let out = run_bounded(cmd, Duration::from_secs(25));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The cloud sends `payload` with QoS 1 on `topic` through the upstream broker (`extra`: e.g.
/// `-V 5`).
pub fn cloud_publish(broker: u16, topic: &str, payload: &str, extra: &[&str]) {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &broker.to_string(), "-q", "1"])
        .args(["-t", topic, "-m", payload])
        .args(extra);
    let out = run_bounded(cmd, Duration::from_secs(10));
    assert!(out.status.success(), "mosquitto_pub upstream: {out:?}");
}

/// An MQTT 5 `mosquitto_sub` upstream with a persistent session (`reader5`, so nothing is
/// missed between its subscription and its read) on the telemetry topics, with `extra`
/// arguments (`-E` to create it, `-F ... -C 1 -W 20` to read).
pub fn reader5(broker: u16, extra: &[&str]) -> Output {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-V", "5", "-h", "127.0.0.1", "-p", &broker.to_string()])
        .args(["-c", "-x", "3600", "-i", "reader5", "-q", "1"])
        .args(["-t", "devices/+/messages/events/#"])
        .args(extra);
    run_bounded(cmd, Duration::from_secs(30))
}
