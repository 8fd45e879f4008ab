//! The upstream broker: the gateway's own MQTT connection, which drains the store and brings
//! cloud-to-device messages to the device sessions.
//!
//! rumqttc's `EventLoop` drops unacknowledged requests when a clean session reconnects and does
//! not say which request got which packet id, so it cannot tell the store which row an upstream
//! PUBACK acknowledges. This client therefore speaks MQTT through rumqttc's own codecs
//! (`mqttbytes::v4` for 3.1.1, `v5::mqttbytes::v5` for 5) and owns its packet ids: each
//! in-flight packet id names one store row, the row is removed on its PUBACK, and after a
//! reconnect everything still stored is sent again (at least once). With MQTT 5 every PUBLISH
//! carries the device's identity as user properties (`device-id`, `thumbprint-sha256`,
//! `enrollment`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::{QoS, v4};
use rumqttc::v5::mqttbytes::{QoS as QoS5, v5};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::codec::Framed;

use super::config::{Upstream, UpstreamProtocol};
use super::log;
use super::sessions::{Sessions, free_packet_id};
use super::store::{self, Message, Store};

/// Messages in flight upstream at once: enough to keep a LAN link busy, small enough that a
/// reconnect resends little.
const WINDOW: usize = 64;

/// Largest packet to or from the upstream broker (Azure IoT Hub's limit is 256 KiB; a device's
/// packet plus the topic and identity properties fits).
const MAX_PACKET: u32 = 1 << 20;

/// Seconds to connect (TCP, TLS and CONNACK) before trying again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between connection attempts, doubling up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The cloud-to-device topics the gateway subscribes to for its devices.
const C2D_FILTER: &str = "devices/+/messages/devicebound/#";

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Shared upstream state (for health and metrics).
#[derive(Debug, Default)]
pub struct UpstreamState {
    /// Connected and CONNACKed.
    pub connected: AtomicBool,
}

/// What the forwarder needs.
pub struct Forwarder {
    /// Where and how to connect.
    pub config: Upstream,
    /// The queue to drain.
    pub store: Arc<Store>,
    /// Woken when a message was stored.
    pub stored: Arc<Notify>,
    /// Connected devices, for cloud-to-device messages.
    pub sessions: Arc<Sessions>,
    /// Connection state.
    pub state: Arc<UpstreamState>,
}

