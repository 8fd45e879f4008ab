//! `chainproof demo` (what `cargo xtask demo` runs): every simulated device gets the verdict
//! the issue asks for, with the core's codes, and the valid device's message arrives upstream.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_prints_who_got_in_and_why() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chainproof"))
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chainproof demo");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let row = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no row {label:?} in\n{text}"))
            .to_owned()
    };
    assert!(row("valid device").contains("ACCEPTED"), "{text}");
    for (label, code) in [
        ("missing intermediate", "unknown-issuer"),
        ("revoked", "revoked"),
        ("expired", "expired"),
        ("cloned cert, no key", "pop-bad-signature"),
        ("client ID not its own", "device-id-mismatch"),
    ] {
        let r = row(label);
        // The code column is the word right after the verdict (the label itself may contain
        // the code's word, e.g. "revoked").
        let got = r.split_whitespace().skip_while(|w| *w != "REJECTED").nth(1);
        assert_eq!(got, Some(code), "{label}: {r}");
    }
    assert!(
        text.contains("devices/sensor-0001/messages/events/  hello from the valid device"),
        "{text}"
    );
    assert!(text.contains("technician page"), "{text}");
}
