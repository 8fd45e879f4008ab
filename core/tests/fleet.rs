//! Fleet trust policy end to end, with fixture-generated PKIs: enrollment precedence, every
//! deny list, the compromise cutoff, CRL staleness both ways and policy-file errors with their
//! line numbers.

use std::collections::HashMap;

use chainproof::fleet::Enrollment;
use chainproof::{Error, ErrorCode, Failure, FleetPolicy, UnixTime, Verdict, VerifyOptions};
use chainproof_testkit::{Cert, CertSpec, CrlSpec, DAY, Dn, KeyKind, KeyPair, YEAR};

/// 2026-01-01T00:00:00Z: fixtures are generated around this instant.
const NOW: i64 = 1_767_225_600;
const SEED: u64 = 44;

fn key(kind: KeyKind, label: &str) -> KeyPair {
    KeyPair::generate(kind, SEED, label)
}

fn new_root(label: &str, cn: &str) -> Cert {
    CertSpec::ca(
        Dn::new().o("Acme").cn(cn),
        key(KeyKind::P256, label),
        NOW - YEAR,
        NOW + 10 * YEAR,
        None,
    )
    .self_signed()
}

fn ca(label: &str, cn: &str, issuer: &Cert) -> Cert {
    CertSpec::ca(
        Dn::new().o("Acme").cn(cn),
        key(KeyKind::P256, label),
        NOW - YEAR,
        NOW + 5 * YEAR,
        Some(0),
    )
    .issued_by(issuer)
}

fn device_spec(id: &str, kind: KeyKind, not_before: i64) -> CertSpec {
    CertSpec::device(
        id,
        "Acme",
        "Fleet",
        key(kind, &format!("device/{id}")),
        not_before,
        NOW + YEAR,
    )
}

fn device(id: &str, issuer: &Cert) -> Cert {
    device_spec(id, KeyKind::P256, NOW - DAY).issued_by(issuer)
}

/// Two independent fleets: `acme` (root -> factory CA -> devices) and `other`.
struct Pki {
    root: Cert,
    factory: Cert,
    other_root: Cert,
    other_ca: Cert,
}

fn pki() -> Pki {
    let root = new_root("root", "Acme Root CA");
    let factory = ca("factory", "Acme Factory CA", &root);
    let other_root = new_root("other-root", "Other Root CA");
    let other_ca = ca("other-ca", "Other Factory CA", &other_root);
    Pki {
        root,
        factory,
        other_root,
        other_ca,
    }
}

fn load(text: &str) -> Result<FleetPolicy, Error> {
    load_with(text, &HashMap::new())
}

fn load_with(text: &str, files: &HashMap<&str, Vec<u8>>) -> Result<FleetPolicy, Error> {
    let resolve = |name: &str| {
        files
            .get(name)
            .cloned()
            .ok_or_else(|| "no such file".to_owned())
    };
    FleetPolicy::from_toml(text, &resolve)
}

fn policy(text: &str) -> FleetPolicy {
    match load(text) {
        Ok(p) => p,
        Err(e) => panic!("policy should load: {e}"),
    }
}

fn verify(policy: &FleetPolicy, leaf: &Cert, bag: &[&Cert]) -> Result<Verdict, Failure> {
    verify_at(policy, leaf, bag, NOW)
}

fn verify_at(
    policy: &FleetPolicy,
    leaf: &Cert,
    bag: &[&Cert],
    time: i64,
) -> Result<Verdict, Failure> {
    let ders: Vec<&[u8]> = bag.iter().map(|c| c.der.as_slice()).collect();
    policy.verify(&leaf.der, &ders, &VerifyOptions::new(UnixTime(time)))
}

fn rejected(r: Result<Verdict, Failure>) -> Failure {
    match r {
        Ok(v) => panic!("expected a rejection, got {:?}", v.enrollment),
        Err(f) => f,
    }
}

fn admitted(r: Result<Verdict, Failure>) -> Verdict {
    match r {
        Ok(v) => v,
        Err(f) => panic!("expected the device to be admitted: {f}"),
    }
}

fn group(id: &str, anchor: &Cert, extra: &str) -> String {
    format!(
        "[[group]]\nid = \"{id}\"\nanchors = '''\n{}'''\n{extra}\n",
        anchor.pem()
    )
}

fn sha1_hex(c: &Cert) -> String {
    let parsed = chainproof::cert::Cert::from_der(&c.der).expect("fixture decodes");
    chainproof::cert::hex_upper(parsed.sha1())
}

fn subject_text(c: &Cert) -> String {
    let parsed = chainproof::cert::Cert::from_der(&c.der).expect("fixture decodes");
    parsed.subject().to_owned()
}

