//! The gateway's configuration file (TOML, docs/gateway.md). Every setting has a default except
//! the trust policy; an error names the field at fault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Largest MQTT packet from a device by default: Azure IoT Hub's own device-to-cloud limit is
/// 256 KiB, so an SDK never needs more.
pub const DEFAULT_MAX_PACKET_BYTES: usize = 256 * 1024;

/// Connections served at once by default; each costs a task, two TLS buffers and a validator
/// call at handshake, so this bounds memory on a small edge box.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Seconds a device has to finish TLS and send CONNECT; a stalled peer is dropped after this.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;

/// Seconds without any packet after which a connection without keep-alive is dropped.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;

/// Messages held in the store-and-forward queue before the gateway stops acknowledging.
pub const DEFAULT_STORE_MAX_MESSAGES: u64 = 100_000;

/// Cloud-to-device messages held per device for an offline persistent session: Azure IoT Hub
/// queues at most 50 per device, so a device behind the gateway loses nothing it would keep.
pub const DEFAULT_SESSION_MAX_HELD_PER_DEVICE: u64 = 50;

/// Cloud-to-device messages held for all devices together: with Azure's 64 KiB C2D payload
/// limit this bounds the store's share for them to about 640 MiB.
pub const DEFAULT_SESSION_MAX_HELD: u64 = 10_000;

/// Seconds an offline persistent session is kept (one day): long enough for a device that
/// reboots or loses its link overnight; Azure keeps a C2D message for at most two days.
pub const DEFAULT_SESSION_EXPIRY_SECS: u64 = 86_400;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where devices connect.
    #[serde(default)]
    pub listen: Listen,
    /// Who is trusted (required).
    pub trust: Trust,
    /// The validator that decides.
    #[serde(default)]
    pub validator: ValidatorConfig,
    /// The upstream broker (default: plain MQTT on 127.0.0.1:1883).
    #[serde(default)]
    pub upstream: Upstream,
    /// Store-and-forward.
    #[serde(default)]
    pub store: StoreConfig,
    /// Device sessions (persistent sessions and held cloud-to-device messages).
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Metrics and health.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// The audit log.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The log file, appended to (default `chainproof-audit.jsonl`).
    #[serde(default = "default_audit_path")]
    pub path: PathBuf,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            path: default_audit_path(),
        }
    }
}

/// `/metrics` and `/healthz`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to serve on (default `127.0.0.1:9883`; port 0 picks a free one).
    #[serde(default = "default_metrics")]
    pub address: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            address: default_metrics(),
        }
    }
}

/// The device-facing listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Address and port (default `127.0.0.1:8883`).
    #[serde(default = "default_listen")]
    pub address: SocketAddr,
    /// The gateway's own TLS certificate chain (PEM), leaf first.
    pub cert: Option<PathBuf>,
    /// The key of that certificate (PEM, PKCS#8 or SEC1).
    pub key: Option<PathBuf>,
    /// Largest MQTT packet accepted from a device, bytes.
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
    /// Connections served at once; more are refused with a log line.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds to finish the TLS handshake and send CONNECT.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u64,
    /// Seconds of silence tolerated when a device asks for no keep-alive.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            address: default_listen(),
            cert: None,
            key: None,
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            handshake_timeout_secs: DEFAULT_HANDSHAKE_TIMEOUT_SECS,
            idle_timeout_secs: DEFAULT_IDLE_TIMEOUT_SECS,
        }
    }
}

impl Listen {
    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
}

/// The trust policy: a fleet policy file, or plain anchors (and CRLs).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// A fleet policy (docs/policy.md); files it names are read relative to it.
    pub policy: Option<PathBuf>,
    /// Trust anchor files (PEM or DER), when no policy is given.
    #[serde(default)]
    pub anchors: Vec<PathBuf>,
    /// CRL files, with `anchors`.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
}

/// Which validator decides.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// The wasm component in wasmtime (the default).
    #[default]
    Wasm,
    /// The core linked natively (same verdicts; for machines without the component).
    Native,
}

/// The validator.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorConfig {
    /// `wasm` (default) or `native`.
    #[serde(default)]
    pub engine: EngineKind,
    /// The component file; default: `$CHAINPROOF_COMPONENT`, then the build output.
    pub component: Option<PathBuf>,
}

