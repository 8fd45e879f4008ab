//! Fuzz the whole validation entry point: CRL parsing, bag splitting, certificate decoding,
//! path building and every profile check, against a fixed trust anchor.
//!
//! Input layout (see docs/fuzzing.md; `make_seeds.py` writes seeds in this layout):
//!
//! ```text
//! byte 0          options: bits 0-1 purpose (client/server/any/custom EKU),
//!                 bit 2 identity none, bit 3 cap intermediates at bits 4-7
//! bytes 1-2       leaf length L (u16, little endian)
//! bytes 3-4       CRL length C (u16, little endian)
//! next L bytes    the leaf (raw DER, exactly as a device would send it)
//! next C bytes    CRLs (PEM or DER; may be empty)
//! the rest        the untrusted bag (PEM or DER certificates)
//! ```

#![no_main]

use std::sync::OnceLock;

use chainproof::{IdentitySource, Purpose, TrustStore, UnixTime, VerifyOptions, verify_chain};
use libfuzzer_sys::fuzz_target;

/// The root CAs of the IoT fixtures from `chainproof fixtures --at 2025-06-15T00:00:00Z`
/// (the testkit is deterministic, so the same command regenerates them).
const ANCHOR_PEM: &[u8] = include_bytes!("../anchor.pem");

/// The time `anchor.pem` and the seeds were generated for, so valid seeds stay valid.
const FUZZ_TIME: UnixTime = UnixTime(1_749_945_600);

fn base_store() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut store = TrustStore::new();
        // A broken committed anchor is a bug in the harness, not a finding.
        store
            .add_anchors(ANCHOR_PEM)
            .expect("fuzz/anchor.pem holds a valid anchor");
        store
    })
}

/// Take `n` bytes off the front, or everything that is left.
fn take<'a>(input: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(input.len());
    let (head, tail) = input.split_at(n);
    *input = tail;
    head
}

fn read_u16(input: &mut &[u8]) -> usize {
    let b = take(input, 2);
    usize::from(b.first().copied().unwrap_or(0)) | usize::from(b.get(1).copied().unwrap_or(0)) << 8
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let control = take(&mut rest, 1).first().copied().unwrap_or(0);
    let leaf_len = read_u16(&mut rest);
    let crl_len = read_u16(&mut rest);
    let leaf = take(&mut rest, leaf_len);
    let crls = take(&mut rest, crl_len);
    let bag_bytes = rest;

    let mut store = base_store().clone();
    if !crls.is_empty() {
        // Bad CRLs are an expected error; what matters is that nothing panics.
        let _ = store.add_crls(crls);
    }
    let bag = chainproof::parse_certificates(bag_bytes).unwrap_or_default();

    let mut opts = VerifyOptions::new(FUZZ_TIME);
    opts.purpose = match control & 0b11 {
        0 => Purpose::Client,
        1 => Purpose::Server,
        2 => Purpose::Any,
        // id-kp-codeSigning: a purpose no device certificate should have.
        _ => Purpose::Ekus(vec![const_oid::ObjectIdentifier::new_unwrap(
            "1.3.6.1.5.5.7.3.3",
        )]),
    };
    if control & 0b100 != 0 {
        opts.identity = IdentitySource::None;
    }
    if control & 0b1000 != 0 {
        opts.max_intermediates = Some(usize::from(control >> 4));
    }

    let verdict = verify_chain(&store, leaf, &bag, &opts);
    // Every rejection must explain itself: a code, a message and a hint.
    if let Err(failure) = verdict {
        assert!(!failure.code().as_str().is_empty());
        assert!(!failure.message().is_empty());
        assert!(!failure.hint().is_empty());
    }
});
