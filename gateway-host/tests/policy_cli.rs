//! `chainproof policy check` and `chainproof policy diff` on testkit fleets, and the README's
//! worked fleet example replayed command by command so it cannot rot.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chainproof_testkit::{demo_pki, fleet_example};
use tempfile::TempDir;

/// 2026-01-01T00:00:00Z, the README example's `--at`.
const NOW: i64 = 1_767_225_600;
const AT: &str = "2026-01-01T00:00:00Z";

fn chainproof_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run the chainproof binary")
}

fn chainproof(args: &[&str]) -> Output {
    chainproof_in(Path::new("."), args)
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

/// The worked example written into a fresh temporary directory.
fn example() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ex = dir.path().join("fleet-example");
    fleet_example(NOW).write_to(&ex).expect("write the example");
    (dir, ex)
}

fn diff(ex: &Path, old: &str, new: &str, devices: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "policy".into(),
        "diff".into(),
        s(&ex.join(old)).to_owned(),
        s(&ex.join(new)).to_owned(),
    ];
    args.extend([
        "--devices".into(),
        s(devices).into(),
        "--at".into(),
        AT.into(),
    ]);
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    chainproof(&refs)
}

#[test]
fn diff_lists_each_device_whose_verdict_changes_and_exits_1() {
    let (_dir, ex) = example();
    let out = diff(
        &ex,
        "policy-before.toml",
        "policy.toml",
        &ex.join("devices"),
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no line for {id} in\n{text}"))
            .to_owned()
    };
    assert!(
        line("sensor-a-0002").contains("accepted-to-rejected"),
        "{text}"
    );
    assert!(
        line("sensor-a-0002").contains("rejected (issuer-compromised)"),
        "{text}"
    );
    assert!(
        line("sensor-a-0003").contains("rejected-to-accepted"),
        "{text}"
    );
    assert!(
        line("sensor-b-0107").contains("rejected (revoked)"),
        "{text}"
    );
    // Unchanged devices are only counted.
    assert!(
        !text.lines().any(|l| l.starts_with("sensor-b-0001")),
        "{text}"
    );
    assert!(
        text.contains(
            "3 of 6 device(s) would change verdict: 2 accepted-to-rejected, 1 rejected-to-accepted"
        ),
        "{text}"
    );
    assert!(
        text.contains("accepted: 4 under the old policy, 3 under the new one"),
        "{text}"
    );

    let out = diff(
        &ex,
        "policy-before.toml",
        "policy.toml",
        &ex.join("devices"),
        &["--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(v["summary"]["changed"], 3);
    assert_eq!(v["summary"]["devices"], 6);
    assert_eq!(v["summary"]["by_change"]["accepted-to-rejected"], 2);
    let a2 = v["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["device"] == "sensor-a-0002"))
        .expect("sensor-a-0002 in the JSON");
    assert_eq!(a2["change"], "accepted-to-rejected");
    assert_eq!(a2["old"]["verdict"], "accepted");
    assert_eq!(a2["old"]["enrollment"]["id"], "austin");
    assert_eq!(a2["new"]["code"], "issuer-compromised");
}

#[test]
fn diff_of_a_policy_with_itself_exits_0() {
    let (_dir, ex) = example();
    let out = diff(&ex, "policy.toml", "policy.toml", &ex.join("devices"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("0 of 6 device(s) would change verdict"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn diff_reads_pem_files_and_the_demo_layout() {
    let (dir, ex) = example();
    // Each *.pem file: leaf then chain.
    let flat = dir.path().join("flat");
    std::fs::create_dir_all(&flat).expect("mkdir");
    for d in &fleet_example(NOW).devices {
        std::fs::write(
            flat.join(format!("{}.pem", d.name)),
            d.presented_chain_pem(),
        )
        .expect("write");
    }
    std::fs::write(flat.join("notes.txt"), "not a chain").expect("write");
    let out = diff(&ex, "policy-before.toml", "policy.toml", &flat, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("3 of 6 device(s)"),
        "{}",
        stdout(&out)
    );

    // The demo fleet: devices/<id>/ directories; a deny list changes one verdict.
    let demo = dir.path().join("demo");
    demo_pki(NOW).write_to(&demo).expect("write the demo");
    let old = demo.join("old.toml");
    let new = demo.join("new.toml");
    let group = "version = 1\n[[group]]\nid = \"acme\"\nanchors_file = \"root.pem\"\n";
    std::fs::write(&old, group).expect("write");
    std::fs::write(
        &new,
        format!("{group}[revocation]\ndeny_device_ids = [\"sensor-0002\"]\n"),
    )
    .expect("write");
    let out = chainproof(&[
        "policy",
        "diff",
        s(&old),
        s(&new),
        "--devices",
        s(&demo.join("devices")),
        "--at",
        AT,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("sensor-0002  accepted-to-rejected"), "{text}");
    assert!(text.contains("1 of 5 device(s)"), "{text}");
}

#[test]
fn diff_over_the_fixtures_output_skips_directories_without_a_chain() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out_dir = dir.path().join("cp");
    let out = chainproof(&["fixtures", "--out", s(&out_dir), "--at", AT]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ex = out_dir.join("fleet-example");
    let out = diff(&ex, "policy.toml", "policy.toml", &out_dir, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("skipped (no chain.pem or leaf.pem): demo, fleet-example"),
        "{text}"
    );
}

#[test]
fn diff_usage_errors_exit_2() {
    let (dir, ex) = example();
    let devices = ex.join("devices");
    let missing = diff(
        &ex,
        "policy.toml",
        "policy.toml",
        &dir.path().join("nope"),
        &[],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("nope"), "{}", stderr(&missing));

    std::fs::write(
        ex.join("bad.toml"),
        "version = 1\n[[group]]\nid = \"x\"\nenabeld = true\n",
    )
    .expect("write");
    let bad = diff(&ex, "policy.toml", "bad.toml", &devices, &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("new policy is invalid"),
        "{}",
        stderr(&bad)
    );
    assert!(stderr(&bad).contains("line 4"), "{}", stderr(&bad));

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let none = diff(&ex, "policy.toml", "policy.toml", &empty, &[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("no device chains"),
        "{}",
        stderr(&none)
    );

    let no_devices = chainproof(&[
        "policy",
        "diff",
        s(&ex.join("policy.toml")),
        s(&ex.join("policy.toml")),
    ]);
    assert_eq!(no_devices.status.code(), Some(2));
}

#[test]
fn check_prints_anchor_expiry_crl_next_update_and_counts() {
    let (_dir, ex) = example();
    let policy = ex.join("policy.toml");
    let out = chainproof(&["policy", "check", s(&policy), "--at", AT]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("group \"austin\": 2 anchor(s), enabled, route \"us\""),
        "{text}"
    );
    assert!(
        text.contains(
            "anchor CN=Acme Factory Berlin CA,O=Acme Devices,C=DE: expires 2033-12-30T00:00:00Z"
        ),
        "{text}"
    );
    assert!(text.contains("crl of CN=Acme Factory Berlin CA,O=Acme Devices,C=DE: next update 2026-01-07T00:00:00Z, 1 revoked"), "{text}");
    assert!(text.contains("compromised CA sha-256"), "{text}");
    assert!(
        text.contains("counts: 2 group(s) (2 enabled), 3 anchor(s)"),
        "{text}"
    );
    assert!(text.contains("1 issuer(s); 1 compromised CA(s)"), "{text}");

    // After the CRL's nextUpdate the summary says it is stale and what that means.
    let out = chainproof(&[
        "policy",
        "check",
        s(&policy),
        "--at",
        "2026-02-01T00:00:00Z",
    ]);
    assert!(
        stdout(&out).contains("(STALE: chains through it are rejected)"),
        "{}",
        stdout(&out)
    );
}

/// The README's worked example: every `sh` block between the markers is run (in one temporary
/// directory, `chainproof` being this build), the `toml` block must equal the generated policy,
/// and a `text` block right after a command must equal its output.
#[test]
fn readme_fleet_example_is_real() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let start = readme
        .find("<!-- fleet-example: begin")
        .expect("begin marker");
    let end = readme
        .find("<!-- fleet-example: end -->")
        .expect("end marker");
    let section = &readme[start..end];
    // (language, body) of each fenced block, in order.
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(nl) = after.find('\n') else { break };
        let lang = after[..nl].trim().to_owned();
        let body_start = &after[nl + 1..];
        let close = body_start.find("```").expect("closed fence");
        blocks.push((lang, body_start[..close].to_owned()));
        rest = &body_start[close + 3..];
    }
    assert!(
        blocks.len() >= 6,
        "expected the example's blocks, found {}",
        blocks.len()
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut last_output: Option<String> = None;
    let mut compared = 0;
    for (lang, body) in &blocks {
        match lang.as_str() {
            "sh" => {
                let args: Vec<&str> = body.split_whitespace().collect();
                assert_eq!(args.first(), Some(&"chainproof"), "{body}");
                let out = chainproof_in(dir.path(), &args[1..]);
                assert_ne!(out.status.code(), Some(2), "{body}: {}", stderr(&out));
                last_output = Some(stdout(&out));
            }
            "text" => {
                let got = last_output.take().expect("a text block follows a command");
                assert_eq!(
                    &got, body,
                    "README output differs; update it from the real output"
                );
                compared += 1;
            }
            "toml" => {
                let file = std::fs::read_to_string(dir.path().join("cp/fleet-example/policy.toml"))
                    .expect("the example policy was written");
                assert_eq!(&file, body, "README policy differs from fleet_example's");
                compared += 1;
            }
            other => panic!("unexpected block `{other}` in the README example"),
        }
    }
    assert_eq!(compared, 3);
}
