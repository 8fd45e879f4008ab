//! The trust store: anchors and CRLs, decoded once and shared by every verification.

use std::collections::HashMap;
use std::sync::Arc;

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
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    anchors: Vec<Arc<Cert>>,
    by_subject: HashMap<Vec<u8>, Vec<usize>>,
    by_sha256: HashMap<[u8; 32], usize>,
    crls: CrlSet,
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
}
