//! Path building: depth-first search with backtracking from the leaf to any trust anchor, over
//! every candidate issuer (same name with other keys, cross-signs, rollovers), bounded by a work
//! budget. Each complete path is then validated as a whole (RFC 5280 section 6.1).

use std::collections::HashMap;
use std::sync::Arc;

use crate::cert::Cert;
use crate::error::{Error, Failure, PathAttempt};
use crate::identity::{self, IdentitySource};
use crate::name::{self, PeerName};
use crate::profile::{self, Purpose};
use crate::report::{Report, Warning};
use crate::time::UnixTime;
use crate::trust::{ExternalSignatures, TrustStore};

/// Hard limit on intermediates in a path, whatever the caller asks: real fleets use one to three;
/// anything deeper is an attack or a mistake.
pub const MAX_INTERMEDIATES: usize = 8;

/// Signature verifications allowed per call. One device chain needs 2-3; limbo's pathological
/// cases need up to a few dozen to be rejected properly. Each costs ~0.3 ms (P-256) to ~5 ms
/// (RSA-8192), so this bounds a call to well under a second.
pub const MAX_SIGNATURE_CHECKS: usize = 100;

/// Candidate issuers considered per call (including those rejected without a signature check).
pub const MAX_CANDIDATES: usize = 200;

/// Largest number of paths tried that a failure lists.
pub const MAX_ATTEMPTS_REPORTED: usize = 16;

/// Default renewal window: warn 30 days before expiry.
pub const DEFAULT_RENEWAL_WINDOW_SECS: i64 = 30 * 86_400;

/// Everything about a verification besides the certificates.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Validation time (the core never reads a clock).
    pub time: UnixTime,
    /// What the leaf must be good for; devices are TLS clients by default.
    pub purpose: Purpose,
    /// Largest number of intermediates between leaf and anchor (self-issued ones not counted);
    /// at most [`MAX_INTERMEDIATES`].
    pub max_intermediates: Option<usize>,
    /// Names the leaf must carry in its subjectAltName (every one must match).
    pub peer_names: Vec<PeerName>,
    /// Where the device ID comes from.
    pub identity: IdentitySource,
    /// The device ID the leaf must carry, if known.
    pub expected_device_id: Option<String>,
    /// keyUsage bits the leaf must assert when it has a keyUsage (names as in RFC 5280:
    /// `digitalSignature`, `keyEncipherment`, ...).
    pub required_key_usage: Vec<String>,
    /// Warn when the leaf expires within this many seconds.
    pub renewal_window_secs: i64,
    /// Certificate signature checks answered outside the core (the browser module's WebCrypto),
    /// in rounds: see [`ExternalSignatures`]. `None` (the default): the core checks every
    /// signature itself.
    pub external: Option<Arc<ExternalSignatures>>,
}

impl VerifyOptions {
    /// Defaults for a device at `time`: client purpose, device ID from the subject CN.
    pub fn new(time: UnixTime) -> Self {
        VerifyOptions {
            time,
            purpose: Purpose::Client,
            max_intermediates: None,
            peer_names: Vec::new(),
            identity: IdentitySource::SubjectCn,
            expected_device_id: None,
            required_key_usage: Vec::new(),
            renewal_window_secs: DEFAULT_RENEWAL_WINDOW_SECS,
            external: None,
        }
    }
}

/// Verify `leaf_der` against `store`, with `intermediates` as an unordered bag (duplicates,
/// extras, unrelated certificates and the anchors themselves are all fine).
///
/// Returns a [`Report`] for the first valid path found, or a [`Failure`] naming the
/// certificate at fault and listing the paths tried. Never panics; bounded work.
pub fn verify_chain<B: AsRef<[u8]>>(
    store: &TrustStore,
    leaf_der: &[u8],
    intermediates: &[B],
    opts: &VerifyOptions,
) -> Result<Report, Failure> {
    let leaf = Cert::from_der(leaf_der).map_err(|e| Failure::at(e, 0, "the device certificate"))?;
    let decoded = decode_presented(store, intermediates)?;
    verify_parsed(store, &leaf, &usable_bag(store, &leaf, &decoded), opts)
}

