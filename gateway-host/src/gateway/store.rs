//! Store-and-forward on disk (redb): a device's message is committed here before the device
//! gets its PUBACK, and removed only after the upstream broker acknowledged it. A commit is
//! durable (redb's default), so a crash or `kill -9` loses nothing that was acknowledged.

use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

/// Queue rows: sequence number -> encoded [`Message`].
const QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");

/// The last sequence number handed out (row 0), so numbers never repeat even when the queue
/// empties: the forwarder reads onwards from the last one it sent.
const LAST_SEQ: TableDefinition<u64, u64> = TableDefinition::new("last_seq");

/// Cloud-to-device messages held for device sessions: sequence number -> encoded [`Held`]
/// (numbered from row 1 of `LAST_SEQ`, so the first row is the oldest held message).
const HELD: TableDefinition<u64, &[u8]> = TableDefinition::new("c2d_held");

/// The same rows by device: `(device ID, sequence number)`, for per-device order and bounds.
const HELD_BY_DEVICE: TableDefinition<(&str, u64), ()> = TableDefinition::new("c2d_held_by_device");

/// Device sessions: device ID -> encoded [`SessionRecord`].
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// `LAST_SEQ` rows: the store-and-forward queue's counter and the held messages' counter.
const QUEUE_SEQ: u64 = 0;
const HELD_SEQ: u64 = 1;

/// Longest field in a stored message: a topic, identity field or payload cannot be longer than
/// an MQTT packet, whose remaining length is at most 256 MiB.
const MAX_FIELD: usize = 256 << 20;

/// A device message waiting for the upstream broker, with the identity it travels with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The device that sent it.
    pub device_id: String,
    /// SHA-256 thumbprint of the device's certificate.
    pub thumbprint: String,
    /// The enrollment that admitted the device (empty without a fleet policy).
    pub enrollment: String,
    /// The topic, as the device published it.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    fn encode(&self) -> Vec<u8> {
        encode_fields(&[
            self.device_id.as_bytes(),
            self.thumbprint.as_bytes(),
            self.enrollment.as_bytes(),
            self.topic.as_bytes(),
            &self.payload,
        ])
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut f = Fields(bytes);
        Ok(Message {
            device_id: f.text()?,
            thumbprint: f.text()?,
            enrollment: f.text()?,
            topic: f.text()?,
            payload: f.next()?.to_vec(),
        })
    }
}

/// Rows are length-prefixed fields (u32, big-endian), so a record can grow a field at the end
/// and still read its older rows.
fn encode_fields(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for f in fields {
        // Fields are bounded by the packet size limit, far below u32::MAX.
        out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Reads the fields of one row in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn next(&mut self) -> Result<&'a [u8], String> {
        let (len, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or("stored record truncated")?;
        let len = u32::from_be_bytes(*len) as usize;
        if len > MAX_FIELD || len > rest.len() {
            return Err("stored record truncated".into());
        }
        let (field, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(field)
    }

    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.next()?.to_vec()).map_err(|_| "stored text not UTF-8".to_owned())
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b: [u8; 8] = self
            .next()?
            .try_into()
            .map_err(|_| "stored number malformed")?;
        Ok(u64::from_be_bytes(b))
    }

    fn u8(&mut self) -> Result<u8, String> {
        match self.next()? {
            [b] => Ok(*b),
            _ => Err("stored flag malformed".into()),
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a message was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The queue holds its maximum: backpressure.
    Full {
        /// The configured maximum.
        max: u64,
    },
    /// The database failed.
    Db(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Full { max } => write!(f, "store full ({max} messages)"),
            StoreError::Db(m) => write!(f, "store: {m}"),
        }
    }
}

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The on-disk queue.
pub struct Store {
    db: Database,
    max: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (or create) the store at `path`, its queue holding at most `max` messages. Sessions
    /// from before (a restart or a crash) are offline from now: clean ones are discarded,
    /// persistent ones keep their subscriptions and held messages.
    pub fn open(path: &Path, max: u64) -> Result<Self, StoreError> {
        let db = Database::create(path)
            .map_err(|e| StoreError::Db(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(QUEUE).map_err(db_err)?;
        txn.open_table(LAST_SEQ).map_err(db_err)?;
        txn.open_table(HELD).map_err(db_err)?;
        txn.open_table(HELD_BY_DEVICE).map_err(db_err)?;
        txn.open_table(SESSIONS).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        let store = Store { db, max };
        store.restart_sessions(u64::try_from(super::unix_now()).unwrap_or(0))?;
        Ok(store)
    }

    /// Append a message durably; returns its sequence number. Refuses when full.
    pub fn append(&self, m: &Message) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let seq = {
            let mut t = txn.open_table(QUEUE).map_err(db_err)?;
            if t.len().map_err(db_err)? >= self.max {
                return Err(StoreError::Full { max: self.max });
            }
            let mut counter = txn.open_table(LAST_SEQ).map_err(db_err)?;
            let seq = next_seq(&mut counter, QUEUE_SEQ)?;
            t.insert(seq, m.encode().as_slice()).map_err(db_err)?;
            seq
        };
        txn.commit().map_err(db_err)?;
        Ok(seq)
    }

    /// Up to `n` messages with sequence numbers above `after`, oldest first.
    pub fn next_after(&self, after: u64, n: usize) -> Result<Vec<(u64, Message)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(QUEUE).map_err(db_err)?;
        let mut out = Vec::new();
        for row in t.range(after.saturating_add(1)..).map_err(db_err)?.take(n) {
            let (k, v) = row.map_err(db_err)?;
            out.push((
                k.value(),
                Message::decode(v.value()).map_err(StoreError::Db)?,
            ));
        }
        Ok(out)
    }

    /// Remove a message (after the upstream acknowledged it).
    pub fn remove(&self, seq: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = txn.open_table(QUEUE).map_err(db_err)?;
            t.remove(seq).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Messages waiting.
    pub fn depth(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(QUEUE).map_err(db_err)?;
        t.len().map_err(db_err)
    }

    /// The configured maximum.
    pub fn capacity(&self) -> u64 {
        self.max
    }
}

/// Run a store operation on tokio's blocking pool (a redb commit waits for the disk).
pub async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| StoreError::Db(format!("store task: {e}")))?
}

