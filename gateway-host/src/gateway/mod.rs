//! `chainproof gateway --config FILE`: the edge gateway (docs/gateway.md).
//!
//! Devices connect over MQTT/TLS with their certificates; the validator component decides in
//! the TLS handshake ([`tls`], [`auth`]); a session may only use its own topics
//! ([`namespace`], [`session`]); telemetry is stored on disk before it is acknowledged
//! ([`store`]) and forwarded to the upstream broker ([`upstream`]). Every decision is in the
//! hash-chained audit log ([`audit`]); counters are on `/metrics` ([`metrics`]). The trust and
//! the component are reloaded on SIGHUP or when their files change, and live sessions are
//! checked again ([`reload`]).

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod namespace;
pub mod reload;
pub mod session;
pub mod sessions;
pub mod store;
pub mod tls;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use auth::{DeviceAuthenticator, NativeAuthenticator};
use chainproof_gateway::engine::{self, Limits, Runtime, TrustSource, Validator};
use config::{Config, EngineKind, Trust};

/// One log line on stderr.
pub fn log(msg: &str) {
    eprintln!("chainproof gateway: {msg}");
}

/// Seconds since 1970 from the system clock (the host reads the clock; the core never does).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The trust as bytes for the validator: a policy with every file it names (read relative to
/// the policy), or anchors and CRLs. Errors name the field and file.
pub fn load_trust(trust: &Trust) -> Result<TrustSource, String> {
    if let Some(path) = &trust.policy {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("trust.policy: {}: {e}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let read = std::cell::RefCell::new(Vec::new());
        let resolve = |name: &str| {
            let p = dir.join(name);
            let contents = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            read.borrow_mut().push((name.to_owned(), contents.clone()));
            Ok(contents)
        };
        // The core loads it once here to learn which files it names (and to refuse a bad
        // policy with its own words before the gateway starts).
        chainproof::FleetPolicy::from_toml(&text, &resolve).map_err(|e| {
            format!(
                "trust.policy: {}: {}",
                path.display(),
                chainproof::Failure::new(e).message()
            )
        })?;
        return Ok(TrustSource::Policy {
            text,
            files: read.into_inner(),
        });
    }
    let read_all = |field: &str, paths: &[PathBuf]| -> Result<Vec<Vec<u8>>, String> {
        paths
            .iter()
            .map(|p| std::fs::read(p).map_err(|e| format!("{field}: {}: {e}", p.display())))
            .collect()
    };
    Ok(TrustSource::Anchors {
        anchors: read_all("trust.anchors", &trust.anchors)?,
        crls: read_all("trust.crls", &trust.crls)?,
    })
}

/// The files whose change triggers a reload: the policy and the files it named when `trust`
/// was loaded from it (or the anchors and CRLs), and the component.
pub fn watched_files(
    cfg: &Config,
    trust: Option<&TrustSource>,
    component: Option<&Path>,
) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = cfg.trust.policy.iter().cloned().collect();
    if let (Some(policy), Some(TrustSource::Policy { files: named, .. })) =
        (&cfg.trust.policy, trust)
    {
        // Named relative to the policy, as `load_trust` resolves them.
        let dir = policy.parent().map(Path::to_path_buf).unwrap_or_default();
        for (name, _) in named {
            let path = dir.join(name);
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    files.extend(cfg.trust.anchors.iter().cloned());
    files.extend(cfg.trust.crls.iter().cloned());
    files.extend(component.map(Path::to_path_buf));
    files
}

/// The validator the configuration asks for, and the component file it runs (wasm only).
pub fn build_authenticator(
    cfg: &Config,
    trust: TrustSource,
) -> Result<(Arc<dyn DeviceAuthenticator>, Option<PathBuf>), String> {
    match cfg.validator.engine {
        EngineKind::Native => {
            let a = NativeAuthenticator::new(&trust).map_err(|e| format!("trust: {e}"))?;
            Ok((Arc::new(a), None))
        }
        EngineKind::Wasm => {
            let path = engine::find_component(cfg.validator.component.as_deref()).map_err(|tried| {
                format!(
                    "validator.component: the validator component is missing (looked for {tried:?}); build it with `{}`",
                    engine::BUILD_COMMAND
                )
            })?;
            let runtime = Arc::new(Runtime::new().map_err(|e| e.to_string())?);
            let compiled = runtime
                .compile_file(&path)
                .map_err(|e| format!("validator.component: {e}"))?;
            let v = Validator::new(runtime, compiled, trust, Limits::default())
                .map_err(|e| format!("trust: {e}"))?;
            Ok((Arc::new(v), Some(path)))
        }
    }
}

/// Run the gateway until the process is stopped.
pub async fn run(cfg: Config) -> Result<(), String> {
    let trust = load_trust(&cfg.trust)?;
    let (auth, component) = build_authenticator(&cfg, trust)?;
    let identity = tls::ServerIdentity::load(
        cfg.listen.cert.as_deref().unwrap_or(Path::new("")),
        cfg.listen.key.as_deref().unwrap_or(Path::new("")),
    )?;
    let store = Arc::new(
        store::Store::open(&cfg.store.path, cfg.store.max_messages)
            .map_err(|e| format!("store.path: {e}"))?,
    );
    let audit = audit::AuditLog::open(&cfg.audit.path)?;
    let metrics = Arc::new(metrics::Metrics::default());
    let sessions = Arc::new(sessions::Sessions::new(
        store.clone(),
        cfg.sessions,
        metrics.clone(),
    ));
    let stored = Arc::new(Notify::new());
    let upstream_state = Arc::new(upstream::UpstreamState::default());
    let metrics_addr = metrics::serve(
        cfg.metrics.address,
        metrics.clone(),
        store.clone(),
        upstream_state.clone(),
    )?;
    let listener = TcpListener::bind(cfg.listen.address)
        .await
        .map_err(|e| format!("listen.address: {}: {e}", cfg.listen.address))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("listen.address: {e}"))?;
    log(&format!(
        "listening on {bound} (validator: {}); metrics on http://{metrics_addr}/metrics; {} message(s) queued from before",
        auth.name(),
        store.depth().unwrap_or(0)
    ));
    tokio::spawn(
        upstream::Forwarder {
            config: cfg.upstream.clone(),
            store: store.clone(),
            stored: stored.clone(),
            sessions: sessions.clone(),
            state: upstream_state,
        }
        .run(),
    );
    let shared = Arc::new(session::Shared {
        auth: auth.clone(),
        identity,
        listen: cfg.listen.clone(),
        store,
        stored,
        sessions: sessions.clone(),
        audit,
        metrics: metrics.clone(),
        next_connection: AtomicU64::new(1),
    });
    tokio::spawn(
        reload::Reloader {
            config: cfg.clone(),
            component,
            shared: shared.clone(),
        }
        .run(),
    );
    let limit = Arc::new(Semaphore::new(cfg.listen.max_connections));
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                log(&format!("accept failed: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        metrics.connection();
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            metrics.refused_at_limit();
            log(&format!(
                "connection limit reached ({} connections, listen.max_connections): refusing {remote}",
                cfg.listen.max_connections
            ));
            drop(tcp);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            session::serve(shared, tcp, remote).await;
            drop(permit);
        });
    }
}
