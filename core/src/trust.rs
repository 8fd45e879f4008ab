//! The trust store: anchors and CRLs, decoded once and shared by every verification.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use crate::algorithms::{KeyTable, PublicKey, SignatureCheck};
use crate::cert::Cert;
use crate::error::Error;
use crate::input::{parse_certificates, parse_crls};
use crate::revocation::{Crl, CrlSet};

/// Trust anchors and revocation lists. Build it once (anchors and CRLs are decoded and their
/// keys parsed here, not per call), then verify any number of chains against it.
///
/// Any certificate added as an anchor is trusted as is, even when it is not self-signed (an
/// intermediate pinned as the anchor of an enrollment group); its own validity and extensions
/// still constrain the paths through it.
///
/// The store also remembers work that does not depend on the time or the options, so a
/// gateway checking many devices under one CA does not repeat it (see [`VerifyCache`]). A
/// clone shares that memory; a new store (a policy or anchor swap) starts empty.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    anchors: Vec<Arc<Cert>>,
    by_subject: HashMap<Vec<u8>, Vec<usize>>,
    by_sha256: HashMap<[u8; 32], usize>,
    crls: CrlSet,
    cache: Arc<VerifyCache>,
}

/// Certificate signatures already verified (issuer and subject certificate, by the SHA-256 of
/// their exact DER bytes), at most this many; the set is emptied when full. 8,192 pairs is a
/// gateway's whole fleet of intermediates many times over, and about 0.6 MB.
pub const VERIFIED_SIGNATURES_CAPACITY: usize = 8192;

/// CA keys with a precomputed table ([`KeyTable`]), at most this many (about 150 KB each for
/// P-256, 340 KB for P-384): a fleet has a handful of anchors and manufacturing CAs.
pub const KEY_TABLES_CAPACITY: usize = 16;

/// Decoded intermediates remembered by their exact bytes, at most this many (the oldest is
/// forgotten first; a few KB each): a gateway's devices present a handful of distinct
/// intermediates, so each is decoded once rather than on every connection.
pub const DECODED_INTERMEDIATES_CAPACITY: usize = 32;

/// Verifications a key performs before it gets a table: a table costs about as much as ten
/// verifications, so one-off keys (device keys, a single check in a browser) never pay it.
pub const KEY_TABLE_AFTER_USES: u32 = 2;

/// What a [`TrustStore`] remembers between verifications: verified issuer-to-subject
/// signatures, tables for CA keys that verify many signatures, and decoded intermediates.
/// Verdicts never depend on it: a hit stands for a verification of the very same bytes that
/// succeeded, the path builder counts a cached signature against its budget as if it had
/// checked it, and decoding depends on nothing but the bytes.
#[derive(Debug)]
pub struct VerifyCache {
    enabled: bool,
    verified: Mutex<HashSet<([u8; 32], [u8; 32])>>,
    keys: Mutex<HashMap<[u8; 32], KeyUse>>,
    decoded: Mutex<VecDeque<Arc<Cert>>>,
}

#[derive(Debug)]
enum KeyUse {
    Counting(u32),
    Table(Arc<KeyTable>),
}

impl Default for VerifyCache {
    fn default() -> Self {
        Self {
            enabled: true,
            verified: Mutex::new(HashSet::new()),
            keys: Mutex::new(HashMap::new()),
            decoded: Mutex::new(VecDeque::new()),
        }
    }
}

