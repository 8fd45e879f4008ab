//! One device connection: TLS (the validator decides in the handshake), CONNECT (the client
//! ID must be the certificate's device ID), then MQTT 3.1.1 with QoS 0/1 inside the device's
//! namespace. A QoS 1 PUBLISH is acknowledged only once stored on disk. Cloud-to-device
//! messages reach the device from its session's held messages in the store, each released
//! once the device acknowledges it (or once sent, at QoS 0).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    Codec, ConnAck, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
    UnsubAck,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio_util::codec::Framed;

use super::audit::{AuditLog, Decision};
use super::auth::{DeviceAuthenticator, DeviceIdentity};
use super::config::Listen;
use super::metrics::Metrics;
use super::sessions::{Entry, Sessions, free_packet_id};
use super::store::{self, Message, Store, StoreError};
use super::tls::{DeviceVerifier, ServerIdentity, no_certificate};
use super::{log, namespace, unix_now};
use chainproof_gateway::engine::Rejection;

/// Held cloud-to-device messages in flight to one device at once (sent, not yet
/// acknowledged): a device's MQTT stack handles a few at a time; the rest wait on disk.
const DEVICE_WINDOW: usize = 16;

/// How long a device waits between retries while the store is full (backpressure).
const FULL_RETRY: Duration = Duration::from_millis(250);

/// Everything a connection needs.
pub struct Shared {
    /// The validator.
    pub auth: Arc<dyn DeviceAuthenticator>,
    /// The gateway's TLS identity.
    pub identity: ServerIdentity,
    /// Listener settings (limits, timeouts).
    pub listen: Listen,
    /// Store-and-forward queue.
    pub store: Arc<Store>,
    /// Wakes the forwarder.
    pub stored: Arc<Notify>,
    /// Live sessions.
    pub sessions: Arc<Sessions>,
    /// Audit log.
    pub audit: AuditLog,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Connection numbers.
    pub next_connection: AtomicU64,
}

impl Shared {
    /// Record an authentication decision: audit log, metrics and a log line.
    pub fn audit_decision(&self, d: Decision) {
        self.audit(d);
    }

    fn audit(&self, d: Decision) {
        self.metrics.decision(d.verdict, d.code.as_deref());
        let line = match (&d.code, &d.message) {
            (Some(code), Some(m)) => format!(
                "{} {} from {}: {code}: {m}",
                d.verdict,
                d.device_id.as_deref().unwrap_or("(unknown device)"),
                d.remote
            ),
            _ => format!(
                "{} {} from {}",
                d.verdict,
                d.device_id.as_deref().unwrap_or("(unknown device)"),
                d.remote
            ),
        };
        log(&line);
        if let Err(e) = self.audit.record(&d) {
            log(&format!("cannot write the audit log: {e}"));
        }
    }
}

/// The audit line for a decision about the device at `remote`.
pub(super) fn decision(
    remote: impl std::fmt::Display,
    id: Option<&DeviceIdentity>,
    rejection: Option<&Rejection>,
) -> Decision {
    Decision {
        time: unix_now(),
        remote: remote.to_string(),
        device_id: id.map(|i| i.device_id.clone()),
        serial: id.map(|i| i.serial.clone()),
        issuer: id.map(|i| i.issuer.clone()),
        thumbprint: id.map(|i| i.sha256.clone()),
        enrollment: id.and_then(|i| i.enrollment.clone()),
        verdict: if rejection.is_some() {
            "rejected"
        } else {
            "accepted"
        },
        code: rejection.map(|r| r.code.as_str().to_owned()),
        message: rejection.map(|r| r.message.clone()),
    }
}

