//! Fleet trust policy: enrollment groups, individual enrollments and deny lists, read from a
//! versioned TOML file and decided here, so every host gives the same verdict.
//!
//! The core reads no files: [`FleetPolicy::from_toml`] takes the policy text and a resolver that
//! returns the contents of the files it names (`anchors_file`, `crl_files`). Everything is
//! decoded once at load (every group's anchors in one combined [`TrustStore`], an index from
//! anchor thumbprint to groups, hash sets for the deny lists); a verification is one path build
//! against the combined store plus O(1) look-ups, whatever the number of groups. A loaded
//! policy is immutable; [`PolicyCell`] swaps whole snapshots while verifications run.
//! [`compare`] runs one device under two policies (shadow mode, `chainproof policy diff`).
//!
//! Precedence, as cloud provisioning services define it:
//! 1. deny lists on the device ID and leaf thumbprint;
//! 2. an individual enrollment (`[[device]]`) for the device ID wins over any group: disabled
//!    blocks the device (`device-disabled`), its thumbprints are pinned
//!    (`thumbprint-mismatch`); self-signed device certificates are accepted only here;
//! 3. otherwise the first enabled group whose anchors validate the chain; a chain valid only
//!    through disabled groups is `enrollment-disabled`; then the group's device ID pattern and
//!    key types;
//! 4. deny lists on the path (issuers, serials, thumbprints), compromised CAs, then the
//!    policy's CRLs (fail closed unless `stale_crl = "allow"`).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::ops::Range;
use std::sync::{Arc, PoisonError, RwLock};

mod file;

use self::file::{RawGroup, RawRevocation};
use crate::cert::{Cert, hex_upper, hex_upper_eq};
use crate::error::{Error, Failure};
use crate::identity::{check_device_id, device_id};
use crate::path::{VerifyOptions, decode_presented, usable_bag, verify_parsed};
use crate::report::{Report, Warning};
use crate::revocation::{Crl, CrlSet, CrlSummary};
use crate::time::UnixTime;
use crate::trust::TrustStore;

/// The only policy file version this build understands.
pub const POLICY_VERSION: u32 = 1;

/// Longest policy file accepted; a fleet of a few thousand individual enrollments fits in
/// well under this, and it bounds what a mistaken file path can make the parser chew on.
pub const MAX_POLICY_BYTES: usize = 16 * 1024 * 1024;

/// Longest `device_id_pattern`; device IDs are at most 128 bytes, so longer patterns are typos.
pub const MAX_PATTERN_LEN: usize = 256;

/// Route used when a group does not name one.
pub const DEFAULT_ROUTE: &str = "default";

/// Reads a file named by the policy (`anchors_file`, `crl_files`) and returns its bytes, or a
/// plain-words reason it could not.
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, String>;

// ---------------------------------------------------------------------------------------------
// The loaded policy.

/// What to do when a policy CRL is past its nextUpdate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StaleCrl {
    /// Reject chains that depend on it (`crl-expired`): the safe default.
    #[default]
    Fail,
    /// Still use its entries, and add a `crl-stale` warning to the verdict.
    Allow,
}

/// A device key type as the policy names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// ECDSA P-256 (`p256`).
    P256,
    /// ECDSA P-384 (`p384`).
    P384,
    /// RSA, any accepted size (`rsa`).
    Rsa,
    /// Ed25519 (`ed25519`).
    Ed25519,
}

impl KeyType {
    /// Parse the policy spelling (`p256`, `p384`, `rsa`, `ed25519`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "p256" => Some(Self::P256),
            "p384" => Some(Self::P384),
            "rsa" => Some(Self::Rsa),
            "ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }

    /// The policy spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P256 => "p256",
            Self::P384 => "p384",
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }

    fn of(cert: &Cert) -> Option<Self> {
        match cert.public_key().ok()?.kind() {
            "ECDSA P-256" => Some(Self::P256),
            "ECDSA P-384" => Some(Self::P384),
            "RSA" => Some(Self::Rsa),
            "Ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }
}

/// A certificate thumbprint pinned by an individual enrollment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Thumbprint {
    /// SHA-256 of the DER, upper-case hex (64 characters in the file).
    Sha256(String),
    /// SHA-1 of the DER, upper-case hex (40 characters in the file).
    Sha1(String),
}

impl Thumbprint {
    /// Parse hex (colons and spaces ignored, any case); the length says which hash it is.
    pub fn parse(s: &str) -> Result<Self, String> {
        let hex = normalize_hex(s)?;
        match hex.len() {
            64 => Ok(Self::Sha256(hex)),
            40 => Ok(Self::Sha1(hex)),
            n => Err(format!(
                "a thumbprint is 64 hex digits (SHA-256) or 40 (SHA-1), not {n}"
            )),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Sha256(_) => "SHA-256",
            Self::Sha1(_) => "SHA-1",
        }
    }

    fn matches(&self, leaf: &Cert) -> bool {
        match self {
            Self::Sha256(h) => *h == hex_upper(leaf.sha256()),
            Self::Sha1(h) => *h == hex_upper(leaf.sha1()),
        }
    }
}

fn normalize_hex(s: &str) -> Result<String, String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not hexadecimal"));
    }
    Ok(hex.to_ascii_uppercase())
}

fn sha256_hex(s: &str) -> Result<String, String> {
    let hex = normalize_hex(s)?;
    if hex.len() != 64 {
        return Err(format!(
            "a SHA-256 thumbprint is 64 hex digits, not {} (SHA-1 thumbprints are not accepted here)",
            hex.len()
        ));
    }
    Ok(hex)
}

/// Serials compare as upper-case hex without leading zero bytes (DER may add one).
fn serial_hex(s: &str) -> Result<String, String> {
    let hex = normalize_hex(s)?;
    let trimmed = hex.trim_start_matches('0');
    let mut out = if trimmed.len() % 2 == 1 {
        format!("0{trimmed}")
    } else {
        trimmed.to_owned()
    };
    if out.is_empty() {
        out.push_str("00");
    }
    Ok(out)
}

const ONE_ISSUER: &str = "give exactly one of `issuer_sha256` or `issuer` (RFC 4514 subject)";

/// Decodes upper- or lower-case hex of even length (already checked by [`normalize_hex`]).
fn hex_bytes(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            match pair {
                [hi, lo] => digit(*hi) << 4 | digit(*lo),
                [lo] => digit(*lo),
                _ => 0,
            }
        })
        .collect()
}

fn sha256_bytes(s: &str) -> Result<[u8; 32], String> {
    let hex = sha256_hex(s)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&hex_bytes(&hex));
    Ok(out)
}

