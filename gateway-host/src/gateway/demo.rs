//! `chainproof demo`: the README's one command. A throwaway PKI, the gateway on the validator
//! component, an in-process upstream that records what arrives, and simulated devices (valid,
//! missing intermediate, revoked, expired, cloned certificate without its key, client ID not
//! its own), then a table of who was accepted or rejected and why, in the core's words.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    Codec, ConnAck, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
};
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use super::config::Config;
use super::unix_now;
use chainproof_testkit::{CertSpec, Dn, KeyKind, KeyPair, San, demo_pki};

/// Largest packet the demo's parts exchange.
const MAX_PACKET: usize = 1 << 20;

/// One simulated device.
struct Case {
    label: &'static str,
    chain: PathBuf,
    key: PathBuf,
    client_id: &'static str,
}

/// Write the throwaway PKI and the gateway's config into `dir`; returns the device cases.
fn write_files(dir: &Path, upstream: u16, listen: u16) -> Result<Vec<Case>, String> {
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    let t = unix_now();
    let pki = demo_pki(t);
    for fx in &pki.devices {
        fx.write_to(&dir.join(fx.name)).map_err(io)?;
    }
    std::fs::write(dir.join("root.pem"), pki.root.pem()).map_err(io)?;
    std::fs::write(dir.join("crl.pem"), pki.crl.pem()).map_err(io)?;
    let ca_key = KeyPair::generate(KeyKind::P256, 1, "demo/gateway-ca");
    let ca = CertSpec::ca(
        Dn::new().o("Chainproof Demo").cn("Demo Gateway CA"),
        ca_key,
        t - 3600,
        t + 30 * 86_400,
        None,
    )
    .self_signed();
    let key = KeyPair::generate(KeyKind::P256, 1, "demo/gateway");
    let server = CertSpec::new(
        Dn::new().cn("localhost"),
        key.clone(),
        t - 3600,
        t + 30 * 86_400,
    )
    .with_san(San::Dns("localhost".into()))
    .with_san(San::Ip(std::net::IpAddr::from([127, 0, 0, 1])))
    .with_eku(&[const_oid::db::rfc5280::ID_KP_SERVER_AUTH])
    .issued_by(&ca);
    std::fs::write(dir.join("gateway-ca.pem"), ca.pem()).map_err(io)?;
    std::fs::write(dir.join("gateway.pem"), server.pem()).map_err(io)?;
    std::fs::write(dir.join("gateway.key"), key.private_pkcs8_pem()).map_err(io)?;
    std::fs::write(
        dir.join("gateway.toml"),
        format!(
            "[listen]\naddress = \"127.0.0.1:{listen}\"\ncert = \"gateway.pem\"\nkey = \"gateway.key\"\n\n\
             [trust]\nanchors = [\"root.pem\"]\ncrls = [\"crl.pem\"]\n\n\
             [upstream]\nhost = \"127.0.0.1\"\nport = {upstream}\n\n\
             [store]\npath = \"queue.redb\"\n\n[audit]\npath = \"audit.jsonl\"\n\n\
             [metrics]\naddress = \"127.0.0.1:0\"\n"
        ),
    )
    .map_err(io)?;
    let f = |name: &str, file: &str| dir.join(name).join(file);
    Ok(vec![
        Case {
            label: "valid device",
            chain: f("sensor-0001", "chain.pem"),
            key: f("sensor-0001", "leaf.key"),
            client_id: "sensor-0001",
        },
        Case {
            label: "missing intermediate",
            chain: f("sensor-0005", "chain.pem"),
            key: f("sensor-0005", "leaf.key"),
            client_id: "sensor-0005",
        },
        Case {
            label: "revoked",
            chain: f("sensor-0003", "chain.pem"),
            key: f("sensor-0003", "leaf.key"),
            client_id: "sensor-0003",
        },
        Case {
            label: "expired",
            chain: f("sensor-0004", "chain.pem"),
            key: f("sensor-0004", "leaf.key"),
            client_id: "sensor-0004",
        },
        // sensor-0001's genuine certificate presented by someone holding another key.
        Case {
            label: "cloned cert, no key",
            chain: f("sensor-0001", "chain.pem"),
            key: f("sensor-0002", "leaf.key"),
            client_id: "sensor-0001",
        },
        Case {
            label: "client ID not its own",
            chain: f("sensor-0002", "chain.pem"),
            key: f("sensor-0002", "leaf.key"),
            client_id: "sensor-0001",
        },
    ])
}

