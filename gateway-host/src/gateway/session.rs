//! One device connection: TLS (the validator decides in the handshake), CONNECT (the client
//! ID must be the certificate's device ID), then MQTT 3.1.1 or 5 (chosen from the CONNECT's
//! protocol level, see [`wire`]) with QoS 0/1 inside the device's namespace. A QoS 1 PUBLISH
//! is acknowledged only once stored on disk. Cloud-to-device messages reach the device from
//! its session's held messages in the store, each released once the device acknowledges it
//! (or once sent, at QoS 0).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

use super::audit::{AuditLog, Decision};
use super::auth::{DeviceAuthenticator, DeviceIdentity};
use super::config::Listen;
use super::metrics::Metrics;
use super::sessions::{Entry, Kick, Sessions, free_packet_id};
use super::store::{self, Message, Store, StoreError};
use super::tls::{DeviceVerifier, ServerIdentity, no_certificate};
use super::{log, namespace, unix_now};
use chainproof_gateway::engine::Rejection;

mod wire;
use wire::{Accepted, Close, Device, In, Publish, Refusal};

/// Held cloud-to-device messages in flight to one device at once (sent, not yet
/// acknowledged): a device's MQTT stack handles a few at a time; the rest wait on disk.
const DEVICE_WINDOW: usize = 16;

/// How long a closing connection may take to send an MQTT 5 DISCONNECT.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

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
    // The certificates it was admitted with are kept for the re-check after a reload.
    let (Some(identity), Some(leaf)) = (
        outcome.accepted().and_then(DeviceIdentity::of),
        outcome.leaf.clone(),
    ) else {
        log(&format!(
            "{remote}: handshake finished without an accepted device: closed"
        ));
        return;
    };
    let presented = outcome.intermediates.clone();
    let accepted = tokio::time::timeout_at(
        deadline.into(),
        Device::accept(tls, shared.listen.max_packet_bytes),
    )
    .await;
    let (mut device, connect) = match accepted {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            log(&format!("{remote}: {}: {e}: closed", identity.device_id));
            return;
        }
        Err(_) => {
            log(&format!(
                "{remote}: {}: no CONNECT within the handshake timeout: closed",
                identity.device_id
            ));
            return;
        }
    };
    let username = connect.username.as_deref();
    if let Err(m) = namespace::check_connect(&identity.device_id, &connect.client_id, username) {
        let refusal = match m.by {
            namespace::Claim::ClientId => Refusal::ClientId,
            namespace::Claim::UserName => Refusal::NotAuthorized,
        };
        // The core's words: "the certificate is for device {found}, not {expected}".
        let r = Rejection::from(chainproof::Error::DeviceIdMismatch {
            expected: m.claimed,
            found: identity.device_id.clone(),
        });
        shared.audit(decision(remote, Some(&identity), Some(&r)));
        let _ = device.connack(Err(refusal)).await;
        return;
    }
    shared.audit(decision(remote, Some(&identity), None));
    let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    // MQTT 5: a session outlives the connection only with clean start = false and an expiry
    // interval above 0. The store keeps every offline persistent session for
    // `sessions.expiry_secs`, and CONNACK tells the device when that differs from its request.
    let persistent = !connect.clean && (!connect.v5 || connect.session_expiry.unwrap_or(0) > 0);
    let expiry = u32::try_from(shared.sessions.expiry_secs()).unwrap_or(u32::MAX);
    let session_expiry =
        (connect.v5 && persistent && connect.session_expiry != Some(expiry)).then_some(expiry);
    let present = match shared
        .sessions
        .begin(&identity.device_id, !persistent, connection)
        .await
    {
        Ok(present) => present,
        Err(e) => {
            log(&format!(
                "{remote}: {}: cannot open its session: {e}: closed",
                identity.device_id
            ));
            let _ = device.connack(Err(Refusal::Unavailable)).await;
            return;
        }
    };
    let ack = Accepted {
        session_present: present,
        session_expiry,
        max_packet_size: u32::try_from(shared.listen.max_packet_bytes).unwrap_or(u32::MAX),
    };
    if device.connack(Ok(ack)).await.is_err() {
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
    if let Some(max) = connect.max_packet_size {
        device.limit_outgoing(max);
    }
    // MQTT 5: the device's receive maximum bounds the unacknowledged messages sent to it.
    let window = connect
        .receive_max
        .map_or(DEVICE_WINDOW, |m| DEVICE_WINDOW.min(usize::from(m.max(1))));
    let link = Link {
        connection,
        keep_alive,
        window,
        wake,
        kick: kick_rx,
    };
    let (why, close) = session(&shared, &identity, &mut device, link).await;
    if let Some(close) = close {
        // Best effort and bounded: the connection is going away either way.
        let _ = tokio::time::timeout(CLOSE_WAIT, device.disconnect(close)).await;
    }
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
    /// Cloud-to-device messages in flight to the device at once.
    window: usize,
    /// Woken when a cloud-to-device message was held for the device.
    wake: Arc<Notify>,
    kick: watch::Receiver<Option<Kick>>,
}