/// A serial as its value's bytes: big-endian, no leading zero bytes (serial 0 is empty).
fn serial_bytes(s: &str) -> Result<Vec<u8>, String> {
    let hex = serial_hex(s)?;
    let bytes = hex_bytes(&hex);
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Ok(bytes[start..].to_vec())
}

/// Serials up to this many octets are stored inline; RFC 5280 caps serials at 20 octets, so
/// only non-conforming ones take the slower boxed form.
const SERIAL_INLINE: usize = 20;

/// Revoked serials per issuer, compact for fleet-scale lists: each issuer is stored once and
/// numbered, and a serial is a fixed 20-byte array (right-aligned, so the value alone decides
/// equality), 24 bytes per entry plus the hash set's slot, instead of two heap strings.
#[derive(Clone, Debug)]
struct SerialDenyList<K> {
    issuers: HashMap<K, u32>,
    inline: HashSet<(u32, [u8; SERIAL_INLINE])>,
    long: HashSet<(u32, Box<[u8]>)>,
}

impl<K> Default for SerialDenyList<K> {
    fn default() -> Self {
        Self {
            issuers: HashMap::new(),
            inline: HashSet::new(),
            long: HashSet::new(),
        }
    }
}

fn inline_serial(serial: &[u8]) -> Option<[u8; SERIAL_INLINE]> {
    let start = SERIAL_INLINE.checked_sub(serial.len())?;
    let mut key = [0u8; SERIAL_INLINE];
    key[start..].copy_from_slice(serial);
    Some(key)
}

impl<K: Hash + Eq> SerialDenyList<K> {
    /// Adds `serial` (from [`serial_bytes`]) of `issuer`.
    fn insert<Q>(&mut self, issuer: &Q, serial: &[u8])
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let id = match self.issuers.get(issuer) {
            Some(id) => *id,
            None => {
                // The policy file's size limit keeps the issuer count far below u32::MAX.
                let id = u32::try_from(self.issuers.len()).unwrap_or(u32::MAX);
                self.issuers.insert(issuer.to_owned(), id);
                id
            }
        };
        match inline_serial(serial) {
            Some(key) => self.inline.insert((id, key)),
            None => self.long.insert((id, serial.into())),
        };
    }

    /// Whether `serial` (from [`serial_bytes`]) of `issuer` is listed.
    fn contains<Q>(&self, issuer: &Q, serial: &[u8]) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(id) = self.issuers.get(issuer) else {
            return false;
        };
        match inline_serial(serial) {
            Some(key) => self.inline.contains(&(*id, key)),
            None => self.long.contains(&(*id, Box::from(serial))),
        }
    }

    fn len(&self) -> usize {
        self.inline.len() + self.long.len()
    }
}

/// A device ID glob: `*` matches any run of characters (also empty), `?` exactly one; every
/// other character matches itself, case-sensitively. No character classes or escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(Vec<char>);

impl Glob {
    /// A pattern; at most [`MAX_PATTERN_LEN`] bytes.
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("the pattern is empty".into());
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "the pattern is longer than {MAX_PATTERN_LEN} bytes"
            ));
        }
        Ok(Self(pattern.chars().collect()))
    }

    /// Whether `s` matches. Linear backtracking over the last `*`: O(len(s) * len(pattern)).
    pub fn matches(&self, s: &str) -> bool {
        let text: Vec<char> = s.chars().collect();
        let pat = &self.0;
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pat.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(c) if *c == '?' || Some(c) == text.get(t) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        pat.get(p..)
            .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
    }

    /// The pattern as written.
    pub fn as_string(&self) -> String {
        self.0.iter().collect()
    }
}

/// One enrollment group: the devices that chain to its anchors.
#[derive(Clone, Debug)]
pub struct Group {
    /// Identifier from the file.
    pub id: String,
    /// Disabled groups keep their anchors so a device that chains only through them gets
    /// `enrollment-disabled` rather than `unknown-issuer`.
    pub enabled: bool,
    store: TrustStore,
    pattern: Option<Glob>,
    allowed_key_types: Option<Vec<KeyType>>,
    /// Longest validity (notAfter - notBefore) of a device certificate, in seconds, before the
    /// verdict carries a `lifetime-exceeds-policy` warning.
    max_lifetime_secs: Option<i64>,
    /// Tags copied into verdicts.
    pub tags: Vec<String>,
    /// Route copied into verdicts.
    pub route: String,
}

impl Group {
    /// How many trust anchors the group holds.
    pub fn anchor_count(&self) -> usize {
        self.store.anchors().len()
    }

    /// The group's trust anchors, in file order (for summaries: subject, expiry, thumbprint).
    pub fn anchors(&self) -> &[Arc<Cert>] {
        self.store.anchors()
    }

    /// The `device_id_pattern`, as written.
    pub fn device_id_pattern(&self) -> Option<String> {
        self.pattern.as_ref().map(Glob::as_string)
    }

    /// The `allowed_key_types`, when the group restricts them.
    pub fn allowed_key_types(&self) -> Option<&[KeyType]> {
        self.allowed_key_types.as_deref()
    }
}

/// One individual enrollment.
#[derive(Clone, Debug)]
pub struct DeviceEnrollment {
    /// The device ID.
    pub id: String,
    /// Pinned thumbprints (primary first); empty means any certificate that chains to a group
    /// anchor.
    pub thumbprints: Vec<Thumbprint>,
    /// A disabled individual enrollment blocks the device even inside an enabled group.
    pub enabled: bool,
    /// Tags copied into verdicts.
    pub tags: Vec<String>,
    /// Route copied into verdicts.
    pub route: String,
}

/// Which enrollment admitted the device.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", content = "id", rename_all = "kebab-case")
)]
pub enum Enrollment {
    /// An enrollment group, by id.
    Group(String),
    /// An individual enrollment, by device ID.
    Device(String),
}

/// A device admitted by the fleet policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Verdict {
    /// The chain validation itself (its own warnings included).
    pub report: Report,
    /// The enrollment that admitted the device.
    pub enrollment: Enrollment,
    /// The enrollment's tags.
    pub tags: Vec<String>,
    /// The enrollment's route.
    pub route: String,
    /// Warnings from the policy (e.g. `crl-stale`), in addition to `report.warnings`.
    pub warnings: Vec<Warning>,
}

