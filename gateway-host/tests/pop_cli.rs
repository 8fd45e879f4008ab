//! `chainproof pop` and `chainproof ca` end to end: the binary on testkit fixtures, with the
//! OpenSSL CLI making keys in other formats and the verification certificates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chainproof_testkit::{KeyKind, KeyPair, iot_fixture};
use tempfile::TempDir;

/// 2026-01-01T00:00:00Z: fixtures are generated around this instant.
const NOW: i64 = 1_767_225_600;

fn chainproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .args(args)
        .output()
        .expect("run the chainproof binary")
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fixture written to a temporary directory.
struct Device {
    dir: TempDir,
}

impl Device {
    fn new(name: &str) -> Device {
        let dir = tempfile::tempdir().expect("temporary directory");
        iot_fixture(name, NOW)
            .expect("fixture exists")
            .write_to(dir.path())
            .expect("write fixture");
        Device { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn verify(&self, challenge: &str, signature: &str, extra: &[&str]) -> Output {
        self.verify_at(NOW + 5, challenge, signature, extra)
    }

    fn verify_at(&self, at: i64, challenge: &str, signature: &str, extra: &[&str]) -> Output {
        let anchors = self.file("anchors.pem");
        let inter = self.file("intermediates.pem");
        let leaf = self.file("leaf.pem");
        let at = at.to_string();
        let mut args = vec![
            "pop",
            "verify",
            "--at",
            &at,
            "--trust",
            s(&anchors),
            "--untrusted",
            s(&inter),
            "--challenge",
            challenge,
            "--signature",
            signature,
        ];
        args.extend_from_slice(extra);
        args.push(s(&leaf));
        chainproof(&args)
    }
}

fn challenge(extra: &[&str]) -> String {
    let at = NOW.to_string();
    let mut args = vec!["pop", "challenge", "--at", &at];
    args.extend_from_slice(extra);
    let out = chainproof(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_owned()
}

fn sign(key: &Path, token: &str, extra: &[&str]) -> String {
    let mut args = vec!["pop", "sign", "--key", s(key)];
    args.extend_from_slice(extra);
    args.push(token);
    let out = chainproof(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_owned()
}

#[test]
fn challenge_sign_verify_round_trip_in_every_form() {
    let d = Device::new("p256-three-tier");
    let key = d.file("leaf.key");
    // Fresh nonces from the OS: two challenges differ.
    let token = challenge(&[]);
    assert_ne!(token, challenge(&[]));

    let der_b64 = sign(&key, &token, &[]);
    let out = d.verify(&token, &der_b64, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("ECDSA P-256 with SHA-256, DER"));
    assert!(stdout(&out).contains("sensor-0001"));

    let raw_hex = sign(&key, &token, &["--format", "raw", "--encoding", "hex"]);
    assert_eq!(raw_hex.len(), 128);
    let out = d.verify(&token, &raw_hex, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["valid"], true);
    assert_eq!(json["report"]["signature"], "ecdsa-p256-sha256-raw");

    // A SEC1 key file, as `openssl ecparam -genkey` users have.
    let sec1 = d.file("leaf-sec1.pem");
    openssl(&["ec", "-in", s(&key), "-out", s(&sec1)]);
    let sig = sign(&sec1, &token, &[]);
    assert_eq!(d.verify(&token, &sig, &[]).status.code(), Some(0));
}

#[test]
fn rsa_keys_in_pkcs8_and_pkcs1_with_both_paddings() {
    let d = Device::new("rsa4096-ca-rsa2048-device");
    let token = challenge(&[]);
    let pkcs1 = d.file("leaf-pkcs1.pem");
    openssl(&[
        "rsa",
        "-in",
        s(&d.file("leaf.key")),
        "-traditional",
        "-out",
        s(&pkcs1),
    ]);
    for key in [d.file("leaf.key"), pkcs1] {
        for padding in ["pkcs1", "pss"] {
            let sig = sign(&key, &token, &["--rsa-padding", padding]);
            let out = d.verify(&token, &sig, &[]);
            assert_eq!(out.status.code(), Some(0), "{padding}: {}", stdout(&out));
        }
    }
}

#[test]
fn rejections_exit_1_with_the_code() {
    let d = Device::new("p256-three-tier");
    let token = challenge(&[]);

    // A copied certificate: the answer comes from another key.
    let thief = d.file("thief.key");
    std::fs::write(
        &thief,
        KeyPair::generate(KeyKind::P256, 42, "pop-cli/thief").private_pkcs8_pem(),
    )
    .unwrap();
    let out = d.verify(&token, &sign(&thief, &token, &[]), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("REJECTED: pop-bad-signature"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("hint:"));

    let good = sign(&d.file("leaf.key"), &token, &[]);
    // Another verifier's name.
    let out = d.verify(&token, &good, &["--audience", "someone-else"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("pop-wrong-audience"));

    // Too late: the challenge lives 60 s.
    let out = d.verify_at(NOW + 60, &token, &good, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("pop-expired"));

    // Not a signature of any form the key uses.
    let out = d.verify(&token, "AAAA", &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["reason"], "pop-signature-format");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 bytes")
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = Device::new("p256-three-tier");
    let out = d.verify("not-a-token", "AAAA", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pop-malformed-challenge"));
    let out = chainproof(&["pop", "challenge", "--ttl", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = chainproof(&[
        "pop",
        "sign",
        "--key",
        s(&d.file("leaf.pem")),
        &challenge(&[]),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PEM private key"));
}

#[test]
fn ca_verification_code_and_verify_pop() {
    let out = chainproof(&["ca", "verification-code"]);
    assert_eq!(out.status.code(), Some(0));
    let code = stdout(&out).trim().to_owned();
    assert_eq!(code.len(), 40);
    assert!(code.chars().all(|c| c.is_ascii_hexdigit()));

    // A CA made with OpenSSL, then the verification certificate exactly as documented.
    let dir = tempfile::tempdir().unwrap();
    let f = |n: &str| dir.path().join(n);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&f("ca.key")),
        "-subj",
        "/O=Acme/CN=Acme Fleet CA",
        "-days",
        "30",
        "-out",
        s(&f("ca.pem")),
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        s(&f("ca.key")),
        "-subj",
        &format!("/CN={code}"),
        "-out",
        s(&f("v.csr")),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&f("v.csr")),
        "-CA",
        s(&f("ca.pem")),
        "-CAkey",
        s(&f("ca.key")),
        "-CAcreateserial",
        "-out",
        s(&f("v.pem")),
        "-days",
        "1",
    ]);
    let verify = |cert: &Path, code: &str| {
        chainproof(&[
            "ca",
            "verify-pop",
            "--ca",
            s(&f("ca.pem")),
            "--code",
            code,
            s(cert),
        ])
    };
    let out = verify(&f("v.pem"), &code);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("holds its private key"));

    let out = verify(&f("ca.pem"), &code);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("pop-ca-uploaded"));

    let out = verify(&f("v.pem"), "0000000000000000000000000000000000000000");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("pop-code-mismatch"));

    let out = chainproof(&[
        "ca",
        "verify-pop",
        "--json",
        "--ca",
        s(&f("ca.pem")),
        "--code",
        &code,
        s(&f("ca.key")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["reason"], "private-key-in-input");

    let out = verify(&f("missing.pem"), &code);
    assert_eq!(out.status.code(), Some(2));
}
