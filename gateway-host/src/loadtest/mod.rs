//! `chainproof loadtest`: many devices connecting over MQTT/TLS with client certificates, good
//! ones and bad actors, against the chainproof gateway or any MQTT broker (mosquitto with
//! `require_certificate true`), measuring who got in against who should have, handshake
//! latency and rates (docs/gateway.md, "Load"). `--generate DIR` writes the devices, the CA,
//! a policy, a CRL, a server certificate and configurations for both servers.

mod client;
mod manifest;
mod memory;
mod report;

use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chainproof::UnixTime;
use chainproof_testkit::{BadKind, load_fleet};
use clap::Args;
use rustls::client::Resumption;
use rustls_pki_types::ServerName;

use crate::cli::{Outcome, UsageError, emit, verify};
use crate::gateway::demo::device_client_config;
use crate::gateway::unix_now;
use client::{Device, Plan};
use manifest::{Manifest, ManifestDevice};

/// File descriptors the load tool needs besides one per connection (stdio, the runtime, files).
const SPARE_FDS: u64 = 64;

/// Arguments of `chainproof loadtest`.
#[derive(Args, Debug)]
pub struct LoadtestArgs {
    /// Write a load fleet into DIR and exit: the CA (root and manufacturing intermediate,
    /// P-256), honest devices and bad actors (devices/NAME/chain.pem and key.pem), manifest.json,
    /// policy.toml, crl.pem, the server certificate, gateway.toml and mosquitto.conf.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["target", "credentials", "json", "watch_pid"])]
    pub generate: Option<PathBuf>,

    /// With --generate, how many devices to write (default 1000). In a run: connect only the
    /// first N devices of the manifest (default: all).
    #[arg(long, value_name = "N")]
    pub devices: Option<usize>,

    /// With --generate, the share of bad actors, percent, rounded to whole devices; they cycle
    /// through untrusted-issuer, expired, revoked, wrong-key and client-id-mismatch.
    #[arg(long, value_name = "PERCENT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub bad_percent: u32,

    /// With --generate, the port gateway.toml listens on (0: any free port).
    #[arg(long, value_name = "PORT", default_value_t = 8883)]
    pub gateway_port: u16,

    /// With --generate, the port mosquitto.conf listens on.
    #[arg(long, value_name = "PORT", default_value_t = 8884)]
    pub mosquitto_port: u16,

    /// With --generate, the upstream broker gateway.toml forwards to (plain MQTT).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:1883")]
    pub upstream: SocketAddr,

    /// With --generate, the time the certificates are made valid around (Unix seconds or
    /// RFC 3339). Default: now.
    #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
    pub at: Option<UnixTime>,

    /// Where the devices connect (HOST:PORT). Required unless --generate.
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "generate")]
    pub target: Option<String>,

    /// The device credentials: a directory written by --generate (manifest.json, devices/).
    #[arg(long, value_name = "DIR", required_unless_present = "generate")]
    pub credentials: Option<PathBuf>,

    /// The CA to trust for the server's certificate. Default: the manifest's server_ca
    /// (server-ca.pem in the credentials directory).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// The name the server's certificate must carry. Default: the manifest's (localhost).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// Handshakes in flight at once (TCP connect to verdict).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub concurrency: usize,

    /// Keep every accepted connection open until all devices have their verdict, then check
    /// each still answers a PINGREQ and disconnect: with --concurrency equal to the number of
    /// devices, every device connects at once and stays connected.
    #[arg(long)]
    pub hold: bool,

    /// Before the measured run, connect N honest devices (the manifest's first N expected to be
    /// accepted; not measured) and keep them open until the run ends: the measured handshakes
    /// then meet a server already holding N connections. The measured run uses the other
    /// devices (--devices limits those). Default 0.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub background: usize,

    /// Seconds a device may take from TCP connect to its verdict before it counts as an error.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout_secs: u64,

    /// Keep-alive each device announces in CONNECT, seconds (a held connection must not be
    /// dropped for silence before the run ends).
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub keep_alive: u16,

    /// Sample this process's memory (VmRSS, VmHWM from /proc/PID/status) before the run, when
    /// the last device has its verdict, and after, and its CPU time per handshake over the run
    /// (/proc/PID/stat): the server's PID.
    #[arg(long, value_name = "PID")]
    pub watch_pid: Option<u32>,

    /// A name for the run, repeated in the table and the JSON.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,

    /// Also write the whole result, every connection included, as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Run `chainproof loadtest`.
pub fn run(args: &LoadtestArgs) -> Result<Outcome, UsageError> {
    match &args.generate {
        Some(dir) => generate(args, dir),
        None => load(args),
    }
}

/// Default fleet size for --generate (issue 6: 1,000 devices).
const DEFAULT_DEVICES: usize = 1000;