/// A loaded fleet policy. Immutable: build a new one to change it.
#[derive(Clone, Debug, Default)]
pub struct FleetPolicy {
    groups: Vec<Group>,
    devices: HashMap<String, DeviceEnrollment>,
    /// Every group's anchors: the one store a chain is built against (also for individual
    /// enrollments whose certificate is CA-issued).
    all_anchors: TrustStore,
    /// The anchors of enabled groups only, for the rare path that ends at an anchor held only by
    /// disabled groups while another path may reach an enabled one.
    enabled_anchors: TrustStore,
    /// Anchor SHA-256 (upper-case hex, as in [`Report::chain`]) to the groups holding it, in
    /// file order.
    groups_by_anchor: HashMap<String, Vec<usize>>,
    deny_device_ids: HashSet<String>,
    deny_thumbprints: HashSet<String>,
    deny_serials_by_issuer_sha256: SerialDenyList<[u8; 32]>,
    deny_serials_by_issuer_name: SerialDenyList<String>,
    deny_issuers: HashSet<String>,
    compromised: HashMap<String, i64>,
    crls: CrlSet,
    stale_crl: StaleCrl,
}

/// 1-based line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (u32, u32) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

struct Ctx<'a> {
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, field: &'static str, detail: impl Into<String>) -> Error {
        let (line, column) = position(self.text, span.start);
        Error::PolicyInvalid {
            line,
            column,
            field: Some(field),
            detail: detail.into(),
        }
    }
}