#[test]
fn group_admits_its_devices_with_tags_and_route() {
    let p = pki();
    let text = format!(
        "version = 1\n{}",
        group(
            "acme",
            &p.root,
            "tags = [\"line-a\", \"eu\"]\nroute = \"telemetry-eu\""
        )
    );
    let pol = policy(&text);
    let v = admitted(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
    assert_eq!(v.enrollment, Enrollment::Group("acme".into()));
    assert_eq!(v.tags, ["line-a", "eu"]);
    assert_eq!(v.route, "telemetry-eu");
    assert!(v.warnings.is_empty());
    assert_eq!(v.report.device_id.as_deref(), Some("sensor-0001"));

    let f = rejected(verify(&pol, &device("x-1", &p.other_ca), &[&p.other_ca]));
    assert_eq!(f.code(), ErrorCode::UnknownIssuer);
}

#[test]
fn route_defaults_to_default_and_first_enabled_group_wins() {
    let p = pki();
    let text = format!(
        "version = 1\n{}{}",
        group("off", &p.root, "enabled = false\nroute = \"never\""),
        group("on", &p.root, "")
    );
    let v = admitted(verify(
        &policy(&text),
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
    assert_eq!(v.enrollment, Enrollment::Group("on".into()));
    assert_eq!(v.route, "default");
}

#[test]
fn disabled_group_blocks_devices_that_chain_only_through_it() {
    let p = pki();
    let text = format!(
        "version = 1\n{}{}",
        group("acme", &p.root, "enabled = false"),
        group("other", &p.other_root, "")
    );
    let pol = policy(&text);
    let f = rejected(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
    assert_eq!(f.code(), ErrorCode::EnrollmentDisabled);
    assert!(f.message().contains("\"acme\""), "{}", f.message());
    admitted(verify(&pol, &device("o-1", &p.other_ca), &[&p.other_ca]));
}

#[test]
fn disabled_individual_enrollment_blocks_device_inside_enabled_group() {
    let p = pki();
    let text = format!(
        "version = 1\n{}[[device]]\nid = \"sensor-0002\"\nenabled = false\n",
        group("acme", &p.root, "")
    );
    let pol = policy(&text);
    let f = rejected(verify(
        &pol,
        &device("sensor-0002", &p.factory),
        &[&p.factory],
    ));
    assert_eq!(f.code(), ErrorCode::DeviceDisabled);
    assert!(f.hint().contains("overrides any group"));
    // Its neighbour in the same group is unaffected.
    admitted(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
}

#[test]
fn individual_enrollment_pins_sha256_thumbprint_and_says_so() {
    let p = pki();
    let enrolled = device("sensor-0003", &p.factory);
    let replaced = device_spec("sensor-0003", KeyKind::P256, NOW - 2 * DAY).issued_by(&p.factory);
    let text = format!(
        "version = 1\n{}[[device]]\nid = \"sensor-0003\"\nprimary_thumbprint = \"{}\"\ntags = [\"pinned\"]\n",
        group("acme", &p.root, ""),
        enrolled.sha256_hex()
    );
    let pol = policy(&text);
    let v = admitted(verify(&pol, &enrolled, &[&p.factory]));
    assert_eq!(v.enrollment, Enrollment::Device("sensor-0003".into()));
    assert_eq!(v.tags, ["pinned"]);
    let f = rejected(verify(&pol, &replaced, &[&p.factory]));
    assert_eq!(f.code(), ErrorCode::ThumbprintMismatch);
    assert!(
        f.message().contains("SHA-256 thumbprint"),
        "{}",
        f.message()
    );
    assert!(!f.message().contains("SHA-1"), "{}", f.message());
}

#[test]
fn individual_enrollment_sha1_secondary_thumbprint_matches_and_mismatch_says_sha1() {
    let p = pki();
    let old = device("sensor-0004", &p.factory);
    let new = device_spec("sensor-0004", KeyKind::P256, NOW - 2 * DAY).issued_by(&p.factory);
    let stranger = device_spec("sensor-0004", KeyKind::P384, NOW - 3 * DAY).issued_by(&p.factory);
    let text = format!(
        "version = 1\n{}[[device]]\nid = \"sensor-0004\"\nprimary_thumbprint = \"{}\"\nsecondary_thumbprint = \"{}\"\n",
        group("acme", &p.root, ""),
        sha1_hex(&old),
        sha1_hex(&new).to_lowercase()
    );
    let pol = policy(&text);
    admitted(verify(&pol, &old, &[&p.factory]));
    admitted(verify(&pol, &new, &[&p.factory]));
    let f = rejected(verify(&pol, &stranger, &[&p.factory]));
    assert_eq!(f.code(), ErrorCode::ThumbprintMismatch);
    assert!(f.message().contains("SHA-1 thumbprint"), "{}", f.message());
    assert!(
        f.message().contains(&sha1_hex(&stranger)),
        "{}",
        f.message()
    );
    assert!(f.hint().contains("-sha1"));
}

#[test]
fn self_signed_device_is_admitted_only_by_individual_enrollment() {
    let p = pki();
    let selfie = device_spec("cam-01", KeyKind::Ed25519, NOW - DAY).self_signed();
    let stray = device_spec("cam-02", KeyKind::Ed25519, NOW - DAY).self_signed();
    let text = format!(
        "version = 1\n{}[[device]]\nid = \"cam-01\"\nprimary_thumbprint = \"{}\"\n",
        group("acme", &p.root, ""),
        selfie.sha256_hex()
    );
    let pol = policy(&text);
    let v = admitted(verify(&pol, &selfie, &[]));
    assert_eq!(v.enrollment, Enrollment::Device("cam-01".into()));
    assert_eq!(v.report.chain.len(), 1);
    let f = rejected(verify(&pol, &stray, &[]));
    assert_eq!(f.code(), ErrorCode::UnknownIssuer);
    // The expected device ID still applies.
    let mut opts = VerifyOptions::new(UnixTime(NOW));
    opts.expected_device_id = Some("cam-99".into());
    let f = rejected(pol.verify(&selfie.der, &[] as &[&[u8]], &opts));
    assert_eq!(f.code(), ErrorCode::DeviceIdMismatch);
    // Pinned but expired is still expired.
    let f = rejected(verify_at(&pol, &selfie, &[], NOW + 2 * YEAR));
    assert_eq!(f.code(), ErrorCode::Expired);
}

#[test]
fn group_device_id_pattern_and_key_types() {
    let p = pki();
    let text = format!(
        "version = 1\n{}",
        group(
            "acme",
            &p.root,
            "device_id_pattern = \"sensor-????\"\nallowed_key_types = [\"p256\", \"ed25519\"]"
        )
    );
    let pol = policy(&text);
    admitted(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
    let f = rejected(verify(
        &pol,
        &device("sensor-01", &p.factory),
        &[&p.factory],
    ));
    assert_eq!(f.code(), ErrorCode::DeviceIdPattern);
    assert!(f.message().contains("sensor-????"));
    let p384 = device_spec("sensor-0009", KeyKind::P384, NOW - DAY).issued_by(&p.factory);
    let f = rejected(verify(&pol, &p384, &[&p.factory]));
    assert_eq!(f.code(), ErrorCode::KeyTypeNotAllowed);
    assert!(f.message().contains("ECDSA P-384"), "{}", f.message());
    assert!(f.hint().contains("p256, ed25519"), "{}", f.hint());
}

fn assert_denied_by(f: &Failure, list: &str) {
    assert_eq!(f.code(), ErrorCode::Revoked, "{f}");
    assert!(f.message().contains(list), "{}", f.message());
    assert!(f.hint().contains(list), "{}", f.hint());
}

#[test]
fn deny_device_ids_and_thumbprints() {
    let p = pki();
    let lost = device("sensor-0005", &p.factory);
    let stolen = device("sensor-0006", &p.factory);
    let text = format!(
        "version = 1\n{}[revocation]\ndeny_device_ids = [\"sensor-0005\"]\ndeny_thumbprints = [\"{}\"]\n",
        group("acme", &p.root, ""),
        stolen.sha256_hex()
    );
    let pol = policy(&text);
    assert_denied_by(
        &rejected(verify(&pol, &lost, &[&p.factory])),
        "deny_device_ids",
    );
    assert_denied_by(
        &rejected(verify(&pol, &stolen, &[&p.factory])),
        "deny_thumbprints",
    );
    admitted(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
}

/// Device certificates with chosen serials: (factory 0x0177, factory 0x0188, factory 0x0199,
/// other CA 0x0177: the same serial under another issuer is a different certificate).
fn serial_devices(p: &Pki) -> [Cert; 4] {
    let spec = |id: &str, serial: &[u8], ca: &Cert| {
        device_spec(id, KeyKind::P256, NOW - DAY)
            .with_serial(serial)
            .issued_by(ca)
    };
    [
        spec("sensor-0007", &[0x01, 0x77], &p.factory),
        spec("sensor-0008", &[0x01, 0x88], &p.factory),
        spec("sensor-0009", &[0x01, 0x99], &p.factory),
        spec("o-7", &[0x01, 0x77], &p.other_ca),
    ]
}

#[test]
fn deny_serials_by_issuer_thumbprint_and_by_issuer_name() {
    let p = pki();
    let [a, b, _, c] = serial_devices(&p);
    let text = format!(
        "version = 1\n{}{}[revocation]\ndeny_serials = [\n  {{ issuer_sha256 = \"{}\", serial = \"0177\" }},\n  {{ issuer = \"{}\", serial = \"01:88\" }},\n]\n",
        group("acme", &p.root, ""),
        group("other", &p.other_root, ""),
        p.factory.sha256_hex(),
        subject_text(&p.factory)
    );
    let pol = policy(&text);
    assert_denied_by(&rejected(verify(&pol, &a, &[&p.factory])), "deny_serials");
    assert_denied_by(&rejected(verify(&pol, &b, &[&p.factory])), "deny_serials");
    admitted(verify(&pol, &c, &[&p.other_ca]));
}

#[test]
fn deny_serial_batch_lists_many_serials_of_one_issuer() {
    let p = pki();
    let [a, b, kept, elsewhere] = serial_devices(&p);
    // Leading zero bytes, colons and case do not matter; the issuer by thumbprint or by name.
    for issuer in [
        format!(
            "issuer_sha256 = \"{}\"",
            p.factory.sha256_hex().to_lowercase()
        ),
        format!("issuer = \"{}\"", subject_text(&p.factory)),
    ] {
        let text = format!(
            "version = 1\n{}{}[[revocation.deny_serial_batch]]\n{issuer}\nserials = [\"00:01:77\", \"0188\", \"5\"]\n",
            group("acme", &p.root, ""),
            group("other", &p.other_root, ""),
        );
        let pol = policy(&text);
        assert_eq!(pol.counts().deny_serials, 3);
        assert_denied_by(&rejected(verify(&pol, &a, &[&p.factory])), "deny_serials");
        assert_denied_by(&rejected(verify(&pol, &b, &[&p.factory])), "deny_serials");
        admitted(verify(&pol, &kept, &[&p.factory]));
        admitted(verify(&pol, &elsewhere, &[&p.other_ca]));
    }
}

#[test]
fn a_group_warns_when_a_device_certificate_outlives_its_maximum_lifetime() {
    let p = pki();
    // device() is valid from NOW - DAY to NOW + YEAR: 366 days.
    let long = device("sensor-0010", &p.factory);
    let short = device_spec("sensor-0011", KeyKind::P256, NOW - DAY)
        .with_validity(NOW - DAY, NOW + 30 * DAY)
        .issued_by(&p.factory);
    let pol = policy(&format!(
        "version = 1\n{}",
        group("acme", &p.root, "max_lifetime_days = 90")
    ));
    let v = admitted(verify(&pol, &long, &[&p.factory]));
    let w: Vec<_> = v
        .warnings
        .iter()
        .filter(|w| w.code == "lifetime-exceeds-policy")
        .collect();
    assert_eq!(w.len(), 1, "{:?}", v.warnings);
    assert!(
        w[0].message.contains("366 days") && w[0].message.contains("at most 90 days"),
        "{}",
        w[0].message
    );
    let v = admitted(verify(&pol, &short, &[&p.factory]));
    assert!(
        v.warnings
            .iter()
            .all(|w| w.code != "lifetime-exceeds-policy")
    );
    // Without the setting, no such warning.
    let plain = policy(&format!("version = 1\n{}", group("acme", &p.root, "")));
    let v = admitted(verify(&plain, &long, &[&p.factory]));
    assert!(
        v.warnings
            .iter()
            .all(|w| w.code != "lifetime-exceeds-policy")
    );
}

#[test]
fn deny_issuers_blocks_a_whole_batch() {
    let p = pki();
    let batch = ca("batch-7", "Acme Batch 7 CA", &p.root);
    let text = format!(
        "version = 1\n{}[revocation]\ndeny_issuers = [\"{}\"]\n",
        group("acme", &p.root, ""),
        batch.sha256_hex()
    );
    let pol = policy(&text);
    let f = rejected(verify(&pol, &device("b7-1", &batch), &[&batch]));
    assert_denied_by(&f, "deny_issuers");
    assert_eq!(f.depth, Some(0));
    admitted(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
}

#[test]
fn compromise_cutoff_keeps_earlier_devices_and_reissued_ca_takes_over() {
    let p = pki();
    let cutoff = NOW - 10 * DAY;
    let before = device_spec("sensor-0010", KeyKind::P256, cutoff - DAY).issued_by(&p.factory);
    let at = device_spec("sensor-0011", KeyKind::P256, cutoff).issued_by(&p.factory);
    let after = device_spec("sensor-0012", KeyKind::P256, cutoff + DAY).issued_by(&p.factory);
    // Same name, new key, signed by the same root.
    let reissued = ca("factory-2", "Acme Factory CA", &p.root);
    let renewed = device_spec("sensor-0013", KeyKind::P256, cutoff + 2 * DAY).issued_by(&reissued);
    let text = format!(
        "version = 1\n{}[[revocation.compromised]]\nca_sha256 = \"{}\"\nsince = {}\n",
        group("acme", &p.root, ""),
        p.factory.sha256_hex(),
        UnixTime(cutoff).to_rfc3339()
    );
    let pol = policy(&text);
    admitted(verify(&pol, &before, &[&p.factory]));
    for dev in [&at, &after] {
        let f = rejected(verify(&pol, dev, &[&p.factory]));
        assert_eq!(f.code(), ErrorCode::IssuerCompromised, "{f}");
        assert_eq!(f.depth, Some(0));
    }
    let v = admitted(verify(&pol, &renewed, &[&p.factory, &reissued]));
    assert_eq!(
        v.report.chain.get(1).map(|c| c.sha256.clone()),
        Some(reissued.sha256_hex().to_uppercase())
    );
    // `since` may also be a quoted string.
    let quoted = text.replace(
        &format!("since = {}", UnixTime(cutoff).to_rfc3339()),
        &format!("since = \"{}\"", UnixTime(cutoff).to_rfc3339()),
    );
    let f = rejected(verify(&policy(&quoted), &after, &[&p.factory]));
    assert_eq!(f.code(), ErrorCode::IssuerCompromised);
}

fn crl_policy(p: &Pki, stale: Option<&str>, crl_pem: String) -> FleetPolicy {
    let mut text = format!(
        "version = 1\n{}[revocation]\ncrl_files = [\"factory.crl\"]\n",
        group("acme", &p.root, "")
    );
    if let Some(s) = stale {
        text.push_str(&format!("stale_crl = \"{s}\"\n"));
    }
    let files = HashMap::from([("factory.crl", crl_pem.into_bytes())]);
    match load_with(&text, &files) {
        Ok(pol) => pol,
        Err(e) => panic!("policy should load: {e}"),
    }
}

#[test]
fn policy_crl_revokes_and_fresh_crl_passes_others() {
    let p = pki();
    let bad = device("sensor-0020", &p.factory);
    let crl = CrlSpec::new(NOW - DAY, NOW + 7 * DAY)
        .revoke(&bad, NOW - DAY)
        .sign(&p.factory);
    let pol = crl_policy(&p, None, crl.pem());
    let f = rejected(verify(&pol, &bad, &[&p.factory]));
    assert_eq!(f.code(), ErrorCode::Revoked);
    let v = admitted(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
    assert!(v.warnings.is_empty());
}

#[test]
fn stale_crl_fails_closed_by_default_and_warns_when_allowed() {
    let p = pki();
    let bad = device("sensor-0021", &p.factory);
    let good = device("sensor-0001", &p.factory);
    let stale = CrlSpec::new(NOW - 30 * DAY, NOW - 2 * DAY)
        .revoke(&bad, NOW - 30 * DAY)
        .sign(&p.factory);

    let fail = crl_policy(&p, None, stale.pem());
    let f = rejected(verify(&fail, &good, &[&p.factory]));
    assert_eq!(f.code(), ErrorCode::CrlExpired);
    let fail = crl_policy(&p, Some("fail"), stale.pem());
    assert_eq!(
        rejected(verify(&fail, &good, &[&p.factory])).code(),
        ErrorCode::CrlExpired
    );

    let allow = crl_policy(&p, Some("allow"), stale.pem());
    let v = admitted(verify(&allow, &good, &[&p.factory]));
    assert_eq!(v.warnings.len(), 1);
    assert_eq!(v.warnings.first().map(|w| w.code), Some("crl-stale"));
    // A stale list still revokes what it lists.
    assert_eq!(
        rejected(verify(&allow, &bad, &[&p.factory])).code(),
        ErrorCode::Revoked
    );
}

fn policy_error(text: &str) -> (u32, Option<&'static str>, String) {
    match load(text) {
        Ok(_) => panic!("policy should be rejected:\n{text}"),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::PolicyInvalid, "{e}");
            match &e {
                Error::PolicyInvalid { line, field, .. } => (*line, *field, e.to_string()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn policy_errors_carry_line_numbers_and_field_names() {
    let p = pki();
    let g = group("acme", &p.root, "");
    let g_lines = u32::try_from(g.lines().count()).unwrap_or(0);

    // TOML syntax error on line 2.
    let (line, _, msg) = policy_error("version = 1\n[[group]\n");
    assert_eq!(line, 2, "{msg}");
    assert!(msg.contains("line 2"), "{msg}");

    // Unknown field (typo) on line 3.
    let (line, _, msg) = policy_error("version = 1\n[[device]]\nidd = \"x\"\n");
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("idd"), "{msg}");

    // Unsupported version.
    let (line, field, _) = policy_error("version = 2\n");
    assert_eq!((line, field), (1, Some("version")));

    // A thumbprint of the wrong length, after the group.
    let text = format!("version = 1\n{g}[[device]]\nid = \"d\"\nprimary_thumbprint = \"abcd\"\n");
    let (line, field, msg) = policy_error(&text);
    assert_eq!(line, g_lines + 4, "{msg}");
    assert_eq!(field, Some("device.primary_thumbprint"));
    assert!(msg.contains("SHA-256") && msg.contains("SHA-1"), "{msg}");

    // A serial batch needs exactly one issuer; a bad serial is named on its own line.
    let text = format!("version = 1\n{g}[[revocation.deny_serial_batch]]\nserials = [\"01\"]\n");
    let (line, field, msg) = policy_error(&text);
    assert_eq!(line, g_lines + 3, "{msg}");
    assert_eq!(field, Some("revocation.deny_serial_batch"));
    assert!(msg.contains("exactly one"), "{msg}");
    let text = format!(
        "version = 1\n{g}[[revocation.deny_serial_batch]]\nissuer = \"CN=A\"\nserials = [\n  \"01\",\n  \"0x2\",\n]\n"
    );
    let (line, field, msg) = policy_error(&text);
    assert_eq!(line, g_lines + 6, "{msg}");
    assert_eq!(field, Some("revocation.deny_serial_batch"));
    assert!(msg.contains("not hexadecimal"), "{msg}");

    // A maximum lifetime of zero days.
    let text = format!(
        "version = 1\n{}",
        group("acme", &p.root, "max_lifetime_days = 0")
    );
    let (line, field, msg) = policy_error(&text);
    assert_eq!(line, g_lines + 1, "{msg}");
    assert_eq!(field, Some("group.max_lifetime_days"));

    // Unknown key type.
    let text = format!(
        "version = 1\n{}",
        group("acme", &p.root, "allowed_key_types = [\"dsa\"]")
    );
    let (line, field, _) = policy_error(&text);
    assert_eq!(line, g_lines + 1);
    assert_eq!(field, Some("group.allowed_key_types"));

    // An anchors_file the caller cannot resolve.
    let (line, field, msg) =
        policy_error("version = 1\n[[group]]\nid = \"g\"\nanchors_file = \"missing.pem\"\n");
    assert_eq!((line, field), (4, Some("group.anchors_file")));
    assert!(msg.contains("missing.pem"), "{msg}");

    // deny_issuers takes SHA-256 only, never SHA-1.
    let text = format!(
        "version = 1\n[revocation]\ndeny_issuers = [\"{}\"]\n",
        sha1_hex(&p.root)
    );
    let (line, field, _) = policy_error(&text);
    assert_eq!((line, field), (3, Some("revocation.deny_issuers")));

    // stale_crl must be fail or allow; since must be a date.
    let (line, field, _) = policy_error("version = 1\n[revocation]\nstale_crl = \"maybe\"\n");
    assert_eq!((line, field), (3, Some("revocation.stale_crl")));
    let text = format!(
        "version = 1\n[[revocation.compromised]]\nca_sha256 = \"{}\"\nsince = \"yesterday\"\n",
        p.root.sha256_hex()
    );
    let (line, field, _) = policy_error(&text);
    assert_eq!((line, field), (4, Some("revocation.compromised.since")));

    // Duplicate individual enrollment.
    let (line, _, msg) =
        policy_error("version = 1\n[[device]]\nid = \"a\"\n[[device]]\nid = \"a\"\n");
    assert_eq!(line, 5, "{msg}");
}

#[test]
fn anchors_file_is_resolved_by_the_caller() {
    let p = pki();
    let files = HashMap::from([("acme-root.pem", p.root.pem().into_bytes())]);
    let text = "version = 1\n[[group]]\nid = \"acme\"\nanchors_file = \"acme-root.pem\"\n";
    let pol = match load_with(text, &files) {
        Ok(pol) => pol,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(pol.groups().len(), 1);
    admitted(verify(
        &pol,
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
}

#[test]
fn many_groups_are_selected_by_the_anchor_that_ends_the_path() {
    // Forty groups with their own roots: the device of the last one is admitted by it, and the
    // index names the group of each anchor.
    let roots: Vec<Cert> = (0..40)
        .map(|i| new_root(&format!("many/{i}"), &format!("Factory Root {i}")))
        .collect();
    let mut text = String::from("version = 1\n");
    for (i, r) in roots.iter().enumerate() {
        text.push_str(&group(&format!("g{i}"), r, &format!("route = \"r{i}\"")));
    }
    let pol = policy(&text);
    let last = roots.last().expect("forty roots");
    let ca39 = ca("many/ca39", "Factory CA 39", last);
    let v = admitted(verify(&pol, &device("sensor-3901", &ca39), &[&ca39]));
    assert_eq!(v.enrollment, Enrollment::Group("g39".into()));
    assert_eq!(v.route, "r39");
    let owners = pol.groups_for_anchor(&last.sha256_hex());
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].id, "g39");
    assert!(pol.groups_for_anchor(&"00".repeat(32)).is_empty());
}

#[test]
fn a_path_through_a_disabled_groups_anchor_still_finds_the_enabled_group() {
    // The factory CA anchors a disabled group; the root anchors an enabled one. The chain
    // leaf -> factory can end at either anchor: the enabled group must admit it.
    let p = pki();
    let text = format!(
        "version = 1\n{}{}",
        group("factory-pin", &p.factory, "enabled = false"),
        group("acme", &p.root, "route = \"eu\"")
    );
    let v = admitted(verify(
        &policy(&text),
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
    assert_eq!(v.enrollment, Enrollment::Group("acme".into()));
    // Without the enabled group the same chain is blocked by the disabled one.
    let only = format!(
        "version = 1\n{}",
        group("factory-pin", &p.factory, "enabled = false")
    );
    let f = rejected(verify(
        &policy(&only),
        &device("sensor-0001", &p.factory),
        &[&p.factory],
    ));
    assert_eq!(f.code(), ErrorCode::EnrollmentDisabled);
}

#[test]
fn policy_cell_swaps_snapshots_while_threads_verify() {
    use chainproof::PolicyCell;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let p = pki();
    let route = |r: &str| {
        policy(&format!(
            "version = 1\n{}",
            group("acme", &p.root, &format!("route = \"{r}\""))
        ))
    };
    let a = Arc::new(route("a"));
    let b = Arc::new(route("b"));
    let cell = Arc::new(PolicyCell::new(route("a")));
    let leaf = device("sensor-0001", &p.factory);
    let bag = vec![p.factory.der.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let opts = VerifyOptions::new(UnixTime(NOW));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (cell, stop, leaf, bag, opts) = (
                Arc::clone(&cell),
                Arc::clone(&stop),
                leaf.der.clone(),
                bag.clone(),
                opts.clone(),
            );
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) || seen.is_empty() {
                    let snapshot = cell.load();
                    let v = snapshot.verify(&leaf, &bag, &opts).expect("admitted");
                    // A verdict comes whole from the snapshot it started with.
                    assert_eq!(v.route, snapshot.groups()[0].route);
                    seen.push(v.route);
                }
                seen
            })
        })
        .collect();
    for i in 0..50 {
        let next = if i % 2 == 0 {
            Arc::clone(&b)
        } else {
            Arc::clone(&a)
        };
        let previous = cell.store(next);
        assert_eq!(previous.groups().len(), 1);
        std::thread::yield_now();
    }
    cell.store(Arc::clone(&b));
    assert_eq!(cell.load().groups()[0].route, "b");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let seen = w.join().expect("worker finished");
        assert!(seen.iter().all(|r| r == "a" || r == "b"));
    }
    // After the last swap every new verification uses the new policy.
    let v = cell
        .load()
        .verify(&leaf.der, &bag, &opts)
        .expect("admitted");
    assert_eq!(v.route, "b");
}

#[test]
fn compare_names_each_kind_of_verdict_change() {
    use chainproof::fleet::{Change, DiffSummary, compare};

    let p = pki();
    let old = policy(&format!(
        "version = 1\n{}{}[[device]]\nid = \"sensor-0003\"\nroute = \"pinned\"\n",
        group("acme", &p.root, "route = \"eu\"\ntags = [\"x\"]"),
        group("other", &p.other_root, "")
    ));
    let new = policy(&format!(
        "version = 1\n{}{}[revocation]\ndeny_device_ids = [\"sensor-0001\"]\n",
        group("acme", &p.root, "route = \"us\"\ntags = [\"x\"]"),
        group("third", &p.factory, "")
    ));
    let opts = VerifyOptions::new(UnixTime(NOW));
    let run = |leaf: &Cert, bag: &Cert| compare(&old, &new, &leaf.der, &[&bag.der], &opts);

    let denied = run(&device("sensor-0001", &p.factory), &p.factory);
    assert_eq!(denied.change, Change::AcceptedToRejected);
    let routed = run(&device("sensor-0002", &p.factory), &p.factory);
    // acme still comes first and holds the root, but the factory CA is now an anchor of
    // "third": the path ends there, so the enrollment changes.
    assert_eq!(routed.change, Change::EnrollmentChanged);
    let unenrolled = run(&device("sensor-0003", &p.factory), &p.factory);
    assert_eq!(unenrolled.change, Change::EnrollmentChanged);
    let gone = run(&device("o-1", &p.other_ca), &p.other_ca);
    assert_eq!(gone.change, Change::AcceptedToRejected);
    let stranger = new_root("stranger", "Stranger Root");
    let stranger_ca = ca("stranger-ca", "Stranger CA", &stranger);
    let same = run(&device("s-1", &stranger_ca), &stranger_ca);
    assert_eq!(same.change, Change::Unchanged);

    let summary = DiffSummary::of([&denied, &routed, &unenrolled, &gone, &same]);
    assert_eq!(summary.devices, 5);
    assert_eq!(summary.changed(), 4);
    assert_eq!(summary.count(Change::AcceptedToRejected), 2);
    assert_eq!(summary.accepted_before, 4);
    assert_eq!(summary.accepted_after, 2);
}

#[test]
fn change_between_outcomes_covers_code_route_and_tags() {
    use chainproof::fleet::{Change, Outcome};

    let acc = |e: &str, route: &str, tags: &[&str]| Outcome::Accepted {
        enrollment: Enrollment::Group(e.into()),
        route: route.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        warnings: Vec::new(),
    };
    let rej = |code| Outcome::Rejected {
        code,
        message: String::new(),
    };
    let cases = [
        (
            acc("g", "r", &[]),
            rej(ErrorCode::Revoked),
            Change::AcceptedToRejected,
        ),
        (
            rej(ErrorCode::Revoked),
            acc("g", "r", &[]),
            Change::RejectedToAccepted,
        ),
        (
            rej(ErrorCode::Revoked),
            rej(ErrorCode::IssuerCompromised),
            Change::CodeChanged,
        ),
        (
            rej(ErrorCode::Revoked),
            rej(ErrorCode::Revoked),
            Change::Unchanged,
        ),
        (
            acc("g", "r", &[]),
            acc("h", "r", &[]),
            Change::EnrollmentChanged,
        ),
        (acc("g", "r", &[]), acc("g", "s", &[]), Change::RouteChanged),
        (
            acc("g", "r", &["a"]),
            acc("g", "r", &["b"]),
            Change::TagsChanged,
        ),
        (
            acc("g", "r", &["a"]),
            acc("g", "r", &["a"]),
            Change::Unchanged,
        ),
    ];
    for (old, new, want) in cases {
        assert_eq!(Change::between(&old, &new), want, "{old:?} -> {new:?}");
    }
}

#[test]
fn counts_and_summaries_describe_the_loaded_policy() {
    let p = pki();
    let crl = CrlSpec::new(NOW - DAY, NOW + 6 * DAY)
        .revoke(&device("sensor-0009", &p.factory), NOW - DAY)
        .sign(&p.factory);
    let files: HashMap<&str, Vec<u8>> = [("f.crl", crl.pem().into_bytes())].into();
    let text = format!(
        "version = 1\n{}{}[[device]]\nid = \"d1\"\nenabled = false\n[revocation]\n\
         crl_files = [\"f.crl\"]\ndeny_device_ids = [\"x\", \"y\"]\n\
         deny_serials = [{{ issuer = \"CN=A\", serial = \"01\" }}, {{ issuer = \"CN=A\", serial = \"02\" }}]\n\
         [[revocation.compromised]]\nca_sha256 = \"{}\"\nsince = \"2025-12-01T00:00:00Z\"\n",
        group("acme", &p.root, ""),
        group("off", &p.other_root, "enabled = false"),
        p.factory.sha256_hex()
    );
    let pol = load_with(&text, &files).expect("policy loads");
    let c = pol.counts();
    assert_eq!((c.groups, c.enabled_groups, c.anchors), (2, 1, 2));
    assert_eq!((c.devices, c.disabled_devices), (1, 1));
    assert_eq!(
        (c.deny_device_ids, c.deny_serials, c.compromised),
        (2, 2, 1)
    );
    assert_eq!((c.crls, c.crl_revoked_entries), (1, 1));
    let crls = pol.crl_summaries();
    assert_eq!(crls[0].next_update, Some(NOW + 6 * DAY));
    assert_eq!(pol.groups()[0].anchors()[0].not_after(), NOW + 10 * YEAR);
    assert_eq!(pol.compromised_cas()[0].1, 1_764_547_200);
}