fn generate(args: &LoadtestArgs, dir: &Path) -> Result<Outcome, UsageError> {
    let at = match args.at {
        Some(t) => t,
        None => verify::now()?,
    };
    let n = args.devices.unwrap_or(DEFAULT_DEVICES);
    if n == 0 {
        return Err(UsageError("--devices: must be at least 1".into()));
    }
    let io = |e: std::io::Error| UsageError(format!("{}: {e}", dir.display()));
    let fleet = load_fleet(at.0, n, args.bad_percent);
    fleet.write_to(dir).map_err(io)?;
    // mosquitto resolves relative paths against its working directory: name the files fully.
    let abs = std::fs::canonicalize(dir).map_err(io)?;
    std::fs::write(dir.join("gateway.toml"), gateway_toml(args, n)).map_err(io)?;
    std::fs::write(
        dir.join("mosquitto.conf"),
        mosquitto_conf(&abs, args.mosquitto_port),
    )
    .map_err(io)?;
    let mut s = String::new();
    let bad = fleet.devices.iter().filter(|d| d.bad.is_some()).count();
    let _ = writeln!(
        s,
        "wrote {n} devices ({} honest, {bad} bad actors) to {}, valid at {at} (--at {})",
        n - bad,
        dir.display(),
        at.0
    );
    for k in BadKind::ALL {
        let count = fleet.devices.iter().filter(|d| d.bad == Some(k)).count();
        let _ = writeln!(s, "  {:<20} {count}", k.name());
    }
    let _ = writeln!(
        s,
        "run:\n  chainproof gateway --config {gw}\n  chainproof loadtest --target 127.0.0.1:{gp} --credentials {d} --concurrency {n} --hold\n\
         against mosquitto (require_certificate true, the same CA, crl.pem for the revoked devices):\n  mosquitto -c {mq}\n  chainproof loadtest --target 127.0.0.1:{mp} --credentials {d} --concurrency {n} --hold",
        gw = dir.join("gateway.toml").display(),
        gp = args.gateway_port,
        mp = args.mosquitto_port,
        d = dir.display(),
        mq = dir.join("mosquitto.conf").display(),
    );
    emit(&s);
    Ok(Outcome::Ok)
}

/// The gateway's configuration for the fleet: the policy, the shared server certificate, and a
/// connection limit above the fleet size so the run measures authentication, not the limit.
fn gateway_toml(args: &LoadtestArgs, devices: usize) -> String {
    let max_connections = (2 * devices).max(1024);
    format!(
        "# The chainproof gateway facing the load fleet (chainproof loadtest --generate).\n\
         [listen]\naddress = \"127.0.0.1:{port}\"\ncert = \"server.pem\"\nkey = \"server.key\"\n\
         max_connections = {max_connections}\n\n\
         [trust]\npolicy = \"policy.toml\"\n\n\
         [upstream]\nhost = \"{uh}\"\nport = {up}\n\n\
         [store]\npath = \"gateway-queue.redb\"\n\n\
         [audit]\npath = \"gateway-audit.jsonl\"\n\n\
         [metrics]\naddress = \"127.0.0.1:0\"\n",
        port = args.gateway_port,
        uh = args.upstream.ip(),
        up = args.upstream.port(),
    )
}

/// mosquitto with the same server certificate and CA: it requires a client certificate,
/// trusts the root and the manufacturing CA, checks the manufacturing CA's CRL (the policy's
/// revoked devices), and takes the certificate's CN as the user name. It does not tie the
/// client ID to the certificate (client-id-mismatch devices get in).
fn mosquitto_conf(dir: &Path, port: u16) -> String {
    let f = |name: &str| dir.join(name).display().to_string();
    format!(
        "# mosquitto facing the same devices and CA as the chainproof gateway\n\
         # (chainproof loadtest --generate). Run: mosquitto -c {conf}\n\
         per_listener_settings false\nallow_anonymous false\npersistence false\n\
         max_connections -1\n\
         # Send each handshake flight at once, as the gateway and the load tool do: without it\n\
         # Nagle's algorithm and delayed ACKs add about 40 ms to every handshake.\n\
         set_tcp_nodelay true\n\n\
         listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\ncrlfile {crl}\n\
         require_certificate true\nuse_identity_as_username true\n",
        conf = f("mosquitto.conf"),
        ca = f("ca-bundle.pem"),
        cert = f("server.pem"),
        key = f("server.key"),
        crl = f("crl.pem"),
    )
}