impl FleetPolicy {
    /// Parse and load a policy. `resolve` returns the contents of `anchors_file` and
    /// `crl_files` entries (the CLI reads them relative to the policy file; the browser passes
    /// uploaded files). Every error is `policy-invalid` with the line, column and field.
    pub fn from_toml(text: &str, resolve: Resolver<'_>) -> Result<Self, Error> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(Error::InputTooLarge {
                what: "policy file bytes",
                limit: MAX_POLICY_BYTES,
            });
        }
        let raw = file::read(text).map_err(|e| {
            let (line, column) = e.span.map_or((0, 0), |s| position(text, s.start));
            Error::PolicyInvalid {
                line,
                column,
                field: e.field,
                detail: e.detail,
            }
        })?;
        let cx = Ctx { text };
        if *raw.version.get_ref() != POLICY_VERSION {
            return Err(cx.err(
                raw.version.span(),
                "version",
                format!(
                    "version {} is not supported; this build reads version {POLICY_VERSION}",
                    raw.version.get_ref()
                ),
            ));
        }
        let mut policy = FleetPolicy::default();

        let mut group_ids = HashSet::new();
        for g in raw.group {
            policy.load_group(&cx, g, resolve, &mut group_ids)?;
        }
        for d in raw.device {
            let id = d.id.get_ref().clone();
            check_device_id(&id).map_err(|e| cx.err(d.id.span(), "device.id", e.to_string()))?;
            let mut thumbprints = Vec::new();
            for (name, t) in [
                ("device.primary_thumbprint", &d.primary_thumbprint),
                ("device.secondary_thumbprint", &d.secondary_thumbprint),
            ] {
                if let Some(t) = t {
                    thumbprints.push(
                        Thumbprint::parse(t.get_ref()).map_err(|e| cx.err(t.span(), name, e))?,
                    );
                }
            }
            let enrollment = DeviceEnrollment {
                id: id.clone(),
                thumbprints,
                enabled: d.enabled,
                tags: d.tags,
                route: d.route.unwrap_or_else(|| DEFAULT_ROUTE.into()),
            };
            if policy.devices.insert(id.clone(), enrollment).is_some() {
                return Err(cx.err(
                    d.id.span(),
                    "device.id",
                    format!("device {id:?} is enrolled twice"),
                ));
            }
        }
        policy.load_revocation(&cx, raw.revocation, resolve)?;
        Ok(policy)
    }

    fn load_group(
        &mut self,
        cx: &Ctx<'_>,
        g: RawGroup,
        resolve: Resolver<'_>,
        ids: &mut HashSet<String>,
    ) -> Result<(), Error> {
        let id = g.id.get_ref().clone();
        if id.is_empty() || !ids.insert(id.clone()) {
            return Err(cx.err(
                g.id.span(),
                "group.id",
                format!("group id {id:?} is empty or used twice"),
            ));
        }
        let (pem, span, field) = match (&g.anchors, &g.anchors_file) {
            (Some(a), None) => (a.get_ref().as_bytes().to_vec(), a.span(), "group.anchors"),
            (None, Some(f)) => (
                resolve(f.get_ref()).map_err(|e| {
                    cx.err(
                        f.span(),
                        "group.anchors_file",
                        format!("cannot read {:?}: {e}", f.get_ref()),
                    )
                })?,
                f.span(),
                "group.anchors_file",
            ),
            _ => {
                return Err(cx.err(
                    g.id.span(),
                    "group.anchors",
                    format!("group {id:?} needs exactly one of `anchors` or `anchors_file`"),
                ));
            }
        };
        let mut store = TrustStore::new();
        let added = store
            .add_anchors(&pem)
            .map_err(|e| cx.err(span.clone(), field, e.to_string()))?;
        if added == 0 {
            return Err(cx.err(span, field, "no certificate in the anchors"));
        }
        let index = self.groups.len();
        for a in store.anchors() {
            self.all_anchors.add_anchor((**a).clone());
            if g.enabled {
                self.enabled_anchors.add_anchor((**a).clone());
            }
            self.groups_by_anchor
                .entry(hex_upper(a.sha256()))
                .or_default()
                .push(index);
        }
        let pattern = match &g.device_id_pattern {
            Some(p) => Some(
                Glob::new(p.get_ref())
                    .map_err(|e| cx.err(p.span(), "group.device_id_pattern", e))?,
            ),
            None => None,
        };
        let allowed_key_types = match &g.allowed_key_types {
            Some(list) => {
                let mut out = Vec::new();
                for k in list {
                    out.push(KeyType::parse(k.get_ref()).ok_or_else(|| {
                        cx.err(
                            k.span(),
                            "group.allowed_key_types",
                            format!(
                                "unknown key type {:?}; use p256, p384, rsa or ed25519",
                                k.get_ref()
                            ),
                        )
                    })?);
                }
                Some(out)
            }
            None => None,
        };
        let max_lifetime_secs = match &g.max_lifetime_days {
            Some(d) if *d.get_ref() == 0 => {
                return Err(cx.err(
                    d.span(),
                    "group.max_lifetime_days",
                    "must be at least 1 day",
                ));
            }
            Some(d) => Some(i64::from(*d.get_ref()) * 86_400),
            None => None,
        };
        self.groups.push(Group {
            id,
            enabled: g.enabled,
            store,
            pattern,
            allowed_key_types,
            max_lifetime_secs,
            tags: g.tags,
            route: g.route.unwrap_or_else(|| DEFAULT_ROUTE.into()),
        });
        Ok(())
    }

    fn load_revocation(
        &mut self,
        cx: &Ctx<'_>,
        r: RawRevocation,
        resolve: Resolver<'_>,
    ) -> Result<(), Error> {
        self.deny_device_ids = r.deny_device_ids.into_iter().collect();
        for t in &r.deny_thumbprints {
            self.deny_thumbprints.insert(
                sha256_hex(t.get_ref())
                    .map_err(|e| cx.err(t.span(), "revocation.deny_thumbprints", e))?,
            );
        }
        for s in &r.deny_serials {
            let field = "revocation.deny_serials";
            let v = s.get_ref();
            let serial = serial_bytes(&v.serial).map_err(|e| cx.err(s.span(), field, e))?;
            match (&v.issuer_sha256, &v.issuer) {
                (Some(h), None) => {
                    let h = sha256_bytes(h).map_err(|e| cx.err(s.span(), field, e))?;
                    self.deny_serials_by_issuer_sha256.insert(&h, &serial);
                }
                (None, Some(name)) => {
                    self.deny_serials_by_issuer_name.insert(name, &serial);
                }
                _ => return Err(cx.err(s.span(), field, ONE_ISSUER)),
            }
        }
        for b in r.deny_serial_batch {
            let field = "revocation.deny_serial_batch";
            let by_sha256 = match (&b.issuer_sha256, &b.issuer) {
                (Some(h), None) => {
                    Some(sha256_bytes(h.get_ref()).map_err(|e| cx.err(h.span(), field, e))?)
                }
                (None, Some(_)) => None,
                _ => return Err(cx.err(b.serials.span(), field, ONE_ISSUER)),
            };
            for s in b.serials.get_ref() {
                let serial = serial_bytes(s.get_ref()).map_err(|e| cx.err(s.span(), field, e))?;
                match (&by_sha256, &b.issuer) {
                    (Some(h), _) => self.deny_serials_by_issuer_sha256.insert(h, &serial),
                    (None, Some(name)) => self
                        .deny_serials_by_issuer_name
                        .insert(name.get_ref(), &serial),
                    (None, None) => {}
                }
            }
        }
        for t in &r.deny_issuers {
            self.deny_issuers.insert(
                sha256_hex(t.get_ref())
                    .map_err(|e| cx.err(t.span(), "revocation.deny_issuers", e))?,
            );
        }
        for c in &r.compromised {
            let ca = sha256_hex(c.ca_sha256.get_ref())
                .map_err(|e| cx.err(c.ca_sha256.span(), "revocation.compromised.ca_sha256", e))?;
            let since_text = match c.since.get_ref() {
                Ok(text) => text,
                Err(other) => {
                    return Err(cx.err(
                        c.since.span(),
                        "revocation.compromised.since",
                        format!("expected an RFC 3339 date-time, found {other}"),
                    ));
                }
            };
            let since = UnixTime::parse(since_text)
                .map_err(|e| cx.err(c.since.span(), "revocation.compromised.since", e))?;
            self.compromised.insert(ca, since.0);
        }
        for f in &r.crl_files {
            let field = "revocation.crl_files";
            let bytes = resolve(f.get_ref()).map_err(|e| {
                cx.err(
                    f.span(),
                    field,
                    format!("cannot read {:?}: {e}", f.get_ref()),
                )
            })?;
            let ders = crate::input::parse_crls(&bytes)
                .map_err(|e| cx.err(f.span(), field, e.to_string()))?;
            for der in ders {
                self.crls.insert(
                    Crl::from_der(&der).map_err(|e| cx.err(f.span(), field, e.to_string()))?,
                );
            }
        }
        if let Some(s) = &r.stale_crl {
            self.stale_crl = match s.get_ref().as_str() {
                "fail" => StaleCrl::Fail,
                "allow" => StaleCrl::Allow,
                other => {
                    return Err(cx.err(
                        s.span(),
                        "revocation.stale_crl",
                        format!("{other:?} is neither \"fail\" nor \"allow\""),
                    ));
                }
            };
        }
        Ok(())
    }

    /// Turn the verification memory of the policy's trust stores off or on (see
    /// [`TrustStore::set_cache`]); verdicts are the same either way.
    pub fn set_cache(&mut self, enabled: bool) {
        self.all_anchors.set_cache(enabled);
        self.enabled_anchors.set_cache(enabled);
        for g in &mut self.groups {
            g.store.set_cache(enabled);
        }
    }

    /// The enrollment groups, in file order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The individual enrollment of `device_id` (O(1)).
    pub fn device(&self, device_id: &str) -> Option<&DeviceEnrollment> {
        self.devices.get(device_id)
    }

    /// Number of individual enrollments.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// How many entries of each kind the policy holds (for `policy check` and capacity planning).
    pub fn counts(&self) -> PolicyCounts {
        PolicyCounts {
            groups: self.groups.len(),
            enabled_groups: self.groups.iter().filter(|g| g.enabled).count(),
            anchors: self.all_anchors.anchors().len(),
            devices: self.devices.len(),
            disabled_devices: self.devices.values().filter(|d| !d.enabled).count(),
            deny_device_ids: self.deny_device_ids.len(),
            deny_thumbprints: self.deny_thumbprints.len(),
            deny_serials: self.deny_serials_by_issuer_sha256.len()
                + self.deny_serials_by_issuer_name.len(),
            deny_issuers: self.deny_issuers.len(),
            compromised: self.compromised.len(),
            crls: self.crls.iter().count(),
            crl_revoked_entries: self.crls.iter().map(|c| c.summary().revoked).sum(),
        }
    }

    /// The policy's CRLs (from `crl_files`), summarised, in no particular order.
    pub fn crl_summaries(&self) -> Vec<CrlSummary> {
        self.crls.iter().map(Crl::summary).collect()
    }

    /// Compromised CAs: (SHA-256 of the CA certificate, cutoff in Unix seconds), sorted.
    pub fn compromised_cas(&self) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = self
            .compromised
            .iter()
            .map(|(k, t)| (k.clone(), *t))
            .collect();
        v.sort();
        v
    }

    /// What the policy does with a CRL past its nextUpdate.
    pub fn stale_crl(&self) -> StaleCrl {
        self.stale_crl
    }

    /// Decide whether the device presenting `leaf_der` (with the untrusted `bag`) is admitted.
    /// `opts.identity` says where the device ID comes from; every other option applies to the
    /// chain as in [`verify_chain`](crate::verify_chain).
    pub fn verify<B: AsRef<[u8]>>(
        &self,
        leaf_der: &[u8],
        bag: &[B],
        opts: &VerifyOptions,
    ) -> Result<Verdict, Failure> {
        let leaf =
            Cert::from_der(leaf_der).map_err(|e| Failure::at(e, 0, "the device certificate"))?;
        let at_leaf = |e: Error| Failure::at(e, 0, leaf.subject());
        let id = device_id(&leaf, opts.identity).map_err(at_leaf)?;
        if let Some(id) = &id
            && self.deny_device_ids.contains(id)
        {
            return Err(at_leaf(Error::DeniedByPolicy {
                list: "deny_device_ids",
                value: format!("device ID {id:?}"),
            }));
        }

        // `presented`: the bag decoded once, kept for the CRL checks after the path is found.
        let ((report, presented), enrollment, tags, route, group) =
            match id.as_deref().and_then(|i| self.devices.get(i)) {
                Some(dev) => (
                    self.verify_individual(dev, &leaf, bag, opts)?,
                    Enrollment::Device(dev.id.clone()),
                    dev.tags.clone(),
                    dev.route.clone(),
                    None,
                ),
                None => {
                    let (report, group, presented) =
                        self.verify_in_group(&leaf, bag, opts, id.as_deref())?;
                    (
                        (report, presented),
                        Enrollment::Group(group.id.clone()),
                        group.tags.clone(),
                        group.route.clone(),
                        Some(group),
                    )
                }
            };
        let mut warnings = self.check_path(&report, &leaf, &presented, opts.time.0)?;
        if let Some((group, max)) = group.and_then(|g| g.max_lifetime_secs.map(|m| (g, m))) {
            let lifetime = leaf.not_after().saturating_sub(leaf.not_before());
            if lifetime > max {
                warnings.push(Warning {
                    code: "lifetime-exceeds-policy",
                    message: format!(
                        "the device certificate is valid for {} days; group {:?} allows at most \
                         {} days: issue shorter-lived device certificates",
                        lifetime / 86_400,
                        group.id,
                        max / 86_400
                    ),
                });
            }
        }
        Ok(Verdict {
            report,
            enrollment,
            tags,
            route,
            warnings,
        })
    }

    /// The report for an individually enrolled device, with the presented intermediates as
    /// decoded (none for a pinned self-signed certificate).
    fn verify_individual<B: AsRef<[u8]>>(
        &self,
        dev: &DeviceEnrollment,
        leaf: &Cert,
        bag: &[B],
        opts: &VerifyOptions,
    ) -> Result<(Report, Vec<Arc<Cert>>), Failure> {
        let at_leaf = |e: Error| Failure::at(e, 0, leaf.subject());
        if !dev.enabled {
            return Err(at_leaf(Error::DeviceDisabled {
                device: dev.id.clone(),
            }));
        }
        if !dev.thumbprints.is_empty() && !dev.thumbprints.iter().any(|t| t.matches(leaf)) {
            // Report in the kind that was pinned, so a SHA-1 pin is never compared with a
            // SHA-256 value in the message.
            let kind = match dev.thumbprints.first() {
                Some(t) if dev.thumbprints.iter().all(|o| o.kind() == t.kind()) => t.kind(),
                _ => "SHA-256 or SHA-1",
            };
            let found = match kind {
                "SHA-1" => hex_upper(leaf.sha1()),
                "SHA-256" => hex_upper(leaf.sha256()),
                _ => format!("{} / {}", hex_upper(leaf.sha256()), hex_upper(leaf.sha1())),
            };
            return Err(at_leaf(Error::ThumbprintMismatch {
                device: dev.id.as_str().into(),
                kind,
                found: found.into(),
            }));
        }
        if self_signed(leaf) {
            if dev.thumbprints.is_empty() {
                return Err(at_leaf(Error::UnknownIssuer {
                    issuer: leaf.issuer().to_owned(),
                    candidates: 0,
                    same_name_wrong_key: 0,
                }));
            }
            // The pinned thumbprint is the trust decision; the certificate must still be current.
            return Ok((self_signed_report(leaf, opts).map_err(at_leaf)?, Vec::new()));
        }
        let presented = decode_presented(&self.all_anchors, bag)?;
        let usable = usable_bag(&self.all_anchors, leaf, &presented);
        let report = verify_parsed(&self.all_anchors, leaf, &usable, opts)?;
        Ok((report, presented))
    }

    /// The report and enrollment group of a device enrolled through a group, with the
    /// presented intermediates as decoded.
    fn verify_in_group<B: AsRef<[u8]>>(
        &self,
        leaf: &Cert,
        bag: &[B],
        opts: &VerifyOptions,
        id: Option<&str>,
    ) -> Result<(Report, &Group, Vec<Arc<Cert>>), Failure> {
        let at_leaf = |e: Error| Failure::at(e, 0, leaf.subject());
        // One path build against every group's anchors; the anchor that ends the path names
        // the group(s), so the cost does not grow with the number of groups.
        let presented = decode_presented(&self.all_anchors, bag)?;
        let usable = usable_bag(&self.all_anchors, leaf, &presented);
        let report = verify_parsed(&self.all_anchors, leaf, &usable, opts)?;
        let (report, group) = match self.first_enabled_owner(&report) {
            Some(g) => (report, g),
            None => {
                let disabled = self
                    .owners(&report)
                    .next()
                    .map_or_else(String::new, |g| g.id.clone());
                // The path found ends at an anchor held only by disabled groups. Another path
                // (a cross-signed CA, a second root) may still reach an enabled group: one more
                // build against the enabled groups' anchors decides.
                let usable = usable_bag(&self.enabled_anchors, leaf, &presented);
                match verify_parsed(&self.enabled_anchors, leaf, &usable, opts) {
                    Ok(r) => match self.first_enabled_owner(&r) {
                        Some(g) => (r, g),
                        None => {
                            return Err(at_leaf(Error::EnrollmentDisabled { group: disabled }));
                        }
                    },
                    Err(_) => return Err(at_leaf(Error::EnrollmentDisabled { group: disabled })),
                }
            }
        };
        if let Some(p) = &group.pattern {
            let id = id.ok_or_else(|| {
                at_leaf(Error::MissingDeviceId {
                    source: "certificate (the group has a device_id_pattern)",
                })
            })?;
            if !p.matches(id) {
                return Err(at_leaf(Error::DeviceIdPattern {
                    id: id.into(),
                    pattern: p.as_string().into(),
                    group: group.id.as_str().into(),
                }));
            }
        }
        if let Some(allowed) = &group.allowed_key_types
            && !KeyType::of(leaf).is_some_and(|k| allowed.contains(&k))
        {
            return Err(at_leaf(Error::KeyTypeNotAllowed {
                key_type: leaf.public_key().map_or("unsupported", |k| k.kind()),
                allowed: allowed
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
                    .into(),
                group: group.id.as_str().into(),
            }));
        }
        Ok((report, group, presented))
    }

    /// The groups holding the anchor that ended `report`'s path, in file order (O(1) look-up).
    fn owners<'s>(&'s self, report: &Report) -> impl Iterator<Item = &'s Group> + 's {
        report
            .anchor()
            .and_then(|a| self.groups_by_anchor.get(&a.sha256))
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|i| self.groups.get(*i))
    }

    fn first_enabled_owner(&self, report: &Report) -> Option<&Group> {
        self.owners(report).find(|g| g.enabled)
    }

    /// The enrollment groups holding the anchor with this SHA-256 thumbprint (upper- or
    /// lower-case hex), in file order. O(1): groups are indexed by anchor at load.
    pub fn groups_for_anchor(&self, anchor_sha256: &str) -> Vec<&Group> {
        self.groups_by_anchor
            .get(&anchor_sha256.to_ascii_uppercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|i| self.groups.get(*i))
            .collect()
    }

    /// Deny lists, compromised CAs and the policy's CRLs, over the accepted path.
    fn check_path(
        &self,
        report: &Report,
        leaf: &Cert,
        presented: &[Arc<Cert>],
        time: i64,
    ) -> Result<Vec<Warning>, Failure> {
        let chain = &report.chain;
        for c in chain {
            if self.deny_thumbprints.contains(&c.sha256) {
                return Err(Failure::at(
                    Error::DeniedByPolicy {
                        list: "deny_thumbprints",
                        value: format!("SHA-256 thumbprint {}", c.sha256),
                    },
                    c.depth,
                    c.subject.clone(),
                ));
            }
        }
        for pair in chain.windows(2) {
            let [cert, issuer] = pair else { continue };
            let fail = |e: Error| Failure::at(e, cert.depth, cert.subject.clone());
            let serial = serial_hex(&cert.serial).unwrap_or_else(|_| cert.serial.clone());
            if self.deny_issuers.contains(&issuer.sha256) {
                return Err(fail(Error::DeniedByPolicy {
                    list: "deny_issuers",
                    value: format!("its issuer (SHA-256 {})", issuer.sha256),
                }));
            }
            let serial_denied = serial_bytes(&cert.serial).is_ok_and(|bytes| {
                sha256_bytes(&issuer.sha256)
                    .is_ok_and(|h| self.deny_serials_by_issuer_sha256.contains(&h, &bytes))
                    || self
                        .deny_serials_by_issuer_name
                        .contains(cert.issuer.as_str(), &bytes)
            });
            if serial_denied {
                return Err(fail(Error::DeniedByPolicy {
                    list: "deny_serials",
                    value: format!("serial {serial} of \"{}\"", cert.issuer),
                }));
            }
            if let Some(since) = self.compromised.get(&issuer.sha256)
                && cert.not_before >= *since
            {
                return Err(fail(Error::IssuerCompromised {
                    ca_sha256: issuer.sha256.clone(),
                    since: *since,
                    not_before: cert.not_before,
                }));
            }
        }
        if self.crls.is_empty() || chain.len() < 2 {
            return Ok(Vec::new());
        }
        self.check_crls(report, leaf, presented, time)
    }

    fn check_crls(
        &self,
        report: &Report,
        leaf: &Cert,
        presented: &[Arc<Cert>],
        time: i64,
    ) -> Result<Vec<Warning>, Failure> {
        // The report names the path by thumbprint: find the certificates already decoded (the
        // leaf, the presented intermediates, the anchors) by it, without decoding any again.
        let find = |sha256: &str| {
            std::iter::once(leaf)
                .chain(presented.iter().map(|c| &**c))
                .chain(self.all_anchors.anchors().iter().map(|c| &**c))
                .find(|c| hex_upper_eq(c.sha256(), sha256))
        };
        let mut warnings = Vec::new();
        for pair in report.chain.windows(2) {
            let [cs, is] = pair else { continue };
            // Every path certificate is one of those by construction. Should one ever be
            // missing, its revocation status is unknown: refuse rather than skip the check.
            let (Some(cert), Some(issuer)) = (find(&cs.sha256), find(&is.sha256)) else {
                return Err(Failure::at(
                    Error::CrlUnsupported {
                        detail: "the certificate is not among those of this verification, so its revocation status cannot be checked".into(),
                    },
                    cs.depth,
                    cs.subject.clone(),
                ));
            };
            for crl in self.crls.for_issuer(cert.issuer_der()) {
                match crl.check_usable(issuer, time) {
                    Ok(()) => {}
                    Err(Error::CrlExpired { next_update, .. })
                        if self.stale_crl == StaleCrl::Allow =>
                    {
                        warnings.push(Warning {
                            code: "crl-stale",
                            message: format!(
                                "the CRL of \"{}\" is past its nextUpdate {}; used anyway (stale_crl = \"allow\")",
                                is.subject,
                                UnixTime(next_update)
                            ),
                        });
                    }
                    Err(e) => return Err(Failure::at(e, is.depth, is.subject.clone())),
                }
                if let Some(entry) = crl.lookup(cert.serial()) {
                    return Err(Failure::at(
                        Error::Revoked {
                            serial: hex_upper(cert.serial()),
                            revoked_at: entry.revoked_at,
                            reason: entry.reason.clone(),
                        },
                        cs.depth,
                        cs.subject.clone(),
                    ));
                }
            }
        }
        Ok(warnings)
    }
}

