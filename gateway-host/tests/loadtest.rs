//! `chainproof loadtest` on a small fleet (20 devices, one bad actor of each kind) against the
//! real gateway and against mosquitto with `require_certificate true`: the counts and the
//! false accepts, never the timings (docs/gateway.md, "Load").

mod gateway_common;

use std::path::Path;
use std::process::{Command, Output};

use gateway_common::{Broker, Gateway, free_port, wait_for_port};
use serde_json::Value;

const DEVICES: &str = "20";
/// One bad actor of each of the five kinds.
const BAD_PERCENT: &str = "25";

fn chainproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .args(args)
        .output()
        .expect("run chainproof")
}

fn generate(dir: &Path, upstream: u16, mosquitto: u16) {
    let out = chainproof(&[
        "loadtest",
        "--generate",
        dir.to_str().expect("utf-8 path"),
        "--devices",
        DEVICES,
        "--bad-percent",
        BAD_PERCENT,
        "--gateway-port",
        "0",
        "--mosquitto-port",
        &mosquitto.to_string(),
        "--upstream",
        &format!("127.0.0.1:{upstream}"),
    ]);
    assert!(out.status.success(), "{out:?}");
}

/// Run the load against `port`, every device at once and held; returns the exit status and
/// the JSON report.
fn load(dir: &Path, port: u16) -> (Option<i32>, Value) {
    load_with(dir, port, &["--concurrency", DEVICES, "--hold"])
}

/// Run the load against `port` with `extra` arguments.
fn load_with(dir: &Path, port: u16, extra: &[&str]) -> (Option<i32>, Value) {
    let json = dir.join(format!("result-{port}-{}.json", extra.join("")));
    let target = format!("127.0.0.1:{port}");
    let mut args = vec![
        "loadtest",
        "--target",
        &target,
        "--credentials",
        dir.to_str().expect("utf-8 path"),
        "--json",
        json.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let out = chainproof(&args);
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no JSON ({e}): {out:?}"));
    let report: Value = serde_json::from_str(&text).expect("JSON report");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    (out.status.code(), report)
}

fn kind<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["by_kind"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["kind"] == name))
        .unwrap_or_else(|| panic!("no kind {name} in {report}"))
}

/// mosquitto started as root reads its files as its own user.
fn open_to_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn the_gateway_admits_every_honest_device_and_no_bad_actor() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let upstream = Broker::start(&dir.join("upstream"));
    generate(dir, upstream.port, free_port());
    let gateway = Gateway::start(&dir.join("gateway.toml"));
    let (status, r) = load(dir, gateway.port);
    assert_eq!(r["false_accepts"], 0, "{r}");
    assert_eq!(r["false_rejects"], 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(15), Some(5))
    );
    for bad in [
        "untrusted-issuer",
        "expired",
        "revoked",
        "wrong-key",
        "client-id-mismatch",
    ] {
        assert_eq!(kind(&r, bad)["rejected"], 1, "{bad}: {r}");
    }
    // The client-ID check is the gateway's, after the handshake: CONNACK refuses it.
    let refusal = r["connections"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["kind"] == "client-id-mismatch"))
        .map(|c| c["reason"].clone());
    assert_eq!(refusal, Some(Value::from("CONNACK BadClientId")));
    assert_eq!(r["held"]["open_at_peak"], 15, "{r}");
    assert_eq!(r["held"]["alive_at_peak"], 15, "{r}");
    assert_eq!(status, Some(0));
    assert!(gateway.count_log("device-id-mismatch") >= 1);

    // --background: 10 honest devices connect first and stay open while the other 10 (5
    // honest, the 5 bad actors) are measured, 2 in flight.
    let (status, r) = load_with(
        dir,
        gateway.port,
        &["--background", "10", "--concurrency", "2"],
    );
    assert_eq!(r["background"]["requested"], 10, "{r}");
    assert_eq!(r["background"]["open"], 10, "{r}");
    assert_eq!(r["background"]["alive_after"], 10, "{r}");
    assert_eq!(r["devices"], 10, "{r}");
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(5), Some(5)),
        "{r}"
    );
    assert_eq!(r["false_accepts"], 0, "{r}");
    assert_eq!(status, Some(0));
    // More background devices than honest ones is a usage error, before any connection.
    let out = chainproof(&[
        "loadtest",
        "--target",
        &format!("127.0.0.1:{}", gateway.port),
        "--credentials",
        dir.to_str().expect("utf-8 path"),
        "--background",
        "16",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--background 16: the manifest has only 15 devices expected to be accepted"),
        "{err}"
    );
}

#[test]
fn mosquitto_with_the_same_ca_and_crl_admits_the_client_id_mismatch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    open_to_all(dir);
    let port = free_port();
    generate(dir, free_port(), port);
    let mut child = Command::new("mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto (cargo xtask setup installs it)");
    wait_for_port(port, std::time::Duration::from_secs(10));
    let (status, r) = load(dir, port);
    let _ = child.kill();
    let _ = child.wait();
    // Chain, expiry, CRL and key are checked by OpenSSL; the client ID is not tied to the
    // certificate, so that one bad actor gets in: a false accept, counted as such.
    assert_eq!(r["false_accepts"], 1, "{r}");
    assert_eq!(kind(&r, "client-id-mismatch")["accepted"], 1, "{r}");
    assert_eq!(r["false_rejects"], 0, "{r}");
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(16), Some(4))
    );
    assert_eq!(status, Some(1), "a false accept fails the run");
}

#[test]
fn a_missing_manifest_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = chainproof(&[
        "loadtest",
        "--target",
        "127.0.0.1:9",
        "--credentials",
        tmp.path().to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("manifest.json"));
}