/// The next number from a `LAST_SEQ` row (numbers never repeat, even when a table empties).
fn next_seq(counter: &mut redb::Table<u64, u64>, row: u64) -> Result<u64, StoreError> {
    let seq = counter.get(row).map_err(db_err)?.map_or(0, |v| v.value()) + 1;
    counter.insert(row, seq).map_err(db_err)?;
    Ok(seq)
}

/// A cloud-to-device message held for a device's session until the device acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The device it is for.
    pub device_id: String,
    /// Its topic (under `devices/{id}/messages/devicebound/`).
    pub topic: String,
    /// The QoS to deliver it with: the lower of the message's and the subscription's (0 or 1).
    pub qos: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Held {
    fn encode(&self) -> Vec<u8> {
        encode_fields(&[
            self.device_id.as_bytes(),
            self.topic.as_bytes(),
            &[self.qos],
            &self.payload,
        ])
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut f = Fields(bytes);
        Ok(Held {
            device_id: f.text()?,
            topic: f.text()?,
            qos: f.u8()?,
            payload: f.next()?.to_vec(),
        })
    }
}

/// A device's MQTT session as stored: its subscriptions and whether it outlives the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SessionRecord {
    /// Connected with clean session = false: kept after the connection ends.
    persistent: bool,
    /// The connection serving it (numbers of this run), 0 while the device is offline.
    owner: u64,
    /// When the device went offline (seconds since 1970), while `owner` is 0.
    disconnected_at: u64,
    /// Topic filters and their granted QoS (0 or 1).
    filters: Vec<(String, u8)>,
}

impl SessionRecord {
    fn encode(&self) -> Vec<u8> {
        let persistent = [u8::from(self.persistent)];
        let owner = self.owner.to_be_bytes();
        let since = self.disconnected_at.to_be_bytes();
        let mut fields: Vec<&[u8]> = vec![&persistent, &owner, &since];
        for (path, qos) in &self.filters {
            fields.push(path.as_bytes());
            fields.push(std::slice::from_ref(qos));
        }
        encode_fields(&fields)
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut f = Fields(bytes);
        let mut r = SessionRecord {
            persistent: f.u8()? != 0,
            owner: f.u64()?,
            disconnected_at: f.u64()?,
            filters: Vec::new(),
        };
        while !f.is_empty() {
            r.filters.push((f.text()?, f.u8()?));
        }
        Ok(r)
    }

    /// Offline for longer than the session expiry (or a clean session left over).
    fn expired(&self, now: u64, expiry_secs: u64) -> bool {
        self.owner == 0
            && (!self.persistent || now.saturating_sub(self.disconnected_at) > expiry_secs)
    }

