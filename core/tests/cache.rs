//! The trust store's verification memory: verified signatures and CA key tables are reused,
//! bounded, never change a verdict, and can be turned off.

use chainproof::{ErrorCode, TrustStore, UnixTime, VerifyOptions, verify_chain};
use chainproof_testkit::{Fixture, iot_fixture};

/// 2026-01-01T00:00:00Z: fixtures are generated relative to this instant.
const NOW: i64 = 1_767_225_600;

fn fixture(name: &str) -> Fixture {
    iot_fixture(name, NOW).unwrap_or_else(|| panic!("fixture {name}"))
}

fn store(f: &Fixture, cache: bool) -> TrustStore {
    let mut s = TrustStore::new();
    s.set_cache(cache);
    s.add_anchors(f.anchors_pem().as_bytes()).expect("anchors");
    s
}

fn verdict(store: &TrustStore, f: &Fixture) -> Result<(), ErrorCode> {
    let bag: Vec<Vec<u8>> = f.intermediates.iter().map(|c| c.der.clone()).collect();
    let opts = VerifyOptions::new(UnixTime(f.validation_time));
    verify_chain(store, &f.leaf.der, &bag, &opts)
        .map(|_| ())
        .map_err(|e| e.code())
}

#[test]
fn verified_signatures_and_key_tables_are_reused_without_changing_verdicts() {
    let good = fixture("p256-three-tier");
    let forged = fixture("corrupted-signature");
    assert_eq!(
        good.anchors_pem(),
        forged.anchors_pem(),
        "both fixtures come from one fleet"
    );
    let s = store(&good, true);
    assert_eq!(s.cache().verified_len(), 0);
    assert_eq!(verdict(&s, &good), Ok(()));
    // Device by intermediate, intermediate by root.
    assert_eq!(s.cache().verified_len(), 2);
    assert_eq!(s.cache().table_bytes(), 0, "no table for a key used once");
    assert_eq!(verdict(&s, &good), Ok(()));
    // The second time both signatures were remembered: no key was used again.
    assert_eq!(s.cache().table_bytes(), 0);

    // The forged device under the same intermediate: the intermediate's signature is
    // remembered, the device's is checked and refused, and not remembered.
    for _ in 0..3 {
        assert_eq!(verdict(&s, &forged), Err(ErrorCode::BadSignature));
    }
    assert_eq!(s.cache().verified_len(), 2);
    // The intermediate's key has now verified (or refused) several signatures: it has a table,
    // and the verdicts with it stay the same.
    assert!(s.cache().table_bytes() > 0);
    assert_eq!(verdict(&s, &forged), Err(ErrorCode::BadSignature));
    assert_eq!(verdict(&s, &good), Ok(()));

    // A clone shares the memory; a new store does not.
    assert_eq!(s.clone().cache().verified_len(), 2);
    assert_eq!(store(&good, true).cache().verified_len(), 0);
}

#[test]
fn without_the_cache_nothing_is_remembered_and_verdicts_are_the_same() {
    let s = store(&fixture("p256-three-tier"), false);
    for name in ["p256-three-tier", "corrupted-signature", "p256-three-tier"] {
        let f = fixture(name);
        let with_cache = verdict(&store(&f, true), &f);
        assert_eq!(verdict(&s, &f), with_cache, "{name}");
    }
    assert_eq!(s.cache().verified_len(), 0);
    assert_eq!(s.cache().table_bytes(), 0);
}

#[test]
fn decoded_intermediates_are_remembered_bounded_and_give_the_same_report() {
    use chainproof::trust::DECODED_INTERMEDIATES_CAPACITY;
    let f = fixture("p256-three-tier");
    let bag: Vec<Vec<u8>> = f.intermediates.iter().map(|c| c.der.clone()).collect();
    let opts = VerifyOptions::new(UnixTime(f.validation_time));
    let warm = store(&f, true);
    let cold = store(&f, false);
    let expected = verify_chain(&cold, &f.leaf.der, &bag, &opts).expect("valid");
    for _ in 0..3 {
        let report = verify_chain(&warm, &f.leaf.der, &bag, &opts).expect("valid");
        assert_eq!(
            report.chain, expected.chain,
            "same summaries from a remembered decoding"
        );
    }
    assert_eq!(warm.cache().decoded_len(), bag.len());
    assert_eq!(cold.cache().decoded_len(), 0, "off remembers nothing");
    // Many distinct certificates in bags: the memory stays bounded.
    let others: Vec<Vec<u8>> = chainproof_testkit::iot_fixtures(NOW)
        .iter()
        .flat_map(|g| g.anchors.iter().chain(&g.intermediates).chain([&g.leaf]))
        .map(|c| c.der.clone())
        .collect();
    for der in &others {
        let _ = verify_chain(&warm, &f.leaf.der, &[der], &opts);
    }
    assert!(warm.cache().decoded_len() <= DECODED_INTERMEDIATES_CAPACITY);
    assert_eq!(
        verify_chain(&warm, &f.leaf.der, &bag, &opts).map(|r| r.chain),
        Ok(expected.chain)
    );
}