impl VerifyCache {
    /// Whether `issuer` already verified `subject`'s signature.
    fn has_verified(&self, issuer: &Cert, subject: &Cert) -> bool {
        self.enabled
            && self
                .verified
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&(*issuer.sha256(), *subject.sha256()))
    }

    fn remember_verified(&self, issuer: &Cert, subject: &Cert) {
        if !self.enabled {
            return;
        }
        let mut set = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if set.len() >= VERIFIED_SIGNATURES_CAPACITY {
            set.clear();
        }
        set.insert((*issuer.sha256(), *subject.sha256()));
    }

    /// The table of `key` (certificate `issuer`'s), building it once the key has been used
    /// often enough and there is room.
    fn table(&self, issuer: &Cert, key: &PublicKey) -> Option<Arc<KeyTable>> {
        if !self.enabled || !matches!(key, PublicKey::P256(_) | PublicKey::P384(_)) {
            return None;
        }
        let id = *issuer.spki_sha256();
        {
            let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            let full = keys
                .values()
                .filter(|k| matches!(k, KeyUse::Table(_)))
                .count()
                >= KEY_TABLES_CAPACITY;
            if full && !keys.contains_key(&id) {
                return None;
            }
            let entry = keys.entry(id).or_insert(KeyUse::Counting(0));
            match entry {
                KeyUse::Table(t) => return Some(t.clone()),
                KeyUse::Counting(n) if *n + 1 < KEY_TABLE_AFTER_USES || full => {
                    *n += 1;
                    return None;
                }
                KeyUse::Counting(_) => {}
            }
        }
        // Built outside the lock: other verifications go on meanwhile (two threads may both
        // build one; the second insert wins, harmlessly).
        let table = Arc::new(key.table()?);
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, KeyUse::Table(table.clone()));
        Some(table)
    }

    /// Heap bytes held by key tables (for capacity planning and tests).
    pub fn table_bytes(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|k| match k {
                KeyUse::Table(t) => t.bytes(),
                KeyUse::Counting(_) => 0,
            })
            .sum()
    }

    /// Decoded intermediates remembered now.
    pub fn decoded_len(&self) -> usize {
        self.decoded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Verified signatures remembered now.
    pub fn verified_len(&self) -> usize {
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add every certificate in PEM or DER `input` as an anchor; returns how many were new.
    pub fn add_anchors(&mut self, input: &[u8]) -> Result<usize, Error> {
        let mut added = 0;
        for der in parse_certificates(input)? {
            if self.add_anchor_der(&der)? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Add one DER anchor. Returns false when the same certificate was already present.
    pub fn add_anchor_der(&mut self, der: &[u8]) -> Result<bool, Error> {
        let cert = Cert::from_der(der)?;
        Ok(self.add_anchor(cert))
    }

    /// Add a decoded anchor. Returns false when already present.
    pub fn add_anchor(&mut self, cert: Cert) -> bool {
        if self.by_sha256.contains_key(cert.sha256()) {
            return false;
        }
        let idx = self.anchors.len();
        self.by_sha256.insert(*cert.sha256(), idx);
        self.by_subject
            .entry(cert.subject_der().to_vec())
            .or_default()
            .push(idx);
        self.anchors.push(Arc::new(cert));
        true
    }

    /// Add every CRL in PEM or DER `input`; returns how many were added.
    pub fn add_crls(&mut self, input: &[u8]) -> Result<usize, Error> {
        let ders = parse_crls(input)?;
        let n = ders.len();
        for der in ders {
            self.add_crl_der(&der)?;
        }
        Ok(n)
    }

    /// Add one DER CRL. Its signature is checked when a path uses its issuer.
    pub fn add_crl_der(&mut self, der: &[u8]) -> Result<(), Error> {
        self.crls.insert(Crl::from_der(der)?);
        Ok(())
    }

    /// All anchors.
    pub fn anchors(&self) -> &[Arc<Cert>] {
        &self.anchors
    }

    /// Anchors whose subject is exactly `name_der`.
    pub(crate) fn anchors_named(&self, name_der: &[u8]) -> impl Iterator<Item = &Arc<Cert>> {
        self.by_subject
            .get(name_der)
            .into_iter()
            .flatten()
            .filter_map(|i| self.anchors.get(*i))
    }

    /// Whether `cert` is itself one of the anchors (same bytes).
    pub fn is_anchor(&self, cert: &Cert) -> bool {
        self.by_sha256.contains_key(cert.sha256())
    }

    /// The CRLs.
    pub fn crls(&self) -> &CrlSet {
        &self.crls
    }

    /// Turn the verification memory ([`VerifyCache`]) off or on; it starts on. Verdicts are the
    /// same either way; off, every verification does all its signature work (benchmarks of
    /// cold verification, or hosts that want each call to cost the same).
    pub fn set_cache(&mut self, enabled: bool) {
        self.cache = Arc::new(VerifyCache {
            enabled,
            ..VerifyCache::default()
        });
    }

    /// The verification memory, for its statistics.
    pub fn cache(&self) -> &VerifyCache {
        &self.cache
    }

    /// Decode a presented intermediate, or take the decoding of the very same bytes from the
    /// verification memory ([`DECODED_INTERMEDIATES_CAPACITY`]) when it is on. Bytes that are
    /// not a certificate are not remembered.
    pub(crate) fn decode_intermediate(&self, der: &[u8]) -> Result<Arc<Cert>, Error> {
        if !self.cache.enabled {
            return Cert::from_der(der).map(Arc::new);
        }
        // Compared by bytes, not by a hash of them: a memcmp that stops at the first
        // difference (the serial number, for a sibling) is cheaper than hashing, in wasm most.
        let seen = |list: &VecDeque<Arc<Cert>>| list.iter().find(|c| c.der() == der).cloned();
        if let Some(c) = seen(
            &self
                .cache
                .decoded
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ) {
            return Ok(c);
        }
        let cert = Arc::new(Cert::from_der(der)?);
        let mut list = self
            .cache
            .decoded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if seen(&list).is_none() {
            if list.len() >= DECODED_INTERMEDIATES_CAPACITY {
                list.pop_front();
            }
            list.push_back(cert.clone());
        }
        Ok(cert)
    }

    /// Check that `issuer`'s key (`key`, already decoded from it) signed `subject`, remembering
    /// a success so that the same pair of certificates is not verified twice.
    ///
    /// With `external`, a check it can do ([`Cert::external_check`]) is answered from there
    /// instead; one it has no answer for yet is requested and passes provisionally, which
    /// makes the whole verdict provisional ([`ExternalSignatures::is_complete`]).
    pub(crate) fn verify_signed(
        &self,
        subject: &Cert,
        issuer: &Cert,
        key: &PublicKey,
        external: Option<&ExternalSignatures>,
    ) -> Result<(), Error> {
        if self.cache.has_verified(issuer, subject) {
            return Ok(());
        }
        if let Some(external) = external
            && let Some(check) = subject.external_check(issuer, key)?
        {
            return match external.answer_for(check) {
                Some(true) => {
                    self.cache.remember_verified(issuer, subject);
                    Ok(())
                }
                Some(false) => Err(Error::BadSignature),
                None => Ok(()),
            };
        }
        let table = self.cache.table(issuer, key);
        subject.verify_signed_by_with_table(key, table.as_deref())?;
        self.cache.remember_verified(issuer, subject);
        Ok(())
    }
}

/// Signature checks answered by a verifier outside the core, for a host whose platform has a
/// faster one: the browser's WebCrypto runs natively while the core runs as wasm without wide
/// multiplication.
///
/// The core still decides everything but the arithmetic: it decodes and range-checks the
/// algorithm, key and signature as its own verification does, then asks for the check
/// ([`SignatureCheck`]). Verification is repeated in rounds:
///
/// 1. verify with [`crate::VerifyOptions::external`] set to this collection;
/// 2. if [`ExternalSignatures::is_complete`], that verdict is final; otherwise do the checks in
///    [`ExternalSignatures::take_pending`], give each answer with
///    [`ExternalSignatures::answer`], and verify again.
///
/// A check without an answer passes provisionally, so that one round asks for a whole path's
/// checks at once; such a round ends in a `signature-checks-pending` failure, never in a
/// report. A verdict is final only from a round that needed no new answer, and such a
/// round saw exactly the answers the core's own verification gives if the outside verifier
/// agrees with it (the browser tests compare them). The path builder's signature budget bounds
/// the checks of a round, and every round but the last answers at least one more, so the rounds
/// end.
#[derive(Default)]
pub struct ExternalSignatures {
    state: Mutex<ExternalState>,
}

#[derive(Default)]
struct ExternalState {
    answers: HashMap<SignatureCheck, bool>,
    pending: Vec<SignatureCheck>,
}

impl std::fmt::Debug for ExternalSignatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ExternalSignatures")
            .field("answers", &state.answers.len())
            .field("pending", &state.pending.len())
            .finish()
    }
}

impl ExternalSignatures {
    /// An empty collection: the first round asks for every check.
    pub fn new() -> Self {
        Self::default()
    }

    /// The answer for `check`, or `None` after recording it as pending.
    pub(crate) fn answer_for(&self, check: SignatureCheck) -> Option<bool> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(answer) = state.answers.get(&check) {
            return Some(*answer);
        }
        if !state.pending.contains(&check) {
            state.pending.push(check);
        }
        None
    }

    /// Whether the last verification had an answer for every check it made, so its verdict
    /// is final. Reset by [`ExternalSignatures::take_pending`].
    pub fn is_complete(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending.is_empty()
    }

    /// The checks still without an answer (each once), to run before the next round.
    pub fn take_pending(&self) -> Vec<SignatureCheck> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut state.pending)
    }

    /// Give the outside verifier's answer for `check`: `true` when the signature verifies.
    pub fn answer(&self, check: SignatureCheck, valid: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.answers.insert(check, valid);
    }

    /// How many checks are waiting for an answer.
    pub fn pending(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending.len()
    }
}