    /// The QoS a message on `topic` is delivered with, if a filter matches it.
    fn granted(&self, topic: &str) -> Option<u8> {
        // rumqttc's matcher slices the topic's first byte; a non-ASCII start cannot match
        // `devices/...` filters anyway.
        if !topic.is_char_boundary(1) {
            return None;
        }
        self.filters
            .iter()
            .filter(|(f, _)| rumqttc::mqttbytes::matches(topic, f))
            .map(|(_, q)| *q)
            .max()
    }
}

/// Bounds on held cloud-to-device messages, and how long an offline session is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Messages held per device; the oldest is dropped beyond it.
    pub per_device: u64,
    /// Messages held for all devices together; the oldest is dropped beyond it.
    pub total: u64,
    /// Seconds an offline persistent session (subscriptions and held messages) is kept.
    pub expiry_secs: u64,
}

/// Which bound dropped a held message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The per-device limit.
    Device,
    /// The limit for all devices together.
    Total,
}

/// What [`Store::hold`] did with a cloud-to-device message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Held under this sequence number; making room dropped the oldest message of
    /// `dropped`'s device, when it says so.
    Held {
        /// The new row.
        seq: u64,
        /// The device that lost its oldest message, and the bound that was reached.
        dropped: Option<(String, Bound)>,
    },
    /// Not held, and why (no session, not subscribed, expired, QoS 0 for an offline device).
    NotHeld(&'static str),
}

fn read_session(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    device_id: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    match t.get(device_id).map_err(db_err)? {
        Some(v) => SessionRecord::decode(v.value())
            .map(Some)
            .map_err(StoreError::Db),
        None => Ok(None),
    }
}

/// Delete a session and every message held for it, inside `txn`.
fn drop_session(txn: &redb::WriteTransaction, device_id: &str) -> Result<(), StoreError> {
    txn.open_table(SESSIONS)
        .map_err(db_err)?
        .remove(device_id)
        .map_err(db_err)?;
    let mut index = txn.open_table(HELD_BY_DEVICE).map_err(db_err)?;
    let mut held = txn.open_table(HELD).map_err(db_err)?;
    for seq in held_seqs(&index, device_id)? {
        index.remove((device_id, seq)).map_err(db_err)?;
        held.remove(seq).map_err(db_err)?;
    }
    Ok(())
}