/// Why a session ended, and what an MQTT 5 device is told (`None`: the device closed it, or
/// the connection is gone).
type Ended = (String, Option<Close>);

fn lost() -> Ended {
    ("connection lost".into(), None)
}

fn failed(e: impl std::fmt::Display) -> Ended {
    (e.to_string(), None)
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    identity: &DeviceIdentity,
    device: &mut Device<S>,
    mut link: Link,
) -> Ended {
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
        if look && inflight.len() < link.window {
            let want = link.window - inflight.len();
            let rows = match shared.sessions.held_after(id, cursor, want).await {
                Ok(rows) => rows,
                Err(e) => return failed(e),
            };
            // A full batch: more may be waiting behind it.
            look = rows.len() == want;
            for (seq, h) in rows {
                cursor = seq;
                let pkid = if h.qos == 0 {
                    0
                } else {
                    free_packet_id(&mut next_pkid, 1, &inflight)
                };
                match device.publish(h.topic, h.qos, pkid, h.payload).await {
                    Err(_) => return lost(),
                    Ok(true) if h.qos > 0 => {
                        inflight.insert(pkid, seq);
                        continue;
                    }
                    Ok(true) => {}
                    Ok(false) => log(&format!(
                        "{id}: dropped a held cloud-to-device message larger than the device's maximum packet size"
                    )),
                }
                // Sent with QoS 0, or too large for the device: done with it.
                if let Err(e) = shared.sessions.release(seq).await {
                    return failed(e);
                }
            }
        }
        tokio::select! {
            packet = tokio::time::timeout(keep_alive, device.next()) => {
                let packet = match packet {
                    Err(_) => return (format!("silent for {}s (keep-alive): closed", keep_alive.as_secs()), Some(Close::KeepAlive)),
                    Ok(None) => return ("closed by the device".into(), None),
                    Ok(Some(Err(e))) => return (format!("protocol error: {e}"), None),
                    Ok(Some(Ok(p))) => p,
                };
                match packet {
                    In::Publish(p) => {
                        if !namespace::may_publish(id, &p.topic) {
                            shared.metrics.refused_topic();
                            return (format!("refused PUBLISH on {:?}: outside devices/{id}/ (topic-not-allowed)", p.topic), Some(Close::NotAuthorized));
                        }
                        if p.qos > 1 {
                            return ("refused PUBLISH with QoS 2 (the gateway offers QoS 0 and 1)".into(), Some(Close::QoSNotSupported));
                        }
                        if let Err(why) = store(shared, identity, &p).await {
                            return (why, None);
                        }
                        if p.qos == 1 && device.puback(p.pkid).await.is_err() {
                            return lost();
                        }
                    }
                    In::Subscribe { pkid, filters } => {
                        let mut granted = Vec::new();
                        let codes = filters
                            .into_iter()
                            .map(|(path, qos)| {
                                if namespace::may_subscribe(id, &path) {
                                    let qos = qos.min(1);
                                    granted.push((path, qos));
                                    Some(qos)
                                } else {
                                    shared.metrics.refused_topic();
                                    log(&format!("{id}: refused SUBSCRIBE to {path:?}: outside devices/{id}/messages/devicebound/ (topic-not-allowed)"));
                                    None
                                }
                            })
                            .collect();
                        // Recorded in the session before the SUBACK: a persistent session
                        // keeps it.
                        if let Err(e) = shared.sessions.set_filters(id, link.connection, granted, Vec::new()).await {
                            return failed(e);
                        }
                        if device.suback(pkid, codes).await.is_err() {
                            return lost();
                        }
                    }
                    In::Unsubscribe { pkid, filters } => {
                        let n = filters.len();
                        if let Err(e) = shared.sessions.set_filters(id, link.connection, Vec::new(), filters).await {
                            return failed(e);
                        }
                        if device.unsuback(pkid, n).await.is_err() {
                            return lost();
                        }
                    }
                    In::PingReq => {
                        if device.pingresp().await.is_err() {
                            return lost();
                        }
                    }
                    In::PubAck(pkid) => {
                        if let Some(seq) = inflight.remove(&pkid) {
                            if let Err(e) = shared.sessions.release(seq).await {
                                return failed(e);
                            }
                            look = true;
                        }
                    }
                    In::Disconnect => return ("DISCONNECT".into(), None),
                    In::Unexpected(other) => return (format!("unexpected {other}: closed"), Some(Close::ProtocolError)),
                }
            }
            () = link.wake.notified() => look = true,
            changed = link.kick.changed() => {
                let (reason, close) = match changed {
                    Ok(()) => match link.kick.borrow().clone() {
                        Some(Kick::TakenOver) => (Kick::TakenOver.to_string(), Close::TakenOver),
                        Some(k) => (k.to_string(), Close::NotAuthorized),
                        None => (String::new(), Close::NotAuthorized),
                    },
                    Err(_) => ("gateway shutting down".into(), Close::ShuttingDown),
                };
                return (format!("disconnected by the gateway: {reason}"), Some(close));
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
                if p.qos == 0 {
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