/// Entry counts of a loaded policy ([`FleetPolicy::counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PolicyCounts {
    /// Enrollment groups.
    pub groups: usize,
    /// Of which enabled.
    pub enabled_groups: usize,
    /// Distinct anchors over all groups.
    pub anchors: usize,
    /// Individual enrollments.
    pub devices: usize,
    /// Of which disabled.
    pub disabled_devices: usize,
    /// `deny_device_ids` entries (distinct).
    pub deny_device_ids: usize,
    /// `deny_thumbprints` entries (distinct).
    pub deny_thumbprints: usize,
    /// `deny_serials` entries (distinct issuer and serial pairs).
    pub deny_serials: usize,
    /// `deny_issuers` entries (distinct).
    pub deny_issuers: usize,
    /// Compromised CAs.
    pub compromised: usize,
    /// CRLs loaded from `crl_files`.
    pub crls: usize,
    /// Revoked entries over all those CRLs.
    pub crl_revoked_entries: usize,
}

// ---------------------------------------------------------------------------------------------
// Atomic swaps of a loaded policy.

/// The current policy of a long-running host: an immutable [`FleetPolicy`] snapshot behind a
/// lock that is held only to clone or replace an `Arc`. A verification takes a snapshot with
/// [`PolicyCell::load`] and uses it to the end, so a concurrent [`PolicyCell::store`] never
/// mixes two policies within one verdict; the next `load` sees the new one.
#[derive(Debug, Default)]
pub struct PolicyCell {
    current: RwLock<Arc<FleetPolicy>>,
}