fn load(args: &LoadtestArgs) -> Result<Outcome, UsageError> {
    let (Some(target), Some(dir)) = (&args.target, &args.credentials) else {
        return Err(UsageError(
            "--target and --credentials are required (or --generate DIR)".into(),
        ));
    };
    let addr = target
        .to_socket_addrs()
        .map_err(|e| UsageError(format!("--target {target}: {e}")))?
        .next()
        .ok_or_else(|| UsageError(format!("--target {target}: no address")))?;
    if args.concurrency == 0 {
        return Err(UsageError("--concurrency: must be at least 1".into()));
    }
    let manifest = Manifest::load(dir).map_err(UsageError)?;
    let (background, mut devices) = split_background(&manifest.devices, args.background)
        .map_err(|e| UsageError(format!("--background {}: {e}", args.background)))?;
    if let Some(n) = args.devices {
        devices.truncate(n);
    }
    if devices.is_empty() {
        return Err(UsageError(format!("{}: no devices", dir.display())));
    }
    let ca = args
        .ca
        .clone()
        .or_else(|| manifest.server_ca(dir))
        .ok_or_else(|| UsageError("--ca: the manifest names no server CA".into()))?;
    let name = args
        .server_name
        .clone()
        .or_else(|| manifest.server_name.clone())
        .unwrap_or_else(|| "localhost".into());
    let server_name = ServerName::try_from(name.clone())
        .map_err(|e| UsageError(format!("--server-name {name}: {e}")))?;
    check_open_files(args, background.len() + devices.len())?;
    let prepare = |list: &[ManifestDevice]| -> Result<Vec<Device>, UsageError> {
        let mut ready = Vec::with_capacity(list.len());
        for d in list {
            let mut tls = device_client_config(&ca, &dir.join(&d.chain), &dir.join(&d.key))
                .map_err(|e| UsageError(format!("device {}: {e}", d.name)))?;
            // Every handshake is a full one, as on the gateway (which never resumes).
            tls.resumption = Resumption::disabled();
            ready.push(Device {
                tls: Arc::new(tls),
                client_id: d.client_id.clone(),
            });
        }
        Ok(ready)
    };
    let ready = prepare(&devices)?;
    let background_ready = prepare(&background)?;
    let plan = Plan {
        target: addr,
        server_name,
        concurrency: args.concurrency,
        hold: args.hold,
        timeout: Duration::from_secs(args.timeout_secs),
        keep_alive: args.keep_alive,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))?;
    let held_behind = if background_ready.is_empty() {
        None
    } else {
        emit(&format!(
            "connecting {} background devices and keeping them open...\n",
            background_ready.len()
        ));
        Some(rt.block_on(client::open_background(&plan, background_ready)))
    };
    let before = args.watch_pid.and_then(memory::sample);
    let mut peak = None;
    let started_at = unix_now();
    let result = rt.block_on(client::run(plan, ready, |_| {
        peak = args.watch_pid.and_then(memory::sample);
    }));
    let background = held_behind.map(|bg| rt.block_on(client::close_background(bg)));
    let verdicts = result
        .attempts
        .iter()
        .filter(|a| !matches!(a.outcome, client::Outcome::Error(_)))
        .count();
    let memory = args
        .watch_pid
        .map(|pid| report::Memory::new(pid, before, peak, memory::sample(pid), verdicts));
    let report = report::build(
        report::RunInfo {
            label: args.label.clone(),
            target: addr.to_string(),
            concurrency: args.concurrency,
            hold: args.hold,
            started_at,
        },
        &devices,
        &result,
        memory,
        background,
    );
    emit(&report::table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| UsageError(format!("--json: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| UsageError(format!("--json {}: {e}", path.display())))?;
    }
    Ok(
        if report.false_accepts == 0
            && report.false_rejects == 0
            && report.errors == 0
            && report.background.as_ref().is_none_or(|b| b.complete())
        {
            Outcome::Ok
        } else {
            Outcome::Rejected
        },
    )
}

/// The first `n` devices expected to be accepted (the background), and every other device in
/// manifest order (the measured run).
fn split_background(
    all: &[ManifestDevice],
    n: usize,
) -> Result<(Vec<ManifestDevice>, Vec<ManifestDevice>), String> {
    let honest = all.iter().filter(|d| d.expect_accept()).count();
    if n > honest {
        return Err(format!(
            "the manifest has only {honest} devices expected to be accepted"
        ));
    }
    let (mut background, mut measured) = (Vec::with_capacity(n), Vec::new());
    for d in all {
        if background.len() < n && d.expect_accept() {
            background.push(d.clone());
        } else {
            measured.push(d.clone());
        }
    }
    Ok((background, measured))
}

/// Refuse to start a run that would run out of file descriptors half-way (which would look
/// like the server refusing devices).
fn check_open_files(args: &LoadtestArgs, devices: usize) -> Result<(), UsageError> {
    let open_at_once = if args.hold {
        devices
    } else {
        args.concurrency.min(devices)
    };
    let need = u64::try_from(open_at_once)
        .unwrap_or(u64::MAX)
        .saturating_add(SPARE_FDS);
    match memory::open_files_limit() {
        Some(limit) if limit < need => Err(UsageError(format!(
            "this run keeps up to {open_at_once} connections open but the open-file limit is {limit}: raise it first (ulimit -n {})",
            need.next_power_of_two().max(4096)
        ))),
        _ => Ok(()),
    }
}
