//! Device sessions. Connected devices: one entry per device ID, holding what a reload needs to
//! re-check it and the handles to reach its connection (wake for held messages, disconnect).
//! Session state (subscriptions, held cloud-to-device messages) lives in the store, so a
//! persistent session (MQTT 3.1.1 clean session = false; MQTT 5 clean start = false with a
//! session expiry interval above 0) survives the device's disconnect
//! and a gateway restart until it expires.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, watch};

use super::auth::DeviceIdentity;
use super::config::SessionsConfig;
use super::metrics::Metrics;
use super::store::{self, Bound, Held, Hold, SessionLimits, Store, StoreError};
use super::{log, namespace, unix_now};

/// Seconds between sweeps for expired sessions (done on the way, when sessions are used).
const SWEEP_EVERY_SECS: u64 = 60;

/// A live session.
#[derive(Debug)]
pub struct Entry {
    /// Distinguishes this connection from a later one of the same device.
    pub connection: u64,
    /// The leaf the device presented.
    pub leaf: Vec<u8>,
    /// The other certificates it presented.
    pub intermediates: Vec<Vec<u8>>,
    /// The device as its handshake admitted it (for the re-check's audit line).
    pub identity: DeviceIdentity,
    /// Woken when a cloud-to-device message was held for the device.
    pub wake: Arc<Notify>,
    /// Set to make the connection close.
    pub kick: watch::Sender<Option<Kick>>,
}

/// Why the gateway closes a live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kick {
    /// The same device connected again (MQTT's rule for a second CONNECT with its client ID).
    TakenOver,
    /// The trust refuses the device now (a reload's re-check), with the reason.
    Refused(String),
}

impl std::fmt::Display for Kick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kick::TakenOver => f.write_str("the same device connected again"),
            Kick::Refused(why) => f.write_str(why),
        }
    }
}

/// All sessions: the live ones in memory, their state in the store.
pub struct Sessions {
    live: Mutex<HashMap<String, Entry>>,
    store: Arc<Store>,
    limits: SessionLimits,
    metrics: Arc<Metrics>,
    /// Devices whose dropped message was logged (once, until the device connects again).
    said_dropped: Mutex<HashSet<String>>,
    last_sweep: AtomicU64,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    u64::try_from(unix_now()).unwrap_or(0)
}

/// The next packet id from `first..=u16::MAX` that is not in flight (windows are far smaller
/// than the range).
pub fn free_packet_id(next: &mut u16, first: u16, inflight: &HashMap<u16, u64>) -> u16 {
    loop {
        let id = (*next).max(first);
        *next = if id == u16::MAX { first } else { id + 1 };
        if !inflight.contains_key(&id) {
            return id;
        }
    }
}

