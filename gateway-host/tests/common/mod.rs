//! Shared by the engine tests: the runtime and the compiled component, built once per test
//! binary. A missing component fails the tests with the command that builds it.

#![allow(dead_code)] // each test binary uses part of this

use std::sync::{Arc, OnceLock};

use chainproof::{TrustStore, UnixTime, VerifyOptions};
use chainproof_gateway::engine::{self, Compiled, Runtime, TrustSource};
use chainproof_testkit::Fixture;

/// 2026-01-01T00:00:00Z: fixtures are generated relative to this instant.
pub const NOW: i64 = 1_767_225_600;

/// The runtime and the component every test of this binary shares (compiled once).
pub fn component() -> (Arc<Runtime>, Compiled) {
    static C: OnceLock<(Arc<Runtime>, Compiled)> = OnceLock::new();
    C.get_or_init(|| {
        let path = engine::find_component(None).unwrap_or_else(|tried| {
            panic!(
                "the validator component is missing (looked for {tried:?}); build it with `{}` \
                 (cargo xtask test does)",
                engine::BUILD_COMMAND
            )
        });
        let runtime = Arc::new(Runtime::new().expect("a wasmtime engine"));
        let compiled = runtime
            .compile_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (runtime, compiled)
    })
    .clone()
}

/// A fixture's trust as bytes.
pub fn source(f: &Fixture) -> TrustSource {
    TrustSource::Anchors {
        anchors: vec![f.anchors_pem().into_bytes()],
        crls: f.crls.iter().map(|c| c.der.clone()).collect(),
    }
}

/// A fixture's intermediates as DER.
pub fn bag(f: &Fixture) -> Vec<Vec<u8>> {
    f.intermediates.iter().map(|c| c.der.clone()).collect()
}

/// The options the fixtures are judged with.
pub fn options(f: &Fixture) -> VerifyOptions {
    VerifyOptions::new(UnixTime(f.validation_time))
}

/// The fixture's anchors as a native store (to check the fixture itself).
pub fn native_store(f: &Fixture) -> TrustStore {
    let mut s = TrustStore::new();
    s.add_anchors(f.anchors_pem().as_bytes()).expect("anchors");
    s
}