/// Device sessions: MQTT 3.1.1 persistent sessions (clean session = false) keep their
/// subscriptions, and cloud-to-device messages are held for them while the device is offline.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Seconds an offline persistent session is kept before it expires.
    #[serde(default = "default_session_expiry")]
    pub expiry_secs: u64,
    /// Cloud-to-device messages held per device; the oldest is dropped beyond it.
    #[serde(default = "default_session_max_held_per_device")]
    pub max_held_per_device: u64,
    /// Cloud-to-device messages held for all devices; the oldest is dropped beyond it.
    #[serde(default = "default_session_max_held")]
    pub max_held: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            expiry_secs: DEFAULT_SESSION_EXPIRY_SECS,
            max_held_per_device: DEFAULT_SESSION_MAX_HELD_PER_DEVICE,
            max_held: DEFAULT_SESSION_MAX_HELD,
        }
    }
}

/// The MQTT version spoken to the upstream broker.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// MQTT 3.1.1 (the default; what Azure IoT Hub speaks). The identity travels in the topic.
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5: every forwarded PUBLISH carries the device's identity as user properties.
    #[serde(rename = "5")]
    V5,
}

/// The upstream broker.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Host name or address (default `127.0.0.1`).
    #[serde(default = "default_upstream_host")]
    pub host: String,
    /// Port (default 1883, or 8883 with TLS).
    pub port: Option<u16>,
    /// The gateway's client ID upstream (default `chainproof-gateway`).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password, with `username`.
    pub password: Option<String>,
    /// CA file to verify the upstream broker with; setting it turns TLS on.
    pub ca: Option<PathBuf>,
    /// The gateway's own client certificate upstream (PEM), with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// Key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Keep-alive towards the broker, seconds.
    #[serde(default = "default_upstream_keep_alive")]
    pub keep_alive_secs: u64,
    /// `"3.1.1"` (default) or `"5"`.
    #[serde(default)]
    pub protocol: UpstreamProtocol,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            host: default_upstream_host(),
            port: None,
            client_id: default_client_id(),
            username: None,
            password: None,
            ca: None,
            client_cert: None,
            client_key: None,
            keep_alive_secs: default_upstream_keep_alive(),
            protocol: UpstreamProtocol::default(),
        }
    }
}

impl Upstream {
    /// The port, defaulted by whether TLS is on.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.ca.is_some() { 8883 } else { 1883 })
    }
}

/// Store-and-forward.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The database file (default `chainproof-gateway.redb` in the working directory).
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Messages held before the gateway stops acknowledging devices.
    #[serde(default = "default_store_max")]
    pub max_messages: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_store_path(),
            max_messages: DEFAULT_STORE_MAX_MESSAGES,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8883))
}
fn default_max_packet() -> usize {
    DEFAULT_MAX_PACKET_BYTES
}
fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}
fn default_handshake_timeout() -> u64 {
    DEFAULT_HANDSHAKE_TIMEOUT_SECS
}
fn default_idle_timeout() -> u64 {
    DEFAULT_IDLE_TIMEOUT_SECS
}
fn default_upstream_host() -> String {
    "127.0.0.1".into()
}
fn default_audit_path() -> PathBuf {
    PathBuf::from("chainproof-audit.jsonl")
}
fn default_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9883))
}
fn default_client_id() -> String {
    "chainproof-gateway".into()
}
fn default_upstream_keep_alive() -> u64 {
    30
}
fn default_session_expiry() -> u64 {
    DEFAULT_SESSION_EXPIRY_SECS
}
fn default_session_max_held_per_device() -> u64 {
    DEFAULT_SESSION_MAX_HELD_PER_DEVICE
}
fn default_session_max_held() -> u64 {
    DEFAULT_SESSION_MAX_HELD
}
fn default_store_path() -> PathBuf {
    PathBuf::from("chainproof-gateway.redb")
}
fn default_store_max() -> u64 {
    DEFAULT_STORE_MAX_MESSAGES
}

