//! `chainproof verify --engine wasm|native`: the same output from both engines, and a clear
//! exit-2 error naming the build command when the component is missing.

use std::path::Path;
use std::process::{Command, Output};

/// 2026-01-01T00:00:00Z, inside the generated fixtures' validity.
const AT: &str = "1767225600";

fn chainproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .args(args)
        .env_remove("CHAINPROOF_COMPONENT")
        .output()
        .expect("run chainproof")
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    let anchors = dir.join("anchors.pem");
    let inter = dir.join("intermediates.pem");
    let leaf = dir.join("leaf.pem");
    let mut args = vec!["verify", "--json", "--at", AT];
    args.extend(["--trust", anchors.to_str().expect("utf-8 path")]);
    if std::fs::metadata(&inter).is_ok_and(|m| m.len() > 0) {
        args.extend(["--untrusted", inter.to_str().expect("utf-8 path")]);
    }
    args.extend_from_slice(extra);
    args.push(leaf.to_str().expect("utf-8 path"));
    chainproof(&args)
}

#[test]
fn both_engines_print_the_same_verdict() {
    let out = tempfile::tempdir().expect("tempdir");
    let root = out.path().to_str().expect("utf-8 path");
    assert!(
        chainproof(&["fixtures", "--out", root, "--at", AT])
            .status
            .success()
    );
    let mut compared = 0;
    for name in [
        "p256-three-tier",
        "p384-three-tier",
        "expired-leaf",
        "missing-intermediate",
    ] {
        let dir = out.path().join(name);
        if !dir.join("leaf.pem").is_file() {
            continue;
        }
        let native = verify(&dir, &["--engine", "native"]);
        let wasm = verify(&dir, &["--engine", "wasm"]);
        let default = verify(&dir, &[]);
        assert_eq!(
            String::from_utf8_lossy(&native.stdout),
            String::from_utf8_lossy(&wasm.stdout),
            "{name}: stderr {}",
            String::from_utf8_lossy(&wasm.stderr)
        );
        assert_eq!(native.status.code(), wasm.status.code(), "{name}");
        assert_eq!(wasm.stdout, default.stdout, "{name}: wasm is the default");
        compared += 1;
    }
    assert!(
        compared >= 2,
        "only {compared} fixtures were found to compare"
    );
}

#[test]
fn a_missing_component_exits_2_with_the_build_command() {
    let out = tempfile::tempdir().expect("tempdir");
    let root = out.path().to_str().expect("utf-8 path");
    assert!(
        chainproof(&["fixtures", "--out", root, "--at", AT])
            .status
            .success()
    );
    let missing = out.path().join("nowhere.wasm");
    let o = verify(
        &out.path().join("p256-three-tier"),
        &["--component", missing.to_str().expect("utf-8 path")],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cargo build --release --target wasm32-wasip2 -p chainproof-component"),
        "{err}"
    );
    assert!(err.contains("nowhere.wasm"), "{err}");
}
