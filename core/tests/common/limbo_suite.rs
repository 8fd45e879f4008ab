//! The x509-limbo suite file and the translation of a testcase into chainproof's options,
//! shared by the conformance runner (core/tests/limbo.rs) and the engine parity test
//! (gateway-host/tests/parity.rs, which includes this file by path).

use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use chainproof::{IdentitySource, PeerName, Purpose, UnixTime, VerifyOptions};
use const_oid::ObjectIdentifier;
use serde::Deserialize;

/// The suite file (only the fields a validator needs; see shared/limbo/README.md).
#[derive(Deserialize)]
pub struct Suite {
    pub version: u32,
    pub testcases: Vec<Testcase>,
}

#[derive(Deserialize)]
pub struct Testcase {
    pub id: String,
    #[serde(default)]
    pub features: Vec<String>,
    pub validation_kind: String,
    pub trusted_certs: Vec<String>,
    pub untrusted_intermediates: Vec<String>,
    pub peer_certificate: String,
    pub validation_time: Option<String>,
    #[serde(default)]
    pub key_usage: Vec<String>,
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    pub expected_result: String,
    pub expected_peer_name: Option<LimboName>,
    #[serde(default)]
    pub expected_peer_names: Vec<LimboName>,
    pub max_chain_depth: Option<u64>,
    #[serde(default)]
    pub crls: Vec<String>,
    #[serde(default)]
    pub conflicts_with: Vec<String>,
}

#[derive(Deserialize)]
pub struct LimboName {
    pub kind: String,
    pub value: String,
}

pub fn suite_path() -> PathBuf {
    match std::env::var_os("LIMBO_JSON") {
        Some(p) => PathBuf::from(p),
        None => {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/limbo/limbo.json.gz");
            // Show `/work/shared/...` rather than `core/../../shared/...` when it exists.
            p.canonicalize().unwrap_or(p)
        }
    }
}

pub fn load_suite(path: &Path) -> Suite {
    let file = std::fs::File::open(path).unwrap_or_else(|e| {
        panic!(
            "the x509-limbo suite is missing: cannot open {} ({e}). It lives in shared/limbo/ \
             beside the clone; set LIMBO_JSON to point elsewhere. The conformance test never \
             passes without it.",
            path.display()
        )
    });
    let mut text = String::new();
    let gz = path.extension().is_some_and(|e| e == "gz");
    let read = if gz {
        flate2::read::GzDecoder::new(file).read_to_string(&mut text)
    } else {
        std::io::BufReader::new(file).read_to_string(&mut text)
    };
    read.unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let suite: Suite = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not an x509-limbo document: {e}", path.display()));
    assert_eq!(suite.version, 1, "unknown x509-limbo format version");
    assert!(
        !suite.testcases.is_empty(),
        "{} holds no testcases",
        path.display()
    );
    suite
}

pub fn eku_oid(name: &str) -> Result<ObjectIdentifier, String> {
    let oid = match name {
        "serverAuth" => "1.3.6.1.5.5.7.3.1",
        "clientAuth" => "1.3.6.1.5.5.7.3.2",
        "codeSigning" => "1.3.6.1.5.5.7.3.3",
        "emailProtection" => "1.3.6.1.5.5.7.3.4",
        "timeStamping" => "1.3.6.1.5.5.7.3.8",
        "OCSPSigning" => "1.3.6.1.5.5.7.3.9",
        "anyExtendedKeyUsage" => "2.5.29.37.0",
        other => return Err(format!("unknown extended_key_usage name {other:?}")),
    };
    ObjectIdentifier::new(oid).map_err(|e| format!("bad OID {oid}: {e}"))
}

pub fn peer_name(n: &LimboName) -> Result<PeerName, String> {
    match n.kind.as_str() {
        "DNS" => Ok(PeerName::Dns(n.value.clone())),
        "IP" => n
            .value
            .parse::<IpAddr>()
            .map(PeerName::Ip)
            .map_err(|e| format!("expected IP {:?}: {e}", n.value)),
        "RFC822" => Ok(PeerName::Email(n.value.clone())),
        other => Err(format!("unknown peer name kind {other:?}")),
    }
}

/// The current time, for cases without a validation time.
pub fn now() -> UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Translate the testcase's options (`now` for a case without a validation time). Errors here
/// are harness defects, not verdicts.
pub fn options(tc: &Testcase, now: UnixTime) -> Result<VerifyOptions, String> {
    let time = match &tc.validation_time {
        Some(t) => UnixTime::parse(t)?,
        None => now,
    };
    let mut opts = VerifyOptions::new(time);
    opts.identity = IdentitySource::None;
    let (kind_purpose, kind_eku) = match tc.validation_kind.as_str() {
        "SERVER" => (Purpose::Server, "serverAuth"),
        "CLIENT" => (Purpose::Client, "clientAuth"),
        other => return Err(format!("unknown validation_kind {other:?}")),
    };
    opts.purpose = match tc.extended_key_usage.as_slice() {
        [] => kind_purpose,
        [only] if only == kind_eku => kind_purpose,
        names => Purpose::Ekus(names.iter().map(|n| eku_oid(n)).collect::<Result<_, _>>()?),
    };
    opts.peer_names = match tc.validation_kind.as_str() {
        "SERVER" => tc
            .expected_peer_name
            .iter()
            .map(peer_name)
            .collect::<Result<_, _>>()?,
        _ => tc
            .expected_peer_names
            .iter()
            .map(peer_name)
            .collect::<Result<_, _>>()?,
    };
    opts.required_key_usage = tc.key_usage.clone();
    if let Some(depth) = tc.max_chain_depth {
        opts.max_intermediates =
            Some(usize::try_from(depth).map_err(|e| format!("max_chain_depth {depth}: {e}"))?);
    }
    Ok(opts)
}

/// The case's untrusted intermediates, DER; one that does not parse is dropped (path building
/// may not need it).
pub fn intermediates(tc: &Testcase) -> Vec<Vec<u8>> {
    tc.untrusted_intermediates
        .iter()
        .filter_map(|pem| chainproof::parse_certificates(pem.as_bytes()).ok())
        .flatten()
        .collect()
}

/// The reporting namespace of a case id: its first segment, or the first two for BetterTLS.
pub fn namespace(id: &str) -> String {
    let mut parts = id.split("::");
    let first = parts.next().unwrap_or(id);
    match (first, parts.next()) {
        ("bettertls", Some(second)) => format!("bettertls::{second}"),
        _ => first.to_owned(),
    }
}
