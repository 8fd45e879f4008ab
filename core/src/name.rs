//! Names: the peer names a caller expects, the names a certificate carries (subjectAltName and
//! subject), their syntax rules, and name constraints (RFC 5280 section 4.2.1.10).

use core::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;

use const_oid::ObjectIdentifier as Oid;
use der::Encode;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::NameConstraints;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::cert::Cert;
use crate::error::Error;

/// emailAddress attribute (PKCS#9), which RFC 5280 subjects to rfc822Name constraints.
const EMAIL_ADDRESS: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");

/// A name the caller expects the leaf to be valid for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", content = "value", rename_all = "lowercase")
)]
pub enum PeerName {
    /// A DNS host name, matched against dNSName SANs (wildcards in the leftmost label).
    Dns(String),
    /// An IP address, matched against iPAddress SANs.
    Ip(IpAddr),
    /// An email address, matched against rfc822Name SANs.
    Email(String),
}

impl PeerName {
    /// Parse `dns:NAME`, `ip:ADDR` or `email:ADDR`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: expected dns:NAME, ip:ADDR or email:ADDR"))?;
        match kind {
            "dns" => Ok(PeerName::Dns(value.to_owned())),
            "ip" => value
                .parse()
                .map(PeerName::Ip)
                .map_err(|_| format!("{value:?} is not an IP address")),
            "email" => Ok(PeerName::Email(value.to_owned())),
            _ => Err(format!("{s:?}: the kind must be dns, ip or email")),
        }
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerName::Dns(n) => write!(f, "DNS:{n}"),
            PeerName::Ip(a) => write!(f, "IP:{a}"),
            PeerName::Email(e) => write!(f, "email:{e}"),
        }
    }
}

/// A distinguished name as text, RFC 4514 order (last RDN first): exactly the text of
/// x509-cert's `Display` for `Name`, which every message and report has always shown.
/// Rendered here rather than through that `Display` so the browser module carries one copy
/// of const-oid's OID name database (the core's own) instead of two (docs/web.md).
pub fn dn_text(name: &Name) -> String {
    let rdns: &Vec<RelativeDistinguishedName> = AsRef::<RdnSequence>::as_ref(name).as_ref();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_atv(&mut out, atv);
        }
    }
    out
}

/// One `TYPE=value`: the shortest database name upper-cased with the value escaped when the
/// type is known and the value a string, else the dotted OID and the value's DER in hex.
fn push_atv(out: &mut String, atv: &AttributeTypeAndValue) {
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    use der::{Tag, Tagged};
    use fmt::Write as _;

    let value = &atv.value;
    let text = match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::Ia5String => Ia5StringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::TeletexString => TeletexStringRef::try_from(value).ok().map(|s| s.as_str()),
        _ => None,
    };
    if let (Some(key), Some(text)) = (shortest_oid_name(atv.oid), text) {
        out.extend(key.chars().map(|c| c.to_ascii_uppercase()));
        out.push('=');
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '#' if i == 0 => out.push_str("\\#"),
                ' ' if i == 0 || chars.peek().is_none() => out.push_str("\\ "),
                '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '\x00'..='\x1f' | '\x7f' => {
                    let _ = write!(out, "\\{:02x}", c as u8);
                }
                _ => out.push(c),
            }
        }
    } else {
        // Writing to a String cannot fail; a value that cannot be re-encoded (it was decoded
        // from DER, so it can) would show as an empty hex string.
        let _ = write!(out, "{}=#", atv.oid);
        for b in value.to_der().unwrap_or_default() {
            let _ = write!(out, "{b:02x}");
        }
    }
}

/// The shortest of the database's names for an OID, the first of equally short ones (the
/// choice x509-cert makes, e.g. `CN` for commonName).
///
/// The database is a list searched from end to end (a few µs per look-up, and every
/// certificate's subject and issuer need several), so the answers for the attribute types
/// that real names use ([`COMMON_ATTRIBUTES`]) are remembered after their first look-up.
fn shortest_oid_name(oid: Oid) -> Option<&'static str> {
    static REMEMBERED: [OnceLock<Option<&'static str>>; COMMON_ATTRIBUTES.len()] =
        [const { OnceLock::new() }; COMMON_ATTRIBUTES.len()];
    match COMMON_ATTRIBUTES.iter().position(|c| *c == oid) {
        Some(i) => *REMEMBERED
            .get(i)
            .map_or(&None, |slot| slot.get_or_init(|| search_oid_name(oid))),
        None => search_oid_name(oid),
    }
}

