//! A device's MQTT dialect, 3.1.1 or 5, chosen from the protocol level of its CONNECT and hidden
//! behind protocol-neutral packets, so the session logic exists once. Packets are encoded and
//! decoded by rumqttc's codecs (`mqttbytes::v4`, `v5::mqttbytes::v5`); the only bytes read here
//! are the first packet's fixed header and protocol name and level, to choose the codec.

use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::{QoS as QoS4, v4};
use rumqttc::v5::mqttbytes::{QoS as QoS5, v5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{Framed, FramedParts};

/// A CONNECT names its protocol level within its first 12 bytes: the packet type (1), the
/// remaining length (at most 4), the protocol name's length (2) and "MQTT" (4), the level (1).
const LEVEL_PREFIX: usize = 12;

/// MQTT 5's protocol level byte (3.1.1 is 4).
const LEVEL_5: u8 = 5;

/// What a device's CONNECT asks for, in either protocol.
#[derive(Debug)]
pub struct Connect {
    /// MQTT 5 (otherwise 3.1.1).
    pub v5: bool,
    pub client_id: String,
    pub username: Option<String>,
    /// Clean session (3.1.1) or clean start (5).
    pub clean: bool,
    pub keep_alive: u16,
    /// MQTT 5: seconds the session should outlive the connection (absent means 0).
    pub session_expiry: Option<u32>,
    /// MQTT 5: QoS 1 messages the device takes unacknowledged at once.
    pub receive_max: Option<u16>,
    /// MQTT 5: the largest packet the device accepts.
    pub max_packet_size: Option<u32>,
}

/// A PUBLISH from the device. Its MQTT 5 properties (user properties included) are not kept:
/// the store has no field for them, so nothing the device sends can pose as the gateway's
/// identity properties upstream.
#[derive(Debug)]
pub struct Publish {
    pub topic: String,
    /// 0, 1 or 2, as sent.
    pub qos: u8,
    pub pkid: u16,
    pub payload: Bytes,
}

/// A packet from the device.
#[derive(Debug)]
pub enum In {
    Publish(Publish),
    /// Filters with their requested QoS (0, 1 or 2).
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    PubAck(u16),
    Disconnect,
    /// Anything a device may not send to a server here (described for the log).
    Unexpected(String),
}

/// Why CONNECT is refused.
#[derive(Clone, Copy, Debug)]
pub enum Refusal {
    /// The client ID is not the certificate's device ID (3.1.1: identifier rejected; 5: 0x85).
    ClientId,
    /// The user name names another device (3.1.1: identifier rejected; 5: 0x87).
    NotAuthorized,
    /// The gateway cannot open the session (3.1.1: 0x03; 5: 0x88 server unavailable).
    Unavailable,
}

/// What CONNACK says to an accepted device.
#[derive(Clone, Copy, Debug)]
pub struct Accepted {
    pub session_present: bool,
    /// MQTT 5: the session expiry the gateway uses, when it differs from the device's.
    pub session_expiry: Option<u32>,
    /// The largest packet the gateway takes from the device.
    pub max_packet_size: u32,
}

/// Why the gateway closes a session; MQTT 5 devices get a DISCONNECT with the reason code.
#[derive(Clone, Copy, Debug)]
pub enum Close {
    /// 0x8D: silent for 1.5 times the keep-alive.
    KeepAlive,
    /// 0x8E: the same device connected again.
    TakenOver,
    /// 0x87: a topic outside the device's namespace, or a new trust refuses the device.
    NotAuthorized,
    /// 0x9B: QoS 2 (CONNACK said Maximum QoS 1).
    QoSNotSupported,
    /// 0x82: a packet a device may not send.
    ProtocolError,
    /// 0x8B: the gateway stops.
    ShuttingDown,
}

/// One device connection in its protocol.
pub enum Device<S> {
    V4(Framed<S, v4::Codec>),
    V5(Framed<S, v5::Codec>),
}

/// The protocol level a CONNECT at the start of `buf` asks for (`None`: more bytes needed).
/// Anything but "MQTT" level 5 goes to the 3.1.1 codec, which refuses what it cannot read.
fn protocol_level(buf: &[u8]) -> Result<Option<u8>, String> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != 0x10 {
        return Err(format!(
            "expected CONNECT, got packet type byte {first:#04x}"
        ));
    }
    // The remaining length: 1 to 4 bytes, the top bit says another follows.
    let mut header = None;
    for i in 1..=4 {
        match buf.get(i) {
            None => return Ok(None),
            Some(b) if b & 0x80 == 0 => {
                header = Some(i + 1);
                break;
            }
            Some(_) => {}
        }
    }
    let Some(h) = header else {
        return Err("malformed remaining length in CONNECT".into());
    };
    match buf.get(h..h + 7) {
        None => Ok(None),
        Some([0, 4, b'M', b'Q', b'T', b'T', level]) => Ok(Some(*level)),
        // Not "MQTT": the 3.1.1 codec says what is wrong.
        Some(_) => Ok(Some(4)),
    }
}