impl Sessions {
    /// Sessions kept in `store`, bounded by `config`; drops are counted in `metrics`.
    pub fn new(store: Arc<Store>, config: SessionsConfig, metrics: Arc<Metrics>) -> Self {
        Sessions {
            live: Mutex::default(),
            store,
            limits: SessionLimits {
                per_device: config.max_held_per_device,
                total: config.max_held,
                expiry_secs: config.expiry_secs,
            },
            metrics,
            said_dropped: Mutex::default(),
            last_sweep: AtomicU64::new(0),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register a live session; an older session of the same device is told to close (MQTT's
    /// rule for a second CONNECT with the same client ID).
    pub fn insert(&self, device_id: &str, entry: Entry) {
        if let Some(old) = self.live().insert(device_id.to_owned(), entry) {
            let _ = old.kick.send(Some(Kick::TakenOver));
        }
    }

    /// Remove a live session when its connection ends (only if it is still this connection).
    pub fn remove(&self, device_id: &str, connection: u64) {
        let mut live = self.live();
        if live
            .get(device_id)
            .is_some_and(|e| e.connection == connection)
        {
            live.remove(device_id);
        }
    }

    /// Seconds an offline persistent session is kept (`sessions.expiry_secs`).
    pub fn expiry_secs(&self) -> u64 {
        self.limits.expiry_secs
    }

    /// Number of live sessions.
    pub fn count(&self) -> usize {
        self.live().len()
    }

    /// `(identity, leaf, intermediates)` of every live session, for a re-check.
    pub fn snapshot(&self) -> Vec<(DeviceIdentity, Vec<u8>, Vec<Vec<u8>>)> {
        self.live()
            .values()
            .map(|e| (e.identity.clone(), e.leaf.clone(), e.intermediates.clone()))
            .collect()
    }

    /// Close a device's session because the trust refuses it now, with the reason.
    pub fn kick(&self, device_id: &str, reason: &str) {
        if let Some(e) = self.live().get(device_id) {
            let _ = e.kick.send(Some(Kick::Refused(reason.to_owned())));
        }
    }

    /// A device connected on `connection`: discard its kept state (`clean`) or resume it.
    /// Returns MQTT's session-present flag.
    pub async fn begin(
        &self,
        device_id: &str,
        clean: bool,
        connection: u64,
    ) -> Result<bool, StoreError> {
        self.sweep().await;
        self.said_dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(device_id);
        let (id, limits) = (device_id.to_owned(), self.limits);
        store::blocking(&self.store, move |s| {
            s.begin_session(&id, clean, connection, now(), limits)
        })
        .await
    }

    /// The connection ended: a persistent session goes offline, a clean one is discarded.
    pub async fn end(&self, device_id: &str, connection: u64) {
        let id = device_id.to_owned();
        if let Err(e) =
            store::blocking(&self.store, move |s| s.end_session(&id, connection, now())).await
        {
            log(&format!(
                "{device_id}: cannot record the session's end: {e}"
            ));
        }
    }

    /// Record granted (added) and removed subscriptions of the session on `connection`.
    pub async fn set_filters(
        &self,
        device_id: &str,
        connection: u64,
        add: Vec<(String, u8)>,
        remove: Vec<String>,
    ) -> Result<(), StoreError> {
        let id = device_id.to_owned();
        store::blocking(&self.store, move |s| {
            s.set_filters(&id, connection, &add, &remove)
        })
        .await
    }

    /// Up to `n` held messages for a device after sequence number `after`.
    pub async fn held_after(
        &self,
        device_id: &str,
        after: u64,
        n: usize,
    ) -> Result<Vec<(u64, Held)>, StoreError> {
        let id = device_id.to_owned();
        store::blocking(&self.store, move |s| s.held_after(&id, after, n)).await
    }

    /// A held message was delivered (acknowledged, or sent with QoS 0).
    pub async fn release(&self, seq: u64) -> Result<(), StoreError> {
        store::blocking(&self.store, move |s| s.release(seq)).await
    }

    /// Hold a cloud-to-device message from upstream for its device's session (on disk) and
    /// wake the device's connection. Returns whether it was held (a message for a device
    /// without a session that subscribes to the topic is not).
    pub async fn deliver_c2d(
        &self,
        topic: String,
        qos: u8,
        payload: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let Some(id) = topic
            .strip_prefix("devices/")
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned)
        else {
            return Ok(false);
        };
        if !topic.starts_with(&namespace::c2d_prefix(&id)) {
            return Ok(false);
        }
        self.sweep().await;
        let (device, limits) = (id.clone(), self.limits);
        let outcome = store::blocking(&self.store, move |s| {
            s.hold(&device, &topic, qos, &payload, now(), limits)
        })
        .await?;
        let Hold::Held { dropped, .. } = outcome else {
            return Ok(false);
        };
        if let Some((victim, bound)) = dropped {
            self.metrics.c2d_dropped();
            let first = self
                .said_dropped
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(victim.clone());
            if first {
                let why = match bound {
                    Bound::Device => format!(
                        "{} held for it (sessions.max_held_per_device)",
                        self.limits.per_device
                    ),
                    Bound::Total => format!(
                        "{} held for all devices (sessions.max_held)",
                        self.limits.total
                    ),
                };
                log(&format!(
                    "{victim}: dropped its oldest held cloud-to-device message: {why}; further drops are only counted until it connects"
                ));
            }
        }
        if let Some(e) = self.live().get(&id) {
            e.wake.notify_one();
        }
        Ok(true)
    }

    /// Delete expired sessions, at most once a minute.
    async fn sweep(&self) {
        let t = now();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if t.saturating_sub(last) < SWEEP_EVERY_SECS
            || self
                .last_sweep
                .compare_exchange(last, t, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let expiry = self.limits.expiry_secs;
        match store::blocking(&self.store, move |s| s.expire_sessions(t, expiry)).await {
            Ok(0) => {}
            Ok(n) => log(&format!(
                "{n} offline session(s) expired (sessions.expiry_secs = {expiry})"
            )),
            Err(e) => log(&format!("cannot expire sessions: {e}")),
        }
    }
}
