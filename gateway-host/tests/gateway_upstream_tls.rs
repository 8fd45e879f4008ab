//! The gateway's upstream connection over TLS (issue #6) against a real mosquitto with a TLS
//! listener: the gateway's own client certificate (`require_certificate`,
//! `use_identity_as_username`), a broker certificate the gateway does not trust, and
//! user name / password over TLS without a client certificate.

mod gateway_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chainproof_testkit::{CertSpec, Dn, KeyKind, KeyPair, San};
use const_oid::db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH};
use gateway_common::*;

const TOPIC: &str = "devices/sensor-0001/messages/events/";

/// The upstream side's PKI in `dir/upstream/`: a CA, the broker's certificate for 127.0.0.1,
/// client certificates for the gateway (CN `chainproof-gateway`) and the reader (CN
/// `reader`), and an unrelated CA that did not issue the broker's certificate.
struct UpstreamPki {
    dir: PathBuf,
}

impl UpstreamPki {
    fn new(base: &Path) -> UpstreamPki {
        let dir = base.join("upstream");
        std::fs::create_dir_all(&dir).expect("upstream dir");
        let t = now();
        let ca_for = |name: &str| {
            CertSpec::ca(
                Dn::new().o("Upstream Test").cn(name),
                KeyPair::generate(KeyKind::P256, 7, &format!("upstream-tls/{name}")),
                t - 3600,
                t + 86_400,
                None,
            )
            .self_signed()
        };
        let ca = ca_for("Upstream CA");
        let other = ca_for("Other CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca");
        std::fs::write(dir.join("other-ca.pem"), other.pem()).expect("other ca");
        let leaf = |name: &str, eku, ip: bool| {
            let key = KeyPair::generate(KeyKind::P256, 7, &format!("upstream-tls/{name}"));
            let mut spec = CertSpec::new(Dn::new().cn(name), key.clone(), t - 3600, t + 86_400)
                .with_eku(&[eku]);
            if ip {
                spec = spec.with_san(San::Ip("127.0.0.1".parse().expect("ip")));
            }
            let cert = spec.issued_by(&ca);
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("cert");
            std::fs::write(dir.join(format!("{name}.key")), key.private_pkcs8_pem()).expect("key");
        };
        leaf("broker", ID_KP_SERVER_AUTH, true);
        leaf("chainproof-gateway", ID_KP_CLIENT_AUTH, false);
        leaf("reader", ID_KP_CLIENT_AUTH, false);
        UpstreamPki { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// mosquitto_sub's arguments to read upstream with the reader's client certificate.
    fn reader_args(&self) -> Vec<String> {
        [
            "--cafile",
            "ca.pem",
            "--cert",
            "reader.pem",
            "--key",
            "reader.key",
        ]
        .iter()
        .map(|a| {
            if a.starts_with("--") {
                (*a).to_owned()
            } else {
                self.file(a)
            }
        })
        .collect()
    }

    /// mosquitto.conf lines for a TLS listener with the broker's certificate.
    fn tls_listener(&self) -> String {
        format!(
            "cafile {}\ncertfile {}\nkeyfile {}\n",
            self.file("ca.pem"),
            self.file("broker.pem"),
            self.file("broker.key")
        )
    }
}

/// The gateway's `[upstream]` additions (after `write_config`'s keep-alive line).
fn upstream_config(config: &Path, lines: &str) {
    edit_config(
        config,
        "keep_alive_secs = 5\n",
        &format!("keep_alive_secs = 5\n{lines}"),
    );
}

/// The device publishes `message` with QoS 1; the gateway must acknowledge it (stored).
fn device_publishes(gw: &Gateway, pki: &Pki, message: &str) {
    let out = publish(
        gw.port,
        pki,
        Some((&pki.chain("sensor-0001"), &pki.key("sensor-0001"))),
        "sensor-0001",
        TOPIC,
        message,
    );
    assert!(out.status.success(), "the device was refused: {out:?}");
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

/// The device PKI, the upstream PKI and a broker that requires a client certificate from
/// the upstream CA and takes its CN as the user name (no anonymous clients).
fn client_certificate_setup(d: &Path) -> (Pki, UpstreamPki, Broker) {
    let pki = Pki::new(d);
    let up = UpstreamPki::new(d);
    let broker = Broker::start_with(
        d,
        &format!(
            "{}require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n",
            up.tls_listener()
        ),
    );
    let reader = up.reader_args();
    let reader: Vec<&str> = reader.iter().map(String::as_str).collect();
    create_reader_with(broker.port, "reader", "devices/#", &reader);
    (pki, up, broker)
}

/// A gateway config with TLS upstream verified by `ca` and the gateway's client certificate.
fn client_certificate_config(d: &Path, broker: u16, ca: &str) -> PathBuf {
    let config = write_config(d, broker, "");
    upstream_config(
        &config,
        &format!(
            "ca = \"{ca}\"\nclient_cert = \"upstream/chainproof-gateway.pem\"\nclient_key = \"upstream/chainproof-gateway.key\"\n"
        ),
    );
    config
}

#[test]
fn telemetry_goes_upstream_over_tls_with_the_gateways_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, up, broker) = client_certificate_setup(d);
    let reader = up.reader_args();
    let reader: Vec<&str> = reader.iter().map(String::as_str).collect();
    // The broker really requires a client certificate: without one, no connection.
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["--cafile", &up.file("ca.pem"), "-t", "x", "-E"]);
    let out = run_bounded(cmd, Duration::from_secs(10));
    assert!(
        !out.status.success(),
        "connected without a client certificate: {out:?}"
    );