/// The presented intermediates, decoded (through `store`'s memory of recent intermediates).
/// Undecodable ones cannot be issuers and are skipped, like unrelated ones; too many is an
/// error.
pub(crate) fn decode_presented<B: AsRef<[u8]>>(
    store: &TrustStore,
    intermediates: &[B],
) -> Result<Vec<Arc<Cert>>, Failure> {
    if intermediates.len() > crate::input::MAX_CERTS {
        return Err(Failure::new(Error::InputTooLarge {
            what: "intermediates",
            limit: crate::input::MAX_CERTS,
        }));
    }
    Ok(intermediates
        .iter()
        .filter_map(|der| store.decode_intermediate(der.as_ref()).ok())
        .collect())
}

/// The decoded intermediates that can extend a path in `store`: not one of its anchors, not
/// the leaf again, each once.
pub(crate) fn usable_bag(store: &TrustStore, leaf: &Cert, decoded: &[Arc<Cert>]) -> Vec<Arc<Cert>> {
    let mut bag: Vec<Arc<Cert>> = Vec::new();
    for c in decoded {
        if !store.is_anchor(c)
            && c.sha256() != leaf.sha256()
            && !bag.iter().any(|b| b.sha256() == c.sha256())
        {
            bag.push(c.clone());
        }
    }
    bag
}

/// [`verify_chain`] on already-decoded certificates (hosts that cache decoded intermediates).
pub fn verify_parsed(
    store: &TrustStore,
    leaf: &Cert,
    bag: &[Arc<Cert>],
    opts: &VerifyOptions,
) -> Result<Report, Failure> {
    let time = opts.time.0;
    let at_leaf = |e: Error| Failure::at(e, 0, leaf.subject().to_owned());
    // Path-independent leaf checks first: they fail the same way on every path.
    profile::check_common(leaf, time, false).map_err(at_leaf)?;
    profile::check_leaf(leaf, &opts.purpose, &opts.required_key_usage).map_err(at_leaf)?;
    for want in &opts.peer_names {
        name::leaf_matches(leaf, want).map_err(at_leaf)?;
    }
    let device_id = identity::device_id(leaf, opts.identity).map_err(at_leaf)?;
    if let (Some(expected), Some(found)) = (&opts.expected_device_id, &device_id)
        && expected != found
    {
        return Err(at_leaf(Error::DeviceIdMismatch {
            expected: expected.clone(),
            found: found.clone(),
        }));
    }
    let max_intermediates = opts
        .max_intermediates
        .unwrap_or(MAX_INTERMEDIATES)
        .min(MAX_INTERMEDIATES);
    let mut search = Search {
        store,
        bag,
        opts,
        max_intermediates,
        signatures: 0,
        candidates: 0,
        nc_comparisons: 0,
        attempts: Vec::new(),
        ca_checks: HashMap::new(),
        best: None,
    };
    let mut path: Vec<Node> = vec![Node {
        cert: leaf,
        anchor: false,
    }];
    let outcome = search.extend(&mut path);
    // A round with outside checks still unanswered is never a verdict: say so instead of
    // building a report or a failure that would be thrown away (and could be mistaken for one).
    if let Some(pending) = opts.external.as_deref().map(ExternalSignatures::pending)
        && pending > 0
    {
        return Err(Failure::at(
            Error::SignatureChecksPending { pending },
            0,
            leaf.subject().to_owned(),
        ));
    }
    match outcome {
        Ok(Some(found)) => Ok(search.report(found, device_id)),
        Ok(None) => Err(search.failure(leaf)),
        Err(budget) => {
            let mut f = Failure::at(budget, 0, leaf.subject().to_owned());
            f.attempts = search.attempts;
            Err(f)
        }
    }
}

