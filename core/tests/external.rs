//! Signature checks answered outside the core (`ExternalSignatures`, the browser module's
//! WebCrypto path): verifying in rounds, with every check answered by the core's own
//! verification, gives exactly the plain verdict on the whole x509-limbo suite and on the IoT
//! fixtures, and the rounds end quickly. The browser tests compare WebCrypto's answers with the
//! core's.

mod common;

use std::sync::Arc;

use chainproof::{
    ExternalScheme, ExternalSignatures, Failure, Report, SignatureCheck, TrustStore, UnixTime,
    VerifyOptions, parse_certificates, verify_chain,
};
use chainproof_testkit::{Fixture, iot_fixture};
use common::limbo_suite::{intermediates, load_suite, now, options, suite_path};

/// Rounds allowed before a test calls it a loop: one per signature check the path builder may
/// make, plus the final one.
const MAX_ROUNDS: usize = chainproof::path::MAX_SIGNATURE_CHECKS + 1;

/// Verify in rounds, answering each check with `answer`; the verdict and the rounds it took.
fn verify_in_rounds(
    store: &TrustStore,
    leaf: &[u8],
    bag: &[Vec<u8>],
    opts: &VerifyOptions,
    answer: impl Fn(&SignatureCheck) -> bool,
) -> (Result<Report, Failure>, usize) {
    let external = Arc::new(ExternalSignatures::new());
    let mut opts = opts.clone();
    opts.external = Some(external.clone());
    for round in 1..=MAX_ROUNDS {
        let verdict = verify_chain(store, leaf, bag, &opts);
        if external.is_complete() {
            return (verdict, round);
        }
        // An unfinished round is never a verdict, and says so.
        let code = verdict.as_ref().err().map(|f| f.code().as_str());
        assert_eq!(code, Some("signature-checks-pending"), "round {round}");
        let pending = external.take_pending();
        assert!(!pending.is_empty(), "an incomplete round asked for nothing");
        for check in pending {
            let valid = answer(&check);
            external.answer(check, valid);
        }
    }
    panic!("no final verdict after {MAX_ROUNDS} rounds");
}

/// An IoT fixture's store, intermediates and options.
fn setup(name: &str) -> (Fixture, TrustStore, Vec<Vec<u8>>, VerifyOptions) {
    let f = iot_fixture(name, 1_767_225_600).unwrap_or_else(|| panic!("fixture {name}"));
    let mut store = TrustStore::new();
    store
        .add_anchors(f.anchors_pem().as_bytes())
        .expect("anchors");
    let bag = f.intermediates.iter().map(|c| c.der.clone()).collect();
    let opts = VerifyOptions::new(UnixTime(f.validation_time));
    (f, store, bag, opts)
}

#[test]
fn rounds_give_the_plain_verdict_on_every_limbo_case() {
    let suite = load_suite(&suite_path());
    let (mut cases, mut with_checks, mut most_rounds) = (0, 0, 0);
    for tc in &suite.testcases {
        let Ok(opts) = options(tc, now()) else {
            continue;
        };
        let mut store = TrustStore::new();
        // The cache would answer the second run from the first one's work.
        store.set_cache(false);
        if tc
            .trusted_certs
            .iter()
            .any(|pem| store.add_anchors(pem.as_bytes()).is_err())
            || tc
                .crls
                .iter()
                .any(|pem| store.add_crls(pem.as_bytes()).is_err())
        {
            continue;
        }
        let Some(leaf) = parse_certificates(tc.peer_certificate.as_bytes())
            .ok()
            .and_then(|mut d| (!d.is_empty()).then(|| d.swap_remove(0)))
        else {
            continue;
        };
        let bag = intermediates(tc);
        let plain = verify_chain(&store, &leaf, &bag, &opts);
        let (rounds_verdict, rounds) = verify_in_rounds(
            &store,
            &leaf,
            &bag,
            &opts,
            SignatureCheck::verify_in_software,
        );
        assert_eq!(
            format!("{plain:?}"),
            format!("{rounds_verdict:?}"),
            "{}: the verdict in rounds differs from the plain one",
            tc.id
        );
        cases += 1;
        if rounds > 1 {
            with_checks += 1;
        }
        most_rounds = most_rounds.max(rounds);
    }
    eprintln!(
        "{cases} limbo cases agree; {with_checks} asked for outside checks; at most {most_rounds} rounds"
    );
    assert!(cases > 9_000, "only {cases} limbo cases ran");
    assert!(
        with_checks > 2_500,
        "only {with_checks} cases used outside checks"
    );
}

#[test]
fn a_three_tier_chain_takes_two_rounds_and_hands_out_both_signatures() {
    for (name, scheme) in [
        ("p256-three-tier", "P-256"),
        ("p384-three-tier", "P-384"),
        ("rsa4096-ca-rsa2048-device", "RSA"),
    ] {
        let (f, store, bag, opts) = setup(name);
        let asked = std::sync::Mutex::new(Vec::new());
        let (verdict, rounds) = verify_in_rounds(&store, &f.leaf.der, &bag, &opts, |c| {
            asked.lock().expect("lock").push(c.scheme);
            c.verify_in_software()
        });
        assert!(verdict.is_ok(), "{name}: {verdict:?}");
        assert_eq!(rounds, 2, "{name}");
        let asked = asked.into_inner().expect("lock");
        assert_eq!(asked.len(), 2, "{name}: {asked:?}");
        let matches = |s: &ExternalScheme| match s {
            ExternalScheme::EcdsaP256(_) => scheme == "P-256",
            ExternalScheme::EcdsaP384(_) => scheme == "P-384",
            ExternalScheme::RsaPkcs1(_) => scheme == "RSA",
        };
        assert!(asked.iter().all(matches), "{name}: {asked:?}");
        // Answers land in the store's memory like the core's own: a second call asks nothing.
        let (again, rounds) = verify_in_rounds(&store, &f.leaf.der, &bag, &opts, |_| {
            panic!("{name}: a remembered signature was asked for again")
        });
        assert!(again.is_ok() && rounds == 1, "{name}");
    }
}

#[test]
fn a_refused_check_fails_the_chain_as_a_bad_signature_does() {
    let (f, store, bag, opts) = setup("p256-three-tier");
    let (verdict, _) = verify_in_rounds(&store, &f.leaf.der, &bag, &opts, |_| false);
    let failure = verdict.expect_err("every signature refused");
    // The device certificate names its issuer's key, so its signature is at fault.
    assert_eq!(failure.code().as_str(), "bad-signature", "{failure:?}");
    // A provisional pass never reaches the store's memory.
    let (verdict, _) = verify_in_rounds(
        &store,
        &f.leaf.der,
        &bag,
        &opts,
        SignatureCheck::verify_in_software,
    );
    assert!(verdict.is_ok(), "{verdict:?}");
}

#[test]
fn ecdsa_checks_carry_fixed_size_r_and_s() {
    let (f, store, bag, opts) = setup("p384-three-tier");
    let (verdict, _) = verify_in_rounds(&store, &f.leaf.der, &bag, &opts, |c| {
        assert_eq!(c.signature.len(), 96, "P-384 r ‖ s");
        assert!(c.message.len() > 100 && c.spki.len() > 90);
        c.verify_in_software()
    });
    assert!(verdict.is_ok(), "{verdict:?}");
}