fn qos4(q: QoS4) -> u8 {
    q as u8
}

fn qos5(q: QoS5) -> u8 {
    q as u8
}

impl<S: AsyncRead + AsyncWrite + Unpin> Device<S> {
    /// Read the device's CONNECT and pick its protocol. At most a few dozen bytes are read
    /// before the codec takes over (its packet size limit is `max_packet`).
    pub async fn accept(mut io: S, max_packet: usize) -> Result<(Device<S>, Connect), String> {
        let mut buf = BytesMut::with_capacity(LEVEL_PREFIX);
        let level = loop {
            if let Some(level) = protocol_level(&buf)? {
                break level;
            }
            match io.read_buf(&mut buf).await {
                Ok(0) => return Err("closed before CONNECT".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("reading CONNECT: {e}")),
            }
        };
        if level == LEVEL_5 {
            let max = u32::try_from(max_packet).unwrap_or(u32::MAX);
            let mut parts = FramedParts::new::<v5::Packet>(
                io,
                v5::Codec {
                    max_incoming_size: Some(max),
                    max_outgoing_size: Some(max),
                },
            );
            parts.read_buf = buf;
            let mut framed = Framed::from_parts(parts);
            let (c, login) = match framed.next().await {
                Some(Ok(v5::Packet::Connect(c, _will, login))) => (c, login),
                Some(Ok(other)) => return Err(format!("expected CONNECT, got {other:?}")),
                Some(Err(e)) => return Err(format!("bad CONNECT: {e}")),
                None => return Err("closed before CONNECT".into()),
            };
            let p = c.properties.as_ref();
            let connect = Connect {
                v5: true,
                client_id: c.client_id,
                username: login.map(|l| l.username),
                clean: c.clean_start,
                keep_alive: c.keep_alive,
                session_expiry: p.and_then(|p| p.session_expiry_interval),
                receive_max: p.and_then(|p| p.receive_maximum),
                max_packet_size: p.and_then(|p| p.max_packet_size),
            };
            Ok((Device::V5(framed), connect))
        } else {
            let mut parts = FramedParts::new::<v4::Packet>(
                io,
                v4::Codec {
                    max_incoming_size: max_packet,
                    max_outgoing_size: max_packet,
                },
            );
            parts.read_buf = buf;
            let mut framed = Framed::from_parts(parts);
            let c = match framed.next().await {
                Some(Ok(v4::Packet::Connect(c))) => c,
                Some(Ok(other)) => return Err(format!("expected CONNECT, got {other:?}")),
                Some(Err(e)) => return Err(format!("bad CONNECT: {e}")),
                None => return Err("closed before CONNECT".into()),
            };
            let connect = Connect {
                v5: false,
                client_id: c.client_id,
                username: c.login.map(|l| l.username),
                clean: c.clean_session,
                keep_alive: c.keep_alive,
                session_expiry: None,
                receive_max: None,
                max_packet_size: None,
            };
            Ok((Device::V4(framed), connect))
        }
    }

