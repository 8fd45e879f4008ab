//! Reload on SIGHUP and when the trust or component files change: the new trust or component
//! is swapped in atomically by the validator (the previous one keeps serving if the new one is
//! refused), then every live session is checked again and the ones now refused are closed.
//! With a fleet policy, the files it names (anchors, CRLs) are watched too, as read at the last
//! load, so a new CRL deployed next to the policy takes effect without a signal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chainproof::{UnixTime, VerifyOptions};

use super::config::Config;
use super::session::{Shared, decision};
use super::{load_trust, log, unix_now, watched_files};

/// How often file modification times are looked at. Polling keeps this dependency-free and a
/// second is quick enough for a policy change made by hand or by deployment tooling.
const POLL: Duration = Duration::from_secs(1);

/// The reload task.
pub struct Reloader {
    /// The configuration (trust paths).
    pub config: Config,
    /// The component file the wasm validator runs.
    pub component: Option<PathBuf>,
    /// The running gateway.
    pub shared: Arc<Shared>,
}

fn mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

impl Reloader {
    /// Run for ever.
    pub async fn run(self) {
        let trust = load_trust(&self.config.trust).ok();
        let mut files = watched_files(&self.config, trust.as_ref(), self.component.as_deref());
        let mut seen = mtimes(&files);
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            let signalled = tokio::select! {
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
                () = tokio::time::sleep(POLL) => false,
            };
            let now = mtimes(&files);
            let component_changed = self.component.as_ref().is_some_and(|c| {
                files
                    .iter()
                    .position(|f| f == c)
                    .is_some_and(|i| now.get(i) != seen.get(i))
            });
            if !signalled && now == seen {
                continue;
            }
            seen = now;
            log(if signalled {
                "SIGHUP: reloading"
            } else {
                "a trust or component file changed: reloading"
            });
            if let Some(watched) = self.reload(signalled || component_changed).await {
                (files, seen) = watched;
            }
        }
    }

    /// Reload; returns the files to watch from now on (the policy may name other files now)
    /// with their modification times as read, when the trust could be read.
    async fn reload(&self, component_too: bool) -> Option<(Vec<PathBuf>, Vec<Option<SystemTime>>)> {
        let auth = self.shared.auth.clone();
        let trust = match load_trust(&self.config.trust) {
            Ok(t) => t,
            Err(e) => {
                self.shared.metrics.reload(false);
                log(&format!(
                    "reload refused, the previous trust keeps serving: {e}"
                ));
                return None;
            }
        };
        let files = watched_files(&self.config, Some(&trust), self.component.as_deref());
        let watched = Some((files.clone(), mtimes(&files)));
        let component = self.component.clone().filter(|_| component_too);
        let swapped = tokio::task::spawn_blocking(move || {
            if let Some(c) = &component {
                auth.load_component_file(c)?;
            }
            auth.set_trust(trust)
        })
        .await;
        match swapped {
            Ok(Ok(())) => {
                self.shared.metrics.reload(true);
                log("reloaded");
            }
            Ok(Err(e)) => {
                self.shared.metrics.reload(false);
                log(&format!(
                    "reload refused, the previous trust and component keep serving: {e}"
                ));
                return watched;
            }
            Err(e) => {
                self.shared.metrics.reload(false);
                log(&format!("reload failed: {e}"));
                return watched;
            }
        }
        self.recheck().await;
        watched
    }

    /// Check every live session against the new trust; close the ones it refuses.
    async fn recheck(&self) {
        let shared = self.shared.clone();
        let refused = tokio::task::spawn_blocking(move || {
            let opts = VerifyOptions::new(UnixTime(unix_now()));
            shared
                .sessions
                .snapshot()
                .into_iter()
                .filter_map(|(identity, leaf, bag)| {
                    match shared.auth.verify_device(&leaf, &bag, &opts) {
                        Ok(Err(r)) => Some((identity, r)),
                        _ => None,
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (identity, r) in refused {
            self.shared.metrics.revoked_session();
            // The certificate's fields and the enrollment that admitted the session, as in the
            // handshake's line, so both lines about one session can be matched.
            self.shared.audit_decision(decision(
                "(live session re-check)",
                Some(&identity),
                Some(&r),
            ));
            self.shared.sessions.kick(
                &identity.device_id,
                &format!("{}: {}", r.code.as_str(), r.message),
            );
        }
    }
}
