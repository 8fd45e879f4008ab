//! The devices' side of a load run: TCP connect, TLS with the device's certificate, MQTT
//! CONNECT with its client ID, CONNACK; with a limit on handshakes in flight, and optionally
//! every accepted connection held open until all devices have had their turn.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rumqttc::mqttbytes::v4::{Codec, Connect, ConnectReturnCode, Packet};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::codec::Framed;

/// Largest MQTT packet the load tool accepts or sends: it only exchanges CONNECT, CONNACK,
/// PINGREQ/PINGRESP and DISCONNECT, all a few bytes long.
const MAX_PACKET: usize = 4096;

/// How long a held connection may take to answer the PINGREQ that proves it is still served.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// How one device's connection ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// CONNACK with return code 0.
    Accepted,
    /// The server refused: a TLS alert, the connection closed before CONNACK, or a CONNACK
    /// refusal. The text says which.
    Rejected(String),
    /// The attempt did not reach a verdict: TCP connect failed, the server's own certificate
    /// was not trusted, or the timeout passed.
    Error(String),
}

/// One device's attempt.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Index of the device in the run.
    pub index: usize,
    /// What happened.
    pub outcome: Outcome,
    /// From the start of the TCP connect to CONNACK (or to the refusal).
    pub latency: Duration,
    /// In a held run, whether the accepted connection still answered a PINGREQ once every
    /// device had connected; `None` when not held or not accepted.
    pub alive_at_peak: Option<bool>,
}

/// One device, ready to connect.
pub struct Device {
    /// Its TLS configuration (its certificate chain and key, the server CA).
    pub tls: Arc<ClientConfig>,
    /// The MQTT client ID it sends.
    pub client_id: String,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Where to connect.
    pub target: SocketAddr,
    /// The name the server's certificate must carry.
    pub server_name: ServerName<'static>,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// Hold accepted connections open until every device has had its turn.
    pub hold: bool,
    /// Limit from TCP connect to CONNACK.
    pub timeout: Duration,
    /// Keep-alive sent in CONNECT, seconds.
    pub keep_alive: u16,
}

/// What the run measured besides the attempts.
#[derive(Debug)]
pub struct Run {
    /// Every device's attempt, in device order.
    pub attempts: Vec<Attempt>,
    /// From the start to the last verdict.
    pub duration: Duration,
    /// Accepted connections open at once when the last verdict arrived (held runs).
    pub open_at_peak: usize,
}

/// The refusal or failure a TLS or socket error stands for.
fn classify(e: &std::io::Error, stage: &str) -> Outcome {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match tls {
            rustls::Error::AlertReceived(alert) => {
                Outcome::Rejected(format!("TLS alert {alert:?}"))
            }
            // Our side gave up: the server's certificate, a protocol error.
            other => Outcome::Error(format!("TLS ({stage}): {other}")),
        };
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => Outcome::Rejected(format!("closed ({stage})")),
        _ => Outcome::Error(format!("{stage}: {e}")),
    }
}

fn mqtt_failure(e: rumqttc::mqttbytes::Error, stage: &str) -> Outcome {
    match e {
        rumqttc::mqttbytes::Error::Io(io) => classify(&io, stage),
        other => Outcome::Error(format!("{stage}: {other}")),
    }
}

type Session = Framed<tokio_rustls::client::TlsStream<TcpStream>, Codec>;

/// TCP, TLS, CONNECT, CONNACK. `Ok` holds the open session.
async fn handshake(plan: &Plan, device: &Device) -> Result<Session, Outcome> {
    let tcp = TcpStream::connect(plan.target)
        .await
        .map_err(|e| Outcome::Error(format!("TCP connect: {e}")))?;
    // Each handshake flight is one small write: do not let Nagle hold it back.
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(device.tls.clone())
        .connect(plan.server_name.clone(), tcp)
        .await
        .map_err(|e| classify(&e, "TLS handshake"))?;
    let mut framed = Framed::new(
        tls,
        Codec {
            max_incoming_size: MAX_PACKET,
            max_outgoing_size: MAX_PACKET,
        },
    );
    let mut connect = Connect::new(device.client_id.clone());
    connect.keep_alive = plan.keep_alive;
    connect.clean_session = true;
    framed
        .send(Packet::Connect(connect))
        .await
        .map_err(|e| mqtt_failure(e, "CONNECT"))?;
    // TLS 1.3: the server checks the client certificate after the client's handshake is done,
    // so a refused certificate arrives here, as an alert instead of CONNACK.
    match framed.next().await {
        Some(Ok(Packet::ConnAck(a))) if a.code == ConnectReturnCode::Success => Ok(framed),
        Some(Ok(Packet::ConnAck(a))) => Err(Outcome::Rejected(format!("CONNACK {:?}", a.code))),
        Some(Ok(other)) => Err(Outcome::Error(format!("expected CONNACK, got {other:?}"))),
        Some(Err(e)) => Err(mqtt_failure(e, "waiting for CONNACK")),
        None => Err(Outcome::Rejected("closed (waiting for CONNACK)".into())),
    }
}

