//! The audit log: one JSON line per authentication decision, each carrying the SHA-256 of the
//! line before it (`prev`), so removing, reordering or editing a line breaks the chain.
//! `chainproof audit verify LOG` checks it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One authentication decision.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Decision {
    /// Unix seconds.
    pub time: i64,
    /// The device's address.
    pub remote: String,
    /// Device ID from the certificate (or as claimed, when no certificate was accepted).
    pub device_id: Option<String>,
    /// Leaf serial number.
    pub serial: Option<String>,
    /// Leaf issuer.
    pub issuer: Option<String>,
    /// SHA-256 thumbprint of the leaf.
    pub thumbprint: Option<String>,
    /// Enrollment that admitted the device.
    pub enrollment: Option<String>,
    /// `accepted` or `rejected`.
    pub verdict: &'static str,
    /// The core's error code for a rejection.
    pub code: Option<String>,
    /// The core's words for a rejection.
    pub message: Option<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    decision: &'a Decision,
    prev: &'a str,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash(line: &str) -> String {
    hex(&Sha256::digest(line.as_bytes()))
}

/// An append-only audit log.
#[derive(Debug)]
pub struct AuditLog {
    inner: Mutex<(File, String)>,
}

impl AuditLog {
    /// Open (or create) the log, continuing the chain from its last line.
    pub fn open(path: &Path) -> Result<Self, String> {
        let last = match File::open(path) {
            Ok(f) => BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter(|l| !l.is_empty())
                .last()
                .map_or_else(|| GENESIS.to_owned(), |l| hash(&l)),
            Err(_) => GENESIS.to_owned(),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("audit.path: {}: {e}", path.display()))?;
        Ok(AuditLog {
            inner: Mutex::new((file, last)),
        })
    }

    /// Append a decision (flushed to the OS before returning).
    pub fn record(&self, d: &Decision) -> Result<(), String> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (file, prev) = &mut *inner;
        let line = serde_json::to_string(&Line {
            decision: d,
            prev: prev.as_str(),
        })
        .map_err(|e| e.to_string())?;
        file.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| format!("audit log: {e}"))?;
        *prev = hash(&line);
        Ok(())
    }
}

/// Check a log's chain: `Ok(lines)` or the first line (1-based) that does not follow.
pub fn verify(text: &str) -> Result<usize, (usize, String)> {
    let mut prev = GENESIS.to_owned();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| (i + 1, format!("not JSON: {e}")))?;
        let got = v.get("prev").and_then(|p| p.as_str()).unwrap_or_default();
        if got != prev {
            return Err((
                i + 1,
                "its `prev` is not the hash of the line before: a line was removed, reordered or edited".into(),
            ));
        }
        prev = hash(line);
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_detects_tampering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        for i in 0..3 {
            let log = AuditLog::open(&path).expect("open");
            log.record(&Decision {
                time: i,
                verdict: "accepted",
                device_id: Some(format!("s{i}")),
                ..Decision::default()
            })
            .expect("record");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(verify(&text), Ok(3), "reopening continues the chain");
        let edited = text.replacen("\"s1\"", "\"s9\"", 1);
        assert_eq!(verify(&edited).map_err(|e| e.0), Err(3));
        let lines: Vec<&str> = text.lines().collect();
        let dropped = format!("{}\n{}\n", lines[0], lines[2]);
        assert_eq!(verify(&dropped).map_err(|e| e.0), Err(2));
    }
}
