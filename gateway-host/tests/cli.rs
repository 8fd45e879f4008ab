//! The `chainproof` binary, run on chains the testkit generates into a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chainproof_testkit::demo_pki;
use tempfile::TempDir;

/// 2025-06-15T00:00:00Z: fixtures are generated around this time and verified at it.
const NOW: i64 = 1_749_945_600;

/// The demo fleet written to a fresh temporary directory (P-256 only, so it is quick).
struct Demo {
    dir: TempDir,
}

impl Demo {
    fn new() -> Demo {
        let dir = tempfile::tempdir().expect("temporary directory");
        demo_pki(NOW)
            .write_to(dir.path())
            .expect("write the demo fleet");
        Demo { dir }
    }

    /// A file of device `id`'s fixture directory.
    fn device(&self, id: &str, file: &str) -> PathBuf {
        self.dir.path().join("devices").join(id).join(file)
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root.pem")
    }
}

fn chainproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .args(args)
        .output()
        .expect("run the chainproof binary")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn verify(demo: &Demo, id: &str, extra: &[&str]) -> Output {
    let root = demo.root();
    let inter = demo.device(id, "intermediates.pem");
    let leaf = demo.device(id, "leaf.pem");
    let at = NOW.to_string();
    let mut args = vec!["verify", "--at", &at, "--trust", s(&root)];
    if std::fs::metadata(&inter)
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        args.extend(["--untrusted", s(&inter)]);
    }
    args.extend_from_slice(extra);
    args.push(s(&leaf));
    chainproof(&args)
}

#[test]
fn valid_chain_exits_0_and_prints_the_device_id() {
    let demo = Demo::new();
    let out = verify(&demo, "sensor-0001", &[]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {text}\nstderr: {}",
        stderr(&out)
    );
    assert!(text.starts_with("ACCEPTED"), "{text}");
    assert!(text.contains("device ID:  sensor-0001"), "{text}");
    assert!(text.contains("(trust anchor)"), "{text}");
}