    let config = client_certificate_config(d, broker.port, "upstream/ca.pem");
    let gw = Gateway::start(&config);
    let line = gw.wait_log("upstream: connected", Duration::from_secs(20));
    assert!(
        line.contains(&format!("127.0.0.1:{}", broker.port)),
        "{line}"
    );
    gw.wait_metric(
        "chainproof_upstream_connected",
        1.0,
        Duration::from_secs(10),
    );
    assert!(
        status_line(&gw.http_get("/healthz")).contains("200"),
        "{}",
        gw.http_get("/healthz")
    );
    gw.wait_log("upstream: subscribed to", Duration::from_secs(10));

    device_publishes(&gw, &pki, "temp=21.5");
    let got = read_persistent_with(broker.port, "reader", "devices/#", 1, 20, &reader);
    assert_eq!(got, vec![format!("{TOPIC} temp=21.5")]);
    gw.wait_metric("chainproof_queue_depth", 0.0, Duration::from_secs(10));
    assert_eq!(gw.count_log("upstream: cannot connect"), 0);
}

#[test]
fn an_untrusted_broker_certificate_is_refused_until_the_ca_file_is_right() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, up, broker) = client_certificate_setup(d);
    let reader = up.reader_args();
    let reader: Vec<&str> = reader.iter().map(String::as_str).collect();

    // The gateway's CA file holds a CA that did not issue the broker's certificate.
    let gw_ca = d.join("upstream-ca.pem");
    std::fs::copy(up.dir.join("other-ca.pem"), &gw_ca).expect("copy");
    let config = client_certificate_config(d, broker.port, "upstream-ca.pem");
    let gw = Gateway::start(&config);
    let line = gw.wait_log("upstream: cannot connect", Duration::from_secs(20));
    assert!(
        line.contains("invalid peer certificate") && line.contains("UnknownIssuer"),
        "{line}"
    );
    assert_eq!(gw.count_log("upstream: connected"), 0);
    assert!(
        status_line(&gw.http_get("/healthz")).contains("503"),
        "{}",
        gw.http_get("/healthz")
    );
    assert_eq!(gw.metric("chainproof_upstream_connected"), Some(0.0));

    // Devices are still served: the message is stored and acknowledged, not forwarded.
    device_publishes(&gw, &pki, "held=1");
    gw.wait_metric("chainproof_queue_depth", 1.0, Duration::from_secs(10));
    assert_eq!(gw.count_log("upstream: connected"), 0);

    // The gateway keeps trying, and reads the CA file on every attempt: with the right CA
    // it connects and the stored message goes upstream.
    std::fs::copy(up.dir.join("ca.pem"), &gw_ca).expect("copy");
    gw.wait_log("upstream: connected", Duration::from_secs(30));
    let got = read_persistent_with(broker.port, "reader", "devices/#", 1, 20, &reader);
    assert_eq!(got, vec![format!("{TOPIC} held=1")]);
    gw.wait_metric("chainproof_queue_depth", 0.0, Duration::from_secs(10));
    assert!(status_line(&gw.http_get("/healthz")).contains("200"));
}

