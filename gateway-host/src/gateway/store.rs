//! Store-and-forward on disk (redb): a device's message is committed here before the device
//! gets its PUBACK, and removed only after the upstream broker acknowledged it. A commit is
//! durable (redb's default), so a crash or `kill -9` loses nothing that was acknowledged.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

/// Queue rows: sequence number -> encoded [`Message`].
const QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");

/// The last sequence number handed out (row 0), so numbers never repeat even when the queue
/// empties: the forwarder reads onwards from the last one it sent.
const LAST_SEQ: TableDefinition<u64, u64> = TableDefinition::new("last_seq");

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
        let fields: [&[u8]; 5] = [
            self.device_id.as_bytes(),
            self.thumbprint.as_bytes(),
            self.enrollment.as_bytes(),
            self.topic.as_bytes(),
            &self.payload,
        ];
        let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
        for f in fields {
            // Fields are bounded by the packet size limit, far below u32::MAX.
            out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    fn decode(mut bytes: &[u8]) -> Result<Self, String> {
        let mut next = || -> Result<Vec<u8>, String> {
            let (len, rest) = bytes
                .split_first_chunk::<4>()
                .ok_or("stored message truncated")?;
            let len = u32::from_be_bytes(*len) as usize;
            if len > MAX_FIELD || len > rest.len() {
                return Err("stored message truncated".into());
            }
            let (field, rest) = rest.split_at(len);
            bytes = rest;
            Ok(field.to_vec())
        };
        let text =
            |b: Vec<u8>| String::from_utf8(b).map_err(|_| "stored text not UTF-8".to_owned());
        Ok(Message {
            device_id: text(next()?)?,
            thumbprint: text(next()?)?,
            enrollment: text(next()?)?,
            topic: text(next()?)?,
            payload: next()?,
        })
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
    /// Open (or create) the queue at `path`, holding at most `max` messages.
    pub fn open(path: &Path, max: u64) -> Result<Self, StoreError> {
        let db = Database::create(path)
            .map_err(|e| StoreError::Db(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(QUEUE).map_err(db_err)?;
        txn.open_table(LAST_SEQ).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(Store { db, max })
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
            let last = counter.get(0).map_err(db_err)?.map_or(0, |v| v.value());
            let seq = last + 1;
            counter.insert(0, seq).map_err(db_err)?;
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
}