impl Forwarder {
    /// Run for ever: connect, drain, reconnect on failure.
    pub async fn run(self) {
        let mut pause = RETRY_MIN;
        let mut was_up = true;
        loop {
            match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
                Ok(Ok(framed)) => {
                    log(&format!(
                        "upstream: connected to {}:{}",
                        self.config.host,
                        self.config.port()
                    ));
                    self.state.connected.store(true, Ordering::SeqCst);
                    pause = RETRY_MIN;
                    was_up = true;
                    let why = self.serve(framed).await;
                    self.state.connected.store(false, Ordering::SeqCst);
                    log(&format!("upstream: disconnected: {why}"));
                }
                Ok(Err(e)) if was_up => {
                    log(&format!("upstream: cannot connect: {e}; retrying"));
                    was_up = false;
                }
                Err(_) if was_up => {
                    log("upstream: connection timed out; retrying");
                    was_up = false;
                }
                _ => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    async fn connect(&self) -> Result<Link, String> {
        let c = &self.config;
        let tcp = TcpStream::connect((c.host.as_str(), c.port()))
            .await
            .map_err(|e| format!("{}:{}: {e}", c.host, c.port()))?;
        // Telemetry is small and latency matters more than packing.
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &c.ca {
            None => Box::new(tcp),
            Some(ca) => Box::new(tls_connect(c, ca, tcp).await?),
        };
        match c.protocol {
            UpstreamProtocol::V311 => Link::connect_v4(io, c).await,
            UpstreamProtocol::V5 => Link::connect_v5(io, c).await,
        }
    }

    /// Drain the store on one connection until it fails; returns why.
    async fn serve(&self, mut link: Link) -> String {
        // Packet id -> store row. Id 1 is the C2D subscription's; publishes use 2..=u16::MAX.
        let mut inflight: HashMap<u16, u64> = HashMap::new();
        let mut next_pkid: u16 = 2;
        let mut cursor: u64 = 0;
        let keep_alive = Duration::from_secs(self.config.keep_alive_secs.max(1));
        let mut ping = tokio::time::interval(keep_alive);
        ping.tick().await;
        let mut ping_outstanding = false;
        let mut said_refused = false;
        loop {
            // Top up the window from the store.
            if inflight.len() < link.window {
                let want = link.window - inflight.len();
                let rows =
                    match store::blocking(&self.store, move |s| s.next_after(cursor, want)).await {
                        Ok(rows) => rows,
                        Err(e) => return format!("{e}"),
                    };
                for (seq, m) in rows {
                    let pkid = free_packet_id(&mut next_pkid, 2, &inflight);
                    if let Err(e) = link.publish(&m, pkid).await {
                        return format!("PUBLISH: {e}");
                    }
                    inflight.insert(pkid, seq);
                    cursor = seq;
                }
            }
            tokio::select! {
                packet = link.next() => match packet {
                    Some(Ok(Incoming::PubAck { pkid, refused })) => {
                        if let Some(seq) = inflight.remove(&pkid) {
                            // A refusal is the broker's final word on the message: it is not
                            // sent again.
                            if let Some(why) = refused
                                && !std::mem::replace(&mut said_refused, true)
                            {
                                log(&format!("upstream: the broker refused a message ({why}); refusals on this connection are not logged again"));
                            }
                            if let Err(e) = store::blocking(&self.store, move |s| s.remove(seq)).await {
                                return format!("{e}");
                            }
                        }
                    }
                    Some(Ok(Incoming::Publish { topic, qos, pkid, payload })) => {
                        // Held on disk for the device's session before the broker's PUBACK.
                        if let Err(e) = self.sessions.deliver_c2d(topic.clone(), qos, payload).await {
                            log(&format!("upstream: cannot hold the cloud-to-device message on {topic:?}: {e}"));
                        }
                        if qos > 0 && let Err(e) = link.puback(pkid).await {
                            return format!("PUBACK: {e}");
                        }
                    }
                    Some(Ok(Incoming::PingResp)) => ping_outstanding = false,
                    Some(Ok(Incoming::SubAck { refused: None })) => {
                        log(&format!("upstream: subscribed to {C2D_FILTER} (cloud-to-device messages)"));
                    }
                    Some(Ok(Incoming::SubAck { refused: Some(why) })) => {
                        log(&format!("upstream: the broker refused the subscription to {C2D_FILTER} ({why}): no cloud-to-device messages"));
                    }
                    Some(Ok(Incoming::Disconnect(why))) => return format!("DISCONNECT from the broker: {why}"),
                    Some(Err(e)) => return e,
                    None => return "closed by the broker".into(),
                },
                () = self.stored.notified() => {}
                _ = ping.tick() => {
                    if ping_outstanding {
                        return "no PINGRESP within the keep-alive".into();
                    }
                    if let Err(e) = link.ping().await {
                        return format!("PINGREQ: {e}");
                    }
                    ping_outstanding = true;
                }
            }
        }
    }
}

/// What the broker sent, in either protocol's terms.
enum Incoming {
    /// A PUBLISH of ours was acknowledged; `refused` says why the broker would not take it
    /// (MQTT 5 reason codes of 0x80 and above).
    PubAck {
        pkid: u16,
        refused: Option<String>,
    },
    /// A cloud-to-device message.
    Publish {
        topic: String,
        qos: u8,
        pkid: u16,
        payload: Vec<u8>,
    },
    PingResp,
    /// The cloud-to-device subscription was answered; `refused` says why it failed.
    SubAck {
        refused: Option<String>,
    },
    /// The broker closes the connection (MQTT 5), with its reason.
    Disconnect(String),
}

/// One connection to the broker in the configured protocol.
struct Link {
    framed: Framed2,
    /// Messages in flight at once: [`WINDOW`], or less if the broker's receive maximum says so.
    window: usize,
}

enum Framed2 {
    V4(Framed<Box<dyn Io>, v4::Codec>),
    V5(Framed<Box<dyn Io>, v5::Codec>),
}

impl Link {
    async fn connect_v4(io: Box<dyn Io>, c: &Upstream) -> Result<Link, String> {
        let mut framed = Framed::new(
            io,
            v4::Codec {
                max_incoming_size: MAX_PACKET as usize,
                max_outgoing_size: MAX_PACKET as usize,
            },
        );
        let mut connect = v4::Connect::new(c.client_id.clone());
        connect.keep_alive = keep_alive(c);
        connect.clean_session = true;
        connect.login = c.username.as_ref().map(|u| v4::Login {
            username: u.clone(),
            password: c.password.clone().unwrap_or_default(),
        });
        framed
            .send(v4::Packet::Connect(connect))
            .await
            .map_err(|e| format!("CONNECT: {e}"))?;
        match framed.next().await {
            Some(Ok(v4::Packet::ConnAck(ack))) if ack.code == v4::ConnectReturnCode::Success => {}
            Some(Ok(v4::Packet::ConnAck(ack))) => {
                return Err(format!("the broker refused the gateway: {:?}", ack.code));
            }
            Some(Ok(other)) => return Err(format!("expected CONNACK, got {other:?}")),
            Some(Err(e)) => return Err(format!("CONNACK: {e}")),
            None => return Err("closed before CONNACK".into()),
        }
        let mut sub = v4::Subscribe::new(C2D_FILTER, QoS::AtLeastOnce);
        sub.pkid = 1;
        framed
            .send(v4::Packet::Subscribe(sub))
            .await
            .map_err(|e| format!("SUBSCRIBE: {e}"))?;
        Ok(Link {
            framed: Framed2::V4(framed),
            window: WINDOW,
        })
    }

    async fn connect_v5(io: Box<dyn Io>, c: &Upstream) -> Result<Link, String> {
        let mut framed = Framed::new(
            io,
            v5::Codec {
                max_incoming_size: Some(MAX_PACKET),
                max_outgoing_size: Some(MAX_PACKET),
            },
        );
        let connect = v5::Connect {
            keep_alive: keep_alive(c),
            client_id: c.client_id.clone(),
            clean_start: true,
            properties: None,
        };
        let login = c
            .username
            .as_ref()
            .map(|u| v5::Login::new(u.clone(), c.password.clone().unwrap_or_default()));
        framed
            .send(v5::Packet::Connect(connect, None, login))
            .await
            .map_err(|e| format!("CONNECT: {e}"))?;
        let ack = match framed.next().await {
            Some(Ok(v5::Packet::ConnAck(ack))) if ack.code == v5::ConnectReturnCode::Success => ack,
            Some(Ok(v5::Packet::ConnAck(ack))) => {
                return Err(format!("the broker refused the gateway: {:?}", ack.code));
            }
            Some(Ok(other)) => return Err(format!("expected CONNACK, got {other:?}")),
            Some(Err(e)) => return Err(format!("CONNACK: {e}")),
            None => return Err("closed before CONNACK".into()),
        };
        // The broker's limits: in-flight QoS 1 messages and packet size.
        let props = ack.properties.as_ref();
        let window = props
            .and_then(|p| p.receive_max)
            .map_or(WINDOW, |m| WINDOW.min(usize::from(m.max(1))));
        if let Some(max) = props.and_then(|p| p.max_packet_size) {
            framed.codec_mut().max_outgoing_size = Some(max.min(MAX_PACKET));
        }
        let mut sub = v5::Subscribe::new(v5::Filter::new(C2D_FILTER, QoS5::AtLeastOnce), None);
        sub.pkid = 1;
        framed
            .send(v5::Packet::Subscribe(sub))
            .await
            .map_err(|e| format!("SUBSCRIBE: {e}"))?;
        Ok(Link {
            framed: Framed2::V5(framed),
            window,
        })
    }

    /// Send a stored message with QoS 1 under `pkid`.
    async fn publish(&mut self, m: &Message, pkid: u16) -> Result<(), String> {
        match &mut self.framed {
            Framed2::V4(f) => {
                let mut p = v4::Publish::new(m.topic.clone(), QoS::AtLeastOnce, m.payload.clone());
                p.pkid = pkid;
                f.send(v4::Packet::Publish(p))
                    .await
                    .map_err(|e| e.to_string())
            }
            Framed2::V5(f) => {
                let mut p = v5::Publish::new(
                    m.topic.clone(),
                    QoS5::AtLeastOnce,
                    m.payload.clone(),
                    Some(identity_properties(m)),
                );
                p.pkid = pkid;
                f.send(v5::Packet::Publish(p))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn puback(&mut self, pkid: u16) -> Result<(), String> {
        match &mut self.framed {
            Framed2::V4(f) => f
                .send(v4::Packet::PubAck(v4::PubAck::new(pkid)))
                .await
                .map_err(|e| e.to_string()),
            Framed2::V5(f) => f
                .send(v5::Packet::PubAck(v5::PubAck::new(pkid, None)))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    async fn ping(&mut self) -> Result<(), String> {
        match &mut self.framed {
            Framed2::V4(f) => f.send(v4::Packet::PingReq).await.map_err(|e| e.to_string()),
            Framed2::V5(f) => f
                .send(v5::Packet::PingReq(v5::PingReq))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    async fn next(&mut self) -> Option<Result<Incoming, String>> {
        let incoming = match &mut self.framed {
            Framed2::V4(f) => match f.next().await? {
                Ok(v4::Packet::PubAck(a)) => Ok(Incoming::PubAck {
                    pkid: a.pkid,
                    refused: None,
                }),
                Ok(v4::Packet::Publish(p)) => Ok(Incoming::Publish {
                    topic: p.topic,
                    qos: p.qos as u8,
                    pkid: p.pkid,
                    payload: p.payload.to_vec(),
                }),
                Ok(v4::Packet::PingResp) => Ok(Incoming::PingResp),
                Ok(v4::Packet::SubAck(a)) => Ok(Incoming::SubAck {
                    refused: a
                        .return_codes
                        .iter()
                        .find(|c| !matches!(c, v4::SubscribeReasonCode::Success(_)))
                        .map(|c| format!("{c:?}")),
                }),
                Ok(other) => Err(format!("unexpected packet {other:?}")),
                Err(e) => Err(e.to_string()),
            },
            Framed2::V5(f) => match f.next().await? {
                Ok(v5::Packet::PubAck(a)) => Ok(Incoming::PubAck {
                    pkid: a.pkid,
                    refused: refusal(a.reason),
                }),
                Ok(v5::Packet::Publish(p)) => match String::from_utf8(p.topic.to_vec()) {
                    Ok(topic) => Ok(Incoming::Publish {
                        topic,
                        qos: p.qos as u8,
                        pkid: p.pkid,
                        payload: p.payload.to_vec(),
                    }),
                    Err(_) => Err("a PUBLISH topic that is not UTF-8".into()),
                },
                Ok(v5::Packet::PingResp(_)) => Ok(Incoming::PingResp),
                Ok(v5::Packet::SubAck(a)) => Ok(Incoming::SubAck {
                    refused: a
                        .return_codes
                        .iter()
                        .find(|c| !matches!(c, v5::SubscribeReasonCode::Success(_)))
                        .map(|c| format!("{c:?}")),
                }),
                Ok(v5::Packet::Disconnect(d)) => {
                    Ok(Incoming::Disconnect(format!("{:?}", d.reason_code)))
                }
                Ok(other) => Err(format!("unexpected packet {other:?}")),
                Err(e) => Err(e.to_string()),
            },
        };
        Some(incoming)
    }
}

fn keep_alive(c: &Upstream) -> u16 {
    u16::try_from(c.keep_alive_secs).unwrap_or(u16::MAX)
}

/// MQTT 5 PUBACK reasons that mean the broker did not take the message.
fn refusal(reason: v5::PubAckReason) -> Option<String> {
    match reason {
        v5::PubAckReason::Success | v5::PubAckReason::NoMatchingSubscribers => None,
        other => Some(format!("{other:?}")),
    }
}

/// The device's identity on an MQTT 5 PUBLISH: `device-id`, `thumbprint-sha256` (the
/// certificate's SHA-256, uppercase hex) and, when a fleet policy admitted it, `enrollment`.
fn identity_properties(m: &Message) -> v5::PublishProperties {
    let mut user_properties = vec![
        ("device-id".to_owned(), m.device_id.clone()),
        ("thumbprint-sha256".to_owned(), m.thumbprint.clone()),
    ];
    if !m.enrollment.is_empty() {
        user_properties.push(("enrollment".to_owned(), m.enrollment.clone()));
    }
    v5::PublishProperties {
        user_properties,
        ..Default::default()
    }
}

async fn tls_connect(
    c: &Upstream,
    ca: &std::path::Path,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("upstream.ca: {}: {e}", ca.display()))?
    {
        let cert = cert.map_err(|e| format!("upstream.ca: {}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("upstream.ca: {}: {e}", ca.display()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots);
    let config = match (&c.client_cert, &c.client_key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("upstream.client_cert: {}: {e}", cert.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("upstream.client_cert: {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("upstream.client_key: {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("upstream.client_cert: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(c.host.clone()).map_err(|e| format!("upstream.host: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS to {}: {e}", c.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_travels_as_user_properties() {
        let mut m = Message {
            device_id: "s1".into(),
            thumbprint: "AB01".into(),
            enrollment: String::new(),
            topic: "devices/s1/messages/events/".into(),
            payload: b"x".to_vec(),
        };
        let pairs = |m: &Message| identity_properties(m).user_properties;
        assert_eq!(
            pairs(&m),
            vec![
                ("device-id".to_owned(), "s1".to_owned()),
                ("thumbprint-sha256".to_owned(), "AB01".to_owned())
            ]
        );
        m.enrollment = "group:line-7".into();
        assert_eq!(
            pairs(&m).last(),
            Some(&("enrollment".to_owned(), "group:line-7".to_owned()))
        );
    }
}