#[derive(Clone, Copy)]
struct Node<'a> {
    cert: &'a Cert,
    anchor: bool,
}

/// The best failure seen: the deepest point reached, and why it ended there.
struct Best {
    len: usize,
    depth: usize,
    subject: String,
    error: Error,
}

struct Search<'a> {
    store: &'a TrustStore,
    bag: &'a [Arc<Cert>],
    opts: &'a VerifyOptions,
    max_intermediates: usize,
    signatures: usize,
    candidates: usize,
    nc_comparisons: usize,
    attempts: Vec<PathAttempt>,
    /// Path-independent CA checks, done once per certificate (keyed by SHA-256).
    ca_checks: HashMap<([u8; 32], bool), Result<(), Error>>,
    best: Option<Best>,
}

impl<'a> Search<'a> {
    /// Try to complete `path` (leaf first) to an anchor. `Ok(Some(path))` on success,
    /// `Ok(None)` when no path works, `Err` when the budget ran out.
    fn extend(&mut self, path: &mut Vec<Node<'a>>) -> Result<Option<Vec<Node<'a>>>, Error> {
        let Some(child) = path.last().map(|n| n.cert) else {
            return Ok(None);
        };
        let depth = path.len();
        let mut any_candidate = false;
        let mut wrong_key = 0usize;
        for (cand, is_anchor) in self.candidates_for(child) {
            any_candidate = true;
            self.candidates += 1;
            if self.candidates > MAX_CANDIDATES {
                return Err(Error::BudgetExceeded {
                    what: "candidate issuers",
                    limit: MAX_CANDIDATES,
                });
            }
            // Loops: the same certificate, or the same subject and key, twice in one path.
            if path.iter().any(|n| {
                n.cert.sha256() == cand.sha256()
                    || (n.cert.subject_der() == cand.subject_der()
                        && n.cert.spki_der() == cand.spki_der())
            }) {
                continue;
            }
            if let Err(e) = self.ca_check(cand, is_anchor) {
                self.record(path, cand, depth, e);
                continue;
            }
            let key = match cand.public_key() {
                Ok(k) => k,
                Err(e) => {
                    self.record(path, cand, depth, e);
                    continue;
                }
            };
            self.signatures += 1;
            if self.signatures > MAX_SIGNATURE_CHECKS {
                return Err(Error::BudgetExceeded {
                    what: "signature checks",
                    limit: MAX_SIGNATURE_CHECKS,
                });
            }
            if let Err(e) =
                self.store
                    .verify_signed(child, cand, key, self.opts.external.as_deref())
            {
                if e == Error::BadSignature && key_ids_differ(child, cand) {
                    // A same-named CA with another key (a rollover or a decoy): not this one.
                    wrong_key += 1;
                } else {
                    // The key identifiers agree, so this was the issuer: the child's signature
                    // is damaged or forged, and the child is at fault.
                    self.record(path, child, depth - 1, e);
                }
                continue;
            }
            path.push(Node {
                cert: cand,
                anchor: is_anchor,
            });
            if is_anchor {
                match self.validate_path(path) {
                    Ok(()) => return Ok(Some(path.clone())),
                    Err((at, e)) => {
                        let subject = path
                            .get(at)
                            .map(|n| n.cert.subject().to_owned())
                            .unwrap_or_default();
                        self.note(path, at, subject, e);
                    }
                }
            } else if self.intermediates_in(path) > self.max_intermediates {
                let e = Error::PathTooLong {
                    max_intermediates: self.max_intermediates,
                };
                self.note(path, depth, cand.subject().to_owned(), e);
            } else if let Some(found) = self.extend(path)? {
                return Ok(Some(found));
            }
            path.pop();
        }
        if !any_candidate || wrong_key > 0 {
            let candidates = self.count_named(child);
            let e = Error::UnknownIssuer {
                issuer: child.issuer().to_owned(),
                candidates,
                same_name_wrong_key: wrong_key,
            };
            // A dead end at the top of the path is worth reporting only if nothing went deeper.
            self.note(path, depth - 1, child.subject().to_owned(), e);
        }
        Ok(None)
    }

    fn count_named(&self, child: &Cert) -> usize {
        self.store.anchors_named(child.issuer_der()).count()
            + self
                .bag
                .iter()
                .filter(|c| c.subject_der() == child.issuer_der())
                .count()
    }

    /// Candidate issuers of `child`: anchors first (shortest paths), then bag certificates,
    /// those whose subject key identifier matches the child's authority key identifier first.
    fn candidates_for(&self, child: &Cert) -> Vec<(&'a Cert, bool)> {
        let aki = child
            .extensions()
            .aki
            .as_ref()
            .and_then(|(a, _)| a.key_identifier.as_ref())
            .map(|k| k.as_bytes().to_vec());
        let rank = |c: &Cert| match (&aki, &c.extensions().ski) {
            (Some(a), Some(s)) if a == s => 0,
            (Some(_), Some(_)) => 2,
            _ => 1,
        };
        let mut anchors: Vec<&'a Cert> = self
            .store
            .anchors_named(child.issuer_der())
            .map(|a| a.as_ref())
            .collect();
        anchors.sort_by_key(|c| rank(c));
        let mut inter: Vec<&'a Cert> = self
            .bag
            .iter()
            .filter(|c| c.subject_der() == child.issuer_der())
            .map(|c| c.as_ref())
            .collect();
        inter.sort_by_key(|c| rank(c));
        anchors
            .into_iter()
            .map(|c| (c, true))
            .chain(inter.into_iter().map(|c| (c, false)))
            .collect()
    }

    fn ca_check(&mut self, cert: &Cert, is_anchor: bool) -> Result<(), Error> {
        let key = (*cert.sha256(), is_anchor);
        if let Some(r) = self.ca_checks.get(&key) {
            return r.clone();
        }
        let r = profile::check_common(cert, self.opts.time.0, is_anchor)
            .and_then(|()| profile::check_ca(cert, is_anchor, &self.opts.purpose));
        self.ca_checks.insert(key, r.clone());
        r
    }

    /// Intermediates in the path that count against depth limits: not the leaf, not the
    /// anchor, not self-issued ones (RFC 5280 4.2.1.9).
    fn intermediates_in(&self, path: &[Node<'_>]) -> usize {
        path.iter()
            .skip(1)
            .filter(|n| !n.anchor && !n.cert.is_self_issued())
            .count()
    }

    /// Whole-path rules, once an anchor is reached: path length constraints, maximum depth,
    /// name constraints, revocation. Returns the index of the certificate at fault.
    fn validate_path(&mut self, path: &[Node<'_>]) -> Result<(), (usize, Error)> {
        let n = path.len();
        let inters = self.intermediates_in(path);
        if inters > self.max_intermediates {
            return Err((
                n - 1,
                Error::PathTooLong {
                    max_intermediates: self.max_intermediates,
                },
            ));
        }
        for (i, node) in path.iter().enumerate().skip(1) {
            // pathLenConstraint: non-self-issued intermediates strictly between it and the leaf.
            if let Some((bc, _)) = &node.cert.extensions().basic_constraints
                && let Some(len) = bc.path_len_constraint
            {
                let below = path[1..i]
                    .iter()
                    .filter(|m| !m.cert.is_self_issued())
                    .count();
                if below > usize::from(len) {
                    return Err((
                        i,
                        Error::PathLenExceeded {
                            path_len: u64::from(len),
                            below,
                        },
                    ));
                }
            }
            if let Some((nc, _)) = &node.cert.extensions().name_constraints {
                for (j, sub) in path[..i].iter().enumerate() {
                    // Self-issued intermediates are exempt; the leaf never is.
                    if j > 0 && sub.cert.is_self_issued() {
                        continue;
                    }
                    name::check_constraints(nc, sub.cert, &mut self.nc_comparisons)
                        .map_err(|e| (j, e))?;
                }
            }
        }
        let crls = self.store.crls();
        if !crls.is_empty() {
            for i in 0..n - 1 {
                crls.check(path[i].cert, path[i + 1].cert, self.opts.time.0)
                    .map_err(|e| (i, e))?;
            }
        }
        Ok(())
    }

    fn record(&mut self, path: &[Node<'_>], at: &Cert, depth: usize, e: Error) {
        self.note(path, depth, at.subject().to_owned(), e);
    }

    fn note(&mut self, path: &[Node<'_>], depth: usize, subject: String, error: Error) {
        let len = path.len();
        if self.attempts.len() < MAX_ATTEMPTS_REPORTED {
            let mut subjects: Vec<String> =
                path.iter().map(|n| n.cert.subject().to_owned()).collect();
            if depth >= len {
                subjects.push(subject.clone());
            }
            self.attempts.push(PathAttempt {
                subjects,
                code: error.code(),
                message: error.to_string(),
            });
        }
        // Prefer the failure that got furthest; among equals, the first, except that a
        // concrete error beats a generic unknown-issuer dead end.
        let score = len * 2 + usize::from(!matches!(error, Error::UnknownIssuer { .. }));
        let better = match &self.best {
            None => true,
            Some(b) => score > b.len,
        };
        if better {
            self.best = Some(Best {
                len: score,
                depth,
                subject,
                error,
            });
        }
    }

    fn failure(self, leaf: &Cert) -> Failure {
        let mut f = match self.best {
            Some(b) => Failure::at(b.error, b.depth, b.subject),
            None => Failure::at(
                Error::UnknownIssuer {
                    issuer: leaf.issuer().to_owned(),
                    candidates: 0,
                    same_name_wrong_key: 0,
                },
                0,
                leaf.subject().to_owned(),
            ),
        };
        f.attempts = self.attempts;
        f
    }

    fn report(&self, path: Vec<Node<'_>>, device_id: Option<String>) -> Report {
        let time = self.opts.time.0;
        let last = path.len() - 1;
        let chain: Vec<_> = path
            .iter()
            .enumerate()
            .map(|(i, n)| n.cert.summary(i, i == last))
            .collect();
        let leaf_not_after = path.first().map(|n| n.cert.not_after()).unwrap_or(time);
        let seconds_to_expiry = leaf_not_after.saturating_sub(time);
        let renewal_due = seconds_to_expiry <= self.opts.renewal_window_secs;
        let mut warnings = Vec::new();
        if renewal_due {
            warnings.push(Warning {
                code: "renewal-due",
                message: format!(
                    "the device certificate expires in {} day(s), on {}; renew it",
                    seconds_to_expiry / 86_400,
                    UnixTime(leaf_not_after)
                ),
            });
        }
        for n in path.iter().skip(1) {
            if n.cert.not_after().saturating_sub(time) <= self.opts.renewal_window_secs {
                warnings.push(Warning {
                    code: "ca-expiring",
                    message: format!(
                        "CA \"{}\" expires on {}",
                        n.cert.subject(),
                        UnixTime(n.cert.not_after())
                    ),
                });
            }
        }
        Report {
            device_id,
            chain,
            validated_at: time,
            seconds_to_expiry,
            renewal_due,
            warnings,
            paths_tried: self.attempts.len() + 1,
            signatures_checked: self.signatures,
        }
    }
}

/// Whether the child's authority key identifier names a key other than the candidate's.
fn key_ids_differ(child: &Cert, candidate: &Cert) -> bool {
    let aki = child
        .extensions()
        .aki
        .as_ref()
        .and_then(|(a, _)| a.key_identifier.as_ref());
    match (aki, &candidate.extensions().ski) {
        (Some(a), Some(s)) => a.as_bytes() != s.as_slice(),
        _ => false,
    }
}