impl PolicyCell {
    /// A cell holding `policy`.
    pub fn new(policy: FleetPolicy) -> Self {
        Self {
            current: RwLock::new(Arc::new(policy)),
        }
    }

    /// The current snapshot (an `Arc` clone: O(1), never blocks on a verification).
    pub fn load(&self) -> Arc<FleetPolicy> {
        // Only an Arc clone or swap happens under the lock, neither of which can panic, so a
        // poisoned lock still holds a whole policy.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replace the policy atomically; returns the previous snapshot. Verifications that already
    /// hold the old snapshot finish with it.
    pub fn store(&self, policy: impl Into<Arc<FleetPolicy>>) -> Arc<FleetPolicy> {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *guard, policy.into())
    }
}

// ---------------------------------------------------------------------------------------------
// Shadow mode: one device under two policies.

/// One device's verdict under one policy, reduced to what a policy change can alter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(
        tag = "verdict",
        rename_all = "kebab-case",
        rename_all_fields = "snake_case"
    )
)]
pub enum Outcome {
    /// Admitted.
    Accepted {
        /// The enrollment that admitted the device.
        enrollment: Enrollment,
        /// Its route.
        route: String,
        /// Its tags.
        tags: Vec<String>,
        /// Warning codes (chain and policy), for display; a change here is not a verdict change.
        warnings: Vec<&'static str>,
    },
    /// Refused.
    Rejected {
        /// The error code.
        code: crate::ErrorCode,
        /// The full message (depth and subject at fault included).
        message: String,
    },
}

