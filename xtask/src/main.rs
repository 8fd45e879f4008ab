//! `cargo xtask <task>`: the project's task runner.
//!
//! - `setup`: install what the tests and the demo need and is not a Rust crate (Debian packages,
//!   the pinned toolchain with its wasm targets, tools at the versions Cargo.lock names, npm
//!   packages). Idempotent: installed pieces are detected and skipped.
//! - `test`: `setup`, build the wasm artefacts the tests load (the validator component for
//!   wasm32-wasip2), then every test suite.
//! - `demo`: `setup`, then the main job on embedded defaults.
//! - `bench-gateway`: the gateway against mosquitto under `chainproof loadtest` (issues 6, 8).
//! - `bench-report`: the criterion benches with short settings and the browser benchmark, plus
//!   the gateway's results on disk, into `benches/REPORT.md` with ratios and issue 8's targets.
//!
//! Plain `std::process::Command`; serde_json (for the benchmark reports) is the only
//! dependency, so it builds in seconds.

mod bench_gateway;
mod bench_report;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => setup().and_then(|()| test(&args[1..])),
        Some("demo") => setup().and_then(|()| demo(&args[1..])),
        Some("bench-gateway") => setup().and_then(|()| bench_gateway::bench_gateway(&args[1..])),
        // Runs setup itself, unless only rewriting the report (`--no-run`).
        Some("bench-report") => bench_report::bench_report(&args[1..]),
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
  demo    setup, then run the demo on embedded defaults
  bench-gateway
          setup, then the gateway vs mosquitto under chainproof loadtest (1,000 devices,
          10% bad actors): target/bench-results/gateway.json
  bench-report [--no-run]
          setup, then the criterion benches (short settings) and the results in
          target/bench-results/ into benches/REPORT.md (--no-run: only rewrite the report)";

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
const DEBIAN: &[(&str, &str)] = &[
    ("openssl", "openssl"),
    // The gateway tests' upstream broker and device clients (shared/TOOLCHAIN.md).
    ("mosquitto", "mosquitto"),
    ("mosquitto_pub", "mosquitto-clients"),
    // The browser the web page's end-to-end tests drive (playwright-core, shared/TOOLCHAIN.md).
    ("chromium", "chromium"),
    // The benches' `openssl` crate finds libssl through pkg-config (below).
    ("pkg-config", "pkg-config"),
];

/// Debian development packages, installed when pkg-config does not know their library.
/// (pkg-config module, package)
const DEBIAN_LIBS: &[(&str, &str)] = &[
    // OpenSSL's X509_verify_cert is a peer in benches/ (the `openssl` crate links libssl);
    // `cargo clippy --workspace --all-targets` compiles the benches, so CI needs it too.
    ("openssl", "libssl-dev"),
];

fn pkg_config_knows(module: &str) -> bool {
    Command::new("pkg-config")
        .args(["--exists", module])
        .status()
        .is_ok_and(|s| s.success())
}

fn setup() -> Result<(), String> {
    let missing: Vec<&str> = DEBIAN
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .chain(DEBIAN_LIBS.iter().filter(|(lib, _)| !pkg_config_knows(lib)))
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
    setup_python()?;
    setup_web()?;
    Ok(())
}

/// Where the gateway tests find Python with the Azure IoT device SDK (relative to the root).
const PY_VENV: &str = "target/py-venv";

