//! Connected devices: one entry per device ID, holding what a reload needs to re-check it and
//! the channels to reach its connection (cloud-to-device messages, disconnect).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rumqttc::mqttbytes::v4::Publish;
use tokio::sync::{mpsc, watch};

use super::namespace;

/// Cloud-to-device messages queued for one connected device before the oldest are dropped.
pub const C2D_QUEUE: usize = 64;

/// A live session.
#[derive(Debug)]
pub struct Entry {
    /// Distinguishes this connection from a later one of the same device.
    pub connection: u64,
    /// The leaf the device presented.
    pub leaf: Vec<u8>,
    /// The other certificates it presented.
    pub intermediates: Vec<Vec<u8>>,
    /// Cloud-to-device messages for the connection.
    pub c2d: mpsc::Sender<Publish>,
    /// Set to a reason to make the connection close.
    pub kick: watch::Sender<Option<String>>,
}

/// All live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register a session; an older session of the same device is told to close (MQTT's
    /// rule for a second CONNECT with the same client ID).
    pub fn insert(&self, device_id: &str, entry: Entry) {
        if let Some(old) = self.live().insert(device_id.to_owned(), entry) {
            let _ = old
                .kick
                .send(Some("the same device connected again".into()));
        }
    }

    /// Remove a session when its connection ends (only if it is still this connection).
    pub fn remove(&self, device_id: &str, connection: u64) {
        let mut live = self.live();
        if live
            .get(device_id)
            .is_some_and(|e| e.connection == connection)
        {
            live.remove(device_id);
        }
    }

    /// Number of live sessions.
    pub fn count(&self) -> usize {
        self.live().len()
    }

    /// `(device ID, leaf, intermediates)` of every live session, for a re-check.
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>, Vec<Vec<u8>>)> {
        self.live()
            .iter()
            .map(|(id, e)| (id.clone(), e.leaf.clone(), e.intermediates.clone()))
            .collect()
    }

    /// Close a device's session with a reason.
    pub fn kick(&self, device_id: &str, reason: &str) {
        if let Some(e) = self.live().get(device_id) {
            let _ = e.kick.send(Some(reason.to_owned()));
        }
    }

    /// Hand a cloud-to-device message to its device if connected. Returns whether it was.
    pub fn deliver_c2d(&self, p: Publish) -> bool {
        let Some(id) = p
            .topic
            .strip_prefix("devices/")
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned)
        else {
            return false;
        };
        if !p.topic.starts_with(&namespace::c2d_prefix(&id)) {
            return false;
        }
        match self.live().get(&id) {
            Some(e) => e.c2d.try_send(p).is_ok(),
            None => false,
        }
    }
}