    /// Send CONNACK: accepted (with the gateway's limits, for MQTT 5) or refused.
    pub async fn connack(&mut self, answer: Result<Accepted, Refusal>) -> Result<(), String> {
        match self {
            Device::V4(f) => {
                let ack = match answer {
                    Ok(a) => v4::ConnAck::new(v4::ConnectReturnCode::Success, a.session_present),
                    Err(Refusal::ClientId | Refusal::NotAuthorized) => {
                        v4::ConnAck::new(v4::ConnectReturnCode::BadClientId, false)
                    }
                    Err(Refusal::Unavailable) => {
                        v4::ConnAck::new(v4::ConnectReturnCode::ServiceUnavailable, false)
                    }
                };
                f.send(v4::Packet::ConnAck(ack))
                    .await
                    .map_err(|e| e.to_string())
            }
            Device::V5(f) => {
                let (code, session_present, properties) = match answer {
                    Ok(a) => (
                        v5::ConnectReturnCode::Success,
                        a.session_present,
                        Some(v5::ConnAckProperties {
                            session_expiry_interval: a.session_expiry,
                            receive_max: None,
                            max_qos: Some(1),
                            retain_available: Some(0),
                            max_packet_size: Some(a.max_packet_size),
                            assigned_client_identifier: None,
                            // No topic aliases (Topic Alias Maximum 0).
                            topic_alias_max: None,
                            reason_string: None,
                            user_properties: Vec::new(),
                            wildcard_subscription_available: None,
                            subscription_identifiers_available: Some(0),
                            shared_subscription_available: Some(0),
                            server_keep_alive: None,
                            response_information: None,
                            server_reference: None,
                            authentication_method: None,
                            authentication_data: None,
                        }),
                    ),
                    Err(Refusal::ClientId) => {
                        (v5::ConnectReturnCode::ClientIdentifierNotValid, false, None)
                    }
                    Err(Refusal::NotAuthorized) => {
                        (v5::ConnectReturnCode::NotAuthorized, false, None)
                    }
                    Err(Refusal::Unavailable) => {
                        (v5::ConnectReturnCode::ServerUnavailable, false, None)
                    }
                };
                let ack = v5::ConnAck {
                    session_present,
                    code,
                    properties,
                };
                f.send(v5::Packet::ConnAck(ack))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Limit what the gateway sends to the device's own maximum packet size (MQTT 5).
    pub fn limit_outgoing(&mut self, max: u32) {
        if let Device::V5(f) = self {
            let ours = f.codec().max_outgoing_size.unwrap_or(u32::MAX);
            f.codec_mut().max_outgoing_size = Some(ours.min(max));
        }
    }

    /// The next packet from the device.
    pub async fn next(&mut self) -> Option<Result<In, String>> {
        let packet = match self {
            Device::V4(f) => match f.next().await? {
                Err(e) => Err(e.to_string()),
                Ok(v4::Packet::Publish(p)) => Ok(In::Publish(Publish {
                    topic: p.topic,
                    qos: qos4(p.qos),
                    pkid: p.pkid,
                    payload: p.payload,
                })),
                Ok(v4::Packet::Subscribe(s)) => Ok(In::Subscribe {
                    pkid: s.pkid,
                    filters: s
                        .filters
                        .into_iter()
                        .map(|f| (f.path, qos4(f.qos)))
                        .collect(),
                }),
                Ok(v4::Packet::Unsubscribe(u)) => Ok(In::Unsubscribe {
                    pkid: u.pkid,
                    filters: u.topics,
                }),
                Ok(v4::Packet::PingReq) => Ok(In::PingReq),
                Ok(v4::Packet::PubAck(a)) => Ok(In::PubAck(a.pkid)),
                Ok(v4::Packet::Disconnect) => Ok(In::Disconnect),
                Ok(other) => Ok(In::Unexpected(format!("{other:?}"))),
            },
            Device::V5(f) => match f.next().await? {
                Err(e) => Err(e.to_string()),
                Ok(v5::Packet::Publish(p)) => match String::from_utf8(p.topic.to_vec()) {
                    Ok(topic) => Ok(In::Publish(Publish {
                        topic,
                        qos: qos5(p.qos),
                        pkid: p.pkid,
                        payload: p.payload,
                    })),
                    Err(_) => Err("a PUBLISH topic that is not UTF-8".into()),
                },
                Ok(v5::Packet::Subscribe(s)) => Ok(In::Subscribe {
                    pkid: s.pkid,
                    filters: s
                        .filters
                        .into_iter()
                        .map(|f| (f.path, qos5(f.qos)))
                        .collect(),
                }),
                Ok(v5::Packet::Unsubscribe(u)) => Ok(In::Unsubscribe {
                    pkid: u.pkid,
                    filters: u.filters,
                }),
                Ok(v5::Packet::PingReq(_)) => Ok(In::PingReq),
                // A refusing reason code is the device's final word too: the message is done.
                Ok(v5::Packet::PubAck(a)) => Ok(In::PubAck(a.pkid)),
                Ok(v5::Packet::Disconnect(_)) => Ok(In::Disconnect),
                Ok(other) => Ok(In::Unexpected(format!("{other:?}"))),
            },
        };
        Some(packet)
    }

    /// Send a cloud-to-device message with QoS 0 or 1. `Ok(false)`: larger than the device's
    /// maximum packet size (MQTT 5), so not sent.
    pub async fn publish(
        &mut self,
        topic: String,
        qos: u8,
        pkid: u16,
        payload: Vec<u8>,
    ) -> Result<bool, String> {
        match self {
            Device::V4(f) => {
                let q = if qos == 0 {
                    QoS4::AtMostOnce
                } else {
                    QoS4::AtLeastOnce
                };
                let mut p = v4::Publish::new(topic, q, payload);
                p.pkid = if qos == 0 { 0 } else { pkid };
                f.send(v4::Packet::Publish(p))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Device::V5(f) => {
                let q = if qos == 0 {
                    QoS5::AtMostOnce
                } else {
                    QoS5::AtLeastOnce
                };
                let mut p = v5::Publish::new(topic, q, payload, None);
                p.pkid = if qos == 0 { 0 } else { pkid };
                let max = f.codec().max_outgoing_size.unwrap_or(u32::MAX);
                if p.size() > max as usize {
                    return Ok(false);
                }
                f.send(v5::Packet::Publish(p))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(true)
    }

    /// Acknowledge a stored QoS 1 PUBLISH (MQTT 5: reason code 0x00).
    pub async fn puback(&mut self, pkid: u16) -> Result<(), String> {
        match self {
            Device::V4(f) => f.send(v4::Packet::PubAck(v4::PubAck::new(pkid))).await,
            Device::V5(f) => {
                return f
                    .send(v5::Packet::PubAck(v5::PubAck::new(pkid, None)))
                    .await
                    .map_err(|e| e.to_string());
            }
        }
        .map_err(|e| e.to_string())
    }

    /// Answer a SUBSCRIBE: the granted QoS per filter, `None` for a refused one (3.1.1: 0x80;
    /// 5: 0x87 not authorized).
    pub async fn suback(&mut self, pkid: u16, granted: Vec<Option<u8>>) -> Result<(), String> {
        match self {
            Device::V4(f) => {
                let codes = granted
                    .into_iter()
                    .map(|g| match g {
                        Some(0) => v4::SubscribeReasonCode::Success(QoS4::AtMostOnce),
                        Some(_) => v4::SubscribeReasonCode::Success(QoS4::AtLeastOnce),
                        None => v4::SubscribeReasonCode::Failure,
                    })
                    .collect();
                f.send(v4::Packet::SubAck(v4::SubAck::new(pkid, codes)))
                    .await
                    .map_err(|e| e.to_string())
            }
            Device::V5(f) => {
                let return_codes = granted
                    .into_iter()
                    .map(|g| match g {
                        Some(0) => v5::SubscribeReasonCode::Success(QoS5::AtMostOnce),
                        Some(_) => v5::SubscribeReasonCode::Success(QoS5::AtLeastOnce),
                        None => v5::SubscribeReasonCode::NotAuthorized,
                    })
                    .collect();
                let ack = v5::SubAck {
                    pkid,
                    return_codes,
                    properties: None,
                };
                f.send(v5::Packet::SubAck(ack))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Answer an UNSUBSCRIBE of `n` filters (MQTT 5: success for each).
    pub async fn unsuback(&mut self, pkid: u16, n: usize) -> Result<(), String> {
        match self {
            Device::V4(f) => f
                .send(v4::Packet::UnsubAck(v4::UnsubAck::new(pkid)))
                .await
                .map_err(|e| e.to_string()),
            Device::V5(f) => {
                let ack = v5::UnsubAck {
                    pkid,
                    reasons: vec![v5::UnsubAckReason::Success; n],
                    properties: None,
                };
                f.send(v5::Packet::UnsubAck(ack))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    pub async fn pingresp(&mut self) -> Result<(), String> {
        match self {
            Device::V4(f) => f.send(v4::Packet::PingResp).await,
            Device::V5(f) => {
                return f
                    .send(v5::Packet::PingResp(v5::PingResp))
                    .await
                    .map_err(|e| e.to_string());
            }
        }
        .map_err(|e| e.to_string())
    }

    /// Tell an MQTT 5 device why the gateway closes the connection (3.1.1 has no way to).
    pub async fn disconnect(&mut self, why: Close) {
        if let Device::V5(f) = self {
            use v5::DisconnectReasonCode as R;
            let code = match why {
                Close::KeepAlive => R::KeepAliveTimeout,
                Close::TakenOver => R::SessionTakenOver,
                Close::NotAuthorized => R::NotAuthorized,
                Close::QoSNotSupported => R::QoSNotSupported,
                Close::ProtocolError => R::ProtocolError,
                Close::ShuttingDown => R::ServerShuttingDown,
            };
            let _ = f
                .send(v5::Packet::Disconnect(v5::Disconnect::new(code)))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_level_from_the_first_bytes() {
        // CONNECT, remaining length 16, "MQTT", level 5 / 4.
        let v5 = [0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 5, 2];
        assert_eq!(protocol_level(&v5), Ok(Some(5)));
        let v4 = [0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 4];
        assert_eq!(protocol_level(&v4), Ok(Some(4)));
        // A two-byte remaining length.
        let long = [0x10, 0x80, 0x01, 0, 4, b'M', b'Q', b'T', b'T', 5];
        assert_eq!(protocol_level(&long), Ok(Some(5)));
        // Too short yet.
        for n in 0..v5.len() - 1 {
            assert_eq!(protocol_level(&v5[..n]), Ok(None), "{n}");
        }
        // MQTT 3.1's "MQIsdp": left to the 3.1.1 codec to refuse.
        let old = [0x10, 16, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3];
        assert_eq!(protocol_level(&old), Ok(Some(4)));
        assert!(protocol_level(&[0x30, 0]).is_err());
        assert!(protocol_level(&[0x10, 0xff, 0xff, 0xff, 0xff, 0]).is_err());
    }
}