impl Outcome {
    /// Reduce a [`FleetPolicy::verify`] result.
    pub fn of(result: &Result<Verdict, Failure>) -> Self {
        match result {
            Ok(v) => Outcome::Accepted {
                enrollment: v.enrollment.clone(),
                route: v.route.clone(),
                tags: v.tags.clone(),
                warnings: v
                    .report
                    .warnings
                    .iter()
                    .chain(&v.warnings)
                    .map(|w| w.code)
                    .collect(),
            },
            Err(f) => Outcome::Rejected {
                code: f.code(),
                message: f.to_string(),
            },
        }
    }

    /// Whether the device is admitted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted { .. })
    }
}

/// How a device's verdict changes from the old policy to the new one. The first that applies,
/// in this order, is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Change {
    /// Admitted before, refused now.
    AcceptedToRejected,
    /// Refused before, admitted now.
    RejectedToAccepted,
    /// Refused both times, for a different error code.
    CodeChanged,
    /// Admitted both times, by a different enrollment (group or individual).
    EnrollmentChanged,
    /// Admitted both times by the same enrollment, with a different route.
    RouteChanged,
    /// Admitted both times, same enrollment and route, with different tags.
    TagsChanged,
    /// Same verdict (warnings and message wording aside).
    Unchanged,
}

impl Change {
    /// Every kind, in the order they are reported and listed.
    pub const ALL: [Change; 7] = [
        Change::AcceptedToRejected,
        Change::RejectedToAccepted,
        Change::CodeChanged,
        Change::EnrollmentChanged,
        Change::RouteChanged,
        Change::TagsChanged,
        Change::Unchanged,
    ];

    /// Compare two outcomes of the same device.
    pub fn between(old: &Outcome, new: &Outcome) -> Self {
        match (old, new) {
            (Outcome::Accepted { .. }, Outcome::Rejected { .. }) => Change::AcceptedToRejected,
            (Outcome::Rejected { .. }, Outcome::Accepted { .. }) => Change::RejectedToAccepted,
            (Outcome::Rejected { code: a, .. }, Outcome::Rejected { code: b, .. }) => {
                if a == b {
                    Change::Unchanged
                } else {
                    Change::CodeChanged
                }
            }
            (
                Outcome::Accepted {
                    enrollment: e1,
                    route: r1,
                    tags: t1,
                    ..
                },
                Outcome::Accepted {
                    enrollment: e2,
                    route: r2,
                    tags: t2,
                    ..
                },
            ) => {
                if e1 != e2 {
                    Change::EnrollmentChanged
                } else if r1 != r2 {
                    Change::RouteChanged
                } else if t1 != t2 {
                    Change::TagsChanged
                } else {
                    Change::Unchanged
                }
            }
        }
    }

    /// Stable kebab-case name (`accepted-to-rejected`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Change::AcceptedToRejected => "accepted-to-rejected",
            Change::RejectedToAccepted => "rejected-to-accepted",
            Change::CodeChanged => "code-changed",
            Change::EnrollmentChanged => "enrollment-changed",
            Change::RouteChanged => "route-changed",
            Change::TagsChanged => "tags-changed",
            Change::Unchanged => "unchanged",
        }
    }
}

/// One device's verdicts under the old and the new policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct VerdictChange {
    /// Under the old policy.
    pub old: Outcome,
    /// Under the new policy.
    pub new: Outcome,
    /// What changed.
    pub change: Change,
}

/// Verify one device under `old` and `new` with the same options (shadow mode: what would a
/// rollout of `new` do to this device).
pub fn compare<B: AsRef<[u8]>>(
    old: &FleetPolicy,
    new: &FleetPolicy,
    leaf_der: &[u8],
    bag: &[B],
    opts: &VerifyOptions,
) -> VerdictChange {
    let old = Outcome::of(&old.verify(leaf_der, bag, opts));
    let new = Outcome::of(&new.verify(leaf_der, bag, opts));
    let change = Change::between(&old, &new);
    VerdictChange { old, new, change }
}

/// Totals over many [`VerdictChange`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DiffSummary {
    /// Devices compared.
    pub devices: usize,
    /// Admitted under the old policy.
    pub accepted_before: usize,
    /// Admitted under the new policy.
    pub accepted_after: usize,
    /// Per kind of change, in [`Change::ALL`] order (zero counts included).
    pub by_change: Vec<(Change, usize)>,
}