/// An upstream that accepts the gateway, acknowledges and records every PUBLISH.
async fn upstream(listener: TcpListener, seen: Arc<Mutex<Vec<(String, String)>>>) {
    while let Ok((tcp, _)) = listener.accept().await {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut f = Framed::new(
                tcp,
                Codec {
                    max_incoming_size: MAX_PACKET,
                    max_outgoing_size: MAX_PACKET,
                },
            );
            while let Some(Ok(p)) = f.next().await {
                let reply = match p {
                    Packet::Connect(_) => Some(Packet::ConnAck(ConnAck::new(
                        ConnectReturnCode::Success,
                        false,
                    ))),
                    Packet::Publish(p) => {
                        seen.lock().unwrap_or_else(PoisonError::into_inner).push((
                            p.topic.clone(),
                            String::from_utf8_lossy(&p.payload).into_owned(),
                        ));
                        (p.qos != QoS::AtMostOnce).then(|| Packet::PubAck(PubAck::new(p.pkid)))
                    }
                    Packet::Subscribe(s) => Some(Packet::SubAck(SubAck::new(
                        s.pkid,
                        s.filters
                            .iter()
                            .map(|_| SubscribeReasonCode::Success(QoS::AtLeastOnce))
                            .collect(),
                    ))),
                    Packet::PingReq => Some(Packet::PingResp),
                    _ => None,
                };
                if let Some(r) = reply
                    && f.send(r).await.is_err()
                {
                    break;
                }
            }
        });
    }
}

/// Presents a fixed certificate and key, checked for nothing (so a clone can be simulated).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesClientCert for Fixed {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// Connect as a device and publish one QoS 1 message; `Ok` when the gateway acknowledged it.
/// Connect one simulated device. Returns its local address (the gateway's audit log names the
/// connection by it) and how the session went.
async fn device(port: u16, ca: &Path, case: &Case) -> (Option<SocketAddr>, Result<(), String>) {
    let tcp = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(tcp) => tcp,
        Err(e) => return (None, Err(e.to_string())),
    };
    let local = tcp.local_addr().ok();
    (local, session(tcp, ca, case).await)
}

/// A device's TLS client configuration: trust `ca` for the server, present the certificates of
/// `chain` and sign with `key`. The key is not checked against the certificate, so a cloned
/// certificate without its key can be simulated (the demo and `chainproof loadtest` use it).
pub fn device_client_config(
    ca: &Path,
    chain: &Path,
    key: &Path,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        roots
            .add(c.map_err(|e| format!("{}: {e}", ca.display()))?)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(chain)
        .map_err(|e| format!("{}: {e}", chain.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", chain.display()))?;
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let signer = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(Fixed(Arc::new(CertifiedKey::new(certs, signer))))))
}