#[test]
fn the_leaf_file_may_hold_the_whole_chain() {
    let demo = Demo::new();
    let at = NOW.to_string();
    let chain = demo.device("sensor-0001", "chain.pem");
    let root = demo.root();
    let out = chainproof(&["verify", "--at", &at, "--trust", s(&root), s(&chain)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn missing_intermediate_exits_1_with_the_hint() {
    let demo = Demo::new();
    let out = verify(&demo, "sensor-0005", &[]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {text}\nstderr: {}",
        stderr(&out)
    );
    assert!(text.starts_with("REJECTED: unknown-issuer"), "{text}");
    assert!(text.contains("did not send its intermediate"), "{text}");
}

#[test]
fn revoked_device_is_rejected_with_the_crl() {
    let demo = Demo::new();
    let crl = demo.dir.path().join("crl.pem");
    let out = verify(&demo, "sensor-0003", &["--crl", s(&crl)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("REJECTED: revoked"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn expected_device_id_must_match() {
    let demo = Demo::new();
    let out = verify(&demo, "sensor-0001", &["--device-id", "sensor-0001"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = verify(&demo, "sensor-0001", &["--device-id", "sensor-0002"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("device-id-mismatch"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_output_parses_and_has_valid_and_reason() {
    let demo = Demo::new();
    let out = verify(&demo, "sensor-0001", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["valid"], true);
    assert_eq!(v["reason"], "ok");
    assert_eq!(v["report"]["device_id"], "sensor-0001");
    assert!(v["error"].is_null());

    let out = verify(&demo, "sensor-0005", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["valid"], false);
    assert_eq!(v["reason"], "unknown-issuer");
    assert_eq!(v["error"]["code"], "unknown-issuer");
    assert!(
        v["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("intermediate"))
    );
    assert!(v["report"].is_null());
}

#[test]
fn a_private_key_exits_2_naming_the_file() {
    let demo = Demo::new();
    let key = demo.device("sensor-0001", "leaf.key");
    let root = demo.root();
    let out = chainproof(&["verify", "--trust", s(&root), s(&key)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("leaf.key") && err.contains("private key"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_file_exits_2_naming_the_file() {
    let demo = Demo::new();
    let leaf = demo.device("sensor-0001", "leaf.pem");
    let out = chainproof(&["verify", "--trust", "/nonexistent/roots.pem", s(&leaf)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/roots.pem") && err.contains("no such file"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_pem_and_bad_arguments_exit_2() {
    let demo = Demo::new();
    let garbage = demo.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").expect("write");
    let root = demo.root();
    let out = chainproof(&["verify", "--trust", s(&root), s(&garbage)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("garbage.pem"), "{}", stderr(&out));

    let leaf = demo.device("sensor-0001", "leaf.pem");
    let out = chainproof(&["verify", "--at", "yesterday", "--trust", s(&root), s(&leaf)]);
    assert_eq!(out.status.code(), Some(2));
    let out = chainproof(&[
        "verify",
        "--peer-name",
        "sensor",
        "--trust",
        s(&root),
        s(&leaf),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn inspect_shows_the_sha256_thumbprint() {
    let demo = Demo::new();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(demo.device("sensor-0001", "fixture.json")).expect("fixture.json"),
    )
    .expect("fixture.json parses");
    let sha256 = manifest["leaf_sha256"]
        .as_str()
        .expect("leaf_sha256")
        .to_uppercase();

    let chain = demo.device("sensor-0001", "chain.pem");
    let crl = demo.dir.path().join("crl.pem");
    let out = chainproof(&["inspect", s(&chain), s(&crl)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains(&sha256), "{text}");
    assert!(text.contains("2 certificate(s)"), "{text}");
    assert!(text.contains("CRL issued by"), "{text}");

    let out = chainproof(&["inspect", "--json", s(&chain)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["files"][0]["certificates"][0]["sha256"], sha256.as_str());
}

#[test]
fn fixtures_writes_a_directory_per_fixture() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let at = NOW.to_string();
    let out = chainproof(&["fixtures", "--out", s(dir.path()), "--at", &at]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let valid = dir.path().join("p256-three-tier");
    for file in [
        "anchors.pem",
        "intermediates.pem",
        "leaf.pem",
        "fixture.json",
    ] {
        assert!(valid.join(file).is_file(), "missing {file}");
    }
    assert!(
        dir.path()
            .join("demo/devices/sensor-0001/leaf.pem")
            .is_file()
    );
    let out = chainproof(&[
        "verify",
        "--at",
        &at,
        "--trust",
        s(&valid.join("anchors.pem")),
        "--untrusted",
        s(&valid.join("intermediates.pem")),
        s(&valid.join("leaf.pem")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

fn write_policy(demo: &Demo, body: &str) -> PathBuf {
    let path = demo.dir.path().join("policy.toml");
    std::fs::write(&path, body).expect("write the policy");
    path
}

#[test]
fn verify_with_a_policy_prints_the_enrollment_and_route() {
    let demo = Demo::new();
    let policy = write_policy(
        &demo,
        "version = 1\n[[group]]\nid = \"acme\"\nanchors_file = \"root.pem\"\nroute = \"eu\"\n\n[revocation]\ndeny_device_ids = [\"sensor-0002\"]\n",
    );
    let at = NOW.to_string();
    let run = |id: &str| {
        let inter = demo.device(id, "intermediates.pem");
        let leaf = demo.device(id, "leaf.pem");
        chainproof(&[
            "verify",
            "--at",
            &at,
            "--policy",
            s(&policy),
            "--untrusted",
            s(&inter),
            s(&leaf),
        ])
    };
    let out = run("sensor-0001");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("enrollment: group acme"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("route:      eu"), "{}", stdout(&out));
    let out = run("sensor-0002");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("deny_device_ids"), "{}", stdout(&out));
}

#[test]
fn verify_rejects_policy_together_with_trust() {
    let demo = Demo::new();
    let policy = write_policy(&demo, "version = 1\n");
    let leaf = demo.device("sensor-0001", "leaf.pem");
    let root = demo.root();
    let out = chainproof(&[
        "verify",
        "--policy",
        s(&policy),
        "--trust",
        s(&root),
        s(&leaf),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn policy_check_summarises_or_names_the_line() {
    let demo = Demo::new();
    let good = write_policy(
        &demo,
        "version = 1\n[[group]]\nid = \"acme\"\nanchors_file = \"root.pem\"\ntags = [\"a\"]\n",
    );
    let out = chainproof(&["policy", "check", s(&good)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("1 group(s)"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("\"acme\": 1 anchor(s), enabled"),
        "{}",
        stdout(&out)
    );

    let bad = write_policy(
        &demo,
        "version = 1\n[[group]]\nid = \"acme\"\nanchors_file = \"root.pem\"\nenabeld = false\n",
    );
    let out = chainproof(&["policy", "check", s(&bad)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("policy-invalid"), "{}", stdout(&out));
    assert!(stdout(&out).contains("line 5"), "{}", stdout(&out));

    let missing = demo.dir.path().join("nope.toml");
    let out = chainproof(&["policy", "check", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));
}