/// Serve one TCP connection to the end.
pub async fn serve(shared: Arc<Shared>, tcp: TcpStream, remote: SocketAddr) {
    let deadline = Instant::now() + shared.listen.handshake_timeout();
    let verifier = Arc::new(DeviceVerifier::new(
        shared.auth.clone(),
        shared.identity.provider(),
    ));
    let config = match shared.identity.config(verifier.clone()) {
        Ok(c) => c,
        Err(e) => {
            log(&format!("{remote}: {e}"));
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let accepted = tokio::time::timeout_at(deadline.into(), acceptor.accept(tcp)).await;
    let outcome = verifier.take_outcome();
    shared.metrics.validation_seconds(outcome.validation_time);
    let tls = match accepted {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let rejection = outcome.rejection().cloned().or_else(|| {
                // rustls refuses a handshake without a certificate before asking the verifier.
                (outcome.leaf.is_none() && e.to_string().contains("certificate"))
                    .then(no_certificate)
            });
            match (rejection, &outcome.engine_error) {
                (Some(r), _) => {
                    let id = outcome.leaf.as_deref().and_then(leaf_identity);
                    shared.audit(decision(remote, id.as_ref(), Some(&r)));
                }
                (None, Some(ee)) => log(&format!("{remote}: the validator failed: {ee}")),
                (None, None) => {
                    shared.metrics.tls_failure();
                    log(&format!("{remote}: TLS handshake failed: {e}"));
                }
            }
            return;
        }
        Err(_) => {
            shared.metrics.tls_failure();
            log(&format!(
                "{remote}: handshake timeout ({}s): closed",
                shared.listen.handshake_timeout_secs
            ));
            return;
        }
    };
    // Only a handshake in which the validator admitted the chain and verified the device's
    // signature reaches this point with an identity.
    let Some(identity) = outcome.accepted().and_then(DeviceIdentity::of) else {
        log(&format!(
            "{remote}: handshake finished without an accepted device: closed"
        ));
        return;
    };
    let presented: Vec<Vec<u8>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().skip(1).map(|c| c.to_vec()).collect())
        .unwrap_or_default();
    let leaf = outcome.leaf.clone().unwrap_or_default();
    let mut framed = Framed::new(
        tls,
        Codec {
            max_incoming_size: shared.listen.max_packet_bytes,
            max_outgoing_size: shared.listen.max_packet_bytes,
        },
    );
    let connect = match tokio::time::timeout_at(deadline.into(), framed.next()).await {
        Ok(Some(Ok(Packet::Connect(c)))) => c,
        Ok(Some(Ok(other))) => {
            log(&format!(
                "{remote}: {}: expected CONNECT, got {other:?}: closed",
                identity.device_id
            ));
            return;
        }
        Ok(Some(Err(e))) => {
            log(&format!(
                "{remote}: {}: bad CONNECT: {e}: closed",
                identity.device_id
            ));
            return;
        }
        Ok(None) => return,
        Err(_) => {
            log(&format!(
                "{remote}: {}: no CONNECT within the handshake timeout: closed",
                identity.device_id
            ));
            return;
        }
    };
    let username = connect.login.as_ref().map(|l| l.username.as_str());
    if let Err(m) = namespace::check_connect(&identity.device_id, &connect.client_id, username) {
        // The core's words: "the certificate is for device {found}, not {expected}".
        let r = Rejection::from(chainproof::Error::DeviceIdMismatch {
            expected: m.claimed,
            found: identity.device_id.clone(),
        });
        shared.audit(decision(remote, Some(&identity), Some(&r)));
        let _ = framed
            .send(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::BadClientId,
                false,
            )))
            .await;
        return;
    }
    shared.audit(decision(remote, Some(&identity), None));
    let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let present = match shared
        .sessions
        .begin(&identity.device_id, connect.clean_session, connection)
        .await
    {
        Ok(present) => present,
        Err(e) => {
            log(&format!(
                "{remote}: {}: cannot open its session: {e}: closed",
                identity.device_id
            ));
            let _ = framed
                .send(Packet::ConnAck(ConnAck::new(
                    ConnectReturnCode::ServiceUnavailable,
                    false,
                )))
                .await;
            return;
        }
    };
    if framed
        .send(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            present,
        )))
        .await
        .is_err()
    {
        shared.sessions.end(&identity.device_id, connection).await;
        return;
    }
    if present {
        log(&format!(
            "{remote}: {}: persistent session resumed (session present)",
            identity.device_id
        ));
    }
    let wake = Arc::new(Notify::new());
    let (kick_tx, kick_rx) = watch::channel(None);
    shared.sessions.insert(
        &identity.device_id,
        Entry {
            connection,
            leaf,
            intermediates: presented,
            identity: identity.clone(),
            wake: wake.clone(),
            kick: kick_tx,
        },
    );
    shared.metrics.sessions(shared.sessions.count());
    let keep_alive = match connect.keep_alive {
        // MQTT: the server may close after one and a half keep-alive periods of silence.
        0 => Duration::from_secs(shared.listen.idle_timeout_secs),
        k => Duration::from_millis(u64::from(k) * 1500),
    };
    let link = Link {
        connection,
        keep_alive,
        wake,
        kick: kick_rx,
    };
    let why = session(&shared, &identity, &mut framed, link).await;
    shared.sessions.remove(&identity.device_id, connection);
    shared.sessions.end(&identity.device_id, connection).await;
    shared.metrics.sessions(shared.sessions.count());
    log(&format!(
        "{remote}: {}: session ended: {why}",
        identity.device_id
    ));
}