async fn session(tcp: TcpStream, ca: &Path, case: &Case) -> Result<(), String> {
    let config = device_client_config(ca, &case.chain, &case.key)?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let mut f = Framed::new(
        tls,
        Codec {
            max_incoming_size: MAX_PACKET,
            max_outgoing_size: MAX_PACKET,
        },
    );
    let mut connect = rumqttc::mqttbytes::v4::Connect::new(case.client_id);
    connect.keep_alive = 30;
    f.send(Packet::Connect(connect))
        .await
        .map_err(|e| format!("CONNECT: {e}"))?;
    match f.next().await {
        Some(Ok(Packet::ConnAck(a))) if a.code == ConnectReturnCode::Success => {}
        Some(Ok(Packet::ConnAck(a))) => return Err(format!("CONNACK {:?}", a.code)),
        // TLS 1.3: a refused client certificate shows up after the handshake, as an alert.
        Some(Err(e)) => return Err(format!("{e}")),
        _ => return Err("closed".into()),
    }
    let mut p = Publish::new(
        format!("devices/{}/messages/events/", case.client_id),
        QoS::AtLeastOnce,
        format!("hello from the {}", case.label),
    );
    p.pkid = 1;
    f.send(Packet::Publish(p))
        .await
        .map_err(|e| format!("PUBLISH: {e}"))?;
    match f.next().await {
        Some(Ok(Packet::PubAck(_))) => {
            let _ = f.send(Packet::Disconnect).await;
            Ok(())
        }
        other => Err(format!("no PUBACK: {other:?}")),
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Run the demo and print the results.
pub async fn run() -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("chainproof-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let up = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let up_addr: SocketAddr = up.local_addr().map_err(|e| e.to_string())?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(upstream(up, seen.clone()));
    let port = free_port()?;
    let cases = write_files(&dir, up_addr.port(), port)?;
    println!(
        "chainproof demo: throwaway PKI and gateway config in {}",
        dir.display()
    );
    let cfg = Config::load(&dir.join("gateway.toml"))?;
    let gateway = tokio::spawn(super::run(cfg));
    // Bounded: the gateway compiles the component first (a few seconds).
    let mut up_yet = false;
    for _ in 0..600 {
        if gateway.is_finished() {
            break;
        }
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            up_yet = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up_yet {
        return match gateway.await {
            Ok(Err(e)) => Err(e),
            _ => Err("the gateway did not start within 30 s".into()),
        };
    }
    let mut rows = Vec::new();
    for case in &cases {
        let (local, result) = device(port, &dir.join("gateway-ca.pem"), case).await;
        rows.push((case, local, result));
    }
    // The audit log has the core's verdict for each device.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let audit: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    println!();
    println!(
        "{:<24} {:<12} {:<9} {:<20} why",
        "device", "claims", "result", "code"
    );
    println!("{}", "-".repeat(100));
    for (case, local, result) in &rows {
        // The audit line of this connection: the gateway records the device's address, and
        // lines from consecutive connections may be written in either order.
        let line = local.and_then(|addr| {
            let addr = addr.to_string();
            audit
                .iter()
                .find(|l| l.get("remote").and_then(|v| v.as_str()) == Some(addr.as_str()))
        });
        let get = |k: &str| {
            line.and_then(|l| l.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or("")
        };
        let (verdict, code, why) = match (result, get("verdict")) {
            (Ok(()), _) => (
                "ACCEPTED",
                "",
                "chain valid, key proven in the handshake".to_owned(),
            ),
            (Err(_), "rejected") => ("REJECTED", get("code"), get("message").to_owned()),
            (Err(e), _) => ("REJECTED", "", e.clone()),
        };
        println!(
            "{:<24} {:<12} {:<9} {:<20} {why}",
            case.label, case.client_id, verdict, code
        );
    }
    // Bounded wait for the forwarder.
    for _ in 0..100 {
        if !seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!();
    println!("arrived upstream (the embedded broker on {up_addr}):");
    for (topic, payload) in seen.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        println!("  {topic}  {payload}");
    }
    println!();
    println!(
        "audit log: {} (check it: chainproof audit verify {})",
        dir.join("audit.jsonl").display(),
        dir.join("audit.jsonl").display()
    );
    println!(
        "technician page: serve web/ (python3 -m http.server -d web 8000) and open http://127.0.0.1:8000;\n  \
         a device for it to check: chainproof device serve --cert {} --key {}",
        dir.join("sensor-0001/chain.pem").display(),
        dir.join("sensor-0001/leaf.key").display()
    );
    gateway.abort();
    Ok(())
}
