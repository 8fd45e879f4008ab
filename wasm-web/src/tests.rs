//! Native tests of the translation layer (the JavaScript wrappers are tested in Chromium by
//! `web/tests/`).

use super::*;
use chainproof_testkit::{demo_pki, iot_fixtures};

const NOW: i64 = 1_750_000_000;

fn options(at: i64) -> Options {
    Options {
        at: Some(at),
        ..Options::default()
    }
}

fn crls_pem(f: &chainproof_testkit::Fixture) -> Vec<u8> {
    f.crls
        .iter()
        .map(|c| c.pem())
        .collect::<String>()
        .into_bytes()
}

#[test]
fn verdicts_equal_the_core_for_every_iot_fixture() {
    for f in iot_fixtures(NOW) {
        let v = Verifier::with_anchors(f.anchors_pem().as_bytes(), &crls_pem(&f))
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        let got = v
            .verify_json(
                f.leaf_pem().as_bytes(),
                f.intermediates_pem().as_bytes(),
                &options(f.validation_time),
            )
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        assert_eq!(got.valid, f.expect_valid, "{}", f.name);
        assert_eq!(
            got.reason,
            f.expected_code.unwrap_or("ok"),
            "{}: {:?}",
            f.name,
            got.error
        );
    }
}

#[test]
fn missing_time_and_bad_nonce_are_usage_errors() {
    let demo = demo_pki(NOW);
    let v = Verifier::with_anchors(demo.root.pem().as_bytes(), &[]).expect("anchors load");
    let err = v
        .verify_json(demo.root.pem().as_bytes(), &[], &Options::default())
        .expect_err("no time");
    assert_eq!(err.code, "usage");
    assert_eq!(
        challenge_info(&[0; 8], "x", NOW, 60)
            .expect_err("short")
            .code,
        "usage"
    );
}

#[test]
fn possession_passes_once_and_fails_with_another_key() {
    let demo = demo_pki(NOW);
    let dev = &demo.devices[0];
    let v = Verifier::with_anchors(demo.root.pem().as_bytes(), &[]).expect("anchors load");
    let c = challenge_info(&[7; 32], "page", NOW, 60).expect("challenge");
    let blob = blob_of(&c);
    let chain = dev.presented_chain_pem();
    let good = hex_text(
        &dev.leaf
            .key
            .sign(&blob, chainproof_testkit::SigAlg::EcdsaSha256),
    );
    let clone = hex_text(
        &demo.devices[1]
            .leaf
            .key
            .sign(&blob, chainproof_testkit::SigAlg::EcdsaSha256),
    );

    let bad = v
        .possession_json(chain.as_bytes(), &options(NOW), "page", &c.token, &clone)
        .expect("runs");
    assert_eq!(bad.reason, "pop-bad-signature");
    let ok = v
        .possession_json(chain.as_bytes(), &options(NOW), "page", &c.token, &good)
        .expect("runs");
    assert!(ok.valid, "{:?}", ok.error);
    let again = v
        .possession_json(chain.as_bytes(), &options(NOW), "page", &c.token, &good)
        .expect("runs");
    assert_eq!(again.reason, "pop-replayed");
}

/// The bytes a device signs for `c`.
fn blob_of(c: &ChallengeInfo) -> Vec<u8> {
    (0..c.blob_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&c.blob_hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex_text(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn inspection_lists_certificates_or_crls() {
    let demo = demo_pki(NOW);
    let certs = inspection(demo.devices[0].presented_chain_pem().as_bytes()).expect("certs");
    assert_eq!(certs.certificates.len(), 2);
    assert!(certs.certificates[0].subject.contains("sensor-0001"));
    let crls = inspection(demo.crl.pem().as_bytes()).expect("crls");
    assert_eq!(crls.crls.len(), 1);
    assert_eq!(crls.crls[0].revoked, 1);
    assert!(inspection(b"hello").is_err());
}

#[test]
fn rounds_give_the_plain_verdict_for_every_iot_fixture() {
    for f in iot_fixtures(NOW) {
        let v = Verifier::with_anchors(f.anchors_pem().as_bytes(), &crls_pem(&f))
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        let (leaf, extra) = (f.leaf_pem(), f.intermediates_pem());
        let plain = v
            .verify_json(
                leaf.as_bytes(),
                extra.as_bytes(),
                &options(f.validation_time),
            )
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        // A fresh verifier: the first one remembers the signatures it verified.
        let v = Verifier::with_anchors(f.anchors_pem().as_bytes(), &crls_pem(&f))
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        let rounds = verify_with_software(
            &v,
            leaf.as_bytes(),
            extra.as_bytes(),
            &options(f.validation_time),
        )
        .unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        assert_eq!(format!("{plain:?}"), format!("{rounds:?}"), "{}", f.name);
    }
}

#[test]
fn possession_in_rounds_passes_once_and_fails_with_another_key() {
    let demo = demo_pki(NOW);
    let dev = &demo.devices[0];
    let v = Verifier::with_anchors(demo.root.pem().as_bytes(), &[]).expect("anchors load");
    let c = challenge_info(&[9; 32], "page", NOW, 60).expect("challenge");
    let blob = blob_of(&c);
    let sign = |d: &chainproof_testkit::Fixture| {
        hex_text(
            &d.leaf
                .key
                .sign(&blob, chainproof_testkit::SigAlg::EcdsaSha256),
        )
    };
    let chain = dev.presented_chain_pem();
    let check = |sig: &str| {
        let call = PossessionCall::new(chain.as_bytes(), &options(NOW), "page", &c.token, sig)
            .expect("inputs");
        block_on(v.shared.possession_in_rounds(call, &webcrypto::Software)).expect("runs")
    };
    assert_eq!(check(&sign(&demo.devices[1])).reason, "pop-bad-signature");
    assert_eq!(check("not a signature!").reason, "pop-signature-format");
    let ok = check(&sign(dev));
    assert!(ok.valid, "{:?}", ok.error);
    assert_eq!(check(&sign(dev)).reason, "pop-replayed");
}

#[test]
fn peer_names_eku_and_key_usage_options_reach_the_core() {
    let mut o = options(NOW);
    o.peer_names = vec!["dns:example.com".into(), "ip:10.0.0.1".into()];
    o.eku = vec!["serverAuth".into(), "1.3.6.1.5.5.7.3.2".into()];
    o.key_usage = vec!["digitalSignature".into()];
    let core = verify_options(&o).expect("valid options");
    assert_eq!(core.peer_names.len(), 2);
    assert!(matches!(core.purpose, Purpose::Ekus(ref e) if e.len() == 2));
    assert_eq!(core.required_key_usage, ["digitalSignature"]);
    for bad in [
        Options {
            peer_names: vec!["example.com".into()],
            ..options(NOW)
        },
        Options {
            eku: vec!["fastAuth".into()],
            ..options(NOW)
        },
        Options {
            eku: vec!["serverAuth".into()],
            purpose: Some("client".into()),
            ..options(NOW)
        },
    ] {
        assert_eq!(verify_options(&bad).expect_err("refused").code, "usage");
    }
}