fn search_oid_name(oid: Oid) -> Option<&'static str> {
    const_oid::db::DB
        .find_names_for_oid(oid)
        .reduce(|best, name| if name.len() < best.len() { name } else { best })
}

/// Attribute types whose database names [`shortest_oid_name`] remembers: those of X.520 and
/// RFC 4519 that device, CA and web certificates use, plus PKCS#9 emailAddress and the EV
/// jurisdiction types (some have no name in the database: that answer, the costliest to
/// find, is remembered too). Any other type is looked up every time, with the same answer.
const COMMON_ATTRIBUTES: [Oid; 24] = [
    Oid::new_unwrap("2.5.4.3"),                    // commonName
    Oid::new_unwrap("2.5.4.4"),                    // surname
    Oid::new_unwrap("2.5.4.5"),                    // serialNumber
    Oid::new_unwrap("2.5.4.6"),                    // countryName
    Oid::new_unwrap("2.5.4.7"),                    // localityName
    Oid::new_unwrap("2.5.4.8"),                    // stateOrProvinceName
    Oid::new_unwrap("2.5.4.9"),                    // streetAddress
    Oid::new_unwrap("2.5.4.10"),                   // organizationName
    Oid::new_unwrap("2.5.4.11"),                   // organizationalUnitName
    Oid::new_unwrap("2.5.4.12"),                   // title
    Oid::new_unwrap("2.5.4.15"),                   // businessCategory
    Oid::new_unwrap("2.5.4.17"),                   // postalCode
    Oid::new_unwrap("2.5.4.42"),                   // givenName
    Oid::new_unwrap("2.5.4.43"),                   // initials
    Oid::new_unwrap("2.5.4.44"),                   // generationQualifier
    Oid::new_unwrap("2.5.4.46"),                   // dnQualifier
    Oid::new_unwrap("2.5.4.65"),                   // pseudonym
    Oid::new_unwrap("2.5.4.97"),                   // organizationIdentifier
    Oid::new_unwrap("0.9.2342.19200300.100.1.1"),  // userId
    Oid::new_unwrap("0.9.2342.19200300.100.1.25"), // domainComponent
    EMAIL_ADDRESS,
    Oid::new_unwrap("1.3.6.1.4.1.311.60.2.1.1"), // jurisdictionLocalityName
    Oid::new_unwrap("1.3.6.1.4.1.311.60.2.1.2"), // jurisdictionStateOrProvinceName
    Oid::new_unwrap("1.3.6.1.4.1.311.60.2.1.3"), // jurisdictionCountryName
];

/// Render a GeneralName for messages.
pub fn describe(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(s) => format!("DNS:{s}"),
        GeneralName::Rfc822Name(s) => format!("email:{s}"),
        GeneralName::UniformResourceIdentifier(s) => format!("URI:{s}"),
        GeneralName::IpAddress(o) => match ip_from_bytes(o.as_bytes()) {
            Some(ip) => format!("IP:{ip}"),
            None => format!("IP:<{} bytes>", o.as_bytes().len()),
        },
        GeneralName::DirectoryName(n) => format!("DirName:{}", dn_text(n)),
        GeneralName::OtherName(o) => format!("othername:{}", o.type_id),
        GeneralName::RegisteredId(o) => format!("RID:{o}"),
        GeneralName::EdiPartyName(_) => "EdiPartyName".into(),
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Is `s` a syntactically valid dNSName SAN (LDH labels, an optional leftmost `*` label)?
/// Underscores, empty labels, IP literals and non-ASCII are refused (RFC 5280 4.2.1.6, RFC 1034).
pub fn valid_dns_san(s: &str) -> bool {
    let (wildcard, body) = match s.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    // A wildcard needs at least two labels after it ("*.com" is a public-suffix wildcard).
    let wildcard_ok = !wildcard || body.contains('.');
    wildcard_ok && valid_hostname(body) && body.parse::<std::net::Ipv4Addr>().is_err()
}

/// LDH host name: labels of 1-63 letters, digits and hyphens, not starting or ending with a
/// hyphen; 253 bytes at most; a single trailing dot is not allowed in certificates.
fn valid_hostname(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    })
}