/// For the audit line of a refused device: the certificate's own fields, as the core reads
/// them (no verdict is taken from this).
fn leaf_identity(leaf: &[u8]) -> Option<DeviceIdentity> {
    let cert = chainproof::cert::Cert::from_der(leaf).ok()?;
    let s = cert.summary(0, false);
    Some(DeviceIdentity {
        device_id: chainproof::identity::device_id(&cert, chainproof::IdentitySource::SubjectCn)
            .ok()
            .flatten()
            .unwrap_or_default(),
        serial: s.serial,
        issuer: s.issuer,
        sha256: s.sha256,
        enrollment: None,
    })
}

/// One connection's handles for its session loop.
struct Link {
    connection: u64,
    keep_alive: Duration,
    /// Woken when a cloud-to-device message was held for the device.
    wake: Arc<Notify>,
    kick: watch::Receiver<Option<String>>,
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    identity: &DeviceIdentity,
    framed: &mut Framed<S, Codec>,
    mut link: Link,
) -> String {
    let id = identity.device_id.as_str();
    let keep_alive = link.keep_alive;
    // Packet id -> held message. A reconnect sends every held message again (at least once).
    let mut inflight: HashMap<u16, u64> = HashMap::new();
    let mut next_pkid: u16 = 1;
    let mut cursor: u64 = 0;
    // Whether held messages may be waiting: at the start, after a wake, when the window frees
    // up. The store is not read for every packet the device sends.
    let mut look = true;
    loop {
        if look && inflight.len() < DEVICE_WINDOW {
            let want = DEVICE_WINDOW - inflight.len();
            let rows = match shared.sessions.held_after(id, cursor, want).await {
                Ok(rows) => rows,
                Err(e) => return format!("{e}"),
            };
            // A full batch: more may be waiting behind it.
            look = rows.len() == want;
            for (seq, h) in rows {
                cursor = seq;
                let qos = if h.qos == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                let mut p = Publish::new(h.topic, qos, h.payload);
                if qos == QoS::AtLeastOnce {
                    p.pkid = free_packet_id(&mut next_pkid, 1, &inflight);
                    inflight.insert(p.pkid, seq);
                }
                if framed.send(Packet::Publish(p)).await.is_err() {
                    return "connection lost".into();
                }
                if qos == QoS::AtMostOnce
                    && let Err(e) = shared.sessions.release(seq).await
                {
                    return format!("{e}");
                }
            }
        }
        tokio::select! {
            packet = tokio::time::timeout(keep_alive, framed.next()) => {
                let packet = match packet {
                    Err(_) => return format!("silent for {}s (keep-alive): closed", keep_alive.as_secs()),
                    Ok(None) => return "closed by the device".into(),
                    Ok(Some(Err(e))) => return format!("protocol error: {e}"),
                    Ok(Some(Ok(p))) => p,
                };
                match packet {
                    Packet::Publish(p) => {
                        if !namespace::may_publish(id, &p.topic) {
                            shared.metrics.refused_topic();
                            return format!("refused PUBLISH on {:?}: outside devices/{id}/ (topic-not-allowed)", p.topic);
                        }
                        if p.qos == QoS::ExactlyOnce {
                            return "refused PUBLISH with QoS 2 (the gateway offers QoS 0 and 1)".into();
                        }
                        if let Err(why) = store(shared, identity, &p).await {
                            return why;
                        }
                        if p.qos == QoS::AtLeastOnce
                            && framed.send(Packet::PubAck(PubAck::new(p.pkid))).await.is_err()
                        {
                            return "connection lost".into();
                        }
                    }
                    Packet::Subscribe(s) => {
                        let mut granted = Vec::new();
                        let codes = s
                            .filters
                            .iter()
                            .map(|f| {
                                if namespace::may_subscribe(id, &f.path) {
                                    let qos = match f.qos {
                                        QoS::AtMostOnce => QoS::AtMostOnce,
                                        _ => QoS::AtLeastOnce,
                                    };
                                    granted.push((f.path.clone(), qos as u8));
                                    SubscribeReasonCode::Success(qos)
                                } else {
                                    shared.metrics.refused_topic();
                                    log(&format!("{id}: refused SUBSCRIBE to {:?}: outside devices/{id}/messages/devicebound/ (topic-not-allowed)", f.path));
                                    SubscribeReasonCode::Failure
                                }
                            })
                            .collect();
                        // Recorded in the session before the SUBACK: a persistent session
                        // keeps it.
                        if let Err(e) = shared.sessions.set_filters(id, link.connection, granted, Vec::new()).await {
                            return format!("{e}");
                        }
                        if framed.send(Packet::SubAck(SubAck::new(s.pkid, codes))).await.is_err() {
                            return "connection lost".into();
                        }
                    }
                    Packet::Unsubscribe(u) => {
                        if let Err(e) = shared.sessions.set_filters(id, link.connection, Vec::new(), u.topics).await {
                            return format!("{e}");
                        }
                        if framed.send(Packet::UnsubAck(UnsubAck::new(u.pkid))).await.is_err() {
                            return "connection lost".into();
                        }
                    }
                    Packet::PingReq => {
                        if framed.send(Packet::PingResp).await.is_err() {
                            return "connection lost".into();
                        }
                    }
                    Packet::PubAck(ack) => {
                        if let Some(seq) = inflight.remove(&ack.pkid) {
                            if let Err(e) = shared.sessions.release(seq).await {
                                return format!("{e}");
                            }
                            look = true;
                        }
                    }
                    Packet::Disconnect => return "DISCONNECT".into(),
                    other => return format!("unexpected {other:?}: closed"),
                }
            }
            () = link.wake.notified() => look = true,
            changed = link.kick.changed() => {
                let reason = match changed {
                    Ok(()) => link.kick.borrow().clone().unwrap_or_default(),
                    Err(_) => "gateway shutting down".into(),
                };
                return format!("disconnected by the gateway: {reason}");
            }
        }
    }
}

/// Store a device message durably; while the store is full, wait (no PUBACK meanwhile).
async fn store(shared: &Shared, identity: &DeviceIdentity, p: &Publish) -> Result<(), String> {
    let m = Message {
        device_id: identity.device_id.clone(),
        thumbprint: identity.sha256.clone(),
        enrollment: identity.enrollment.clone().unwrap_or_default(),
        topic: p.topic.clone(),
        payload: p.payload.to_vec(),
    };
    let mut said_full = false;
    loop {
        let m2 = m.clone();
        match store::blocking(&shared.store, move |s| s.append(&m2)).await {
            Ok(_) => {
                shared.metrics.backpressure(false);
                shared.stored.notify_one();
                return Ok(());
            }
            Err(StoreError::Full { max }) => {
                if p.qos == QoS::AtMostOnce {
                    shared.metrics.dropped_qos0();
                    return Ok(());
                }
                if !said_full {
                    log(&format!(
                        "store full ({max} messages): not acknowledging {} until upstream drains it",
                        identity.device_id
                    ));
                    said_full = true;
                }
                shared.metrics.backpressure(true);
                tokio::time::sleep(FULL_RETRY).await;
            }
            Err(e) => return Err(format!("{e}")),
        }
    }
}