/// Sequence numbers held for a device, oldest first.
fn held_seqs(
    index: &impl ReadableTable<(&'static str, u64), ()>,
    device_id: &str,
) -> Result<Vec<u64>, StoreError> {
    index
        .range((device_id, 0)..=(device_id, u64::MAX))
        .map_err(db_err)?
        .map(|row| row.map(|(k, _)| k.value().1).map_err(db_err))
        .collect()
}

impl Store {
    /// Start serving `device_id`'s session on `connection`. A clean session discards what was
    /// kept; otherwise an unexpired session is resumed. Returns MQTT's session-present flag.
    pub fn begin_session(
        &self,
        device_id: &str,
        clean: bool,
        connection: u64,
        now: u64,
        limits: SessionLimits,
    ) -> Result<bool, StoreError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        let old = read_session(&txn.open_table(SESSIONS).map_err(db_err)?, device_id)?;
        // Only persistent sessions must survive a crash. A clean session's record lives as
        // long as its connection, so writing it skips the fsync (redb keeps it in memory until
        // the next durable commit): every device connection would otherwise wait for the disk.
        if clean && !old.as_ref().is_some_and(|r| r.persistent) {
            txn.set_durability(Durability::None).map_err(db_err)?;
        }
        let resumed = match old {
            // A live session of the same device (about to be closed) is resumed too.
            Some(r) if !clean && !r.expired(now, limits.expiry_secs) => Some(r),
            Some(_) => {
                drop_session(&txn, device_id)?;
                None
            }
            None => None,
        };
        let present = resumed.is_some();
        let record = SessionRecord {
            persistent: !clean,
            owner: connection,
            disconnected_at: 0,
            filters: resumed.map(|r| r.filters).unwrap_or_default(),
        };
        txn.open_table(SESSIONS)
            .map_err(db_err)?
            .insert(device_id, record.encode().as_slice())
            .map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(present)
    }

    /// The connection serving `device_id` ended: a persistent session goes offline (kept until
    /// it expires), a clean one is discarded. Nothing happens if another connection took over.
    pub fn end_session(
        &self,
        device_id: &str,
        connection: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        let record = read_session(&txn.open_table(SESSIONS).map_err(db_err)?, device_id)?;
        if record.as_ref().is_some_and(|r| !r.persistent) {
            // Dropping a clean session's record need not wait for the disk (see begin_session).
            txn.set_durability(Durability::None).map_err(db_err)?;
        }
        match record {
            Some(mut r) if r.owner == connection && r.persistent => {
                r.owner = 0;
                r.disconnected_at = now;
                txn.open_table(SESSIONS)
                    .map_err(db_err)?
                    .insert(device_id, r.encode().as_slice())
                    .map_err(db_err)?;
            }
            Some(r) if r.owner == connection => drop_session(&txn, device_id)?,
            _ => return Ok(()),
        }
        txn.commit().map_err(db_err)
    }

    /// Add (or replace) and remove topic filters of the session `connection` serves.
    pub fn set_filters(
        &self,
        device_id: &str,
        connection: u64,
        add: &[(String, u8)],
        remove: &[String],
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        let persistent = read_session(&txn.open_table(SESSIONS).map_err(db_err)?, device_id)?
            .is_some_and(|r| r.persistent);
        if !persistent {
            // A clean session's filters need not survive a crash (see begin_session).
            txn.set_durability(Durability::None).map_err(db_err)?;
        }
        {
            let mut sessions = txn.open_table(SESSIONS).map_err(db_err)?;
            let Some(mut r) = read_session(&sessions, device_id)? else {
                return Ok(());
            };
            if r.owner != connection {
                return Ok(());
            }
            r.filters
                .retain(|(f, _)| !remove.contains(f) && !add.iter().any(|(a, _)| a == f));
            r.filters.extend(add.iter().cloned());
            sessions
                .insert(device_id, r.encode().as_slice())
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Hold a cloud-to-device message for its device's session (durably), if the session
    /// subscribes to `topic`. When a bound is reached the oldest message is dropped: the
    /// device's own beyond `limits.per_device`, else the oldest of all beyond `limits.total`.
    pub fn hold(
        &self,
        device_id: &str,
        topic: &str,
        qos: u8,
        payload: &[u8],
        now: u64,
        limits: SessionLimits,
    ) -> Result<Hold, StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let Some(record) = read_session(&txn.open_table(SESSIONS).map_err(db_err)?, device_id)?
        else {
            return Ok(Hold::NotHeld("no session"));
        };
        if record.expired(now, limits.expiry_secs) {
            drop_session(&txn, device_id)?;
            txn.commit().map_err(db_err)?;
            return Ok(Hold::NotHeld("session expired"));
        }
        let Some(granted) = record.granted(topic) else {
            return Ok(Hold::NotHeld("not subscribed"));
        };
        let qos = qos.min(granted);
        if record.owner == 0 && qos == 0 {
            return Ok(Hold::NotHeld("QoS 0 is not held for an offline device"));
        }
        let outcome = {
            let mut index = txn.open_table(HELD_BY_DEVICE).map_err(db_err)?;
            let mut held = txn.open_table(HELD).map_err(db_err)?;
            let mut dropped = None;
            let mine = held_seqs(&index, device_id)?;
            let excess = (mine.len() as u64 + 1).saturating_sub(limits.per_device);
            for seq in mine
                .iter()
                .take(usize::try_from(excess).unwrap_or(usize::MAX))
            {
                index.remove((device_id, *seq)).map_err(db_err)?;
                held.remove(*seq).map_err(db_err)?;
                dropped = Some((device_id.to_owned(), Bound::Device));
            }
            while held.len().map_err(db_err)? >= limits.total {
                let Some(victim) = held
                    .pop_first()
                    .map_err(db_err)?
                    .map(|(k, v)| Held::decode(v.value()).map(|h| (k.value(), h.device_id)))
                else {
                    break;
                };
                let (seq, owner) = victim.map_err(StoreError::Db)?;
                index.remove((owner.as_str(), seq)).map_err(db_err)?;
                dropped = Some((owner, Bound::Total));
            }
            let seq = next_seq(&mut txn.open_table(LAST_SEQ).map_err(db_err)?, HELD_SEQ)?;
            let row = Held {
                device_id: device_id.to_owned(),
                topic: topic.to_owned(),
                qos,
                payload: payload.to_vec(),
            };
            held.insert(seq, row.encode().as_slice()).map_err(db_err)?;
            index.insert((device_id, seq), ()).map_err(db_err)?;
            Hold::Held { seq, dropped }
        };
        txn.commit().map_err(db_err)?;
        Ok(outcome)
    }

    /// Up to `n` messages held for `device_id` with sequence numbers above `after`, oldest
    /// first.
    pub fn held_after(
        &self,
        device_id: &str,
        after: u64,
        n: usize,
    ) -> Result<Vec<(u64, Held)>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let index = txn.open_table(HELD_BY_DEVICE).map_err(db_err)?;
        let held = txn.open_table(HELD).map_err(db_err)?;
        let mut out = Vec::new();
        for row in index
            .range((device_id, after.saturating_add(1))..=(device_id, u64::MAX))
            .map_err(db_err)?
            .take(n)
        {
            let seq = row.map_err(db_err)?.0.value().1;
            if let Some(v) = held.get(seq).map_err(db_err)? {
                out.push((seq, Held::decode(v.value()).map_err(StoreError::Db)?));
            }
        }
        Ok(out)
    }

    /// Forget a held message (the device acknowledged it, or it went out with QoS 0).
    pub fn release(&self, seq: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut held = txn.open_table(HELD).map_err(db_err)?;
            let device = match held.remove(seq).map_err(db_err)? {
                Some(v) => Held::decode(v.value()).map_err(StoreError::Db)?.device_id,
                None => return Ok(()),
            };
            txn.open_table(HELD_BY_DEVICE)
                .map_err(db_err)?
                .remove((device.as_str(), seq))
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    /// Delete offline sessions older than `expiry_secs`, with their held messages. Returns how
    /// many.
    pub fn expire_sessions(&self, now: u64, expiry_secs: u64) -> Result<usize, StoreError> {
        self.sweep_sessions(|r| r.expired(now, expiry_secs).then_some(None))
    }

    /// After a restart nothing is connected: clean sessions are discarded, persistent ones go
    /// offline from `now`.
    fn restart_sessions(&self, now: u64) -> Result<usize, StoreError> {
        self.sweep_sessions(|r| match (r.persistent, r.owner) {
            (false, _) => Some(None),
            (true, 0) => None,
            (true, _) => Some(Some(SessionRecord {
                owner: 0,
                disconnected_at: now,
                ..r.clone()
            })),
        })
    }

    /// Visit every session: `Some(None)` deletes it, `Some(Some(r))` rewrites it. Returns how
    /// many were deleted.
    fn sweep_sessions(
        &self,
        mut f: impl FnMut(&SessionRecord) -> Option<Option<SessionRecord>>,
    ) -> Result<usize, StoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let mut changes = Vec::new();
        for row in txn
            .open_table(SESSIONS)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (k, v) = row.map_err(db_err)?;
            let r = SessionRecord::decode(v.value()).map_err(StoreError::Db)?;
            if let Some(change) = f(&r) {
                changes.push((k.value().to_owned(), change));
            }
        }
        let mut deleted = 0;
        for (device_id, change) in &changes {
            match change {
                None => {
                    drop_session(&txn, device_id)?;
                    deleted += 1;
                }
                Some(r) => {
                    txn.open_table(SESSIONS)
                        .map_err(db_err)?
                        .insert(device_id.as_str(), r.encode().as_slice())
                        .map_err(db_err)?;
                }
            }
        }
        txn.commit().map_err(db_err)?;
        Ok(deleted)
    }

    /// Cloud-to-device messages held for all sessions.
    pub fn held_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(HELD).map_err(db_err)?;
        t.len().map_err(db_err)
    }
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    db(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u8) -> Message {
        Message {
            device_id: "s1".into(),
            thumbprint: "AB".into(),
            enrollment: String::new(),
            topic: format!("devices/s1/messages/events/{i}"),
            payload: vec![i; 3],
        }
    }

    #[test]
    fn survives_reopen_and_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.redb");
        {
            let s = Store::open(&path, 2).expect("open");
            assert_eq!(s.append(&msg(1)), Ok(1));
            assert_eq!(s.append(&msg(2)), Ok(2));
            assert_eq!(s.append(&msg(3)), Err(StoreError::Full { max: 2 }));
        }
        let s = Store::open(&path, 2).expect("reopen");
        let rows = s.next_after(0, 10).expect("read");
        assert_eq!(rows, vec![(1, msg(1)), (2, msg(2))]);
        s.remove(1).expect("remove");
        assert_eq!(s.next_after(0, 10).expect("read"), vec![(2, msg(2))]);
        assert_eq!(s.append(&msg(4)), Ok(3));
        assert_eq!(s.depth(), Ok(2));
        s.remove(2).expect("remove");
        s.remove(3).expect("remove");
        assert_eq!(s.append(&msg(5)), Ok(4), "numbers never repeat");
    }

    const LIMITS: SessionLimits = SessionLimits {
        per_device: 2,
        total: 3,
        expiry_secs: 100,
    };
    const C2D: &str = "devices/s1/messages/devicebound/";

    fn held_payloads(s: &Store, id: &str) -> Vec<Vec<u8>> {
        s.held_after(id, 0, 100)
            .expect("held")
            .into_iter()
            .map(|(_, h)| h.payload)
            .collect()
    }

    #[test]
    fn persistent_sessions_hold_bounded_and_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("q.redb");
        let s = Store::open(&path, 10).expect("open");
        let sub = vec![("devices/s1/messages/devicebound/#".to_owned(), 1)];
        // No session, nothing held.
        assert_eq!(
            s.hold("s1", C2D, 1, b"x", 0, LIMITS),
            Ok(Hold::NotHeld("no session"))
        );
        assert_eq!(s.begin_session("s1", false, 7, 10, LIMITS), Ok(false));
        assert_eq!(
            s.hold("s1", C2D, 1, b"x", 10, LIMITS),
            Ok(Hold::NotHeld("not subscribed"))
        );
        s.set_filters("s1", 7, &sub, &[]).expect("subscribe");
        s.end_session("s1", 7, 20).expect("offline");
        assert_eq!(
            s.hold("s1", C2D, 0, b"q0", 21, LIMITS),
            Ok(Hold::NotHeld("QoS 0 is not held for an offline device"))
        );
        for p in [b"1", b"2"] {
            assert!(matches!(
                s.hold("s1", C2D, 1, p, 21, LIMITS),
                Ok(Hold::Held { dropped: None, .. })
            ));
        }
        // The per-device bound drops the oldest.
        assert!(matches!(
            s.hold("s1", C2D, 1, b"3", 21, LIMITS),
            Ok(Hold::Held { dropped: Some((ref d, Bound::Device)), .. }) if d == "s1"
        ));
        assert_eq!(held_payloads(&s, "s1"), vec![b"2".to_vec(), b"3".to_vec()]);
        // The total bound drops the oldest of all devices.
        assert_eq!(s.begin_session("s2", false, 8, 21, LIMITS), Ok(false));
        s.set_filters(
            "s2",
            8,
            &[("devices/s2/messages/devicebound/#".into(), 1)],
            &[],
        )
        .expect("subscribe");
        let to_s2 = "devices/s2/messages/devicebound/x";
        assert!(matches!(
            s.hold("s2", to_s2, 1, b"a", 22, LIMITS),
            Ok(Hold::Held { dropped: None, .. })
        ));
        assert!(matches!(
            s.hold("s2", to_s2, 1, b"b", 22, LIMITS),
            Ok(Hold::Held { dropped: Some((ref d, Bound::Total)), .. }) if d == "s1"
        ));
        assert_eq!(s.held_count(), Ok(3));
        drop(s);
        // A restart keeps the persistent session and its messages; s2 was live: now offline.
        let s = Store::open(&path, 10).expect("reopen");
        assert_eq!(held_payloads(&s, "s1"), vec![b"3".to_vec()]);
        assert_eq!(s.begin_session("s1", false, 1, 50, LIMITS), Ok(true));
        let (seq, _) = s.held_after("s1", 0, 1).expect("held")[0].clone();
        s.release(seq).expect("release");
        assert!(held_payloads(&s, "s1").is_empty());
        // A clean session discards what was kept.
        assert_eq!(s.begin_session("s2", true, 2, 50, LIMITS), Ok(false));
        assert!(held_payloads(&s, "s2").is_empty());
        s.end_session("s2", 2, 51).expect("end");
        assert_eq!(s.begin_session("s2", false, 3, 52, LIMITS), Ok(false));
        // An offline session older than the expiry is gone.
        s.end_session("s1", 1, 60).expect("offline");
        assert_eq!(s.expire_sessions(161, 100), Ok(1));
        assert_eq!(s.begin_session("s1", false, 4, 161, LIMITS), Ok(false));
    }
}