/// PINGREQ, PINGRESP, DISCONNECT: whether the held session was still being served.
async fn ping_and_close<S: AsyncRead + AsyncWrite + Unpin>(framed: &mut Framed<S, Codec>) -> bool {
    let alive = async {
        framed.send(Packet::PingReq).await.ok()?;
        loop {
            match framed.next().await {
                Some(Ok(Packet::PingResp)) => return Some(()),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    };
    let ok = matches!(
        tokio::time::timeout(PING_TIMEOUT, alive).await,
        Ok(Some(()))
    );
    let _ = framed.send(Packet::Disconnect).await;
    ok
}

/// Connections opened before a measured run and kept open through it (`--background`).
pub struct Background {
    sessions: Vec<Session>,
    /// Devices asked to connect.
    requested: usize,
    /// Why the ones that did not connect failed.
    failures: Vec<String>,
}

/// What became of the background connections (`--background`).
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct BackgroundReport {
    /// Devices asked to connect before the measured run.
    pub requested: usize,
    /// Connected and held open through the measured run.
    pub open: usize,
    /// Of those, still answering a PINGREQ after it.
    pub alive_after: usize,
    /// Why devices that did not connect failed (each reason once, with its count).
    pub failures: Vec<String>,
}

impl BackgroundReport {
    /// Every background device connected and was still served after the run.
    pub fn complete(&self) -> bool {
        self.open == self.requested && self.alive_after == self.open
    }
}

/// Connect `devices` (each expected to be accepted), `plan.concurrency` at a time, and keep
/// the sessions.
pub async fn open_background(plan: &Plan, devices: Vec<Device>) -> Background {
    let requested = devices.len();
    let limit = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let plan = Arc::new(plan.clone());
    let tasks: Vec<_> = devices
        .into_iter()
        .map(|device| {
            let (limit, plan) = (limit.clone(), plan.clone());
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                match tokio::time::timeout(plan.timeout, handshake(&plan, &device)).await {
                    Ok(Ok(session)) => Ok(session),
                    Ok(Err(Outcome::Rejected(why) | Outcome::Error(why))) => Err(why),
                    Ok(Err(Outcome::Accepted)) => Err("accepted without a session".into()),
                    Err(_) => Err(format!("no verdict within {} s", plan.timeout.as_secs())),
                }
            })
        })
        .collect();
    let mut bg = Background {
        sessions: Vec::with_capacity(requested),
        requested,
        failures: Vec::new(),
    };
    for t in tasks {
        match t.await {
            Ok(Ok(session)) => bg.sessions.push(session),
            Ok(Err(why)) => bg.failures.push(why),
            Err(e) => bg.failures.push(format!("load task failed: {e}")),
        }
    }
    bg
}

/// Check every background session still answers a PINGREQ, then disconnect them.
pub async fn close_background(bg: Background) -> BackgroundReport {
    let open = bg.sessions.len();
    let checks: Vec<_> = bg
        .sessions
        .into_iter()
        .map(|mut s| tokio::spawn(async move { ping_and_close(&mut s).await }))
        .collect();
    let mut alive_after = 0;
    for c in checks {
        alive_after += usize::from(matches!(c.await, Ok(true)));
    }
    let mut counted: std::collections::BTreeMap<String, usize> = Default::default();
    for f in bg.failures {
        *counted.entry(f).or_default() += 1;
    }
    BackgroundReport {
        requested: bg.requested,
        open,
        alive_after,
        failures: counted
            .into_iter()
            .map(|(why, n)| format!("{n} x {why}"))
            .collect(),
    }
}

/// Run every device once under `plan`. Returns when every device has its verdict and held
/// connections are closed. `at_peak` is called once, when the last verdict is in and (in a
/// held run) every accepted connection is still open: the moment to sample the server.
pub async fn run(plan: Plan, devices: Vec<Device>, at_peak: impl FnOnce(usize)) -> Run {
    let total = devices.len();
    let limit = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<bool>();
    let (release_tx, release_rx) = watch::channel(false);
    let plan = Arc::new(plan);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for (index, device) in devices.into_iter().enumerate() {
        let limit = limit.clone();
        let done = done_tx.clone();
        let mut release = release_rx.clone();
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await;
            let began = Instant::now();
            let result = match tokio::time::timeout(plan.timeout, handshake(&plan, &device)).await {
                Ok(r) => r,
                Err(_) => Err(Outcome::Error(format!(
                    "no verdict within {} s",
                    plan.timeout.as_secs()
                ))),
            };
            let latency = began.elapsed();
            drop(permit);
            let (outcome, session) = match result {
                Ok(session) => (Outcome::Accepted, Some(session)),
                Err(o) => (o, None),
            };
            let held = plan.hold && session.is_some();
            let _ = done.send(held);
            let alive_at_peak = match session {
                Some(mut s) if plan.hold => {
                    // Wait for the signal that every device has its verdict.
                    let _ = release.wait_for(|go| *go).await;
                    Some(ping_and_close(&mut s).await)
                }
                Some(mut s) => {
                    let _ = s.send(Packet::Disconnect).await;
                    None
                }
                None => None,
            };
            Attempt {
                index,
                outcome,
                latency,
                alive_at_peak,
            }
        }));
    }
    drop(done_tx);
    let mut open = 0usize;
    let mut seen = 0usize;
    while seen < total {
        match done_rx.recv().await {
            Some(held) => {
                seen += 1;
                open += usize::from(held);
            }
            None => break,
        }
    }
    let duration = start.elapsed();
    at_peak(open);
    let _ = release_tx.send(true);
    let mut attempts = Vec::with_capacity(total);
    for (index, t) in tasks.into_iter().enumerate() {
        attempts.push(t.await.unwrap_or_else(|e| Attempt {
            index,
            outcome: Outcome::Error(format!("load task failed: {e}")),
            latency: Duration::ZERO,
            alive_at_peak: None,
        }));
    }
    Run {
        attempts,
        duration,
        open_at_peak: open,
    }
}