/// Is `s` a plausible rfc822Name (local@domain, ASCII, domain a host name)?
fn valid_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
                && valid_hostname(domain)
        }
        None => false,
    }
}

/// Check the syntax of every SAN entry of a certificate.
pub fn check_san_syntax(cert: &Cert) -> Result<(), Error> {
    for n in cert.sans() {
        let bad = |detail: String| {
            Err(Error::InvalidExtension {
                name: "subjectAltName",
                detail,
            })
        };
        match n {
            GeneralName::DnsName(s) if !valid_dns_san(s.as_str()) => {
                return bad(format!("{:?} is not a valid DNS name", s.as_str()));
            }
            GeneralName::Rfc822Name(s) if !valid_email(s.as_str()) => {
                return bad(format!("{:?} is not a valid email address", s.as_str()));
            }
            GeneralName::IpAddress(o) if ip_from_bytes(o.as_bytes()).is_none() => {
                return bad(format!("an IP address of {} bytes", o.as_bytes().len()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Does the leaf's SAN carry `expected`? DNS: case-insensitive, wildcard only as the whole
/// leftmost label and never matching the apex or more than one label. The subject CN is never
/// used (RFC 9525, CA/B Forum).
pub fn leaf_matches(leaf: &Cert, expected: &PeerName) -> Result<(), Error> {
    let sans = leaf.sans();
    let ok = sans.iter().any(|n| match (n, expected) {
        (GeneralName::DnsName(s), PeerName::Dns(want)) => dns_matches_pattern(s.as_str(), want),
        (GeneralName::IpAddress(o), PeerName::Ip(want)) => {
            ip_from_bytes(o.as_bytes()) == Some(*want)
        }
        (GeneralName::Rfc822Name(s), PeerName::Email(want)) => email_equal(s.as_str(), want),
        _ => false,
    });
    if ok {
        Ok(())
    } else {
        Err(Error::NameMismatch {
            expected: expected.to_string(),
            present: sans.iter().map(describe).collect(),
        })
    }
}

/// CA/B Forum BR 7.1.4.3: a subject commonName holding an IP address must write it in its
/// canonical form (dotted decimal; RFC 5952 for IPv6). Legacy clients that still match the CN
/// read `0xC0A80101` or `192.168.001.001` as addresses the SAN never named.
pub fn check_cn_ip_form(cert: &Cert) -> Result<(), Error> {
    for atv in cert.x509().tbs_certificate().subject().iter() {
        if atv.oid != crate::cert::CN {
            continue;
        }
        let cn = crate::cert::directory_string(&atv.value).unwrap_or_default();
        let hex_int = cn.len() > 2
            && (cn.starts_with("0x") || cn.starts_with("0X"))
            && cn[2..].bytes().all(|b| b.is_ascii_hexdigit());
        let dotted =
            cn.split('.').count() == 4 && cn.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let colon = cn.contains(':')
            && cn
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        let canonical = if dotted {
            cn.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.to_string() == cn)
        } else if colon {
            cn.parse::<std::net::Ipv6Addr>()
                .is_ok_and(|ip| ip.to_string() == cn)
        } else {
            !hex_int
        };
        if !canonical {
            return Err(Error::InvalidName {
                detail: format!(
                    "the commonName {cn:?} is an IP address written in a non-canonical form"
                ),
            });
        }
    }
    Ok(())
}

fn dns_matches_pattern(pattern: &str, name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if !valid_hostname(name) {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            // The wildcard stands for exactly one whole label, and at least two labels must
            // follow it ("*.com" and "*" are refused as public-suffix wildcards).
            if !suffix.contains('.') {
                return false;
            }
            match name.split_once('.') {
                Some((first, rest)) => !first.is_empty() && rest.eq_ignore_ascii_case(suffix),
                None => false,
            }
        }
        None => !pattern.contains('*') && pattern.eq_ignore_ascii_case(name),
    }
}

fn email_equal(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

/// Validate a nameConstraints extension itself (RFC 5280 4.2.1.10 and the Web PKI profile):
/// at least one non-empty subtree list, minimum 0, no maximum, well-formed bases.
pub fn check_constraints_syntax(nc: &NameConstraints) -> Result<(), Error> {
    let bad = |detail: String| {
        Err(Error::InvalidExtension {
            name: "nameConstraints",
            detail,
        })
    };
    let permitted = nc.permitted_subtrees.as_deref().unwrap_or(&[]);
    let excluded = nc.excluded_subtrees.as_deref().unwrap_or(&[]);
    if permitted.is_empty() && excluded.is_empty() {
        return bad("neither permitted nor excluded subtrees".into());
    }
    if nc.permitted_subtrees.as_ref().is_some_and(|v| v.is_empty())
        || nc.excluded_subtrees.as_ref().is_some_and(|v| v.is_empty())
    {
        return bad("an empty subtree list".into());
    }
    for st in permitted.iter().chain(excluded) {
        if st.minimum != 0 || st.maximum.is_some() {
            return bad("minimum/maximum must be absent".into());
        }
        match &st.base {
            GeneralName::DnsName(s) => {
                let s = s.as_str();
                // An empty dNSName constraint matches every name; otherwise a host name.
                if !s.is_empty() && !valid_hostname(s) {
                    return bad(format!("{s:?} is not a valid DNS constraint"));
                }
            }
            GeneralName::IpAddress(o) => {
                let b = o.as_bytes();
                if !(b.len() == 8 || b.len() == 32) || !contiguous_mask(&b[b.len() / 2..]) {
                    return bad("an IP constraint must be an address and a contiguous mask".into());
                }
            }
            GeneralName::Rfc822Name(s) => {
                let s = s.as_str();
                let ok = if s.contains('@') {
                    valid_email(s)
                } else {
                    valid_hostname(s.strip_prefix('.').unwrap_or(s))
                };
                if !ok {
                    return bad(format!("{s:?} is not a valid email constraint"));
                }
            }
            GeneralName::UniformResourceIdentifier(s) => {
                let s = s.as_str();
                if !valid_hostname(s.strip_prefix('.').unwrap_or(s)) {
                    return bad(format!("{s:?} is not a valid URI constraint"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn contiguous_mask(mask: &[u8]) -> bool {
    let mut seen_zero = false;
    for byte in mask {
        for bit in (0..8).rev() {
            let one = byte >> bit & 1 == 1;
            if one && seen_zero {
                return false;
            }
            if !one {
                seen_zero = true;
            }
        }
    }
    true
}

/// Outcome of comparing one name with one subtree of the same type.
#[derive(PartialEq, Eq, Debug, Clone, Copy)]
enum Match {
    /// The name is inside the subtree.
    Inside,
    /// The name is outside.
    Outside,
    /// Some, not all, of the names the name stands for are inside (a wildcard straddling).
    Partly,
    /// The types differ: the subtree says nothing about this name.
    OtherType,
    /// Same type but chainproof cannot evaluate it (e.g. otherName): fail closed.
    Unknown,
}

/// Names of a certificate subject to constraints: its SANs plus, as directoryName, its
/// non-empty subject, and as rfc822Name any emailAddress attributes of the subject.
fn constrained_names(cert: &Cert) -> Vec<GeneralName> {
    let mut names: Vec<GeneralName> = cert.sans().to_vec();
    let subject = cert.x509().tbs_certificate().subject();
    if !subject.is_empty() {
        names.push(GeneralName::DirectoryName(subject.clone()));
        for atv in subject.iter() {
            if atv.oid == EMAIL_ADDRESS
                && let Some(text) = crate::cert::directory_string(&atv.value)
                && let Ok(ia5) = der::asn1::Ia5String::new(&text)
            {
                names.push(GeneralName::Rfc822Name(ia5));
            }
        }
    }
    names
}

/// Upper bound on name-times-subtree comparisons per path: limbo's nc-dos cases multiply
/// thousands of names by thousands of subtrees; real device chains need a few dozen.
pub const MAX_NC_COMPARISONS: usize = 1 << 16;

/// Check `cert`'s names against the constraints of the CA `constraining` (whose subject is
/// `ca_subject`). `comparisons` is a running budget shared across the path.
pub fn check_constraints(
    nc: &NameConstraints,
    cert: &Cert,
    comparisons: &mut usize,
) -> Result<(), Error> {
    let names = constrained_names(cert);
    let permitted = nc.permitted_subtrees.as_deref().unwrap_or(&[]);
    let excluded = nc.excluded_subtrees.as_deref().unwrap_or(&[]);
    let cost = names.len().saturating_mul(permitted.len() + excluded.len());
    *comparisons = comparisons.saturating_add(cost);
    if *comparisons > MAX_NC_COMPARISONS {
        return Err(Error::BudgetExceeded {
            what: "name-constraint comparisons",
            limit: MAX_NC_COMPARISONS,
        });
    }
    for name in &names {
        let violation = |detail: &str| Error::NameConstraintViolation {
            name: describe(name),
            detail: detail.to_owned(),
        };
        for st in excluded {
            match matches_subtree(name, st) {
                Match::Inside | Match::Partly => {
                    return Err(violation(&format!("excluded by {}", describe(&st.base))));
                }
                Match::Unknown => {
                    return Err(violation(
                        "cannot be checked against an excluded subtree of its type",
                    ));
                }
                Match::Outside | Match::OtherType => {}
            }
        }
        let mut same_type = false;
        let mut inside = false;
        for st in permitted {
            match matches_subtree(name, st) {
                Match::Inside => {
                    inside = true;
                    same_type = true;
                }
                Match::Outside | Match::Partly => same_type = true,
                Match::Unknown => {
                    return Err(violation(
                        "cannot be checked against a permitted subtree of its type",
                    ));
                }
                Match::OtherType => {}
            }
        }
        if same_type && !inside {
            return Err(violation("not within any permitted subtree"));
        }
    }
    Ok(())
}

fn matches_subtree(name: &GeneralName, st: &GeneralSubtree) -> Match {
    let yes = |b: bool| if b { Match::Inside } else { Match::Outside };
    match (name, &st.base) {
        (GeneralName::DnsName(n), GeneralName::DnsName(c)) => {
            dns_in_subtree(n.as_str(), c.as_str())
        }
        (GeneralName::IpAddress(n), GeneralName::IpAddress(c)) => {
            yes(ip_in_subtree(n.as_bytes(), c.as_bytes()))
        }
        (GeneralName::Rfc822Name(n), GeneralName::Rfc822Name(c)) => {
            yes(email_in_subtree(n.as_str(), c.as_str()))
        }
        (GeneralName::UniformResourceIdentifier(n), GeneralName::UniformResourceIdentifier(c)) => {
            match uri_host(n.as_str()) {
                Some(host) => yes(host_in_domain_constraint(host, c.as_str())),
                None => Match::Unknown,
            }
        }
        (GeneralName::DirectoryName(n), GeneralName::DirectoryName(c)) => yes(dn_within(n, c)),
        (GeneralName::OtherName(_), GeneralName::OtherName(_))
        | (GeneralName::RegisteredId(_), GeneralName::RegisteredId(_))
        | (GeneralName::EdiPartyName(_), GeneralName::EdiPartyName(_)) => Match::Unknown,
        _ => Match::OtherType,
    }
}

/// RFC 5280: a DNS constraint matches the name itself and any name with labels added on the
/// left. A wildcard SAN stands for every single-label expansion.
fn dns_in_subtree(name: &str, constraint: &str) -> Match {
    if constraint.is_empty() {
        return Match::Inside;
    }
    let yes = |b: bool| if b { Match::Inside } else { Match::Outside };
    match name.strip_prefix("*.") {
        None => yes(dns_suffix_match(name, constraint)),
        Some(base) => {
            if dns_suffix_match(base, constraint) {
                // Every expansion x.base is under the constraint.
                Match::Inside
            } else if constraint
                .split_once('.')
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(base))
            {
                // The constraint is one expansion (bar.base): the wildcard straddles it.
                Match::Partly
            } else {
                Match::Outside
            }
        }
    }
}

fn dns_suffix_match(name: &str, constraint: &str) -> bool {
    let (n, c) = (name.to_ascii_lowercase(), constraint.to_ascii_lowercase());
    n == c || n.ends_with(&format!(".{c}"))
}

fn ip_in_subtree(addr: &[u8], constraint: &[u8]) -> bool {
    let half = constraint.len() / 2;
    if addr.len() != half || half == 0 {
        return false;
    }
    let (base, mask) = constraint.split_at(half);
    addr.iter()
        .zip(base)
        .zip(mask)
        .all(|((a, b), m)| a & m == b & m)
}

/// rfc822Name constraints: `user@host` exact mailbox, `host` any mailbox at that host,
/// `.domain` any mailbox at a host under that domain.
fn email_in_subtree(email: &str, constraint: &str) -> bool {
    let Some((local, host)) = email.rsplit_once('@') else {
        return false;
    };
    if let Some((c_local, c_host)) = constraint.rsplit_once('@') {
        return local == c_local && host.eq_ignore_ascii_case(c_host);
    }
    host_in_domain_constraint(host, constraint)
}

/// `.domain` matches hosts strictly under it; `host` matches that host only.
fn host_in_domain_constraint(host: &str, constraint: &str) -> bool {
    match constraint.strip_prefix('.') {
        Some(domain) => host
            .to_ascii_lowercase()
            .ends_with(&format!(".{}", domain.to_ascii_lowercase())),
        None => host.eq_ignore_ascii_case(constraint),
    }
}

/// The host of a URI with an authority (`scheme://[user@]host[:port]/...`).
fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let host = if host_port.starts_with('[') {
        return None; // IP-literal hosts cannot match a domain constraint
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// A directoryName constraint matches names that begin with its RDNs (compared as DER).
fn dn_within(name: &x509_cert::name::Name, constraint: &x509_cert::name::Name) -> bool {
    let n: Vec<_> = name.iter_rdn().collect();
    let c: Vec<_> = constraint.iter_rdn().collect();
    c.len() <= n.len()
        && c.iter()
            .zip(&n)
            .all(|(a, b)| a.to_der().ok() == b.to_der().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_san_syntax() {
        assert!(valid_dns_san("example.com"));
        assert!(valid_dns_san("*.example.com"));
        assert!(!valid_dns_san("*.com"));
        assert!(!valid_dns_san("*"));
        assert!(!valid_dns_san("foo_bar.example.com"));
        assert!(!valid_dns_san("1.2.3.4"));
        assert!(!valid_dns_san("a..b"));
        assert!(!valid_dns_san("f*o.example.com"));
    }

    #[test]
    fn wildcards_match_one_label() {
        assert!(dns_matches_pattern("*.example.com", "foo.example.com"));
        assert!(dns_matches_pattern("*.EXAMPLE.com", "foo.example.COM"));
        assert!(!dns_matches_pattern("*.example.com", "example.com"));
        assert!(!dns_matches_pattern("*.example.com", "a.b.example.com"));
        assert!(!dns_matches_pattern("f*.example.com", "foo.example.com"));
        assert!(!dns_matches_pattern("*.com", "example.com"));
    }

    #[test]
    fn dns_constraints() {
        assert_eq!(
            dns_in_subtree("foo.example.com", "example.com"),
            Match::Inside
        );
        assert_eq!(dns_in_subtree("example.com", "example.com"), Match::Inside);
        assert_eq!(
            dns_in_subtree("fooexample.com", "example.com"),
            Match::Outside
        );
        assert_eq!(
            dns_in_subtree("*.example.com", "bar.example.com"),
            Match::Partly
        );
        assert_eq!(
            dns_in_subtree("*.example.com", "example.com"),
            Match::Inside
        );
    }

    #[test]
    fn ip_and_email_constraints() {
        assert!(ip_in_subtree(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_in_subtree(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_in_subtree(&[10, 1, 2, 3], &[0; 32]));
        assert!(contiguous_mask(&[255, 255, 0, 0]));
        assert!(!contiguous_mask(&[255, 0, 255, 0]));
        assert!(email_in_subtree("a@example.com", "example.com"));
        assert!(!email_in_subtree("a@sub.example.com", "example.com"));
        assert!(email_in_subtree("a@sub.example.com", ".example.com"));
        assert!(email_in_subtree("*@example.com", "*@example.com"));
        assert!(!email_in_subtree("user@example.com", "*@example.com"));
    }

    /// `dn_text` must keep the text x509-cert's `Display` gives (core/tests/names.rs checks
    /// every name of the limbo suite too).
    #[test]
    fn dn_text_is_x509_cert_display() {
        use der::Tag;
        use der::asn1::{Any, SetOfVec};

        let atv = |oid: &str, tag: Tag, value: &[u8]| AttributeTypeAndValue {
            oid: Oid::new_unwrap(oid),
            value: Any::new(tag, value).unwrap(),
        };
        let cn = "2.5.4.3";
        let rdn = |atvs: Vec<AttributeTypeAndValue>| {
            RelativeDistinguishedName::from(SetOfVec::try_from(atvs).unwrap())
        };
        let names = [
            vec![
                rdn(vec![atv("2.5.4.6", Tag::PrintableString, b"DE")]),
                rdn(vec![atv("2.5.4.10", Tag::Utf8String, b"Acme, Inc.")]),
                rdn(vec![atv(
                    cn,
                    Tag::Utf8String,
                    b" #lead+trail; <x> \\\"q\" ",
                )]),
            ],
            vec![rdn(vec![
                atv(cn, Tag::Utf8String, b"multi"),
                atv("2.5.4.11", Tag::PrintableString, b"valued"),
            ])],
            vec![rdn(vec![atv(cn, Tag::Utf8String, b"#x\x01y\x1f\x7fz")])],
            vec![rdn(vec![atv(cn, Tag::Ia5String, b"ia5")])],
            vec![rdn(vec![atv(cn, Tag::TeletexString, b"teletex")])],
            vec![rdn(vec![atv(cn, Tag::BmpString, &[0, 0x41])])],
            vec![rdn(vec![atv(
                "1.2.840.113549.1.9.1",
                Tag::Ia5String,
                b"a@b.example",
            )])],
            vec![rdn(vec![atv(
                "1.3.6.1.4.1.99999.1",
                Tag::Utf8String,
                b"private",
            )])],
            vec![rdn(vec![atv(
                "0.9.2342.19200300.100.1.25",
                Tag::Ia5String,
                b"dc",
            )])],
            vec![rdn(vec![atv(cn, Tag::Integer, &[5])])],
            vec![],
        ];
        for rdns in names {
            let der = RdnSequence::from(rdns).to_der().unwrap();
            let name = <Name as der::Decode>::from_der(&der).unwrap();
            assert_eq!(dn_text(&name), name.to_string());
        }
    }

    /// The remembered attribute-type names are the database's own answers, first time and
    /// after.
    #[test]
    fn remembered_attribute_names_are_the_database_answers() {
        for _ in 0..2 {
            for oid in COMMON_ATTRIBUTES {
                assert_eq!(shortest_oid_name(oid), search_oid_name(oid), "{oid}");
            }
        }
        let private = Oid::new_unwrap("1.3.6.1.4.1.99999.1");
        assert_eq!(shortest_oid_name(private), None);
    }

    #[test]
    fn peer_name_parse() {
        assert_eq!(
            PeerName::parse("dns:a.example").unwrap(),
            PeerName::Dns("a.example".into())
        );
        assert!(matches!(
            PeerName::parse("ip:10.0.0.1").unwrap(),
            PeerName::Ip(_)
        ));
        assert!(PeerName::parse("ip:nope").is_err());
        assert!(PeerName::parse("foo").is_err());
    }
}
