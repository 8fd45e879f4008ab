//! The IoT fixtures (realistic fleets and one mutation per failure mode, from the testkit)
//! through chainproof, with the OpenSSL CLI as an independent oracle.
//!
//! Each fixture must get the verdict and error code the generator intends. OpenSSL
//! (`openssl verify -partial_chain -auth_level 2 -purpose sslclient`) must reach the same
//! verdict, except where `tests/exceptions.txt` lists an `openssl` divergence with its reason.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chainproof::{TrustStore, UnixTime, VerifyOptions, parse_certificates, verify_chain};
use chainproof_testkit::{Fixture, iot_fixtures, write_fixtures};
use common::exceptions::{Exceptions, Oracle};

/// 2026-01-01T00:00:00Z: fixtures are generated relative to this instant.
const NOW: i64 = 1_767_225_600;

fn fixtures() -> &'static [Fixture] {
    static F: OnceLock<Vec<Fixture>> = OnceLock::new();
    F.get_or_init(|| iot_fixtures(NOW))
}

fn fixture_dir() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("iot-fixtures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_fixtures(&dir, fixtures()).expect("write the fixtures");
        dir
    })
}

/// chainproof's verdict on a fixture: Ok(device ID) or Err(code).
fn chainproof_verdict(f: &Fixture) -> Result<Option<String>, String> {
    let mut store = TrustStore::new();
    store
        .add_anchors(f.anchors_pem().as_bytes())
        .map_err(|e| e.code().to_string())?;
    for crl in &f.crls {
        store
            .add_crl_der(&crl.der)
            .map_err(|e| e.code().to_string())?;
    }
    let bag = if f.intermediates.is_empty() {
        Vec::new()
    } else {
        parse_certificates(f.intermediates_pem().as_bytes()).map_err(|e| e.code().to_string())?
    };
    let opts = VerifyOptions::new(UnixTime(f.validation_time));
    verify_chain(&store, &f.leaf.der, &bag, &opts)
        .map(|r| r.device_id)
        .map_err(|e| e.code().to_string())
}

#[test]
fn every_fixture_gets_its_intended_verdict_and_code() {
    assert!(
        fixtures().len() >= 20,
        "the testkit should provide the full fixture set"
    );
    let mut wrong = Vec::new();
    for f in fixtures() {
        let got = chainproof_verdict(f);
        let ok = match (&got, f.expect_valid, f.expected_code) {
            (Ok(id), true, _) => id.as_deref() == Some(f.device_id.as_str()),
            (Err(code), false, Some(want)) => code == want,
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "{}: expected valid={} code={:?}, got {got:?}",
                f.name, f.expect_valid, f.expected_code
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn openssl_agrees_except_where_listed() {
    let exceptions = Exceptions::load(&Exceptions::default_path()).expect("exceptions file");
    let mut problems = Vec::new();
    let mut listed_used = Vec::new();
    for f in fixtures() {
        let ours = chainproof_verdict(f).is_ok();
        let (theirs, text) = f.openssl_verify(&fixture_dir().join(f.name));
        let listed = exceptions.get(Oracle::Openssl, f.name);
        match (ours == theirs, listed) {
            (true, None) => {}
            (true, Some(_)) => problems.push(format!("{}: OpenSSL now agrees; remove its exceptions entry", f.name)),
            (false, Some(_)) => listed_used.push(f.name),
            (false, None) => problems.push(format!(
                "{}: chainproof valid={ours}, OpenSSL valid={theirs}; not listed in exceptions.txt\n{text}",
                f.name
            )),
        }
    }
    for (name, _) in exceptions.for_oracle(Oracle::Openssl) {
        if !fixtures().iter().any(|f| f.name == name) {
            problems.push(format!("exceptions.txt names unknown fixture {name}"));
        }
    }
    println!("OpenSSL disagreements explained in exceptions.txt: {listed_used:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fixtures_as_written_to_disk_verify_the_same_way() {
    // The PEM files the CLI and the browser use give the same verdict as the in-memory DER.
    for f in fixtures() {
        let dir = fixture_dir().join(f.name);
        let leaf = std::fs::read(dir.join("leaf.pem")).expect("leaf.pem");
        let leaf = parse_certificates(&leaf).expect("leaf parses");
        let leaf_der = leaf.first().expect("one leaf");
        assert_eq!(leaf_der, &f.leaf.der, "{}", f.name);
    }
}

/// Every supported algorithm, end to end through `verify_chain`: the list, each as the
/// CA's signature over a device certificate.
#[test]
fn every_supported_signature_algorithm_verifies() {
    use chainproof_testkit::{CertSpec, Dn, KeyKind, KeyPair, SigAlg};
    let (nb, na) = (NOW - 86_400, NOW + 365 * 86_400);
    let cases = [
        (KeyKind::P256, SigAlg::EcdsaSha256, KeyKind::P256),
        (KeyKind::P256, SigAlg::EcdsaSha384, KeyKind::P256),
        (KeyKind::P384, SigAlg::EcdsaSha384, KeyKind::P384),
        (KeyKind::P384, SigAlg::EcdsaSha256, KeyKind::Ed25519),
        (KeyKind::Rsa2048, SigAlg::RsaPkcs1Sha256, KeyKind::Rsa2048),
        (KeyKind::Rsa2048, SigAlg::RsaPkcs1Sha384, KeyKind::P256),
        (KeyKind::Rsa2048, SigAlg::RsaPkcs1Sha512, KeyKind::P256),
        (KeyKind::Rsa2048, SigAlg::RsaPssSha256, KeyKind::P256),
        (KeyKind::Ed25519, SigAlg::Ed25519, KeyKind::P256),
    ];
    for (i, (ca_kind, alg, dev_kind)) in cases.into_iter().enumerate() {
        let label = format!("alg-{i}");
        let root = CertSpec::ca(
            Dn::new().cn(format!("Root {label}")),
            KeyPair::generate(ca_kind, 7, &label),
            nb,
            na,
            None,
        )
        .with_sig_alg(alg)
        .self_signed();
        let dev_key = KeyPair::generate(dev_kind, 7, &format!("{label}-dev"));
        let leaf = CertSpec::device(&format!("dev-{i}"), "Acme", "Sensors", dev_key, nb, na)
            .with_sig_alg(alg)
            .issued_by(&root);
        let mut store = TrustStore::new();
        store.add_anchor_der(&root.der).expect("anchor");
        let r = verify_chain(
            &store,
            &leaf.der,
            &[] as &[Vec<u8>],
            &VerifyOptions::new(UnixTime(NOW)),
        );
        let report = r.unwrap_or_else(|e| panic!("{ca_kind:?} {alg:?} -> {dev_kind:?}: {e}"));
        assert_eq!(
            report.device_id.as_deref(),
            Some(format!("dev-{i}").as_str())
        );
    }
}