/// A Python venv with `azure-iot-device` (the gateway's SDK test), made once.
fn setup_python() -> Result<(), String> {
    let venv = root().join(PY_VENV);
    let python = venv.join("bin/python");
    let has_sdk = |p: &Path| {
        Command::new(p)
            .args(["-c", "import azure.iot.device"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.is_file() && has_sdk(&python) {
        return Ok(());
    }
    if !python.is_file() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(&python).args(["-m", "pip", "install", "-q", "azure-iot-device==2.14.*"]))
}

fn test(extra: &[String]) -> Result<(), String> {
    build_component()?;
    build_baseline_component()?;
    run(Command::new("cargo")
        .args(["test", "--workspace"])
        .args(extra))?;
    test_web()
}

/// The validator component the gateway runs (and the engine tests load):
/// target/wasm32-wasip2/release/chainproof_component.wasm.
///
/// That build uses wasm's wide-arithmetic proposal (`.cargo/config.toml`), which wasmtime
/// runs and which triples the curves' speed.
fn build_component() -> Result<(), String> {
    run(component_cargo().args(COMPONENT_BUILD))
}

/// `cargo` for the component builds: fat LTO and one codegen unit, as environment overrides
/// for these wasm32-wasip2 builds alone (the native release build and wasmtime keep the
/// workspace's thin LTO and are not rebuilt; TOOLCHAIN.md). LTO across crates lets the curves'
/// field arithmetic inline into the core's ECDSA path: the gateway's steady state per device
/// went from about 79 to 71 µs in the component (native 66 µs), and the file from 1.63 to 1.40
/// MB (docs/component.md).
fn component_cargo() -> Command {
    let mut cargo = Command::new("cargo");
    cargo
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    cargo
}

const COMPONENT_BUILD: [&str; 6] = [
    "build",
    "--release",
    "--target",
    "wasm32-wasip2",
    "-p",
    "chainproof-component",
];

/// The baseline build without wide arithmetic, for engines that lack the proposal (the engine
/// tests load it): next to the main build as chainproof_component_baseline.wasm. Its own target
/// directory: other flags, so the two builds do not overwrite each other's artefacts. The
/// inlining threshold is the main build's (.cargo/config.toml), which these flags replace.
fn build_baseline_component() -> Result<(), String> {
    run(component_cargo()
        .args(COMPONENT_BUILD)
        .arg("--target-dir")
        .arg(root().join("target/wasm-baseline"))
        .env(
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            "-C target-feature=-wide-arithmetic -C llvm-args=-inline-threshold=350",
        ))?;
    let from = root().join("target/wasm-baseline/wasm32-wasip2/release/chainproof_component.wasm");
    let to = root().join("target/wasm32-wasip2/release/chainproof_component_baseline.wasm");
    std::fs::copy(&from, &to)
        .map(drop)
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

fn demo(_extra: &[String]) -> Result<(), String> {
    // `chainproof demo`: a throwaway PKI, the gateway on the validator component with an
    // embedded upstream, simulated devices, and a table of who got in and why.
    build_component()?;
    run(Command::new("cargo").args(["build", "--release", "-p", "chainproof-gateway"]))?;
    run(Command::new(root().join("target/release/chainproof"))
        .arg("demo")
        .env(
            "CHAINPROOF_COMPONENT",
            root().join("target/wasm32-wasip2/release/chainproof_component.wasm"),
        ))
}

// ---- the browser module and the technician's page (wasm-web/, web/) ----------------------

/// The wasm-bindgen version Cargo.lock resolved; the CLI must be exactly this version.
fn locked_version(krate: &str) -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let needle = format!("name = \"{krate}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .ok_or_else(|| format!("Cargo.lock has no {krate}"))?
        + needle.len();
    lock[start..]
        .split('"')
        .next()
        .map(str::to_owned)
        .ok_or_else(|| format!("Cargo.lock: unreadable version of {krate}"))
}

/// `wasm-bindgen-cli` at Cargo.lock's version (only when the installed one differs) and the
/// page's npm packages (`npm ci` from web/package-lock.json).
fn setup_web() -> Result<(), String> {
    let want = locked_version("wasm-bindgen")?;
    let installed = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if installed.as_deref() != Some(&format!("wasm-bindgen {want}")) {
        let locked = run(Command::new("cargo").args([
            "install",
            "wasm-bindgen-cli",
            "--locked",
            "--version",
            &want,
        ]));
        if let Err(e) = locked {
            // Seen here: the CLI's own lock file named a webpki-roots release the registry
            // mirror did not have yet; the unlocked build resolves to one it has.
            println!("xtask: {e}; retrying without --locked");
            run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &want]))?;
        }
    }
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix", "web"]))
}

/// Build the browser module (release, size-tuned, wasm32-unknown-unknown), generate its JS
/// glue and TypeScript declarations into web/pkg/, then run the page's tests in Chromium and the
/// parity test against the native CLI.
fn build_web() -> Result<(), String> {
    // Size settings for this build only: the wasm32 artefacts live in their own target
    // subdirectory, so the native release build (and wasmtime) is not rebuilt.
    run(Command::new("cargo")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "chainproof-web",
        ])
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort"))?;
    run(Command::new("wasm-bindgen")
        .args([
            "--target",
            "web",
            "--remove-name-section",
            "--remove-producers-section",
            "--out-dir",
            "web/pkg",
        ])
        .arg(root().join("target/wasm32-unknown-unknown/release/chainproof_web.wasm")))?;
    run(Command::new("node").arg("web/scripts/build.mjs"))
}

fn test_web() -> Result<(), String> {
    build_web()?;
    // The tests run the CLI (parity, fixtures, `device serve`). `cargo test --workspace` has
    // just built it for gateway-host's own tests; a separate `cargo build -p` would resolve
    // wasmtime's features differently and rebuild it (about 7 minutes on two cores).
    let cli = root().join("target/debug/chainproof");
    if !cli.is_file() {
        return Err(format!(
            "{} is missing: the web tests run after `cargo test --workspace`, which builds it",
            cli.display()
        ));
    }
    run(Command::new("node")
        .args(["--test", "--test-concurrency=1", "web/tests/"])
        .env("CHAINPROOF_BIN", cli))
}