impl Config {
    /// Parse a configuration; relative paths are resolved against `base` (the file's folder).
    /// The error names the field (`trust.policy`, `listen.address`, ...).
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        let mut c: Config = toml::from_str(text).map_err(|e| {
            let what = e.message().trim_end().to_owned();
            match e.span() {
                Some(span) => {
                    let line = text
                        .get(..span.start)
                        .map_or(0, |s| s.matches('\n').count())
                        + 1;
                    format!("line {line}: {what}")
                }
                None => what,
            }
        })?;
        if c.trust.policy.is_none() && c.trust.anchors.is_empty() {
            return Err(
                "trust: give `trust.policy` (a fleet policy file) or `trust.anchors`".into(),
            );
        }
        if c.trust.policy.is_some() && !c.trust.anchors.is_empty() {
            return Err("trust: `trust.policy` and `trust.anchors` exclude each other".into());
        }
        if c.listen.cert.is_none() || c.listen.key.is_none() {
            return Err(
                "listen.cert and listen.key: the gateway's TLS certificate and key are required"
                    .into(),
            );
        }
        if c.listen.max_connections == 0 {
            return Err("listen.max_connections: must be at least 1".into());
        }
        if c.listen.max_packet_bytes < 64 {
            return Err("listen.max_packet_bytes: must be at least 64".into());
        }
        if c.store.max_messages == 0 {
            return Err("store.max_messages: must be at least 1".into());
        }
        if c.sessions.max_held_per_device == 0 {
            return Err("sessions.max_held_per_device: must be at least 1".into());
        }
        if c.sessions.max_held < c.sessions.max_held_per_device {
            return Err("sessions.max_held: must be at least sessions.max_held_per_device".into());
        }
        let u = &c.upstream;
        if u.client_cert.is_some() != u.client_key.is_some() {
            return Err("upstream.client_cert and upstream.client_key go together".into());
        }
        if u.password.is_some() && u.username.is_none() {
            return Err("upstream.password needs upstream.username".into());
        }
        if u.keep_alive_secs == 0 || u.keep_alive_secs > u64::from(u16::MAX) {
            return Err("upstream.keep_alive_secs: between 1 and 65535".into());
        }
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = c.trust.policy.as_mut() {
            abs(p);
        }
        c.trust.anchors.iter_mut().for_each(abs);
        c.trust.crls.iter_mut().for_each(abs);
        if let Some(p) = c.listen.cert.as_mut() {
            abs(p);
        }
        if let Some(p) = c.listen.key.as_mut() {
            abs(p);
        }
        if let Some(p) = c.validator.component.as_mut() {
            abs(p);
        }
        let u = &mut c.upstream;
        for p in [&mut u.ca, &mut u.client_cert, &mut u.client_key]
            .into_iter()
            .flatten()
        {
            abs(p);
        }
        abs(&mut c.store.path);
        abs(&mut c.audit.path);
        Ok(c)
    }

    /// Read and parse a configuration file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[trust]\npolicy = \"p.toml\"\n[listen]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";

    #[test]
    fn defaults_fill_everything_but_trust() {
        let c = Config::parse(MIN, Path::new("/etc/cp")).expect("minimal config");
        assert_eq!(c.listen.address, default_listen());
        assert_eq!(c.listen.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(c.validator.engine, EngineKind::Wasm);
        assert_eq!(c.trust.policy, Some(PathBuf::from("/etc/cp/p.toml")));
        assert_eq!(c.upstream.port(), 1883);
        assert_eq!(c.upstream.protocol, UpstreamProtocol::V311);
        assert_eq!(c.sessions, SessionsConfig::default());
        assert_eq!(
            c.audit.path,
            PathBuf::from("/etc/cp/chainproof-audit.jsonl")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let no_trust = "[listen]\ncert = \"c\"\nkey = \"k\"\n";
        let e = Config::parse(no_trust, Path::new(".")).expect_err("trust is required");
        assert!(e.contains("trust"), "{e}");
        let bad_addr = format!("{MIN}address = \"nowhere\"\n");
        let e = Config::parse(&bad_addr, Path::new(".")).expect_err("bad address");
        assert!(e.contains("line 6"), "{e}");
        let unknown = format!("{MIN}max_conections = 3\n");
        let e = Config::parse(&unknown, Path::new(".")).expect_err("typo");
        assert!(e.contains("max_conections"), "{e}");
        let zero = format!("{MIN}max_connections = 0\n");
        let e = Config::parse(&zero, Path::new(".")).expect_err("zero");
        assert!(e.contains("listen.max_connections"), "{e}");
        let held = format!("{MIN}[sessions]\nmax_held = 10\nmax_held_per_device = 20\n");
        let e = Config::parse(&held, Path::new(".")).expect_err("total below per device");
        assert!(e.contains("sessions.max_held"), "{e}");
    }

    #[test]
    fn upstream_protocol_and_sessions() {
        let v5 = format!("{MIN}[upstream]\nprotocol = \"5\"\n[sessions]\nexpiry_secs = 60\n");
        let c = Config::parse(&v5, Path::new(".")).expect("protocol 5");
        assert_eq!(c.upstream.protocol, UpstreamProtocol::V5);
        assert_eq!(c.sessions.expiry_secs, 60);
        let bad = format!("{MIN}[upstream]\nprotocol = \"4\"\n");
        let e = Config::parse(&bad, Path::new(".")).expect_err("protocol 4");
        assert!(e.contains("3.1.1"), "{e}");
    }
}
