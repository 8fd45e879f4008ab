//! Fuzz the fleet policy file: arbitrary text through `FleetPolicy::from_toml` (the TOML
//! parser, the hand-written reader of `core/src/fleet/file.rs` and every check of the loaded
//! policy). Files the policy names resolve to `fuzz/anchor.pem` when they end in `.pem` and
//! are missing otherwise. Seeds: `fuzz/seeds-policy/`.

#![no_main]

use chainproof::{ErrorCode, FleetPolicy};
use libfuzzer_sys::fuzz_target;

const ANCHOR_PEM: &[u8] = include_bytes!("../anchor.pem");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let resolve = |name: &str| {
        if name.ends_with(".pem") {
            Ok(ANCHOR_PEM.to_vec())
        } else {
            Err(format!("no file {name:?} in the fuzzer"))
        }
    };
    match FleetPolicy::from_toml(text, &resolve) {
        Ok(policy) => {
            let _ = policy.counts();
        }
        // A bad policy is always `policy-invalid` (or too large), with words and a hint.
        Err(e) => {
            assert!(
                matches!(e.code(), ErrorCode::PolicyInvalid | ErrorCode::InputTooLarge),
                "{e:?}"
            );
            assert!(!e.to_string().is_empty());
            assert!(!e.hint().is_empty());
        }
    }
});
