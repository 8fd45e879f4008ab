//! The upstream broker: the gateway's own MQTT connection, which drains the store.
//!
//! rumqttc's `EventLoop` drops unacknowledged requests when a clean session reconnects and does
//! not say which request got which packet id, so it cannot tell the store which row an upstream
//! PUBACK acknowledges. This client therefore speaks MQTT 3.1.1 through rumqttc's own codec
//! (`mqttbytes::v4`) and owns its packet ids: each in-flight packet id names one store row,
//! the row is removed on its PUBACK, and after a reconnect everything still stored is sent
//! again (at least once).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Codec, ConnectReturnCode, Login, Packet, PubAck, Publish, Subscribe};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::codec::Framed;

use super::config::Upstream;
use super::log;
use super::sessions::Sessions;
use super::store::{Message, Store};

/// Messages in flight upstream at once: enough to keep a LAN link busy, small enough that a
/// reconnect resends little.
const WINDOW: usize = 64;

/// Largest packet to or from the upstream broker (Azure IoT Hub's limit is 256 KiB; a device's
/// packet plus the topic fits).
const MAX_PACKET: usize = 1 << 20;

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

    async fn connect(&self) -> Result<Framed<Box<dyn Io>, Codec>, String> {
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
        let mut framed = Framed::new(
            io,
            Codec {
                max_incoming_size: MAX_PACKET,
                max_outgoing_size: MAX_PACKET,
            },
        );
        let mut connect = rumqttc::mqttbytes::v4::Connect::new(c.client_id.clone());
        connect.keep_alive = u16::try_from(c.keep_alive_secs).unwrap_or(u16::MAX);
        connect.clean_session = true;
        connect.login = c.username.as_ref().map(|u| Login {
            username: u.clone(),
            password: c.password.clone().unwrap_or_default(),
        });
        framed
            .send(Packet::Connect(connect))
            .await
            .map_err(|e| format!("CONNECT: {e}"))?;
        match framed.next().await {
            Some(Ok(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {}
            Some(Ok(Packet::ConnAck(ack))) => {
                return Err(format!("the broker refused the gateway: {:?}", ack.code));
            }
            Some(Ok(other)) => return Err(format!("expected CONNACK, got {other:?}")),
            Some(Err(e)) => return Err(format!("CONNACK: {e}")),
            None => return Err("closed before CONNACK".into()),
        }
        let mut sub = Subscribe::new(C2D_FILTER, QoS::AtLeastOnce);
        sub.pkid = 1;
        framed
            .send(Packet::Subscribe(sub))
            .await
            .map_err(|e| format!("SUBSCRIBE: {e}"))?;
        Ok(framed)
    }

    /// Drain the store on one connection until it fails; returns why.
    async fn serve(&self, mut framed: Framed<Box<dyn Io>, Codec>) -> String {
        // Packet id -> store row. Id 1 is the C2D subscription's; publishes use 2..=u16::MAX.
        let mut inflight: HashMap<u16, u64> = HashMap::new();
        let mut next_pkid: u16 = 2;
        let mut cursor: u64 = 0;
        let keep_alive = Duration::from_secs(self.config.keep_alive_secs.max(1));
        let mut ping = tokio::time::interval(keep_alive);
        ping.tick().await;
        let mut ping_outstanding = false;
        loop {
            // Top up the window from the store.
            if inflight.len() < WINDOW {
                let store = self.store.clone();
                let want = WINDOW - inflight.len();
                let rows = match tokio::task::spawn_blocking(move || store.next_after(cursor, want))
                    .await
                {
                    Ok(Ok(rows)) => rows,
                    Ok(Err(e)) => return format!("{e}"),
                    Err(e) => return format!("store task: {e}"),
                };
                for (seq, m) in rows {
                    let pkid = next_free(&mut next_pkid, &inflight);
                    if let Err(e) = framed.send(Packet::Publish(publish(&m, pkid))).await {
                        return format!("PUBLISH: {e}");
                    }
                    inflight.insert(pkid, seq);
                    cursor = seq;
                }
            }
            tokio::select! {
                packet = framed.next() => match packet {
                    Some(Ok(Packet::PubAck(ack))) => {
                        if let Some(seq) = inflight.remove(&ack.pkid) {
                            let store = self.store.clone();
                            match tokio::task::spawn_blocking(move || store.remove(seq)).await {
                                Ok(Ok(())) => {}
                                Ok(Err(e)) => return format!("{e}"),
                                Err(e) => return format!("store task: {e}"),
                            }
                        }
                    }
                    Some(Ok(Packet::Publish(p))) => {
                        if p.qos != QoS::AtMostOnce
                            && let Err(e) = framed.send(Packet::PubAck(PubAck::new(p.pkid))).await
                        {
                            return format!("PUBACK: {e}");
                        }
                        self.sessions.deliver_c2d(p);
                    }
                    Some(Ok(Packet::PingResp)) => ping_outstanding = false,
                    Some(Ok(Packet::SubAck(_))) => {}
                    Some(Ok(other)) => return format!("unexpected packet {other:?}"),
                    Some(Err(e)) => return format!("{e}"),
                    None => return "closed by the broker".into(),
                },
                () = self.stored.notified() => {}
                _ = ping.tick() => {
                    if ping_outstanding {
                        return "no PINGRESP within the keep-alive".into();
                    }
                    if let Err(e) = framed.send(Packet::PingReq).await {
                        return format!("PINGREQ: {e}");
                    }
                    ping_outstanding = true;
                }
            }
        }
    }
}

/// The next packet id not in flight (2..=u16::MAX; the window is far smaller than the range).
fn next_free(next: &mut u16, inflight: &HashMap<u16, u64>) -> u16 {
    loop {
        let id = *next;
        *next = if *next == u16::MAX { 2 } else { *next + 1 };
        if !inflight.contains_key(&id) {
            return id;
        }
    }
}

/// The upstream PUBLISH for a stored message: the device's own topic, QoS 1.
fn publish(m: &Message, pkid: u16) -> Publish {
    let mut p = Publish::new(m.topic.clone(), QoS::AtLeastOnce, m.payload.clone());
    p.pkid = pkid;
    p
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
