//! Metrics in the Prometheus text format, and `/healthz`, served by tiny_http on their own
//! thread (the device side never waits for it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::store::Store;
use super::upstream::UpstreamState;

/// Upper bounds (seconds) of the validation latency histogram: a P-256 chain takes about a
/// millisecond in the component; the top buckets catch a slow or overloaded validator.
const LATENCY_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0];

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    connections: AtomicU64,
    refused_limit: AtomicU64,
    tls_failures: AtomicU64,
    sessions: AtomicU64,
    accepted: AtomicU64,
    rejected: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<([u64; LATENCY_BUCKETS.len()], u64, f64)>,
    refused_topics: AtomicU64,
    dropped_qos0: AtomicU64,
    backpressure: AtomicBool,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    revoked_sessions: AtomicU64,
    c2d_dropped: AtomicU64,
}

impl Metrics {
    /// A TCP connection was accepted.
    pub fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
    /// A connection was refused at the connection limit.
    pub fn refused_at_limit(&self) {
        self.refused_limit.fetch_add(1, Ordering::Relaxed);
    }
    /// A handshake failed before any certificate decision (garbage, timeout).
    pub fn tls_failure(&self) {
        self.tls_failures.fetch_add(1, Ordering::Relaxed);
    }
    /// Live sessions now.
    pub fn sessions(&self, n: usize) {
        self.sessions.store(n as u64, Ordering::Relaxed);
    }
    /// An authentication decision.
    pub fn decision(&self, verdict: &str, code: Option<&str>) {
        if verdict == "accepted" {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            let mut m = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
            *m.entry(code.unwrap_or("unknown").to_owned()).or_default() += 1;
        }
    }
    /// Time one handshake spent in the validator.
    pub fn validation_seconds(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let s = d.as_secs_f64();
        let mut h = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            if s <= *b {
                h.0[i] += 1;
            }
        }
        h.1 += 1;
        h.2 += s;
    }
    /// A PUBLISH or SUBSCRIBE outside the device's namespace.
    pub fn refused_topic(&self) {
        self.refused_topics.fetch_add(1, Ordering::Relaxed);
    }
    /// A QoS 0 message dropped because the store was full.
    pub fn dropped_qos0(&self) {
        self.dropped_qos0.fetch_add(1, Ordering::Relaxed);
    }
    /// Whether the store is full and devices are not being acknowledged.
    pub fn backpressure(&self, on: bool) {
        self.backpressure.store(on, Ordering::Relaxed);
    }
    /// A reload, and whether it worked.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// A live session closed because a reload revoked it.
    pub fn revoked_session(&self) {
        self.revoked_sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// A held cloud-to-device message was dropped at a bound (`[sessions]`).
    pub fn c2d_dropped(&self) {
        self.c2d_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, store: &Store, upstream: &UpstreamState) -> String {
        let mut o = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            "chainproof_connections_total",
            "TCP connections accepted.",
            get(&self.connections),
        );
        counter(
            "chainproof_connections_refused_limit_total",
            "Connections refused at the connection limit.",
            get(&self.refused_limit),
        );
        counter(
            "chainproof_tls_failures_total",
            "Handshakes that failed before a certificate decision.",
            get(&self.tls_failures),
        );
        counter(
            "chainproof_topic_refusals_total",
            "PUBLISH or SUBSCRIBE outside the device's namespace.",
            get(&self.refused_topics),
        );
        counter(
            "chainproof_qos0_dropped_total",
            "QoS 0 messages dropped while the store was full.",
            get(&self.dropped_qos0),
        );
        counter(
            "chainproof_reloads_total",
            "Successful reloads.",
            get(&self.reloads),
        );
        counter(
            "chainproof_reload_failures_total",
            "Failed reloads (the previous trust kept serving).",
            get(&self.reload_failures),
        );
        counter(
            "chainproof_sessions_revoked_total",
            "Live sessions closed because a reload revoked them.",
            get(&self.revoked_sessions),
        );
        counter(
            "chainproof_c2d_dropped_total",
            "Held cloud-to-device messages dropped at sessions.max_held_per_device or sessions.max_held.",
            get(&self.c2d_dropped),
        );
        let _ = writeln!(
            o,
            "# HELP chainproof_authentications_total Authentication decisions.\n# TYPE chainproof_authentications_total counter"
        );
        let _ = writeln!(
            o,
            "chainproof_authentications_total{{verdict=\"accepted\",code=\"\"}} {}",
            get(&self.accepted)
        );
        for (code, n) in self
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                o,
                "chainproof_authentications_total{{verdict=\"rejected\",code=\"{code}\"}} {n}"
            );
        }
        {
            let h = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(
                o,
                "# HELP chainproof_validation_seconds Time in the validator per handshake.\n# TYPE chainproof_validation_seconds histogram"
            );
            for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "chainproof_validation_seconds_bucket{{le=\"{b}\"}} {}",
                    h.0[i]
                );
            }
            let _ = writeln!(
                o,
                "chainproof_validation_seconds_bucket{{le=\"+Inf\"}} {}\nchainproof_validation_seconds_sum {}\nchainproof_validation_seconds_count {}",
                h.1, h.2, h.1
            );
        }
        let gauge = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut o,
            "chainproof_sessions",
            "Devices connected now.",
            self.sessions.load(Ordering::Relaxed),
        );
        let depth = store.depth().unwrap_or(0);
        gauge(
            &mut o,
            "chainproof_queue_depth",
            "Messages stored, waiting for the upstream broker.",
            depth,
        );
        gauge(
            &mut o,
            "chainproof_queue_capacity",
            "Messages the store holds before backpressure.",
            store.capacity(),
        );
        gauge(
            &mut o,
            "chainproof_c2d_held",
            "Cloud-to-device messages held for device sessions.",
            store.held_count().unwrap_or(0),
        );
        gauge(
            &mut o,
            "chainproof_backpressure",
            "1 while the store is full and devices are not acknowledged.",
            u64::from(self.backpressure.load(Ordering::Relaxed)),
        );
        gauge(
            &mut o,
            "chainproof_upstream_connected",
            "1 while connected to the upstream broker.",
            u64::from(upstream.connected.load(Ordering::Relaxed)),
        );
        o
    }
}

/// Serve `/metrics` and `/healthz` on `addr` from a thread. Returns the bound address.
pub fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    upstream: Arc<UpstreamState>,
) -> Result<SocketAddr, String> {
    let server =
        tiny_http::Server::http(addr).map_err(|e| format!("metrics.address: {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("metrics.address: {addr}: not an IP address"))?;
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let (status, body) = match request.url() {
                "/metrics" => (200, metrics.render(&store, &upstream)),
                "/healthz" => {
                    if upstream.connected.load(Ordering::Relaxed) {
                        (200, "ok\n".to_owned())
                    } else {
                        (503, "upstream disconnected\n".to_owned())
                    }
                }
                _ => (404, "not found\n".to_owned()),
            };
            let _ =
                request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        }
    });
    Ok(bound)
}