impl DiffSummary {
    /// Count `changes`.
    pub fn of<'a>(changes: impl IntoIterator<Item = &'a VerdictChange>) -> Self {
        let mut s = DiffSummary {
            by_change: Change::ALL.iter().map(|c| (*c, 0)).collect(),
            ..DiffSummary::default()
        };
        for c in changes {
            s.devices += 1;
            s.accepted_before += usize::from(c.old.is_accepted());
            s.accepted_after += usize::from(c.new.is_accepted());
            if let Some(slot) = s.by_change.iter_mut().find(|(k, _)| *k == c.change) {
                slot.1 += 1;
            }
        }
        s
    }

    /// Devices whose verdict changed in any way ([`Change::Unchanged`] excluded).
    pub fn changed(&self) -> usize {
        self.by_change
            .iter()
            .filter(|(k, _)| *k != Change::Unchanged)
            .map(|(_, n)| n)
            .sum()
    }

    /// How many devices had this kind of change.
    pub fn count(&self, change: Change) -> usize {
        self.by_change
            .iter()
            .find(|(k, _)| *k == change)
            .map_or(0, |(_, n)| *n)
    }
}

fn self_signed(cert: &Cert) -> bool {
    cert.is_self_issued()
        && cert
            .public_key()
            .is_ok_and(|k| cert.verify_signed_by(k).is_ok())
}

fn self_signed_report(leaf: &Cert, opts: &VerifyOptions) -> Result<Report, Error> {
    let time = opts.time.0;
    if leaf.not_before() > time {
        return Err(Error::NotYetValid {
            not_before: leaf.not_before(),
            time,
        });
    }
    if leaf.not_after() < time {
        return Err(Error::Expired {
            not_after: leaf.not_after(),
            time,
        });
    }
    let seconds_to_expiry = leaf.not_after() - time;
    let renewal_due = seconds_to_expiry < opts.renewal_window_secs;
    let mut warnings = Vec::new();
    if renewal_due {
        warnings.push(Warning {
            code: "renewal-due",
            message: format!("the certificate expires at {}", UnixTime(leaf.not_after())),
        });
    }
    let id = device_id(leaf, opts.identity)?;
    if let (Some(expected), Some(found)) = (&opts.expected_device_id, &id)
        && expected != found
    {
        return Err(Error::DeviceIdMismatch {
            expected: expected.clone(),
            found: found.clone(),
        });
    }
    Ok(Report {
        device_id: id,
        chain: vec![leaf.summary(0, true)],
        validated_at: time,
        seconds_to_expiry,
        renewal_due,
        warnings,
        paths_tried: 1,
        signatures_checked: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_star_and_question_mark() {
        let g = Glob::new("sensor-??-*").unwrap();
        assert!(g.matches("sensor-01-a"));
        assert!(g.matches("sensor-01-"));
        assert!(!g.matches("sensor-1-a"));
        assert!(Glob::new("*").unwrap().matches(""));
        assert!(Glob::new("a*b*c").unwrap().matches("aXbYbc"));
        assert!(!Glob::new("a*b*c").unwrap().matches("aXbYb"));
        assert!(!Glob::new("abc").unwrap().matches("ABC"));
    }

    #[test]
    fn thumbprint_kind_comes_from_length() {
        assert!(matches!(
            Thumbprint::parse(&"ab".repeat(32)),
            Ok(Thumbprint::Sha256(_))
        ));
        assert!(matches!(
            Thumbprint::parse(&"AB:".repeat(20)),
            Ok(Thumbprint::Sha1(_))
        ));
        assert!(Thumbprint::parse("abcd").is_err());
        assert!(Thumbprint::parse(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn serial_deny_list_keys_on_issuer_and_value() {
        let mut list = SerialDenyList::<String>::default();
        let long = [0x7f; SERIAL_INLINE + 3];
        list.insert("CN=A", &serial_bytes("00:01:77").unwrap());
        list.insert("CN=A", &long);
        list.insert("CN=B", &serial_bytes("0").unwrap());
        assert_eq!(list.len(), 3);
        assert!(list.contains("CN=A", &serial_bytes("177").unwrap()));
        assert!(list.contains("CN=A", &long));
        assert!(list.contains("CN=B", &[]));
        assert!(!list.contains("CN=B", &serial_bytes("0177").unwrap()));
        assert!(!list.contains("CN=A", &[]));
        assert!(!list.contains("CN=A", &long[1..]));
        assert!(!list.contains("CN=C", &serial_bytes("0177").unwrap()));
        assert_eq!(list.issuers.len(), 2);
    }

    /// The CRL check refuses a path certificate it cannot find among the decoded ones rather
    /// than skip it (unreachable through `verify`, where every path certificate is one of them).
    #[test]
    fn crl_check_fails_closed_on_a_path_certificate_not_at_hand() {
        use chainproof_testkit::{CertSpec, CrlSpec, DAY, Dn, KeyKind, KeyPair, YEAR};
        const NOW: i64 = 1_767_225_600;
        let key = |label: &str| KeyPair::generate(KeyKind::P256, 7, label);
        let root = CertSpec::ca(
            Dn::new().cn("Root"),
            key("root"),
            NOW - YEAR,
            NOW + YEAR,
            None,
        )
        .self_signed();
        let factory = CertSpec::ca(
            Dn::new().cn("Factory"),
            key("factory"),
            NOW - YEAR,
            NOW + YEAR,
            Some(0),
        )
        .issued_by(&root);
        let device = CertSpec::device("d-1", "Acme", "Fleet", key("d"), NOW - DAY, NOW + YEAR)
            .issued_by(&factory);
        let crl = CrlSpec::new(NOW - DAY, NOW + DAY).sign(&factory).pem();
        let text = format!(
            "version = 1\n[[group]]\nid = \"g\"\nanchors = '''\n{}'''\n\
             [revocation]\ncrl_files = [\"f.crl\"]\n",
            root.pem()
        );
        let resolve = |name: &str| match name {
            "f.crl" => Ok(crl.clone().into_bytes()),
            _ => Err("no such file".to_owned()),
        };
        let policy = FleetPolicy::from_toml(&text, &resolve).expect("policy loads");
        let opts = VerifyOptions::new(UnixTime(NOW));
        let verdict = policy
            .verify(&device.der, &[&factory.der], &opts)
            .expect("the device is admitted");
        let leaf = Cert::from_der(&device.der).expect("leaf decodes");
        let presented = [Arc::new(Cert::from_der(&factory.der).expect("CA decodes"))];
        assert!(
            policy
                .check_crls(&verdict.report, &leaf, &presented, NOW)
                .is_ok()
        );
        // The same path without the intermediate at hand: refused, at the device.
        let f = policy
            .check_crls(&verdict.report, &leaf, &[], NOW)
            .expect_err("refused");
        assert_eq!(f.code(), crate::ErrorCode::CrlUnsupported);
        assert_eq!(f.depth, Some(0));
    }

    #[test]
    fn serials_ignore_leading_zeros() {
        assert_eq!(serial_hex("00ab").unwrap(), "AB");
        assert_eq!(serial_hex("0abc").unwrap(), "0ABC");
        assert_eq!(serial_hex("0").unwrap(), "00");
    }
}