#[test]
fn user_name_and_password_over_tls_without_a_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new(d);
    let up = UpstreamPki::new(d);
    let passwords = up.dir.join("passwd");
    for (create, user, pass) in [(true, "gateway", "s3cret"), (false, "reader", "r3ader")] {
        let mut cmd = Command::new("mosquitto_passwd");
        cmd.arg("-b");
        if create {
            cmd.arg("-c");
        }
        cmd.arg(&passwords).args([user, pass]);
        let out = run_bounded(cmd, Duration::from_secs(10));
        assert!(out.status.success(), "mosquitto_passwd: {out:?}");
    }
    {
        // mosquitto reads it after dropping root for its own user.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&passwords, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    }
    let broker = Broker::start_with(
        d,
        &format!(
            "{}password_file {}\nallow_anonymous false\n",
            up.tls_listener(),
            passwords.display()
        ),
    );
    let ca = up.file("ca.pem");
    let reader = ["--cafile", ca.as_str(), "-u", "reader", "-P", "r3ader"];
    create_reader_with(broker.port, "reader", "devices/#", &reader);

    // A wrong password: TLS works, the broker refuses the CONNECT.
    let config = write_config(d, broker.port, "");
    upstream_config(
        &config,
        "ca = \"upstream/ca.pem\"\nusername = \"gateway\"\npassword = \"wrong\"\n",
    );
    let mut gw = Gateway::start(&config);
    let line = gw.wait_log("upstream: cannot connect", Duration::from_secs(20));
    // mosquitto answers a wrong password with CONNACK 5 (not authorised).
    assert!(
        line.contains("the broker refused the gateway: NotAuthorized"),
        "not a CONNACK refusal: {line}"
    );
    assert_eq!(gw.count_log("upstream: connected"), 0);
    assert!(status_line(&gw.http_get("/healthz")).contains("503"));
    device_publishes(&gw, &pki, "n=1");
    gw.wait_metric("chainproof_queue_depth", 1.0, Duration::from_secs(10));
    gw.kill9();

    // The right password: the stored message and a new one arrive.
    edit_config(&config, "password = \"wrong\"", "password = \"s3cret\"");
    let gw = Gateway::start(&config);
    gw.wait_log("upstream: connected", Duration::from_secs(20));
    gw.wait_metric(
        "chainproof_upstream_connected",
        1.0,
        Duration::from_secs(10),
    );
    device_publishes(&gw, &pki, "n=2");
    let got = read_persistent_with(broker.port, "reader", "devices/#", 2, 20, &reader);
    assert_eq!(
        payloads(&got),
        ["n=1", "n=2"].map(str::to_owned).into_iter().collect()
    );
    assert!(got.iter().all(|l| l.starts_with(TOPIC)), "{got:?}");
    gw.wait_metric("chainproof_queue_depth", 0.0, Duration::from_secs(10));
    assert_eq!(gw.count_log("upstream: cannot connect"), 0);
}
